//! Keeps `fork()` from copying the process identity's lock while another thread holds it.
//!
//! The core crate keeps the running process's identity behind a mutex. A forked child has only
//! the forking thread, so if another thread held that mutex at the moment of the fork, the
//! child would wait for it forever when it installs its own identity. Every use of the
//! identity in this crate goes through [`with`], and the fork path holds the same gate across
//! `fork()`, so the child always inherits it unlocked.
//!
//! ```text
//! let name = gate::with(|| identity::current().name);
//! ```

use std::sync::MutexGuard;

/// Holds the gate: taken around `fork()`.
pub(crate) fn hold() -> MutexGuard<'static, ()> {
    crate::registry::FORK_LOCKS
        .gate
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` (which uses the process identity) inside the gate.
pub(crate) fn with<R>(f: impl FnOnce() -> R) -> R {
    let _guard = hold();
    f()
}
