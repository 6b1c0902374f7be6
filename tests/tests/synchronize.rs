//! What only a raw `fork` can set up: a lock holder killed mid-operation and left an unreaped
//! zombie (a `Process` reaps its child, and a zombie is the state pid-based liveness must still
//! count as dead), and waiters forked while the holder holds, racing to take the lock over.
//! Everything else about the primitives across processes is in `sync_start_methods.rs`, under
//! every start method.

use std::time::{Duration, Instant};

use multiprocessing::{Event, Lock, Semaphore};
use multiprocessing_tests::fork::{fork, fork_with};
use multiprocessing_tests::helpers::BOUND;
use multiprocessing_tests::sync_workers::hold_lock_until_killed_worker;

#[test]
fn lock_owner_death_is_detected_within_a_bounded_time() {
    let lock = Lock::new().unwrap();
    let ready = Event::new().unwrap();
    let child = fork_with(
        &(lock.clone(), ready.clone()),
        hold_lock_until_killed_worker,
    );
    ready.wait_timeout(BOUND).unwrap();
    assert!(lock.try_lock().is_err());
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
    ready.wait_timeout(BOUND).unwrap();
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
        started.acquire_timeout(BOUND).unwrap();
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
