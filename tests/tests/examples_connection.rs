//! The connection examples of the facade crate, run as real processes: `conn_peer` against
//! itself and against CPython, and the twins of Python's documentation (`listener`/`client`,
//! `pipe`, `connection_session`, `wait_readers`) beside their Python originals.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use multiprocessing_tests::cpython::pythons;
use multiprocessing_tests::examples::{example, run_example as run, run_python_original};
use multiprocessing_tests::helpers::{TempSock, read_announcement};

fn start_peer_listener(address: &str, key: &str) -> (Child, String) {
    let mut child = Command::new(example("conn_peer"))
        .args(["listen", address, key])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = read_announcement(child.stdout.as_mut().unwrap(), "listening on ");
    (child, addr)
}

fn peer_connect(address: &str, key: &str, messages: &[&str]) -> std::process::Output {
    Command::new(example("conn_peer"))
        .args(["connect", address, key])
        .args(messages)
        .output()
        .unwrap()
}

#[test]
fn conn_peer_talks_to_itself_over_tcp_and_unix() {
    let sock = TempSock::new("peer");
    for address in ["127.0.0.1:0", sock.path.to_str().unwrap()] {
        let (mut server, real) = start_peer_listener(address, "k3y");
        let out = peer_connect(&real, "k3y", &["one", "two words", ""]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "echo:one\necho:two words\necho:\n"
        );
        assert!(server.wait().unwrap().success());
    }
    assert!(!sock.path.exists(), "the listener removes its socket file");
}

#[test]
fn conn_peer_wrong_key_exits_2_on_both_sides() {
    let (mut server, real) = start_peer_listener("127.0.0.1:0", "right");
    let out = peer_connect(&real, "wrong", &["x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("authentication"),
        "{out:?}"
    );
    assert_eq!(server.wait().unwrap().code(), Some(2));
    let mut err = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("digest received was wrong"), "{err}");
}

#[test]
fn conn_peer_against_cpython_both_ways() {
    for py in pythons() {
        // CPython client -> conn_peer listener.
        let (mut server, real) = start_peer_listener("127.0.0.1:0", "secret");
        let out = py
            .command()
            .args([
                "-c",
                "import sys\nfrom multiprocessing.connection import Client\n\
                 h, p = sys.argv[1].rsplit(':', 1)\n\
                 c = Client((h, int(p)), authkey=b'secret')\n\
                 c.send_bytes(b'from python'); print(c.recv_bytes().decode())",
                &real,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "CPython {}: {out:?}", py.version);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "echo:from python\n");
        assert!(server.wait().unwrap().success());

        // conn_peer client -> CPython listener.
        let mut child = py
            .command()
            .arg(format!(
                "{}/python/listener_peer.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args(["127.0.0.1:0", "secret"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().strip_prefix("ready ").unwrap().to_string();
        let out = peer_connect(&addr, "secret", &["a", "bc"]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "py:a\npy:bc\n");
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn listener_and_client_examples_print_what_python_prints() {
    let mut server = Command::new(example("listener"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = read_announcement(server.stderr.as_mut().unwrap(), "listening on ");
    let out = Command::new(example("client")).arg(&addr).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[2.25, None, 'junk', <class 'float'>]\nhello\n8\n[42, 1729, 0, 0, 0]\n"
    );
    let server_out = server.wait_with_output().unwrap();
    assert!(server_out.status.success());
    let text = String::from_utf8_lossy(&server_out.stdout);
    assert!(
        text.starts_with("connection accepted from ('127.0.0.1', "),
        "{text}"
    );
}

#[test]
fn pipe_prints_the_list_the_child_sent_like_python() {
    let expected = "[42, None, 'hello']\n";
    assert_eq!(run("pipe"), expected);
    assert_eq!(run_python_original("pipe"), expected);
}

#[test]
fn connection_session_prints_what_python_prints() {
    let expected =
        "[1, 'hello', None]\nb'thank you'\n20\narray('i', [0, 1, 2, 3, 4, 0, 0, 0, 0, 0])\n";
    assert_eq!(run("connection_session"), expected);
    assert_eq!(run_python_original("connection_session"), expected);
}

/// The shape of the `wait()` example's output, which CPython's has too: 40 lines
/// `(i, 'Process-N')`, each of four processes sending 0 to 9 in order.
fn check_wait_readers(out: &str, who: &str) {
    let mut seen: std::collections::BTreeMap<&str, Vec<u32>> = Default::default();
    for line in out.lines() {
        let (i, name) = line
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix("')"))
            .and_then(|l| l.split_once(", '"))
            .unwrap_or_else(|| panic!("{who}: {line:?}"));
        seen.entry(name)
            .or_default()
            .push(i.parse().unwrap_or_else(|_| panic!("{who}: {line:?}")));
    }
    let names: Vec<&str> = seen.keys().copied().collect();
    assert_eq!(
        names,
        ["Process-1", "Process-2", "Process-3", "Process-4"],
        "{who}:\n{out}"
    );
    for (name, numbers) in &seen {
        assert_eq!(*numbers, (0..10).collect::<Vec<u32>>(), "{who}: {name}");
    }
}

#[test]
fn wait_readers_prints_ten_messages_from_each_process_like_python() {
    check_wait_readers(&run("wait_readers"), "wait_readers");
    check_wait_readers(&run_python_original("wait_readers"), "wait_readers.py");
}
