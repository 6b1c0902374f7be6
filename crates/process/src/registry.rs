//! The children of this process: `active_children()` and the exit hook.
//!
//! Every process is recorded here as it starts (just before it forks, so that the parent
//! writes less memory while the new child lives; a start that fails is forgotten again) until
//! it is known to have ended. When the process exits normally (return from `main`,
//! `std::process::exit`, or the end of a child's target), the exit hook does what Python's
//! `_exit_function` does: daemonic children are terminated, then every child is joined. The
//! hook is an `atexit` handler installed with the first child.
//!
//! ```
//! use multiprocessing_process::{Process, active_children};
//! fn work() {}
//! let p = Process::new(work, ());
//! p.start().unwrap();
//! p.join().unwrap();
//! assert!(active_children().iter().all(|c| c.pid() != p.pid()));
//! ```

use std::sync::MutexGuard;

use multiprocessing_core::fork::{ForkMutex, generation};

use crate::Process;

struct Registry {
    /// The fork generation these children belong to (a forked child inherits a copy it must
    /// ignore; it learns that from the generation, a load, where its pid is a system call).
    owner: u64,
    hook_installed: bool,
    children: Vec<Process>,
}

/// Held across `fork()` by the fork registry, so a forked child gets a consistent copy, which
/// it empties on first use (the parent's children are not its own: see `owner`).
static REGISTRY: ForkMutex<Registry> = ForkMutex::new(Registry {
    owner: 0,
    hook_installed: false,
    children: Vec::new(),
});

fn lock() -> MutexGuard<'static, Registry> {
    let mut guard = REGISTRY.lock();
    let me = generation();
    if guard.owner != me {
        // Not freed: the values belong to the parent's allocations, which the child's copy of
        // the heap only mirrors; forgetting them writes no page.
        std::mem::forget(std::mem::take(&mut guard.children));
        guard.owner = me;
    }
    guard
}

/// Registers the table with the fork registry now rather than on first use: the forkserver
/// does it once, where each of its children would otherwise do it in its exit hook.
pub(crate) fn register_with_fork_registry() {
    drop(REGISTRY.lock());
}

extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(exit_hook);
}

/// Records a started child.
pub(crate) fn register(p: Process) {
    let mut reg = lock();
    if !reg.hook_installed {
        // SAFETY: at_exit is an `extern "C" fn()` that catches every panic.
        unsafe { libc::atexit(at_exit) };
        reg.hook_installed = true;
    }
    reg.children.push(p);
}

/// Forgets children that have ended (reaping them) and returns the others. A process is
/// recorded just before it starts: one whose start is still under way (or failing) is
/// neither.
fn sweep() -> Vec<Process> {
    let all = lock().children.clone();
    let mut done = Vec::new();
    let mut running = Vec::new();
    for p in all {
        match p.started_and_ended() {
            Some(true) => done.push(p),
            Some(false) => running.push(p),
            None => {}
        }
    }
    if !done.is_empty() {
        lock().children.retain(|c| !done.iter().any(|d| d.same(c)));
    }
    running
}

/// Forgets a child that was joined.
pub(crate) fn forget(p: &Process) {
    lock().children.retain(|c| !c.same(p));
}

/// Reaps ended children, as Python's `_cleanup()` does before each start.
pub(crate) fn cleanup() {
    let _ = sweep();
}

/// Python's `active_children()`: the children still running; ended ones are joined.
#[must_use]
pub fn active_children() -> Vec<Process> {
    sweep()
}

/// Python's `_exit_function`: terminate daemonic children, then join every child.
pub(crate) fn exit_hook() {
    // The usual child has started none; a forked child's copy lists its parent's (this one
    // among them: a process is recorded before it forks), which are not its own.
    if lock().children.is_empty() {
        return;
    }
    let children = std::mem::take(&mut lock().children);
    for p in &children {
        if p.daemon() {
            let _ = p.terminate();
        }
    }
    for p in &children {
        let _ = p.join();
    }
}
