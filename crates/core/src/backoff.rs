//! The one spin-then-block policy of the workspace: [`Backoff`] (after crossbeam's), and
//! [`Adaptive`] for waits that learn whether spinning pays.
//!
//! A thread that finds a lock taken, or a message not yet there, can sleep at once (a system
//! call, and tens of microseconds to be woken across CPUs on a virtual machine) or poll a little
//! first, hoping the other side finishes within a microsecond or two. Every such wait of the
//! library follows the same three phases:
//!
//! 1. **spin**: retry with exponentially more [`spin_loop`](std::hint::spin_loop) hints between
//!    tries (1, 2, 4, ... 64), so contenders stop hammering the cache line the holder needs;
//! 2. **yield**: a few [`yield_now`](std::thread::yield_now) calls, which let a holder that
//!    shares this CPU run;
//! 3. **block**: once [`Backoff::is_completed`] says so, the caller sleeps (a futex, `poll`).
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use multiprocessing_core::backoff::Backoff;
//!
//! let lock = AtomicBool::new(false);
//! let backoff = Backoff::new();
//! while lock
//!     .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
//!     .is_err()
//! {
//!     if backoff.is_completed() {
//!         // here a real lock would sleep on a futex, then `backoff.reset()`
//!     }
//!     backoff.snooze();
//! }
//! lock.store(false, Ordering::Release);
//! ```
//!
//! Waits bounded by time rather than by steps (an `Event` waiting for a peer on another CPU, a
//! `Connection` polling its descriptor) use [`Backoff::spin_until`]; those that learn from their
//! history whether spinning pays at all use [`Adaptive`].
//!
//! Why not `crossbeam_utils::Backoff` itself: its spin/snooze/`is_completed` steps are exactly
//! the model (the constants are the same), but the waits here also need a time budget and a
//! [`Deadline`], and the lock words are checked by `loom` models (`--cfg loom`), under which a
//! spin must be a `loom` yield point; crossbeam-utils only offers that under its own
//! `crossbeam_loom` cfg and feature. The policy is a few dozen lines, so it lives here.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::time::Deadline;

/// Steps of the spin phase: the last one spins `2^SPIN_LIMIT` hints.
#[cfg(not(loom))]
const SPIN_LIMIT: u32 = 6;
/// Steps after which [`Backoff::is_completed`] tells the caller to block.
#[cfg(not(loom))]
const YIELD_LIMIT: u32 = 10;
// Under loom every step is a scheduling point: keep the phases, with few steps.
#[cfg(loom)]
const SPIN_LIMIT: u32 = 1;
#[cfg(loom)]
const YIELD_LIMIT: u32 = 2;

/// One spin hint. Under `loom` nothing: the spin is bounded, and loom's `spin_loop` would park
/// the spinner until the others progressed, hiding the interleavings where it gives up first.
#[inline]
fn hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Exponential backoff for one spin-then-block wait (after `crossbeam_utils::Backoff`).
///
/// Make one per wait ([`new`](Self::new) is free), call [`spin`](Self::spin) between retries
/// of a compare-and-swap that lost a race, or [`snooze`](Self::snooze) while waiting for
/// another thread or process to make progress, and block once
/// [`is_completed`](Self::is_completed) says so. Not `Sync`: the state is the waiter's own.
///
/// ```
/// use multiprocessing_core::backoff::Backoff;
/// let backoff = Backoff::new();
/// let mut steps = 0;
/// while !backoff.is_completed() {
///     backoff.snooze(); // 1, 2, 4, ... 64 spin hints, then four yields
///     steps += 1;
/// }
/// assert_eq!(steps, 11);
/// backoff.reset();
/// assert!(!backoff.is_completed());
/// ```
pub struct Backoff {
    step: Cell<u32>,
}

impl Backoff {
    /// A fresh backoff, at its first (shortest) step.
    #[inline]
    #[must_use]
    pub const fn new() -> Backoff {
        Backoff { step: Cell::new(0) }
    }

    /// Starts over from the first step (after a sleep, or once progress was made).
    #[inline]
    pub fn reset(&self) {
        self.step.set(0);
    }

    /// Backs off in a lock-free retry loop: spins `2^step` hints (at most 64), never yields.
    #[inline]
    pub fn spin(&self) {
        let step = self.step.get();
        for _ in 0..Self::hints(step.min(SPIN_LIMIT)) {
            hint();
        }
        if step <= SPIN_LIMIT {
            self.step.set(step + 1);
        }
    }

