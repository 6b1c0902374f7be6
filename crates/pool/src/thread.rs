//! [`ThreadPool`]: the pool's calls over threads of this process (Python's
//! `multiprocessing.pool.ThreadPool` and `multiprocessing.dummy.Pool`).
//!
//! Tasks run in this process, so they are closures that may capture anything `Send`; nothing is
//! encoded. A panicking task is its call's error, as in [`Pool`](crate::Pool). Threads cannot
//! be killed: [`terminate`](ThreadPool::terminate) drops the queued tasks (their calls fail with
//! [`Error::Terminated`]) and waits for the running ones to end.
//!
//! ```
//! use std::sync::Arc;
//! use multiprocessing_pool::ThreadPool;
//! let offset = Arc::new(100u64);
//! let pool = ThreadPool::new(4)?;
//! let o = Arc::clone(&offset);
//! assert_eq!(pool.map(move |x: u64| x + *o, 0..4)?, [100, 101, 102, 103]);
//! assert_eq!(pool.apply(move || *offset * 2)?, 200);
//! # Ok::<(), multiprocessing_pool::Error>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use multiprocessing_core::outcome::Outcome;

use crate::error::{Error, Result};
use crate::imap::{ArrivalTx, IMap, Submit};
use crate::pool::{Callbacks, default_chunksize};
use crate::remote;
use crate::result::{AsyncResult, Cell};

type Work = Box<dyn FnOnce() + Send>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    Closed,
    Terminated,
}

struct State {
    work: VecDeque<Work>,
    phase: Phase,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A pool of threads with [`Pool`](crate::Pool)'s calls: Python's `ThreadPool` (and
/// `multiprocessing.dummy.Pool`). Dropping it terminates it.
#[doc(alias = "dummy")]
pub struct ThreadPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    processes: usize,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("processes", &self.processes)
            .field("state", &self.shared.lock().phase)
            .finish_non_exhaustive()
    }
}

/// Assembles a call's chunk results into `T`; a call whose chunks are dropped unrun (by
/// `terminate`) fails with [`Error::Terminated`].
struct Gather<R, T> {
    cell: Arc<Cell<T>>,
    parts: Mutex<(Vec<Option<R>>, usize)>,
    finish: fn(Vec<R>) -> Option<T>,
}

impl<R, T> Gather<R, T> {
    fn put(&self, at: usize, outcome: Outcome<Vec<R>>, worker: &str) {
        let values = match outcome {
            Outcome::Returned(v) => v,
            Outcome::Panicked(panic) => {
                self.cell.decide(
                    Err(Error::Panicked {
                        worker: worker.to_string(),
                        panic,
                    }),
                    false,
                );
                return;
            }
        };
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        for (slot, v) in parts.0[at..].iter_mut().zip(values) {
            *slot = Some(v);
        }
        parts.1 -= 1;
        if parts.1 == 0 {
            let all: Option<Vec<R>> = parts.0.iter_mut().map(Option::take).collect();
            drop(parts);
            match all.and_then(self.finish) {
                Some(v) => self.cell.decide(Ok(v), false),
                None => self
                    .cell
                    .decide(Err(Error::Codec("a result is missing".into())), false),
            };
        }
    }
}

impl<R, T> Drop for Gather<R, T> {
    fn drop(&mut self) {
        self.cell.decide(Err(Error::Terminated), false);
    }
}

/// A function called with a tuple's items as its arguments: what [`ThreadPool::starmap`] takes
/// (`Fn(A, B) -> R` for `(A, B)` items, up to eight). Unlike a process pool's target it may
/// capture state, as any closure run on this process's threads may.
pub trait StarFn<Args>: Send + Sync + 'static {
    /// What the function returns.
    type Output;
    /// Calls the function with `args`' items.
    fn call_star(&self, args: Args) -> Self::Output;
}

macro_rules! impl_star_fn {
    ($($a:ident),*) => {
        impl<F, R, $($a,)*> StarFn<($($a,)*)> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
        {
            type Output = R;
            #[allow(non_snake_case, clippy::unused_unit)]
            fn call_star(&self, ($($a,)*): ($($a,)*)) -> R {
                self($($a),*)
            }
        }
    };
}

impl_star_fn!();
impl_star_fn!(A1);
impl_star_fn!(A1, A2);
impl_star_fn!(A1, A2, A3);
impl_star_fn!(A1, A2, A3, A4);
impl_star_fn!(A1, A2, A3, A4, A5);
impl_star_fn!(A1, A2, A3, A4, A5, A6);
impl_star_fn!(A1, A2, A3, A4, A5, A6, A7);
impl_star_fn!(A1, A2, A3, A4, A5, A6, A7, A8);

