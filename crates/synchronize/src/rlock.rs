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
//!
//! From async code, [`RLock::lock_async`] (and [`lock_async_timeout`](RLock::lock_async_timeout),
//! [`acquire_async`](RLock::acquire_async)) take it as a future. A task moves between its
//! runtime's threads, so no thread can own what it holds: an async hold is owned by its
//! [`RLockAsyncGuard`] (or, for `acquire_async`, by the process's async code), never by a
//! thread. Sync code never re-enters it, and it is not re-entrant from async code either: a
//! task that holds the guard already has the lock, and passes the guard where it is needed.
//!
//! ```
//! use multiprocessing_synchronize::{RLock, TryLockError};
//! let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
//! let lock = RLock::new().unwrap();
//! rt.block_on(async {
//!     let guard = lock.lock_async().await.unwrap();
//!     // The hold is the guard's: this thread does not own it, so does not re-enter it.
//!     assert!(!lock.is_mine());
//!     assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
//!     drop(guard);
//!     // The guard is `Send`: a task may hold it across `.await`, on any worker thread.
//!     let task = tokio::spawn({
//!         let lock = lock.clone();
//!         async move {
//!             let guard = lock.lock_async().await.unwrap();
//!             tokio::task::yield_now().await;
//!             assert_eq!(lock.count(), 1);
//!             drop(guard);
//!         }
//!     });
//!     task.await.unwrap();
//!     assert_eq!(lock.count(), 0);
//! });
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use multiprocessing_core::owner;
use serde::{Deserialize, Serialize};

use crate::robust::{ASYNC_OWNER, Acquired, RobustWord};
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
///
/// An async acquisition ([`lock_async`](Self::lock_async)) is owned by its guard, not by a
/// thread: see [`RLockAsyncGuard`].
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

/// Holds an [`RLock`] taken from async code ([`RLock::lock_async`]); dropping it releases the
/// lock.
///
/// The hold is the guard's, not a thread's: the lock records the process's async code as its
/// owner (an id no thread has, so a waiter still finds the owner dead if the process dies),
/// and no thread, of this process or another, may re-enter it or [`release`](RLock::release) it.
/// The guard is `Send`, so a task of a multi-thread runtime may hold it across `.await`.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockAsyncGuard<'a> {
    lock: &'a RLock,
}

impl fmt::Debug for RLockAsyncGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RLockAsyncGuard")
    }
}

impl Drop for RLockAsyncGuard<'_> {
    fn drop(&mut self) {
        // An async hold has one level (it is never re-entered).
        self.lock.release_level();
    }
}

