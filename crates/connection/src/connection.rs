//! [`Connection`]: a message-oriented, framed byte stream over a socket or a pipe, Python's
//! `multiprocessing.connection.Connection`.
//!
//! Every message is one frame (see [`frame`](crate::frame)), byte-compatible with CPython, so a
//! Rust process and a Python process can talk over the same socket. [`Connection::send_bytes`] and
//! [`Connection::recv_bytes`] move raw bytes; [`Connection::send`] and [`Connection::recv`] move
//! any serde value encoded with the workspace codec (postcard, not pickle: use the byte methods
//! to talk to Python).
//!
//! ```
//! use multiprocessing_connection::pipe;
//! let (mut a, mut b) = pipe(true).unwrap();
//! a.send(&("hello", 42u32)).unwrap();
//! let (s, n): (String, u32) = b.recv().unwrap();
//! assert_eq!((s.as_str(), n), ("hello", 42));
//! b.send_bytes(b"raw").unwrap();
//! assert_eq!(a.recv_bytes().unwrap(), b"raw");
//! ```
//!
//! # Passing descriptors
//!
//! A `Connection` (and any other handle built on
//! [`transfer`](multiprocessing_core::transfer)) can travel inside a message sent over a
//! Unix-socket connection. Such a frame uses the header `b2 af b9 bc` (the length `-0x4d504644`, which CPython never
//! writes), a 4-byte descriptor count
//! and an 8-byte length, and its descriptors ride on the header's first byte (`SCM_RIGHTS`).
//! The receiver reads Unix sockets with `recvmsg` and queues the descriptors it gets; each frame
//! claims its own from the front of the queue, so frames without descriptors are exactly
//! CPython's. A successful send means the kernel holds the descriptors in the receiving socket's
//! queue: they cannot be lost in transit, only closed unread if the receiver closes its end, so no
//! acknowledgement frame is needed (one would also interleave with the peer's own messages on
//! a duplex connection). Sending descriptors over a pipe or a TCP socket is
//! [`Error::Transfer`].

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use multiprocessing_core::backoff::Adaptive;
use multiprocessing_core::time::{self, Deadline, Waitable, retry_on_intr};
use multiprocessing_core::transfer::{
    decode_with_fds, deserialize_fd, encode_with_fds, serialize_fd,
};
use rustix::net::{SendAncillaryBuffer, SendFlags};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::frame::{self, FdQueue, FrameReader, Header, Source};
use crate::{Error, Result};

/// What kind of descriptor a connection wraps; decides how it reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    /// A Unix stream socket: can carry descriptors.
    Unix,
    /// Any other stream socket (TCP).
    Socket,
    /// One end of a pipe.
    Pipe,
}

/// A connection taken apart, to move between the blocking and the async forms.
#[cfg(feature = "tokio")]
pub(crate) struct Parts {
    pub(crate) fd: OwnedFd,
    pub(crate) kind: Kind,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// Received bytes not yet taken by a `recv`.
    pub(crate) unread: Vec<u8>,
    /// Received descriptors not yet claimed by a message.
    pub(crate) fds: FdQueue,
}

