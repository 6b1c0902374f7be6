//! Loom models of the heap (`cargo xtask verify`): the real allocator lock, free lists, bump
//! pointer, reference counts and holder records over loom's atomics, every interleaving up to
//! the preemption bound.
//!
//! Each thread stands for a process: it holds its own reference to a block (a [`BlockInner`]),
//! and the arena's headers are the memory they share. Each block's data is a loom cell that its
//! holder writes, so a block handed to two processes at once, or handed out again without its
//! last holder's writes ordered before the next one's, is a data race that loom reports; a
//! block freed twice or lost shows in what the arena hands out afterwards.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use loom::cell::UnsafeCell;
use loom::thread;

use super::allocator::{self, header_at};
use super::arena::{Arena, HEADER_SIZE, KIND_SMALL};
use super::block::{BlockInner, PLAIN};
use crate::owner::{self, Owner};

/// The models' size class: blocks of one cache line, header included.
const CLASS: usize = 1;
const BLOCK: usize = 64;

/// Runs a model with the preemption bound `LOOM_MAX_PREEMPTIONS` (3 when unset: the lock's
/// wait loops, so an unbounded search never ends).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(f);
}

/// The user data of each block, one loom cell per block.
struct Data(Vec<UnsafeCell<u32>>);

// SAFETY: loom checks every access to the cells; an unordered pair is the bug it reports.
unsafe impl Sync for Data {}

/// An arena with room for a few blocks of [`CLASS`], and their data.
struct Heap {
    arena: Arc<Arena>,
    data: Data,
}

impl Heap {
    fn new(blocks: usize) -> Arc<Heap> {
        let size = HEADER_SIZE + blocks * BLOCK;
        Arc::new(Heap {
            arena: Arc::new(Arena::create(size, KIND_SMALL).unwrap()),
            data: Data((0..blocks).map(|_| UnsafeCell::new(0)).collect()),
        })
    }

    fn alloc(&self) -> Option<usize> {
        allocator::alloc(&self.arena, CLASS)
    }

    /// Writes to the block at `offset` as its holder.
    fn use_block(&self, offset: usize, who: u32) {
        let cell = &self.data.0[(offset - HEADER_SIZE) / BLOCK];
        // SAFETY: a loom cell; a write not ordered after the last one is reported, not done.
        cell.with_mut(|v| unsafe { *v = who });
    }

    /// A process's reference to the block at `offset`, recorded under `slot` (or plain).
    fn hold(&self, offset: usize, slot: u32) -> BlockInner {
        BlockInner::held(self.arena.clone(), offset, slot)
    }

    fn refcount(&self, offset: usize) -> u32 {
        header_at(&self.arena, offset)
            .refcount
            .load(Ordering::Relaxed)
    }

    /// Takes every block the arena can still hand out, sorted: each free one once, and no
    /// more than the arena has (a block freed twice would come back twice).
    fn drain(&self) -> Vec<usize> {
        let mut all = Vec::new();
        while all.len() <= self.data.0.len() {
            match self.alloc() {
                Some(offset) => all.push(offset),
                None => break,
            }
        }
        all.sort_unstable();
        all
    }

    /// Every block's offset, sorted.
    fn blocks(&self) -> Vec<usize> {
        (0..self.data.0.len())
            .map(|i| HEADER_SIZE + i * BLOCK)
            .collect()
    }
}

/// A process other than this one that lives while the models run: a recorded holder that is
/// not found dead.
struct OtherProcess(std::process::Child);

impl OtherProcess {
    fn start() -> OtherProcess {
        OtherProcess(
            std::process::Command::new("sleep")
                .arg("600")
                .spawn()
                .unwrap(),
        )
    }

    fn owner(&self) -> Owner {
        let id = self.0.id();
        Owner {
            id,
            start: owner::start_time(id),
        }
    }
}

impl Drop for OtherProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// This process's id with another start time: a holder that died (its pid since reused).
fn dead() -> Owner {
    let me = owner::process();
    Owner {
        id: me.id,
        start: me.start + 1,
    }
}

