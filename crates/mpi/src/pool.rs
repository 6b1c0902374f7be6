//! [`MpiPool`] and its builder: rank 0's side of the pool.
//!
//! One thread of rank 0 (the MPI thread) owns MPI for the life of the pool: it initializes
//! MPI, starts or finds the workers, checks each worker's executable, and then, in a loop,
//! hands queued tasks to workers (each holds at most [`WINDOW`] tasks: the one it runs and
//! the next, so it never waits for rank 0 between two tasks, and a worker gets more work
//! only as it returns work), receives replies and completes the calls. Callers only queue
//! tasks under a mutex, as for the local pool.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mpi::Threading;
use mpi::point_to_point::Destination;
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, MergeOrder, Rank, SimpleCommunicator};
use multiprocessing_core::code::{display_fingerprint, fingerprint};
use multiprocessing_core::identity;
use multiprocessing_pool::remote::{self, Dispatch, Initializer, Task};
use multiprocessing_pool::{Error, Result};
use multiprocessing_process::Target;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::{
    Bytes, FromWorker, POLL_SLEEP_MAX, Poller, ToWorker, encode, receive, try_receive,
};
use crate::worker::{MASTER, serve};

/// Tasks sent to a worker and not yet answered, at most: the one it runs and the next.
const WINDOW: usize = 2;
/// How long rank 0 waits for every worker's first message.
const HELLO_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the workers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Workers {
    /// The other ranks of the job (`mpirun -n N prog`: ranks 1 to N-1).
    Ranks,
    /// Processes started at run time with `MPI_Comm_spawn`, running this executable.
    Spawned,
}

/// A worker rank as rank 0 sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RankInfo {
    /// Its rank in the pool's communicator (1 to N-1).
    pub rank: i32,
    /// The host it runs on (`MPI_Get_processor_name`).
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// The tasks (chunks, for `map`) it has answered.
    pub tasks: usize,
    /// The items of those tasks.
    pub items: usize,
}

/// Options of an [`MpiPool`].
#[must_use]
#[derive(Debug, Default)]
pub struct MpiPoolBuilder {
    processes: Option<usize>,
    init: Option<Result<Initializer>>,
}

impl MpiPoolBuilder {
    /// The number of workers to spawn when the program was started alone (by default the
    /// CPUs this process may use). Under `mpirun -n N`, the workers are the other ranks.
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs `f(args)` once on each worker before it takes tasks, as the local pool's
    /// [`initializer`](multiprocessing_pool::PoolBuilder::initializer) (mpi4py's
    /// `initializer`/`initargs`): a `fn` item or a closure capturing nothing. If it panics on
    /// any worker, [`build`](Self::build) fails with [`Error::InitializerPanicked`] naming the
    /// rank, and the workers are stopped.
    pub fn initializer<F, Args>(mut self, f: F, args: Args) -> Self
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned,
    {
        self.init = Some(Initializer::new(f, args));
        self
    }

    /// Initializes MPI and makes the pool on rank 0. On every other rank of an `mpirun` job
    /// this call serves tasks until rank 0 closes the pool, finalizes MPI and exits the
    /// process: it never returns there. (Spawned workers take their role before `main`.)
    ///
    /// Errors: MPI was initialized before in this process (one `MpiPool` per run), workers
    /// could not be spawned, or a worker runs another executable ([`Error::Refused`], naming
    /// its rank and host).
    pub fn build(self) -> Result<MpiPool> {
        let processes = remote::worker_count(self.processes)?;
        let init = self.init.transpose()?;
        multiprocessing_core::outcome::install_hook();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                phase: Phase::Running,
            }),
            cond: Condvar::new(),
            ranks: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::channel();
        let config = Config { processes, init };
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("mpi-pool".into())
            .spawn(move || mpi_main(config, &thread_shared, &tx))
            .map_err(multiprocessing_core::Error::from)?;
        match rx.recv() {
            Ok(Started::Master { workers, size }) => Ok(MpiPool {
                shared,
                thread: Mutex::new(Some(thread)),
                processes: size,
                workers,
            }),
            Ok(Started::Failed(e)) => {
                let _ = thread.join();
                Err(e)
            }
            // The thread ended without a word: it panicked (a bug), before MPI was set up.
            Err(_) => {
                let _ = thread.join();
                Err(Error::Broken("the MPI pool's thread failed".into()))
            }
            Ok(Started::Worker) => {
                // A worker: the thread serves until rank 0 stops it, then MPI is finalized.
                let code = thread.join().unwrap_or(1);
                std::process::exit(code)
            }
        }
    }
}

