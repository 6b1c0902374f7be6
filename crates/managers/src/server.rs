//! The manager's server: it holds the shared objects and answers proxies (Python's
//! `multiprocessing.managers.Server`).
//!
//! It runs on a single-threaded tokio runtime. Each accepted connection is a task that first
//! runs CPython's HMAC handshake (server challenges first) under one deadline for the whole
//! exchange, reading at most a small frame before the peer is authenticated; handshakes run
//! side by side, so a silent client stalls nobody. After that the connection carries
//! [`Request`]s and [`Reply`]s in CPython's frames, one reply per request, in order. A
//! connection that sends garbage, a frame too long, or disconnects in the middle of a request
//! is dropped alone; the server goes on.
//!
//! Calls run one at a time on the server's thread, so each method is atomic with respect to
//! every other call. A call that has to wait ([`Outcome::Wait`]) is awaited by its connection's
//! task while the others are served.
//!
//! A connection whose first message is a pickle is a CPython client's
//! (`multiprocessing.managers.SyncManager(address, authkey).connect()`), served in CPython's
//! manager protocol over the same objects; see [CPython clients](#cpython-clients).
//!
//! # References
//!
//! An object lives while something refers to it:
//!
//! - a client *session* (one process's connections to this manager) holds the references its
//!   proxies took (`create`, `incref`, a proxy in a reply); when the session's last connection
//!   closes, because the process exited or was killed, they are all released;
//! - a *ticket* holds a reference lent to a proxy in transit to another process (see
//!   [`Request::Lend`]) until the receiver claims it, or until the ticket expires
//!   ([`ServerBuilder::ticket_lifetime`], 5 minutes by default) if no receiver ever does;
//! - another shared object that holds it ([`Object::Proxy`] inside a list or a dict).
//!
//! Objects no longer reachable from a session or ticket are freed, cycles included.
//!
//! What a caller holds (a lock it acquired, a wait it is in) is released when its session
//! ends. A connection that sent [`Request::Channel`] calls as a caller of its own (an async
//! lock hold, which a task's thread cannot own), and what that caller holds is released when
//! the connection closes, though its session goes on.
//!
//! ```
//! use multiprocessing_managers::server::Server;
//! use multiprocessing_managers::{Registry, AuthKey};
//! let server = Server::builder().authkey(AuthKey::new(b"k".to_vec())).registry(Registry::builtin()).bind().unwrap();
//! println!("serving at {}", server.address());
//! # drop(server);
//! ```
//!
//! # CPython clients
//!
//! A CPython `BaseManager` or `SyncManager` that `connect()`s with the server's authkey is
//! served as CPython's own server serves it: `create` (keyword arguments included),
//! `incref`/`decref`, `get_methods`, `number_of_objects`, `debug_info`, `shutdown`, and method
//! calls answered `#RETURN`, `#ERROR` (the exception instance), `#TRACEBACK`, `#PROXY` or
//! `#UNSERIALIZABLE`, for the built-in types and registered ones (the crate docs show the
//! documentation's remote queue). Requests are read with the pickle crate's limits (values
//! nest at most [`MAX_DEPTH`](crate::object::MAX_DEPTH) deep); a request that does not read,
//! or is not `(ident, methodname, args, kwds)`, is answered with a traceback, as CPython's
//! server does.
//!
//! ## Their references
//!
//! A CPython client keeps no session: it counts references itself, with `incref` and `decref`
//! requests on connections of their own. They are kept in one session for every CPython
//! client of the server, which never ends: an object goes when the `decref`s have matched the
//! references (`create`, `incref`, a `#PROXY`) and nothing else refers to it. A CPython
//! process killed before its proxies' finalizers ran never sends those `decref`s, and its
//! objects stay, as in CPython's own server. What a channel held as a caller (a lock it
//! acquired, a wait it was in) is released when the channel closes, which CPython's server
//! does not do.
//!
//! ## What differs from CPython's server
//!
//! - A dict's iterator walks the keys the dict had when the iteration began (CPython's raises
//!   `RuntimeError` if the dict changes size meanwhile); `reversed()` of a list proxy gives a
//!   reversed list, not an iterator.
//! - A `Lock` is released by the channel (the CPython process and thread) that acquired it.
//! - `Barrier(action=...)` and `list.sort(key=...)` are refused: they would run a Python
//!   function in the server.
//! - `#GETVALUE` of a queue gives its items (CPython cannot pickle a queue); a slice of an
//!   `Array` is a list (CPython's, an `array.array`).
//!
//! As with CPython's server, a proxy that a CPython client rebuilds from a reply (one stored
//! in a list, say) connects with its process's authkey (`current_process().authkey`), which
//! must then be the server's.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use multiprocessing_connection::auth::Handshake;
use multiprocessing_connection::{Address, AuthKey, frame};
use multiprocessing_core::identity;
use multiprocessing_core::outcome::Outcome as Caught;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::object::{Object, Token};
use crate::protocol::{Exception, Raised};
use crate::protocol::{Reply, Request, decode_request};
use crate::shared::{
    Caller, Outcome, Registration, Registry, Shared, WaitFuture, holds_references, not_creatable,
};

mod python;

/// How long a client has for the whole handshake, by default.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest message a client may send after authenticating, by default (1 GiB).
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;
/// How long a reference lent to a proxy in transit waits for its receiver, by default.
pub const DEFAULT_TICKET_LIFETIME: Duration = Duration::from_secs(300);

const LOG: &str = "multiprocessing";

/// Options for a [`Server`], made by [`Server::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ServerBuilder {
    address: Option<Address>,
    authkey: Option<AuthKey>,
    registry: Registry,
    handshake_timeout: Duration,
    max_message: usize,
    ticket_lifetime: Duration,
}

impl ServerBuilder {
    /// Listens at `address` (a Unix path, `@abstract` name or TCP `host:port`; port 0 picks
    /// one). By default a fresh abstract Unix name.
    pub fn address(mut self, address: Address) -> Self {
        self.address = Some(address);
        self
    }

    /// Authenticates clients with `key` (by default the current process's authkey).
    pub fn authkey(mut self, key: AuthKey) -> Self {
        self.authkey = Some(key);
        self
    }

