//! [`IMap`]: the lazy `imap` and `imap_unordered`, with a bounded number of chunks in flight.
//!
//! Python's `imap` feeds the whole input to the pool from a thread, so an endless input fills
//! memory. Here the iterator itself submits chunks as results are consumed: at most
//! [`lookahead`](IMap::lookahead) chunks' worth of items are submitted and not yet yielded (by
//! default two chunks per worker, and at least 64 items per worker), so an
//! endless input runs in bounded memory. It submits in batches (once a quarter of the
//! lookahead is free), so small chunks cost one wake-up of the pool per batch, not per item.
//! Dropping the iterator drops the chunks no worker has taken; `close`, `join` and `Drop` of
//! the pool never wait for it.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;

use multiprocessing_core::code::CodeWire;
use multiprocessing_core::codec;
use multiprocessing_core::time::Deadline;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::pool::Task;
use crate::remote::Dispatch;
use crate::result::{Job, decode_chunk};

/// The default lookahead covers at least this many items per worker, so one-item chunks
/// keep every worker's window of short tasks full.
pub(crate) const MIN_LOOKAHEAD_ITEMS: usize = 64;

/// What a chunk sends back: its index, its number of items, its results or its error.
pub(crate) type Arrival<R> = (usize, usize, Result<Vec<R>>);

/// Where chunks send their outcome: the iterator's channel, and the task of an `.await`ing
/// consumer to wake (a blocking consumer waits in the channel itself).
pub(crate) struct ArrivalTx<R> {
    tx: Sender<Arrival<R>>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl<R> Clone for ArrivalTx<R> {
    fn clone(&self) -> Self {
        ArrivalTx {
            tx: self.tx.clone(),
            waker: Arc::clone(&self.waker),
        }
    }
}

impl<R> ArrivalTx<R> {
    /// Sends a chunk's outcome (dropped when the iterator is gone), then wakes its awaiting task.
    pub(crate) fn send(&self, arrival: Arrival<R>) {
        let _ = self.tx.send(arrival);
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The iterator of [`Pool::imap`](crate::Pool::imap) and
/// [`Pool::imap_unordered`](crate::Pool::imap_unordered): each item's result (in input
/// order for `imap`, as they finish for `imap_unordered`); a failed chunk gives its error once
/// per item.
///
/// An [`ExactSizeIterator`] when the input is one (while the pool runs), so a progress bar
/// knows the total:
///
/// ```
/// use multiprocessing_pool::Pool;
/// fn square(x: u64) -> u64 { x * x }
/// let pool = Pool::new(2)?;
/// let inputs: Vec<u64> = (0..10).collect(); // a `Range<u64>` is not an ExactSizeIterator
/// let mut results = pool.imap(square, inputs)?;
/// assert_eq!(results.len(), 10);
/// assert_eq!(results.next().transpose()?, Some(0));
/// assert_eq!(results.len(), 9);
/// let rest: Vec<u64> = results.collect::<Result<_, _>>()?;
/// assert_eq!(rest, [1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// # Ok::<(), multiprocessing_pool::Error>(())
/// ```
///
/// With [indicatif](https://docs.rs/indicatif)'s `ProgressIterator`, a progress bar over the
/// results (drawn on stderr, and hidden when stderr is not a terminal):
///
/// ```
/// use indicatif::ProgressIterator;
/// use multiprocessing_pool::Pool;
/// fn square(x: u64) -> u64 { x * x }
/// let pool = Pool::new(2)?;
/// let inputs: Vec<u64> = (0..100).collect();
/// let mut total = 0;
/// for result in pool.imap(square, inputs)?.progress() {
///     total += result?;
/// }
/// assert_eq!(total, 328_350);
/// # Ok::<(), multiprocessing_pool::Error>(())
/// ```
#[doc(alias = "IMapIterator")]
#[doc(alias = "IMapUnorderedIterator")]
#[must_use = "an imap submits more work only as it is iterated"]
pub struct IMap<'p, A, R, I> {
    /// Where chunks run: the process pool's workers, or a thread pool's threads.
    backend: Box<dyn Submit<A, R> + Send + 'p>,
    input: I,
    chunksize: usize,
    lookahead: usize,
    ordered: bool,
    tx: ArrivalTx<R>,
    rx: Receiver<Arrival<R>>,
    /// Set when the iterator is dropped: its queued chunks are skipped.
    abandoned: Arc<AtomicBool>,
    /// Chunks submitted so far (the next chunk's index).
    submitted: usize,
    /// Chunks sent back and not yet moved to `ready`, by index (`imap` only).
    arrived: BTreeMap<usize, (usize, Result<Vec<R>>)>,
    /// The next chunk to yield (`imap` only).
    next_chunk: usize,
    /// Chunks submitted and not yet sent back.
    in_flight: usize,
    /// Items in chunks submitted and not yet moved to `ready`.
    items_pending: usize,
    /// Chunks to yield from, in order, kept whole (not item by item).
    ready: VecDeque<Ready<R>>,
    /// Items left in `ready`.
    ready_len: usize,
    input_done: bool,
}

impl<A, R, I> fmt::Debug for IMap<'_, A, R, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMap")
            .field("ordered", &self.ordered)
            .field("chunksize", &self.chunksize)
            .field("lookahead", &self.lookahead)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

/// A chunk's outcome waiting to be yielded: its values, or its error once per item.
enum Ready<R> {
    Values(std::vec::IntoIter<R>),
    Failed { error: Error, left: usize },
}

/// One chunk of an `imap`: sends its outcome to the iterator, once.
struct ChunkJob<R> {
    tx: Mutex<ArrivalTx<R>>,
    index: usize,
    len: usize,
    abandoned: Arc<AtomicBool>,
    state: Mutex<(bool, bool)>, // (started, decided)
}

impl<R: Send> ChunkJob<R> {
    fn decide(&self, result: Result<Vec<R>>) {
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.1 {
                return;
            }
            st.1 = true;
        }
        // The iterator may be gone: nobody wants the result then.
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        tx.send((self.index, self.len, result));
    }
}

impl<R: DeserializeOwned + Send> Job for ChunkJob<R> {
    fn start(&self) -> bool {
        if self.abandoned.load(Ordering::Relaxed) {
            return false;
        }
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0 = true;
        !st.1
    }

