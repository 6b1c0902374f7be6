//! Managers across real processes: shared dicts and lists used from children under each start
//! method, proxies passed to children and inherited through fork, reference counts that return
//! to their level (after the last proxy drops, after a client is SIGKILLed), the server's
//! robustness against garbage, silent and half-finished clients, a wrong authkey, and the
//! typed error once the server is gone.

use std::cell::RefCell;
use std::future::Future;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use multiprocessing::connection::{Client, Connection};
use multiprocessing::managers::{
    Address, AuthKey, BaseManager, Caller, DictProxy, Error, Exception, ListProxy, Object, Outcome,
    Proxy, Raised, Registry, Server, Shared, SyncManager,
};
use multiprocessing::process::ProcessBuilder;
use multiprocessing::{ErrorKind, StartMethod, get_context, pipe};
use multiprocessing_tests::helpers::{BOUND, eventually, within};
use multiprocessing_tests::per_method;

fn s(x: &str) -> Object {
    Object::Str(x.into())
}

fn int(i: i128) -> Object {
    Object::Int(i)
}

fn started(method: StartMethod) -> SyncManager {
    get_context(method).manager().unwrap()
}

/// A child's side: fills the dict and list it was given.
fn fill(d: DictProxy, l: ListProxy, id: i128) -> i32 {
    for i in 0..20 {
        d.set(Object::Tuple(vec![int(id), int(i)]), int(i * id))
            .unwrap();
        l.append(int(id)).unwrap();
    }
    0
}

fn dict_and_list_from_two_processes(method: StartMethod) {
    let m = started(method);
    let ctx = get_context(method);
    let d = m.dict().unwrap();
    let l = m.list(Vec::new()).unwrap();
    let children: Vec<_> = (1..=2)
        .map(|id| ctx.start(fill, (d.clone(), l.clone(), id)).unwrap())
        .collect();
    for c in children {
        assert_eq!(c.join().unwrap(), 0);
    }
    assert_eq!(d.len().unwrap(), 40);
    assert_eq!(
        d.get_item(Object::Tuple(vec![int(2), int(7)])).unwrap(),
        int(14)
    );
    assert_eq!(l.len().unwrap(), 40);
    assert_eq!(l.count(int(1)).unwrap(), 20);
    assert_eq!(l.count(int(2)).unwrap(), 20);
}

/// Uses the proxy it was given, after the sender dropped its own.
fn use_after_sender_dropped(l: ListProxy, mut go: Connection) -> i32 {
    // The parent drops its proxy, then says so.
    let () = go.recv().unwrap();
    l.append(s("from the child")).unwrap();
    i32::try_from(l.len().unwrap()).unwrap()
}

fn a_proxy_in_transit_keeps_its_referent(method: StartMethod) {
    let m = started(method);
    let base = m.number_of_objects().unwrap();
    let l = m.list(vec![s("first")]).unwrap();
    let (mut tell, go) = pipe(true).unwrap();
    let child = get_context(method)
        .start(use_after_sender_dropped, (l.clone(), go))
        .unwrap();
    drop(l);
    tell.send(&()).unwrap();
    // The child's claimed reference kept the list alive.
    assert_eq!(child.join().unwrap(), 2);
    eventually("the list is freed once the child is gone", || {
        m.number_of_objects().unwrap() == base
    });
}

fn objects_freed_after_a_client_is_killed(method: StartMethod) {
    let m = started(method);
    let base = m.number_of_objects().unwrap();
    let (mut ready, theirs) = pipe(true).unwrap();
    let address = m.address().to_string();
    let p = get_context(method)
        .process(hold_objects_and_wait, (address, theirs))
        .start()
        .unwrap();
    let made: usize = ready.recv().unwrap();
    assert_eq!(made, 3);
    assert_eq!(m.number_of_objects().unwrap(), base + 3);
    p.kill().unwrap();
    p.join().unwrap();
    eventually("a killed client's objects are freed", || {
        m.number_of_objects().unwrap() == base
    });
}

