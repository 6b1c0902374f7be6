//! [`Listener`]: accepts connections on a Unix or TCP socket and authenticates them, Python's
//! `multiprocessing.connection.Listener`.
//!
//! With an authkey, [`Listener::accept`] runs the CPython handshake (challenge first, then
//! answer the client's challenge) with every connected client at once: one `poll` loop drives
//! all pending handshakes over the sockets without blocking on any, each bounded by the
//! handshake timeout as a deadline for its whole exchange. `accept` returns the first that
//! completes (or the first failure) and keeps the others pending for the next call, so silent,
//! slow or hostile clients cannot hold up a legitimate one. At most
//! [`ListenerBuilder::max_pending`] handshakes are pending; beyond that the oldest is dropped.
//! (CPython has no timeout here and serves one client at a time, blocking forever.)
//!
//! ```
//! use multiprocessing_connection::{AuthKey, Listener, client};
//! let key = AuthKey::new(b"secret".to_vec());
//! let listener = Listener::builder().address("127.0.0.1:0".parse().unwrap()).authkey(key.clone()).bind().unwrap();
//! let address = listener.address().clone();
//! let t = std::thread::spawn(move || {
//!     let mut c = client(&address, Some(&key)).unwrap();
//!     c.send_bytes(b"hello").unwrap();
//! });
//! let mut conn = listener.accept().unwrap();
//! assert_eq!(conn.recv_bytes().unwrap(), b"hello");
//! assert!(listener.last_accepted().is_some());
//! t.join().unwrap();
//! ```

use std::net::ToSocketAddrs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use multiprocessing_core::AuthKey;
use multiprocessing_core::time::{self, Deadline, Waitable};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::auth::Handshake;
use crate::connection::Kind;
use crate::{Address, Connection, Error, Result, handshake_io};

/// Default time a client gets to complete the handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default listen backlog. Python's default is 1, which makes simultaneous clients of a busy
/// listener fail needlessly.
pub const DEFAULT_BACKLOG: i32 = 64;
/// Default most handshakes a listener keeps pending at once.
pub const DEFAULT_MAX_PENDING: usize = 128;

/// A bound, listening socket, Python's `multiprocessing.connection.Listener`.
///
/// With an authkey, [`Listener::accept`] runs the CPython handshake (challenge first, then
/// answer the client's challenge) with every connected client at once: one `poll` loop drives
/// all pending handshakes over the sockets without blocking on any, each bounded by the
/// handshake timeout as a deadline for its whole exchange. `accept` returns the first that
/// completes (or the first failure) and keeps the others pending for the next call, so silent,
/// slow or hostile clients cannot hold up a legitimate one. At most
/// [`ListenerBuilder::max_pending`] handshakes are pending; beyond that the oldest is dropped.
/// (CPython has no timeout here and serves one client at a time, blocking forever.)
///
/// ```
/// use multiprocessing_connection::{AuthKey, Listener, client};
/// let key = AuthKey::new(b"secret".to_vec());
/// let listener = Listener::builder().address("127.0.0.1:0".parse().unwrap()).authkey(key.clone()).bind().unwrap();
/// let address = listener.address().clone();
/// let t = std::thread::spawn(move || {
///     let mut c = client(&address, Some(&key)).unwrap();
///     c.send_bytes(b"hello").unwrap();
/// });
/// let mut conn = listener.accept().unwrap();
/// assert_eq!(conn.recv_bytes().unwrap(), b"hello");
/// assert!(listener.last_accepted().is_some());
/// t.join().unwrap();
/// ```
///
/// Dropping it closes the socket and removes the socket file it created.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    kind: Kind,
    address: Address,
    authkey: Option<AuthKey>,
    handshake_timeout: Option<Duration>,
    max_pending: usize,
    /// Handshakes in progress, and whether an `accept` call is driving them.
    pending: Mutex<Handshakes>,
    /// Signalled when the driving `accept` call returns, for callers waiting their turn.
    turn: Condvar,
    last_accepted: Mutex<Option<Address>>,
    unlink: Option<PathBuf>,
}

/// The pending handshakes; while an `accept` call drives them they are out of here, in its hands.
#[derive(Debug, Default)]
struct Handshakes {
    set: Vec<Pending>,
    driving: bool,
    /// Callers waiting for their turn (a notification with none is a wasted system call).
    waiting: usize,
}

/// A connected client whose handshake is in progress.
#[derive(Debug)]
struct Pending {
    fd: OwnedFd,
    hs: Handshake,
    deadline: Deadline,
    peer: Option<Address>,
}

/// Options for [`Listener`]; start with [`Listener::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ListenerBuilder {
    address: Option<Address>,
    backlog: i32,
    authkey: Option<AuthKey>,
    handshake_timeout: Option<Duration>,
    max_pending: usize,
}

