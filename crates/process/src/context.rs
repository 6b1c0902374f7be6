//! Contexts: a start method with its settings (Python's `multiprocessing.context`).
//!
//! [`get_context`] gives the [`Context`] of one start method (the same one each time, as
//! Python's); processes built from it start that way. The module-level functions use the
//! default context, whose method [`set_start_method`] chooses once (a second call is an error
//! unless forced) and which is `forkserver` unless chosen otherwise; inside a child it is the
//! method that started the child. A `forkserver` context starts its server on first use, starts
//! a new one if that server died, and stops it when the context is dropped (never, for the
//! shared contexts of [`get_context`]: their server lives as long as this process).
//! [`Context::new`] makes a context of one's own. This crate's context only knows start
//! methods; queues, locks and pools take one as a parameter.
//!
//! ```
//! use multiprocessing_process::{get_context, StartMethod};
//! fn square(x: u64) -> u64 { x * x }
//! let ctx = get_context(StartMethod::Spawn);
//! assert_eq!(ctx.get_start_method(), StartMethod::Spawn);
//! let handle = ctx.spawn(square, (12,)).unwrap();
//! assert_eq!(handle.join().unwrap(), 144);
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use multiprocessing_core::fork::ForkMutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::forkserver::ForkServer;
use crate::handle::JoinHandle;
use crate::process::ProcessBuilder;
use crate::{Error, Result, StartMethod, Target};

/// A start method and its settings; cheap to clone (clones share the forkserver).
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    method: StartMethod,
    executable: Mutex<Option<PathBuf>>,
    server: Mutex<Option<Arc<ForkServer>>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("method", &self.inner.method)
            .finish_non_exhaustive()
    }
}

/// The default start method: [`UNSET`] until chosen or first used. An atomic, not a lock, so
/// that a forked child can set its own whatever another thread of its parent was doing.
static DEFAULT: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = u8::MAX;
/// Held across `fork()` by the fork registry, so a forked child never inherits it locked.
static EXECUTABLE: ForkMutex<Option<PathBuf>> = ForkMutex::new(None);
/// The context of each start method, made on first use (Python's `_concrete_contexts`).
static CONTEXTS: [OnceLock<Context>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

fn code(method: StartMethod) -> u8 {
    match method {
        StartMethod::Fork => 0,
        StartMethod::Spawn => 1,
        StartMethod::ForkServer => 2,
    }
}

fn method_of(code: u8) -> StartMethod {
    match code {
        0 => StartMethod::Fork,
        1 => StartMethod::Spawn,
        _ => StartMethod::ForkServer,
    }
}

/// In a child: the default start method is the one that started it (Python's `_bootstrap`
/// forces it the same way).
pub(crate) fn set_child_default(method: StartMethod) {
    // Stored only when it changes: a forked child then writes nothing to this page when its
    // parent (or its forkserver) already had the same default.
    if DEFAULT.load(Ordering::Relaxed) != code(method) {
        DEFAULT.store(code(method), Ordering::Relaxed);
    }
}

impl Context {
    /// A new context for `method`, with its own forkserver if it needs one.
    #[must_use]
    pub fn new(method: StartMethod) -> Context {
        Context {
            inner: Arc::new(Inner {
                method,
                executable: Mutex::new(None),
                server: Mutex::new(None),
            }),
        }
    }

    /// This context's start method.
    #[must_use]
    pub fn get_start_method(&self) -> StartMethod {
        self.inner.method
    }

    /// Sets the executable that `spawn` and the forkserver run (by default this program,
    /// `/proc/self/exe`). It must be built from the same code: a different one is refused
    /// with [`Error::FingerprintMismatch`] when a process starts.
    pub fn set_executable(&self, path: impl AsRef<Path>) {
        *lock(&self.inner.executable) = Some(path.as_ref().to_path_buf());
    }

    /// The executable children are started from.
    pub(crate) fn executable(&self) -> PathBuf {
        lock(&self.inner.executable)
            .clone()
            .or_else(|| EXECUTABLE.lock().clone())
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
    }

    /// The running forkserver, started on first use, again in a forked child, and again
    /// when the last one died (killed, or ended by a signal).
    pub(crate) fn forkserver(&self) -> Result<Arc<ForkServer>> {
        let mut slot = lock(&self.inner.server);
        if let Some(server) = slot.as_ref().filter(|s| s.is_own() && s.is_running()) {
            return Ok(server.clone());
        }
        // A dead server is reaped here; a forked child's copy of its parent's is only closed.
        drop(slot.take());
        let server = Arc::new(ForkServer::start(&self.executable())?);
        *slot = Some(server.clone());
        Ok(server)
    }

    /// Forgets `server` (found gone while asked for a child) so the next use starts another.
    pub(crate) fn discard_forkserver(&self, server: &Arc<ForkServer>) {
        let mut slot = lock(&self.inner.server);
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, server)) {
            *slot = None;
        }
    }

    /// The pid of this context's forkserver, if it has started one.
    #[must_use]
    pub fn forkserver_pid(&self) -> Option<u32> {
        lock(&self.inner.server)
            .as_ref()
            .filter(|s| s.is_own())
            .map(|s| s.pid())
    }

    /// Python's `ctx.Process(target=f, args=...)`: a builder for a process of this context.
    #[doc(alias = "Process")]
    pub fn process<F, Args>(&self, target: F, args: Args) -> ProcessBuilder
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
    {
        ProcessBuilder::new(target, args).context(self)
    }

    /// Starts `target(args)` in a child of this context and returns a handle to its result.
    pub fn spawn<F, Args>(&self, target: F, args: Args) -> Result<JoinHandle<F::Output>>
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
        F::Output: Serialize + DeserializeOwned,
    {
        JoinHandle::start(ProcessBuilder::new_typed(target, args).context(self))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Python's `get_context(method)`: the context of `method`, the same one on every call (so
/// every user of the forkserver method shares one server).
#[must_use]
pub fn get_context(method: StartMethod) -> Context {
    CONTEXTS[usize::from(code(method))]
        .get_or_init(|| Context::new(method))
        .clone()
}

/// Python's `get_context()` without a method: the default context (fixing its method).
#[must_use]
pub fn default_context() -> Context {
    let chosen = match DEFAULT.compare_exchange(
        UNSET,
        code(StartMethod::default()),
        Ordering::Relaxed,
        Ordering::Relaxed,
    ) {
        Ok(_) => StartMethod::default(),
        Err(existing) => method_of(existing),
    };
    get_context(chosen)
}

/// Chooses the default context's start method. A second call, or a call after the default
/// context was used, is an error unless `force` is set (Python's `set_start_method`).
pub fn set_start_method(method: StartMethod, force: bool) -> Result<()> {
    if force {
        DEFAULT.store(code(method), Ordering::Relaxed);
        return Ok(());
    }
    DEFAULT
        .compare_exchange(UNSET, code(method), Ordering::Relaxed, Ordering::Relaxed)
        .map(drop)
        .map_err(|_| Error::ContextAlreadySet)
}

/// The default context's start method (fixing it, as Python does).
#[must_use]
pub fn get_start_method() -> StartMethod {
    default_context().get_start_method()
}

/// Python's module-level `set_executable`: the executable for contexts that set none.
pub fn set_executable(path: impl AsRef<Path>) {
    *EXECUTABLE.lock() = Some(path.as_ref().to_path_buf());
}
