//! Connections, pipes, wait and descriptor passing, across threads and real processes.

use std::os::fd::AsFd;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use multiprocessing::connection::{Address, Client, Error, Listener};
use multiprocessing::{Connection, pipe, wait};
use serde::{Deserialize, Serialize};

#[test]
fn duplex_pipe_carries_values_and_bytes_both_ways() {
    let (mut a, mut b) = pipe(true).unwrap();
    let t = thread::spawn(move || {
        let v: Vec<(String, f64)> = b.recv().unwrap();
        b.send(&v.len()).unwrap();
        let big = b.recv_bytes().unwrap();
        b.send_bytes(&big[big.len() - 3..]).unwrap();
    });
    a.send(&vec![("x".to_string(), 1.5), ("y".to_string(), -2.0)])
        .unwrap();
    assert_eq!(a.recv::<usize>().unwrap(), 2);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    a.send_bytes(&big).unwrap();
    assert_eq!(a.recv_bytes().unwrap(), &big[big.len() - 3..]);
    t.join().unwrap();
}

#[test]
fn try_clone_shares_the_stream_and_refuses_unread_data() {
    let (mut a, b) = pipe(true).unwrap();
    let mut b2 = b.try_clone().unwrap();
    drop(b);
    b2.send_bytes(b"from the clone").unwrap();
    assert_eq!(a.recv_bytes().unwrap(), b"from the clone");
    // Two messages in flight: the first receive reads both, so the second stays buffered.
    b2.send_bytes(b"one").unwrap();
    b2.send_bytes(b"two").unwrap();
    assert_eq!(a.recv_bytes().unwrap(), b"one");
    assert!(matches!(a.try_clone(), Err(Error::Transfer(_))));
    assert_eq!(a.recv_bytes().unwrap(), b"two");
    let a2 = a.try_clone().unwrap();
    assert!(a2.readable() && a2.writable());
}

#[test]
fn one_way_pipe_has_a_read_end_and_a_write_end() {
    let (mut r, mut w) = pipe(false).unwrap();
    assert!(r.readable() && !r.writable());
    assert!(!w.readable() && w.writable());
    assert!(matches!(r.send_bytes(b"x"), Err(Error::ReadOnly)));
    assert!(matches!(w.recv_bytes(), Err(Error::WriteOnly)));
    assert!(matches!(
        w.poll(Some(Duration::ZERO)),
        Err(Error::WriteOnly)
    ));
    w.send_bytes(b"").unwrap();
    w.send(&7u8).unwrap();
    assert!(r.recv_bytes().unwrap().is_empty());
    assert_eq!(r.recv::<u8>().unwrap(), 7);
    w.close().unwrap();
    assert!(matches!(r.recv_bytes(), Err(Error::Eof)));
}

#[test]
fn poll_waits_up_to_its_timeout_and_sees_eof() {
    let (a, mut b) = pipe(true).unwrap();
    assert!(!a.poll(Some(Duration::ZERO)).unwrap());
    let start = Instant::now();
    assert!(!a.poll(Some(Duration::from_millis(100))).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(90));
    b.send_bytes(b"").unwrap();
    assert!(a.poll(None).unwrap());
    let (c, d) = pipe(true).unwrap();
    drop(d);
    assert!(
        c.poll(Some(Duration::from_secs(5))).unwrap(),
        "EOF makes poll true"
    );
}

