//! Queues between processes under each start method: order, bounds and timeouts, close,
//! tasks, many producers and consumers, killed producers and consumers, unencodable values,
//! join-before-drain and `Disconnected`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use multiprocessing::queues::{
    Error, ErrorKind, GetError, GetTimeoutError, PutTimeoutError, TryGetError, TryPutError,
};
use multiprocessing::{
    JoinHandle, JoinableQueue, Queue, RawArray, RawValue, SimpleQueue, StartMethod, get_context,
};
use multiprocessing_tests::{BOUND, eventually, per_method};

// ------------------------------------------------------------------------------ workers

fn producer(q: Queue<(u32, u32)>, id: u32, n: u32) -> i32 {
    for seq in 0..n {
        q.put((id, seq)).unwrap();
    }
    0
}

fn get_one(q: Queue<u32>) -> u32 {
    q.get().unwrap()
}

/// Codes: 0 ok; 1 try_get not Empty; 2 get_timeout not Timeout, too early or far too late.
fn empty_forms(q: Queue<u32>) -> i32 {
    if !matches!(q.try_get(), Err(TryGetError::Empty)) {
        return 1;
    }
    let start = Instant::now();
    match q.get_timeout(Duration::from_millis(30)) {
        Err(GetTimeoutError::Timeout)
            if (Duration::from_millis(30)..Duration::from_secs(5)).contains(&start.elapsed()) => {}
        _ => return 2,
    }
    if !q.is_empty() || q.qsize() != 0 {
        return 3;
    }
    0
}

/// Closes its own handle and checks both directions fail; the parent's handle is unaffected.
fn close_own(q: Queue<u32>) -> i32 {
    q.put(7).unwrap();
    if q.join_thread().map_err(|e| e.kind()) != Err(ErrorKind::InvalidState) {
        return 1;
    }
    q.close();
    match q.put(8) {
        Err(multiprocessing::queues::PutError::Closed(8)) => {}
        _ => return 2,
    }
    if !matches!(q.get(), Err(GetError::Closed)) {
        return 3;
    }
    if q.join_thread().is_err() {
        return 4;
    }
    q.cancel_join_thread();
    0
}

fn joinable_consumer(q: JoinableQueue<u32>, done: RawValue<u32>) -> i32 {
    while let Ok(item) = q.get_timeout(BOUND) {
        if item == u32::MAX {
            q.task_done().unwrap();
            return 0;
        }
        done.set(done.get() + 1);
        q.task_done().unwrap();
    }
    1
}

fn many_consumer(q: Queue<Option<u32>>) -> Vec<u32> {
    let mut got = Vec::new();
    while let Some(x) = q.get().unwrap() {
        got.push(x);
    }
    got
}

fn many_producer(q: Queue<Option<u32>>, id: u32, n: u32) -> i32 {
    for i in 0..n {
        q.put(Some(id * n + i)).unwrap();
    }
    0
}

/// Takes items for ever, marking each in `seen` (the item between `get` and the mark is the
/// one in its hands when it is killed) and counting them in `taken`.
fn hungry_consumer(q: Queue<u32>, seen: RawArray<u8>, taken: RawValue<u32>) -> i32 {
    loop {
        let x = q.get().unwrap();
        seen.set(x as usize, 1).unwrap();
        taken.set(taken.get() + 1);
    }
}

/// Puts large items (several chunks each) for ever, counting them.
fn big_producer(q: Queue<Vec<u8>>, put: RawValue<u32>) -> i32 {
    for i in 0u32.. {
        q.put(vec![(i % 251) as u8; 10_000]).unwrap();
        put.set(i + 1);
    }
    0
}

/// Puts items of a megabyte and more between small ones.
fn mixed_sizes(q: Queue<Vec<u32>>, n: u32) -> i32 {
    for i in 0..n {
        let len = if i % 3 == 0 {
            1_100_000 + i as usize
        } else {
            i as usize
        };
        q.put(vec![i; len]).unwrap();
    }
    0
}

/// Puts `n` numbers (many times what the ring holds), says so, and exits.
fn flood(q: Queue<u32>, n: u32, done: RawValue<u32>) -> i32 {
    for i in 0..n {
        q.put(i).unwrap();
    }
    done.set(1);
    0
}

