//! [`Pool`] and its builder: the parent's side of the pool.
//!
//! The parent owns everything on the task path. Submitting a call encodes its chunks in the
//! caller and queues them; one result-handler thread per pool waits (with `poll`) on every
//! worker's connection, every worker's sentinel and a wake-up eventfd, and:
//!
//! - hands the next queued task to an idle worker over that worker's own connection, and to
//!   a busy worker more of a call already started (so a worker does not wait for the parent
//!   between tasks, and a call no worker has taken stays cancellable): one more when tasks
//!   take long, a window of up to 64 in one message when they take microseconds (about 2 ms
//!   of work at the recent average task time, as the workers time them), within what the
//!   connection buffers so a send never waits;
//! - records each acknowledgement, then each reply, and completes the call;
//! - on a sentinel (the worker exited): the task the worker had acknowledged fails with
//!   [`Error::WorkerLost`]; one it had not yet acknowledged is queued again; the worker is
//!   reaped and replaced;
//! - after `maxtasksperchild` tasks (its own count), tells an idle worker to stop and
//!   replaces it, so no queued task is lost.
//!
//! No lock is shared by the workers, so a worker dying anywhere cannot wedge the pool.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use multiprocessing_connection::{Connection, pipe};
use multiprocessing_core::backoff::Adaptive;
use multiprocessing_core::code::CodeWire;
use multiprocessing_core::outcome::PanicInfo;
use multiprocessing_core::time::{Deadline, Waitable};
use multiprocessing_process::{Context, Process, Sentinel, Target, signal_name};
use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::interrupt::Registration;
use crate::remote;
use crate::result::{Callback, ErrorCallback, Job};
use crate::worker::{BytesRef, FromWorker, Reply, ToWorker, send_reserved, worker_main};

/// How long `terminate` lets workers end after SIGTERM before it kills them.
const TERMINATE_GRACE: Duration = Duration::from_secs(2);
/// Tasks sent to a worker and not yet answered, at least: the one it runs and the next (so
/// it never waits for the parent between two tasks, and a long task holds back at most one
/// other).
const IN_FLIGHT: usize = 2;
/// Tasks sent to a worker and not yet answered, at most: for short tasks, a window of them
/// leaves in one write and their answers come back several to a read.
const IN_FLIGHT_SHORT: usize = 64;
/// The work a worker's window may hold at the recent average task time: between
/// [`IN_FLIGHT`] and [`IN_FLIGHT_SHORT`] tasks, so tasks that wait in one worker while another
/// runs out of work delay the call by at most about this much.
const WINDOW_WORK: Duration = Duration::from_millis(2);
/// A busy worker is sent more tasks only while the bytes it has not yet read stay within half
/// its connection's send buffer (so a send never waits for the worker to finish the task it
/// runs): the parent asks for this much buffer (the kernel may grant less, and doubles it).
const SEND_BUFFER: usize = 1 << 20;
/// The prefetch limit when the buffer's size cannot be read: well within any default.
const PREFETCH_MIN_BYTES: usize = 32 * 1024;
/// What a task adds to a message besides its arguments (its id, the length), counted against
/// the prefetch limit.
const TASK_OVERHEAD: usize = 24;
/// How long the result handler polls before it sleeps, while that catches what it waits for.
const HANDLER_SPIN: Duration = Duration::from_micros(30);
/// A task queued again after this many workers died before acknowledging it fails instead.
const MAX_UNSTARTED_LOSSES: u8 = 3;
/// After this many workers in a row (per worker slot) die before they are ready (their
/// initializer run), the pool is broken rather than restarting workers for ever.
const MAX_EARLY_DEATHS_PER_SLOT: usize = 3;

/// The chunk size Python's `map` picks: the items spread over four chunks per worker.
///
/// ```
/// use multiprocessing_pool::default_chunksize;
/// assert_eq!(default_chunksize(100, 4), 7); // divmod(100, 16) = (6, 4): one more
/// assert_eq!(default_chunksize(32, 4), 2);
/// assert_eq!(default_chunksize(0, 4), 0);
/// ```
#[must_use]
pub fn default_chunksize(items: usize, processes: usize) -> usize {
    let per = processes.max(1) * 4;
    items / per + usize::from(!items.is_multiple_of(per))
}

/// The callbacks of an `_async` call, run once in the parent (so they may capture anything
/// `Send`): `callback` with the value, or `error_callback` with the error, before the
/// [`AsyncResult`](crate::AsyncResult) becomes ready. They run on the pool's result-handler thread, so they
/// should be quick and must not wait for another result of the same pool.
///
/// ```
/// use std::sync::mpsc;
/// use multiprocessing_pool::{Callbacks, Pool};
/// fn double(x: u32) -> u32 { x * 2 }
/// let pool = Pool::new(1)?;
/// let (tx, rx) = mpsc::channel();
/// let r = pool.apply_async_with(double, (21,), Callbacks::new().callback(move |v: &u32| {
///     tx.send(*v).unwrap();
/// }))?;
/// r.wait();
/// assert_eq!(rx.recv().unwrap(), 42);
/// # Ok::<(), multiprocessing_pool::Error>(())
/// ```
#[must_use]
pub struct Callbacks<T> {
    callback: Option<Callback<T>>,
    error_callback: Option<ErrorCallback>,
}

