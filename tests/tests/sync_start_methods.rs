//! Synchronization primitives and shared values handed to children started by each start
//! method (the workers live in `multiprocessing_tests::sync_workers`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use multiprocessing::synchronize::{Condition, Error, TryLockError};
use multiprocessing::{
    Array, Barrier, BoundedSemaphore, ErrorKind, Event, Lock, RLock, RawValue, Semaphore,
    StartMethod, Value, get_context,
};
use multiprocessing_tests::helpers::{BOUND, eventually, within};
use multiprocessing_tests::per_method;
use multiprocessing_tests::sync_workers::*;

fn lock_gives_mutual_exclusion(method: StartMethod) {
    const N: usize = 3;
    const M: u32 = 5_000;
    let ctx = get_context(method);
    let lock = Lock::new().unwrap();
    let counter = RawValue::new(0u64).unwrap();
    let children: Vec<_> = (0..N)
        .map(|_| {
            ctx.start(increment_worker, ((lock.clone(), counter.clone(), M),))
                .unwrap()
        })
        .collect();
    for child in children {
        assert_eq!(child.join().unwrap(), 0);
    }
    assert_eq!(counter.get(), N as u64 * u64::from(M));
}

fn locked_value_increments_are_never_lost(method: StartMethod) {
    const M: u32 = 5_000;
    let value = Value::new(0u64).unwrap();
    let child = get_context(method)
        .start(value_increment_worker, ((value.clone(), M),))
        .unwrap();
    assert_eq!(value_increment_worker((value.clone(), M)), 0);
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(value.get().unwrap(), 2 * u64::from(M));
}

fn rlock_is_reentrant_and_refuses_a_foreign_release(method: StartMethod) {
    let lock = RLock::new().unwrap();
    let outer = lock.lock().unwrap();
    let inner = lock.lock().unwrap();
    let child = get_context(method)
        .start(rlock_foreign_worker, (lock.clone(),))
        .unwrap();
    assert_eq!(
        child.join().unwrap(),
        0,
        "the child could take or release our RLock"
    );
    // Another thread of this process is not the owner either.
    let l = lock.clone();
    let refused = std::thread::spawn(move || matches!(l.release(), Err(Error::NotOwner)))
        .join()
        .unwrap();
    assert!(refused);
    assert_eq!(lock.count(), 2);
    drop(inner);
    assert!(lock.is_mine());
    drop(outer);
    assert!(!lock.is_mine());
}

fn a_guard_hold_survives_a_python_release_from_another_process(method: StartMethod) {
    let (guarded, acquired) = (Lock::new().unwrap(), Lock::new().unwrap());
    let guard = guarded.lock().unwrap();
    assert!(acquired.acquire(true, None).unwrap());
    let child = get_context(method)
        .start(
            guarded_lock_release_worker,
            ((guarded.clone(), acquired.clone()),),
        )
        .unwrap();
    assert_eq!(child.join().unwrap(), 0, "see guarded_lock_release_worker");
    assert!(
        !acquired.is_locked(),
        "the child's Python-style release holds here"
    );
    // Still ours: dropping the guard is the one release, and it frees the lock.
    assert!(guarded.is_locked());
    drop(guard);
    assert!(!guarded.is_locked());
    assert!(matches!(guarded.release(), Err(Error::NotLocked)));
}

fn semaphore_counts_across_processes(method: StartMethod) {
    let sem = Semaphore::new(3).unwrap();
    let (taken, go) = (Event::new().unwrap(), Event::new().unwrap());
    let child = get_context(method)
        .start(
            semaphore_holder_worker,
            ((sem.clone(), taken.clone(), go.clone()),),
        )
        .unwrap();
    assert!(taken.wait_timeout(BOUND).is_ok());
    assert_eq!(sem.get_value(), 0);
    let start = Instant::now();
    assert!(
        sem.acquire_timeout(Duration::from_millis(20)).is_err(),
        "no unit is left"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(20),
        "the timeout is waited out"
    );
    assert!(!sem.acquire(false, None));
    go.set();
    assert!(
        sem.acquire_timeout(BOUND).is_ok(),
        "the child gives one unit back"
    );
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(sem.get_value(), 0);
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 1);
}

fn over_release(sem: BoundedSemaphore) -> bool {
    matches!(sem.release(), Err(Error::TooManyReleases))
}