/// Puts one item into a queue whose ring its parent filled, then waits until it is written.
fn put_behind_a_full_ring(q: Queue<u32>) -> i32 {
    q.put(u32::MAX).unwrap();
    q.close();
    // Python's `join_thread`: returns once this process's outbox is in the ring.
    q.join_thread().unwrap();
    0
}

/// As [`flood`], into a joinable queue.
fn flood_joinable(q: JoinableQueue<u32>, n: u32, done: RawValue<u32>) -> i32 {
    for i in 0..n {
        q.put(i).unwrap();
    }
    done.set(1);
    0
}

/// Codes: 0 ok; 1 try_put not Full(value); 2 put_timeout not Timeout(value) within bounds.
fn full_forms(q: Queue<u32>) -> i32 {
    match q.try_put(2) {
        Err(TryPutError::Full(2)) => {}
        _ => return 1,
    }
    let start = Instant::now();
    match q.put_timeout(3, Duration::from_millis(100)) {
        Err(PutTimeoutError::Timeout(3))
            if (Duration::from_millis(100)..Duration::from_secs(5)).contains(&start.elapsed()) => {}
        _ => return 2,
    }
    if !q.full() || q.qsize() != 1 {
        return 3;
    }
    0
}

/// A large item's text: 20,000 copies of the letter `id` picks. Text, not `Vec<u8>`: it is
/// encoded, decoded and checked as a whole (a byte vector goes byte by byte through serde), so
/// its consumer spends its time receiving chunks, not decoding or checking them.
fn big_text(id: u32) -> String {
    char::from(b'a' + (id % 26) as u8)
        .to_string()
        .repeat(20_000)
}

/// Puts numbered large items (20 chunks each in a 4 KiB ring) until `stop` is set.
fn numbered_big_producer(q: Queue<(u32, String)>, stop: RawValue<u32>) -> i32 {
    let mut id = 0u32;
    while stop.get() == 0 {
        q.put((id, big_text(id))).unwrap();
        id += 1;
    }
    0
}

/// Takes large items for ever, checking each is whole and marking it in `seen`.
fn hungry_big_consumer(q: Queue<(u32, String)>, seen: RawArray<u8>, taken: RawValue<u32>) -> i32 {
    loop {
        let (id, text) = q.get().unwrap();
        assert!(text == big_text(id), "item {id} not whole");
        seen.set(id as usize, 1).unwrap();
        taken.set(taken.get() + 1);
    }
}

/// Puts large items into a joinable queue for ever (blocked in the middle of one).
fn big_joinable_producer(q: JoinableQueue<Vec<u8>>, put: RawValue<u32>) -> i32 {
    for i in 0u32.. {
        q.put(vec![(i % 251) as u8; 10_000]).unwrap();
        put.set(i + 1);
    }
    0
}

/// Puts one item larger than the ring: it holds the write lock until a reader makes room.
fn put_one_huge(q: Queue<Vec<u8>>, started: RawValue<u32>) -> i32 {
    started.set(1);
    q.put(vec![7; 10_000]).unwrap();
    0
}

fn put_big_then_exit(q: Queue<String>) -> i32 {
    q.put("X".repeat(1_000_000)).unwrap();
    0
}

fn wait_for_disconnect(q: Queue<u32>, ready: RawValue<u32>) -> i32 {
    ready.set(1);
    match q.get_timeout(BOUND) {
        Err(GetTimeoutError::Disconnected) => 0,
        Ok(_) => 1,
        Err(_) => 2,
    }
}

fn put_three(q: SimpleQueue<String>) -> i32 {
    for s in ["a", "b", "c"] {
        q.put(s.to_string()).unwrap();
    }
    0
}

// ------------------------------------------------------------------------------ tests

fn fifo_per_producer(method: StartMethod) {
    const N: u32 = 2_000;
    let ctx = get_context(method);
    let q = Queue::new().unwrap();
    let children: Vec<_> = (0..3)
        .map(|id| ctx.start(producer, (q.clone(), id, N)).unwrap())
        .collect();
    let mut next = BTreeMap::new();
    for _ in 0..3 * N {
        let (id, seq) = q.get_timeout(BOUND).unwrap();
        let expected = next.entry(id).or_insert(0u32);
        assert_eq!(seq, *expected, "producer {id} out of order");
        *expected += 1;
    }
    for c in children {
        assert_eq!(c.join().unwrap(), 0);
    }
    assert!(next.values().all(|&n| n == N));
    assert!(q.is_empty());
}