/// Two processes allocate, use and free a block at once, one from the free list and one from
/// the bump pointer: the lock gives each block to one at a time, and both come back once.
#[test]
fn loom_heap_hands_a_block_to_one_process_at_a_time() {
    model(|| {
        let heap = Heap::new(2);
        let first = heap.alloc().unwrap();
        allocator::free(&heap.arena, first);
        let threads: Vec<_> = (1..=2)
            .map(|who| {
                let heap = heap.clone();
                thread::spawn(move || {
                    let offset = heap.alloc().expect("the arena has room for both");
                    heap.use_block(offset, who);
                    allocator::free(&heap.arena, offset);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(heap.drain(), heap.blocks());
    });
}

/// A block held by a process and the child it forked, both dropping it, while a third process
/// allocates: the last reference frees it exactly once, and whoever gets it next writes after
/// its holder's last write.
#[test]
fn loom_heap_the_last_reference_frees_once_while_another_allocates() {
    model(|| {
        let heap = Heap::new(2);
        let x = heap.alloc().unwrap();
        let parent = heap.hold(x, PLAIN);
        parent.share();
        let child = heap.hold(x, PLAIN);
        let t = {
            let heap = heap.clone();
            thread::spawn(move || {
                heap.use_block(x, 1);
                drop(parent);
            })
        };
        let c = thread::spawn(move || drop(child));
        let mine = heap.alloc().expect("the arena has room");
        heap.use_block(mine, 3);
        t.join().unwrap();
        c.join().unwrap();
        if mine != x {
            assert_eq!(heap.refcount(x), 0);
        }
        let mut all = heap.drain();
        all.push(mine);
        all.sort_unstable();
        assert_eq!(all, heap.blocks());
    });
}

/// Two live recorded holders drop a block a killed one also held: whichever drops last sees
/// only the dead holder's record left and gives its reference back, so the block is freed.
///
/// A regression model: while `release` gave its count back with `Release` alone, the last
/// holder could still read the other's record bit (cleared before the other's count went, but
/// not ordered before this read), count two records for one reference and leave the block
/// allocated for good. Weakly ordered CPUs (ARM) allow that read; x86 does not, so no test
/// across processes here could fail.
#[test]
fn loom_heap_the_last_live_holder_gives_back_a_dead_ones_reference() {
    let other = OtherProcess::start();
    let other_owner = other.owner();
    model(move || {
        let heap = Heap::new(1);
        let x = heap.alloc().unwrap();
        // The allocating process sends the block to three processes and drops it; the third
        // adopts its copy last, and is killed.
        let sender = heap.hold(x, PLAIN);
        for _ in 0..3 {
            sender.share();
        }
        let a = allocator::adopt(&heap.arena, &[x], owner::process()).unwrap();
        let b = allocator::adopt(&heap.arena, &[x], other_owner).unwrap();
        drop(sender);
        let d = allocator::adopt(&heap.arena, &[x], dead()).unwrap();
        let threads: Vec<_> = [a, b]
            .into_iter()
            .map(|slot| {
                let held = heap.hold(x, slot);
                thread::spawn(move || drop(held))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            heap.refcount(x),
            0,
            "the dead holder's reference was given back"
        );
        assert!(heap.arena.header().holders[d as usize].get().is_none());
        assert_eq!(heap.drain(), [x]);
    });
    drop(other);
}

/// A thread of a process drops its block while another gives up the process's holder record
/// (`release_before_exit`): the reference is given back once, by one of them.
#[test]
fn loom_heap_a_drop_racing_leave_gives_the_reference_back_once() {
    model(|| {
        let heap = Heap::new(1);
        let x = heap.alloc().unwrap();
        let sender = heap.hold(x, PLAIN);
        sender.share();
        let me = owner::process();
        let slot = allocator::adopt(&heap.arena, &[x], me).unwrap();
        let mine = heap.hold(x, slot);
        let t = thread::spawn(move || drop(mine));
        let arena = heap.arena.clone();
        let l = thread::spawn(move || allocator::leave(&arena, me));
        t.join().unwrap();
        l.join().unwrap();
        assert_eq!(heap.refcount(x), 1, "only the sender's reference is left");
        assert_eq!(header_at(&heap.arena, x).next.load(Ordering::Relaxed), 0);
        assert!(heap.arena.header().holders[slot as usize].get().is_none());
        drop(sender);
        assert_eq!(heap.drain(), [x]);
    });
}

/// A process adopts a block it received while the sender drops its own reference, then drops
/// it too: the recorded reference and the plain one each come back once, and the block with
/// them.
#[test]
fn loom_heap_a_received_block_is_adopted_while_its_sender_drops_it() {
    let other = OtherProcess::start();
    let receiver = other.owner();
    model(move || {
        let heap = Heap::new(1);
        let x = heap.alloc().unwrap();
        let sender = heap.hold(x, PLAIN);
        // The message's reference, taken before the message leaves.
        sender.share();
        let t = {
            let heap = heap.clone();
            thread::spawn(move || {
                let slot = allocator::adopt(&heap.arena, &[x], receiver).unwrap();
                drop(heap.hold(x, slot));
            })
        };
        drop(sender);
        t.join().unwrap();
        assert_eq!(heap.drain(), [x]);
    });
    drop(other);
}

/// A process that inherited a block (recorded under its name) and then `exec`ed receives the
/// block again while its sender drops it: the second reference is given back at once (one
/// record stands for one reference), and the block is freed once, when the process leaves.
#[test]
fn loom_heap_a_block_received_twice_under_one_name_counts_once() {
    model(|| {
        let heap = Heap::new(1);
        let x = heap.alloc().unwrap();
        let me = owner::process();
        let sender = heap.hold(x, PLAIN);
        // Inherited across `fork` (recorded), then sent once more after the `exec`.
        sender.share();
        let slot = allocator::adopt(&heap.arena, &[x], me).unwrap();
        sender.share();
        let t = {
            let heap = heap.clone();
            thread::spawn(move || {
                assert_eq!(allocator::adopt(&heap.arena, &[x], me), Some(slot));
            })
        };
        drop(sender);
        t.join().unwrap();
        assert_eq!(heap.refcount(x), 1, "one reference, the recorded one");
        allocator::leave(&heap.arena, me);
        assert_eq!(heap.drain(), [x]);
    });
}

/// The allocator lock is held by a process that died: every process allocating or freeing
/// finds it dead, retires the arena and goes on; nobody waits for ever.
#[test]
fn loom_heap_a_dead_lock_holder_retires_the_arena_for_everyone() {
    model(|| {
        let heap = Heap::new(2);
        let x = heap.alloc().unwrap();
        let header = heap.arena.header();
        header.lock.store(dead().id, Ordering::Relaxed);
        header.lock_owner.set(dead(), 0);
        let t = {
            let heap = heap.clone();
            thread::spawn(move || heap.alloc())
        };
        allocator::free(&heap.arena, x);
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(header.poisoned.load(Ordering::Relaxed), 1);
        assert_eq!(
            header.free[CLASS].load(Ordering::Relaxed),
            0,
            "x stays allocated"
        );
    });
}
