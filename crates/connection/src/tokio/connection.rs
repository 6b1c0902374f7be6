//! The async [`Connection`]: the blocking connection's frames, read and written on tokio's
//! reactor ([`AsyncFd`]) instead of blocking a thread.

use std::fmt;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use multiprocessing_core::fdpass::MAX_FDS_PER_MESSAGE;
use multiprocessing_core::time::{self, Deadline};
use multiprocessing_core::transfer::{decode_with_fds, encode_with_fds};
use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connection::{Kind, Parts, SPIN, Spin};
use crate::frame::{self, FdQueue, MAX_AHEAD, READ_BUFFER};
use crate::{Error, Result};

/// Most descriptors waiting to be claimed by a message before the peer is considered hostile
/// (the blocking reader's bound).
const MAX_PENDING_FDS: usize = 4 * MAX_FDS_PER_MESSAGE;

/// One end of a message channel on a tokio runtime: the async twin of
/// [`crate::Connection`], with the same frames on the wire (CPython's), so the peer can be a
/// blocking [`crate::Connection`] or CPython.
///
/// Every wait is an `.await`; put a deadline on any of them with [`tokio::time::timeout`]
/// (see the [module docs](super#deadlines)). Receiving is cancel-safe: a message is only taken
/// off the connection's buffer once it is whole, so a `recv` future dropped mid-message loses
/// nothing and the next `recv` returns that message. Sending is not: a `send` future dropped
/// after part of a frame went out poisons the sending side (see [`send_bytes`](Self::send_bytes)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use multiprocessing_connection::tokio::pipe;
/// let (mut a, mut b) = pipe(true).unwrap();
/// a.send(&("hello", 42u32)).await.unwrap();
/// let (s, n): (String, u32) = b.recv().await.unwrap();
/// assert_eq!((s.as_str(), n), ("hello", 42));
/// # }
/// ```
pub struct Connection {
    io: AsyncFd<OwnedFd>,
    kind: Kind,
    readable: bool,
    writable: bool,
    closed: bool,
    /// Received bytes are `buf[start..end]`; the rest of `buf` is zeroed room to read into.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    fds: FdQueue,
    /// A `send` was dropped mid-frame: the peer's stream holds a partial frame.
    send_broken: bool,
    /// The blocking connection's adaptive spin before parking (see [`Connection::recv`]).
    spin: Spin,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.io.as_raw_fd())
            .field("kind", &self.kind)
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .field("buffered", &(self.end - self.start))
            .field("send_broken", &self.send_broken)
            .finish_non_exhaustive()
    }
}

/// Registers `fd` (made non-blocking) with the current runtime's reactor.
pub(super) fn register(fd: OwnedFd) -> Result<AsyncFd<OwnedFd>> {
    if ::tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::Io(io::Error::other(
            "an async connection must be made inside a tokio runtime",
        )));
    }
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    if !flags.contains(rustix::fs::OFlags::NONBLOCK) {
        rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    }
    // SAFETY: an `OwnedFd` is an open descriptor it alone closes, and its `as_raw_fd` always
    // returns that one descriptor, for as long as the `AsyncFd` owns it.
    io_driver(|| unsafe { AsyncFd::register(fd) })?.map_err(|e| Error::from(io::Error::from(e)))
}

/// Runs `f`, which registers with the runtime's reactor; tokio panics when the runtime was built
/// without its I/O driver, and that becomes an error here instead of crossing the API.
pub(super) fn io_driver<T>(f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| {
        Error::Io(io::Error::other(
            "the tokio runtime has no I/O driver: build it with `enable_io` (or `enable_all`)",
        ))
    })
}

/// Runs `f`, which makes a tokio timer; tokio panics when the runtime was built without its
/// timer, and that becomes an error here instead of crossing the API.
pub(super) fn timer<T>(f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| {
        Error::Io(io::Error::other(
            "the tokio runtime has no timer: build it with `enable_time` (or `enable_all`)",
        ))
    })
}

