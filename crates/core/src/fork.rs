//! The fork-hook registry: what every global of the workspace does before and after `fork()`,
//! Python's `multiprocessing.util.register_after_fork`.
//!
//! A child made by `fork` inherits a copy of its parent's memory but only the thread that called
//! `fork`. Every process-local lock another thread happened to hold at that instant stays locked
//! in the child forever, and every cache of "who am I" (process id, thread id) is stale there.
//! This module is the one place that keeps those consistent. It registers `pthread_atfork`
//! handlers once, and runs the [`ForkHook`]s registered with it:
//!
//! - **before fork** (in the forking thread), in the *reverse* order of registration,
//! - **after fork in the parent** and **after fork in the child**, in the order of registration
//!   (the order `pthread_atfork` itself uses).
//!
//! The usual hook holds a global lock across the fork: [`ForkHook::before_fork`] takes it,
//! both after hooks release it, so the child always inherits it unlocked and consistent.
//! [`ForkMutex`] is such a lock, ready made: a `static ForkMutex` registers itself on first use.
//! Because before hooks run in reverse order, a lock registered later is taken earlier: never
//! hold a registered lock while taking one registered after it (the crates below register
//! first, so the natural layering, a crate's lock taken while it calls into the crates it stands
//! on, is the right order).
//!
//! The core crate registers, in this order, the process identity's lock (the name the logger
//! prints), the standard streams' locks (stdout is flushed first, as Python does), the resource
//! tracker's endpoint and the shared-memory heap's table (every live block gains a reference for
//! the child), then, on first use, the lock under which the executable's code image is read and
//! `futex_async`'s table of word threads (which a child empties: it has none of them); it
//! also forgets the cached process and thread ids in the child before any hook runs. The
//! process crate registers its table of children and its default executable. `wait` keeps no
//! state of its own (each [`Waitable`](crate::time::Waitable) knows whether it is ready).
//!
//! # What a hook may do
//!
//! A before hook runs in a normal thread context and may do anything but fork or register a
//! hook. An after-fork-in-child hook runs in a child that has only one thread, possibly of a
//! process whose other threads held locks of their own (the allocator's are made safe by libc):
//! keep it short, take no lock that a before hook did not take, and allocate only where
//! necessary. Hooks must not panic (a panic cannot unwind out of `fork`: it aborts). Processes
//! must be forked with libc's `fork` (which runs the handlers; `std::process::Command` with
//! `pre_exec` does), not a raw `clone` system call. Hooks cannot be unregistered, which suits
//! the globals they guard.
//!
//! ```
//! use multiprocessing_core::fork::{self, ForkHook, ForkMutex};
//!
//! // A global table that forks consistently: held across fork, released on both sides.
//! static TABLE: ForkMutex<Vec<u32>> = ForkMutex::new(Vec::new());
//! TABLE.lock().push(1);
//!
//! // Python's `register_after_fork`: something to do in every forked child.
//! struct ResetCounters;
//! impl ForkHook for ResetCounters {
//!     fn after_fork_in_child(&'static self) { /* e.g. zero a per-process counter */ }
//! }
//! fork::register(&ResetCounters);
//!
//! let generation = fork::generation();
//! assert_eq!(generation, fork::generation()); // changes only in a forked child
//! ```

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

static GENERATION: AtomicU64 = AtomicU64::new(1);
static HANDLERS: Once = Once::new();

