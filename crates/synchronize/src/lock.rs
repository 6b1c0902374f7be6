//! [`Lock`]: a non-recursive lock shared between processes, Python's `multiprocessing.Lock`.
//!
//! ```
//! use multiprocessing_synchronize::{Lock, TryLockError};
//! let lock = Lock::new().unwrap();
//! {
//!     let _guard = lock.lock().unwrap();
//!     assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
//! }
//! assert!(lock.try_lock().is_ok());
//! // Python style: any process or thread may release a Lock taken with `acquire`.
//! assert!(lock.acquire(true, None).unwrap());
//! lock.release().unwrap();
//! assert!(lock.release().is_err()); // releasing an unlocked lock is an error
//! // A guard's hold is the guard's: `release` cannot free it under the guard.
//! let guard = lock.lock().unwrap();
//! assert!(matches!(lock.release(), Err(multiprocessing_synchronize::Error::HeldByGuard)));
//! drop(guard);
//! assert!(!lock.is_locked());
//! ```

use std::fmt;
use std::time::Duration;

use multiprocessing_core::owner;
use serde::{Deserialize, Serialize};

use crate::robust::{Acquired, GUARDED, Refused, RobustWord};
use crate::shared::{Shared, SharedState};
use crate::{Error, LockResult, OwnerDied, Result, TryLockError, TryLockResult};
use multiprocessing_core::time::Deadline;

#[repr(C)]
pub(crate) struct LockState {
    magic: std::sync::atomic::AtomicU32,
    _pad: u32,
    word: RobustWord,
}

// SAFETY: repr(C), magic first, atomics only, 8-byte alignment.
unsafe impl SharedState for LockState {
    const MAGIC: u32 = 0x4c4f_434b; // "LOCK"
    const NAME: &'static str = "Lock";
}

/// A lock shared between processes and threads, Python's `multiprocessing.Lock`.
///
/// It lives in the shared-memory heap: clones are handles to the same lock, a forked child
/// shares it, and it travels to other processes as a process argument or through a
/// connection. The owner recorded is the process: any thread of any process may release a held
/// lock, as in Python. If the holding process dies, a waiter gets the lock with an
/// [`OwnerDied`] error within about [`OWNER_CHECK_INTERVAL`](crate::OWNER_CHECK_INTERVAL).
/// An uncontended `lock` + unlock costs no system call.
#[derive(Clone, Serialize, Deserialize)]
pub struct Lock {
    shared: Shared<LockState>,
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.is_locked())
            .finish()
    }
}

