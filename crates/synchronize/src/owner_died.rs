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
