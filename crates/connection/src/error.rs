//! The crate's error type: Python's exceptions around `multiprocessing.connection` as variants.
//!
//! ```
//! use multiprocessing_connection::{Error, pipe};
//! let (reader, mut writer) = pipe(false).unwrap();
//! drop(reader);
//! // Sending on a pipe whose reader is gone is an I/O error (EPIPE), never a panic.
//! assert!(matches!(writer.send_bytes(b"x"), Err(Error::Io(_))));
//! ```

use std::io;

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by connections, listeners and clients.
///
/// | Python | Rust |
/// | --- | --- |
/// | `EOFError` | [`Error::Eof`] |
/// | `OSError('got end of file during message')` | [`Error::UnexpectedEof`] |
/// | `OSError('handle is closed')` | [`Error::Closed`] |
/// | `OSError('connection is read-only')` / `'write-only'` | [`Error::ReadOnly`] / [`Error::WriteOnly`] |
/// | `OSError('bad message length')` | [`Error::BadMessageLength`] |
/// | `BufferTooShort` | [`Error::BufferTooShort`] |
/// | `AuthenticationError` | [`Error::Authentication`] |
/// | `TimeoutError` | [`Error::Timeout`] |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The peer closed the connection before the first byte of a message (Python's `EOFError`).
    #[error("end of file: the peer closed the connection")]
    #[doc(alias = "EOFError")]
    Eof,
    /// The peer closed the connection in the middle of a message.
    #[error("got end of file during message")]
    UnexpectedEof,
    /// The connection or listener is closed.
    #[error("handle is closed")]
    Closed,
    /// Sending on the read-only end of a one-way pipe.
    #[error("connection is read-only")]
    ReadOnly,
    /// Receiving on the write-only end of a one-way pipe (or after a [`Error::BadMessageLength`]).
    #[error("connection is write-only")]
    WriteOnly,
    /// A frame header announced a length that is negative (other than the `-1` marker) or larger
    /// than the receiver's limit.
    #[error("bad message length: {length}{}", limit.map(|l| format!(" (limit {l})")).unwrap_or_default())]
    BadMessageLength {
        /// The length the peer announced (negative for a bad signed header).
        length: i128,
        /// The receiver's limit, if one applied.
        limit: Option<usize>,
    },
    /// The message did not fit the caller's buffer; it carries the whole message, and the
    /// connection stays usable.
    #[error("buffer too short for a message of {} bytes", .0.len())]
    BufferTooShort(Vec<u8>),
    /// Authentication with the peer failed, Python's `AuthenticationError`.
    #[error("authentication failed: {0}")]
    #[doc(alias = "AuthenticationError")]
    Authentication(String),
    /// An operation did not finish in time.
    #[error("operation timed out")]
    Timeout,
    /// A value could not be encoded or decoded.
    #[error("codec error: {0}")]
    Codec(String),
    /// File descriptors could not be sent or received with a message.
    #[error("file descriptor transfer: {0}")]
    Transfer(String),
}

impl From<multiprocessing_core::Error> for Error {
    fn from(e: multiprocessing_core::Error) -> Self {
        match e {
            multiprocessing_core::Error::Authentication(m) => Error::Authentication(m),
            multiprocessing_core::Error::Timeout => Error::Timeout,
            multiprocessing_core::Error::Codec(m) => Error::Codec(m),
            multiprocessing_core::Error::Transfer(m) => Error::Transfer(m),
            multiprocessing_core::Error::Io(e) => Error::Io(e),
            other => Error::Io(io::Error::other(other.to_string())),
        }
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::from_io(e.into())
    }
}

impl Error {
    /// Maps an I/O error, turning socket-timeout expiry (`EAGAIN` under `SO_RCVTIMEO`) into
    /// [`Error::Timeout`].
    pub(crate) fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Io(e),
        }
    }
}
