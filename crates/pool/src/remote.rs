//! The pool's calls over workers this crate does not start: what another transport (the
//! `multiprocessing-mpi` crate's ranks) needs to offer [`Pool`](crate::Pool)'s API with the
//! same tasks, results and iterators.
//!
//! A pool is a [`Dispatch`]: something that queues [`Task`]s and knows how many workers it has.
//! The call functions here ([`apply_async`], [`map_async`], [`starmap_async`], [`imap`]) split a
//! call into tasks exactly as [`Pool`](crate::Pool) does (its own methods are these functions)
//! and give the caller an [`AsyncResult`] or an [`IMap`]; [`pool_api!`](crate::pool_api) writes
//! them as a pool's methods (`map`, `imap`, `apply_async`, ...). The pool's dispatcher hands each
//! task's [`code`](Task::code) and [`args`](Task::args) to a worker, whose [`TaskRunner`]
//! checks the code reference (fingerprint and authkey tag) and runs it; the worker's
//! [`TaskReply`] goes back to [`Task::complete`].
//!
//! A dispatcher over threads of this process, in a few lines:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use multiprocessing_pool::remote::{self, Dispatch, Task, TaskRunner};
//! use multiprocessing_pool::{Callbacks, Result};
//!
//! /// Runs each task at once, on the caller's thread.
//! struct Inline(Mutex<TaskRunner>);
//! impl Dispatch for Inline {
//!     fn enqueue(&self, tasks: &mut dyn Iterator<Item = Task>) -> Result<()> {
//!         for task in tasks {
//!             if task.start() {
//!                 let reply = self.0.lock().unwrap().run(task.code(), task.args().to_vec());
//!                 task.complete(reply, "inline");
//!             }
//!         }
//!         Ok(())
//!     }
//!     fn processes(&self) -> usize { 1 }
//! }
//!
//! fn square(x: u64) -> u64 { x * x }
//! let pool = Inline(Mutex::new(TaskRunner::new()));
//! let squares = remote::map_async(&pool, square, 0..4, None, Callbacks::new())?;
//! assert_eq!(squares.get()?, [0, 1, 4, 9]);
//! # Ok::<(), multiprocessing_pool::Error>(())
//! ```

use std::cell::RefCell;
use std::sync::Arc;

use multiprocessing_core::codec;
use multiprocessing_process::Target;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::imap::{IMap, ProcessChunks};
use crate::pool::{Callbacks, default_chunksize};
use crate::result::{AsyncResult, Cell, Collector, Job};
use crate::worker::{TaskFn, chunk_trampoline, map_trampoline, wire};
use multiprocessing_core::code::CodeWire;

pub use crate::pool::Task;
pub use crate::worker::{Reply as TaskReply, TaskRunner};

/// A call's chunks are queued as they are encoded, in batches of at least this many bytes
/// (the first chunk alone), so workers start on a long call before it is all encoded.
const STREAM_BATCH_BYTES: usize = 64 * 1024;
/// Room reserved for a chunk's encoding at most (about a byte more than each item's size).
const ENCODE_RESERVE_MAX: usize = 4 << 20;

/// Where a pool's calls queue their tasks: the pool's side of the call functions.
pub trait Dispatch: Sync {
    /// Queues `tasks` in order, or none: an error (the pool is closed, broken, stopped) is the
    /// call's error.
    fn enqueue(&self, tasks: &mut dyn Iterator<Item = Task>) -> Result<()>;

    /// The number of workers, for the default chunk size and `imap`'s lookahead.
    fn processes(&self) -> usize;
}

/// Queues `f(args)` as one task ([`Pool::apply_async_with`](crate::Pool::apply_async_with)).
pub fn apply_async<F, Args>(
    pool: &dyn Dispatch,
    f: F,
    args: Args,
    callbacks: Callbacks<F::Output>,
) -> Result<AsyncResult<F::Output>>
where
    F: Target<Args>,
    Args: Serialize + DeserializeOwned,
    F::Output: Serialize + DeserializeOwned + Send + 'static,
{
    submit(
        pool,
        f,
        chunk_trampoline::<F, Args>,
        vec![args],
        Some(1),
        first,
        callbacks,
    )
}

