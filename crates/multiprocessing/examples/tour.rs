//! A tour of multiprocessing for Rust: `cargo run --release --example tour`.
//!
//! Each stop shows one capability next to the Python it mirrors, and checks its own result, so
//! the tour doubles as a smoke test of the whole library on a new machine.

use std::time::{Duration, Instant};

use indicatif::ProgressIterator;

#[path = "python/cpython.rs"]
mod cpython;

use multiprocessing::connection::Client;
use multiprocessing::managers::{BaseManager, DictProxy, Object, managed};
use multiprocessing::{
    Address, Array, AuthKey, Connection, ErrorKind, Event, JoinableQueue, Listener, Lock, Pool,
    Process, Queue, RawValue, StartMethod, Value, cpu_count, current_process, get_context, pipe,
    start, wait,
};

type Result<T = ()> = std::result::Result<T, multiprocessing::Error>;

fn main() -> Result {
    println!("multiprocessing for Rust: a tour ({} CPUs)\n", cpu_count()?);
    pipes()?;
    listener_and_client()?;
    processes()?;
    contexts()?;
    typed_results()?;
    locks_and_shared_values()?;
    queues()?;
    events_and_wait()?;
    pool()?;
    async_waits()?;
    managers()?;
    custom_managers()?;
    python()?;
    println!("\ntour complete");
    Ok(())
}

fn stop(title: &str, python: &str) {
    println!("== {title}\n   python: {python}");
}

/// `Pipe()`: two connected ends that carry serde values or raw bytes.
fn pipes() -> Result {
    stop(
        "Pipe",
        "a, b = Pipe(); a.send([42, None, 'hello']); b.recv()",
    );
    let (mut a, mut b) = pipe(true)?;
    a.send(&(42, None::<u8>, "hello"))?;
    let got: (i32, Option<u8>, String) = b.recv()?;
    println!("   received {got:?}");
    b.send_bytes(b"raw bytes, framed as CPython frames them")?;
    println!(
        "   received {:?}",
        String::from_utf8_lossy(&a.recv_bytes()?)
    );
    Ok(())
}

/// `Listener`/`Client` with an authkey: the HMAC challenge CPython speaks, over a Unix socket.
fn listener_and_client() -> Result {
    stop(
        "Listener and Client",
        "Listener(authkey=b'secret password'); Client(address, authkey=b'secret password')",
    );
    let key = AuthKey::new(b"secret password".to_vec());
    let listener = Listener::builder().authkey(key.clone()).bind()?;
    let address: Address = listener.address().clone();
    let server = std::thread::spawn(move || -> Result<Vec<u8>> {
        let mut conn = listener.accept()?;
        let msg = conn.recv_bytes()?;
        conn.send_bytes(&[b"echo:".as_slice(), &msg].concat())?;
        Ok(msg)
    });
    let start = Instant::now();
    let mut conn = Client::builder(address.clone()).authkey(key).connect()?;
    println!("   authenticated with {address} in {:?}", start.elapsed());
    conn.send_bytes(b"hello")?;
    println!(
        "   reply {:?}",
        String::from_utf8_lossy(&conn.recv_bytes()?)
    );
    server.join().expect("server thread")?;

    let wrong = Listener::builder()
        .authkey(AuthKey::new(b"right".to_vec()))
        .bind()?;
    let addr = wrong.address().clone();
    let t = std::thread::spawn(move || wrong.accept().map(drop));
    let err = Client::builder(addr)
        .authkey(AuthKey::new(b"wrong".to_vec()))
        .connect()
        .unwrap_err();
    println!("   a wrong key is refused: {err}");
    let _ = t.join();
    Ok(())
}

fn greet(name: String) {
    println!(
        "   hello {name} from {} (pid {})",
        current_process().name(),
        std::process::id()
    );
}