impl<T> Default for Callbacks<T> {
    fn default() -> Self {
        Callbacks {
            callback: None,
            error_callback: None,
        }
    }
}

impl<T> fmt::Debug for Callbacks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("callback", &self.callback.is_some())
            .field("error_callback", &self.error_callback.is_some())
            .finish()
    }
}

impl<T> Callbacks<T> {
    /// No callbacks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` with the value when the call succeeds (Python's `callback=`).
    pub fn callback(mut self, f: impl FnOnce(&T) + Send + 'static) -> Self {
        self.callback = Some(Box::new(f));
        self
    }

    /// Runs `f` with the error when the call fails (Python's `error_callback=`).
    pub fn error_callback(mut self, f: impl FnOnce(&Error) + Send + 'static) -> Self {
        self.error_callback = Some(Box::new(f));
        self
    }

    pub(crate) fn into_parts(self) -> (Option<Callback<T>>, Option<ErrorCallback>) {
        (self.callback, self.error_callback)
    }
}

/// Options of a [`Pool`]: Python's `Pool(processes, initializer, initargs, maxtasksperchild,
/// context)`.
#[must_use]
#[derive(Default)]
pub struct PoolBuilder {
    processes: Option<usize>,
    init: Option<Result<(CodeWire, Vec<u8>)>>,
    maxtasksperchild: Option<usize>,
    task_timeout: Option<Duration>,
    context: Option<Context>,
    stop_on_interrupt: bool,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("initializer", &self.init.is_some())
            .field("maxtasksperchild", &self.maxtasksperchild)
            .field("task_timeout", &self.task_timeout)
            .field("context", &self.context)
            .field("stop_on_interrupt", &self.stop_on_interrupt)
            .finish()
    }
}

impl PoolBuilder {
    /// The number of workers; by default the CPUs this process may use.
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs `f(args)` once in each worker as it starts, as a target is run for a `Process`
    /// (a `fn` item or a closure capturing nothing). A panicking initializer breaks the pool:
    /// every task then fails with [`Error::InitializerPanicked`].
    pub fn initializer<F, Args>(mut self, f: F, args: Args) -> Self
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned,
    {
        self.init = Some(remote::Initializer::new(f, args).map(remote::Initializer::into_parts));
        self
    }

