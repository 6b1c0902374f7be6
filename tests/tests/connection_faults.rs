//! Faults and hostile peers around connecting (issue #8): a listener that slow or silent
//! clients cannot stop, a client whose timeout is a deadline, descriptor floods that cost one
//! message, and waits that take any duration.

use std::io::{IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use multiprocessing::connection::{Address, AuthKey, Client, Connection, Error, Listener, wait};
use multiprocessing::{StartMethod, get_context};
use multiprocessing_tests::helpers::{open_fds, read_frame, within, within_for};
use multiprocessing_tests::per_method;

/// Generous bound for "promptly" on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(1);

fn tcp_listener(key: &str, timeout: Option<Duration>) -> Listener {
    Listener::builder()
        .address("127.0.0.1:0".parse().unwrap())
        .authkey(AuthKey::from(key))
        .handshake_timeout(timeout)
        .bind()
        .unwrap()
}

fn connect(address: &Address, key: &str, timeout: Option<Duration>) -> Result<Connection, Error> {
    Client::builder(address.clone())
        .authkey(key.into())
        .handshake_timeout(timeout)
        .connect()
}

/// Writes `bytes` one at a time, `every` apart, as a slow peer; stops when the other side hangs up.
fn drip(s: &mut TcpStream, bytes: impl IntoIterator<Item = u8>, every: Duration) {
    for b in bytes {
        if s.write_all(&[b]).is_err() {
            return;
        }
        thread::sleep(every);
    }
}

#[test]
fn handshake_deadline_bounds_the_whole_handshake_not_each_read() {
    let timeout = Duration::from_millis(500);
    let listener = tcp_listener("secret", Some(timeout));
    let addr = listener.address().to_string();
    let dripper = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        read_frame(&mut s).unwrap();
        // A 44-byte reply, one byte every 100 ms: each read is quick, the whole is 4.4 s.
        let mut reply = vec![0, 0, 0, 40];
        reply.extend_from_slice(b"{sha256}");
        reply.extend_from_slice(&[0u8; 32]);
        drip(&mut s, reply, Duration::from_millis(100));
    });
    let start = Instant::now();
    let r = listener.accept();
    let took = start.elapsed();
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(took < timeout + SLACK, "accept held for {took:?}");
    drop(listener);
    dripper.join().unwrap();
}

#[test]
fn three_silent_clients_do_not_delay_a_legitimate_one() {
    let listener = tcp_listener("secret", Some(Duration::from_secs(3)));
    let addr = listener.address().clone();
    let silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(addr.to_string()).unwrap())
        .collect();
    let good = thread::spawn(move || {
        let start = Instant::now();
        let c = connect(&addr, "secret", None).map(drop);
        (c, start.elapsed())
    });
    let conn = listener.accept();
    assert!(conn.is_ok(), "{conn:?}");
    let (c, took) = good.join().unwrap();
    c.unwrap();
    assert!(took < SLACK, "the legitimate client took {took:?}");
    drop(silent);
}

