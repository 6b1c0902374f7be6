//! Managers, "Using a remote manager": a server for one shared queue on a TCP address, one
//! client that puts `'hello'` and another that gets it; then a process-local `Queue`, filled by
//! a worker process, served through a manager to a remote client.
//!
//! ```python
//! >>> queue = queue.Queue()
//! >>> class QueueManager(BaseManager): pass
//! >>> QueueManager.register('get_queue', callable=lambda:queue)
//! >>> m = QueueManager(address=('', 50000), authkey=b'abracadabra')
//! >>> s = m.get_server()
//! >>> s.serve_forever()
//! # one client:                       # another client:
//! >>> m.connect()                     >>> m.connect()
//! >>> queue = m.get_queue()           >>> queue = m.get_queue()
//! >>> queue.put('hello')              >>> queue.get()
//!                                     'hello'
//! ```
//!
//! Prints `'hello'` then `'local hello'`. The server listens on `127.0.0.1` port 0 (a free
//! port) rather than 50000, so runs never collide.
//!
//! A registered constructor is a plain `fn`, called in the server: it hands out the *same*
//! queue each time by cloning one that the serving thread made ([`Queue`](
//! multiprocessing::managers::sync_types::Queue)'s clones share their items), Python's
//! `callable=lambda: queue`.
//!
//! Each role also runs alone, for servers and clients on different hosts:
//! `remote_manager serve HOST:PORT` (prints `serving at ADDRESS`, serves until asked to stop),
//! `remote_manager put ADDRESS ITEM`, `remote_manager get ADDRESS` (prints the item's repr),
//! `remote_manager shutdown ADDRESS`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use multiprocessing::managers::protocol::Exception;
use multiprocessing::managers::sync_types::Queue as SharedQueue;
use multiprocessing::managers::{
    Address, AuthKey, BaseManager, Caller, Object, Outcome, QueueProxy, Raised, Shared,
};
use multiprocessing::process::Target;
use multiprocessing::{Connection, Process, Queue, pipe};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn authkey() -> AuthKey {
    AuthKey::new(b"abracadabra".to_vec())
}

thread_local! {
    /// The queue the server hands out; its thread is the serving thread.
    static QUEUE: SharedQueue = SharedQueue::new(0, false);
    /// The process-local queue of the second server, once it is made.
    static LOCAL: std::cell::RefCell<Option<Queue<String>>> = const { std::cell::RefCell::new(None) };
}

/// Python's `lambda: queue`: the same queue every time.
fn get_queue(_: Vec<Object>) -> std::result::Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(QUEUE.with(SharedQueue::clone)))
}

/// Python's `lambda: queue` for the process-local `multiprocessing.Queue`.
fn get_local_queue(_: Vec<Object>) -> std::result::Result<Box<dyn Shared>, Raised> {
    LOCAL
        .with_borrow(Clone::clone)
        .map(|q| Box::new(LocalQueue(q)) as Box<dyn Shared>)
        .ok_or_else(|| Raised::new(Exception::RuntimeError, "no local queue"))
}

/// A process-local `Queue` as a manager's shared object: `put` and `get`, by name.
struct LocalQueue(Queue<String>);

impl Shared for LocalQueue {
    fn call(
        &mut self,
        method: &str,
        args: Vec<Object>,
        _: Caller,
    ) -> std::result::Result<Outcome, Raised> {
        match (method, args.as_slice()) {
            ("put", [Object::Str(s), ..]) => {
                self.0
                    .put(s.clone())
                    .map_err(|e| Raised::new(Exception::RuntimeError, e.to_string()))?;
                Ok(Outcome::Return(Object::None))
            }
            // The server must not block in a call: it waits for the item without blocking others.
            ("get", _) => Ok(Outcome::Wait(Box::pin(NextItem(self.0.clone())))),
            _ => Err(Raised::new(Exception::AttributeError, method)),
        }
    }

    fn value(&self) -> Object {
        Object::Str("<local queue>".into())
    }
}

/// The next item of a process-local queue, looked for every few milliseconds.
struct NextItem(Queue<String>);

