//! [`Condition`]: a condition variable shared between processes, Python's
//! `multiprocessing.Condition`.
//!
//! As with `std::sync::Condvar`, waiting takes the guard of the condition's lock and gives it
//! back once woken. The lock is the condition's own [`RLock`] by default, or a given [`Lock`]
//! or [`RLock`].
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_synchronize::Condition;
//! let cond = Condition::new().unwrap();
//! let guard = cond.lock().unwrap();
//! let (guard, result) = cond.wait_timeout(guard, Duration::from_millis(5)).unwrap();
//! assert!(result.timed_out());
//! let (_guard, ok) = cond.wait_for(guard, Some(Duration::from_millis(5)), || true).unwrap();
//! assert!(ok);
//! ```
//!
//! From async code, [`Condition::lock_async`], [`Condition::wait_async`] (and
//! [`wait_async_timeout`](Condition::wait_async_timeout),
//! [`wait_for_async`](Condition::wait_for_async)) take and give back the lock's async guard
//! ([`LockGuard`] or [`RLockAsyncGuard`], both `Send`); `notify` stays a plain call. A dropped
//! wait leaves the lock released and hands on any notification it was given.

#[cfg(loom)]
use loom::sync::atomic::AtomicU32;
use std::fmt;
#[cfg(not(loom))]
use std::future::poll_fn;
#[cfg(not(loom))]
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering;
#[cfg(not(loom))]
use std::task::Poll;
use std::time::Duration;
#[cfg(not(loom))]
use std::time::Instant;

#[cfg(not(loom))]
use multiprocessing_core::futex_async::AsyncWaiter;
use multiprocessing_core::owner::{self, OwnerCell};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::lock::LockGuard;
use crate::rlock::{RLockAsyncGuard, RLockGuard};
use crate::robust::{Acquired, RobustWord, SLICE};
use crate::shared::{Shared, SharedState};
use crate::{Lock, LockResult, OwnerDied, RLock, Result};
use multiprocessing_core::futex;
use multiprocessing_core::time::Deadline;

/// Waiters form groups. Those that start waiting join the *newer* group; a notify chooses
/// among the *served* group first, and once all of it is chosen the newer group becomes the
/// served one (and the next arrivals form a new newer group). Waiters of a group older than
/// the served one were all chosen. So a wake-up only ever goes to a waiter that was waiting
/// when it was handed out: one that starts waiting later can not take it.
///
/// Waiters also record themselves with their group in `waiters`, so that a wake-up handed to
/// one that died inside `wait` is found (by the other waiters, which look every [`SLICE`] while
/// a wake-up is outstanding) and handed on to a live waiter.
#[repr(C)]
pub(crate) struct CondState {
    magic: AtomicU32,
    /// Number of the served group; the newer group is the next number.
    served: AtomicU32,
    /// Guards every field below; held for a few instructions, never while sleeping.
    guard: RobustWord,
    /// Futex words, one per group parity, bumped whenever that group's waiters should look.
    seq: [AtomicU32; 2],
    /// Waiters of the served group not chosen yet.
    unchosen: AtomicU32,
    /// Wake-ups handed to the served group and not taken yet.
    tokens: AtomicU32,
    /// Waiters of the newer group.
    newer: AtomicU32,
    _pad: u32,
    /// The waiters (first [`WAITERS`] at once), tagged with their group.
    waiters: [OwnerCell; WAITERS],
}

/// Waiters recorded at once; more may wait, but one that dies unrecorded may keep a wake-up.
const WAITERS: usize = 64;

// SAFETY: repr(C), magic first, atomics only, 8-byte alignment.
unsafe impl SharedState for CondState {
    const MAGIC: u32 = 0x434f_4e44; // "COND"
    const NAME: &'static str = "Condition";
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Lock {}
    impl Sealed for crate::RLock {}
}

/// A lock a [`Condition`] can use: [`Lock`] or [`RLock`].
pub trait ConditionLock: sealed::Sealed + Clone + Serialize + DeserializeOwned {
    /// The guard that proves the lock is held.
    type Guard<'a>
    where
        Self: 'a;
    /// Acquires the lock.
    fn acquire_guard(&self) -> LockResult<Self::Guard<'_>>;
    #[doc(hidden)]
    fn lock_of<'a>(guard: &Self::Guard<'a>) -> &'a Self
    where
        Self: 'a;
    #[doc(hidden)]
    fn same_lock(&self, other: &Self) -> bool;
    #[doc(hidden)]
    fn release_guard(&self, guard: Self::Guard<'_>) -> u64;
    #[doc(hidden)]
    fn reacquire(&self, saved: u64) -> LockResult<Self::Guard<'_>>;
    /// The guard an async acquisition gives ([`Condition::lock_async`]): `Send`, so a task may
    /// hold it across `.await`.
    type AsyncGuard<'a>: Send
    where
        Self: 'a;
    /// Acquires the lock as a future.
    #[cfg(not(loom))]
    fn acquire_async_guard(
        &self,
    ) -> impl std::future::Future<Output = LockResult<Self::AsyncGuard<'_>>> + Send;
    #[doc(hidden)]
    fn async_lock_of<'a>(guard: &Self::AsyncGuard<'a>) -> &'a Self
    where
        Self: 'a;
}