/// An `imap` chunk's reply: sent once; a chunk dropped unrun (by `terminate`) replies
/// [`Error::Terminated`], so the iterator never waits for it.
struct Reply<R> {
    tx: ArrivalTx<R>,
    index: usize,
    len: usize,
    sent: bool,
}

impl<R> Reply<R> {
    fn send(mut self, result: Result<Vec<R>>) {
        self.sent = true;
        self.tx.send((self.index, self.len, result));
    }
}

impl<R> Drop for Reply<R> {
    fn drop(&mut self) {
        if !self.sent {
            self.tx.send((self.index, self.len, Err(Error::Terminated)));
        }
    }
}

/// A thread pool's `imap` chunks: run by its threads, nothing encoded.
struct ThreadChunks<'p, A, R> {
    pool: &'p ThreadPool,
    f: Arc<dyn Fn(A) -> R + Send + Sync>,
}

impl<A: Send + 'static, R: Send + 'static> Submit<A, R> for ThreadChunks<'_, A, R> {
    fn submit(
        &self,
        index: usize,
        _start: usize,
        chunk: Vec<A>,
        tx: &ArrivalTx<R>,
        abandoned: &Arc<AtomicBool>,
    ) -> Result<()> {
        // Built only once the pool is known to run, so a refused chunk sends nothing.
        self.pool.push_with(|| {
            let reply = Reply {
                tx: tx.clone(),
                index,
                len: chunk.len(),
                sent: false,
            };
            let (f, abandoned) = (Arc::clone(&self.f), Arc::clone(abandoned));
            Box::new(move || {
                if abandoned.load(Ordering::Relaxed) {
                    return; // nobody waits for it: the reply goes nowhere
                }
                let result = match Outcome::catch(|| chunk.into_iter().map(|a| f(a)).collect()) {
                    Outcome::Returned(values) => Ok(values),
                    Outcome::Panicked(panic) => Err(Error::Panicked {
                        worker: thread_name(),
                        panic,
                    }),
                };
                reply.send(result);
            })
        })
    }
}

fn first<R>(values: Vec<R>) -> Option<R> {
    values.into_iter().next()
}

