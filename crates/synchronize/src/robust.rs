//! The robust lock word behind `Lock`, `RLock` and `Barrier`: a futex that records its owner.
//!
//! The word holds `0` when free, or the owner's id (a process id for `Lock`, a thread id for
//! `RLock`) with a waiters bit. Beside it sit the owner's start time and the id it belongs to,
//! so a waiter that has slept a [`SLICE`] without progress can check whether the owner still
//! runs, even if the kernel has since given its id to another process. A dead owner's lock is
//! taken over by exactly one waiter, which is told so. Acquiring and releasing an uncontended
//! lock costs no system call.
//!
//! ```
//! use multiprocessing_synchronize::Lock;
//! let lock = Lock::new().unwrap();
//! let guard = lock.lock().unwrap(); // one compare-and-swap, no system call
//! assert!(lock.is_locked());
//! drop(guard);
//! ```

#[cfg(loom)]
use loom::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::atomic::Ordering;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use multiprocessing_core::backoff::Backoff;
use multiprocessing_core::owner::{self, Owner};

use multiprocessing_core::futex;
use multiprocessing_core::time::Deadline;

/// Set in the word while someone may sleep on it.
const WAITERS: u32 = 1 << 31;
/// Set in the word while the lock is held by an RAII guard rather than a Python-style
/// `acquire()`: a Python-style `release()` must not free it under the guard.
pub(crate) const GUARDED: u32 = 1 << 30;
/// The owner's id (process and thread ids are below 2^22 on Linux).
const ID: u32 = !(WAITERS | GUARDED);
/// Set in an owner's id that is a process's async code rather than one of its threads (see
/// [`async_owner`]): no thread id has it, so no thread mistakes such a hold for its own.
pub(crate) const ASYNC_OWNER: u32 = 1 << 29;

/// The owner an async acquisition records: the process (whose death is what a waiter must
/// notice) with [`ASYNC_OWNER`] set, so it never equals the id of one of its threads. A task
/// moves between threads, so a thread cannot be its owner.
#[cfg(not(loom))]
#[inline]
pub(crate) fn async_owner() -> Owner {
    let me = owner::process();
    Owner {
        id: me.id | ASYNC_OWNER,
        start: me.start,
    }
}
/// How long a waiter sleeps before checking that the owner still lives.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// How an acquisition ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// The lock is ours.
    Clean,
    /// The lock is ours, taken over from an owner that died holding it.
    OwnerDied,
    /// The deadline passed first.
    TimedOut,
}

#[repr(C)]
pub(crate) struct RobustWord {
    word: AtomicU32,
    /// The id `start` belongs to, 0 while being written or when free.
    check_id: AtomicU32,
    start: AtomicU64,
}

impl RobustWord {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> RobustWord {
        RobustWord {
            word: AtomicU32::new(0),
            check_id: AtomicU32::new(0),
            start: AtomicU64::new(0),
        }
    }

    /// As above; loom's atomics are not `const`.
    #[cfg(loom)]
    pub(crate) fn new() -> RobustWord {
        RobustWord {
            word: AtomicU32::new(0),
            check_id: AtomicU32::new(0),
            start: AtomicU64::new(0),
        }
    }

    #[inline]
    fn record(&self, me: Owner) {
        self.start.store(me.start, Ordering::Relaxed);
        self.check_id.store(me.id, Ordering::Release);
    }

    /// The owner's id, 0 when free.
    #[inline]
    pub(crate) fn holder(&self) -> u32 {
        self.word.load(Ordering::Relaxed) & ID
    }

    /// Takes the lock if free, storing `tag` ([`GUARDED`] or 0, with [`WAITERS`] when others
    /// may sleep on it) with the owner.
    #[inline]
    pub(crate) fn try_acquire_tagged(&self, me: Owner, tag: u32) -> bool {
        if self
            .word
            .compare_exchange(0, me.id | tag, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.record(me);
            true
        } else {
            false
        }
    }

