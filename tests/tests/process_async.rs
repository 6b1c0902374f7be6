//! The process crate's futures on tokio (the `tokio` feature): `Process::join_async`,
//! `JoinHandle`'s `.await` and `wait_async`, under each start method, on a multi-thread and a
//! current-thread runtime, against their blocking twins.
//!
//! Children that must stay alive block on a socket the test holds, never on a sleep.

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use multiprocessing::connection::Waitable;
use multiprocessing::process::Error;
use multiprocessing::runtime::transfer::TransferFd;
use multiprocessing::{Connection, Process, StartMethod, get_context, pipe, wait_async};
use multiprocessing_tests::helpers::{BOUND, channel, threads};
use multiprocessing_tests::runtime::{Flavor, run, run_within};

// ---- targets ----

fn nothing() {}

fn exit_with(code: i32) {
    std::process::exit(code)
}

fn double(x: u64) -> u64 {
    x * 2
}

/// Blocks until the test writes a byte to (or closes) the other end of `chan`.
fn block_until_released(chan: TransferFd) {
    let mut s = UnixStream::from(chan.into_inner());
    let _ = s.read(&mut [0u8; 1]);
}

/// Sends back each message it receives, until an empty one.
fn echo(mut conn: Connection) {
    loop {
        let msg = conn.recv_bytes().unwrap();
        if msg.is_empty() {
            return;
        }
        conn.send_bytes(&msg).unwrap();
    }
}

