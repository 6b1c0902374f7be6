//! The managers' async forms of the synchronization, queue and container proxies (feature
//! `tokio`), on a multi-thread and a current-thread runtime: each gives its blocking twin's
//! result; a lock taken by a task is owned by its guard (not a thread), released when the
//! guard drops wherever it went, and a dropped acquire leaves the lock usable, its hold
//! released by the server with the connection that carried it.

use std::time::Duration;

use multiprocessing::Process;
use multiprocessing::connection::Client;
use multiprocessing::managers::protocol::{Reply, Request, decode_reply, encode_request};
use multiprocessing::managers::{
    AcquirerProxy, ErrorKind, EventProxy, Object, QueueProxy, SyncManager,
};
use multiprocessing_tests::helpers::{BOUND, open_fds};
use multiprocessing_tests::per_runtime;
use multiprocessing_tests::runtime::{Flavor, run};

per_runtime!(
    queue_event_barrier_and_array_async_forms_match_the_blocking_ones,
    container_async_forms_match_the_blocking_ones,
    a_task_lock_is_released_when_its_guard_drops_on_another_thread,
    a_second_process_waiting_on_a_task_lock_gets_it,
    a_dropped_acquire_leaves_the_lock_usable,
    rlock_semaphore_and_condition_holds,
    released_holds_leave_no_connection_behind,
);

fn manager() -> SyncManager {
    multiprocessing::get_context(multiprocessing::StartMethod::ForkServer)
        .manager()
        .unwrap()
}

fn queue_event_barrier_and_array_async_forms_match_the_blocking_ones(flavor: Flavor) {
    let m = manager();
    let q = m.queue_of::<u32>(2).unwrap();
    let jq = m.joinable_queue_of::<u32>(0).unwrap();
    let e = m.event().unwrap();
    let b = m.barrier(1).unwrap();
    let a = m.array_of("i", [1i32, 2, 3]).unwrap();
    let sem = m.semaphore(3).unwrap();
    let short = Duration::from_millis(20);
    run(flavor, async {
        assert_eq!(q.maxsize_async().await.unwrap(), q.maxsize().unwrap());
        assert!(q.empty_async().await.unwrap());
        q.put_nowait_async(1u32).await.unwrap();
        q.put_async_timeout(2u32, short).await.unwrap();
        assert!(q.full_async().await.unwrap());
        assert_eq!(q.qsize_async().await.unwrap(), q.qsize().unwrap());
        let full = q.put_async_timeout(3u32, short).await.unwrap_err();
        assert_eq!(full.kind(), ErrorKind::Full);
        assert_eq!(full.kind(), q.put_nowait(3u32).unwrap_err().kind());
        assert_eq!(q.get_nowait_async().await.unwrap(), 1);
        assert_eq!(q.get_async_timeout(short).await.unwrap(), 2);
        let empty = q.get_async_timeout(short).await.unwrap_err();
        assert_eq!(empty.kind(), ErrorKind::Empty);
        assert_eq!(empty.kind(), q.get_nowait().unwrap_err().kind());

        jq.put_async(7u32).await.unwrap();
        assert_eq!(
            jq.join_async_timeout(short).await.unwrap_err().kind(),
            ErrorKind::Timeout
        );
        assert_eq!(jq.get_async().await.unwrap(), 7);
        jq.task_done_async().await.unwrap();
        jq.join_async().await.unwrap();
        jq.join_async_timeout(short).await.unwrap();
        assert_eq!(
            jq.task_done_async().await.unwrap_err().kind(),
            jq.task_done().unwrap_err().kind()
        );

        let unset = e.wait_async_timeout(short).await.unwrap_err();
        assert_eq!(unset.kind(), ErrorKind::Timeout);
        e.set_async().await.unwrap();
        e.wait_async_timeout(short).await.unwrap();
        e.clear_async().await.unwrap();
        assert!(!e.is_set().unwrap());

        assert_eq!(b.parties_async().await.unwrap(), 1);
        assert_eq!(b.wait_async().await.unwrap(), 0);
        assert_eq!(b.wait_async_timeout(short).await.unwrap(), 0);
        assert_eq!(b.n_waiting_async().await.unwrap(), b.n_waiting().unwrap());
        b.abort_async().await.unwrap();
        assert!(b.broken_async().await.unwrap());
        assert_eq!(
            b.wait_async().await.unwrap_err().kind(),
            ErrorKind::BrokenBarrier
        );
        b.reset_async().await.unwrap();
        assert!(!b.broken().unwrap());

        assert_eq!(a.len_async().await.unwrap(), 3);
        assert!(!a.is_empty_async().await.unwrap());
        a.set_async(0, 10).await.unwrap();
        assert_eq!(a.get_async(-3).await.unwrap(), a.get(0).unwrap());
        a.set_slice_async(Some(1), None, None, [20, 30])
            .await
            .unwrap();
        assert_eq!(
            a.get_slice_async(None, None, Some(-1)).await.unwrap(),
            [30, 20, 10]
        );
        assert_eq!(a.to_vec_async().await.unwrap(), a.to_vec().unwrap());
        assert_eq!(
            a.get_async(9).await.unwrap_err().kind(),
            a.get(9).unwrap_err().kind()
        );

        assert_eq!(sem.get_value_async().await.unwrap(), 3);
        let held = sem.lock_async().await.unwrap();
        assert_eq!(sem.get_value_async().await.unwrap(), 2);
        held.release_async().await.unwrap();
        assert_eq!(sem.get_value().unwrap(), 3);
        // A semaphore has no owner: its release needs no hold.
        sem.release_async().await.unwrap();
        assert_eq!(sem.get_value().unwrap(), 4);
    });
}