    /// The types the server can make.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// The deadline for a client's whole handshake ([`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The longest message accepted from an authenticated client ([`DEFAULT_MAX_MESSAGE`]); a
    /// longer one drops that client's connection.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// How long a reference lent to a proxy in transit waits to be claimed
    /// ([`DEFAULT_TICKET_LIFETIME`]). A receiver that arrives later finds the ticket gone and
    /// takes a fresh reference instead, which works while any other reference keeps the object.
    pub fn ticket_lifetime(mut self, lifetime: Duration) -> Self {
        self.ticket_lifetime = lifetime;
        self
    }

    /// Binds the listening socket; [`Server::serve_forever`] then serves it.
    pub fn bind(self) -> Result<Server> {
        let address = self.address.unwrap_or_else(fresh_address);
        let (listener, address, unlink) = bind(&address)?;
        Ok(Server {
            listener: Some(listener),
            address,
            unlink,
            authkey: self.authkey.unwrap_or_else(|| identity::current().authkey),
            registry: self.registry,
            handshake_timeout: self.handshake_timeout,
            max_message: self.max_message,
            ticket_lifetime: self.ticket_lifetime,
        })
    }
}

/// A fresh abstract Unix name: nothing to unlink, nothing left behind by a killed server.
fn fresh_address() -> Address {
    let r: u64 = rand::random();
    Address::Abstract(format!("mp-manager-{}-{r:016x}", std::process::id()).into_bytes())
}

enum StdListener {
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

fn bind(address: &Address) -> Result<(StdListener, Address, Option<PathBuf>)> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    let io = |e: io::Error| Error::Io(e);
    Ok(match address {
        Address::Unix(path) => {
            let l = UnixListener::bind(path).map_err(io)?;
            (StdListener::Unix(l), address.clone(), Some(path.clone()))
        }
        Address::Abstract(name) => {
            let a = SocketAddr::from_abstract_name(name).map_err(io)?;
            let l = UnixListener::bind_addr(&a).map_err(io)?;
            (StdListener::Unix(l), address.clone(), None)
        }
        Address::Tcp { host, port } => {
            let l = std::net::TcpListener::bind((host.as_str(), *port)).map_err(io)?;
            let real = l.local_addr().map_err(io)?;
            // Keep the host as given (a name stays a name); only a chosen port changes.
            let address = Address::Tcp {
                host: host.clone(),
                port: real.port(),
            };
            (StdListener::Tcp(l), address, None)
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "unsupported address family for a manager: {other}"
            )));
        }
    })
}