/// Connects to the manager at `address`, makes three objects, says so, and waits to be killed.
fn hold_objects_and_wait(address: String, mut ready: Connection) {
    let m = BaseManager::builder()
        .address(address.parse().unwrap())
        .connect()
        .unwrap();
    let held = (
        m.dict().unwrap(),
        m.list(vec![int(1)]).unwrap(),
        m.namespace().unwrap(),
    );
    ready.send(&3usize).unwrap();
    // Blocks until killed (the parent never sends).
    let _ = ready.recv::<()>();
    drop(held);
}

#[test]
fn a_forked_child_uses_an_inherited_proxy() {
    let m = started(StartMethod::ForkServer);
    let d = m.dict().unwrap();
    d.set(s("parent"), int(1)).unwrap();
    let inherited = d.clone();
    let p = ProcessBuilder::closure(move || {
        // The child's own session takes its own reference on first use.
        inherited.set(s("child"), int(2)).unwrap();
        assert_eq!(inherited.len().unwrap(), 2);
    })
    .context(get_context(StartMethod::Fork).as_process())
    .start()
    .unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(d.get_item(s("child")).unwrap(), int(2));
    // The parent's proxy still works, and the dict is freed when it drops.
    let base = m.number_of_objects().unwrap();
    drop(d);
    assert_eq!(m.number_of_objects().unwrap(), base - 1);
}

#[test]
fn the_documentation_dict_list_and_namespace() {
    let m = started(StartMethod::ForkServer);
    let d = m.dict().unwrap();
    d.set(int(1), s("1")).unwrap();
    d.set(s("2"), int(2)).unwrap();
    d.set(Object::Float(0.25), Object::None).unwrap();
    let l = m.list((0..10).map(int).collect()).unwrap();
    l.reverse().unwrap();
    assert_eq!(d.to_string(), "{0.25: None, 1: '1', '2': 2}");
    assert_eq!(l.to_string(), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
    assert!(format!("{d:?}").starts_with("<DictProxy object, typeid 'dict' at 0x"));
    let ns = m.namespace().unwrap();
    ns.set("x", &10).unwrap();
    ns.set("y", "hello").unwrap();
    assert_eq!(ns.to_string(), "Namespace(x=10, y='hello')");
    assert_eq!(
        ns.get::<Object>("z").unwrap_err().kind(),
        ErrorKind::Unsupported,
        "AttributeError"
    );
    let e = d.get_item(s("missing")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "KeyError: 'missing'");
    assert_eq!(l.get(42).unwrap_err().kind(), ErrorKind::OutOfRange);
    // The Proxy Objects section's slices.
    let l = m.list((0..10).map(int).collect()).unwrap();
    assert_eq!(
        Object::List(l.get_slice(Some(2), Some(5), None).unwrap()),
        Object::List((2..5).map(int).collect())
    );
    l.set_slice(Some(2), Some(4), None, vec![s("a"), s("b"), s("c")])
        .unwrap();
    assert_eq!(l.to_string(), "[0, 1, 'a', 'b', 'c', 4, 5, 6, 7, 8, 9]");
    let v = m.value("i", int(7)).unwrap();
    v.set(int(8)).unwrap();
    assert_eq!(v.get().unwrap(), int(8));
}

#[test]
fn a_proxy_inside_another_object_refers_to_its_referent() {
    let m = started(StartMethod::ForkServer);
    let base = m.number_of_objects().unwrap();
    let a = m.list(Vec::new()).unwrap();
    let b = m.list(Vec::new()).unwrap();
    a.append(&b).unwrap(); // Python's a.append(b)
    assert_eq!(format!("{a} {b}"), "[[]] []");
    b.append(s("hello")).unwrap();
    assert_eq!(format!("{a} {b}"), "[['hello']] ['hello']");
    // Read back, the element is a reference: a proxy to the same list.
    let inner = a.adopt(&a.get(0).unwrap()).unwrap();
    assert!(format!("{inner:?}").starts_with("<ListProxy object, typeid 'list' at 0x"));
    inner.call_method("append", vec![s("again")]).unwrap();
    assert_eq!(
        format!("{a} {b}"),
        "[['hello', 'again']] ['hello', 'again']"
    );
    // `b` lives while `a` holds it, and goes with `a`.
    drop((b, inner));
    assert_eq!(m.number_of_objects().unwrap(), base + 2);
    drop(a);
    assert_eq!(m.number_of_objects().unwrap(), base);
}

#[test]
fn objects_are_freed_when_the_last_proxy_drops() {
    let m = started(StartMethod::ForkServer);
    let base = m.number_of_objects().unwrap();
    let d = m.dict().unwrap();
    let d2 = d.clone();
    assert_eq!(m.number_of_objects().unwrap(), base + 1);
    drop(d);
    d2.set(int(1), int(1)).unwrap();
    assert_eq!(m.number_of_objects().unwrap(), base + 1);
    drop(d2);
    assert_eq!(m.number_of_objects().unwrap(), base);
    assert!(m.debug_info().unwrap().is_empty());
}

/// A manager's initializer: records the process it runs in.
fn record_pid(path: String) {
    std::fs::write(path, std::process::id().to_string()).unwrap();
}

#[test]
fn the_initializer_runs_in_the_server_before_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("initialized").to_str().unwrap().to_owned();
    let m = BaseManager::builder()
        .initializer(record_pid, (path.clone(),))
        .start()
        .unwrap();
    // `start` returns once the server serves, which is after its initializer returned.
    let ran_in: u32 = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    assert_eq!(Some(ran_in), m.pid());
    assert_ne!(ran_in, std::process::id());
    m.dict().unwrap();
}