impl ConditionLock for Lock {
    type Guard<'a> = LockGuard<'a>;
    fn acquire_guard(&self) -> LockResult<LockGuard<'_>> {
        self.lock()
    }
    fn lock_of<'a>(guard: &LockGuard<'a>) -> &'a Lock
    where
        Self: 'a,
    {
        guard.lock()
    }
    fn same_lock(&self, other: &Lock) -> bool {
        self.same(other)
    }
    fn release_guard(&self, guard: LockGuard<'_>) -> u64 {
        std::mem::forget(guard);
        self.release_for_wait()
    }
    fn reacquire(&self, _saved: u64) -> LockResult<LockGuard<'_>> {
        self.lock()
    }
    type AsyncGuard<'a> = LockGuard<'a>;
    #[cfg(not(loom))]
    fn acquire_async_guard(
        &self,
    ) -> impl std::future::Future<Output = LockResult<LockGuard<'_>>> + Send {
        self.lock_async()
    }
    fn async_lock_of<'a>(guard: &LockGuard<'a>) -> &'a Lock
    where
        Self: 'a,
    {
        guard.lock()
    }
}

impl ConditionLock for RLock {
    type Guard<'a> = RLockGuard<'a>;
    fn acquire_guard(&self) -> LockResult<RLockGuard<'_>> {
        self.lock()
    }
    fn lock_of<'a>(guard: &RLockGuard<'a>) -> &'a RLock
    where
        Self: 'a,
    {
        guard.lock()
    }
    fn same_lock(&self, other: &RLock) -> bool {
        self.same(other)
    }
    fn release_guard(&self, guard: RLockGuard<'_>) -> u64 {
        std::mem::forget(guard);
        self.release_for_wait()
    }
    fn reacquire(&self, saved: u64) -> LockResult<RLockGuard<'_>> {
        // The depth is restored below the guard we hand back: the caller's outer guards
        // still hold their levels.
        let how = self.reacquire_after_wait(saved);
        let guard = self.guard();
        match how {
            Acquired::OwnerDied => Err(OwnerDied::new(guard)),
            _ => Ok(guard),
        }
    }
    type AsyncGuard<'a> = RLockAsyncGuard<'a>;
    #[cfg(not(loom))]
    fn acquire_async_guard(
        &self,
    ) -> impl std::future::Future<Output = LockResult<RLockAsyncGuard<'_>>> + Send {
        self.lock_async()
    }
    fn async_lock_of<'a>(guard: &RLockAsyncGuard<'a>) -> &'a RLock
    where
        Self: 'a,
    {
        guard.lock()
    }
}

/// A condition variable shared between processes.
///
/// `notify(n)` wakes exactly `min(n, waiting)` of the waiters that started waiting before it;
/// `notify_all` wakes them all.
///
/// A wake-up handed to a waiter that dies inside `wait` (killed, say) is not lost: the other
/// waiters find it dead within about [`OWNER_CHECK_INTERVAL`](crate::OWNER_CHECK_INTERVAL) and
/// hand the wake-up on to the oldest live waiter (one that may have started waiting after the
/// notify, if no older one is left). Dead waiters are found among the first 64 waiting at once.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Condition<L: ConditionLock = RLock> {
    lock: L,
    shared: Shared<CondState>,
}

impl<L: ConditionLock> Clone for Condition<L> {
    fn clone(&self) -> Self {
        Condition {
            lock: self.lock.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<L: ConditionLock> fmt::Debug for Condition<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition").finish_non_exhaustive()
    }
}

impl Condition<RLock> {
    /// Makes a condition with its own [`RLock`].
    pub fn new() -> Result<Condition<RLock>> {
        Condition::with_lock(RLock::new()?)
    }
}

impl<L: ConditionLock> Condition<L> {
    /// Makes a condition that uses `lock`, Python's `Condition(lock)`.
    pub fn with_lock(lock: L) -> Result<Condition<L>> {
        Ok(Condition {
            lock,
            shared: Shared::new(CondState::new())?,
        })
    }

