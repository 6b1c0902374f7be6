//! Work a process does right before it exits: Python's exit finalizers
//! (`multiprocessing.util._run_finalizers`), for the crates that buffer something a normal
//! exit must not lose (a queue's feeder flushes what its process put).
//!
//! A hook registered with [`at_exit`] runs once, at the first of: the process crate's child
//! exit (which calls [`run`] before `_exit`, where `atexit` handlers do not run), or the C
//! library's `atexit` (a main process returning from `main`, or calling `std::process::exit`).
//! A process killed by a signal runs nothing.
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use multiprocessing_core::exit;
//! static FLUSHED: AtomicBool = AtomicBool::new(false);
//! fn flush() {
//!     FLUSHED.store(true, Ordering::Relaxed);
//! }
//! exit::at_exit(flush);
//! exit::run(); // what a child does before it exits
//! assert!(FLUSHED.load(Ordering::Relaxed));
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use crate::fork::ForkMutex;

/// The hooks still to run, in registration order.
pub(crate) static HOOKS: ForkMutex<Vec<fn()>> = ForkMutex::new(Vec::new());
/// Set once the `atexit` handler is installed (not a `Once`: see [`ForkMutex`]).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Registers `hook` to run once before this process exits normally; registering the same
/// function again does nothing. A forked child inherits the registrations (its hooks then act
/// on the child's own state).
#[doc(alias = "Finalize")]
pub fn at_exit(hook: fn()) {
    {
        let mut hooks = HOOKS.lock();
        if !hooks.iter().any(|h| std::ptr::fn_addr_eq(*h, hook)) {
            hooks.push(hook);
        }
    }
    if !INSTALLED.swap(true, Ordering::AcqRel) {
        // SAFETY: `on_exit` is an `extern "C" fn()` that catches every panic.
        unsafe { libc::atexit(on_exit) };
    }
}

/// Runs the registered hooks now, each once (later calls run only hooks registered since).
/// Panics in a hook are caught.
pub fn run() {
    let hooks = std::mem::take(&mut *HOOKS.lock());
    for hook in hooks {
        let _ = std::panic::catch_unwind(hook);
    }
}

extern "C" fn on_exit() {
    let _ = std::panic::catch_unwind(run);
}
