//! The managers' error: a method that raised, a server that is gone, a connection that failed.
//! Match [`Error::kind`], never messages:
//!
//! ```
//! use multiprocessing_managers::{Error, ErrorKind};
//! use multiprocessing_managers::protocol::{Exception, Raised};
//! let e = Error::Raised(Raised::new(Exception::KeyError, "'missing'"));
//! assert_eq!(e.kind(), ErrorKind::NotFound);
//! assert_eq!(e.to_string(), "KeyError: 'missing'");
//! ```

pub use multiprocessing_core::ErrorKind;

use crate::protocol::{Exception, Raised};

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a manager operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The shared object's method raised one of Python's exceptions (`KeyError`,
    /// `IndexError`, ...; Python re-raises it as is).
    #[error("{0}")]
    Raised(Raised),
    /// The server failed the request itself: an unknown object, method or type (Python's
    /// `RemoteError`, from a `#TRACEBACK` reply).
    #[error("remote error in the manager:\n{0}")]
    #[doc(alias = "RemoteError")]
    Remote(String),
    /// The manager's server is gone: it was shut down or died, so the connection to it was
    /// refused or broke (Python gives a bare `EOFError`, `BrokenPipeError` or
    /// `ConnectionRefusedError` here).
    #[error("the manager at {address} is gone: {reason}")]
    ManagerGone {
        /// The server's address.
        address: String,
        /// What the connection said.
        reason: String,
    },
    /// The server refused our authkey, or we refused its (Python's `AuthenticationError`).
    #[error("authentication with the manager failed: {0}")]
    #[doc(alias = "AuthenticationError")]
    Authentication(String),
    /// A connection to the server failed otherwise (a timeout, a protocol violation).
    #[error(transparent)]
    Connection(multiprocessing_connection::Error),
    /// A value could not be encoded or decoded, or was not of the expected shape.
    #[error("manager codec error: {0}")]
    Codec(String),
    /// The server's reply broke the manager protocol: a well-formed message of a kind or
    /// shape the protocol does not have (a CPython server's `('#SURPRISE', ...)`, say).
    #[error("manager protocol violation: {0}")]
    Protocol(String),
    /// Starting or stopping the server's process failed.
    #[error(transparent)]
    Process(#[from] multiprocessing_process::Error),
    /// The server's process ended before it reported its address.
    #[error("the manager's server process failed to start: {0}")]
    StartFailed(String),
    /// `start` on a manager already started (Python's `ProcessError('Already started
    /// server')`).
    #[error("the manager's server is already started")]
    AlreadyStarted,
    /// The manager was shut down (Python's `ProcessError('Manager has shut down')`), or never
    /// started or connected.
    #[error("the manager is not running")]
    NotRunning,
    /// Only the process that started the server shuts it down (a forked child holds a copy of
    /// its parent's manager).
    #[error("only the process that started the manager's server can shut it down")]
    WrongProcess,
    /// An argument out of range or malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An operating-system error.
    #[error(transparent)]
    Io(std::io::Error),
}

impl Error {
    /// Why it failed, to match on.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Raised(r) => match r.exception {
                Exception::KeyError => ErrorKind::NotFound,
                Exception::IndexError => ErrorKind::OutOfRange,
                Exception::ValueError | Exception::TypeError => ErrorKind::InvalidArgument,
                Exception::AttributeError => ErrorKind::Unsupported,
                Exception::StopIteration => ErrorKind::Empty,
                Exception::TimeoutError => ErrorKind::Timeout,
                Exception::RuntimeError | Exception::Other => ErrorKind::Remote,
                Exception::Empty => ErrorKind::Empty,
                Exception::Full => ErrorKind::Full,
                Exception::BrokenBarrierError => ErrorKind::BrokenBarrier,
                Exception::NotOwner => ErrorKind::NotOwner,
                Exception::OverflowError | Exception::ZeroDivisionError => {
                    ErrorKind::InvalidArgument
                }
            },
            Error::Remote(_) => ErrorKind::Remote,
            Error::ManagerGone { .. } | Error::StartFailed(_) => ErrorKind::WorkerLost,
            Error::Authentication(_) => ErrorKind::Authentication,
            Error::Connection(e) => e.kind(),
            Error::Codec(_) => ErrorKind::Codec,
            Error::Protocol(_) => ErrorKind::Protocol,
            Error::Process(e) => e.kind(),
            Error::AlreadyStarted => ErrorKind::AlreadyStarted,
            Error::NotRunning => ErrorKind::NotStarted,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::WrongProcess => ErrorKind::WrongProcess,
            Error::Io(e) => ErrorKind::from_io(e),
        }
    }

    /// The exception a method raised, if that is what this is.
    #[must_use]
    pub fn exception(&self) -> Option<Exception> {
        match self {
            Error::Raised(r) => Some(r.exception),
            _ => None,
        }
    }
}

impl From<Raised> for Error {
    fn from(r: Raised) -> Self {
        Error::Raised(r)
    }
}
