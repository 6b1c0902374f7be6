//! CPython clients of our manager server, against every CPython 3.8+ on the machine: a
//! `SyncManager` session over the built-in types (`tests/python/manager_client.py`), the
//! documentation's remote queue with a CPython producer and a CPython consumer, bad input
//! on a CPython-speaking connection, and a CPython client killed with method channels open.

use std::process::Output;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use multiprocessing::connection::{Address, AuthKey, Client};
use multiprocessing::managers::sync_types::Queue;
use multiprocessing::managers::{BaseManager, Object, Raised, Shared};
use multiprocessing::pickle::{self, Value};
use multiprocessing_tests::cpython::{Python, pythons};
use multiprocessing_tests::helpers::{TempSock, eventually, fd_targets};

const KEY: &[u8] = b"abracadabra";

thread_local! {
    /// The documentation's `queue = queue.Queue()`, made by the thread that serves.
    static QUEUE: Queue = Queue::new(0, false);
}

/// The documentation's `register('get_queue', callable=lambda: queue)`.
fn get_queue(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(QUEUE.with(Queue::clone)))
}

/// Our server on `address`, served on a thread; the receiver gets its result when it stops.
fn serve(address: Address) -> (Address, mpsc::Receiver<bool>) {
    let server = BaseManager::builder()
        .address(address)
        .authkey(AuthKey::new(KEY.to_vec()))
        .register("get_queue", get_queue)
        .get_server()
        .unwrap();
    let address = server.address().clone();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(server.serve_forever().is_ok());
    });
    (address, rx)
}

fn client(py: &Python, mode: &str, address: &Address) -> Output {
    py.command()
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/python/manager_client.py"
        ))
        .arg(mode)
        .arg(address.to_string())
        .arg(std::str::from_utf8(KEY).unwrap())
        .output()
        .unwrap()
}

