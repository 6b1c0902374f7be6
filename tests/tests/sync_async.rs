//! The queues' and synchronization primitives' futures (`get_async`, `put_async`,
//! `join_async`, `Event::wait_async`, `Lock::lock_async`, `Semaphore::acquire_guard_async`) on a
//! multi-thread and a current-thread tokio runtime, against forked children that use the
//! blocking API: the same results, cancellation that loses nothing, thousands of waiting futures
//! on one queue and one event without a thread each, and a lock whose holder was SIGKILLed
//! handed to an async waiter.

use std::future::Future;
use std::time::Duration;

use multiprocessing::queues::{GetError, GetTimeoutError, TryGetError};
use multiprocessing::synchronize::TryLockError;
use multiprocessing::{
    Event, JoinableQueue, Lock, Process, Queue, Semaphore, SimpleQueue, StartMethod, get_context,
};
use multiprocessing_tests::helpers::{BOUND, within};
use multiprocessing_tests::per_runtime;
use multiprocessing_tests::runtime::{Flavor, run};

// ---- children (blocking API) ----

/// Doubles each item of `input` into `output` until a 0.
fn doubler(input: Queue<u64>, output: Queue<u64>) -> i32 {
    while let Ok(x) = input.get() {
        if x == 0 {
            return 0;
        }
        output.put(x * 2).unwrap();
    }
    1
}

/// Puts `1..=n` into a `SimpleQueue`, each after its predecessor was taken (`SimpleQueue` has
/// no maxsize, so `ack` paces it).
fn simple_producer(q: SimpleQueue<u64>, ack: SimpleQueue<u64>, n: u64) -> i32 {
    for i in 1..=n {
        q.put(i).unwrap();
        if ack.get().unwrap() != i {
            return 1;
        }
    }
    0
}

/// Takes every item of `q` and marks it done.
fn consumer(q: JoinableQueue<u64>) -> i32 {
    while let Ok(x) = q.get() {
        q.task_done().unwrap();
        if x == 0 {
            return 0;
        }
    }
    1
}

/// Puts `1..=n` into `q`, each once `go` is set (the parent sets it once).
fn producer(q: Queue<u64>, go: Event, n: u64) -> i32 {
    go.wait();
    for i in 1..=n {
        q.put(i).unwrap();
    }
    0
}

/// Holds `q`, says so on `ready`, and waits to be killed.
fn holds_until_killed(_q: Queue<u64>, ready: Event) -> i32 {
    ready.set();
    loop {
        std::thread::park();
    }
}

/// Sets `event` once `go` is set.
fn setter(go: Event, event: Event) -> i32 {
    go.wait();
    event.set();
    0
}

/// Takes `lock` (and `sem`'s one unit), says so on `held`, and releases both once `release` is
/// set; if killed, it dies holding them.
fn holder(lock: Lock, sem: Semaphore, held: Event, release: Event) -> i32 {
    let guard = lock.lock().unwrap();
    let unit = sem.acquire_guard();
    held.set();
    release.wait();
    drop(unit);
    drop(guard);
    0
}

/// Awaits `never` (which nobody sets) for a moment with the futures, on a runtime of its own:
/// 0 once the wait timed out, as it should.
fn awaits_in_the_child(never: Event) -> i32 {
    // On a thread of its own: the forked thread still looks inside the parent's runtime.
    let waiter = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(never.wait_async_timeout(Duration::from_millis(100)))
    });
    match waiter.join() {
        Ok(Err(_timed_out)) => 0,
        _ => 1,
    }
}

per_runtime!(
    a_forked_child_awaits_what_its_parent_awaits,
    a_get_awaited_when_the_last_peer_is_killed_disconnects,
    futures_moved_to_another_runtime_are_woken_there,
    queue_futures_agree_with_a_blocking_child,
    dropped_queue_futures_lose_nothing,
    event_lock_and_semaphore_futures_agree_with_a_blocking_child,
    thousands_of_waiting_futures_share_a_few_threads,
    a_lock_whose_holder_was_killed_goes_to_an_async_waiter,
);

fn started<F, Args>(target: F, args: Args) -> Process
where
    F: multiprocessing::process::Target<Args>,
    Args: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let p = get_context(StartMethod::Fork).process(target, args).build();
    p.start().unwrap();
    p
}

