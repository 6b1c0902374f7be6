//! Synchronization primitives across real processes (forked, or re-executed and handed the
//! primitives through a transfer context).

use std::time::{Duration, Instant};

use multiprocessing::synchronize::{Condition, Error, TryLockError};
use multiprocessing::{Array, Barrier, BoundedSemaphore, Event, Lock, RLock, RawValue, Semaphore};
use multiprocessing_tests::fork::{fork, fork_with, run_if_test_child, spawn_test_child};
use multiprocessing_tests::sync_workers::*;

/// Polls `f` until it holds, for at most 20 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn lock_gives_mutual_exclusion_across_processes() {
    const M: u32 = 20_000;
    let lock = Lock::new().unwrap();
    let counter = RawValue::new(0u64).unwrap();
    let args = (lock.clone(), counter.clone(), M);
    // Two children inherit the handles through fork, two receive them as messages.
    let inherited: Vec<_> = (0..2)
        .map(|_| {
            let args = args.clone();
            fork(move || increment_worker(args))
        })
        .collect();
    let sent: Vec<_> = (0..2).map(|_| fork_with(&args, increment_worker)).collect();
    for child in inherited.into_iter().chain(sent) {
        assert_eq!(child.wait(), 0);
    }
    assert_eq!(counter.get(), 4 * u64::from(M));
    assert!(!lock.is_locked());
}

#[test]
fn lock_works_in_a_reexecuted_process() {
    run_if_test_child(increment_worker);
    const M: u32 = 20_000;
    let lock = Lock::new().unwrap();
    let counter = RawValue::new(0u64).unwrap();
    let child = spawn_test_child(
        "lock_works_in_a_reexecuted_process",
        &(lock.clone(), counter.clone(), M),
    );
    increment_worker((lock, counter.clone(), M));
    assert_eq!(child.wait(), 0);
    assert_eq!(counter.get(), 2 * u64::from(M));
}

#[test]
fn lock_released_by_another_process_python_style() {
    let lock = Lock::new().unwrap();
    assert!(lock.acquire(true, None).unwrap());
    let l = lock.clone();
    assert_eq!(fork(move || i32::from(l.release().is_err())).wait(), 0);
    assert!(!lock.is_locked());
    assert!(matches!(lock.release(), Err(Error::NotLocked)));
}

#[test]
fn rlock_is_reentrant_and_refuses_foreign_release() {
    let lock = RLock::new().unwrap();
    let outer = lock.lock().unwrap();
    let inner = lock.lock().unwrap();
    assert_eq!(lock.count(), 2);
    assert_eq!(fork_with(&lock, rlock_foreign_worker).wait(), 0);
    // Another thread of this process is not the owner either.
    let l = lock.clone();
    let refused = std::thread::spawn(move || matches!(l.release(), Err(Error::NotOwner)))
        .join()
        .unwrap();
    assert!(refused);
    drop(inner);
    assert!(lock.is_mine());
    drop(outer);
    assert!(!lock.is_mine());
    let l = lock.clone();
    assert_eq!(fork(move || i32::from(l.try_lock().is_err())).wait(), 0);
}

#[test]
fn semaphore_counts_and_times_out_across_processes() {
    let sem = Semaphore::new(3).unwrap();
    let (taken, go) = (Event::new().unwrap(), Event::new().unwrap());
    let child = fork_with(
        &(sem.clone(), taken.clone(), go.clone()),
        semaphore_holder_worker,
    );
    assert!(taken.wait_timeout(Duration::from_secs(20)).is_ok());
    assert_eq!(sem.get_value(), 0);
    let start = Instant::now();
    assert!(sem.acquire_timeout(Duration::from_millis(100)).is_err());
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(!sem.acquire(false, None));
    go.set();
    assert!(
        sem.acquire_timeout(Duration::from_secs(20)).is_ok(),
        "the child's release wakes us"
    );
    assert_eq!(child.wait(), 0);
    assert_eq!(sem.get_value(), 0);
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 1);
}