impl ThreadPool {
    /// A pool of `processes` threads (Python's `ThreadPool(processes)`).
    pub fn new(processes: usize) -> Result<ThreadPool> {
        remote::worker_count(Some(processes))?;
        multiprocessing_core::outcome::install_hook();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                work: VecDeque::new(),
                phase: Phase::Running,
            }),
            cond: Condvar::new(),
        });
        let pool = ThreadPool {
            shared: Arc::clone(&shared),
            threads: Mutex::new(Vec::with_capacity(processes)),
            processes,
        };
        for k in 1..=processes {
            let shared = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name(format!("ThreadPoolWorker-{k}"))
                .spawn(move || work(&shared))
                .map_err(multiprocessing_core::Error::from)?;
            pool.threads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(thread);
        }
        Ok(pool)
    }

    /// The number of threads.
    #[must_use]
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// Runs `f` on a pool thread and waits for its result (Python's `apply`).
    pub fn apply<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Result<R> {
        self.apply_async(f)?.get()
    }

    /// Queues `f` and returns its [`AsyncResult`] (Python's `apply_async`).
    pub fn apply_async<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<AsyncResult<R>> {
        self.apply_async_with(f, Callbacks::new())
    }

    /// [`apply_async`](Self::apply_async) with callbacks.
    #[doc(alias = "apply_async")]
    pub fn apply_async_with<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
        callbacks: Callbacks<R>,
    ) -> Result<AsyncResult<R>> {
        let (callback, error_callback) = callbacks.into_parts();
        let cell = Arc::new(Cell::new(callback, error_callback));
        let gather = Arc::new(Gather {
            cell: Arc::clone(&cell),
            parts: Mutex::new((vec![None], 1)),
            finish: first,
        });
        self.push(vec![Box::new(move || {
            if gather.cell.start() {
                let outcome = Outcome::catch(|| vec![f()]);
                gather.put(0, outcome, &thread_name());
            }
        })])?;
        Ok(AsyncResult { cell })
    }

    /// Applies `f` to every item, in chunks of Python's default size, results in order
    /// (Python's `map`).
    pub fn map<A, R>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>>
    where
        A: Send + 'static,
        R: Send + 'static,
    {
        self.map_async(f, items, None)?.get()
    }

    /// [`map`](Self::map) in chunks of `chunksize` items.
    #[doc(alias = "map")]
    pub fn map_chunksize<A, R>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<Vec<R>>
    where
        A: Send + 'static,
        R: Send + 'static,
    {
        self.map_async(f, items, Some(chunksize))?.get()
    }

    /// Queues a [`map`](Self::map) (Python's `map_async`).
    pub fn map_async<A, R>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Send + 'static,
        R: Send + 'static,
    {
        self.map_async_with(f, items, chunksize, Callbacks::new())
    }

    /// [`map_async`](Self::map_async) with callbacks.
    #[doc(alias = "map_async")]
    pub fn map_async_with<A, R>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        A: Send + 'static,
        R: Send + 'static,
    {
        let mut items: Vec<A> = items.into_iter().collect();
        let n = items.len();
        let chunksize = chunksize
            .unwrap_or_else(|| default_chunksize(n, self.processes))
            .max(1);
        let (callback, error_callback) = callbacks.into_parts();
        let cell = Arc::new(Cell::new(callback, error_callback));
        let gather = Arc::new(Gather {
            cell: Arc::clone(&cell),
            parts: Mutex::new(((0..n).map(|_| None).collect(), n.div_ceil(chunksize))),
            finish: Some,
        });
        let f = Arc::new(f);
        let mut work: Vec<Work> = Vec::with_capacity(n.div_ceil(chunksize));
        let mut at = n;
        // From the back, so each chunk takes its own items without copying.
        while at > 0 {
            let start = (at - 1) / chunksize * chunksize;
            let chunk: Vec<A> = items.drain(start..).collect();
            let (f, gather) = (Arc::clone(&f), Arc::clone(&gather));
            work.push(Box::new(move || {
                if gather.cell.start() {
                    let outcome = Outcome::catch(|| chunk.into_iter().map(|a| f(a)).collect());
                    gather.put(start, outcome, &thread_name());
                }
            }));
            at = start;
        }
        work.reverse();
        if n == 0 {
            self.push(Vec::new())?;
            gather.cell.decide(Ok(Vec::new()), false);
        } else {
            self.push(work)?;
        }
        Ok(AsyncResult { cell })
    }

    /// Applies `f` to the items of every tuple, results in order (Python's `starmap`):
    /// `pool.starmap(|a, b| a + b, [(1, 2), (3, 4)])` is `[3, 7]`.
    ///
    /// ```
    /// use multiprocessing_pool::ThreadPool;
    /// let pool = ThreadPool::new(2)?;
    /// let scale = 10;
    /// assert_eq!(pool.starmap(move |a: u32, b: u32| scale * a + b, [(1, 2), (3, 4)])?, [12, 34]);
    /// # Ok::<(), multiprocessing_pool::Error>(())
    /// ```
    pub fn starmap<F, Args>(
        &self,
        f: F,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<Vec<F::Output>>
    where
        F: StarFn<Args>,
        Args: Send + 'static,
        F::Output: Send + 'static,
    {
        self.starmap_async(f, items, None)?.get()
    }

    /// [`starmap`](Self::starmap) in chunks of `chunksize` items.
    #[doc(alias = "starmap")]
    pub fn starmap_chunksize<F, Args>(
        &self,
        f: F,
        items: impl IntoIterator<Item = Args>,
        chunksize: usize,
    ) -> Result<Vec<F::Output>>
    where
        F: StarFn<Args>,
        Args: Send + 'static,
        F::Output: Send + 'static,
    {
        self.starmap_async(f, items, Some(chunksize))?.get()
    }

    /// Queues a [`starmap`](Self::starmap) (Python's `starmap_async`).
    pub fn starmap_async<F, Args>(
        &self,
        f: F,
        items: impl IntoIterator<Item = Args>,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<F::Output>>>
    where
        F: StarFn<Args>,
        Args: Send + 'static,
        F::Output: Send + 'static,
    {
        self.starmap_async_with(f, items, chunksize, Callbacks::new())
    }

    /// [`starmap_async`](Self::starmap_async) with callbacks.
    #[doc(alias = "starmap_async")]
    pub fn starmap_async_with<F, Args>(
        &self,
        f: F,
        items: impl IntoIterator<Item = Args>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<F::Output>>,
    ) -> Result<AsyncResult<Vec<F::Output>>>
    where
        F: StarFn<Args>,
        Args: Send + 'static,
        F::Output: Send + 'static,
    {
        self.map_async_with(move |args| f.call_star(args), items, chunksize, callbacks)
    }

    /// Applies `f` to every item lazily, one item per task, yielding results in input order
    /// (Python's `imap`): the process pool's [`IMap`], with its bounded
    /// [`lookahead`](IMap::lookahead), `next_timeout` and exact length.
    ///
    /// ```
    /// use multiprocessing_pool::ThreadPool;
    /// let pool = ThreadPool::new(2)?;
    /// let offset = 1;
    /// let firsts: Vec<u64> = pool.imap(move |x: u64| x * x + offset, 0..)?.take(3).collect::<Result<_, _>>()?;
    /// assert_eq!(firsts, [1, 2, 5]);
    /// # Ok::<(), multiprocessing_pool::Error>(())
    /// ```
    pub fn imap<A, R, I>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: I,
    ) -> Result<IMap<'_, A, R, I::IntoIter>>
    where
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.imap_with(f, items, 1, true)
    }

    /// [`imap`](Self::imap) in chunks of `chunksize` items.
    #[doc(alias = "imap")]
    pub fn imap_chunksize<A, R, I>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: I,
        chunksize: usize,
    ) -> Result<IMap<'_, A, R, I::IntoIter>>
    where
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.imap_with(f, items, chunksize, true)
    }

    /// As [`imap`](Self::imap), yielding results as they finish (Python's `imap_unordered`).
    pub fn imap_unordered<A, R, I>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: I,
    ) -> Result<IMap<'_, A, R, I::IntoIter>>
    where
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.imap_with(f, items, 1, false)
    }

    /// [`imap_unordered`](Self::imap_unordered) in chunks of `chunksize` items.
    #[doc(alias = "imap_unordered")]
    pub fn imap_unordered_chunksize<A, R, I>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: I,
        chunksize: usize,
    ) -> Result<IMap<'_, A, R, I::IntoIter>>
    where
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.imap_with(f, items, chunksize, false)
    }

    fn imap_with<A, R, I>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: I,
        chunksize: usize,
        ordered: bool,
    ) -> Result<IMap<'_, A, R, I::IntoIter>>
    where
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        R: Send + 'static,
    {
        // A closed pool is this call's error, as for `map`.
        self.push(Vec::new())?;
        let backend = ThreadChunks {
            pool: self,
            f: Arc::new(f),
        };
        Ok(IMap::new(
            Box::new(backend),
            self.processes,
            items.into_iter(),
            chunksize,
            ordered,
        ))
    }

    /// Queues the work `make` builds, built only while the pool runs.
    fn push_with(&self, make: impl FnOnce() -> Work) -> Result<()> {
        let mut st = self.shared.lock();
        if st.phase != Phase::Running {
            return Err(Error::NotRunning);
        }
        st.work.push_back(make());
        drop(st);
        self.shared.cond.notify_one();
        Ok(())
    }

    fn push(&self, work: Vec<Work>) -> Result<()> {
        let mut st = self.shared.lock();
        if st.phase != Phase::Running {
            return Err(Error::NotRunning);
        }
        st.work.extend(work);
        drop(st);
        self.shared.cond.notify_all();
        Ok(())
    }

    /// Lets the queued work finish; no more calls are accepted (Python's `close`).
    pub fn close(&self) {
        let mut st = self.shared.lock();
        if st.phase == Phase::Running {
            st.phase = Phase::Closed;
        }
        drop(st);
        self.shared.cond.notify_all();
    }

    /// Drops the queued work (those calls fail with [`Error::Terminated`]) and waits for the
    /// running tasks to end: threads cannot be killed (Python's `terminate`).
    pub fn terminate(&self) {
        let dropped: Vec<Work> = {
            let mut st = self.shared.lock();
            st.phase = Phase::Terminated;
            st.work.drain(..).collect()
        };
        self.shared.cond.notify_all();
        drop(dropped);
        self.join_threads();
    }

    /// Waits for the threads to end after [`close`](Self::close) or
    /// [`terminate`](Self::terminate); [`Error::StillRunning`] before either.
    pub fn join(&self) -> Result<()> {
        if self.shared.lock().phase == Phase::Running {
            return Err(Error::StillRunning);
        }
        self.join_threads();
        Ok(())
    }

    fn join_threads(&self) {
        let me = std::thread::current().id();
        let threads: Vec<JoinHandle<()>> = {
            let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
            // A callback runs on a pool thread: that one cannot join itself.
            let (mine, others): (Vec<_>, Vec<_>) =
                threads.drain(..).partition(|t| t.thread().id() == me);
            threads.extend(mine);
            others
        };
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Python's `__exit__`: terminates.
impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("ThreadPoolWorker")
        .to_string()
}

