//! The process crate's error type, with Python's `ProcessError` and the outcomes of a child.
//!
//! ```
//! use multiprocessing_process::Error;
//! let err = Error::Signaled(15);
//! assert_eq!(err.to_string(), "child process was killed by signal SIGTERM");
//! ```

use std::io;
use std::path::PathBuf;

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised while starting, waiting for or talking to a child process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Python's `ProcessError`: starting a process twice, a daemonic process starting a child,
    /// a closure started with `spawn` or `forkserver`, using a closed process, ...
    #[error("process error: {0}")]
    #[doc(alias = "ProcessError")]
    Process(String),
    /// The child's target panicked; carries the panic message.
    #[error("child process panicked: {0}")]
    Panicked(String),
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

impl From<multiprocessing_core::Error> for Error {
    fn from(e: multiprocessing_core::Error) -> Self {
        use multiprocessing_core::Error as Core;
        match e {
            Core::Process(m) => Error::Process(m),
            Core::Timeout => Error::Timeout,
            Core::Codec(m) | Core::Transfer(m) => Error::Codec(m),
            Core::Io(e) => Error::Io(e),
            other => Error::Core(other),
        }
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::Io(e.into())
    }
}