fn stdout(py: &Python, out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "CPython {}: {text}{}",
        py.version,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// What the session prints, line by line.
const SESSION: &str = "\
dict: (1, [1, 2.5, 'x', None, (1, 2), b'\\x00'], 2, True, 7, ['a', 'b'])
KeyError: ('missing',)
iterator: ('IteratorProxy', 'a', 'b')
StopIteration: True
repr: \"{'a': 1, 'b': [1, 2.5, 'x', None, (1, 2), b'\\\\x00']}\"
getvalue: True
unexposed: ('RemoteError', True)
list: (4, [3, 2], 0, 5, [4, 3, 2, 1, 0, 9], [4, 3, 2, 1, 0])
namespace: (1, 'two')
namespace del: 'AttributeError'
queue: (2, 'job', 2, True)
queue timeout: 'Empty'
lock: (True, False)
lock again: True
event: (False, False)
event set: (True, True)
waits: [True]
joinable: (1, None, None)
rlock: (True, True, None, None)
semaphore: (True, True, False, None)
condition: (False, None, None)
condition over a lock: (False, None)
barrier: (0, 1, 0, False)
value: (8, 8)
array: (3, 5, [2, 3], [5, 2, 3])
nested: ('DictProxy', 'v', 2)
kept: (True, True, 'Job')
get_methods: ['__contains__', '__delitem__', '__getitem__', '__iter__', '__iter__', '__len__', '__setitem__', 'clear', 'copy', 'get', 'items', 'keys', 'pop', 'popitem', 'setdefault', 'update', 'values']
not_public: True
objects: 0
shutdown: True
";

/// Runs `f` for every CPython at once, each against its own server.
/// The flag is true for the oldest and the newest.
fn each_python(f: fn(&Python, bool)) {
    let all = pythons();
    let newest = all.len() - 1;
    let runs: Vec<_> = all
        .into_iter()
        .enumerate()
        .map(|(i, py)| thread::spawn(move || f(&py, i == 0 || i == newest)))
        .collect();
    for r in runs {
        r.join().unwrap();
    }
}

#[test]
fn a_cpython_syncmanager_session_against_our_server() {
    // Over a Unix socket with every CPython; over TCP and an abstract Unix name (our default
    // address) with the oldest and the newest.
    each_python(|py, more| {
        let sock = TempSock::new("cpy-mgr");
        let mut addresses = vec![Address::Unix(sock.path.clone())];
        if more {
            addresses.push("127.0.0.1:0".parse().unwrap());
            let name = format!("mp-cpy-mgr-{}-{}", std::process::id(), py.version);
            addresses.push(Address::Abstract(name.into_bytes()));
        }
        for address in addresses {
            let (address, stopped) = serve(address);
            let out = client(py, "session", &address);
            assert_eq!(
                stdout(py, &out),
                SESSION,
                "CPython {} on {address}",
                py.version
            );
            // The client's `shutdown` stopped the server.
            assert_eq!(
                stopped.recv_timeout(Duration::from_secs(10)),
                Ok(true),
                "CPython {} on {address}",
                py.version
            );
        }
    });
}

#[test]
fn the_documentation_remote_queue_with_a_cpython_producer_and_a_cpython_consumer() {
    each_python(|py, _| {
        let (address, stopped) = serve("127.0.0.1:0".parse().unwrap());
        let put = client(py, "put", &address);
        assert_eq!(stdout(py, &put), "put: 'hello'\n");
        let got = client(py, "get", &address);
        assert_eq!(stdout(py, &got), "get: 'hello'\nshutdown: True\n");
        assert_eq!(stopped.recv_timeout(Duration::from_secs(10)), Ok(true));
    });
}

/// A connection that has authenticated and speaks pickles, as a CPython client.
fn connect(address: &Address) -> multiprocessing::connection::Connection {
    Client::builder(address.clone())
        .authkey(AuthKey::new(KEY.to_vec()))
        .connect()
        .unwrap()
}

fn request(method: &str, args: Vec<Value>) -> Vec<u8> {
    pickle::dumps(&Value::Tuple(vec![
        Value::None,
        Value::from(method),
        Value::Tuple(args),
        Value::Dict(Vec::new()),
    ]))
    .unwrap()
}

/// The kind of a reply and its payload.
fn reply(bytes: &[u8]) -> (String, Value) {
    match pickle::loads(bytes).unwrap() {
        Value::Tuple(t) if t.len() == 2 => {
            let mut t = t.into_iter();
            let kind = match t.next() {
                Some(Value::Str(k)) => k,
                other => panic!("not a reply kind: {other:?}"),
            };
            (kind, t.next().unwrap())
        }
        other => panic!("not a reply: {other}"),
    }
}

#[test]
fn bad_input_on_a_cpython_connection_is_a_traceback_or_a_closed_connection() {
    let (address, stopped) = serve("127.0.0.1:0".parse().unwrap());
    let traceback = |bytes: &[u8]| {
        let mut c = connect(&address);
        c.send_bytes(bytes).unwrap();
        let (kind, text) = reply(&c.recv_bytes().unwrap());
        assert_eq!(kind, "#TRACEBACK", "{text}");
        text.as_str().unwrap().to_string()
    };
    // A forged pickle (a pickle header, then garbage), a truncated one, one of the wrong
    // shape, an unknown control function.
    let good = request("dummy", Vec::new());
    assert!(traceback(b"\x80\x04\xff\xfe garbage").contains("UnpicklingError"));
    assert!(traceback(&good[..good.len() - 3]).contains("UnpicklingError"));
    assert!(traceback(&pickle::dumps(&Value::Int(1)).unwrap()).contains("TypeError"));
    assert!(
        traceback(&request("eval", Vec::new())).contains("AssertionError: 'eval' unrecognized")
    );
    // A value that would run a command when Python unpickles it is stored as data: nothing
    // runs.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let os_system: Value = pickle::Object::reduce(
        "os",
        "system",
        vec![Value::from(format!("touch {}", marker.display()))],
    )
    .into();
    let mut c = connect(&address);
    c.send_bytes(&request(
        "create",
        vec![Value::from("list"), Value::List(vec![os_system])],
    ))
    .unwrap();
    assert_eq!(reply(&c.recv_bytes().unwrap()).0, "#RETURN");
    assert!(!marker.exists());
    // Deeper than a value may nest.
    let mut deep = Value::None;
    for _ in 0..200 {
        deep = Value::List(vec![deep]);
    }
    let deep = request("create", vec![Value::from("list"), deep]);
    assert!(traceback(&deep).contains("UnpicklingError"));
    // An unknown ident on a method channel, then a good call on the same channel.
    let mut c = connect(&address);
    c.send_bytes(&request("accept_connection", vec![Value::from("t")]))
        .unwrap();
    assert_eq!(reply(&c.recv_bytes().unwrap()).0, "#RETURN");
    let call = |ident: &str| {
        pickle::dumps(&Value::Tuple(vec![
            Value::from(ident),
            Value::from("__len__"),
            Value::Tuple(Vec::new()),
            Value::Dict(Vec::new()),
        ]))
        .unwrap()
    };
    c.send_bytes(&call("ffffff")).unwrap();
    let (kind, text) = reply(&c.recv_bytes().unwrap());
    assert_eq!(kind, "#TRACEBACK");
    assert!(text.as_str().unwrap().contains("KeyError: 'ffffff'"));
    // The server goes on: a create, then a call on the same channel.
    let mut ctl = connect(&address);
    ctl.send_bytes(&request("create", vec![Value::from("list")]))
        .unwrap();
    let (kind, created) = reply(&ctl.recv_bytes().unwrap());
    assert_eq!(kind, "#RETURN");
    let Value::Tuple(created) = created else {
        panic!("{created}")
    };
    c.send_bytes(&call(created[0].as_str().unwrap())).unwrap();
    assert_eq!(
        reply(&c.recv_bytes().unwrap()),
        ("#RETURN".into(), Value::Int(0))
    );
    drop(c);
    let mut shut = connect(&address);
    shut.send_bytes(&request("shutdown", Vec::new())).unwrap();
    assert_eq!(reply(&shut.recv_bytes().unwrap()).0, "#RETURN");
    // CPython's second `#RETURN`, as its server sends it.
    assert_eq!(reply(&shut.recv_bytes().unwrap()).0, "#RETURN");
    assert_eq!(stopped.recv_timeout(Duration::from_secs(10)), Ok(true));
}

