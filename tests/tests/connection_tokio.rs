//! The async connections (`multiprocessing::connection::tokio`) on a current-thread and a
//! multi-thread runtime: async against async, against the blocking API in a forked child, and
//! against every CPython on the machine; cancellation mid-message; typed errors; and a
//! thousand connections on one listener without a thread each.

use std::future::Future;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::Duration;

use multiprocessing::ErrorKind;
use multiprocessing::connection::tokio as mp;
use multiprocessing::connection::{Address, AuthKey, Connection, Error, Listener, client, pipe};
use multiprocessing_tests::cpython::pythons;
use multiprocessing_tests::examples::example;
use multiprocessing_tests::fork::fork;
use multiprocessing_tests::helpers::{BOUND, TempSock, read_announcement};
use tokio::time::timeout;

/// Runs the future `make` builds on a current-thread runtime, then on a multi-thread one.
fn on_both_runtimes<F: Future<Output = ()>>(make: impl Fn() -> F) {
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    current.block_on(timed(make()));
    drop(current);
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    multi.block_on(timed(make()));
}

/// Bounds a test body by the workspace's generous limit, so a hang fails instead of stalling.
async fn timed(f: impl Future<Output = ()>) {
    timeout(BOUND, f).await.expect("the test finished in time");
}

fn key(k: &str) -> AuthKey {
    AuthKey::from(k)
}

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

#[test]
fn async_pipes_carry_values_bytes_and_large_messages() {
    on_both_runtimes(|| async {
        let (mut a, mut b) = mp::pipe(true).unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        let sent = big.clone();
        let writer = tokio::spawn(async move {
            a.send(&(7u64, "seven".to_string())).await.unwrap();
            a.send_bytes(b"").await.unwrap();
            a.send_bytes(&sent).await.unwrap();
            a
        });
        assert_eq!(
            b.recv::<(u64, String)>().await.unwrap(),
            (7, "seven".into())
        );
        assert_eq!(b.recv_bytes().await.unwrap(), b"");
        assert_eq!(b.recv_bytes().await.unwrap(), big);
        let a = writer.await.unwrap();
        drop(a);
        assert_eq!(b.recv_bytes().await.unwrap_err().kind(), ErrorKind::Eof);

        let (mut r, mut w) = mp::pipe(false).unwrap();
        w.send_bytes(b"one way").await.unwrap();
        assert!(r.poll(Some(Duration::ZERO)).await.unwrap());
        assert_eq!(r.recv_bytes().await.unwrap(), b"one way");
        assert!(!r.poll(Some(Duration::from_millis(1))).await.unwrap());
        assert!(matches!(r.send_bytes(b"x").await, Err(Error::ReadOnly)));
        assert!(matches!(w.recv_bytes().await, Err(Error::WriteOnly)));
    });
}

#[test]
fn a_connection_travels_inside_an_async_message() {
    on_both_runtimes(|| async {
        let (mut a, mut b) = mp::pipe(true).unwrap();
        let (mut inner_here, inner_there) = pipe(true).unwrap();
        a.send(&inner_there).await.unwrap();
        drop(inner_there);
        let mut got: Connection = b.recv().await.unwrap();
        got.send_bytes(b"through the passed end").unwrap();
        assert_eq!(inner_here.recv_bytes().unwrap(), b"through the passed end");
    });
}

#[test]
fn async_listener_and_client_over_unix_abstract_and_tcp() {
    on_both_runtimes(|| async {
        let sock = TempSock::new("tokio");
        for address in [
            Address::Unix(sock.path.clone()),
            "@mp-tokio-test".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        ] {
            for authkey in [None, Some(key("secret"))] {
                let mut b = Listener::builder().address(address.clone());
                if let Some(k) = &authkey {
                    b = b.authkey(k.clone());
                }
                let listener = mp::Listener::bind(b).unwrap();
                let at = listener.address().clone();
                let k = authkey.clone();
                let client = tokio::spawn(async move {
                    let mut c = mp::client(&at, k.as_ref()).await.unwrap();
                    c.send(&41u32).await.unwrap();
                    c.recv::<u32>().await.unwrap()
                });
                let mut conn = listener.accept().await.unwrap();
                let n: u32 = conn.recv().await.unwrap();
                conn.send(&(n + 1)).await.unwrap();
                assert_eq!(client.await.unwrap(), 42, "{address}");
                assert_eq!(
                    listener.last_accepted().is_some(),
                    matches!(address, Address::Tcp { .. })
                );
            }
        }
    });
}

