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
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use multiprocessing_core::outcome::Outcome;

use crate::error::{Error, Result};
use crate::pool::{Callbacks, default_chunksize};
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

fn first<R>(values: Vec<R>) -> Option<R> {
    values.into_iter().next()
}

impl ThreadPool {
    /// A pool of `processes` threads (Python's `ThreadPool(processes)`).
    pub fn new(processes: usize) -> Result<ThreadPool> {
        if processes == 0 {
            return Err(Error::InvalidArgument(
                "the number of processes must be at least 1".into(),
            ));
        }
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
    fn the_dummy_module_names_it_pool() {
        let pool = crate::dummy::Pool::new(2).unwrap();
        assert_eq!(pool.map(|x: u32| x + 1, [1, 2]).unwrap(), [2, 3]);
        assert_eq!(
            ThreadPool::new(0).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
}