/// A bound manager server, ready to [`serve_forever`](Self::serve_forever) (Python's
/// `BaseManager.get_server()`).
pub struct Server {
    listener: Option<StdListener>,
    address: Address,
    unlink: Option<PathBuf>,
    authkey: AuthKey,
    registry: Registry,
    handshake_timeout: Duration,
    max_message: usize,
    ticket_lifetime: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("address", &self.address)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(p) = &self.unlink {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Server {
    /// Starts configuring a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            address: None,
            authkey: None,
            registry: Registry::default(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_message: DEFAULT_MAX_MESSAGE,
            ticket_lifetime: DEFAULT_TICKET_LIFETIME,
        }
    }

    /// Where clients connect.
    #[must_use]
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Serves clients on this thread until one asks for a shutdown (Python's
    /// `serve_forever`). Returns `Ok(())` then.
    pub fn serve_forever(mut self) -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(Error::Io)?;
        let local = tokio::task::LocalSet::new();
        let Some(listener) = self.listener.take() else {
            return Err(Error::InvalidArgument(
                "the server was served already".into(),
            ));
        };
        let state = Rc::new(ServerState::new(
            std::mem::take(&mut self.registry),
            self.authkey.clone(),
            self.address.to_string(),
            self.handshake_timeout,
            self.max_message,
            self.ticket_lifetime,
        ));
        local.block_on(&rt, accept_loop(state, listener))
    }
}

async fn accept_loop(st: Rc<ServerState>, listener: StdListener) -> Result<()> {
    enum L {
        Unix(tokio::net::UnixListener),
        Tcp(tokio::net::TcpListener),
    }
    let l = match listener {
        StdListener::Unix(l) => {
            l.set_nonblocking(true).map_err(Error::Io)?;
            L::Unix(tokio::net::UnixListener::from_std(l).map_err(Error::Io)?)
        }
        StdListener::Tcp(l) => {
            l.set_nonblocking(true).map_err(Error::Io)?;
            L::Tcp(tokio::net::TcpListener::from_std(l).map_err(Error::Io)?)
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let accepted = async {
            match &l {
                L::Unix(l) => l.accept().await.map(|(s, _)| {
                    tokio::task::spawn_local(serve_connection(st.clone(), s));
                }),
                L::Tcp(l) => l.accept().await.map(|(s, _)| {
                    // Small requests and replies must not wait for Nagle's algorithm.
                    let _ = s.set_nodelay(true);
                    tokio::task::spawn_local(serve_connection(st.clone(), s));
                }),
            }
        };
        tokio::select! {
            () = st.stop.notified() => return Ok(()),
            r = accepted => {
                if let Err(e) = r {
                    // Out of descriptors, say: wait a little rather than spin.
                    tracing::warn!(target: LOG, "manager accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            _ = tick.tick() => st.state.borrow_mut().expire_tickets(Instant::now()),
        }
    }
}

/// What every connection's task shares.
struct ServerState {
    state: RefCell<State>,
    stop: Notify,
    authkey: AuthKey,
    registry: Registry,
    /// The registrations with something to enforce (an exposed list, `method_to_typeid`),
    /// shared by their objects' entries.
    rules: HashMap<String, Rc<Registration>>,
    address: String,
    handshake_timeout: Duration,
    max_message: usize,
    ticket_lifetime: Duration,
    /// The session that holds CPython clients' references ([`python`]): theirs belong to no
    /// connection, so this session never ends.
    python_session: u64,
}

impl ServerState {
    fn new(
        registry: Registry,
        authkey: AuthKey,
        address: String,
        handshake_timeout: Duration,
        max_message: usize,
        ticket_lifetime: Duration,
    ) -> ServerState {
        let rules = registry
            .iter()
            .filter(|(_, r)| r.has_rules())
            .map(|(t, r)| (t.to_string(), Rc::new(r.clone())))
            .collect();
        ServerState {
            state: RefCell::new(State::default()),
            stop: Notify::new(),
            authkey,
            registry,
            rules,
            address,
            handshake_timeout,
            max_message,
            ticket_lifetime,
            python_session: rand::random(),
        }
    }

    /// The rules objects of `typeid` are served under, if its registration has any.
    fn rules(&self, typeid: &str) -> Option<Rc<Registration>> {
        if self.rules.is_empty() {
            return None;
        }
        self.rules.get(typeid).cloned()
    }

    fn token(&self, typeid: impl Into<String>, id: u64) -> Reply {
        Reply::Proxy(Token {
            typeid: typeid.into(),
            address: self.address.clone(),
            id,
        })
    }
}

/// One shared object.
struct Entry {
    typeid: Rc<str>,
    /// Its registration, when that restricts its methods or shares their results.
    rules: Option<Rc<Registration>>,
    object: Box<dyn Shared>,
    /// References held by sessions and tickets (not by other objects).
    refs: u64,
    /// It was given proxies to hold, so it is walked when looking for live objects.
    holds: bool,
}

/// An object's `Drop` is its type's code too: a panic in it is reported and the server goes
/// on (uncaught, it would end the connection's task before its session is released, or the
/// server itself when a ticket expires).
impl Drop for Entry {
    fn drop(&mut self) {
        let object = std::mem::replace(&mut self.object, Box::new(Dropped));
        let typeid = &self.typeid;
        if let Err(Reply::Traceback(t)) =
            caught(|| format!("dropping a '{typeid}'"), || drop(object))
        {
            tracing::warn!(target: LOG, "manager: {t}");
        }
    }
}

/// What an [`Entry`] holds while its object is being dropped.
struct Dropped;

impl Shared for Dropped {
    fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        Err(crate::types::no_method("dropped", method))
    }

    fn value(&self) -> Object {
        Object::None
    }
}

#[derive(Default)]
struct SessionRefs {
    connections: usize,
    refs: HashMap<u64, u64>,
}

struct Ticket {
    id: u64,
    expires: Instant,
}

#[derive(Default)]
struct State {
    objects: HashMap<u64, Entry>,
    next_id: u64,
    sessions: HashMap<u64, SessionRefs>,
    tickets: HashMap<u64, Ticket>,
    /// How many objects hold proxies: while none does, a reference count reaching zero frees
    /// its object at once, without a walk.
    holders: usize,
}

impl State {
    fn insert(
        &mut self,
        typeid: Rc<str>,
        rules: Option<Rc<Registration>>,
        object: Box<dyn Shared>,
        session: u64,
    ) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.objects.insert(
            id,
            Entry {
                typeid,
                rules,
                object,
                refs: 1,
                holds: false,
            },
        );
        *self
            .sessions
            .entry(session)
            .or_default()
            .refs
            .entry(id)
            .or_default() += 1;
        id
    }

    fn mark_holder(&mut self, id: u64) {
        if let Some(e) = self.objects.get_mut(&id)
            && !e.holds
        {
            e.holds = true;
            self.holders += 1;
        }
    }

    fn incref(&mut self, session: u64, id: u64) -> bool {
        let Some(e) = self.objects.get_mut(&id) else {
            return false;
        };
        e.refs += 1;
        *self
            .sessions
            .entry(session)
            .or_default()
            .refs
            .entry(id)
            .or_default() += 1;
        true
    }

    fn decref(&mut self, session: u64, id: u64) -> bool {
        let Some(s) = self.sessions.get_mut(&session) else {
            return false;
        };
        let Some(n) = s.refs.get_mut(&id) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            s.refs.remove(&id);
        }
        self.release(id, 1);
        self.collect();
        true
    }

    /// Drops `n` session or ticket references to `id` (the caller runs [`collect`] after).
    fn release(&mut self, id: u64, n: u64) {
        if let Some(e) = self.objects.get_mut(&id) {
            e.refs = e.refs.saturating_sub(n);
            if e.refs == 0 && self.holders == 0 {
                self.objects.remove(&id);
            }
        }
    }

    /// Frees every object that no session, ticket or live holder reaches.
    fn collect(&mut self) {
        if self.holders == 0 {
            return;
        }
        let mut live: HashSet<u64> = HashSet::new();
        let mut stack: Vec<u64> = self
            .objects
            .iter()
            .filter(|(_, e)| e.refs > 0)
            .map(|(id, _)| *id)
            .collect();
        let mut found = Vec::new();
        while let Some(id) = stack.pop() {
            if !live.insert(id) {
                continue;
            }
            if let Some(e) = self.objects.get(&id)
                && e.holds
            {
                found.clear();
                let typeid = &e.typeid;
                if let Err(Reply::Traceback(t)) = caught(
                    || format!("the references of '{typeid}'"),
                    || e.object.references(&mut found),
                ) {
                    // What it holds is unknown: nothing is freed while it is live.
                    tracing::warn!(target: LOG, "manager: {t}");
                    return;
                }
                stack.extend(found.iter().filter(|i| !live.contains(i)));
            }
        }
        let before = self.objects.len();
        let mut freed_holders = 0;
        self.objects.retain(|id, e| {
            let keep = live.contains(id);
            if !keep && e.holds {
                freed_holders += 1;
            }
            keep
        });
        self.holders -= freed_holders;
        if self.objects.len() != before {
            tracing::trace!(target: LOG, "manager freed {} objects", before - self.objects.len());
        }
    }

    fn end_session(&mut self, session: u64) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.connections -= 1;
        if s.connections > 0 {
            return;
        }
        let s = self.sessions.remove(&session).unwrap_or_default();
        for e in self.objects.values_mut() {
            let typeid = &e.typeid;
            if let Err(Reply::Traceback(t)) = caught(
                || format!("the client_gone of '{typeid}'"),
                || e.object.client_gone(session),
            ) {
                tracing::warn!(target: LOG, "manager: {t}");
            }
        }
        for (id, n) in s.refs {
            self.release(id, n);
        }
        self.collect();
    }

    fn expire_tickets(&mut self, now: Instant) {
        if self.tickets.is_empty() {
            return;
        }
        let expired: Vec<u64> = self
            .tickets
            .iter()
            .filter(|(_, t)| t.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in &expired {
            if let Some(t) = self.tickets.remove(k) {
                self.release(t.id, 1);
            }
        }
        if !expired.is_empty() {
            self.collect();
        }
    }

    /// Python's repr of object `id`. Shared objects inside it show as their referents, as
    /// Python prints a proxy stored in a manager's container (`[['hello']]`).
    fn repr(&self, id: u64) -> Option<String> {
        let e = self.objects.get(&id)?;
        let r = if e.holds {
            let mut resolve = |o: &Object| self.resolve(o, 0);
            caught(
                || "its repr".into(),
                || e.object.repr_resolved(&mut resolve),
            )
        } else {
            caught(|| "its repr".into(), || e.object.repr())
        };
        Some(r.unwrap_or_else(|_| format!("<{} object (its repr panicked)>", e.typeid)))
    }

    /// `o` with every live shared object inside it replaced by a copy of its value (to a
    /// bounded depth, so a cycle ends as the proxy's own repr).
    fn resolve(&self, o: &Object, depth: usize) -> Object {
        const MAX: usize = 32;
        match o {
            Object::Proxy(t) if depth < MAX => match self.objects.get(&t.id) {
                Some(e) => self.resolve(&e.object.value(), depth + 1),
                None => o.clone(),
            },
            Object::List(v) => Object::List(v.iter().map(|x| self.resolve(x, depth)).collect()),
            Object::Tuple(v) => Object::Tuple(v.iter().map(|x| self.resolve(x, depth)).collect()),
            Object::Dict(d) => Object::Dict(
                d.iter()
                    .map(|(k, v)| (self.resolve(k, depth), self.resolve(v, depth)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn debug_info(&self) -> String {
        let mut ids: Vec<_> = self.objects.keys().copied().collect();
        ids.sort_unstable();
        let mut out = Vec::new();
        for id in ids {
            let e = &self.objects[&id];
            let mut r = caught(|| "its repr".into(), || e.object.repr())
                .unwrap_or_else(|_| format!("<{} object (its repr panicked)>", e.typeid));
            if r.len() > 75 {
                let mut cut = 75;
                while !r.is_char_boundary(cut) {
                    cut -= 1;
                }
                r.truncate(cut);
            }
            out.push(format!(
                "  {id:x}:       refcount={} typeid={}\n    {r}",
                e.refs, e.typeid
            ));
        }
        out.join("\n")
    }
}

/// The buffered reader of one connection's frames.
struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The length of the frame last handed out, consumed by [`ReadBuf::consume`].
    pending: usize,
}

const READ_BUFFER: usize = 16 * 1024;

impl ReadBuf {
    fn new(initial: Vec<u8>) -> ReadBuf {
        let end = initial.len();
        let mut buf = initial;
        buf.resize(end.max(READ_BUFFER), 0);
        ReadBuf {
            buf,
            start: 0,
            end,
            pending: 0,
        }
    }

    /// The next frame's payload range, `None` at a clean end of stream.
    async fn next<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        limit: usize,
    ) -> io::Result<Option<Range<usize>>> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        loop {
            let avail = &self.buf[self.start..self.end];
            match frame::decode_frame(avail, limit) {
                Ok(Some((h, payload, used))) => {
                    if h.nfds > 0 {
                        return Err(bad("descriptors sent to a manager".into()));
                    }
                    self.pending = used;
                    return Ok(Some(self.start + payload.start..self.start + payload.end));
                }
                Ok(None) => {}
                Err(e) => return Err(bad(e.to_string())),
            }
            // Room for the rest of this frame: move what we have to the front and grow up to
            // the frame's size, at most a megabyte ahead of the bytes received.
            let need = match frame::parse_header(avail) {
                Ok(Some((h, hl))) => hl + h.len as usize,
                _ => 16,
            };
            if self.start > 0 && self.start + need > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                let grow = (need - (self.end - self.start)).min(frame::MAX_AHEAD);
                self.buf.resize(self.buf.len() + grow.max(READ_BUFFER), 0);
            }
            let n = r.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return if self.start == self.end {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
            self.end += n;
        }
    }

    fn consume(&mut self) {
        self.start += std::mem::take(&mut self.pending);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // A huge message's buffer is not kept for the small ones after it.
            if self.buf.len() > 4 * READ_BUFFER {
                self.buf.truncate(READ_BUFFER);
                self.buf.shrink_to_fit();
            }
        }
    }
}

/// Runs the server's side of the handshake; returns the bytes read past it.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    key: &AuthKey,
) -> io::Result<Vec<u8>> {
    let mut hs = Handshake::server(key);
    let mut buf = [0u8; 512];
    loop {
        let out = hs.output();
        if !out.is_empty() {
            let n = out.len();
            s.write_all(out).await?;
            hs.consume_output(n);
        }
        if hs.is_complete() {
            return Ok(hs.into_unread());
        }
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Err(e) = hs.feed(&buf[..n]) {
            // The #FAILURE# verdict is a courtesy.
            let out = hs.output().to_vec();
            let _ = s.write_all(&out).await;
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                e.to_string(),
            ));
        }
    }
}

