//! [`SharedLock`]: the lock a synchronized value uses, a [`Lock`] or an [`RLock`].
//!
//! ```
//! use multiprocessing_sharedctypes::SharedLock;
//! use multiprocessing_synchronize::Lock;
//! let lock: SharedLock = Lock::new().unwrap().into();
//! let _guard = lock.lock().unwrap();
//! ```

use multiprocessing_synchronize::{Lock, LockGuard, LockResult, RLock, RLockGuard};
use serde::{Deserialize, Serialize};

use crate::Result;

/// The lock of a synchronized [`Value`](crate::Value) or [`Array`](crate::Array).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SharedLock {
    /// A non-recursive lock.
    Lock(Lock),
    /// A recursive lock (the default, as in Python).
    RLock(RLock),
}

/// Holds a [`SharedLock`].
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub enum SharedLockGuard<'a> {
    /// Holds a [`Lock`].
    Lock(LockGuard<'a>),
    /// Holds an [`RLock`].
    RLock(RLockGuard<'a>),
}

impl SharedLock {
    /// A fresh [`RLock`], the default lock of synchronized values.
    pub fn new_rlock() -> Result<SharedLock> {
        Ok(SharedLock::RLock(RLock::new()?))
    }

    /// Acquires the lock.
    pub fn lock(&self) -> LockResult<SharedLockGuard<'_>> {
        match self {
            SharedLock::Lock(l) => l
                .lock()
                .map(SharedLockGuard::Lock)
                .map_err(|e| e.map(SharedLockGuard::Lock)),
            SharedLock::RLock(l) => l
                .lock()
                .map(SharedLockGuard::RLock)
                .map_err(|e| e.map(SharedLockGuard::RLock)),
        }
    }
}

impl From<Lock> for SharedLock {
    fn from(lock: Lock) -> Self {
        SharedLock::Lock(lock)
    }
}

impl From<RLock> for SharedLock {
    fn from(lock: RLock) -> Self {
        SharedLock::RLock(lock)
    }
}
