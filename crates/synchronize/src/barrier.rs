//! [`Barrier`]: parties wait until all have arrived, Python's `multiprocessing.Barrier`
//! (`threading.Barrier` semantics, across processes).
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_synchronize::{Barrier, Error};
//! let barrier = Barrier::new(1).unwrap();
//! assert_eq!(barrier.wait().unwrap(), 0); // one party: passes at once
//! let two = Barrier::builder(2).timeout(Duration::from_millis(10)).build().unwrap();
//! assert!(matches!(two.wait(), Err(Error::BrokenBarrier))); // nobody else came
//! assert!(two.broken());
//! two.reset();
//! assert!(!two.broken());
//! ```
//!
//! From async code, [`Barrier::wait_async`] and [`Barrier::wait_async_timeout`] are the waits
//! as futures, meeting blocking parties in the same rounds.

#[cfg(loom)]
use loom::sync::atomic::AtomicU32;
use std::fmt;
#[cfg(not(loom))]
use std::future::poll_fn;
#[cfg(not(loom))]
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering;
use std::time::Duration;
#[cfg(not(loom))]
use std::time::Instant;

use multiprocessing_core::code::CodeRef;
#[cfg(not(loom))]
use multiprocessing_core::futex_async::AsyncWaiter;
use multiprocessing_core::owner::{self, OwnerCell};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::robust::{Acquired, RobustWord, SLICE};
use crate::shared::{Shared, SharedState};
use crate::{Error, Result};
use multiprocessing_core::futex;
use multiprocessing_core::time::Deadline;

const FILLING: u32 = 0;
const DRAINING: u32 = 1;
const RESETTING: u32 = 2;
const BROKEN: u32 = 3;
/// Parties recorded inside `wait`, so that one that dies there can be found out; parties
/// beyond this many at once are counted but not recorded.
const MEMBERS: usize = 64;

#[repr(C)]
pub(crate) struct BarrierState {
    magic: AtomicU32,
    parties: AtomicU32,
    /// Parties inside `wait`, guarded by `lock`.
    count: AtomicU32,
    /// FILLING, DRAINING, RESETTING or BROKEN, guarded by `lock`.
    state: AtomicU32,
    /// Bumped on every state change: the futex word waiters sleep on.
    seq: AtomicU32,
    _pad: u32,
    lock: RobustWord,
    /// The parties inside `wait` (guarded by `lock`): a dead one is taken out of `count`.
    members: [OwnerCell; MEMBERS],
}

// SAFETY: repr(C), magic first, atomics only, 8-byte alignment.
unsafe impl SharedState for BarrierState {
    const MAGIC: u32 = 0x4241_5252; // "BARR"
    const NAME: &'static str = "Barrier";
}

/// A barrier for a fixed number of parties in any processes.
///
/// The party that arrives last runs the optional action (exactly once per round) and releases
/// everyone. `wait` returns the arrival index, `0..parties`. A timeout, an [`abort`](Self::abort),
/// a [`reset`](Self::reset) while parties wait, or a panicking action breaks the barrier: every
/// waiter, and every later `wait` until a `reset`, gets [`Error::BrokenBarrier`].
///
/// A party that dies inside `wait` (killed, say) breaks its round too: the waiters find it
/// dead within about [`OWNER_CHECK_INTERVAL`](crate::OWNER_CHECK_INTERVAL), and the last
/// party to arrive checks that the others live before it releases them. `reset` takes dead
/// parties out of the count, so it always repairs the barrier. A `wait` that finds the
/// previous round still draining waits for it within its own timeout. Dead parties are found
/// among the first 64 waiting at once.
///
/// The action is a plain `fn()`. It travels to other processes as a
/// [`CodeRef`](multiprocessing_core::code::CodeRef): a barrier with an action is only accepted by
/// a process running the same executable with the same authkey (the family's), so a peer that
/// sends a forged barrier over a connection cannot make the receiver call anything.
#[derive(Clone)]
pub struct Barrier {
    shared: Shared<BarrierState>,
    action: Option<fn()>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

/// Builds a [`Barrier`] with an action or a default timeout.
#[derive(Debug, Clone)]
#[must_use]
pub struct BarrierBuilder {
    parties: u32,
    action: Option<fn()>,
    timeout: Option<Duration>,
}

impl BarrierBuilder {
    /// The function the last party to arrive runs before everyone is released.
    pub fn action(mut self, action: fn()) -> Self {
        self.action = Some(action);
        self
    }