#[test]
fn bounded_semaphore_refuses_release_above_its_initial_value() {
    let sem = BoundedSemaphore::new(2).unwrap();
    assert!(sem.try_acquire());
    let s = sem.clone();
    let child = fork(move || {
        if s.release().is_err() {
            return 1;
        }
        i32::from(!matches!(s.release(), Err(Error::TooManyReleases))) * 2
    });
    assert_eq!(child.wait(), 0);
    assert_eq!(sem.get_value(), 2);
    let _unit = sem.acquire_guard();
    assert_eq!(sem.get_value(), 1);
}

#[test]
fn condition_wait_for_sees_a_predicate_set_by_another_process() {
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let flag = RawValue::new(0u32).unwrap();
    let guard = cond.lock().unwrap();
    // The child needs the lock we hold, so it can only set the flag while we wait.
    let child = fork_with(&(cond.clone(), flag.clone()), condition_setter_worker);
    let (guard, ok) = cond
        .wait_for(guard, Some(Duration::from_secs(20)), || flag.get() == 1)
        .unwrap();
    assert!(ok);
    drop(guard);
    assert_eq!(child.wait(), 0);
    // An unmet predicate times out and reports false.
    let guard = cond.lock().unwrap();
    let (_guard, ok) = cond
        .wait_for(guard, Some(Duration::from_millis(50)), || flag.get() == 2)
        .unwrap();
    assert!(!ok);
}

#[test]
fn condition_with_its_own_rlock_releases_every_level_while_waiting() {
    let cond = Condition::new().unwrap();
    let flag = RawValue::new(0u32).unwrap();
    let outer = cond.get_lock().lock().unwrap();
    let guard = cond.lock().unwrap();
    assert_eq!(cond.get_lock().count(), 2);
    let (c, f) = (cond.clone(), flag.clone());
    let child = fork(move || {
        let _g = c.lock().unwrap(); // only possible while the parent waits
        f.set(1);
        c.notify_all();
        0
    });
    let (guard, ok) = cond
        .wait_for(guard, Some(Duration::from_secs(20)), || flag.get() == 1)
        .unwrap();
    assert!(ok);
    assert_eq!(cond.get_lock().count(), 2, "both levels are restored");
    drop(guard);
    drop(outer);
    assert_eq!(child.wait(), 0);
    assert!(!cond.get_lock().is_mine());
}