async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(st: Rc<ServerState>, mut s: S) {
    let unread =
        match tokio::time::timeout(st.handshake_timeout, handshake(&mut s, &st.authkey)).await {
            Ok(Ok(unread)) => unread,
            Ok(Err(e)) => {
                tracing::debug!(target: LOG, "manager handshake failed: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!(target: LOG, "manager handshake timed out");
                return;
            }
        };
    let mut rb = ReadBuf::new(unread);
    let mut session: Option<u64> = None;
    // The connection's own caller session, after a `Request::Channel`.
    let mut channel: Option<u64> = None;
    // The first frame says which protocol the client speaks: a CPython pickle starts with
    // 0x80 (PROTO), our postcard `Hello` with its variant index, 0 (see `python`). It stays
    // unread for the server of that protocol: no copy, and nothing more per request.
    let r = match rb.next(&mut s, st.max_message).await {
        Ok(Some(range)) if python::is_pickle(&rb.buf[range.clone()]) => {
            python::serve(&st, &mut s, &mut rb, &mut session).await
        }
        Ok(Some(_)) => {
            let mut out = Vec::with_capacity(256);
            serve_requests(&st, &mut s, &mut rb, &mut out, &mut session, &mut channel).await
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = r {
        tracing::debug!(target: LOG, "manager connection dropped: {e}");
    }
    // What the connection's own caller held goes first (to the next waiter), then the
    // session's references if this was its last connection.
    if let Some(id) = channel {
        st.state.borrow_mut().end_session(id);
    }
    if let Some(id) = session {
        st.state.borrow_mut().end_session(id);
    }
}

async fn serve_requests<S: AsyncRead + AsyncWrite + Unpin>(
    st: &ServerState,
    s: &mut S,
    rb: &mut ReadBuf,
    out: &mut Vec<u8>,
    session: &mut Option<u64>,
    channel: &mut Option<u64>,
) -> io::Result<()> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    loop {
        let Some(range) = rb.next(s, st.max_message).await? else {
            return Ok(());
        };
        let request = decode_request(&rb.buf[range]).map_err(|e| bad(e.to_string()))?;
        let mut stop = false;
        let reply = match (request, *session) {
            (Request::Hello { session: id, name }, None) => {
                tracing::trace!(target: LOG, "manager: connection from {name}");
                st.state
                    .borrow_mut()
                    .sessions
                    .entry(id)
                    .or_default()
                    .connections += 1;
                *session = Some(id);
                Reply::Return(Object::None)
            }
            (Request::Hello { .. }, Some(_)) => {
                return Err(bad("a second Hello on one connection".into()));
            }
            (_, None) => return Err(bad("a request before Hello".into())),
            (Request::Shutdown, Some(_)) => {
                stop = true;
                Reply::Return(Object::None)
            }
            (Request::Channel, Some(_)) => {
                if channel.is_some() {
                    return Err(bad("a second Channel on one connection".into()));
                }
                *channel = Some(fresh_caller(st));
                Reply::Return(Object::None)
            }
            (request, Some(id)) => match handle_as(st, id, channel.unwrap_or(id), request) {
                Step::Now(r) => r,
                Step::Wait(f, shared_as) => match wait_or_hang_up(f, s, rb).await? {
                    Some(Ok(o)) => match shared_as {
                        None => Reply::Return(o),
                        Some(typeid) => {
                            share_result(st, &mut st.state.borrow_mut(), id, &typeid, o)
                        }
                    },
                    Some(Err(e)) => Reply::Error(e),
                    // The caller is gone: its call is cancelled (the future dropped).
                    None => return Ok(()),
                },
            },
        };
        out.clear();
        out.extend_from_slice(&[0; 4]);
        let mut body = std::mem::take(out);
        body = match postcard::to_extend(&reply, body) {
            Ok(b) => b,
            Err(e) => {
                let mut b = vec![0; 4];
                b = postcard::to_extend(
                    &Reply::Traceback(format!("the reply could not be encoded: {e}")),
                    b,
                )
                .map_err(|e| bad(e.to_string()))?;
                b
            }
        };
        let len = body.len() - 4;
        let (h, hl) = frame::encode_header(len, 0);
        if hl == 4 {
            body[..4].copy_from_slice(&h[..4]);
            s.write_all(&body).await?;
        } else {
            s.write_all(&h[..hl]).await?;
            s.write_all(&body[4..]).await?;
        }
        *out = body;
        if out.capacity() > 4 * READ_BUFFER {
            *out = Vec::with_capacity(256);
        }
        rb.consume();
        if stop {
            s.flush().await?;
            st.stop.notify_one();
            return Ok(());
        }
    }
}

/// Awaits a waiting call while watching its connection: `None` if the caller hangs up first
/// (the future is dropped, cancelling the call, so a dead waiter never takes a lock or an
/// item). Bytes the caller sends meanwhile (its next requests) are kept for later.
async fn wait_or_hang_up<S: AsyncRead + Unpin>(
    mut f: WaitFuture,
    s: &mut S,
    rb: &mut ReadBuf,
) -> io::Result<Option<std::result::Result<Object, Raised>>> {
    loop {
        if rb.end - rb.start > READ_BUFFER * 64 {
            // A caller that pipelines a megabyte behind a waiting call waits for it unwatched.
            return Ok(Some(f.await));
        }
        if rb.end == rb.buf.len() {
            rb.buf.resize(rb.buf.len() + READ_BUFFER, 0);
        }
        tokio::select! {
            // A hang-up known in the same wake-up as the result wins: the dead caller takes
            // nothing (an item it would have got stays in the queue).
            biased;
            n = s.read(&mut rb.buf[rb.end..]) => match n? {
                0 => return Ok(None),
                n => rb.end += n,
            },
            r = &mut f => return Ok(Some(r)),
        }
    }
}

/// Runs a shared type's code, turning a panic into a `#TRACEBACK` reply: the caller gets a
/// `RemoteError` that says `what` panicked, with the panic's message and location; the server
/// goes on (CPython's server, too, answers an exception in a method with its traceback).
///
/// The type's code cannot use a proxy meanwhile (it would wait for this server, which runs one
/// call at a time): such a call fails at once, in a registered function or a generator's
/// iterator as in a `#[managed]` method.
fn caught<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> Result<T, Reply> {
    let _in_method = crate::client::InMethod::enter();
    Caught::catch(f)
        .into_result()
        .map_err(|p| Reply::Traceback(format!("{} {p}", what())))
}

/// Refuses a call of `method` that the object's exposed list leaves out (CPython's
/// `serve_client`): the registration's own list, else the type's [`Shared::exposed`], else
/// no list (anything goes). A method whose result is shared (`method_to_typeid`) is exposed
/// too, as in CPython.
fn check_exposed(
    typeid: &str,
    rules: Option<&Registration>,
    object: &dyn Shared,
    method: &str,
) -> Result<(), Raised> {
    let allowed = match rules {
        Some(r) if r.typeid_of(method).is_some() => true,
        Some(r) if r.exposed_methods().is_some() => r
            .exposed_methods()
            .is_some_and(|l| l.iter().any(|m| m == method)),
        _ => match object.exposed() {
            Some(l) => l.contains(&method),
            None => true,
        },
    };
    if allowed {
        return Ok(());
    }
    let list = exposed_list(rules, object).unwrap_or_default();
    let list = Object::Tuple(list.into_iter().map(Object::Str).collect());
    Err(Raised::new(
        Exception::AttributeError,
        format!("method '{method}' of '{typeid}' object is not in exposed={list}"),
    ))
}

/// The methods a proxy may call (Python's `get_methods`): the registration's list, else the
/// type's, with the `method_to_typeid` methods after them; `None` when there is no list.
fn exposed_list(rules: Option<&Registration>, object: &dyn Shared) -> Option<Vec<String>> {
    let mut list: Vec<String> = match rules.and_then(Registration::exposed_methods) {
        Some(l) => l.to_vec(),
        None => object.exposed()?.iter().map(|m| (*m).to_string()).collect(),
    };
    if let Some(r) = rules {
        for (m, _) in r.methods_to_typeids() {
            if !list.iter().any(|x| x == m) {
                list.push(m.to_string());
            }
        }
    }
    Some(list)
}

/// A value kept as a shared object as it is: the result of a `method_to_typeid` method whose
/// typeid has no constructor, when it is neither a list nor a dict. Its proxy reads it with
/// `get_value`; it has no methods.
struct Held(Object);

impl Shared for Held {
    fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        Err(crate::types::no_method(&self.0.type_name(), method))
    }

    fn value(&self) -> Object {
        self.0.clone()
    }
}

/// The shared object a value becomes when its typeid has no constructor (CPython keeps the
/// object itself): a list or a dict becomes the built-in `list` or `dict` type, with their
/// methods; anything else is [`Held`].
fn held(o: Object) -> Box<dyn Shared> {
    match o {
        Object::List(v) => Box::new(crate::types::List(v)),
        Object::Dict(d) => Box::new(crate::types::Dict(d)),
        other => Box::new(Held(other)),
    }
}

/// Shares `o`, a `method_to_typeid` method's result, as a new object of `typeid` held by
/// `session` (CPython's `Server.create(c, typeid, res)`): made by the typeid's constructor
/// called with `[o]`, or kept as it is ([`held`]) when there is none.
fn share_result(
    st: &ServerState,
    state: &mut State,
    session: u64,
    typeid: &str,
    o: Object,
) -> Reply {
    let Some(registration) = st.registry.registration(typeid) else {
        return traceback(format!(
            "KeyError: no type '{typeid}' registered (a method_to_typeid target)"
        ));
    };
    let holds = holds_references(&o);
    let object = match registration.constructor() {
        Some(make) => match caught(
            || format!("the constructor of '{typeid}'"),
            || make(vec![o]),
        ) {
            Err(panicked) => return panicked,
            Ok(Err(e)) => return Reply::Error(e),
            Ok(Ok(object)) => object,
        },
        None => held(o),
    };
    let id = state.insert(typeid.into(), st.rules(typeid), object, session);
    if holds {
        state.mark_holder(id);
    }
    st.token(typeid, id)
}

/// A waiting call's future whose panic (in any poll) becomes a `RuntimeError` for its caller,
/// naming the method and its object's typeid.
struct CatchPanic {
    future: WaitFuture,
    method: String,
    typeid: Rc<str>,
}

impl std::future::Future for CatchPanic {
    type Output = std::result::Result<Object, Raised>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let f = &mut self.future;
        let _in_method = crate::client::InMethod::enter();
        match Caught::catch(|| f.as_mut().poll(cx)) {
            Caught::Returned(p) => p,
            Caught::Panicked(p) => std::task::Poll::Ready(Err(Raised::new(
                Exception::RuntimeError,
                format!(
                    "the method '{}' of '{}' {p} (while it waited)",
                    self.method, self.typeid
                ),
            ))),
        }
    }
}