    /// The condition's lock.
    #[must_use]
    pub fn get_lock(&self) -> &L {
        &self.lock
    }

    /// Acquires the condition's lock, Python's `with cond:`.
    pub fn lock(&self) -> LockResult<L::Guard<'_>> {
        self.lock.acquire_guard()
    }

    fn state(&self) -> &CondState {
        self.shared.get()
    }

    /// Releases the lock, sleeps until notified or `deadline`, reacquires the lock.
    fn wait_inner<'a>(
        &self,
        guard: L::Guard<'a>,
        deadline: Deadline,
    ) -> LockResult<(L::Guard<'a>, bool)> {
        let lock: &'a L = L::lock_of(&guard);
        assert!(
            self.lock.same_lock(lock),
            "Condition::wait was given the guard of another lock"
        );
        let state = self.state();
        let (group, slot) = state.begin_wait();
        let saved = lock.release_guard(guard);
        let notified = state.sleep(group, slot, deadline);
        match lock.reacquire(saved) {
            Ok(g) => Ok((g, notified)),
            Err(died) => Err(died.map(|g| (g, notified))),
        }
    }

    /// Releases the lock, sleeps until notified, and reacquires the lock.
    ///
    /// # Panics
    /// If `guard` belongs to another lock than the condition's (as `std::sync::Condvar`).
    pub fn wait<'a>(&self, guard: L::Guard<'a>) -> LockResult<L::Guard<'a>> {
        match self.wait_inner(guard, Deadline::never()) {
            Ok((g, _)) => Ok(g),
            Err(died) => Err(died.map(|(g, _)| g)),
        }
    }

    /// Like [`wait`](Self::wait) for at most `timeout`: `std::sync::Condvar::wait_timeout`'s
    /// shape, the guard back either way with a [`WaitTimeoutResult`] saying whether the time
    /// ran out (Python's `wait(timeout)` returns `not result.timed_out()`).
    ///
    /// The one timed wait whose expiry is not an `Err`: the caller needs the guard back on
    /// expiry too, to look at the state it waits for.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiprocessing_synchronize::Condition;
    /// let cond = Condition::new().unwrap();
    /// let guard = cond.lock().unwrap();
    /// let (_guard, result) = cond.wait_timeout(guard, Duration::from_millis(1)).unwrap();
    /// assert!(result.timed_out()); // nobody notified
    /// ```
    pub fn wait_timeout<'a>(
        &self,
        guard: L::Guard<'a>,
        timeout: Duration,
    ) -> LockResult<(L::Guard<'a>, WaitTimeoutResult)> {
        let result = |notified: bool| WaitTimeoutResult {
            timed_out: !notified,
        };
        match self.wait_inner(guard, Deadline::after(timeout)) {
            Ok((g, notified)) => Ok((g, result(notified))),
            Err(died) => Err(died.map(|(g, notified)| (g, result(notified)))),
        }
    }

    /// Waits until `predicate` returns `true` (checked under the lock, first before waiting),
    /// or `timeout` passes; the flag is the predicate's last value, Python's `wait_for`.
    pub fn wait_for<'a>(
        &self,
        mut guard: L::Guard<'a>,
        timeout: Option<Duration>,
        mut predicate: impl FnMut() -> bool,
    ) -> LockResult<(L::Guard<'a>, bool)> {
        let deadline = Deadline::from_timeout(timeout);
        let mut died = false;
        loop {
            if predicate() {
                return wrap(guard, true, died);
            }
            if deadline.is_expired() {
                return wrap(guard, false, died);
            }
            match self.wait_inner(guard, deadline) {
                Ok((g, _)) => guard = g,
                Err(e) => {
                    died = true;
                    guard = e.into_inner().0;
                }
            }
        }
    }

    /// Acquires the condition's lock as a future, Python's `with cond:` from async code: a
    /// [`LockGuard`] for a [`Lock`], an [`RLockAsyncGuard`] for an [`RLock`] (owned by the
    /// guard, not by a thread; see [`RLock::lock_async`]). Both are `Send`. Dropped before it
    /// is ready, it holds nothing.
    #[cfg(not(loom))]
    pub async fn lock_async(&self) -> LockResult<L::AsyncGuard<'_>> {
        self.lock.acquire_async_guard().await
    }

    /// Releases the lock, sleeps (as a future) until notified or `deadline`, reacquires the
    /// lock as a future.
    #[cfg(not(loom))]
    async fn wait_inner_async<'a>(
        &self,
        guard: L::AsyncGuard<'a>,
        deadline: Deadline,
    ) -> LockResult<(L::AsyncGuard<'a>, bool)> {
        let lock: &'a L = L::async_lock_of(&guard);
        assert!(
            self.lock.same_lock(lock),
            "Condition::wait_async was given the guard of another lock"
        );
        let state = self.state();
        // Joined before the lock goes, as the blocking wait: a notify after the caller's
        // check of its predicate is not missed.
        let (group, slot) = state.begin_wait();
        let mut sleep = AsyncSleep {
            state,
            group,
            slot,
            deadline,
            done: false,
            waiter: AsyncWaiter::new(),
            looked: Instant::now(),
        };
        // The hold is the guard's: dropping it releases the lock (one level, for an `RLock`).
        drop(guard);
        let notified = poll_fn(|cx| sleep.poll(cx)).await;
        // Dropped while reacquiring, a notified wait hands its notification on.
        let mut pass_on = PassOn {
            state,
            armed: notified,
        };
        let reacquired = lock.acquire_async_guard().await;
        pass_on.armed = false;
        match reacquired {
            Ok(g) => Ok((g, notified)),
            Err(died) => Err(died.map(|g| (g, notified))),
        }
    }

    /// [`wait`](Self::wait) as a future: releases the lock, waits until notified, and
    /// reacquires the lock, all without blocking the executor's thread (the futures waiting
    /// on one condition share one waiter thread, `multiprocessing_core::futex_async`).
    /// [`notify`](Self::notify) stays a plain call, from any thread or process; blocking and
    /// async waiters of one condition are served in the same order.
    ///
    /// **Cancellation.** The future owns the guard it was given: dropped at any point before it
    /// is ready, it leaves the lock *released* (the caller holds nothing, and takes the lock
    /// again with [`lock_async`](Self::lock_async) if it needs it), and a notification it was
    /// handed is passed on to another waiter, as if it had never waited. (Python's `wait`
    /// interrupted by an exception makes no such promise.)
    ///
    /// # Panics
    /// If `guard` belongs to another lock than the condition's (as [`wait`](Self::wait)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use multiprocessing_synchronize::Condition;
    /// let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    /// let cond = Condition::new().unwrap();
    /// let ready = Arc::new(AtomicBool::new(false));
    /// rt.block_on(async {
    ///     let waiter = tokio::spawn({
    ///         let (cond, ready) = (cond.clone(), ready.clone());
    ///         async move {
    ///             let mut guard = cond.lock_async().await.unwrap();
    ///             while !ready.load(Ordering::Relaxed) {
    ///                 guard = cond.wait_async(guard).await.unwrap();
    ///             }
    ///         }
    ///     });
    ///     {
    ///         let _guard = cond.lock_async().await.unwrap();
    ///         ready.store(true, Ordering::Relaxed);
    ///         cond.notify(1); // a plain call, from any thread or process
    ///     }
    ///     waiter.await.unwrap();
    /// });
    /// ```
    #[doc(alias = "wait")]
    #[cfg(not(loom))]
    pub async fn wait_async<'a>(&self, guard: L::AsyncGuard<'a>) -> LockResult<L::AsyncGuard<'a>> {
        match self.wait_inner_async(guard, Deadline::never()).await {
            Ok((g, _)) => Ok(g),
            Err(died) => Err(died.map(|(g, _)| g)),
        }
    }

    /// [`wait_timeout`](Self::wait_timeout) as a future: the guard back either way, with a
    /// [`WaitTimeoutResult`]. The timeout bounds the wait for a notification (kept by the
    /// waiter thread, no runtime timer needed); reacquiring the lock is not bounded, as in the
    /// blocking form. Cancellation as [`wait_async`](Self::wait_async).
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiprocessing_synchronize::{Condition, Lock};
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    /// rt.block_on(async {
    ///     let guard = cond.lock_async().await.unwrap();
    ///     let (_guard, result) = cond
    ///         .wait_async_timeout(guard, Duration::from_millis(1))
    ///         .await
    ///         .unwrap();
    ///     assert!(result.timed_out()); // nobody notified
    /// });
    /// ```
    #[doc(alias = "wait")]
    #[cfg(not(loom))]
    pub async fn wait_async_timeout<'a>(
        &self,
        guard: L::AsyncGuard<'a>,
        timeout: Duration,
    ) -> LockResult<(L::AsyncGuard<'a>, WaitTimeoutResult)> {
        let result = |notified: bool| WaitTimeoutResult {
            timed_out: !notified,
        };
        match self.wait_inner_async(guard, Deadline::after(timeout)).await {
            Ok((g, notified)) => Ok((g, result(notified))),
            Err(died) => Err(died.map(|(g, notified)| (g, result(notified)))),
        }
    }

    /// [`wait_for`](Self::wait_for) as a future: waits until `predicate` returns `true`
    /// (checked under the lock, first before waiting) or `timeout` passes; the flag is the
    /// predicate's last value, Python's `wait_for`. Cancellation as
    /// [`wait_async`](Self::wait_async): dropped, it leaves the lock released.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiprocessing_synchronize::Condition;
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let cond = Condition::new().unwrap();
    /// rt.block_on(async {
    ///     let guard = cond.lock_async().await.unwrap();
    ///     let (guard, ok) = cond.wait_for_async(guard, None, || true).await.unwrap();
    ///     assert!(ok);
    ///     let (_guard, ok) = cond
    ///         .wait_for_async(guard, Some(Duration::from_millis(5)), || false)
    ///         .await
    ///         .unwrap();
    ///     assert!(!ok); // timed out with the predicate still false
    /// });
    /// ```
    #[doc(alias = "wait_for")]
    #[cfg(not(loom))]
    pub async fn wait_for_async<'a>(
        &self,
        mut guard: L::AsyncGuard<'a>,
        timeout: Option<Duration>,
        mut predicate: impl FnMut() -> bool,
    ) -> LockResult<(L::AsyncGuard<'a>, bool)> {
        let deadline = Deadline::from_timeout(timeout);
        let mut died = false;
        loop {
            if predicate() {
                return wrap(guard, true, died);
            }
            if deadline.is_expired() {
                return wrap(guard, false, died);
            }
            match self.wait_inner_async(guard, deadline).await {
                Ok((g, _)) => guard = g,
                Err(e) => {
                    died = true;
                    guard = e.into_inner().0;
                }
            }
        }
    }

    /// Wakes up to `n` waiters. Python requires the lock to be held for this; here it is
    /// recommended (so the waiters see the change they are woken for) but not required.
    pub fn notify(&self, n: u32) {
        self.state().notify(n);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }
}