/// Enough receives that a connection spins before blocking (it does after a warm-up, while
/// spinning pays): framing, passed descriptors, poll timeouts and EOF must be unchanged.
#[test]
fn long_exchanges_keep_framing_descriptors_timeouts_and_eof() {
    let (mut a, mut b) = pipe(true).unwrap();
    let t = thread::spawn(move || {
        for i in 0..300usize {
            let got = b.recv_bytes().unwrap();
            assert_eq!(got.len(), i * 37 % 5000);
            b.send_bytes(&got).unwrap();
        }
        let (mut r, w) = pipe(false).unwrap();
        b.send(&w).unwrap();
        drop(w);
        assert_eq!(r.recv_bytes().unwrap(), b"via the passed pipe");
        assert_eq!(b.recv::<u32>().unwrap(), 7);
        thread::sleep(Duration::from_millis(50));
        b.send(&8u32).unwrap();
    });
    for i in 0..300usize {
        let msg: Vec<u8> = (0..i * 37 % 5000).map(|k| (k + i) as u8).collect();
        a.send_bytes(&msg).unwrap();
        assert_eq!(a.recv_bytes().unwrap(), msg);
    }
    let mut w: Connection = a.recv().unwrap();
    w.send_bytes(b"via the passed pipe").unwrap();
    a.send(&7u32).unwrap();
    let start = Instant::now();
    assert!(!a.poll(Some(Duration::from_millis(20))).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert!(a.poll(Some(Duration::from_secs(5))).unwrap());
    assert_eq!(a.recv::<u32>().unwrap(), 8);
    t.join().unwrap();
    assert!(matches!(a.recv_bytes(), Err(Error::Eof)));
}

#[test]
fn wait_reports_ready_connections_and_times_out() {
    let (a, mut a2) = pipe(true).unwrap();
    let (b, mut b2) = pipe(true).unwrap();
    let (c, _c2) = pipe(false).unwrap();
    let start = Instant::now();
    assert!(
        wait(&[&a, &b, &c], Some(Duration::from_millis(150)))
            .unwrap()
            .is_empty()
    );
    assert!(start.elapsed() >= Duration::from_millis(140));
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        b2.send_bytes(b"late").unwrap();
        b2
    });
    let ready = wait(&[&a, &b, &c], Some(Duration::from_secs(10))).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(std::ptr::eq(ready[0], &b));
    let _b2 = t.join().unwrap();
    a2.send_bytes(b"now").unwrap();
    let mixed: [&dyn AsFd; 3] = [&a, &b, &c];
    assert_eq!(wait(&mixed, None).unwrap().len(), 2);
}

#[test]
fn wait_sees_messages_already_buffered_by_a_previous_recv() {
    let (mut a, mut b) = pipe(true).unwrap();
    b.send_bytes(b"one").unwrap();
    b.send_bytes(b"two").unwrap();
    // Let both frames reach the socket so one read takes them both.
    assert!(a.poll(Some(Duration::from_secs(5))).unwrap());
    thread::sleep(Duration::from_millis(20));
    assert_eq!(a.recv_bytes().unwrap(), b"one");
    // The kernel has nothing left for `a`, but "two" is buffered: a is ready.
    assert!(a.poll(Some(Duration::ZERO)).unwrap());
    assert_eq!(wait(&[&a], Some(Duration::ZERO)).unwrap().len(), 1);
    assert_eq!(a.recv_bytes().unwrap(), b"two");
    assert!(wait(&[&a], Some(Duration::ZERO)).unwrap().is_empty());
}

#[test]
fn sending_a_connection_with_unread_bytes_says_why_it_cannot() {
    let (mut a, mut b) = pipe(true).unwrap();
    b.send_bytes(b"one").unwrap();
    b.send_bytes(b"two").unwrap();
    // Both frames are in the socket already, so one read takes them both.
    assert_eq!(a.recv_bytes().unwrap(), b"one");
    let (mut carrier, _other) = pipe(true).unwrap();
    let err = carrier.send(&a).unwrap_err();
    assert_eq!(err.kind(), multiprocessing::ErrorKind::Codec);
    // The connection's own reason, not postcard's "Serde Serialization Error".
    assert!(
        matches!(&err, Error::Codec(m) if m == "a connection holding received but unread data cannot be sent"),
        "{err}"
    );
    assert_eq!(a.recv_bytes().unwrap(), b"two");
}

#[test]
fn wait_includes_listeners_with_pending_clients() {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    assert!(wait(&[&listener], Some(Duration::ZERO)).unwrap().is_empty());
    let _c = multiprocessing::client(listener.address(), None).unwrap();
    assert_eq!(
        wait(&[&listener], Some(Duration::from_secs(5)))
            .unwrap()
            .len(),
        1
    );
    listener.accept().unwrap();
}

#[derive(Serialize, Deserialize)]
struct Job {
    name: String,
    reply_to: Connection,
}