    /// Backs off while waiting for someone else: spins like [`spin`](Self::spin) at first, then
    /// yields the CPU.
    #[inline]
    pub fn snooze(&self) {
        let step = self.step.get();
        if step <= SPIN_LIMIT {
            for _ in 0..Self::hints(step) {
                hint();
            }
        } else {
            std::thread::yield_now();
        }
        if step <= YIELD_LIMIT {
            self.step.set(step + 1);
        }
    }

    /// Whether spinning and yielding are done and the caller should block.
    #[inline]
    #[must_use]
    pub fn is_completed(&self) -> bool {
        self.step.get() > YIELD_LIMIT
    }

    /// Hints per step: `2^step` (one under `loom`, which does not model time).
    #[inline]
    fn hints(step: u32) -> u32 {
        if cfg!(loom) { 1 } else { 1 << step }
    }

    /// Polls `ready` until it returns `true` (then `true`), or `budget` has passed since the
    /// call or `deadline` passed (then `false`); never yields or blocks.
    ///
    /// For waits bounded by time whose probe is a cheap read (an atomic load): `ready` runs
    /// between every two hints, so an answer is seen at once, and the clock is read once per
    /// round of 64 probes (rounds shrink if they turn out long against the budget).
    /// [`Adaptive::spin_until`] suits costly probes (a system call) better.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiprocessing_core::{backoff::Backoff, time::Deadline};
    /// let mut probes = 0;
    /// assert!(Backoff::spin_until(Duration::from_millis(10), Deadline::never(), || {
    ///     probes += 1;
    ///     probes == 3
    /// }));
    /// assert!(!Backoff::spin_until(Duration::from_micros(5), Deadline::never(), || false));
    /// ```
    pub fn spin_until(budget: Duration, deadline: Deadline, ready: impl FnMut() -> bool) -> bool {
        Self::spin_rounds(budget, deadline, Self::hints(SPIN_LIMIT), ready)
    }

    /// Probes `ready` in rounds of `round` probes (each followed by a hint), reading the clock
    /// after each round; a round that took under a sixteenth of the budget doubles the next
    /// (up to 64 probes), one over an eighth halves it, so the budget is overshot by little
    /// whatever a probe costs.
    fn spin_rounds(
        budget: Duration,
        deadline: Deadline,
        mut round: u32,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        let start = Instant::now();
        let mut last = Duration::ZERO;
        loop {
            for _ in 0..round {
                if ready() {
                    return true;
                }
                hint();
            }
            let elapsed = start.elapsed();
            if elapsed >= budget || deadline.is_expired() {
                return false;
            }
            let took = elapsed - last;
            if took * 16 < budget {
                round = (round * 2).min(Self::hints(SPIN_LIMIT));
            } else if took * 8 > budget {
                round = (round / 2).max(1);
            }
            last = elapsed;
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("step", &self.step.get())
            .field("is_completed", &self.is_completed())
            .finish()
    }
}

/// Most blocking waits between two tries once spinning keeps failing.
const MAX_SKIP: u32 = 1024;
/// Failed spins in a row before [`Adaptive`] starts skipping.
const FAILS_BEFORE_SKIP: u32 = 3;

/// A history that decides whether a time-bounded wait spins before it blocks.
///
/// Spinning pays when the other side answers promptly from another CPU; on the same CPU, or
/// when the other side is slow, it only burns time. A spin that finds nothing, or finds the
/// answer already there (it would not have had to block), counts as a failure: after a few in
/// a row the wait stops spinning, and tries again after exponentially more waits (at most
/// 1024). One spin that catches an answer arriving makes it spin every time again. The fields
/// are atomics so a wait through `&self` can use it; they are hints, never needed for
/// correctness.
///
/// ```
/// use std::time::Duration;
/// use multiprocessing_core::{backoff::Adaptive, time::Deadline};
/// let history = Adaptive::new(0);
/// // Nothing ever arrives: after three failed spins it stops trying.
/// for _ in 0..3 {
///     assert!(!history.spin_until(Duration::from_micros(1), Deadline::never(), || false));
/// }
/// assert!(!history.will_spin());
/// ```
#[derive(Debug)]
pub struct Adaptive {
    /// Consecutive spins that did not help.
    fails: AtomicU32,
    /// Waits to let pass before the next spin.
    skip: AtomicU32,
}

impl Adaptive {
    /// A history that lets `warmup` waits pass before it first spins (a short-lived channel, a
    /// handshake, then never spins).
    #[must_use]
    pub const fn new(warmup: u32) -> Adaptive {
        Adaptive {
            fails: AtomicU32::new(0),
            skip: AtomicU32::new(warmup),
        }
    }