/// A waiting call dropped unfinished (its caller hung up): a panic in the future's `Drop` is
/// reported, as an object's is.
impl Drop for CatchPanic {
    fn drop(&mut self) {
        let future = std::mem::replace(&mut self.future, Box::pin(std::future::pending()));
        let (method, typeid) = (&self.method, &self.typeid);
        if let Err(Reply::Traceback(t)) = caught(
            || format!("dropping the waiting call '{method}' of '{typeid}'"),
            || drop(future),
        ) {
            tracing::warn!(target: LOG, "manager: {t}");
        }
    }
}

fn traceback(m: impl Into<String>) -> Reply {
    Reply::Traceback(m.into())
}

/// What a request comes to: a reply now, or one to wait for (and the typeid its result is
/// shared as, for a `method_to_typeid` method).
enum Step {
    Now(Reply),
    Wait(WaitFuture, Option<Rc<str>>),
}

/// A fresh caller session of one connection (a CPython method channel, a
/// [`Request::Channel`]): the locks it takes are its own, released when the server ends it as
/// the connection closes.
fn fresh_caller(st: &ServerState) -> u64 {
    let mut state = st.state.borrow_mut();
    loop {
        let id: u64 = rand::random();
        if id != st.python_session && !state.sessions.contains_key(&id) {
            state.sessions.entry(id).or_default().connections = 1;
            return id;
        }
    }
}