    #[inline]
    pub(crate) fn acquire(&self, me: Owner, deadline: Deadline) -> Acquired {
        self.acquire_tagged(me, 0, deadline)
    }

    /// Blocks until the lock is taken (with `tag`) or `deadline` passes.
    #[inline]
    pub(crate) fn acquire_tagged(&self, me: Owner, tag: u32, deadline: Deadline) -> Acquired {
        if self.try_acquire_tagged(me, tag) {
            return Acquired::Clean;
        }
        self.acquire_slow(me, tag, deadline)
    }

    #[cold]
    fn acquire_slow(&self, me: Owner, tag: u32, deadline: Deadline) -> Acquired {
        // Spin, then yield (a holder on this CPU runs), then sleep: the one policy.
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            backoff.snooze();
            if self.word.load(Ordering::Relaxed) == 0 && self.try_acquire_tagged(me, tag) {
                return Acquired::Clean;
            }
        }
        loop {
            let w = self.word.load(Ordering::Relaxed);
            if w == 0 {
                // We were contended, so others may sleep too: keep the waiters bit.
                if self.try_acquire_tagged(me, tag | WAITERS) {
                    return Acquired::Clean;
                }
                continue;
            }
            let Some(target) = self.mark_waiting(w) else {
                continue;
            };
            let remaining = deadline.remaining();
            if remaining == Some(Duration::ZERO) {
                return Acquired::TimedOut;
            }
            let slice = remaining.map_or(SLICE, |r| r.min(SLICE));
            if futex::wait(&self.word, target, Deadline::after(slice)) {
                continue;
            }
            if deadline.is_expired() {
                return Acquired::TimedOut;
            }
            if self.take_from_dead(me, target, tag | WAITERS) {
                return Acquired::OwnerDied;
            }
        }
    }

    /// One poll of an async acquisition (with `tag`), [`acquire_slow`](Self::acquire_slow)'s
    /// loop without its sleep: `Pending` with the waker registered on the word (through
    /// `futex_async`, whose thread sleeps for every future waiting on it). `since`: when
    /// this future began waiting on the current holder, to check every [`SLICE`] that it lives.
    #[cfg(not(loom))]
    pub(crate) fn poll_acquire(
        &self,
        me: Owner,
        tag: u32,
        deadline: Deadline,
        wait: &mut AsyncAcquire,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Acquired> {
        use std::task::Poll;
        loop {
            let w = self.word.load(Ordering::Relaxed);
            if w == 0 {
                // Contended (or about to be): keep the waiters bit, as `acquire_slow` does.
                let bits = if wait.waited { WAITERS } else { 0 };
                if self.try_acquire_tagged(me, tag | bits) {
                    wait.done = true;
                    return Poll::Ready(Acquired::Clean);
                }
                continue;
            }
            let Some(target) = self.mark_waiting(w) else {
                continue;
            };
            if deadline.is_expired() {
                // Not `done`: a wake-up it may have been given is passed on when it is dropped.
                return Poll::Ready(Acquired::TimedOut);
            }
            let now = std::time::Instant::now();
            match wait.since {
                Some((held, t)) if held == target && now.duration_since(t) >= SLICE => {
                    wait.since = Some((target, now));
                    if self.take_from_dead(me, target, tag | WAITERS) {
                        wait.done = true;
                        return Poll::Ready(Acquired::OwnerDied);
                    }
                }
                Some((held, _)) if held == target => {}
                _ => wait.since = Some((target, now)),
            }
            wait.waited = true;
            std::task::ready!(wait.waiter.poll_wait(&self.word, target, deadline, cx));
        }
    }

    /// Takes the lock (with `tag`) as a future, or gives up at `deadline`: the one async
    /// acquisition of every lock word. Dropped before it is ready, it holds nothing and passes
    /// on any wake-up it was given.
    #[cfg(not(loom))]
    pub(crate) async fn acquire_async(&self, me: Owner, tag: u32, deadline: Deadline) -> Acquired {
        struct Waiting<'a> {
            word: &'a RobustWord,
            state: AsyncAcquire,
        }
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.state.cancel(self.word);
            }
        }
        if self.try_acquire_tagged(me, tag) {
            return Acquired::Clean;
        }
        let mut w = Waiting {
            word: self,
            state: AsyncAcquire::default(),
        };
        std::future::poll_fn(|cx| w.word.poll_acquire(me, tag, deadline, &mut w.state, cx)).await
    }

    /// Takes the lock if it is free, or over from a holder that died holding it, without
    /// waiting: [`Acquired::TimedOut`] when a live owner holds it (a `try_lock`'s would-block).
    pub(crate) fn try_acquire_or_recover(&self, me: Owner, tag: u32) -> Acquired {
        if self.try_acquire_tagged(me, tag) {
            return Acquired::Clean;
        }
        let w = self.word.load(Ordering::Relaxed);
        if w != 0 && self.take_from_dead(me, w, tag | (w & WAITERS)) {
            return Acquired::OwnerDied;
        }
        Acquired::TimedOut
    }

    /// Sets the waiters bit in the held word `w`, before sleeping on it: the word to sleep on
    /// (`w` with the bit), or `None` when the word changed first and must be read again.
    #[inline]
    fn mark_waiting(&self, w: u32) -> Option<u32> {
        let target = w | WAITERS;
        if w & WAITERS == 0
            && self
                .word
                .compare_exchange(w, target, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return None;
        }
        Some(target)
    }

    /// Takes the lock over from the holder of `held` (the word as last seen, non-zero) if that
    /// holder has died, storing `bits` with our id: true for the one caller whose exchange wins.
    /// The blocking, async and non-waiting acquisitions all take a dead owner's lock here.
    fn take_from_dead(&self, me: Owner, held: u32, bits: u32) -> bool {
        if self.owner_alive(held & ID)
            || self
                .word
                .compare_exchange(held, me.id | bits, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        self.record(me);
        true
    }

    fn owner_alive(&self, id: u32) -> bool {
        let start = if self.check_id.load(Ordering::Acquire) == id {
            self.start.load(Ordering::Relaxed)
        } else {
            0
        };
        // An async owner is its process.
        owner::is_alive(id & !ASYNC_OWNER, start)
    }

    /// Frees the lock (the caller checked it may) and wakes one waiter if any.
    #[inline]
    pub(crate) fn release(&self) {
        self.check_id.store(0, Ordering::Relaxed);
        if self.word.swap(0, Ordering::Release) & WAITERS != 0 {
            futex::wake(&self.word, 1);
        }
    }

    /// Frees a lock taken without the [`GUARDED`] tag, Python's `release()` from anyone:
    /// atomically refuses a free lock or one a guard holds, so it can never free a hold that a
    /// guard will release again when dropped.
    pub(crate) fn release_unguarded(&self) -> Result<(), Refused> {
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            if w & ID == 0 {
                return Err(Refused::Free);
            }
            if w & GUARDED != 0 {
                return Err(Refused::Guarded);
            }
            // As in `release`, the id check goes first so a new owner's record is never wiped;
            // while the exchange retries the holder is alive, and a check of it stays correct.
            self.check_id.store(0, Ordering::Relaxed);
            match self
                .word
                .compare_exchange_weak(w, 0, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        if w & WAITERS != 0 {
            futex::wake(&self.word, 1);
        }
        Ok(())
    }
}

/// An async acquisition's state, kept in its future.
#[cfg(not(loom))]
#[derive(Default)]
pub(crate) struct AsyncAcquire {
    waiter: multiprocessing_core::futex_async::AsyncWaiter,
    /// The holder's word and since when this future has waited on it.
    since: Option<(u32, std::time::Instant)>,
    /// Whether it ever had to wait (then it keeps the waiters bit when it takes the lock).
    waited: bool,
    /// Whether it took the lock.
    done: bool,
}

#[cfg(not(loom))]
impl AsyncAcquire {
    /// Dropped while waiting: a wake-up meant for this future (a release wakes one sleeper,
    /// here the word's waiter thread) goes to the next waiter rather than being lost.
    pub(crate) fn cancel(&mut self, word: &RobustWord) {
        if self.waited && !self.done {
            self.waiter.cancel();
            futex::wake(&word.word, 1);
        }
    }
}

/// Why [`RobustWord::release_unguarded`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Nobody holds the lock.
    Free,
    /// A guard holds it.
    Guarded,
}