/// Arguments that encode but refuse to decode.
struct Undecodable;

impl serde::Serialize for Undecodable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl<'de> serde::Deserialize<'de> for Undecodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("refuses to decode"))
    }
}

fn takes_undecodable(_: Undecodable) {}

#[test]
fn an_initializer_whose_arguments_do_not_decode_fails_the_start() {
    let e = BaseManager::builder()
        .initializer(takes_undecodable, (Undecodable,))
        .start()
        .unwrap_err();
    assert!(matches!(e, Error::StartFailed(_)), "{e:?}");
    let message = e.to_string();
    assert!(
        message.contains("initializer's arguments") && message.contains("refuses to decode"),
        "{e}"
    );
}

#[test]
fn a_wrong_authkey_is_refused() {
    let m = BaseManager::builder()
        .authkey(AuthKey::new(b"right".to_vec()))
        .start()
        .unwrap();
    let e = BaseManager::builder()
        .address(m.address().clone())
        .authkey(AuthKey::new(b"wrong".to_vec()))
        .connect()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    let ok = BaseManager::builder()
        .address(m.address().clone())
        .authkey(AuthKey::new(b"right".to_vec()))
        .connect()
        .unwrap();
    ok.dict().unwrap();
}

fn raw(address: &Address) -> UnixStream {
    use std::os::linux::net::SocketAddrExt;
    let Address::Abstract(name) = address else {
        panic!("the default address is abstract: {address}");
    };
    let a = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
    UnixStream::connect_addr(&a).unwrap()
}

#[test]
fn garbage_silence_and_half_requests_leave_the_server_serving() {
    let m = started(StartMethod::ForkServer);
    let d = m.dict().unwrap();
    // A client that never says a word, kept open throughout.
    let _silent = raw(m.address());
    // Garbage before the handshake, and a frame announcing 2 GiB.
    let mut g = raw(m.address());
    g.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut huge = raw(m.address());
    huge.write_all(&0x7fff_ffffu32.to_be_bytes()).unwrap();
    // An authenticated client that sends half a request and disconnects.
    let mut half = Client::builder(m.address().clone())
        .authkey(multiprocessing::runtime::identity::current().authkey)
        .connect()
        .unwrap();
    half.send_bytes(&[0u8, 0]).unwrap(); // not a request: the server drops it
    drop(half);
    // Authenticated clients sending random frames (a fixed pseudo-random sequence).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20 {
        let mut c = Client::builder(m.address().clone())
            .authkey(multiprocessing::runtime::identity::current().authkey)
            .connect()
            .unwrap();
        let frame: Vec<u8> = (0..(x % 64) as usize)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        // The server answers what happens to decode and drops the connection at the first
        // frame that does not: either way, only this connection is concerned.
        let _ = c.send_bytes(&frame);
    }
    let mut cut = raw(m.address());
    cut.write_all(&[0, 0, 1, 0, 1, 2, 3]).unwrap();
    drop(cut);
    // Meanwhile everyone else is served at once.
    within("calls beside bad clients", move || {
        for i in 0..100 {
            d.set(int(i), int(i)).unwrap();
        }
        assert_eq!(d.len().unwrap(), 100);
    });
    drop((g, huge));
    m.dict().unwrap().set(int(0), int(0)).unwrap();
}

