//! The transport under every queue: a byte ring with length-prefixed records in a heap block,
//! two robust locks (one per side), futex event counts, and a table of who holds handles.
//!
//! Layout of the block: one page of header (configuration, the tail and head words on their
//! own cache lines, the event counts, the task counter, the handle table), then the ring.
//! `tail` and `head` each pack a byte position (36 bits, monotonically increasing, modulo the
//! ring's power-of-two capacity) and a count of whole items (28 bits), so one atomic store
//! publishes a record *and* counts its item: a process killed between two stores cannot
//! leave the count and the ring disagreeing.
//!
//! A record is `len: u32, flags: u32`, then `len` bytes, padded to 8. An item fits in one
//! record (`FIRST | LAST`) unless it is larger than a quarter of the ring; then it is cut in
//! chunks written one after the other while the writer holds the write lock ("the writer's
//! turn"), and read one after the other while the reader holds the read lock. A `PAD` record
//! fills the end of the ring when the next record would not fit before it.
//!
//! One copy each way: a writer encodes an item straight into the free space after the tail
//! (under the write lock; an item that does not fit there is encoded aside and then copied in,
//! in chunks if need be), and a reader decodes a one-record item straight from the ring (under
//! the read lock), before either moves its word.
//!
//! Faults: a writer publishes a record only once it is whole (the tail store), so a writer
//! killed mid-record leaves nothing; one killed between two chunks of a large item leaves a
//! partial item, which the reader drops (counted in `lost`) when it sees the next item's first
//! chunk, or when it takes the write lock from the dead writer. A reader advances the head
//! only after decoding or copying a record out, so a reader killed meanwhile leaves the record
//! whole for the next reader; one killed between two chunks of a large item leaves the rest of
//! that item, which the next reader skips (counted in `lost`). The locks are the synchronize
//! crate's robust `Lock`, which the next taker recovers from a dead owner. Every item counted in
//! `lost` also counts as done for a `JoinableQueue`.
//!
//! An unbounded `Queue`'s put never waits for room: what the ring cannot take now goes to the
//! process's outbox ([`crate::feeder`]), whose item count each process also keeps in its slot
//! of the handle table, so the items of a producer killed with a full outbox are counted lost.

use std::cell::RefCell;
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use multiprocessing_core::codec::{Placed, de_error};
use multiprocessing_core::heap::HeapBlock;
use multiprocessing_core::owner::{self, OwnerCell};
use multiprocessing_core::time::Deadline;
use multiprocessing_synchronize::{Lock, LockGuard, OwnerDied, TryLockError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, RecvFailure, Result, SendFailure};
use crate::wait::{self, EventCount, SLICE};

/// Which queue type a ring belongs to: a handle of another kind is refused when received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Kind {
    Queue = 1,
    Simple = 2,
    Joinable = 3,
}

const MAGIC: u32 = 0x5155_4555; // "QUEU"
const PAGE: usize = 4096;
/// Bytes before the ring: the header, rounded to a page so the ring is page-aligned.
const HEADER_LEN: usize = PAGE;
/// Processes that can hold handles at once with exact accounting; beyond, handles are counted
/// without an owner and never reclaimed (the queue then never reports `Disconnected`).
const SLOTS: usize = 128;
const NO_SLOT: u32 = u32::MAX;

/// The default ring: 32 MiB of address space (see [`WARM`] for what memory backs it).
pub(crate) const DEFAULT_CAPACITY: usize = 32 << 20;
/// The smallest ring.
pub(crate) const MIN_CAPACITY: usize = PAGE;
/// The largest ring.
pub(crate) const MAX_CAPACITY: usize = 1 << 30;
/// The largest `maxsize` (the item count has 28 bits).
pub(crate) const MAX_MAXSIZE: usize = 1 << 27;
/// The longest a non-blocking operation (or an unbounded queue's `put`) waits for a side's
/// lock, which a peer holds for the moment it copies one record in normal operation.
pub(crate) const NOWAIT: Duration = Duration::from_millis(1);
/// The chunks in which a large ring gives pages back to the kernel.
const RECLAIM: u64 = 1 << 20;
/// The start of a ring that stays resident: rings at least twice this large wrap early when
/// empty (so a queue that keeps up stays in it) and give back the pages beyond it once read.
const WARM: u64 = 4 << 20;

const FIRST: u32 = 1;
const LAST: u32 = 2;
const PAD: u32 = 4;
const RECORD_HEADER: usize = 8;

const POS_BITS: u32 = 36;
const POS_MASK: u64 = (1 << POS_BITS) - 1;
const COUNT_MASK: u64 = (1 << (64 - POS_BITS)) - 1;

#[inline]
fn pos(word: u64) -> u64 {
    word & POS_MASK
}

#[inline]
fn count(word: u64) -> u64 {
    word >> POS_BITS
}

#[inline]
fn pack(count: u64, pos: u64) -> u64 {
    ((count & COUNT_MASK) << POS_BITS) | (pos & POS_MASK)
}

#[inline]
fn record_len(payload: usize) -> usize {
    RECORD_HEADER + payload.next_multiple_of(8)
}

#[repr(C, align(64))]
#[derive(Default)]
struct Line<T>(T);

#[repr(C)]
#[derive(Default)]
struct Config {
    magic: AtomicU32,
    kind: AtomicU32,
    type_hash: AtomicU64,
    capacity: AtomicU64,
    maxsize: AtomicU32,
}

#[repr(C)]
#[derive(Default)]
struct Tasks {
    /// JoinableQueue's unfinished tasks.
    unfinished: AtomicU32,
    /// Handles encoded into a message (or inherited by a forked child) and not yet adopted.
    pending: AtomicU32,
    /// Items lost to a process killed in the middle of them.
    lost: AtomicU64,
}

#[repr(C)]
#[derive(Default)]
struct Slot {
    who: OwnerCell,
    count: AtomicU32,
    /// Items in the process's outbox (see [`crate::feeder`]), counted in `unfinished` for a
    /// `JoinableQueue` and not yet begun in the ring: lost if the process dies.
    queued: AtomicU32,
}

/// One side's word and its cache of the other side's word (written under that side's lock),
/// so the other side's cache line is read only when the cached value says "full" or "empty".
#[repr(C)]
#[derive(Default)]
struct End {
    word: AtomicU64,
    seen: AtomicU64,
}

