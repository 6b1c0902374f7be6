//! The small-block allocator that runs inside a shared arena.
//!
//! Sizes are rounded up to power-of-two classes from 32 bytes to 64 KiB (a 16-byte block header
//! included). Each class has a free list in the arena header; fresh blocks come from a bump
//! pointer. The lists are guarded by a lock word in the arena header that holds the holder's
//! process id: a process that dies holding it poisons the arena (it allocates no more and its
//! frees are dropped) instead of deadlocking everyone else, and a live holder that keeps it for
//! longer than [`LOCK_PATIENCE`] makes the waiter give up on the arena for that call (an
//! allocation goes to another arena, a free leaves its block allocated) rather than spin for ever.
//!
//! The arena also records the processes that hold its blocks by inheritance (`fork`) or receipt
//! (see [`adopt`]), and each allocated block carries a mask of those holders; a holder found
//! dead gives back every reference it held ([`reclaim_dead_holders`]).
//!
//! ```
//! use multiprocessing_core::heap::HeapBlock;
//! let a = HeapBlock::new(40).unwrap(); // a 64-byte block: 16 bytes of header, 48 of data
//! let b = HeapBlock::new(40).unwrap();
//! assert_ne!(a.as_ptr(), b.as_ptr());
//! ```

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::arena::{Arena, ArenaHeader, HEADER_SIZE, HOLDERS, KIND_SMALL};
use super::sync::{AtomicU32, AtomicU64, fence};
use crate::backoff::Backoff;
use crate::owner::Owner;
use crate::time::Deadline;

/// Number of size classes.
pub(crate) const NUM_CLASSES: usize = 12;
/// Smallest block (header included).
const MIN_BLOCK: usize = 32;
/// The cache line: the alignment of blocks of this size and larger.
const CACHE_LINE: usize = 64;
/// Size of the header before every block's data.
pub(crate) const BLOCK_HEADER: usize = 16;
/// Largest data size served from a shared arena; larger blocks get an arena of their own.
pub(crate) const MAX_SMALL: usize = (MIN_BLOCK << (NUM_CLASSES - 1)) - BLOCK_HEADER;
/// Class tag of a block that owns a dedicated arena.
pub(crate) const DEDICATED: u32 = u32::MAX;

/// The header in front of every block's data.
#[repr(C)]
pub(crate) struct BlockHeader {
    /// Number of processes holding the block, plus handles in flight inside messages.
    pub(crate) refcount: AtomicU32,
    /// Size class index, or [`DEDICATED`].
    pub(crate) class: AtomicU32,
    /// While the block is free: the next free block of the same class. While allocated: the
    /// mask of the arena's recorded holders that hold one reference each (see [`adopt`]).
    pub(crate) next: AtomicU64,
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<BlockHeader>() == BLOCK_HEADER);

/// The class whose blocks hold `size` data bytes.
pub(crate) fn class_for(size: usize) -> Option<usize> {
    let total = size.checked_add(BLOCK_HEADER)?.max(MIN_BLOCK);
    let class =
        total.next_power_of_two().trailing_zeros() as usize - MIN_BLOCK.trailing_zeros() as usize;
    (class < NUM_CLASSES).then_some(class)
}

/// Total size (header included) of blocks in `class`.
pub(crate) fn class_size(class: usize) -> usize {
    MIN_BLOCK << class
}

/// The block header at `offset` (a header offset checked by the caller: block offsets are
/// 16-aligned and in bounds, checked when allocated or received).
pub(crate) fn header_at(arena: &Arena, offset: usize) -> &BlockHeader {
    arena.block_header(offset)
}

/// How long the allocator waits for its lock before giving up on the arena for one call.
pub(crate) const LOCK_PATIENCE: Duration = Duration::from_secs(1);
/// How often a waiter checks that the lock's holder still lives.
const HOLDER_CHECK: Duration = Duration::from_millis(100);

/// Holds the arena's allocator lock.
struct ArenaLock<'a>(&'a ArenaHeader);

impl Drop for ArenaLock<'_> {
    fn drop(&mut self) {
        self.0.lock_owner.clear();
        self.0.lock.store(0, Ordering::Release);
    }
}