/// The Pool API over MPI ranks: mpi4py's `MPIPoolExecutor` and `mpi4py.util.pool.Pool`.
///
/// Its calls are [`Pool`](multiprocessing_pool::Pool)'s: tasks are the same code references
/// (a `fn` item or a closure capturing nothing, serde arguments and results), results come
/// back in order as [`AsyncResult`](multiprocessing_pool::AsyncResult)s and
/// [`IMap`](multiprocessing_pool::IMap)s, a panicking task is that call's error and
/// the pool goes on. Under `mpirun`, make it first thing in `main`: every rank runs `main` up
/// to [`MpiPool::new`], and only rank 0 returns from it (spawned workers never run `main`).
///
/// ```no_run
/// use multiprocessing_mpi::MpiPool;
/// fn square(x: u64) -> u64 { x * x }
/// fn main() -> Result<(), multiprocessing_mpi::Error> {
///     let pool = MpiPool::new()?; // the other ranks serve here, and exit
///     let squares = pool.map(square, 0..1000)?;
///     println!("{}", squares.iter().sum::<u64>());
///     pool.close();
///     pool.join()
/// }
/// ```
///
/// MPI is fail-stop: a worker that dies ends the whole job, rank 0 included (the local
/// [`Pool`](multiprocessing_pool::Pool) is the one that survives a lost worker). A task
/// running on a worker cannot be stopped: [`terminate`](Self::terminate) fails every
/// unfinished call at once but waits for running tasks to end before the workers exit.
pub struct MpiPool {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<i32>>>,
    processes: usize,
    workers: Workers,
}

impl fmt::Debug for MpiPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiPool")
            .field("processes", &self.processes)
            .field("workers", &self.workers)
            .field("state", &self.shared.lock().phase)
            .finish_non_exhaustive()
    }
}

