//! The client side: one *session* per process and manager, holding that process's connections.
//!
//! A session is identified to the server by a random id, made afresh in every process (a
//! forked child never reuses its parent's session or sockets: CPython gh-101320). Its
//! connections are kept in a small pool: a call takes an idle connection (or opens one),
//! sends its request, reads the reply and puts the connection back, so threads calling at once
//! each have their own connection, a thread blocked in a waiting call blocks nobody else, and
//! a thread that ends leaves its connection for the next caller. The references the process's
//! proxies hold belong to the session; the server releases them when the session's last
//! connection closes, so a process that dies without dropping its proxies leaks nothing.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use multiprocessing_connection::{Address, AuthKey, Client, Connection};
use multiprocessing_core::fork::{self, ForkMutex};
use multiprocessing_core::identity;

use crate::error::{Error, Result};
use crate::object::{Object, Token};
use crate::protocol::{Reply, Request, decode_reply, encode_request_into};
use crate::python_client;

/// The numbers of callers within the process: threads, and async lock holds.
static NEXT_CALLER: AtomicU64 = AtomicU64::new(1);

/// This thread's number within the process (a caller's identity for types that track owners).
pub(crate) fn thread_id() -> u64 {
    thread_local! {
        static ID: u64 = NEXT_CALLER.fetch_add(1, Ordering::Relaxed);
    }
    ID.with(|id| *id)
}

/// A caller number no thread has, for one async hold (a task moves between threads, so its
/// thread's number cannot be the owner).
#[cfg(feature = "tokio")]
fn fresh_caller_id() -> u64 {
    NEXT_CALLER.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    /// Set while this thread runs a shared type's code in a manager's server (a method, a
    /// constructor, a generator's iterator, a `Drop`): a proxy used there would wait for the
    /// server, which serves one call at a time, to answer itself.
    static IN_METHOD: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as running a shared object's method until it drops.
pub(crate) struct InMethod(bool);

impl InMethod {
    pub(crate) fn enter() -> InMethod {
        InMethod(IN_METHOD.replace(true))
    }
}

impl Drop for InMethod {
    fn drop(&mut self) {
        IN_METHOD.set(self.0);
    }
}

/// How long connecting and authenticating to a server may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection and its encoding buffer, reused call after call.
pub(crate) struct Conn {
    pub(crate) conn: Connection,
    buf: Vec<u8>,
    /// The thread that opened it: a CPython server ties a lock's owner to the connection's
    /// serving thread, so a CPython session gives each thread its own connections.
    thread: u64,
}

/// What the server turned out to be ([`Session::peer`]).
const PEER_UNKNOWN: u8 = 0;
const PEER_OURS: u8 = 1;
const PEER_PYTHON: u8 = 2;

/// One process's connections to one manager.
pub(crate) struct Session {
    address: Address,
    text: String,
    authkey: AuthKey,
    id: u64,
    generation: u64,
    idle: Mutex<Vec<Conn>>,
    /// Whether the server is ours or CPython's, learnt from the first connection's answer.
    peer: AtomicU8,
    /// Channels whose hold was released, holding nothing, kept for the next async hold (an
    /// acquire then costs one round trip, not a connection and a handshake), with their
    /// caller numbers; at most [`IDLE_CHANNELS`].
    #[cfg(feature = "tokio")]
    channels: Mutex<Vec<(Connection, u64)>>,
}

/// How many released channels a session keeps open for later async holds.
#[cfg(feature = "tokio")]
const IDLE_CHANNELS: usize = 4;

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("address", &self.text)
            .field("id", &format_args!("{:016x}", self.id))
            .finish_non_exhaustive()
    }
}

struct Sessions {
    generation: u64,
    pid: u32,
    by_address: HashMap<String, Arc<Session>>,
}

/// Every session of this process; emptied in a forked child (the generation changes).
static SESSIONS: ForkMutex<Option<Sessions>> = ForkMutex::new(None);

