//! A pool of worker processes: Python's `multiprocessing.pool.Pool` and its `AsyncResult`,
//! with a pool that never hangs on a lost worker.
//!
//! A [`Pool`] starts worker processes (under the default start method, or a
//! [`Context`](multiprocessing_process::Context)'s) and runs tasks in them. A task is a target
//! as for a `Process`: a `fn` item or a closure that captures nothing, its arguments and result
//! serde values.
//!
//! ```
//! use multiprocessing_pool::Pool;
//!
//! fn f(x: u64) -> u64 { x * x }
//! fn add(a: u64, b: u64) -> u64 { a + b }
//!
//! let pool = Pool::new(2)?;
//! // Results in order, the items spread in chunks over the workers.
//! assert_eq!(pool.map(f, [1, 2, 3])?, [1, 4, 9]);
//! // One call, waited for; or started, and its result collected later.
//! assert_eq!(pool.apply(f, (10,))?, 100);
//! let later = pool.apply_async(add, (2, 3))?;
//! assert_eq!(pool.starmap(add, [(1, 2), (3, 4)])?, [3, 7]);
//! assert_eq!(later.get()?, 5);
//! // Lazily, over an endless input, a few chunks in flight at a time.
//! let firsts: Vec<u64> = pool.imap(f, 1..)?.take(3).collect::<Result<_, _>>()?;
//! assert_eq!(firsts, [1, 4, 9]);
//! pool.close();
//! pool.join()?;
//! # Ok::<(), multiprocessing_pool::Error>(())
//! ```
//!
//! # When a task fails
//!
//! A failure is the call's error, never the pool's: the pool goes on serving.
//!
//! - A task that panics gives [`Error::Panicked`], with the panic's message, its location and
//!   the worker's name (Python re-raises the task's exception from `get()`).
//! - A worker that dies running a task (SIGKILL, an abort, the OOM killer, `process::exit`)
//!   fails exactly that task with [`Error::WorkerLost`], naming the task, the worker and its
//!   exit code or signal; the worker is replaced. CPython's pool hangs here for ever
//!   (gh-66587).
//! - A result that cannot be encoded or decoded is that task's [`Error::Codec`].
//! - With a [`task_timeout`](PoolBuilder::task_timeout), a task running too long has its worker
//!   killed and replaced, and fails with [`Error::TaskTimeout`].
//!
//! ```
//! use multiprocessing_pool::{ErrorKind, Pool};
//!
//! fn check(x: i32) -> i32 {
//!     assert!(x != 3, "three is not allowed");
//!     x
//! }
//!
//! let pool = Pool::new(2)?;
//! let err = pool.map(check, 0..6).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Panicked);
//! assert!(err.to_string().contains("three is not allowed"));
//! assert_eq!(pool.map(check, [4, 5])?, [4, 5]); // the pool goes on
//! # Ok::<(), multiprocessing_pool::Error>(())
//! ```
//!
//! # Ctrl-C
//!
//! Workers ignore SIGINT. By default the pool installs nothing, so Ctrl-C ends the program as
//! usual and the workers exit with it. A pool built with
//! [`stop_on_interrupt(true)`](PoolBuilder::stop_on_interrupt) stops instead, as Python's
//! `KeyboardInterrupt` unwinding through `with Pool() as p:` does: its workers are terminated
//! and reaped, and its blocking calls return [`Error::Interrupted`].
//!
//! # From async code
//!
//! An [`AsyncResult`] is a future (`result.await`, or `(&mut result).await` to keep the result
//! through a timeout) and an [`IMap`] is a `futures_core::Stream` (or
//! [`next_async`](IMap::next_async)), with no feature and no runtime of the pool's own: the
//! result handler wakes the awaiting task, so thousands of awaits hold no thread. Both are
//! cancel-safe: a dropped future loses no result or item.
//!
//! # How it works
//!
//! Each worker has its own connection to the parent; no lock is shared by the workers, so a
//! worker dying anywhere cannot wedge the others. A thread of the parent (the result handler)
//! sends each worker its tasks (the one it runs and at least one more; a window of up to 64
//! when tasks take microseconds, sent in one message), and a worker acknowledges each task
//! before running it (with the previous task's reply, in one message), so when a worker's sentinel reports its exit the
//! parent knows which task it died running (that task fails) and which it never started (they
//! are queued again). The same thread
//! decodes results and runs callbacks, and counts each worker's tasks for `maxtasksperchild`.
//! See [`Pool`] for the calls, [`AsyncResult`] for results that arrive later and [`IMap`] for
//! the lazy `imap`.
//!
//! The calls themselves (splitting into chunks, the tasks, the results) are in [`remote`], so a
//! pool over another transport offers them with the same tasks: the `multiprocessing-mpi`
//! crate's `MpiPool` runs them on MPI ranks.

mod error;
mod imap;
mod interrupt;
mod pool;
pub mod remote;
mod result;
mod thread;
mod worker;

pub use error::{Error, ErrorKind, Result};
pub use imap::IMap;
pub use multiprocessing_core::outcome::{Location, PanicInfo};
pub use pool::{Callbacks, Pool, PoolBuilder, default_chunksize};
pub use result::{AsyncResult, ResultFuture};
pub use thread::{StarFn, ThreadPool};

/// Python's `multiprocessing.dummy`: the pool's API over threads.
pub mod dummy {
    pub use crate::thread::ThreadPool as Pool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Pool>();
        send_sync::<AsyncResult<Vec<String>>>();
        send_sync::<Error>();
    }
}
