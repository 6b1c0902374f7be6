//! [`client`]: connect to a [`Listener`](crate::Listener) (ours or CPython's) and authenticate,
//! Python's `multiprocessing.connection.Client`.
//!
//! The family follows the [`Address`]. With a key the client answers the server's challenge,
//! then challenges the server, exactly as CPython does. A [`ClientBuilder::timeout`] is one deadline
//! for the whole call: connecting (a listener whose backlog is full, a TCP peer that never
//! answers) and the handshake (a server that drips its bytes) together.
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_connection::{AuthKey, Client, Listener};
//! let key = AuthKey::new(b"k".to_vec());
//! let listener = Listener::builder().authkey(key.clone()).bind().unwrap();
//! let address = listener.address().clone();
//! let t = std::thread::spawn(move || listener.accept().unwrap().recv_bytes().unwrap());
//! let mut conn = Client::builder(address)
//!     .authkey(key)
//!     .timeout(Some(Duration::from_secs(5)))
//!     .connect()
//!     .unwrap();
//! conn.send_bytes(b"hi").unwrap();
//! assert_eq!(t.join().unwrap(), b"hi");
//! ```

use std::net::ToSocketAddrs;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use multiprocessing_core::AuthKey;
use multiprocessing_core::time::{self, Deadline, retry_on_intr};
use rustix::io::Errno;
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::auth::Handshake;
use crate::connection::Kind;
use crate::{Address, Connection, Error, Result, handshake_io};

/// Python's `multiprocessing.connection.Client`: the [`client`] function connects in one call,
/// [`Client::builder`] starts a [`ClientBuilder`] for the options (a timeout).
///
/// `Client` itself is never made (it has no values): it only names the builder's entry point,
/// as [`Listener::builder`](crate::Listener::builder) does for a listener.
#[derive(Debug)]
pub enum Client {}

impl Client {
    /// Starts configuring a connection to `address`.
    pub fn builder(address: Address) -> ClientBuilder {
        ClientBuilder {
            address,
            authkey: None,
            timeout: None,
        }
    }
}

/// Options for connecting, made by [`Client::builder`] and finished by
/// [`connect`](Self::connect); [`client`] covers the common case.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    address: Address,
    authkey: Option<AuthKey>,
    timeout: Option<Duration>,
}

impl ClientBuilder {
    /// Authenticate with this key (an empty key authenticates with an empty key).
    pub fn authkey(mut self, key: AuthKey) -> Self {
        self.authkey = Some(key);
        self
    }

    /// Give up connecting and authenticating after this long in all, with [`Error::Timeout`]
    /// (default `None`: wait, as CPython does; a busy server may take long to accept). Any
    /// duration is accepted: [`Duration::MAX`] waits forever, [`Duration::ZERO`] succeeds only
    /// if nothing has to wait. Host name resolution is not covered.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same as [`timeout`](Self::timeout): one deadline covers connecting and the handshake.
    pub fn handshake_timeout(self, timeout: Option<Duration>) -> Self {
        self.timeout(timeout)
    }

    /// Connects and, with a key, authenticates (answer, then challenge).
    pub fn connect(self) -> Result<Connection> {
        let deadline = Deadline::from_timeout(self.timeout);
        let (fd, kind) = match &self.address {
            Address::Unix(path) => (
                connect_unix(&SocketAddrUnix::new(path.as_path())?, deadline)?,
                Kind::Unix,
            ),
            Address::Abstract(name) => (
                connect_unix(&SocketAddrUnix::new_abstract_name(name)?, deadline)?,
                Kind::Unix,
            ),
            Address::Tcp { host, port } => (connect_tcp(host, *port, deadline)?, Kind::Socket),
        };
        match &self.authkey {
            Some(key) => {
                let mut hs = Handshake::client(key);
                handshake_io::run(fd.as_fd(), &mut hs, deadline)?;
                Ok(Connection::with_read_bytes(fd, kind, &hs.into_unread()))
            }
            None => Ok(Connection::with_read_bytes(fd, kind, &[])),
        }
    }
}

/// Connects a Unix socket by `deadline`. A listener with a full backlog makes a blocking
/// `connect` wait for room, up to the send timeout, so the deadline is set as that timeout.
fn connect_unix(addr: &SocketAddrUnix, deadline: Deadline) -> Result<OwnedFd> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    // Each attempt (a signal interrupts one) is given the time left.
    let connected = retry_on_intr(|| {
        // The kernel reads a zero timeout as "forever": a passed deadline becomes 1 µs.
        let left = deadline
            .remaining()
            .map(|l| l.max(Duration::from_micros(1)));
        if left.is_some() {
            sockopt::set_socket_timeout(&fd, Timeout::Send, left)?;
        }
        rustix::net::connect(&fd, addr)
    });
    match connected {
        Ok(()) => {}
        Err(Errno::AGAIN | Errno::INPROGRESS) => return Err(Error::Timeout),
        Err(e) => return Err(e.into()),
    }
    if deadline.instant().is_some() {
        sockopt::set_socket_timeout(&fd, Timeout::Send, None)?;
    }
    Ok(fd)
}

/// Connects to the first address `host` resolves to that answers by `deadline`, with
/// `TCP_NODELAY` set (small request/reply messages must not wait for Nagle's algorithm).
fn connect_tcp(host: &str, port: u16, deadline: Deadline) -> Result<OwnedFd> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match connect_tcp_one(&addr, deadline) {
            Ok(fd) => return Ok(fd),
            Err(e @ Error::Timeout) => return Err(e),
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

fn connect_tcp_one(addr: &std::net::SocketAddr, deadline: Deadline) -> Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    // Without a deadline a blocking connect is one system call; with one, a non-blocking
    // connect is waited for with `poll`.
    let bounded = deadline.instant().is_some();
    let flags = if bounded {
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK
    } else {
        SocketFlags::CLOEXEC
    };
    let fd = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    match rustix::net::connect(&fd, addr) {
        Ok(()) => {}
        // An interrupted blocking connect goes on in the background, like a non-blocking one.
        Err(Errno::INPROGRESS | Errno::INTR) => {
            if !time::wait_writable(fd.as_fd(), deadline)? {
                return Err(Error::Timeout);
            }
            if let Err(e) = sockopt::socket_error(&fd)? {
                return Err(e.into());
            }
        }
        Err(e) => return Err(e.into()),
    }
    if bounded {
        rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::empty())?;
    }
    sockopt::set_tcp_nodelay(&fd, true)?;
    Ok(fd)
}

/// Connects to `address`, authenticating with `authkey` if given (Python's `Client`).
#[doc(alias = "Client")]
pub fn client(address: &Address, authkey: Option<&AuthKey>) -> Result<Connection> {
    let mut b = Client::builder(address.clone());
    if let Some(k) = authkey {
        b = b.authkey(k.clone());
    }
    b.connect()
}
