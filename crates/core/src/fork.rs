//! Fork awareness: the state a forked child must refresh before it touches shared memory.
//!
//! A child made by `fork` inherits a copy of its parent's memory: cached process and thread ids,
//! the heap's table of live blocks, and any process-local lock another thread happened to hold.
//! This module registers `pthread_atfork` handlers (once, on first use of the heap or of
//! [`owner`](crate::owner)) that keep those consistent: the heap's table is locked across the fork,
//! every live block gains one reference for the child, the child's cached ids are forgotten,
//! and the child records itself in each arena as the holder of those references (so they come
//! back even if it is killed, leaves by `process::exit`, or `exec`s, as a `Command` with
//! `pre_exec` does).
//! Processes must therefore be forked with libc's `fork` (which runs the handlers), not a raw
//! `clone` system call.
//!
//! ```
//! use multiprocessing_core::fork;
//! fork::ensure_handlers();
//! let generation = fork::generation();
//! assert_eq!(generation, fork::generation()); // changes only in a forked child
//! ```

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(1);
static HANDLERS: Once = Once::new();

/// Registers the fork handlers if they are not registered yet.
pub fn ensure_handlers() {
    HANDLERS.call_once(|| {
        // SAFETY: the three handlers are `extern "C"` functions without arguments that live as
        // long as the program and never unwind.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc != 0 {
            tracing::error!(target: crate::logging::LOG_TARGET, "pthread_atfork failed: {rc}");
        }
    });
}

/// A number that changes in every forked child (after the handlers are registered).
#[must_use]
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

extern "C" fn prepare() {
    // The main process draws its authkey on first use: draw it now, so that every child
    // forked from here shares it (code references and connections check it).
    crate::identity::ensure_initialized();
    crate::heap::registry::before_fork();
}

extern "C" fn parent() {
    crate::heap::registry::after_fork_in_parent();
}

extern "C" fn child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    crate::owner::forget_cached_ids();
    crate::heap::registry::after_fork_in_child();
}