/// One end of a message channel, Python's `multiprocessing.connection.Connection`.
///
/// Every message is one frame (see [`frame`](crate::frame)), byte-compatible with CPython, so a
/// Rust process and a Python process can talk over the same socket. [`Connection::send_bytes`] and
/// [`Connection::recv_bytes`] move raw bytes; [`Connection::send`] and [`Connection::recv`] move
/// any serde value encoded with the workspace codec (postcard, not pickle: use the byte methods
/// to talk to Python).
///
/// ```
/// use multiprocessing_connection::pipe;
/// let (mut a, mut b) = pipe(true).unwrap();
/// a.send(&("hello", 42u32)).unwrap();
/// let (s, n): (String, u32) = b.recv().unwrap();
/// assert_eq!((s.as_str(), n), ("hello", 42));
/// b.send_bytes(b"raw").unwrap();
/// assert_eq!(a.recv_bytes().unwrap(), b"raw");
/// ```
///
/// # Passing descriptors
///
/// A `Connection` (and any other handle built on
/// [`transfer`](multiprocessing_core::transfer)) can travel inside a message sent over a
/// Unix-socket connection. Such a frame uses the header `b2 af b9 bc` (the length `-0x4d504644`, which CPython never
/// writes), a 4-byte descriptor count
/// and an 8-byte length, and its descriptors ride on the header's first byte (`SCM_RIGHTS`).
/// The receiver reads Unix sockets with `recvmsg` and queues the descriptors it gets; each frame
/// claims its own from the front of the queue, so frames without descriptors are exactly
/// CPython's. A successful send means the kernel holds the descriptors in the receiving socket's
/// queue: they cannot be lost in transit, only closed unread if the receiver closes its end, so no
/// acknowledgement frame is needed (one would also interleave with the peer's own messages on
/// a duplex connection). Sending descriptors over a pipe or a TCP socket is
/// [`Error::Transfer`].
///
/// Dropping a connection closes it. A connection is `Send`; share one between threads behind a
/// `Mutex`, as Python users do with a lock.
pub struct Connection {
    file: File,
    closed: bool,
    kind: Kind,
    readable: bool,
    writable: bool,
    reader: FrameReader,
    /// When to spin before blocking for the next message (see [`Spin`]).
    spin: Spin,
}

/// How long a receive polls for a message before it blocks, when spinning has been paying off.
pub(crate) const SPIN: Duration = Duration::from_micros(20);
/// Blocking receives before a new connection first tries spinning: a short-lived connection
/// (a handshake) never spins.
const SPIN_WARMUP: u32 = 16;

/// Frames with descriptors up to this size (header included), and up to this many descriptors,
/// are assembled on the stack (kept small: a deeper frame can be one more stack page).
const SMALL_FRAME: usize = 64;
const SMALL_FDS: usize = 4;

/// Per-connection history that decides whether a receive spins before it blocks: the
/// workspace's one adaptive spin, [`Adaptive`].
///
/// A message from a peer answering promptly on another CPU is seen by polling within a few
/// microseconds, where sleeping and being woken across CPUs costs tens of microseconds on a
/// virtual machine; on the peer's own CPU, or when the peer is slow, spinning only burns time,
/// and the history stops it.
#[derive(Debug)]
pub(crate) struct Spin(Adaptive);

impl Spin {
    pub(crate) fn new() -> Self {
        Spin(Adaptive::new(SPIN_WARMUP))
    }

    /// Polls `fd` for up to `budget` if the history says it may pay off; returns whether it
    /// found the descriptor readable.
    pub(crate) fn spin(&self, fd: BorrowedFd<'_>, budget: Duration) -> bool {
        let mut failed = false;
        self.0.spin_until(budget, Deadline::never(), || {
            if failed {
                return false;
            }
            match time::wait_readable(fd, Deadline::after(Duration::ZERO)) {
                Ok(ready) => ready,
                Err(_) => {
                    failed = true;
                    false
                }
            }
        }) && !failed
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.file.as_raw_fd())
            .field("closed", &self.closed)
            .field("kind", &self.kind)
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .finish()
    }
}

/// The [`Source`] of a live connection.
struct FdSource<'a> {
    file: &'a File,
    unix: bool,
}

impl Source for FdSource<'_> {
    fn read_some(&mut self, buf: &mut [u8], fds: &mut FdQueue) -> io::Result<usize> {
        if self.unix {
            let mut got = Vec::new();
            let r =
                multiprocessing_core::fdpass::recv_with_fds_keep(self.file.as_fd(), buf, &mut got)?;
            fds.fds.extend(got);
            fds.truncated |= r.truncated;
            Ok(r.bytes)
        } else {
            self.read_direct(buf)
        }
    }

    fn read_spare(&mut self, out: &mut Vec<u8>, n: usize) -> io::Result<usize> {
        // std reads into the vector's spare capacity without zero-filling it first.
        self.file.take(n as u64).read_to_end(out)
    }

    fn read_direct(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut self.file).read(buf)
    }
}

fn retry<T>(f: impl FnMut() -> rustix::io::Result<T>) -> Result<T> {
    Ok(retry_on_intr(f)?)
}