/// A child forked while the parent awaits a word has none of the parent's waiter threads: its
/// own futures on that word must not count on them (a timed wait there would never end).
fn a_forked_child_awaits_what_its_parent_awaits(flavor: Flavor) {
    run(flavor, async {
        let never = Event::new().unwrap();
        let mut parked = Box::pin(never.wait_async());
        // Registered: the word has its thread in this process.
        std::future::poll_fn(|cx| {
            assert!(parked.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        let p = started(awaits_in_the_child, (never.clone(),));
        let code = p.join_timeout(BOUND);
        if code.is_err() {
            p.kill().unwrap();
        }
        assert_eq!(code.ok(), Some(0), "the child's timed wait ended");
        drop(parked);
    });
}

/// Polls `fut` once with the current task's waker: `true` while pending.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> bool {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx).is_pending())
    })
    .await
}

/// A future first polled (and registered) on one runtime, then moved to another and awaited
/// there, is woken there: the waker of its last poll is the one called, never a stale one.
fn futures_moved_to_another_runtime_are_woken_there(flavor: Flavor) {
    // 'static, for futures that outlive their first runtime and move to another thread.
    let q: &'static Queue<u64> = Box::leak(Box::new(Queue::new().unwrap()));
    let go: &'static Event = Box::leak(Box::new(Event::new().unwrap()));
    let event: &'static Event = Box::leak(Box::new(Event::new().unwrap()));
    let lock: &'static Lock = Box::leak(Box::new(Lock::new().unwrap()));
    let child = started(producer, (q.clone(), go.clone(), 1u64));
    let setter_child = started(setter, (go.clone(), event.clone()));
    let held = lock.lock().unwrap();
    let (mut get, mut wait, mut take) = run(flavor, async {
        let mut get = Box::pin(q.get_async());
        let mut wait = Box::pin(event.wait_async());
        let mut take = Box::pin(lock.lock_async());
        assert!(poll_once(&mut get).await);
        assert!(poll_once(&mut wait).await);
        assert!(poll_once(&mut take).await);
        (get, wait, take)
    });
    // The first runtime is gone with its tasks; the futures go on elsewhere, on a runtime
    // without a timer (a timeout would poll them when it fires, hiding a lost wake-up).
    within("the moved futures", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(poll_once(&mut get).await);
            assert!(poll_once(&mut wait).await);
            assert!(poll_once(&mut take).await);
            // Registered here: now the children put and set, and this thread releases.
            go.set();
            assert_eq!(get.await.unwrap(), 1);
            wait.await;
            drop(held);
            drop(take.await.unwrap());
        });
    });
    assert_eq!(child.join_timeout(BOUND).unwrap(), 0);
    assert_eq!(setter_child.join_timeout(BOUND).unwrap(), 0);
}

/// A get awaiting items from a peer that is SIGKILLed ends as the blocking get does: the queue
/// is empty and nobody else holds it, so `Disconnected`; a dropped get changes nothing.
fn a_get_awaited_when_the_last_peer_is_killed_disconnects(flavor: Flavor) {
    run(flavor, async {
        let q = Queue::<u64>::new().unwrap();
        let ready = Event::new().unwrap();
        let child = started(holds_until_killed, (q.clone(), ready.clone()));
        ready.wait_async().await;
        let mut get = Box::pin(q.get_async());
        assert!(
            poll_once(&mut get).await,
            "nothing to get while the peer lives"
        );
        let mut cut = Box::pin(q.get_async());
        assert!(poll_once(&mut cut).await);
        drop(cut);
        child.kill().unwrap();
        assert_eq!(child.join_async().await.unwrap(), -9);
        assert!(matches!(get.await, Err(GetError::Disconnected)));
        assert!(matches!(
            q.get_async_timeout(BOUND).await,
            Err(GetTimeoutError::Disconnected)
        ));
    });
}

/// The threads of this process now.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

