//! The futures of `RLock` (`lock_async`, `acquire_async`), `Condition` (`wait_async`,
//! `wait_for_async`) and `Barrier` (`wait_async`) on a multi-thread and a current-thread tokio
//! runtime, against forked children that use the blocking API: the same results, an async
//! `RLock` hold no thread mistakes for its own, owners SIGKILLed holding the lock (a blocking
//! holder taken over by an async waiter, an async holder by a blocking one), cancellation that
//! loses no notification and leaves barriers as documented, and thousands of waiting futures
//! without a thread each.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use multiprocessing::sharedctypes::RawValue;
use multiprocessing::synchronize::{ConditionLock, Error, TryLockError};
use multiprocessing::{Barrier, Condition, Event, Lock, Process, Queue, RLock, StartMethod};
use multiprocessing_tests::helpers::{BOUND, threads};
use multiprocessing_tests::per_runtime;
use multiprocessing_tests::runtime::{Flavor, run};

// ---- children (blocking API, except `async_rlock_holder`) ----

/// Takes `lock` twice (blocking, re-entering), says so on `held`, releases once `release` is
/// set; if killed, it dies holding it.
fn rlock_holder(lock: RLock, held: Event, release: Event) -> i32 {
    let outer = lock.lock().unwrap();
    let inner = lock.lock().unwrap();
    held.set();
    release.wait();
    drop(inner);
    drop(outer);
    0
}

/// Takes `lock` with an async guard on a runtime of its own and holds it until `release`; if
/// killed, it dies holding it.
fn async_rlock_holder(lock: RLock, held: Event, release: Event) -> i32 {
    // On a thread of its own: the forked thread still looks inside the parent's runtime.
    let runtime = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let guard = lock.lock_async().await.unwrap();
            held.set();
            release.wait_async().await;
            drop(guard);
        });
    });
    i32::from(runtime.join().is_err())
}

/// Takes `lock` (blocking) within the bound and says so on `took`.
fn rlock_taker(lock: RLock, took: Event) -> i32 {
    match lock.lock_timeout(BOUND) {
        Ok(guard) => {
            took.set();
            drop(guard);
            0
        }
        Err(_) => 1,
    }
}

/// Ping-pong on a condition (over either lock): waits (blocking) for `turn` to be odd, makes
/// it even, notifies; `rounds` times.
fn odd_turns<L: ConditionLock>(cond: Condition<L>, turn: RawValue<u64>, rounds: u64) -> i32 {
    for _ in 0..rounds {
        let guard = cond.lock().unwrap();
        let (guard, ok) = cond
            .wait_for(guard, Some(BOUND), || turn.get() % 2 == 1)
            .unwrap();
        if !ok {
            return 1;
        }
        turn.set(turn.get() + 1);
        cond.notify_all();
        drop(guard);
    }
    0
}

/// Once `go` is set, notifies one waiter of `cond` and sets `done`.
fn notify_one(cond: Condition<Lock>, go: Event, done: Event) -> i32 {
    go.wait();
    cond.notify(1);
    done.set();
    0
}

/// Waits (blocking) at `barrier` for `rounds` rounds, putting each arrival index into `out`.
fn barrier_party(barrier: Barrier, rounds: u32, out: Queue<usize>) -> i32 {
    for _ in 0..rounds {
        match barrier.wait() {
            Ok(index) => out.put(index).unwrap(),
            Err(_) => return 1,
        }
    }
    0
}

per_runtime!(
    rlock_futures_agree_with_a_blocking_child,
    rlock_owners_killed_holding_it_are_taken_over,
    condition_futures_agree_with_a_blocking_child,
    dropped_condition_waits_lose_no_notification,
    barrier_futures_agree_with_a_blocking_child,
    dropped_barrier_waits_withdraw_or_break,
    a_barrier_party_killed_inside_wait_breaks_the_async_waits,
    thousands_of_waiting_futures_share_a_few_threads,
);

fn started<F, Args>(target: F, args: Args) -> Process
where
    F: multiprocessing::process::Target<Args>,
    Args: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let p = multiprocessing::get_context(StartMethod::Fork)
        .process(target, args)
        .build();
    p.start().unwrap();
    p
}

/// Polls `fut` once (so it registers, or takes what it waits for); `true` while pending.
async fn poll_once<F: Future>(fut: &mut Pin<Box<F>>) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
}