fn maxsize_blocks_and_times_out(method: StartMethod) {
    let q = Queue::with_maxsize(2).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert!(q.full() && q.qsize() == 2 && !q.empty());
    match q.try_put(3) {
        Err(TryPutError::Full(v)) => assert_eq!(v, 3),
        other => panic!("{other:?}"),
    }
    let start = Instant::now();
    match q.put_timeout(3, Duration::from_millis(50)) {
        Err(PutTimeoutError::Timeout(3)) => {}
        other => panic!("{other:?}"),
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(50) && waited < BOUND,
        "{waited:?}"
    );
    // A consumer in another process makes room: the blocking put goes through.
    let child = get_context(method).start(get_one, (q.clone(),)).unwrap();
    q.put_timeout(3, BOUND).unwrap();
    assert_eq!(
        child.join().unwrap(),
        1,
        "FIFO: the child got the first item"
    );
    assert_eq!(q.try_get().unwrap(), 2);
    assert_eq!(q.try_get().unwrap(), 3);
    assert!(!q.full());
}

fn full_forms_in_a_child(method: StartMethod) {
    let q = Queue::<u32>::with_maxsize(1).unwrap();
    q.put(1).unwrap();
    let child = get_context(method).start(full_forms, (q.clone(),)).unwrap();
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(q.try_get().unwrap(), 1);
    assert!(q.is_empty());
}

fn empty_forms_in_a_child(method: StartMethod) {
    let q = Queue::<u32>::new().unwrap();
    let child = get_context(method)
        .start(empty_forms, (q.clone(),))
        .unwrap();
    assert_eq!(child.join().unwrap(), 0);
}

fn close_is_per_process(method: StartMethod) {
    let q = Queue::<u32>::new().unwrap();
    let child = get_context(method).start(close_own, (q.clone(),)).unwrap();
    assert_eq!(child.join().unwrap(), 0);
    assert!(!q.is_closed());
    assert_eq!(q.get_timeout(BOUND).unwrap(), 7);
    q.put(9).unwrap();
    assert_eq!(q.get().unwrap(), 9);
}

fn joinable_join_across_processes(method: StartMethod) {
    let ctx = get_context(method);
    let q = JoinableQueue::new().unwrap();
    let done = RawValue::new(0u32).unwrap();
    for i in 0..20 {
        q.put(i).unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 20);
    assert_eq!(
        q.join_timeout(Duration::from_millis(10)),
        Err(multiprocessing::queues::TimedOut)
    );
    let children: Vec<_> = (0..2)
        .map(|_| {
            ctx.start(joinable_consumer, (q.clone(), done.clone()))
                .unwrap()
        })
        .collect();
    q.join_timeout(BOUND)
        .expect("join returns once every item is done");
    assert_eq!(done.get(), 20);
    q.put(u32::MAX).unwrap();
    q.put(u32::MAX).unwrap();
    q.join();
    for c in children {
        assert_eq!(c.join().unwrap(), 0);
    }
    let err = q.task_done().unwrap_err();
    assert!(matches!(err, Error::TooManyTaskDone));
    assert_eq!(err.kind(), ErrorKind::InvalidState);
}

fn eight_by_eight_exactly_once(method: StartMethod) {
    const N: u32 = 10_000;
    let ctx = get_context(method);
    let q = Queue::new().unwrap();
    let consumers: Vec<_> = (0..8)
        .map(|_| ctx.start(many_consumer, (q.clone(),)).unwrap())
        .collect();
    let producers: Vec<_> = (0..8)
        .map(|id| ctx.start(many_producer, (q.clone(), id, N)).unwrap())
        .collect();
    for p in producers {
        assert_eq!(p.join().unwrap(), 0);
    }
    for _ in 0..8 {
        q.put(None).unwrap();
    }
    let mut all = Vec::with_capacity(8 * N as usize);
    for c in consumers {
        all.extend(c.join().unwrap());
    }
    all.sort_unstable();
    assert_eq!(all.len(), 8 * N as usize, "delivered exactly once");
    assert!(all.iter().copied().eq(0..8 * N), "every item, once");
}