    /// Replaces a worker after it has run `n` tasks (chunks, for `map`), as counted by the
    /// parent; by default workers live as long as the pool. `0` means no limit.
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.maxtasksperchild = (n > 0).then_some(n);
        self
    }

    /// Gives each task at most `limit` from the moment a worker starts it: a task still
    /// running then has its worker killed and replaced, and fails with
    /// [`Error::TaskTimeout`]; the rest of the pool goes on. Python's pool has no such limit.
    pub fn task_timeout(mut self, limit: Duration) -> Self {
        self.task_timeout = Some(limit);
        self
    }

    /// Starts the workers with this context's start method (by default, the default
    /// context's).
    pub fn context(mut self, ctx: &Context) -> Self {
        self.context = Some(ctx.clone());
        self
    }

    /// Stops the pool on Ctrl-C (SIGINT), as Python's `KeyboardInterrupt` unwinding through
    /// `with Pool() as p:` does: every blocking call of the pool (`map`, `apply`,
    /// [`AsyncResult::get`](crate::AsyncResult::get) and `wait`, an [`IMap`](crate::IMap)'s `next`, `join`) then returns
    /// [`Error::Interrupted`] promptly, queued work is dropped, and the workers are terminated
    /// and reaped before the waiting calls return. Off by default: without it the pool installs
    /// nothing and Ctrl-C keeps its default (the program ends; the workers, which ignore
    /// SIGINT, exit as their parent goes).
    ///
    /// The first pool that opts in installs a SIGINT handler for the process, once, that only
    /// wakes such pools; Ctrl-C then stops them instead of ending the program, which learns of
    /// it from the pools' calls. A handler the program installed before is still called on
    /// every SIGINT; a SIGINT ignored before (a background job) stays ignored; and once no
    /// opted-in pool runs (each stops listening when it ends, interrupted or not), a SIGINT
    /// whose disposition was the default has its default effect again, so a second Ctrl-C ends
    /// a program that is not done yet.
    ///
    /// ```no_run
    /// use multiprocessing_pool::{ErrorKind, Pool};
    /// fn slow(x: u64) -> u64 { std::thread::sleep(std::time::Duration::from_secs(1)); x }
    /// let pool = Pool::builder().processes(2).stop_on_interrupt(true).build()?;
    /// match pool.map(slow, 0..100) {
    ///     Ok(results) => println!("{results:?}"),
    ///     Err(e) if e.kind() == ErrorKind::Interrupted => eprintln!("stopped by Ctrl-C"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), multiprocessing_pool::Error>(())
    /// ```
    #[doc(alias = "KeyboardInterrupt")]
    pub fn stop_on_interrupt(mut self, stop: bool) -> Self {
        self.stop_on_interrupt = stop;
        self
    }

    /// Starts the workers and the pool's result handler.
    pub fn build(self) -> Result<Pool> {
        let processes = remote::worker_count(self.processes)?;
        let init = self.init.transpose()?;
        // Installed before the first fork, so a forked worker's panics carry locations.
        multiprocessing_core::outcome::install_hook();
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(multiprocessing_core::Error::from)?;
        let interrupt = if self.stop_on_interrupt {
            Some(Registration::new(wake.as_fd())?)
        } else {
            None
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                phase: Phase::Running,
                broken: None,
                interrupted: false,
            }),
            wake,
        });
        let mut handler = Handler {
            interrupt,
            shared: Arc::clone(&shared),
            processes,
            init,
            maxtasksperchild: self.maxtasksperchild,
            task_timeout: self.task_timeout,
            context: self.context,
            workers: Vec::new(),
            next_id: 0,
            started: 0,
            early_deaths: 0,
            task_time: WINDOW_WORK,
            replies: Vec::new(),
            spin: Adaptive::new(0),
        };
        for _ in 0..processes {
            if let Err(e) = handler.start_worker() {
                handler.stop_all(true, || Error::Terminated);
                return Err(e);
            }
        }
        let thread = std::thread::Builder::new()
            .name("pool-result-handler".into())
            .spawn(move || {
                let shared = Arc::clone(&handler.shared);
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.run())).is_err()
                {
                    // A bug, never a task (those run in workers): fail what waits, so no
                    // `get` blocks for ever. The workers went with the handler (their
                    // connections closed, so they exit).
                    tracing::error!("the pool's result handler panicked");
                    let pending: Vec<Task> = {
                        let mut q = shared.lock();
                        q.broken = Some(Broken::Other("the pool's result handler failed".into()));
                        q.pending.drain(..).collect()
                    };
                    for task in pending {
                        task.job
                            .fail(Error::Broken("the pool's result handler failed".into()));
                    }
                }
            })
            .map_err(multiprocessing_core::Error::from)?;
        Ok(Pool {
            shared,
            handler_id: thread.thread().id(),
            handler: Mutex::new(Some(thread)),
            processes,
        })
    }
}

/// A pool of worker processes running tasks: Python's `multiprocessing.pool.Pool`.
///
/// Tasks are targets as for a `Process`: a `fn` item or a closure that captures nothing, with
/// serde arguments and result. Results come back in order; a task's panic, a worker's death
/// mid-task, or a result that cannot travel is that call's error, and the pool goes on.
///
/// ```
/// use multiprocessing_pool::Pool;
/// fn square(x: u64) -> u64 { x * x }
/// let pool = Pool::new(4)?;
/// assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// assert_eq!(pool.apply(square, (10,))?, 100);
/// pool.close();
/// pool.join()?;
/// # Ok::<(), multiprocessing_pool::Error>(())
/// ```
///
/// Dropping a pool terminates it, as leaving Python's `with Pool() as p:` block does: call
/// [`close`](Self::close) and [`join`](Self::join) first to let queued work finish.
pub struct Pool {
    shared: Arc<Shared>,
    handler: Mutex<Option<JoinHandle<()>>>,
    handler_id: std::thread::ThreadId,
    processes: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .field("state", &self.shared.lock().phase)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool of `processes` workers under the default start method (Python's
    /// `Pool(processes)`); see [`Pool::builder`] for the other options.
    pub fn new(processes: usize) -> Result<Pool> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// The number of workers the pool keeps running.
    #[must_use]
    pub fn processes(&self) -> usize {
        self.processes
    }

    // Python's `apply`, `map`, `starmap`, `imap` and the rest, over `remote`'s call functions.
    crate::pool_api!("in the parent");

    /// Queues `tasks`, or none when the pool is closed or broken.
    fn enqueue(&self, tasks: &mut dyn Iterator<Item = Task>) -> Result<()> {
        {
            let mut q = self.shared.lock();
            if let Some(broken) = &q.broken {
                return Err(broken.error());
            }
            if q.interrupted {
                return Err(Error::Interrupted);
            }
            if q.phase != Phase::Running {
                return Err(Error::NotRunning);
            }
            q.pending.extend(tasks);
        }
        self.shared.wake();
        Ok(())
    }

    /// Lets the queued work finish, then the workers exit; no more calls are accepted
    /// (Python's `close`).
    pub fn close(&self) {
        let mut q = self.shared.lock();
        if q.phase == Phase::Running {
            q.phase = Phase::Closed;
        }
        drop(q);
        self.shared.wake();
    }

    /// Stops the workers at once with SIGTERM (SIGKILL for those still running after two
    /// seconds), reaps them, and fails every unfinished call with [`Error::Terminated`];
    /// returns once all are reaped (Python's `terminate`), except when called from a callback,
    /// which runs on the thread that does this work: it then returns at once.
    pub fn terminate(&self) {
        self.stop(false);
    }

    /// As [`terminate`](Self::terminate), with SIGKILL at once.
    pub fn kill(&self) {
        self.stop(true);
    }

    fn stop(&self, kill: bool) {
        {
            let mut q = self.shared.lock();
            if !matches!(q.phase, Phase::Terminate { .. }) {
                q.phase = Phase::Terminate { kill };
            }
        }
        self.shared.wake();
        self.join_handler();
    }

    /// Waits for the workers to exit after [`close`](Self::close) (every queued call has
    /// finished) or [`terminate`](Self::terminate); [`Error::StillRunning`] before either
    /// (Python's `join` raises `ValueError`). With
    /// [`stop_on_interrupt`](PoolBuilder::stop_on_interrupt), a Ctrl-C before or while it
    /// waits stops the pool and makes it [`Error::Interrupted`].
    pub fn join(&self) -> Result<()> {
        {
            let q = self.shared.lock();
            if q.interrupted {
                drop(q);
                self.join_handler();
                return Err(Error::Interrupted);
            }
            if q.phase == Phase::Running {
                return Err(Error::StillRunning);
            }
        }
        self.join_handler();
        if self.shared.lock().interrupted {
            return Err(Error::Interrupted);
        }
        Ok(())
    }

    fn join_handler(&self) {
        // Called from a callback, on the handler itself: it finishes once the callback returns.
        if std::thread::current().id() == self.handler_id {
            return;
        }
        let thread = self
            .handler
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the pool's result handler panicked");
        }
    }
}