fn bounded_semaphore_refuses_a_release_above_its_start(method: StartMethod) {
    let sem = BoundedSemaphore::new(1).unwrap();
    assert!(
        get_context(method)
            .start(over_release, (sem.clone(),))
            .unwrap()
            .join()
            .unwrap()
    );
    assert!(sem.try_acquire());
    assert!(sem.release().is_ok());
}

fn condition_wait_for_sees_a_predicate_set_by_a_child(method: StartMethod) {
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let flag = RawValue::new(0u32).unwrap();
    let guard = cond.lock().unwrap();
    // The child can only set the flag once wait_for has released the lock.
    let child = get_context(method)
        .start(condition_setter_worker, ((cond.clone(), flag.clone()),))
        .unwrap();
    let (guard, satisfied) = cond
        .wait_for(guard, Some(BOUND), || flag.get() == 1)
        .unwrap();
    assert!(satisfied);
    drop(guard);
    assert_eq!(child.join().unwrap(), 0);
    // An unmet predicate times out and reports false.
    let guard = cond.lock().unwrap();
    let (_guard, satisfied) = cond
        .wait_for(guard, Some(Duration::from_millis(50)), || flag.get() == 2)
        .unwrap();
    assert!(!satisfied);
}

/// Takes `cond`'s `RLock` (possible only while the parent waits), sets the flag, notifies.
fn rlock_condition_setter((cond, flag): (Condition<RLock>, RawValue<u32>)) -> i32 {
    let _guard = cond.lock().expect("no owner dies in this test");
    flag.set(1);
    cond.notify_all();
    0
}

fn a_condition_on_an_rlock_releases_every_level_while_waiting(method: StartMethod) {
    let cond = Condition::new().unwrap();
    let flag = RawValue::new(0u32).unwrap();
    let outer = cond.get_lock().lock().unwrap();
    let guard = cond.lock().unwrap();
    assert_eq!(cond.get_lock().count(), 2);
    let child = get_context(method)
        .start(rlock_condition_setter, ((cond.clone(), flag.clone()),))
        .unwrap();
    let (guard, satisfied) = cond
        .wait_for(guard, Some(BOUND), || flag.get() == 1)
        .unwrap();
    assert!(satisfied);
    assert_eq!(cond.get_lock().count(), 2, "both levels are restored");
    drop(guard);
    drop(outer);
    assert_eq!(child.join().unwrap(), 0);
    assert!(!cond.get_lock().is_mine());
}

fn notify_wakes_one_and_notify_all_the_rest(method: StartMethod) {
    let ctx = get_context(method);
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let (registered, woken) = (RawValue::new(0u32).unwrap(), RawValue::new(0u32).unwrap());
    let args = (cond.clone(), registered.clone(), woken.clone());
    let waiters: Vec<_> = (0..3)
        .map(|_| ctx.start(condition_waiter_worker, (args.clone(),)).unwrap())
        .collect();
    // Each waiter registers and starts waiting in one critical section.
    eventually("three waiters wait", || {
        let _g = cond.lock().unwrap();
        registered.get() == 3
    });
    cond.notify(1);
    eventually("one waiter wakes", || woken.get() >= 1);
    {
        // Every waiter that could still wake needs the lock we now hold; give them a moment to
        // show that a single notify woke a single waiter.
        let _g = cond.lock().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(woken.get(), 1, "notify(1) woke more than one waiter");
    cond.notify_all();
    for w in waiters {
        assert_eq!(w.join().unwrap(), 0);
    }
    assert_eq!(woken.get(), 3);
}

fn a_notify_is_not_lost_to_a_waiter_killed_in_wait(method: StartMethod) {
    let ctx = get_context(method);
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let (registered, woken) = (RawValue::new(0u32).unwrap(), RawValue::new(0u32).unwrap());
    let args = (cond.clone(), registered.clone(), woken.clone());
    let start_waiter = |n: u32| {
        let p = ctx
            .process(condition_waiter_worker, (args.clone(),))
            .start()
            .unwrap();
        // Each waiter registers and starts waiting in one critical section.
        eventually("the waiter waits", || {
            let _g = cond.lock().unwrap();
            registered.get() == n
        });
        p
    };
    let doomed = start_waiter(1);
    let first = start_waiter(2);
    doomed.kill().unwrap();
    doomed.join().unwrap();
    // The one live waiter takes this one; the dead one stays counted as waiting.
    cond.notify(1);
    assert_eq!(first.join_timeout(BOUND).unwrap(), 0);
    let last = start_waiter(3);
    // This wake-up goes to the dead waiter first: it must reach the live one all the same.
    cond.notify(1);
    assert_eq!(
        last.join_timeout(BOUND).unwrap(),
        0,
        "the live waiter was not woken"
    );
    assert_eq!(woken.get(), 2);
}

/// Whether process `pid` is stopped (state `T` in `/proc/PID/stat`).
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, after_name) = stat.rsplit_once(')')?;
            after_name
                .split_whitespace()
                .next()
                .map(|state| state == "T")
        })
        .unwrap_or(false)
}

