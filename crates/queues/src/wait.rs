//! Blocking on a word of the ring's header: an event count over `futex(2)`, after a brief spin
//! on the runtime layer's one policy ([`Backoff::spin_until`]) when another CPU can answer.
//!
//! An [`EventCount`] is a sequence word plus a flag saying that someone may sleep on it. A
//! waiter reads the sequence, raises the flag, checks its condition again and sleeps only if the
//! sequence is unchanged; a notifier that made the condition true and finds the flag raised
//! lowers it, bumps the sequence and wakes every sleeper. A notifier costs no system call when
//! nobody sleeps, and only the first of a run of notifiers calls the kernel: a woken waiter that
//! has not run yet (on a busy CPU) is not woken again for every item put meanwhile.

use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::Duration;

use multiprocessing_core::backoff::Backoff;
use multiprocessing_core::time::Deadline;
use rustix::thread::futex;

/// How long a waiter spins before it sleeps (as the Event does).
const SPIN: Duration = Duration::from_micros(20);

/// The longest single sleep: a waiter wakes at least this often to check for dead peers.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// Spins for up to [`SPIN`] until `ready()` holds, when another CPU can make it hold; `true`
/// once it holds. On a single CPU spinning could only delay the peer, so this returns at once.
/// The spin itself is the workspace's one policy, [`Backoff::spin_until`].
#[inline]
pub(crate) fn spin_until(deadline: &Deadline, mut ready: impl FnMut() -> bool) -> bool {
    ready() || (multi_cpu() && Backoff::spin_until(SPIN, *deadline, ready))
}

/// Whether more than one CPU can run this process. A plain atomic, computed idempotently (a
/// racing thread computes the same answer): no lock or `Once` that a `fork` could catch held.
fn multi_cpu() -> bool {
    use std::sync::atomic::AtomicU8;
    const UNKNOWN: u8 = 0;
    const ONE: u8 = 1;
    const MANY: u8 = 2;
    static MULTI: AtomicU8 = AtomicU8::new(UNKNOWN);
    match MULTI.load(Ordering::Relaxed) {
        UNKNOWN => {
            let many = std::thread::available_parallelism().map_or(1, |n| n.get()) > 1;
            MULTI.store(if many { MANY } else { ONE }, Ordering::Relaxed);
            many
        }
        v => v == MANY,
    }
}

/// A sequence word and a sleeper count in shared memory.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct EventCount {
    seq: AtomicU32,
    /// Raised by a waiter before it sleeps, lowered by the notifier that wakes it (a waiter
    /// that left without being woken leaves it raised: one spare wake-up later).
    waiting: AtomicU32,
}

impl EventCount {
    /// Wakes every sleeper; free when nobody sleeps. Call after publishing the change.
    #[inline]
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) != 0 && self.waiting.swap(0, Ordering::AcqRel) != 0
        {
            self.seq.fetch_add(1, Ordering::Release);
            let _ = futex::wake(&self.seq, futex::Flags::empty(), i32::MAX as u32);
        }
    }

    /// Sleeps until notified, `deadline` or one [`SLICE`] passes, unless `ready()` holds once
    /// announced. Returns whether `ready()` was seen to hold.
    pub(crate) fn wait(&self, deadline: &Deadline, mut ready: impl FnMut() -> bool) -> bool {
        let seen = self.seq.load(Ordering::Acquire);
        self.waiting.swap(1, Ordering::SeqCst);
        // Pairs with the notifier's fence: it sees the flag, or this sees its change.
        fence(Ordering::SeqCst);
        let ok = ready();
        if !ok {
            let slice = deadline.remaining().map_or(SLICE, |r| r.min(SLICE));
            if !slice.is_zero() {
                let ts = futex::Timespec {
                    tv_sec: slice.as_secs() as i64,
                    tv_nsec: i64::from(slice.subsec_nanos()),
                };
                let _ = futex::wait(&self.seq, futex::Flags::empty(), seen, Some(&ts));
            }
        }
        ok
    }
}

/// Sleeps while `word == expected`, for at most one [`SLICE`] or until `deadline`.
pub(crate) fn wait_word(word: &AtomicU32, expected: u32, deadline: &Deadline) {
    let slice = deadline.remaining().map_or(SLICE, |r| r.min(SLICE));
    if slice.is_zero() {
        return;
    }
    let ts = futex::Timespec {
        tv_sec: slice.as_secs() as i64,
        tv_nsec: i64::from(slice.subsec_nanos()),
    };
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&ts));
}

/// Wakes every sleeper on `word`.
pub(crate) fn wake_word(word: &AtomicU32) {
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}