fn rlock_futures_agree_with_a_blocking_child(flavor: Flavor) {
    run(flavor, async {
        // `'static`, so that a spawned task can hold a guard of it.
        let lock: &'static RLock = Box::leak(Box::new(RLock::new().unwrap()));
        let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
        let child = started(rlock_holder, (lock.clone(), held.clone(), release.clone()));
        held.wait_async().await;
        // Held by the child: the timed forms time out, as the blocking ones, and a dropped
        // wait holds nothing.
        assert!(matches!(
            lock.lock_async_timeout(Duration::from_millis(10)).await,
            Err(TryLockError::WouldBlock)
        ));
        assert!(
            !lock
                .acquire_async(Some(Duration::from_millis(10)))
                .await
                .unwrap()
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(5), lock.lock_async())
                .await
                .is_err()
        );
        release.set();
        let guard = lock.lock_async().await.expect("released cleanly");
        assert_eq!(child.join_async().await.unwrap(), 0);
        assert_eq!(lock.count(), 1);

        // The hold is the guard's: neither this thread nor another of this process re-enters
        // or releases it, and a second async acquisition waits too.
        assert!(!lock.is_mine());
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        let other_thread = std::thread::spawn(|| {
            (
                matches!(lock.try_lock(), Err(TryLockError::WouldBlock)),
                matches!(lock.release(), Err(Error::HeldByGuard)),
            )
        });
        assert_eq!(other_thread.join().unwrap(), (true, true));
        assert!(matches!(lock.release(), Err(Error::HeldByGuard)));
        assert!(matches!(
            lock.lock_async_timeout(Duration::from_millis(10)).await,
            Err(TryLockError::WouldBlock)
        ));
        assert_eq!(lock.count(), 1);

        // A blocking child waits for the async hold; the guard, moved into another task,
        // is held across an `.await` (on any worker thread) and released there.
        let took = Event::new().unwrap();
        let child = started(rlock_taker, (lock.clone(), took.clone()));
        assert!(
            took.wait_async_timeout(Duration::from_millis(50))
                .await
                .is_err(),
            "the child took a lock held by an async guard"
        );
        let holder = tokio::spawn(async move {
            tokio::task::yield_now().await;
            drop(guard);
        });
        holder.await.unwrap();
        took.wait_async().await;
        assert_eq!(child.join_async().await.unwrap(), 0);

        // Python style: the hold of `acquire_async` is released by `release` (once).
        assert!(lock.acquire_async(None).await.unwrap());
        assert!(!lock.is_mine());
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        lock.release().unwrap();
        assert!(matches!(lock.release(), Err(Error::NotOwner)));
        assert_eq!(lock.count(), 0);
        // The blocking forms work as before.
        let outer = lock.lock().unwrap();
        let inner = lock.lock().unwrap();
        assert_eq!(lock.count(), 2);
        drop((inner, outer));
    });
}

fn rlock_owners_killed_holding_it_are_taken_over(flavor: Flavor) {
    run(flavor, async {
        // A blocking holder SIGKILLed: an async waiter gets the lock, told the owner died.
        let lock = RLock::new().unwrap();
        let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
        let child = started(rlock_holder, (lock.clone(), held.clone(), release.clone()));
        held.wait_async().await;
        let waiter = tokio::spawn({
            let lock = lock.clone();
            async move {
                match lock.lock_async().await {
                    Err(died) => {
                        let guard = died.into_inner();
                        // Only the async hold's own level: not the dead thread's two.
                        let count = guard.lock().count();
                        drop(guard);
                        Some(count)
                    }
                    Ok(_) => None,
                }
            }
        });
        tokio::task::yield_now().await;
        assert_eq!(lock.count(), 2);
        child.kill().unwrap();
        assert_eq!(child.join_async().await.unwrap(), -libc::SIGKILL);
        assert_eq!(
            waiter.await.unwrap(),
            Some(1),
            "the waiter is told the owner died"
        );
        assert_eq!(lock.count(), 0);
        drop(lock.lock_async().await.expect("a clean lock again"));

        // An async holder SIGKILLed (its process is the owner): a blocking waiter gets it.
        let lock = RLock::new().unwrap();
        let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
        let child = started(async_rlock_holder, (lock.clone(), held.clone(), release));
        held.wait_async().await;
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        child.kill().unwrap();
        assert_eq!(child.join_async().await.unwrap(), -libc::SIGKILL);
        let taken = tokio::task::spawn_blocking({
            let lock = lock.clone();
            move || matches!(lock.lock_timeout(BOUND), Err(TryLockError::OwnerDied(_)))
        });
        assert!(
            taken.await.unwrap(),
            "the blocking waiter is told the owner died"
        );
        assert_eq!(lock.count(), 0);
    });
}