/// `Process(target=f, args=(...))` under each start method.
fn processes() -> Result {
    stop(
        "Process",
        "ctx = get_context(method); p = ctx.Process(target=f, args=('bob',)); p.start(); p.join()",
    );
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::ForkServer,
    ] {
        let ctx = get_context(method);
        let start = Instant::now();
        let p = ctx.process(greet, (format!("bob ({method})"),)).start()?;
        let code = p.join()?;
        println!(
            "   {p} exit code {code}, started and joined in {:?}",
            start.elapsed()
        );
    }
    Ok(())
}

fn count_to(lock: Lock, total: Value<u64>, times: u64) {
    for _ in 0..times {
        let _guard = lock.lock().expect("no holder dies here");
        total.update(|t| *t += 1).expect("lock the value");
    }
}

/// A context object: a start method, and the factory for everything else.
fn contexts() -> Result {
    stop(
        "Context objects",
        "ctx = get_context('spawn'); lock = ctx.Lock(); v = ctx.Value('Q', 0); ctx.Process(...)",
    );
    let ctx = get_context(StartMethod::Spawn);
    let (lock, total) = (ctx.lock()?, ctx.value(0u64)?);
    let children: Vec<Process> = (0..2)
        .map(|_| {
            ctx.process(count_to, (lock.clone(), total.clone(), 1000))
                .start()
        })
        .collect::<std::result::Result<_, _>>()?;
    for p in &children {
        p.join()?;
    }
    println!(
        "   two {} children counted to {} under ctx.lock()",
        ctx.get_start_method(),
        total.get()?
    );
    assert_eq!(total.get()?, 2000, "an increment was lost");
    Ok(())
}

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn fails(why: String) -> u64 {
    panic!("{why}")
}

/// Beyond Python: a child's return value, and its panic, as `thread::spawn(..).join()` gives them.
fn typed_results() -> Result {
    stop(
        "Typed results (beyond Python)",
        "Python has no direct twin; Pool.apply comes closest",
    );
    let handles: Vec<_> = (25..29)
        .map(|n| start(fib, (n,)))
        .collect::<std::result::Result<_, _>>()?;
    let results: Vec<u64> = handles
        .into_iter()
        .map(|h| h.join())
        .collect::<std::result::Result<_, _>>()?;
    println!("   fib(25..29) computed in four processes: {results:?}");
    let err = start(
        fails,
        ("a child's panic comes back as an error".to_string(),),
    )?
    .join()
    .unwrap_err();
    println!("   {err}");
    Ok(())
}

fn add_under_lock(lock: Lock, counter: RawValue<u64>, times: u32) {
    for _ in 0..times {
        let _guard = lock.lock().expect("no holder dies here");
        counter.set(counter.get() + 1);
    }
}

#[allow(clippy::approx_constant, reason = "the value of Python's example")]
fn negate(num: Value<f64>, arr: Array<i32>) {
    num.set(3.1415927).expect("set the value");
    arr.update(|a| a.iter_mut().for_each(|x| *x = -*x))
        .expect("lock the array");
}

/// `Lock`, `Value` and `Array` in shared memory, blocking on a futex.
fn locks_and_shared_values() -> Result {
    stop(
        "Lock, Value and Array",
        "lock = Lock(); num = Value('d', 0.0); arr = Array('i', range(10))",
    );
    let lock = Lock::new()?;
    let counter = RawValue::new(0u64)?;
    let start = Instant::now();
    let children: Vec<Process> = (0..4)
        .map(|_| Process::builder(add_under_lock, (lock.clone(), counter.clone(), 25_000)).start())
        .collect::<std::result::Result<_, _>>()?;
    for p in &children {
        p.join()?;
    }
    println!(
        "   4 processes x 25000 locked increments = {} in {:?}",
        counter.get(),
        start.elapsed()
    );
    assert_eq!(counter.get(), 100_000, "an increment was lost");

    let num = Value::new(0.0f64)?;
    let arr = Array::new(&(0..10).collect::<Vec<i32>>())?;
    let p = Process::new(negate, (num.clone(), arr.clone()));
    p.start()?;
    p.join()?;
    println!(
        "   a child set num = {} and negated arr = {:?}",
        num.get()?,
        arr.to_vec()?
    );
    Ok(())
}