    /// The timeout [`Barrier::wait`] uses.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Makes the barrier; zero parties is an error.
    pub fn build(self) -> Result<Barrier> {
        if self.parties == 0 {
            return Err(Error::InvalidArgument(
                "a barrier needs at least one party".into(),
            ));
        }
        Ok(Barrier {
            shared: Shared::new(BarrierState {
                magic: BarrierState::MAGIC.into(),
                parties: self.parties.into(),
                count: 0.into(),
                state: FILLING.into(),
                seq: 0.into(),
                _pad: 0,
                lock: RobustWord::new(),
                members: [const { OwnerCell::new() }; MEMBERS],
            })?,
            action: self.action,
            timeout: self.timeout,
        })
    }
}

/// Holds the barrier's internal lock.
struct Inner<'a> {
    state: &'a BarrierState,
}

impl Drop for Inner<'_> {
    fn drop(&mut self) {
        self.state.lock.release();
    }
}

impl Inner<'_> {
    fn get(&self) -> u32 {
        self.state.state.load(Ordering::Relaxed)
    }

    fn set(&self, value: u32) {
        self.state.state.store(value, Ordering::Relaxed);
    }

    fn notify_all(&self) {
        self.state.seq.fetch_add(1, Ordering::SeqCst);
        futex::wake_all(&self.state.seq);
    }

    /// Releases the lock, sleeps until a state change, the deadline or one [`SLICE`], relocks.
    /// Returns `false` when nothing happened for a whole slice: time to look for dead parties.
    fn wait(&mut self, deadline: Deadline) -> bool {
        let seq = self.state.seq.load(Ordering::SeqCst);
        self.state.lock.release();
        let slice = deadline.remaining().map_or(SLICE, |r| r.min(SLICE));
        let woken = futex::wait(&self.state.seq, seq, Deadline::after(slice));
        relock(self.state);
        woken || self.state.seq.load(Ordering::SeqCst) != seq
    }

    /// Records the calling party as inside `wait`; `None` if every record is taken.
    fn enter(&self) -> Option<usize> {
        let me = owner::process();
        let slot = self.state.members.iter().position(|m| m.get().is_none())?;
        self.state.members[slot].set(me, 0);
        Some(slot)
    }

    /// Counts the calling party out; the last one out of a draining or resetting round refills
    /// the barrier.
    fn leave(&self, slot: Option<usize>) {
        if let Some(slot) = slot {
            self.state.members[slot].clear();
        }
        let left = self.state.count.load(Ordering::Relaxed).saturating_sub(1);
        self.state.count.store(left, Ordering::Relaxed);
        if left == 0 && matches!(self.get(), DRAINING | RESETTING) {
            self.set(FILLING);
            self.notify_all();
        }
    }

    /// Takes the parties recorded inside `wait` that died out of the count; returns whether
    /// there were any. A dead party breaks a filling round (it will never arrive) and no longer
    /// holds up a drain or a reset.
    fn purge_dead(&self) -> bool {
        purge_dead(self.state)
    }
}

fn purge_dead(state: &BarrierState) -> bool {
    let mut dead = 0;
    for member in &state.members {
        if member.is_dead() {
            member.clear();
            dead += 1;
        }
    }
    if dead == 0 {
        return false;
    }
    let left = state.count.load(Ordering::Relaxed).saturating_sub(dead);
    state.count.store(left, Ordering::Relaxed);
    match state.state.load(Ordering::Relaxed) {
        FILLING => state.state.store(BROKEN, Ordering::Relaxed),
        DRAINING | RESETTING if left == 0 => state.state.store(FILLING, Ordering::Relaxed),
        _ => {}
    }
    state.seq.fetch_add(1, Ordering::SeqCst);
    futex::wake_all(&state.seq);
    true
}