impl Connection {
    pub(crate) fn from_parts(p: Parts) -> Result<Self> {
        let Parts {
            fd,
            kind,
            readable,
            writable,
            unread,
            fds,
        } = p;
        let io = register(fd)?;
        let end = unread.len();
        Ok(Connection {
            io,
            kind,
            readable,
            writable,
            closed: false,
            buf: unread,
            start: 0,
            end,
            fds,
            send_broken: false,
            spin: Spin::new(),
        })
    }

    /// A duplex socket connection whose first `bytes` were already read (past a handshake).
    pub(super) fn with_read_bytes(io: AsyncFd<OwnedFd>, kind: Kind, bytes: Vec<u8>) -> Self {
        let end = bytes.len();
        Connection {
            io,
            kind,
            readable: true,
            writable: true,
            closed: false,
            buf: bytes,
            start: 0,
            end,
            fds: FdQueue::default(),
            send_broken: false,
            spin: Spin::new(),
        }
    }

    /// Turns this back into a blocking [`crate::Connection`] (tokio's `into_std`): the
    /// descriptor is made blocking again, and bytes already received but not yet taken by a
    /// `recv` go with it, so no message is lost.
    ///
    /// A connection whose sending side a dropped `send` poisoned cannot be turned back:
    /// [`Error::Io`] (its stream holds a partial frame).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use multiprocessing_connection::tokio::pipe;
    /// let (mut a, b) = pipe(true).unwrap();
    /// a.send_bytes(b"to a blocking end").await.unwrap();
    /// let mut b = b.into_std().unwrap();
    /// assert_eq!(b.recv_bytes().unwrap(), b"to a blocking end");
    /// # }
    /// ```
    pub fn into_std(self) -> Result<crate::Connection> {
        if self.send_broken {
            return Err(broken());
        }
        if self.closed {
            return Err(Error::Closed);
        }
        let Connection {
            io,
            kind,
            readable,
            writable,
            buf,
            start,
            end,
            fds,
            ..
        } = self;
        let fd = io.into_inner();
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags - rustix::fs::OFlags::NONBLOCK)?;
        Ok(crate::Connection::from_all_parts(Parts {
            fd,
            kind,
            readable,
            writable,
            unread: buf[start..end].to_vec(),
            fds,
        }))
    }

    /// Whether the connection can receive (Python's `readable`).
    #[must_use]
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether the connection can send (Python's `writable`).
    #[must_use]
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Whether the connection is closed (Python's `closed`): only a read-only end that met a
    /// [`Error::BadMessageLength`] closes itself, as in Python.
    #[must_use]
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Closes the connection (Python's `close()`); dropping it does the same.
    pub fn close(self) -> Result<()> {
        drop(self);
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        if self.send_broken {
            return Err(broken());
        }
        Ok(())
    }

    fn check_readable(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        if !self.readable {
            return Err(Error::WriteOnly);
        }
        Ok(())
    }

    // ----- sending -----

    /// Sends `data` as one message (Python's `send_bytes`).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe. Dropping the future before anything was written sends nothing and
    /// leaves the connection as it was; dropping it after part of the frame was written leaves
    /// that partial frame in the peer's stream, and the connection's sending side is then
    /// poisoned: every later send (and [`into_std`](Self::into_std)) fails with [`Error::Io`]
    /// (`BrokenPipe`) instead of sending frames the peer would misread. Receiving still works.
    pub async fn send_bytes(&mut self, data: &[u8]) -> Result<()> {
        let (h, n) = frame::encode_header(data.len(), 0);
        self.write_frame(&h[..n], data, &[]).await
    }

    /// Sends a serde value as one message (Python's `send`), encoded with
    /// [`multiprocessing_core::codec`] as by [`crate::Connection::send`]; handles that own
    /// descriptors travel with it over a Unix-socket connection.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: see [`send_bytes`](Self::send_bytes).
    pub async fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.check_writable()?;
        let (bytes, fds) = encode_with_fds(value)?;
        if fds.is_empty() {
            return self.send_bytes(&bytes).await;
        }
        self.send_bytes_with_fds(&bytes, &fds).await
    }

    /// Sends `data` as one message with `fds` attached (`SCM_RIGHTS`), over a Unix-socket
    /// connection, as [`crate::Connection::send_bytes_with_fds`] does.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: see [`send_bytes`](Self::send_bytes).
    pub async fn send_bytes_with_fds<F: AsFd>(&mut self, data: &[u8], fds: &[F]) -> Result<()> {
        if fds.is_empty() {
            return self.send_bytes(data).await;
        }
        self.check_writable()?;
        if self.kind != Kind::Unix {
            return Err(Error::Transfer(
                "file descriptors can only be sent over a Unix-socket connection".into(),
            ));
        }
        if fds.len() > MAX_FDS_PER_MESSAGE {
            return Err(Error::Transfer(format!(
                "{} file descriptors in one message, at most {MAX_FDS_PER_MESSAGE} allowed",
                fds.len()
            )));
        }
        let (h, n) = frame::encode_header(data.len(), fds.len());
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
        self.write_frame(&h[..n], data, &borrowed).await
    }

    /// Writes one frame; `fds` ride on its first byte.
    async fn write_frame(
        &mut self,
        head: &[u8],
        body: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> Result<()> {
        self.check_writable()?;
        let total = head.len() + body.len();
        let mut sent = 0;
        while sent < total {
            let mut guard = self.io.writable().await.map_err(Error::Io)?;
            let (h, b) = if sent < head.len() {
                (&head[sent..], body)
            } else {
                (&[][..], &body[sent - head.len()..])
            };
            let kind = self.kind;
            let with_fds = if sent == 0 { fds } else { &[] };
            let r = guard.try_io(|io| write_some(io.as_fd(), kind, h, b, with_fds));
            match r {
                Ok(Ok(n)) => {
                    sent += n;
                    // Set while a frame is half out: a dropped future leaves it set.
                    self.send_broken = sent < total;
                }
                Ok(Err(e)) => {
                    self.send_broken = sent > 0;
                    return Err(Error::Io(e));
                }
                Err(_would_block) => {}
            }
        }
        Ok(())
    }

    // ----- receiving -----

    /// Receives one message's bytes (Python's `recv_bytes()`); end of stream before a message
    /// is [`Error::Eof`], in the middle of one [`Error::UnexpectedEof`]. Descriptors attached
    /// to the message are closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the bytes of a message are kept in the connection until the whole message
    /// has arrived, so a dropped future loses nothing and the next receive gets the message.
    pub async fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        Ok(self.recv_frame(None).await?.0)
    }

    /// Receives one message of at most `max` bytes (Python's `recv_bytes(maxlength)`). A longer
    /// message fails with [`Error::BadMessageLength`] as soon as its header arrives, and the
    /// connection cannot receive any more (a read-only end is closed), as in Python.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv_bytes`](Self::recv_bytes).
    #[doc(alias = "recv_bytes")]
    pub async fn recv_bytes_max(&mut self, max: usize) -> Result<Vec<u8>> {
        Ok(self.recv_frame(Some(max)).await?.0)
    }

    /// Receives one message's bytes and the descriptors attached to it.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv_bytes`](Self::recv_bytes): descriptors received with a partial
    /// message stay queued in the connection with its bytes.
    pub async fn recv_bytes_with_fds(&mut self) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        self.recv_frame(None).await
    }

    /// Receives one message and decodes it as a `T` (Python's `recv`); handles inside it that
    /// own descriptors get the descriptors that came with it.
    ///
    /// Like the blocking form, every receive may poll the socket for up to 20 µs before it
    /// parks, and only while this connection's history shows answers arriving that fast (a
    /// slow or idle peer turns it off within a few receives): a tight request/reply loop then
    /// stays close to the blocking form's latency, and the runtime's thread is never held
    /// longer than that.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv_bytes`](Self::recv_bytes).
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        let (bytes, fds) = self.recv_frame(None).await?;
        Ok(decode_with_fds(&bytes, fds)?)
    }

    /// Sends a serde value as a pickle, as CPython's `Connection.send()` does (see
    /// [`crate::Connection::send_pickle`]).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: see [`send_bytes`](Self::send_bytes).
    #[cfg(feature = "pickle")]
    #[doc(alias = "send")]
    pub async fn send_pickle<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let bytes = multiprocessing_pickle::to_vec(value).map_err(pickle_error)?;
        self.send_bytes(&bytes).await
    }

    /// Receives a message a CPython peer sent with `send()` (a pickle) as a serde value (see
    /// [`crate::Connection::recv_pickle`]); a message that is no pickle, or does not fit `T`,
    /// is [`Error::Codec`] and the connection stays usable.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv_bytes`](Self::recv_bytes).
    #[cfg(feature = "pickle")]
    #[doc(alias = "recv")]
    pub async fn recv_pickle<T: DeserializeOwned>(&mut self) -> Result<T> {
        let bytes = self.recv_bytes().await?;
        multiprocessing_pickle::from_slice(&bytes).map_err(pickle_error)
    }

    /// Sends a Python object tree as a pickle (see [`crate::Connection::send_pickle_value`]).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: see [`send_bytes`](Self::send_bytes).
    #[cfg(feature = "pickle")]
    pub async fn send_pickle_value(&mut self, value: &multiprocessing_pickle::Value) -> Result<()> {
        let bytes = multiprocessing_pickle::dumps(value).map_err(pickle_error)?;
        self.send_bytes(&bytes).await
    }

    /// Receives a pickled message as the Python object tree (see
    /// [`crate::Connection::recv_pickle_value`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv_bytes`](Self::recv_bytes).
    #[cfg(feature = "pickle")]
    pub async fn recv_pickle_value(&mut self) -> Result<multiprocessing_pickle::Value> {
        let bytes = self.recv_bytes().await?;
        multiprocessing_pickle::loads(&bytes).map_err(pickle_error)
    }

    /// Waits until a message (or end of stream) is waiting to be received (Python's `poll()`
    /// without a timeout; Python's `poll(t)` is `tokio::time::timeout(t, conn.wait_readable())`,
    /// and [`poll`](Self::poll) says it with a `bool`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only waits, and takes nothing.
    pub async fn wait_readable(&self) -> Result<()> {
        self.check_readable()?;
        if self.end > self.start {
            return Ok(());
        }
        loop {
            let mut guard = self.io.readable().await.map_err(Error::Io)?;
            // The reactor's readiness can outlive the bytes (a read took them all without
            // meeting `EAGAIN`): the kernel is asked, without waiting.
            if time::wait_readable(self.io.as_fd(), Deadline::after(Duration::ZERO))? {
                return Ok(());
            }
            guard.clear_ready();
        }
    }

    /// Whether a message (or end of stream) is waiting to be received within `timeout`
    /// (Python's `poll(timeout)`): `Some(Duration::ZERO)` checks without waiting, `None` waits
    /// until one is. A timeout needs the runtime's timer (`enable_time`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only waits, and takes nothing.
    pub async fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        self.check_readable()?;
        if self.end > self.start {
            return Ok(true);
        }
        match timeout {
            None => self.wait_readable().await.map(|()| true),
            Some(Duration::ZERO) => Ok(time::wait_readable(
                self.io.as_fd(),
                Deadline::after(Duration::ZERO),
            )?),
            Some(t) => match timer(|| ::tokio::time::timeout(t, self.wait_readable()))?.await {
                Ok(r) => r.map(|()| true),
                Err(_elapsed) => Ok(false),
            },
        }
    }

    /// Takes the next whole frame off the buffer, reading until there is one.
    async fn recv_frame(&mut self, limit: Option<usize>) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        self.check_readable()?;
        loop {
            let have = &self.buf[self.start..self.end];
            match frame::decode_frame(have, limit.unwrap_or(isize::MAX as usize)) {
                Ok(Some((h, payload, used))) => {
                    let out = have[payload].to_vec();
                    self.start += used;
                    if self.start == self.end {
                        self.start = 0;
                        self.end = 0;
                        // A large message's room is given back once it is taken.
                        if self.buf.len() > 4 * READ_BUFFER {
                            self.buf = Vec::new();
                        }
                    }
                    let fds = self.claim_fds(h.nfds)?;
                    return Ok((out, fds));
                }
                Ok(None) => {}
                Err(mut e) => {
                    if let Error::BadMessageLength { limit: l, .. } = &mut e
                        && limit.is_none()
                    {
                        *l = None;
                    }
                    // The stream is no longer in step: reading stops, as in the blocking form.
                    self.readable = false;
                    if !self.writable {
                        self.closed = true;
                    }
                    return Err(e);
                }
            }
            let want = match frame::parse_header(have) {
                Ok(Some((h, n))) => (n as u64 + h.len).saturating_sub(have.len() as u64),
                _ => 16,
            };
            // As the blocking form does: when answers have been coming within microseconds,
            // polling for one briefly beats parking the thread and being woken.
            let spun = self.start == self.end && self.spin.spin(self.io.as_fd(), SPIN);
            if !self.fill(want, spun).await? {
                return Err(if self.end == self.start {
                    Error::Eof
                } else {
                    Error::UnexpectedEof
                });
            }
        }
    }

    /// Reads what the kernel has (at least one byte, waiting for it) into the buffer, with
    /// room for `want` more bytes (at most [`MAX_AHEAD`] ahead of what arrived). Returns
    /// `false` at end of stream.
    ///
    /// Everything read lands in the connection's own buffer before the next `.await`: a
    /// future dropped at that `.await` has lost nothing.
    async fn fill(&mut self, want: u64, ready: bool) -> Result<bool> {
        let room = (want.min(MAX_AHEAD as u64) as usize).max(READ_BUFFER);
        if self.buf.len() - self.end < room {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < room {
                self.buf.resize(self.end + room, 0);
            }
        }
        let unix = self.kind == Kind::Unix;
        let mut ready = ready;
        loop {
            let r = if ready {
                // The spin saw the bytes arrive: read them now, before the reactor has heard.
                ready = false;
                let (buf, fds) = (&mut self.buf[self.end..], &mut self.fds);
                match read_some(self.io.as_fd(), unix, buf, fds) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => Ok(r),
                }
            } else {
                let mut guard = self.io.readable().await.map_err(Error::Io)?;
                let (buf, fds) = (&mut self.buf[self.end..], &mut self.fds);
                let room = buf.len();
                let r = guard.try_io(|io| read_some(io.as_fd(), unix, buf, fds));
                // A short read emptied the socket: forgetting the readiness now saves the next
                // receive a read that would only meet `EAGAIN` (tokio's streams do the same; an
                // event that arrives meanwhile is not lost, the reactor sees it anew).
                if matches!(r, Ok(Ok(n)) if n > 0 && n < room) {
                    guard.clear_ready();
                }
                r
            };
            match r {
                Ok(Ok(n)) => {
                    self.end += n;
                    if self.fds.fds.len() > MAX_PENDING_FDS {
                        self.fds.fds.clear();
                        return Err(Error::Transfer(
                            "the peer sent more file descriptors than its messages claimed".into(),
                        ));
                    }
                    return Ok(n > 0);
                }
                Ok(Err(e)) => return Err(Error::Io(e)),
                Err(_would_block) => {}
            }
        }
    }

    /// Takes the `n` descriptors a frame announced (the blocking reader's rules).
    fn claim_fds(&mut self, n: u32) -> Result<Vec<OwnedFd>> {
        let n = n as usize;
        if n == 0 {
            return Ok(Vec::new());
        }
        if n > MAX_FDS_PER_MESSAGE || self.fds.truncated {
            self.fds.truncated = false;
            self.fds.fds.clear();
            return Err(Error::Transfer(format!(
                "the message carried {n} file descriptors, more than the {MAX_FDS_PER_MESSAGE} allowed"
            )));
        }
        if n > self.fds.fds.len() {
            self.fds.fds.clear();
            return Err(Error::Transfer(format!(
                "the message announced {n} file descriptors that did not arrive"
            )));
        }
        Ok(self.fds.fds.drain(..n).collect())
    }
}

