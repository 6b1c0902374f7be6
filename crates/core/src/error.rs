//! The error type of the core crate, and the [`ErrorKind`] every crate's error reports.
//!
//! Each crate of the workspace has its own error enum, whose variants carry what happened; all
//! of them answer [`kind`](Error::kind) with an [`ErrorKind`], the reason a caller matches on,
//! as `std::io::Error::kind` does. Match kinds, never messages:
//!
//! ```
//! use multiprocessing_core::{ErrorKind, codec};
//! let err = codec::decode::<u32>(&[]).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Codec);
//! ```

use std::fmt;
use std::io;

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation failed: the reason a caller matches on, shared by every crate's error.
///
/// Like [`std::io::ErrorKind`], one kind stands for one reason to react, not for one variant:
/// several variants (and several crates) report the same kind, and a variant's data says the
/// rest. New kinds may be added, so a `match` needs a wildcard arm. Each kind names the Python
/// exception `multiprocessing` raises for the same failure.
///
/// ```
/// use multiprocessing_core::{Error, ErrorKind};
/// let err = Error::Timeout;
/// assert_eq!(err.kind(), ErrorKind::Timeout);
/// assert_eq!(ErrorKind::Timeout.to_string(), "timed out");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system refused an operation (Python's `OSError`).
    #[doc(alias = "OSError")]
    Io,
    /// An operation did not finish in time (Python's `TimeoutError`).
    #[doc(alias = "TimeoutError")]
    Timeout,
    /// The object (a connection, listener or process) was closed before the operation
    /// (Python's `OSError('handle is closed')`, `ValueError('process object is closed')`).
    Closed,
    /// The peer closed the connection: before a message's first byte, or in the middle of one
    /// (Python's `EOFError`, and `OSError('got end of file during message')`).
    #[doc(alias = "EOFError")]
    Eof,
    /// The peer broke the wire protocol: a frame of impossible length, a malformed reply
    /// (Python's `OSError('bad message length')`).
    Protocol,
    /// A message did not fit the caller's buffer; the error carries it whole (Python's
    /// `multiprocessing.BufferTooShort`).
    BufferTooShort,
    /// The peer does not hold the same authentication key (Python's
    /// `multiprocessing.AuthenticationError`).
    #[doc(alias = "AuthenticationError")]
    Authentication,
    /// A value could not be encoded or decoded (Python's `pickle.PicklingError` /
    /// `UnpicklingError`).
    #[doc(alias = "PicklingError")]
    #[doc(alias = "UnpicklingError")]
    Codec,
    /// File descriptors could not travel with a message, or a message referred to descriptors
    /// it did not carry (Python's `reduction` failures, an `OSError`).
    Transfer,
    /// A received code reference (a function named across processes) was refused before
    /// anything was called: another executable, a bad tag, an address outside the code.
    /// Python's closest failure is unpickling a function that cannot be found.
    CodeRefused,
    /// An argument, or a value received from another process, is out of range or malformed
    /// (Python's `ValueError`).
    #[doc(alias = "ValueError")]
    InvalidArgument,
    /// An index past the end of an array (Python's `IndexError`).
    #[doc(alias = "IndexError")]
    OutOfRange,
    /// The operation is not possible here: a closure under a start method that re-executes,
    /// a daemonic process starting a child, the wrong end of a one-way pipe, no CPU count
    /// (Python's `NotImplementedError`, `AssertionError`, `OSError('connection is read-only')`).
    #[doc(alias = "NotImplementedError")]
    Unsupported,
    /// Something that can be set or started once already was: a process started twice, a
    /// default context or a resource tracker set again (Python's `AssertionError('cannot start
    /// a process twice')`, `RuntimeError('context has already been set')`).
    AlreadyStarted,
    /// The operation needs a started process (Python's `AssertionError('can only join a
    /// started process')`, `ValueError`).
    NotStarted,
    /// The process is still running, so it cannot be closed (Python's `ValueError('Cannot
    /// close a process while it is still running')`).
    StillRunning,
    /// Only the process that created the object may do this: joining or starting another
    /// process's child (Python's `AssertionError('can only join a child process')`).
    WrongProcess,
    /// A lock or semaphore was released more times than it was acquired (Python's
    /// `ValueError('semaphore or lock released too many times')`).
    NotLocked,
    /// The caller does not hold the lock the way it tries to release it: another thread's
    /// `RLock`, or a hold taken by a guard (Python's `AssertionError` / `RuntimeError`).
    NotOwner,
    /// The previous owner of a lock died holding it: the lock was recovered, the data it
    /// protects may be inconsistent. Python has no counterpart (it deadlocks).
    OwnerDied,
    /// A lock is held by another owner, so an attempt that may not wait (or may wait only so
    /// long) did not take it: std's `TryLockError::WouldBlock`. Python raises nothing here;
    /// its `acquire(block=False)` returns `False`.
    WouldBlock,
    /// A barrier is broken (Python's `threading.BrokenBarrierError`).
    #[doc(alias = "BrokenBarrierError")]
    BrokenBarrier,
    /// A queue had nothing to take in time (Python's `queue.Empty`).
    Empty,
    /// A bounded queue had no room in time (Python's `queue.Full`).
    Full,
    /// Nothing can ever arrive: the channel is empty and every other handle to it, in every
    /// process, is gone (crossbeam's `Disconnected`; Python blocks forever here).
    Disconnected,
    /// The call does not fit the object's state, e.g. `task_done()` called more times than items
    /// were put (Python's `ValueError`).
    InvalidState,
    /// A helper process doing our work (a pool worker, the forkserver, the resource tracker,
    /// a manager's server) died or never answered (Python's `BrokenProcessPool`, a pool's
    /// lost worker).
    WorkerLost,
    /// Code in another process raised the error (a manager's or pool's remote call; Python's
    /// `RemoteError`).
    #[doc(alias = "RemoteError")]
    Remote,
    /// The target of a child process panicked; the error carries the message and location
    /// (Python: the exception a pool's `get()` re-raises).
    Panicked,
    /// A child process ended (by an exit code or a signal) without handing back its value.
    Exited,
    /// The executable started as a child is not this program, so code addresses would mean
    /// nothing there (Python has no counterpart: it finds functions by name).
    FingerprintMismatch,
    /// The work was cancelled before it started (a pool's `AsyncResult::cancel`; Python's
    /// `concurrent.futures.CancelledError`).
    #[doc(alias = "CancelledError")]
    Cancelled,
    /// A key is not in a mapping: a manager's `dict` (Python's `KeyError`).
    #[doc(alias = "KeyError")]
    NotFound,
    /// The user pressed Ctrl-C (SIGINT) and the work was stopped: a pool that opted in to
    /// stopping on it (Python's `KeyboardInterrupt`).
    #[doc(alias = "KeyboardInterrupt")]
    Interrupted,
}