#[repr(C)]
struct Header {
    config: Line<Config>,
    /// `tail.word`: the tail; `tail.seen`: the producers' last view of the head.
    tail: Line<End>,
    /// `head.word`: the head; `head.seen`: the consumers' last view of the tail.
    head: Line<End>,
    data: Line<EventCount>,
    space: Line<EventCount>,
    tasks: Line<Tasks>,
    slots: [Slot; SLOTS],
}

const _: () = assert!(size_of::<Header>() <= HEADER_LEN);

/// A stable hash of the item type's name: a handle received as another item type is refused.
pub(crate) fn type_hash<T: ?Sized>() -> u64 {
    // FNV-1a: the same in every process of the same executable.
    std::any::type_name::<T>()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// One process's view of a ring; handles (`Queue` values) share it through an `Arc`.
pub(crate) struct Channel {
    block: HeapBlock,
    write: Lock,
    read: Lock,
    table: Lock,
    /// This process's slot in the handle table, [`NO_SLOT`] when counted in `pending`.
    slot: AtomicU32,
    /// Handle values alive in this process.
    local: AtomicU32,
    /// Of those, the ones inherited through `fork` (see [`fork_hooks`]).
    inherited: AtomicU32,
    closed: AtomicBool,
    /// Items this process put that wait in its outbox (see [`crate::feeder`]), the one being
    /// written included: while any do, puts append to the outbox, so order is kept.
    pub(crate) queued: AtomicUsize,
    /// Asks the feeder to stop between two attempts (the exit flush gave up).
    pub(crate) stop_feeding: AtomicBool,
    /// `cancel_join_thread` was called: at exit the outbox is dropped without waiting.
    pub(crate) cancelled: AtomicBool,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("capacity", &self.capacity())
            .field("qsize", &self.qsize())
            .finish_non_exhaustive()
    }
}

/// How a read of the ring under the read lock ended.
enum Take<R> {
    /// An item in one record, decoded in place.
    Direct(R),
    /// An item in chunks, gathered in the caller's buffer.
    Item,
    Nothing,
}

/// An item taken by [`Channel::recv`].
pub(crate) enum Got<R> {
    /// Decoded in place, straight from the ring.
    Direct(R),
    /// Gathered from chunks in the caller's buffer, to decode.
    Buffered,
}

impl Channel {
    /// A channel over `block` and its three locks, with this process's state fresh (no table
    /// slot yet, nothing queued locally).
    fn with_parts(block: HeapBlock, write: Lock, read: Lock, table: Lock) -> Channel {
        Channel {
            block,
            write,
            read,
            table,
            slot: AtomicU32::new(NO_SLOT),
            local: AtomicU32::new(0),
            inherited: AtomicU32::new(0),
            closed: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            stop_feeding: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
        }
    }

