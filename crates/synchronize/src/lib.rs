//! Synchronization primitives shared between processes, after Python's
//! `multiprocessing.synchronize`.
//!
//! [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`], [`Condition`], [`Event`] and
//! [`Barrier`] live in the shared-memory heap of `multiprocessing-core` and block on its futex
//! (`multiprocessing_core::futex`), so an uncontended lock costs no system call. Each is a
//! cheap-to-clone handle that is `Send` and `Sync`, shared with a forked child automatically,
//! and passable to a child started any other way (it serializes through a transfer context,
//! carrying its arena's descriptor).
//!
//! Beyond Python: a process that dies holding a [`Lock`] or [`RLock`] does not deadlock the
//! others. A waiter notices within about [`OWNER_CHECK_INTERVAL`] and gets the lock with an
//! [`OwnerDied`] error, so it can repair the data the lock protects.
//!
//! From async code, [`Event::wait_async`], [`Lock::lock_async`], [`RLock::lock_async`],
//! [`Semaphore::acquire_guard_async`], [`Condition::wait_async`] and [`Barrier::wait_async`]
//! (with `_timeout` forms) are the waits as futures on any executor, with the blocking forms'
//! results (a dead holder's lock goes to an async waiter with [`OwnerDied`] too). The futures
//! waiting on one primitive share one waiter thread per futex word
//! (`multiprocessing_core::futex_async`): none blocks its executor's thread, and none has a
//! thread of its own. An `RLock` taken from async code is owned by its [`RLockAsyncGuard`], not
//! by a thread (a task moves between threads): no thread re-enters it.
//!
//! ```
//! use multiprocessing_synchronize::{Lock, Semaphore};
//! let lock = Lock::new().unwrap();
//! {
//!     let _guard = lock.lock().unwrap();
//!     // ... critical section ...
//! }
//! let sem = Semaphore::new(3).unwrap();
//! let _unit = sem.acquire_guard();
//! assert_eq!(sem.get_value(), 2);
//! ```

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
mod owner_died;
mod rlock;
mod robust;
mod semaphore;
mod shared;

pub use barrier::{Barrier, BarrierBuilder};
pub use condition::{Condition, ConditionLock, WaitTimeoutResult};
pub use error::{Error, Result};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use owner_died::{LockResult, OwnerDied, TryLockError, TryLockResult};
pub use rlock::{RLock, RLockAsyncGuard, RLockGuard};
pub use semaphore::{BoundedSemaphore, SEM_VALUE_MAX, Semaphore, SemaphoreGuard};

/// How often a waiter checks that the owner of the lock it waits for still lives.
pub const OWNER_CHECK_INTERVAL: std::time::Duration = robust::SLICE;

// Every handle is usable from many threads of many processes.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Lock>();
    send_sync::<RLock>();
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<Condition>();
    send_sync::<Condition<Lock>>();
    send_sync::<Event>();
    send_sync::<Barrier>();
    // A task holding these across `.await` may move to another thread.
    send_sync::<LockGuard<'static>>();
    send_sync::<RLockAsyncGuard<'static>>();
};