#[test]
fn manager_gone_after_the_server_is_killed() {
    let m = started(StartMethod::ForkServer);
    let d = m.dict().unwrap();
    d.set(int(1), int(1)).unwrap();
    let pid = m.pid().unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let e = within("a call to a dead server", move || d.len().unwrap_err());
    assert!(matches!(e, Error::ManagerGone { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::WorkerLost);
}

#[test]
fn shutdown_is_idempotent_and_later_calls_fail() {
    let mut m = started(StartMethod::ForkServer);
    let l = m.list(Vec::new()).unwrap();
    m.shutdown().unwrap();
    m.shutdown().unwrap();
    assert!(matches!(l.len().unwrap_err(), Error::ManagerGone { .. }));
    assert_eq!(m.dict().unwrap_err().kind(), ErrorKind::NotStarted);
}

#[test]
fn a_server_served_in_this_process_over_tcp() {
    let server = BaseManager::builder()
        .address("127.0.0.1:0".parse().unwrap())
        .get_server()
        .unwrap();
    let address = server.address().clone();
    let t = std::thread::spawn(move || server.serve_forever());
    let mut m = BaseManager::builder().address(address).connect().unwrap();
    let d = m.dict().unwrap();
    d.set(s("k"), s("v")).unwrap();
    assert_eq!(d.get(s("k")).unwrap(), Some(s("v")));
    assert_eq!(d.get(s("nope")).unwrap(), None);
    drop(d);
    m.shutdown().unwrap();
    within("serve_forever returns after a shutdown", move || {
        t.join().unwrap().unwrap();
    });
}

fn append_many(l: ListProxy, id: i128, n: i128) -> i32 {
    for i in 0..n {
        l.append(Object::Tuple(vec![int(id), int(i)])).unwrap();
    }
    0
}

#[test]
fn many_concurrent_clients() {
    const PROCS: i128 = 6;
    const THREADS: i128 = 4;
    const N: i128 = 200;
    let m = started(StartMethod::ForkServer);
    let l = m.list(Vec::new()).unwrap();
    let ctx = get_context(StartMethod::ForkServer);
    let children: Vec<_> = (0..PROCS)
        .map(|id| ctx.start(append_many, (l.clone(), id, N)).unwrap())
        .collect();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let l = l.clone();
            std::thread::spawn(move || append_many(l, 100 + t, N))
        })
        .collect();
    for c in children {
        assert_eq!(c.join().unwrap(), 0);
    }
    for t in threads {
        assert_eq!(t.join().unwrap(), 0);
    }
    let all = l.to_vec().unwrap();
    assert_eq!(all.len() as i128, (PROCS + THREADS) * N);
    // Each writer's items arrive in its order.
    for id in (0..PROCS).chain(100..100 + THREADS) {
        let mine: Vec<_> = all
            .iter()
            .filter_map(|o| match o {
                Object::Tuple(v) if v[0] == int(id) => Some(v[1].clone()),
                _ => None,
            })
            .collect();
        assert_eq!(mine, (0..N).map(int).collect::<Vec<_>>());
    }
}