    /// Makes a ring of `capacity` bytes (a power of two) for items of type hash `hash`, and
    /// returns this process's first handle count on it.
    pub(crate) fn create(
        kind: Kind,
        hash: u64,
        capacity: usize,
        maxsize: usize,
    ) -> Result<Arc<Channel>> {
        if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) || !capacity.is_power_of_two() {
            return Err(Error::InvalidArgument(format!(
                "ring capacity {capacity} is not a power of two from {MIN_CAPACITY} to {MAX_CAPACITY}"
            )));
        }
        if maxsize > MAX_MAXSIZE {
            return Err(Error::InvalidArgument(format!(
                "maxsize {maxsize} is above {MAX_MAXSIZE}"
            )));
        }
        let block = HeapBlock::with_align(HEADER_LEN + capacity, PAGE)?;
        let ch = Channel::with_parts(block, Lock::new()?, Lock::new()?, Lock::new()?);
        let c = &ch.header().config.0;
        c.kind.store(kind as u32, Ordering::Relaxed);
        c.type_hash.store(hash, Ordering::Relaxed);
        c.capacity.store(capacity as u64, Ordering::Relaxed);
        c.maxsize.store(maxsize as u32, Ordering::Relaxed);
        c.magic.store(MAGIC, Ordering::Release);
        Ok(ch.adopt(false))
    }

    /// Counts this process's first handle and makes the channel known to the fork hooks.
    fn adopt(self, received: bool) -> Arc<Channel> {
        let ch = Arc::new(self);
        ch.local.store(1, Ordering::Relaxed);
        ch.register(1);
        if received {
            ch.tasks().pending.fetch_sub(1, Ordering::AcqRel);
        }
        fork_hooks::track(&ch);
        ch
    }

    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: the block is at least HEADER_LEN bytes, page-aligned, and the header is only
        // atomics, valid for any bit pattern (the block starts zeroed).
        unsafe { &*self.block.as_ptr().cast::<Header>() }
    }

    #[inline]
    fn tasks(&self) -> &Tasks {
        &self.header().tasks.0
    }

    #[inline]
    fn ring(&self) -> *mut u8 {
        // SAFETY: the ring starts HEADER_LEN bytes into the block, which is longer.
        unsafe { self.block.as_ptr().add(HEADER_LEN) }
    }

    /// The ring's size in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.header().config.0.capacity.load(Ordering::Relaxed) as usize
    }

    /// `maxsize`, 0 for unbounded.
    pub(crate) fn maxsize(&self) -> usize {
        self.header().config.0.maxsize.load(Ordering::Relaxed) as usize
    }

    /// Whole items in the ring.
    pub(crate) fn qsize(&self) -> usize {
        let h = self.header();
        let head = h.head.0.word.load(Ordering::Acquire);
        let tail = h.tail.0.word.load(Ordering::Acquire);
        (count(tail).wrapping_sub(count(head)) & COUNT_MASK) as usize
    }

    /// Whether the ring holds `maxsize` items.
    pub(crate) fn full(&self) -> bool {
        let max = self.maxsize();
        max > 0 && self.qsize() >= max
    }

    /// Whether an unbounded ring's puts go through an outbox when the ring is full (every kind
    /// but `SimpleQueue`).
    fn feeds(&self) -> bool {
        self.header().config.0.kind.load(Ordering::Relaxed) != Kind::Simple as u32
    }

    /// Whether the ring belongs to a `JoinableQueue` (puts count unfinished tasks).
    pub(crate) fn joinable(&self) -> bool {
        self.header().config.0.kind.load(Ordering::Relaxed) == Kind::Joinable as u32
    }

    /// Items lost to processes killed in the middle of them.
    pub(crate) fn lost(&self) -> u64 {
        self.settle_dead_outboxes();
        self.tasks().lost.load(Ordering::Relaxed)
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether the ring holds no record at all (so an item that does not fit now never will
    /// whole: it travels in chunks).
    #[cfg(not(loom))]
    pub(crate) fn ring_is_empty(&self) -> bool {
        let h = self.header();
        pos(h.head.0.word.load(Ordering::Acquire)) == pos(h.tail.0.word.load(Ordering::Acquire))
    }

    /// The event counts of the ring: items arriving, and room appearing.
    #[cfg(not(loom))]
    pub(crate) fn events(&self) -> (&EventCount, &EventCount) {
        let h = self.header();
        (&h.data.0, &h.space.0)
    }

    /// The unfinished-task word a `JoinableQueue`'s `join` waits on.
    #[cfg(not(loom))]
    pub(crate) fn unfinished_word(&self) -> &AtomicU32 {
        &self.tasks().unfinished
    }

    #[inline]
    pub(crate) fn has_data(&self) -> bool {
        let h = self.header();
        let head = pos(h.head.0.word.load(Ordering::Relaxed));
        // The consumers' cached tail first: reading the producers' line costs a cache miss.
        head != pos(h.head.0.seen.load(Ordering::Relaxed))
            || head != pos(h.tail.0.word.load(Ordering::Acquire))
    }

    // ---------------------------------------------------------------- handle accounting

    /// Records `n` more handles of this process in the table.
    fn register(&self, n: u32) {
        let guard = lock_recovering(&self.table);
        let me = owner::process();
        let slots = &self.header().slots;
        let found = slots
            .iter()
            .position(|s| {
                s.count.load(Ordering::Relaxed) > 0 && s.who.get().is_some_and(|(w, _)| w == me)
            })
            .or_else(|| {
                slots.iter().position(|s| {
                    let c = s.count.load(Ordering::Relaxed);
                    c == 0 || s.who.is_dead()
                })
            });
        match found {
            Some(i) => {
                let s = &slots[i];
                if s.who.get().is_none_or(|(w, _)| w != me) {
                    self.settle_outbox(s);
                    s.count.store(0, Ordering::Relaxed);
                    s.who.set(me, 0);
                }
                s.count.fetch_add(n, Ordering::AcqRel);
                self.slot.store(i as u32, Ordering::Relaxed);
            }
            None => {
                self.tasks().pending.fetch_add(n, Ordering::AcqRel);
                self.slot.store(NO_SLOT, Ordering::Relaxed);
            }
        }
        drop(guard);
    }

    /// Counts the items a dead process left in its outbox as lost (and done); the caller holds
    /// the table lock and frees the slot.
    fn settle_outbox(&self, s: &Slot) {
        let n = s.queued.swap(0, Ordering::AcqRel);
        if n > 0 {
            self.count_lost(
                u64::from(n),
                "its producer died with it in its outbox, before the ring had room",
            );
        }
    }

    /// Settles the outboxes of dead processes whose slots still count items: what `join`
    /// and [`lost`](Self::lost) check, as they cannot learn of such items otherwise.
    pub(crate) fn settle_dead_outboxes(&self) {
        let slots = &self.header().slots;
        if !slots.iter().any(|s| s.queued.load(Ordering::Acquire) > 0) {
            return;
        }
        let guard = lock_recovering(&self.table);
        for s in slots {
            if s.queued.load(Ordering::Acquire) > 0 && s.who.is_dead() {
                self.settle_outbox(s);
            }
        }
        drop(guard);
    }

    /// One more item in this process's outbox (on its slot, for [`settle_outbox`]).
    pub(crate) fn outbox_added(&self) {
        if let Some(s) = self.own_slot() {
            s.queued.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// `n` items left this process's outbox: begun in the ring, or dropped and counted.
    pub(crate) fn outbox_taken(&self, n: u32) {
        if let Some(s) = self.own_slot() {
            let _ = s
                .queued
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                    Some(q.saturating_sub(n))
                });
        }
    }

    fn own_slot(&self) -> Option<&Slot> {
        match self.slot.load(Ordering::Relaxed) {
            NO_SLOT => None,
            i => Some(&self.header().slots[i as usize]),
        }
    }

    fn slot_count(&self) -> &AtomicU32 {
        match self.slot.load(Ordering::Relaxed) {
            NO_SLOT => &self.tasks().pending,
            i => &self.header().slots[i as usize].count,
        }
    }

    /// A new handle value in this process.
    pub(crate) fn handle_added(&self) {
        self.local.fetch_add(1, Ordering::Relaxed);
        self.slot_count().fetch_add(1, Ordering::AcqRel);
    }

    /// A handle value of this process was dropped; `inherited` when it came through `fork`.
    pub(crate) fn handle_dropped(&self, inherited: bool) {
        self.local.fetch_sub(1, Ordering::Relaxed);
        if inherited {
            let _ = self
                .inherited
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        self.slot_count().fetch_sub(1, Ordering::AcqRel);
        // Getters waiting on an empty ring check whether they are now alone.
        self.header().data.0.notify();
    }

    /// Whether some handle other than the caller's exists in any process. With `check_alive`,
    /// the counts of processes found dead are reclaimed first (costs a read of `/proc` each).
    ///
    /// In this process, handles inherited through `fork` do not count: a forked child holds
    /// copies of every handle in its parent's memory, which it never drops (it never returns
    /// into its parent's frames); it is the other processes that count them.
    pub(crate) fn others_exist(&self, check_alive: bool, caller_inherited: bool) -> bool {
        let t = self.tasks();
        if t.pending.load(Ordering::Acquire) > 0 {
            return true;
        }
        let phantoms = u64::from(self.inherited.load(Ordering::Relaxed))
            .saturating_sub(u64::from(caller_inherited));
        let mine = self.slot.load(Ordering::Relaxed);
        // Handles counted in the table, less the caller's and this process's inherited ones;
        // `counts(slot)` says whether another process's slot counts.
        let total = |counts: &mut dyn FnMut(&Slot) -> bool| -> u64 {
            let slots = self.header().slots.iter().enumerate();
            slots
                .map(|(i, s)| {
                    let c = u64::from(s.count.load(Ordering::Acquire));
                    if i as u32 == mine {
                        c.saturating_sub(1 + phantoms)
                    } else if c > 0 && counts(s) {
                        c
                    } else {
                        0
                    }
                })
                .sum()
        };
        let others = total(&mut |_| true);
        if others == 0 || !check_alive {
            return others > 0;
        }
        let guard = lock_recovering(&self.table);
        let alive = total(&mut |s| {
            let dead = s.who.is_dead();
            if dead {
                self.settle_outbox(s);
                s.count.store(0, Ordering::Release);
                s.who.clear();
            }
            !dead
        });
        drop(guard);
        alive > 0 || t.pending.load(Ordering::Acquire) > 0
    }

    // ---------------------------------------------------------------- sending

    /// Whether a record of `rec` bytes (plus padding to the ring's end) fits now.
    fn fits(&self, rec: usize) -> bool {
        let h = self.header();
        let cap = self.capacity() as u64;
        let tail = pos(h.tail.0.word.load(Ordering::Relaxed));
        let to_end = cap - (tail & (cap - 1));
        let need = if rec as u64 > to_end {
            to_end + rec as u64
        } else {
            rec as u64
        };
        // A cached head written by a producer outside the lock may be older than the one the
        // tail was computed from: it then shows more than a ring in use, read as "no room".
        let room = |head: u64| {
            let used = tail.wrapping_sub(pos(head)) & POS_MASK;
            used <= cap && cap - used >= need
        };
        if room(h.tail.0.seen.load(Ordering::Relaxed)) {
            return true;
        }
        let head = h.head.0.word.load(Ordering::Acquire);
        h.tail.0.seen.store(head, Ordering::Relaxed);
        room(head)
    }

    /// Writes one record; the caller holds the write lock and checked that it fits.
    fn write_record(&self, payload: &[u8], flags: u32) {
        let cap = self.capacity() as u64;
        let rec = record_len(payload.len()) as u64;
        let tail = self.header().tail.0.word.load(Ordering::Relaxed);
        let off = pos(tail) & (cap - 1);
        if rec > cap - off || self.wrap_early(tail, off, rec) {
            self.pad_to_end();
        }
        let off = self.tail_offset();
        // SAFETY: the record fits at `off` (checked by `fits` under the write lock, or the ring
        // is empty and the padding and the record fit in it); readers read nothing past the
        // tail, which `publish` stores after this write.
        unsafe {
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                self.ring().add(off + RECORD_HEADER),
                payload.len(),
            );
        }
        self.publish(payload.len(), flags);
    }

    /// The tail's offset in the ring.
    fn tail_offset(&self) -> usize {
        let cap = self.capacity() as u64;
        (pos(self.header().tail.0.word.load(Ordering::Relaxed)) & (cap - 1)) as usize
    }

    /// Writes the header of the record whose `len` payload bytes are in place at the tail and
    /// publishes it (one tail store); the caller holds the write lock.
    fn publish(&self, len: usize, flags: u32) {
        let h = self.header();
        let tail = h.tail.0.word.load(Ordering::Relaxed);
        // SAFETY: the tail's offset is 8-aligned with the record's room after it (the caller
        // checked), and no reader reads there before the tail store below.
        unsafe { write_header(self.ring().add(self.tail_offset()), len as u32, flags) };
        let items = count(tail) + u64::from(flags & LAST != 0);
        let next = pos(tail) + record_len(len) as u64;
        h.tail.0.word.store(pack(items, next), Ordering::Release);
        h.data.0.record_cpu();
        h.data.0.notify();
    }

    /// Pads from the tail to the ring's end, so the next record starts the ring again; the
    /// caller holds the write lock and the padding fits. When the ring is empty and no reader
    /// is inside it, the head also moves past the padding (as the reader that skips it would),
    /// so padding written early never holds room that a burst of puts needs.
    fn pad_to_end(&self) {
        let h = self.header();
        let cap = self.capacity() as u64;
        let tail = h.tail.0.word.load(Ordering::Relaxed);
        let p = pos(tail);
        let to_end = cap - (p & (cap - 1));
        // SAFETY: the tail's offset is 8-aligned, at least 8 bytes before the ring's end, and
        // the space to the end is free (the caller checked); no reader reads it before the
        // tail store below.
        unsafe {
            write_header(
                self.ring().add((p & (cap - 1)) as usize),
                (to_end - RECORD_HEADER as u64) as u32,
                PAD,
            )
        };
        let next = pack(count(tail), p + to_end);
        h.tail.0.word.store(next, Ordering::Release);
        // No notify: padding holds no item, and the record written next notifies.
        if let Some(guard) = lock_until(&self.read, Deadline::after(Duration::ZERO)) {
            let head = h.head.0.word.load(Ordering::Relaxed);
            if pos(head) == p {
                self.reclaim(p, p + to_end);
                h.head.0.seen.store(next, Ordering::Relaxed);
                h.head
                    .0
                    .word
                    .store(pack(count(head), p + to_end), Ordering::Release);
            }
            drop(guard);
        }
    }

    /// The free bytes from the tail where a record can go now, as a length with the record
    /// header, bounded by the ring's end and by a chunk; 0 when not even an empty record fits.
    /// Wraps early first when the ring allows it (see [`wrap_early`](Self::wrap_early)). The
    /// caller holds the write lock.
    fn free_region(&self) -> usize {
        let h = self.header();
        let cap = self.capacity() as u64;
        let tail = h.tail.0.word.load(Ordering::Relaxed);
        let off = pos(tail) & (cap - 1);
        if self.wrap_early(tail, off, RECORD_HEADER as u64) {
            self.pad_to_end();
        }
        let tail = pos(h.tail.0.word.load(Ordering::Relaxed));
        let to_end = cap - (tail & (cap - 1));
        // A stale cached head shows more than a ring in use: no room.
        let free = |head: u64| cap.saturating_sub(tail.wrapping_sub(pos(head)) & POS_MASK);
        let limit = to_end.min((self.chunk_max() + RECORD_HEADER) as u64);
        let mut room = free(h.tail.0.seen.load(Ordering::Relaxed));
        if room < limit {
            let head = h.head.0.word.load(Ordering::Acquire);
            h.tail.0.seen.store(head, Ordering::Relaxed);
            room = free(head);
        }
        let len = room.min(limit) as usize;
        if len > RECORD_HEADER { len } else { 0 }
    }

    /// Puts an item that `encode` writes straight into the ring's free space after the tail
    /// (one copy, made under the write lock) or, when it does not fit there, into `spill`,
    /// which then goes through [`send`](Self::send). `encode` is called once, either way.
    ///
    /// On an unbounded queue this never waits: an item the ring has no room for now (or whose
    /// write lock another writer holds for more than [`NOWAIT`]) goes to this process's outbox,
    /// which the feeder writes (see [`crate::feeder`]); once the outbox holds items, every put
    /// joins them there, in order.
    pub(crate) fn send_encoded(
        self: &Arc<Self>,
        encode: impl FnOnce(&mut [u8], &mut Vec<u8>) -> std::result::Result<Placed, SendFailure>,
        spill: &mut Vec<u8>,
        deadline: Deadline,
        blocking: bool,
        joinable: bool,
    ) -> std::result::Result<(), SendFailure> {
        if self.is_closed() {
            return Err(SendFailure::Closed);
        }
        let max = self.maxsize();
        // An unbounded `Queue`'s put never waits (Python's feeder thread); a `SimpleQueue`'s
        // waits for room, as Python's writes its pipe.
        let unbounded = max == 0 && self.feeds();
        if unbounded && self.queued.load(Ordering::Acquire) > 0 {
            let placed = encode(&mut [], spill)?;
            self.queue_spilled(placed, spill, joinable);
            return Ok(());
        }
        let guard = if blocking && !unbounded {
            lock_until(&self.write, deadline)
        } else {
            lock_briefly(&self.write)
        };
        let Some(guard) = guard else {
            if unbounded {
                let placed = encode(&mut [], spill)?;
                self.queue_spilled(placed, spill, joinable);
                return Ok(());
            }
            return Err(if blocking {
                SendFailure::Deadline
            } else {
                SendFailure::Full
            });
        };
        let room = max == 0 || self.qsize() < max;
        let len = if room { self.free_region() } else { 0 };
        let dest: &mut [u8] = if len == 0 {
            &mut []
        } else {
            // SAFETY: `free_region` found `len` free bytes at the tail, inside the ring; no
            // reader reads them before `publish`, and no other writer runs (write lock).
            unsafe {
                std::slice::from_raw_parts_mut(
                    self.ring().add(self.tail_offset() + RECORD_HEADER),
                    len - RECORD_HEADER,
                )
            }
        };
        if let Placed::InPlace(n) = encode(dest, spill)? {
            if joinable {
                self.tasks().unfinished.fetch_add(1, Ordering::AcqRel);
            }
            self.publish(n, FIRST | LAST);
            drop(guard);
            return Ok(());
        }
        if unbounded {
            // Written now if the whole item fits (nothing to wait for), else fed later.
            if room && self.fits(self.records_len(spill.len())) {
                if joinable {
                    self.tasks().unfinished.fetch_add(1, Ordering::AcqRel);
                }
                self.write_chunks(spill, self.chunk_max());
                drop(guard);
            } else {
                drop(guard);
                self.queue_spilled(Placed::Spilled, spill, joinable);
            }
            return Ok(());
        }
        drop(guard);
        self.send(spill, deadline, blocking, joinable)
    }

    /// Hands an item encoded into `spill` (or empty, `InPlace(0)`) to the feeder.
    fn queue_spilled(self: &Arc<Self>, placed: Placed, spill: &mut Vec<u8>, joinable: bool) {
        let item = match placed {
            Placed::Spilled => std::mem::take(spill),
            Placed::InPlace(_) => Vec::new(),
        };
        if joinable {
            // Counted when put, as Python does: `join` waits for the outbox too.
            self.tasks().unfinished.fetch_add(1, Ordering::AcqRel);
        }
        crate::feeder::push(self, item);
    }

    /// The ring bytes an item of `len` bytes takes, its records' headers and padding included,
    /// except a padding record to the ring's end, which [`fits`](Self::fits) adds.
    fn records_len(&self, len: usize) -> usize {
        let chunk = self.chunk_max();
        let n = len.div_ceil(chunk).max(1);
        let last = len - (n - 1) * chunk;
        (n - 1) * record_len(chunk) + record_len(last)
    }

    /// The feeder's write of an item from the outbox (the task was counted when it was put):
    /// waits for room until `deadline`, then writes it whole; `false` when the deadline passed
    /// first. Writes even after [`close`](Self::close): `close` lets the outbox drain, as
    /// Python's feeder flushes its buffer after `close()`.
    pub(crate) fn write_fed(&self, bytes: &[u8], deadline: Deadline) -> bool {
        self.write_item(bytes, deadline, true, false, true).is_ok()
    }

    /// Whether the writer at ring offset `off` should pad to the ring's end and go on from its
    /// start: when the ring is large, the record of `rec` bytes would end past its [`WARM`]
    /// start, and the ring is empty. A queue whose consumers keep up then cycles through the
    /// warm start only (its pages stay resident and are reused), and the rest of the ring,
    /// which only a burst touches, is given back when consumers pass it (see
    /// [`reclaim`](Self::reclaim)).
    fn wrap_early(&self, tail: u64, off: u64, rec: u64) -> bool {
        let cap = self.capacity() as u64;
        if cap < 2 * WARM || off + rec <= WARM || (cap - off) + rec > cap {
            return false;
        }
        let h = self.header();
        // The producers' cached head is never ahead of the head: equal to the tail, it proves
        // the ring empty without reading the consumers' line.
        pos(h.tail.0.seen.load(Ordering::Relaxed)) == pos(tail)
            || pos(h.head.0.word.load(Ordering::Acquire)) == pos(tail)
    }

    /// Largest payload of one record: a quarter of the ring.
    fn chunk_max(&self) -> usize {
        self.capacity() / 4 - RECORD_HEADER
    }

    /// Puts an encoded item. `blocking == false` never waits: not for room (the whole item must
    /// fit now) and not for the write lock beyond [`NOWAIT`]; `joinable` counts an unfinished
    /// task.
    pub(crate) fn send(
        &self,
        bytes: &[u8],
        deadline: Deadline,
        blocking: bool,
        joinable: bool,
    ) -> std::result::Result<(), SendFailure> {
        if self.is_closed() {
            return Err(SendFailure::Closed);
        }
        self.write_item(bytes, deadline, blocking, joinable, false)
    }

    /// `fed`: the item comes from this process's outbox, which it leaves as its first record
    /// is written (from then on a reader counts it if this process dies mid-item).
    fn write_item(
        &self,
        bytes: &[u8],
        deadline: Deadline,
        blocking: bool,
        joinable: bool,
        fed: bool,
    ) -> std::result::Result<(), SendFailure> {
        let chunk = self.chunk_max();
        let first = bytes.len().min(chunk);
        // A non-blocking put writes only an item that fits whole: a later chunk never waits.
        let need = if blocking {
            record_len(first)
        } else {
            self.records_len(bytes.len())
        };
        let max = self.maxsize();
        loop {
            let guard = if blocking {
                lock_until(&self.write, deadline)
            } else {
                lock_briefly(&self.write)
            };
            let Some(guard) = guard else {
                return Err(if blocking {
                    SendFailure::Deadline
                } else {
                    SendFailure::Full
                });
            };
            let room = max == 0 || self.qsize() < max;
            if room && self.fits(need) {
                if joinable {
                    self.tasks().unfinished.fetch_add(1, Ordering::AcqRel);
                }
                if fed {
                    self.outbox_taken(1);
                }
                self.write_chunks(bytes, chunk);
                drop(guard);
                return Ok(());
            }
            drop(guard);
            if !blocking {
                return Err(SendFailure::Full);
            }
            if deadline.is_expired() {
                return Err(SendFailure::Deadline);
            }
            self.header().space.0.wait(&deadline, || {
                (max == 0 || self.qsize() < max) && self.fits(need)
            });
        }
    }

    /// Writes an item as one record or as chunks; the caller holds the write lock and checked
    /// that the first record fits. Later chunks wait for room while holding the lock, whatever
    /// the caller's deadline: the item is already partly visible.
    fn write_chunks(&self, bytes: &[u8], chunk: usize) {
        if bytes.len() <= chunk {
            self.write_record(bytes, FIRST | LAST);
            return;
        }
        let n = bytes.len().div_ceil(chunk);
        for (i, part) in bytes.chunks(chunk).enumerate() {
            let flags = match i {
                0 => FIRST,
                i if i + 1 == n => LAST,
                _ => 0,
            };
            let rec = record_len(part.len());
            while !self.fits(rec) {
                self.header()
                    .space
                    .0
                    .wait(&Deadline::never(), || self.fits(rec));
            }
            self.write_record(part, flags);
        }
    }

    // ---------------------------------------------------------------- receiving

    /// Takes the next item: an item in one record goes to `decode` straight from the ring
    /// (under the read lock, so a reader killed while decoding leaves it whole for the next),
    /// an item in chunks into `out` (cleared first). `caller_inherited`: the calling handle
    /// came through `fork`.
    pub(crate) fn recv<R>(
        &self,
        out: &mut Vec<u8>,
        deadline: Deadline,
        caller_inherited: bool,
        mut decode: impl FnMut(&[u8]) -> R,
    ) -> std::result::Result<Got<R>, RecvFailure> {
        if self.is_closed() {
            return Err(RecvFailure::Closed);
        }
        let data = &self.header().data.0;
        loop {
            if wait::spin_until(&deadline, data.notifier_cpu(), || self.has_data()) {
                // There is an item: wait for another consumer to finish copying one out, past
                // an expired deadline too, for [`NOWAIT`] (a lock whose owner died is taken
                // over at once). A consumer in the middle of a chunked item holds the lock
                // longer: a `try_get` then reports `Empty`.
                let guard = match deadline.remaining() {
                    None => lock_until(&self.read, deadline),
                    Some(left) if left.is_zero() => lock_briefly(&self.read),
                    Some(_) => {
                        lock_until(&self.read, deadline).or_else(|| lock_briefly(&self.read))
                    }
                };
                let guard = guard.ok_or(RecvFailure::Deadline)?;
                let took = self.take(out, &mut decode);
                drop(guard);
                match took {
                    Take::Direct(r) => return Ok(Got::Direct(r)),
                    Take::Item => return Ok(Got::Buffered),
                    Take::Nothing => continue,
                }
            }
            if deadline.is_expired() {
                return Err(RecvFailure::Deadline);
            }
            if !self.others_exist(false, caller_inherited) {
                if self.has_data() {
                    continue;
                }
                return Err(RecvFailure::Disconnected);
            }
            let ready = data.wait(&deadline, || {
                self.has_data() || !self.others_exist(false, caller_inherited)
            });
            if !ready
                && !self.has_data()
                && !deadline.is_expired()
                && !self.others_exist(true, caller_inherited)
            {
                if self.has_data() {
                    continue;
                }
                return Err(RecvFailure::Disconnected);
            }
        }
    }

    /// Reads records under the read lock until one whole item is decoded or in `out`.
    fn take<R>(&self, out: &mut Vec<u8>, decode: &mut impl FnMut(&[u8]) -> R) -> Take<R> {
        let h = self.header();
        let cap = self.capacity() as u64;
        let ring = self.ring();
        let mut in_item = false;
        out.clear();
        loop {
            let head = h.head.0.word.load(Ordering::Relaxed);
            let mut tail = h.head.0.seen.load(Ordering::Relaxed);
            if pos(head) == pos(tail) {
                tail = h.tail.0.word.load(Ordering::Acquire);
                h.head.0.seen.store(tail, Ordering::Relaxed);
            }
            if pos(head) == pos(tail) {
                if !in_item {
                    return Take::Nothing;
                }
                if self.await_continuation() {
                    continue;
                }
                self.count_lost(1, "its producer died while writing it");
                out.clear();
                return Take::Nothing;
            }
            let off = (pos(head) & (cap - 1)) as usize;
            // SAFETY: records between head and tail were published whole (tail store, read
            // with Acquire); `off` is 8-aligned inside the ring.
            let (len, flags) = unsafe { read_header(ring.add(off)) };
            let rec = record_len(len as usize) as u64;
            if rec > cap - off as u64 || rec > pos(tail).wrapping_sub(pos(head)) & POS_MASK {
                // Cannot happen with this crate's writers; refuse to read out of bounds.
                tracing::error!(target: "multiprocessing", "queue ring corrupted: dropping its contents");
                let tail = h.tail.0.word.load(Ordering::Acquire);
                h.head.0.seen.store(tail, Ordering::Relaxed);
                h.head.0.word.store(tail, Ordering::Release);
                h.space.0.notify();
                return Take::Nothing;
            }
            let mut done = false;
            let mut direct = None;
            if flags & PAD == 0 && flags & (FIRST | LAST) == FIRST | LAST && !in_item {
                // SAFETY: as above; the payload lies within the record.
                let payload = unsafe {
                    std::slice::from_raw_parts(ring.add(off + RECORD_HEADER), len as usize)
                };
                // The record is consumed whether the decoder returns or panics.
                direct = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                    || decode(payload),
                )));
            } else if flags & PAD == 0 {
                if flags & FIRST != 0 {
                    if in_item {
                        self.count_lost(1, "its producer died while writing it");
                        out.clear();
                    }
                    in_item = true;
                }
                if in_item {
                    // SAFETY: as above; the payload lies within the record.
                    let payload = unsafe {
                        std::slice::from_raw_parts(ring.add(off + RECORD_HEADER), len as usize)
                    };
                    out.extend_from_slice(payload);
                    done = flags & LAST != 0;
                } else if flags & LAST != 0 {
                    // The rest of an item whose reader died in the middle of it.
                    self.count_lost(1, "its consumer died while reading it");
                }
            }
            let items = count(head) + u64::from(flags & LAST != 0 && flags & PAD == 0);
            let next = pos(head) + rec;
            self.reclaim(pos(head), next);
            h.head.0.word.store(pack(items, next), Ordering::Release);
            h.space.0.notify();
            match direct {
                Some(Ok(r)) => return Take::Direct(r),
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None if done => return Take::Item,
                None => {}
            }
        }
    }

    /// Mid-item with nothing more in the ring: waits for the next chunk while its writer holds
    /// the write lock. `false` when the writer is gone (died, or its lock was taken over).
    fn await_continuation(&self) -> bool {
        let data = &self.header().data.0;
        loop {
            if data.wait(&Deadline::after(SLICE), || self.has_data()) || self.has_data() {
                return true;
            }
            // Nothing for a while: a live writer holds the write lock until its item is whole.
            if let Some(guard) = lock_until(&self.write, Deadline::after(SLICE + SLICE / 2)) {
                let more = self.has_data();
                drop(guard);
                return more;
            }
        }
    }

    /// Counts `n` items lost; for a `JoinableQueue` they also count as done, so `join` does
    /// not wait for items nobody can ever take.
    pub(crate) fn count_lost(&self, n: u64, why: &str) {
        self.tasks().lost.fetch_add(n, Ordering::Relaxed);
        if self.joinable() {
            for _ in 0..n {
                if self.task_done().is_err() {
                    break;
                }
            }
        }
        tracing::warn!(target: "multiprocessing", "{n} queue item(s) lost: {why}");
    }

    /// Gives back to the kernel the pages of every whole [`RECLAIM`] chunk past the ring's
    /// [`WARM`] start that the record being consumed, from `from` to `to`, covers, before the
    /// head moves past it.
    ///
    /// Only chunks inside this one record: bytes the head passed earlier may already hold a
    /// producer's next records (a producer writes wherever the head has been), so a chunk the
    /// head entered before this call is never removed. The records that cover chunks are
    /// items of a megabyte or more and the padding of an early wrap (which covers what a burst
    /// of small items filled).
    fn reclaim(&self, from: u64, to: u64) {
        let cap = self.capacity() as u64;
        if cap < 2 * WARM || to - from < RECLAIM {
            return;
        }
        // A record never wraps, so its whole chunks are contiguous in the ring: one call.
        let first = from.div_ceil(RECLAIM) * RECLAIM;
        let end = to / RECLAIM * RECLAIM;
        let base = from - (from & (cap - 1));
        let start = first.max(base + WARM);
        if start >= end {
            return;
        }
        // SAFETY: the range lies inside the ring (the record does), page-aligned, wholly
        // inside the record being consumed; no producer writes there before the head store
        // that follows.
        let _ = unsafe {
            rustix::mm::madvise(
                self.ring().add((start - base) as usize).cast(),
                (end - start) as usize,
                rustix::mm::Advice::LinuxRemove,
            )
        };
    }

    // ---------------------------------------------------------------- tasks

    /// Marks one task done; an error when none is unfinished.
    pub(crate) fn task_done(&self) -> Result<()> {
        let word = &self.tasks().unfinished;
        let mut v = word.load(Ordering::Acquire);
        loop {
            if v == 0 {
                return Err(Error::TooManyTaskDone);
            }
            match word.compare_exchange_weak(v, v - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if v == 1 {
            wait::wake_word(word);
        }
        Ok(())
    }

    /// Waits until no task is unfinished or `deadline` passes; `true` when none is.
    pub(crate) fn join_tasks(&self, deadline: Deadline) -> bool {
        let word = &self.tasks().unfinished;
        loop {
            let v = word.load(Ordering::Acquire);
            if v == 0 {
                return true;
            }
            if deadline.is_expired() {
                return false;
            }
            wait::wait_word(word, v, &deadline);
            // Each slice: items that died in a producer's outbox are done (`count_lost`).
            self.settle_dead_outboxes();
        }
    }

    /// Unfinished tasks.
    pub(crate) fn unfinished(&self) -> usize {
        self.tasks().unfinished.load(Ordering::Acquire) as usize
    }

    // ---------------------------------------------------------------- transfer

    /// Serializes the channel's blocks; the message then carries one handle, counted as
    /// pending until a receiver adopts it.
    pub(crate) fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let ok = (&self.block, &self.write, &self.read, &self.table).serialize(s)?;
        self.tasks().pending.fetch_add(1, Ordering::AcqRel);
        Ok(ok)
    }

    /// Adopts a received channel, checking it is a ring of `kind` for items of hash `hash`.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
        kind: Kind,
        hash: u64,
    ) -> std::result::Result<Arc<Channel>, D::Error> {
        let (block, write, read, table) = <(HeapBlock, Lock, Lock, Lock)>::deserialize(d)?;
        if block.len() < HEADER_LEN + MIN_CAPACITY {
            return Err(de_error("received block is too small for a queue"));
        }
        let ch = Channel::with_parts(block, write, read, table);
        let c = &ch.header().config.0;
        if c.magic.load(Ordering::Acquire) != MAGIC {
            return Err(de_error("received block does not hold a queue"));
        }
        if c.kind.load(Ordering::Relaxed) != kind as u32 {
            return Err(de_error(format!(
                "received queue is not a {}",
                match kind {
                    Kind::Queue => "Queue",
                    Kind::Simple => "SimpleQueue",
                    Kind::Joinable => "JoinableQueue",
                }
            )));
        }
        if c.type_hash.load(Ordering::Relaxed) != hash {
            return Err(de_error("received queue carries another item type"));
        }
        let cap = c.capacity.load(Ordering::Relaxed) as usize;
        if !cap.is_power_of_two()
            || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&cap)
            || HEADER_LEN + cap > ch.block.len()
        {
            return Err(de_error("received queue has a bad capacity"));
        }
        // A process holds one view per ring: a handle received where the ring is known
        // already (a forked child receiving what it also inherited) joins that view.
        if let Some(known) = fork_hooks::find(&ch.block) {
            known.handle_added();
            known.tasks().pending.fetch_sub(1, Ordering::AcqRel);
            return Ok(known);
        }
        Ok(ch.adopt(true))
    }
}

