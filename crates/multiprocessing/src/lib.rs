//! Process-based parallelism for Rust, after Python's `multiprocessing`.
//!
//! Start a function in another process, talk to it over a pipe, and share locks and values with
//! it, under Python's names and with Rust's guarantees:
//!
//! ```
//! use multiprocessing::{Connection, Lock, Process, Value, pipe};
//!
//! fn worker(mut conn: Connection, lock: Lock, total: Value<u64>) {
//!     let n: u64 = conn.recv().unwrap();
//!     let _guard = lock.lock().unwrap();
//!     total.update(|t| *t += n).unwrap();
//! }
//!
//! let (mut ours, theirs) = pipe(true)?;
//! let (lock, total) = (Lock::new()?, Value::new(0u64)?);
//! let p = Process::new(worker, (theirs, lock.clone(), total.clone()));
//! p.start()?;
//! ours.send(&42u64)?;
//! p.join()?;
//! assert_eq!(total.get()?, 42);
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! This facade re-exports the workspace's crates, each behind a default feature: `connection`
//! (Python's `multiprocessing.connection`), `process` (`Process`, start methods and contexts),
//! `synchronize`, `sharedctypes`, `queues`, `pool` (a [`Pool`] of worker processes) and `managers`
//! (shared objects in a server process, [`manager()`]), and `pickle` (CPython's pickle format as
//! data, for `send`/`recv` with Python peers). Depend on a
//! sub-crate instead when you need only part of it. The `tokio` feature (off by default) adds
//! futures for the blocking waits on tokio: `connection::tokio` (the connections' `.await`
//! twins), `Process::join_async`, `JoinHandle`'s `.await`, `wait_async`, the managers' async
//! proxies (`Proxy::call_method_async`, the typed proxies' `_async` methods) (see
//! `docs/async.md` in the repository). The queues' and synchronization primitives' futures
//! (`Queue::get_async`, `put_async`, `Event::wait_async`, `Lock::lock_async`, ...) and a pool's
//! `AsyncResult` (a future) and `IMap` (a stream) need no feature: they run on any executor.
//! Every sub-crate's error converts into [`enum@Error`], so `?` works across them.
//!
//! [`get_context`] returns a [`Context`], Python's context object: one start method, and
//! `ctx.process(..)`, `ctx.pipe(..)`, `ctx.queue()`, `ctx.lock()`, `ctx.value(..)`, `ctx.pool(n)` and the rest
//! of the module's factories on it. [`start`] runs a function in a child and gives back its return value
//! (`std::thread::spawn` for a process; not the `spawn` start method). The runtime layer below
//! every crate (identity, fork hooks, deadlines, the tracker) is [`runtime`]; it is not called
//! `core`, so `use multiprocessing::*` leaves Rust's `::core` alone.
//! `docs/python-mapping.md` in the repository maps every Python name to its Rust item; rustdoc's
//! search also finds items by their Python names.

#[cfg(feature = "process")]
mod context;
mod error;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// `docs/async.md`'s examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../../../docs/async.md")]
pub struct AsyncDoctests;

pub use error::{Error, ErrorKind, PythonException};
/// The key a process family authenticates with, Python's `authkey`.
pub use multiprocessing_core::AuthKey;
pub use multiprocessing_core::logging::log_to_stderr;
/// Named shared-memory segments, Python's `multiprocessing.shared_memory`.
pub use multiprocessing_core::shm as shared_memory;
pub use multiprocessing_core::shm::SharedMemory;

/// The runtime layer every crate stands on (the `multiprocessing-core` crate): errors, the
/// codec, process identity, fork hooks, deadlines, liveness, the shared-memory heap, named
/// segments and their tracker.
///
/// Most programs never need it: what a Python user reaches for has a name at the top of this
/// crate. It is here for what lies below, such as setting this process's identity by hand
/// ([`runtime::identity`]) or passing descriptors over a socket ([`runtime::fdpass`]). It is
/// not called `core`, so that `use multiprocessing::*` leaves Rust's `::core` alone.
pub use multiprocessing_core as runtime;

/// Locks, semaphores, conditions, events and barriers, Python's `multiprocessing.synchronize`.
#[cfg(feature = "synchronize")]
pub use multiprocessing_synchronize as synchronize;
#[cfg(feature = "synchronize")]
pub use multiprocessing_synchronize::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, LockGuard, OwnerDied, RLock,
    RLockAsyncGuard, RLockGuard, Semaphore,
};