/// A pool thread: runs queued work until the pool is closed and drained, or terminated.
fn work(shared: &Shared) {
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                if st.phase == Phase::Terminated {
                    return;
                }
                if let Some(job) = st.work.pop_front() {
                    break job;
                }
                if st.phase == Phase::Closed {
                    return;
                }
                st = shared.cond.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Barrier, mpsc};
    use std::time::Duration;

    use super::*;
    use crate::ErrorKind;

    #[test]
    fn map_and_apply_run_capturing_closures_in_order() {
        let pool = ThreadPool::new(3).unwrap();
        let base = Arc::new(10u64);
        let b = Arc::clone(&base);
        let squares: Vec<u64> = (0..100).map(|x| x * x + 10).collect();
        assert_eq!(pool.map(move |x: u64| x * x + *b, 0..100).unwrap(), squares);
        let b = Arc::clone(&base);
        assert_eq!(
            pool.map_chunksize(move |x: u64| x * x + *b, 0..100, 7)
                .unwrap(),
            squares
        );
        assert_eq!(pool.map(|x: u8| x, Vec::new()).unwrap(), Vec::<u8>::new());
        assert_eq!(pool.apply(move || *base + 1).unwrap(), 11);
        pool.close();
        pool.join().unwrap();
        assert!(matches!(pool.apply(|| 1), Err(Error::NotRunning)));
    }

    #[test]
    fn a_panic_is_its_calls_error_and_callbacks_run_once() {
        let pool = ThreadPool::new(2).unwrap();
        let err = pool
            .map(|x: i32| if x == 3 { panic!("no threes") } else { x }, 0..6)
            .unwrap_err();
        let Error::Panicked { worker, panic } = &err else {
            panic!("{err}")
        };
        assert!(worker.starts_with("ThreadPoolWorker-"), "{worker}");
        assert_eq!(panic.message, "no threes");
        let (tx, rx) = mpsc::channel();
        let r = pool
            .apply_async_with(
                || 5,
                Callbacks::new().callback(move |v: &i32| tx.send(*v).unwrap()),
            )
            .unwrap();
        assert_eq!(r.get().unwrap(), 5);
        drop(pool);
        assert_eq!(rx.iter().collect::<Vec<_>>(), [5]);
    }

    #[test]
    fn cancel_and_terminate_fail_what_did_not_run() {
        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Barrier::new(2));
        let g = Arc::clone(&gate);
        let blocker = pool.apply_async(move || {
            g.wait(); // the test knows the only thread is busy
            g.wait(); // held until the test lets it go
            1
        });
        let blocker = blocker.unwrap();
        gate.wait();
        let queued = pool.apply_async(|| 2).unwrap();
        let cancelled = pool.apply_async(|| 3).unwrap();
        assert!(cancelled.cancel());
        assert_eq!(cancelled.get().unwrap_err().kind(), ErrorKind::Cancelled);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&ran);
        let dropped = pool
            .map_async(
                move |x: usize| {
                    r.fetch_add(1, Ordering::SeqCst);
                    x
                },
                0..4,
                Some(1),
            )
            .unwrap();
        // Terminate drops the queued work and waits for the running task, which is let go
        // once the pool is terminated.
        std::thread::scope(|s| {
            s.spawn(|| {
                while pool.shared.lock().phase != Phase::Terminated {
                    std::thread::sleep(Duration::from_millis(1));
                }
                gate.wait();
            });
            pool.terminate();
        });
        assert_eq!(blocker.get().unwrap(), 1);
        assert_eq!(queued.get().unwrap_err().kind(), ErrorKind::Closed);
        assert_eq!(dropped.get().unwrap_err().kind(), ErrorKind::Closed);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        pool.join().unwrap();
    }

    #[test]
    fn starmap_spreads_tuples_over_capturing_closures() {
        let pool = ThreadPool::new(2).unwrap();
        let scale = Arc::new(10u64);
        let pairs: Vec<(u64, u64)> = (0..50).map(|i| (i, i + 1)).collect();
        let expected: Vec<u64> = pairs.iter().map(|(a, b)| 10 * a + b).collect();
        let s = Arc::clone(&scale);
        assert_eq!(
            pool.starmap(move |a: u64, b: u64| *s * a + b, pairs.clone())
                .unwrap(),
            expected
        );
        let s = Arc::clone(&scale);
        assert_eq!(
            pool.starmap_chunksize(move |a: u64, b: u64| *s * a + b, pairs, 3)
                .unwrap(),
            expected
        );
        assert_eq!(pool.starmap(|| 7, [(), ()]).unwrap(), [7, 7]);
        let three = pool
            .starmap_async(|a: u8, b: u8, c: u8| [a, b, c], [(1, 2, 3)], None)
            .unwrap();
        assert_eq!(three.get().unwrap(), [[1, 2, 3]]);
    }

    #[test]
    fn imap_in_order_unordered_complete_and_endless_input_bounded() {
        let pool = ThreadPool::new(3).unwrap();
        let offset = Arc::new(1u64);
        let o = Arc::clone(&offset);
        let it = pool.imap(move |x: u64| x * x + *o, (0..40).collect::<Vec<_>>());
        let it = it.unwrap();
        assert_eq!(it.len(), 40);
        let got: Vec<u64> = it.map(Result::unwrap).collect();
        assert_eq!(got, (0..40).map(|x| x * x + 1).collect::<Vec<u64>>());
        let got: Vec<u64> = pool
            .imap_chunksize(|x: u64| x + 1, 0..40, 7)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, (1..41).collect::<Vec<u64>>());
        let mut got: Vec<u64> = pool
            .imap_unordered_chunksize(|x: u64| x * 2, 0..40, 3)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..40).map(|x| x * 2).collect::<Vec<u64>>());
        // An endless input: only a bounded number of items are ever taken from it.
        let taken = Arc::new(AtomicUsize::new(0));
        let t = Arc::clone(&taken);
        let input = (0u64..).inspect(move |_| {
            t.fetch_add(1, Ordering::SeqCst);
        });
        let firsts: Vec<u64> = pool
            .imap_unordered(|x: u64| x, input)
            .unwrap()
            .take(5)
            .map(Result::unwrap)
            .collect();
        assert_eq!(firsts.len(), 5);
        // At most the default lookahead (its items per thread) past what was yielded.
        let bound = 5 + crate::imap::MIN_LOOKAHEAD_ITEMS * 3;
        assert!(taken.load(Ordering::SeqCst) <= bound, "{taken:?}");
        // A panic is that item's error; the rest go on.
        let results: Vec<Result<i32>> = pool
            .imap(|x: i32| if x == 2 { panic!("two") } else { x }, 0..4)
            .unwrap()
            .collect();
        assert_eq!(results[2].as_ref().unwrap_err().kind(), ErrorKind::Panicked);
        assert_eq!(results[3].as_ref().unwrap(), &3);
        pool.close();
        assert_eq!(
            pool.imap(|x: u8| x, [1]).unwrap_err().kind(),
            ErrorKind::InvalidState
        );
    }

    #[test]
    fn terminate_ends_a_waiting_imap_with_terminated() {
        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Barrier::new(2));
        let g = Arc::clone(&gate);
        let mut it = pool
            .imap(
                move |x: u32| {
                    if x == 0 {
                        g.wait(); // the test knows the only thread is busy
                        g.wait(); // held until the pool is terminated
                    }
                    x
                },
                // More items than the default lookahead: some are queued when the pool is
                // terminated, the rest are submitted after.
                0..crate::imap::MIN_LOOKAHEAD_ITEMS as u32 + 4,
            )
            .unwrap();
        gate.wait();
        std::thread::scope(|s| {
            s.spawn(|| {
                while pool.shared.lock().phase != Phase::Terminated {
                    std::thread::sleep(Duration::from_millis(1));
                }
                gate.wait();
            });
            pool.terminate();
        });
        assert_eq!(it.next().unwrap().unwrap(), 0);
        let rest: Vec<ErrorKind> = it.map(|r| r.unwrap_err().kind()).collect();
        // The queued chunks were dropped (Closed); the pool then refuses the next (InvalidState).
        let closed = rest.iter().take_while(|k| **k == ErrorKind::Closed).count();
        assert!(closed > 0, "{rest:?}");
        assert!(
            rest.len() > closed && rest[closed..].iter().all(|k| *k == ErrorKind::InvalidState),
            "{rest:?}"
        );
    }

    #[test]
    fn the_dummy_module_names_it_pool() {
        let pool = crate::dummy::Pool::new(2).unwrap();
        assert_eq!(pool.map(|x: u32| x + 1, [1, 2]).unwrap(), [2, 3]);
        assert_eq!(
            ThreadPool::new(0).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
}