impl remote::Dispatch for Pool {
    fn enqueue(&self, tasks: &mut dyn Iterator<Item = Task>) -> Result<()> {
        Pool::enqueue(self, tasks)
    }

    fn processes(&self) -> usize {
        self.processes
    }
}

/// Python's `__exit__`: terminates the workers (after `close` + `join`, nothing is left).
impl Drop for Pool {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// What the callers and the result handler share.
struct Shared {
    queue: Mutex<Queue>,
    /// An eventfd the result handler polls: written after queueing work or changing phase.
    wake: OwnedFd,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        // Fails only when the counter is saturated, which already wakes the handler.
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

struct Queue {
    pending: VecDeque<Task>,
    phase: Phase,
    broken: Option<Broken>,
    /// Ctrl-C stopped the pool (`stop_on_interrupt`).
    interrupted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Closed,
    Terminate { kill: bool },
}

/// Why the pool serves nothing more.
#[derive(Clone)]
enum Broken {
    Initializer { worker: String, panic: PanicInfo },
    Other(String),
}

impl Broken {
    fn error(&self) -> Error {
        match self {
            Broken::Initializer { worker, panic } => Error::InitializerPanicked {
                worker: worker.clone(),
                panic: panic.clone(),
            },
            Broken::Other(reason) => Error::Broken(reason.clone()),
        }
    }
}

/// One chunk of a call, queued or running: the code reference of its target's trampoline, its
/// encoded arguments, and the call it belongs to. A pool's dispatcher hands it to a worker
/// ([`code`](Self::code) and [`args`](Self::args) are what travels), then settles it with the
/// worker's [`TaskReply`](crate::remote::TaskReply) or an error.
pub struct Task {
    job: Arc<dyn Job>,
    index: usize,
    items: Range<usize>,
    code: Arc<CodeWire>,
    args: Vec<u8>,
    unstarted_losses: u8,
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("index", &self.index)
            .field("items", &self.items)
            .field("args", &self.args.len())
            .finish_non_exhaustive()
    }
}

impl Task {
    /// Chunk `index` of a call, covering the call's `items`, with its encoded arguments.
    pub(crate) fn new(
        job: Arc<dyn Job>,
        index: usize,
        items: Range<usize>,
        code: Arc<CodeWire>,
        args: Vec<u8>,
    ) -> Task {
        Task {
            job,
            index,
            items,
            code,
            args,
            unstarted_losses: 0,
        }
    }

    /// The checked reference of the trampoline that runs this task in a worker.
    #[must_use]
    pub fn code(&self) -> &CodeWire {
        &self.code
    }

    /// Whether `other` runs the same trampoline (one reference may cover several tasks on the
    /// wire).
    #[must_use]
    pub fn same_code(&self, other: &Task) -> bool {
        Arc::ptr_eq(&self.code, &other.code) || self.code == other.code
    }

    /// The task's encoded arguments, as the trampoline decodes them.
    #[must_use]
    pub fn args(&self) -> &[u8] {
        &self.args
    }

