//! The async [`Listener`]: accepts on tokio's reactor and runs each client's handshake as its
//! own task, so no client holds up another and no thread waits on any.

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::sync::Mutex;
use ::tokio::task::{AbortHandle, JoinSet};
use multiprocessing_core::AuthKey;
use rustix::net::SocketFlags;

use super::Connection;
use super::connection::{io_driver, register, timer};
use crate::auth::Handshake;
use crate::connection::Kind;
use crate::{Address, Error, ListenerBuilder, Result};

/// The blocking listener, lent to the reactor: it owns the socket (and removes its file on
/// drop), the async one polls it.
struct Socket(crate::Listener);

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A handshake's outcome: the connection and its peer.
type Accepted = Result<(Connection, Option<Address>)>;

/// Handshakes in progress, each a task; `order` holds them oldest first, to drop the oldest
/// when there are too many.
struct Pending {
    tasks: JoinSet<Accepted>,
    order: VecDeque<AbortHandle>,
}

/// A bound, listening socket on a tokio runtime: the async twin of [`crate::Listener`]
/// (Python's `multiprocessing.connection.Listener`), configured by the same
/// [`ListenerBuilder`].
///
/// With an authkey, every client's CPython handshake runs as its own tokio task under the
/// handshake timeout, as the blocking listener runs them all at once in its `poll` loop:
/// [`accept`](Self::accept) returns the first that completes, or the first failure, and the
/// others go on. At most [`ListenerBuilder::max_pending`] handshakes are pending; beyond
/// that the oldest is dropped. No thread is started: the tasks run on the runtime's threads
/// (on a current-thread runtime, on the one thread).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use multiprocessing_connection::{AuthKey, Listener, tokio};
/// let key = AuthKey::new(b"secret".to_vec());
/// let listener = tokio::Listener::bind(Listener::builder().authkey(key.clone())).unwrap();
/// let address = listener.address().clone();
/// let client = ::tokio::spawn(async move {
///     let mut c = tokio::client(&address, Some(&key)).await.unwrap();
///     c.send_bytes(b"hello").await.unwrap();
/// });
/// let mut conn = listener.accept().await.unwrap();
/// assert_eq!(conn.recv_bytes().await.unwrap(), b"hello");
/// client.await.unwrap();
/// # }
/// ```
pub struct Listener {
    io: AsyncFd<Socket>,
    pending: Mutex<Pending>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", self.address())
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Binds with the options of `builder` (a [`crate::Listener::builder`]), inside a tokio
    /// runtime.
    pub fn bind(builder: ListenerBuilder) -> Result<Self> {
        Self::try_from(builder.bind()?)
    }

    /// The address actually bound: for TCP the real IP and port (port 0 resolved).
    #[must_use]
    pub fn address(&self) -> &Address {
        self.io.get_ref().0.address()
    }

    /// The peer address of the last accepted connection: the TCP peer, `None` for Unix sockets
    /// or before the first accept.
    #[must_use]
    pub fn last_accepted(&self) -> Option<Address> {
        self.io.get_ref().0.last_accepted()
    }

    /// Turns this back into a blocking [`crate::Listener`]. Handshakes still in progress are
    /// dropped (their clients see the connection close).
    pub fn into_std(self) -> crate::Listener {
        self.io.into_inner().0
    }

    /// Accepts a connection and, with an authkey, authenticates it (challenge, then answer),
    /// as [`crate::Listener::accept`] does: a failed handshake returns its error
    /// ([`Error::Authentication`] for a wrong key, [`Error::Timeout`] past the handshake
    /// timeout, [`Error::Eof`], ...), and the next call goes on serving.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection accepted while the future was alive is kept (its handshake
    /// goes on) and returned by the next call. Callers on several tasks take turns (a fair
    /// lock), each getting a different connection.
    pub async fn accept(&self) -> Result<Connection> {
        let (key, timeout, max_pending, kind) = self.io.get_ref().0.config();
        let Some(key) = key else {
            let (fd, peer) = self.accept_raw().await?;
            self.io.get_ref().0.set_last_accepted(peer);
            return Ok(Connection::with_read_bytes(register(fd)?, kind, Vec::new()));
        };
        let mut pending = self.pending.lock().await;
        loop {
            ::tokio::select! {
                biased;
                Some(done) = pending.tasks.join_next(), if !pending.tasks.is_empty() => {
                    match done {
                        Ok(Ok((conn, peer))) => {
                            self.io.get_ref().0.set_last_accepted(peer);
                            return Ok(conn);
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "handshake failed");
                            return Err(e);
                        }
                        // Dropped as the oldest of too many.
                        Err(e) if e.is_cancelled() => {}
                        Err(_) => {
                            return Err(Error::Io(std::io::Error::other(
                                "internal error while driving a handshake",
                            )));
                        }
                    }
                }
                accepted = self.accept_raw() => {
                    let (fd, peer) = accepted?;
                    let io = register(fd)?;
                    let key = key.clone();
                    let abort = pending.tasks.spawn(handshake(io, kind, key, timeout, peer));
                    pending.order.retain(|h| !h.is_finished());
                    pending.order.push_back(abort);
                    if pending.order.len() > max_pending
                        && let Some(old) = pending.order.pop_front()
                    {
                        tracing::warn!(max_pending, "too many pending handshakes: dropped the oldest");
                        old.abort();
                    }
                }
            }
        }
    }

    /// Takes one connection off the backlog, waiting for one.
    async fn accept_raw(&self) -> Result<(OwnedFd, Option<Address>)> {
        let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
        loop {
            let mut guard = self.io.readable().await.map_err(Error::Io)?;
            match guard.get_inner().0.accept_one_with(flags)? {
                Some(accepted) => return Ok(accepted),
                None => guard.clear_ready(),
            }
        }
    }
}

/// One client's handshake, bounded by the listener's handshake timeout.
async fn handshake(
    io: AsyncFd<OwnedFd>,
    kind: Kind,
    key: AuthKey,
    timeout: Option<Duration>,
    peer: Option<Address>,
) -> Accepted {
    let mut hs = Handshake::server(&key);
    let run = super::handshake::run(&io, &mut hs);
    match timeout {
        Some(t) => timer(|| ::tokio::time::timeout(t, run))?
            .await
            .map_err(|_elapsed| Error::Timeout)??,
        None => run.await?,
    }
    Ok((
        Connection::with_read_bytes(io, kind, hs.into_unread()),
        peer,
    ))
}

/// Lends a bound blocking listener to the current runtime's reactor (tokio's `from_std`).
/// Outside a tokio runtime, [`Error::Io`].
impl TryFrom<crate::Listener> for Listener {
    type Error = Error;

    fn try_from(l: crate::Listener) -> Result<Self> {
        if ::tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Io(std::io::Error::other(
                "an async listener must be made inside a tokio runtime",
            )));
        }
        let io = io_driver(|| {
            // SAFETY: the listener owns its socket until it is dropped, and `as_raw_fd` always
            // returns that one descriptor (already non-blocking: the blocking listener polls it).
            unsafe { AsyncFd::register(Socket(l)) }.map_err(std::io::Error::from)
        })?
        .map_err(Error::Io)?;
        Ok(Listener {
            io,
            pending: Mutex::new(Pending {
                tasks: JoinSet::new(),
                order: VecDeque::new(),
            }),
        })
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().0.as_fd()
    }
}