    /// Whether the next [`spin_until`](Self::spin_until) would spin.
    #[must_use]
    pub fn will_spin(&self) -> bool {
        self.skip.load(Ordering::Relaxed) == 0
    }

    /// Polls `ready` like [`Backoff::spin_until`] if the history says spinning may pay (else
    /// `false` at once), and learns from the outcome. Made for costly probes (a zero-timeout
    /// `poll`): the clock is read after every probe at first, less often while probes prove
    /// cheap.
    pub fn spin_until(
        &self,
        budget: Duration,
        deadline: Deadline,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        let skip = self.skip.load(Ordering::Relaxed);
        if skip > 0 {
            self.skip.store(skip - 1, Ordering::Relaxed);
            return false;
        }
        let mut misses = 0u32;
        // The probes of a channel are system calls: start with a clock read after each.
        let found = Backoff::spin_rounds(budget, deadline, 1, || {
            let r = ready();
            misses += u32::from(!r);
            r
        });
        if found && misses > 0 {
            self.fails.store(0, Ordering::Relaxed);
        } else {
            let fails = self.fails.load(Ordering::Relaxed).saturating_add(1);
            self.fails.store(fails, Ordering::Relaxed);
            if fails >= FAILS_BEFORE_SKIP {
                let skip = 1u32.checked_shl(fails).unwrap_or(u32::MAX);
                self.skip.store(skip.min(MAX_SKIP), Ordering::Relaxed);
            }
        }
        found
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn snooze_spins_then_yields_then_completes() {
        let b = Backoff::new();
        for _ in 0..=SPIN_LIMIT {
            assert!(!b.is_completed());
            b.snooze();
        }
        for _ in SPIN_LIMIT + 1..=YIELD_LIMIT {
            assert!(!b.is_completed());
            b.snooze();
        }
        assert!(b.is_completed());
        b.snooze(); // stays completed, never overflows
        assert!(b.is_completed());
        b.reset();
        assert!(!b.is_completed());
    }

    #[test]
    fn spin_never_completes() {
        let b = Backoff::new();
        for _ in 0..100 {
            b.spin();
        }
        assert!(!b.is_completed());
        assert_eq!(b.step.get(), SPIN_LIMIT + 1);
    }

    #[test]
    fn spin_until_honours_budget_and_deadline() {
        let t = Instant::now();
        assert!(!Backoff::spin_until(
            Duration::from_secs(60),
            Deadline::after(Duration::from_millis(2)),
            || false
        ));
        assert!(t.elapsed() < Duration::from_secs(5));
        let t = Instant::now();
        assert!(!Backoff::spin_until(
            Duration::from_millis(2),
            Deadline::never(),
            || false
        ));
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn adaptive_skips_after_failures_and_recovers_on_a_catch() {
        let a = Adaptive::new(2);
        // Warm-up waits never spin.
        let mut probed = false;
        assert!(
            !a.spin_until(Duration::from_millis(1), Deadline::never(), || {
                probed = true;
                true
            })
        );
        assert!(!probed);
        assert!(!a.spin_until(Duration::from_millis(1), Deadline::never(), || true));
        assert!(a.will_spin());
        // Answers already there count as failures: three in a row stop the spinning.
        for _ in 0..FAILS_BEFORE_SKIP {
            assert!(a.spin_until(Duration::from_millis(1), Deadline::never(), || true));
        }
        assert!(!a.will_spin());
        // 2^3 skipped waits later it tries again, and one catch resets the history.
        for _ in 0..8 {
            assert!(!a.spin_until(Duration::from_millis(1), Deadline::never(), || true));
        }
        assert!(a.will_spin());
        let mut n = 0;
        assert!(a.spin_until(Duration::from_secs(1), Deadline::never(), || {
            n += 1;
            n > 2
        }));
        assert_eq!(a.fails.load(Ordering::Relaxed), 0);
        assert!(a.will_spin());
    }
}
