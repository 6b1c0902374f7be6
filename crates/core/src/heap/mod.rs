//! The shared-memory heap: blocks of memory shared between processes, without names.
//!
//! Python's `multiprocessing.heap` keeps ctypes objects and locks in anonymous arenas; so does
//! this module. An arena is a `memfd_create` file mapped `MAP_SHARED`; a small-block allocator
//! carves it into power-of-two blocks, with its free lists and lock in the arena itself so that
//! any process mapping the arena can allocate and free. Every block carries a cross-process
//! reference count: one per process holding it (a forked child gets its own automatically) and
//! one per copy travelling in a message. When the last one drops the block returns to its
//! arena's free list; when a process drops its last block in an arena, it unmaps the arena, and
//! the kernel frees the memory after the last process did. Nothing has a name, so nothing is left
//! behind when processes are killed.
//!
//! ```
//! use multiprocessing_core::heap::HeapBlock;
//! let block = HeapBlock::new(16).unwrap();
//! assert_eq!(block.ref_count(), 1);
//! ```

mod allocator;
mod arena;
mod block;
pub(crate) mod registry;

pub use block::HeapBlock;

/// Largest block served from a shared arena; larger ones get an arena of their own.
pub const MAX_SMALL_BLOCK: usize = allocator::MAX_SMALL;
