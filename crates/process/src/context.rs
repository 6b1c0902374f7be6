//! Contexts: a start method with its settings (Python's `multiprocessing.context`).
//!
//! [`get_context`] makes a [`Context`] for one start method; processes built from it start that
//! way. The module-level functions use the default context, whose method [`set_start_method`]
//! chooses once (a second call is an error unless forced) and which is `forkserver` unless
//! chosen otherwise. A `forkserver` context starts its server on first use and stops it when the
//! context and every process started through it are dropped. This crate's context only knows
//! start methods; queues, locks and pools take one as a parameter.
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
use std::sync::{Arc, Mutex};

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

static DEFAULT: Mutex<Option<Context>> = Mutex::new(None);
static EXECUTABLE: Mutex<Option<PathBuf>> = Mutex::new(None);

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
            .or_else(|| lock(&EXECUTABLE).clone())
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
    }

    /// The running forkserver, started on first use (and again in a forked child).
    pub(crate) fn forkserver(&self) -> Result<Arc<ForkServer>> {
        let mut slot = lock(&self.inner.server);
        if let Some(server) = slot.as_ref().filter(|s| s.is_own()) {
            return Ok(server.clone());
        }
        let server = Arc::new(ForkServer::start(&self.executable())?);
        *slot = Some(server.clone());
        Ok(server)
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

/// Python's `get_context(method)`: a new context for `method`.
#[must_use]
pub fn get_context(method: StartMethod) -> Context {
    Context::new(method)
}

/// Python's `get_context()` without a method: the default context (fixing its method).
#[must_use]
pub fn default_context() -> Context {
    lock(&DEFAULT)
        .get_or_insert_with(|| Context::new(StartMethod::default()))
        .clone()
}

/// Chooses the default context's start method. A second call, or a call after the default
/// context was used, is an error unless `force` is set (Python's `set_start_method`).
pub fn set_start_method(method: StartMethod, force: bool) -> Result<()> {
    let mut slot = lock(&DEFAULT);
    if slot.is_some() && !force {
        return Err(Error::Process("context has already been set".into()));
    }
    *slot = Some(Context::new(method));
    Ok(())
}

/// The default context's start method (fixing it, as Python does).
#[must_use]
pub fn get_start_method() -> StartMethod {
    default_context().get_start_method()
}

/// Python's module-level `set_executable`: the executable for contexts that set none.
pub fn set_executable(path: impl AsRef<Path>) {
    *lock(&EXECUTABLE) = Some(path.as_ref().to_path_buf());
}
