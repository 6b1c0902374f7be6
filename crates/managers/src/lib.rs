//! Managers and proxies: Python's `multiprocessing.managers`.
//!
//! A manager is a server process that holds shared objects; other processes, on this machine or
//! on others over TCP, use them through proxies. Values inside the manager are a
//! self-describing [`Object`] tree, so a managed `dict` holds mixed keys and values as in Python,
//! and typed proxies are views over it.
//!
//! ```
//! use multiprocessing_managers::{Object, manager};
//! let m = manager().unwrap(); // Python's `Manager()`: a server in a child process
//! let d = m.dict().unwrap();
//! d.set(1, "1").unwrap();
//! d.set("2", 2).unwrap();
//! d.set(0.25, ()).unwrap(); // `()` is Python's None
//! assert_eq!(d.to_string(), "{0.25: None, 1: '1', '2': 2}");
//! let l = m.list((0..10).map(Object::Int).collect()).unwrap();
//! l.reverse().unwrap();
//! assert_eq!(l.to_string(), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
//! ```
//!
//! # When a manager is the right tool
//!
//! Every operation on a proxy is a round trip to the server process (tens of microseconds),
//! and values cross as encoded copies. In exchange a manager shares *structured, growing*
//! state (a dict that gains keys, a list of results, a namespace of settings) between
//! processes that need not be related, even on other machines over TCP, and every method call
//! is atomic. For a fixed-size number or array shared by related processes, a shared
//! `Value`/`Array` is a memory access instead of a round trip; for handing items from
//! producers to consumers, a `Queue` streams them without a server in the middle.
//!
//! # Your own types
//!
//! Python registers a class with `BaseManager.register('Maths', MathsClass)` and gets an
//! `AutoProxy` whose methods are the class's. Here `#[managed]` on the type's `impl` block
//! generates both halves: the table the server calls methods by ([`Shared`]) and a typed proxy
//! (`MathsProxy`, the block's type name and `Proxy`) whose methods mirror the type's and return
//! [`Result`]s. [`ManagerBuilder::register_type`] registers it under a typeid with its
//! `#[constructor]`, and [`BaseManager::create_as`] makes one:
//!
//! ```
//! use multiprocessing_managers::{BaseManager, ErrorKind, Registration, managed};
//!
//! /// Lives in the manager's server; every process sees the same one through its proxy.
//! #[derive(Default, serde::Serialize)]
//! pub struct Maths {
//!     results: Vec<i64>,
//! }
//!
//! #[managed]
//! impl Maths {
//!     #[constructor]
//!     fn new() -> Self {
//!         Maths::default()
//!     }
//!
//!     /// `x + y`, remembered.
//!     pub fn add(&mut self, x: i64, y: i64) -> i64 {
//!         self.results.push(x + y);
//!         x + y
//!     }
//!
//!     /// The results whose text contains `digits`; references stay references.
//!     pub fn find(&self, digits: &str) -> Vec<i64> {
//!         self.results.iter().copied().filter(|r| r.to_string().contains(digits)).collect()
//!     }
//!
//!     /// The `i`-th result; an `Err` comes back to the caller as a raised error.
//!     pub fn nth(&self, i: usize) -> Result<i64, String> {
//!         self.results.get(i).copied().ok_or_else(|| format!("no result {i}"))
//!     }
//!
//!     /// Python's `method_to_typeid`: the caller gets a proxy to a new shared `Maths`.
//!     #[returns_proxy(typeid = "Maths")]
//!     pub fn fresh(&self) -> Maths {
//!         Maths::default()
//!     }
//!
//!     /// Left out of the default exposed list by its `_`, as in Python.
//!     pub fn _clear(&mut self) {
//!         self.results.clear();
//!     }
//! }
//!
//! let manager = BaseManager::builder()
//!     .register_type::<Maths>("Maths")
//!     .start()
//!     .unwrap();
//! let maths: MathsProxy = manager.create_as("Maths", Vec::new()).unwrap();
//! assert_eq!(maths.add(4, 3).unwrap(), 7);
//! assert_eq!(maths.add(7, 70).unwrap(), 77);
//! assert_eq!(maths.find("7").unwrap(), [7, 77]);
//! assert_eq!(maths.nth(5).unwrap_err().to_string(), "RuntimeError: no result 5");
//! assert_eq!(maths.to_string(), "{'results': [7, 77]}"); // the value, through serde
//! let other = maths.fresh().unwrap();
//! assert_eq!(other.find("").unwrap(), Vec::<i64>::new());
//! // An unknown method is Python's AttributeError, naming it.
//! let e = maths.call_method("sub", Vec::new()).unwrap_err();
//! assert_eq!(e.kind(), ErrorKind::Unsupported);
//! assert!(e.to_string().starts_with("AttributeError") && e.to_string().contains("'sub'"));
//! // A registration may list the exposed methods itself (Python's `exposed=`), `_clear` too.
//! let _ = Registration::of::<Maths>().exposed(["add", "_clear"]);
//! ```
//!
//! A panic in a method comes back as an error carrying its message and location
//! ([`Error::Remote`]), and the server goes on serving. The `multiprocessing_macros` crate
//! documents every rule of the attribute; the example `custom_manager` is the documentation's
//! `MathsClass`.
//!
//! # Remote managers
//!
//! A server on a TCP address serves clients on other machines that know its authkey (the
//! documentation's "Using a remote manager"). A registered constructor is a plain `fn` run in
//! the server; to hand every client the *same* object (Python's `callable=lambda: queue`) it
//! clones one made by the serving thread, as the clones of a [`sync_types::Queue`] share their
//! items:
//!
//! ```
//! use multiprocessing_managers::sync_types::Queue;
//! use multiprocessing_managers::{AuthKey, BaseManager, Object, QueueProxy, Raised, Shared};
//!
//! thread_local! {
//!     static QUEUE: Queue = Queue::new(0, false); // made by the thread that serves
//! }
//! fn get_queue(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
//!     Ok(Box::new(QUEUE.with(Queue::clone)))
//! }
//! let key = AuthKey::new(b"abracadabra".to_vec());
//! let server = BaseManager::builder()
//!     .address("127.0.0.1:0".parse().unwrap()) // port 0: any free port
//!     .authkey(key.clone())
//!     .register("get_queue", get_queue)
//!     .get_server()
//!     .unwrap();
//! let address = server.address().clone();
//! let serving = std::thread::spawn(move || server.serve_forever());
//!
//! // Clients (in other processes, on other hosts) connect with the address and the key.
//! let client = |key: &AuthKey| {
//!     let m = BaseManager::builder().address(address.clone()).authkey(key.clone()).connect().unwrap();
//!     let q = QueueProxy::<String>::from_proxy(m.create("get_queue", Vec::new()).unwrap());
//!     (m, q)
//! };
//! let (_a, q1) = client(&key);
//! let (mut b, q2) = client(&key);
//! q1.put("hello").unwrap();
//! assert_eq!(q2.get().unwrap(), "hello"); // one queue behind both proxies
//! b.shutdown().unwrap(); // asks the server to stop
//! serving.join().unwrap().unwrap();
//! ```
//!
//! The example `remote_manager` runs the documentation's sessions across processes, and serves a
//! process-local `multiprocessing::Queue` the same way.
//!
//! # Talking to a CPython manager
//!
//! [`ManagerBuilder::connect`] works with a CPython manager server too (a Python
//! `BaseManager`/`SyncManager` on a TCP or Unix address, with its authkey): the first
//! connection tells our server from CPython's, and the session then speaks CPython's pickled
//! protocol, so the typed proxies ([`DictProxy`], [`ListProxy`], [`NamespaceProxy`],
//! [`ValueProxy`], [`QueueProxy`], [`AcquirerProxy`], [`EventProxy`]) and the server's
//! registered callables (`create("get_queue", ..)`) work unchanged, and its exceptions come back
//! as [`Error::Raised`] with the Python class's name and message. [`python_client`] tells how,
//! with an example, and what can go wrong.
//!
//! # CPython clients
//!
//! The server answers CPython's own manager clients too: a Python program that `connect()`s a
//! `SyncManager` (or a `BaseManager` with registered typeids) to a server of ours, with its
//! authkey, uses our dicts, lists, namespaces, queues, locks, semaphores, conditions, events,
//! barriers and values through CPython's proxies, and our registered functions through
//! `AutoProxy`. Each connection is ours or CPython's by its first message (a pickle), so our
//! clients pay nothing for it; values cross as CPython pickles them ([`object::python`]), and
//! unpickling never runs code. The [`server`] docs list what differs from CPython's server.
//!
//! ```no_run
//! use multiprocessing_managers::sync_types::Queue;
//! use multiprocessing_managers::{AuthKey, BaseManager, Object, Raised, Shared};
//!
//! thread_local! {
//!     static QUEUE: Queue = Queue::new(0, false);
//! }
//! fn get_queue(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
//!     Ok(Box::new(QUEUE.with(Queue::clone)))
//! }
//! BaseManager::builder()
//!     .address("127.0.0.1:50000".parse().unwrap())
//!     .authkey(AuthKey::new(b"abracadabra".to_vec()))
//!     .register("get_queue", get_queue)
//!     .get_server()
//!     .unwrap()
//!     .serve_forever()
//!     .unwrap();
//! ```
//!
//! and, in Python, the documentation's client, unchanged:
//!
//! ```text
//! from multiprocessing.managers import BaseManager
//! class QueueManager(BaseManager): pass
//! QueueManager.register('get_queue')
//! m = QueueManager(address=('127.0.0.1', 50000), authkey=b'abracadabra')
//! m.connect()
//! queue = m.get_queue()
//! queue.put('hello')
//! ```
//!
//! A `SyncManager` client's `m.dict()`, `m.Queue()`, `m.Lock()`, ... are ours, keyword
//! arguments (`q.get(timeout=1)`) included; iterating a dict proxy gives CPython's iterator
//! proxy; a proxy stored in one of our containers stays a proxy, and a `set` or an instance
//! of the client's own class is kept as its pickle and handed back unchanged.
//!
//! # From async code
//!
//! With the `tokio` feature, every proxy has `Proxy::call_method_async` and the typed proxies
//! have `_async` twins of their methods (`DictProxy::get_async`, `QueueProxy::get_async`,
//! `EventProxy::wait_async`, ...): the same requests over an async connection, so a task
//! waiting on the server holds no thread. A call dropped mid-way (a `tokio::time::timeout`)
//! closes its connection and the server cancels a waiting call whose caller hung up: a dropped
//! `get_async` takes no item, and the proxy stays usable.
//!
//! # How it works
//!
//! * [`manager::BaseManager`] starts the [`server`] in a child process (or connects to one);
//!   the server runs on one thread, so calls are serialized and atomic.
//! * [`protocol`] defines the messages; control requests and method calls share one
//!   authenticated connection per process (and thread at once) and manager ([`proxy`] docs).
//! * References are tied to ownership: a proxy's clones share one reference, the last drop
//!   releases it, a process that dies releases all of its own, and a proxy sent to another
//!   process holds its reference in transit.
//! * [`shared::Shared`] is what a type implements to live in a manager ([`managed`] writes it,
//!   and the type's proxy, from an `impl` block), and
//!   [`shared::Registration`] how it is registered (Python's `register`): the server enforces
//!   its `exposed` list, shares the results of its `method_to_typeid` methods, and refuses to
//!   make by name a typeid with `create_method(false)`.
//! * [`generator`]: an iterator in the server, an `Iterator` on the client.
//! * [`sync_types`] holds the queues, locks, semaphores, conditions, events, barriers and arrays
//!   (their waits block only their caller; a lock whose holder's process dies is released), and
//!   [`sync_typed`] their proxies.
//! * [`module::Module`] shares a named set of functions (the documentation's
//!   `register('operator', get_operator_module)`), and [`operator`] is Python's `operator`
//!   module over [`Object`]s.
//! * Beyond Python, [`update`]: a dict value changed by a named operation in the server
//!   (`d.update_with("hits", Op::add(1))`), a read-modify-write in one round trip, no lock.

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod client;
pub mod error;
pub mod generator;
pub mod manager;
pub mod module;
pub mod object;
pub mod operator;
pub mod protocol;
pub mod proxy;
pub mod python_client;
pub mod server;
pub mod shared;
pub mod sync_typed;
pub mod sync_types;
pub mod typed;
pub mod types;
pub mod update;

pub use error::{Error, ErrorKind, Result};
pub use generator::{Generator, GeneratorProxy};
pub use manager::{BaseManager, ManagerBuilder, SyncManager, manager};
pub use module::Module;
pub use multiprocessing_connection::{Address, AuthKey};
pub use multiprocessing_macros::managed;
pub use object::{Object, ObjectError, Token, WireObject, from_object, to_object};
pub use protocol::{Exception, Raised};
pub use proxy::Proxy;
pub use server::{Server, ServerBuilder};
pub use shared::{Caller, Construct, Managed, Outcome, ProxyType, Registration, Registry, Shared};
#[cfg(feature = "tokio")]
pub use sync_typed::AsyncAcquirerGuard;
pub use sync_typed::{
    AcquirerGuard, AcquirerProxy, ArrayProxy, BarrierProxy, ConditionProxy, EventProxy,
    JoinableQueueProxy, QueueProxy,
};
pub use typed::{DictProxy, ListProxy, NamespaceProxy, ValueProxy};
