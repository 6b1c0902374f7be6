//! [`Semaphore`] and [`BoundedSemaphore`], Python's `multiprocessing.Semaphore` and
//! `BoundedSemaphore`: counters that block at zero, shared between processes.
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_synchronize::{BoundedSemaphore, Semaphore};
//! let sem = Semaphore::new(2).unwrap();
//! let a = sem.acquire_guard();
//! assert!(sem.try_acquire());
//! assert_eq!(sem.get_value(), 0);
//! assert!(sem.acquire_timeout(Duration::from_millis(10)).is_err());
//! drop(a);
//! assert_eq!(sem.get_value(), 1);
//!
//! let bounded = BoundedSemaphore::new(1).unwrap(); // or Semaphore::bounded(1)
//! assert!(bounded.release().is_err()); // above its initial value
//! ```

use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Poll;
use std::time::Duration;

use multiprocessing_core::time::TimedOut;

use serde::{Deserialize, Serialize};

use crate::shared::{Shared, SharedState};
use crate::{Error, Result};
use multiprocessing_core::futex;
use multiprocessing_core::futex_async::AsyncWaiter;
use multiprocessing_core::time::Deadline;

/// The largest value a semaphore may hold, as CPython's `SEM_VALUE_MAX` on Linux.
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

#[repr(C)]
pub(crate) struct SemState {
    magic: AtomicU32,
    value: AtomicU32,
    waiters: AtomicU32,
    max: AtomicU32,
}

// SAFETY: repr(C), magic first, atomics only.
unsafe impl SharedState for SemState {
    const MAGIC: u32 = 0x5345_4d41; // "SEMA"
    const NAME: &'static str = "Semaphore";
}

/// A counting semaphore shared between processes, Python's `multiprocessing.Semaphore`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Semaphore {
    shared: Shared<SemState>,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.get_value())
            .finish()
    }
}

/// Holds one unit of a semaphore; dropping it releases the unit.
#[must_use = "the unit is released as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    state: &'a SemState,
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphoreGuard")
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // The unit was taken by this guard, so giving it back cannot exceed the bound.
        let _ = release(self.state, u32::MAX);
    }
}

fn new_state(value: u32, max: u32) -> Result<Shared<SemState>> {
    if value > SEM_VALUE_MAX {
        return Err(Error::InvalidArgument(format!(
            "semaphore value {value} is above SEM_VALUE_MAX ({SEM_VALUE_MAX})"
        )));
    }
    Shared::new(SemState {
        magic: SemState::MAGIC.into(),
        value: value.into(),
        waiters: 0.into(),
        max: max.into(),
    })
}

fn try_take(state: &SemState) -> bool {
    let mut v = state.value.load(Ordering::Relaxed);
    while v > 0 {
        match state
            .value
            .compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => return true,
            Err(now) => v = now,
        }
    }
    false
}

fn take(state: &SemState, deadline: Deadline) -> bool {
    loop {
        if try_take(state) {
            return true;
        }
        if deadline.is_expired() {
            return false;
        }
        state.waiters.fetch_add(1, Ordering::SeqCst);
        if state.value.load(Ordering::SeqCst) == 0 {
            futex::wait(&state.value, 0, deadline);
        }
        state.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// [`take`] as a future: counted in `waiters` while it waits (a release wakes one sleeper,
/// here the waiter thread of `futex_async`), and passing that wake-up on if dropped waiting.
async fn take_async(state: &SemState, deadline: Deadline) -> bool {
    struct Waiting<'a> {
        state: &'a SemState,
        waiter: AsyncWaiter,
        counted: bool,
    }
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            if self.counted {
                self.waiter.cancel();
                self.state.waiters.fetch_sub(1, Ordering::SeqCst);
                futex::wake(&self.state.value, 1);
            }
        }
    }
    if try_take(state) {
        return true;
    }
    let mut w = Waiting {
        state,
        waiter: AsyncWaiter::new(),
        counted: false,
    };
    poll_fn(|cx| {
        loop {
            if try_take(w.state) {
                if w.counted {
                    w.counted = false;
                    w.state.waiters.fetch_sub(1, Ordering::SeqCst);
                }
                return Poll::Ready(true);
            }
            if deadline.is_expired() {
                return Poll::Ready(false);
            }
            if !w.counted {
                w.counted = true;
                w.state.waiters.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            std::task::ready!(w.waiter.poll_wait(&w.state.value, 0, deadline, cx));
        }
    })
    .await
}

/// Adds one unless that passes `bound`.
fn release(state: &SemState, bound: u32) -> Result<()> {
    let bound = bound.min(SEM_VALUE_MAX);
    let mut v = state.value.load(Ordering::Relaxed);
    loop {
        if v >= bound {
            return Err(Error::TooManyReleases);
        }
        match state
            .value
            .compare_exchange_weak(v, v + 1, Ordering::SeqCst, Ordering::Relaxed)
        {
            Ok(_) => break,
            Err(now) => v = now,
        }
    }
    if state.waiters.load(Ordering::SeqCst) > 0 {
        futex::wake(&state.value, 1);
    }
    Ok(())
}

impl Semaphore {
    /// Makes a semaphore holding `value` units (at most [`SEM_VALUE_MAX`]).
    pub fn new(value: u32) -> Result<Semaphore> {
        Ok(Semaphore {
            shared: new_state(value, SEM_VALUE_MAX)?,
        })
    }