fn produce(q: Queue<(usize, u64)>, id: usize, n: u64) {
    for i in 0..n {
        q.put((id, i)).expect("an unbounded queue takes every item");
    }
}

fn square_tasks(tasks: JoinableQueue<u64>, done: Queue<u64>) {
    while let Ok(x) = tasks.get() {
        done.put(x * x).expect("put a result");
        tasks.task_done().expect("one task_done per item taken");
    }
}

/// `Queue` and `JoinableQueue`: a ring in shared memory, many producers and consumers.
fn queues() -> Result {
    stop(
        "Queue and JoinableQueue",
        "q = Queue(); Process(target=produce, args=(q,)).start(); q.get(); tasks.join()",
    );
    let q = Queue::new()?;
    let start = Instant::now();
    let producers: Vec<Process> = (0..4)
        .map(|id| Process::builder(produce, (q.clone(), id, 25_000)).start())
        .collect::<std::result::Result<_, _>>()?;
    let mut next = [0u64; 4];
    for _ in 0..100_000 {
        let (id, i) = q.get()?;
        assert_eq!(i, next[id], "a producer's items arrive in its order");
        next[id] += 1;
    }
    println!(
        "   4 processes put 100000 items, each producer's in its order, in {:?}",
        start.elapsed()
    );
    for p in &producers {
        p.join()?;
    }
    // Beyond Python, whose get() would block forever here.
    println!(
        "   get() on an empty queue no other process holds -> {}",
        q.get().unwrap_err()
    );

    let (tasks, done) = (JoinableQueue::new()?, Queue::new()?);
    for _ in 0..2 {
        // Daemonic, as in Python's example: they end with the tour.
        Process::builder(square_tasks, (tasks.clone(), done.clone()))
            .daemon(true)
            .start()?;
    }
    for x in 1..=10 {
        tasks.put(x)?;
    }
    tasks.join();
    let total: u64 = done.try_iter().sum();
    println!(
        "   tasks.join() returned once two workers marked 10 tasks done; sum of squares {total}"
    );
    assert_eq!(total, 385, "a result was lost");
    Ok(())
}

fn set_later(event: Event, mut conn: Connection) {
    conn.recv::<()>().expect("the go signal");
    event.set();
}

/// `Event` across processes, and `connection.wait` over connections and process sentinels.
fn events_and_wait() -> Result {
    stop(
        "Event and wait",
        "event.wait(timeout); multiprocessing.connection.wait([conn, p.sentinel])",
    );
    let event = Event::new()?;
    let (mut go, theirs) = pipe(true)?;
    let p = Process::new(set_later, (event.clone(), theirs));
    p.start()?;
    println!(
        "   before the signal, wait(10 ms) -> {}",
        event.wait_timeout(Duration::from_millis(10)).is_ok()
    );
    go.send(&())?;
    println!(
        "   after the signal, wait(10 s) -> {}",
        event.wait_timeout(Duration::from_secs(10)).is_ok()
    );
    let sentinel = p.sentinel()?;
    let ready = wait(&[&sentinel], Some(Duration::from_secs(10)))?;
    println!("   the child's sentinel is ready: {}", !ready.is_empty());
    p.join()?;
    println!("   {p}");
    Ok(())
}