fn relock(state: &BarrierState) {
    let how = state.lock.acquire(owner::process(), Deadline::never());
    locked(state, how);
}

/// [`relock`] as a future: the lock is held for a few instructions at a time, but also while
/// the last party runs the action, which an async waiter must not block its thread for.
#[cfg(not(loom))]
async fn relock_async(state: &BarrierState) -> Inner<'_> {
    let how = state
        .lock
        .acquire_async(owner::process(), 0, Deadline::never())
        .await;
    locked(state, how);
    Inner { state }
}

/// Just took the internal lock, `how`.
fn locked(state: &BarrierState, how: Acquired) {
    if how == Acquired::OwnerDied {
        // A party died inside the barrier: its round cannot complete.
        state.state.store(BROKEN, Ordering::Relaxed);
        state.seq.fetch_add(1, Ordering::SeqCst);
        futex::wake_all(&state.seq);
        purge_dead(state);
    }
}

/// [`Inner::wait`] as a future: gives the lock up (the returned guard holds it again), so a
/// future dropped meanwhile holds nothing. `looked`: when this party last looked for dead
/// parties, which it does when a [`SLICE`] passed without news (the waiter thread wakes
/// every future at least that often).
#[cfg(not(loom))]
async fn wait_async<'a>(inner: Inner<'a>, deadline: Deadline, looked: &mut Instant) -> Inner<'a> {
    let state = inner.state;
    let seq = state.seq.load(Ordering::SeqCst);
    drop(inner);
    let mut waiter = AsyncWaiter::new();
    // Ready when woken, at a slice or at the deadline; the caller looks again either way.
    poll_fn(|cx| waiter.poll_wait(&state.seq, seq, deadline, cx)).await;
    let inner = relock_async(state).await;
    if state.seq.load(Ordering::SeqCst) == seq && looked.elapsed() >= SLICE {
        inner.purge_dead();
        *looked = Instant::now();
    }
    inner
}

/// A party inside an async `wait`, from its arrival until it leaves: dropped before then (its
/// future cancelled), it leaves the barrier. While its round fills it withdraws, as if it had
/// never arrived, if it was the last to arrive (no later party holds a higher index); else it
/// breaks the round, as a party that times out does (Python's rule), rather than leave a
/// duplicate index behind. A party dropped once its round passed just leaves.
#[cfg(not(loom))]
struct Party<'a> {
    state: &'a BarrierState,
    slot: Option<usize>,
    index: u32,
    armed: bool,
}

#[cfg(not(loom))]
impl Drop for Party<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        relock(self.state);
        let inner = Inner { state: self.state };
        if inner.get() == FILLING && self.state.count.load(Ordering::Relaxed) != self.index + 1 {
            inner.set(BROKEN);
            inner.notify_all();
        }
        inner.leave(self.slot);
    }
}

impl Barrier {
    /// A barrier for `parties` parties, without action or default timeout.
    pub fn new(parties: u32) -> Result<Barrier> {
        Barrier::builder(parties).build()
    }

    /// Starts building a barrier for `parties` parties.
    pub fn builder(parties: u32) -> BarrierBuilder {
        BarrierBuilder {
            parties,
            action: None,
            timeout: None,
        }
    }

