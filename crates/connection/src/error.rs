//! The crate's error type: Python's exceptions around `multiprocessing.connection` as variants.
//!
//! ```
//! use multiprocessing_connection::{Error, pipe};
//! let (reader, mut writer) = pipe(false).unwrap();
//! drop(reader);
//! // Sending on a pipe whose reader is gone is an I/O error (EPIPE), never a panic.
//! assert!(matches!(writer.send_bytes(b"x"), Err(Error::Io(_))));
//! // Or, by the reason shared with every crate's error:
//! let err = writer.send_bytes(b"x").unwrap_err();
//! assert_eq!(err.kind(), multiprocessing_core::ErrorKind::Io);
//! ```

use std::io;

use multiprocessing_core::ErrorKind;

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
    /// Another error of the core crate (a refused code reference, an invalid argument, ...).
    #[error(transparent)]
    Core(multiprocessing_core::Error),
}

impl From<multiprocessing_core::Error> for Error {
    fn from(e: multiprocessing_core::Error) -> Self {
        match e {
            multiprocessing_core::Error::Authentication(m) => Error::Authentication(m),
            multiprocessing_core::Error::Timeout => Error::Timeout,
            multiprocessing_core::Error::Codec(m) => Error::Codec(m),
            multiprocessing_core::Error::Transfer(m) => Error::Transfer(m),
            multiprocessing_core::Error::Io(e) => Error::Io(e),
            other => Error::Core(other),
        }
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::from_io(e.into())
    }
}

impl Error {
    /// Why the operation failed, for matching: the peer's end of file mid-message is
    /// [`ErrorKind::Eof`] too, the wrong end of a one-way pipe [`ErrorKind::Unsupported`], a bad
    /// frame length [`ErrorKind::Protocol`].
    ///
    /// ```
    /// use multiprocessing_connection::{Error, pipe};
    /// use multiprocessing_core::ErrorKind;
    /// let (mut reader, writer) = pipe(false).unwrap();
    /// drop(writer);
    /// assert_eq!(reader.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io(e) => ErrorKind::from_io(e),
            Error::Eof | Error::UnexpectedEof => ErrorKind::Eof,
            Error::Closed => ErrorKind::Closed,
            Error::ReadOnly | Error::WriteOnly => ErrorKind::Unsupported,
            Error::BadMessageLength { .. } => ErrorKind::Protocol,
            Error::BufferTooShort(_) => ErrorKind::BufferTooShort,
            Error::Authentication(_) => ErrorKind::Authentication,
            Error::Timeout => ErrorKind::Timeout,
            Error::Codec(_) => ErrorKind::Codec,
            Error::Transfer(_) => ErrorKind::Transfer,
            Error::Core(e) => e.kind(),
        }
    }

    /// Maps an I/O error, turning socket-timeout expiry (`EAGAIN` under `SO_RCVTIMEO`) into
    /// [`Error::Timeout`].
    pub(crate) fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Io(e),
        }
    }
}
