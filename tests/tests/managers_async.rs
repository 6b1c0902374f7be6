//! The managers' async proxies on tokio (feature `tokio`): `Proxy::call_method_async` and the
//! typed proxies' `_async` methods against a manager's server process, on a multi-thread and a
//! current-thread runtime: the same results as the blocking calls, and a dropped call (a
//! timeout) leaves the proxy usable, with no reply read by the wrong call and no item taken.
//!
//! The calls dropped here wait on the server (an unset `Event`, an empty queue) until their
//! caller hangs up: nothing can answer them before the timeout.

use std::time::Duration;

use multiprocessing::Process;
use multiprocessing::managers::ErrorKind;
use multiprocessing::managers::{Object, SyncManager, update::Op};
use multiprocessing_tests::per_runtime;
use multiprocessing_tests::runtime::{Flavor, run};

per_runtime!(
    typed_async_calls_match_the_blocking_ones,
    a_dropped_wait_leaves_the_proxies_usable_and_replies_in_order,
    a_dropped_get_takes_no_item,
    an_event_set_by_another_process_wakes_the_awaiting_task,
    many_tasks_call_at_once,
);

fn manager() -> SyncManager {
    multiprocessing::get_context(multiprocessing::StartMethod::ForkServer)
        .manager()
        .unwrap()
}

fn typed_async_calls_match_the_blocking_ones(flavor: Flavor) {
    let m = manager();
    let d = m.dict_of::<String, i64>().unwrap();
    let l = m.list_of::<i64>([]).unwrap();
    let ns = m.namespace().unwrap();
    let v = m.value_of("i", &5i64).unwrap();
    run(flavor, async {
        d.set_async("a", 1).await.unwrap();
        d.set("b", 2).unwrap();
        assert_eq!(d.get_async("b").await.unwrap(), d.get("b").unwrap());
        assert_eq!(d.get_async("zz").await.unwrap(), None);
        let missing = d.get_item_async("zz").await.unwrap_err();
        assert_eq!(missing.kind(), d.get_item("zz").unwrap_err().kind());
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        assert_eq!(d.update_with_async("a", Op::add(10)).await.unwrap(), 11);
        assert!(d.contains_async("a").await.unwrap());
        assert_eq!(d.len_async().await.unwrap(), 2);
        assert_eq!(d.keys_async().await.unwrap(), d.keys().unwrap());
        assert_eq!(d.items_async().await.unwrap(), d.items().unwrap());
        assert_eq!(d.pop_async("b").await.unwrap(), 2);
        d.del_async("a").await.unwrap();
        assert!(d.is_empty().unwrap());

        for i in 0..5 {
            l.append_async(i).await.unwrap();
        }
        l.set_async(0, 100).await.unwrap();
        assert_eq!(l.to_vec_async().await.unwrap(), l.to_vec().unwrap());
        assert_eq!(l.to_vec().unwrap(), [100, 1, 2, 3, 4]);
        assert_eq!(l.get_async(-1).await.unwrap(), 4);
        assert_eq!(l.pop_async().await.unwrap(), 4);
        assert_eq!(l.len_async().await.unwrap(), 4);
        assert_eq!(
            l.get_async(10).await.unwrap_err().kind(),
            l.get(10).unwrap_err().kind()
        );

        ns.set_async("name", "ada").await.unwrap();
        assert_eq!(ns.get_async::<String>("name").await.unwrap(), "ada");
        assert_eq!(ns.get::<String>("name").unwrap(), "ada");
        ns.del_async("name").await.unwrap();
        assert!(ns.get::<String>("name").is_err());

        assert_eq!(v.get_async().await.unwrap(), 5);
        v.set_async(6).await.unwrap();
        assert_eq!(v.update_with_async(Op::add(1)).await.unwrap(), 7);
        assert_eq!(v.get().unwrap(), 7);

        let raw = d.call_method_async("__len__", Vec::new()).await.unwrap();
        assert_eq!(raw, d.call_method("__len__", Vec::new()).unwrap());
        assert_eq!(raw, Object::from(0));
    });
}

fn a_dropped_wait_leaves_the_proxies_usable_and_replies_in_order(flavor: Flavor) {
    let m = manager();
    let d = m.dict_of::<String, i64>().unwrap();
    let e = m.event().unwrap();
    run(flavor, async {
        d.set_async("k", 1).await.unwrap();
        for round in 0..5 {
            let early = tokio::time::timeout(Duration::from_millis(20), e.wait_async()).await;
            assert!(
                early.is_err(),
                "round {round}: an unset event's wait returned"
            );
            // Each call reads its own reply, never the dropped wait's.
            assert_eq!(d.get_async("k").await.unwrap(), Some(1));
            assert!(!e.is_set_async().await.unwrap());
        }
        // The session's references survived: the blocking calls work too.
        assert_eq!(d.get("k").unwrap(), Some(1));
        e.set_async().await.unwrap();
        e.wait_async().await.unwrap();
        assert!(e.is_set().unwrap());
    });
}

fn a_dropped_get_takes_no_item(flavor: Flavor) {
    let m = manager();
    let q = m.queue_of::<u32>(0).unwrap();
    run(flavor, async {
        for _ in 0..3 {
            let early = tokio::time::timeout(Duration::from_millis(20), q.get_async()).await;
            assert!(early.is_err(), "an empty queue's get returned");
        }
        for i in 0..3u32 {
            q.put_async(i).await.unwrap();
        }
        // Every item is still there, in order: no dropped get took one.
        for i in 0..3 {
            assert_eq!(q.get_async().await.unwrap(), i);
        }
        assert_eq!(q.qsize().unwrap(), 0);
    });
}

fn set_event(e: multiprocessing::managers::EventProxy) {
    e.set().unwrap();
}

fn an_event_set_by_another_process_wakes_the_awaiting_task(flavor: Flavor) {
    let m = manager();
    let e = m.event().unwrap();
    run(flavor, async {
        let waiter = {
            let e = e.clone();
            tokio::spawn(async move { e.wait_async().await })
        };
        let p = Process::new(set_event, (e.clone(),));
        p.start().unwrap();
        waiter.await.unwrap().unwrap();
        assert_eq!(p.join_async().await.unwrap(), 0);
    });
}

fn many_tasks_call_at_once(flavor: Flavor) {
    let m = manager();
    let v = m.value_of("i", &0i64).unwrap();
    run(flavor, async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let v = v.clone();
            tasks.spawn(async move { v.update_with_async(Op::add(1)).await });
        }
        let mut seen = Vec::new();
        while let Some(r) = tasks.join_next().await {
            seen.push(r.unwrap().unwrap());
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=50).collect::<Vec<i64>>());
        assert_eq!(v.get_async().await.unwrap(), 50);
    });
}