impl CondState {
    fn new() -> CondState {
        CondState {
            magic: CondState::MAGIC.into(),
            served: 0.into(),
            guard: RobustWord::new(),
            seq: [0.into(), 0.into()],
            unchosen: 0.into(),
            tokens: 0.into(),
            newer: 0.into(),
            _pad: 0,
            waiters: [const { OwnerCell::new() }; WAITERS],
        }
    }

    /// Joins the newer group of waiters; called while the caller still holds the condition's
    /// lock, so a notify that follows its check of the predicate cannot miss it.
    fn begin_wait(&self) -> (u32, Option<usize>) {
        let _g = self.lock();
        self.newer.fetch_add(1, Ordering::Relaxed);
        let group = self.served.load(Ordering::Relaxed).wrapping_add(1);
        (group, self.enter(group))
    }

    /// Sleeps (the condition's lock released) until this waiter of `group` is chosen (`true`)
    /// or `deadline` passes (`false`).
    fn sleep(&self, group: u32, slot: Option<usize>, deadline: Deadline) -> bool {
        let word = self.word(group);
        let mut look = false;
        loop {
            match self.step(group, slot, deadline, look) {
                Step::Done(notified) => return notified,
                Step::Sleep(seen) => {
                    let slice = deadline.remaining().map_or(SLICE, |r| r.min(SLICE));
                    // Nothing for a whole slice: maybe a wake-up went to a waiter that died.
                    look = !futex::wait(word, seen, Deadline::after(slice));
                }
            }
        }
    }