fn queue_futures_agree_with_a_blocking_child(flavor: Flavor) {
    run(flavor, async {
        // A bounded queue each way: the async puts wait for the child to make room.
        let (input, output) = (
            Queue::with_maxsize(2).unwrap(),
            Queue::with_maxsize(2).unwrap(),
        );
        let child = started(doubler, (input.clone(), output.clone()));
        for x in 1..=50u64 {
            input.put_async(x).await.unwrap();
            assert_eq!(output.get_async().await.unwrap(), x * 2);
        }
        // Several in flight against the bound.
        let (put, got) = tokio::join!(
            async {
                for x in 51..=60u64 {
                    input.put_async(x).await.unwrap();
                }
            },
            async {
                let mut got = Vec::new();
                for _ in 51..=60 {
                    got.push(output.get_async().await.unwrap());
                }
                got
            }
        );
        let () = put;
        assert_eq!(got, (51..=60).map(|x| x * 2).collect::<Vec<_>>());
        input.put_async(0).await.unwrap();
        assert_eq!(child.join_async().await.unwrap(), 0);
        // Alone with an empty queue: the same error as the blocking get.
        drop(input);
        assert!(matches!(
            output.get_async_timeout(BOUND).await,
            Err(GetTimeoutError::Disconnected)
        ));

        // SimpleQueue both ways.
        let (q, ack) = (SimpleQueue::new().unwrap(), SimpleQueue::new().unwrap());
        let child = started(simple_producer, (q.clone(), ack.clone(), 20u64));
        for i in 1..=20u64 {
            assert_eq!(q.get_async().await.unwrap(), i);
            ack.put_async(i).await.unwrap();
        }
        assert_eq!(child.join_async().await.unwrap(), 0);

        // JoinableQueue: join_async ends once the child marked every item done.
        let jq = JoinableQueue::new().unwrap();
        for i in (0..=30u64).rev() {
            jq.put_async(i).await.unwrap();
        }
        assert_eq!(jq.unfinished_tasks(), 31);
        let child = started(consumer, (jq.clone(),));
        jq.join_async().await;
        assert_eq!(jq.unfinished_tasks(), 0);
        assert_eq!(child.join_async().await.unwrap(), 0);
    });
}

fn dropped_queue_futures_lose_nothing(flavor: Flavor) {
    run(flavor, async {
        // A child puts 1..=300 while the parent's gets keep being cut short: every item
        // arrives once, in order.
        let q = Queue::new().unwrap();
        let go = Event::new().unwrap();
        let child = started(producer, (q.clone(), go.clone(), 300u64));
        let mut got = Vec::new();
        let mut cut = 0;
        go.set();
        while got.len() < 300 {
            match tokio::time::timeout(Duration::from_micros(200), q.get_async()).await {
                Ok(item) => got.push(item.unwrap()),
                Err(_) => cut += 1,
            }
        }
        assert_eq!(got, (1..=300).collect::<Vec<_>>());
        assert_eq!(child.join_async().await.unwrap(), 0);
        // The queue is usable after dropped futures, and an empty one is cut every time.
        let cut_before = cut;
        for _ in 0..20 {
            if tokio::time::timeout(Duration::from_millis(1), q.get_async())
                .await
                .is_err()
            {
                cut += 1;
            }
        }
        assert_eq!(cut, cut_before + 20);
        q.put(7).unwrap();
        assert_eq!(q.get_async().await.unwrap(), 7);

        // A put dropped while waiting for room did not put its item.
        let bounded = Queue::with_maxsize(1).unwrap();
        bounded.put_async(1u64).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(20), bounded.put_async(2)).await;
        assert!(waited.is_err(), "the queue is full");
        assert!(matches!(
            bounded
                .put_async_timeout(3, Duration::from_millis(20))
                .await,
            Err(multiprocessing::queues::PutTimeoutError::Timeout(3))
        ));
        assert_eq!(bounded.qsize(), 1);
        assert_eq!(bounded.get_async().await.unwrap(), 1);
        assert!(matches!(bounded.try_get(), Err(TryGetError::Empty)));
        bounded.put_async(4).await.unwrap();
        assert_eq!(bounded.get().unwrap(), 4);
    });
}

