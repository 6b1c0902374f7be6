//! Shared values and arrays modified across real processes.

use multiprocessing::sharedctypes::{Error, SharedLock, copy, synchronized};
use multiprocessing::{Array, Lock, RawArray, RawValue, Value};
use multiprocessing_tests::fork::{fork, fork_with, run_if_test_child, spawn_test_child};
use multiprocessing_tests::sync_workers::{
    Point, modify_worker, value_array_worker, value_increment_worker,
};

type Shared = (Value<i32>, RawValue<f64>, Array<u8>, Array<Point>);

fn example_values() -> Shared {
    let lock = Lock::new().unwrap();
    (
        Value::new(7).unwrap(),
        RawValue::new(1.0 / 3.0).unwrap(),
        Array::with_lock(b"hello world", lock.clone()).unwrap(),
        Array::with_lock(
            &[
                Point { x: 1.875, y: -6.25 },
                Point { x: -5.75, y: 2.0 },
                Point { x: 2.375, y: 9.5 },
            ],
            lock,
        )
        .unwrap(),
    )
}

fn check_example((n, x, s, a): &Shared) {
    assert_eq!(n.get().unwrap(), 49);
    assert_eq!(format!("{}", x.get()), "0.1111111111111111");
    assert_eq!(s.value().unwrap(), b"HELLO WORLD");
    let squared: Vec<(f64, f64)> = a.to_vec().unwrap().iter().map(|p| (p.x, p.y)).collect();
    assert_eq!(
        squared,
        [(3.515625, 39.0625), (33.0625, 4.0), (5.640625, 90.25)]
    );
}

#[test]
fn values_and_arrays_are_modified_by_a_forked_child() {
    let shared = example_values();
    let s = shared.clone();
    assert_eq!(fork(move || modify_worker(s)).wait(), 0);
    check_example(&shared);
}

#[test]
fn values_and_arrays_are_modified_by_a_child_that_received_them() {
    let shared = example_values();
    assert_eq!(fork_with(&shared, modify_worker).wait(), 0);
    check_example(&shared);
}

#[test]
fn values_and_arrays_are_modified_by_a_reexecuted_process() {
    run_if_test_child(modify_worker);
    let shared = example_values();
    let child = spawn_test_child(
        "values_and_arrays_are_modified_by_a_reexecuted_process",
        &shared,
    );
    assert_eq!(child.wait(), 0);
    check_example(&shared);
}

#[test]
fn increments_under_the_value_lock_are_never_lost() {
    const M: u32 = 50_000;
    let value = Value::new(0u64).unwrap();
    let child = fork_with(&(value.clone(), M), value_increment_worker);
    value_increment_worker((value.clone(), M));
    assert_eq!(child.wait(), 0);
    assert_eq!(value.get().unwrap(), 2 * u64::from(M));
}

#[test]
#[allow(clippy::approx_constant, reason = "the value of Python's example")]
fn float_and_int_arrays_round_trip_through_a_child() {
    let num = Value::new(0.0f64).unwrap();
    let arr = Array::new(&(0..10).collect::<Vec<i32>>()).unwrap();
    assert_eq!(
        fork_with(&(num.clone(), arr.clone()), value_array_worker).wait(),
        0
    );
    assert_eq!(num.get().unwrap(), 3.1415927);
    assert_eq!(
        arr.to_vec().unwrap(),
        [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
    );
}

#[test]
fn byte_arrays_have_value_and_raw() {
    let s = RawArray::new(b"abc\0def").unwrap();
    assert_eq!(s.value(), b"abc");
    assert_eq!(s.raw(), b"abc\0def");
    s.set_value(b"xy").unwrap();
    assert_eq!(s.raw(), b"xy\0\0def");
    assert!(matches!(
        s.set_value(b"too long!"),
        Err(Error::TooLong { .. })
    ));
    s.set_value(b"1234567").unwrap();
    assert_eq!(s.value(), b"1234567", "a full array has no NUL");
}

#[test]
fn bad_indices_are_errors() {
    let a = Array::new(&[1u16, 2, 3]).unwrap();
    assert!(matches!(
        a.get(3),
        Err(Error::IndexOutOfRange { index: 3, len: 3 })
    ));
    assert!(a.set(7, 0).is_err());
    assert!(a.get_obj().read(2..4).is_err());
    assert_eq!(a.get_obj().read(1..3).unwrap(), [2, 3]);
}

#[test]
fn synchronized_and_copy_follow_python() {
    let raw = RawArray::new(&[1.5f32, 2.5]).unwrap();
    let dup = copy(&raw).unwrap();
    dup.set(0, 9.0).unwrap();
    assert_eq!(raw.get(0), Some(1.5));
    let lock = Lock::new().unwrap();
    let arr = synchronized(raw, Some(SharedLock::from(lock.clone()))).unwrap();
    let guard = arr.lock().unwrap();
    assert!(lock.is_locked(), "the given lock is the array's lock");
    drop(guard);
    let v = synchronized(RawValue::new(1u8).unwrap(), None).unwrap();
    assert!(matches!(v.get_lock(), SharedLock::RLock(_)));
}