fn condition_futures_agree_with_a_blocking_child(flavor: Flavor) {
    const ROUNDS: u64 = 50;
    run(flavor, async {
        // Ping-pong with a blocking child: the parent makes `turn` odd, the child even.
        let (cond, turn) = (Condition::new().unwrap(), RawValue::new(0u64).unwrap());
        let child = started(odd_turns::<RLock>, (cond.clone(), turn.clone(), ROUNDS));
        for round in 0..ROUNDS {
            let guard = cond.lock_async().await.unwrap();
            let (guard, ok) = cond
                .wait_for_async(guard, Some(BOUND), || turn.get() == 2 * round)
                .await
                .unwrap();
            assert!(ok);
            turn.set(turn.get() + 1);
            cond.notify_all();
            drop(guard);
        }
        let mut guard = cond.lock_async().await.unwrap();
        while turn.get() != 2 * ROUNDS {
            guard = cond.wait_async(guard).await.unwrap();
        }
        drop(guard);
        assert_eq!(child.join_async().await.unwrap(), 0);

        // The same over a `Lock`.
        let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
        let turn = RawValue::new(0u64).unwrap();
        let child = started(odd_turns::<Lock>, (cond.clone(), turn.clone(), ROUNDS));
        for round in 0..ROUNDS {
            let mut guard = cond.lock_async().await.unwrap();
            while turn.get() != 2 * round {
                guard = cond.wait_async(guard).await.unwrap();
            }
            turn.set(turn.get() + 1);
            cond.notify(1);
            drop(guard);
        }
        assert_eq!(child.join_async().await.unwrap(), 0);

        // Nobody notifies: the timed forms time out with the guard back, as the blocking ones.
        let guard = cond.lock_async().await.unwrap();
        let (guard, result) = cond
            .wait_async_timeout(guard, Duration::from_millis(10))
            .await
            .unwrap();
        assert!(result.timed_out());
        let (guard, ok) = cond
            .wait_for_async(guard, Some(Duration::from_millis(10)), || false)
            .await
            .unwrap();
        assert!(!ok);
        assert!(cond.get_lock().is_locked());
        drop(guard);
        assert!(!cond.get_lock().is_locked());
    });
}

fn dropped_condition_waits_lose_no_notification(flavor: Flavor) {
    run(flavor, async {
        let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
        // Two waits; a child's `notify(1)` is handed out; the first is dropped before it
        // looked: the second gets the notification.
        let (go, done) = (Event::new().unwrap(), Event::new().unwrap());
        let child = started(notify_one, (cond.clone(), go.clone(), done.clone()));
        let mut first = Box::pin(cond.wait_async(cond.lock_async().await.unwrap()));
        assert!(poll_once(&mut first).await);
        // The first wait released the lock.
        let mut second = Box::pin(cond.wait_async_timeout(cond.lock_async().await.unwrap(), BOUND));
        assert!(poll_once(&mut second).await);
        assert!(!cond.get_lock().is_locked());
        go.set();
        done.wait_async().await;
        drop(first);
        let (guard, result) = second.await.unwrap();
        assert!(
            !result.timed_out(),
            "the dropped wait's notification was lost"
        );
        drop(guard);
        assert_eq!(child.join_async().await.unwrap(), 0);
        // A dropped wait leaves the lock released.
        assert!(!cond.get_lock().is_locked());

        // The first takes the notification, then is dropped while it waits for the lock:
        // it hands the notification on.
        let mut first = Box::pin(cond.wait_async(cond.lock_async().await.unwrap()));
        assert!(poll_once(&mut first).await);
        let mut second = Box::pin(cond.wait_async_timeout(cond.lock_async().await.unwrap(), BOUND));
        assert!(poll_once(&mut second).await);
        let held = cond.lock_async().await.unwrap();
        cond.notify(1);
        assert!(
            poll_once(&mut first).await,
            "notified, it waits for the lock"
        );
        drop(first);
        drop(held);
        let (guard, result) = second.await.unwrap();
        assert!(
            !result.timed_out(),
            "the dropped wait's notification was lost"
        );
        drop(guard);

        // A wait dropped with nobody notifying leaves no trace: the next notify goes to a
        // live waiter and no notification is banked.
        let mut gone = Box::pin(cond.wait_async(cond.lock_async().await.unwrap()));
        assert!(poll_once(&mut gone).await);
        drop(gone);
        assert!(!cond.get_lock().is_locked());
        cond.notify(1);
        let (guard, result) = cond
            .wait_async_timeout(cond.lock_async().await.unwrap(), Duration::from_millis(20))
            .await
            .unwrap();
        assert!(result.timed_out(), "a notification was banked");
        drop(guard);
    });
}

