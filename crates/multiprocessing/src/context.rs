//! Context objects: one start method, and everything Python's context objects make.
//!
//! In Python, `ctx = multiprocessing.get_context("spawn")` gives an object with the whole
//! module's API on it (`ctx.Process`, `ctx.Pipe`, `ctx.Lock`, `ctx.Value`, ...), so that code
//! written against `ctx` runs the same under any start method. [`Context`] is that object. It
//! holds a start method (the process crate's [`process::Context`](crate::process::Context)) and
//! makes processes of that method; the other objects it makes work under every start method,
//! since locks live in shared memory and values in the shared heap, whichever way a child starts.
//!
//! ```
//! use multiprocessing::{Connection, StartMethod, Value, get_context};
//!
//! fn add(mut conn: Connection, total: Value<u64>) {
//!     let n: u64 = conn.recv().unwrap();
//!     total.update(|t| *t += n).unwrap();
//! }
//!
//! let ctx = get_context(StartMethod::Spawn);
//! let (mut ours, theirs) = ctx.pipe(true)?;
//! let total = ctx.value(0u64)?;
//! let p = ctx.process(add, (theirs, total.clone())).start()?;
//! ours.send(&5u64)?;
//! p.join()?;
//! assert_eq!(total.get()?, 5);
//! assert_eq!(ctx.get_start_method(), StartMethod::Spawn);
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! # Growing with the workspace
//!
//! Every method forwards to the crate that owns the object, and each sub-crate's group of
//! methods sits behind that crate's feature, in its own `impl` block below (queues behind the
//! `queues` feature: [`Context::queue`], [`Context::queue_with_maxsize`],
//! [`Context::queue_builder`], [`Context::simple_queue`], [`Context::joinable_queue`]; the pool
//! behind `pool`: [`Context::pool`], [`Context::pool_builder`]). The pool and managers start
//! processes, so `pool(n)` and `manager()` hand [`Context::as_process`] (the start method) to
//! their crate, which takes it as a parameter
//! (the process crate's context knows only start methods, and arrows point down).

use std::fmt;
use std::path::Path;

#[cfg(feature = "queues")]
use multiprocessing_queues::{JoinableQueue, Queue, QueueBuilder, SimpleQueue};
#[cfg(feature = "sharedctypes")]
use multiprocessing_sharedctypes::{Array, Pod, RawArray, RawValue, Value};
#[cfg(feature = "synchronize")]
use multiprocessing_synchronize::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use multiprocessing_process::{
    CurrentProcess, JoinHandle, ParentProcess, Process, ProcessBuilder, StartMethod, Target,
};

use crate::Error;

/// Python's context object: a start method, and a factory for everything the library makes.
///
/// Cheap to clone; clones share the start method's settings (its executable and forkserver).
/// [`get_context`] gives the shared context of a start method, [`default_context`] the one the
/// module-level functions use, [`Context::new`] a context of one's own (its own forkserver).
#[doc(alias = "BaseContext")]
#[derive(Clone)]
pub struct Context {
    inner: multiprocessing_process::Context,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl From<multiprocessing_process::Context> for Context {
    fn from(inner: multiprocessing_process::Context) -> Self {
        Context { inner }
    }
}

impl From<Context> for multiprocessing_process::Context {
    fn from(ctx: Context) -> Self {
        ctx.inner
    }
}

impl AsRef<multiprocessing_process::Context> for Context {
    fn as_ref(&self) -> &multiprocessing_process::Context {
        &self.inner
    }
}

/// Python's `get_context(method)`: the context of `method`, the same one on every call (so
/// every user of the forkserver method shares one server).
#[must_use]
pub fn get_context(method: StartMethod) -> Context {
    multiprocessing_process::get_context(method).into()
}

/// Python's `get_context()` without a method: the default context, the one the module-level
/// functions use (asking for it fixes its start method, as in Python).
#[must_use]
pub fn default_context() -> Context {
    multiprocessing_process::default_context().into()
}

/// Processes: the start method's own part.
impl Context {
    /// A new context for `method`, with its own forkserver if it needs one (stopped when the
    /// last clone of this context is dropped).
    #[must_use]
    pub fn new(method: StartMethod) -> Context {
        multiprocessing_process::Context::new(method).into()
    }

