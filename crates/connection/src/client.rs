//! [`client`]: connect to a [`Listener`](crate::Listener) (ours or CPython's) and authenticate,
//! Python's `multiprocessing.connection.Client`.
//!
//! The family follows the [`Address`]. With a key the client answers the server's challenge,
//! then challenges the server, exactly as CPython does.
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
//!     .handshake_timeout(Some(Duration::from_secs(5)))
//!     .connect()
//!     .unwrap();
//! conn.send_bytes(b"hi").unwrap();
//! assert_eq!(t.join().unwrap(), b"hi");
//! ```

use std::net::TcpStream;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::Duration;

use multiprocessing_core::AuthKey;

use crate::{Address, Connection, Result, auth};

/// Options for connecting; [`client`] covers the common case.
#[derive(Debug, Clone)]
#[must_use]
pub struct Client {
    address: Address,
    authkey: Option<AuthKey>,
    handshake_timeout: Option<Duration>,
}

impl Client {
    /// Starts configuring a connection to `address`.
    pub fn builder(address: Address) -> Client {
        Client {
            address,
            authkey: None,
            handshake_timeout: None,
        }
    }

    /// Authenticate with this key (an empty key authenticates with an empty key).
    pub fn authkey(mut self, key: AuthKey) -> Self {
        self.authkey = Some(key);
        self
    }

    /// Give up the handshake after this long (default `None`: wait, as CPython does; a busy
    /// server may take long to accept).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Connects and, with a key, authenticates (answer, then challenge).
    pub fn connect(self) -> Result<Connection> {
        let mut conn = match &self.address {
            Address::Unix(path) => Connection::from_unix_stream(UnixStream::connect(path)?),
            Address::Abstract(name) => Connection::from_unix_stream(UnixStream::connect_addr(
                &SocketAddr::from_abstract_name(name)?,
            )?),
            Address::Tcp { host, port } => {
                Connection::from_tcp_stream(TcpStream::connect((host.as_str(), *port))?)
            }
        };
        if let Some(key) = &self.authkey {
            conn.set_socket_timeouts(self.handshake_timeout)?;
            auth::answer_challenge(&mut conn, key)?;
            auth::deliver_challenge(&mut conn, key)?;
            conn.set_socket_timeouts(None)?;
        }
        Ok(conn)
    }
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