#[test]
fn a_wrong_key_is_an_authentication_error_on_both_sides() {
    on_both_runtimes(|| async {
        let listener = mp::Listener::bind(Listener::builder().authkey(key("secret"))).unwrap();
        let at = listener.address().clone();
        let client = tokio::spawn(async move { mp::client(&at, Some(&key("wrong"))).await });
        let accepted = listener.accept().await.unwrap_err();
        assert_eq!(accepted.kind(), ErrorKind::Authentication, "{accepted}");
        let refused = client.await.unwrap().unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Authentication, "{refused}");
        assert!(matches!(refused, Error::Authentication(m) if m == "digest sent was rejected"));
    });
}

#[test]
fn a_silent_client_does_not_hold_up_the_next_one_and_times_out() {
    on_both_runtimes(|| async {
        let listener = mp::Listener::bind(
            Listener::builder()
                .authkey(key("k"))
                .handshake_timeout(Some(Duration::from_millis(300))),
        )
        .unwrap();
        let Address::Abstract(name) = listener.address().clone() else {
            panic!("an abstract address by default")
        };
        // Connects and never answers the challenge.
        let silent = rustix::net::socket(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            None,
        )
        .unwrap();
        rustix::net::connect(
            &silent,
            &rustix::net::SocketAddrUnix::new_abstract_name(&name).unwrap(),
        )
        .unwrap();
        let at = listener.address().clone();
        let good = tokio::spawn(async move {
            let mut c = mp::client(&at, Some(&key("k"))).await.unwrap();
            c.send_bytes(b"first").await.unwrap();
        });
        let mut conn = listener.accept().await.unwrap();
        assert_eq!(conn.recv_bytes().await.unwrap(), b"first");
        good.await.unwrap();
        // The silent one's handshake runs out of time.
        let e = listener.accept().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        drop(silent);
    });
}

/// The async end of a socket pair whose other end the test writes raw bytes on.
fn raw_pair() -> (mp::Connection, UnixStream) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    (
        mp::Connection::try_from(Connection::from_unix_stream(ours)).unwrap(),
        theirs,
    )
}

#[test]
fn a_recv_timed_out_mid_message_loses_nothing() {
    on_both_runtimes(|| async {
        let (mut conn, mut raw) = raw_pair();
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        raw.write_all(&(payload.len() as u32).to_be_bytes())
            .unwrap();
        raw.write_all(&payload[..40_000]).unwrap();
        conn.wait_readable().await.unwrap();
        // The header and part of the payload are there: the receive reads them, then waits.
        let cut = timeout(Duration::from_millis(50), conn.recv_bytes()).await;
        assert!(cut.is_err(), "the message is not whole yet");
        let cut = timeout(Duration::from_millis(20), conn.recv_bytes()).await;
        assert!(cut.is_err(), "still not whole");
        raw.write_all(&payload[40_000..]).unwrap();
        raw.write_all(&[0, 0, 0, 3, b'n', b'e', b'x']).unwrap();
        assert_eq!(conn.recv_bytes().await.unwrap(), payload);
        assert_eq!(conn.recv_bytes().await.unwrap(), b"nex");
        // A cancelled receive of a message split over the header left the stream in step too.
        raw.write_all(&[0, 0]).unwrap();
        assert!(
            timeout(Duration::from_millis(20), conn.recv_bytes())
                .await
                .is_err()
        );
        raw.write_all(&[0, 1, b'!']).unwrap();
        assert_eq!(conn.recv_bytes().await.unwrap(), b"!");
    });
}

#[test]
fn a_send_cancelled_mid_frame_poisons_sending_only() {
    on_both_runtimes(|| async {
        let (mut conn, mut raw) = raw_pair();
        // Far more than the socket buffers hold while nobody reads.
        let big = vec![9u8; 16 << 20];
        let cut = timeout(Duration::from_millis(50), conn.send_bytes(&big)).await;
        assert!(cut.is_err(), "the peer does not read");
        let e = conn.send_bytes(b"after").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe));
        assert!(conn.send(&1u8).await.is_err());
        // Receiving still works.
        raw.write_all(&[0, 0, 0, 2, b'o', b'k']).unwrap();
        assert_eq!(conn.recv_bytes().await.unwrap(), b"ok");
        assert!(conn.into_std().is_err());
    });
}