impl ListenerBuilder {
    /// Where to listen; without one a fresh abstract Unix address is made.
    pub fn address(mut self, address: Address) -> Self {
        self.address = Some(address);
        self
    }

    /// The listen backlog (default [`DEFAULT_BACKLOG`]).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Authenticate every accepted connection with this key. An empty key still
    /// authenticates (CPython 3.13 semantics).
    pub fn authkey(mut self, key: AuthKey) -> Self {
        self.authkey = Some(key);
        self
    }

    /// How long a client gets to complete the whole handshake, from its connection to its last
    /// byte (default [`DEFAULT_HANDSHAKE_TIMEOUT`]; `None` waits forever, as CPython does; any
    /// duration is accepted, [`Duration::MAX`] meaning forever).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Most handshakes kept pending at once (default [`DEFAULT_MAX_PENDING`], at least 1): a
    /// client connecting beyond that pushes out the oldest pending one (logged as a warning),
    /// so memory and descriptors stay bounded whatever clients do.
    pub fn max_pending(mut self, n: usize) -> Self {
        self.max_pending = n.max(1);
        self
    }

    /// Binds and starts listening.
    pub fn bind(self) -> Result<Listener> {
        let address = match self.address {
            Some(a) => a,
            None => {
                let mut r = [0u8; 8];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut r);
                let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
                Address::Abstract(format!("mp-{}-{hex}", std::process::id()).into_bytes())
            }
        };
        let backlog = self.backlog;
        let (fd, kind, address, unlink) = match address {
            Address::Unix(path) => {
                let fd = unix_socket()?;
                rustix::net::bind(&fd, &SocketAddrUnix::new(path.as_path())?)?;
                rustix::net::listen(&fd, backlog)?;
                (fd, Kind::Unix, Address::Unix(path.clone()), Some(path))
            }
            Address::Abstract(name) => {
                let fd = unix_socket()?;
                rustix::net::bind(&fd, &SocketAddrUnix::new_abstract_name(&name)?)?;
                rustix::net::listen(&fd, backlog)?;
                (fd, Kind::Unix, Address::Abstract(name), None)
            }
            Address::Tcp { host, port } => {
                let (fd, real) = bind_tcp(&host, port, backlog)?;
                (fd, Kind::Socket, Address::from(real), None)
            }
        };
        Ok(Listener {
            fd,
            kind,
            address,
            authkey: self.authkey,
            handshake_timeout: self.handshake_timeout,
            max_pending: self.max_pending,
            pending: Mutex::new(Handshakes::default()),
            turn: Condvar::new(),
            last_accepted: Mutex::new(None),
            unlink,
        })
    }
}

/// A listening socket is non-blocking: `accept` polls it with the pending handshakes.
fn unix_socket() -> Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?)
}

fn bind_tcp(host: &str, port: u16, backlog: i32) -> Result<(OwnedFd, std::net::SocketAddr)> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        let family = if addr.is_ipv4() {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        let attempt = (|| -> Result<(OwnedFd, std::net::SocketAddr)> {
            let fd = rustix::net::socket_with(
                family,
                SocketType::STREAM,
                SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
                None,
            )?;
            rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
            rustix::net::bind(&fd, &addr)?;
            rustix::net::listen(&fd, backlog)?;
            let real = std::net::SocketAddr::try_from(rustix::net::getsockname(&fd)?)
                .map_err(|_| Error::Io(std::io::Error::other("listener has no IP address")))?;
            Ok((fd, real))
        })();
        match attempt {
            Ok(ok) => return Ok(ok),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host}:{port} did not resolve to any address"),
        ))
    }))
}

impl Listener {
    /// Starts configuring a listener.
    pub fn builder() -> ListenerBuilder {
        ListenerBuilder {
            address: None,
            backlog: DEFAULT_BACKLOG,
            authkey: None,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            max_pending: DEFAULT_MAX_PENDING,
        }
    }

    /// Binds `address` without authentication, Python's `Listener(address)`.
    pub fn bind(address: Address) -> Result<Listener> {
        Self::builder().address(address).bind()
    }

    /// The address actually bound: for TCP the real IP and port (port 0 resolved).
    #[must_use]
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The peer address of the last accepted connection: the TCP peer, `None` for Unix sockets
    /// (Python reports `''`) or before the first accept.
    #[must_use]
    pub fn last_accepted(&self) -> Option<Address> {
        lock(&self.last_accepted).clone()
    }