#[test]
fn connection_travels_inside_a_message_and_works() {
    let (mut here, mut there) = pipe(true).unwrap();
    let (mut reply_end, reply_to) = pipe(true).unwrap();
    let (mut r, w) = pipe(false).unwrap();
    here.send(&Job {
        name: "job".into(),
        reply_to,
    })
    .unwrap();
    here.send(&w).unwrap();
    drop(w);
    let job: Job = there.recv().unwrap();
    let mut w2: Connection = there.recv().unwrap();
    let mut conn = job.reply_to;
    conn.send_bytes(job.name.as_bytes()).unwrap();
    assert_eq!(reply_end.recv_bytes().unwrap(), b"job");
    w2.send_bytes(b"through the passed pipe").unwrap();
    assert!(!w2.readable());
    assert_eq!(r.recv_bytes().unwrap(), b"through the passed pipe");
}

#[test]
fn descriptors_cannot_go_over_pipes_or_tcp() {
    let (_r, mut w) = pipe(false).unwrap();
    let (x, _y) = pipe(true).unwrap();
    assert!(matches!(w.send(&x), Err(Error::Transfer(_))));
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut c = multiprocessing::client(listener.address(), None).unwrap();
    assert!(matches!(c.send(&x), Err(Error::Transfer(_))));
    // A plain value still goes through afterwards.
    c.send(&1u8).unwrap();
    assert_eq!(listener.accept().unwrap().recv::<u8>().unwrap(), 1);
}

const CHILD_ENV: &str = "MP_CONN_TEST_CHILD_ADDRESS";

/// Child half of `connection_passed_to_another_process`, run in a separate process.
#[test]
#[ignore = "helper: runs as the child process of connection_passed_to_another_process"]
fn child_receives_a_connection() {
    let address: Address = std::env::var(CHILD_ENV)
        .expect("address in env")
        .parse()
        .unwrap();
    let mut conn = Client::builder(address)
        .authkey("k".into())
        .connect()
        .unwrap();
    let mut passed: Connection = conn.recv().unwrap();
    let msg = passed.recv_bytes().unwrap();
    passed
        .send_bytes(&[b"child got:".as_slice(), &msg].concat())
        .unwrap();
}

#[test]
fn connection_passed_to_another_process() {
    let listener = Listener::builder().authkey("k".into()).bind().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_receives_a_connection",
            "--include-ignored",
            "--quiet",
        ])
        .env(CHILD_ENV, listener.address().to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut to_child = listener.accept().unwrap();
    let (mut mine, theirs) = pipe(true).unwrap();
    to_child.send(&theirs).unwrap();
    drop(theirs);
    mine.send_bytes(b"hi").unwrap();
    assert_eq!(mine.recv_bytes().unwrap(), b"child got:hi");
    assert!(child.wait().unwrap().success());
    // The child exited: its copy of the passed end is gone, so ours sees EOF.
    assert!(matches!(mine.recv_bytes(), Err(Error::Eof)));
}

#[test]
fn descriptors_arrive_in_order_with_small_and_large_frames() {
    let (mut a, mut b) = pipe(true).unwrap();
    // One, the most a frame assembles on the stack, one more, and the most a message takes;
    // with a payload that fits a small frame and one that does not.
    for count in [1usize, 4, 5, 64] {
        for len in [1usize, 200] {
            let pipes: Vec<_> = (0..count).map(|_| rustix::pipe::pipe().unwrap()).collect();
            let payload = vec![count as u8; len];
            let ends: Vec<_> = pipes.iter().map(|(_, w)| w.as_fd()).collect();
            a.send_bytes_with_fds(&payload, &ends).unwrap();
            let (got, fds) = b.recv_bytes_with_fds().unwrap();
            assert_eq!(got, payload);
            assert_eq!(fds.len(), count);
            for (i, fd) in fds.iter().enumerate() {
                assert_eq!(rustix::io::write(fd, &[i as u8]).unwrap(), 1);
            }
            for (i, (r, _)) in pipes.iter().enumerate() {
                let mut byte = [0u8; 1];
                assert_eq!(rustix::io::read(r, &mut byte).unwrap(), 1);
                assert_eq!(byte[0], i as u8, "descriptor {i} of {count} went astray");
            }
        }
    }
}
