//! Bodies of the cross-process synchronization and shared-value tests, as plain functions of
//! serde arguments so that they run unchanged as process targets under every start method.
//! Each returns 0 when the child saw what it expected, another code naming what went wrong.

use std::time::Duration;

use multiprocessing::sharedctypes::{Pod, Zeroable};
use multiprocessing::synchronize::{Condition, Error, TryLockError};
use multiprocessing::{Array, Barrier, Event, Lock, RLock, RawValue, Semaphore, Value};

/// A ctypes-like `Structure` of two doubles, as in Python's sharedctypes example.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[bytemuck(crate = "multiprocessing::sharedctypes::bytemuck")]
#[repr(C)]
pub struct Point {
    /// First coordinate.
    pub x: f64,
    /// Second coordinate.
    pub y: f64,
}

/// Adds 1 to `counter` `n` times, each a separate read and write under `lock`, so any lapse
/// of mutual exclusion loses increments.
pub fn increment_worker((lock, counter, n): (Lock, RawValue<u64>, u32)) -> i32 {
    for _ in 0..n {
        let _guard = lock.lock().expect("no owner dies in this test");
        let v = counter.get();
        std::hint::black_box(&v);
        counter.set(v + 1);
    }
    0
}

/// Adds 1 to a synchronized value `n` times under its own lock.
pub fn value_increment_worker((value, n): (Value<u64>, u32)) -> i32 {
    for _ in 0..n {
        value
            .update(|v| *v += 1)
            .expect("no owner dies in this test");
    }
    0
}

/// Facing an `RLock` held by another process: `try_lock` fails and `release` is refused.
pub fn rlock_foreign_worker(lock: RLock) -> i32 {
    if !matches!(lock.try_lock(), Err(TryLockError::WouldBlock)) {
        return 1;
    }
    if !matches!(lock.release(), Err(Error::NotOwner)) {
        return 2;
    }
    if !matches!(
        lock.lock_timeout(Duration::from_millis(20)),
        Err(TryLockError::WouldBlock)
    ) {
        return 3;
    }
    0
}

/// Facing a `Lock` a guard holds in another process: Python's `release` is refused and the
/// lock stays held; a lock taken with `acquire` is still released from here, as in Python.
pub fn guarded_lock_release_worker((guarded, acquired): (Lock, Lock)) -> i32 {
    if !matches!(guarded.release(), Err(Error::HeldByGuard)) {
        return 1;
    }
    if !guarded.is_locked() || guarded.try_lock().is_ok() {
        return 2;
    }
    if acquired.release().is_err() || acquired.is_locked() {
        return 3;
    }
    0
}

/// Takes every unit of `sem`, sets `taken`, waits for `go`, then gives one unit back.
pub fn semaphore_holder_worker((sem, taken, go): (Semaphore, Event, Event)) -> i32 {
    while sem.try_acquire() {}
    taken.set();
    if go.wait_timeout(Duration::from_secs(30)).is_err() {
        return 1;
    }
    if sem.release().is_err() {
        return 2;
    }
    0
}

/// Sets `flag` to 1 under the condition's lock and notifies every waiter.
pub fn condition_setter_worker((cond, flag): (Condition<Lock>, RawValue<u32>)) -> i32 {
    let _guard = cond.lock().expect("no owner dies in this test");
    flag.set(1);
    cond.notify_all();
    0
}

/// Counts itself in `registered` and waits on `cond` (in one critical section), then counts
/// itself in `woken` once notified.
pub fn condition_waiter_worker(
    (cond, registered, woken): (Condition<Lock>, RawValue<u32>, RawValue<u32>),
) -> i32 {
    let guard = cond.lock().expect("no owner dies in this test");
    registered.set(registered.get() + 1);
    let (guard, result) = match cond.wait_timeout(guard, Duration::from_secs(30)) {
        Ok(r) => r,
        Err(_) => return 1,
    };
    woken.set(woken.get() + 1);
    drop(guard);
    if result.timed_out() { 2 } else { 0 }
}

/// Waits up to 30 s for `event`: 0 if it was set.
pub fn event_waiter_worker(event: Event) -> i32 {
    if event.wait_timeout(Duration::from_secs(30)).is_ok() {
        0
    } else {
        1
    }
}

/// Waits on `barrier` and stores this party's arrival index in `results[slot]`.
pub fn barrier_worker((barrier, results, slot): (Barrier, Array<i32>, u32)) -> i32 {
    match barrier.wait() {
        Ok(index) => {
            results
                .set(slot as usize, index as i32)
                .expect("slot in range");
            0
        }
        Err(_) => 1,
    }
}

/// Waits on `barrier` for up to `timeout_ms`, expecting it to break: 0 if it did.
pub fn barrier_broken_worker((barrier, timeout_ms): (Barrier, u64)) -> i32 {
    match barrier.wait_timeout(Duration::from_millis(timeout_ms)) {
        Err(Error::BrokenBarrier) => 0,
        Err(_) => 1,
        Ok(_) => 2,
    }
}

/// Acquires `lock`, sets `ready`, and blocks until killed.
pub fn hold_lock_until_killed_worker((lock, ready): (Lock, Event)) -> i32 {
    let guard = lock.lock();
    ready.set();
    loop {
        std::thread::park();
        std::hint::black_box(&guard);
    }
}

/// Acquires `lock` twice, sets `ready`, and blocks until killed.
pub fn hold_rlock_until_killed_worker((lock, ready): (RLock, Event)) -> i32 {
    let a = lock.lock();
    let b = lock.lock();
    ready.set();
    loop {
        std::thread::park();
        std::hint::black_box((&a, &b));
    }
}

/// Python's sharedctypes example: squares `n`, `x` and every point, upper-cases `s`.
pub fn modify_worker((n, x, s, a): (Value<i32>, RawValue<f64>, Array<u8>, Array<Point>)) -> i32 {
    let result = (|| -> multiprocessing::sharedctypes::Result<()> {
        n.update(|n| *n *= *n)?;
        x.set(x.get() * x.get());
        let upper = s.value()?.to_ascii_uppercase();
        s.set_value(&upper)?;
        a.update(|a| {
            for p in a {
                p.x *= p.x;
                p.y *= p.y;
            }
        })?;
        Ok(())
    })();
    if result.is_ok() { 0 } else { 1 }
}

/// Python's `Value`/`Array` example: sets `num` to 3.1415927 and negates every element of `arr`.
#[allow(clippy::approx_constant, reason = "the value of Python's example")]
pub fn value_array_worker((num, arr): (Value<f64>, Array<i32>)) -> i32 {
    let result = (|| -> multiprocessing::sharedctypes::Result<()> {
        num.set(3.1415927)?;
        arr.update(|a| a.iter_mut().for_each(|x| *x = -*x))?;
        Ok(())
    })();
    if result.is_ok() { 0 } else { 1 }
}