/// One hostile connection of kind `kind % 5`: silent, slow, oversized, wrong key, cut mid-frame.
/// The silent and slow ones keep at it until the listener's handshake deadline cuts them off.
fn hostile(address: &Address, kind: usize) {
    let addr = address.to_string();
    if kind % 5 == 3 {
        let r = connect(address, "wrong", Some(Duration::from_secs(5)));
        assert!(r.is_err(), "a wrong key was accepted");
        return;
    }
    let Ok(mut s) = TcpStream::connect(&addr) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    match kind % 5 {
        0 => {
            let _ = s.read_to_end(&mut Vec::new());
        }
        1 => {
            let _ = read_frame(&mut s);
            let reply = [0u8, 0, 0, 40].into_iter().chain([b'{'; 40]);
            drip(&mut s, reply, Duration::from_millis(50));
        }
        2 => {
            let _ = read_frame(&mut s);
            let _ = s.write_all(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
            let _ = s.read_to_end(&mut Vec::new());
        }
        _ => {
            let _ = read_frame(&mut s);
            let _ = s.write_all(&[0, 0, 0, 40, b'{', b's']);
        }
    }
}

#[test]
fn a_thousand_hostile_connections_do_not_delay_a_legitimate_client() {
    const HOSTILE: usize = 1000;
    const AT_ONCE: usize = 32;
    // Short enough to keep the test lean: silent and slow clients each hold a slot this long.
    let listener = tcp_listener("secret", Some(Duration::from_millis(300)));
    let address = listener.address().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        thread::spawn(move || {
            let (mut served, mut refused) = (0usize, 0usize);
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok(_) => served += 1,
                    Err(_) => refused += 1,
                }
            }
            (served, refused)
        })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let (address, next, finished) = (address.clone(), next.clone(), finished.clone());
            thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= HOSTILE {
                        return;
                    }
                    hostile(&address, i);
                    finished.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let (mut attempts, mut worst) = (0, Duration::ZERO);
    while attempts < 5 || finished.load(Ordering::SeqCst) < HOSTILE {
        let start = Instant::now();
        let mut c = connect(&address, "secret", Some(Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("legitimate attempt {attempts} failed: {e}"));
        let took = start.elapsed();
        assert!(took < SLACK, "legitimate attempt {attempts} took {took:?}");
        c.send_bytes(b"hello").unwrap();
        worst = worst.max(took);
        attempts += 1;
    }
    for t in flood {
        t.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    // Wakes the server if it waits in `accept`; it may also have stopped already.
    let _ = connect(&address, "secret", Some(Duration::from_secs(10)));
    let (served, refused) = server.join().unwrap();
    eprintln!(
        "{HOSTILE} hostile connections, {AT_ONCE} at a time: {attempts} legitimate connects, \
         worst {worst:?}; listener served {served}, refused {refused}"
    );
    assert!(served >= attempts, "{served} < {attempts}");
}

#[test]
fn client_timeout_is_a_deadline_against_a_full_backlog() {
    let listener = Listener::builder().backlog(0).bind().unwrap();
    let Address::Abstract(name) = listener.address().clone() else {
        panic!("expected an abstract address");
    };
    // Fill the backlog with connections nobody accepts.
    let target = rustix::net::SocketAddrUnix::new_abstract_name(&name).unwrap();
    let mut queued = Vec::new();
    loop {
        let fd = rustix::net::socket_with(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            rustix::net::SocketFlags::NONBLOCK | rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        match rustix::net::connect(&fd, &target) {
            Ok(()) => queued.push(fd),
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(queued.len() < 1000, "the backlog never filled");
    }
    let address = listener.address().clone();
    let timeout = Duration::from_millis(300);
    let (r, took) = within_for(
        "a connect to a full backlog",
        timeout + Duration::from_secs(10),
        move || {
            let start = Instant::now();
            let r = Client::builder(address)
                .handshake_timeout(Some(timeout))
                .connect();
            (r.map(drop), start.elapsed())
        },
    );
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(took < timeout + SLACK, "connect took {took:?}");
    drop(queued);
}

#[test]
fn client_handshake_deadline_against_a_dripping_server() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = Address::from(server.local_addr().unwrap());
    let dripper = thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut frame = vec![0, 0, 0, 59];
        frame.extend_from_slice(b"#CHALLENGE#{sha256}");
        frame.extend_from_slice(&[7u8; 40]);
        drip(&mut s, frame, Duration::from_millis(50));
    });
    let timeout = Duration::from_millis(400);
    let (r, took) = within("a receive from a dripping peer", move || {
        let start = Instant::now();
        let r = connect(&address, "secret", Some(timeout)).map(drop);
        (r, start.elapsed())
    });
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(took < timeout + SLACK, "connect took {took:?}");
    dripper.join().unwrap();
}

fn nodelay(fd: BorrowedFd<'_>) -> bool {
    rustix::net::sockopt::tcp_nodelay(fd).unwrap()
}

