//! Blocking on a word of the ring's header: an event count over core's `futex`, and when a waiter
//! spins before it sleeps (when the notifier runs on another CPU, with the workspace's
//! `Backoff`).
//!
//! An [`EventCount`] is a sequence word plus a flag saying that someone may sleep on it. A
//! waiter reads the sequence, raises the flag, checks its condition again and sleeps only if the
//! sequence is unchanged; a notifier that made the condition true and finds the flag raised
//! lowers it, bumps the sequence and wakes every sleeper. A notifier costs no system call when
//! nobody sleeps, and only the first of a run of notifiers calls the kernel: a woken waiter that
//! has not run yet (on a busy CPU) is not woken again for every item put meanwhile.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

// The event count's protocol words and fences are loom's under `--cfg loom`, so its model
// tests explore the real code; `cpu` is only a spinning hint and stays std's.
#[cfg(loom)]
use loom::sync::atomic::{AtomicU32 as ProtocolU32, fence};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU32 as ProtocolU32, fence};

use multiprocessing_core::backoff::Backoff;
use multiprocessing_core::futex;
use multiprocessing_core::time::Deadline;

/// How long a waiter spins before it sleeps (as the Event does).
const SPIN: Duration = Duration::from_micros(20);

/// The longest single sleep: a waiter wakes at least this often to check for dead peers.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// Polls `ready()` for up to [`SPIN`] when the notifier that would make it hold last ran on
/// another CPU (`notifier`, from [`EventCount::notifier_cpu`]); `true` once it holds. A peer
/// answering from another CPU is seen in well under a microsecond, where sleeping and being
/// woken across CPUs costs tens of microseconds on a virtual machine; on the notifier's own CPU
/// spinning could only delay it, so this returns at once. The spin is the workspace's one
/// policy, [`Backoff::spin_until`].
pub(crate) fn spin_until(
    deadline: &Deadline,
    notifier: Option<u32>,
    mut ready: impl FnMut() -> bool,
) -> bool {
    if ready() {
        return true;
    }
    match notifier {
        Some(cpu) if cpu != current_cpu() => Backoff::spin_until(SPIN, *deadline, ready),
        _ => false,
    }
}

/// The CPU the calling thread runs on now: glibc's `sched_getcpu` reads it from the thread's
/// rseq area (no system call, unlike rustix's), and a producer asks on every put.
fn current_cpu() -> u32 {
    // SAFETY: `sched_getcpu` takes no argument and touches no memory of ours.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).unwrap_or(u32::MAX)
}

/// A sequence word, a flag that someone may sleep on it, and the CPU of the last notifier, in
/// shared memory.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct EventCount {
    seq: ProtocolU32,
    /// Raised by a waiter before it sleeps, lowered by the notifier that wakes it (a waiter
    /// that left without being woken leaves it raised: one spare wake-up later).
    waiting: ProtocolU32,
    /// 1 + the CPU of the last [`record_cpu`](Self::record_cpu) caller; 0 before any.
    cpu: AtomicU32,
}

impl EventCount {
    /// Records the caller's CPU as the notifier's, for waiters deciding whether to spin; a
    /// store only when it changed, so a notifier that stays on its CPU writes nothing.
    #[inline]
    pub(crate) fn record_cpu(&self) {
        let cpu = current_cpu().wrapping_add(1);
        if self.cpu.load(Ordering::Relaxed) != cpu {
            self.cpu.store(cpu, Ordering::Relaxed);
        }
    }