fn a_killed_consumer_loses_only_what_it_held(method: StartMethod) {
    const PER: u32 = 4_000;
    const KILLS: u32 = 4;
    const N: u32 = PER * KILLS;
    let ctx = get_context(method);
    let q = Queue::new().unwrap();
    let seen = RawArray::<u8>::zeroed(N as usize).unwrap();
    let mut ours = BTreeSet::new();
    for round in 0..KILLS {
        let taken = RawValue::new(0u32).unwrap();
        let victim = ctx
            .process(hungry_consumer, (q.clone(), seen.clone(), taken.clone()))
            .start()
            .unwrap();
        // Items keep coming in bursts; this process consumes alongside the victim, which is
        // killed in the middle of the round, wherever it is.
        for i in 0..PER {
            q.put(round * PER + i).unwrap();
            if i % 3 == 0
                && let Ok(x) = q.try_get()
            {
                assert!(ours.insert(x), "{x} delivered twice");
            }
            if i == PER / 2 {
                eventually("the victim consumes", || taken.get() > 0);
                victim.kill().unwrap();
            }
        }
        victim.join().unwrap();
    }
    while let Ok(x) = q.try_get() {
        assert!(ours.insert(x), "{x} delivered twice");
    }
    let theirs: BTreeSet<u32> = (0..N)
        .filter(|&i| seen.get(i as usize) == Some(1))
        .collect();
    assert!(ours.is_disjoint(&theirs), "an item delivered twice");
    assert!(!theirs.is_empty());
    let missing = N as usize - ours.len() - theirs.len();
    assert!(
        missing <= KILLS as usize,
        "{missing} items lost, more than the {KILLS} a killed consumer can hold"
    );
    assert_eq!(q.lost(), 0, "small items are never lost to the ring");
}