fn container_async_forms_match_the_blocking_ones(flavor: Flavor) {
    let m = manager();
    let d = m.dict_of::<String, i64>().unwrap();
    let l = m.list_of::<i64>([3, 1, 2]).unwrap();
    run(flavor, async {
        assert!(d.is_empty_async().await.unwrap());
        d.update_async([("a".to_string(), 1), ("b".to_string(), 2)])
            .await
            .unwrap();
        assert_eq!(d.values_async().await.unwrap(), d.values().unwrap());
        assert_eq!(d.setdefault_async("c", 3).await.unwrap(), 3);
        assert_eq!(d.setdefault_async("c", 9).await.unwrap(), 3);
        assert_eq!(d.pop_or_async("zz", -1).await.unwrap(), -1);
        assert_eq!(d.copy_async().await.unwrap(), d.copy().unwrap());
        assert_eq!(d.copy().unwrap().len(), 3);
        d.clear_async().await.unwrap();
        assert_eq!(d.len().unwrap(), 0);

        l.extend_async([4, 5]).await.unwrap();
        l.insert_async(0, 0).await.unwrap();
        assert_eq!(l.to_vec().unwrap(), [0, 3, 1, 2, 4, 5]);
        assert_eq!(l.index_async(2).await.unwrap(), l.index(2).unwrap());
        assert_eq!(l.count_async(3).await.unwrap(), 1);
        l.remove_async(3).await.unwrap();
        assert_eq!(
            l.remove_async(3).await.unwrap_err().kind(),
            l.remove(3).unwrap_err().kind()
        );
        assert_eq!(l.pop_at_async(0).await.unwrap(), 0);
        l.sort_async().await.unwrap();
        assert_eq!(
            l.get_slice_async(None, None, None).await.unwrap(),
            [1, 2, 4, 5]
        );
        l.reverse_async().await.unwrap();
        l.set_slice_async(Some(0), Some(2), None, [50, 40])
            .await
            .unwrap();
        l.del_slice_async(Some(-1), None, None).await.unwrap();
        assert_eq!(l.to_vec_async().await.unwrap(), [50, 40, 2]);
        assert!(!l.is_empty_async().await.unwrap());
    });
}

/// A lock's holder per the server, from a blocking try: whether someone else holds it.
fn held_elsewhere(lock: &AcquirerProxy) -> bool {
    lock.try_lock().unwrap().is_none()
}

fn a_task_lock_is_released_when_its_guard_drops_on_another_thread(flavor: Flavor) {
    let m = manager();
    let lock = m.lock().unwrap();
    run(flavor, async {
        // Dropped by another task (a runtime worker, maybe another thread): the release
        // runs on the runtime.
        let held = lock.lock_async().await.unwrap();
        assert!(held_elsewhere(&lock));
        tokio::spawn(async move { drop(held) }).await.unwrap();
        let again = lock.lock_async_timeout(BOUND).await.unwrap();
        // Dropped on a thread with no runtime: the release is sent there and then.
        std::thread::spawn(move || drop(again)).join().unwrap();
        assert!(!held_elsewhere(&lock), "released before the thread ended");
        // Released by a task on another thread, awaited.
        let held = lock.lock_async().await.unwrap();
        tokio::spawn(async move { held.release_async().await })
            .await
            .unwrap()
            .unwrap();
        assert!(!held_elsewhere(&lock));
        // A Lock is not re-entrant, for a task as for a thread.
        let held = lock.lock_async().await.unwrap();
        assert!(lock.try_lock_async().await.unwrap().is_none());
        held.release_async().await.unwrap();
    });
}

fn take_and_report(lock: AcquirerProxy, ready: EventProxy, got: QueueProxy<u32>) {
    ready.set().unwrap();
    let _held = lock.lock_timeout(BOUND).unwrap();
    got.put(std::process::id()).unwrap();
}

