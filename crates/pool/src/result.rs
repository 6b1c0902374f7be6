//! [`AsyncResult`]: a call's result that arrives later, and the parent-side collectors that
//! assemble it from its tasks' replies.
//!
//! A call (`apply_async`, `map_async`, ...) becomes one or more tasks; each task's reply is
//! decoded in the parent by the call's collector, which finishes the result when every task
//! has answered, or fails it at the first error. The callback (or error callback) runs once, in
//! the parent, before `get` returns, as Python's do.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use multiprocessing_core::codec;
use multiprocessing_core::outcome::Outcome;
use multiprocessing_core::time::{Deadline, TimedOut};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

pub(crate) type Callback<T> = Box<dyn FnOnce(&T) + Send>;
pub(crate) type ErrorCallback = Box<dyn FnOnce(&Error) + Send>;

/// Where a call's result lands: shared by the [`AsyncResult`] and the call's collector.
pub(crate) struct Cell<T> {
    state: Mutex<CellState<T>>,
    cond: Condvar,
}

struct CellState<T> {
    /// A worker took one of the call's tasks: too late to cancel.
    started: bool,
    /// The outcome is decided (it may still be running its callback).
    decided: bool,
    result: Option<Result<T>>,
    /// Whether the result was a success, kept once the value is taken.
    succeeded: Option<bool>,
    callback: Option<Callback<T>>,
    error_callback: Option<ErrorCallback>,
    /// The tasks `.await`ing the result, woken once it is ready (one per future, several
    /// when `&mut AsyncResult`s were awaited and dropped: a stale one is woken for nothing).
    wakers: Vec<Waker>,
}

impl<T> Cell<T> {
    pub(crate) fn new(
        callback: Option<Callback<T>>,
        error_callback: Option<ErrorCallback>,
    ) -> Self {
        Cell {
            state: Mutex::new(CellState {
                started: false,
                decided: false,
                result: None,
                succeeded: None,
                callback,
                error_callback,
                wakers: Vec::new(),
            }),
            cond: Condvar::new(),
        }
    }

    /// Marks the call started; `false` when it is decided already (cancelled): skip it.
    pub(crate) fn start(&self) -> bool {
        let mut st = self.lock();
        st.started = true;
        !st.decided
    }