    /// The process crate's context inside: what a crate that starts processes takes as a
    /// parameter (for example [`ProcessBuilder::context`]).
    #[must_use]
    pub fn as_process(&self) -> &multiprocessing_process::Context {
        &self.inner
    }

    /// This context's start method (Python's `ctx.get_start_method()`).
    #[must_use]
    pub fn get_start_method(&self) -> StartMethod {
        self.inner.get_start_method()
    }

    /// Python's `ctx.get_context(method)`: the shared context of another start method.
    #[must_use]
    pub fn get_context(&self, method: StartMethod) -> Context {
        get_context(method)
    }

    /// Sets the executable that `spawn` and the forkserver run for this context (by default
    /// this program). Python's `ctx.set_executable`.
    pub fn set_executable(&self, path: impl AsRef<Path>) {
        self.inner.set_executable(path);
    }

    /// Python's `ctx.Process(target=f, args=...)`: a builder for a process of this context;
    /// `args` is a tuple.
    #[doc(alias = "Process")]
    pub fn process<F, Args>(&self, target: F, args: Args) -> ProcessBuilder
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
    {
        self.inner.process(target, args)
    }

    /// Starts `target(args)` in a child of this context and returns a handle whose
    /// [`join`](JoinHandle::join) gives back the target's return value: [`std::thread::spawn`]
    /// for a process (beyond Python, whose `Process` returns nothing). See [`crate::start`].
    pub fn start<F, Args>(&self, target: F, args: Args) -> Result<JoinHandle<F::Output>, Error>
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
        F::Output: Serialize + DeserializeOwned,
    {
        Ok(self.inner.spawn(target, args)?)
    }

    /// Python's `ctx.current_process()`: this process.
    #[must_use]
    pub fn current_process(&self) -> CurrentProcess {
        multiprocessing_process::current_process()
    }

    /// Python's `ctx.parent_process()`: the process that started this one, `None` in the main
    /// process.
    #[must_use]
    pub fn parent_process(&self) -> Option<ParentProcess> {
        multiprocessing_process::parent_process()
    }

    /// Python's `ctx.active_children()`: this process's children still running (finished ones
    /// are reaped on the way).
    #[must_use]
    pub fn active_children(&self) -> Vec<Process> {
        multiprocessing_process::active_children()
    }

    /// Python's `ctx.cpu_count()`: the number of CPUs in the system.
    pub fn cpu_count(&self) -> Result<usize, Error> {
        Ok(multiprocessing_process::cpu_count()?)
    }

    /// Python's `ctx.freeze_support()`: nothing to do on Linux (see [`crate::freeze_support`]).
    pub fn freeze_support(&self) {
        multiprocessing_process::freeze_support();
    }
}

/// Connections.
#[cfg(feature = "connection")]
impl Context {
    /// Python's `ctx.Pipe(duplex)`: two connected [`Connection`](crate::Connection)s, both
    /// ways when `duplex`, else the first receives and the second sends.
    #[doc(alias = "Pipe")]
    pub fn pipe(
        &self,
        duplex: bool,
    ) -> Result<
        (
            multiprocessing_connection::Connection,
            multiprocessing_connection::Connection,
        ),
        Error,
    > {
        Ok(multiprocessing_connection::pipe(duplex)?)
    }
}

/// Synchronization primitives (Python's `ctx.Lock()`, `ctx.Semaphore()`, ...).
#[cfg(feature = "synchronize")]
impl Context {
    /// Python's `ctx.Lock()`: a non-recursive lock shared with children.
    #[doc(alias = "Lock")]
    pub fn lock(&self) -> Result<Lock, Error> {
        Ok(Lock::new()?)
    }

