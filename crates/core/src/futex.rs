//! Sleeping on a word of shared memory: `futex(2)` wait and wake, with a [`Deadline`].
//!
//! A futex is the kernel's "sleep while this 32-bit word holds this value": a waiter checks the
//! word and sleeps in one atomic step, so a waker that changes the word and then calls
//! [`wake`] is never missed. The futexes here are shared (not `FUTEX_PRIVATE`), so waiters in
//! different processes that map the same memory meet on the same word: every lock, semaphore,
//! condition, event and barrier of the workspace blocks here.
//!
//! [`wait`] returns `false` only when the deadline passed. It may also return `true` without a
//! wake-up meant for the caller (the word had already changed, or another waiter's wake-up), so a
//! caller re-checks its word in a loop; a signal that interrupts the sleep is retried with the
//! time left, never reported.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use multiprocessing_core::futex;
//! use multiprocessing_core::time::Deadline;
//!
//! let flag = AtomicU32::new(0);
//! // Nobody sets the flag: the sleep ends at the deadline.
//! assert!(!futex::wait(&flag, 0, Deadline::after(Duration::from_millis(1))));
//!
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         flag.store(1, Ordering::Release);
//!         futex::wake_all(&flag);
//!     });
//!     // Sleep while the flag is 0; the loop absorbs early returns.
//!     while flag.load(Ordering::Acquire) == 0 {
//!         futex::wait(&flag, 0, Deadline::never());
//!     }
//! });
//! ```
//!
//! Under `--cfg loom` the trait [`Word`] is also implemented for loom's `AtomicU32` by an exact
//! model of the futex (each word a queue of sleepers, `wake(n)` waking the first `n`), so loom
//! explores the real wait/wake protocols built on it; `loom_model` (only under `--cfg loom`)
//! runs such a model.

use std::sync::atomic::AtomicU32;

use rustix::thread::futex;

use crate::time::Deadline;

/// A 32-bit word threads and processes can sleep on: std's `AtomicU32` (through `futex(2)`),
/// and under `--cfg loom` loom's, through a model of the futex.
///
/// Call it through [`wait`], [`wake`] and [`wake_all`].
pub trait Word {
    /// Sleeps while the word equals `expected`, until woken or `deadline`; `false` only when
    /// the deadline passed. See [`wait`].
    fn futex_wait(&self, expected: u32, deadline: Deadline) -> bool;
    /// Wakes up to `n` sleepers of this word.
    fn futex_wake(&self, n: u32);
}

impl Word for AtomicU32 {
    fn futex_wait(&self, expected: u32, deadline: Deadline) -> bool {
        // An interrupted sleep goes on with the time left (the deadline is absolute).
        let slept = rustix::io::retry_on_intr(|| {
            if deadline.is_expired() {
                return Err(rustix::io::Errno::TIMEDOUT);
            }
            let ts = deadline.timespec();
            futex::wait(self, futex::Flags::empty(), expected, ts.as_ref())
        });
        !matches!(slept, Err(rustix::io::Errno::TIMEDOUT))
    }

    fn futex_wake(&self, n: u32) {
        // Waking fails only for a bad address, which a reference is not.
        let _ = futex::wake(self, futex::Flags::empty(), n);
    }
}

/// Sleeps while `*word == expected`, until a [`wake`] or `deadline`; returns `false` only when
/// the deadline passed (an expired deadline returns `false` at once, without a system call).
///
/// `true` means "look again", not "your condition holds": the word may have changed before
/// the sleep began, or the wake-up may have been another waiter's. Interruptions by signals are
/// retried with the time left.
///
/// ```
/// use std::sync::atomic::AtomicU32;
/// use std::time::Duration;
/// use multiprocessing_core::{futex, time::Deadline};
/// let word = AtomicU32::new(7);
/// // The word is not 3: no sleep at all.
/// assert!(futex::wait(&word, 3, Deadline::after(Duration::from_secs(60))));
/// ```
pub fn wait<W: Word + ?Sized>(word: &W, expected: u32, deadline: Deadline) -> bool {
    word.futex_wait(expected, deadline)
}

/// Wakes up to `n` sleepers of `word`, in this process or any other mapping it.
pub fn wake<W: Word + ?Sized>(word: &W, n: u32) {
    word.futex_wake(n);
}

/// Wakes every sleeper of `word`.
pub fn wake_all<W: Word + ?Sized>(word: &W) {
    wake(word, i32::MAX as u32);
}

/// Runs a loom model with the preemption bound `LOOM_MAX_PREEMPTIONS` (3 when unset: waits
/// loop, so an unbounded search never ends). Only under `--cfg loom`.
#[cfg(loom)]
pub fn loom_model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(f);
}

/// The futex under `loom`, exact: each word has a queue of sleepers, `wake(n)` wakes the
/// first `n` of that word's queue and no one else. The value check and the enqueueing are
/// atomic with respect to a wake, as in the kernel. A deadline never passes: a wake-up that is
/// lost shows as a deadlock, which loom reports.
#[cfg(loom)]
mod model {
    use std::collections::{HashMap, HashSet, VecDeque};
    use std::sync::atomic::Ordering;

    use loom::sync::atomic::AtomicU32;
    use loom::sync::{Condvar, Mutex};

    use crate::time::Deadline;

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
        fn futex_wait(&self, expected: u32, _deadline: Deadline) -> bool {
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

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "futex(2) is a raw system call miri cannot run")]
    fn a_sleeper_is_woken_and_an_unwoken_one_times_out() {
        let word = AtomicU32::new(0);
        let start = Instant::now();
        assert!(!wait(&word, 0, Deadline::after(Duration::from_millis(20))));
        assert!(start.elapsed() >= Duration::from_millis(20), "woke early");
        assert!(!wait(&word, 0, Deadline::after(Duration::ZERO)));

        let sleeping = AtomicU32::new(0);
        std::thread::scope(|s| {
            let sleeper = s.spawn(|| {
                sleeping.store(1, Ordering::SeqCst);
                // A lost wake-up would sleep to the deadline and fail here.
                while word.load(Ordering::SeqCst) == 0 {
                    assert!(wait(&word, 0, Deadline::after(Duration::from_secs(20))));
                }
            });
            while sleeping.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            word.store(1, Ordering::SeqCst);
            wake_all(&word);
            sleeper.join().unwrap();
        });
    }
}