/// Takes the allocator lock: `None` if the arena is retired, its holder died (the arena is
/// retired then), or a live holder kept it for over [`LOCK_PATIENCE`].
fn lock(header: &ArenaHeader) -> Option<ArenaLock<'_>> {
    let me = crate::owner::process();
    let acquire = || {
        let ok = header
            .lock
            .compare_exchange(0, me.id, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if ok {
            header.lock_owner.set(me, 0);
        }
        ok
    };
    if header.poisoned.load(Ordering::Relaxed) == 0 && acquire() {
        return Some(ArenaLock(header));
    }
    let mut waiting = Waiting::new();
    let backoff = Backoff::new();
    loop {
        if header.poisoned.load(Ordering::Relaxed) != 0 {
            return None;
        }
        if header.lock.load(Ordering::Relaxed) == 0 && acquire() {
            return Some(ArenaLock(header));
        }
        if !backoff.is_completed() {
            backoff.snooze();
            continue;
        }
        // Held for long: the holder may be descheduled, stopped or dead. There is no futex
        // to sleep on here (the critical section is a few loads and stores), so nap.
        waiting.nap();
        let holder = header.lock.load(Ordering::Relaxed);
        if waiting.holder_check_due() && holder != 0 && !header.lock_owner.alive_as(holder) {
            tracing::warn!(target: crate::logging::LOG_TARGET,
                "process {holder} died inside the heap allocator; retiring its arena");
            header.poisoned.store(1, Ordering::Relaxed);
            return None;
        }
        if waiting.out_of_patience() {
            tracing::warn!(target: crate::logging::LOG_TARGET,
                "process {holder} has held a heap arena's lock for over {LOCK_PATIENCE:?}; \
                 passing the arena by");
            return None;
        }
    }
}

/// The clock of a wait for the allocator lock: naps, holder checks every [`HOLDER_CHECK`] and
/// patience. Under `loom`, which does not model time, a nap is a yield that lets the holder
/// run, the holder is checked after every nap, and a live holder is waited for as long as it
/// takes (giving up is a matter of time, which the unit tests check).
struct Waiting {
    check: Deadline,
    patience: Deadline,
}

impl Waiting {
    fn new() -> Waiting {
        Waiting {
            check: Deadline::after(HOLDER_CHECK),
            patience: Deadline::after(LOCK_PATIENCE),
        }
    }

    fn nap(&self) {
        #[cfg(not(loom))]
        std::thread::sleep(Duration::from_micros(100));
        #[cfg(loom)]
        loom::thread::yield_now();
    }

    /// Whether it is time to check that the holder lives (then the next check is due later).
    fn holder_check_due(&mut self) -> bool {
        if cfg!(loom) {
            return true;
        }
        let due = self.check.is_expired();
        if due {
            self.check = Deadline::after(HOLDER_CHECK);
        }
        due
    }

    fn out_of_patience(&self) -> bool {
        !cfg!(loom) && self.patience.is_expired()
    }
}

