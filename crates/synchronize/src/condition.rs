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
//! let (guard, notified) = cond.wait_timeout(guard, Duration::from_millis(5)).unwrap();
//! assert!(!notified);
//! let (_guard, ok) = cond.wait_for(guard, Some(Duration::from_millis(5)), || true).unwrap();
//! assert!(ok);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::futex::{self, Deadline};
use crate::lock::LockGuard;
use crate::rlock::RLockGuard;
use crate::robust::Acquired;
use crate::shared::{Shared, SharedState};
use crate::{Lock, LockResult, OwnerDied, RLock, Result};

#[repr(C)]
pub(crate) struct CondState {
    magic: AtomicU32,
    /// Bumped by every notify: the futex word waiters sleep on.
    seq: AtomicU32,
    /// Waiters not yet chosen by a notify.
    waiters: AtomicU32,
    /// Wake-ups handed out by notifies and not yet taken.
    tokens: AtomicU32,
}

// SAFETY: repr(C), magic first, atomics only.
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
    fn release_guard(&self, guard: Self::Guard<'_>) -> u32;
    #[doc(hidden)]
    fn reacquire(&self, saved: u32) -> LockResult<Self::Guard<'_>>;
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
    fn release_guard(&self, guard: LockGuard<'_>) -> u32 {
        std::mem::forget(guard);
        self.release_for_wait()
    }
    fn reacquire(&self, _saved: u32) -> LockResult<LockGuard<'_>> {
        self.lock()
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
    fn release_guard(&self, guard: RLockGuard<'_>) -> u32 {
        std::mem::forget(guard);
        self.release_for_wait()
    }
    fn reacquire(&self, saved: u32) -> LockResult<RLockGuard<'_>> {
        // The depth is restored below the guard we hand back: the caller's outer guards
        // still hold their levels.
        let how = self.reacquire_after_wait(saved);
        let guard = self.guard();
        match how {
            Acquired::OwnerDied => Err(OwnerDied::new(guard)),
            _ => Ok(guard),
        }
    }
}

/// A condition variable shared between processes.
///
/// `notify(n)` wakes exactly `min(n, waiting)` of the waiters that started waiting before it;
/// `notify_all` wakes them all.
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
            shared: Shared::new(CondState {
                magic: CondState::MAGIC.into(),
                seq: 0.into(),
                waiters: 0.into(),
                tokens: 0.into(),
            })?,
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
        state.waiters.fetch_add(1, Ordering::SeqCst);
        let seq = state.seq.load(Ordering::SeqCst);
        let saved = lock.release_guard(guard);
        let mut seq = seq;
        let notified = loop {
            if take_token(state) {
                break true;
            }
            let remaining = deadline.remaining();
            if remaining == Some(Duration::ZERO) {
                // Leave as a waiter if still counted as one, else a notify chose us.
                if leave(state) {
                    break false;
                }
                continue;
            }
            futex::wait(&state.seq, seq, remaining);
            seq = state.seq.load(Ordering::SeqCst);
        };
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

    /// Like [`wait`](Self::wait) for at most `timeout`; the flag is `false` on timeout
    /// (Python's `wait(timeout)` return value).
    pub fn wait_timeout<'a>(
        &self,
        guard: L::Guard<'a>,
        timeout: Duration,
    ) -> LockResult<(L::Guard<'a>, bool)> {
        self.wait_inner(guard, Deadline::after(Some(timeout)))
    }

    /// Waits until `predicate` returns `true` (checked under the lock, first before waiting),
    /// or `timeout` passes; the flag is the predicate's last value, Python's `wait_for`.
    pub fn wait_for<'a>(
        &self,
        mut guard: L::Guard<'a>,
        timeout: Option<Duration>,
        mut predicate: impl FnMut() -> bool,
    ) -> LockResult<(L::Guard<'a>, bool)> {
        let deadline = Deadline::after(timeout);
        let mut died = false;
        loop {
            if predicate() {
                return wrap(guard, true, died);
            }
            if deadline.expired() {
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

    /// Wakes up to `n` waiters. Python requires the lock to be held for this; here it is
    /// recommended (so the waiters see the change they are woken for) but not required.
    pub fn notify(&self, n: u32) {
        let state = self.state();
        let mut waiting = state.waiters.load(Ordering::SeqCst);
        let chosen = loop {
            let k = waiting.min(n);
            if k == 0 {
                return;
            }
            match state.waiters.compare_exchange_weak(
                waiting,
                waiting - k,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break k,
                Err(now) => waiting = now,
            }
        };
        state.tokens.fetch_add(chosen, Ordering::SeqCst);
        state.seq.fetch_add(1, Ordering::SeqCst);
        futex::wake(&state.seq, chosen);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }
}

fn wrap<G>(guard: G, flag: bool, died: bool) -> LockResult<(G, bool)> {
    if died {
        Err(OwnerDied::new((guard, flag)))
    } else {
        Ok((guard, flag))
    }
}

fn take_token(state: &CondState) -> bool {
    let mut t = state.tokens.load(Ordering::SeqCst);
    while t > 0 {
        match state
            .tokens
            .compare_exchange_weak(t, t - 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => return true,
            Err(now) => t = now,
        }
    }
    false
}

/// Stops waiting: succeeds if no notify has chosen this waiter yet.
fn leave(state: &CondState) -> bool {
    let mut w = state.waiters.load(Ordering::SeqCst);
    while w > 0 {
        match state
            .waiters
            .compare_exchange_weak(w, w - 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => return true,
            Err(now) => w = now,
        }
    }
    false
}