    /// The CPU of the last notifier that recorded one.
    pub(crate) fn notifier_cpu(&self) -> Option<u32> {
        self.cpu.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Wakes every sleeper; free when nobody sleeps. Call after publishing the change.
    #[inline]
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) != 0 && self.waiting.swap(0, Ordering::AcqRel) != 0
        {
            self.seq.fetch_add(1, Ordering::Release);
            futex::wake_all(&self.seq);
        }
    }

    /// An async waiter's announcement: raises the flag and returns the sequence to await with
    /// [`poll_wait`](Self::poll_wait) once the caller has checked its condition again.
    #[cfg(not(loom))]
    pub(crate) fn announce(&self) -> u32 {
        let seen = self.seq.load(Ordering::Acquire);
        self.waiting.swap(1, Ordering::SeqCst);
        // Pairs with the notifier's fence, as in `wait`.
        fence(Ordering::SeqCst);
        seen
    }

    /// The async sleep after [`announce`](Self::announce): `Pending` until notified or one
    /// [`SLICE`] or `deadline` passes, then `Ready`: look again. Spins first (re-polling, for
    /// up to [`SPIN`]) when the notifier last ran on another CPU, as [`spin_until`] does.
    #[cfg(not(loom))]
    pub(crate) fn poll_wait(
        &self,
        waiter: &mut multiprocessing_core::futex_async::AsyncWaiter,
        seen: u32,
        deadline: Deadline,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let spin = match self.notifier_cpu() {
            Some(cpu) if cpu != current_cpu() => SPIN,
            _ => Duration::ZERO,
        };
        waiter.poll_wait_spinning(&self.seq, seen, deadline, spin, cx)
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
            let _ = futex::wait(&self.seq, seen, one_slice(*deadline));
        }
        ok
    }
}

/// Sleeps while `word == expected`, for at most one [`SLICE`] or until `deadline`.
pub(crate) fn wait_word(word: &AtomicU32, expected: u32, deadline: &Deadline) {
    let _ = futex::wait(word, expected, one_slice(*deadline));
}

/// Wakes every sleeper on `word`.
pub(crate) fn wake_word(word: &AtomicU32) {
    futex::wake_all(word);
}

/// `deadline`, or one [`SLICE`] from now if that comes first.
fn one_slice(deadline: Deadline) -> Deadline {
    deadline.min(Deadline::after(SLICE))
}

/// Loom models of the event count (`cargo xtask verify`): the real [`EventCount`] over loom's
/// atomics, fences and futex model, where a sleep has no time limit and ends only by a
/// wake-up. A waiter whose condition holds but who sleeps on is a deadlock, which loom
/// reports: every interleaving below (up to the preemption bound) shows no lost wake-up.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::atomic::Ordering;

    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU32;
    use multiprocessing_core::futex::loom_model;
    use multiprocessing_core::time::Deadline;

    use super::EventCount;

    /// An event count and the count of items the notifiers published (the ring's tail).
    #[derive(Default)]
    struct Model {
        event: EventCount,
        items: AtomicU32,
    }

    impl Model {
        fn new() -> Arc<Model> {
            Arc::new(Model::default())
        }

        /// A producer's put: publish, then notify (as the ring's `send`).
        fn put(&self) {
            self.items.fetch_add(1, Ordering::Release);
            self.event.notify();
        }

        /// A consumer's blocking wait until `n` items were published (as the ring's `recv`:
        /// look, else announce, look again and sleep).
        fn wait_for(&self, n: u32) {
            let ready = || self.items.load(Ordering::Acquire) >= n;
            while !ready() {
                if self.event.wait(&Deadline::never(), ready) {
                    break;
                }
            }
        }
    }

    /// One waiter, one notifier: the waiter never sleeps through the item.
    #[test]
    fn loom_event_count_one_waiter_one_notifier() {
        loom_model(|| {
            let m = Model::new();
            let waiter = {
                let m = m.clone();
                loom::thread::spawn(move || m.wait_for(1))
            };
            m.put();
            waiter.join().unwrap();
        });
    }

    /// A run of two notifiers, of which only the one that finds the flag raised calls the
    /// kernel: a waiter that wakes for the first item and sleeps again for the second is
    /// still woken.
    #[test]
    fn loom_event_count_run_of_notifiers() {
        loom_model(|| {
            let m = Model::new();
            let notifier = {
                let m = m.clone();
                loom::thread::spawn(move || m.put())
            };
            let waiter = {
                let m = m.clone();
                loom::thread::spawn(move || m.wait_for(2))
            };
            m.put();
            notifier.join().unwrap();
            waiter.join().unwrap();
        });
    }

    /// Two waiters, one notifier: the one notification wakes both sleepers.
    #[test]
    fn loom_event_count_two_waiters_one_notifier() {
        loom_model(|| {
            let m = Model::new();
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let m = m.clone();
                    loom::thread::spawn(move || m.wait_for(1))
                })
                .collect();
            m.put();
            for w in waiters {
                w.join().unwrap();
            }
        });
    }
}
