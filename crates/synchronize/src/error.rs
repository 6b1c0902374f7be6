//! The error type of this crate.
//!
//! ```
//! use multiprocessing_synchronize::{Error, Lock};
//! let lock = Lock::new().unwrap();
//! assert!(matches!(lock.release(), Err(Error::NotLocked)));
//! // Or, by the reason shared with every crate's error:
//! assert_eq!(lock.release().unwrap_err().kind(), multiprocessing_core::ErrorKind::NotLocked);
//! ```

use multiprocessing_core::ErrorKind;

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by the synchronization primitives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the core crate (heap allocation, transfer, I/O).
    #[error(transparent)]
    Core(#[from] multiprocessing_core::Error),
    /// A `Lock` or `Semaphore`-like primitive was released while not held
    /// (Python's `ValueError: semaphore or lock released too many times`).
    #[error("release unlocked lock")]
    NotLocked,
    /// An `RLock` was released by a thread that does not own it (Python's `AssertionError`).
    #[error("cannot release un-acquired lock")]
    NotOwner,
    /// A Python-style `release()` met a hold taken by an RAII guard: the lock stays held, and
    /// dropping the guard releases it.
    #[error("the lock is held by a guard; drop the guard to release it")]
    HeldByGuard,
    /// A `BoundedSemaphore` was released above its initial value.
    #[error("semaphore or lock released too many times")]
    TooManyReleases,
    /// The lock was acquired, but its previous owner died holding it; the data it protects
    /// may be inconsistent.
    #[error("the previous owner of the lock died while holding it")]
    OwnerDied,
    /// A lock attempt that could not wait (or waited its timeout) found the lock held by
    /// another owner: a [`TryLockError::WouldBlock`](crate::TryLockError::WouldBlock) converted
    /// with `?`.
    #[error("the lock is held by another owner")]
    WouldBlock,
    /// A `Barrier` is broken (aborted, reset while waiting, timed out, or its action failed),
    /// Python's `BrokenBarrierError`.
    #[error("barrier is broken")]
    BrokenBarrier,
    /// An argument or a received value was invalid, Python's `ValueError`.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// Why the operation failed, for matching: a `BoundedSemaphore` released too often is
    /// [`ErrorKind::NotLocked`] like a lock released unlocked, a release refused because a
    /// guard holds the lock [`ErrorKind::NotOwner`].
    ///
    /// ```
    /// use multiprocessing_core::ErrorKind;
    /// use multiprocessing_synchronize::BoundedSemaphore;
    /// let s = BoundedSemaphore::new(1).unwrap();
    /// assert_eq!(s.release().unwrap_err().kind(), ErrorKind::NotLocked);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Core(e) => e.kind(),
            Error::NotLocked | Error::TooManyReleases => ErrorKind::NotLocked,
            Error::NotOwner | Error::HeldByGuard => ErrorKind::NotOwner,
            Error::OwnerDied => ErrorKind::OwnerDied,
            Error::WouldBlock => ErrorKind::WouldBlock,
            Error::BrokenBarrier => ErrorKind::BrokenBarrier,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
        }
    }
}