#[test]
fn tcp_connections_set_nodelay_on_both_ends() {
    for key in [Some("secret"), None] {
        let listener = match key {
            Some(k) => tcp_listener(k, Some(Duration::from_secs(5))),
            None => Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        };
        let address = listener.address().clone();
        let t = thread::spawn(move || {
            let mut b = Client::builder(address);
            if let Some(k) = key {
                b = b.authkey(k.into());
            }
            b.connect().unwrap()
        });
        let server_end = listener.accept().unwrap();
        let client_end = t.join().unwrap();
        assert!(nodelay(server_end.as_fd()), "accepted end, key {key:?}");
        assert!(nodelay(client_end.as_fd()), "client end, key {key:?}");
    }
}

/// Sends a descriptor-carrying frame announcing `nfds` descriptors, with `nfds` attached.
fn send_with_many_fds(sock: BorrowedFd<'_>, nfds: usize, payload: &[u8]) {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let files: Vec<OwnedFd> = (0..nfds)
        .map(|_| std::fs::File::open("/dev/null").unwrap().into())
        .collect();
    let borrowed: Vec<BorrowedFd<'_>> = files.iter().map(AsFd::as_fd).collect();
    let mut data = vec![0xb2, 0xaf, 0xb9, 0xbc];
    data.extend_from_slice(&(nfds as u32).to_be_bytes());
    data.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    data.extend_from_slice(payload);
    let mut space = vec![MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(nfds))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    assert!(control.push(SendAncillaryMessage::ScmRights(&borrowed)));
    let n = rustix::net::sendmsg(
        sock,
        &[IoSlice::new(&data)],
        &mut control,
        SendFlags::empty(),
    )
    .unwrap();
    assert_eq!(n, data.len());
}

#[test]
fn too_many_descriptors_fail_that_message_alone() {
    let (raw, ours) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut conn = Connection::from_unix_stream(ours);
    let mut raw_w = &raw;
    let before = open_fds();
    send_with_many_fds(raw.as_fd(), 100, b"bad one");
    raw_w
        .write_all(&[0, 0, 0, 4, b'n', b'e', b'x', b't'])
        .unwrap();
    send_with_many_fds(raw.as_fd(), 65, b"bad two");
    send_with_many_fds(raw.as_fd(), 2, b"two fds");
    raw_w
        .write_all(&[0, 0, 0, 4, b'l', b'a', b's', b't'])
        .unwrap();
    let r = conn.recv_bytes();
    assert!(matches!(r, Err(Error::Transfer(_))), "{r:?}");
    assert_eq!(conn.recv_bytes().unwrap(), b"next");
    let r = conn.recv_bytes();
    assert!(matches!(r, Err(Error::Transfer(_))), "{r:?}");
    assert_eq!(conn.recv_bytes().unwrap(), b"two fds");
    assert_eq!(conn.recv_bytes().unwrap(), b"last");
    // Every descriptor that came along was closed.
    assert_eq!(open_fds(), before);
}

#[test]
fn every_connect_wait_takes_any_duration() {
    let key = "secret";
    for (server_timeout, client_timeout) in [
        (Some(Duration::MAX), Some(Duration::MAX)),
        (Some(Duration::MAX), Some(Duration::ZERO)),
        (Some(Duration::ZERO), Some(Duration::from_secs(5))),
    ] {
        let listener = Listener::builder()
            .authkey(key.into())
            .handshake_timeout(server_timeout)
            .bind()
            .unwrap();
        let address = listener.address().clone();
        let client = thread::spawn(move || connect(&address, key, client_timeout).map(drop));
        let served = within("accept", move || listener.accept().map(drop));
        let got = client.join().unwrap();
        for r in [&served, &got] {
            // The peer giving up may show as end of file or a broken pipe; never EINVAL.
            let ok = match r {
                Ok(()) | Err(Error::Timeout | Error::Eof) => true,
                Err(Error::Io(e)) => matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                Err(_) => false,
            };
            assert!(ok, "{server_timeout:?}/{client_timeout:?}: {r:?}");
        }
        if server_timeout == client_timeout {
            assert!(served.is_ok() && got.is_ok(), "{served:?} {got:?}");
        }
        if client_timeout == Some(Duration::ZERO) {
            assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
        }
        if server_timeout == Some(Duration::ZERO) {
            assert!(matches!(served, Err(Error::Timeout)), "{served:?}");
        }
    }
    let (mut a, mut b) = multiprocessing::pipe(true).unwrap();
    assert!(!a.poll(Some(Duration::ZERO)).unwrap());
    b.send_bytes(b"x").unwrap();
    assert!(a.poll(Some(Duration::MAX)).unwrap());
    assert_eq!(wait(&[&a], Some(Duration::MAX)).unwrap().len(), 1);
    assert_eq!(a.recv_bytes().unwrap(), b"x");
}

