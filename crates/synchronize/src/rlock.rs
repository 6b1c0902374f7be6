//! [`RLock`]: a recursive lock shared between processes, Python's `multiprocessing.RLock`.
//!
//! ```
//! use multiprocessing_synchronize::RLock;
//! let lock = RLock::new().unwrap();
//! let outer = lock.lock().unwrap();
//! let inner = lock.lock().unwrap(); // the owner may acquire again
//! assert_eq!(lock.count(), 2);
//! assert!(lock.release().is_err()); // the levels are the guards': only dropping them releases
//! drop(inner);
//! drop(outer);
//! assert!(lock.release().is_err()); // not held by this thread
//! assert!(lock.acquire(true, None).unwrap()); // Python style: pair acquire with release
//! lock.release().unwrap();
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use multiprocessing_core::owner;
use serde::{Deserialize, Serialize};

use crate::robust::{Acquired, RobustWord};
use crate::shared::{Shared, SharedState};
use crate::{Error, LockResult, OwnerDied, Result, TryLockError, TryLockResult};
use multiprocessing_core::time::Deadline;

#[repr(C)]
pub(crate) struct RLockState {
    magic: AtomicU32,
    /// Recursion depth, touched only by the owner.
    count: AtomicU32,
    word: RobustWord,
    /// How many of the `count` levels were taken with Python's `acquire()` (the rest belong to
    /// guards): `release()` gives back only these, so it can never free a guard's level.
    py_count: AtomicU32,
    _pad: u32,
}

// SAFETY: repr(C), magic first, atomics only, 8-byte alignment.
unsafe impl SharedState for RLockState {
    const MAGIC: u32 = 0x524c_434b; // "RLCK"
    const NAME: &'static str = "RLock";
}

/// A recursive lock shared between processes, Python's `multiprocessing.RLock`.
///
/// The owner is a thread of a process (its kernel thread id, which is unique across processes,
/// with its start time): only the owner may acquire it again or release it. If the owning
/// thread's process dies (or the thread exits) holding it, a waiter gets it with an
/// [`OwnerDied`] error.
#[derive(Clone, Serialize, Deserialize)]
pub struct RLock {
    shared: Shared<RLockState>,
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("owner", &self.state().word.holder())
            .finish()
    }
}

/// Holds one level of an [`RLock`]; dropping it releases that level.
///
/// Not `Send`: the level must be released by the thread that took it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RLockGuard")
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release_level();
    }
}

impl<'a> RLockGuard<'a> {
    /// The lock this guard holds.
    #[must_use]
    pub fn lock(&self) -> &'a RLock {
        self.lock
    }
}

impl RLock {
    /// Makes a new, unlocked recursive lock in the shared-memory heap.
    pub fn new() -> Result<RLock> {
        Ok(RLock {
            shared: Shared::new(RLockState {
                magic: RLockState::MAGIC.into(),
                count: AtomicU32::new(0),
                word: RobustWord::new(),
                py_count: AtomicU32::new(0),
                _pad: 0,
            })?,
        })
    }

    #[inline]
    fn state(&self) -> &RLockState {
        self.shared.get()
    }

    pub(crate) fn same(&self, other: &RLock) -> bool {
        self.shared.same(&other.shared)
    }

