//! [`Event`]: a flag processes can wait for, Python's `multiprocessing.Event`.
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_synchronize::Event;
//! let event = Event::new().unwrap();
//! assert!(!event.wait_timeout(Duration::from_millis(5)));
//! event.set();
//! assert!(event.is_set());
//! event.wait();
//! event.clear();
//! assert!(!event.is_set());
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::futex::{self, Deadline};
use crate::shared::{Shared, SharedState};

const CLEAR: u32 = 0;
const SET: u32 = 1;
/// Clear, and someone sleeps on the flag.
const CLEAR_WAITING: u32 = 2;

#[repr(C)]
pub(crate) struct EventState {
    magic: AtomicU32,
    flag: AtomicU32,
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

    fn wait_until(&self, deadline: Deadline) -> bool {
        let flag = self.flag();
        loop {
            let f = flag.load(Ordering::Acquire);
            if f == SET {
                return true;
            }
            let remaining = deadline.remaining();
            if remaining == Some(Duration::ZERO) {
                return false;
            }
            if f == CLEAR
                && flag
                    .compare_exchange(CLEAR, CLEAR_WAITING, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            futex::wait(flag, CLEAR_WAITING, remaining);
        }
    }

    /// Blocks until the flag is set.
    pub fn wait(&self) {
        self.wait_until(Deadline::never());
    }

    /// Blocks until the flag is set or `timeout` passes; returns the flag, as Python's
    /// `wait(timeout)` does.
    #[must_use]
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after(Some(timeout)))
    }
}