fn barrier_futures_agree_with_a_blocking_child(flavor: Flavor) {
    const ROUNDS: u32 = 20;
    run(flavor, async {
        // Three parties: a blocking child and two async tasks, round after round.
        let barrier = Barrier::new(3).unwrap();
        let out = Queue::new().unwrap();
        let child = started(barrier_party, (barrier.clone(), ROUNDS, out.clone()));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let mut indices = Vec::new();
                    for _ in 0..ROUNDS {
                        indices.push(barrier.wait_async().await.unwrap());
                    }
                    indices
                })
            })
            .collect();
        let mut rounds = vec![Vec::new(); ROUNDS as usize];
        for t in tasks {
            for (round, index) in t.await.unwrap().into_iter().enumerate() {
                rounds[round].push(index);
            }
        }
        for round in &mut rounds {
            round.push(out.get_async().await.unwrap());
            round.sort_unstable();
            assert_eq!(round, &[0, 1, 2], "each round hands out each index once");
        }
        assert_eq!(child.join_async().await.unwrap(), 0);
        assert_eq!(barrier.n_waiting(), 0);

        // Timeouts, abort and reset as the blocking forms.
        let two = Barrier::new(2).unwrap();
        assert!(matches!(
            two.wait_async_timeout(Duration::from_millis(10)).await,
            Err(Error::BrokenBarrier)
        ));
        assert!(two.broken());
        assert!(matches!(two.wait_async().await, Err(Error::BrokenBarrier)));
        two.reset();
        let waiting = tokio::spawn({
            let two = two.clone();
            async move { two.wait_async().await }
        });
        while two.n_waiting() == 0 {
            tokio::task::yield_now().await;
        }
        two.abort();
        assert!(matches!(waiting.await.unwrap(), Err(Error::BrokenBarrier)));
        two.reset();
        let (a, b) = tokio::join!(two.wait_async(), two.wait_async());
        let mut both = [a.unwrap(), b.unwrap()];
        both.sort_unstable();
        assert_eq!(both, [0, 1]);
    });
}

fn dropped_barrier_waits_withdraw_or_break(flavor: Flavor) {
    run(flavor, async {
        let barrier = Barrier::new(3).unwrap();
        // The last to arrive, dropped: withdrawn, nothing broken.
        let mut a = Box::pin(barrier.wait_async());
        assert!(poll_once(&mut a).await);
        assert_eq!(barrier.n_waiting(), 1);
        drop(a);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());

        // A withdrawn index goes to the next party; the round passes with a blocking child.
        let mut a = Box::pin(barrier.wait_async());
        assert!(poll_once(&mut a).await);
        let mut b = Box::pin(barrier.wait_async());
        assert!(poll_once(&mut b).await);
        drop(b);
        assert_eq!(barrier.n_waiting(), 1);
        let out = Queue::new().unwrap();
        let child = started(barrier_party, (barrier.clone(), 1u32, out.clone()));
        let (a, c) = tokio::join!(a, barrier.wait_async());
        let mut indices = [a.unwrap(), c.unwrap(), out.get_async().await.unwrap()];
        indices.sort_unstable();
        assert_eq!(indices, [0, 1, 2]);
        assert_eq!(child.join_async().await.unwrap(), 0);

        // Not the last to arrive, dropped: the round breaks, as on a timeout.
        let mut a = Box::pin(barrier.wait_async());
        assert!(poll_once(&mut a).await);
        let mut b = Box::pin(barrier.wait_async());
        assert!(poll_once(&mut b).await);
        drop(a);
        assert!(barrier.broken());
        assert!(matches!(b.await, Err(Error::BrokenBarrier)));
        barrier.reset();
        assert!(!barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);

        // Dropped once its round passed: it just leaves, and the next round works.
        let mut a = Box::pin(barrier.wait_async());
        assert!(poll_once(&mut a).await);
        let mut b = Box::pin(barrier.wait_async());
        assert!(poll_once(&mut b).await);
        assert_eq!(barrier.wait_async().await.unwrap(), 2);
        drop(a);
        assert_eq!(b.await.unwrap(), 1);
        assert!(!barrier.broken());
        three_tasks_pass(&barrier).await;
    });
}