    /// Python's `ctx.RLock()`: a recursive lock shared with children.
    #[doc(alias = "RLock")]
    pub fn rlock(&self) -> Result<RLock, Error> {
        Ok(RLock::new()?)
    }

    /// Python's `ctx.Condition()`: a condition variable over a fresh `RLock` (for another
    /// lock, [`Condition::with_lock`]).
    #[doc(alias = "Condition")]
    pub fn condition(&self) -> Result<Condition<RLock>, Error> {
        Ok(Condition::new()?)
    }

    /// Python's `ctx.Semaphore(value)`: a counter that may rise above `value`.
    #[doc(alias = "Semaphore")]
    pub fn semaphore(&self, value: u32) -> Result<Semaphore, Error> {
        Ok(Semaphore::new(value)?)
    }

    /// Python's `ctx.BoundedSemaphore(value)`: a counter that never rises above `value`.
    #[doc(alias = "BoundedSemaphore")]
    pub fn bounded_semaphore(&self, value: u32) -> Result<BoundedSemaphore, Error> {
        Ok(BoundedSemaphore::new(value)?)
    }

    /// Python's `ctx.Event()`: a flag processes wait for.
    #[doc(alias = "Event")]
    pub fn event(&self) -> Result<Event, Error> {
        Ok(Event::new()?)
    }

    /// Python's `ctx.Barrier(parties)`: `parties` processes wait for each other.
    #[doc(alias = "Barrier")]
    pub fn barrier(&self, parties: u32) -> Result<Barrier, Error> {
        Ok(Barrier::new(parties)?)
    }
}

/// Shared values and arrays (Python's `ctx.Value()`, `ctx.RawArray()`, ...).
#[cfg(feature = "sharedctypes")]
impl Context {
    /// Python's `ctx.Value(typecode, value)`: a shared value guarded by its own `RLock` (for
    /// another lock, [`Value::with_lock`]).
    #[doc(alias = "Value")]
    pub fn value<T: Pod>(&self, value: T) -> Result<Value<T>, Error> {
        Ok(Value::new(value)?)
    }

    /// Python's `ctx.Array(typecode, sequence)`: a shared array holding a copy of `values`,
    /// guarded by its own `RLock`.
    #[doc(alias = "Array")]
    pub fn array<T: Pod>(&self, values: &[T]) -> Result<Array<T>, Error> {
        Ok(Array::new(values)?)
    }

    /// Python's `ctx.RawValue(typecode, value)`: a shared value without a lock.
    #[doc(alias = "RawValue")]
    pub fn raw_value<T: Pod>(&self, value: T) -> Result<RawValue<T>, Error> {
        Ok(RawValue::new(value)?)
    }

    /// Python's `ctx.RawArray(typecode, sequence)`: a shared array without a lock.
    #[doc(alias = "RawArray")]
    pub fn raw_array<T: Pod>(&self, values: &[T]) -> Result<RawArray<T>, Error> {
        Ok(RawArray::new(values)?)
    }
}

/// Queues (Python's `ctx.Queue()`, `ctx.SimpleQueue()`, `ctx.JoinableQueue()`).
///
/// A queue lives in the shared heap, so it passes to a child of any start method.
///
/// ```
/// use multiprocessing::{Queue, StartMethod, get_context};
///
/// fn foo(q: Queue<String>) {
///     q.put("hello".to_string()).unwrap();
/// }
///
/// let ctx = get_context(StartMethod::Spawn);
/// let q = ctx.queue()?;
/// let p = ctx.process(foo, (q.clone(),)).start()?;
/// assert_eq!(q.get().unwrap(), "hello");
/// p.join()?;
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[cfg(feature = "queues")]
impl Context {
    /// Python's `ctx.Queue()`: an unbounded queue between processes (`put` never blocks).
    #[doc(alias = "Queue")]
    pub fn queue<T>(&self) -> Result<Queue<T>, Error> {
        Ok(Queue::new()?)
    }