#[test]
fn notify_wakes_exactly_one_and_notify_all_wakes_the_rest() {
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let registered = RawValue::new(0u32).unwrap();
    let woken = RawValue::new(0u32).unwrap();
    let args = (cond.clone(), registered.clone(), woken.clone());
    let children: Vec<_> = (0..3)
        .map(|_| fork_with(&args, condition_waiter_worker))
        .collect();
    // A child counts itself and starts waiting in one critical section.
    eventually("three waiters wait", || {
        let _g = cond.lock().unwrap();
        registered.get() == 3
    });
    {
        let _g = cond.lock().unwrap();
        cond.notify(1);
    }
    eventually("one waiter woke", || {
        let _g = cond.lock().unwrap();
        woken.get() >= 1
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(woken.get(), 1, "notify(1) woke more than one waiter");
    {
        let _g = cond.lock().unwrap();
        cond.notify_all();
    }
    for child in children {
        assert_eq!(child.wait(), 0);
    }
    assert_eq!(woken.get(), 3);
}

#[test]
fn notify_goes_to_a_waiter_that_was_waiting_before_it() {
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let registered = RawValue::new(0u32).unwrap();
    let woken = RawValue::new(0u32).unwrap();
    let child = fork_with(
        &(cond.clone(), registered.clone(), woken.clone()),
        condition_waiter_worker,
    );
    eventually("the child waits", || {
        let _g = cond.lock().unwrap();
        registered.get() == 1
    });
    // Stopped, the child can not take its wake-up before this process starts waiting too.
    let mut status = 0;
    // SAFETY: plain system calls on our own child.
    unsafe {
        assert_eq!(libc::kill(child.pid(), libc::SIGSTOP), 0);
        assert_eq!(
            libc::waitpid(child.pid(), &mut status, libc::WUNTRACED),
            child.pid()
        );
    }
    assert!(libc::WIFSTOPPED(status));
    let guard = cond.lock().unwrap();
    cond.notify(1);
    let (guard, notified) = cond
        .wait_timeout(guard, Duration::from_millis(100))
        .unwrap();
    assert!(
        !notified,
        "a waiter that came after notify(1) took the wake-up"
    );
    drop(guard);
    // SAFETY: as above.
    unsafe { assert_eq!(libc::kill(child.pid(), libc::SIGCONT), 0) };
    assert_eq!(child.wait(), 0, "the waiter notify(1) chose was not woken");
    assert_eq!(woken.get(), 1);
}

#[test]
fn event_is_seen_across_processes() {
    let event = Event::new().unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| fork_with(&event, event_waiter_worker))
        .collect();
    assert!(event.wait_timeout(Duration::from_millis(20)).is_err());
    event.set();
    for child in waiters {
        assert_eq!(child.wait(), 0);
    }
    let e = event.clone();
    assert_eq!(fork(move || i32::from(!e.is_set())).wait(), 0);
    let e = event.clone();
    assert_eq!(
        fork(move || {
            e.clear();
            0
        })
        .wait(),
        0
    );
    assert!(!event.is_set());
    let start = Instant::now();
    assert!(event.wait_timeout(Duration::from_millis(100)).is_err());
    assert!(start.elapsed() >= Duration::from_millis(100));
}

static ACTIONS: std::sync::OnceLock<RawValue<u32>> = std::sync::OnceLock::new();

fn count_action() {
    let actions = ACTIONS.get().expect("set before the barrier is built");
    actions.set(actions.get() + 1);
}

#[test]
fn barrier_runs_its_action_once_and_returns_each_arrival_index() {
    ACTIONS.get_or_init(|| RawValue::new(0).unwrap());
    let barrier = Barrier::builder(3).action(count_action).build().unwrap();
    let results = Array::new(&[-1i32; 3]).unwrap();
    let forked = {
        let args = (barrier.clone(), results.clone(), 0);
        fork(move || barrier_worker(args))
    };
    let sent = fork_with(&(barrier.clone(), results.clone(), 1), barrier_worker);
    assert_eq!(barrier_worker((barrier.clone(), results.clone(), 2)), 0);
    assert_eq!(forked.wait(), 0);
    assert_eq!(sent.wait(), 0);
    let mut indices = results.to_vec().unwrap();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(
        ACTIONS.get().unwrap().get(),
        1,
        "the action runs exactly once"
    );
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
    assert_eq!(barrier.parties(), 3);
}

#[test]
fn barrier_timeout_breaks_it_and_reset_repairs_it() {
    let barrier = Barrier::new(2).unwrap();
    assert_eq!(
        fork_with(&(barrier.clone(), 100u64), barrier_broken_worker).wait(),
        0
    );
    assert!(barrier.broken());
    assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    barrier.reset();
    assert!(!barrier.broken());
    let b = barrier.clone();
    let child = fork(move || i32::from(b.wait_timeout(Duration::from_secs(20)).is_err()));
    assert!(barrier.wait_timeout(Duration::from_secs(20)).is_ok());
    assert_eq!(child.wait(), 0);
}

#[test]
fn barrier_abort_breaks_waiting_parties() {
    let barrier = Barrier::new(3).unwrap();
    let child = fork_with(&(barrier.clone(), 30_000u64), barrier_broken_worker);
    eventually("the child waits", || barrier.n_waiting() == 1);
    barrier.abort();
    assert_eq!(child.wait(), 0);
    assert!(barrier.broken());
    barrier.reset();
    assert!(!barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
fn barrier_reset_breaks_waiting_parties_and_leaves_it_usable() {
    let barrier = Barrier::new(2).unwrap();
    let child = fork_with(&(barrier.clone(), 30_000u64), barrier_broken_worker);
    eventually("the child waits", || barrier.n_waiting() == 1);
    barrier.reset();
    assert_eq!(child.wait(), 0, "the waiting party got BrokenBarrier");
    assert!(!barrier.broken());
    let b = barrier.clone();
    let child = fork(move || i32::from(b.wait_timeout(Duration::from_secs(20)).is_err()));
    assert!(barrier.wait_timeout(Duration::from_secs(20)).is_ok());
    assert_eq!(child.wait(), 0);
}

#[test]
fn lock_owner_death_is_detected_within_a_bounded_time() {
    let lock = Lock::new().unwrap();
    let ready = Event::new().unwrap();
    let child = fork_with(
        &(lock.clone(), ready.clone()),
        hold_lock_until_killed_worker,
    );
    assert!(ready.wait_timeout(Duration::from_secs(20)).is_ok());
    assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
    assert!(lock.is_locked(), "a failed try_lock leaves the lock alone");
    // A waiter blocked before the death notices it too.
    let l = lock.clone();
    let waiter = std::thread::spawn(move || {
        let start = Instant::now();
        let result = l.lock().map(|_| ()).map_err(|died| drop(died.into_inner()));
        (result.is_err(), start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(50));
    child.kill(); // left a zombie until reaped: it must still count as dead
    let (died, elapsed) = waiter.join().unwrap();
    assert!(died, "the waiter was told the owner died");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_eq!(child.wait(), 128 + libc::SIGKILL);
    // The lock was handed over and released normally: it works as before.
    drop(lock.lock().unwrap());
    assert!(!lock.is_locked());
}

#[test]
fn two_waiters_that_find_the_owner_dead_take_the_lock_over_once() {
    let lock = Lock::new().unwrap();
    let ready = Event::new().unwrap();
    let owner = fork_with(
        &(lock.clone(), ready.clone()),
        hold_lock_until_killed_worker,
    );
    assert!(ready.wait_timeout(Duration::from_secs(20)).is_ok());
    let started = Semaphore::new(0).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let (lock, started) = (lock.clone(), started.clone());
            fork(move || {
                started.release().unwrap();
                match lock.lock() {
                    Ok(_guard) => 0,
                    Err(died) => {
                        drop(died.into_inner());
                        1
                    }
                }
            })
        })
        .collect();
    for _ in 0..2 {
        assert!(started.acquire_timeout(Duration::from_secs(20)).is_ok());
    }
    owner.kill();
    let told: i32 = waiters.into_iter().map(|w| w.wait()).sum();
    assert_eq!(
        told, 1,
        "exactly one waiter takes the lock over from the dead owner"
    );
    assert_eq!(owner.wait(), 128 + libc::SIGKILL);
    assert!(!lock.is_locked());
}

#[test]
fn rlock_owner_death_hands_the_lock_to_a_waiter() {
    let lock = RLock::new().unwrap();
    let ready = Event::new().unwrap();
    let child = fork_with(
        &(lock.clone(), ready.clone()),
        hold_rlock_until_killed_worker,
    );
    assert!(ready.wait_timeout(Duration::from_secs(20)).is_ok());
    child.kill();
    assert_eq!(child.wait(), 128 + libc::SIGKILL);
    let start = Instant::now();
    let guard = match lock.lock() {
        Ok(_) => panic!("the owner's death went unnoticed"),
        Err(died) => died.into_inner(),
    };
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(lock.count(), 1, "the dead owner's depth is not inherited");
    drop(guard);
    assert!(lock.try_lock().is_ok());
}

static REEXEC_ACTIONS: std::sync::OnceLock<RawValue<u32>> = std::sync::OnceLock::new();

fn count_reexec_action() {
    let actions = REEXEC_ACTIONS.get().expect("installed before waiting");
    actions.set(actions.get() + 1);
}

/// Child side: installs the shared action counter, then waits as the last party.
fn barrier_action_child((barrier, actions): (Barrier, RawValue<u32>)) -> i32 {
    REEXEC_ACTIONS.get_or_init(|| actions);
    barrier.wait().map_or(1, |_| 0)
}

#[test]
fn barrier_action_runs_in_a_reexecuted_process() {
    run_if_test_child(barrier_action_child);
    let actions = REEXEC_ACTIONS
        .get_or_init(|| RawValue::new(0).unwrap())
        .clone();
    let barrier = Barrier::builder(2)
        .action(count_reexec_action)
        .build()
        .unwrap();
    let b = barrier.clone();
    let first = std::thread::spawn(move || b.wait().unwrap());
    eventually("this process waits first", || barrier.n_waiting() == 1);
    let child = spawn_test_child(
        "barrier_action_runs_in_a_reexecuted_process",
        &(barrier.clone(), actions.clone()),
    );
    assert_eq!(child.wait(), 0);
    assert_eq!(first.join().unwrap(), 0, "we arrived first");
    assert_eq!(
        actions.get(),
        1,
        "the last party, in the other process, ran the action"
    );
}

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
