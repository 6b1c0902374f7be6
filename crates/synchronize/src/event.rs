//! [`Event`]: a flag processes can wait for, Python's `multiprocessing.Event`.
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_synchronize::Event;
//! let event = Event::new().unwrap();
//! assert!(event.wait_timeout(Duration::from_millis(5)).is_err());
//! event.set();
//! assert!(event.is_set());
//! event.wait();
//! event.clear();
//! assert!(!event.is_set());
//! ```
//!
//! From async code, [`Event::wait_async`] and [`Event::wait_async_timeout`] are the waits as
//! futures, on any executor: no thread per waiting future (the futures waiting on one event
//! share one thread of `multiprocessing_core::futex_async`, which sleeps on the flag).
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_synchronize::Event;
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! rt.block_on(async {
//!     let event = Event::new().unwrap();
//!     assert!(event.wait_async_timeout(Duration::from_millis(5)).await.is_err());
//!     let waiter = tokio::spawn({
//!         let event = event.clone();
//!         async move { event.wait_async().await }
//!     });
//!     event.set(); // from any thread or process
//!     waiter.await.unwrap();
//! });
//! ```

use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Poll;
use std::time::Duration;

use multiprocessing_core::backoff::Backoff;
use multiprocessing_core::time::TimedOut;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::shared::{Shared, SharedState};
use multiprocessing_core::futex;
use multiprocessing_core::futex_async::AsyncWaiter;
use multiprocessing_core::time::Deadline;

const CLEAR: u32 = 0;
const SET: u32 = 1;
/// Clear, and someone sleeps on the flag.
const CLEAR_WAITING: u32 = 2;

/// How long a waiter spins before it sleeps, when spinning can help (see [`Event::wait_until`]).
const SPIN: Duration = Duration::from_micros(20);

/// `last_setter_cpu` before any `set`.
const NO_CPU: u32 = u32::MAX;

#[repr(C)]
pub(crate) struct EventState {
    magic: AtomicU32,
    flag: AtomicU32,
    /// The CPU the last `set` ran on: a hint for waiters, never needed for correctness.
    last_setter_cpu: AtomicU32,
}

// SAFETY: repr(C), magic first, atomics only.
unsafe impl SharedState for EventState {
    const MAGIC: u32 = 0x4556_4e54; // "EVNT"
    const NAME: &'static str = "Event";
}

/// A flag shared between processes: `set` wakes everyone waiting for it.
#[derive(Clone, Serialize, Deserialize)]
pub struct Event {
    shared: Shared<EventState>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

impl Event {
    /// Makes a new, clear event.
    pub fn new() -> Result<Event> {
        Ok(Event {
            shared: Shared::new(EventState {
                magic: EventState::MAGIC.into(),
                flag: CLEAR.into(),
                last_setter_cpu: NO_CPU.into(),
            })?,
        })
    }

    fn flag(&self) -> &AtomicU32 {
        &self.shared.get().flag
    }

    /// Whether the flag is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.flag().load(Ordering::Acquire) == SET
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let state = self.shared.get();
        let cpu = rustix::thread::sched_getcpu() as u32;
        if state.last_setter_cpu.load(Ordering::Relaxed) != cpu {
            state.last_setter_cpu.store(cpu, Ordering::Relaxed);
        }
        if self.flag().swap(SET, Ordering::Release) == CLEAR_WAITING {
            futex::wake_all(self.flag());
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        let _ = self
            .flag()
            .compare_exchange(SET, CLEAR, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Spins for up to [`SPIN`] while the flag is clear, when the last setter ran on another
    /// CPU: a peer answering from there is seen in well under a microsecond, where sleeping and
    /// being woken across CPUs costs tens of microseconds on a virtual machine. On the setter's
    /// own CPU spinning could only delay the setter, so the waiter sleeps at once. The spin
    /// itself is the workspace's one policy, [`Backoff::spin_until`].
    fn spin(&self, deadline: &Deadline) -> bool {
        let setter = self.shared.get().last_setter_cpu.load(Ordering::Relaxed);
        if setter == NO_CPU || setter == rustix::thread::sched_getcpu() as u32 {
            return false;
        }
        let flag = self.flag();
        Backoff::spin_until(SPIN, *deadline, || flag.load(Ordering::Acquire) == SET)
    }

    /// How long an async waiter spins (by re-polling) before it sleeps: as [`spin`](Self::spin)
    /// decides for a blocking one.
    fn spin_budget(&self) -> Duration {
        let setter = self.shared.get().last_setter_cpu.load(Ordering::Relaxed);
        if setter == NO_CPU || setter == rustix::thread::sched_getcpu() as u32 {
            Duration::ZERO
        } else {
            SPIN
        }
    }

    fn wait_until(&self, deadline: Deadline) -> bool {
        let flag = self.flag();
        if self.spin(&deadline) {
            return true;
        }
        loop {
            let f = flag.load(Ordering::Acquire);
            if f == SET {
                return true;
            }
            if deadline.is_expired() {
                return false;
            }
            if f == CLEAR
                && flag
                    .compare_exchange(CLEAR, CLEAR_WAITING, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            futex::wait(flag, CLEAR_WAITING, deadline);
        }
    }

    /// Blocks until the flag is set.
    pub fn wait(&self) {
        self.wait_until(Deadline::never());
    }

    /// Blocks until the flag is set or `timeout` passes (Python's `wait(timeout)`, whose
    /// `False` is `Err(TimedOut)` here: the workspace's timed shape).
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> std::result::Result<(), TimedOut> {
        if self.wait_until(Deadline::after(timeout)) {
            Ok(())
        } else {
            Err(TimedOut)
        }
    }

    /// [`wait`](Self::wait) as a future: ready once the flag is set. It never blocks its
    /// executor's thread; the futures waiting on one event share one waiter thread (see
    /// [`multiprocessing_core::futex_async`]). Dropping it mid-way changes nothing.
    #[doc(alias = "wait")]
    pub async fn wait_async(&self) {
        let _ = self.wait_async_until(Deadline::never()).await;
    }

    /// [`wait_timeout`](Self::wait_timeout) as a future: `Err(TimedOut)` when `timeout`
    /// passes first (the deadline is kept by the waiter thread, so no runtime timer is needed;
    /// tokio's `timeout` around [`wait_async`](Self::wait_async) works as well).
    pub async fn wait_async_timeout(&self, timeout: Duration) -> std::result::Result<(), TimedOut> {
        if self.wait_async_until(Deadline::after(timeout)).await {
            Ok(())
        } else {
            Err(TimedOut)
        }
    }

    async fn wait_async_until(&self, deadline: Deadline) -> bool {
        let flag = self.flag();
        let mut waiter = AsyncWaiter::new();
        poll_fn(|cx| {
            loop {
                let f = flag.load(Ordering::Acquire);
                if f == SET {
                    return Poll::Ready(true);
                }
                if deadline.is_expired() {
                    return Poll::Ready(false);
                }
                if f == CLEAR
                    && flag
                        .compare_exchange(
                            CLEAR,
                            CLEAR_WAITING,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_err()
                {
                    continue;
                }
                std::task::ready!(waiter.poll_wait_spinning(
                    flag,
                    CLEAR_WAITING,
                    deadline,
                    self.spin_budget(),
                    cx
                ));
            }
        })
        .await
    }
}