impl ErrorKind {
    /// A short description, as [`Display`](fmt::Display) prints it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "operating-system error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Closed => "closed",
            ErrorKind::Eof => "end of file",
            ErrorKind::Protocol => "protocol violation",
            ErrorKind::BufferTooShort => "buffer too short",
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::Codec => "encoding or decoding failed",
            ErrorKind::Transfer => "file descriptor transfer failed",
            ErrorKind::CodeRefused => "code reference refused",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::OutOfRange => "index out of range",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::AlreadyStarted => "already started",
            ErrorKind::NotStarted => "not started",
            ErrorKind::StillRunning => "still running",
            ErrorKind::WrongProcess => "wrong process",
            ErrorKind::NotLocked => "not locked",
            ErrorKind::NotOwner => "not the owner",
            ErrorKind::OwnerDied => "owner died",
            ErrorKind::WouldBlock => "would block",
            ErrorKind::BrokenBarrier => "broken barrier",
            ErrorKind::Empty => "empty",
            ErrorKind::Full => "full",
            ErrorKind::Disconnected => "disconnected",
            ErrorKind::InvalidState => "invalid state",
            ErrorKind::WorkerLost => "worker lost",
            ErrorKind::Remote => "remote error",
            ErrorKind::Panicked => "panicked",
            ErrorKind::Exited => "exited without a result",
            ErrorKind::FingerprintMismatch => "executable fingerprint mismatch",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::NotFound => "not found",
            ErrorKind::Interrupted => "interrupted",
        }
    }
}