/// The sockets and all the descriptors process `pid` has open.
fn sockets_and_fds(pid: u32) -> (usize, usize) {
    let all = fd_targets(pid);
    let sockets = all
        .iter()
        .filter(|t| t.to_string_lossy().starts_with("socket:"))
        .count();
    (sockets, all.len())
}

/// A CPython client with a method channel per thread (one holding a lock, all waiting in the
/// server) is SIGKILLed: our server closes every channel, so its sockets return to what they
/// were before the client came, and its other descriptors too, within a small margin (a count
/// taken as the server starts answering can miss the few its runtime is still making).
#[test]
fn a_killed_cpython_client_leaves_no_descriptor_open_in_our_server() {
    let py = pythons().pop().expect("python3");
    let m = BaseManager::builder()
        .authkey(AuthKey::new(KEY.to_vec()))
        .start()
        .unwrap();
    let server = m.pid().expect("a server process");
    let (sockets, fds) = sockets_and_fds(server);
    let mut child = py
        .command()
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/python/manager_client.py"
        ))
        .arg("hold")
        .arg(m.address().to_string())
        .arg(std::str::from_utf8(KEY).unwrap())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "ready: 4\n", "CPython {}", py.version);
    // A method channel per thread (five, with the main thread's) is open while it waits.
    let (during, _) = sockets_and_fds(server);
    assert!(
        during >= sockets + 5,
        "{sockets} sockets before, {during} during"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    eventually("the killed client's channels are closed", || {
        sockets_and_fds(server).0 <= sockets
    });
    let (_, after) = sockets_and_fds(server);
    assert!(
        after <= fds + 4,
        "{fds} descriptors before, {after} after: {:?}",
        fd_targets(server)
    );
}