/// One non-blocking read; `WouldBlock` tells the reactor to wait.
fn read_some(
    fd: BorrowedFd<'_>,
    unix: bool,
    buf: &mut [u8],
    fds: &mut FdQueue,
) -> io::Result<usize> {
    if unix {
        let mut got = Vec::new();
        let r = multiprocessing_core::fdpass::recv_with_fds_keep(fd, buf, &mut got)?;
        fds.fds.extend(got);
        fds.truncated |= r.truncated;
        Ok(r.bytes)
    } else {
        Ok(time::retry_on_intr(|| rustix::io::read(fd, &mut *buf))?)
    }
}

/// One non-blocking vectored write of `head` then `body`, `fds` on its first byte.
fn write_some(
    fd: BorrowedFd<'_>,
    kind: Kind,
    head: &[u8],
    body: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    let iov = [IoSlice::new(head), IoSlice::new(body)];
    let iov = if head.is_empty() { &iov[1..] } else { &iov[..] };
    let n = match kind {
        Kind::Pipe => time::retry_on_intr(|| rustix::io::writev(fd, iov)),
        Kind::Unix | Kind::Socket if fds.is_empty() => time::retry_on_intr(|| {
            rustix::net::sendmsg(
                fd,
                iov,
                &mut SendAncillaryBuffer::default(),
                SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
            )
        }),
        Kind::Unix | Kind::Socket => {
            let mut space =
                [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_MESSAGE))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !control.push(SendAncillaryMessage::ScmRights(fds)) {
                return Err(io::Error::other("ancillary buffer too small"));
            }
            time::retry_on_intr(|| {
                rustix::net::sendmsg(
                    fd,
                    iov,
                    &mut control,
                    SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
                )
            })
        }
    };
    n.map_err(|e: Errno| e.into())
}