#[test]
fn a_truncated_frame_is_eof() {
    on_both_runtimes(|| async {
        let (mut conn, mut raw) = raw_pair();
        raw.write_all(&[0, 0, 0, 10, 1, 2, 3]).unwrap();
        drop(raw);
        let e = conn.recv_bytes().await.unwrap_err();
        assert!(matches!(e, Error::UnexpectedEof), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::Eof);

        let (mut conn, mut raw) = raw_pair();
        raw.write_all(&[0, 0]).unwrap();
        drop(raw);
        assert_eq!(conn.recv_bytes().await.unwrap_err().kind(), ErrorKind::Eof);

        let (mut conn, mut raw) = raw_pair();
        raw.write_all(&[0, 0, 1, 1]).unwrap();
        let e = conn.recv_bytes_max(256).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
        assert!(matches!(conn.recv_bytes().await, Err(Error::WriteOnly)));
    });
}

#[test]
fn conversions_keep_bytes_already_received() {
    on_both_runtimes(|| async {
        let (a, b) = pipe(true).unwrap();
        let mut b = mp::Connection::try_from(b).unwrap();
        let mut a = a;
        // Both frames leave in one write, so the async end's first read takes both.
        a.send_bytes(b"first").unwrap();
        a.send_bytes(b"second").unwrap();
        b.wait_readable().await.unwrap();
        assert_eq!(b.recv_bytes().await.unwrap(), b"first");
        let mut b = b.into_std().unwrap();
        assert_eq!(b.recv_bytes().unwrap(), b"second");
        b.send_bytes(b"blocking again").unwrap();
        assert_eq!(a.recv_bytes().unwrap(), b"blocking again");
        // And the blocking end's buffered bytes go to the async form.
        b.send_bytes(b"x").unwrap();
        b.send_bytes(b"y").unwrap();
        assert_eq!(a.recv_bytes().unwrap(), b"x");
        let mut a = mp::Connection::try_from(a).unwrap();
        assert_eq!(a.recv_bytes().await.unwrap(), b"y");
    });
}

