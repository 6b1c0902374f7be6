//! Manager sessions between every pair of peers: `manager_peer` (ours) and its CPython twin
//! `tests/python/manager_peer.py` under every CPython 3.8+ on the machine, as server and as
//! client, over TCP and a Unix socket. Each pair runs the same session (a dict, a list, a
//! Namespace and a Queue, the server's object count back to zero) and must print the same
//! lines; a client with the wrong key exits with status 2 and leaves the server serving; the
//! client's shutdown ends the server with status 0. One test per pair of kinds and transport,
//! so that they run side by side.

use std::process::{Child, Command, Output, Stdio};

use multiprocessing_tests::cpython::{Python, pythons};
use multiprocessing_tests::helpers::{TempSock, read_announcement, within};

const PEER: &str = env!("CARGO_BIN_EXE_manager_peer");
const KEY: &str = "manager-peer-key";

/// What every client prints against every server: CPython's own session with itself.
const SESSION: &str = "\
connected
dict: {'a': 1, 'b': 'two'}
dict: len 2, d['a'] = 1, 'b' in d: True
dict: d['z'] raised KeyError: 'z'
list: [1, 2, 3, 4]
list: len 4, l[0] = 1, l.pop() = 4
list: l[10] raised IndexError: list index out of range
namespace: Namespace(x=10, y='hello')
namespace: ns.x + 1 = 11
namespace: ns.z raised AttributeError: 'Namespace' object has no attribute 'z'
queue: qsize 2
queue: get 'job1', get 'job2', empty True
queue: get_nowait raised Empty
objects: 4
released: 0
";

/// One implementation of the peer.
#[derive(Clone)]
enum Peer {
    Rust,
    Python(Python),
}

impl Peer {
    fn name(&self) -> String {
        match self {
            Peer::Rust => "Rust".into(),
            Peer::Python(py) => format!("CPython {}", py.version),
        }
    }

    fn command(&self, role: &str, address: &str, key: &str) -> Command {
        let mut cmd = match self {
            Peer::Rust => Command::new(PEER),
            Peer::Python(py) => {
                let mut c = py.command();
                c.arg(format!(
                    "{}/python/manager_peer.py",
                    env!("CARGO_MANIFEST_DIR")
                ));
                c
            }
        };
        cmd.args([role, address, key]);
        cmd
    }

    /// Runs a client role to its end (within the tests' bound).
    fn run(&self, role: &str, address: &str, key: &str) -> Output {
        let mut cmd = self.command(role, address, key);
        within(&format!("{} {role}", self.name()), move || {
            cmd.output().expect("the peer runs")
        })
    }
}

/// A serving peer, killed if a failed test leaves it running.
struct Serving {
    child: Option<Child>,
    address: String,
}

impl Serving {
    fn start(peer: &Peer, address: &str) -> Serving {
        let mut child = peer
            .command("serve", address, KEY)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let address = read_announcement(child.stdout.take().expect("piped"), "serving on ");
        Serving {
            child: Some(child),
            address,
        }
    }

    /// Waits for the server to exit by itself (after a shutdown), for its status.
    fn wait(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("not waited for yet");
        within("the server's exit", move || child.wait().expect("wait"))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where a pair meets.
#[derive(Clone, Copy)]
enum Over {
    Tcp,
    Unix,
}

/// The whole exchange between `client` and `server`: over TCP, first a client with the wrong
/// key (status 2, the server serving on), then the session; then the client's shutdown, which
/// ends the server with status 0.
fn pair(server: &Peer, client: &Peer, over: Over) {
    let sock = TempSock::new("manager-peer");
    let address = match over {
        Over::Tcp => "127.0.0.1:0",
        Over::Unix => sock.path.to_str().expect("UTF-8 path"),
    };
    let what = format!(
        "{} client, {} server, {address}",
        client.name(),
        server.name()
    );
    let serving = Serving::start(server, address);
    if let Over::Tcp = over {
        assert!(
            !serving.address.ends_with(":0"),
            "{what}: {}",
            serving.address
        );
        let refused = client.run("connect", &serving.address, "wrong key");
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{what}: {}",
            text(&refused.stderr)
        );
        assert!(
            text(&refused.stderr).contains("authentication"),
            "{what}: {}",
            text(&refused.stderr)
        );
    }

    let session = client.run("connect", &serving.address, KEY);
    assert!(
        session.status.success(),
        "{what}: {}{}",
        text(&session.stdout),
        text(&session.stderr)
    );
    assert_eq!(text(&session.stdout), SESSION, "{what}");

    let stop = client.run("shutdown", &serving.address, KEY);
    assert!(stop.status.success(), "{what}: {}", text(&stop.stderr));
    assert!(serving.wait().success(), "{what}");
}

#[test]
fn rust_client_and_rust_server() {
    pair(&Peer::Rust, &Peer::Rust, Over::Tcp);
    pair(&Peer::Rust, &Peer::Rust, Over::Unix);
}

/// `f` for every CPython, each on a thread of its own (their processes mostly wait on each
/// other); a failure fails the test once all are done.
fn each_cpython(f: impl Fn(Peer) + Sync) {
    std::thread::scope(|s| {
        for py in pythons() {
            let f = &f;
            s.spawn(move || f(Peer::Python(py)));
        }
    });
}

/// Each CPython with itself: the reference every other pair prints.
fn cpython_with_cpython(over: Over) {
    each_cpython(|py| pair(&py, &py, over));
}

#[test]
fn cpython_client_and_cpython_server_over_tcp() {
    cpython_with_cpython(Over::Tcp);
}

#[test]
fn cpython_client_and_cpython_server_over_unix() {
    cpython_with_cpython(Over::Unix);
}

/// Our client with every CPython's server.
fn rust_with_cpython_server(over: Over) {
    each_cpython(|py| pair(&py, &Peer::Rust, over));
}

#[test]
fn rust_client_and_cpython_server_over_tcp() {
    rust_with_cpython_server(Over::Tcp);
}

#[test]
fn rust_client_and_cpython_server_over_unix() {
    rust_with_cpython_server(Over::Unix);
}

/// Every CPython's client with our server.
fn cpython_with_rust_server(over: Over) {
    each_cpython(|py| pair(&Peer::Rust, &py, over));
}

#[test]
fn cpython_client_and_rust_server_over_tcp() {
    cpython_with_rust_server(Over::Tcp);
}

#[test]
fn cpython_client_and_rust_server_over_unix() {
    cpython_with_rust_server(Over::Unix);
}