/// Loom models of the lock word (`cargo xtask verify`): the real [`RobustWord`] over loom's
/// atomics and a model of the futex ([`multiprocessing_core::futex`]), every interleaving up to the preemption
/// bound. A lost wake-up is a deadlock, which loom reports.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::atomic::Ordering;

    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU32;
    use multiprocessing_core::owner::Owner;

    use super::{Acquired, GUARDED, Refused, RobustWord};
    use multiprocessing_core::time::Deadline;

    fn owner(id: u32) -> Owner {
        Owner { id, start: 1 }
    }

    /// Adds one to `counter` under the lock with a separate load and store, so two holders at
    /// once would lose an update.
    fn add(word: &RobustWord, counter: &AtomicU32, me: Owner) {
        assert_eq!(word.acquire(me, Deadline::never()), Acquired::Clean);
        assert_eq!(word.holder(), me.id);
        let n = counter.load(Ordering::Relaxed);
        counter.store(n + 1, Ordering::Relaxed);
        word.release();
    }

    /// Two contenders: mutual exclusion, and the one that sleeps is always woken.
    #[test]
    fn loom_robust_word_excludes_and_wakes() {
        multiprocessing_core::futex::loom_model(|| {
            let word = Arc::new(RobustWord::new());
            let counter = Arc::new(AtomicU32::new(0));
            let t = {
                let (word, counter) = (word.clone(), counter.clone());
                loom::thread::spawn(move || add(&word, &counter, owner(2)))
            };
            add(&word, &counter, owner(1));
            t.join().unwrap();
            assert_eq!(counter.load(Ordering::Relaxed), 2);
            assert_eq!(word.holder(), 0);
        });
    }

    /// Three contenders, two of which may sleep at once: each release wakes one, and the
    /// waiters bit kept by a contended acquisition wakes the last.
    #[test]
    fn loom_robust_word_three_contenders() {
        multiprocessing_core::futex::loom_model(|| {
            let word = Arc::new(RobustWord::new());
            let counter = Arc::new(AtomicU32::new(0));
            let threads: Vec<_> = (2..4)
                .map(|id| {
                    let (word, counter) = (word.clone(), counter.clone());
                    loom::thread::spawn(move || add(&word, &counter, owner(id)))
                })
                .collect();
            add(&word, &counter, owner(1));
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(counter.load(Ordering::Relaxed), 3);
        });
    }

    /// Python's `release()` from another thread never frees a guard's hold, and frees a plain
    /// hold exactly once, waking the waiter.
    #[test]
    fn loom_release_unguarded_races_a_guard() {
        multiprocessing_core::futex::loom_model(|| {
            let word = Arc::new(RobustWord::new());
            assert!(word.try_acquire_tagged(owner(1), GUARDED));
            let t = {
                let word = word.clone();
                loom::thread::spawn(move || word.release_unguarded())
            };
            let refused = t.join().unwrap();
            assert_eq!(refused, Err(Refused::Guarded));
            assert_eq!(word.holder(), 1);
            word.release();

            assert!(word.try_acquire_tagged(owner(1), 0));
            let t = {
                let word = word.clone();
                loom::thread::spawn(move || word.acquire(owner(2), Deadline::never()))
            };
            assert_eq!(word.release_unguarded(), Ok(()));
            assert_eq!(t.join().unwrap(), Acquired::Clean);
            assert_eq!(word.holder(), 2);
            assert_eq!(word.release_unguarded(), Ok(()));
            assert_eq!(word.release_unguarded(), Err(Refused::Free));
        });
    }
}