fn broken() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::BrokenPipe,
        "a cancelled send left a partial message on the connection: it cannot send any more",
    ))
}

#[cfg(feature = "pickle")]
fn pickle_error(e: multiprocessing_pickle::Error) -> Error {
    Error::Codec(e.to_string())
}

/// Turns a blocking connection into an async one (tokio's `from_std`): the descriptor is made
/// non-blocking and registered with the current runtime, and bytes already received but not yet
/// taken by a `recv` go with it. Outside a tokio runtime (or in one without its I/O driver),
/// [`Error::Io`]; a closed connection, [`Error::Closed`].
///
/// Non-blocking mode belongs to the open file description: a process or handle sharing this very
/// end (a `dup`, the copy a `fork` left in a child) sees it too. Give a child the *other* end.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use multiprocessing_connection::{pipe, tokio::Connection};
/// let (a, mut b) = pipe(true).unwrap();
/// let mut a = Connection::try_from(a).unwrap();
/// b.send_bytes(b"from a blocking end").unwrap();
/// assert_eq!(a.recv_bytes().await.unwrap(), b"from a blocking end");
/// # }
/// ```
impl TryFrom<crate::Connection> for Connection {
    type Error = Error;

    fn try_from(c: crate::Connection) -> Result<Self> {
        Connection::from_parts(c.into_parts()?)
    }
}

/// [`Connection::into_std`].
impl TryFrom<Connection> for crate::Connection {
    type Error = Error;

    fn try_from(c: Connection) -> Result<Self> {
        c.into_std()
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for Connection {
    /// The descriptor (Python's `fileno()`).
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