    /// Python's `ctx.Queue(maxsize)`: a queue holding at most `maxsize` items (`put` blocks
    /// while it is full; `0` means unbounded, as in Python).
    #[doc(alias = "Queue")]
    pub fn queue_with_maxsize<T>(&self, maxsize: usize) -> Result<Queue<T>, Error> {
        Ok(Queue::with_maxsize(maxsize)?)
    }

    /// A builder for a queue with more settings (its `maxsize`, its ring's capacity in bytes);
    /// [`QueueBuilder::build`] gives a [`Queue`], [`QueueBuilder::build_joinable`] a
    /// [`JoinableQueue`].
    pub fn queue_builder<T>(&self) -> QueueBuilder<T> {
        Queue::builder()
    }

    /// Python's `ctx.SimpleQueue()`: `put`, `get`, `empty` and `close` only.
    #[doc(alias = "SimpleQueue")]
    pub fn simple_queue<T>(&self) -> Result<SimpleQueue<T>, Error> {
        Ok(SimpleQueue::new()?)
    }

    /// Python's `ctx.JoinableQueue()`: a [`Queue`] whose consumers mark items done
    /// ([`JoinableQueue::task_done`]) so a producer can wait for all of them
    /// ([`JoinableQueue::join`]).
    #[doc(alias = "JoinableQueue")]
    pub fn joinable_queue<T>(&self) -> Result<JoinableQueue<T>, Error> {
        Ok(JoinableQueue::new()?)
    }
}

#[cfg(feature = "pool")]
impl Context {
    /// Python's `ctx.Pool(processes)`: a pool of `processes` workers started by this
    /// context's start method.
    ///
    /// ```
    /// use multiprocessing::{StartMethod, get_context};
    /// fn cube(x: i64) -> i64 { x * x * x }
    /// let pool = get_context(StartMethod::Spawn).pool(2)?;
    /// assert_eq!(pool.map(cube, [1, 2, 3])?, [1, 8, 27]);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    #[doc(alias = "Pool")]
    pub fn pool(&self, processes: usize) -> Result<multiprocessing_pool::Pool, Error> {
        Ok(self.pool_builder().processes(processes).build()?)
    }

    /// A builder for a pool of this context's start method, with Python's other `Pool`
    /// options (`initializer`, `maxtasksperchild`; the number of workers defaults to the CPUs
    /// this process may use).
    #[doc(alias = "Pool")]
    pub fn pool_builder(&self) -> multiprocessing_pool::PoolBuilder {
        multiprocessing_pool::Pool::builder().context(&self.inner)
    }
}

#[cfg(feature = "managers")]
impl Context {
    /// Python's `ctx.Manager()`: a started [`SyncManager`](multiprocessing_managers::SyncManager)
    /// whose server process this context's start method starts.
    ///
    /// ```
    /// use multiprocessing::{StartMethod, get_context};
    /// use multiprocessing::managers::Object;
    /// let m = get_context(StartMethod::Spawn).manager()?;
    /// let l = m.list(vec![Object::Int(1)])?;
    /// l.append(Object::Int(2))?;
    /// assert_eq!(l.to_string(), "[1, 2]");
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    #[doc(alias = "Manager")]
    pub fn manager(&self) -> Result<multiprocessing_managers::SyncManager, Error> {
        Ok(self.manager_builder().start()?)
    }

    /// A builder for a manager whose server this context's start method starts, with
    /// Python's other `BaseManager` options (address, authkey, initializer).
    #[doc(alias = "BaseManager")]
    pub fn manager_builder(&self) -> multiprocessing_managers::ManagerBuilder {
        multiprocessing_managers::BaseManager::builder().context(&self.inner)
    }
}
