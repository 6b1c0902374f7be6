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
//! behind when processes are killed. A child that exits without dropping its handles (a forked
//! child never drops the copies of its parent's) calls [`release_before_exit`] first. The
//! references a process inherits or receives are recorded under its name (process id and start
//! time) in the block's arena, so when it is killed, or leaves by `process::exit`, or `exec`s
//! (a `Command` with `pre_exec` forks too) and later ends, they are given back as soon as
//! anyone finds it dead: a holder of the block asking [`HeapBlock::ref_count`], dropping it
//! while only recorded holders remain, or a process taking a record.
//!
//! ```
//! use multiprocessing_core::heap::HeapBlock;
//! let block = HeapBlock::new(16).unwrap();
//! assert_eq!(block.ref_count(), 1);
//! ```

mod allocator;
mod arena;
mod block;
#[cfg(all(test, loom))]
mod loom_tests;
pub(crate) mod registry;

/// The atomics of the arena and block headers and of a process's reference: std's, or loom's
/// under `--cfg loom`, so that the model tests (`cargo xtask verify`) run the real allocator.
mod sync {
    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, fence};
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, fence};
}

pub use block::HeapBlock;

/// Gives back this process's reference to every block it holds, as if every handle had been
/// dropped; call it right before a child process exits (`_exit` runs no destructors).
///
/// A forked child inherits copies of its parent's handles that it never drops (they live in
/// the parent's stack frames), so without this call each such block stays allocated in its
/// arena until the arena itself goes away. Handles must not be used after the call.
pub fn release_before_exit() {
    let Some(table) = registry::lock_if_created() else {
        return;
    };
    let live: Vec<_> = table
        .blocks
        .values()
        .filter_map(std::sync::Weak::upgrade)
        .collect();
    drop(table);
    for block in &live {
        block.release();
    }
    // Free this process's holder records for the processes that come after it.
    let me = crate::owner::process();
    let arenas: Vec<_> = registry::lock()
        .arenas
        .iter()
        .filter_map(|(_, w)| w.upgrade())
        .collect();
    for arena in &arenas {
        allocator::leave(arena, me);
    }
}

/// Largest block served from a shared arena; larger ones get an arena of their own.
pub const MAX_SMALL_BLOCK: usize = allocator::MAX_SMALL;