impl ErrorKind {
    /// The kind of an operating-system error: [`ErrorKind::Timeout`] for a timed-out call
    /// (`ETIMEDOUT`), [`ErrorKind::Io`] for the rest.
    ///
    /// ```
    /// use multiprocessing_core::ErrorKind;
    /// let e = std::io::Error::from(std::io::ErrorKind::TimedOut);
    /// assert_eq!(ErrorKind::from_io(&e), ErrorKind::Timeout);
    /// ```
    #[must_use]
    pub fn from_io(e: &io::Error) -> ErrorKind {
        match e.kind() {
            io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors raised by the core crate.
///
/// [`Error::kind`] says why, for matching; Python's exceptions map to kinds (see
/// [`ErrorKind`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// This process already has a resource tracker; it is set once.
    #[error("this process already has a resource tracker")]
    TrackerAlreadySet,
    /// The resource tracker could not start: its constructor did not run in this program (so a
    /// re-executed copy would run `main`), or the re-executed program never answered.
    #[error("the resource tracker did not start: {0}")]
    TrackerNotStarted(TrackerFailure),
    /// An operating-system error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Why the resource tracker did not start ([`Error::TrackerNotStarted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackerFailure {
    /// The tracker's constructor did not run in this program, so a re-executed copy would run
    /// `main`.
    EntryMissing,
    /// The re-executed program did not answer in time.
    NoAnswer,
}

impl fmt::Display for TrackerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrackerFailure::EntryMissing => {
                "its constructor did not run in this program, so a re-executed copy would run main"
            }
            TrackerFailure::NoAnswer => "no answer from the re-executed program",
        })
    }
}

impl Error {
    /// Why the operation failed, for matching.
    ///
    /// ```
    /// use multiprocessing_core::{Error, ErrorKind};
    /// let err = Error::from(std::io::Error::from_raw_os_error(libc::EBADF));
    /// assert_eq!(err.kind(), ErrorKind::Io);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Authentication(_) => ErrorKind::Authentication,
            Error::Timeout => ErrorKind::Timeout,
            Error::Codec(_) => ErrorKind::Codec,
            Error::Transfer(_) => ErrorKind::Transfer,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::CodeRef(_) => ErrorKind::CodeRefused,
            Error::TrackerAlreadySet => ErrorKind::AlreadyStarted,
            Error::TrackerNotStarted(TrackerFailure::EntryMissing) => ErrorKind::Unsupported,
            Error::TrackerNotStarted(_) => ErrorKind::WorkerLost,
            Error::Io(e) => ErrorKind::from_io(e),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_kind() {
        let cases = [
            (Error::Authentication("x".into()), ErrorKind::Authentication),
            (Error::Timeout, ErrorKind::Timeout),
            (Error::Codec("x".into()), ErrorKind::Codec),
            (Error::Transfer("x".into()), ErrorKind::Transfer),
            (
                Error::InvalidArgument("x".into()),
                ErrorKind::InvalidArgument,
            ),
            (
                Error::CodeRef(crate::code::CodeRefError::BadTag),
                ErrorKind::CodeRefused,
            ),
            (Error::TrackerAlreadySet, ErrorKind::AlreadyStarted),
            (
                Error::TrackerNotStarted(TrackerFailure::NoAnswer),
                ErrorKind::WorkerLost,
            ),
            (
                Error::Io(io::Error::from(io::ErrorKind::TimedOut)),
                ErrorKind::Timeout,
            ),
            (Error::Io(io::Error::other("x")), ErrorKind::Io),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind, "{err}");
        }
    }

    #[test]
    fn kinds_display_hash_and_compare() {
        use std::collections::HashSet;
        let set: HashSet<ErrorKind> = [ErrorKind::Eof, ErrorKind::Eof, ErrorKind::Closed].into();
        assert_eq!(set.len(), 2);
        assert_eq!(ErrorKind::OwnerDied.to_string(), "owner died");
        assert_eq!(ErrorKind::WouldBlock.to_string(), "would block");
    }
}