    /// Makes a semaphore holding `value` units that refuses to be released above `value`
    /// ([`Error::TooManyReleases`]), Python's `BoundedSemaphore(value)`; the
    /// [`BoundedSemaphore`] type names the same thing.
    #[doc(alias = "BoundedSemaphore")]
    pub fn bounded(value: u32) -> Result<Semaphore> {
        Ok(Semaphore {
            shared: new_state(value, value)?,
        })
    }

    /// Whether [`release`](Self::release) refuses to go above the initial value (made by
    /// [`bounded`](Self::bounded)).
    #[must_use]
    pub fn is_bounded(&self) -> bool {
        self.state().max.load(Ordering::Relaxed) < SEM_VALUE_MAX
    }

    fn state(&self) -> &SemState {
        self.shared.get()
    }

    /// Blocks until a unit is available and takes it; dropping the guard gives it back
    /// (Python's `with sem:`).
    #[doc(alias = "__enter__")]
    pub fn acquire_guard(&self) -> SemaphoreGuard<'_> {
        take(self.state(), Deadline::never());
        SemaphoreGuard {
            state: self.state(),
        }
    }

    /// Takes a unit if one is available now.
    #[must_use]
    pub fn try_acquire(&self) -> bool {
        try_take(self.state())
    }

    /// Takes a unit, waiting at most `timeout` (Python's `acquire(timeout=t)`); the caller
    /// gives it back with [`release`](Self::release). Expiry is `Err(TimedOut)`, the
    /// workspace's timed shape.
    pub fn acquire_timeout(&self, timeout: Duration) -> std::result::Result<(), TimedOut> {
        if take(self.state(), Deadline::after(timeout)) {
            Ok(())
        } else {
            Err(TimedOut)
        }
    }

    /// [`acquire_guard`](Self::acquire_guard) as a future, for async code: never blocks its
    /// executor's thread (the futures waiting on one semaphore share one waiter thread).
    /// Dropped before it is ready, it took nothing and passes on any wake-up it was given.
    ///
    /// ```
    /// use multiprocessing_synchronize::Semaphore;
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let sem = Semaphore::new(1).unwrap();
    /// rt.block_on(async {
    ///     let unit = sem.acquire_guard_async().await;
    ///     assert_eq!(sem.get_value(), 0);
    ///     drop(unit);
    /// });
    /// assert_eq!(sem.get_value(), 1);
    /// ```
    #[doc(alias = "__enter__")]
    pub async fn acquire_guard_async(&self) -> SemaphoreGuard<'_> {
        take_async(self.state(), Deadline::never()).await;
        SemaphoreGuard {
            state: self.state(),
        }
    }

    /// [`acquire_timeout`](Self::acquire_timeout) as a future: takes a unit the caller gives
    /// back with [`release`](Self::release), or `Err(TimedOut)` once `timeout` passes.
    #[doc(alias = "acquire")]
    pub async fn acquire_async_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<(), TimedOut> {
        if take_async(self.state(), Deadline::after(timeout)).await {
            Ok(())
        } else {
            Err(TimedOut)
        }
    }

    /// Python's `acquire(block=True, timeout=None)`: whether a unit was taken.
    pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> bool {
        if block {
            take(self.state(), Deadline::from_timeout(timeout))
        } else {
            try_take(self.state())
        }
    }

    /// Gives back a unit, waking one waiter; an error only past [`SEM_VALUE_MAX`] (or, for a
    /// bounded semaphore, past its initial value).
    pub fn release(&self) -> Result<()> {
        release(self.state(), self.state().max.load(Ordering::Relaxed))
    }

    /// The current number of units, Python's `get_value()`.
    #[must_use]
    pub fn get_value(&self) -> u32 {
        self.state().value.load(Ordering::Relaxed)
    }
}

/// A semaphore that refuses to be released above its initial value,
/// Python's `multiprocessing.BoundedSemaphore`: a [`Semaphore`] made by
/// [`Semaphore::bounded`], under the name Python users look for.
///
/// It derefs to the [`Semaphore`] it is (one shared core, no re-delegated methods), and
/// converts into one with `Semaphore::from`.
///
/// ```
/// use multiprocessing_synchronize::{BoundedSemaphore, Error, Semaphore};
/// let sem = BoundedSemaphore::new(1).unwrap();
/// assert!(sem.try_acquire());
/// sem.release().unwrap();
/// assert!(matches!(sem.release(), Err(Error::TooManyReleases)));
/// let plain: Semaphore = sem.into();
/// assert!(plain.is_bounded());
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BoundedSemaphore(Semaphore);

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.get_value())
            .finish()
    }
}

impl BoundedSemaphore {
    /// Makes a bounded semaphore holding (and bounded by) `value` units:
    /// [`Semaphore::bounded`].
    pub fn new(value: u32) -> Result<BoundedSemaphore> {
        Semaphore::bounded(value).map(BoundedSemaphore)
    }
}

impl std::ops::Deref for BoundedSemaphore {
    type Target = Semaphore;

    fn deref(&self) -> &Semaphore {
        &self.0
    }
}

impl From<BoundedSemaphore> for Semaphore {
    fn from(b: BoundedSemaphore) -> Semaphore {
        b.0
    }
}
