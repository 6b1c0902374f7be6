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
//! `synchronize` and `sharedctypes`. Depend on a sub-crate instead when you need only part of it.
//! Every sub-crate's error converts into [`enum@Error`], so `?` works across them.
//! `docs/python-mapping.md` in the repository maps every Python name to its Rust item; rustdoc's
//! search also finds items by their Python names.

mod error;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

pub use error::{Error, PythonException};
pub use multiprocessing_core as core;
pub use multiprocessing_core::logging::log_to_stderr;
/// Named shared-memory segments, Python's `multiprocessing.shared_memory`.
pub use multiprocessing_core::shm as shared_memory;
pub use multiprocessing_core::shm::SharedMemory;
pub use multiprocessing_core::{AuthKey, codec, identity, logging, transfer};
pub use multiprocessing_core::{heap, shm};

/// Locks, semaphores, conditions, events and barriers, Python's `multiprocessing.synchronize`.
#[cfg(feature = "synchronize")]
pub use multiprocessing_synchronize as synchronize;
#[cfg(feature = "synchronize")]
pub use multiprocessing_synchronize::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, LockGuard, OwnerDied, RLock, RLockGuard,
    Semaphore,
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

#[cfg(feature = "connection")]
pub use multiprocessing_connection as connection;
#[cfg(feature = "connection")]
pub use multiprocessing_connection::{Address, Connection, Listener, client, pipe, wait};

#[cfg(feature = "process")]
pub use multiprocessing_process as process;
#[cfg(feature = "process")]
pub use multiprocessing_process::{
    Context, JoinHandle, Process, ProcessBuilder, StartMethod, active_children, cpu_count,
    current_process, default_context, freeze_support, get_all_start_methods, get_context,
    get_start_method, parent_process, process_cpu_count, set_executable, set_start_method, spawn,
};