    /// Always: a chunk of an `imap` cannot be cancelled on its own (a dropped iterator skips
    /// what is still queued), so it may wait in a worker's window behind other tasks.
    fn claimed(&self) -> bool {
        true
    }

    fn deliver(&self, index: usize, items: Range<usize>, bytes: &[u8], worker: &str) {
        self.decide(decode_chunk(index, items.len(), bytes, worker));
    }

    fn fail(&self, error: Error) {
        self.decide(Err(error));
    }

    fn finish_empty(&self) {
        self.decide(Ok(Vec::new()));
    }
}

/// A chunk whose tasks all vanished undecided (only if the pool's handler failed) must not
/// leave the iterator waiting for ever.
impl<R> Drop for ChunkJob<R> {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if !st.1 {
            let tx = self.tx.get_mut().unwrap_or_else(|p| p.into_inner());
            tx.send((
                self.index,
                self.len,
                Err(Error::Broken(
                    "the pool stopped before the chunk finished".into(),
                )),
            ));
        }
    }
}

/// Queues one chunk of an [`IMap`] on a pool.
pub(crate) trait Submit<A, R> {
    /// Queues chunk `index` (its first item is item `start`), whose outcome goes to `tx` once
    /// (the error [`Error::Terminated`] if it is dropped unrun); it is skipped once
    /// `abandoned` is set. An error (the pool is not running) means nothing was queued.
    fn submit(
        &self,
        index: usize,
        start: usize,
        chunk: Vec<A>,
        tx: &ArrivalTx<R>,
        abandoned: &Arc<AtomicBool>,
    ) -> Result<()>;