/// Both runtimes and all three start methods, one test each.
macro_rules! per_method_and_runtime {
    ($($name:ident),* $(,)?) => {
        mod multi_thread {
            use super::Flavor::MultiThread as F;
            mod fork { use multiprocessing::StartMethod::Fork as M; $(#[test] fn $name() { super::super::$name(M, super::F) })* }
            mod spawn { use multiprocessing::StartMethod::Spawn as M; $(#[test] fn $name() { super::super::$name(M, super::F) })* }
            mod forkserver { use multiprocessing::StartMethod::ForkServer as M; $(#[test] fn $name() { super::super::$name(M, super::F) })* }
        }
        mod current_thread {
            use super::Flavor::CurrentThread as F;
            mod fork { use multiprocessing::StartMethod::Fork as M; $(#[test] fn $name() { super::super::$name(M, super::F) })* }
            mod spawn { use multiprocessing::StartMethod::Spawn as M; $(#[test] fn $name() { super::super::$name(M, super::F) })* }
            mod forkserver { use multiprocessing::StartMethod::ForkServer as M; $(#[test] fn $name() { super::super::$name(M, super::F) })* }
        }
    };
}

per_method_and_runtime!(
    join_future_gives_the_blocking_joins_exit_codes,
    a_dropped_join_future_leaves_the_child_running_and_joinable,
    a_join_future_and_a_blocking_join_on_another_thread_agree,
    typed_handles_await_to_their_value_or_error,
    wait_async_returns_the_ready_subset_and_honours_its_timeout,
    many_join_futures_start_no_thread_each,
);

/// A started child of `method` running `target(args)`.
fn started<F, Args>(method: StartMethod, target: F, args: Args) -> Process
where
    F: multiprocessing::process::Target<Args>,
    Args: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let p = get_context(method).process(target, args).build();
    p.start().unwrap();
    p
}

fn join_future_gives_the_blocking_joins_exit_codes(method: StartMethod, flavor: Flavor) {
    run(flavor, async {
        // Each case twice: one child joined by the future, its twin by the blocking join. A
        // killed child is held on a socket (kept open until it is joined) so it cannot exit.
        type Start = fn(StartMethod) -> (Process, Option<UnixStream>);
        let cases: [(&str, Start, i32); 3] = [
            ("a normal exit", |m| (started(m, nothing, ()), None), 0),
            ("exit code 3", |m| (started(m, exit_with, (3,)), None), 3),
            (
                "SIGKILL",
                |m| {
                    let (ours, theirs) = channel();
                    let p = started(m, block_until_released, (theirs,));
                    p.kill().unwrap();
                    (p, Some(ours))
                },
                -libc::SIGKILL,
            ),
        ];
        for (what, start, expected) in cases {
            let ((by_future, _held), (by_blocking, _held_too)) = (start(method), start(method));
            let code = by_future.join_async().await.unwrap();
            assert_eq!(code, expected, "{what}: the future's code");
            assert_eq!(
                by_blocking.join().unwrap(),
                code,
                "{what}: the blocking twin"
            );
            // What the future recorded is what the process reports afterwards.
            assert_eq!(by_future.exitcode(), Some(code), "{what}: exitcode");
            assert_eq!(by_future.join().unwrap(), code, "{what}: a later join");
            assert_eq!(by_future.join_async().await.unwrap(), code, "{what}: again");
            assert!(!by_future.is_alive());
        }
    });
}

fn a_dropped_join_future_leaves_the_child_running_and_joinable(
    method: StartMethod,
    flavor: Flavor,
) {
    run(flavor, async {
        let (mut ours, theirs) = channel();
        let p = started(method, block_until_released, (theirs,));
        let short = tokio::time::timeout(Duration::from_millis(30), p.join_async()).await;
        assert!(
            short.is_err(),
            "the child is blocked: the future must time out"
        );
        assert!(p.is_alive(), "a dropped future kills nothing");
        assert_eq!(p.exitcode(), None);
        // A future polled once and dropped before the child ends reaps nothing either.
        {
            let mut fut = std::pin::pin!(p.join_async());
            let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx)));
            assert!(polled.await.is_pending());
        }
        ours.write_all(b"x").unwrap();
        // The blocking join, after the futures were dropped, gets the code.
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(p.exitcode(), Some(0));
    });
}

fn a_join_future_and_a_blocking_join_on_another_thread_agree(method: StartMethod, flavor: Flavor) {
    run(flavor, async {
        for code in [0, 3] {
            let (mut ours, theirs) = channel();
            let p = get_context(method)
                .process(block_then_exit, (theirs, code))
                .build();
            p.start().unwrap();
            let blocking = {
                let p = p.clone();
                std::thread::spawn(move || p.join())
            };
            let fut = p.join_async();
            ours.write_all(b"x").unwrap();
            assert_eq!(fut.await.unwrap(), code);
            assert_eq!(blocking.join().unwrap().unwrap(), code);
            assert_eq!(p.exitcode(), Some(code));
        }
    });
}

/// Blocks as [`block_until_released`], then exits with `code`.
fn block_then_exit(chan: TransferFd, code: i32) {
    block_until_released(chan);
    std::process::exit(code)
}

fn typed_handles_await_to_their_value_or_error(method: StartMethod, flavor: Flavor) {
    run(flavor, async {
        let ctx = get_context(method);
        assert_eq!(ctx.start(double, (21,)).unwrap().await.unwrap(), 42);
        let err = ctx.start(exit_with, (3,)).unwrap().await.unwrap_err();
        assert!(matches!(err, Error::Exited(3)), "{err}");
        // `wait_async` under a timeout leaves the handle usable.
        let (mut ours, theirs) = channel();
        let h = ctx.start(block_until_released, (theirs,)).unwrap();
        let short = tokio::time::timeout(Duration::from_millis(30), h.wait_async()).await;
        assert!(short.is_err());
        ours.write_all(b"x").unwrap();
        h.wait_async().await.unwrap();
        h.join_async().await.unwrap();
    });
}

fn wait_async_returns_the_ready_subset_and_honours_its_timeout(
    method: StartMethod,
    flavor: Flavor,
) {
    run(flavor, async {
        let (mut a, mut a_peer) = pipe(true).unwrap();
        let (mut b, b_child) = pipe(true).unwrap();
        let echoer = started(method, echo, (b_child,));
        let s_echo = echoer.sentinel().unwrap();

        // Nothing is ready: an empty result, not before the timeout.
        {
            let objects: [&dyn Waitable; 3] = [&a, &b, &s_echo];
            assert!(
                wait_async(&objects, Some(Duration::ZERO))
                    .await
                    .unwrap()
                    .is_empty()
            );
            let start = Instant::now();
            let timeout = Duration::from_millis(100);
            assert!(
                wait_async(&objects, Some(timeout))
                    .await
                    .unwrap()
                    .is_empty()
            );
            let took = start.elapsed();
            assert!(took >= timeout && took < BOUND, "{took:?}");
        }

        // The child answers on `b`: `b` alone.
        b.send_bytes(b"hi").unwrap();
        {
            let objects: [&dyn Waitable; 3] = [&a, &b, &s_echo];
            let ready = wait_async(&objects, None).await.unwrap();
            assert_eq!(positions(&objects, &ready), [1]);
        }
        assert_eq!(b.recv_bytes().unwrap(), b"hi");

        // Another child ends: its sentinel alone, among four.
        let idle = started(method, nothing, ());
        let s_idle = idle.sentinel().unwrap();
        {
            let objects: [&dyn Waitable; 4] = [&a, &b, &s_echo, &s_idle];
            let ready = wait_async(&objects, Some(Duration::MAX)).await.unwrap();
            assert_eq!(positions(&objects, &ready), [3]);
        }
        assert_eq!(idle.join_async().await.unwrap(), 0);

        // A message `a` holds in its own buffer, which the kernel no longer sees, is ready.
        a_peer.send_bytes(b"one").unwrap();
        a_peer.send_bytes(b"two").unwrap();
        wait_for_bytes(&a, 2 * (4 + 3));
        assert_eq!(a.recv_bytes().unwrap(), b"one");
        {
            let objects: [&dyn Waitable; 4] = [&a, &b, &s_echo, &s_idle];
            let ready = wait_async(&objects, None).await.unwrap();
            assert_eq!(positions(&objects, &ready), [0, 3]);
        }
        assert_eq!(a.recv_bytes().unwrap(), b"two");

        // The echoing child ends: its sentinel, as the blocking wait says.
        b.send_bytes(b"").unwrap();
        let objects: [&dyn Waitable; 2] = [&a, &s_echo];
        let ready = wait_async(&objects, None).await.unwrap();
        assert_eq!(positions(&objects, &ready), [1]);
        let blocking = multiprocessing::wait(&objects, Some(Duration::ZERO)).unwrap();
        assert_eq!(positions(&objects, &blocking), [1]);
        assert_eq!(echoer.join_async().await.unwrap(), 0);
    });
}

/// Where each of `ready` is in `objects`.
fn positions(objects: &[&dyn Waitable], ready: &[&dyn Waitable]) -> Vec<usize> {
    ready
        .iter()
        .map(|r| {
            objects
                .iter()
                .position(|o| std::ptr::addr_eq(*o, *r))
                .expect("a ready object is one of those waited on")
        })
        .collect()
}

/// Waits until `conn`'s socket holds at least `n` bytes (so one read takes them all).
fn wait_for_bytes(conn: &Connection, n: usize) {
    let deadline = Instant::now() + BOUND;
    loop {
        let mut pending = 0i32;
        // SAFETY: FIONREAD on a socket we own, into a valid int.
        unsafe { libc::ioctl(conn.as_raw_fd(), libc::FIONREAD, &mut pending) };
        if pending as usize >= n {
            return;
        }
        assert!(Instant::now() < deadline, "the bytes never arrived");
        std::thread::yield_now();
    }
}

const MANY: usize = 500;

fn many_join_futures_start_no_thread_each(method: StartMethod, flavor: Flavor) {
    // Starting 500 children (500 executions of this program under spawn) takes a while.
    run_within(flavor, 6 * BOUND, async {
        let before = threads();
        let (mut release, theirs) = UnixStream::pair().unwrap();
        let children: Vec<Process> = (0..MANY)
            .map(|_| {
                let fd = TransferFd::from(std::os::fd::OwnedFd::from(theirs.try_clone().unwrap()));
                started(method, block_until_released, (fd,))
            })
            .collect();
        drop(theirs);
        let waiting = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = children
            .iter()
            .map(|p| {
                let (p, waiting) = (p.clone(), waiting.clone());
                tokio::spawn(async move {
                    let mut fut = std::pin::pin!(p.join_async());
                    // Polled once here, so the wait is registered before it is counted.
                    let first =
                        std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx)))
                            .await;
                    assert!(first.is_pending(), "the children are held");
                    waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    fut.await
                })
            })
            .collect();
        while waiting.load(std::sync::atomic::Ordering::SeqCst) < MANY {
            tokio::task::yield_now().await;
        }
        let during = threads();
        assert!(
            during < before + 50,
            "{MANY} join futures took threads: {before} before, {during} while they wait"
        );
        // One byte per child: each reads one and exits.
        release.write_all(&[0u8; MANY]).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 0);
        }
        assert!(children.iter().all(|p| p.exitcode() == Some(0)));
        eprintln!(
            "{MANY} join futures under {method}: {before} threads before, {during} while waiting"
        );
    });
}

#[test]
fn outside_a_runtime_the_futures_fail_with_kind_io() {
    let (_hold, theirs) = channel();
    let p = started(StartMethod::ForkServer, block_until_released, (theirs,));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let joined = std::pin::pin!(p.join_async()).poll(&mut cx);
    let std::task::Poll::Ready(Err(err)) = joined else {
        panic!("a join future outside a runtime must fail at once")
    };
    assert_eq!(err.kind(), multiprocessing::ErrorKind::Io, "{err}");
    let (a, _b) = pipe(true).unwrap();
    let waited = std::pin::pin!(wait_async(&[&a], None)).poll(&mut cx);
    assert!(matches!(waited, std::task::Poll::Ready(Err(_))));
    // Nothing was reaped or killed: the child is joined as usual.
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), -libc::SIGKILL);
}

#[test]
fn the_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let p = Process::new(nothing, ());
    send(&p.join_async());
    let (a, _b) = pipe(true).unwrap();
    send(&wait_async(&[&a], None));
    let joined =
        std::future::IntoFuture::into_future(multiprocessing::start(double, (1,)).unwrap());
    send(&joined);
    assert_eq!(run(Flavor::CurrentThread, joined).unwrap(), 2);
}