fn notify_goes_to_a_waiter_that_was_waiting_before_it(method: StartMethod) {
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let (registered, woken) = (RawValue::new(0u32).unwrap(), RawValue::new(0u32).unwrap());
    let child = get_context(method)
        .process(
            condition_waiter_worker,
            ((cond.clone(), registered.clone(), woken.clone()),),
        )
        .start()
        .unwrap();
    eventually("the child waits", || {
        let _g = cond.lock().unwrap();
        registered.get() == 1
    });
    // Stopped, the child can not take its wake-up before this process starts waiting too.
    let pid = child.pid().unwrap();
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
    eventually("the child is stopped", || is_stopped(pid));
    let guard = cond.lock().unwrap();
    cond.notify(1);
    let (guard, result) = cond
        .wait_timeout(guard, Duration::from_millis(100))
        .unwrap();
    drop(guard);
    // Let the child go before judging, so that a failure leaves no stopped process behind.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGCONT) }, 0);
    assert!(
        result.timed_out(),
        "a waiter that came after notify(1) took the wake-up"
    );
    assert_eq!(
        child.join_timeout(BOUND).unwrap(),
        0,
        "the waiter notify(1) chose was not woken"
    );
    assert_eq!(woken.get(), 1);
}

fn event_set_by_the_parent_wakes_the_child(method: StartMethod) {
    let event = Event::new().unwrap();
    let child = get_context(method)
        .start(event_waiter_worker, (event.clone(),))
        .unwrap();
    event.set();
    assert_eq!(child.join().unwrap(), 0);
    assert!(event.is_set());
}

static ACTIONS: OnceLock<RawValue<u32>> = OnceLock::new();

fn count_action() {
    let actions = ACTIONS.get().expect("installed before waiting");
    actions.set(actions.get() + 1);
}

/// A barrier party that first installs the shared action counter (statics are per process).
fn barrier_party(barrier: Barrier, results: Array<i32>, slot: u32, actions: RawValue<u32>) -> i32 {
    let _ = ACTIONS.set(actions);
    barrier_worker((barrier, results, slot))
}

