//! Hostile or broken peers: every case is a typed error, never a panic, a hang or a huge
//! allocation.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::{UnixListener, UnixStream};
use std::thread;
use std::time::{Duration, Instant};

use multiprocessing::connection::{AuthKey, Client, Connection, Error, Listener};
use multiprocessing::pipe;
use multiprocessing_tests::helpers::{TempSock, read_frame};

fn tcp_listener(key: &str, timeout: Duration) -> Listener {
    Listener::builder()
        .address("127.0.0.1:0".parse().unwrap())
        .authkey(AuthKey::from(key))
        .handshake_timeout(Some(timeout))
        .bind()
        .unwrap()
}

fn tcp_addr(l: &Listener) -> String {
    l.address().to_string()
}

#[test]
fn two_gib_length_before_authentication_is_refused_without_allocating() {
    let listener = tcp_listener("secret", Duration::from_secs(10));
    let addr = tcp_addr(&listener);
    let t = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let challenge = read_frame(&mut s).unwrap();
        assert!(challenge.starts_with(b"#CHALLENGE#{sha256}"));
        s.write_all(&0x7fff_ffffu32.to_be_bytes()).unwrap();
        s.write_all(b"tiny").unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    });
    let err = listener.accept().unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadMessageLength {
                length: 0x7fff_ffff,
                limit: Some(256)
            }
        ),
        "{err:?}"
    );
    t.join().unwrap();
    // The listener keeps serving.
    let addr = listener.address().clone();
    let t = thread::spawn(move || {
        Client::builder(addr)
            .authkey("secret".into())
            .connect()
            .map(drop)
    });
    listener.accept().unwrap();
    t.join().unwrap().unwrap();
}

#[test]
fn huge_claim_after_authentication_grows_only_with_the_data() {
    let (mut raw, ours) = UnixStream::pair().unwrap();
    let mut conn = Connection::from_unix_stream(ours);
    // Claims 1 TiB in the long form, sends 3 MiB, then hangs up.
    raw.write_all(&[0xff; 4]).unwrap();
    raw.write_all(&(1u64 << 40).to_be_bytes()).unwrap();
    let t = thread::spawn(move || {
        raw.write_all(&vec![1u8; 3 << 20]).unwrap();
    });
    assert!(matches!(conn.recv_bytes(), Err(Error::UnexpectedEof)));
    t.join().unwrap();
}

#[test]
fn truncated_frame_and_mid_message_close_are_unexpected_eof() {
    let (mut raw, ours) = UnixStream::pair().unwrap();
    let mut conn = Connection::from_unix_stream(ours);
    raw.write_all(&[0, 0, 0, 2, b'o', b'k']).unwrap();
    raw.write_all(&[0, 0, 0, 10, 1, 2, 3]).unwrap();
    drop(raw);
    assert_eq!(conn.recv_bytes().unwrap(), b"ok");
    assert!(matches!(conn.recv_bytes(), Err(Error::UnexpectedEof)));

    // A peer process that dies in the middle of a large message.
    let (raw, ours) = UnixStream::pair().unwrap();
    let mut conn = Connection::from_unix_stream(ours);
    let t = thread::spawn(move || {
        let mut raw = raw;
        raw.write_all(&(1_000_000u32).to_be_bytes()).unwrap();
        raw.write_all(&vec![9u8; 400_000]).unwrap();
    });
    assert!(matches!(conn.recv_bytes(), Err(Error::UnexpectedEof)));
    t.join().unwrap();
}