fn a_producer_killed_mid_put_leaves_the_queue_usable(method: StartMethod) {
    let ctx = get_context(method);
    // A small ring: each 10 kB item travels in about ten chunks. Bounded, so the producer
    // writes its items itself (an unbounded queue's would wait in its outbox).
    let q = Queue::<Vec<u8>>::builder()
        .capacity(4096)
        .maxsize(1_000)
        .build()
        .unwrap();
    let put = RawValue::new(0u32).unwrap();
    let victim = ctx
        .process(big_producer, (q.clone(), put.clone()))
        .start()
        .unwrap();
    for _ in 0..5 {
        let item = q.get_timeout(BOUND).unwrap();
        assert_eq!(item.len(), 10_000);
    }
    // It is now in the middle of an item (waiting for room, or copying a chunk).
    victim.kill().unwrap();
    victim.join().unwrap();
    let mut whole = 0;
    let end = loop {
        match q.get_timeout(BOUND) {
            Ok(item) => {
                assert_eq!(item.len(), 10_000, "never a half item");
                assert!(item.iter().all(|&b| b == item[0]), "never a mixed item");
                whole += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(
        whole <= 2,
        "at most the items that fitted in the ring: {whole}"
    );
    // Alone now: the dead producer's handle does not count.
    assert_eq!(end, GetTimeoutError::Disconnected);
    assert!(q.lost() <= 1);
    // Usable by everyone: a put and a get here, a put from a new child.
    let p = q.clone();
    let t = std::thread::spawn(move || p.put(vec![1; 20_000]).unwrap());
    assert_eq!(q.get_timeout(BOUND).unwrap(), vec![1; 20_000]);
    t.join().unwrap();
    let put2 = RawValue::new(0u32).unwrap();
    let again = ctx
        .process(big_producer, (q.clone(), put2.clone()))
        .start()
        .unwrap();
    let item = q.get_timeout(BOUND).unwrap();
    assert_eq!(item, vec![0u8; 10_000]);
    again.kill().unwrap();
    again.join().unwrap();
}

fn large_and_small_items_interleave_in_a_ring_that_gives_pages_back(method: StartMethod) {
    const N: u32 = 40;
    // An 8 MiB ring gives back the pages past its first 4 MiB that a large item covered: the
    // small items written into the pages the head left before must survive it. The producer
    // fills the ring before anything is read, so records lie all over it.
    let q = Queue::builder().capacity(8 << 20).build().unwrap();
    let child = get_context(method)
        .start(mixed_sizes, (q.clone(), N))
        .unwrap();
    eventually("the ring fills", || q.qsize() >= 12);
    for i in 0..N {
        let v = q.get_timeout(BOUND).unwrap();
        let len = if i % 3 == 0 {
            1_100_000 + i as usize
        } else {
            i as usize
        };
        assert_eq!(v.len(), len, "item {i}");
        assert!(v.iter().all(|&x| x == i), "item {i} is whole");
    }
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(q.lost(), 0);
}

fn an_unbounded_put_never_blocks_and_keeps_order(method: StartMethod) {
    // Eight times what the ring holds: every put returns before anything is read.
    const N: u32 = 2_000;
    let q = Queue::<u32>::builder().capacity(4096).build().unwrap();
    let done = RawValue::new(0u32).unwrap();
    let child = get_context(method)
        .process(flood, (q.clone(), N, done.clone()))
        .start()
        .unwrap();
    eventually("every put returned with nothing read", || done.get() == 1);
    assert!(q.qsize() < N as usize);
    for i in 0..N {
        assert_eq!(q.get_timeout(BOUND).unwrap(), i, "in the order put");
    }
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(q.lost(), 0);
    assert_eq!(q.get_timeout(BOUND), Err(GetTimeoutError::Disconnected));
}

fn a_child_does_not_inherit_its_parents_outbox(method: StartMethod) {
    const N: u32 = 1_000;
    let q = Queue::<u32>::builder().capacity(4096).build().unwrap();
    // Most of these wait in this process's outbox: the ring holds 256.
    for i in 0..N {
        q.put(i).unwrap();
    }
    let child = get_context(method)
        .process(put_behind_a_full_ring, (q.clone(),))
        .start()
        .unwrap();
    let mut ours = Vec::new();
    let mut theirs = 0;
    while ours.len() < N as usize || theirs == 0 {
        match q.get_timeout(BOUND).unwrap() {
            u32::MAX => theirs += 1,
            x => ours.push(x),
        }
    }
    assert_eq!(child.join_timeout(BOUND).unwrap(), 0);
    assert!(ours.iter().copied().eq(0..N), "each item once, in order");
    assert_eq!(theirs, 1);
    assert!(
        matches!(q.try_get(), Err(TryGetError::Empty)),
        "nothing twice"
    );
    assert_eq!(q.lost(), 0);
}

fn join_before_drain_returns_when_a_child_put_more_than_fits(method: StartMethod) {
    // The ring holds 256 of these: the child's exit waits a few seconds for a reader, then
    // drops the rest and counts it lost; `join` before draining returns.
    const N: u32 = 2_000;
    let q = Queue::<u32>::builder().capacity(4096).build().unwrap();
    let done = RawValue::new(0u32).unwrap();
    let child = get_context(method)
        .process(flood, (q.clone(), N, done.clone()))
        .start()
        .unwrap();
    let start = Instant::now();
    assert_eq!(
        child.join_timeout(BOUND).unwrap(),
        0,
        "join before drain returned"
    );
    assert!(start.elapsed() < BOUND);
    assert_eq!(done.get(), 1);
    let mut got = 0;
    while let Ok(x) = q.try_get() {
        assert_eq!(x, got, "a prefix of what was put, in order");
        got += 1;
    }
    assert!(got > 0 && got < N, "{got}");
    assert_eq!(
        u64::from(got) + q.lost(),
        u64::from(N),
        "what was dropped is counted"
    );
    // A joinable queue counts what was dropped as done: `join` returns.
    let jq = JoinableQueue::<u32>::builder()
        .capacity(4096)
        .build_joinable()
        .unwrap();
    let done = RawValue::new(0u32).unwrap();
    let child = get_context(method)
        .process(flood_joinable, (jq.clone(), N, done.clone()))
        .start()
        .unwrap();
    assert_eq!(child.join_timeout(BOUND).unwrap(), 0);
    while jq.try_get().is_ok() {
        jq.task_done().unwrap();
    }
    jq.join_timeout(BOUND)
        .expect("items dropped at exit count as done");
    assert!(jq.lost() > 0);
}

fn a_producer_killed_with_items_in_its_outbox_counts_them_lost(method: StartMethod) {
    const N: u32 = 2_000;
    let q = JoinableQueue::<u32>::builder()
        .capacity(4096)
        .build_joinable()
        .unwrap();
    let done = RawValue::new(0u32).unwrap();
    let child = get_context(method)
        .process(flood_joinable, (q.clone(), N, done.clone()))
        .start()
        .unwrap();
    eventually("every put returned", || done.get() == 1);
    child.kill().unwrap();
    let _ = child.join();
    let mut got = 0;
    while let Ok(x) = q.try_get() {
        assert_eq!(x, got);
        got += 1;
        q.task_done().unwrap();
    }
    q.join_timeout(BOUND)
        .expect("items that died in the outbox count as done");
    assert_eq!(
        u64::from(got) + q.lost(),
        u64::from(N),
        "every item delivered or lost"
    );
}

fn joinable_join_returns_after_a_producer_is_killed_mid_item(method: StartMethod) {
    // Bounded, so the producer writes its items itself: 10 kB items in a 4 KiB ring.
    let q = JoinableQueue::<Vec<u8>>::builder()
        .capacity(4096)
        .maxsize(1_000)
        .build_joinable()
        .unwrap();
    let put = RawValue::new(0u32).unwrap();
    let victim = get_context(method)
        .process(big_joinable_producer, (q.clone(), put.clone()))
        .start()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(q.get_timeout(BOUND).unwrap().len(), 10_000);
        q.task_done().unwrap();
    }
    // Nobody reads now, and no item fits in the ring whole: the producer ends up in the middle
    // of one, holding the write lock while it waits for room, which `try_put` finds busy.
    let mut busy = 0;
    eventually("the producer waits in the middle of an item", || {
        match q.try_put(Vec::new()) {
            Err(TryPutError::Full(_)) => busy += 1,
            _ => busy = 0,
        }
        busy >= 2
    });
    victim.kill().unwrap();
    let _ = victim.join();
    while let Ok(item) = q.get_timeout(BOUND) {
        assert!(item.is_empty() || item.len() == 10_000, "never a half item");
        q.task_done().unwrap();
    }
    assert_eq!(q.lost(), 1, "the item it was writing");
    q.join_timeout(BOUND).expect("a lost item counts as done");
}

fn try_put_never_waits_for_a_writer_in_the_middle_of_an_item(method: StartMethod) {
    // Bounded, so the child's put holds the write lock while it waits for room.
    let q = Queue::<Vec<u8>>::builder()
        .capacity(4096)
        .maxsize(100)
        .build()
        .unwrap();
    let started = RawValue::new(0u32).unwrap();
    let child = get_context(method)
        .start(put_one_huge, (q.clone(), started.clone()))
        .unwrap();
    eventually("the child puts", || started.get() == 1);
    let mut small = 0;
    eventually("try_put sees the busy writer", || {
        let start = Instant::now();
        let r = q.try_put(vec![1]);
        assert!(start.elapsed() < Duration::from_secs(5), "try_put blocked");
        match r {
            Ok(()) => {
                small += 1;
                false
            }
            Err(TryPutError::Full(v)) => {
                assert_eq!(v, vec![1], "handed back");
                true
            }
            Err(e) => panic!("{e:?}"),
        }
    });
    let mut got = Vec::new();
    while got.len() < small + 1 {
        got.push(q.get_timeout(BOUND).unwrap());
    }
    assert!(
        got.contains(&vec![7; 10_000]),
        "the large item arrived whole"
    );
    assert_eq!(child.join().unwrap(), 0);
}

fn a_consumer_killed_between_two_chunks_loses_only_that_item(method: StartMethod) {
    const MAX_ROUNDS: u32 = 10;
    let ctx = get_context(method);
    // Bounded, so the producer writes itself; 20 kB items travel in 20 chunks of a 4 KiB ring.
    let q = Queue::<(u32, String)>::builder()
        .capacity(4096)
        .maxsize(1_000)
        .build()
        .unwrap();
    let stop = RawValue::new(0u32).unwrap();
    let seen = RawArray::<u8>::zeroed(1 << 20).unwrap();
    // Daemonic (as the victims): a failed assertion ends the test with its message, where a
    // non-daemonic child that never stops would be joined at exit for ever.
    let producer = JoinHandle::builder(numbered_big_producer, (q.clone(), stop.clone()))
        .daemon(true)
        .context(ctx.as_process())
        .spawn()
        .unwrap();
    let mut ours = BTreeSet::new();
    let take = |ours: &mut BTreeSet<u32>, round: u32| {
        let (id, text) = q
            .get_timeout(BOUND)
            .unwrap_or_else(|e| panic!("round {round}: {e:?}, {} lost", q.lost()));
        assert!(
            text == big_text(id),
            "round {round}: item {id} not whole ({} bytes), {} lost",
            text.len(),
            q.lost()
        );
        assert!(
            ours.insert(id),
            "round {round}: item {id} delivered twice, {} lost",
            q.lost()
        );
    };
    // A victim reading 20-chunk items is between two chunks most of the time, as decoding and
    // checking a text take a copy and a compare (a byte vector's bytes, one by one in a debug
    // build, kept it between items about four kills in five): rounds until one was (the next
    // reader then skips the rest of its item and counts it lost).
    let mut rounds = 0;
    while q.lost() == 0 {
        assert!(
            rounds < MAX_ROUNDS,
            "no victim was killed in the middle of an item in {rounds} rounds (items taken: {ours:?})"
        );
        rounds += 1;
        let taken = RawValue::new(0u32).unwrap();
        let victim = ctx
            .process(
                hungry_big_consumer,
                (q.clone(), seen.clone(), taken.clone()),
            )
            .daemon(true)
            .start()
            .unwrap();
        eventually("the victim consumes", || taken.get() > 0);
        victim.kill().unwrap();
        let _ = victim.join();
        // The others keep consuming (and find the rest of the victim's item).
        for _ in 0..3 {
            take(&mut ours, rounds);
        }
    }
    stop.set(1);
    loop {
        match q.get_timeout(BOUND) {
            Ok((id, text)) => {
                assert!(
                    text == big_text(id),
                    "draining: item {id} not whole ({} bytes)",
                    text.len()
                );
                assert!(ours.insert(id), "draining: item {id} delivered twice");
            }
            Err(GetTimeoutError::Disconnected) => break,
            Err(e) => panic!("draining: {e:?}"),
        }
    }
    assert_eq!(producer.join().unwrap(), 0);
    let theirs: BTreeSet<u32> = (0..1 << 20)
        .filter(|&i| seen.get(i as usize) == Some(1))
        .collect();
    assert!(
        ours.is_disjoint(&theirs),
        "items delivered twice: {:?}",
        ours.intersection(&theirs).collect::<Vec<_>>()
    );
    let put = ours.iter().chain(&theirs).max().copied().unwrap() + 1;
    let missing = u64::from(put) - (ours.len() + theirs.len()) as u64;
    // Each victim had at most one item in its hands: the one it was reading (counted lost), or
    // one `get` had returned and it had not marked yet.
    let lost = q.lost();
    assert!(
        lost <= u64::from(rounds) && missing >= lost && missing <= u64::from(rounds),
        "{missing} missing, {lost} counted lost, {rounds} victims"
    );
}

fn join_before_drain_returns(method: StartMethod) {
    // Python's programming guidelines: this deadlocks in CPython.
    let q = Queue::new().unwrap();
    let child = get_context(method)
        .process(put_big_then_exit, (q.clone(),))
        .start()
        .unwrap();
    assert_eq!(
        child.join_timeout(BOUND).unwrap(),
        0,
        "join before drain returned"
    );
    assert_eq!(q.get().unwrap().len(), 1_000_000);
}

fn disconnected_when_every_other_handle_is_gone(method: StartMethod) {
    let ctx = get_context(method);
    // The consumer's side: the parent drops its handle while the child waits.
    let q = Queue::<u32>::new().unwrap();
    let ready = RawValue::new(0u32).unwrap();
    let child = ctx
        .start(wait_for_disconnect, (q.clone(), ready.clone()))
        .unwrap();
    eventually("the child waits", || ready.get() == 1);
    drop(q);
    assert_eq!(child.join().unwrap(), 0);
    // The producer's side: a child puts three items and exits; iterating ends after them.
    let sq = SimpleQueue::new().unwrap();
    let child = ctx.start(put_three, (sq.clone(),)).unwrap();
    assert_eq!(child.join().unwrap(), 0);
    let got: Vec<String> = std::iter::from_fn(|| sq.get().ok()).collect();
    assert_eq!(got, ["a", "b", "c"]);
    assert!(matches!(sq.get(), Err(GetError::Disconnected)));
    assert!(sq.empty());
}

per_method!(
    fifo_per_producer,
    maxsize_blocks_and_times_out,
    empty_forms_in_a_child,
    close_is_per_process,
    joinable_join_across_processes,
    eight_by_eight_exactly_once,
    a_killed_consumer_loses_only_what_it_held,
    a_producer_killed_mid_put_leaves_the_queue_usable,
    join_before_drain_returns,
    full_forms_in_a_child,
    an_unbounded_put_never_blocks_and_keeps_order,
    a_child_does_not_inherit_its_parents_outbox,
    join_before_drain_returns_when_a_child_put_more_than_fits,
    a_producer_killed_with_items_in_its_outbox_counts_them_lost,
    joinable_join_returns_after_a_producer_is_killed_mid_item,
    try_put_never_waits_for_a_writer_in_the_middle_of_an_item,
    a_consumer_killed_between_two_chunks_loses_only_that_item,
    large_and_small_items_interleave_in_a_ring_that_gives_pages_back,
    disconnected_when_every_other_handle_is_gone,
);

// ------------------------------------------------------------------------------ in-process

/// A value whose encoding fails.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Unencodable(u32);

impl serde::Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be encoded",
        ))
    }
}

