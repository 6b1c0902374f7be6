//! [`Listener`]: accepts connections on a Unix or TCP socket and authenticates them, Python's
//! `multiprocessing.connection.Listener`.
//!
//! With an authkey, [`Listener::accept`] runs the CPython handshake (challenge first, then
//! answer the client's challenge) under a handshake timeout, so a client that connects and
//! says nothing costs at most that long: `accept` then returns [`Error::Timeout`] and the next
//! call serves the next client. (CPython has no timeout here and blocks forever.)
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
use std::sync::Mutex;
use std::time::Duration;

use multiprocessing_core::AuthKey;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::connection::Kind;
use crate::{Address, Connection, Error, Result, auth};

/// Default time a client gets to complete the handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default listen backlog. Python's default is 1, which makes simultaneous clients of a busy
/// listener fail needlessly.
pub const DEFAULT_BACKLOG: i32 = 64;

/// A bound, listening socket, Python's `multiprocessing.connection.Listener`.
///
/// With an authkey, [`Listener::accept`] runs the CPython handshake (challenge first, then
/// answer the client's challenge) under a handshake timeout, so a client that connects and
/// says nothing costs at most that long: `accept` then returns [`Error::Timeout`] and the next
/// call serves the next client. (CPython has no timeout here and blocks forever.)
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
    last_accepted: Mutex<Option<Address>>,
    unlink: Option<PathBuf>,
}

/// Options for [`Listener`]; start with [`Listener::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ListenerBuilder {
    address: Option<Address>,
    backlog: i32,
    authkey: Option<AuthKey>,
    handshake_timeout: Option<Duration>,
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

    /// How long a client gets to complete the handshake (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]; `None` waits forever, as CPython does).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
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
            last_accepted: Mutex::new(None),
            unlink,
        })
    }
}

fn unix_socket() -> Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
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
            let fd =
                rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
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
        self.last_accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Accepts a connection and, with an authkey, authenticates it (challenge, then answer).
    ///
    /// Fails with [`Error::Authentication`] for a peer with the wrong key and with
    /// [`Error::Timeout`] for a peer that does not finish the handshake in time; the failed
    /// connection is closed and the listener keeps working.
    pub fn accept(&self) -> Result<Connection> {
        let fd = loop {
            match rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Ok(fd) => break fd,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let peer = match self.kind {
            Kind::Socket => rustix::net::getpeername(&fd)
                .ok()
                .flatten()
                .and_then(|a| std::net::SocketAddr::try_from(a).ok())
                .map(Address::from),
            _ => None,
        };
        *self
            .last_accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = peer;
        let mut conn = Connection::from_parts(fd, self.kind, true, true);
        if let Some(key) = &self.authkey {
            conn.set_socket_timeouts(self.handshake_timeout)?;
            auth::deliver_challenge(&mut conn, key)?;
            auth::answer_challenge(&mut conn, key)?;
            conn.set_socket_timeouts(None)?;
        }
        Ok(conn)
    }

    /// Closes the listener, removing the socket file it created (Python's `close()`).
    pub fn close(self) -> Result<()> {
        drop(self);
        Ok(())
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(path) = &self.unlink {
            let _ = std::fs::remove_file(path);
        }
    }
}
