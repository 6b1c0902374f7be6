//! The process crate's error type: what went wrong starting, waiting for or talking to a child.
//!
//! Each variant says what happened and carries its data; [`Error::kind`] gives the reason to
//! match on, shared with every crate of the workspace:
//!
//! ```
//! use multiprocessing_core::ErrorKind;
//! use multiprocessing_process::{Error, Process};
//! fn idle() {}
//! let p = Process::new(idle, ());
//! p.start().unwrap();
//! let err = p.start().unwrap_err();
//! assert!(matches!(err, Error::AlreadyStarted));
//! assert_eq!(err.kind(), ErrorKind::AlreadyStarted);
//! p.join().unwrap();
//! assert_eq!(Error::Signaled(15).to_string(), "child process was killed by signal SIGTERM");
//! ```

use std::ffi::NulError;
use std::io;
use std::path::PathBuf;

use multiprocessing_core::ErrorKind;
use multiprocessing_core::outcome::PanicInfo;

use crate::StartMethod;

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised while starting, waiting for or talking to a child process.
///
/// Python raises `ProcessError`, `AssertionError` or `ValueError` for the misuses below; match
/// [`Error::kind`] (or the variant), never the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[doc(alias = "ProcessError")]
pub enum Error {
    /// The process object was closed ([`Process::close`](crate::Process::close)); Python's
    /// `ValueError('process object is closed')`.
    #[error("process object is closed")]
    Closed,
    /// The operation needs a started process (Python's `AssertionError('can only join a
    /// started process')`).
    #[error("can only use a started process")]
    NotStarted,
    /// The process was already started: a second `start`, or `set_daemon` after it
    /// (Python's `AssertionError('cannot start a process twice')`).
    #[error("the process has already been started")]
    AlreadyStarted,
    /// `close` while the child still runs (Python's `ValueError`): join or terminate it first.
    #[error("cannot close a process while it is still running; call join() or terminate() first")]
    StillRunning,
    /// Only the process that created a process object may start or join it (Python's
    /// `AssertionError('can only join a child process')`).
    #[error("the process object was created by process {creator}, not this one ({current})")]
    NotCreator {
        /// The pid of the process that created the object.
        creator: u32,
        /// This process's pid.
        current: u32,
    },
    /// A daemonic process may not start children (Python's `AssertionError`).
    #[error("daemonic processes are not allowed to have children")]
    DaemonicParent,
    /// A closure (a target with state) was started with a method that re-executes the
    /// program: only fork can run it.
    #[error(
        "a closure can only be started with the fork start method, not {0}; use a fn item \
         (or a closure capturing nothing) with arguments instead"
    )]
    ClosureNeedsFork(StartMethod),
    /// The start method re-executes the main executable, but the target is in a shared
    /// library, so its address would mean nothing there.
    #[error(
        "the {0} start method re-executes the main executable, but this code is in a shared \
         library; use the fork start method"
    )]
    CodeInSharedLibrary(StartMethod),
    /// The child entry point did not run before `main` in this program, so a re-executed child
    /// would run `main` again: call `freeze_support()` first in `main`, or use fork.
    #[error(
        "the multiprocessing child entry did not run in this program, so a spawned child would \
         run main again; call multiprocessing::freeze_support() as the first line of main, or \
         use the fork start method"
    )]
    #[doc(alias = "freeze_support")]
    EntryMissing,
    /// No start method has this name (Python's `ValueError('cannot find context for ...')`).
    #[error("cannot find context for {0:?}")]
    UnknownStartMethod(String),
    /// The default start method was already fixed (Python's `RuntimeError('context has
    /// already been set')`); pass `force` to change it.
    #[error("context has already been set")]
    ContextAlreadySet,
    /// The number of CPUs could not be determined (Python's `NotImplementedError`).
    #[error("cannot determine number of cpus")]
    CpuCountUnknown,
    /// The operating system reported a pid that cannot name a process.
    #[error("the operating system reported an invalid pid {0}")]
    InvalidPid(i64),
    /// A path or environment entry for a re-executed child contains a NUL byte.
    #[error("a path or environment entry contains a NUL byte")]
    NulByte(#[source] NulError),
    /// The forkserver exited before it could start the child (it is replaced at the next
    /// start).
    #[error("the forkserver exited while starting the child")]
    ForkServerLost,
    /// The forkserver could not fork; carries the server's reason.
    #[error("the forkserver could not fork: {0}")]
    ForkServerFailed(String),
    /// The child was started but could not be watched (no descriptor left for its pidfd), so
    /// it was killed.
    #[error(
        "the child {pid} could not be watched (no descriptor left for its pidfd), so it was \
         killed"
    )]
    ChildUnwatched {
        /// The killed child's pid.
        pid: u32,
    },
    /// The child has ended, but something else in this program reaped it first (SIGCHLD set
    /// to be ignored, or a wait for any child), so its exit code is lost. Python's fork
    /// `Popen` reports such a child running for ever; here `is_alive` is false, `exitcode`
    /// stays `None`, signals are sent to nothing, and `join` returns this error.
    #[error(
        "the child {pid} has ended, but something else in this program reaped it (SIGCHLD \
         ignored, or a wait for any child), so its exit code is unknown"
    )]
    #[doc(alias = "ChildProcessError")]
    ReapedElsewhere {
        /// The child's pid (which may since name another process).
        pid: u32,
    },
    /// The child's target panicked; carries the panic's message and location.
    #[error("child process {0}")]
    Panicked(PanicInfo),
    /// The child exited with this code without handing back a value.
    #[error("child process exited with code {0} before returning a value")]
    Exited(i32),
    /// The child was killed by this signal number before handing back a value.
    #[error("child process was killed by signal {}", crate::signals::signal_name(*.0))]
    Signaled(i32),
    /// The executable used to start a child is not the program that asked for it, so the
    /// target's address would mean nothing there.
    #[error(
        "the executable {} is not this program ({detail}); \
         set_executable must name a binary built from the same code as the parent",
        executable.display()
    )]
    FingerprintMismatch {
        /// The executable that was started.
        executable: PathBuf,
        /// What went wrong: the fingerprints seen, or how the child behaved.
        detail: String,
    },
    /// An operation did not finish in time, Python's `TimeoutError`.
    #[error("operation timed out")]
    Timeout,
    /// A value could not be encoded or decoded.
    #[error("codec error: {0}")]
    Codec(String),
    /// An operating-system error.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Another error of the core crate.
    #[error(transparent)]
    Core(multiprocessing_core::Error),
}