/// This process's session with the manager at `address`, made on first use.
pub(crate) fn session(address: &Address, authkey: &AuthKey) -> Arc<Session> {
    let generation = fork::generation();
    let pid = std::process::id();
    let text = address.to_string();
    let mut all = SESSIONS.lock();
    let all = match &mut *all {
        // The fork generation catches every child forked through libc; the pid, a child made
        // some other way.
        Some(s) if s.generation == generation && s.pid == pid => s,
        slot => {
            // Inherited sessions are the parent's: their sockets close here (the parent's
            // stay open) and nothing is sent on them.
            *slot = Some(Sessions {
                generation,
                pid,
                by_address: HashMap::new(),
            });
            slot.as_mut().unwrap_or_else(|| unreachable!())
        }
    };
    if let Some(s) = all.by_address.get(&text)
        && s.authkey.as_bytes() == authkey.as_bytes()
    {
        return s.clone();
    }
    let s = Arc::new(Session {
        address: address.clone(),
        text: text.clone(),
        authkey: authkey.clone(),
        id: rand::random(),
        generation,
        idle: Mutex::new(Vec::new()),
        peer: AtomicU8::new(PEER_UNKNOWN),
        #[cfg(feature = "tokio")]
        channels: Mutex::new(Vec::new()),
    });
    all.by_address.insert(text, s.clone());
    s
}

/// Forgets this process's session with `address` (its server is gone), closing its
/// connections.
pub(crate) fn forget(address: &str) {
    if let Some(all) = &mut *SESSIONS.lock()
        && all.generation == fork::generation()
    {
        all.by_address.remove(address);
    }
}

impl Session {
    /// The server's address as this process reaches it.
    pub(crate) fn address_text(&self) -> &str {
        &self.text
    }

    /// The key this session authenticates with.
    pub(crate) fn authkey(&self) -> &AuthKey {
        &self.authkey
    }

    /// Whether this session belongs to the current process (not inherited through a fork).
    pub(crate) fn is_current(&self) -> bool {
        self.generation == fork::generation()
    }