/// Shared values and arrays, Python's `multiprocessing.sharedctypes`.
#[cfg(feature = "sharedctypes")]
pub use multiprocessing_sharedctypes as sharedctypes;
#[cfg(feature = "sharedctypes")]
pub use multiprocessing_sharedctypes::{Array, RawArray, RawValue, Value};

/// Queues between processes, Python's `multiprocessing.queues`.
#[cfg(feature = "queues")]
pub use multiprocessing_queues as queues;
#[cfg(feature = "queues")]
pub use multiprocessing_queues::{JoinableQueue, Queue, SimpleQueue};

/// Managers and proxies, Python's `multiprocessing.managers`: shared dicts, lists and other
/// objects held by a server process, and types of one's own (`managers::managed`).
#[cfg(feature = "managers")]
pub use multiprocessing_managers as managers;
/// The Pool API on MPI ranks (`mpirun`, `MPI_Comm_spawn`), mpi4py's pool: the `mpi` feature,
/// off by default (it needs an MPI library to build).
#[cfg(feature = "mpi")]
pub use multiprocessing_mpi as mpi;
#[cfg(feature = "mpi")]
pub use multiprocessing_mpi::MpiPool;
/// A pool of worker processes, Python's `multiprocessing.pool`.
#[cfg(feature = "pool")]
pub use multiprocessing_pool as pool;
/// Python's `multiprocessing.dummy`: the pool's calls over threads (`dummy::Pool`).
#[cfg(feature = "pool")]
pub use multiprocessing_pool::dummy;
#[cfg(feature = "pool")]
pub use multiprocessing_pool::{AsyncResult, Pool, ThreadPool};
/// Python's `multiprocessing.Manager()`: starts a [`managers::SyncManager`] (its server in a
/// child process, with the default start method).
///
/// ```
/// let m = multiprocessing::manager()?;
/// let ns = m.namespace()?;
/// ns.set("x", &10)?;
/// assert_eq!(ns.to_string(), "Namespace(x=10)");
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[cfg(feature = "managers")]
#[doc(alias = "Manager")]
pub fn manager() -> Result<managers::SyncManager, Error> {
    Ok(managers::manager()?)
}

#[cfg(feature = "connection")]
pub use multiprocessing_connection as connection;
#[cfg(feature = "connection")]
pub use multiprocessing_connection::{Address, Connection, Listener, client, pipe, wait};
/// CPython's pickle format as data (`pickle.dumps` / `loads` without running code), for Python
/// peers; see [`Connection::send_pickle`].
#[cfg(feature = "pickle")]
pub use multiprocessing_pickle as pickle;
/// The async form of `wait` on tokio (the `tokio` feature), in the process crate.
#[cfg(all(feature = "process", feature = "tokio"))]
pub use multiprocessing_process::wait_async;

#[cfg(feature = "process")]
pub use context::{Context, default_context, get_context};
#[cfg(feature = "process")]
pub use multiprocessing_process as process;
#[cfg(feature = "process")]
pub use multiprocessing_process::{
    JoinHandle, Process, ProcessBuilder, StartMethod, active_children, cpu_count, current_process,
    freeze_support, get_all_start_methods, get_start_method, parent_process, process_cpu_count,
    set_executable, set_start_method,
};

/// Starts `target(args)` in a child process and returns a handle whose
/// [`join`](JoinHandle::join) gives back the target's return value (or its panic): Rust's
/// `std::thread::spawn`, for a process. `args` is a tuple.
///
/// The child starts by the default context's start method, whichever it is; this is **not**
/// Python's `spawn` start method (that is [`StartMethod::Spawn`], chosen with
/// [`get_context`] or [`set_start_method`]). [`Context::start`] starts one by a given method.
/// Python's `Process` returns nothing, so Python has no counterpart; its nearest is
/// `Pool.apply_async(f, args).get()`.
///
/// ```
/// fn square(x: u64) -> u64 { x * x }
/// let handle = multiprocessing::start(square, (12,))?;
/// assert_eq!(handle.join()?, 144);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[cfg(feature = "process")]
pub fn start<F, Args>(target: F, args: Args) -> Result<JoinHandle<F::Output>, Error>
where
    F: multiprocessing_process::Target<Args>,
    Args: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    F::Output: serde::Serialize + serde::de::DeserializeOwned,
{
    default_context().start(target, args)
}