    /// One look of a waiter of `group` (`look`: for a dead waiter's wake-up too): done when
    /// chosen (`true`) or when `deadline` passed (`false`, and the waiter has left), else the
    /// value of the group's word to sleep on.
    fn step(&self, group: u32, slot: Option<usize>, deadline: Deadline, look: bool) -> Step {
        let state = self;
        let g = state.lock();
        if look {
            state.hand_on_from_dead(slot);
        }
        let served = state.served.load(Ordering::Relaxed);
        if group.wrapping_sub(served) > 1 {
            // The group was served in full: chosen.
            state.leave(slot);
            return Step::Done(true);
        }
        let in_served = group == served;
        if in_served && state.tokens.load(Ordering::Relaxed) > 0 {
            state.tokens.fetch_sub(1, Ordering::Relaxed);
            state.leave(slot);
            return Step::Done(true);
        }
        if deadline.is_expired() {
            state.leave(slot);
            if in_served {
                state.unchosen.fetch_sub(1, Ordering::Relaxed);
                if state.unchosen.load(Ordering::Relaxed) == 0 {
                    state.promote();
                }
            } else {
                state.newer.fetch_sub(1, Ordering::Relaxed);
            }
            return Step::Done(false);
        }
        let seen = state.word(group).load(Ordering::Relaxed);
        drop(g);
        Step::Sleep(seen)
    }