/// Three async parties pass a three-party barrier together, with the indices 0, 1 and 2.
async fn three_tasks_pass(barrier: &Barrier) {
    let (a, b, c) = tokio::join!(
        barrier.wait_async(),
        barrier.wait_async(),
        barrier.wait_async()
    );
    let mut indices = [a.unwrap(), b.unwrap(), c.unwrap()];
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
}

fn a_barrier_party_killed_inside_wait_breaks_the_async_waits(flavor: Flavor) {
    run(flavor, async {
        let barrier = Barrier::new(3).unwrap();
        let out = Queue::<usize>::new().unwrap();
        let child = started(barrier_party, (barrier.clone(), 1u32, out));
        let waiter = tokio::spawn({
            let barrier = barrier.clone();
            async move { barrier.wait_async().await }
        });
        let start = std::time::Instant::now();
        while barrier.n_waiting() < 2 {
            assert!(start.elapsed() < BOUND, "the parties did not arrive");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        assert_eq!(child.join_async().await.unwrap(), -libc::SIGKILL);
        // Only async waiters are left: they find the dead party themselves.
        assert!(matches!(waiter.await.unwrap(), Err(Error::BrokenBarrier)));
        assert!(barrier.broken());
        barrier.reset();
        three_tasks_pass(&barrier).await;
    });
}

fn thousands_of_waiting_futures_share_a_few_threads(flavor: Flavor) {
    const N: usize = 1000;
    run(flavor, async {
        let lock = RLock::new().unwrap();
        let cond = Condition::new().unwrap();
        let barrier = Barrier::new(N as u32 + 1).unwrap();
        let held = lock.lock_async().await.unwrap();
        let waiting = Arc::new(AtomicUsize::new(0));
        let before = threads();
        let mut tasks = Vec::new();
        for _ in 0..N {
            let lock = lock.clone();
            tasks.push(tokio::spawn(async move {
                drop(lock.lock_async().await.unwrap());
                1
            }));
            let (cond, waiting) = (cond.clone(), waiting.clone());
            tasks.push(tokio::spawn(async move {
                let guard = cond.lock_async().await.unwrap();
                // Counted and waiting in one critical section.
                waiting.fetch_add(1, Ordering::Relaxed);
                let (guard, result) = cond.wait_async_timeout(guard, BOUND).await.unwrap();
                drop(guard);
                usize::from(!result.timed_out())
            }));
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait_async().await.map_or(0, |_| 1)
            }));
        }
        // Let every task reach its wait.
        let start = std::time::Instant::now();
        while barrier.n_waiting() < N || waiting.load(Ordering::Relaxed) < N {
            assert!(
                start.elapsed() < BOUND,
                "the tasks did not reach their waits"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let during = threads();
        // One waiter thread per awaited word (the lock word, the condition's and the
        // barrier's sequence words, and the locks behind them while contended); tokio's own
        // timer or blocking threads may add a couple.
        assert!(
            during <= before + 8,
            "{N} futures each on an RLock, a Condition and a Barrier: {before} threads before, {during} during"
        );
        drop(held);
        // Under the lock: the last waiter counted is inside its wait.
        drop(cond.lock_async().await.unwrap());
        cond.notify_all();
        assert!(barrier.wait_async().await.is_ok());
        let mut done = 0;
        for t in tasks {
            done += t.await.unwrap();
        }
        // Every condition waiter that had started waiting was notified; one that had not yet
        // would have timed out at the bound, failing the test.
        assert_eq!(done, 3 * N);
    });
}
