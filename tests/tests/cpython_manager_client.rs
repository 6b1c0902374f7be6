//! Our manager client against CPython manager servers, every CPython 3.8+ on the machine:
//! `tests/python/manager_server.py` serves a `SyncManager` (with the documentation's
//! `get_queue` and a `Maths` type raising a class of its own), and `BaseManager::connect`
//! drives it with the usual proxies. A forged server checks what a broken one does.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdout, Stdio};
use std::thread;
use std::time::Duration;

use multiprocessing::connection::{AuthKey, Listener};
use multiprocessing::managers::{BaseManager, DictProxy, ErrorKind, Exception, Object, QueueProxy};
use multiprocessing::{StartMethod, get_context};
use multiprocessing_tests::cpython::{Python, pythons};
use multiprocessing_tests::helpers::{TempSock, within};

const KEY: &[u8] = b"abracadabra";

fn script(name: &str) -> String {
    format!("{}/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A CPython manager server, killed if still running when dropped.
struct PyServer {
    child: Option<Child>,
    address: String,
    version: String,
    /// Kept open so the server never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl PyServer {
    /// Starts one on `address` (`127.0.0.1:0`, a socket path).
    fn start(py: &Python, address: &str) -> PyServer {
        let mut child = py
            .command()
            .arg(script("manager_server.py"))
            .arg(address)
            .arg(std::str::from_utf8(KEY).unwrap())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("serving on ")
            .unwrap_or_else(|| panic!("CPython {}: {line:?}", py.version))
            .to_string();
        PyServer {
            child: Some(child),
            address,
            version: py.version.clone(),
            _stdout: stdout,
        }
    }

    fn connect(&self, key: &[u8]) -> multiprocessing::managers::Result<BaseManager> {
        BaseManager::builder()
            .address(self.address.parse().unwrap())
            .authkey(AuthKey::new(key.to_vec()))
            .connect()
    }

    /// Waits for the server to exit by itself (after a shutdown request).
    fn exits_cleanly(mut self) {
        let mut child = self.child.take().unwrap();
        let status = within("the server's exit", move || child.wait().unwrap());
        assert!(status.success(), "CPython {}: {status}", self.version);
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `f` for every CPython at once, each on a thread of its own (they wait mostly on the
/// interpreters' starts and on their servers).
fn each_python(f: impl Fn(&Python) + Sync) {
    let f = &f;
    thread::scope(|s| {
        for py in pythons() {
            s.spawn(move || f(&py));
        }
    });
}

/// A child's side: counts itself in the dict it was given.
fn bump(d: DictProxy) -> i32 {
    let n = d
        .get("bumped")
        .unwrap()
        .and_then(|n| n.as_int())
        .unwrap_or(0);
    d.set("bumped", Object::Int(n + 1)).unwrap();
    0
}

#[test]
fn a_session_with_each_cpython_server() {
    each_python(|py| {
        // A Unix socket: a CPython server's TCP replies wait on Nagle's algorithm (about
        // 40 ms a control request), and this session makes dozens.
        let sock = TempSock::new("pym");
        let server = PyServer::start(py, sock.path.to_str().unwrap());
        let v = &py.version;
        let mut m = server.connect(KEY).unwrap();

        // dict: method calls, a KeyError with its name and message, the exposed methods.
        let d = m.dict().unwrap();
        d.set("a", 1).unwrap();
        d.set(2, "b").unwrap();
        assert_eq!(d.len().unwrap(), 2, "{v}");
        assert!(d.contains("a").unwrap());
        assert_eq!(d.get_item("a").unwrap(), Object::from(1));
        assert_eq!(d.keys().unwrap().len(), 2);
        assert_eq!(
            d.items().unwrap(),
            // Python's insertion order.
            vec![
                (Object::from("a"), Object::from(1)),
                (Object::from(2), Object::from("b"))
            ]
        );
        let e = d.get_item("missing").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{v}: {e}");
        assert_eq!(e.to_string(), "KeyError: 'missing'", "{v}");
        assert!(
            d.exposed()
                .unwrap()
                .unwrap()
                .contains(&"__getitem__".to_string())
        );

        // Iterating a dict proxy: `__iter__` answers with an iterator proxy (`#PROXY`), whose
        // `__next__` ends in StopIteration.
        let it = d.call_method_proxy("__iter__", Vec::new()).unwrap();
        assert_eq!(it.typeid(), "Iterator");
        let mut keys = Vec::new();
        let end = loop {
            match it.call_method("__next__", Vec::new()) {
                Ok(k) => keys.push(k),
                Err(e) => break e,
            }
        };
        assert_eq!(
            end.exception(),
            Some(Exception::StopIteration),
            "{v}: {end}"
        );
        assert_eq!(keys, vec![Object::from("a"), Object::from(2)], "{v}");

        // list, with a dict proxy stored in it, read back as a proxy and used.
        let l = m.list(vec![Object::from(1)]).unwrap();
        l.extend([Object::from(2), Object::from(3)]).unwrap();
        assert_eq!(
            l.get_slice(Some(1), None, None).unwrap(),
            vec![Object::from(2), Object::from(3)],
            "{v}"
        );
        l.append(&*d).unwrap();
        assert_eq!(l.len().unwrap(), 4);
        let inner = DictProxy::<String, i64>::from_proxy(
            l.call_method_proxy("__getitem__", vec![Object::from(3)])
                .unwrap(),
        );
        assert_eq!(inner.get_item("a").unwrap(), 1, "{v}");
        inner.set("c", 3).unwrap();
        assert_eq!(d.get_item("c").unwrap(), Object::from(3));

        // Namespace, Value, Queue, Lock, Event.
        let ns = m.namespace().unwrap();
        ns.set("x", &10).unwrap();
        assert_eq!(ns.get::<i64>("x").unwrap(), 10, "{v}");
        assert_eq!(
            ns.get::<i64>("y").unwrap_err().exception(),
            Some(Exception::AttributeError)
        );
        let val = m.value("i", Object::from(7)).unwrap();
        val.set(8).unwrap();
        assert_eq!(val.get().unwrap(), Object::from(8), "{v}");
        let q = m.queue_of::<(i64, String)>(0).unwrap();
        q.put((1, "job".to_string())).unwrap();
        assert_eq!(q.qsize().unwrap(), 1);
        assert_eq!(q.get().unwrap(), (1, "job".to_string()), "{v}");
        let empty = q.get_timeout(Duration::from_millis(10)).unwrap_err();
        assert_eq!(empty.kind(), ErrorKind::Empty, "{v}: {empty}");
        let lock = m.lock().unwrap();
        {
            let _held = lock.lock().unwrap();
            assert!(lock.try_lock().unwrap().is_none(), "{v}");
        }
        assert!(lock.try_lock().unwrap().is_some(), "{v}");
        // Another thread (over a channel of its own) sees the lock held, and a clone of the
        // proxy, dropped, leaves the reference to the others.
        let held = lock.lock().unwrap();
        let other = lock.clone();
        assert!(
            thread::spawn(move || other.try_lock().unwrap().is_none())
                .join()
                .unwrap(),
            "{v}"
        );
        drop(held);
        assert!(lock.try_lock().unwrap().is_some(), "{v}");
        // An RLock is re-entrant for its owner; a barrier's properties; an array.
        let rlock = m.rlock().unwrap();
        {
            let _once = rlock.lock().unwrap();
            let _twice = rlock.lock().unwrap();
        }
        let barrier = m.barrier(3).unwrap();
        assert_eq!(barrier.parties().unwrap(), 3, "{v}");
        assert!(!barrier.broken().unwrap());
        let array = m
            .array("i", vec![Object::from(4), Object::from(5)])
            .unwrap();
        assert_eq!(array.len().unwrap(), 2, "{v}");
        assert_eq!(array.get(1).unwrap(), Object::from(5));
        drop((rlock, barrier, array));
        let event = m.event().unwrap();
        assert!(!event.is_set().unwrap());
        event.set().unwrap();
        event.wait_timeout(Duration::from_secs(5)).unwrap();

        // A registered type whose method raises a class of the server's own.
        let maths = m.create("Maths", Vec::new()).unwrap();
        assert_eq!(
            maths
                .call_method("add", vec![Object::from(2), Object::from(3)])
                .unwrap(),
            Object::from(5)
        );
        let e = maths
            .call_method("fail", vec![Object::from("no disk")])
            .unwrap_err();
        let multiprocessing::managers::Error::Raised(r) = &e else {
            panic!("{v}: {e:?}")
        };
        assert_eq!(
            (r.name(), r.message.as_str()),
            ("JobFailed", "no disk"),
            "{v}"
        );
        assert_eq!(r.exception, Exception::Other);
        // A value with no shape of ours (a set) is kept as its pickle, and goes back as it
        // came.
        let set = maths.call_method("members", Vec::new()).unwrap();
        assert!(matches!(set, Object::Pickled(_)), "{v}: {set:?}");
        assert_eq!(set.to_string(), "{1, 2}");
        d.set("s", set.clone()).unwrap();
        assert_eq!(d.get_item("s").unwrap(), set);
        assert_eq!(
            maths.call_method("kind", vec![set]).unwrap(),
            Object::from("set"),
            "{v}"
        );
        // An unknown method is the server's own failure (Python's RemoteError).
        let e = maths.call_method("nope", Vec::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote, "{v}: {e}");

        // A proxy sent to a spawned process (a reference taken for the journey, adopted
        // there) and one inherited by a forked child (which takes a reference of its own).
        for method in [StartMethod::Spawn, StartMethod::Fork] {
            let child = get_context(method).start(bump, (d.clone(),)).unwrap();
            assert_eq!(child.join().unwrap(), 0, "{v}: {method:?}");
        }
        assert_eq!(d.get_item("bumped").unwrap(), Object::from(2), "{v}");

        // Every reference given back: the counts return to zero.
        assert!(m.number_of_objects().unwrap() > 0);
        drop((d, it, l, inner, ns, val, q, lock, event, maths));
        assert_eq!(
            m.number_of_objects().unwrap(),
            0,
            "{v}: {}",
            m.debug_info().unwrap()
        );

        m.shutdown().unwrap();
        server.exits_cleanly();
    });
}

#[test]
fn the_documentations_remote_queue_with_a_python_producer() {
    each_python(|py| {
        let server = PyServer::start(py, "127.0.0.1:0");
        let (host, port) = server.address.rsplit_once(':').unwrap();
        // The documentation's client that puts, in CPython.
        let producer = py
            .command()
            .arg("-c")
            .arg(format!(
                "from multiprocessing.managers import BaseManager\n\
                 class QueueManager(BaseManager): pass\n\
                 QueueManager.register('get_queue')\n\
                 m = QueueManager(address=('{host}', {port}), authkey=b'{key}')\n\
                 m.connect()\n\
                 queue = m.get_queue()\n\
                 queue.put('hello')\n\
                 queue.put(['a', 1])\n",
                key = std::str::from_utf8(KEY).unwrap()
            ))
            .output()
            .unwrap();
        assert!(
            producer.status.success(),
            "CPython {}: {}",
            py.version,
            String::from_utf8_lossy(&producer.stderr)
        );
        let mut m = server.connect(KEY).unwrap();
        let q = QueueProxy::<Object>::from_proxy(m.create("get_queue", Vec::new()).unwrap());
        assert_eq!(q.get().unwrap(), Object::from("hello"), "{}", py.version);
        assert_eq!(
            q.get().unwrap(),
            Object::list([Object::from("a"), Object::from(1)])
        );
        drop(q);
        m.shutdown().unwrap();
        server.exits_cleanly();
    });
}

#[test]
fn the_wrong_key_and_a_server_dying_mid_call() {
    each_python(|py| {
        let mut server = PyServer::start(py, "127.0.0.1:0");
        let e = server.connect(b"wrong").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication, "{}: {e}", py.version);

        let m = server.connect(KEY).unwrap();
        let q = m.queue(0).unwrap();
        let (ready, channel_open) = std::sync::mpsc::channel();
        let waiting = thread::spawn(move || {
            // The first call opens this thread's channel to the server.
            q.qsize().unwrap();
            ready.send(()).unwrap();
            q.get().unwrap_err()
        });
        channel_open.recv().unwrap();
        // Whether `get` is sent yet or not, the server dies under an open channel.
        server.child.as_mut().unwrap().kill().unwrap();
        let e = within("the call's end", move || waiting.join().unwrap());
        assert_eq!(e.kind(), ErrorKind::WorkerLost, "{}: {e}", py.version);
    });
}

/// A forged server: authenticates, refuses our `Hello` as CPython does, then answers the next
/// request (the `dummy` of `connect`) with `answer`.
fn forged(
    answer: impl FnOnce(&mut multiprocessing::connection::Connection) + Send + 'static,
) -> (String, thread::JoinHandle<()>) {
    let l = Listener::builder()
        .address("127.0.0.1:0".parse().unwrap())
        .authkey(AuthKey::new(KEY.to_vec()))
        .bind()
        .unwrap();
    let address = l.address().to_string();
    let t = thread::spawn(move || {
        let mut hello = l.accept().unwrap();
        hello.recv_bytes().unwrap();
        // pickle.dumps(('#TRACEBACK', 'x'), protocol=2)
        hello
            .send_bytes(b"\x80\x02X\n\x00\x00\x00#TRACEBACKq\x00X\x01\x00\x00\x00xq\x01\x86q\x02.")
            .unwrap();
        let mut c = l.accept().unwrap();
        c.recv_bytes().unwrap();
        answer(&mut c);
    });
    (address, t)
}

#[test]
fn a_forged_cpython_server_gives_typed_errors_not_panics() {
    let connect = |address: &str| {
        BaseManager::builder()
            .address(address.parse().unwrap())
            .authkey(AuthKey::new(KEY.to_vec()))
            .connect()
            .unwrap_err()
            .kind()
    };
    // Not a pickle.
    let (a, t) = forged(|c| c.send_bytes(b"\x80\x04garbage").unwrap());
    assert_eq!(connect(&a), ErrorKind::Codec);
    t.join().unwrap();
    // A pickle of no reply's shape: pickle.dumps(('#SURPRISE', None), protocol=2).
    let (a, t) = forged(|c| {
        c.send_bytes(b"\x80\x02X\t\x00\x00\x00#SURPRISEq\x00N\x86q\x01.")
            .unwrap()
    });
    assert_eq!(connect(&a), ErrorKind::Protocol);
    t.join().unwrap();
    // A reply announcing 2 GiB: refused from its header, nothing allocated.
    let (a, t) = forged(|c| {
        let mut raw = std::fs::File::from(c.as_fd().try_clone_to_owned().unwrap());
        raw.write_all(&0x7fff_ffffu32.to_be_bytes()).unwrap();
        // Held open until the client has read the header and given up.
        let _ = c.recv_bytes();
    });
    assert_eq!(connect(&a), ErrorKind::Protocol);
    t.join().unwrap();
}

/// The async proxies (feature `tokio`) against a CPython server: its protocol is spoken by the
/// blocking client inside `spawn_blocking`, with the same results, on both runtimes.
#[test]
fn async_proxies_with_each_cpython_server() {
    each_python(|py| {
        let sock = TempSock::new("pya");
        let server = PyServer::start(py, sock.path.to_str().unwrap());
        let v = &py.version;
        let m = server.connect(KEY).unwrap();
        let d = m.dict().unwrap();
        let e = m.event().unwrap();
        let lock = m.lock().unwrap();
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for (i, rt) in [multi, current].into_iter().enumerate() {
            rt.block_on(async {
                d.set_async("k", i as i64).await.unwrap();
                assert_eq!(
                    d.get_async("k").await.unwrap(),
                    Some(Object::from(i as i64)),
                    "{v}"
                );
                assert_eq!(d.get("k").unwrap(), Some(Object::from(i as i64)), "{v}");
                let missing = d.get_item_async("zz").await.unwrap_err();
                assert_eq!(missing.kind(), ErrorKind::NotFound, "{v}");
                assert!(!e.is_set_async().await.unwrap());
                // A task's lock hold needs our server: CPython's ties a lock to its thread.
                let refused = lock.lock_async().await.unwrap_err();
                assert_eq!(refused.kind(), ErrorKind::Unsupported, "{v}");
                assert!(lock.try_lock().unwrap().is_some(), "{v}");
            });
        }
        e.set().unwrap();
    });
}