impl Error {
    /// Why the operation failed, for matching.
    ///
    /// ```
    /// use multiprocessing_core::ErrorKind;
    /// use multiprocessing_process::StartMethod;
    /// let err = "vfork".parse::<StartMethod>().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Closed => ErrorKind::Closed,
            Error::NotStarted => ErrorKind::NotStarted,
            Error::AlreadyStarted | Error::ContextAlreadySet => ErrorKind::AlreadyStarted,
            Error::StillRunning => ErrorKind::StillRunning,
            Error::NotCreator { .. } => ErrorKind::WrongProcess,
            Error::DaemonicParent
            | Error::ClosureNeedsFork(_)
            | Error::CodeInSharedLibrary(_)
            | Error::EntryMissing
            | Error::CpuCountUnknown => ErrorKind::Unsupported,
            Error::UnknownStartMethod(_) | Error::NulByte(_) => ErrorKind::InvalidArgument,
            Error::InvalidPid(_) | Error::ForkServerFailed(_) | Error::ChildUnwatched { .. } => {
                ErrorKind::Io
            }
            Error::ForkServerLost => ErrorKind::WorkerLost,
            Error::Panicked(_) => ErrorKind::Panicked,
            Error::Exited(_) | Error::Signaled(_) | Error::ReapedElsewhere { .. } => {
                ErrorKind::Exited
            }
            Error::FingerprintMismatch { .. } => ErrorKind::FingerprintMismatch,
            Error::Timeout => ErrorKind::Timeout,
            Error::Codec(_) => ErrorKind::Codec,
            Error::Io(e) => ErrorKind::from_io(e),
            Error::Core(e) => e.kind(),
        }
    }
}

impl From<multiprocessing_core::Error> for Error {
    fn from(e: multiprocessing_core::Error) -> Self {
        use multiprocessing_core::Error as Core;
        match e {
            Core::Timeout => Error::Timeout,
            Core::Codec(m) => Error::Codec(m),
            Core::Io(e) => Error::Io(e),
            other => Error::Core(other),
        }
    }
}

impl From<NulError> for Error {
    fn from(e: NulError) -> Self {
        Error::NulByte(e)
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
    fn kinds_of_the_typed_variants() {
        let cases = [
            (Error::Closed, ErrorKind::Closed),
            (Error::NotStarted, ErrorKind::NotStarted),
            (Error::AlreadyStarted, ErrorKind::AlreadyStarted),
            (Error::StillRunning, ErrorKind::StillRunning),
            (
                Error::NotCreator {
                    creator: 1,
                    current: 2,
                },
                ErrorKind::WrongProcess,
            ),
            (
                Error::ClosureNeedsFork(StartMethod::Spawn),
                ErrorKind::Unsupported,
            ),
            (Error::ForkServerLost, ErrorKind::WorkerLost),
            (Error::Signaled(9), ErrorKind::Exited),
            (Error::ReapedElsewhere { pid: 7 }, ErrorKind::Exited),
            (
                Error::from(multiprocessing_core::Error::Transfer("x".into())),
                ErrorKind::Transfer,
            ),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind, "{err}");
        }
    }
}