/// Something that must act around every `fork()` of this process; see the [module
/// docs](self) for the order hooks run in and what a child hook may do.
///
/// Every method does nothing by default. The methods take `&'static self` because a hook lives
/// as long as the program (it is registered with [`register`]).
#[doc(alias = "register_after_fork")]
pub trait ForkHook: Sync {
    /// Runs in the forking thread just before `fork()` (Python has no such hook).
    fn before_fork(&'static self) {}

    /// Runs in the parent just after `fork()` (whether or not it succeeded).
    fn after_fork_in_parent(&'static self) {}

    /// Runs in the child just after `fork()`, in its only thread (Python's
    /// `register_after_fork` callbacks).
    fn after_fork_in_child(&'static self) {}
}

/// The registered hooks. Its lock is taken first before a fork and released last after it, so
/// a registration never races a fork and two threads forking at once run their hooks in turn.
static HOOKS: ForkMutex<Vec<&'static dyn ForkHook>> = ForkMutex::new(Vec::new());

/// Registers `hook` to run around every later `fork()` of this process (and of its forked
/// children, which inherit the registry). Registering the same hook again does nothing.
///
/// Must not be called from inside a hook.
#[doc(alias = "register_after_fork")]
pub fn register(hook: &'static dyn ForkHook) {
    ensure_handlers();
    push(hook);
}

fn push(hook: &'static dyn ForkHook) {
    let mut hooks = HOOKS.mutex.lock().unwrap_or_else(PoisonError::into_inner);
    if !hooks.iter().any(|h| std::ptr::addr_eq(*h, hook)) {
        hooks.push(hook);
    }
}

/// Registers the `pthread_atfork` handlers and the core crate's own hooks if they are not
/// registered yet.
pub fn ensure_handlers() {
    HANDLERS.call_once(|| {
        crate::identity::STATE.preregister();
        push(&crate::logging::STDIO);
        crate::tracker::SETTING.preregister();
        // Locked by every child as it exits: registered here, a child's first lock of it
        // registers nothing (which would write to its copy of the parent's heap).
        crate::exit::HOOKS.preregister();
        push(&crate::heap::registry::HEAP_HOOK);
        // SAFETY: the three handlers are `extern "C"` functions without arguments that live as
        // long as the program and never unwind (a panicking hook aborts).
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc != 0 {
            tracing::error!(target: crate::logging::LOG_TARGET, "pthread_atfork failed: {rc}");
        }
    });
}

/// Installs the handlers before `main`: a fork that raced their lazy installation could copy a
/// global lock (or a one-time initialization in progress) into a child that then waits for it
/// forever. Installing them costs one `pthread_atfork` call.
#[ctor::ctor(unsafe)]
fn install_before_main() {
    ensure_handlers();
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
    HOOKS.before_fork();
    // SAFETY: HOOKS is held by this thread (taken just above) until `parent` or `child`.
    for hook in unsafe { HOOKS.held() }.iter().rev() {
        hook.before_fork();
    }
}

extern "C" fn parent() {
    // SAFETY: `prepare` left HOOKS held by this thread.
    for hook in unsafe { HOOKS.held() }.iter() {
        hook.after_fork_in_parent();
    }
    HOOKS.after_fork_in_parent();
}

extern "C" fn child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    crate::owner::forget_cached_ids();
    // SAFETY: `prepare` left HOOKS held by the thread that is now the child's only one.
    for hook in unsafe { HOOKS.held() }.iter() {
        hook.after_fork_in_child();
    }
    HOOKS.after_fork_in_child();
}

/// A global mutex that is never inherited locked by a forked child: registered with the fork
/// registry on first use, it is held across every `fork()` and released on both sides.
///
/// Meant for `static`s (hence `lock(&'static self)`); poisoning is ignored, as everywhere in the
/// workspace (a panic while holding it leaves the data as the panicking code left it). Do not
/// fork while holding it (the fork would wait for it forever).
///
/// ```
/// use multiprocessing_core::fork::ForkMutex;
/// static NAMES: ForkMutex<Vec<String>> = ForkMutex::new(Vec::new());
/// NAMES.lock().push("worker".into());
/// assert_eq!(NAMES.lock().len(), 1);
/// ```
pub struct ForkMutex<T: 'static> {
    mutex: Mutex<T>,
    /// The guard `before_fork` took, until an after hook releases it.
    held: UnsafeCell<Option<MutexGuard<'static, T>>>,
    /// Set once the mutex is in the registry. Not a `Once`: a fork while another thread ran a
    /// `Once` would leave it running for ever in the child; registering twice is harmless.
    registered: AtomicBool,
}

// SAFETY: the mutex makes `T: Send` shareable as `Mutex<T>` does. `held` is written and read
// only by the thread that holds `mutex` (the forking thread, in the fork hooks, which the hook
// registry's own lock serializes), so it is never accessed by two threads at once; the guard in
// it is created and dropped on that one thread (the child continues the forking thread).
unsafe impl<T: Send + 'static> Sync for ForkMutex<T> {}

impl<T: Send + 'static> ForkMutex<T> {
    /// A mutex holding `value`.
    #[must_use]
    pub const fn new(value: T) -> ForkMutex<T> {
        ForkMutex {
            mutex: Mutex::new(value),
            held: UnsafeCell::new(None),
            registered: AtomicBool::new(false),
        }
    }

    /// Puts it in the registry at its place among the core's own hooks and marks it
    /// registered, so that its first `lock` has nothing to register (else redone by every child
    /// of a forkserver whose server never locked it).
    fn preregister(&'static self) {
        push(self);
        self.registered.store(true, Ordering::Release);
    }

    /// Locks it, blocking while another thread (or a fork in progress) holds it.
    pub fn lock(&'static self) -> MutexGuard<'static, T> {
        if !self.registered.load(Ordering::Acquire) {
            register(self);
            self.registered.store(true, Ordering::Release);
        }
        self.mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value under the guard `before_fork` stashed.
    ///
    /// # Safety
    /// The caller is the thread that ran `before_fork`, before an after hook released it.
    unsafe fn held(&'static self) -> &'static T {
        // SAFETY: per the contract, this thread holds the lock and the stashed guard.
        unsafe { (*self.held.get()).as_deref() }.expect("held across fork")
    }

    fn release(&'static self) {
        // SAFETY: only the thread holding the lock (the one that ran `before_fork`) gets here.
        drop(unsafe { (*self.held.get()).take() });
    }
}

impl<T: Send + 'static> ForkHook for ForkMutex<T> {
    fn before_fork(&'static self) {
        let guard = self.mutex.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: this thread holds the lock, which serializes every access to `held`.
        unsafe { *self.held.get() = Some(guard) };
    }

    fn after_fork_in_parent(&'static self) {
        self.release();
    }

    fn after_fork_in_child(&'static self) {
        self.release();
    }
}

impl<T: 'static> std::fmt::Debug for ForkMutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkMutex").finish_non_exhaustive()
    }
}