impl Connection {
    pub(crate) fn from_parts(fd: OwnedFd, kind: Kind, readable: bool, writable: bool) -> Self {
        Connection {
            file: File::from(fd),
            closed: false,
            kind,
            readable,
            writable,
            reader: FrameReader::new(),
            spin: Spin::new(),
        }
    }

    /// A duplex socket connection whose first `bytes` were already read (past a handshake).
    pub(crate) fn with_read_bytes(fd: OwnedFd, kind: Kind, bytes: &[u8]) -> Self {
        let mut c = Self::from_parts(fd, kind, true, true);
        if !bytes.is_empty() {
            c.reader = FrameReader::with_bytes(bytes);
        }
        c
    }

    /// Takes the connection apart for an async connection: its descriptor, kind, directions,
    /// and the bytes and descriptors received but not yet taken by a `recv` (so no message is
    /// lost in the move). A closed connection is [`Error::Closed`].
    #[cfg(feature = "tokio")]
    pub(crate) fn into_parts(self) -> Result<Parts> {
        if self.closed {
            return Err(Error::Closed);
        }
        let (unread, fds) = self.reader.into_unread();
        Ok(Parts {
            fd: self.file.into(),
            kind: self.kind,
            readable: self.readable,
            writable: self.writable,
            unread,
            fds,
        })
    }

    /// The inverse of [`into_parts`](Self::into_parts).
    #[cfg(feature = "tokio")]
    pub(crate) fn from_all_parts(p: Parts) -> Self {
        let mut c = Self::from_parts(p.fd, p.kind, p.readable, p.writable);
        c.reader = FrameReader::with_unread(&p.unread, p.fds);
        c
    }

    /// Wraps a connected Unix stream socket.
    #[must_use]
    pub fn from_unix_stream(stream: UnixStream) -> Self {
        Self::from_parts(stream.into(), Kind::Unix, true, true)
    }

    /// Wraps a connected TCP stream.
    #[must_use]
    pub fn from_tcp_stream(stream: std::net::TcpStream) -> Self {
        Self::from_parts(stream.into(), Kind::Socket, true, true)
    }

    fn file(&self) -> Result<&File> {
        if self.closed {
            return Err(Error::Closed);
        }
        Ok(&self.file)
    }

    /// Whether the connection is closed (Python's `closed`); only a read-only end that met a
    /// [`Error::BadMessageLength`] closes itself, as in Python.
    #[must_use]
    pub fn closed(&self) -> bool {
        self.closed
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

    /// Closes the connection (Python's `close()`); dropping it does the same.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        Ok(())
    }

    /// A second connection over the same stream, on a duplicate of the descriptor (`dup`).
    ///
    /// Python lets one connection be handed to several children, each writing (or reading)
    /// whole messages on the same socket or pipe; this is that handle in Rust: send each clone to
    /// its own child. Each message still goes out as one frame, but messages from several
    /// writers interleave only whole when each fits the kernel's atomic write size (a pipe's
    /// `PIPE_BUF`, 4096 bytes) or when the writers take turns (a lock), as in Python.
    ///
    /// A connection holding received but unread bytes or descriptors cannot be cloned (the
    /// clone would start reading in the middle of a message): [`Error::Transfer`]. A closed
    /// connection gives [`Error::Closed`].
    ///
    /// ```
    /// use multiprocessing_connection::pipe;
    /// let (mut reader, writer) = pipe(false).unwrap();
    /// let mut other = writer.try_clone().unwrap();
    /// let mut writer = writer;
    /// writer.send_bytes(b"one").unwrap();
    /// other.send_bytes(b"two").unwrap();
    /// assert_eq!(reader.recv_bytes().unwrap(), b"one");
    /// assert_eq!(reader.recv_bytes().unwrap(), b"two");
    /// ```
    #[doc(alias = "dup")]
    pub fn try_clone(&self) -> Result<Connection> {
        let file = self.file()?;
        if self.reader.buffered() > 0 || self.reader.pending_fds() > 0 {
            return Err(Error::Transfer(
                "a connection holding received but unread data cannot be cloned".into(),
            ));
        }
        let fd = rustix::io::fcntl_dupfd_cloexec(file, 0)?;
        Ok(Self::from_parts(
            fd,
            self.kind,
            self.readable,
            self.writable,
        ))
    }