/// Queues `f` over every item, in chunks of `chunksize` (`None`: [`default_chunksize`])
/// ([`Pool::map_async_with`](crate::Pool::map_async_with)).
pub fn map_async<F, A, I>(
    pool: &dyn Dispatch,
    f: F,
    items: I,
    chunksize: Option<usize>,
    callbacks: Callbacks<Vec<F::Output>>,
) -> Result<AsyncResult<Vec<F::Output>>>
where
    F: Target<(A,)>,
    I: IntoIterator<Item = A>,
    A: Serialize + DeserializeOwned,
    F::Output: Serialize + DeserializeOwned + Send + 'static,
{
    let items: Vec<A> = items.into_iter().collect();
    submit(
        pool,
        f,
        map_trampoline::<F, A>,
        items,
        chunksize,
        Some,
        callbacks,
    )
}

/// Queues `f` called with each item's tuple as its arguments
/// ([`Pool::starmap_async_with`](crate::Pool::starmap_async_with)).
pub fn starmap_async<F, Args, I>(
    pool: &dyn Dispatch,
    f: F,
    items: I,
    chunksize: Option<usize>,
    callbacks: Callbacks<Vec<F::Output>>,
) -> Result<AsyncResult<Vec<F::Output>>>
where
    F: Target<Args>,
    I: IntoIterator<Item = Args>,
    Args: Serialize + DeserializeOwned,
    F::Output: Serialize + DeserializeOwned + Send + 'static,
{
    submit(
        pool,
        f,
        chunk_trampoline::<F, Args>,
        items.into_iter().collect(),
        chunksize,
        Some,
        callbacks,
    )
}

/// The lazy `imap` (`ordered`) or `imap_unordered` of `f` over `items`, in chunks of
/// `chunksize` ([`Pool::imap_chunksize`](crate::Pool::imap_chunksize)).
pub fn imap<'p, F, A, I>(
    pool: &'p dyn Dispatch,
    _f: F,
    items: I,
    chunksize: usize,
    ordered: bool,
) -> Result<IMap<'p, A, F::Output, I::IntoIter>>
where
    F: Target<(A,)>,
    I: IntoIterator<Item = A>,
    A: Serialize + DeserializeOwned,
    F::Output: Serialize + DeserializeOwned + Send + 'static,
{
    const {
        assert!(
            size_of::<F>() == 0,
            "a pool task must be a fn item or a closure that captures nothing; \
             pass state through the arguments"
        )
    };
    // A closed or broken pool is this call's error, as for `map`.
    pool.enqueue(&mut std::iter::empty())?;
    let backend = ProcessChunks {
        pool,
        code: Arc::new(wire(map_trampoline::<F, A> as TaskFn)),
        batch: RefCell::new(Vec::new()),
    };
    Ok(IMap::new(
        Box::new(backend),
        pool.processes(),
        items.into_iter(),
        chunksize,
        ordered,
    ))
}

/// An initializer as it travels to workers: the checked reference of the trampoline that runs
/// `f(args)` once in a worker (its return value dropped), and the encoded arguments. A worker
/// runs it with [`TaskRunner::run`], whose [`TaskReply::Ok`] means it returned.
#[derive(Clone)]
pub struct Initializer(multiprocessing_process::Initializer);

impl std::fmt::Debug for Initializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Initializer {
    /// Names `f(args)` (a `fn` item or a closure capturing nothing); an argument that cannot be
    /// encoded is [`Error::Codec`].
    pub fn new<F, Args>(f: F, args: Args) -> Result<Initializer>
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned,
    {
        multiprocessing_process::Initializer::new(f, args)
            .map(Initializer)
            .map_err(|e| Error::Codec(format!("could not encode the initializer's arguments: {e}")))
    }

    /// The checked reference of its trampoline.
    #[must_use]
    pub fn code(&self) -> &CodeWire {
        self.0.code()
    }

    /// Its encoded arguments.
    #[must_use]
    pub fn args(&self) -> &[u8] {
        self.0.args()
    }

    /// The reference and the arguments.
    #[must_use]
    pub fn into_parts(self) -> (CodeWire, Vec<u8>) {
        self.0.into_parts()
    }
}

/// The number of workers a pool is asked for (Python's `processes`): `None` is the CPUs this
/// process may use ([`process_cpu_count`](multiprocessing_process::process_cpu_count)), at
/// least one; 0 is [`Error::InvalidArgument`].
///
/// ```
/// use multiprocessing_pool::{ErrorKind, remote::worker_count};
/// assert_eq!(worker_count(Some(3))?, 3);
/// assert!(worker_count(None)? >= 1);
/// assert_eq!(worker_count(Some(0)).unwrap_err().kind(), ErrorKind::InvalidArgument);
/// # Ok::<(), multiprocessing_pool::Error>(())
/// ```
pub fn worker_count(requested: Option<usize>) -> Result<usize> {
    match requested {
        Some(0) => Err(Error::InvalidArgument(
            "the number of processes must be at least 1".into(),
        )),
        Some(n) => Ok(n),
        None => Ok(multiprocessing_process::process_cpu_count()?.max(1)),
    }
}

