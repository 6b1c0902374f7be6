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
use std::time::Duration;

use rustix::thread::futex;

pub(crate) use multiprocessing_core::time::Deadline;

/// A 32-bit word threads and processes can sleep on: the atomic itself, or (under `--cfg
/// loom`) loom's atomic with a model of the futex, so the loom tests run the real protocols.
pub(crate) trait Word {
    /// Sleeps while the word equals `expected`, for at most `timeout`; `false` on timeout.
    fn futex_wait(&self, expected: u32, timeout: Option<Duration>) -> bool;
    /// Wakes up to `n` sleepers.
    fn futex_wake(&self, n: u32);
}

impl Word for AtomicU32 {
    fn futex_wait(&self, expected: u32, timeout: Option<Duration>) -> bool {
        let ts = timeout.map(|t| futex::Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        !matches!(
            futex::wait(self, futex::Flags::empty(), expected, ts.as_ref()),
            Err(rustix::io::Errno::TIMEDOUT)
        )
    }

    fn futex_wake(&self, n: u32) {
        let _ = futex::wake(self, futex::Flags::empty(), n);
    }
}

/// Sleeps while `word == expected`, for at most `timeout`. Returns `false` on timeout.
pub(crate) fn wait<W: Word + ?Sized>(word: &W, expected: u32, timeout: Option<Duration>) -> bool {
    word.futex_wait(expected, timeout)
}

/// Wakes up to `n` waiters.
pub(crate) fn wake<W: Word + ?Sized>(word: &W, n: u32) {
    word.futex_wake(n);
}

/// Wakes every waiter.
pub(crate) fn wake_all<W: Word + ?Sized>(word: &W) {
    wake(word, i32::MAX as u32);
}

/// The futex under `loom`: one mutex and condition variable for every word (a wake may wake
/// sleepers of other words too, which a futex's callers must tolerate as spurious wake-ups).
/// The value check and the sleep are atomic with respect to a wake, as in the kernel. A
/// timeout never fires: a lost wake-up shows as a deadlock, which loom reports.
#[cfg(loom)]
mod model {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use loom::sync::atomic::AtomicU32;
    use loom::sync::{Condvar, Mutex};

    loom::lazy_static! {
        static ref FUTEX: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
    }

    impl super::Word for AtomicU32 {
        fn futex_wait(&self, expected: u32, _timeout: Option<Duration>) -> bool {
            let guard = FUTEX.0.lock().unwrap();
            if self.load(Ordering::SeqCst) == expected {
                drop(FUTEX.1.wait(guard).unwrap());
            }
            true
        }

        fn futex_wake(&self, _n: u32) {
            let _guard = FUTEX.0.lock().unwrap();
            FUTEX.1.notify_all();
        }
    }
}
