//! Process-based parallelism for Rust, after Python's `multiprocessing`.
//!
//! This facade re-exports the workspace's crates under Python's names; depend on a sub-crate
//! instead when you need only part of it.

mod error;

pub use error::{Error, PythonException};
pub use multiprocessing_core as core;
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