/// Takes `lock` until `deadline`, recovering it from a dead owner (the ring's state is
/// consistent whatever point its owner died at: see the module docs).
fn lock_until(lock: &Lock, deadline: Deadline) -> Option<LockGuard<'_>> {
    fn recovered(died: OwnerDied<LockGuard<'_>>) -> LockGuard<'_> {
        tracing::debug!(target: "multiprocessing", "queue lock recovered from a dead process");
        died.into_inner()
    }
    let res = match deadline.remaining() {
        None => return Some(lock.lock().unwrap_or_else(recovered)),
        Some(left) if left.is_zero() => lock.try_lock(),
        Some(left) => lock.lock_timeout(left),
    };
    match res {
        Ok(guard) => Some(guard),
        Err(TryLockError::OwnerDied(died)) => Some(recovered(died)),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Takes `lock` within [`NOWAIT`], or over from a dead owner: what the non-blocking forms
/// wait, so a peer copying a record does not fail them, while a peer that holds the lock long
/// (a chunked writer waiting for room) does. The owner's liveness is checked only after the
/// wait (a check reads `/proc`), by a last try that recovers the lock from a dead owner.
fn lock_briefly(lock: &Lock) -> Option<LockGuard<'_>> {
    lock_until(lock, Deadline::after(NOWAIT))
        .or_else(|| lock_until(lock, Deadline::after(Duration::ZERO)))
}

fn lock_recovering(lock: &Lock) -> LockGuard<'_> {
    lock_until(lock, Deadline::never()).unwrap_or_else(|| unreachable!("no deadline"))
}