/// [`handle`] with the references taken for `session` and methods called as `caller`'s (a
/// CPython client's references belong to no connection, its calls to its channel).
fn handle_as(st: &ServerState, session: u64, caller: u64, request: Request<'_>) -> Step {
    let mut state = st.state.borrow_mut();
    {
        match request {
            Request::Dummy => Step::Now(Reply::Return(Object::None)),
            Request::Create { typeid, args } => match st.registry.registration(typeid) {
                None => Step::Now(traceback(format!(
                    "KeyError: no type '{typeid}' registered"
                ))),
                Some(r) => match r.constructor().filter(|_| r.creatable()) {
                    None => Step::Now(Reply::Error(not_creatable(typeid, r))),
                    Some(make) => {
                        let holds = args.iter().any(holds_references);
                        let what = || format!("the constructor of '{typeid}'");
                        match caught(what, || make(args)) {
                            Err(panicked) => Step::Now(panicked),
                            Ok(Err(e)) => Step::Now(Reply::Error(e)),
                            Ok(Ok(object)) => {
                                let id =
                                    state.insert(typeid.into(), st.rules(typeid), object, session);
                                if holds {
                                    state.mark_holder(id);
                                }
                                Step::Now(st.token(typeid, id))
                            }
                        }
                    }
                },
            },
            Request::Incref { id } => Step::Now(if state.incref(session, id) {
                Reply::Return(Object::None)
            } else {
                traceback(format!("KeyError: no shared object {id:x}"))
            }),
            Request::Decref { id } => Step::Now(if state.decref(session, id) {
                Reply::Return(Object::None)
            } else {
                traceback(format!("this client holds no reference to {id:x}"))
            }),
            Request::Lend { id } => {
                if let Some(e) = state.objects.get_mut(&id) {
                    e.refs += 1;
                    let ticket = loop {
                        let t: u64 = rand::random();
                        if !state.tickets.contains_key(&t) {
                            break t;
                        }
                    };
                    state.tickets.insert(
                        ticket,
                        Ticket {
                            id,
                            expires: Instant::now() + st.ticket_lifetime,
                        },
                    );
                    Step::Now(Reply::Ticket(ticket))
                } else {
                    Step::Now(traceback(format!("KeyError: no shared object {id:x}")))
                }
            }
            Request::Claim { ticket } => match state.tickets.remove(&ticket) {
                Some(t) => {
                    *state
                        .sessions
                        .entry(session)
                        .or_default()
                        .refs
                        .entry(t.id)
                        .or_default() += 1;
                    Step::Now(Reply::Return(Object::None))
                }
                None => Step::Now(traceback("KeyError: no such ticket (claimed or expired)")),
            },
            Request::NumberOfObjects => {
                Step::Now(Reply::Return(Object::Int(state.objects.len() as i128)))
            }
            Request::DebugInfo => Step::Now(Reply::Return(Object::Str(state.debug_info()))),
            Request::Call {
                id,
                thread,
                method,
                args,
            } => {
                let holds = args.iter().any(holds_references);
                if matches!(method, "__repr__" | "__str__") {
                    return Step::Now(match state.repr(id) {
                        Some(r) => Reply::Return(Object::Str(r)),
                        None => traceback(format!("KeyError: no shared object {id:x}")),
                    });
                }
                let Some(e) = state.objects.get_mut(&id) else {
                    return Step::Now(traceback(format!("KeyError: no shared object {id:x}")));
                };
                let was_holder = e.holds;
                // A method_to_typeid method's result becomes a shared object of that typeid.
                let shared_as: Option<Rc<str>> = e
                    .rules
                    .as_deref()
                    .and_then(|r| r.typeid_of(method))
                    .map(Rc::from);
                let typeid = e.typeid.clone();
                let what = || format!("the method '{method}' of '{typeid}'");
                // Whether the type saw the arguments (and may have kept the proxies in them).
                let mut called = false;
                let r = match method {
                    "#GETVALUE" => caught(what, || Ok(Outcome::Return(e.object.value()))),
                    _ => caught(what, || {
                        check_exposed(&e.typeid, e.rules.as_deref(), &*e.object, method)?;
                        called = true;
                        e.object.call(
                            method,
                            args,
                            Caller {
                                session: caller,
                                thread,
                                // A caller of its own outside the CPython clients' session is
                                // a `Request::Channel`'s.
                                channel: caller != session && session != st.python_session,
                            },
                        )
                    }),
                };
                if holds && called {
                    state.mark_holder(id);
                }
                let step = match r {
                    Err(panicked) => Step::Now(panicked),
                    Ok(r) => match r {
                        Ok(Outcome::Return(o)) => Step::Now(match &shared_as {
                            None => Reply::Return(o),
                            Some(t) => share_result(st, &mut state, session, t, o),
                        }),
                        Ok(Outcome::Share { typeid, object }) => {
                            let typeid = shared_as.map_or(typeid, |t| t.to_string());
                            let rules = st.rules(&typeid);
                            let new = state.insert(typeid.as_str().into(), rules, object, session);
                            Step::Now(st.token(typeid, new))
                        }
                        Ok(Outcome::Wait(future)) => Step::Wait(
                            Box::pin(CatchPanic {
                                future,
                                method: method.to_string(),
                                typeid,
                            }),
                            shared_as,
                        ),
                        Err(e) => Step::Now(Reply::Error(e)),
                    },
                };
                // An element taken out of a holder may have been the last way to reach it.
                if was_holder {
                    state.collect();
                }
                step
            }
            Request::GetMethods { id } => Step::Now(match state.objects.get(&id) {
                None => traceback(format!("KeyError: no shared object {id:x}")),
                Some(e) => match caught(
                    || format!("the exposed list of '{}'", e.typeid),
                    || exposed_list(e.rules.as_deref(), &*e.object),
                ) {
                    Err(panicked) => panicked,
                    Ok(None) => Reply::Return(Object::None),
                    Ok(Some(l)) => {
                        Reply::Return(Object::List(l.into_iter().map(Object::Str).collect()))
                    }
                },
            }),
            Request::Hello { .. } | Request::Shutdown | Request::Channel => {
                Step::Now(traceback("a connection-level request out of place"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::type_error;

    /// The documentation's `Foo`: `f`, `g` and `_h`, its public methods `f` and `g`; `pair`
    /// and `count` answer values, `boom` panics.
    struct Foo;

    impl Shared for Foo {
        fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
            match method {
                "f" | "g" | "_h" => Ok(Outcome::Return(Object::Str(format!("Foo.{method}()")))),
                "pair" => Ok(Outcome::Return(Object::List(vec![
                    Object::Int(1),
                    Object::Int(2),
                ]))),
                "count" => Ok(Outcome::Return(Object::Int(7))),
                "twin" => Ok(Outcome::Share {
                    typeid: "ignored".into(),
                    object: Box::new(Foo),
                }),
                "boom" => panic!("Foo went boom"),
                _ => Err(type_error(method)),
            }
        }
        fn value(&self) -> Object {
            Object::Str("a Foo".into())
        }
        fn exposed(&self) -> Option<&[&'static str]> {
            Some(&["f", "g"])
        }
    }

    fn make_foo(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
        Ok(Box::new(Foo))
    }

    fn server() -> ServerState {
        let mut r = Registry::builtin();
        r.register("Foo1", make_foo)
            .register_with("Foo2", Registration::new(make_foo).exposed(["g", "_h"]))
            .register_with(
                "Maker",
                Registration::new(make_foo).method_to_typeid([
                    ("pair", "Pair"),
                    ("count", "Count"),
                    ("twin", "Foo2"),
                    ("f", "list"),
                ]),
            )
            .register_with("Pair", Registration::without_constructor())
            .register_with("Count", Registration::without_constructor())
            .register_with("Hidden", Registration::new(make_foo).create_method(false));
        ServerState::new(
            r,
            AuthKey::new(b"k".to_vec()),
            "@test".into(),
            DEFAULT_HANDSHAKE_TIMEOUT,
            DEFAULT_MAX_MESSAGE,
            DEFAULT_TICKET_LIFETIME,
        )
    }

    fn now(st: &ServerState, request: Request<'_>) -> Reply {
        match handle_as(st, 1, 1, request) {
            Step::Now(r) => r,
            Step::Wait(..) => panic!("a call that waits"),
        }
    }

    fn create(st: &ServerState, typeid: &str) -> Reply {
        now(
            st,
            Request::Create {
                typeid,
                args: Vec::new(),
            },
        )
    }

    fn id(r: Reply) -> Token {
        match r {
            Reply::Proxy(t) => t,
            other => panic!("not a proxy: {other:?}"),
        }
    }

    fn call(st: &ServerState, id: u64, method: &str) -> Reply {
        now(
            st,
            Request::Call {
                id,
                thread: 1,
                method,
                args: Vec::new(),
            },
        )
    }

    fn error(r: Reply) -> Raised {
        match r {
            Reply::Error(e) => e,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn an_unexposed_method_is_refused_naming_it_the_type_and_the_list() {
        let st = server();
        let foo1 = id(create(&st, "Foo1")).id;
        assert_eq!(
            call(&st, foo1, "f"),
            Reply::Return(Object::Str("Foo.f()".into()))
        );
        let e = error(call(&st, foo1, "_h"));
        assert_eq!(e.exception, Exception::AttributeError);
        assert_eq!(
            e.message,
            "method '_h' of 'Foo1' object is not in exposed=('f', 'g')"
        );
        // `boom` is not exposed either: refused before the type sees it (no panic).
        assert_eq!(
            error(call(&st, foo1, "boom")).exception,
            Exception::AttributeError
        );
        // The names every object answers.
        assert_eq!(
            call(&st, foo1, "#GETVALUE"),
            Reply::Return(Object::Str("a Foo".into()))
        );
        assert!(matches!(
            call(&st, foo1, "__repr__"),
            Reply::Return(Object::Str(_))
        ));
        assert!(matches!(
            call(&st, foo1, "__str__"),
            Reply::Return(Object::Str(_))
        ));

        // The registration's own list wins over the type's.
        let foo2 = id(create(&st, "Foo2")).id;
        assert_eq!(
            call(&st, foo2, "_h"),
            Reply::Return(Object::Str("Foo._h()".into()))
        );
        assert_eq!(
            error(call(&st, foo2, "f")).message,
            "method 'f' of 'Foo2' object is not in exposed=('g', '_h')"
        );
        let methods = |id| now(&st, Request::GetMethods { id });
        let strs = |l: &[&str]| Object::List(l.iter().map(|m| Object::Str((*m).into())).collect());
        assert_eq!(methods(foo1), Reply::Return(strs(&["f", "g"])));
        assert_eq!(methods(foo2), Reply::Return(strs(&["g", "_h"])));
        // A type without a list: anything goes.
        let d = id(create(&st, "dict")).id;
        assert_eq!(methods(d), Reply::Return(Object::None));
        assert!(matches!(methods(999), Reply::Traceback(_)));
    }

    #[test]
    fn method_to_typeid_results_become_shared_objects() {
        let st = server();
        let maker = id(create(&st, "Maker")).id;
        // The mapped methods are exposed besides the type's list (as in CPython).
        assert_eq!(
            now(&st, Request::GetMethods { id: maker }),
            Reply::Return(Object::List(
                ["f", "g", "count", "pair", "twin"]
                    .iter()
                    .map(|m| Object::Str((*m).into()))
                    .collect()
            ))
        );
        // A list with no constructor for its typeid: the built-in list type, under `Pair`.
        let pair = id(call(&st, maker, "pair"));
        assert_eq!(pair.typeid, "Pair");
        assert_eq!(call(&st, pair.id, "__len__"), Reply::Return(Object::Int(2)));
        // Anything else is held as it is, with no methods.
        let count = id(call(&st, maker, "count"));
        assert_eq!(
            call(&st, count.id, "#GETVALUE"),
            Reply::Return(Object::Int(7))
        );
        assert_eq!(
            error(call(&st, count.id, "bit_length")).exception,
            Exception::AttributeError
        );
        // A typeid with a constructor makes the object from the result, as Python's
        // `list('Foo.f()')`: a list of its characters.
        let chars = id(call(&st, maker, "f"));
        assert_eq!(chars.typeid, "list");
        assert_eq!(
            call(&st, chars.id, "__len__"),
            Reply::Return(Object::Int(7))
        );
        // A shared result is shared under the mapped typeid, with that typeid's rules.
        let twin = id(call(&st, maker, "twin"));
        assert_eq!(twin.typeid, "Foo2");
        assert_eq!(
            call(&st, twin.id, "_h"),
            Reply::Return(Object::Str("Foo._h()".into()))
        );
        assert_eq!(
            error(call(&st, twin.id, "f")).exception,
            Exception::AttributeError
        );
        assert_eq!(st.state.borrow().objects.len(), 5);
    }

    #[test]
    fn a_typeid_not_creatable_by_name_is_refused() {
        let st = server();
        for typeid in ["Pair", "Hidden"] {
            let e = error(create(&st, typeid));
            assert_eq!(e.exception, Exception::AttributeError);
            assert!(e.message.contains(&format!("'{typeid}'")), "{e}");
        }
        assert!(matches!(create(&st, "Nothing"), Reply::Traceback(_)));
        assert!(st.state.borrow().objects.is_empty());
    }

    #[test]
    fn a_panic_comes_back_with_its_message_and_location_and_the_server_goes_on() {
        let mut r = Registry::new();
        r.register("Foo", make_foo)
            .register_with("Open", Registration::new(make_foo).exposed(["boom", "f"]));
        let st = ServerState::new(
            r,
            AuthKey::new(b"k".to_vec()),
            "@test".into(),
            DEFAULT_HANDSHAKE_TIMEOUT,
            DEFAULT_MAX_MESSAGE,
            DEFAULT_TICKET_LIFETIME,
        );
        let open = id(create(&st, "Open")).id;
        match call(&st, open, "boom") {
            Reply::Traceback(t) => {
                assert!(
                    t.starts_with("the method 'boom' of 'Open' panicked at "),
                    "{t}"
                );
                assert!(t.contains("server.rs:"), "{t}");
                assert!(t.ends_with(": Foo went boom"), "{t}");
            }
            other => panic!("not a traceback: {other:?}"),
        }
        assert_eq!(
            call(&st, open, "f"),
            Reply::Return(Object::Str("Foo.f()".into()))
        );
    }
}
