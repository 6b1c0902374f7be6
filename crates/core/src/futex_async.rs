//! Awaiting a futex word from async code: one waiter thread per word, shared by every future.
//!
//! A futex has no file descriptor, so no async runtime can poll it. A future that must sleep
//! on a word registers its [`Waker`] here, with an [`AsyncWaiter`]; the first registration for
//! a word starts a small thread that sleeps on the word in `futex(2)` (at most a
//! [`SLICE`] at a time, so futures re-check for dead peers as the blocking waits do) and, when
//! it returns, wakes every future registered on that word. The thread ends once no future has
//! waited on its word for [`LINGER`]. So thousands of futures awaiting one queue or one event cost one thread, and
//! futures on a few words a few threads; no future ever blocks its executor's thread.
//!
//! Waking costs one more hop than a blocking wait: the notifier's `futex` wake-up reaches the
//! word's thread, which calls the wakers, and the executor then runs the futures. The futures
//! need no runtime: any executor (tokio, async-std, a hand-written `block_on`) can drive them.
//!
//! The waiter thread never reads the word itself: the kernel compares it inside `futex(2)`,
//! which fails cleanly (`EFAULT`) on memory that is gone. So a leaked future (`mem::forget`)
//! whose memory is unmapped costs at most a spare wake-up, never a read of freed memory.
//!
//! A child forked while futures wait has none of the word threads: its own futures start
//! threads of their own, and a future it inherited re-registers when polled.
//!
//! ```
//! use std::future::poll_fn;
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use multiprocessing_core::futex;
//! use multiprocessing_core::futex_async::AsyncWaiter;
//! use multiprocessing_core::time::Deadline;
//!
//! let flag = Arc::new(AtomicU32::new(0));
//! let setter = {
//!     let flag = Arc::clone(&flag);
//!     std::thread::spawn(move || {
//!         flag.store(1, Ordering::Release);
//!         futex::wake_all(&*flag);
//!     })
//! };
//! // A future that waits while the flag is 0; each `Ready` means "look again".
//! let mut waiter = AsyncWaiter::new();
//! let wait = poll_fn(|cx| loop {
//!     if flag.load(Ordering::Acquire) != 0 {
//!         return std::task::Poll::Ready(());
//!     }
//!     std::task::ready!(waiter.poll_wait(&flag, 0, Deadline::never(), cx));
//! });
//! // Any executor drives it; here a minimal one.
//! block_on(wait);
//! setter.join().unwrap();
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     struct Unpark(std::thread::Thread);
//! #     impl std::task::Wake for Unpark {
//! #         fn wake(self: Arc<Self>) { self.0.unpark() }
//! #     }
//! #     let waker = Arc::new(Unpark(std::thread::current())).into();
//! #     let mut cx = std::task::Context::from_waker(&waker);
//! #     let mut f = std::pin::pin!(f);
//! #     loop {
//! #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
//! #         std::thread::park();
//! #     }
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::fork::{self, ForkMutex};
use crate::time::Deadline;

/// The longest single sleep of a word's thread: every registered future is woken at least
/// this often, to check for dead peers as the blocking waits do.
pub const SLICE: Duration = Duration::from_millis(100);

/// How long a word's thread outlives its last future: a word awaited again and again (a
/// request loop) keeps one thread rather than starting one per wait.
pub const LINGER: Duration = Duration::from_millis(100);

/// One future's registration.
struct Slot {
    waker: Waker,
    expected: u32,
    deadline: Deadline,
}

/// The futures waiting on one word, and whether its thread still serves them.
struct Waiters {
    slots: HashMap<u64, Slot>,
    /// The id of the last registration: the thread sleeps on its expected value first.
    latest: u64,
    /// False once the thread has decided to end: a new registration starts another.
    alive: bool,
    /// When the thread's current sleep ends: a registration with an earlier deadline wakes it.
    until: Deadline,
    /// The thread waits for a registration (no future waits now): a new one notifies it.
    idle: bool,
}

impl Default for Waiters {
    fn default() -> Waiters {
        Waiters {
            slots: HashMap::new(),
            latest: 0,
            alive: false,
            until: Deadline::never(),
            idle: false,
        }
    }
}