#[test]
fn random_bytes_instead_of_a_challenge() {
    let dir = TempSock::new("random");
    let server = UnixListener::bind(&dir.path).unwrap();
    let t = thread::spawn(move || {
        for junk in [
            [&[0u8, 0, 0, 40][..], &[0x5a; 40]].concat(),
            vec![0x93, 0x11, 0xfe, 0x00, 1, 2, 3],
            vec![0x7f, 0xff, 0xff, 0xff, 1],
        ] {
            let (mut s, _) = server.accept().unwrap();
            s.write_all(&junk).unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        }
    });
    let address: multiprocessing::Address = dir.path.to_str().unwrap().parse().unwrap();
    let key = AuthKey::from("secret");
    let e = multiprocessing::client(&address, Some(&key)).unwrap_err();
    match e {
        Error::Authentication(m) => {
            assert!(m.starts_with("Protocol error, expected challenge"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    let e = multiprocessing::client(&address, Some(&key)).unwrap_err();
    assert!(matches!(e, Error::BadMessageLength { .. }), "{e:?}");
    let e = multiprocessing::client(&address, Some(&key)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMessageLength {
                limit: Some(256),
                ..
            }
        ),
        "{e:?}"
    );
    t.join().unwrap();
}

#[test]
fn silent_client_does_not_stall_the_next_one() {
    let timeout = Duration::from_millis(800);
    let listener = tcp_listener("secret", timeout);
    let addr = tcp_addr(&listener);
    let silent = TcpStream::connect(&addr).unwrap();
    let address = listener.address().clone();
    let good = thread::spawn(move || {
        let mut c = Client::builder(address)
            .authkey("secret".into())
            .connect()
            .unwrap();
        c.send_bytes(b"made it").unwrap();
        c
    });
    let start = Instant::now();
    // Handshakes run at once: the good client is served while the silent one is pending.
    let mut conn = listener.accept().unwrap();
    assert!(start.elapsed() < timeout, "took {:?}", start.elapsed());
    assert_eq!(conn.recv_bytes().unwrap(), b"made it");
    // The silent one times out on the next call, a deadline from its own connection.
    let second = listener.accept();
    assert!(matches!(second, Err(Error::Timeout)), "{second:?}");
    assert!(
        start.elapsed() < timeout + Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    // The handshake timeout no longer applies to the authenticated connection.
    assert!(!conn.poll(Some(Duration::from_millis(1000))).unwrap());
    drop(silent);
    drop(good.join().unwrap());
}

#[test]
fn too_long_message_for_recv_bytes_max() {
    let (mut a, mut b) = pipe(true).unwrap();
    a.send_bytes(b"0123456789").unwrap();
    let e = b.recv_bytes_max(9).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMessageLength {
                length: 10,
                limit: Some(9)
            }
        ),
        "{e:?}"
    );
    assert!(!b.readable() && b.writable() && !b.closed());
    assert!(matches!(b.recv_bytes(), Err(Error::WriteOnly)));
    b.send_bytes(b"still writable").unwrap();
    assert_eq!(a.recv_bytes().unwrap(), b"still writable");

    // A read-only end is closed instead, as in Python.
    let (mut r, mut w) = pipe(false).unwrap();
    w.send_bytes(b"0123456789").unwrap();
    assert!(r.recv_bytes_max(3).is_err());
    assert!(r.closed());
    assert!(matches!(r.recv_bytes(), Err(Error::Closed)));
}

#[test]
fn buffer_too_short_keeps_the_whole_message_and_the_connection() {
    let (mut a, mut b) = pipe(true).unwrap();
    let big: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
    a.send_bytes(&big).unwrap();
    a.send_bytes(b"next").unwrap();
    let mut buf = [0u8; 16];
    match b.recv_bytes_into(&mut buf) {
        Err(Error::BufferTooShort(m)) => assert_eq!(m, big),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.recv_bytes_into(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"next");
}

#[test]
fn wrong_key_fails_on_both_sides_with_cpython_messages() {
    let listener = tcp_listener("secret", Duration::from_secs(10));
    let address = listener.address().clone();
    let t = thread::spawn(move || {
        Client::builder(address)
            .authkey("wrong".into())
            .connect()
            .map(drop)
    });
    match listener.accept() {
        Err(Error::Authentication(m)) => assert_eq!(m, "digest received was wrong"),
        other => panic!("{other:?}"),
    }
    match t.join().unwrap() {
        Err(Error::Authentication(m)) => assert_eq!(m, "digest sent was rejected"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_key_still_authenticates() {
    let listener = Listener::builder()
        .authkey(AuthKey::new(Vec::new()))
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let t = thread::spawn(move || {
        Client::builder(address)
            .authkey(AuthKey::new(Vec::new()))
            .connect()
            .map(drop)
    });
    listener.accept().unwrap();
    t.join().unwrap().unwrap();
    // A keyless client is rejected by a listener with an empty key.
    let address = listener.address().clone();
    let t = thread::spawn(move || {
        let mut c = Client::builder(address).connect().unwrap();
        c.send_bytes(b"not a digest").unwrap();
        // It sees the challenge and the verdict as ordinary data (as in CPython).
        let challenge = c.recv_bytes().unwrap();
        assert!(challenge.starts_with(b"#CHALLENGE#"));
        c.recv_bytes().unwrap()
    });
    let r = listener.accept();
    assert!(matches!(r, Err(Error::Authentication(_))), "{r:?}");
    assert_eq!(t.join().unwrap(), b"#FAILURE#");
}

#[test]
fn unannounced_descriptors_are_bounded() {
    use std::os::fd::{AsFd, OwnedFd};
    let (raw, ours) = UnixStream::pair().unwrap();
    let mut conn = Connection::from_unix_stream(ours);
    let files: Vec<OwnedFd> = (0..64)
        .map(|_| std::fs::File::open("/dev/null").unwrap().into())
        .collect();
    let borrowed: Vec<_> = files.iter().map(AsFd::as_fd).collect();
    // Plain frames that smuggle 64 descriptors each without announcing them.
    for _ in 0..6 {
        multiprocessing::runtime::fdpass::send_with_fds(
            raw.as_fd(),
            &[0, 0, 0, 1, b'x'],
            &borrowed,
        )
        .unwrap();
    }
    let mut outcome = Vec::new();
    for _ in 0..6 {
        outcome.push(conn.recv_bytes().map(|m| m == b"x"));
    }
    assert!(
        outcome.iter().any(|r| matches!(r, Err(Error::Transfer(_)))),
        "{outcome:?}"
    );
}
