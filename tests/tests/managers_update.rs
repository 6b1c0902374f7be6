//! `update_with`: a manager dict's value changed by a named operation in the server, atomically.
//! Processes incrementing one key concurrently lose no update and each sees a distinct result;
//! an operation that does not fit the value is refused and leaves it unchanged.

use multiprocessing::managers::update::Op;
use multiprocessing::managers::{DictProxy, Object, ValueProxy};
use multiprocessing::{ErrorKind, StartMethod, get_context};
use multiprocessing_tests::per_method;

/// Adds 1 to `key` `n` times; returns the value each call gave back.
fn increment(d: DictProxy<String, i64>, n: usize) -> Vec<i64> {
    (0..n)
        .map(|_| d.update_with("hits", Op::add(1)).unwrap())
        .collect()
}

/// Each increment is one call the server runs alone: no update is lost, and each caller's
/// result is its own point in one serial order (the results of all callers are exactly
/// 1..=total), which a read-then-write from two processes could not give.
fn concurrent_increments_lose_no_update(method: StartMethod) {
    const PROCESSES: usize = 4;
    const N: usize = 500;
    let ctx = get_context(method);
    let m = ctx.manager().unwrap();
    let d = m.dict_of::<String, i64>().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| ctx.start(increment, (d.clone(), N)).unwrap())
        .collect();
    let mut seen: Vec<i64> = children
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let total = (PROCESSES * N) as i64;
    assert_eq!(d.get_item("hits").unwrap(), total);
    seen.sort_unstable();
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
}

fn append_twice(d: DictProxy, tag: String) -> i32 {
    d.update_with("log", Op::append(tag.clone())).unwrap();
    d.update_with("log", Op::append(tag)).unwrap();
    0
}

fn appends_from_two_processes_all_arrive(method: StartMethod) {
    let ctx = get_context(method);
    let m = ctx.manager().unwrap();
    let d = m.dict().unwrap();
    let a = ctx
        .start(append_twice, (d.clone(), "a".to_string()))
        .unwrap();
    let b = ctx
        .start(append_twice, (d.clone(), "b".to_string()))
        .unwrap();
    assert_eq!((a.join().unwrap(), b.join().unwrap()), (0, 0));
    let Object::List(mut log) = d.get_item("log").unwrap() else {
        panic!("not a list")
    };
    log.sort();
    assert_eq!(log, ["a", "a", "b", "b"].map(Object::from));
}

per_method!(
    concurrent_increments_lose_no_update,
    appends_from_two_processes_all_arrive
);

#[test]
fn an_operation_that_does_not_fit_leaves_the_value_unchanged() {
    let m = multiprocessing::manager().unwrap();
    let d = m.dict().unwrap();
    d.set("n", 1).unwrap();
    let e = d.update_with("n", Op::add("x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = d.update_with("n", Op::append(2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(d.get_item("n").unwrap(), Object::Int(1));
    // A name outside the fixed set is refused by the server.
    let raw = d.call_method("update_with", vec!["n".into(), "exec".into(), Object::None]);
    assert!(raw.is_err());
    assert_eq!(d.get_item("n").unwrap(), Object::Int(1));
    // setdefault keeps what is there; max and min compare across int and float.
    assert_eq!(
        d.update_with("n", Op::set_default(7)).unwrap(),
        Object::Int(1)
    );
    assert_eq!(
        d.update_with("n", Op::max(1.5)).unwrap(),
        Object::Float(1.5)
    );
    assert_eq!(d.update_with("n", Op::min(0)).unwrap(), Object::Int(0));
}

/// Adds 1 to a shared `Value` `n` times.
fn bump(v: ValueProxy<i64>, n: usize) -> i32 {
    for _ in 0..n {
        v.update_with(Op::add(1)).unwrap();
    }
    0
}

#[test]
fn a_value_incremented_from_processes_loses_no_update() {
    let ctx = get_context(StartMethod::Fork);
    let m = ctx.manager().unwrap();
    let v = m.value_of("i", &0i64).unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| ctx.start(bump, (v.clone(), 300)).unwrap())
        .collect();
    for c in children {
        assert_eq!(c.join().unwrap(), 0);
    }
    assert_eq!(v.get().unwrap(), 900);
    let e = v.update_with(Op::append(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(v.get().unwrap(), 900);
}