    fn gone(&self, reason: impl ToString) -> Error {
        Error::ManagerGone {
            address: self.text.clone(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn map_err(&self, e: multiprocessing_connection::Error) -> Error {
        use multiprocessing_connection::Error as C;
        match e {
            C::Eof | C::UnexpectedEof | C::Closed => self.gone(e),
            C::Io(ref io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::NotFound
                ) =>
            {
                self.gone(e)
            }
            C::Authentication(m) => Error::Authentication(m),
            other => Error::Connection(other),
        }
    }

    /// A new authenticated connection, nothing sent on it yet.
    pub(crate) fn connect_raw(&self) -> Result<Connection> {
        Client::builder(self.address.clone())
            .authkey(self.authkey.clone())
            .timeout(Some(CONNECT_TIMEOUT))
            .connect()
            .map_err(|e| self.map_err(e))
    }

    /// A new connection of this session, introduced to the server with `Hello`; `None` when
    /// the server is CPython's (which answered the `Hello` it could not unpickle with a
    /// pickled `#TRACEBACK`, and closed the connection): the session speaks CPython's
    /// protocol from then on.
    fn connect(&self) -> Result<Option<Conn>> {
        let conn = self.connect_raw()?;
        let mut c = Conn {
            conn,
            buf: Vec::with_capacity(128),
            thread: thread_id(),
        };
        self.encode_hello(&mut c.buf)?;
        c.conn.send_bytes(&c.buf).map_err(|e| self.map_err(e))?;
        let bytes = c
            .conn
            .recv_bytes_max(python_client::MAX_REPLY)
            .map_err(|e| self.map_err(e))?;
        Ok(self.hello_answered(&bytes)?.then_some(c))
    }

    /// The `Hello` that introduces a new connection of this session, encoded into `buf`.
    fn encode_hello(&self, buf: &mut Vec<u8>) -> Result<()> {
        let name = identity::current().name;
        let request = Request::Hello {
            session: self.id,
            name: &name,
        };
        encode_request_into(&request, buf).map_err(|e| Error::Codec(e.to_string()))
    }

    /// Reads the server's answer to `Hello`, recording what the server is: `true` for ours,
    /// `false` for CPython's (the connection is then of no further use).
    fn hello_answered(&self, bytes: &[u8]) -> Result<bool> {
        match decode_reply(bytes) {
            Ok(Reply::Return(_)) => {
                self.peer.store(PEER_OURS, Ordering::Relaxed);
                Ok(true)
            }
            Ok(other) => Err(unexpected(other)),
            // A postcard reply never starts with a pickle's PROTO opcode and version (a
            // variant number of 256 or more), so this cannot mistake our server for CPython's.
            Err(_) if python_client::is_refused_hello(bytes) => {
                self.peer.store(PEER_PYTHON, Ordering::Relaxed);
                Ok(false)
            }
            Err(e) => Err(Error::Codec(format!("a malformed reply: {e}"))),
        }
    }

    /// Whether the server is CPython's, asking it first if no connection has told yet.
    pub(crate) fn is_python(&self) -> Result<bool> {
        match self.peer.load(Ordering::Relaxed) {
            PEER_OURS => Ok(false),
            PEER_PYTHON => Ok(true),
            _ => match self.connect().inspect_err(|e| self.on_error(e))? {
                Some(c) => {
                    self.put_idle(c);
                    Ok(false)
                }
                None => Ok(true),
            },
        }
    }

    /// An idle connection this thread opened, if any (a CPython session's method channel).
    pub(crate) fn take_own_idle(&self) -> Option<Conn> {
        let me = thread_id();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let at = idle.iter().rposition(|c| c.thread == me)?;
        Some(idle.swap_remove(at))
    }

    /// Keeps `conn` for the next request.
    pub(crate) fn put_idle(&self, c: Conn) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(c);
    }

    /// Wraps a connection of this thread for the pool.
    pub(crate) fn own_conn(conn: Connection) -> Conn {
        Conn {
            conn,
            buf: Vec::new(),
            thread: thread_id(),
        }
    }

    /// Calls `method` of the object `token` names: the one request that needs the object's
    /// type, to speak to a CPython server in its proxies' terms.
    pub(crate) fn call_method(
        &self,
        token: &Token,
        method: &str,
        args: Vec<Object>,
    ) -> Result<Reply> {
        self.check_not_in_method()?;
        if self.is_python()? {
            return python_client::call(self, &token.typeid, token.id, method, args)
                .inspect_err(|e| self.on_error(e));
        }
        self.request(&Request::Call {
            id: token.id,
            thread: thread_id(),
            method,
            args,
        })
    }

    fn check_not_in_method(&self) -> Result<()> {
        if IN_METHOD.get() {
            return Err(Error::InvalidArgument(
                "a proxy cannot be used inside a shared object's method: the manager's server \
                 runs one call at a time, and would wait for itself"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Sends the request encoded in `c.buf` and reads the reply.
    fn send_encoded(&self, c: &mut Conn) -> Result<Reply> {
        c.conn.send_bytes(&c.buf).map_err(|e| self.map_err(e))?;
        let bytes = c.conn.recv_bytes().map_err(|e| self.map_err(e))?;
        reply_of(&bytes)
    }

    /// Sends `request` and returns the server's reply.
    pub(crate) fn request(&self, request: &Request<'_>) -> Result<Reply> {
        self.check_not_in_method()?;
        if self.peer.load(Ordering::Relaxed) == PEER_PYTHON {
            return python_client::request(self, request).inspect_err(|e| self.on_error(e));
        }
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut c = match idle {
            Some(c) => c,
            None => match self.connect().inspect_err(|e| self.on_error(e))? {
                Some(c) => c,
                None => {
                    return python_client::request(self, request).inspect_err(|e| self.on_error(e));
                }
            },
        };
        if let Err(e) = encode_request_into(request, &mut c.buf) {
            // Nothing was sent: the connection is as good as before.
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(c);
            return Err(Error::Codec(e.to_string()));
        }
        match self.send_encoded(&mut c) {
            Ok(reply) => {
                self.idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(c);
                Ok(reply)
            }
            // The connection is dropped: a half-read reply would desynchronise it.
            Err(e) => {
                self.on_error(&e);
                Err(e)
            }
        }
    }

    pub(crate) fn on_error(&self, e: &Error) {
        if matches!(e, Error::ManagerGone { .. }) {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            forget(&self.text);
        }
    }

    /// Sends `request` and returns the value of a `Return` reply, mapping the others to errors.
    pub(crate) fn call(&self, request: &Request<'_>) -> Result<Object> {
        match self.request(request)? {
            Reply::Return(o) => Ok(o),
            other => Err(unexpected(other)),
        }
    }
}

/// The reply a server sent as `bytes`.
fn reply_of(bytes: &[u8]) -> Result<Reply> {
    decode_reply(bytes).map_err(|e| Error::Codec(format!("a malformed reply: {e}")))
}

/// The async client (feature `tokio`): the same requests, encodings and connection pool as the
/// blocking one, with the connection's I/O awaited.
///
/// A call takes an idle connection (turned async for the call, and back after) only when
/// another stays idle, and opens one of its own otherwise: a call dropped before its reply is
/// read closes its connection (its next reply would be the dropped call's), and the session
/// must keep a connection open, or the server would release its references.
#[cfg(feature = "tokio")]
impl Session {
    /// [`call_method`](Self::call_method), awaited. A CPython server is spoken to by the
    /// blocking client on tokio's blocking threads.
    pub(crate) async fn call_method_async(
        self: Arc<Self>,
        token: &Token,
        method: &str,
        args: Vec<Object>,
    ) -> Result<Reply> {
        self.check_not_in_method()?;
        if self.peer.load(Ordering::Relaxed) != PEER_PYTHON {
            let conn = self
                .connection_async()
                .await
                .inspect_err(|e| self.on_error(e))?;
            // `None`: the server is CPython's, learnt just now.
            if let Some(conn) = conn {
                let request = Request::Call {
                    id: token.id,
                    thread: thread_id(),
                    method,
                    args,
                };
                return self.request_on(conn, &request).await;
            }
        }
        let (token, method) = (token.clone(), method.to_string());
        tokio::task::spawn_blocking(move || self.call_method(&token, &method, args))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
    }

    /// Sends `request` on `conn` and reads the reply; the connection goes back to the pool
    /// only once its reply is read.
    async fn request_on(
        &self,
        mut conn: multiprocessing_connection::tokio::Connection,
        request: &Request<'_>,
    ) -> Result<Reply> {
        let mut buf = Vec::with_capacity(128);
        encode_request_into(request, &mut buf).map_err(|e| Error::Codec(e.to_string()))?;
        let sent = conn.send_bytes(&buf).await;
        let bytes = match sent {
            Ok(()) => conn.recv_bytes().await,
            Err(e) => Err(e),
        }
        .map_err(|e| self.map_err(e))
        .inspect_err(|e| self.on_error(e))?;
        let reply = reply_of(&bytes)?;
        if let Ok(conn) = conn.into_std() {
            self.put_idle(Conn {
                conn,
                buf,
                thread: thread_id(),
            });
        }
        Ok(reply)
    }

    /// A connection for one async call: an idle one if another stays idle, else a new one;
    /// `None` when the server turns out to be CPython's.
    async fn connection_async(
        &self,
    ) -> Result<Option<multiprocessing_connection::tokio::Connection>> {
        use multiprocessing_connection::tokio as mp;
        let spare = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() >= 2 { idle.pop() } else { None }
        };
        if let Some(c) = spare {
            return mp::Connection::try_from(c.conn)
                .map(Some)
                .map_err(|e| self.map_err(e));
        }
        self.connect_async().await
    }

    /// A new async connection of this session, introduced with `Hello`; `None` when the
    /// server turns out to be CPython's.
    async fn connect_async(&self) -> Result<Option<multiprocessing_connection::tokio::Connection>> {
        use multiprocessing_connection::tokio as mp;
        let mut conn = mp::client(&self.address, Some(&self.authkey))
            .await
            .map_err(|e| self.map_err(e))?;
        let mut buf = Vec::with_capacity(128);
        self.encode_hello(&mut buf)?;
        conn.send_bytes(&buf).await.map_err(|e| self.map_err(e))?;
        let bytes = conn
            .recv_bytes_max(python_client::MAX_REPLY)
            .await
            .map_err(|e| self.map_err(e))?;
        Ok(self.hello_answered(&bytes)?.then_some(conn))
    }
}

/// A connection of a session whose calls are made by a caller of its own
/// ([`Request::Channel`]), for one async hold of a lock, semaphore or condition: its owner
/// is the connection, not a thread, so the hold moves between threads with its task, and the
/// server releases a lock the connection holds when it closes.
#[cfg(feature = "tokio")]
pub(crate) struct Channel {
    /// `None` once a call on it was dropped mid-way (its reply would answer the next).
    conn: Option<multiprocessing_connection::tokio::Connection>,
    session: Arc<Session>,
    caller: u64,
}

#[cfg(feature = "tokio")]
impl Session {
    /// A new [`Channel`] of this session. A CPython server is refused (`Unsupported`): it
    /// ties a lock to its thread serving the connection and never releases a lock whose
    /// connection closed, so a hold cannot follow a task safely.
    pub(crate) async fn channel_async(self: Arc<Self>) -> Result<Channel> {
        self.check_not_in_method()?;
        // Of kind `Unsupported`, as a method the server does not have.
        let refused = || {
            Error::Raised(crate::protocol::Raised::new(
                crate::protocol::Exception::AttributeError,
                "an async lock hold needs this crate's manager server (a CPython server ties \
                 a lock to its serving thread)",
            ))
        };
        if self.peer.load(Ordering::Relaxed) == PEER_PYTHON {
            return Err(refused());
        }
        let idle = self
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some((conn, caller)) = idle
            && let Ok(conn) = multiprocessing_connection::tokio::Connection::try_from(conn)
        {
            return Ok(Channel {
                conn: Some(conn),
                session: self,
                caller,
            });
        }
        let Some(conn) = self
            .connect_async()
            .await
            .inspect_err(|e| self.on_error(e))?
        else {
            return Err(refused());
        };
        let mut ch = Channel {
            conn: Some(conn),
            session: self,
            caller: fresh_caller_id(),
        };
        match ch.request(&Request::Channel).await? {
            Reply::Return(_) => Ok(ch),
            other => Err(unexpected(other)),
        }
    }
}

#[cfg(feature = "tokio")]
impl Channel {
    /// Calls `method` of `token`'s object as this channel's caller.
    pub(crate) async fn call_method(
        &mut self,
        token: &Token,
        method: &str,
        args: Vec<Object>,
    ) -> Result<Reply> {
        let request = Request::Call {
            id: token.id,
            thread: self.caller,
            method,
            args,
        };
        self.request(&request).await
    }

    /// Releases `token`'s object held on this channel, and keeps the channel, holding nothing
    /// now, for the session's next async hold.
    pub(crate) async fn release(mut self, token: &Token) -> Result<Reply> {
        let reply = self.call_method(token, "release", Vec::new()).await?;
        if matches!(reply, Reply::Return(_)) {
            self.recycle();
        }
        Ok(reply)
    }

    /// Keeps the connection for a later hold (it holds nothing and no reply is pending).
    fn recycle(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let Ok(conn) = conn.into_std() else { return };
        Self::keep(&self.session, conn, self.caller);
    }

    fn keep(session: &Session, conn: Connection, caller: u64) {
        let mut idle = session
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_CHANNELS {
            idle.push((conn, caller));
        }
    }

    /// Sends `request` and reads its reply. The connection is taken out meanwhile: a call
    /// dropped before its reply leaves none, and the connection closes with the call.
    async fn request(&mut self, request: &Request<'_>) -> Result<Reply> {
        let Some(mut conn) = self.conn.take() else {
            return Err(Error::InvalidArgument(
                "this hold's connection closed when a call on it was dropped mid-way: the \
                 server released what it held"
                    .into(),
            ));
        };
        let mut buf = Vec::with_capacity(64);
        encode_request_into(request, &mut buf).map_err(|e| Error::Codec(e.to_string()))?;
        let sent = conn.send_bytes(&buf).await;
        let bytes = match sent {
            Ok(()) => conn.recv_bytes().await,
            Err(e) => Err(e),
        }
        .map_err(|e| self.session.map_err(e))?;
        self.conn = Some(conn);
        reply_of(&bytes)
    }

    /// Releases `token`'s object held on this channel without awaiting (a guard's `Drop`):
    /// on the current tokio runtime when there is one, by a task that sends `release` and
    /// reads its reply (a runtime shutting down drops the task, closing the connection,
    /// which releases the hold at the server); with no runtime, by one blocking round trip.
    pub(crate) fn release_detached(mut self, token: Token) {
        if self.conn.is_none() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            // A runtime shutting down drops the task, and the connection with it.
            drop(rt.spawn(async move {
                let _ = self.release(&token).await;
            }));
            return;
        }
        // No runtime to run on: one blocking round trip (the server answers a release at
        // once). A failure means the server is gone, and the hold with it.
        let Some(conn) = self.conn.take() else { return };
        let Ok(mut conn) = conn.into_std() else {
            return;
        };
        let mut buf = Vec::with_capacity(64);
        let request = Request::Call {
            id: token.id,
            thread: self.caller,
            method: "release",
            args: Vec::new(),
        };
        if encode_request_into(&request, &mut buf).is_ok()
            && conn.send_bytes(&buf).is_ok()
            && let Ok(bytes) = conn.recv_bytes()
            && matches!(reply_of(&bytes), Ok(Reply::Return(_)))
        {
            Self::keep(&self.session, conn, self.caller);
        }
    }
}

/// The error for a reply that is not the one expected (an error reply, most often).
pub(crate) fn unexpected(reply: Reply) -> Error {
    match reply {
        Reply::Error(r) => Error::Raised(r),
        Reply::Traceback(t) => Error::Remote(t),
        other => Error::Codec(format!("an unexpected reply from the manager: {other:?}")),
    }
}