/// A word's shared state.
#[derive(Default)]
struct Entry {
    waiters: Mutex<Waiters>,
    /// Where an idle thread waits for the next registration.
    registered: Condvar,
}

impl Entry {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // A panic never happens under this lock (no user code runs there); recover anyway.
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every word with a thread, by address, as of the process it was filled in.
struct Table {
    /// The [`fork::generation`] the words belong to.
    generation: u64,
    words: BTreeMap<usize, Arc<Entry>>,
}

static TABLE: ForkMutex<Table> = ForkMutex::new(Table {
    generation: 0,
    words: BTreeMap::new(),
});

/// Every word with a thread in this process. A forked child inherits the parent's table but
/// none of its threads: it starts afresh (a future there joining a parent's word would wait
/// for a thread that does not exist, deadlines included).
fn table() -> MutexGuard<'static, Table> {
    let mut table = TABLE.lock();
    let generation = fork::generation();
    if table.generation != generation {
        table.generation = generation;
        // The parent's threads own these entries (and may have held their locks at the
        // fork): leave them untouched rather than drop wakers of the parent's tasks here.
        std::mem::forget(std::mem::take(&mut table.words));
    }
    table
}
/// Registration ids, unique in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Words that have a waiter thread now (for tests and diagnostics).
#[must_use]
pub fn words_awaited() -> usize {
    table().words.len()
}

/// A future's handle on the word it awaits: registers its waker with the word's thread, and
/// withdraws it when dropped. Keep one per future (a field of the future), and call
/// [`poll_wait`](Self::poll_wait) from its `poll`.
#[derive(Default)]
pub struct AsyncWaiter {
    reg: Option<Registration>,
    /// The end of this waiter's one spin, once begun (see [`poll_wait_spinning`](Self::poll_wait_spinning)).
    spin_until: Option<Instant>,
}

struct Registration {
    addr: usize,
    id: u64,
    expected: u32,
    entry: Arc<Entry>,
    /// The [`fork::generation`] it was made in: in a forked child, the entry is the
    /// parent's (its thread is not there, its lock may have been held at the fork).
    generation: u64,
}

impl Registration {
    /// Whether it was made in this process, not inherited through `fork`.
    fn is_ours(&self) -> bool {
        self.generation == fork::generation()
    }
}

impl std::fmt::Debug for AsyncWaiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWaiter")
            .field("registered", &self.reg.is_some())
            .finish()
    }
}

impl AsyncWaiter {
    /// A waiter not yet registered anywhere.
    #[must_use]
    pub const fn new() -> AsyncWaiter {
        AsyncWaiter {
            reg: None,
            spin_until: None,
        }
    }