    /// A waiter of `group` that gives up (its future dropped) before it is done: leaves as if it
    /// had never waited, handing on a wake-up it may have been given.
    #[cfg(not(loom))]
    fn withdraw(&self, group: u32, slot: Option<usize>) {
        let _g = self.lock();
        self.leave(slot);
        self.retract(group);
    }

    /// Hands up to `n` wake-ups to the oldest waiters ([`Condition::notify`]).
    fn notify(&self, n: u32) {
        let _g = self.lock();
        self.notify_locked(n);
    }

    /// Hands up to `n` wake-ups to the oldest waiters. Called with the guard held.
    fn notify_locked(&self, n: u32) {
        let state = self;
        let mut left = n;
        while left > 0 {
            if state.unchosen.load(Ordering::Relaxed) == 0 {
                if state.newer.load(Ordering::Relaxed) == 0 {
                    break;
                }
                state.promote();
            }
            let unchosen = state.unchosen.load(Ordering::Relaxed);
            let k = left.min(unchosen);
            left -= k;
            state.unchosen.store(unchosen - k, Ordering::Relaxed);
            state.tokens.fetch_add(k, Ordering::Relaxed);
            let word = state.word(state.served.load(Ordering::Relaxed));
            word.fetch_add(1, Ordering::Relaxed);
            futex::wake(word, k);
            if unchosen == k {
                // All of the served group is chosen: let it go at once.
                state.promote();
            }
        }
    }

    /// Records the calling waiter in `group`; `None` if every record is taken.
    fn enter(&self, group: u32) -> Option<usize> {
        let slot = self.waiters.iter().position(|w| w.get().is_none())?;
        self.waiters[slot].set(owner::process(), group);
        Some(slot)
    }

    fn leave(&self, slot: Option<usize>) {
        if let Some(slot) = slot {
            self.waiters[slot].clear();
        }
    }

    /// Whether a wake-up is handed out and not taken yet: then a dead waiter may hold it.
    fn wake_up_outstanding(&self) -> bool {
        let served = self.served.load(Ordering::Relaxed);
        self.tokens.load(Ordering::Relaxed) > 0
            || self.waiters.iter().any(|w| {
                w.get()
                    .is_some_and(|(_, group)| group.wrapping_sub(served) > 1)
            })
    }

    /// Takes waiters that died inside `wait` out of the counts, and hands on any wake-up one
    /// of them was given, so a live waiter gets it. Called with the guard held, by a waiter
    /// (`me`) that slept a slice without news.
    fn hand_on_from_dead(&self, me: Option<usize>) {
        if !self.wake_up_outstanding() {
            return;
        }
        for (i, w) in self.waiters.iter().enumerate() {
            if Some(i) == me || !w.is_dead() {
                continue;
            }
            let Some((_, group)) = w.get() else { continue };
            w.clear();
            self.retract(group);
        }
    }

    /// Takes a dead waiter of `group` out of the counts. Called with the guard held.
    fn retract(&self, group: u32) {
        let served = self.served.load(Ordering::Relaxed);
        match group.wrapping_sub(served) {
            0 => {
                // Its group's waiters are counted as unchosen or holding a token, which are
                // alike to them: drop an unchosen place if any, else its token, and hand that on.
                let unchosen = self.unchosen.load(Ordering::Relaxed);
                if unchosen > 0 {
                    self.unchosen.store(unchosen - 1, Ordering::Relaxed);
                } else {
                    let tokens = self.tokens.load(Ordering::Relaxed);
                    self.tokens
                        .store(tokens.saturating_sub(1), Ordering::Relaxed);
                    self.notify_locked(1);
                }
            }
            1 => {
                let newer = self.newer.load(Ordering::Relaxed);
                self.newer.store(newer.saturating_sub(1), Ordering::Relaxed);
            }
            // Its group was released in full before it took its wake-up.
            _ => self.notify_locked(1),
        }
    }
}

/// What a waiter's look found.
enum Step {
    /// Done waiting: chosen (`true`) or timed out (`false`).
    Done(bool),
    /// Sleep while the group's word holds this value.
    Sleep(u32),
}

