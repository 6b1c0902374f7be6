//! Blocking on a word of shared memory: thin wrappers over `futex(2)` with deadlines.
//!
//! The futexes are shared (not `FUTEX_PRIVATE`), so waiters in different processes that map
//! the same memory meet on the same word.
//!
//! Every primitive of this crate blocks here; an `Event` is the thinnest example:
//!
//! ```
//! use std::time::Duration;
//! let event = multiprocessing_synchronize::Event::new().unwrap();
//! // Sleeps on the event's futex word until the timeout.
//! assert!(!event.wait_timeout(Duration::from_millis(1)));
//! ```

use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use rustix::thread::futex;

/// When a blocking call gives up, `None` for never.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        Deadline(timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future)))
    }

    pub(crate) fn never() -> Deadline {
        Deadline(None)
    }

    /// Time left: `None` for unbounded, `Some(ZERO)` when expired.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub(crate) fn expired(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(60 * 60 * 24 * 365 * 100)
}

/// Sleeps while `word == expected`, for at most `timeout`. Returns `false` on timeout.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    let ts = timeout.map(|t| futex::Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    !matches!(
        futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()),
        Err(rustix::io::Errno::TIMEDOUT)
    )
}

/// Wakes up to `n` waiters.
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    let _ = futex::wake(word, futex::Flags::empty(), n);
}

/// Wakes every waiter.
pub(crate) fn wake_all(word: &AtomicU32) {
    wake(word, i32::MAX as u32);
}