fn event_lock_and_semaphore_futures_agree_with_a_blocking_child(flavor: Flavor) {
    run(flavor, async {
        let (go, event) = (Event::new().unwrap(), Event::new().unwrap());
        // Unset: the timed form times out, as the blocking one; a dropped wait changes nothing.
        assert!(
            event
                .wait_async_timeout(Duration::from_millis(10))
                .await
                .is_err()
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(5), event.wait_async())
                .await
                .is_err()
        );
        let child = started(setter, (go.clone(), event.clone()));
        let waiting = tokio::spawn({
            let event = event.clone();
            async move { event.wait_async().await }
        });
        go.set();
        waiting.await.unwrap();
        assert!(event.is_set());
        assert!(event.wait_async_timeout(Duration::ZERO).await.is_ok());
        assert_eq!(child.join_async().await.unwrap(), 0);

        // A lock and a semaphore held by a child: the futures wait, then get them.
        let (lock, sem) = (Lock::new().unwrap(), Semaphore::new(1).unwrap());
        let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
        let child = started(
            holder,
            (lock.clone(), sem.clone(), held.clone(), release.clone()),
        );
        held.wait_async().await;
        assert!(matches!(
            lock.lock_async_timeout(Duration::from_millis(10)).await,
            Err(TryLockError::WouldBlock)
        ));
        assert!(
            sem.acquire_async_timeout(Duration::from_millis(10))
                .await
                .is_err()
        );
        // Dropped lock and semaphore waits hold nothing afterwards.
        assert!(
            tokio::time::timeout(Duration::from_millis(5), lock.lock_async())
                .await
                .is_err()
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(5), sem.acquire_guard_async())
                .await
                .is_err()
        );
        release.set();
        let guard = lock.lock_async().await.expect("released cleanly");
        assert!(lock.is_locked());
        drop(guard);
        assert!(!lock.is_locked());
        assert!(lock.acquire_async(None).await.unwrap());
        lock.release().unwrap();
        let unit = sem.acquire_guard_async().await;
        assert_eq!(sem.get_value(), 0);
        drop(unit);
        assert_eq!(sem.get_value(), 1);
        assert_eq!(child.join_async().await.unwrap(), 0);
    });
}

fn thousands_of_waiting_futures_share_a_few_threads(flavor: Flavor) {
    const N: usize = 2000;
    run(flavor, async {
        let q = Queue::<u64>::new().unwrap();
        let event = Event::new().unwrap();
        let before = threads();
        let mut tasks = Vec::new();
        for _ in 0..N {
            let q = q.clone();
            tasks.push(tokio::spawn(async move { q.get_async().await.unwrap() }));
            let event = event.clone();
            tasks.push(tokio::spawn(async move {
                event.wait_async().await;
                0
            }));
        }
        // Let every task run to its first Pending.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let during = threads();
        // One waiter thread per awaited word (the queue's data word and the event's flag);
        // tokio's own timer or blocking threads may add a couple.
        assert!(
            during <= before + 4,
            "{N} futures on a queue and {N} on an event: {before} threads before, {during} during"
        );
        for i in 1..=N as u64 {
            q.put(i).unwrap();
        }
        event.set();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        assert_eq!(sum, (1..=N as u64).sum::<u64>());
    });
}

fn a_lock_whose_holder_was_killed_goes_to_an_async_waiter(flavor: Flavor) {
    run(flavor, async {
        let (lock, sem) = (Lock::new().unwrap(), Semaphore::new(1).unwrap());
        let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
        let child = started(holder, (lock.clone(), sem, held.clone(), release));
        held.wait_async().await;
        let waiter = tokio::spawn({
            let lock = lock.clone();
            async move {
                match lock.lock_async().await {
                    Err(died) => {
                        drop(died.into_inner());
                        true
                    }
                    Ok(_) => false,
                }
            }
        });
        // Let the waiter reach its wait (on a current-thread runtime it runs only when this
        // task yields); it finds the lock held whether it ran or not.
        tokio::task::yield_now().await;
        assert!(lock.is_locked());
        child.kill().unwrap();
        assert_eq!(child.join_async().await.unwrap(), -libc::SIGKILL);
        assert!(waiter.await.unwrap(), "the waiter is told the owner died");
        assert!(!lock.is_locked());
        drop(lock.lock_async().await.expect("a clean lock again"));
    });
}
