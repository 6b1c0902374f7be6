//! This process's table of mapped arenas and live blocks, kept consistent across `fork`.
//!
//! The table lets a block received twice map once, lets new blocks share existing arenas, and
//! lets the fork handlers give a forked child one reference to every block it inherits (recorded
//! under the child's name in the arena, see `allocator::adopt`). It is
//! guarded by a tiny spin lock that the fork handlers hold across `fork`, so a child never
//! inherits it locked by a thread that does not exist there.
//!
//! ```
//! use multiprocessing_core::heap::HeapBlock;
//! let block = HeapBlock::new(8).unwrap();
//! // A forked child would see 2 here: the fork handlers count it as a holder.
//! assert_eq!(block.ref_count(), 1);
//! ```

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use super::allocator;
use super::arena::Arena;
use super::block::{BlockInner, PLAIN};
use crate::backoff::Backoff;

#[derive(Default)]
pub(crate) struct Table {
    /// Arenas mapped in this process, by `(st_dev, st_ino)`.
    pub(crate) arenas: Vec<((u64, u64), Weak<Arena>)>,
    /// Live blocks by the address of their header.
    pub(crate) blocks: HashMap<usize, Weak<BlockInner>>,
    /// Blocks pinned across a `fork` in progress.
    stash: Vec<Arc<BlockInner>>,
}

impl Table {
    /// The live arena with this key, if mapped.
    pub(crate) fn arena(&mut self, key: (u64, u64)) -> Option<Arc<Arena>> {
        self.arenas.retain(|(_, w)| w.strong_count() > 0);
        self.arenas
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, w)| w.upgrade())
    }
}

struct ForkLock {
    locked: AtomicBool,
    table: UnsafeCell<Option<Table>>,
}

// SAFETY: the table is only reached through `lock`, which gives one thread access at a time.
unsafe impl Sync for ForkLock {}

static TABLE: ForkLock = ForkLock {
    locked: AtomicBool::new(false),
    table: UnsafeCell::new(None),
};

/// Set once the table exists; until then this process has no blocks (read without the lock,
/// so that a process that never used the heap writes nothing when it asks).
static CREATED: AtomicBool = AtomicBool::new(false);

/// Exclusive access to the table; unlocks on drop.
pub(crate) struct Guard(());

impl std::ops::Deref for Guard {
    type Target = Table;
    fn deref(&self) -> &Table {
        // SAFETY: holding the guard means holding the lock; the table was created in `lock`.
        unsafe { (*TABLE.table.get()).as_ref().unwrap_unchecked() }
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Table {
        // SAFETY: as in `deref`, and the lock makes this the only reference.
        unsafe { (*TABLE.table.get()).as_mut().unwrap_unchecked() }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        raw_unlock();
    }
}

fn raw_lock() {
    let backoff = Backoff::new();
    while TABLE
        .locked
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        // A lock between this process's threads, held for a few table operations: spin, then
        // keep yielding (there is nothing to sleep on).
        backoff.snooze();
    }
}

fn raw_unlock() {
    TABLE.locked.store(false, Ordering::Release);
}

/// Locks the table.
pub(crate) fn lock() -> Guard {
    crate::fork::ensure_handlers();
    raw_lock();
    // SAFETY: we hold the lock.
    unsafe { (*TABLE.table.get()).get_or_insert_with(Table::default) };
    if !CREATED.load(Ordering::Relaxed) {
        CREATED.store(true, Ordering::Release);
    }
    Guard(())
}

/// Locks the table if this process ever created it; `None` means no block was ever live here.
///
/// Unlike [`lock`], this registers no fork handlers and allocates nothing, so a forked child
/// that never used the heap leaves without touching it.
pub(crate) fn lock_if_created() -> Option<Guard> {
    if CREATED.load(Ordering::Acquire) {
        Some(lock())
    } else {
        None
    }
}

/// The table's fork hook: locked across `fork()`, every live block gains a reference for the
/// child, which records itself as their holder.
pub(crate) struct HeapHook;

pub(crate) static HEAP_HOOK: HeapHook = HeapHook;

impl crate::fork::ForkHook for HeapHook {
    fn before_fork(&'static self) {
        before_fork();
    }

    fn after_fork_in_parent(&'static self) {
        after_fork_in_parent();
    }

    fn after_fork_in_child(&'static self) {
        after_fork_in_child();
    }
}

fn before_fork() {
    raw_lock();
    // SAFETY: we hold the lock (until one of the after-fork handlers releases it).
    let table = unsafe { (*TABLE.table.get()).get_or_insert_with(Table::default) };
    let live: Vec<Arc<BlockInner>> = table.blocks.values().filter_map(Weak::upgrade).collect();
    for block in &live {
        block.share();
    }
    table.stash = live;
}

/// Records this (forked) process as the holder of the references `before_fork` took for it,
/// one arena at a time, so that they come back even if it is killed or leaves by
/// `process::exit`.
fn record_inherited(stash: &[Arc<BlockInner>]) {
    let me = crate::owner::process();
    let mut done = vec![false; stash.len()];
    for i in 0..stash.len() {
        if done[i] {
            continue;
        }
        let arena = stash[i].arena();
        let same: Vec<usize> = (i..stash.len())
            .filter(|&j| Arc::ptr_eq(stash[j].arena(), arena))
            .collect();
        let offsets: Vec<usize> = same.iter().map(|&j| stash[j].offset()).collect();
        let slot = allocator::adopt(arena, &offsets, me).unwrap_or(PLAIN);
        for &j in &same {
            // The parent's record (if it had one) is not ours.
            stash[j].holder.store(slot, Ordering::Relaxed);
            done[j] = true;
        }
    }
}

fn after_fork_in_parent() {
    // SAFETY: `before_fork` left the lock held by this thread.
    let table = unsafe { (*TABLE.table.get()).get_or_insert_with(Table::default) };
    // The references taken in `before_fork` belong to the child now (the count is shared);
    // the stash only kept the blocks alive while the fork was in progress.
    let stash = std::mem::take(&mut table.stash);
    raw_unlock();
    drop(stash);
}

fn after_fork_in_child() {
    // SAFETY: `before_fork` left the lock held by the thread that is now the child's only one.
    let table = unsafe { (*TABLE.table.get()).get_or_insert_with(Table::default) };
    let stash = std::mem::take(&mut table.stash);
    if !stash.is_empty() {
        record_inherited(&stash);
    }
    raw_unlock();
    // The child keeps the reference taken for it; dropping a block nobody else in the child
    // holds gives it back.
    drop(stash);
}