fn first<R>(values: Vec<R>) -> Option<R> {
    values.into_iter().next()
}

/// Encodes the call's chunks here and queues them as they are encoded: an unencodable
/// argument is this call's error, returned here (its callbacks do not run; chunks queued
/// before it are skipped, or their results dropped if a worker took them already).
fn submit<F, Args, Item, T>(
    pool: &dyn Dispatch,
    _f: F,
    trampoline: TaskFn,
    items: Vec<Item>,
    chunksize: Option<usize>,
    finish: fn(Vec<F::Output>) -> Option<T>,
    callbacks: Callbacks<T>,
) -> Result<AsyncResult<T>>
where
    F: Target<Args>,
    Item: Serialize,
    F::Output: Serialize + DeserializeOwned + Send + 'static,
    T: Send + 'static,
{
    const {
        assert!(
            size_of::<F>() == 0,
            "a pool task must be a fn item or a closure that captures nothing; \
             pass state through the arguments"
        )
    };
    let n = items.len();
    let chunksize = chunksize
        .unwrap_or_else(|| default_chunksize(n, pool.processes()))
        .max(1);
    let (callback, error_callback) = callbacks.into_parts();
    let cell = Arc::new(Cell::new(callback, error_callback));
    let job: Arc<dyn Job> = Arc::new(Collector::<F::Output, T>::new(
        Arc::clone(&cell),
        n,
        n.div_ceil(chunksize),
        finish,
    ));
    if n == 0 {
        // A closed or broken pool is this call's error, as for any call.
        pool.enqueue(&mut std::iter::empty())?;
        job.finish_empty();
        return Ok(AsyncResult { cell });
    }
    let code = Arc::new(wire(trampoline));
    // Queued as they are encoded, the first at once, so workers start while the rest
    // is encoded.
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    for (index, chunk) in items.chunks(chunksize).enumerate() {
        let mut args =
            Vec::with_capacity((chunk.len() * (size_of::<Item>() + 1)).min(ENCODE_RESERVE_MAX));
        if let Err(e) = codec::encode_into(chunk, &mut args) {
            // Chunks queued already are skipped (or their results dropped).
            cell.abandon();
            return Err(Error::Codec(format!(
                "could not encode the arguments of task {index}: {e}"
            )));
        }
        batch_bytes += args.len();
        let start = index * chunksize;
        batch.push(Task::new(
            Arc::clone(&job),
            index,
            start..start + chunk.len(),
            Arc::clone(&code),
            args,
        ));
        if index == 0 || batch_bytes >= STREAM_BATCH_BYTES {
            if let Err(e) = pool.enqueue(&mut batch.drain(..)) {
                cell.abandon();
                return Err(e);
            }
            batch_bytes = 0;
        }
    }
    if let Err(e) = pool.enqueue(&mut batch.into_iter()) {
        cell.abandon();
        return Err(e);
    }
    Ok(AsyncResult { cell })
}

/// What [`pool_api!`](crate::pool_api) names in the code it writes into another crate.
#[doc(hidden)]
pub mod __api {
    pub use multiprocessing_process::Target;
    pub use serde::Serialize;
    pub use serde::de::DeserializeOwned;
}