#[test]
fn outside_a_runtime_or_without_its_drivers_it_is_an_error_not_a_panic() {
    let (a, _b) = pipe(true).unwrap();
    assert_eq!(
        mp::Connection::try_from(a).unwrap_err().kind(),
        ErrorKind::Io
    );
    assert!(mp::pipe(true).is_err());
    // A runtime without its I/O driver, then one without its timer: errors too.
    let no_io = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _in = no_io.enter();
    assert_eq!(mp::pipe(true).unwrap_err().kind(), ErrorKind::Io);
    drop(_in);
    let no_time = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    no_time.block_on(async {
        let (a, _b) = mp::pipe(true).unwrap();
        let e = a.poll(Some(Duration::from_millis(1))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    });
}

/// The parent's end goes async; a forked child answers with the blocking API.
#[test]
fn async_parent_and_blocking_child_over_a_pipe() {
    let (parent, mut child_end) = pipe(true).unwrap();
    let child = fork(move || {
        // The child holds a copy of the parent's end too (fork), so it stops on a word, not
        // on end of file.
        while let Ok(v) = child_end.recv::<(u32, String)>() {
            if v.1 == "stop" {
                return 0;
            }
            if child_end.send(&(v.0 * 2, v.1 + "!")).is_err() {
                return 1;
            }
        }
        2
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(timed(async move {
        let mut conn = mp::Connection::try_from(parent).unwrap();
        for i in 0..100u32 {
            conn.send(&(i, format!("n{i}"))).await.unwrap();
            let (n, s): (u32, String) = conn.recv().await.unwrap();
            assert_eq!((n, s), (i * 2, format!("n{i}!")));
        }
        conn.send(&(0u32, "stop")).await.unwrap();
    }));
    assert_eq!(child.wait(), 0);
}

/// An async listener in the parent, a blocking client in a forked child, and the reverse.
#[test]
fn async_and_blocking_ends_across_processes_with_authentication() {
    let listener = Listener::builder()
        .address("127.0.0.1:0".parse().unwrap())
        .authkey(key("shared"))
        .bind()
        .unwrap();
    let at = listener.address().clone();
    let blocking_client = fork(move || {
        let mut c = client(&at, Some(&key("shared"))).unwrap();
        c.send_bytes(b"from a blocking child").unwrap();
        i32::from(c.recv_bytes().unwrap() != b"ack")
    });
    // A blocking listener serving in a child, for the async client.
    let served = Listener::builder()
        .address("@mp-tokio-blocking-listener".parse().unwrap())
        .authkey(key("shared"))
        .bind()
        .unwrap();
    let served_at = served.address().clone();
    let blocking_listener = fork(move || {
        let mut c = served.accept().unwrap();
        let m = c.recv_bytes().unwrap();
        c.send_bytes(&[b"echo:", &m[..]].concat()).unwrap();
        0
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(timed(async move {
        let listener = mp::Listener::try_from(listener).unwrap();
        let mut conn = listener.accept().await.unwrap();
        assert_eq!(conn.recv_bytes().await.unwrap(), b"from a blocking child");
        conn.send_bytes(b"ack").await.unwrap();
        let mut c = mp::client(&served_at, Some(&key("shared"))).await.unwrap();
        c.send_bytes(b"async").await.unwrap();
        assert_eq!(c.recv_bytes().await.unwrap(), b"echo:async");
    }));
    assert_eq!(blocking_client.wait(), 0);
    assert_eq!(blocking_listener.wait(), 0);
}

#[test]
fn a_thousand_connections_on_one_listener_start_no_thread_each() {
    const N: usize = 1000;
    on_both_runtimes(|| async {
        let listener = std::sync::Arc::new(
            // Every client handshakes at once: all may be pending together.
            mp::Listener::bind(
                Listener::builder()
                    .authkey(key("many"))
                    .backlog(1024)
                    .max_pending(N),
            )
            .unwrap(),
        );
        let before = threads();
        let server = {
            let listener = listener.clone();
            tokio::spawn(async move {
                let mut served = Vec::with_capacity(N);
                for _ in 0..N {
                    let mut conn = listener.accept().await.unwrap();
                    served.push(tokio::spawn(async move {
                        let n: u32 = conn.recv().await.unwrap();
                        conn.send(&(n + 1)).await.unwrap();
                        // Held until the client has its answer and closes.
                        assert_eq!(conn.recv_bytes().await.unwrap_err().kind(), ErrorKind::Eof);
                    }));
                }
                served
            })
        };
        let at = listener.address().clone();
        let mut clients = Vec::with_capacity(N);
        for i in 0..N as u32 {
            let at = at.clone();
            clients.push(tokio::spawn(async move {
                let mut c = mp::client(&at, Some(&key("many"))).await.unwrap();
                c.send(&i).await.unwrap();
                assert_eq!(c.recv::<u32>().await.unwrap(), i + 1);
                c
            }));
        }
        let mut open = Vec::with_capacity(N);
        for c in clients {
            open.push(c.await.unwrap());
        }
        // All 1,000 connections are open at once here.
        let during = threads();
        assert!(
            during <= before + 8,
            "{during} threads with {N} connections open, {before} before"
        );
        drop(open);
        for s in server.await.unwrap() {
            s.await.unwrap();
        }
    });
}

/// The async ends against `conn_peer`, a spawned process on the blocking API, both ways.
#[test]
fn async_ends_against_the_spawned_blocking_conn_peer() {
    // Built (with the other examples) before the clock of the test body starts.
    let peer = example("conn_peer");
    on_both_runtimes(|| async {
        // Our async client, its listener.
        let mut server = std::process::Command::new(&peer)
            .args(["listen", "127.0.0.1:0", "k3y"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let at: Address = read_announcement(server.stdout.as_mut().unwrap(), "listening on ")
            .parse()
            .unwrap();
        let mut conn = mp::client(&at, Some(&key("k3y"))).await.unwrap();
        for m in [&b"one"[..], b"", &[5u8; 50_000]] {
            conn.send_bytes(m).await.unwrap();
            assert_eq!(
                conn.recv_bytes().await.unwrap(),
                [&b"echo:"[..], m].concat()
            );
        }
        drop(conn);
        let status = tokio::task::spawn_blocking(move || server.wait().unwrap())
            .await
            .unwrap();
        assert!(status.success());

        // Its client, our async listener (which echoes as conn_peer does).
        let listener = mp::Listener::bind(
            Listener::builder()
                .address("127.0.0.1:0".parse().unwrap())
                .authkey(key("k3y")),
        )
        .unwrap();
        let mut cmd = std::process::Command::new(&peer);
        cmd.args([
            "connect",
            &listener.address().to_string(),
            "k3y",
            "a",
            "b c",
        ]);
        let client = tokio::task::spawn_blocking(move || cmd.output().unwrap());
        let mut conn = listener.accept().await.unwrap();
        while let Ok(m) = conn.recv_bytes().await {
            conn.send_bytes(&[&b"echo:"[..], &m].concat())
                .await
                .unwrap();
        }
        let out = client.await.unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "echo:a\necho:b c\n");
    });
}

fn script(name: &str) -> String {
    format!("{}/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn async_client_and_listener_talk_to_cpython() {
    for py in pythons() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Our async client against a CPython listener, with the right and the wrong key.
        for (k, ok) in [("secret", true), ("wrong", false)] {
            let mut child = py
                .command()
                .arg(script("listener_peer.py"))
                .arg("127.0.0.1:0")
                .arg("secret")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let at: Address = read_announcement(child.stdout.as_mut().unwrap(), "ready ")
                .parse()
                .unwrap();
            rt.block_on(timed(async {
                match mp::client(&at, Some(&key(k))).await {
                    Ok(mut conn) => {
                        assert!(ok, "CPython {}", py.version);
                        conn.send_bytes(b"hello").await.unwrap();
                        assert_eq!(conn.recv_bytes().await.unwrap(), b"py:hello");
                        let big = vec![3u8; 70_000];
                        conn.send_bytes(&big).await.unwrap();
                        assert_eq!(conn.recv_bytes().await.unwrap().len(), 70_003);
                    }
                    Err(e) => {
                        assert!(!ok, "CPython {}: {e}", py.version);
                        assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
                    }
                }
            }));
            let code = child.wait().unwrap().code();
            assert_eq!(code, Some(if ok { 0 } else { 3 }), "CPython {}", py.version);
        }
        // CPython clients against our async listener, with the right and the wrong key.
        for (k, ok) in [("secret", true), ("wrong", false)] {
            rt.block_on(timed(async {
                let listener = mp::Listener::bind(
                    Listener::builder()
                        .address("127.0.0.1:0".parse().unwrap())
                        .authkey(key("secret")),
                )
                .unwrap();
                let mut cmd = py.command();
                cmd.arg(script("client_peer.py"))
                    .arg(listener.address().to_string())
                    .arg(k);
                let client = std::thread::spawn(move || cmd.output().unwrap());
                match listener.accept().await {
                    Ok(mut conn) => {
                        assert!(ok, "CPython {}", py.version);
                        assert_eq!(conn.recv_bytes().await.unwrap(), b"ping");
                        assert_eq!(conn.recv_bytes().await.unwrap(), b"ba");
                        assert_eq!(conn.recv_bytes().await.unwrap(), b"mv");
                        conn.recv_bytes().await.unwrap();
                        assert_eq!(conn.recv_bytes().await.unwrap(), b"cde");
                        conn.send_bytes(b"pong").await.unwrap();
                        conn.send_bytes(&vec![7u8; 100_000]).await.unwrap();
                        assert_eq!(conn.recv_bytes().await.unwrap_err().kind(), ErrorKind::Eof);
                    }
                    Err(e) => {
                        assert!(!ok, "CPython {}: {e}", py.version);
                        assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
                    }
                }
                let out = tokio::task::spawn_blocking(move || client.join().unwrap())
                    .await
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                assert_eq!(out.status.success(), ok, "CPython {}: {text}", py.version);
                if ok {
                    assert_eq!(text, "b'pong'\n100000\n", "CPython {}", py.version);
                }
            }));
        }
    }
}