#[test]
fn an_untyped_proxy_calls_by_name() {
    let m = started(StartMethod::ForkServer);
    let p: Proxy = m.create("dict", Vec::new()).unwrap();
    p.call_method("__setitem__", vec![s("a"), int(1)]).unwrap();
    assert_eq!(p.get_value().unwrap(), {
        let mut d = std::collections::BTreeMap::new();
        d.insert(s("a"), int(1));
        Object::Dict(d)
    });
    let e = p.call_method("no_such_method", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let e = m.create("no_such_type", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
}

/// A user type whose `wait` waits in the server (without blocking it) until `open` is called.
#[derive(Default)]
struct Gate(Rc<RefCell<GateState>>);

#[derive(Default)]
struct GateState {
    open: bool,
    waiting: usize,
    wakers: Vec<Waker>,
}

/// One caller's wait; dropping it (the caller hung up) stops counting it.
struct WaitOpen(Rc<RefCell<GateState>>);

impl Future for WaitOpen {
    type Output = Result<Object, Raised>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.0.borrow_mut();
        if st.open {
            Poll::Ready(Ok(Object::Bool(true)))
        } else {
            st.wakers.push(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for WaitOpen {
    fn drop(&mut self) {
        self.0.borrow_mut().waiting -= 1;
    }
}

impl Shared for Gate {
    fn call(&mut self, method: &str, _args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "wait" => {
                self.0.borrow_mut().waiting += 1;
                Ok(Outcome::Wait(Box::pin(WaitOpen(self.0.clone()))))
            }
            "waiting" => Ok(Outcome::Return(int(self.0.borrow().waiting as i128))),
            "open" => {
                let mut st = self.0.borrow_mut();
                st.open = true;
                st.wakers.drain(..).for_each(Waker::wake);
                Ok(Outcome::Return(Object::None))
            }
            _ => Err(Raised::new(Exception::AttributeError, method)),
        }
    }

    fn value(&self) -> Object {
        Object::Bool(self.0.borrow().open)
    }
}

fn make_gate(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Gate::default()))
}

fn wait_at(gate: Proxy) -> bool {
    gate.call_method("wait", Vec::new()).unwrap() == Object::Bool(true)
}

fn waiting(gate: &Proxy) -> Object {
    gate.call_method("waiting", Vec::new()).unwrap()
}

fn a_waiting_call_blocks_only_its_caller(method: StartMethod) {
    let ctx = get_context(method);
    let m = ctx
        .manager_builder()
        .register("Gate", make_gate)
        .start()
        .unwrap();
    let gate = m.create("Gate", Vec::new()).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| ctx.start(wait_at, (gate.clone(),)).unwrap())
        .collect();
    // A killed waiter's call is cancelled: it stops being counted.
    let doomed = ctx.process(wait_at, (gate.clone(),)).start().unwrap();
    eventually("three callers wait", || waiting(&gate) == int(3));
    doomed.kill().unwrap();
    doomed.join().unwrap();
    eventually("the killed caller's wait is dropped", || {
        waiting(&gate) == int(2)
    });
    // The server serves everyone else meanwhile.
    let d = m.dict().unwrap();
    d.set(int(1), int(2)).unwrap();
    assert_eq!(d.get_item(int(1)).unwrap(), int(2));
    gate.call_method("open", Vec::new()).unwrap();
    for w in waiters {
        assert!(w.join().unwrap());
    }
}

per_method!(
    dict_and_list_from_two_processes,
    a_proxy_in_transit_keeps_its_referent,
    objects_freed_after_a_client_is_killed,
    a_waiting_call_blocks_only_its_caller,
    typed_proxies_are_views_of_the_same_objects,
);

#[test]
fn a_silent_client_is_dropped_at_the_handshake_deadline() {
    let server = Server::builder()
        .registry(Registry::builtin())
        .handshake_timeout(Duration::from_millis(200))
        .bind()
        .unwrap();
    let address = server.address().clone();
    let t = std::thread::spawn(move || server.serve_forever());
    let mut silent = raw(&address);
    silent.set_read_timeout(Some(BOUND)).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    // The challenge arrives, then end of file when the deadline passes.
    silent.read_to_end(&mut got).unwrap();
    assert!(got.len() > 4, "the server's challenge");
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert!(start.elapsed() < BOUND);
    let mut m = BaseManager::builder().address(address).connect().unwrap();
    m.shutdown().unwrap();
    within("serve_forever returns", move || t.join().unwrap().unwrap());
}

/// A user type that records who joined, and forgets a client that is gone.
#[derive(Default)]
struct Roster(std::collections::BTreeSet<(u64, u64)>);

impl Shared for Roster {
    fn call(&mut self, method: &str, _: Vec<Object>, caller: Caller) -> Result<Outcome, Raised> {
        match method {
            "join" => {
                self.0.insert((caller.session, caller.thread));
                Ok(Outcome::Return(Object::None))
            }
            "sessions" => {
                let sessions: std::collections::BTreeSet<_> = self.0.iter().map(|c| c.0).collect();
                Ok(Outcome::Return(int(sessions.len() as i128)))
            }
            "callers" => Ok(Outcome::Return(int(self.0.len() as i128))),
            _ => Err(Raised::new(Exception::AttributeError, method)),
        }
    }

    fn client_gone(&mut self, session: u64) {
        self.0.retain(|c| c.0 != session);
    }

    fn value(&self) -> Object {
        int(self.0.len() as i128)
    }
}

fn make_roster(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Roster::default()))
}

