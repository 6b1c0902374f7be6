//! Killing every child leaves nothing behind: no `/dev/shm` entry, no mapping in the parent.
//! (A test binary of its own, so no other test maps arenas meanwhile.)

use std::collections::BTreeSet;
use std::time::Duration;

use multiprocessing::synchronize::Condition;
use multiprocessing::{Array, Barrier, Event, Lock, RLock, Semaphore, Value};
use multiprocessing_tests::fork::{fork, fork_with};
use multiprocessing_tests::helpers::{dev_shm, heap_mappings};
use multiprocessing_tests::sync_workers::hold_lock_until_killed_worker;

#[test]
fn killing_every_child_leaves_no_segment_and_no_mapping() {
    let shm_before = dev_shm();
    let maps_before = heap_mappings();
    {
        let lock = Lock::new().unwrap();
        let ready = Event::new().unwrap();
        let cond = Condition::new().unwrap();
        let sem = Semaphore::new(0).unwrap();
        let barrier = Barrier::new(4).unwrap();
        let value = Value::new(0u64).unwrap();
        let big = Array::<u8>::zeroed(1 << 20).unwrap(); // a dedicated arena
        let rlock = RLock::new().unwrap();
        assert!(heap_mappings().0 > maps_before.0);
        let mut children = vec![fork_with(
            &(lock.clone(), ready.clone()),
            hold_lock_until_killed_worker,
        )];
        assert!(ready.wait_timeout(Duration::from_secs(20)).is_ok());
        // The others block in every kind of wait, holding handles received or inherited.
        let (s, b, c, v, a, r) = (
            sem.clone(),
            barrier.clone(),
            cond.clone(),
            value.clone(),
            big.clone(),
            rlock.clone(),
        );
        children.push(fork(move || {
            let _r = r.lock();
            v.update(|v| *v += 1).unwrap();
            a.set(0, 1).unwrap();
            let guard = c.lock().unwrap();
            let _ = c.wait(guard);
            0
        }));
        let s2 = s.clone();
        children.push(fork(move || i32::from(s2.acquire(true, None))));
        children.push(fork(move || b.wait().map_or(1, |_| 0)));
        children.push(fork(move || {
            i32::from(s.acquire_timeout(Duration::from_secs(60)).is_ok())
        }));
        // Let them get into their waits (killing earlier must be just as clean).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while (barrier.n_waiting() < 1 || value.get().unwrap() < 1)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        for child in &children {
            child.kill();
        }
        for child in children {
            assert_eq!(child.wait(), 128 + libc::SIGKILL);
        }
    }
    // Other test binaries may create (short-lived) segments meanwhile: only an entry that
    // stays is a leak.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: BTreeSet<_> = dev_shm().difference(&shm_before).cloned().collect();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left in /dev/shm: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        heap_mappings(),
        maps_before,
        "heap arenas stayed mapped in the parent"
    );
}