impl<'a> RLockAsyncGuard<'a> {
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
    /// ([`Error::HeldByGuard`]), so a guard never releases a level that is not its own. A hold
    /// of [`acquire_async`](Self::acquire_async) is released from any thread of its process.
    pub fn release(&self) -> Result<()> {
        if !self.is_mine() && !self.is_async_mine() {
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

    /// Takes the lock as a future under the process's async owner (`py`: for Python's
    /// `acquire`); never re-enters. Dropped before it is ready, it holds nothing.
    #[cfg(not(loom))]
    async fn acquire_async_inner(&self, deadline: Deadline, py: bool) -> Acquired {
        let how = self
            .state()
            .word
            .acquire_async(crate::robust::async_owner(), 0, deadline)
            .await;
        if how != Acquired::TimedOut {
            self.first_level(py);
        }
        how
    }

    #[cfg(not(loom))]
    fn async_guard(&self, how: Acquired) -> Option<LockResult<RLockAsyncGuard<'_>>> {
        let guard = RLockAsyncGuard { lock: self };
        match how {
            Acquired::Clean => Some(Ok(guard)),
            Acquired::OwnerDied => Some(Err(OwnerDied::new(guard))),
            Acquired::TimedOut => {
                std::mem::forget(guard);
                None
            }
        }
    }

    /// [`lock`](Self::lock) as a future, for async code: ready once the lock is free (or taken
    /// over from an owner that died holding it: [`OwnerDied`], noticed within about
    /// [`OWNER_CHECK_INTERVAL`](crate::OWNER_CHECK_INTERVAL) as by a blocking waiter).
    ///
    /// The hold is the returned [`RLockAsyncGuard`]'s, not the calling thread's (a task moves
    /// between threads): it is **not re-entrant**, from sync or async code. A thread of this
    /// process that calls [`lock`](Self::lock) while the guard lives waits for it as for any
    /// other owner, and a second `lock_async` waits too; a task that needs the lock again
    /// already has it in its guard. It never blocks its executor's thread: the futures waiting
    /// on one lock share one waiter thread (`multiprocessing_core::futex_async`). Dropped
    /// before it is ready, it holds nothing and passes on any wake-up it was given.
    ///
    /// ```
    /// use multiprocessing_synchronize::RLock;
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let lock = RLock::new().unwrap();
    /// rt.block_on(async {
    ///     let guard = lock.lock_async().await.unwrap();
    ///     assert_eq!(lock.count(), 1);
    ///     assert!(lock.release().is_err()); // the guard's level: only dropping it releases
    ///     drop(guard);
    ///     assert_eq!(lock.count(), 0);
    /// });
    /// ```
    #[doc(alias = "acquire")]
    #[cfg(not(loom))]
    pub async fn lock_async(&self) -> LockResult<RLockAsyncGuard<'_>> {
        let how = self.acquire_async_inner(Deadline::never(), false).await;
        self.async_guard(how)
            .unwrap_or_else(|| unreachable!("no deadline"))
    }

    /// [`lock_timeout`](Self::lock_timeout) as a future: [`TryLockError::WouldBlock`] when the
    /// lock stayed held until `timeout` (kept by the waiter thread: no runtime timer needed).
    /// Not re-entrant, as [`lock_async`](Self::lock_async).
    #[cfg(not(loom))]
    pub async fn lock_async_timeout(
        &self,
        timeout: Duration,
    ) -> TryLockResult<RLockAsyncGuard<'_>> {
        let how = self
            .acquire_async_inner(Deadline::after(timeout), false)
            .await;
        TryLockError::from_acquired(how, || RLockAsyncGuard { lock: self })
    }

    /// Python's `acquire(block=True, timeout=None)` as a future: `Ok(true)` once acquired,
    /// `Ok(false)` at the timeout, `Err(Error::OwnerDied)` when acquired from an owner that died.
    ///
    /// The hold belongs to this process's async code, as a [`Lock`](crate::Lock)'s belongs to
    /// its process: pair it with one [`release`](Self::release) from any thread of this process
    /// (a task may have moved to another thread by then). Not re-entrant: a second
    /// `acquire_async` waits for that `release`, and no thread re-enters the hold.
    ///
    /// ```
    /// use multiprocessing_synchronize::RLock;
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let lock = RLock::new().unwrap();
    /// rt.block_on(async {
    ///     assert!(lock.acquire_async(None).await.unwrap());
    ///     assert!(!lock.is_mine()); // no thread owns it
    ///     lock.release().unwrap();
    ///     assert!(lock.release().is_err());
    /// });
    /// ```
    #[cfg(not(loom))]
    pub async fn acquire_async(&self, timeout: Option<Duration>) -> Result<bool> {
        match self
            .acquire_async_inner(Deadline::from_timeout(timeout), true)
            .await
        {
            Acquired::Clean => Ok(true),
            Acquired::TimedOut => Ok(false),
            Acquired::OwnerDied => Err(Error::OwnerDied),
        }
    }

    /// Whether this process's async code holds the lock (an async guard, or `acquire_async`).
    fn is_async_mine(&self) -> bool {
        self.state().word.holder() == owner::process().id | ASYNC_OWNER
    }

    /// Whether the calling thread holds the lock (never for an async hold, which no thread owns).
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