/// Takes a block of `class` from the arena; returns its header offset.
pub(crate) fn alloc(arena: &Arena, class: usize) -> Option<usize> {
    debug_assert_eq!(arena.kind(), KIND_SMALL);
    let header = arena.header();
    let _guard = lock(header)?;
    // Offsets come from shared memory any process holding the arena may have corrupted: one
    // that does not fit is refused (and the arena retired), never followed out of bounds.
    let fits = |offset: usize| {
        offset.is_multiple_of(BLOCK_HEADER)
            && offset >= super::arena::HEADER_SIZE
            && offset
                .checked_add(class_size(class))
                .is_some_and(|end| end <= arena.size())
    };
    let head = usize::try_from(header.free[class].load(Ordering::Relaxed)).unwrap_or(usize::MAX);
    let offset = if head != 0 {
        if !fits(head) {
            return corrupted(header);
        }
        let next = header_at(arena, head).next.load(Ordering::Relaxed);
        header.free[class].store(next, Ordering::Relaxed);
        head
    } else {
        let bump = usize::try_from(header.bump.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        if bump < super::arena::HEADER_SIZE || !bump.is_multiple_of(BLOCK_HEADER) {
            return corrupted(header);
        }
        // Blocks of a cache line or more start on a line (arenas are page-aligned), so a lock
        // word never straddles two lines nor shares one with another block: processes on
        // different CPUs then bounce only the lines they really share. The gap (at most 48
        // bytes) stays unused.
        let bump = bump.next_multiple_of(class_size(class).min(CACHE_LINE));
        if !fits(bump) {
            return None;
        }
        header
            .bump
            .store((bump + class_size(class)) as u64, Ordering::Relaxed);
        bump
    };
    let block = header_at(arena, offset);
    block.class.store(class as u32, Ordering::Relaxed);
    block.next.store(0, Ordering::Relaxed);
    block.refcount.store(1, Ordering::Release);
    // Reused blocks hold stale data: hand out zeroed memory, as ctypes does.
    // SAFETY: the block's data lies inside the arena and belongs to nobody else until returned.
    unsafe {
        std::ptr::write_bytes(
            arena.at(offset + BLOCK_HEADER).as_ptr(),
            0,
            class_size(class) - BLOCK_HEADER,
        );
    }
    Some(offset)
}

/// Retires an arena whose allocator state is corrupted; allocates nothing.
fn corrupted(header: &ArenaHeader) -> Option<usize> {
    tracing::error!(target: crate::logging::LOG_TARGET,
        "a heap arena's free lists are corrupted; retiring the arena");
    header.poisoned.store(1, Ordering::Relaxed);
    None
}

/// Returns the block at header `offset` to its free list.
pub(crate) fn free(arena: &Arena, offset: usize) {
    if header_at(arena, offset).class.load(Ordering::Relaxed) as usize >= NUM_CLASSES {
        return; // A dedicated arena goes away with its last mapping.
    }
    match lock(arena.header()) {
        Some(_guard) => free_locked(arena, offset),
        None => tracing::debug!(target: crate::logging::LOG_TARGET,
            "heap arena unavailable; block at {offset} stays allocated"),
    }
}

/// [`free`] with the allocator lock held.
fn free_locked(arena: &Arena, offset: usize) {
    let header = arena.header();
    let block = header_at(arena, offset);
    let class = block.class.load(Ordering::Relaxed) as usize;
    if class >= NUM_CLASSES {
        return;
    }
    block.next.store(
        header.free[class].load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    header.free[class].store(offset as u64, Ordering::Relaxed);
}

/// Gives back one reference to the block at `offset`, freeing it if it was the last.
/// Called with the allocator lock held.
fn unref_locked(arena: &Arena, offset: usize) {
    if header_at(arena, offset)
        .refcount
        .fetch_sub(1, Ordering::Release)
        == 1
    {
        fence(Ordering::Acquire);
        free_locked(arena, offset);
    }
}

/// Records `me` as a holder of the arena and attributes to it the reference it already holds
/// to each block at `offsets` (inherited across `fork`, or adopted from a message). Returns
/// its holder slot, or `None` if no slot is free (the references stay plain ones) or the
/// arena's lock is unavailable.
pub(crate) fn adopt(arena: &Arena, offsets: &[usize], me: Owner) -> Option<u32> {
    let header = arena.header();
    let _guard = lock(header)?;
    let mine = |cell: &crate::owner::OwnerCell| cell.get().is_some_and(|(who, _)| who == me);
    let slot = match header.holders.iter().position(mine) {
        Some(slot) => slot,
        None => match header.holders.iter().position(|c| c.get().is_none()) {
            Some(slot) => slot,
            None => {
                let slot = header.holders.iter().position(|c| c.is_dead())?;
                reclaim_holder_locked(arena, slot);
                slot
            }
        },
    };
    header.holders[slot].set(me, 0);
    let bit = 1u64 << slot;
    for &offset in offsets {
        if header_at(arena, offset)
            .next
            .fetch_or(bit, Ordering::AcqRel)
            & bit
            != 0
        {
            // Already recorded as ours (inherited by this process's image before an `exec`):
            // one record stands for one reference, so give the second one back.
            unref_locked(arena, offset);
        }
    }
    Some(slot as u32)
}

/// Gives up `me`'s holder slot, with any reference still recorded under it (inherited by this
/// process's image before an `exec`, and never seen by the image that leaves).
pub(crate) fn leave(arena: &Arena, me: Owner) {
    let header = arena.header();
    let Some(_guard) = lock(header) else { return };
    for (slot, cell) in header.holders.iter().enumerate() {
        if cell.get().is_some_and(|(who, _)| who == me) {
            reclaim_holder_locked(arena, slot);
        }
    }
}

/// Gives back every reference held by the dead holders among those of the block at `offset`
/// (which may free it), and frees their slots.
pub(crate) fn reclaim_dead_holders(arena: &Arena, offset: usize) {
    let header = arena.header();
    let Some(_guard) = lock(header) else { return };
    let mask = header_at(arena, offset).next.load(Ordering::Acquire);
    for slot in 0..HOLDERS {
        if mask & (1 << slot) != 0 {
            let cell = &header.holders[slot];
            if cell.get().is_none() || cell.is_dead() {
                reclaim_holder_locked(arena, slot);
            }
        }
    }
}

/// Takes holder `slot`'s reference out of every allocated block of the arena and frees the
/// slot. Called with the allocator lock held.
fn reclaim_holder_locked(arena: &Arena, slot: usize) {
    let bit = 1u64 << slot;
    for_each_block(arena, |offset| {
        let block = header_at(arena, offset);
        // A free block's word is a free-list link, not a mask: leave it alone.
        if block.refcount.load(Ordering::Acquire) != 0
            && block.next.fetch_and(!bit, Ordering::AcqRel) & bit != 0
        {
            unref_locked(arena, offset);
        }
    });
    arena.header().holders[slot].clear();
}

/// Calls `f` with the header offset of every block ever carved from the arena.
fn for_each_block(arena: &Arena, mut f: impl FnMut(usize)) {
    let header = arena.header();
    let bump = usize::try_from(header.bump.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
    if arena.kind() != KIND_SMALL {
        // A dedicated arena's one block sits where its bump points.
        if bump >= HEADER_SIZE && bump % BLOCK_HEADER == 0 && bump + BLOCK_HEADER <= arena.size() {
            f(bump);
        }
        return;
    }
    let end = bump.min(arena.size());
    let mut offset = HEADER_SIZE;
    while offset + BLOCK_HEADER <= end {
        let class = header_at(arena, offset).class.load(Ordering::Relaxed) as usize;
        if class >= NUM_CLASSES {
            return; // Corrupted: walk no further.
        }
        f(offset);
        offset += class_size(class);
    }
}

/// Checks a received block offset against the arena's layout.
pub(crate) fn valid_block(arena: &Arena, header_offset: usize, len: usize) -> bool {
    if !header_offset.is_multiple_of(BLOCK_HEADER)
        || header_offset < super::arena::HEADER_SIZE
        || header_offset
            .checked_add(BLOCK_HEADER)
            .and_then(|d| d.checked_add(len))
            .is_none_or(|end| end > arena.size())
    {
        return false;
    }
    let class = header_at(arena, header_offset)
        .class
        .load(Ordering::Relaxed);
    if class == DEDICATED {
        return arena.kind() != KIND_SMALL;
    }
    arena.kind() == KIND_SMALL
        && (class as usize) < NUM_CLASSES
        && len + BLOCK_HEADER <= class_size(class as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of a cache line or more (a lock's state, say) starts on a line, whatever was
    /// allocated before it, so it never straddles two lines nor shares one with a neighbour.
    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn blocks_of_a_line_or_more_start_on_a_line() {
        let mut keep = Vec::new();
        for len in [8, 40, 8, 8, 100, 8, 40, 200, 8, 40] {
            let block = crate::heap::HeapBlock::new(len).unwrap();
            let start = block.as_ptr() as usize - BLOCK_HEADER;
            let size = class_size(class_for(len).unwrap());
            assert_eq!(start % size.min(CACHE_LINE), 0, "{len} bytes at {start:#x}");
            keep.push(block);
        }
    }

    #[test]
    fn classes_cover_sizes() {
        assert_eq!(class_for(0), Some(0));
        assert_eq!(class_for(16), Some(0));
        assert_eq!(class_for(17), Some(1));
        assert_eq!(
            class_size(class_for(MAX_SMALL).unwrap()),
            MAX_SMALL + BLOCK_HEADER
        );
        assert_eq!(class_for(MAX_SMALL + 1), None);
        assert_eq!(class_for(usize::MAX), None);
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn freed_blocks_are_reused_and_zeroed() {
        let arena = Arena::create(super::super::arena::ARENA_SIZE, KIND_SMALL).unwrap();
        let a = alloc(&arena, 1).unwrap();
        let b = alloc(&arena, 1).unwrap();
        assert_ne!(a, b);
        // SAFETY: block `a` is ours and has 48 data bytes.
        unsafe { arena.at(a + BLOCK_HEADER).as_ptr().write(7) };
        free(&arena, a);
        let c = alloc(&arena, 1).unwrap();
        assert_eq!(c, a, "the freed block comes back first");
        // SAFETY: as above.
        assert_eq!(unsafe { arena.at(c + BLOCK_HEADER).as_ptr().read() }, 0);
        assert!(valid_block(&arena, c, 48));
        assert!(!valid_block(&arena, c, 49));
        assert!(!valid_block(&arena, c + 1, 8));
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn a_corrupted_free_list_is_not_followed() {
        let arena = Arena::create(4096, KIND_SMALL).unwrap();
        let a = alloc(&arena, 1).unwrap();
        free(&arena, a);
        // Another process's bug left a head whose block runs past the end of the arena.
        arena.header().free[1].store(4096 - 16, Ordering::Relaxed);
        assert_eq!(alloc(&arena, 1), None);
        assert_eq!(alloc(&arena, 2), None, "the arena is retired");
    }

    /// Runs `f` on another thread; `None` if it is still running after 20 s.
    fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(std::time::Duration::from_secs(20)).ok()
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn a_lock_kept_by_a_live_process_is_waited_for_only_so_long() {
        let arena = std::sync::Arc::new(Arena::create(4096, KIND_SMALL).unwrap());
        let kept = alloc(&arena, 1).unwrap();
        // Another process holds the allocator lock and never lets go.
        let mut other = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        arena.header().lock.store(other.id(), Ordering::Relaxed);
        let a = arena.clone();
        let got = within(move || (alloc(&a, 1), free(&a, kept)));
        let _ = other.kill();
        let _ = other.wait();
        assert_eq!(got, Some((None, ())), "the allocator waited for ever");
        assert_eq!(
            arena.header().poisoned.load(Ordering::Relaxed),
            0,
            "a live holder does not retire the arena"
        );
        arena.header().lock.store(0, Ordering::Relaxed);
        assert!(alloc(&arena, 1).is_some(), "the arena serves once let go");
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn a_lock_holder_whose_pid_was_reused_counts_as_dead() {
        let arena = std::sync::Arc::new(Arena::create(4096, KIND_SMALL).unwrap());
        // The recorded holder had our pid but started at another time: it is gone.
        let me = crate::owner::process();
        arena.header().lock.store(me.id, Ordering::Relaxed);
        let stale = Owner {
            id: me.id,
            start: me.start + 1,
        };
        arena.header().lock_owner.set(stale, 0);
        let a = arena.clone();
        let started = std::time::Instant::now();
        assert_eq!(within(move || alloc(&a, 1)), Some(None));
        assert!(
            started.elapsed() < LOCK_PATIENCE,
            "found dead, not waited out"
        );
        assert_eq!(arena.header().poisoned.load(Ordering::Relaxed), 1);
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn a_full_arena_refuses() {
        let arena = Arena::create(super::super::arena::HEADER_SIZE + 2 * 64, KIND_SMALL).unwrap();
        assert!(alloc(&arena, 1).is_some());
        assert!(alloc(&arena, 1).is_some());
        assert!(alloc(&arena, 1).is_none());
    }
}