    fn lock(&self) -> MutexGuard<'_, CellState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides the result once: runs its callback here, then wakes the waiters. Later calls
    /// are ignored (a map's later chunks after its first error), as is a cancellation
    /// (`unstarted_only`) once a task has started. Whether this call decided.
    pub(crate) fn decide(&self, result: Result<T>, unstarted_only: bool) -> bool {
        let (callback, error_callback) = {
            let mut st = self.lock();
            if st.decided || (unstarted_only && st.started) {
                return false;
            }
            st.decided = true;
            (st.callback.take(), st.error_callback.take())
        };
        // A panicking callback must not take the result handler down with it.
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| match &result {
            Ok(v) => {
                if let Some(cb) = callback {
                    cb(v);
                }
            }
            Err(e) => {
                if let Some(cb) = error_callback {
                    cb(e);
                }
            }
        }));
        if ran.is_err() {
            tracing::warn!("a pool callback panicked");
        }
        let mut st = self.lock();
        st.succeeded = Some(result.is_ok());
        st.result = Some(result);
        let wakers = std::mem::take(&mut st.wakers);
        drop(st);
        self.cond.notify_all();
        for waker in wakers {
            waker.wake();
        }
        true
    }

    /// Decides a call its caller never saw (its arguments could not be queued): no callback
    /// runs, and tasks of it still queued are skipped.
    pub(crate) fn abandon(&self) {
        {
            let mut st = self.lock();
            st.callback = None;
            st.error_callback = None;
        }
        self.decide(Err(Error::Cancelled), false);
    }

    /// Waits until decided; `false` when `deadline` passed first.
    fn wait(&self, deadline: Deadline) -> bool {
        let mut st = self.lock();
        while st.succeeded.is_none() {
            match deadline.remaining() {
                None => st = self.cond.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(left) if left.is_zero() => return false,
                Some(left) => {
                    st = self
                        .cond
                        .wait_timeout(st, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        true
    }

    fn take(&self) -> Result<T> {
        self.lock().result.take().unwrap_or(Err(Error::Taken))
    }
}

/// The parent's view of one call, as the result handler sees it (type-erased).
pub(crate) trait Job: Send + Sync {
    /// Marks the call started before one of its tasks goes to a worker; `false` when the call
    /// is already decided (failed, cancelled, terminated): skip the task.
    fn start(&self) -> bool;
    /// Whether a task of the call went to a worker, or the call is decided: a task of it may
    /// then wait behind another in a worker without making a cancellable call uncancellable.
    fn claimed(&self) -> bool;
    /// Task `index` (covering `items`) replied with `bytes` (an encoded `Outcome<Vec<R>>`).
    fn deliver(&self, index: usize, items: Range<usize>, bytes: &[u8], worker: &str);
    /// The call failed.
    fn fail(&self, error: Error);
    /// The call has no task (an empty `map`): its result is ready at once.
    fn finish_empty(&self);
}

/// Decodes task `index`'s reply: its `len` results, or its error.
pub(crate) fn decode_chunk<R: DeserializeOwned>(
    index: usize,
    len: usize,
    bytes: &[u8],
    worker: &str,
) -> Result<Vec<R>> {
    match codec::decode::<Outcome<Vec<R>>>(bytes) {
        Ok(Outcome::Returned(values)) if values.len() == len => Ok(values),
        Ok(Outcome::Returned(values)) => Err(Error::Codec(format!(
            "task {index} answered {} results for {len} items",
            values.len()
        ))),
        Ok(Outcome::Panicked(panic)) => Err(Error::Panicked {
            worker: worker.to_string(),
            panic,
        }),
        Err(e) => Err(Error::Codec(format!(
            "could not decode the result of task {index}: {e}"
        ))),
    }
}

/// Assembles `R`s from a call's tasks into its result `T`.
pub(crate) struct Collector<R, T> {
    cell: Arc<Cell<T>>,
    parts: Mutex<Parts<R>>,
    finish: fn(Vec<R>) -> Option<T>,
}

struct Parts<R> {
    /// Each task's results, by task index (a task covers the items after the previous one's).
    chunks: Vec<Option<Vec<R>>>,
    items: usize,
    tasks_left: usize,
}

impl<R, T> Collector<R, T> {
    pub(crate) fn new(
        cell: Arc<Cell<T>>,
        items: usize,
        tasks: usize,
        finish: fn(Vec<R>) -> Option<T>,
    ) -> Self {
        Collector {
            cell,
            parts: Mutex::new(Parts {
                chunks: (0..tasks).map(|_| None).collect(),
                items,
                tasks_left: tasks,
            }),
            finish,
        }
    }
}

impl<R, T> Job for Collector<R, T>
where
    R: DeserializeOwned + Send,
    T: Send,
{
    fn start(&self) -> bool {
        self.cell.start()
    }

    fn claimed(&self) -> bool {
        let st = self.cell.lock();
        st.started || st.decided
    }

    fn deliver(&self, index: usize, items: Range<usize>, bytes: &[u8], worker: &str) {
        let values = match decode_chunk::<R>(index, items.len(), bytes, worker) {
            Ok(v) => v,
            Err(e) => return self.fail(e),
        };
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        match parts.chunks.get_mut(index) {
            Some(slot @ None) => *slot = Some(values),
            _ => {
                drop(parts);
                return self.fail(Error::Codec(format!("task {index} answered twice")));
            }
        }
        parts.tasks_left -= 1;
        if parts.tasks_left == 0 {
            let mut values = Vec::with_capacity(parts.items);
            let mut whole = true;
            for chunk in parts.chunks.drain(..) {
                match chunk {
                    Some(chunk) => values.extend(chunk),
                    None => whole = false,
                }
            }
            drop(parts);
            match whole.then_some(values).and_then(self.finish) {
                Some(v) => {
                    self.cell.decide(Ok(v), false);
                }
                None => self.fail(Error::Codec("a result is missing".into())),
            }
        }
    }

    fn fail(&self, error: Error) {
        self.cell.decide(Err(error), false);
    }

    fn finish_empty(&self) {
        match (self.finish)(Vec::new()) {
            Some(v) => self.cell.decide(Ok(v), false),
            None => self
                .cell
                .decide(Err(Error::Codec("a result is missing".into())), false),
        };
    }
}

/// A call whose every task is gone without deciding it (only if the result handler itself
/// failed) must not leave its waiters blocked for ever.
impl<R, T> Drop for Collector<R, T> {
    fn drop(&mut self) {
        self.cell.decide(
            Err(Error::Broken(
                "the pool stopped before the call finished".into(),
            )),
            false,
        );
    }
}

/// The result of an `_async` call, ready once every task of the call has answered (Python's
/// `AsyncResult`; `concurrent.futures.Future` for [`cancel`](Self::cancel)).
///
/// Never blocks for ever on a lost worker: its task fails with
/// [`WorkerLost`](crate::ErrorKind::WorkerLost), and dropping or terminating the pool fails the
/// rest with [`Error::Terminated`].
///
/// ```
/// use std::time::Duration;
/// use multiprocessing_pool::Pool;
/// fn square(x: u64) -> u64 { x * x }
/// let pool = Pool::new(2)?;
/// let result = pool.apply_async(square, (7,))?;
/// result.wait_timeout(Duration::from_secs(30))?;
/// assert!(result.successful()?);
/// assert_eq!(result.get()?, 49);
/// # Ok::<(), multiprocessing_pool::Error>(())
/// ```
#[doc(alias = "ApplyResult")]
#[doc(alias = "MapResult")]
#[doc(alias = "Future")]
#[must_use = "the result of a call is only seen through its AsyncResult"]
pub struct AsyncResult<T> {
    pub(crate) cell: Arc<Cell<T>>,
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish_non_exhaustive()
    }
}

impl<T> AsyncResult<T> {
    /// Waits for the result and returns it, or the call's error.
    pub fn get(self) -> Result<T> {
        self.cell.wait(Deadline::from_timeout(None));
        self.cell.take()
    }

    /// Waits at most `timeout` for the result: [`Error::Timeout`] (the result stays to be
    /// taken later) when it is not ready in time; [`Error::Taken`] once an earlier call took it.
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<T> {
        if !self.cell.wait(Deadline::after(timeout)) {
            return Err(Error::Timeout);
        }
        self.cell.take()
    }

    /// Waits until the result is ready.
    pub fn wait(&self) {
        self.cell.wait(Deadline::from_timeout(None));
    }

    /// Waits at most `timeout` for the result to be ready; [`TimedOut`] when it is not
    /// (Python's `wait(timeout)` then `ready()` is `False`). Nothing else can fail: the
    /// call's own error is [`get`](Self::get)'s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiprocessing_pool::Pool;
    /// fn nap(ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms }
    /// let pool = Pool::new(1)?;
    /// let slow = pool.apply_async(nap, (60_000,))?;
    /// assert!(slow.wait_timeout(Duration::from_millis(10)).is_err());
    /// assert!(!slow.ready());
    /// pool.terminate();
    /// # Ok::<(), multiprocessing_pool::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> std::result::Result<(), TimedOut> {
        if self.cell.wait(Deadline::after(timeout)) {
            Ok(())
        } else {
            Err(TimedOut)
        }
    }

    /// Whether the result is ready (the callback, if any, has run).
    #[must_use]
    pub fn ready(&self) -> bool {
        self.cell.lock().succeeded.is_some()
    }

    /// Whether the call succeeded; [`Error::NotReady`] before it is ready (Python's
    /// `ValueError`).
    pub fn successful(&self) -> Result<bool> {
        self.cell.lock().succeeded.ok_or(Error::NotReady)
    }

    /// Cancels the call if no worker has started any of its tasks: its result becomes
    /// [`Error::Cancelled`] (the error callback runs here) and `true` is returned. `false` when
    /// a task has started or the result is decided. Python's pool has no such call;
    /// `concurrent.futures.Future.cancel` is its model.
    pub fn cancel(&self) -> bool {
        self.cell.decide(Err(Error::Cancelled), true)
    }
}

/// `.await` an [`AsyncResult`] in async code: the result, or the call's error. Waiting costs
/// no thread; the pool's result handler wakes the task.
///
/// ```
/// use multiprocessing_pool::Pool;
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::sync::Arc;
/// #     use std::task::{Context, Poll, Wake, Waker};
/// #     struct Unpark(std::thread::Thread);
/// #     impl Wake for Unpark { fn wake(self: Arc<Self>) { self.0.unpark() } }
/// #     let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) { return v; }
/// #         std::thread::park();
/// #     }
/// # }
/// fn square(x: u64) -> u64 { x * x }
/// let pool = Pool::new(1)?;
/// let result = pool.apply_async(square, (12,))?;
/// assert_eq!(block_on(async { result.await })?, 144);
/// # Ok::<(), multiprocessing_pool::Error>(())
/// ```
impl<T> IntoFuture for AsyncResult<T> {
    type Output = Result<T>;
    type IntoFuture = ResultFuture<T>;

    fn into_future(self) -> ResultFuture<T> {
        ResultFuture { cell: self.cell }
    }
}

/// `.await` a borrowed [`AsyncResult`]: the result once ready, as [`get`](AsyncResult::get)
/// gives it. Dropping the future before then (a `tokio::time::timeout` that elapsed) leaves the
/// result in the `AsyncResult`, for a later `.await` or `get`; once taken, a later one gives
/// [`Error::Taken`], as after [`get_timeout`](AsyncResult::get_timeout).
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// use multiprocessing_pool::Pool;
/// fn square(x: u64) -> u64 { x * x }
/// let pool = Pool::new(1)?;
/// let mut result = pool.apply_async(square, (12,))?;
/// // Polled once, then dropped: the result stays.
/// let mut early = std::pin::pin!((&mut result).into_future());
/// let _ = early.as_mut().poll(&mut Context::from_waker(Waker::noop()));
/// assert_eq!(result.get()?, 144);
/// # Ok::<(), multiprocessing_pool::Error>(())
/// ```
impl<T> IntoFuture for &mut AsyncResult<T> {
    type Output = Result<T>;
    type IntoFuture = ResultFuture<T>;

    fn into_future(self) -> ResultFuture<T> {
        ResultFuture {
            cell: Arc::clone(&self.cell),
        }
    }
}

/// The future of an [`AsyncResult`] (its [`IntoFuture`]).
#[must_use = "futures do nothing unless polled"]
pub struct ResultFuture<T> {
    cell: Arc<Cell<T>>,
}

impl<T> fmt::Debug for ResultFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultFuture").finish_non_exhaustive()
    }
}

impl<T> Future for ResultFuture<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut st = self.cell.lock();
        if st.succeeded.is_some() {
            return Poll::Ready(st.result.take().unwrap_or(Err(Error::Taken)));
        }
        if !st.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            st.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