impl MpiPool {
    /// A pool over the job's other ranks when started with `mpirun -n N` (N > 1), or over as
    /// many spawned workers as this process may use CPUs when started alone; see
    /// [`MpiPoolBuilder::build`].
    #[doc(alias = "MPIPoolExecutor")]
    pub fn new() -> Result<MpiPool> {
        MpiPool::builder().build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> MpiPoolBuilder {
        MpiPoolBuilder::default()
    }

    /// The number of worker ranks.
    #[must_use]
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// Whether the workers are the job's ranks or spawned processes.
    #[must_use]
    pub fn workers(&self) -> Workers {
        self.workers
    }

    /// Each worker rank: where it runs and how much it has done so far.
    #[must_use]
    pub fn ranks(&self) -> Vec<RankInfo> {
        self.shared
            .ranks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    // Python's `apply`, `map`, `starmap`, `imap` and the rest, as the local pool's.
    multiprocessing_pool::pool_api!("on rank 0");

    /// Lets the queued work finish, then the workers exit and MPI is finalized; no more calls
    /// are accepted (Python's `close`).
    pub fn close(&self) {
        self.set_phase(Phase::Closed);
    }

    /// Fails every unfinished call with [`Error::Terminated`] at once; the workers exit once
    /// the tasks they run have ended (an MPI rank cannot be killed alone), and MPI is
    /// finalized (Python's `terminate`). Returns once that is done.
    pub fn terminate(&self) {
        self.set_phase(Phase::Terminate);
        self.join_thread();
    }

    /// Waits for the workers to exit after [`close`](Self::close) or
    /// [`terminate`](Self::terminate); [`Error::StillRunning`] before either.
    pub fn join(&self) -> Result<()> {
        if self.shared.lock().phase == Phase::Running {
            return Err(Error::StillRunning);
        }
        self.join_thread();
        Ok(())
    }

    fn set_phase(&self, phase: Phase) {
        let mut q = self.shared.lock();
        if q.phase != Phase::Terminate {
            q.phase = phase;
        }
        drop(q);
        self.shared.cond.notify_all();
    }

    fn join_thread(&self) {
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Called from a callback, on the MPI thread itself: it ends once the callback returns.
        if let Some(thread) = thread {
            if thread.thread().id() == std::thread::current().id() {
                return;
            }
            if thread.join().is_err() {
                tracing::error!("the MPI pool's thread panicked");
            }
        }
    }
}

impl Dispatch for MpiPool {
    fn enqueue(&self, tasks: &mut dyn Iterator<Item = Task>) -> Result<()> {
        let mut q = self.shared.lock();
        if q.phase != Phase::Running {
            return Err(Error::NotRunning);
        }
        q.pending.extend(tasks);
        drop(q);
        self.shared.cond.notify_all();
        Ok(())
    }

    fn processes(&self) -> usize {
        self.processes
    }
}

/// Python's `__exit__`: terminates the pool (after `close` + `join`, nothing is left).
impl Drop for MpiPool {
    fn drop(&mut self) {
        self.terminate();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Closed,
    Terminate,
}

struct Queue {
    pending: VecDeque<Task>,
    phase: Phase,
}

/// What the callers and the MPI thread share.
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled after queueing work or changing phase (the MPI thread waits on it when no
    /// worker has a task).
    cond: Condvar,
    ranks: Mutex<Vec<RankInfo>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Config {
    processes: usize,
    init: Option<Initializer>,
}

/// What the MPI thread tells `build` once it knows its role.
enum Started {
    Master { workers: Workers, size: usize },
    Worker,
    Failed(Error),
}

/// The MPI thread: initializes MPI, serves as a worker or runs the pool, finalizes MPI. Its
/// return value is a worker's exit code.
fn mpi_main(config: Config, shared: &Arc<Shared>, started: &mpsc::Sender<Started>) -> i32 {
    // Only this thread makes MPI calls.
    let Some((universe, _)) = mpi::initialize_with_threading(Threading::Funneled) else {
        let _ = started.send(Started::Failed(Error::Broken(
            "MPI was initialized before in this process (one MpiPool per run)".into(),
        )));
        return 1;
    };
    let world = universe.world();
    let host = mpi::environment::processor_name().unwrap_or_else(|_| "?".into());
    if let Some(parent) = world.parent() {
        let _ = started.send(Started::Worker);
        let comm = parent.merge(MergeOrder::High);
        let rank = comm.rank();
        return serve(&comm, rank, host);
    }
    if world.size() > 1 && world.rank() != MASTER {
        let _ = started.send(Started::Worker);
        return serve(&world, world.rank(), host);
    }
    // The intercommunicator to spawned workers lives until the pool ends: dropping it
    // disconnects, which waits for the workers to disconnect too (as they finalize MPI).
    let (comm, workers, inter) = if world.size() > 1 {
        (world, Workers::Ranks, None)
    } else {
        let program = match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => {
                let _ = started.send(Started::Failed(Error::Broken(format!(
                    "cannot find this executable to spawn workers: {e}"
                ))));
                return 1;
            }
        };
        // The worker role is taken before `main` (see the worker module).
        let args = [crate::worker::WORKER_ARG.to_string()];
        let n = Rank::try_from(config.processes).unwrap_or(Rank::MAX);
        let spawned = crate::spawn::spawn(&program, &args, n);
        match spawned {
            Ok(inter) => (inter.merge(MergeOrder::Low), Workers::Spawned, Some(inter)),
            Err(e) => {
                let _ = started.send(Started::Failed(Error::Broken(format!(
                    "could not spawn {n} MPI workers: {e}"
                ))));
                return 1;
            }
        }
    };
    let mut master = match Master::handshake(comm, shared, config.init) {
        Ok(m) => m,
        Err(e) => {
            let _ = started.send(Started::Failed(e));
            return 1;
        }
    };
    let size = master.ranks.len();
    let _ = started.send(Started::Master { workers, size });
    if catch_unwind(AssertUnwindSafe(|| master.run())).is_err() {
        // A bug, never a task (those run on the workers): fail what waits, so no `get` blocks
        // for ever, refuse new calls, and stop the workers if that still works.
        tracing::error!("the MPI pool's thread panicked");
        let pending: Vec<Task> = {
            let mut q = shared.lock();
            q.phase = Phase::Terminate;
            q.pending.drain(..).collect()
        };
        for task in pending {
            task.fail(Error::Broken("the MPI pool's thread failed".into()));
        }
        if catch_unwind(AssertUnwindSafe(|| master.terminate())).is_err() {
            // MPI's state is unknown: end the job rather than hang in MPI_Finalize.
            master.comm.abort(1);
        }
    }
    drop(master);
    drop(inter);
    drop(universe);
    0
}

/// A worker as the MPI thread tracks it.
struct Worker {
    rank: Rank,
    /// `rank N (host)`, as a panic's error names it.
    name: String,
    /// Tasks sent and not yet answered, oldest first, with when each was sent.
    running: VecDeque<(u64, Task, Instant)>,
    /// Replies still owed for tasks failed by `terminate` (the worker runs them anyway).
    owed: usize,
}

/// A send under way and the buffer it reads (from `Box::into_raw`, freed once it completes).
type Sending = (Request<'static, [u8], StaticScope>, *mut [u8]);

/// The MPI thread's side of a running pool.
struct Master<'s> {
    comm: SimpleCommunicator,
    shared: &'s Shared,
    ranks: Vec<Worker>,
    next_id: u64,
    /// The recent average time from sending a task to its reply.
    task_time: Duration,
    /// Sends under way: each request and the buffer it reads, freed once it completes.
    sends: Vec<Sending>,
}

impl<'s> Master<'s> {
    /// Hears from every worker, checks that each runs this executable, and gives them the
    /// family's authkey; a worker running another executable fails the pool, naming it.
    fn handshake(
        comm: SimpleCommunicator,
        shared: &'s Shared,
        init: Option<Initializer>,
    ) -> Result<Master<'s>> {
        let n = comm.size() - 1;
        let deadline = multiprocessing_core::time::Deadline::after(HELLO_TIMEOUT);
        let mut infos: Vec<Option<RankInfo>> = vec![None; usize::try_from(n).unwrap_or(0)];
        let mut foreign = Vec::new();
        for _ in 0..n {
            let got = receive::<FromWorker>(&comm, None, || deadline.is_expired());
            let Some((rank, msg)) = got else {
                return Err(Error::Broken(format!(
                    "not every MPI worker reported within {HELLO_TIMEOUT:?}"
                )));
            };
            match msg {
                Ok(FromWorker::Hello {
                    host,
                    pid,
                    fingerprint: theirs,
                }) => {
                    if theirs.as_slice() != fingerprint() {
                        foreign.push(format!(
                            "rank {rank} on host {host} (pid {pid}) runs another executable \
                             ({}; rank 0 runs {})",
                            display_fingerprint(&theirs),
                            display_fingerprint(fingerprint())
                        ));
                    }
                    if let Some(slot) = usize::try_from(rank - 1)
                        .ok()
                        .and_then(|i| infos.get_mut(i))
                    {
                        *slot = Some(RankInfo {
                            rank,
                            host,
                            pid,
                            tasks: 0,
                            items: 0,
                        });
                    }
                }
                _ => {
                    foreign.push(format!(
                        "rank {rank} sent a message that is not this pool's greeting"
                    ));
                }
            }
        }
        let mut master = Master {
            comm,
            shared,
            ranks: Vec::new(),
            next_id: 0,
            task_time: POLL_SLEEP_MAX,
            sends: Vec::new(),
        };
        if !foreign.is_empty() {
            let reason = foreign.join("; ");
            for rank in 1..=n {
                master.send(
                    rank,
                    &ToWorker::Reject {
                        reason: reason.clone(),
                    },
                );
            }
            master.finish_sends();
            return Err(Error::Refused(reason));
        }
        let authkey = Bytes::from(identity::current().authkey.as_bytes().to_vec());
        let init = init.map(|i| {
            let (code, args) = i.into_parts();
            (code, Bytes::from(args))
        });
        let infos: Vec<RankInfo> = infos.into_iter().flatten().collect();
        for info in &infos {
            master.send(
                info.rank,
                &ToWorker::Welcome {
                    authkey: authkey.clone(),
                    init: init.clone(),
                },
            );
            master.ranks.push(Worker {
                rank: info.rank,
                name: format!("rank {} ({})", info.rank, info.host),
                running: VecDeque::new(),
                owed: 0,
            });
        }
        // Every worker answers once its initializer ran, which takes what it takes.
        let mut failed = None;
        for _ in 0..n {
            let Some((rank, msg)) = receive::<FromWorker>(&master.comm, None, || false) else {
                break;
            };
            match msg {
                Ok(FromWorker::Ready) => {}
                Ok(FromWorker::InitFailed(panic)) => {
                    let host = infos
                        .iter()
                        .find(|i| i.rank == rank)
                        .map_or("?", |i| i.host.as_str());
                    failed.get_or_insert(Error::InitializerPanicked {
                        worker: format!("rank {rank} ({host})"),
                        panic,
                    });
                }
                _ => {
                    failed.get_or_insert(Error::Broken(format!(
                        "rank {rank} sent a message that is not this pool's greeting"
                    )));
                }
            }
        }
        if let Some(e) = failed {
            master.stop_workers();
            return Err(e);
        }
        *shared.ranks.lock().unwrap_or_else(|p| p.into_inner()) = infos;
        Ok(master)
    }

    /// Sends `msg` to `rank` without waiting for the worker to receive it.
    fn send(&mut self, rank: Rank, msg: &ToWorker) {
        let buf: *mut [u8] = Box::into_raw(encode(msg).into_boxed_slice());
        // SAFETY: `buf` is a live allocation owned by `self.sends` until the request
        // completes (then freed in `test_sends`/`finish_sends`), so MPI reads valid bytes.
        let bytes: &'static [u8] = unsafe { &*buf };
        let request = self
            .comm
            .process_at_rank(rank)
            .immediate_send(StaticScope, bytes);
        self.sends.push((request, buf));
    }

    /// Frees the buffers of sends that completed; whether any did.
    fn test_sends(&mut self) -> bool {
        let before = self.sends.len();
        let mut still = Vec::with_capacity(before);
        for (request, buf) in self.sends.drain(..) {
            match request.test() {
                // SAFETY: the send completed, so MPI no longer reads `buf`, which came from
                // `Box::into_raw` in `send` and is freed once.
                Ok(_) => drop(unsafe { Box::from_raw(buf) }),
                Err(request) => still.push((request, buf)),
            }
        }
        self.sends = still;
        self.sends.len() < before
    }

    /// Waits for every send under way (the workers read them: they poll at all times).
    fn finish_sends(&mut self) {
        for (request, buf) in self.sends.drain(..) {
            request.wait();
            // SAFETY: as in `test_sends`: the send completed; the buffer is freed once.
            drop(unsafe { Box::from_raw(buf) });
        }
    }

    fn run(&mut self) {
        let mut poller = Poller::new();
        loop {
            let phase = self.shared.lock().phase;
            if phase == Phase::Terminate {
                self.terminate();
                return;
            }
            let mut progress = self.dispatch();
            progress |= self.receive_replies();
            progress |= self.test_sends();
            let idle = self.ranks.iter().all(|w| w.running.is_empty());
            if idle {
                let q = self.shared.lock();
                if q.phase == Phase::Closed && q.pending.is_empty() {
                    drop(q);
                    self.stop_workers();
                    return;
                }
                if q.phase == Phase::Running && q.pending.is_empty() && self.sends.is_empty() {
                    // Nothing to do until a call arrives or the phase changes.
                    drop(self.shared.cond.wait(q).unwrap_or_else(|p| p.into_inner()));
                    poller.reset();
                    continue;
                }
            }
            if progress {
                poller.reset();
            } else {
                // A reply is due in about a task's time: sleep a fraction of it at most, so a
                // map of short tasks is not held up by the poll (long tasks sleep up to 1 ms).
                poller.idle_at_most(self.task_time / 8);
            }
        }
    }

    /// Hands queued tasks to workers with room in their window, the least busy first; what
    /// one worker gets in one round leaves in one message per target. Whether any went.
    fn dispatch(&mut self) -> bool {
        let mut batches: Vec<Vec<(u64, Task)>> =
            (0..self.ranks.len()).map(|_| Vec::new()).collect();
        let mut sent = false;
        while let Some(w) = (0..self.ranks.len())
            .filter(|&i| self.ranks[i].running.len() + batches[i].len() < WINDOW)
            .min_by_key(|&i| self.ranks[i].running.len() + batches[i].len())
        {
            let task = {
                let mut q = self.shared.lock();
                loop {
                    match q.pending.pop_front() {
                        Some(t) if t.start() => break Some(t),
                        // The call is decided already (failed, cancelled): skip its task.
                        Some(_) => {}
                        None => break None,
                    }
                }
            };
            let Some(task) = task else { break };
            self.next_id += 1;
            batches[w].push((self.next_id, task));
            sent = true;
        }
        for (w, batch) in batches.into_iter().enumerate() {
            let mut at = 0;
            while at < batch.len() {
                let run = batch[at..]
                    .iter()
                    .take_while(|(_, t)| t.same_code(&batch[at].1))
                    .count();
                let msg = ToWorker::Tasks {
                    code: batch[at].1.code().clone(),
                    tasks: batch[at..at + run]
                        .iter()
                        .map(|(id, t)| (*id, Bytes::from(t.args().to_vec())))
                        .collect(),
                };
                let rank = self.ranks[w].rank;
                self.send(rank, &msg);
                at += run;
            }
            let now = Instant::now();
            self.ranks[w]
                .running
                .extend(batch.into_iter().map(|(id, t)| (id, t, now)));
        }
        sent
    }

    /// Handles every reply that has arrived; whether there was one.
    fn receive_replies(&mut self) -> bool {
        let mut any = false;
        while let Some((rank, msg)) = try_receive::<FromWorker>(&self.comm, None) {
            any = true;
            let Ok(FromWorker::Done { id, reply }) = msg else {
                tracing::error!("MPI rank {rank} sent a message that is not a reply");
                continue;
            };
            let Some(w) = self.ranks.iter_mut().position(|w| w.rank == rank) else {
                continue;
            };
            let worker = &mut self.ranks[w];
            let Some(at) = worker.running.iter().position(|(i, ..)| *i == id) else {
                continue;
            };
            let Some((_, task, sent)) = worker.running.remove(at) else {
                continue;
            };
            // A running average over about eight tasks.
            self.task_time = (self.task_time * 7 + sent.elapsed()) / 8;
            let name = worker.name.clone();
            if let Some(info) = self
                .shared
                .ranks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(w)
            {
                info.tasks += 1;
                info.items += task.items().len();
            }
            task.complete(reply, &name);
        }
        any
    }

    /// Fails what is unfinished, lets the workers end their running tasks, stops them.
    fn terminate(&mut self) {
        let pending: Vec<Task> = self.shared.lock().pending.drain(..).collect();
        for task in pending {
            task.fail(Error::Terminated);
        }
        for w in &mut self.ranks {
            w.owed += w.running.len();
            for (_, task, _) in std::mem::take(&mut w.running) {
                task.fail(Error::Terminated);
            }
        }
        self.stop_workers();
    }

    /// Tells every worker to stop, and waits until each has read it and sent every reply it
    /// owes (replies to tasks `terminate` failed are dropped), so no worker is left blocked
    /// in a send when MPI is finalized.
    fn stop_workers(&mut self) {
        for rank in self.ranks.iter().map(|w| w.rank).collect::<Vec<_>>() {
            self.send(rank, &ToWorker::Stop);
        }
        let mut poller = Poller::new();
        while !self.sends.is_empty() || self.ranks.iter().any(|w| w.owed > 0) {
            let mut progress = self.test_sends();
            while let Some((rank, _)) = try_receive::<FromWorker>(&self.comm, None) {
                progress = true;
                if let Some(w) = self.ranks.iter_mut().find(|w| w.rank == rank) {
                    w.owed = w.owed.saturating_sub(1);
                }
            }
            if progress {
                poller.reset();
            } else {
                poller.idle();
            }
        }
    }
}
