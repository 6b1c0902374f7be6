//! A manager's synchronization and queue types across real processes, under each start method:
//! a queue filled in one process and drained in another, a joinable queue joined across
//! processes, lock mutual exclusion (50 concurrent clients lose no increment), a lock freed
//! when its holder is SIGKILLed, an event, a barrier of three processes, a condition notified
//! across processes, semaphores, an array, and timeouts that expire within generous bounds.

use std::time::{Duration, Instant};

use multiprocessing::connection::Connection;
use multiprocessing::managers::sync_types::Queue;
use multiprocessing::managers::{
    AcquirerProxy, ArrayProxy, BarrierProxy, BaseManager, ConditionProxy, EventProxy,
    JoinableQueueProxy, Object, QueueProxy, Raised, Shared, SyncManager, ValueProxy,
};
use multiprocessing::{ErrorKind, StartMethod, get_context, pipe};
use multiprocessing_tests::helpers::{BOUND, within};
use multiprocessing_tests::{eventually, per_method};

fn s(x: &str) -> Object {
    Object::Str(x.into())
}

fn int(i: i128) -> Object {
    Object::Int(i)
}

/// How many callers wait for a lock or semaphore (a debugging method of the server's).
fn waiters(p: &AcquirerProxy) -> i128 {
    match p.call_method("_waiters", Vec::new()).unwrap() {
        Object::Int(n) => n,
        other => panic!("not a count: {other:?}"),
    }
}

fn started(method: StartMethod) -> SyncManager {
    get_context(method).manager().unwrap()
}

/// Puts `n` numbered items, then `None` as the end.
fn produce(q: QueueProxy<Option<(String, u32)>>, n: u32) -> i32 {
    for i in 0..n {
        q.put(Some(("item".to_string(), i))).unwrap();
    }
    q.put(None).unwrap();
    0
}

fn a_queue_filled_in_one_process_is_drained_in_another(method: StartMethod) {
    let m = started(method);
    // Bounded, so the producer also waits for room.
    let q = m.queue_of::<Option<(String, u32)>>(3).unwrap();
    assert_eq!(q.maxsize().unwrap(), 3);
    let producer = get_context(method).start(produce, (q.clone(), 50)).unwrap();
    let mut got = Vec::new();
    while let Some(item) = q.get().unwrap() {
        got.push(item);
    }
    assert_eq!(producer.join().unwrap(), 0);
    let expected: Vec<_> = (0..50).map(|i| ("item".to_string(), i)).collect();
    assert_eq!(got, expected);
    assert!(q.empty().unwrap());
}

/// Says it is about to wait, then waits for an item (until killed).
fn get_until_killed(q: QueueProxy, mut waiting: Connection) {
    waiting.send(&()).unwrap();
    let _ = q.get();
}

fn a_getter_killed_while_waiting_takes_nothing(method: StartMethod) {
    let m = started(method);
    let q = m.queue(0).unwrap();
    let getters = || q.call_method("_getters", Vec::new()).unwrap();
    let (mut waiting, theirs) = pipe(true).unwrap();
    let child = get_context(method)
        .process(get_until_killed, (q.clone(), theirs))
        .start()
        .unwrap();
    let () = waiting.recv().unwrap();
    eventually("the child waits for an item", || getters() == int(1));
    child.kill().unwrap();
    child.join().unwrap();
    eventually("the dead getter's wait is dropped", || getters() == int(0));
    q.put(s("for the living")).unwrap();
    assert_eq!(q.get_nowait().unwrap(), s("for the living"));
}

/// Takes every item and marks it done, then says how many.
fn consume_and_mark_done(q: JoinableQueueProxy, n: usize) -> usize {
    for _ in 0..n {
        q.get().unwrap();
        q.task_done().unwrap();
    }
    n
}