    /// Queues what [`submit`](Self::submit) may have held back, at once; on an error (the pool
    /// is not running) those chunks fail with it.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

/// The process pool's chunks: encoded, and run by a worker's trampoline; queued a batch at a
/// time.
pub(crate) struct ProcessChunks<'p> {
    pub(crate) pool: &'p dyn Dispatch,
    pub(crate) code: Arc<CodeWire>,
    pub(crate) batch: RefCell<Vec<Task>>,
}

impl<A: Serialize, R: DeserializeOwned + Send + 'static> Submit<A, R> for ProcessChunks<'_> {
    fn submit(
        &self,
        index: usize,
        start: usize,
        chunk: Vec<A>,
        tx: &ArrivalTx<R>,
        abandoned: &Arc<AtomicBool>,
    ) -> Result<()> {
        let len = chunk.len();
        let args = encode_chunk(chunk)?;
        let job: Arc<dyn Job> = Arc::new(ChunkJob::<R> {
            tx: Mutex::new(tx.clone()),
            index,
            len,
            abandoned: Arc::clone(abandoned),
            state: Mutex::new((false, false)),
        });
        let task = Task::new(job, index, start..start + len, Arc::clone(&self.code), args);
        self.batch.borrow_mut().push(task);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        let tasks = std::mem::take(&mut *self.batch.borrow_mut());
        if tasks.is_empty() {
            return Ok(());
        }
        let mut tasks = tasks.into_iter();
        let queued = self.pool.enqueue(&mut tasks.by_ref());
        if let Err(e) = &queued {
            for task in tasks {
                task.fail(e.duplicate());
            }
        }
        queued
    }
}