    fn check_writable(&self) -> Result<&File> {
        let f = self.file()?;
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        Ok(f)
    }

    fn check_readable(&self) -> Result<()> {
        self.file()?;
        if !self.readable {
            return Err(Error::WriteOnly);
        }
        Ok(())
    }

    /// Sends `data` as one message (Python's `send_bytes`).
    ///
    /// Python's `offset` and `size` arguments are unnecessary in Rust: send a slice,
    /// `conn.send_bytes(&buf[offset..offset + size])`. Header and payload leave in one
    /// vectored write.
    pub fn send_bytes(&mut self, data: &[u8]) -> Result<()> {
        let (h, n) = frame::encode_header(data.len(), 0);
        self.write_all(&h[..n], data)
    }

    fn write_all(&self, head: &[u8], body: &[u8]) -> Result<()> {
        let file = self.check_writable()?;
        let fd = file.as_fd();
        let total = head.len() + body.len();
        let mut sent = 0;
        while sent < total {
            let (h, b) = if sent < head.len() {
                (&head[sent..], body)
            } else {
                (&[][..], &body[sent - head.len()..])
            };
            let iov = [IoSlice::new(h), IoSlice::new(b)];
            let iov = if h.is_empty() { &iov[1..] } else { &iov[..] };
            let n = match self.kind {
                Kind::Pipe => retry(|| rustix::io::writev(fd, iov))?,
                Kind::Unix | Kind::Socket => retry(|| {
                    rustix::net::sendmsg(
                        fd,
                        iov,
                        &mut SendAncillaryBuffer::default(),
                        SendFlags::NOSIGNAL,
                    )
                })?,
            };
            sent += n;
        }
        Ok(())
    }