fn a_joinable_queue_is_joined_across_processes(method: StartMethod) {
    let m = started(method);
    let q = m.joinable_queue(0).unwrap();
    for i in 0..10 {
        q.put(int(i)).unwrap();
    }
    assert_eq!(q.qsize().unwrap(), 10);
    let consumer = get_context(method)
        .start(consume_and_mark_done, (q.clone(), 10))
        .unwrap();
    within("join() returns once every item is done", move || q.join()).unwrap();
    assert_eq!(consumer.join().unwrap(), 10);
}

/// Holds the lock, says so, and waits to be killed.
fn hold_until_killed(lock: AcquirerProxy, mut ready: Connection) {
    let _held = lock.lock().unwrap();
    ready.send(&()).unwrap();
    // Blocks until killed (the parent never sends).
    let _ = ready.recv::<()>();
}

fn a_lock_held_by_a_killed_client_goes_to_the_next_waiter(method: StartMethod) {
    let m = started(method);
    let ctx = get_context(method);
    let lock = m.lock().unwrap();
    let (mut ready, theirs) = pipe(true).unwrap();
    let holder = ctx
        .process(hold_until_killed, (lock.clone(), theirs))
        .start()
        .unwrap();
    let () = ready.recv().unwrap();
    assert!(lock.try_lock().unwrap().is_none(), "the child holds it");
    // A waiter in this process, already waiting when the holder dies.
    let l = lock.clone();
    let waiter = std::thread::spawn(move || {
        let _g = l.lock_timeout(BOUND).unwrap();
        Instant::now()
    });
    eventually("the waiter waits", || waiters(&lock) == 1);
    let killed_at = Instant::now();
    holder.kill().unwrap();
    holder.join().unwrap();
    let got_it_at = waiter.join().unwrap();
    assert!(got_it_at >= killed_at);
    // Free again once the waiter's guard dropped: nothing was left held.
    assert!(lock.try_lock().unwrap().is_some());
}

/// Waits for the lock (which the parent holds) until killed.
fn wait_for_lock(lock: AcquirerProxy, mut waiting: Connection) {
    waiting.send(&()).unwrap();
    let _g = lock.lock().unwrap();
    // Only reached if the lock was handed to this dead-to-be waiter: the parent would see it.
    let _ = waiting.recv::<()>();
}

#[test]
fn a_killed_waiter_never_takes_the_lock() {
    let m = started(StartMethod::ForkServer);
    let lock = m.lock().unwrap();
    let held = lock.lock().unwrap();
    let (mut waiting, theirs) = pipe(true).unwrap();
    let child = get_context(StartMethod::ForkServer)
        .process(wait_for_lock, (lock.clone(), theirs))
        .start()
        .unwrap();
    let () = waiting.recv().unwrap();
    eventually("the child waits", || waiters(&lock) == 1);
    child.kill().unwrap();
    child.join().unwrap();
    drop(held);
    // The dead waiter's call was cancelled: the lock is free, not handed to it.
    let l = lock.clone();
    within("the lock is free after its waiter died", move || {
        l.lock_timeout(Duration::from_secs(5)).map(drop)
    })
    .unwrap();
}