impl<'p, A, R, I> IMap<'p, A, R, I>
where
    I: Iterator<Item = A>,
{
    /// An iterator over `input` whose chunks go to `backend`, a pool of `processes` workers
    /// (the caller checked that it runs).
    pub(crate) fn new(
        backend: Box<dyn Submit<A, R> + Send + 'p>,
        processes: usize,
        input: I,
        chunksize: usize,
        ordered: bool,
    ) -> Self {
        let (tx, rx) = channel();
        let tx = ArrivalTx {
            tx,
            waker: Arc::new(Mutex::new(None)),
        };
        let mut imap = IMap {
            backend,
            input,
            chunksize: chunksize.max(1),
            lookahead: (2 * processes)
                .max((MIN_LOOKAHEAD_ITEMS * processes).div_ceil(chunksize.max(1))),
            ordered,
            tx,
            rx,
            abandoned: Arc::new(AtomicBool::new(false)),
            submitted: 0,
            arrived: BTreeMap::new(),
            next_chunk: 0,
            in_flight: 0,
            items_pending: 0,
            ready: VecDeque::new(),
            ready_len: 0,
            input_done: false,
        };
        imap.top_up();
        imap
    }

    /// Keeps at most `chunks` chunks' worth of items submitted and not yet yielded (at least
    /// one chunk); by default two chunks per worker, and at least 64 items per
    /// worker. `usize::MAX` submits the whole input as fast as the iterator is polled, as
    /// Python does (an endless input then grows without bound).
    pub fn lookahead(mut self, chunks: usize) -> Self {
        self.lookahead = chunks.max(1);
        self.top_up();
        self
    }

    /// Whether more may be submitted: fewer than `lookahead` chunks' worth of items are
    /// submitted and not yet yielded.
    fn has_room(&self) -> bool {
        self.items_pending + self.ready_len < self.lookahead.saturating_mul(self.chunksize)
    }

    /// Submits the next chunk of the input; `false` when the input is exhausted.
    fn submit_one(&mut self) -> bool {
        let chunk: Vec<A> = self.input.by_ref().take(self.chunksize).collect();
        if chunk.is_empty() {
            self.input_done = true;
            return false;
        }
        let index = self.submitted;
        let len = chunk.len();
        let start = index * self.chunksize;
        self.submitted += 1;
        self.items_pending += len;
        match self
            .backend
            .submit(index, start, chunk, &self.tx, &self.abandoned)
        {
            Ok(()) => self.in_flight += 1,
            Err(e) => {
                // This chunk's items give the error; a pool that stopped takes no more.
                if matches!(e, Error::NotRunning | Error::Broken(_) | Error::Interrupted) {
                    self.input_done = true;
                }
                self.arrive(index, len, Err(e));
            }
        }
        true
    }

    /// Submits up to the lookahead, once a quarter of it (at least a chunk) is free.
    fn top_up(&mut self) {
        let cap = self.lookahead.saturating_mul(self.chunksize);
        let used = self.items_pending + self.ready_len;
        let free = cap.saturating_sub(used);
        if self.input_done || (used > 0 && free < (cap / 4).max(self.chunksize)) {
            return;
        }
        while !self.input_done && self.has_room() {
            if !self.submit_one() {
                break;
            }
        }
        if let Err(e) = self.backend.flush()
            && matches!(e, Error::NotRunning | Error::Broken(_) | Error::Interrupted)
        {
            // The chunks held back got the error; a pool that stopped takes no more.
            self.input_done = true;
        }
    }

    /// A chunk's outcome, in order for `imap`, at once for `imap_unordered`.
    fn arrive(&mut self, index: usize, len: usize, result: Result<Vec<R>>) {
        if self.ordered {
            self.arrived.insert(index, (len, result));
            while let Some((len, result)) = self.arrived.remove(&self.next_chunk) {
                self.next_chunk += 1;
                self.expand(len, result);
            }
        } else {
            self.expand(len, result);
        }
    }

    fn expand(&mut self, len: usize, result: Result<Vec<R>>) {
        self.items_pending -= len;
        match result {
            Ok(values) => {
                self.ready_len += values.len();
                self.ready.push_back(Ready::Values(values.into_iter()));
            }
            Err(error) if len > 0 => {
                self.ready_len += len;
                self.ready.push_back(Ready::Failed { error, left: len });
            }
            Err(_) => {}
        }
    }

    /// The next item of the chunks ready to yield.
    fn pop_ready(&mut self) -> Option<Result<R>> {
        loop {
            let item = match self.ready.front_mut()? {
                Ready::Values(values) => values.next().map(Ok),
                Ready::Failed { error, left } if *left > 1 => {
                    *left -= 1;
                    Some(Err(error.duplicate()))
                }
                Ready::Failed { .. } => match self.ready.pop_front() {
                    Some(Ready::Failed { error, .. }) => {
                        self.ready_len -= 1;
                        return Some(Err(error));
                    }
                    _ => None,
                },
            };
            match item {
                Some(item) => {
                    self.ready_len -= 1;
                    return Some(item);
                }
                None => {
                    self.ready.pop_front();
                }
            }
        }
    }

    fn next_until(&mut self, deadline: Deadline) -> Option<Result<R>> {
        loop {
            if let Some(item) = self.pop_ready() {
                self.top_up();
                return Some(item);
            }
            if self.in_flight == 0 {
                // Nothing will arrive: everything submitted was yielded.
                if self.input_done {
                    return None;
                }
                self.top_up();
                continue;
            }
            let (index, len, result) = match deadline.remaining() {
                None => match self.rx.recv() {
                    Ok(a) => a,
                    // Unreachable: this iterator holds a sender.
                    Err(_) => return None,
                },
                Some(left) => match self.rx.recv_timeout(left) {
                    Ok(a) => a,
                    Err(RecvTimeoutError::Timeout) => return Some(Err(Error::Timeout)),
                    Err(RecvTimeoutError::Disconnected) => return None,
                },
            };
            self.in_flight -= 1;
            self.arrive(index, len, result);
        }
    }

    /// The next result, or `Pending` with `cx`'s task to be woken when a chunk arrives.
    /// Everything taken is kept in `self`, so a consumer that stops polling loses nothing.
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<R>>> {
        let mut registered = false;
        loop {
            if let Some(item) = self.pop_ready() {
                self.top_up();
                return Poll::Ready(Some(item));
            }
            if self.in_flight == 0 {
                if self.input_done {
                    return Poll::Ready(None);
                }
                self.top_up();
                continue;
            }
            match self.rx.try_recv() {
                Ok((index, len, result)) => {
                    self.in_flight -= 1;
                    self.arrive(index, len, result);
                }
                // Unreachable: this iterator holds a sender.
                Err(TryRecvError::Disconnected) => return Poll::Ready(None),
                Err(TryRecvError::Empty) if registered => return Poll::Pending,
                Err(TryRecvError::Empty) => {
                    // Registered, then looked again: a chunk sent in between is seen now.
                    let mut slot = self.tx.waker.lock().unwrap_or_else(|p| p.into_inner());
                    match &mut *slot {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        slot => *slot = Some(cx.waker().clone()),
                    }
                    registered = true;
                }
            }
        }
    }

    /// The next result, awaited: the [`Stream`] form's `next` without a `StreamExt` in scope.
    /// Cancel-safe: a dropped future loses no result, the next call returns it.
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
    /// let pool = Pool::new(2)?;
    /// let total = block_on(async {
    ///     let mut squares = pool.imap(square, 1..=4)?;
    ///     let mut total = 0;
    ///     while let Some(square) = squares.next_async().await {
    ///         total += square?;
    ///     }
    ///     Ok::<_, multiprocessing_pool::Error>(total)
    /// })?;
    /// assert_eq!(total, 30);
    /// # Ok::<(), multiprocessing_pool::Error>(())
    /// ```
    #[doc(alias = "__anext__")]
    pub fn next_async(&mut self) -> impl Future<Output = Option<Result<R>>> + '_ {
        std::future::poll_fn(move |cx| self.poll_item(cx))
    }

    /// The next result, waiting at most `timeout` (Python's `next(timeout)`):
    /// `Some(Err(Error::Timeout))` when none is ready in time, which consumes no item.
    #[doc(alias = "next")]
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R>> {
        self.next_until(Deadline::after(timeout))
    }
}

