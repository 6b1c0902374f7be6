//! The async [`client`]: connect without blocking, then run the handshake on the reactor.

use std::os::fd::OwnedFd;
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use multiprocessing_core::AuthKey;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::Connection;
use super::connection::{register, timer};
use crate::auth::Handshake;
use crate::connection::Kind;
use crate::{Address, Error, Result};

/// Connects to `address`, authenticating with `authkey` if given: the async twin of
/// [`crate::client`] (Python's `Client`), talking to our listeners, blocking or async, and to
/// CPython's.
///
/// With a key it answers the server's challenge, then challenges the server, exactly as
/// CPython does; a wrong key is [`Error::Authentication`]. There is no timeout argument: wrap
/// the call in [`tokio::time::timeout`], which bounds connecting and the handshake together.
///
/// # Cancel safety
///
/// Cancel-safe: dropped, it closes the half-made connection, and nothing else is lost.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use multiprocessing_connection::{AuthKey, Listener};
/// let key = AuthKey::new(b"k".to_vec());
/// let listener = Listener::builder().authkey(key.clone()).bind().unwrap();
/// let address = listener.address().clone();
/// let t = std::thread::spawn(move || listener.accept().unwrap().recv_bytes().unwrap());
/// let connecting = multiprocessing_connection::tokio::client(&address, Some(&key));
/// let mut conn = tokio::time::timeout(Duration::from_secs(5), connecting)
///     .await
///     .expect("in time")
///     .unwrap();
/// conn.send_bytes(b"hi").await.unwrap();
/// assert_eq!(t.join().unwrap(), b"hi");
/// # }
/// ```
#[doc(alias = "Client")]
pub async fn client(address: &Address, authkey: Option<&AuthKey>) -> Result<Connection> {
    let (io, kind) = match address {
        Address::Unix(path) => (
            connect_unix(&SocketAddrUnix::new(path.as_path())?).await?,
            Kind::Unix,
        ),
        Address::Abstract(name) => (
            connect_unix(&SocketAddrUnix::new_abstract_name(name)?).await?,
            Kind::Unix,
        ),
        Address::Tcp { host, port } => (connect_tcp(host, *port).await?, Kind::Socket),
    };
    let unread = match authkey {
        Some(key) => {
            let mut hs = Handshake::client(key);
            super::handshake::run(&io, &mut hs).await?;
            hs.into_unread()
        }
        None => Vec::new(),
    };
    Ok(Connection::with_read_bytes(io, kind, unread))
}

/// Connects a non-blocking Unix socket. A listener with a full backlog refuses at once
/// (`EAGAIN`) rather than making the connect wait: it is tried again after a growing pause.
async fn connect_unix(addr: &SocketAddrUnix) -> Result<AsyncFd<OwnedFd>> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    let mut pause = Duration::from_micros(50);
    loop {
        match rustix::net::connect(&fd, addr) {
            Ok(()) => break,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                timer(|| ::tokio::time::sleep(pause))?.await;
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
    register(fd)
}

/// Connects to the first address `host` resolves to that answers, with `TCP_NODELAY` set
/// (small request/reply messages must not wait for Nagle's algorithm).
async fn connect_tcp(host: &str, port: u16) -> Result<AsyncFd<OwnedFd>> {
    let stream = ::tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(Error::Io)?;
    stream.set_nodelay(true).map_err(Error::Io)?;
    let stream = stream.into_std().map_err(Error::Io)?;
    register(OwnedFd::from(stream))
}