#[test]
fn an_unencodable_value_fails_at_put_and_is_handed_back() {
    let q = Queue::<Unencodable>::new().unwrap();
    let err = q.put(Unencodable(5)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
    assert!(err.to_string().contains("cannot encode"), "{err}");
    assert_eq!(err.into_inner(), Unencodable(5));
    assert!(q.is_empty(), "nothing was put");
    // A handle with a file descriptor cannot travel inside an item either.
    let q2 = Queue::<multiprocessing::Lock>::new().unwrap();
    let err = q2.put(multiprocessing::Lock::new().unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
}

#[test]
fn a_handle_of_another_kind_or_item_type_is_refused() {
    use multiprocessing::runtime::transfer::{decode_with_fds, encode_with_fds};
    let q = Queue::<u32>::new().unwrap();
    let (bytes, fds) = encode_with_fds(&q).unwrap();
    let err = decode_with_fds::<Queue<String>>(&bytes, fds).unwrap_err();
    assert!(err.to_string().contains("item type"), "{err}");
    let (bytes, fds) = encode_with_fds(&q).unwrap();
    let err = decode_with_fds::<SimpleQueue<u32>>(&bytes, fds).unwrap_err();
    assert!(err.to_string().contains("SimpleQueue"), "{err}");
    let (bytes, fds) = encode_with_fds(&q).unwrap();
    let back = decode_with_fds::<Queue<u32>>(&bytes, fds).unwrap();
    back.put(3).unwrap();
    assert_eq!(q.get().unwrap(), 3);
}

#[test]
fn bad_arguments_are_errors() {
    let e = Queue::<u8>::builder().capacity(5000).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = Queue::<u8>::with_maxsize(usize::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn many_threads_put_and_get() {
    let q = Queue::<u64>::builder().capacity(1 << 14).build().unwrap();
    let producers: Vec<_> = (0..4u64)
        .map(|t| {
            let q = q.clone();
            std::thread::spawn(move || (0..5_000).for_each(|i| q.put(t * 5_000 + i).unwrap()))
        })
        .collect();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            std::thread::spawn(move || (0..5_000).map(|_| q.get().unwrap()).collect::<Vec<_>>())
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<u64> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    assert!(all.into_iter().eq(0..20_000));
}

#[test]
fn items_larger_than_the_ring_arrive_whole_and_in_order() {
    let q = Queue::<Vec<u32>>::builder().capacity(4096).build().unwrap();
    let p = q.clone();
    let t = std::thread::spawn(move || {
        for n in [0usize, 1, 1000, 3000, 100_000, 7] {
            p.put((0..n as u32).collect()).unwrap();
        }
    });
    for n in [0usize, 1, 1000, 3000, 100_000, 7] {
        let v = q.get_timeout(BOUND).unwrap();
        assert!(v.iter().copied().eq(0..n as u32));
    }
    t.join().unwrap();
    assert_eq!(q.lost(), 0);
}

#[test]
fn a_burst_after_an_early_wrap_has_the_whole_ring() {
    // A ring found empty past its first 4 MiB starts again from its beginning; the padding that
    // skips its end must not hold the room a burst needs next: a 32 MiB ring takes 24 MiB.
    // Four 1 MiB items, put and taken one by one, bring the tail to the first 4 MiB's end.
    let q = Queue::<String>::new().unwrap();
    let item = |i: usize| format!("{i:>8}").repeat(1 << 17);
    for i in 0..4 {
        q.try_put(item(i)).unwrap();
        assert_eq!(q.try_get().unwrap(), item(i));
    }
    for i in 0..24 {
        assert!(q.try_put(item(i)).is_ok(), "item {i} found no room");
    }
    for i in 0..24 {
        assert_eq!(q.try_get().unwrap(), item(i));
    }
    assert_eq!(q.lost(), 0);
}