    /// The task's index within its call (the chunk's index for `map`).
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The positions of the task's items in its call's input.
    #[must_use]
    pub fn items(&self) -> Range<usize> {
        self.items.clone()
    }

    /// Marks the call started, just before the task goes to a worker; `false` when the call is
    /// already decided (failed, cancelled): the task is then dropped, not sent.
    #[must_use]
    pub fn start(&self) -> bool {
        self.job.start()
    }

    /// Settles the task with the reply of `worker` (named in a panic's error): decodes its
    /// results into the call, or fails the call. Runs the call's callbacks if this decides it.
    pub fn complete(self, reply: crate::remote::TaskReply, worker: &str) {
        use crate::remote::TaskReply;
        match reply {
            TaskReply::Ok(bytes) => self.job.deliver(self.index, self.items, &bytes, worker),
            TaskReply::Codec(m) => self
                .job
                .fail(Error::Codec(format!("task {}: {m}", self.index))),
            TaskReply::Refused(m) => self.job.fail(Error::Refused(m)),
            TaskReply::Panicked(panic) => self.job.fail(Error::Panicked {
                worker: worker.to_string(),
                panic,
            }),
        }
    }

    /// Fails the task's call with `error`.
    pub fn fail(self, error: Error) {
        self.job.fail(error);
    }
}

struct Running {
    id: u64,
    task: Task,
    acked: bool,
    /// When the worker acknowledged it (for the task timeout).
    since: Option<Instant>,
}

struct Worker {
    process: Process,
    conn: Connection,
    sentinel: Sentinel,
    name: String,
    pid: u32,
    /// The tasks sent to it, oldest first: the one it runs, and at most one more of a call
    /// already started (so that it never waits for the parent between two tasks).
    running: VecDeque<Running>,
    tasks_done: usize,
    /// Asked to stop (or should stop): takes no more tasks.
    stopping: bool,
    /// Its connection reached end of file or failed: only its sentinel is polled.
    hung_up: bool,
    /// It was killed because task `id` ran out of time.
    timed_out: Option<u64>,
    /// Its initializer ran: it reads its connection, so a send to it cannot wait long.
    ready: bool,
    /// Bytes of tasks sent to it and not yet acknowledged (so perhaps not yet read).
    unread_bytes: usize,
    /// At most this many unread bytes while it is busy: half its connection's send buffer.
    prefetch_limit: usize,
}

/// The result handler: owns the workers.
struct Handler {
    /// Listening for Ctrl-C (`stop_on_interrupt`); first, so it is dropped (unregistered)
    /// before the eventfd it names can close.
    interrupt: Option<Registration>,
    shared: Arc<Shared>,
    processes: usize,
    init: Option<(CodeWire, Vec<u8>)>,
    maxtasksperchild: Option<usize>,
    task_timeout: Option<Duration>,
    context: Option<Context>,
    workers: Vec<Worker>,
    next_id: u64,
    started: usize,
    early_deaths: usize,
    /// The recent average time a task runs, as the workers time it.
    task_time: Duration,
    /// Replies read and not yet handed to their calls: each task, its reply, its worker.
    replies: Vec<(Task, Reply, String)>,
    /// Whether waiting spins before it sleeps.
    spin: Adaptive,
}

impl Handler {
    fn start_worker(&mut self) -> Result<()> {
        let (ours, theirs) = pipe(true)?;
        // Room for a busy worker's next chunks, so a long map's workers never wait for the
        // parent between chunks. Best effort: the limit follows what the kernel granted.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&ours, SEND_BUFFER);
        let prefetch_limit = rustix::net::sockopt::socket_send_buffer_size(&ours)
            .map_or(PREFETCH_MIN_BYTES, |granted| granted / 2);
        self.started += 1;
        let name = format!("PoolWorker-{}", self.started);
        let mut builder = Process::builder(worker_main, (theirs, self.init.clone()))
            .name(name.clone())
            .daemon(true);
        if let Some(ctx) = &self.context {
            builder = builder.context(ctx);
        }
        let process = builder.start()?;
        let sentinel = process.sentinel()?;
        let pid = process.pid().unwrap_or_default();
        self.workers.push(Worker {
            process,
            conn: ours,
            sentinel,
            name,
            pid,
            running: VecDeque::new(),
            tasks_done: 0,
            stopping: false,
            hung_up: false,
            timed_out: None,
            ready: false,
            unread_bytes: 0,
            prefetch_limit,
        });
        Ok(())
    }