/// An async wait for a notification, [`CondState::sleep`] as a future: withdraws if dropped
/// before it is done.
#[cfg(not(loom))]
struct AsyncSleep<'a> {
    state: &'a CondState,
    group: u32,
    slot: Option<usize>,
    deadline: Deadline,
    done: bool,
    waiter: AsyncWaiter,
    /// When it last looked for a dead waiter's wake-up (it does so every [`SLICE`]).
    looked: Instant,
}

#[cfg(not(loom))]
impl AsyncSleep<'_> {
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<bool> {
        let word = self.state.word(self.group);
        loop {
            let look = self.looked.elapsed() >= SLICE;
            if look {
                self.looked = Instant::now();
            }
            match self.state.step(self.group, self.slot, self.deadline, look) {
                Step::Done(notified) => {
                    self.done = true;
                    return Poll::Ready(notified);
                }
                // Woken, a slice (the waiter thread wakes every future that often) or the
                // deadline: look again.
                Step::Sleep(seen) => {
                    std::task::ready!(self.waiter.poll_wait(word, seen, self.deadline, cx));
                }
            }
        }
    }
}

#[cfg(not(loom))]
impl Drop for AsyncSleep<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.waiter.cancel();
            self.state.withdraw(self.group, self.slot);
        }
    }
}

/// Hands a notification on to another waiter unless disarmed: a notified async wait dropped
/// while it reacquires the lock.
#[cfg(not(loom))]
struct PassOn<'a> {
    state: &'a CondState,
    armed: bool,
}

#[cfg(not(loom))]
impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.state.notify(1);
        }
    }
}

/// Whether a [`Condition::wait_timeout`] returned because its time ran out:
/// `std::sync::WaitTimeoutResult`, for a condition shared between processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult {
    timed_out: bool,
}

impl WaitTimeoutResult {
    /// `true` when the wait ended because the timeout passed, not by a notification.
    #[must_use]
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }
}

fn wrap<G>(guard: G, flag: bool, died: bool) -> LockResult<(G, bool)> {
    if died {
        Err(OwnerDied::new((guard, flag)))
    } else {
        Ok((guard, flag))
    }
}

/// Holds a condition's guard word.
struct StateGuard<'a>(&'a RobustWord);

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl CondState {
    fn lock(&self) -> StateGuard<'_> {
        // An owner that died inside the few instructions it holds this left the counts at
        // worst off by its own wait: carry on.
        let _ = self.guard.acquire(owner::thread(), Deadline::never());
        StateGuard(&self.guard)
    }

    fn word(&self, group: u32) -> &AtomicU32 {
        &self.seq[(group & 1) as usize]
    }

    /// Releases the served group (every waiter left in it holds a wake-up) and makes the
    /// newer group the served one. Called with the guard held.
    fn promote(&self) {
        let served = self.served.load(Ordering::Relaxed);
        let word = self.word(served);
        word.fetch_add(1, Ordering::Relaxed);
        futex::wake_all(word);
        self.served.store(served.wrapping_add(1), Ordering::Relaxed);
        self.unchosen
            .store(self.newer.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        self.tokens.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use crate::{Condition, Lock};

    /// Of two waiters, `notify(1)` wakes one and the other times out; neither that nor a
    /// notify with nobody waiting leaves a wake-up behind for a later waiter.
    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn no_wake_up_is_banked() {
        let cond = Arc::new(Condition::with_lock(Lock::new().unwrap()).unwrap());
        let registered = Arc::new(AtomicU64::new(0));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (cond, registered) = (cond.clone(), registered.clone());
                std::thread::spawn(move || {
                    let guard = cond.lock().unwrap();
                    registered.fetch_add(1, Ordering::Relaxed);
                    !cond
                        .wait_timeout(guard, Duration::from_millis(300))
                        .unwrap()
                        .1
                        .timed_out()
                })
            })
            .collect();
        // A waiter counts itself and starts waiting in one critical section.
        while registered.load(Ordering::Relaxed) < 2 {
            drop(cond.lock().unwrap());
            std::thread::yield_now();
        }
        drop(cond.lock().unwrap());
        cond.notify(1);
        let woken: Vec<bool> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(woken.iter().filter(|&&w| w).count(), 1, "{woken:?}");
        cond.notify(5);
        let guard = cond.lock().unwrap();
        let (_guard, result) = cond.wait_timeout(guard, Duration::from_millis(20)).unwrap();
        assert!(
            result.timed_out(),
            "no wake-up was banked for a later waiter"
        );
    }

    /// A producer hands items one by one to consumers, some waiting without a timeout and some
    /// timing out often; each item is announced by `notify(1)` alone, so a lost wake-up hangs.
    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn notify_one_per_item_loses_no_wake_up() {
        const ITEMS: u64 = 4000;
        let cond = Arc::new(Condition::with_lock(Lock::new().unwrap()).unwrap());
        let items = Arc::new(AtomicU64::new(0));
        let taken = Arc::new(AtomicU64::new(0));
        let consumers: Vec<_> = (0..4)
            .map(|i| {
                let (cond, items, taken) = (cond.clone(), items.clone(), taken.clone());
                std::thread::spawn(move || {
                    let mut guard = cond.lock().unwrap();
                    loop {
                        if taken.load(Ordering::Relaxed) == ITEMS {
                            return;
                        }
                        if items.load(Ordering::Relaxed) > 0 {
                            items.fetch_sub(1, Ordering::Relaxed);
                            if taken.fetch_add(1, Ordering::Relaxed) + 1 == ITEMS {
                                cond.notify_all();
                            }
                            continue;
                        }
                        guard = if i % 2 == 0 {
                            cond.wait(guard).unwrap()
                        } else {
                            cond.wait_timeout(guard, Duration::from_micros(50))
                                .unwrap()
                                .0
                        };
                    }
                })
            })
            .collect();
        for _ in 0..ITEMS {
            let _g = cond.lock().unwrap();
            items.fetch_add(1, Ordering::Relaxed);
            cond.notify(1);
        }
        for c in consumers {
            c.join().unwrap();
        }
        assert_eq!(taken.load(Ordering::Relaxed), ITEMS);
    }
}

