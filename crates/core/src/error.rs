//! The error type shared by every crate of the workspace.

use std::io;

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by the core crate.
///
/// Python's exceptions map to variants: `ProcessError` to [`Error::Process`],
/// `AuthenticationError` to [`Error::Authentication`], `TimeoutError` to [`Error::Timeout`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A process-level failure, Python's `ProcessError`.
    #[error("process error: {0}")]
    Process(String),
    /// Authentication with a peer failed, Python's `AuthenticationError`.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// An operation did not finish in time, Python's `TimeoutError`.
    #[error("operation timed out")]
    Timeout,
    /// A value could not be encoded or decoded.
    #[error("codec error: {0}")]
    Codec(String),
    /// A handle carrying a file descriptor was serialized outside a transfer context,
    /// or a received message referred to a descriptor it did not carry.
    #[error("file descriptor transfer: {0}")]
    Transfer(String),
    /// An argument or a received value was invalid, Python's `ValueError`.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A received code reference was refused before anything was called.
    #[error(transparent)]
    CodeRef(#[from] crate::code::CodeRefError),
    /// An operating-system error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<postcard::Error> for Error {
    fn from(e: postcard::Error) -> Self {
        Error::Codec(e.to_string())
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::Io(e.into())
    }
}
