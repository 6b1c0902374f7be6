//! The pool's error: what went wrong with the pool itself, or with one task.
//!
//! A task's own failure (it panicked, a worker died running it, its result could not travel)
//! is that task's error only: the pool goes on serving. Match [`Error::kind`], never messages:
//!
//! ```
//! use multiprocessing_pool::{Error, ErrorKind};
//! assert_eq!(Error::Timeout.kind(), ErrorKind::Timeout);
//! assert_eq!(Error::NotReady.kind(), ErrorKind::InvalidState);
//! ```

use multiprocessing_core::outcome::PanicInfo;
use multiprocessing_core::time::TimedOut;

pub use multiprocessing_core::ErrorKind;

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a pool operation or a task failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The task panicked in a worker; the pool goes on (Python re-raises the task's exception
    /// from `get()`).
    #[error("task panicked in {worker}: {panic}")]
    Panicked {
        /// The worker's name (`PoolWorker-3`).
        worker: String,
        /// The panic's message and location.
        panic: PanicInfo,
    },
    /// The worker running the task died before finishing it (killed, aborted, `process::exit`);
    /// the worker was replaced. CPython's pool hangs here (gh-66587).
    #[error(
        "worker {worker} (pid {pid}) died running task {task} (items {first}..{end}): {exit}",
        first = items.start, end = items.end
    )]
    WorkerLost {
        /// The worker's name.
        worker: String,
        /// Its process id.
        pid: u32,
        /// The task's index within its call (the chunk's index for `map`).
        task: usize,
        /// The positions of the task's items in the call's input.
        items: std::ops::Range<usize>,
        /// How it ended: `exit code 3`, `killed by SIGKILL`.
        exit: String,
    },
    /// The task ran longer than the pool's
    /// [`task_timeout`](crate::PoolBuilder::task_timeout): its worker was killed and replaced.
    #[error(
        "task {task} (items {first}..{end}) ran longer than {timeout:?} in worker {worker} (pid {pid}), which was killed",
        first = items.start, end = items.end
    )]
    TaskTimeout {
        /// The worker's name.
        worker: String,
        /// Its process id.
        pid: u32,
        /// The task's index within its call.
        task: usize,
        /// The positions of the task's items in the call's input.
        items: std::ops::Range<usize>,
        /// The pool's task timeout.
        timeout: std::time::Duration,
    },
    /// Workers could not be kept running: a worker could not be started, or workers kept dying
    /// before they were ready to take tasks. The pool serves nothing more (Python's
    /// `BrokenProcessPool`).
    #[error("the pool is broken: {0}")]
    Broken(String),
    /// The initializer panicked in a worker, so the pool is broken (as `concurrent.futures`
    /// decides; CPython's `Pool` restarts such workers for ever).
    #[error("the pool's initializer panicked in {worker}: {panic}")]
    InitializerPanicked {
        /// The worker's name.
        worker: String,
        /// The panic's message and location.
        panic: PanicInfo,
    },
    /// Arguments or a result could not be encoded or decoded; for a result, only that task
    /// failed.
    #[error("pool codec error: {0}")]
    Codec(String),
    /// A worker refused the task's code reference (another executable, or a tag that does not
    /// verify under the family's authkey), or a pool refused a worker running another
    /// executable; nothing was called.
    #[error("code refused: {0}")]
    Refused(String),
    /// The pool was closed or terminated before this call (Python's `ValueError('Pool not
    /// running')`).
    #[error("the pool is not running")]
    NotRunning,
    /// The pool was terminated or killed before the task finished.
    #[error("the pool was terminated before the task finished")]
    Terminated,
    /// Ctrl-C (SIGINT) stopped the pool, which was built with
    /// [`stop_on_interrupt`](crate::PoolBuilder::stop_on_interrupt): its workers were
    /// terminated and reaped, and every unfinished call fails with this (Python's
    /// `KeyboardInterrupt` unwinding through `with Pool() as p:`).
    #[doc(alias = "KeyboardInterrupt")]
    #[error("the pool was stopped by Ctrl-C (SIGINT)")]
    Interrupted,
    /// `get_timeout`, or an [`IMap`](crate::IMap)'s `next_timeout`, ran out (Python's
    /// `multiprocessing.TimeoutError`); `wait_timeout`'s [`TimedOut`] converts to it.
    #[error("the result is not ready in time")]
    Timeout,
    /// `successful()` before the result is ready (Python's `ValueError`).
    #[error("the result is not ready")]
    NotReady,
    /// The value was already taken by an earlier `get_timeout` or `.await` of a borrowed
    /// [`AsyncResult`](crate::AsyncResult).
    #[error("the result was already taken")]
    Taken,
    /// The task was cancelled before any worker started it.
    #[error("the task was cancelled")]
    Cancelled,
    /// An argument out of range: a pool of zero processes (Python's `ValueError`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// `join` before `close` or `terminate` (Python's `ValueError`).
    #[error("join() needs close() or terminate() first")]
    StillRunning,
    /// Starting or managing a worker process failed.
    #[error(transparent)]
    Process(#[from] multiprocessing_process::Error),
    /// A connection to a worker failed.
    #[error(transparent)]
    Connection(#[from] multiprocessing_connection::Error),
    /// An error from the core crate (encoding, the operating system).
    #[error(transparent)]
    Core(#[from] multiprocessing_core::Error),
}

impl Error {
    /// The same error again, for each item of a failed chunk (an error of another crate, which
    /// no task produces, becomes [`Error::Broken`] with its message).
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Panicked { worker, panic } => Error::Panicked {
                worker: worker.clone(),
                panic: panic.clone(),
            },
            Error::WorkerLost {
                worker,
                pid,
                task,
                items,
                exit,
            } => Error::WorkerLost {
                worker: worker.clone(),
                pid: *pid,
                task: *task,
                items: items.clone(),
                exit: exit.clone(),
            },
            Error::TaskTimeout {
                worker,
                pid,
                task,
                items,
                timeout,
            } => Error::TaskTimeout {
                worker: worker.clone(),
                pid: *pid,
                task: *task,
                items: items.clone(),
                timeout: *timeout,
            },
            Error::Broken(m) => Error::Broken(m.clone()),
            Error::InitializerPanicked { worker, panic } => Error::InitializerPanicked {
                worker: worker.clone(),
                panic: panic.clone(),
            },
            Error::Codec(m) => Error::Codec(m.clone()),
            Error::Refused(m) => Error::Refused(m.clone()),
            Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
            Error::NotRunning => Error::NotRunning,
            Error::Terminated => Error::Terminated,
            Error::Interrupted => Error::Interrupted,
            Error::Timeout => Error::Timeout,
            Error::NotReady => Error::NotReady,
            Error::Taken => Error::Taken,
            Error::Cancelled => Error::Cancelled,
            Error::StillRunning => Error::StillRunning,
            Error::Process(_) | Error::Connection(_) | Error::Core(_) => {
                Error::Broken(self.to_string())
            }
        }
    }

    /// The kind of failure.
    ///
    /// ```
    /// use multiprocessing_pool::{Error, ErrorKind};
    /// assert_eq!(Error::Cancelled.kind(), ErrorKind::Cancelled);
    /// assert_eq!(Error::NotRunning.kind(), ErrorKind::InvalidState);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Panicked { .. } | Error::InitializerPanicked { .. } => ErrorKind::Panicked,
            Error::WorkerLost { .. } | Error::Broken(_) => ErrorKind::WorkerLost,
            Error::Codec(_) => ErrorKind::Codec,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Refused(_) => ErrorKind::CodeRefused,
            Error::NotRunning | Error::NotReady | Error::Taken | Error::StillRunning => {
                ErrorKind::InvalidState
            }
            Error::Terminated => ErrorKind::Closed,
            Error::Timeout | Error::TaskTimeout { .. } => ErrorKind::Timeout,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::Process(e) => e.kind(),
            Error::Connection(e) => e.kind(),
            Error::Core(e) => e.kind(),
        }
    }
}

/// A [`TimedOut`] wait (`AsyncResult::wait_timeout`) is the pool's [`Error::Timeout`], so `?`
/// works in a function returning the pool's `Result`.
impl From<TimedOut> for Error {
    fn from(_: TimedOut) -> Error {
        Error::Timeout
    }
}