/// # Safety
/// `at` is 8-aligned with 8 writable bytes.
unsafe fn write_header(at: *mut u8, len: u32, flags: u32) {
    // SAFETY: per the contract.
    unsafe {
        at.cast::<u32>().write(len);
        at.add(4).cast::<u32>().write(flags);
    }
}

/// # Safety
/// `at` is 8-aligned with 8 readable bytes.
unsafe fn read_header(at: *const u8) -> (u32, u32) {
    // SAFETY: per the contract.
    unsafe { (at.cast::<u32>().read(), at.add(4).cast::<u32>().read()) }
}

/// Keeping the handle table right in a forked child: the one place this crate hooks `fork`.
///
/// A forked child inherits every handle value of its parent without a message. Before the
/// fork, each live channel counts this process's handles once more as pending (so the parent
/// never sees itself alone while the child starts); in the child, the channel records the
/// child in the table and takes them out of pending.
mod fork_hooks {
    use super::*;

    use multiprocessing_core::fork::{self, ForkHook, ForkMutex};

    /// Held across every fork (a child never inherits it locked).
    static CHANNELS: ForkMutex<Vec<Weak<Channel>>> = ForkMutex::new(Vec::new());

    thread_local! {
        /// What `prepare` counted, for the child (the same thread, after the fork).
        static FORKING: RefCell<Vec<(Weak<Channel>, u32)>> = const { RefCell::new(Vec::new()) };
    }