    /// Sends a serde value as one message (Python's `send`).
    ///
    /// The value is encoded with [`multiprocessing_core::codec`]; handles that own descriptors
    /// (another `Connection`, for one) travel with it over a Unix-socket connection, see the
    /// [type docs](Connection#passing-descriptors).
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.check_writable()?;
        let (bytes, fds) = encode_with_fds(value)?;
        if fds.is_empty() {
            return self.send_bytes(&bytes);
        }
        self.send_bytes_with_fds(&bytes, &fds)
    }

    /// Sends `data` as one message with `fds` attached (`SCM_RIGHTS`), over a Unix-socket
    /// connection; the peer gets both from [`recv_bytes_with_fds`](Self::recv_bytes_with_fds).
    ///
    /// This is the descriptor passing that [`send`](Self::send) uses for handles inside a value,
    /// for callers that frame their own payload: the process crate's bootstrap, forkserver and
    /// result channels use it. Without descriptors the frame is exactly CPython's; with them it
    /// uses this crate's descriptor header (see the [type docs](Connection#passing-descriptors)).
    /// The descriptors stay the caller's: the kernel duplicates them into the message. Over a
    /// pipe or a TCP socket, or with more than
    /// [`MAX_FDS_PER_MESSAGE`](multiprocessing_core::fdpass::MAX_FDS_PER_MESSAGE) descriptors,
    /// it fails with [`Error::Transfer`] and sends nothing.
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// use std::os::unix::net::UnixStream;
    /// use multiprocessing_connection::Connection;
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let (mut a, mut b) = (Connection::from_unix_stream(a), Connection::from_unix_stream(b));
    /// let file = std::fs::File::open("/dev/null").unwrap();
    /// a.send_bytes_with_fds(b"here", &[file.as_fd()]).unwrap();
    /// let (bytes, fds) = b.recv_bytes_with_fds().unwrap();
    /// assert_eq!((bytes.as_slice(), fds.len()), (&b"here"[..], 1));
    /// ```
    pub fn send_bytes_with_fds<F: AsFd>(&mut self, data: &[u8], fds: &[F]) -> Result<()> {
        if fds.is_empty() {
            return self.send_bytes(data);
        }
        let file = self.check_writable()?;
        if self.kind != Kind::Unix {
            return Err(Error::Transfer(
                "file descriptors can only be sent over a Unix-socket connection".into(),
            ));
        }
        if fds.len() > multiprocessing_core::fdpass::MAX_FDS_PER_MESSAGE {
            return Err(Error::Transfer(format!(
                "{} file descriptors in one message, at most {} allowed",
                fds.len(),
                multiprocessing_core::fdpass::MAX_FDS_PER_MESSAGE
            )));
        }
        let (h, n) = frame::encode_header(data.len(), fds.len());
        // A small frame and the descriptors' list are assembled on the stack: a forkserver
        // replies this way right after each fork, when a heap write would copy a page.
        let mut small = [0u8; SMALL_FRAME];
        let mut large = Vec::new();
        let msg = if n + data.len() <= SMALL_FRAME {
            small[..n].copy_from_slice(&h[..n]);
            small[n..n + data.len()].copy_from_slice(data);
            &small[..n + data.len()]
        } else {
            large.reserve_exact(n + data.len());
            large.extend_from_slice(&h[..n]);
            large.extend_from_slice(data);
            &large[..]
        };
        let mut few = [fds[0].as_fd(); SMALL_FDS];
        let many: Vec<BorrowedFd<'_>>;
        let borrowed = if fds.len() <= SMALL_FDS {
            for (slot, fd) in few.iter_mut().zip(fds) {
                *slot = fd.as_fd();
            }
            &few[..fds.len()]
        } else {
            many = fds.iter().map(AsFd::as_fd).collect();
            &many[..]
        };
        multiprocessing_core::fdpass::send_with_fds(file.as_fd(), msg, borrowed)
            .map_err(Error::from_io)
    }

    /// Reads one frame header, applying `limit` (and the Python semantics of a length error).
    fn next_header(&mut self, limit: Option<usize>) -> Result<Header> {
        self.check_readable()?;
        if self.closed {
            return Err(Error::Closed);
        }
        let file = &self.file;
        if self.reader.buffered() == 0 {
            self.spin.spin(file.as_fd(), SPIN);
        }
        let mut src = FdSource {
            file,
            unix: self.kind == Kind::Unix,
        };
        let h = self.reader.read_header(&mut src);
        let h = match h {
            Err(e @ Error::BadMessageLength { .. }) => {
                self.poison();
                return Err(e);
            }
            other => other?,
        };
        if let Err(e) = frame::check_limit(h.len, limit) {
            // The payload is not consumed: the stream is no longer in step, so reading stops.
            self.poison();
            return Err(e);
        }
        Ok(h)
    }

    /// After a bad length the stream cannot be read any more: a duplex end becomes write-only,
    /// a read-only end is closed (Python's behaviour).
    fn poison(&mut self) {
        self.readable = false;
        if !self.writable {
            self.closed = true;
        }
    }

    fn read_payload(&mut self, h: Header, out: &mut Vec<u8>) -> Result<Vec<OwnedFd>> {
        if self.closed {
            return Err(Error::Closed);
        }
        let file = &self.file;
        let mut src = FdSource {
            file,
            unix: self.kind == Kind::Unix,
        };
        let r = self.reader.read_payload(&mut src, h.len as usize, out);
        let fds = if h.nfds > 0 {
            self.reader.claim_fds(h.nfds)
        } else {
            Ok(Vec::new())
        };
        r?;
        fds
    }

    /// Receives one message's bytes (Python's `recv_bytes()`).
    ///
    /// Descriptors attached to the message (sent by [`send`](Self::send)) are closed.
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        self.recv_bytes_limited(None)
    }

    /// Receives one message's bytes and the descriptors attached to it (sent by
    /// [`send_bytes_with_fds`](Self::send_bytes_with_fds) or [`send`](Self::send)).
    ///
    /// A message without descriptors gives an empty vector; end of stream before a message is
    /// [`Error::Eof`].
    pub fn recv_bytes_with_fds(&mut self) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        let h = self.next_header(None)?;
        let mut out = Vec::new();
        let fds = self.read_payload(h, &mut out)?;
        Ok((out, fds))
    }

    /// Receives one message of at most `max` bytes (Python's `recv_bytes(maxlength)`).
    ///
    /// A longer message fails with [`Error::BadMessageLength`] without being read, and the
    /// connection cannot receive any more (a read-only end is closed), as in Python.
    #[doc(alias = "recv_bytes")]
    pub fn recv_bytes_max(&mut self, max: usize) -> Result<Vec<u8>> {
        self.recv_bytes_limited(Some(max))
    }

    fn recv_bytes_limited(&mut self, limit: Option<usize>) -> Result<Vec<u8>> {
        let h = self.next_header(limit)?;
        let mut out = Vec::new();
        self.read_payload(h, &mut out)?;
        Ok(out)
    }

    /// Receives one message into `buf`, returning its length (Python's `recv_bytes_into`).
    ///
    /// If the message does not fit, the whole message is returned in
    /// [`Error::BufferTooShort`] and the connection stays usable. Python's `offset` argument
    /// is a slice in Rust: `conn.recv_bytes_into(&mut buf[offset..])`.
    pub fn recv_bytes_into(&mut self, buf: &mut [u8]) -> Result<usize> {
        let h = self.next_header(None)?;
        let len = h.len as usize;
        if len > buf.len() {
            let mut out = Vec::new();
            self.read_payload(h, &mut out)?;
            return Err(Error::BufferTooShort(out));
        }
        if self.closed {
            return Err(Error::Closed);
        }
        let file = &self.file;
        let mut src = FdSource {
            file,
            unix: self.kind == Kind::Unix,
        };
        let r = self.reader.read_payload_into(&mut src, &mut buf[..len]);
        let fds = self.reader.claim_fds(h.nfds);
        r?;
        drop(fds?);
        Ok(len)
    }

    /// Receives one message and decodes it as a `T` (Python's `recv`).
    ///
    /// Handles inside the message that own descriptors get the descriptors that came with it.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        let h = self.next_header(None)?;
        let mut out = Vec::new();
        let fds = self.read_payload(h, &mut out)?;
        Ok(decode_with_fds(&out, fds)?)
    }

    /// [`recv`](Self::recv), giving up with [`Error::Timeout`] if no message has started to
    /// arrive within `timeout` (the workspace's timed shape; Python's `poll(t)` then `recv()`).
    /// Once a message has started, the rest of it is waited for, as by `recv`. Any `Duration`
    /// is accepted: [`Duration::ZERO`] takes only a message already there.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiprocessing_connection::{Error, pipe};
    /// let (mut a, mut b) = pipe(true).unwrap();
    /// assert!(matches!(b.recv_timeout::<u32>(Duration::ZERO), Err(Error::Timeout)));
    /// a.send(&7u32).unwrap();
    /// assert_eq!(b.recv_timeout::<u32>(Duration::from_secs(5)).unwrap(), 7);
    /// ```
    #[doc(alias = "poll")]
    pub fn recv_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
        if !self.poll(Some(timeout))? {
            return Err(Error::Timeout);
        }
        self.recv()
    }

    /// Sends a serde value as a pickle, as CPython's `Connection.send()` does, so a Python
    /// peer's `recv()` gets the `dict`, `list`, `tuple`, ... it describes (see
    /// [`multiprocessing_pickle::to_value`] for the mapping). Protocol
    /// [`DEFAULT_PROTOCOL`](multiprocessing_pickle::DEFAULT_PROTOCOL), which every CPython 3.8+
    /// reads.
    ///
    /// ```
    /// use multiprocessing_connection::pipe;
    /// let (mut a, mut b) = pipe(true).unwrap();
    /// a.send_pickle(&(1, "two", vec![3.0])).unwrap();
    /// assert_eq!(b.recv_pickle_value().unwrap().to_string(), "(1, 'two', [3.0])");
    /// ```
    #[cfg(feature = "pickle")]
    #[doc(alias = "send")]
    pub fn send_pickle<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let bytes = multiprocessing_pickle::to_vec(value).map_err(pickle_error)?;
        self.send_bytes(&bytes)
    }

    /// Sends a Python object tree as a pickle: class instances (a manager `Token`, an
    /// exception) and globals included.
    ///
    /// ```
    /// use multiprocessing_connection::pipe;
    /// use multiprocessing_pickle::Value;
    /// let (mut a, mut b) = pipe(true).unwrap();
    /// a.send_pickle_value(&Value::exception("KeyError", ["missing"])).unwrap();
    /// let e = b.recv_pickle_value().unwrap();
    /// assert_eq!(e.class(), Some(("builtins", "KeyError")));
    /// ```
    #[cfg(feature = "pickle")]
    pub fn send_pickle_value(&mut self, value: &multiprocessing_pickle::Value) -> Result<()> {
        let bytes = multiprocessing_pickle::dumps(value).map_err(pickle_error)?;
        self.send_bytes(&bytes)
    }

    /// Receives a message a CPython peer sent with `send()` (a pickle of any protocol) as a
    /// serde value. The pickle is read as data: nothing it names is imported or called.
    /// A message that is no pickle, or does not fit `T`, is [`Error::Codec`] and the
    /// connection stays usable.
    ///
    /// ```
    /// use multiprocessing_connection::pipe;
    /// let (mut a, mut b) = pipe(true).unwrap();
    /// // What CPython 3.8+'s send({'a': 1}) puts on the wire.
    /// a.send_bytes(b"\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.").unwrap();
    /// let m: std::collections::BTreeMap<String, i32> = b.recv_pickle().unwrap();
    /// assert_eq!(m["a"], 1);
    /// ```
    #[cfg(feature = "pickle")]
    #[doc(alias = "recv")]
    pub fn recv_pickle<T: DeserializeOwned>(&mut self) -> Result<T> {
        let bytes = self.recv_bytes()?;
        multiprocessing_pickle::from_slice(&bytes).map_err(pickle_error)
    }

    /// Receives a pickled message as the Python object tree, class instances, shared and
    /// recursive containers included (see [`multiprocessing_pickle::Value`]).
    #[cfg(feature = "pickle")]
    pub fn recv_pickle_value(&mut self) -> Result<multiprocessing_pickle::Value> {
        let bytes = self.recv_bytes()?;
        multiprocessing_pickle::loads(&bytes).map_err(pickle_error)
    }

    /// Whether a message (or end of stream) is waiting to be received (Python's `poll`).
    ///
    /// `Some(Duration::ZERO)` checks without waiting, `None` waits forever. Signals do not cut
    /// the wait short.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        self.check_readable()?;
        if self.reader.buffered() > 0 {
            return Ok(true);
        }
        let fd = self.file()?.as_fd();
        let deadline = Deadline::from_timeout(timeout);
        if timeout == Some(Duration::ZERO) {
            return Ok(time::wait_readable(fd, deadline)?);
        }
        if self.spin.spin(fd, timeout.map_or(SPIN, |t| t.min(SPIN))) {
            return Ok(true);
        }
        Ok(time::wait_readable(fd, deadline)?)
    }
}

