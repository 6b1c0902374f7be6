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

/// Runs a loom model with the preemption bound `LOOM_MAX_PREEMPTIONS` (3 when unset: the
/// waits loop, so an unbounded search never ends).
#[cfg(all(test, loom))]
pub(crate) fn loom_model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(f);
}

/// The futex under `loom`, exact: each word has a queue of sleepers, `wake(n)` wakes the
/// first `n` of that word's queue and no one else. The value check and the enqueueing are
/// atomic with respect to a wake, as in the kernel. A timeout never fires: a wake-up that is
/// lost shows as a deadlock, which loom reports.
#[cfg(loom)]
mod model {
    use std::collections::{HashMap, HashSet, VecDeque};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use loom::sync::atomic::AtomicU32;
    use loom::sync::{Condvar, Mutex};

    #[derive(Default)]
    struct Table {
        next: u64,
        queues: HashMap<usize, VecDeque<u64>>,
        woken: HashSet<u64>,
    }

    loom::lazy_static! {
        static ref FUTEX: (Mutex<Table>, Condvar) = (Mutex::new(Table::default()), Condvar::new());
    }

    impl super::Word for AtomicU32 {
        fn futex_wait(&self, expected: u32, _timeout: Option<Duration>) -> bool {
            let mut table = FUTEX.0.lock().unwrap();
            if self.load(Ordering::SeqCst) != expected {
                return true;
            }
            let ticket = table.next;
            table.next += 1;
            let addr = std::ptr::from_ref(self) as usize;
            table.queues.entry(addr).or_default().push_back(ticket);
            while !table.woken.remove(&ticket) {
                table = FUTEX.1.wait(table).unwrap();
            }
            true
        }

        fn futex_wake(&self, n: u32) {
            let mut table = FUTEX.0.lock().unwrap();
            let addr = std::ptr::from_ref(self) as usize;
            let mut woken = Vec::new();
            if let Some(queue) = table.queues.get_mut(&addr) {
                for _ in 0..n {
                    match queue.pop_front() {
                        Some(ticket) => woken.push(ticket),
                        None => break,
                    }
                }
            }
            if !woken.is_empty() {
                table.woken.extend(woken);
                FUTEX.1.notify_all();
            }
        }
    }
}