    fn run(mut self) {
        loop {
            let (phase, broken, failed) = {
                let mut q = self.shared.lock();
                let failed: Vec<Task> = match q.broken {
                    Some(_) => q.pending.drain(..).collect(),
                    None => Vec::new(),
                };
                (q.phase, q.broken.clone(), failed)
            };
            // Outside the lock: a failing call runs its error callback, which may call the pool.
            if let Some(b) = &broken {
                for task in failed {
                    task.job.fail(b.error());
                }
            }
            let broken = broken.is_some();
            if self.interrupt.as_ref().is_some_and(Registration::fired) {
                {
                    let mut q = self.shared.lock();
                    q.interrupted = true;
                    q.phase = Phase::Terminate { kill: false };
                }
                self.stop_all(false, || Error::Interrupted);
                return;
            }
            if let Phase::Terminate { kill } = phase {
                self.stop_all(kill, || Error::Terminated);
                return;
            }
            let pending = !self.shared.lock().pending.is_empty();
            if !broken && (phase == Phase::Running || pending) {
                while self.workers.len() < self.processes {
                    if let Err(e) = self.start_worker() {
                        self.set_broken(Broken::Other(format!("could not start a worker: {e}")));
                        break;
                    }
                }
            }
            self.dispatch();
            // Decoded only now, so the workers already have their next tasks.
            self.deliver_replies();
            if phase == Phase::Closed && self.shared.lock().pending.is_empty() {
                for w in &mut self.workers {
                    if w.running.is_empty() && !w.stopping {
                        w.stopping = true;
                        if w.conn.send(&ToWorker::<BytesRef<'_>>::Stop).is_err() {
                            w.hung_up = true;
                        }
                    }
                }
                if self.workers.is_empty() {
                    return;
                }
            }
            self.wait();
        }
    }

    fn set_broken(&self, why: Broken) {
        let mut q = self.shared.lock();
        if q.broken.is_none() {
            q.broken = Some(why);
        }
    }

    /// Whether worker `w` may be sent one more task.
    fn can_take(&self, w: &Worker) -> bool {
        w.ready
            && !w.stopping
            && !w.hung_up
            && w.timed_out.is_none()
            && w.running.len() < self.window()
            && self
                .maxtasksperchild
                .is_none_or(|max| w.tasks_done + w.running.len() < max)
    }

    /// How many tasks a worker may hold: about [`WINDOW_WORK`] of them at the recent average
    /// task time, at least two.
    fn window(&self) -> usize {
        let micros = self.task_time.as_micros().max(1);
        usize::try_from(WINDOW_WORK.as_micros() / micros)
            .unwrap_or(usize::MAX)
            .clamp(IN_FLIGHT, IN_FLIGHT_SHORT)
    }

    /// Hands queued tasks to workers: any task to an idle worker; to a busy one, only tasks of
    /// a call already started and only while they fit in the connection's buffer, so a call
    /// nobody started stays cancellable and a send never waits for a task. What one worker
    /// gets in one round leaves in one message per target; a worker is topped up once half
    /// its window is free, so those messages carry several tasks.
    fn dispatch(&mut self) {
        let mut assigned = vec![0usize; self.workers.len()];
        let half = self.window() / 2;
        let open: Vec<bool> = self
            .workers
            .iter()
            .map(|w| w.running.len() <= half)
            .collect();
        // The least busy worker first: an idle one takes any task.
        while let Some(w) = (0..self.workers.len())
            .filter(|&i| open[i] && self.can_take(&self.workers[i]))
            .min_by_key(|&i| self.workers[i].running.len())
        {
            let worker = &self.workers[w];
            let busy = !worker.running.is_empty();
            let unread = worker.unread_bytes;
            let limit = worker.prefetch_limit;
            let task = {
                let mut q = self.shared.lock();
                loop {
                    let Some(front) = q.pending.front() else {
                        break None;
                    };
                    if busy
                        && (!front.job.claimed()
                            || unread + front.args.len() + TASK_OVERHEAD > limit)
                    {
                        break None;
                    }
                    let Some(t) = q.pending.pop_front() else {
                        break None;
                    };
                    if t.job.start() {
                        break Some(t);
                    }
                    // The call is decided already (failed, cancelled): skip its task.
                }
            };
            let Some(task) = task else { break };
            self.next_id += 1;
            let worker = &mut self.workers[w];
            worker.unread_bytes += task.args.len() + TASK_OVERHEAD;
            worker.running.push_back(Running {
                id: self.next_id,
                task,
                acked: false,
                since: None,
            });
            assigned[w] += 1;
        }
        for (w, n) in assigned.into_iter().enumerate() {
            if n > 0 {
                self.send_tasks(w, n);
            }
        }
    }

