//! Killing every process that uses queues leaves nothing behind: no `/dev/shm` entry, and the
//! parent's heap mappings return to their level once it drops its handles. (A test binary of
//! its own, so no other test maps arenas meanwhile.)

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use multiprocessing::{JoinableQueue, Queue, RawArray, SimpleQueue, StartMethod, get_context};
use multiprocessing_tests::helpers::{dev_shm, heap_mappings};

/// Waits on an empty queue for ever.
fn getter(q: Queue<u32>, started: RawArray<u8>, me: usize) -> i32 {
    started.set(me, 1).unwrap();
    let _ = q.get();
    0
}

/// Puts into a full bounded queue for ever.
fn putter(q: JoinableQueue<u32>, started: RawArray<u8>, me: usize) -> i32 {
    started.set(me, 1).unwrap();
    loop {
        q.put(1).unwrap();
    }
}

/// Puts items larger than the ring for ever: nobody reads, so it blocks in the middle of the
/// first, holding the write lock.
fn big_putter(q: Queue<Vec<u8>>, started: RawArray<u8>, me: usize) -> i32 {
    started.set(me, 1).unwrap();
    loop {
        q.put(vec![7; 10_000]).unwrap();
    }
}

/// Puts into a simple queue, then waits on it for ever.
fn simple_user(q: SimpleQueue<u32>, started: RawArray<u8>, me: usize) -> i32 {
    q.put(me as u32).unwrap();
    started.set(me, 1).unwrap();
    loop {
        let _ = q.get();
    }
}

#[test]
fn killing_every_queue_user_leaves_no_segment_and_no_mapping() {
    let shm_before = dev_shm();
    let maps_before = heap_mappings();
    {
        let started = RawArray::<u8>::zeroed(12).unwrap();
        let q = Queue::<u32>::new().unwrap();
        let jq = JoinableQueue::<u32>::with_maxsize(2).unwrap();
        let sq = SimpleQueue::<u32>::new().unwrap();
        // One per big putter, each blocked in the middle of its item (bounded, so the putter
        // writes itself: 10 kB items in a 4 KiB ring).
        let big: Vec<Queue<Vec<u8>>> = (0..3)
            .map(|_| {
                Queue::builder()
                    .capacity(4096)
                    .maxsize(100)
                    .build()
                    .unwrap()
            })
            .collect();
        let mut children = Vec::new();
        for (i, method) in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::ForkServer,
        ]
        .into_iter()
        .enumerate()
        {
            let ctx = get_context(method);
            children.push(
                ctx.process(getter, (q.clone(), started.clone(), 3 * i))
                    .start()
                    .unwrap(),
            );
            children.push(
                ctx.process(putter, (jq.clone(), started.clone(), 3 * i + 1))
                    .start()
                    .unwrap(),
            );
            children.push(
                ctx.process(big_putter, (big[i].clone(), started.clone(), 3 * i + 2))
                    .start()
                    .unwrap(),
            );
            children.push(
                ctx.process(simple_user, (sq.clone(), started.clone(), 9 + i))
                    .start()
                    .unwrap(),
            );
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while started.iter().any(|s| s == 0) {
            assert!(Instant::now() < deadline, "the children did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Each big putter holds its ring's write lock, waiting for room for its next chunk: a
        // `try_put` finds the lock busy (`Full`) instead of waiting for it.
        for bq in &big {
            let mut busy = 0;
            while busy < 2 {
                assert!(Instant::now() < deadline, "the big putters did not block");
                match bq.try_put(Vec::new()) {
                    Err(multiprocessing::queues::TryPutError::Full(_)) => busy += 1,
                    _ => busy = 0,
                }
            }
        }
        assert!(heap_mappings().0 > maps_before.0);
        for child in &children {
            child.kill().unwrap();
        }
        for child in children {
            child.join().unwrap();
        }
        // The queues still work for the survivor; each big putter's half item is dropped and
        // counted, never delivered.
        for bq in &big {
            loop {
                match bq.get_timeout(Duration::from_secs(10)) {
                    Ok(item) => assert!(item.is_empty(), "never a half item"),
                    Err(e) => {
                        assert_eq!(e, multiprocessing::queues::GetTimeoutError::Disconnected);
                        break;
                    }
                }
            }
            assert_eq!(
                bq.lost(),
                1,
                "the putter was killed in the middle of its item"
            );
        }
        assert_eq!(jq.qsize(), 2);
        q.put(5).unwrap();
        assert_eq!(q.get().unwrap(), 5);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: BTreeSet<_> = dev_shm().difference(&shm_before).cloned().collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left in /dev/shm: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        heap_mappings(),
        maps_before,
        "heap arenas stayed mapped in the parent"
    );
}