fn join_roster(roster: Proxy) -> i32 {
    roster.call_method("join", Vec::new()).unwrap();
    0
}

#[test]
fn a_type_sees_its_callers_and_hears_when_a_client_is_gone() {
    let ctx = get_context(StartMethod::ForkServer);
    let m = ctx
        .manager_builder()
        .register("Roster", make_roster)
        .start()
        .unwrap();
    let roster = m.create("Roster", Vec::new()).unwrap();
    join_roster(roster.clone());
    let r = roster.clone();
    std::thread::spawn(move || join_roster(r)).join().unwrap();
    let count = |what| roster.call_method(what, Vec::new()).unwrap();
    // Two threads of one client: two callers, one session.
    assert_eq!((count("callers"), count("sessions")), (int(2), int(1)));
    assert_eq!(
        ctx.start(join_roster, (roster.clone(),))
            .unwrap()
            .join()
            .unwrap(),
        0
    );
    // The child's session ended with it.
    eventually("the exited child is forgotten", || {
        count("sessions") == int(1)
    });
    assert_eq!(count("callers"), int(2));
}

#[test]
fn a_forked_child_uses_its_parents_manager_over_its_own_connections() {
    let m = std::sync::Arc::new(started(StartMethod::ForkServer));
    let d = m.dict().unwrap();
    let base = m.number_of_objects().unwrap();
    let inherited = m.clone();
    let p = ProcessBuilder::closure(move || {
        // The inherited manager makes objects through the child's own session (on the
        // parent's connections, the replies would cross).
        let l = inherited.list(vec![int(1)]).unwrap();
        for i in 0..100 {
            l.append(int(i)).unwrap();
        }
        assert_eq!(l.len().unwrap(), 101);
        std::mem::forget(l); // its reference goes with the child's session
    })
    .context(get_context(StartMethod::Fork).as_process())
    .start()
    .unwrap();
    // The parent's calls meanwhile use the parent's connections.
    for i in 0..100 {
        d.set(int(i), int(i)).unwrap();
    }
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(d.len().unwrap(), 100);
    eventually("the child's list goes with its session", || {
        m.number_of_objects().unwrap() == base
    });
}

/// A user type whose `make` answers with a new shared list (Python's `method_to_typeid`).
struct Factory;

impl Shared for Factory {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "make" => Ok(Outcome::Share {
                typeid: "list".into(),
                object: Box::new(multiprocessing::managers::types::List(args)),
            }),
            _ => Err(Raised::new(Exception::AttributeError, method)),
        }
    }

    fn value(&self) -> Object {
        Object::None
    }
}

fn make_factory(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Factory))
}

#[test]
fn a_method_can_answer_with_a_new_shared_object() {
    let m = BaseManager::builder()
        .register("Factory", make_factory)
        .start()
        .unwrap();
    let factory = m.create("Factory", Vec::new()).unwrap();
    let base = m.number_of_objects().unwrap();
    let made: ListProxy = ListProxy::from_proxy(
        factory
            .call_method_proxy("make", vec![int(1), int(2)])
            .unwrap(),
    );
    assert_eq!(made.to_string(), "[1, 2]");
    assert!(format!("{made:?}").starts_with("<ListProxy object, typeid 'list'"));
    assert_eq!(m.number_of_objects().unwrap(), base + 1);
    drop(made);
    assert_eq!(m.number_of_objects().unwrap(), base);
}