    /// [`poll_wait`](Self::poll_wait), after spinning for up to `spin` (once in this waiter's
    /// life) by re-polling: `Pending` with the task woken again at once, so the executor runs
    /// other tasks and polls this one again. When the notifier runs on another CPU its change
    /// is seen in well under a microsecond this way, where a wake-up through the word's thread
    /// costs two context switches; the blocking waits spin for the same reason (with
    /// `Backoff::spin_until`). Give `Duration::ZERO` where spinning cannot help (the notifier
    /// last ran on this CPU).
    pub fn poll_wait_spinning(
        &mut self,
        word: &AtomicU32,
        expected: u32,
        deadline: Deadline,
        spin: Duration,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if word.load(Ordering::Acquire) != expected || deadline.is_expired() {
            self.cancel();
            return Poll::Ready(());
        }
        if !spin.is_zero() {
            let until = *self.spin_until.get_or_insert_with(|| Instant::now() + spin);
            if Instant::now() < until {
                std::hint::spin_loop();
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        self.poll_wait(word, expected, deadline, cx)
    }

    /// The async [`futex::wait`](crate::futex::wait): `Pending` while `*word == expected`,
    /// until a wake-up on the word, a [`SLICE`] or `deadline` passes; then `Ready(())`, which
    /// means "look again", as `wait`'s `true` does (the caller re-checks its condition and the
    /// deadline, and calls again to sleep on). `Ready` at once when the word already differs
    /// or the deadline passed.
    ///
    /// Raise whatever flag your protocol's notifier checks before it wakes (a waiters bit),
    /// then read `expected`, then call this: as with the blocking wait, a change made after
    /// the read comes with a wake-up, which this does not miss.
    pub fn poll_wait(
        &mut self,
        word: &AtomicU32,
        expected: u32,
        deadline: Deadline,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if word.load(Ordering::Acquire) != expected || deadline.is_expired() {
            self.cancel();
            return Poll::Ready(());
        }
        let addr = std::ptr::from_ref(word) as usize;
        if let Some(reg) = &self.reg
            && reg.is_ours()
            && reg.addr == addr
            && reg.expected == expected
        {
            let mut w = reg.entry.lock();
            match w.slots.get_mut(&reg.id) {
                // Fired: the thread removed the slot when it woke us.
                None => {
                    drop(w);
                    self.reg = None;
                    return Poll::Ready(());
                }
                Some(slot) => {
                    if !slot.waker.will_wake(cx.waker()) {
                        slot.waker = cx.waker().clone();
                    }
                    slot.deadline = deadline;
                    return Poll::Pending;
                }
            }
        }
        self.cancel();
        self.reg = Some(register(word, expected, deadline, cx.waker().clone()));
        // The word may have changed before the registration was seen: look again.
        if word.load(Ordering::Acquire) != expected {
            self.cancel();
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Withdraws the registration, if any (also done on drop).
    pub fn cancel(&mut self) {
        if let Some(reg) = self.reg.take() {
            if reg.is_ours() {
                reg.entry.lock().slots.remove(&reg.id);
            } else {
                // The parent's entry: not ours to lock, nor to free.
                std::mem::forget(reg.entry);
            }
        }
    }
}

impl Drop for AsyncWaiter {
    fn drop(&mut self) {
        self.cancel();
    }
}

fn register(word: &AtomicU32, expected: u32, deadline: Deadline, waker: Waker) -> Registration {
    let addr = std::ptr::from_ref(word) as usize;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let slot = Slot {
        waker,
        expected,
        deadline,
    };
    let mut table = table();
    let generation = table.generation;
    if let Some(entry) = table.words.get(&addr) {
        let mut w = entry.lock();
        if w.alive {
            w.slots.insert(id, slot);
            w.latest = id;
            let sooner = !w.idle && deadline.min(w.until) != w.until;
            if w.idle {
                entry.registered.notify_one();
            }
            drop(w);
            let entry = Arc::clone(entry);
            drop(table);
            if sooner {
                // The thread sleeps past this deadline: wake it (and, spuriously, the word's
                // other sleepers, whose waits are loops) so it sleeps again for less.
                crate::futex::wake_all(word);
            }
            return Registration {
                addr,
                id,
                expected,
                entry,
                generation,
            };
        }
    }
    let entry = Arc::new(Entry::default());
    {
        let mut w = entry.lock();
        w.alive = true;
        w.until = Deadline::never();
        w.slots.insert(id, slot);
        w.latest = id;
    }
    table.words.insert(addr, Arc::clone(&entry));
    drop(table);
    let served = Arc::clone(&entry);
    let started = std::thread::Builder::new()
        .name("futex-await".into())
        .spawn(move || serve(addr, &served));
    if started.is_err() {
        // No thread: the futures poll each time they are woken, which is now and never
        // again. Wake them so they see it (they re-register, and retry the spawn).
        let mut table = self::table();
        if table
            .words
            .get(&addr)
            .is_some_and(|e| Arc::ptr_eq(e, &entry))
        {
            table.words.remove(&addr);
        }
        let mut w = entry.lock();
        w.alive = false;
        for (_, slot) in w.slots.drain() {
            slot.waker.wake();
        }
    }
    Registration {
        addr,
        id,
        expected,
        entry,
        generation,
    }
}

/// The word's thread: sleeps on it and wakes the registered futures, until none is left.
fn serve(addr: usize, entry: &Arc<Entry>) {
    let mut stale = Vec::new();
    loop {
        let (expected, deadline) = {
            let mut w = entry.lock();
            if w.slots.is_empty() {
                // Linger a little for the next future on this word.
                w.idle = true;
                w = entry
                    .registered
                    .wait_timeout(w, LINGER)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                w.idle = false;
                if w.slots.is_empty() {
                    w.alive = false;
                    break;
                }
            }
            let latest = w.latest;
            let expected = w
                .slots
                .get(&latest)
                .or_else(|| w.slots.values().next())
                .map_or(0, |s| s.expected);
            // The word holds one value: a future registered for another one saw it change
            // already (a wake-up that came while this thread was not asleep) or will see it
            // now. Wake it to look again rather than let it wait out a slice.
            w.slots.retain(|_, s| {
                if s.expected == expected {
                    true
                } else {
                    stale.push(s.waker.clone());
                    false
                }
            });
            let deadline = w
                .slots
                .values()
                .map(|s| s.deadline)
                .fold(Deadline::after(SLICE), Deadline::min);
            w.until = deadline;
            (expected, deadline)
        };
        for waker in stale.drain(..) {
            waker.wake();
        }
        let outcome = sleep(addr, expected, deadline);
        let mut woken = Vec::new();
        {
            let mut w = entry.lock();
            match outcome {
                // The word no longer holds this value: those waiting for it to change are done.
                Slept::Changed => w.slots.retain(|_, s| {
                    if s.expected == expected {
                        woken.push(s.waker.clone());
                        false
                    } else {
                        true
                    }
                }),
                // A wake-up, a slice, a deadline or a vanished word: everyone looks again.
                Slept::Woken => woken.extend(w.slots.drain().map(|(_, s)| s.waker)),
            }
        }
        for waker in woken {
            waker.wake();
        }
    }
    let mut table = table();
    if table
        .words
        .get(&addr)
        .is_some_and(|e| Arc::ptr_eq(e, entry))
    {
        table.words.remove(&addr);
    }
}

enum Slept {
    Changed,
    Woken,
}

/// `futex(FUTEX_WAIT)` on `addr`, through a raw pointer: the word may be gone by now (its
/// futures dropped), and the kernel, not this thread, reads it.
fn sleep(addr: usize, expected: u32, deadline: Deadline) -> Slept {
    let left = deadline.remaining().unwrap_or(SLICE);
    let ts = libc::timespec {
        tv_sec: left.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(left.subsec_nanos() as i32),
    };
    // SAFETY: FUTEX_WAIT only reads the 4 bytes at `addr` in the kernel, which reports an
    // unmapped address as EFAULT; `ts` lives across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr as *const u32,
            libc::FUTEX_WAIT,
            expected,
            &raw const ts,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
        Slept::Changed
    } else {
        Slept::Woken
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "futex(2) is a raw system call miri cannot run")]
    fn one_thread_wakes_every_future_and_ends() {
        let word: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut waiters: Vec<AsyncWaiter> = (0..100).map(|_| AsyncWaiter::new()).collect();
        for w in &mut waiters {
            assert!(
                w.poll_wait(word, 0, Deadline::never(), &mut cx)
                    .is_pending()
            );
        }
        // A changed word is Ready at once, without a registration.
        let mut other = AsyncWaiter::new();
        assert!(
            other
                .poll_wait(word, 5, Deadline::never(), &mut cx)
                .is_ready()
        );
        word.store(1, Ordering::Release);
        crate::futex::wake_all(word);
        let start = std::time::Instant::now();
        while count.0.load(Ordering::SeqCst) < 100 {
            assert!(start.elapsed() < Duration::from_secs(10), "not woken");
            std::thread::yield_now();
        }
        for w in &mut waiters {
            assert!(w.poll_wait(word, 0, Deadline::never(), &mut cx).is_ready());
        }
        // The thread ends once nobody waits (within a slice).
        while table()
            .words
            .contains_key(&(std::ptr::from_ref(word) as usize))
        {
            assert!(start.elapsed() < Duration::from_secs(10), "thread stayed");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
