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

/// This thread's number within the process (a caller's identity for types that track owners).
pub(crate) fn thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ID.with(|id| *id)
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
}

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
        let name = identity::current().name;
        let request = Request::Hello {
            session: self.id,
            name: &name,
        };
        encode_request_into(&request, &mut c.buf).map_err(|e| Error::Codec(e.to_string()))?;
        c.conn.send_bytes(&c.buf).map_err(|e| self.map_err(e))?;
        let bytes = c
            .conn
            .recv_bytes_max(python_client::MAX_REPLY)
            .map_err(|e| self.map_err(e))?;
        match decode_reply(&bytes) {
            Ok(Reply::Return(_)) => {
                self.peer.store(PEER_OURS, Ordering::Relaxed);
                Ok(Some(c))
            }
            Ok(other) => Err(unexpected(other)),
            // A postcard reply never starts with a pickle's PROTO opcode and version (a
            // variant number of 256 or more), so this cannot mistake our server for CPython's.
            Err(_) if python_client::is_refused_hello(&bytes) => {
                self.peer.store(PEER_PYTHON, Ordering::Relaxed);
                Ok(None)
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
        decode_reply(&bytes).map_err(|e| Error::Codec(format!("a malformed reply: {e}")))
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

/// The error for a reply that is not the one expected (an error reply, most often).
pub(crate) fn unexpected(reply: Reply) -> Error {
    match reply {
        Reply::Error(r) => Error::Raised(r),
        Reply::Traceback(t) => Error::Remote(t),
        other => Error::Codec(format!("an unexpected reply from the manager: {other:?}")),
    }
}
