//! [`Address`]: where a [`Listener`](crate::Listener) listens and a [`client`](crate::client)
//! connects; Python's address tuples and strings with the family they imply.
//!
//! | text | address |
//! | --- | --- |
//! | `HOST:PORT`, `[V6]:PORT` | [`Address::Tcp`] (Python's `('host', port)`, `AF_INET`); port 0 picks a free port |
//! | `@name` or a leading NUL | [`Address::Abstract`] (Linux abstract Unix socket) |
//! | anything else | [`Address::Unix`] (a socket file path, `AF_UNIX`) |
//!
//! ```
//! use multiprocessing_connection::Address;
//! let tcp: Address = "localhost:6000".parse().unwrap();
//! assert_eq!(tcp, Address::Tcp { host: "localhost".into(), port: 6000 });
//! assert_eq!("@mp-test".parse::<Address>().unwrap(), Address::Abstract(b"mp-test".to_vec()));
//! assert_eq!("/tmp/sock".parse::<Address>().unwrap().to_string(), "/tmp/sock");
//! assert_eq!("[::1]:80".parse::<Address>().unwrap().to_string(), "[::1]:80");
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use crate::Error;

/// A listener or client address: Python's address tuples and strings, with the family they
/// imply.
///
/// | text | address |
/// | --- | --- |
/// | `HOST:PORT`, `[V6]:PORT` | [`Address::Tcp`] (Python's `('host', port)`, `AF_INET`); port 0 picks a free port |
/// | `@name` or a leading NUL | [`Address::Abstract`] (Linux abstract Unix socket) |
/// | anything else | [`Address::Unix`] (a socket file path, `AF_UNIX`) |
///
/// ```
/// use multiprocessing_connection::Address;
/// let tcp: Address = "localhost:6000".parse().unwrap();
/// assert_eq!(tcp, Address::Tcp { host: "localhost".into(), port: 6000 });
/// assert_eq!("@mp-test".parse::<Address>().unwrap(), Address::Abstract(b"mp-test".to_vec()));
/// assert_eq!("/tmp/sock".parse::<Address>().unwrap().to_string(), "/tmp/sock");
/// assert_eq!("[::1]:80".parse::<Address>().unwrap().to_string(), "[::1]:80");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// A Unix socket file.
    Unix(PathBuf),
    /// A Linux abstract Unix socket name (without the leading NUL).
    Abstract(Vec<u8>),
    /// A TCP host (name or IP literal) and port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port; 0 asks the system for a free one when binding.
        port: u16,
    },
}

impl Address {
    /// Python's family name for this address: `"AF_UNIX"` or `"AF_INET"`.
    #[must_use]
    pub fn family(&self) -> &'static str {
        match self {
            Address::Unix(_) | Address::Abstract(_) => "AF_UNIX",
            Address::Tcp { .. } => "AF_INET",
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Self {
        Address::Tcp {
            host: a.ip().to_string(),
            port: a.port(),
        }
    }
}

impl From<PathBuf> for Address {
    fn from(p: PathBuf) -> Self {
        Address::Unix(p)
    }
}

impl FromStr for Address {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty address",
            )));
        }
        if let Some(name) = s.strip_prefix('@').or_else(|| s.strip_prefix('\0')) {
            return Ok(Address::Abstract(name.as_bytes().to_vec()));
        }
        if !s.contains('/')
            && let Some((host, port)) = s.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
        {
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            if !host.is_empty() {
                return Ok(Address::Tcp {
                    host: host.to_string(),
                    port,
                });
            }
        }
        Ok(Address::Unix(PathBuf::from(s)))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "{}", p.display()),
            Address::Abstract(n) => write!(f, "@{}", String::from_utf8_lossy(n)),
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}