/// Loom models of the waiter protocol (`cargo xtask verify`): the real [`CondState`] over
/// loom's atomics and futex model, with a [`RobustWord`] standing for the user's lock. A lost
/// wake-up is a deadlock, which loom reports.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::atomic::Ordering;

    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU32;
    use multiprocessing_core::owner::Owner;

    use super::CondState;
    use crate::robust::{Acquired, RobustWord};
    use multiprocessing_core::time::Deadline;

    /// The condition and the user's lock, and the items the predicate counts.
    struct Model {
        cond: CondState,
        lock: RobustWord,
        items: AtomicU32,
    }

    fn me(id: u32) -> Owner {
        Owner { id, start: 1 }
    }

    impl Model {
        fn new() -> Arc<Model> {
            Arc::new(Model {
                cond: CondState::new(),
                lock: RobustWord::new(),
                items: AtomicU32::new(0),
            })
        }

        fn lock(&self, id: u32) {
            assert_eq!(
                self.lock.acquire(me(id), Deadline::never()),
                Acquired::Clean
            );
        }

        /// `with cond: while not items: cond.wait(); items -= 1`
        fn consume(&self, id: u32) {
            self.lock(id);
            while self.items.load(Ordering::Relaxed) == 0 {
                let (group, slot) = self.cond.begin_wait();
                self.lock.release();
                assert!(self.cond.sleep(group, slot, Deadline::never()));
                self.lock(id);
            }
            let n = self.items.load(Ordering::Relaxed);
            self.items.store(n - 1, Ordering::Relaxed);
            self.lock.release();
        }

        /// `with cond: items += 1; cond.notify(1)`
        fn produce(&self, id: u32) {
            self.lock(id);
            let n = self.items.load(Ordering::Relaxed);
            self.items.store(n + 1, Ordering::Relaxed);
            self.cond.notify(1);
            self.lock.release();
        }
    }

    /// One waiter, one notify: the waiter always wakes, whichever runs first.
    #[test]
    fn loom_condition_one_waiter_is_woken() {
        multiprocessing_core::futex::loom_model(|| {
            let m = Model::new();
            let t = {
                let m = m.clone();
                loom::thread::spawn(move || m.consume(2))
            };
            m.produce(1);
            t.join().unwrap();
            assert_eq!(m.items.load(Ordering::Relaxed), 0);
        });
    }

    /// Two consumers, two items each announced by `notify(1)` alone: a wake-up that goes
    /// astray (to a waiter that came later, or banked for nobody) hangs a consumer.
    #[test]
    fn loom_condition_notify_one_per_item_loses_no_wake_up() {
        multiprocessing_core::futex::loom_model(|| {
            let m = Model::new();
            let consumers: Vec<_> = (2..4)
                .map(|id| {
                    let m = m.clone();
                    loom::thread::spawn(move || m.consume(id))
                })
                .collect();
            m.produce(1);
            m.produce(1);
            for t in consumers {
                t.join().unwrap();
            }
            assert_eq!(m.items.load(Ordering::Relaxed), 0);
        });
    }
}