/// Ready for [`wait`](crate::wait) when its socket or pipe is readable, or, without asking the
/// kernel, when it holds received bytes not yet taken by a `recv` (a read takes as much as the
/// kernel has, so a second message can sit in the buffer while the descriptor is idle).
impl Waitable for Connection {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    fn is_ready(&self) -> bool {
        !self.closed && self.reader.buffered() > 0
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for Connection {
    /// The descriptor (Python's `fileno()`).
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

struct SerFd<'a>(BorrowedFd<'a>);

impl Serialize for SerFd<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.0, s)
    }
}

struct DeFd(OwnedFd);

impl<'de> Deserialize<'de> for DeFd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fd(d).map(DeFd)
    }
}

impl Serialize for Connection {
    /// Serializes the connection's descriptor into the current transfer context; fails outside
    /// one, and for a connection holding received but unread bytes (they would be lost).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        if self.closed {
            return Err(S::Error::custom("handle is closed"));
        }
        let f = &self.file;
        if self.reader.buffered() > 0 || self.reader.pending_fds() > 0 {
            return Err(S::Error::custom(
                "a connection holding received but unread data cannot be sent",
            ));
        }
        (SerFd(f.as_fd()), self.kind, self.readable, self.writable).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (fd, kind, readable, writable) = <(DeFd, Kind, bool, bool)>::deserialize(d)?;
        Ok(Connection::from_parts(fd.0, kind, readable, writable))
    }
}

#[cfg(feature = "pickle")]
fn pickle_error(e: multiprocessing_pickle::Error) -> Error {
    Error::Codec(e.to_string())
}