    /// Sends worker `w` its last `n` tasks, one message per run of tasks of one target.
    fn send_tasks(&mut self, w: usize, n: usize) {
        let worker = &mut self.workers[w];
        let first = worker.running.len() - n;
        let mut at = first;
        while at < worker.running.len() {
            let code = Arc::clone(&worker.running[at].task.code);
            let tasks: Vec<(u64, BytesRef<'_>)> = worker
                .running
                .range(at..)
                .take_while(|r| Arc::ptr_eq(&r.task.code, &code))
                .map(|r| (r.id, serde_bytes::Bytes::new(&r.task.args)))
                .collect();
            at += tasks.len();
            let reserve = 256 + tasks.iter().map(|t| t.1.len() + 16).sum::<usize>();
            let msg = ToWorker::Tasks {
                code: (*code).clone(),
                tasks,
            };
            if send_reserved(&mut worker.conn, &msg, reserve).is_err() {
                // It died: its sentinel will say so, and the tasks go back to the queue.
                worker.hung_up = true;
                return;
            }
        }
    }

    /// Waits for a message, an exit or a wake-up, and handles what happened.
    fn wait(&mut self) {
        let buffered = self.workers.iter().any(|w| !w.hung_up && w.conn.is_ready());
        let deadline = if buffered {
            Deadline::after(Duration::ZERO)
        } else {
            self.next_timeout()
        };
        // Per worker: its connection is readable, it exited.
        let mut events = vec![(false, false); self.workers.len()];
        {
            let mut fds = Vec::with_capacity(1 + 2 * self.workers.len());
            fds.push(PollFd::new(&self.shared.wake, PollFlags::IN));
            for w in &self.workers {
                fds.push(PollFd::new(&w.sentinel, PollFlags::IN));
                if !w.hung_up {
                    fds.push(PollFd::new(&w.conn, PollFlags::IN));
                }
            }
            // A reply or a call due within microseconds is caught without sleeping, while
            // that keeps paying (a prompt worker on another CPU, a caller waiting on a result).
            let caught = !buffered
                && self.spin.spin_until(HANDLER_SPIN, deadline, || {
                    let now = Deadline::after(Duration::ZERO);
                    matches!(multiprocessing_core::time::poll(&mut fds, now), Ok(n) if n > 0)
                });
            if !caught && let Err(e) = multiprocessing_core::time::poll(&mut fds, deadline) {
                tracing::error!("the pool's result handler could not poll: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            let mut it = fds[1..].iter();
            for (w, ev) in self.workers.iter().zip(&mut events) {
                ev.1 = it.next().is_some_and(|p| !p.revents().is_empty());
                if !w.hung_up {
                    ev.0 = it.next().is_some_and(|p| !p.revents().is_empty());
                }
            }
        }
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&self.shared.wake, &mut counter);
        for (i, &(readable, exited)) in events.iter().enumerate() {
            if readable || exited || self.workers[i].conn.is_ready() {
                self.drain(i);
            }
        }
        self.enforce_timeouts();
        for i in (0..events.len()).rev() {
            if events[i].1 {
                self.reap(i);
            }
        }
    }

    /// When the oldest running task runs out of time (never without a task timeout).
    fn next_timeout(&self) -> Deadline {
        let Some(limit) = self.task_timeout else {
            return Deadline::never();
        };
        self.workers
            .iter()
            .filter(|w| w.timed_out.is_none())
            .filter_map(|w| w.running.front().and_then(|r| r.since))
            .min()
            .map_or(Deadline::never(), |since| {
                since
                    .checked_add(limit)
                    .map_or(Deadline::never(), Deadline::at)
            })
    }

    /// Kills each worker whose task ran out of time; its sentinel then fails the task.
    fn enforce_timeouts(&mut self) {
        let Some(limit) = self.task_timeout else {
            return;
        };
        for w in &mut self.workers {
            if w.timed_out.is_some() {
                continue;
            }
            if let Some(r) = w.running.front()
                && r.since.is_some_and(|since| since.elapsed() >= limit)
            {
                w.timed_out = Some(r.id);
                if let Err(e) = w.process.kill() {
                    tracing::warn!("could not kill pool worker {}: {e}", w.name);
                }
            }
        }
    }

    /// Handles every message worker `i` has sent so far.
    fn drain(&mut self, i: usize) {
        loop {
            let w = &mut self.workers[i];
            // Even after a failed send: what the worker sent before it died is still to read.
            match w.conn.poll(Some(Duration::ZERO)) {
                Ok(true) => {}
                Ok(false) => return,
                Err(_) => {
                    w.hung_up = true;
                    return;
                }
            }
            match w.conn.recv::<FromWorker>() {
                Ok(msg) => self.on_message(i, msg),
                Err(_) => {
                    w.hung_up = true;
                    return;
                }
            }
        }
    }

    fn on_message(&mut self, i: usize, msg: FromWorker) {
        let w = &mut self.workers[i];
        match msg {
            FromWorker::DoneAck {
                id,
                reply,
                micros,
                next,
                pid,
            } => {
                self.on_message(i, FromWorker::Done { id, reply, micros });
                self.on_message(i, FromWorker::Ack { id: next, pid });
            }
            FromWorker::Ready => {
                w.ready = true;
                self.early_deaths = 0;
            }
            FromWorker::Ack { id, pid } => {
                if let Some(r) = w.running.iter_mut().find(|r| r.id == id) {
                    r.acked = true;
                    r.since = Some(Instant::now());
                    w.unread_bytes = w
                        .unread_bytes
                        .saturating_sub(r.task.args.len() + TASK_OVERHEAD);
                    w.pid = pid;
                }
            }
            FromWorker::Done { id, reply, micros } => {
                let Some(r) = w
                    .running
                    .iter()
                    .position(|r| r.id == id)
                    .and_then(|at| w.running.remove(at))
                else {
                    return;
                };
                w.tasks_done += 1;
                if !r.acked {
                    // Answered unacknowledged (never, from a sound worker): it was read.
                    w.unread_bytes = w
                        .unread_bytes
                        .saturating_sub(r.task.args.len() + TASK_OVERHEAD);
                }
                // A running average over about eight tasks, as the worker timed them.
                self.task_time = (self.task_time * 7 + Duration::from_micros(micros)) / 8;
                let task = r.task;
                let worker = w.name.clone();
                if self.maxtasksperchild.is_some_and(|max| w.tasks_done >= max) {
                    w.stopping = true;
                    if w.conn.send(&ToWorker::<BytesRef<'_>>::Stop).is_err() {
                        w.hung_up = true;
                    }
                }
                self.replies.push((task, reply, worker));
            }
            FromWorker::InitFailed(panic) => {
                w.stopping = true;
                let worker = w.name.clone();
                self.set_broken(Broken::Initializer { worker, panic });
            }
        }
    }

    /// Hands the replies read so far to their calls (decoding results, running callbacks).
    fn deliver_replies(&mut self) {
        for (task, reply, worker) in std::mem::take(&mut self.replies) {
            task.complete(reply, &worker);
        }
    }

    /// Worker `i` exited: settles its task, reaps it.
    fn reap(&mut self, i: usize) {
        let w = self.workers.swap_remove(i);
        let code = match w.process.join_timeout(TERMINATE_GRACE) {
            Ok(code) => code,
            Err(e) => {
                tracing::warn!("could not reap pool worker {}: {e}", w.name);
                let _ = w.process.kill();
                w.process.join().unwrap_or(-libc::SIGKILL)
            }
        };
        let exit = if code < 0 {
            format!("killed by {}", signal_name(-code))
        } else {
            format!("exit code {code}")
        };
        if !w.ready && !w.stopping {
            self.early_deaths += 1;
            if self.early_deaths >= MAX_EARLY_DEATHS_PER_SLOT * self.processes {
                self.set_broken(Broken::Other(format!(
                    "{} workers in a row died before they were ready (the last: {exit})",
                    self.early_deaths
                )));
            }
        }
        // A task waiting behind one that was running is not to blame for the death.
        let blameless = w.running.iter().any(|r| r.acked);
        let mut requeue = Vec::new();
        for Running {
            id, task, acked, ..
        } in w.running
        {
            let mut task = task;
            if let Some(limit) = self.task_timeout
                && w.timed_out == Some(id)
            {
                task.job.fail(Error::TaskTimeout {
                    worker: w.name.clone(),
                    pid: w.pid,
                    task: task.index,
                    items: task.items,
                    timeout: limit,
                });
                continue;
            }
            if !acked && !blameless {
                task.unstarted_losses += 1;
            }
            if acked || task.unstarted_losses >= MAX_UNSTARTED_LOSSES {
                let exit = if acked {
                    exit.clone()
                } else {
                    format!("{exit}; the {MAX_UNSTARTED_LOSSES}th worker lost before starting it")
                };
                task.job.fail(Error::WorkerLost {
                    worker: w.name.clone(),
                    pid: w.pid,
                    task: task.index,
                    items: task.items,
                    exit,
                });
            } else {
                requeue.push(task);
            }
        }
        // Never started: back to the front of the queue, in their order.
        let mut q = self.shared.lock();
        for task in requeue.into_iter().rev() {
            q.pending.push_front(task);
        }
    }

    /// Stops every worker (SIGTERM, or SIGKILL when `kill`), reaps them all within a bounded
    /// time, and then fails what is unfinished with `error()` ([`Error::Terminated`], or
    /// [`Error::Interrupted`] after Ctrl-C).
    fn stop_all(&mut self, kill: bool, error: fn() -> Error) {
        self.deliver_replies();
        for w in &self.workers {
            let _ = if kill {
                w.process.kill()
            } else {
                w.process.terminate()
            };
        }
        let deadline = Deadline::after(TERMINATE_GRACE);
        let mut unfinished = Vec::new();
        for w in self.workers.drain(..) {
            let left = deadline.remaining().unwrap_or(Duration::ZERO);
            if w.process.join_timeout(left).is_err() {
                let _ = w.process.kill();
                let _ = w.process.join();
            }
            unfinished.extend(w.running.into_iter().map(|r| r.task));
        }
        unfinished.extend(self.shared.lock().pending.drain(..));
        for task in unfinished {
            task.job.fail(error());
        }
    }
}