    /// Accepts a connection and, with an authkey, authenticates it (challenge, then answer).
    ///
    /// Handshakes with every connected client run at once (see the [type docs](Listener)); this
    /// returns the first that completes. A handshake that fails returns its error instead
    /// ([`Error::Authentication`] for a wrong key, [`Error::Timeout`] past the handshake
    /// timeout, [`Error::BadMessageLength`], [`Error::Eof`], ...): that connection is closed,
    /// the other pending handshakes are kept, and the next call goes on serving.
    pub fn accept(&self) -> Result<Connection> {
        self.accept_by(Deadline::never())
    }

    /// [`accept`](Self::accept), giving up with [`Error::Timeout`] after `timeout` (any
    /// duration: [`Duration::ZERO`] only takes what is ready, [`Duration::MAX`] waits forever).
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Connection> {
        self.accept_by(Deadline::after(timeout))
    }

    fn accept_by(&self, deadline: Deadline) -> Result<Connection> {
        let Some(key) = &self.authkey else {
            loop {
                if let Some((fd, peer)) = self.accept_one()? {
                    self.set_last_accepted(peer);
                    return Ok(Connection::with_read_bytes(fd, self.kind, &[]));
                }
                if !time::wait_readable(self.fd.as_fd(), deadline)? {
                    return Err(Error::Timeout);
                }
            }
        };
        // One caller drives at a time (another one polling could not see the handshakes this
        // one holds); the others wait for their turn, or for a handshake it completed.
        let mut shared = lock(&self.pending);
        loop {
            if let Some(i) = shared.set.iter().position(|p| p.hs.is_complete()) {
                let p = shared.set.remove(i);
                return Ok(self.finish(p));
            }
            if !shared.driving {
                break;
            }
            let left = deadline.remaining();
            if left == Some(Duration::ZERO) {
                return Err(Error::Timeout);
            }
            shared.waiting += 1;
            shared = match left {
                None => self
                    .turn
                    .wait(shared)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(left) => {
                    self.turn
                        .wait_timeout(shared, left)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
            shared.waiting -= 1;
        }
        shared.driving = true;
        let mut mine = std::mem::take(&mut shared.set);
        drop(shared);
        // Catches a panic so that the driving flag is always released.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.drive(&mut mine, key, deadline)
        }));
        let mut shared = lock(&self.pending);
        shared.set.append(&mut mine);
        let excess = shared.set.len().saturating_sub(self.max_pending);
        shared.set.drain(..excess);
        shared.driving = false;
        let waiting = shared.waiting > 0;
        drop(shared);
        if waiting {
            self.turn.notify_all();
        }
        r.unwrap_or_else(|_| {
            Err(Error::Io(std::io::Error::other(
                "internal error while driving handshakes",
            )))
        })
    }

    /// The poll loop over the listening socket and the pending handshakes in `set`.
    fn drive(
        &self,
        set: &mut Vec<Pending>,
        key: &AuthKey,
        deadline: Deadline,
    ) -> Result<Connection> {
        loop {
            // One completed while another was being returned: it goes first.
            if let Some(i) = set.iter().position(|p| p.hs.is_complete()) {
                return Ok(self.finish(set.remove(i)));
            }
            // With none pending, the next client has usually connected already (clients come
            // back to back): accepted without asking `poll` first, and challenged at once.
            if set.is_empty()
                && let Some((fd, peer)) = self.accept_one()?
            {
                let mut p = self.pending(fd, peer, key);
                if let Err(e) = handshake_io::pump(p.fd.as_fd(), &mut p.hs, false) {
                    tracing::debug!(peer = ?p.peer, error = %e, "handshake failed");
                    return Err(e);
                }
                set.push(p);
            }
            let wake = set.iter().fold(deadline, |d, p| d.min(p.deadline));
            let mut fds = Vec::with_capacity(set.len() + 1);
            fds.push(PollFd::from_borrowed_fd(self.fd.as_fd(), PollFlags::IN));
            fds.extend(
                set.iter()
                    .map(|p| PollFd::from_borrowed_fd(p.fd.as_fd(), handshake_io::interest(&p.hs))),
            );
            let timed_out = time::poll(&mut fds, wake)? == 0 && deadline.is_expired();
            let listener_ready = !fds[0].revents().is_empty();
            // Per pending handshake: `None` if nothing happened, else whether to read.
            let mut ready: Vec<Option<bool>> = fds[1..]
                .iter()
                .map(|f| (!f.revents().is_empty()).then(|| handshake_io::readable(f.revents())))
                .collect();
            drop(fds);
            // One connection per round: trying for a second usually finds none (a wasted call),
            // and a burst of clients is taken a round each, as fast as they handshake anyway.
            if listener_ready && let Some((fd, peer)) = self.accept_one()? {
                if set.len() >= self.max_pending {
                    let old = set.remove(0);
                    ready.remove(0);
                    tracing::warn!(
                        peer = ?old.peer,
                        max_pending = self.max_pending,
                        "too many pending handshakes: dropped the oldest"
                    );
                }
                set.push(self.pending(fd, peer, key));
                // Only the challenge to send: the client cannot have answered yet.
                ready.push(Some(false));
            }
            let (mut done, mut failed) = (None, None);
            let mut i = 0;
            while i < set.len() {
                let p = &mut set[i];
                let outcome = match ready[i] {
                    Some(can_read) => handshake_io::pump(p.fd.as_fd(), &mut p.hs, can_read),
                    None => Ok(false),
                };
                let outcome = match outcome {
                    Ok(false) if !p.hs.is_complete() && p.deadline.is_expired() => {
                        Err(Error::Timeout)
                    }
                    Ok(true) if done.is_some() => Ok(false),
                    other => other,
                };
                match outcome {
                    Ok(false) => i += 1,
                    Ok(true) => {
                        done = Some(set.remove(i));
                        ready.remove(i);
                    }
                    Err(e) => {
                        let p = set.remove(i);
                        ready.remove(i);
                        tracing::debug!(peer = ?p.peer, error = %e, "handshake failed");
                        failed.get_or_insert(e);
                    }
                }
            }
            if let Some(p) = done {
                return Ok(self.finish(p));
            }
            if let Some(e) = failed {
                return Err(e);
            }
            if timed_out {
                return Err(Error::Timeout);
            }
        }
    }

    /// The connection of a completed handshake.
    /// A handshake with a client just accepted, its challenge queued.
    fn pending(&self, fd: OwnedFd, peer: Option<Address>, key: &AuthKey) -> Pending {
        Pending {
            fd,
            hs: Handshake::server(key),
            deadline: Deadline::from_timeout(self.handshake_timeout),
            peer,
        }
    }

    fn finish(&self, p: Pending) -> Connection {
        self.set_last_accepted(p.peer);
        Connection::with_read_bytes(p.fd, self.kind, &p.hs.into_unread())
    }

    /// Takes one connection off the backlog without blocking.
    fn accept_one(&self) -> Result<Option<(OwnedFd, Option<Address>)>> {
        self.accept_one_with(SocketFlags::CLOEXEC)
    }

    /// [`accept_one`](Self::accept_one), the new socket made with `flags` (an async listener
    /// wants it non-blocking).
    pub(crate) fn accept_one_with(
        &self,
        flags: SocketFlags,
    ) -> Result<Option<(OwnedFd, Option<Address>)>> {
        let tcp = self.kind == Kind::Socket;
        let (fd, from) = loop {
            // A TCP peer's address comes with the connection (no `getpeername` after).
            let accepted = time::retry_on_intr(|| {
                if tcp {
                    rustix::net::acceptfrom_with(&self.fd, flags)
                } else {
                    rustix::net::accept_with(&self.fd, flags).map(|fd| (fd, None))
                }
            });
            match accepted {
                Ok(accepted) => break accepted,
                // The client gave up while queued: take the next one.
                Err(Errno::CONNABORTED) => {}
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        };
        let peer = if tcp {
            // Small request/reply messages must not wait for Nagle's algorithm.
            rustix::net::sockopt::set_tcp_nodelay(&fd, true)?;
            from.and_then(|a| std::net::SocketAddr::try_from(a).ok())
                .map(Address::from)
        } else {
            None
        };
        Ok(Some((fd, peer)))
    }

    /// The key, handshake timeout, most pending handshakes and socket kind, for the async
    /// listener built on this one.
    #[cfg(feature = "tokio")]
    pub(crate) fn config(&self) -> (Option<&AuthKey>, Option<Duration>, usize, Kind) {
        (
            self.authkey.as_ref(),
            self.handshake_timeout,
            self.max_pending,
            self.kind,
        )
    }

    pub(crate) fn set_last_accepted(&self, peer: Option<Address>) {
        *lock(&self.last_accepted) = peer;
    }

    /// Closes the listener, removing the socket file it created (Python's `close()`).
    pub fn close(self) -> Result<()> {
        drop(self);
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Ready for [`wait`](crate::wait) when a client waits to be accepted: its listening socket is
/// readable, or, without asking the kernel, a handshake an earlier `accept` drove has completed
/// and waits to be taken.
impl Waitable for Listener {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn is_ready(&self) -> bool {
        // Never blocks: while an `accept` holds the table, it is the one that will take them.
        self.pending
            .try_lock()
            .is_ok_and(|p| p.set.iter().any(|h| h.hs.is_complete()))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(path) = &self.unlink {
            let _ = std::fs::remove_file(path);
        }
    }
}