/// Item 13 stands for a task the OOM killer ends.
fn collatz_steps(n: u64) -> u64 {
    if n == 13 {
        // SAFETY: a plain signal to this very process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    let (mut n, mut steps) = (n, 0);
    while n > 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// `Pool`: `map`, a lazy `imap` with its progress, and a worker killed mid-`map`.
fn pool() -> Result {
    stop(
        "Pool (and a worker lost mid-map)",
        "with Pool(4) as p: p.map(f, range(1, 13)); p.imap(f, ...)",
    );
    let pool = Pool::new(4)?;
    let steps = pool.map(collatz_steps, 1..13)?;
    assert_eq!(steps[6], 16); // 7 takes 16 steps
    println!("   map: Collatz steps of 1..13: {steps:?}");
    let inputs: Vec<u64> = (100..130).collect();
    // imap knows its length, so indicatif draws a bar with the total (on stderr, only when
    // it is a terminal; the tour's stdout stays plain).
    let results = pool.imap(collatz_steps, inputs)?;
    let total = results.len();
    let mut longest = 0;
    for steps in results.progress() {
        longest = longest.max(steps?);
    }
    println!("   imap: {total}/{total} done, the longest run in 100..130: {longest} steps");
    // CPython's pool waits for ever here (gh-66587).
    let err = pool.map_chunksize(collatz_steps, 10..16, 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WorkerLost);
    println!("   {err}");
    println!(
        "   the next map still runs: {:?}",
        pool.map(collatz_steps, [27])?
    );
    Ok(())
}

fn square(x: u64) -> u64 {
    x * x
}

fn put_then_set(q: Queue<u64>, done: Event) {
    for i in 1..=3 {
        q.put(i * 10).expect("a put on an unbounded queue");
    }
    done.set();
}

/// Futures for the waits of queues, events and pool results, awaited together on one tokio
/// thread: no `run_in_executor` thread per wait, as asyncio code needs with Python's.
fn async_waits() -> Result {
    stop(
        "async (beyond Python)",
        "await loop.run_in_executor(None, q.get)   # a thread per blocking wait",
    );
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let q = Queue::<u64>::new()?;
    let done = Event::new()?;
    let pool = Pool::new(2)?;
    let p = Process::new(put_then_set, (q.clone(), done.clone()));
    p.start()?;
    let mut result = pool.apply_async(square, (12,))?;
    let (items, squared) = rt.block_on(async {
        let items = async {
            let mut items = Vec::new();
            for _ in 0..3 {
                items.push(q.get_async().await?);
            }
            done.wait_async().await;
            Ok::<_, multiprocessing::Error>(items)
        };
        tokio::join!(items, &mut result)
    });
    println!(
        "   q.get_async() x3 -> {:?}, then done.wait_async()",
        items?
    );
    println!("   pool.apply_async(square, (12,)).await -> {}", squared?);
    p.join()?;
    Ok(())
}

/// A child's side of the manager stop: counts words into the shared dict.
fn count_words(counts: DictProxy, text: String) {
    for word in text.split_whitespace() {
        let key = Object::Str(word.into());
        let n = counts.get(key.clone()).ok().flatten();
        let n = match n {
            Some(Object::Int(n)) => n,
            _ => 0,
        };
        counts.set(key, Object::Int(n + 1)).expect("a manager call");
    }
}

/// `Manager()`: a server process holding a dict that children change through proxies.
fn managers() -> Result {
    stop(
        "Manager",
        "with Manager() as m: d = m.dict(); Process(target=f, args=(d,)).start(); print(d)",
    );
    let m = multiprocessing::manager()?;
    let counts = m.dict()?;
    let texts = ["to be or not to be", "that is the question"];
    let children = texts
        .iter()
        .map(|t| start(count_words, (counts.clone(), t.to_string())))
        .collect::<Result<Vec<_>>>()?;
    for c in children {
        c.join()?;
    }
    assert_eq!(counts.get_item(Object::Str("to".into()))?, Object::Int(2));
    println!("   word counts from two children: {counts}");
    println!(
        "   {counts:?}, {} objects in the server",
        m.number_of_objects()?
    );
    Ok(())
}

/// A type of one's own, shared: `#[managed]` writes the table the server calls its methods by,
/// and `TallyProxy`, whose methods mirror them.
pub struct Tally {
    total: i64,
}

#[managed]
impl Tally {
    /// What `manager.Tally(start)` runs in the server.
    #[constructor]
    fn new(start: i64) -> Self {
        Tally { total: start }
    }

    /// Adds `n`; each call runs alone in the server, so no update is lost.
    pub fn add(&mut self, n: i64) -> i64 {
        self.total += n;
        self.total
    }

    /// The total so far.
    pub fn total(&self) -> i64 {
        self.total
    }

    /// Not exposed (Python's rule: a name starting with `_`), so no proxy may call it.
    pub fn _reset(&mut self) {
        self.total = 0;
    }
}

/// A child's side of the custom manager stop.
fn add_range(tally: TallyProxy, from: i64, to: i64) {
    for n in from..to {
        tally.add(n).expect("a manager call");
    }
}

/// `BaseManager.register`: a Rust type in a manager, used by two children through proxies.
fn custom_managers() -> Result {
    stop(
        "custom managers",
        "MyManager.register('Tally', Tally); t = m.Tally(0); Process(target=f, args=(t,)).start()",
    );
    let m = BaseManager::builder()
        .register_type::<Tally>("Tally")
        .start()?;
    let tally: TallyProxy = m.create_as("Tally", vec![Object::Int(0)])?;
    let children = [(1, 51), (51, 101)]
        .into_iter()
        .map(|(from, to)| start(add_range, (tally.clone(), from, to)))
        .collect::<Result<Vec<_>>>()?;
    for c in children {
        c.join()?;
    }
    assert_eq!(tally.total()?, 5050);
    println!(
        "   two children added 1..=100 through proxies: {}",
        tally.total()?
    );
    let refused = tally._reset().expect_err("_reset is not exposed");
    assert_eq!(refused.kind(), ErrorKind::Unsupported);
    println!("   tally._reset(): {refused}");
    Ok(())
}

/// The CPython side of the Python stop: sends a dict, prints what it receives, then sends a
/// pickle that Python's own `pickle.loads` would run (`os.system`).
const CPYTHON_PEER: &str = r#"
import os, platform, pickle, sys
from multiprocessing.connection import Client
host, port = sys.argv[1].rsplit(':', 1)
class Unsafe:
    def __reduce__(self):
        return (os.system, ('echo this never runs',))
with Client((host, int(port)), authkey=b'tour') as c:
    c.send({'from': 'CPython ' + platform.python_version(), 'squares': [n * n for n in range(5)]})
    print('   CPython received', repr(c.recv()), flush=True)
    c.send_bytes(pickle.dumps(Unsafe()))
"#;

/// Pickles with CPython: a CPython process's `send()` arrives in `recv_pickle`, ours in its
/// `recv()`; a pickle that would run code in Python stays data here.
fn python() -> Result {
    stop(
        "Python",
        "Client(address, authkey=b'tour').send({...}); conn.recv()   # CPython on the other end",
    );
    let listener = Listener::builder()
        .address("127.0.0.1:0".parse()?)
        .authkey(AuthKey::new(b"tour".to_vec()))
        .bind()?;
    let child = cpython::interpreter()
        .args(["-c", CPYTHON_PEER, &listener.address().to_string()])
        .spawn();
    let Ok(mut child) = child else {
        println!("   skipped: no CPython here (python3, or $PYTHON)");
        return Ok(());
    };
    // A bound on the wait, should the interpreter fail before it connects.
    let mut conn = listener.accept_timeout(Duration::from_secs(30))?;
    println!("   received {}", conn.recv_pickle_value()?);
    conn.send_pickle(&("from Rust", vec![1.5, 2.5], None::<u8>))?;
    let unsafe_pickle = conn.recv_pickle_value()?;
    println!("   a pickle calling {unsafe_pickle} stays data: nothing ran");
    let status = child.wait()?;
    assert!(status.success(), "the CPython peer failed: {status}");
    Ok(())
}