impl<A, R, I> Iterator for IMap<'_, A, R, I>
where
    I: Iterator<Item = A>,
{
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.next_until(Deadline::never())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let known = self.ready_len + self.items_pending;
        if self.input_done {
            return (known, Some(known));
        }
        let (low, high) = self.input.size_hint();
        (
            known.saturating_add(low),
            high.and_then(|h| h.checked_add(known)),
        )
    }
}

/// The async form of `imap` and `imap_unordered`: the same items, in the same order, awaited
/// without a thread (chunks arriving wake the task). Polling it submits chunks as iterating
/// does, within the same lookahead.
///
/// Cancel-safe: an item is taken from the pool's replies into the stream before it is yielded,
/// so dropping a `next()` future loses nothing. Dropping the stream itself drops the chunks no
/// worker has taken, as dropping the iterator does; the pool and its other calls go on.
impl<A, R, I> Stream for IMap<'_, A, R, I>
where
    I: Iterator<Item = A>,
{
    type Item = Result<R>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<R>>> {
        self.get_mut().poll_item(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        Iterator::size_hint(self)
    }
}

/// Nothing of an [`IMap`] is pinned in place (its input is only ever borrowed as `&mut`).
impl<A, R, I> Unpin for IMap<'_, A, R, I> {}

/// Exact while the pool runs: a pool closed mid-iteration ends the iteration early.
impl<A, R, I> ExactSizeIterator for IMap<'_, A, R, I> where I: ExactSizeIterator<Item = A> {}

impl<A, R, I> Drop for IMap<'_, A, R, I> {
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

/// Encodes a chunk of one-argument items as the worker's trampoline reads it (the items
/// themselves, see `map_trampoline`).
pub(crate) fn encode_chunk<A: Serialize>(chunk: Vec<A>) -> Result<Vec<u8>> {
    codec::encode(&chunk).map_err(|e| Error::Codec(format!("could not encode the arguments: {e}")))
}