/// `threads` threads, each with its own connection, each adding 1 `n` times under the lock.
fn add_under_lock(lock: AcquirerProxy, counter: ValueProxy, threads: usize, n: usize) -> i32 {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (lock, counter) = (lock.clone(), counter.clone());
            std::thread::spawn(move || {
                for _ in 0..n {
                    let _g = lock.lock().unwrap();
                    let Object::Int(v) = counter.get().unwrap() else {
                        panic!("not an int")
                    };
                    counter.set(int(v + 1)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    0
}

/// The acceptance's 50 concurrent clients × 1,000 increments under a manager `Lock`: 5
/// processes × 10 threads, each thread a client of its own (its own connection, its own
/// identity as the lock's owner), each increment a read and a write of a shared `Value`.
#[test]
fn fifty_clients_incrementing_under_a_lock_lose_no_update() {
    let ctx = get_context(StartMethod::Fork);
    let m = ctx.manager().unwrap();
    let lock = m.lock().unwrap();
    let counter = m.value("i", int(0)).unwrap();
    let started_at = Instant::now();
    let children: Vec<_> = (0..5)
        .map(|_| {
            ctx.start(add_under_lock, (lock.clone(), counter.clone(), 10, 1000))
                .unwrap()
        })
        .collect();
    for c in children {
        assert_eq!(c.join().unwrap(), 0);
    }
    eprintln!(
        "50 clients x 1000 increments under a manager Lock: {:?}",
        started_at.elapsed()
    );
    assert_eq!(counter.get().unwrap(), int(50_000));
}

/// Waits for the event; says whether it was set.
fn wait_for_event(e: EventProxy, mut waiting: Connection) -> bool {
    waiting.send(&()).unwrap();
    e.wait().unwrap();
    e.is_set().unwrap()
}

fn an_event_wakes_a_waiter_in_another_process(method: StartMethod) {
    let m = started(method);
    let e = m.event().unwrap();
    assert!(!e.is_set().unwrap());
    let (mut waiting, theirs) = pipe(true).unwrap();
    let child = get_context(method)
        .start(wait_for_event, (e.clone(), theirs))
        .unwrap();
    let () = waiting.recv().unwrap();
    e.set().unwrap();
    assert!(child.join().unwrap());
    e.clear().unwrap();
    assert!(!e.is_set().unwrap());
}

fn wait_at_barrier(b: BarrierProxy) -> usize {
    b.wait().unwrap()
}

fn a_barrier_of_three_processes(method: StartMethod) {
    let m = started(method);
    let ctx = get_context(method);
    let b = m.barrier(3).unwrap();
    assert_eq!(b.parties().unwrap(), 3);
    let children: Vec<_> = (0..3)
        .map(|_| ctx.start(wait_at_barrier, (b.clone(),)).unwrap())
        .collect();
    let mut indexes: Vec<usize> = children.into_iter().map(|c| c.join().unwrap()).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1, 2]);
    assert_eq!(b.n_waiting().unwrap(), 0);
    assert!(!b.broken().unwrap());
}

/// Waits on the condition until the namespace's flag is set; returns what it saw.
fn wait_for_flag(cond: ConditionProxy, flag: ValueProxy, mut waiting: Connection) -> bool {
    let _g = cond.lock().unwrap();
    waiting.send(&()).unwrap();
    cond.wait_for(|| flag.get().unwrap() == Object::Bool(true))
        .unwrap();
    flag.get().unwrap() == Object::Bool(true)
}

fn a_condition_is_notified_across_processes(method: StartMethod) {
    let m = started(method);
    let lock = m.rlock().unwrap();
    let cond = m.condition_with(&lock).unwrap();
    let flag = m.value("b", Object::Bool(false)).unwrap();
    let (mut waiting, theirs) = pipe(true).unwrap();
    let child = get_context(method)
        .start(wait_for_flag, (cond.clone(), flag.clone(), theirs))
        .unwrap();
    let () = waiting.recv().unwrap();
    {
        // The condition's lock is the manager RLock: taking one takes the other.
        let _g = lock.lock().unwrap();
        flag.set(Object::Bool(true)).unwrap();
        cond.notify_all().unwrap();
    }
    assert!(child.join().unwrap());
}

/// Tries the semaphore (whose one permit the parent holds), then waits for it.
fn take_permit(sem: AcquirerProxy) -> (bool, bool) {
    let at_once = sem.try_lock().unwrap().is_some();
    let later = sem.lock_timeout(BOUND).is_ok();
    (at_once, later)
}

fn semaphores_from_two_processes(method: StartMethod) {
    let m = started(method);
    let sem = m.bounded_semaphore(1).unwrap();
    sem.acquire(true, None).unwrap();
    assert_eq!(sem.get_value().unwrap(), 0);
    let child = get_context(method)
        .start(take_permit, (sem.clone(),))
        .unwrap();
    eventually("the child waits", || waiters(&sem) == 1);
    sem.release().unwrap();
    assert_eq!(child.join().unwrap(), (false, true));
    // The child's guard gave the permit back; one more release is over the bound.
    assert_eq!(sem.get_value().unwrap(), 1);
    assert_eq!(
        sem.release().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let plain = m.semaphore(0).unwrap();
    plain.release().unwrap();
    assert_eq!(plain.get_value().unwrap(), 1);
}

/// Takes the RLock twice, and reports whether a second thread of its own could not.
fn rlock_twice(lock: AcquirerProxy) -> (bool, bool) {
    let a = lock.lock().unwrap();
    let b = lock.lock().unwrap();
    let l = lock.clone();
    let other_thread_blocked = std::thread::spawn(move || l.try_lock().unwrap().is_none())
        .join()
        .unwrap();
    drop(b);
    let still_mine = lock.to_string().starts_with("<locked");
    drop(a);
    (other_thread_blocked, still_mine)
}

fn an_rlock_from_two_processes(method: StartMethod) {
    let m = started(method);
    let lock = m.rlock().unwrap();
    let child = get_context(method)
        .start(rlock_twice, (lock.clone(),))
        .unwrap();
    assert_eq!(child.join().unwrap(), (true, true));
    assert!(lock.try_lock().unwrap().is_some());
    let e = lock.release().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotOwner);
}

fn fill_array(a: ArrayProxy<i32>) -> i32 {
    for i in 0..a.len().unwrap() as i64 {
        a.set(i, i as i32 * 10).unwrap();
    }
    a.set_slice(Some(0), Some(2), None, [-1, -2]).unwrap();
    0
}

fn an_array_from_two_processes(method: StartMethod) {
    let m = started(method);
    let a = m.array("i", vec![int(0); 5]).unwrap();
    let typed = ArrayProxy::<i32>::from_proxy(a.clone().into_proxy());
    let child = get_context(method).start(fill_array, (typed,)).unwrap();
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(a.to_string(), "array('i', [-1, -2, 20, 30, 40])");
    assert_eq!(a.get(-1).unwrap(), int(40));
    assert_eq!(
        a.get_slice(None, None, Some(2)).unwrap(),
        [int(-1), int(20), int(40)]
    );
    assert_eq!(
        a.set(0, s("x")).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(a.get(5).unwrap_err().kind(), ErrorKind::OutOfRange);
}

per_method!(
    a_queue_filled_in_one_process_is_drained_in_another,
    a_getter_killed_while_waiting_takes_nothing,
    a_joinable_queue_is_joined_across_processes,
    a_lock_held_by_a_killed_client_goes_to_the_next_waiter,
    an_event_wakes_a_waiter_in_another_process,
    a_barrier_of_three_processes,
    a_condition_is_notified_across_processes,
    semaphores_from_two_processes,
    an_rlock_from_two_processes,
    an_array_from_two_processes,
);

/// Asserts that `f` failed with `kind` after about `wait` (at least it, at most [`BOUND`]).
fn expires<T: std::fmt::Debug>(
    kind: ErrorKind,
    wait: Duration,
    f: impl FnOnce() -> multiprocessing::managers::Result<T>,
) {
    let t = Instant::now();
    let e = f().unwrap_err();
    let took = t.elapsed();
    assert_eq!(e.kind(), kind, "{e}");
    assert!(took >= wait && took < BOUND, "{took:?}");
}

#[test]
fn timeouts_expire_within_generous_bounds() {
    let m = started(StartMethod::ForkServer);
    let d = Duration::from_millis(100);
    let q = m.queue(1).unwrap();
    expires(ErrorKind::Empty, d, || q.get_timeout(d));
    assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::Empty);
    q.put(int(1)).unwrap();
    assert!(q.full().unwrap());
    expires(ErrorKind::Full, d, || q.put_timeout(int(2), d));
    assert_eq!(q.put_nowait(int(2)).unwrap_err().kind(), ErrorKind::Full);

    let lock = m.lock().unwrap();
    let held = lock.lock().unwrap();
    let l = lock.clone();
    // Another thread, so another owner.
    std::thread::spawn(move || {
        expires(ErrorKind::Timeout, d, || l.lock_timeout(d).map(drop));
        assert!(!l.acquire(true, Some(d)).unwrap());
    })
    .join()
    .unwrap();
    drop(held);

    let e = m.event().unwrap();
    expires(ErrorKind::Timeout, d, || e.wait_timeout(d));
    // A timeout beyond the end of time waits as long as it takes, and a huge one is refused.
    let b = m.barrier(2).unwrap();
    let b2 = b.clone();
    let far = std::thread::spawn(move || b2.wait_timeout(Duration::from_secs(u64::MAX / 2)));
    eventually("the far waiter waits", || b.n_waiting().unwrap() == 1);
    b.wait().unwrap();
    far.join().unwrap().unwrap();
    assert_eq!(
        e.wait_timeout(Duration::MAX).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    let cond = m.condition().unwrap();
    let g = cond.lock().unwrap();
    expires(ErrorKind::Timeout, d, || cond.wait_timeout(d));
    expires(ErrorKind::Timeout, d, || cond.wait_for_timeout(|| false, d));
    drop(g);

    let jq = m.joinable_queue(0).unwrap();
    jq.put(int(1)).unwrap();
    expires(ErrorKind::Timeout, d, || jq.join_timeout(d));

    // A barrier wait that times out breaks it, for later waiters too.
    let b = m.barrier(2).unwrap();
    expires(ErrorKind::BrokenBarrier, d, || b.wait_timeout(d));
    assert!(b.broken().unwrap());
    assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
    b.reset().unwrap();
    assert!(!b.broken().unwrap());
}

#[test]
fn python_errors_and_names() {
    let m = started(StartMethod::ForkServer);
    let lock = m.lock().unwrap();
    let e = lock.release().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotOwner);
    assert_eq!(e.to_string(), "RuntimeError: release unlocked lock");
    let cond = m.condition().unwrap();
    assert_eq!(cond.notify(1).unwrap_err().kind(), ErrorKind::NotOwner);
    assert_eq!(cond.wait().unwrap_err().kind(), ErrorKind::NotOwner);
    let q = m.queue(0).unwrap();
    assert!(format!("{q:?}").starts_with("<AutoProxy[Queue] object, typeid 'Queue' at "));
    assert!(format!("{lock:?}").starts_with("<AcquirerProxy object, typeid 'Lock' at "));
    assert_eq!(lock.to_string(), "<unlocked _thread.lock object>");
    let b = m.barrier(3).unwrap();
    assert_eq!(b.to_string(), "<threading.Barrier: waiters=0/3>");
    let jq = m.joinable_queue(0).unwrap();
    assert_eq!(
        jq.task_done().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // A plain Queue has no task_done.
    let e = JoinableQueueProxy::<Object>::from_proxy(q.clone().into_proxy())
        .task_done()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(m.barrier(0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let d = m.array_of("d", [0.5f64, 2.0]).unwrap();
    assert_eq!(d.to_vec().unwrap(), [0.5, 2.0]);
    assert_eq!(d.to_string(), "array('d', [0.5, 2.0])");
    assert_eq!(
        m.array("z", Vec::new()).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn a_condition_over_a_manager_lock_shares_it() {
    let m = started(StartMethod::ForkServer);
    let lock = m.lock().unwrap();
    let cond = m.condition_with(&lock).unwrap();
    let g = cond.lock().unwrap();
    let l = lock.clone();
    let blocked = std::thread::spawn(move || l.try_lock().unwrap().is_none())
        .join()
        .unwrap();
    assert!(blocked, "holding the condition holds its lock");
    drop(g);
    // The condition keeps its lock alive after the lock's own proxy is gone.
    let before = m.number_of_objects().unwrap();
    drop(lock);
    assert_eq!(m.number_of_objects().unwrap(), before);
    drop(cond);
    eventually("the condition and its lock are freed", || {
        m.number_of_objects().unwrap() == before - 2
    });
}

thread_local! {
    /// The one queue of a server, handed out by every `get_queue` (a server is one thread).
    static QUEUE: Queue = Queue::new(0, false);
}

/// The documentation's `QueueManager.register('get_queue', callable=lambda: queue)`.
fn get_queue(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(QUEUE.with(Queue::clone)))
}

/// Connects to the queue server at `address` and puts `hello`.
fn put_hello(address: String) -> i32 {
    let m = BaseManager::builder()
        .address(address.parse().unwrap())
        .register("get_queue", get_queue)
        .connect()
        .unwrap();
    QueueProxy::<String>::from_proxy(m.create("get_queue", Vec::new()).unwrap())
        .put("hello")
        .unwrap();
    0
}

/// Connects to the queue server at `address` and gets one item.
fn get_one(address: String) -> String {
    let m = BaseManager::builder()
        .address(address.parse().unwrap())
        .connect()
        .unwrap();
    QueueProxy::<String>::from_proxy(m.create("get_queue", Vec::new()).unwrap())
        .get()
        .unwrap()
}

/// The documentation's remote queue server: a process-local queue served over TCP, one client
/// process puts `hello`, another gets it.
#[test]
fn a_process_local_queue_served_through_a_manager_over_tcp() {
    let ctx = get_context(StartMethod::Spawn);
    let m = ctx
        .manager_builder()
        .address("127.0.0.1:0".parse().unwrap())
        .register("get_queue", get_queue)
        .start()
        .unwrap();
    let address = m.address().to_string();
    let getter = ctx.start(get_one, (address.clone(),)).unwrap();
    assert_eq!(ctx.start(put_hello, (address,)).unwrap().join().unwrap(), 0);
    assert_eq!(getter.join().unwrap(), "hello");
}

/// Waits once on the condition, then counts itself woken.
fn wait_once(cond: ConditionProxy, woken: ValueProxy) -> i32 {
    let _g = cond.lock().unwrap();
    cond.wait().unwrap();
    let Object::Int(n) = woken.get().unwrap() else {
        panic!("not an int")
    };
    woken.set(int(n + 1)).unwrap();
    0
}

#[test]
fn notify_wakes_as_many_waiters_as_asked() {
    let ctx = get_context(StartMethod::ForkServer);
    let m = ctx.manager().unwrap();
    let cond = m.condition().unwrap();
    let woken = m.value("i", int(0)).unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| ctx.start(wait_once, (cond.clone(), woken.clone())).unwrap())
        .collect();
    // The repr counts the waiters: `<Condition(<lock>, 3)>`.
    let waiting = |n: usize| cond.to_string().ends_with(&format!(", {n})>"));
    eventually("three waiters wait", || waiting(3));
    {
        let _g = cond.lock().unwrap();
        cond.notify(1).unwrap();
    }
    eventually("one waiter was woken", || {
        woken.get().unwrap() == int(1) && waiting(2)
    });
    {
        let _g = cond.lock().unwrap();
        cond.notify_all().unwrap();
    }
    for w in waiters {
        assert_eq!(w.join().unwrap(), 0);
    }
    assert_eq!(woken.get().unwrap(), int(3));
}

/// Waits at the barrier: 0 if it passed, 1 if the barrier broke, 2 for another error.
fn wait_for_break(b: BarrierProxy) -> i32 {
    match b.wait() {
        Ok(_) => 0,
        Err(e) if e.kind() == ErrorKind::BrokenBarrier => 1,
        Err(_) => 2,
    }
}

#[test]
fn an_aborted_barrier_breaks_a_waiter_in_another_process() {
    let ctx = get_context(StartMethod::ForkServer);
    let m = ctx.manager().unwrap();
    let b = m.barrier(2).unwrap();
    let child = ctx.start(wait_for_break, (b.clone(),)).unwrap();
    eventually("the child waits", || b.n_waiting().unwrap() == 1);
    b.abort().unwrap();
    assert_eq!(child.join().unwrap(), 1);
    assert!(b.broken().unwrap());
    b.reset().unwrap();
    // Usable again after a reset: two parties pass.
    let child = ctx.start(wait_for_break, (b.clone(),)).unwrap();
    assert!(b.wait().is_ok());
    assert_eq!(child.join().unwrap(), 0);
}