/// Holds a [`Lock`]; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.state().release();
    }
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds.
    #[must_use]
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl Lock {
    /// Makes a new, unlocked lock in the shared-memory heap.
    pub fn new() -> Result<Lock> {
        Ok(Lock {
            shared: Shared::new(LockState {
                magic: LockState::MAGIC.into(),
                _pad: 0,
                word: RobustWord::new(),
            })?,
        })
    }

    #[inline]
    pub(crate) fn state(&self) -> &RobustWord {
        &self.shared.get().word
    }

    pub(crate) fn same(&self, other: &Lock) -> bool {
        self.shared.same(&other.shared)
    }

    fn guard_for(&self, how: Acquired) -> Option<LockResult<LockGuard<'_>>> {
        let guard = LockGuard { lock: self };
        match how {
            Acquired::Clean => Some(Ok(guard)),
            Acquired::OwnerDied => Some(Err(OwnerDied::new(guard))),
            Acquired::TimedOut => {
                std::mem::forget(guard);
                None
            }
        }
    }

    /// Blocks until the lock is acquired.
    #[inline]
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<LockGuard<'_>> {
        let how = self
            .state()
            .acquire_tagged(owner::process(), GUARDED, Deadline::never());
        self.guard_for(how)
            .unwrap_or_else(|| unreachable!("no deadline"))
    }

    /// Acquires the lock if it is free right now (Python's `acquire(False)`), or takes it over
    /// from an owner that died holding it: std's `try_lock` shape,
    /// [`TryLockError::WouldBlock`] while a live owner holds it and
    /// [`TryLockError::OwnerDied`] (guard inside) after a dead one. Never waits.
    #[inline]
    pub fn try_lock(&self) -> TryLockResult<LockGuard<'_>> {
        let how = self
            .state()
            .try_acquire_or_recover(owner::process(), GUARDED);
        TryLockError::from_acquired(how, || LockGuard { lock: self })
    }

    /// Blocks for at most `timeout` (Python's `acquire(timeout=t)`): the workspace's timed
    /// shape, `*_timeout(Duration) -> Result`, here the same [`TryLockResult`] as
    /// [`try_lock`](Self::try_lock), with [`TryLockError::WouldBlock`] when the lock stayed
    /// held until the timeout.
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<LockGuard<'_>> {
        let how = self
            .state()
            .acquire_tagged(owner::process(), GUARDED, Deadline::after(timeout));
        TryLockError::from_acquired(how, || LockGuard { lock: self })
    }

    /// Python's `acquire(block=True, timeout=None)`: `Ok(true)` once acquired, `Ok(false)` if
    /// not acquired (non-blocking, or timed out). The caller must [`release`](Self::release).
    ///
    /// `Err(Error::OwnerDied)` means the lock *was* acquired from an owner that died.
    pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool> {
        let me = owner::process();
        let how = if block {
            self.state().acquire(me, Deadline::from_timeout(timeout))
        } else {
            self.state().try_acquire_or_recover(me, 0)
        };
        match how {
            Acquired::Clean => Ok(true),
            Acquired::TimedOut => Ok(false),
            Acquired::OwnerDied => Err(Error::OwnerDied),
        }
    }

    /// Python's `release()`: frees a lock taken with [`acquire`](Self::acquire), whoever took
    /// it; an unlocked lock is [`Error::NotLocked`]. A lock held by a [`LockGuard`] is
    /// [`Error::HeldByGuard`] and stays held: only dropping the guard releases it, so a guard
    /// never releases a hold that is not its own.
    pub fn release(&self) -> Result<()> {
        self.state().release_unguarded().map_err(|r| match r {
            Refused::Free => Error::NotLocked,
            Refused::Guarded => Error::HeldByGuard,
        })
    }

    /// [`lock`](Self::lock) as a future, for async code: the same guard and the same
    /// [`OwnerDied`] result when the holder died holding it (noticed within about
    /// [`OWNER_CHECK_INTERVAL`](crate::OWNER_CHECK_INTERVAL), as for a blocking waiter). It
    /// never blocks its executor's thread: the futures waiting on one lock share one waiter
    /// thread that sleeps on the lock word. Dropped before it is ready, it holds nothing and
    /// passes on any wake-up it was given. Hold the guard across an `.await` only as long as
    /// you would hold a blocking lock: other processes wait for it.
    ///
    /// The owner recorded is the process, so a guard may move between the runtime's threads.
    ///
    /// ```
    /// use multiprocessing_synchronize::Lock;
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let lock = Lock::new().unwrap();
    /// rt.block_on(async {
    ///     let guard = lock.lock_async().await.unwrap();
    ///     assert!(lock.is_locked());
    ///     drop(guard);
    /// });
    /// ```
    #[doc(alias = "acquire")]
    #[cfg(not(loom))]
    pub async fn lock_async(&self) -> LockResult<LockGuard<'_>> {
        let how = self.acquire_async_until(GUARDED, Deadline::never()).await;
        self.guard_for(how)
            .unwrap_or_else(|| unreachable!("no deadline"))
    }

    /// [`lock_timeout`](Self::lock_timeout) as a future: [`TryLockError::WouldBlock`] when
    /// the lock stayed held until `timeout`.
    #[cfg(not(loom))]
    pub async fn lock_async_timeout(&self, timeout: Duration) -> TryLockResult<LockGuard<'_>> {
        let how = self
            .acquire_async_until(GUARDED, Deadline::after(timeout))
            .await;
        TryLockError::from_acquired(how, || LockGuard { lock: self })
    }

    /// Python's `acquire(block=True, timeout=None)` as a future, the caller releasing with
    /// [`release`](Self::release): `Ok(true)` once acquired, `Ok(false)` at the timeout,
    /// `Err(Error::OwnerDied)` when acquired from an owner that died.
    #[cfg(not(loom))]
    pub async fn acquire_async(&self, timeout: Option<Duration>) -> Result<bool> {
        match self
            .acquire_async_until(0, Deadline::from_timeout(timeout))
            .await
        {
            Acquired::Clean => Ok(true),
            Acquired::TimedOut => Ok(false),
            Acquired::OwnerDied => Err(Error::OwnerDied),
        }
    }

    #[cfg(not(loom))]
    async fn acquire_async_until(&self, tag: u32, deadline: Deadline) -> Acquired {
        self.state()
            .acquire_async(owner::process(), tag, deadline)
            .await
    }

    /// Whether some process holds the lock now.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.state().holder() != 0
    }

    /// Releases the lock for a condition wait, returning the state to restore (nothing).
    pub(crate) fn release_for_wait(&self) -> u64 {
        self.state().release();
        1
    }
}