    fn inner(&self) -> Inner<'_> {
        let state = self.shared.get();
        relock(state);
        Inner { state }
    }

    /// Waits for all parties, with the default timeout; returns this party's arrival index.
    pub fn wait(&self) -> Result<usize> {
        self.wait_deadline(Deadline::from_timeout(self.timeout))
    }

    /// Waits for all parties for at most `timeout`; on expiry the barrier breaks.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_deadline(Deadline::after(timeout))
    }

    fn wait_deadline(&self, deadline: Deadline) -> Result<usize> {
        let mut inner = self.inner();
        // Wait for a previous round to drain or reset; this party has not joined a round yet,
        // so running out of time here breaks nothing.
        while matches!(inner.get(), DRAINING | RESETTING) {
            if deadline.is_expired() {
                return Err(Error::BrokenBarrier);
            }
            if !inner.wait(deadline) {
                inner.purge_dead();
            }
        }
        if inner.get() == BROKEN {
            return Err(Error::BrokenBarrier);
        }
        let state = inner.state;
        let index = state.count.load(Ordering::Relaxed);
        state.count.store(index + 1, Ordering::Relaxed);
        let slot = inner.enter();
        let parties = state.parties.load(Ordering::Relaxed);
        let result = if index + 1 >= parties {
            // A round passes only with every party alive: one that died inside `wait` breaks it.
            if inner.purge_dead() {
                Err(Error::BrokenBarrier)
            } else {
                self.release_all(&inner, slot)
            }
        } else {
            loop {
                if inner.get() != FILLING {
                    // Released (draining), or broken or reset meanwhile.
                    break if matches!(inner.get(), BROKEN | RESETTING) {
                        Err(Error::BrokenBarrier)
                    } else {
                        Ok(())
                    };
                }
                if deadline.is_expired() {
                    inner.set(BROKEN);
                    inner.notify_all();
                    break Err(Error::BrokenBarrier);
                }
                if !inner.wait(deadline) {
                    inner.purge_dead();
                }
            }
        };
        inner.leave(slot);
        result.map(|()| index as usize)
    }

    /// [`wait`](Self::wait) as a future, with the default timeout: the same arrival index, or
    /// [`Error::BrokenBarrier`] when the barrier is or gets broken (a timeout, an
    /// [`abort`](Self::abort), a [`reset`](Self::reset), a party that died). Blocking and async
    /// parties, in any processes, meet in the same rounds. It never blocks its executor's
    /// thread: the futures waiting on one barrier share one waiter thread
    /// (`multiprocessing_core::futex_async`). The last party to arrive runs the action in its
    /// poll, as the blocking `wait` runs it in its call.
    ///
    /// **Cancellation.** A future dropped before its party arrived changes nothing. Dropped
    /// while its round fills, its party withdraws if it was the last to arrive (the barrier
    /// is as if it never came: the next party gets its index); otherwise it breaks the round
    /// as a timeout would, since the parties after it hold higher indices. Dropped once the
    /// round passed, it just leaves (the others were released). Withdrawing takes the
    /// barrier's own lock inside `drop`, blocking the dropping thread while another party runs
    /// the round's action (a moment for a short action; keep actions short).
    ///
    /// ```
    /// use multiprocessing_synchronize::Barrier;
    /// let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    /// let barrier = Barrier::new(3).unwrap();
    /// rt.block_on(async {
    ///     let parties: Vec<_> = (0..2)
    ///         .map(|_| {
    ///             let barrier = barrier.clone();
    ///             tokio::spawn(async move { barrier.wait_async().await.unwrap() })
    ///         })
    ///         .collect();
    ///     // A blocking party (another thread or process) joins the same round.
    ///     let mine = std::thread::spawn({
    ///         let barrier = barrier.clone();
    ///         move || barrier.wait().unwrap()
    ///     });
    ///     let mut indices = vec![mine.join().unwrap()];
    ///     for p in parties {
    ///         indices.push(p.await.unwrap());
    ///     }
    ///     indices.sort();
    ///     assert_eq!(indices, [0, 1, 2]);
    /// });
    /// ```
    #[doc(alias = "wait")]
    #[cfg(not(loom))]
    pub async fn wait_async(&self) -> Result<usize> {
        self.wait_async_deadline(Deadline::from_timeout(self.timeout))
            .await
    }

    /// [`wait_timeout`](Self::wait_timeout) as a future: on expiry the barrier breaks, as in
    /// the blocking form (the deadline is kept by the waiter thread: no runtime timer needed).
    /// Cancellation as [`wait_async`](Self::wait_async).
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiprocessing_synchronize::{Barrier, Error};
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let barrier = Barrier::new(2).unwrap();
    /// rt.block_on(async {
    ///     let waited = barrier.wait_async_timeout(Duration::from_millis(5)).await;
    ///     assert!(matches!(waited, Err(Error::BrokenBarrier))); // nobody else came
    ///     assert!(barrier.broken());
    /// });
    /// ```
    #[doc(alias = "wait")]
    #[cfg(not(loom))]
    pub async fn wait_async_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_async_deadline(Deadline::after(timeout)).await
    }

    /// [`wait_deadline`](Self::wait_deadline) with async sleeps and lock.
    #[cfg(not(loom))]
    async fn wait_async_deadline(&self, deadline: Deadline) -> Result<usize> {
        let state = self.shared.get();
        let mut inner = relock_async(state).await;
        let mut looked = Instant::now();
        // Waiting for a previous round: not joined yet, so a drop or a timeout breaks nothing.
        while matches!(inner.get(), DRAINING | RESETTING) {
            if deadline.is_expired() {
                return Err(Error::BrokenBarrier);
            }
            inner = wait_async(inner, deadline, &mut looked).await;
        }
        if inner.get() == BROKEN {
            return Err(Error::BrokenBarrier);
        }
        let index = state.count.load(Ordering::Relaxed);
        state.count.store(index + 1, Ordering::Relaxed);
        let slot = inner.enter();
        let parties = state.parties.load(Ordering::Relaxed);
        if index + 1 >= parties {
            // The last party: as the blocking wait, with no `.await` (so no cancellation).
            let result = if inner.purge_dead() {
                Err(Error::BrokenBarrier)
            } else {
                self.release_all(&inner, slot)
            };
            inner.leave(slot);
            return result.map(|()| index as usize);
        }
        let mut party = Party {
            state,
            slot,
            index,
            armed: true,
        };
        let result = loop {
            if inner.get() != FILLING {
                break if matches!(inner.get(), BROKEN | RESETTING) {
                    Err(Error::BrokenBarrier)
                } else {
                    Ok(())
                };
            }
            if deadline.is_expired() {
                inner.set(BROKEN);
                inner.notify_all();
                break Err(Error::BrokenBarrier);
            }
            inner = wait_async(inner, deadline, &mut looked).await;
        };
        party.armed = false;
        inner.leave(slot);
        result.map(|()| index as usize)
    }

    fn release_all(&self, inner: &Inner<'_>, slot: Option<usize>) -> Result<()> {
        if let Some(action) = self.action
            && let Err(panic) = std::panic::catch_unwind(action)
        {
            inner.set(BROKEN);
            // Leave, as every other party does, or a later `reset` waits for it for ever.
            inner.leave(slot);
            inner.notify_all();
            std::panic::resume_unwind(panic);
        }
        inner.set(DRAINING);
        inner.notify_all();
        Ok(())
    }

    /// Puts the barrier in the broken state: current and future waiters fail until `reset`.
    pub fn abort(&self) {
        let inner = self.inner();
        inner.set(BROKEN);
        inner.notify_all();
    }

    /// Returns the barrier to its empty state; parties waiting now get
    /// [`Error::BrokenBarrier`].
    pub fn reset(&self) {
        let inner = self.inner();
        // Parties that died inside `wait` will never leave: count them out now.
        inner.purge_dead();
        if inner.state.count.load(Ordering::Relaxed) > 0 {
            if matches!(inner.get(), FILLING | BROKEN) {
                inner.set(RESETTING);
            }
        } else {
            inner.set(FILLING);
        }
        inner.notify_all();
    }

    /// The number of parties needed to pass the barrier.
    #[must_use]
    pub fn parties(&self) -> usize {
        self.shared.get().parties.load(Ordering::Relaxed) as usize
    }

    /// The number of parties waiting now.
    #[must_use]
    pub fn n_waiting(&self) -> usize {
        let inner = self.inner();
        if inner.get() == FILLING {
            inner.state.count.load(Ordering::Relaxed) as usize
        } else {
            0
        }
    }

    /// Whether the barrier is broken.
    #[must_use]
    pub fn broken(&self) -> bool {
        self.shared.get().state.load(Ordering::Relaxed) == BROKEN
    }
}

