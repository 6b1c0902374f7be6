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
//! assert!(event.wait_timeout(Duration::from_millis(1)).is_err());
//! ```

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::thread::futex;

pub(crate) use multiprocessing_core::time::Deadline;

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