fn a_second_process_waiting_on_a_task_lock_gets_it(flavor: Flavor) {
    let m = manager();
    let lock = m.lock().unwrap();
    let ready = m.event().unwrap();
    let got = m.queue_of::<u32>(0).unwrap();
    run(flavor, async {
        let held = lock.lock_async().await.unwrap();
        let p = Process::new(take_and_report, (lock.clone(), ready.clone(), got.clone()));
        p.start().unwrap();
        ready.wait_async().await.unwrap();
        // The child waits: the task's hold is the lock's.
        let early = got.get_async_timeout(Duration::from_millis(50)).await;
        assert_eq!(early.unwrap_err().kind(), ErrorKind::Empty);
        // The guard travels to another task, and is dropped there.
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            drop(held);
        });
        assert_eq!(got.get_async().await.unwrap(), p.pid().unwrap());
        assert_eq!(p.join_async().await.unwrap(), 0);
    });
}

fn a_dropped_acquire_leaves_the_lock_usable(flavor: Flavor) {
    let m = manager();
    let lock = m.lock().unwrap();
    run(flavor, async {
        let blocking = lock.lock().unwrap();
        for round in 0..3 {
            let early = tokio::time::timeout(Duration::from_millis(20), lock.lock_async()).await;
            assert!(early.is_err(), "round {round}: a held lock was taken");
        }
        drop(blocking);
        // No dropped acquire took the lock: the next one gets it, then a blocking one.
        let held = lock.lock_async_timeout(BOUND).await.unwrap();
        held.release_async().await.unwrap();
        assert!(!held_elsewhere(&lock));
    });
    lost_reply_is_released_with_its_connection(&m, &lock);
    let sem = m.semaphore(1).unwrap();
    lost_reply_is_released_with_its_connection(&m, &sem);
}

/// An acquire whose reply nobody reads (a future dropped as the server granted it): the
/// connection that carried it closes, and the server releases the lock, or gives the
/// semaphore's permits back, for the next waiter, though the session it belongs to lives on.
fn lost_reply_is_released_with_its_connection(m: &SyncManager, lock: &AcquirerProxy) {
    let key = multiprocessing::current_process().authkey().clone();
    let session: u64 = 0x5e55_1011;
    let connect = || {
        let mut c = Client::builder(m.address().clone())
            .authkey(key.clone())
            .connect()
            .unwrap();
        let hello = Request::Hello {
            session,
            name: "lost-reply",
        };
        c.send_bytes(&encode_request(&hello).unwrap()).unwrap();
        c.recv_bytes().unwrap();
        c
    };
    let ask = |c: &mut multiprocessing::connection::Connection, r: &Request<'_>| {
        c.send_bytes(&encode_request(r).unwrap()).unwrap();
        decode_reply(&c.recv_bytes().unwrap()).unwrap()
    };
    let acquire = |thread, timeout: Object| Request::Call {
        id: lock.token().id,
        thread,
        method: "acquire",
        args: vec![Object::Bool(true), timeout],
    };
    let mut stays = connect();
    let mut lost = connect();
    assert_eq!(
        ask(&mut lost, &Request::Channel),
        Reply::Return(Object::None)
    );
    assert_eq!(
        ask(&mut lost, &acquire(1, Object::None)),
        Reply::Return(Object::Bool(true))
    );
    // Acquired again on the channel (a semaphore's second permit is released to it first),
    // the reply left unread: the connection closes.
    if lock.typeid() == "Semaphore" {
        lock.release().unwrap();
    }
    lost.send_bytes(&encode_request(&acquire(1, Object::Float(0.0))).unwrap())
        .unwrap();
    drop(lost);
    // Another caller of the same session waits, and gets it.
    let bound = Object::Float(BOUND.as_secs_f64());
    assert_eq!(
        ask(&mut stays, &acquire(2, bound)),
        Reply::Return(Object::Bool(true))
    );
    if lock.typeid() == "Semaphore" {
        // Both permits the channel took came back: the waiter took one.
        assert_eq!(lock.get_value().unwrap(), 1);
    } else {
        assert!(held_elsewhere(lock));
    }
}

