//! Live interoperability with every CPython on the machine (`python3`, and 3.12/3.13 through
//! pyenv when present): CPython clients against our listener and our client against CPython
//! listeners, over Unix sockets and TCP, with the right and the wrong key.

use std::process::{Child, Stdio};
use std::thread;

use multiprocessing::connection::{Address, AuthKey, Client, Error, Listener};
use multiprocessing_tests::cpython::{Python, pythons};
use multiprocessing_tests::helpers::{TempSock, read_announcement};

fn script(name: &str) -> String {
    format!("{}/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn listener(address: Address, key: &str) -> Listener {
    Listener::builder()
        .address(address)
        .authkey(AuthKey::from(key))
        .bind()
        .unwrap()
}

fn run_cpython_client(
    py: &Python,
    address: &Address,
    key: &str,
) -> thread::JoinHandle<(bool, String)> {
    let mut cmd = py.command();
    cmd.arg(script("client_peer.py"))
        .arg(address.to_string())
        .arg(key);
    thread::spawn(move || {
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    })
}

fn serve_one(l: &Listener) {
    let mut conn = l.accept().unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), b"ping");
    assert_eq!(conn.recv_bytes().unwrap(), b"ba");
    assert_eq!(conn.recv_bytes().unwrap(), b"mv");
    let ints: Vec<u8> = [42i32, 1729].iter().flat_map(|v| v.to_ne_bytes()).collect();
    assert_eq!(conn.recv_bytes().unwrap(), ints);
    assert_eq!(conn.recv_bytes().unwrap(), b"cde");
    conn.send_bytes(b"pong").unwrap();
    conn.send_bytes(&vec![7u8; 100_000]).unwrap();
    assert!(matches!(conn.recv_bytes(), Err(Error::Eof)));
}

#[test]
fn cpython_clients_talk_to_our_listener_over_unix_and_tcp() {
    for py in pythons() {
        let sock = TempSock::new("ours");
        for address in [
            Address::Unix(sock.path.clone()),
            "127.0.0.1:0".parse().unwrap(),
        ] {
            let l = listener(address, "secret");
            let t = run_cpython_client(&py, l.address(), "secret");
            serve_one(&l);
            let (ok, out) = t.join().unwrap();
            assert!(ok, "CPython {}: {out}", py.version);
            assert_eq!(out, "b'pong'\n100000\n", "CPython {}", py.version);
        }
    }
}

#[test]
fn cpython_client_with_the_wrong_key_is_rejected_by_our_listener() {
    for py in pythons() {
        let l = listener("127.0.0.1:0".parse().unwrap(), "secret");
        let t = run_cpython_client(&py, l.address(), "wrong");
        match l.accept() {
            Err(Error::Authentication(m)) => assert_eq!(m, "digest received was wrong"),
            other => panic!("CPython {}: {other:?}", py.version),
        }
        let (ok, out) = t.join().unwrap();
        assert!(!ok);
        assert!(
            out.contains("AuthenticationError: digest sent was rejected"),
            "CPython {}: {out}",
            py.version
        );
    }
}

fn start_cpython_listener(py: &Python, address: &str, key: &str) -> (Child, Address) {
    let mut child = py
        .command()
        .arg(script("listener_peer.py"))
        .arg(address)
        .arg(key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = read_announcement(child.stdout.as_mut().unwrap(), "ready ");
    (child, addr.parse().unwrap())
}

#[test]
fn our_client_talks_to_cpython_listeners() {
    for py in pythons() {
        let sock = TempSock::new("theirs");
        for address in [
            sock.path.to_str().unwrap().to_string(),
            "127.0.0.1:0".to_string(),
        ] {
            let (mut child, real) = start_cpython_listener(&py, &address, "secret");
            let mut conn = Client::builder(real)
                .authkey("secret".into())
                .connect()
                .unwrap();
            conn.send_bytes(b"hello").unwrap();
            assert_eq!(conn.recv_bytes().unwrap(), b"py:hello");
            let big = vec![3u8; 70_000];
            conn.send_bytes(&big).unwrap();
            let back = conn.recv_bytes().unwrap();
            assert_eq!(back.len(), 70_003);
            conn.send_bytes(b"").unwrap();
            assert_eq!(conn.recv_bytes().unwrap(), b"py:");
            drop(conn);
            assert!(child.wait().unwrap().success(), "CPython {}", py.version);
        }
    }
}

#[test]
fn our_client_with_the_wrong_key_is_rejected_by_cpython() {
    for py in pythons() {
        let (mut child, real) = start_cpython_listener(&py, "127.0.0.1:0", "secret");
        match Client::builder(real).authkey("wrong".into()).connect() {
            Err(Error::Authentication(m)) => assert_eq!(m, "digest sent was rejected"),
            other => panic!("CPython {}: {other:?}", py.version),
        }
        let mut rest = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut rest).unwrap();
        assert_eq!(
            child.wait().unwrap().code(),
            Some(3),
            "CPython {}",
            py.version
        );
        assert!(
            rest.contains("AuthenticationError: digest received was wrong"),
            "{rest}"
        );
    }
}

#[test]
fn cpython_versions_are_reported() {
    let found = pythons();
    assert!(!found.is_empty());
    // Each version speaks the handshake it is documented to speak.
    for py in &found {
        let out = py
            .command()
            .args(["-c", "from multiprocessing import connection as c; print(hasattr(c, '_ALLOWED_DIGESTS'))"])
            .output()
            .unwrap();
        let modern = String::from_utf8_lossy(&out.stdout).trim() == "True";
        assert_eq!(modern, py.modern(), "CPython {}", py.version);
    }
}