#[test]
fn pending_handshakes_are_capped_by_dropping_the_oldest() {
    let listener = Listener::builder()
        .address("127.0.0.1:0".parse().unwrap())
        .authkey("secret".into())
        .handshake_timeout(Some(Duration::from_secs(30)))
        .max_pending(2)
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let mut silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(address.to_string()).unwrap())
        .collect();
    let good = thread::spawn(move || connect(&address, "secret", Some(Duration::from_secs(10))));
    let start = Instant::now();
    listener.accept().unwrap();
    good.join().unwrap().unwrap();
    // The oldest silent client was pushed out: it sees its challenge, then the end of the
    // stream, long before the handshake timeout.
    let oldest = &mut silent[0];
    oldest
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(read_frame(oldest).unwrap().starts_with(b"#CHALLENGE#"));
    let mut rest = Vec::new();
    oldest.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn accept_timeout_keeps_pending_handshakes_for_the_next_call() {
    let listener = tcp_listener("secret", Some(Duration::from_secs(30)));
    assert!(matches!(
        listener.accept_timeout(Duration::ZERO),
        Err(Error::Timeout)
    ));
    let silent = TcpStream::connect(listener.address().to_string()).unwrap();
    let start = Instant::now();
    let r = listener.accept_timeout(Duration::from_millis(200));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(start.elapsed() < Duration::from_millis(200) + SLACK);
    // Two threads accept at once; each client is served by one of them.
    let listener = Arc::new(listener);
    let accepters: Vec<_> = (0..2)
        .map(|_| {
            let l = listener.clone();
            thread::spawn(move || l.accept_timeout(Duration::from_secs(20)).map(drop))
        })
        .collect();
    let address = listener.address().clone();
    for _ in 0..2 {
        connect(&address, "secret", Some(Duration::from_secs(10))).unwrap();
    }
    for a in accepters {
        a.join().unwrap().unwrap();
    }
    drop(silent);
}

/// The legitimate client, in a child process: connects, says hello, reports how long it took.
fn legit_client(address: String, key: String) -> u64 {
    let start = Instant::now();
    let mut c = connect(
        &address.parse().expect("an address"),
        &key,
        Some(Duration::from_secs(10)),
    )
    .expect("the legitimate client connects");
    let took = start.elapsed();
    c.send_bytes(b"from the child").expect("send");
    u64::try_from(took.as_micros()).unwrap_or(u64::MAX)
}

fn silent_clients_do_not_delay_a_client_in_another_process(method: StartMethod) {
    let listener = tcp_listener("secret", Some(Duration::from_secs(3)));
    let address = listener.address().to_string();
    let silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    let child = get_context(method)
        .start(legit_client, (address, "secret".to_string()))
        .unwrap();
    // The child's handshake completes first although three silent clients came before it.
    let mut conn = listener.accept().unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), b"from the child");
    let took = Duration::from_micros(child.join().unwrap());
    assert!(took < SLACK, "the child took {took:?} to connect");
    drop(silent);
}

per_method!(silent_clients_do_not_delay_a_client_in_another_process);