fn rlock_semaphore_and_condition_holds(flavor: Flavor) {
    let m = manager();
    let rlock = m.rlock().unwrap();
    let sem = m.bounded_semaphore(1).unwrap();
    let cond = m.condition().unwrap();
    let ready = m.value_of("b", &false).unwrap();
    run(flavor, async {
        // An RLock taken by a task is its guard's: this thread, even, does not own it.
        let held = rlock.lock_async().await.unwrap();
        assert!(rlock.try_lock().unwrap().is_none());
        assert_eq!(rlock.release().unwrap_err().kind(), ErrorKind::NotOwner);
        drop(held);
        let again = rlock.lock_async_timeout(BOUND).await.unwrap();
        again.release_async().await.unwrap();

        let permit = sem.lock_async().await.unwrap();
        assert!(sem.try_lock_async().await.unwrap().is_none());
        assert_eq!(
            sem.lock_async_timeout(Duration::from_millis(20))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Timeout
        );
        permit.release_async().await.unwrap();
        assert_eq!(
            sem.release_async().await.unwrap_err().kind(),
            sem.release().unwrap_err().kind()
        );

        let notifier = {
            let (cond, ready) = (cond.clone(), ready.clone());
            tokio::spawn(async move {
                let mut held = cond.lock_async().await.unwrap();
                ready.set_async(true).await.unwrap();
                cond.notify_async(&mut held, 1).await.unwrap();
                cond.notify_all_async(&mut held).await.unwrap();
            })
        };
        let mut held = cond.lock_async().await.unwrap();
        let r = ready.clone();
        cond.wait_for_async(&mut held, || {
            let r = r.clone();
            async move { r.get_async().await.unwrap() }
        })
        .await
        .unwrap();
        let never = cond
            .wait_for_async_timeout(&mut held, || async { false }, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!(never.kind(), ErrorKind::Timeout);
        cond.wait_for_async_timeout(&mut held, || async { true }, BOUND)
            .await
            .unwrap();
        let timeout = cond
            .wait_async_timeout(&mut held, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!(timeout.kind(), ErrorKind::Timeout);
        // The hold is this guard's, held again after the wait.
        assert!(cond.try_lock().unwrap().is_none());
        let other = m.condition().unwrap();
        assert_eq!(
            other.notify_async(&mut held, 1).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        held.release_async().await.unwrap();
        notifier.await.unwrap();
        // A wait dropped mid-way releases the lock with its connection.
        let mut held = cond.lock_async().await.unwrap();
        let early =
            tokio::time::timeout(Duration::from_millis(20), cond.wait_async(&mut held)).await;
        assert!(early.is_err());
        assert_eq!(
            cond.notify_async(&mut held, 1).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        drop(held);
        cond.lock_async_timeout(BOUND)
            .await
            .unwrap()
            .release_async()
            .await
            .unwrap();
    });
}

fn released_holds_leave_no_connection_behind(flavor: Flavor) {
    let m = manager();
    let lock = m.lock().unwrap();
    let sem = m.semaphore(2).unwrap();
    run(flavor, async {
        // Warm: the session's connections and its kept channels are open.
        for _ in 0..2 {
            drop(lock.lock_async().await.unwrap());
        }
        let before = open_fds();
        for _ in 0..50 {
            lock.lock_async()
                .await
                .unwrap()
                .release_async()
                .await
                .unwrap();
            let (a, b) = (
                sem.lock_async().await.unwrap(),
                sem.lock_async().await.unwrap(),
            );
            drop(a);
            b.release_async().await.unwrap();
            let early = tokio::time::timeout(Duration::from_millis(1), lock.lock_async()).await;
            if let Ok(held) = early {
                held.unwrap().release_async().await.unwrap();
            }
        }
        // Every hold is released: the lock and both permits are free again.
        lock.lock_async_timeout(BOUND)
            .await
            .unwrap()
            .release_async()
            .await
            .unwrap();
        let both = (
            sem.lock_async_timeout(BOUND).await,
            sem.lock_async_timeout(BOUND).await,
        );
        drop(both);
        // A released channel is kept for the next hold (a few per session) or closed.
        let after = open_fds();
        assert!(
            after <= before + 4,
            "{before} descriptors before, {after} after"
        );
    });
}

/// A guard that outlives the runtime its lock was taken on is released when dropped: on a
/// thread with no runtime once that runtime is gone, and inside another runtime while the
/// first one still exists but runs nothing (its reactor then serves nobody).
#[test]
fn a_task_lock_is_released_when_its_guard_outlives_its_runtime() {
    let m = manager();
    let lock = m.lock().unwrap();
    let current = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = current();
    let held = first.block_on(lock.lock_async()).unwrap();
    drop(first);
    assert!(held_elsewhere(&lock));
    drop(held);
    assert!(!held_elsewhere(&lock), "released when the guard dropped");

    let idle = current();
    let held = idle.block_on(lock.lock_async()).unwrap();
    let other = current();
    other.block_on(async {
        drop(held);
        // The release runs as a task of this runtime: the lock is free once it has run.
        let again = tokio::time::timeout(BOUND, lock.lock_async())
            .await
            .expect("the lock is released within the bound")
            .unwrap();
        again.release_async().await.unwrap();
    });
    drop(other);
    drop(idle);
    assert!(!held_elsewhere(&lock));
}