#[derive(Serialize, Deserialize)]
struct Wire<S> {
    shared: S,
    action: Option<CodeRef<fn()>>,
    timeout: Option<Duration>,
}

impl Serialize for Barrier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            shared: &self.shared,
            action: self.action.map(CodeRef::new),
            timeout: self.timeout,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Barrier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The action is checked (same executable, tag under our authkey) before it exists.
        let wire: Wire<Shared<BarrierState>> = Wire::deserialize(d)?;
        Ok(Barrier {
            shared: wire.shared,
            action: wire.action.map(CodeRef::get),
            timeout: wire.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::Barrier;

    static PANICKED: AtomicBool = AtomicBool::new(false);

    fn panics_once() {
        if !PANICKED.swap(true, Ordering::Relaxed) {
            panic!("the action fails once");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn reset_repairs_a_barrier_whose_action_panicked() {
        let barrier = Barrier::builder(1).action(panics_once).build().unwrap();
        let b = barrier.clone();
        assert!(std::panic::catch_unwind(move || b.wait()).is_err());
        assert!(barrier.broken());
        barrier.reset();
        assert_eq!(barrier.n_waiting(), 0);
        // A barrier stuck resetting would block here for ever.
        let (tx, rx) = std::sync::mpsc::channel();
        let b = barrier.clone();
        std::thread::spawn(move || tx.send(b.wait_timeout(Duration::from_secs(5))));
        let waited = rx.recv_timeout(Duration::from_secs(20));
        assert!(
            matches!(waited, Ok(Ok(0))),
            "the reset barrier did not pass: {waited:?}"
        );
    }
}

/// Loom models of the barrier's rounds (`cargo xtask verify`): the real [`Barrier`] with its
/// state over loom's atomics and futex model. A party left asleep is a deadlock, which loom
/// reports.
#[cfg(all(test, loom))]
mod loom_tests {
    use loom::sync::Arc;

    use super::Barrier;
    use crate::Error;

    /// Two parties pass two rounds: the second `wait` of the faster party finds the first
    /// round still draining and waits for it, and nobody is left asleep.
    #[test]
    fn loom_barrier_two_rounds() {
        multiprocessing_core::futex::loom_model(|| {
            let barrier = Arc::new(Barrier::new(2).unwrap());
            let t = {
                let barrier = barrier.clone();
                loom::thread::spawn(move || {
                    let a = barrier.wait().unwrap();
                    let b = barrier.wait().unwrap();
                    (a, b)
                })
            };
            let a = barrier.wait().unwrap();
            let b = barrier.wait().unwrap();
            let (ta, tb) = t.join().unwrap();
            // Each round hands out the indices 0 and 1 once.
            assert_eq!(a + ta, 1);
            assert_eq!(b + tb, 1);
        });
    }

    /// `abort` while a party waits (or before it arrives) breaks its wait: it never hangs.
    #[test]
    fn loom_barrier_abort_wakes_the_waiter() {
        multiprocessing_core::futex::loom_model(|| {
            let barrier = Arc::new(Barrier::new(2).unwrap());
            let t = {
                let barrier = barrier.clone();
                loom::thread::spawn(move || barrier.wait())
            };
            barrier.abort();
            assert!(matches!(t.join().unwrap(), Err(Error::BrokenBarrier)));
            assert!(barrier.broken());
        });
    }
}