    pub(crate) fn guard(&self) -> RLockGuard<'_> {
        RLockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Takes one more level if the calling thread owns the lock (`py`: with Python's
    /// `acquire()`, rather than for a guard).
    #[inline]
    fn reenter(&self, me: u32, py: bool) -> bool {
        let state = self.state();
        if state.word.holder() != me {
            return false;
        }
        let count = state.count.load(Ordering::Relaxed);
        let next = count
            .checked_add(1)
            .expect("RLock recursion count overflow");
        state.count.store(next, Ordering::Relaxed);
        if py {
            state.py_count.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Records a fresh hold's first level.
    #[inline]
    fn first_level(&self, py: bool) {
        self.state().count.store(1, Ordering::Relaxed);
        self.state()
            .py_count
            .store(u32::from(py), Ordering::Relaxed);
    }

    /// Takes the lock: waits until `deadline`, or with `None` only tries (taking over a dead
    /// owner's lock). `py` marks an acquisition made by Python-style `acquire`.
    fn acquire_inner(&self, deadline: Option<Deadline>, py: bool) -> Acquired {
        let me = owner::thread();
        // A free lock first: the compare-and-swap fetches the cache line exclusive at once,
        // where a load first (the owner check) would fetch it shared and then again.
        if self.state().word.try_acquire_tagged(me, 0) {
            self.first_level(py);
            return Acquired::Clean;
        }
        if self.reenter(me.id, py) {
            return Acquired::Clean;
        }
        let how = match deadline {
            Some(deadline) => self.state().word.acquire(me, deadline),
            None => self.state().word.try_acquire_or_recover(me, 0),
        };
        if how != Acquired::TimedOut {
            self.first_level(py);
        }
        how
    }

    fn wrap(&self, how: Acquired) -> Option<LockResult<RLockGuard<'_>>> {
        match how {
            Acquired::Clean => Some(Ok(self.guard())),
            Acquired::OwnerDied => Some(Err(OwnerDied::new(self.guard()))),
            Acquired::TimedOut => None,
        }
    }

    /// Blocks until the calling thread holds the lock (at once if it already does).
    ///
    /// # Panics
    /// If the recursion depth would exceed `u32::MAX`, like `std::sync::ReentrantLock`.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<RLockGuard<'_>> {
        self.wrap(self.acquire_inner(Some(Deadline::never()), false))
            .unwrap_or_else(|| unreachable!("no deadline"))
    }

    /// Acquires the lock if it is free or already ours, or takes it over from an owner that
    /// died holding it; never waits. [`TryLockError::WouldBlock`] while another live owner
    /// holds it, [`TryLockError::OwnerDied`] (guard inside) after a dead one: std's shape.
    pub fn try_lock(&self) -> TryLockResult<RLockGuard<'_>> {
        TryLockError::from_acquired(self.acquire_inner(None, false), || self.guard())
    }

    /// Blocks for at most `timeout`: the same [`TryLockResult`] as
    /// [`try_lock`](Self::try_lock), [`TryLockError::WouldBlock`] when the lock stayed held
    /// by another owner until the timeout.
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<RLockGuard<'_>> {
        TryLockError::from_acquired(
            self.acquire_inner(Some(Deadline::after(timeout)), false),
            || self.guard(),
        )
    }

    /// Python's `acquire(block=True, timeout=None)`; pair each `Ok(true)` with a
    /// [`release`](Self::release) from the same thread. `Err(Error::OwnerDied)` means the lock
    /// was acquired from an owner that died.
    pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool> {
        let how = if block {
            self.acquire_inner(Some(Deadline::from_timeout(timeout)), true)
        } else {
            self.acquire_inner(None, true)
        };
        match how {
            Acquired::Clean => Ok(true),
            Acquired::TimedOut => Ok(false),
            Acquired::OwnerDied => Err(Error::OwnerDied),
        }
    }

    /// Python's `release()`: only the owning thread may release, one level at a time, and only
    /// a level taken with [`acquire`](Self::acquire): the levels of live guards are theirs
    /// ([`Error::HeldByGuard`]), so a guard never releases a level that is not its own.
    pub fn release(&self) -> Result<()> {
        if !self.is_mine() {
            return Err(Error::NotOwner);
        }
        let py = &self.state().py_count;
        let n = py.load(Ordering::Relaxed);
        if n == 0 {
            return Err(Error::HeldByGuard);
        }
        py.store(n - 1, Ordering::Relaxed);
        self.release_level();
        Ok(())
    }

    fn release_level(&self) {
        let state = self.state();
        let count = state.count.load(Ordering::Relaxed);
        if count <= 1 {
            state.count.store(0, Ordering::Relaxed);
            state.word.release();
        } else {
            state.count.store(count - 1, Ordering::Relaxed);
        }
    }

    /// Whether the calling thread holds the lock.
    #[must_use]
    pub fn is_mine(&self) -> bool {
        self.state().word.holder() == owner::thread().id
    }

    /// Recursion depth of the owner, 0 when free (meaningful to the owner).
    #[must_use]
    pub fn count(&self) -> u32 {
        if self.state().word.holder() == 0 {
            0
        } else {
            self.state().count.load(Ordering::Relaxed)
        }
    }

    /// Releases every level for a condition wait, returning the depths to restore.
    pub(crate) fn release_for_wait(&self) -> u64 {
        let state = self.state();
        let count = state.count.swap(0, Ordering::Relaxed);
        let py = state.py_count.swap(0, Ordering::Relaxed);
        state.word.release();
        (u64::from(py) << 32) | u64::from(count)
    }

    /// Reacquires after a condition wait, restoring the depths.
    pub(crate) fn reacquire_after_wait(&self, saved: u64) -> Acquired {
        let how = self
            .state()
            .word
            .acquire(owner::thread(), Deadline::never());
        let (count, py) = (saved as u32, (saved >> 32) as u32);
        self.state().count.store(count.max(1), Ordering::Relaxed);
        self.state().py_count.store(py, Ordering::Relaxed);
        how
    }
}