impl Future for NextItem {
    type Output = std::result::Result<Object, Raised>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.try_get() {
            Ok(s) => Poll::Ready(Ok(Object::Str(s))),
            Err(multiprocessing::queues::TryGetError::Empty) => {
                let waker = cx.waker().clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    waker.wake();
                });
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(Raised::new(Exception::RuntimeError, e.to_string()))),
        }
    }
}

/// The server process: binds, reports its address, serves until a client asks it to stop.
fn serve(mut report: Connection, address: String) {
    let mut run = || -> Result<()> {
        let server = BaseManager::builder()
            .address(address.parse()?)
            .authkey(authkey())
            .register("get_queue", get_queue)
            .get_server()?;
        report.send(&server.address().to_string())?;
        server.serve_forever()?;
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("server: {e}");
        std::process::exit(1);
    }
}

/// Python's `Worker` process: puts `'local hello'` on the process-local queue.
fn worker(q: Queue<String>) {
    q.put("local hello".to_string()).unwrap();
}

/// The second server: a process-local queue, filled by a worker, served through a manager.
fn serve_local(mut report: Connection, _address: String) {
    let mut run = || -> Result<()> {
        let queue = Queue::new()?;
        let w = Process::new(worker, (queue.clone(),));
        w.start()?;
        LOCAL.with_borrow_mut(|l| *l = Some(queue));
        let server = BaseManager::builder()
            .address("127.0.0.1:0".parse()?)
            .authkey(authkey())
            .register("get_queue", get_local_queue)
            .get_server()?;
        report.send(&server.address().to_string())?;
        server.serve_forever()?;
        w.join()?;
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("local server: {e}");
        std::process::exit(1);
    }
}

/// Python's client: `m = QueueManager(address=..., authkey=...); m.connect(); m.get_queue()`.
fn connect(address: &str) -> Result<(BaseManager, QueueProxy<String>)> {
    let m = BaseManager::builder()
        .address(address.parse::<Address>()?)
        .authkey(authkey())
        .connect()?;
    let queue = QueueProxy::from_proxy(m.create("get_queue", Vec::new())?);
    Ok((m, queue))
}

fn put(address: String, item: String) {
    let (_m, queue) = connect(&address).unwrap();
    queue.put(item).unwrap();
}

fn get(address: String) {
    let (_m, queue) = connect(&address).unwrap();
    println!("'{}'", queue.get().unwrap());
}

fn shutdown(address: &str) -> Result<()> {
    let (mut m, _) = connect(address)?;
    m.shutdown()?;
    Ok(())
}

/// Starts `target` as a server process and returns it with the address it reports.
fn start_server<F: Target<(Connection, String)>>(
    target: F,
    address: &str,
) -> Result<(Process, String)> {
    let (mut ours, theirs) = pipe(false)?;
    let p = Process::new(target, (theirs, address.to_string()));
    p.start()?;
    let address: String = ours.recv()?;
    Ok((p, address))
}

fn run_session() -> Result<()> {
    // The queue server, and two clients in other processes.
    let (server, address) = start_server(serve, "127.0.0.1:0")?;
    let putter = Process::new(put, (address.clone(), "hello".to_string()));
    putter.start()?;
    putter.join()?;
    let getter = Process::new(get, (address.clone(),));
    getter.start()?;
    getter.join()?;
    shutdown(&address)?;
    server.join()?;

    // A process-local queue served through a manager.
    let (server, address) = start_server(serve_local, "")?;
    let getter = Process::new(get, (address.clone(),));
    getter.start()?;
    getter.join()?;
    shutdown(&address)?;
    server.join()?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => run_session(),
        ["serve", address] => {
            let server = BaseManager::builder()
                .address(address.parse()?)
                .authkey(authkey())
                .register("get_queue", get_queue)
                .get_server()?;
            println!("serving at {}", server.address());
            std::io::Write::flush(&mut std::io::stdout())?;
            server.serve_forever()?;
            Ok(())
        }
        ["put", address, item] => {
            put(address.to_string(), item.to_string());
            Ok(())
        }
        ["get", address] => {
            get(address.to_string());
            Ok(())
        }
        ["shutdown", address] => shutdown(address),
        _ => Err("usage: remote_manager [serve HOST:PORT | put ADDRESS ITEM | get ADDRESS | shutdown ADDRESS]".into()),
    }
}