    /// This process's live view of the ring in `block`, if it has one.
    pub(super) fn find(block: &HeapBlock) -> Option<Arc<Channel>> {
        let list = CHANNELS.lock();
        list.iter()
            .filter_map(Weak::upgrade)
            .find(|ch| ch.block.same_block(block))
    }

    pub(super) fn track(ch: &Arc<Channel>) {
        {
            // Locking registers CHANNELS first, so at a fork HOOK (registered after it) counts
            // before CHANNELS is taken for the fork, and runs after it is released in the child.
            let mut list = CHANNELS.lock();
            list.retain(|w| w.strong_count() > 0);
            list.push(Arc::downgrade(ch));
        }
        crate::feeder::register_before_hook();
        fork::register(&HOOK);
    }

    /// The queues' fork hook: counts the handles a forked child inherits.
    struct Hook;
    static HOOK: Hook = Hook;

    impl ForkHook for Hook {
        fn before_fork(&'static self) {
            prepare();
        }
        fn after_fork_in_parent(&'static self) {
            parent();
        }
        fn after_fork_in_child(&'static self) {
            child();
        }
    }

    fn prepare() {
        let _ = std::panic::catch_unwind(|| {
            let list = CHANNELS.lock();
            let counted: Vec<_> = list
                .iter()
                .filter_map(|w| {
                    let ch = w.upgrade()?;
                    let n = ch.local.load(Ordering::Relaxed);
                    ch.tasks().pending.fetch_add(n, Ordering::AcqRel);
                    Some((w.clone(), n))
                })
                .collect();
            drop(list);
            FORKING.with(|f| *f.borrow_mut() = counted);
        });
    }

    fn parent() {
        let _ = std::panic::catch_unwind(|| FORKING.with(|f| f.borrow_mut().clear()));
    }

    fn child() {
        let _ = std::panic::catch_unwind(|| {
            let counted = FORKING.with(|f| std::mem::take(&mut *f.borrow_mut()));
            for (weak, n) in counted {
                if let Some(ch) = weak.upgrade() {
                    let local = ch.local.load(Ordering::Relaxed);
                    ch.inherited.store(local, Ordering::Relaxed);
                    // As Python's `Queue._after_fork`: the child's handles start open.
                    ch.closed.store(false, Ordering::Relaxed);
                    // The parent's slot is not ours: find or take one for this process.
                    ch.slot.store(NO_SLOT, Ordering::Relaxed);
                    if local > 0 {
                        ch.register(local);
                    }
                    ch.tasks().pending.fetch_sub(n, Ordering::AcqRel);
                }
            }
            crate::feeder::forget_in_child();
        });
    }
}
