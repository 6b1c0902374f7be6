//! The pool's async forms on tokio: `AsyncResult`'s `.await` (owned and `&mut`) and `IMap`'s
//! `Stream` (`next_async`), on a multi-thread and a current-thread runtime, against their
//! blocking twins; cancellation (a dropped future or stream) loses no result and leaves the
//! pool usable; thousands of awaits start no thread each.
//!
//! Tasks that must still be running when a future is dropped sleep for far longer than the
//! future is given: the sleep is the task's work, the test's order comes from the timeout.

use std::future::IntoFuture;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_core::Stream;
use multiprocessing::pool::{Error, ErrorKind, Pool};
use multiprocessing_tests::helpers::threads;
use multiprocessing_tests::per_runtime;
use multiprocessing_tests::runtime::{Flavor, run};

fn square(x: u64) -> u64 {
    x * x
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn check(x: u64) -> u64 {
    assert!(x != 3, "three is not allowed");
    x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

per_runtime!(
    awaited_results_match_the_blocking_ones,
    streams_match_the_blocking_iterators,
    a_dropped_await_leaves_the_result_retrievable,
    a_dropped_next_loses_no_item,
    a_dropped_stream_leaves_the_pool_and_its_other_calls_going,
    thousands_of_awaits_start_no_thread_each,
    results_and_streams_move_into_spawned_tasks,
);

/// The stream's `next`, through the `Stream` trait (as `StreamExt::next` polls it).
async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

fn awaited_results_match_the_blocking_ones(flavor: Flavor) {
    let pool = Pool::new(2).unwrap();
    run(flavor, async {
        let blocking = pool.apply_async(square, (7,)).unwrap().get().unwrap();
        assert_eq!(
            pool.apply_async(square, (7,)).unwrap().await.unwrap(),
            blocking
        );
        let blocking = pool.map_async(square, 0..100, None).unwrap().get().unwrap();
        assert_eq!(
            pool.map_async(square, 0..100, None).unwrap().await.unwrap(),
            blocking
        );
        let pairs = [(1, 2), (3, 4)];
        let blocking = pool.starmap_async(add, pairs, None).unwrap().get().unwrap();
        let mut borrowed = pool.starmap_async(add, pairs, None).unwrap();
        assert_eq!((&mut borrowed).await.unwrap(), blocking);
        // Once taken, as after `get_timeout`.
        assert!(matches!((&mut borrowed).await, Err(Error::Taken)));
        // A task's panic is the same error either way.
        let blocking = pool
            .map_async(check, 0..6, None)
            .unwrap()
            .get()
            .unwrap_err();
        let awaited = pool
            .map_async(check, 0..6, None)
            .unwrap()
            .await
            .unwrap_err();
        assert_eq!(awaited.kind(), blocking.kind());
        assert_eq!(awaited.kind(), ErrorKind::Panicked);
        assert!(awaited.to_string().contains("three is not allowed"));
    });
}

fn streams_match_the_blocking_iterators(flavor: Flavor) {
    let pool = Pool::new(2).unwrap();
    run(flavor, async {
        for chunksize in [1, 7] {
            let blocking: Vec<u64> = pool
                .imap_chunksize(square, 0..500, chunksize)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let mut stream = pool.imap_chunksize(square, 0..500, chunksize).unwrap();
            let mut awaited = Vec::new();
            while let Some(r) = next(&mut stream).await {
                awaited.push(r.unwrap());
            }
            assert_eq!(awaited, blocking, "imap, chunksize {chunksize}");

            let mut stream = pool
                .imap_unordered_chunksize(square, 0..500, chunksize)
                .unwrap();
            let mut unordered = Vec::new();
            while let Some(r) = stream.next_async().await {
                unordered.push(r.unwrap());
            }
            unordered.sort_unstable();
            assert_eq!(unordered, blocking, "imap_unordered, chunksize {chunksize}");
        }
        // A failing item gives the blocking iterator's error, at its place.
        let blocking: Vec<Result<u64, ErrorKind>> = pool
            .imap(check, 0..6)
            .unwrap()
            .map(|r| r.map_err(|e| e.kind()))
            .collect();
        let mut stream = pool.imap(check, 0..6).unwrap();
        let mut awaited = Vec::new();
        while let Some(r) = next(&mut stream).await {
            awaited.push(r.map_err(|e| e.kind()));
        }
        assert_eq!(awaited, blocking);
        assert_eq!(awaited[3], Err(ErrorKind::Panicked));
        assert_eq!(awaited[5], Ok(5));
    });
}

fn a_dropped_await_leaves_the_result_retrievable(flavor: Flavor) {
    let pool = Pool::new(1).unwrap();
    run(flavor, async {
        let mut result = pool.apply_async(sleep_ms, (300,)).unwrap();
        let early = tokio::time::timeout(Duration::from_millis(5), &mut result).await;
        assert!(early.is_err(), "a 300 ms task finished within 5 ms");
        assert!(!result.ready());
        // Dropped twice more, then awaited whole.
        for _ in 0..2 {
            let _ = tokio::time::timeout(Duration::from_millis(1), &mut result).await;
        }
        assert_eq!(result.await.unwrap(), 300);

        // The blocking `get` takes what a dropped await left.
        let mut result = pool.apply_async(sleep_ms, (200,)).unwrap();
        let early = tokio::time::timeout(Duration::from_millis(5), &mut result).await;
        assert!(early.is_err());
        let got = tokio::task::spawn_blocking(move || result.get())
            .await
            .unwrap();
        assert_eq!(got.unwrap(), 200);
    });
}

fn a_dropped_next_loses_no_item(flavor: Flavor) {
    let pool = Pool::new(2).unwrap();
    run(flavor, async {
        let mut stream = pool.imap(sleep_ms, [300, 1, 2, 3]).unwrap();
        let early = tokio::time::timeout(Duration::from_millis(5), stream.next_async()).await;
        assert!(early.is_err(), "a 300 ms task finished within 5 ms");
        // Items that arrived meanwhile stay in the stream, in order.
        let mut rest = Vec::new();
        while let Some(r) = next(&mut stream).await {
            rest.push(r.unwrap());
        }
        assert_eq!(rest, [300, 1, 2, 3]);
    });
}

fn a_dropped_stream_leaves_the_pool_and_its_other_calls_going(flavor: Flavor) {
    let pool = Pool::new(2).unwrap();
    run(flavor, async {
        let other = pool.map_async(square, 0..50, None).unwrap();
        let mut stream = pool.imap_chunksize(square, 0..100_000, 1).unwrap();
        for x in 0..5 {
            assert_eq!(next(&mut stream).await.unwrap().unwrap(), x * x);
        }
        drop(stream);
        let expected: Vec<u64> = (0..50).map(|x| x * x).collect();
        assert_eq!(other.await.unwrap(), expected);
        assert_eq!(pool.apply_async(square, (9,)).unwrap().await.unwrap(), 81);
        let mut again = pool.imap_unordered(square, 0..10).unwrap();
        let mut n = 0;
        while let Some(r) = again.next_async().await {
            r.unwrap();
            n += 1;
        }
        assert_eq!(n, 10);
    });
    pool.close();
    pool.join().unwrap();
}

const MANY: u64 = 2_000;

fn thousands_of_awaits_start_no_thread_each(flavor: Flavor) {
    let pool = Pool::new(2).unwrap();
    let polled = Arc::new(AtomicU64::new(0));
    run(flavor, async {
        // Both workers busy first, so every await below is pending while threads are counted.
        let busy: Vec<_> = (0..2)
            .map(|_| pool.apply_async(sleep_ms, (500,)).unwrap())
            .collect();
        let before = threads();
        let mut tasks = tokio::task::JoinSet::new();
        for x in 0..MANY {
            let result = pool.apply_async(square, (x,)).unwrap();
            let polled = Arc::clone(&polled);
            tasks.spawn(async move {
                polled.fetch_add(1, Ordering::Relaxed);
                (x, result.await)
            });
        }
        // Every task is at its await.
        while polled.load(Ordering::Relaxed) < MANY {
            tokio::task::yield_now().await;
        }
        let during = threads();
        assert!(
            during <= before + 2,
            "{MANY} pending awaits: {before} threads before, {during} while they wait"
        );
        assert!(busy.iter().any(|r| !r.ready()), "the workers were not busy");
        let mut seen = 0;
        while let Some(joined) = tasks.join_next().await {
            let (x, result) = joined.unwrap();
            assert_eq!(result.unwrap(), x * x);
            seen += 1;
        }
        assert_eq!(seen, MANY);
        for r in busy {
            assert_eq!(r.await.unwrap(), 500);
        }
    });
}

fn results_and_streams_move_into_spawned_tasks(flavor: Flavor) {
    let pool = Arc::new(Pool::new(2).unwrap());
    run(flavor, async {
        // `tokio::spawn` needs `Send` futures: a stream borrowing the pool inside the task.
        let p = Arc::clone(&pool);
        let total = tokio::spawn(async move {
            let mut squares = p.imap_unordered(square, 0..10u64)?;
            let mut total = 0;
            while let Some(s) = squares.next_async().await {
                total += s?;
            }
            Ok::<_, Error>(total)
        });
        let result = pool.apply_async(square, (12,)).unwrap();
        let one = tokio::spawn(result.into_future());
        assert_eq!(total.await.unwrap().unwrap(), 285);
        assert_eq!(one.await.unwrap().unwrap(), 144);
    });
}