#[test]
fn a_ticket_nobody_claims_expires_and_frees_its_object() {
    let m = BaseManager::builder()
        .ticket_lifetime(Duration::from_millis(100))
        .start()
        .unwrap();
    let base = m.number_of_objects().unwrap();
    let l = m.list(vec![int(1)]).unwrap();
    // Sent, but never received: the ticket holds the list after the sender drops its proxy.
    let in_transit = multiprocessing::runtime::codec::encode(&l).unwrap();
    drop(l);
    assert_eq!(m.number_of_objects().unwrap(), base + 1);
    eventually("the unclaimed ticket expires", || {
        m.number_of_objects().unwrap() == base
    });
    // A receiver that arrives after that finds nothing to claim.
    let late = multiprocessing::runtime::codec::decode::<ListProxy>(&in_transit);
    assert!(late.is_err());
}

/// A child's side of the typed test: the same dict and list, seen with Rust types.
fn typed_child(scores: DictProxy<String, u32>, log: ListProxy<(u32, String)>) -> u32 {
    let before = scores.get("ada").unwrap().unwrap_or(0);
    scores.set("ada", before + 1).unwrap();
    log.append((std::process::id(), "bumped ada".to_string()))
        .unwrap();
    scores.get_item("ada").unwrap()
}

fn typed_proxies_are_views_of_the_same_objects(method: StartMethod) {
    let m = started(method);
    let scores: DictProxy<String, u32> = m.dict_of().unwrap();
    scores.set("ada", 36u32).unwrap();
    let log = m.list_of::<(u32, String)>([]).unwrap();
    let child = get_context(method)
        .start(typed_child, (scores.clone(), log.clone()))
        .unwrap();
    assert_eq!(child.join().unwrap(), 37);
    assert_eq!(scores.items().unwrap(), [("ada".to_string(), 37)]);
    assert_eq!(log.get(0).unwrap().1, "bumped ada");
    // The untyped view of the same dict takes keys of any kind; the typed view then refuses
    // the entry it cannot read, with a codec error, and reads the others.
    let any: DictProxy = DictProxy::from_proxy(scores.clone().into_proxy());
    any.set(0.25, ()).unwrap();
    assert_eq!(any.to_string(), "{0.25: None, 'ada': 37}");
    assert_eq!(scores.keys().unwrap_err().kind(), ErrorKind::Codec);
    assert_eq!(scores.get_item("ada").unwrap(), 37);
    let v = m.value_of("d", &2.5f64).unwrap();
    v.set(3.5).unwrap();
    assert_eq!(v.get().unwrap(), 3.5);
}

/// A user type whose methods panic, at once or while waiting.
struct Faulty;

impl Shared for Faulty {
    fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "boom" => panic!("the faulty type gives up"),
            "boom_later" => Ok(Outcome::Wait(Box::pin(async {
                panic!("the faulty type gives up while waiting")
            }))),
            "ok" => Ok(Outcome::Return(int(1))),
            _ => Err(Raised::new(Exception::AttributeError, method)),
        }
    }

    fn value(&self) -> Object {
        Object::None
    }
}

fn make_faulty(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Faulty))
}

#[test]
fn a_panicking_method_is_the_callers_error_and_the_server_goes_on() {
    let m = BaseManager::builder()
        .register("Faulty", make_faulty)
        .start()
        .unwrap();
    let f = m.create("Faulty", Vec::new()).unwrap();
    let e = f.call_method("boom", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    assert!(e.to_string().contains("the faulty type gives up"), "{e}");
    let e = f.call_method("boom_later", Vec::new()).unwrap_err();
    assert_eq!(e.exception(), Some(Exception::RuntimeError), "{e}");
    // The same connection and object still answer.
    assert_eq!(f.call_method("ok", Vec::new()).unwrap(), int(1));
    assert_eq!(m.number_of_objects().unwrap(), 1);
}
