//! [`OwnerDied`]: the lock was acquired, but its previous owner died holding it.

use std::fmt;

/// Returned when a lock is acquired from an owner that died holding it.
///
/// As with a robust mutex (or `std::sync::PoisonError`), the lock *is* held: the guard is inside,
/// so the caller can repair the data the lock protects and go on.
///
/// ```
/// use multiprocessing_synchronize::{Lock, LockResult};
/// fn increment(lock: &Lock, repair: impl Fn()) {
///     let _guard = match lock.lock() {
///         Ok(guard) => guard,
///         Err(died) => {
///             repair();
///             died.into_inner()
///         }
///     };
/// }
/// increment(&Lock::new().unwrap(), || {});
/// ```
pub struct OwnerDied<G> {
    guard: G,
}

/// Result of acquiring a lock: the guard, or the guard wrapped in [`OwnerDied`].
pub type LockResult<G> = Result<G, OwnerDied<G>>;

impl<G> OwnerDied<G> {
    pub(crate) fn new(guard: G) -> Self {
        OwnerDied { guard }
    }

    /// The guard of the lock, now held by the caller.
    pub fn into_inner(self) -> G {
        self.guard
    }

    /// A reference to the guard.
    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    /// A mutable reference to the guard.
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.guard
    }

    /// Why this is an error, for matching alongside every crate's errors: always
    /// [`ErrorKind::OwnerDied`](multiprocessing_core::ErrorKind::OwnerDied).
    #[must_use]
    pub fn kind(&self) -> multiprocessing_core::ErrorKind {
        multiprocessing_core::ErrorKind::OwnerDied
    }

    /// Applies `f` to the guard, keeping the error.
    pub fn map<H>(self, f: impl FnOnce(G) -> H) -> OwnerDied<H> {
        OwnerDied {
            guard: f(self.guard),
        }
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerDied { .. }")
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the previous owner of the lock died while holding it")
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

impl<G> From<OwnerDied<G>> for crate::Error {
    fn from(_: OwnerDied<G>) -> Self {
        crate::Error::OwnerDied
    }
}

/// Why a [`try_lock`](crate::Lock::try_lock) or a timed
/// [`lock_timeout`](crate::Lock::lock_timeout) did not simply return a guard: std's
/// [`std::sync::TryLockError`], with [`OwnerDied`] in place of `Poisoned`.
///
/// ```
/// use std::time::Duration;
/// use multiprocessing_synchronize::{Lock, TryLockError};
/// let lock = Lock::new().unwrap();
/// let held = lock.try_lock().unwrap();
/// assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
/// assert!(matches!(lock.lock_timeout(Duration::from_millis(1)), Err(TryLockError::WouldBlock)));
/// drop(held);
/// let guard = match lock.try_lock() {
///     Ok(guard) => guard,
///     Err(TryLockError::OwnerDied(died)) => died.into_inner(), // held: repair, then go on
///     Err(TryLockError::WouldBlock) => unreachable!("nobody holds it"),
/// };
/// # drop(guard);
/// ```
pub enum TryLockError<G> {
    /// The lock is held by someone else (and, for a timed attempt, stayed held until the
    /// timeout): std's `WouldBlock`, Python's `acquire` returning `False`.
    WouldBlock,
    /// The lock *was* acquired, from an owner that died holding it; the guard is inside.
    OwnerDied(OwnerDied<G>),
}

/// Result of a non-blocking or timed lock attempt: the guard, or why there is none (or the
/// guard wrapped in [`TryLockError::OwnerDied`]).
pub type TryLockResult<G> = Result<G, TryLockError<G>>;

impl<G> TryLockError<G> {
    /// Why the attempt failed, for matching alongside every crate's errors:
    /// [`ErrorKind::WouldBlock`](multiprocessing_core::ErrorKind::WouldBlock) while another
    /// owner holds the lock, [`ErrorKind::OwnerDied`](multiprocessing_core::ErrorKind::OwnerDied)
    /// when it was taken from a dead one.
    ///
    /// ```
    /// use multiprocessing_core::ErrorKind;
    /// use multiprocessing_synchronize::Lock;
    /// let lock = Lock::new().unwrap();
    /// let _held = lock.try_lock().unwrap();
    /// assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
    /// ```
    #[must_use]
    pub fn kind(&self) -> multiprocessing_core::ErrorKind {
        match self {
            TryLockError::WouldBlock => multiprocessing_core::ErrorKind::WouldBlock,
            TryLockError::OwnerDied(died) => died.kind(),
        }
    }

    /// The attempt's outcome from the lock word's.
    pub(crate) fn from_acquired(
        how: crate::robust::Acquired,
        guard: impl FnOnce() -> G,
    ) -> TryLockResult<G> {
        match how {
            crate::robust::Acquired::Clean => Ok(guard()),
            crate::robust::Acquired::OwnerDied => {
                Err(TryLockError::OwnerDied(OwnerDied::new(guard())))
            }
            crate::robust::Acquired::TimedOut => Err(TryLockError::WouldBlock),
        }
    }
}

/// Drops the guard (of a lock taken from a dead owner): for `?` in a function returning this
/// crate's [`Error`](crate::Error).
impl<G> From<TryLockError<G>> for crate::Error {
    fn from(e: TryLockError<G>) -> Self {
        match e {
            TryLockError::WouldBlock => crate::Error::WouldBlock,
            TryLockError::OwnerDied(_) => crate::Error::OwnerDied,
        }
    }
}

impl<G> From<OwnerDied<G>> for TryLockError<G> {
    fn from(died: OwnerDied<G>) -> Self {
        TryLockError::OwnerDied(died)
    }
}

impl<G> fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
            TryLockError::OwnerDied(died) => f.debug_tuple("OwnerDied").field(died).finish(),
        }
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("the lock is held by another owner"),
            TryLockError::OwnerDied(died) => died.fmt(f),
        }
    }
}

impl<G> std::error::Error for TryLockError<G> {}