/// Writes the Pool API's calls (Python's `apply`, `apply_async`, `map`, `map_async`,
/// `starmap`, `starmap_async`, `imap`, `imap_unordered`, with their `_chunksize` and
/// `_with(callbacks)` forms) as inherent methods of a [`Dispatch`] type, over
/// the [`remote`] call functions: [`Pool`]'s own and every other transport's, so each pool is
/// only its dispatcher. The argument says where callbacks run, completing "callbacks run …".
///
/// ```
/// use std::sync::Mutex;
/// use multiprocessing_pool::remote::{Dispatch, Task, TaskRunner};
///
/// /// Runs each task at once, on the caller's thread.
/// struct Inline(Mutex<TaskRunner>);
/// impl Dispatch for Inline {
///     fn enqueue(&self, tasks: &mut dyn Iterator<Item = Task>) -> multiprocessing_pool::Result<()> {
///         for task in tasks {
///             if task.start() {
///                 let reply = self.0.lock().unwrap().run(task.code(), task.args().to_vec());
///                 task.complete(reply, "inline");
///             }
///         }
///         Ok(())
///     }
///     fn processes(&self) -> usize { 1 }
/// }
/// impl Inline {
///     multiprocessing_pool::pool_api!("on the caller's thread");
/// }
///
/// fn add(a: u64, b: u64) -> u64 { a + b }
/// fn square(x: u64) -> u64 { x * x }
/// let pool = Inline(Mutex::new(TaskRunner::new()));
/// assert_eq!(pool.map(square, 0..4)?, [0, 1, 4, 9]);
/// assert_eq!(pool.starmap(add, [(1, 2), (3, 4)])?, [3, 7]);
/// assert_eq!(pool.apply(add, (2, 3))?, 5);
/// let lazy: Vec<u64> = pool.imap(square, 0..3)?.collect::<Result<_, _>>()?;
/// assert_eq!(lazy, [0, 1, 4]);
/// # Ok::<(), multiprocessing_pool::Error>(())
/// ```
///
/// [`Pool`]: crate::Pool
/// [`remote`]: crate::remote
#[macro_export]
macro_rules! pool_api {
    ($callbacks_run:literal) => {
        $crate::pool_api! { @one
            /// Runs `f(args)` in a worker and waits for its result (Python's `apply`).
            apply(self, f, args) -> F::Output {
                self.apply_async(f, args)?.get()
            }
        }
        $crate::pool_api! { @one
            /// Queues `f(args)` and returns its result handle (Python's `apply_async`).
            apply_async(self, f, args) -> $crate::AsyncResult<F::Output> {
                $crate::remote::apply_async(self, f, args, $crate::Callbacks::new())
            }
        }
        $crate::pool_api! { @one
            #[doc = concat!(
                "[`apply_async`](Self::apply_async) with callbacks run ", $callbacks_run, "."
            )]
            #[doc(alias = "apply_async")]
            apply_async_with(self, f, args, callbacks: $crate::Callbacks<F::Output>)
                -> $crate::AsyncResult<F::Output>
            {
                $crate::remote::apply_async(self, f, args, callbacks)
            }
        }
        $crate::pool_api! { @items <A> (A,);
            /// Applies `f` to every item, in chunks of Python's default size, and returns the
            /// results in order (Python's `map`). The first failing task's error is the call's
            /// error.
            map(self, f, items) -> Vec<F::Output> {
                self.map_async(f, items, None)?.get()
            }
        }
        $crate::pool_api! { @items <A> (A,);
            /// [`map`](Self::map) in chunks of `chunksize` items (Python's `map(f, items,
            /// chunksize)`).
            #[doc(alias = "map")]
            map_chunksize(self, f, items, chunksize: usize) -> Vec<F::Output> {
                self.map_async(f, items, Some(chunksize))?.get()
            }
        }
        $crate::pool_api! { @items <A> (A,);
            /// Queues `f` over every item and returns the result handle of the whole list
            /// (Python's `map_async`); `chunksize` `None` picks Python's default (the pool
            /// crate's `default_chunksize`).
            map_async(self, f, items, chunksize: Option<usize>)
                -> $crate::AsyncResult<Vec<F::Output>>
            {
                $crate::remote::map_async(self, f, items, chunksize, $crate::Callbacks::new())
            }
        }
        $crate::pool_api! { @items <A> (A,);
            #[doc = concat!(
                "[`map_async`](Self::map_async) with callbacks run ", $callbacks_run, "."
            )]
            #[doc(alias = "map_async")]
            map_async_with(
                self,
                f,
                items,
                chunksize: Option<usize>,
                callbacks: $crate::Callbacks<Vec<F::Output>>
            ) -> $crate::AsyncResult<Vec<F::Output>> {
                $crate::remote::map_async(self, f, items, chunksize, callbacks)
            }
        }
        $crate::pool_api! { @items <Args> Args;
            /// Calls `f` with each item's tuple as its arguments, results in order (Python's
            /// `starmap`: `starmap(add, [(1, 2), (3, 4)])` gives `[3, 7]`).
            starmap(self, f, items) -> Vec<F::Output> {
                self.starmap_async(f, items, None)?.get()
            }
        }
        $crate::pool_api! { @items <Args> Args;
            /// [`starmap`](Self::starmap) in chunks of `chunksize` items.
            #[doc(alias = "starmap")]
            starmap_chunksize(self, f, items, chunksize: usize) -> Vec<F::Output> {
                self.starmap_async(f, items, Some(chunksize))?.get()
            }
        }
        $crate::pool_api! { @items <Args> Args;
            /// Queues a [`starmap`](Self::starmap) (Python's `starmap_async`).
            starmap_async(self, f, items, chunksize: Option<usize>)
                -> $crate::AsyncResult<Vec<F::Output>>
            {
                $crate::remote::starmap_async(self, f, items, chunksize, $crate::Callbacks::new())
            }
        }
        $crate::pool_api! { @items <Args> Args;
            #[doc = concat!(
                "[`starmap_async`](Self::starmap_async) with callbacks run ", $callbacks_run, "."
            )]
            #[doc(alias = "starmap_async")]
            starmap_async_with(
                self,
                f,
                items,
                chunksize: Option<usize>,
                callbacks: $crate::Callbacks<Vec<F::Output>>
            ) -> $crate::AsyncResult<Vec<F::Output>> {
                $crate::remote::starmap_async(self, f, items, chunksize, callbacks)
            }
        }
        $crate::pool_api! { @items <A> (A,);
            /// Applies `f` to every item lazily, one item per task, yielding results in input
            /// order (Python's `imap`); at most a few chunks are in flight (the iterator's
            /// `lookahead`), so an endless input works. Tasks start at once; each result is an
            /// item's `Result`.
            imap(self, f, items) -> $crate::IMap<'_, A, F::Output, I::IntoIter> {
                $crate::remote::imap(self, f, items, 1, true)
            }
        }
        $crate::pool_api! { @items <A> (A,);
            /// [`imap`](Self::imap) in chunks of `chunksize` items (Python's `imap(f, items,
            /// chunksize)`).
            #[doc(alias = "imap")]
            imap_chunksize(self, f, items, chunksize: usize)
                -> $crate::IMap<'_, A, F::Output, I::IntoIter>
            {
                $crate::remote::imap(self, f, items, chunksize, true)
            }
        }
        $crate::pool_api! { @items <A> (A,);
            /// As [`imap`](Self::imap), yielding results as they finish (Python's
            /// `imap_unordered`).
            imap_unordered(self, f, items) -> $crate::IMap<'_, A, F::Output, I::IntoIter> {
                $crate::remote::imap(self, f, items, 1, false)
            }
        }
        $crate::pool_api! { @items <A> (A,);
            /// [`imap_unordered`](Self::imap_unordered) in chunks of `chunksize` items.
            #[doc(alias = "imap_unordered")]
            imap_unordered_chunksize(self, f, items, chunksize: usize)
                -> $crate::IMap<'_, A, F::Output, I::IntoIter>
            {
                $crate::remote::imap(self, f, items, chunksize, false)
            }
        }
    };
    // A call of `f(args)`. `self` and the argument names come from the caller's tokens, so
    // the body (written there too) can use them.
    (@one $(#[$m:meta])* $name:ident(
        $s:ident, $f:ident, $args:ident $(, $p:ident: $t:ty)* $(,)?
    ) -> $ret:ty $body:block) => {
        $(#[$m])*
        pub fn $name<F, Args>(&$s, $f: F, $args: Args $(, $p: $t)*) -> $crate::Result<$ret>
        where
            F: $crate::remote::__api::Target<Args>,
            Args: $crate::remote::__api::Serialize + $crate::remote::__api::DeserializeOwned,
            F::Output: $crate::remote::__api::Serialize
                + $crate::remote::__api::DeserializeOwned
                + Send
                + 'static,
        $body
    };
    // A call of `f` over items of type `$item`, each called as `f($target)`.
    (@items <$item:ident> $target:ty; $(#[$m:meta])* $name:ident(
        $s:ident, $f:ident, $items:ident $(, $p:ident: $t:ty)* $(,)?
    ) -> $ret:ty $body:block) => {
        $(#[$m])*
        pub fn $name<F, $item, I>(&$s, $f: F, $items: I $(, $p: $t)*) -> $crate::Result<$ret>
        where
            F: $crate::remote::__api::Target<$target>,
            I: IntoIterator<Item = $item>,
            $item: $crate::remote::__api::Serialize + $crate::remote::__api::DeserializeOwned,
            F::Output: $crate::remote::__api::Serialize
                + $crate::remote::__api::DeserializeOwned
                + Send
                + 'static,
        $body
    };
}
