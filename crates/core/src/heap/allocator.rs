//! The small-block allocator that runs inside a shared arena.
//!
//! Sizes are rounded up to power-of-two classes from 32 bytes to 64 KiB (a 16-byte block header
//! included). Each class has a free list in the arena header; fresh blocks come from a bump
//! pointer. The lists are guarded by a lock word in the arena header that holds the holder's
//! process id: a process that dies holding it poisons the arena (it allocates no more and its
//! frees are dropped) instead of deadlocking everyone else.
//!
//! ```
//! use multiprocessing_core::heap::HeapBlock;
//! let a = HeapBlock::new(40).unwrap(); // a 64-byte block: 16 bytes of header, 48 of data
//! let b = HeapBlock::new(40).unwrap();
//! assert_ne!(a.as_ptr(), b.as_ptr());
//! ```

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::arena::{Arena, ArenaHeader, KIND_SMALL};

/// Number of size classes.
pub(crate) const NUM_CLASSES: usize = 12;
/// Smallest block (header included).
const MIN_BLOCK: usize = 32;
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
    /// Next free block of the same class while this one is free.
    pub(crate) next: AtomicU64,
}

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

/// The block header at `offset` (a header offset checked by the caller).
pub(crate) fn header_at(arena: &Arena, offset: usize) -> &BlockHeader {
    // SAFETY: block offsets are 16-aligned and in bounds (checked when allocated or received);
    // the header holds only atomics.
    unsafe { &*arena.at(offset).as_ptr().cast::<BlockHeader>() }
}

/// Holds the arena's allocator lock.
struct ArenaLock<'a>(&'a ArenaHeader);

impl Drop for ArenaLock<'_> {
    fn drop(&mut self) {
        self.0.lock.store(0, Ordering::Release);
    }
}

fn lock(header: &ArenaHeader) -> Option<ArenaLock<'_>> {
    let me = crate::owner::process().id;
    let mut spins: u32 = 0;
    loop {
        if header.poisoned.load(Ordering::Relaxed) != 0 {
            return None;
        }
        if header
            .lock
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Some(ArenaLock(header));
        }
        spins = spins.wrapping_add(1);
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
            if spins.is_multiple_of(4096) {
                let holder = header.lock.load(Ordering::Relaxed);
                if holder != 0 && !crate::owner::is_alive(holder, 0) {
                    tracing::warn!(target: crate::logging::LOG_TARGET,
                        "process {holder} died inside the heap allocator; retiring its arena");
                    header.poisoned.store(1, Ordering::Relaxed);
                }
            }
        }
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
    let header = arena.header();
    let block = header_at(arena, offset);
    let class = block.class.load(Ordering::Relaxed) as usize;
    if class >= NUM_CLASSES {
        return; // A dedicated arena goes away with its last mapping.
    }
    let Some(_guard) = lock(header) else {
        return;
    };
    block.next.store(
        header.free[class].load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    header.free[class].store(offset as u64, Ordering::Relaxed);
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
    fn a_corrupted_free_list_is_not_followed() {
        let arena = Arena::create(4096, KIND_SMALL).unwrap();
        let a = alloc(&arena, 1).unwrap();
        free(&arena, a);
        // Another process's bug left a head whose block runs past the end of the arena.
        arena.header().free[1].store(4096 - 16, Ordering::Relaxed);
        assert_eq!(alloc(&arena, 1), None);
        assert_eq!(alloc(&arena, 2), None, "the arena is retired");
    }

    #[test]
    fn a_full_arena_refuses() {
        let arena = Arena::create(super::super::arena::HEADER_SIZE + 2 * 64, KIND_SMALL).unwrap();
        assert!(alloc(&arena, 1).is_some());
        assert!(alloc(&arena, 1).is_some());
        assert!(alloc(&arena, 1).is_none());
    }
}