fn barrier_runs_its_action_once(method: StartMethod) {
    let ctx = get_context(method);
    let actions = ACTIONS.get_or_init(|| RawValue::new(0).unwrap()).clone();
    let before = actions.get();
    let barrier = Barrier::builder(3).action(count_action).build().unwrap();
    let results = Array::new(&[-1i32; 3]).unwrap();
    let children: Vec<_> = (0..2)
        .map(|slot| {
            ctx.start(
                barrier_party,
                (barrier.clone(), results.clone(), slot, actions.clone()),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(barrier_worker((barrier.clone(), results.clone(), 2)), 0);
    for c in children {
        assert_eq!(c.join().unwrap(), 0);
    }
    let mut indices = results.to_vec().unwrap();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(actions.get() - before, 1, "the action runs exactly once");
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
    assert_eq!(barrier.parties(), 3);
}

/// The last party, a child, runs the action there: the action's code reference resolves in
/// a process started by `method`.
fn the_last_party_runs_the_action_in_its_own_process(method: StartMethod) {
    let actions = ACTIONS.get_or_init(|| RawValue::new(0).unwrap()).clone();
    let before = actions.get();
    let barrier = Barrier::builder(2).action(count_action).build().unwrap();
    let results = Array::new(&[-1i32; 2]).unwrap();
    let b = barrier.clone();
    let first = std::thread::spawn(move || b.wait().unwrap());
    eventually("this process waits first", || barrier.n_waiting() == 1);
    let child = get_context(method)
        .start(
            barrier_party,
            (barrier.clone(), results.clone(), 1, actions.clone()),
        )
        .unwrap();
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(first.join().unwrap(), 0, "we arrived first");
    assert_eq!(results.to_vec().unwrap()[1], 1, "the child arrived last");
    assert_eq!(actions.get() - before, 1, "the action ran once");
}

fn barrier_timeout_abort_and_reset(method: StartMethod) {
    let ctx = get_context(method);
    let barrier = Barrier::new(2).unwrap();
    // A lone party times out and breaks the barrier.
    let child = ctx
        .start(barrier_broken_worker, ((barrier.clone(), 50u64),))
        .unwrap();
    assert_eq!(child.join().unwrap(), 0);
    assert!(barrier.broken());
    barrier.reset();
    assert!(!barrier.broken());
    // A waiting party is released with an error by abort.
    let child = ctx
        .start(barrier_broken_worker, ((barrier.clone(), 30_000u64),))
        .unwrap();
    eventually("the child waits at the barrier", || {
        barrier.n_waiting() == 1
    });
    barrier.abort();
    assert_eq!(child.join().unwrap(), 0);
    assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
}

/// Starts a party that waits at `barrier` (for up to a minute) and returns once it waits.
fn start_waiting_party(method: StartMethod, barrier: &Barrier) -> multiprocessing::Process {
    let waiting = barrier.n_waiting();
    let p = get_context(method)
        .process(barrier_broken_worker, ((barrier.clone(), 60_000u64),))
        .start()
        .unwrap();
    eventually("the party waits at the barrier", || {
        barrier.n_waiting() == waiting + 1
    });
    p
}

fn barrier_party_killed_in_wait_breaks_the_round_and_reset_repairs(method: StartMethod) {
    let ctx = get_context(method);
    let barrier = Barrier::new(3).unwrap();
    let doomed = start_waiting_party(method, &barrier);
    doomed.kill().unwrap();
    doomed.join().unwrap();
    // The dead party will never arrive: a waiter finds that out instead of waiting out its
    // whole timeout.
    let start = Instant::now();
    assert!(matches!(
        barrier.wait_timeout(BOUND),
        Err(Error::BrokenBarrier)
    ));
    assert!(start.elapsed() < BOUND / 2, "took {:?}", start.elapsed());
    barrier.reset();
    assert_eq!(
        barrier.n_waiting(),
        0,
        "the dead party is no longer counted"
    );
    // The repaired barrier passes a round of live parties.
    let results = Array::new(&[-1i32; 3]).unwrap();
    let children: Vec<_> = (0..2)
        .map(|slot| {
            ctx.start(barrier_worker, ((barrier.clone(), results.clone(), slot),))
                .unwrap()
        })
        .collect();
    let (b, r) = (barrier.clone(), results.clone());
    assert_eq!(
        within("a round after reset", move || barrier_worker((b, r, 2))),
        0
    );
    for c in children {
        assert_eq!(c.join().unwrap(), 0);
    }
}

fn reset_breaks_a_waiting_party_and_leaves_the_barrier_usable(method: StartMethod) {
    let barrier = Barrier::new(2).unwrap();
    let party = start_waiting_party(method, &barrier);
    barrier.reset();
    assert_eq!(
        party.join_timeout(BOUND).unwrap(),
        0,
        "the waiting party got BrokenBarrier"
    );
    assert!(!barrier.broken());
    let results = Array::new(&[-1i32; 2]).unwrap();
    let child = get_context(method)
        .start(barrier_worker, ((barrier.clone(), results.clone(), 0),))
        .unwrap();
    let (b, r) = (barrier.clone(), results.clone());
    assert_eq!(
        within("a round after reset", move || barrier_worker((b, r, 1))),
        0
    );
    assert_eq!(child.join().unwrap(), 0);
}

fn the_last_party_does_not_pass_a_round_with_a_dead_one(method: StartMethod) {
    let barrier = Barrier::new(2).unwrap();
    let doomed = start_waiting_party(method, &barrier);
    doomed.kill().unwrap();
    doomed.join().unwrap();
    assert!(matches!(
        barrier.wait_timeout(BOUND),
        Err(Error::BrokenBarrier)
    ));
    barrier.reset();
    // A reset while a party waits, then its death: the next reset repairs the barrier.
    let doomed = start_waiting_party(method, &barrier);
    barrier.reset();
    doomed.kill().unwrap();
    doomed.join().unwrap();
    barrier.reset();
    let b = barrier.clone();
    let waited = within("a wait after reset", move || {
        b.wait_timeout(Duration::from_millis(100))
    });
    assert!(matches!(waited, Err(Error::BrokenBarrier)), "{waited:?}");
}

fn waiting_for_a_round_to_drain_honours_the_timeout(method: StartMethod) {
    let barrier = Barrier::new(2).unwrap();
    let stuck = start_waiting_party(method, &barrier);
    let pid = stuck.pid().unwrap() as i32;
    // A live party that cannot run yet keeps the reset round from draining.
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    barrier.reset();
    let (tx, rx) = std::sync::mpsc::channel();
    let b = barrier.clone();
    std::thread::spawn(move || tx.send(b.wait_timeout(Duration::from_millis(300))));
    let waited = rx.recv_timeout(BOUND);
    // Let the party go before judging, so that a failure leaves no stopped process behind.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    assert!(
        matches!(waited, Ok(Err(Error::BrokenBarrier))),
        "the wait for the drain: {waited:?}"
    );
    assert_eq!(
        stuck.join().unwrap(),
        0,
        "the reset released the party broken"
    );
    assert!(!barrier.broken());
}

/// Starts `worker`, which takes `lock` and blocks until killed, and waits until it holds it.
fn start_holder<F, L>(method: StartMethod, worker: F, lock: &L) -> multiprocessing::Process
where
    F: multiprocessing::process::Target<((L, Event),)>,
    L: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let ready = Event::new().unwrap();
    let p = get_context(method)
        .process(worker, ((lock.clone(), ready.clone()),))
        .start()
        .unwrap();
    assert!(ready.wait_timeout(BOUND).is_ok());
    p
}

fn try_lock_reports_a_dead_owner(method: StartMethod) {
    let lock = Lock::new().unwrap();
    let p = start_holder(method, hold_lock_until_killed_worker, &lock);
    let busy = lock.try_lock().unwrap_err();
    assert!(matches!(busy, TryLockError::WouldBlock));
    assert_eq!(busy.kind(), ErrorKind::WouldBlock);
    p.kill().unwrap();
    p.join().unwrap();
    match lock.try_lock() {
        Err(died @ TryLockError::OwnerDied(_)) => {
            assert_eq!(died.kind(), ErrorKind::OwnerDied);
            let TryLockError::OwnerDied(died) = died else {
                unreachable!()
            };
            drop(died.into_inner());
        }
        other => panic!("a dead owner's Lock: {other:?}"),
    }
    assert!(!lock.is_locked(), "the guard taken over released it");
    assert!(lock.try_lock().is_ok());

    let rlock = RLock::new().unwrap();
    let p = start_holder(method, hold_rlock_until_killed_worker, &rlock);
    assert!(matches!(rlock.try_lock(), Err(TryLockError::WouldBlock)));
    p.kill().unwrap();
    p.join().unwrap();
    match rlock.try_lock() {
        Err(TryLockError::OwnerDied(died)) => {
            assert_eq!(rlock.count(), 1, "the dead owner's depth is not inherited");
            drop(died.into_inner());
        }
        other => panic!("a dead owner's RLock: {other:?}"),
    }
    assert!(rlock.try_lock().is_ok());
}

fn a_dead_lock_owner_is_detected(method: StartMethod) {
    let lock = Lock::new().unwrap();
    let p = start_holder(method, hold_lock_until_killed_worker, &lock);
    p.kill().unwrap();
    let start = Instant::now();
    match lock.lock_timeout(BOUND) {
        Err(TryLockError::OwnerDied(died)) => {
            assert_eq!(died.kind(), ErrorKind::OwnerDied);
            drop(died.into_inner());
        }
        Ok(_) => panic!("the lock was taken without reporting its dead owner"),
        Err(TryLockError::WouldBlock) => panic!("owner death not detected within {BOUND:?}"),
    }
    assert!(start.elapsed() < BOUND);
    p.join().unwrap();
}

fn a_dead_rlock_owner_hands_the_lock_over_at_depth_one(method: StartMethod) {
    let lock = RLock::new().unwrap();
    let p = start_holder(method, hold_rlock_until_killed_worker, &lock);
    p.kill().unwrap();
    p.join().unwrap();
    let start = Instant::now();
    let guard = match lock.lock_timeout(BOUND) {
        Err(TryLockError::OwnerDied(died)) => died.into_inner(),
        Ok(_) => panic!("the owner's death went unnoticed"),
        Err(TryLockError::WouldBlock) => panic!("owner death not detected within {BOUND:?}"),
    };
    assert!(start.elapsed() < BOUND);
    assert_eq!(lock.count(), 1, "the dead owner's depth is not inherited");
    drop(guard);
    assert_eq!(lock.count(), 0);
}

#[allow(clippy::approx_constant, reason = "the value of Python's example")]
fn values_and_arrays_modified_by_a_child(method: StartMethod) {
    let lock = Lock::new().unwrap();
    let n = Value::new(7i32).unwrap();
    let x = RawValue::new(1.0f64 / 3.0).unwrap();
    let s = Array::with_lock(b"hello world", lock.clone()).unwrap();
    let pts = [
        Point { x: 1.875, y: -6.25 },
        Point { x: -5.75, y: 2.0 },
        Point { x: 2.375, y: 9.5 },
    ];
    let a = Array::with_lock(&pts, lock).unwrap();
    let args = (n.clone(), x.clone(), s.clone(), a.clone());
    assert_eq!(
        get_context(method)
            .start(modify_worker, (args,))
            .unwrap()
            .join()
            .unwrap(),
        0
    );
    assert_eq!(n.get().unwrap(), 49);
    assert_eq!(x.get(), (1.0f64 / 3.0) * (1.0 / 3.0));
    assert_eq!(s.value().unwrap(), b"HELLO WORLD");
    let squared: Vec<(f64, f64)> = a.to_vec().unwrap().iter().map(|p| (p.x, p.y)).collect();
    assert_eq!(
        squared,
        [(3.515625, 39.0625), (33.0625, 4.0), (5.640625, 90.25)]
    );

    let num = Value::new(0.0f64).unwrap();
    let arr = Array::new(&(0..10).collect::<Vec<i32>>()).unwrap();
    let args = (num.clone(), arr.clone());
    assert_eq!(
        get_context(method)
            .start(value_array_worker, (args,))
            .unwrap()
            .join()
            .unwrap(),
        0
    );
    assert_eq!(num.get().unwrap(), 3.1415927);
    assert_eq!(
        arr.to_vec().unwrap(),
        (0..10).map(|i| -i).collect::<Vec<i32>>()
    );
}

per_method!(
    lock_gives_mutual_exclusion,
    locked_value_increments_are_never_lost,
    rlock_is_reentrant_and_refuses_a_foreign_release,
    a_guard_hold_survives_a_python_release_from_another_process,
    semaphore_counts_across_processes,
    bounded_semaphore_refuses_a_release_above_its_start,
    condition_wait_for_sees_a_predicate_set_by_a_child,
    notify_wakes_one_and_notify_all_the_rest,
    a_notify_is_not_lost_to_a_waiter_killed_in_wait,
    event_set_by_the_parent_wakes_the_child,
    barrier_runs_its_action_once,
    barrier_timeout_abort_and_reset,
    barrier_party_killed_in_wait_breaks_the_round_and_reset_repairs,
    the_last_party_does_not_pass_a_round_with_a_dead_one,
    waiting_for_a_round_to_drain_honours_the_timeout,
    a_dead_lock_owner_is_detected,
    try_lock_reports_a_dead_owner,
    values_and_arrays_modified_by_a_child,
    a_condition_on_an_rlock_releases_every_level_while_waiting,
    notify_goes_to_a_waiter_that_was_waiting_before_it,
    the_last_party_runs_the_action_in_its_own_process,
    reset_breaks_a_waiting_party_and_leaves_the_barrier_usable,
    a_dead_rlock_owner_hands_the_lock_over_at_depth_one,
);

/// Needs no second process: `release` gives back levels taken with `acquire`, never a guard's.
#[test]
fn rlock_release_gives_back_only_acquired_levels_never_a_guards() {
    let lock = RLock::new().unwrap();
    let guard = lock.lock().unwrap();
    assert!(matches!(lock.release(), Err(Error::HeldByGuard)));
    assert_eq!(lock.count(), 1);
    assert!(lock.acquire(true, None).unwrap());
    let inner = lock.lock().unwrap();
    assert_eq!(lock.count(), 3);
    lock.release().unwrap(); // the acquired level, not a guard's
    assert!(matches!(lock.release(), Err(Error::HeldByGuard)));
    assert_eq!(lock.count(), 2);
    drop(inner);
    drop(guard);
    assert_eq!(lock.count(), 0);
    // Python style alone still pairs as in Python, and a condition wait keeps the levels.
    let cond = Condition::with_lock(lock.clone()).unwrap();
    assert!(lock.acquire(true, None).unwrap());
    let guard = cond.lock().unwrap();
    let (guard, _) = cond.wait_timeout(guard, Duration::from_millis(1)).unwrap();
    assert_eq!(lock.count(), 2);
    drop(guard);
    lock.release().unwrap();
    assert_eq!(lock.count(), 0);
}
