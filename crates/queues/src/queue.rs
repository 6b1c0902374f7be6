//! [`Queue`]: a FIFO between processes, Python's `multiprocessing.Queue`.
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_queues::{GetTimeoutError, Queue};
//!
//! let q = Queue::new().unwrap();
//! q.put(vec![42, 7]).unwrap(); // returns at once: the item is in shared memory
//! assert_eq!(q.qsize(), 1);
//! assert_eq!(q.get().unwrap(), vec![42, 7]);
//! // Alone with an empty queue: nothing can ever arrive.
//! assert!(matches!(
//!     q.get_timeout(Duration::from_secs(5)),
//!     Err(GetTimeoutError::Disconnected)
//! ));
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::time::Duration;

use multiprocessing_core::time::Deadline;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::channel::{self, Channel, Kind};
use crate::error::{
    Error, GetError, GetTimeoutError, PutError, PutTimeoutError, Result, TryGetError, TryPutError,
};
use crate::handle::Handle;

/// A multi-producer, multi-consumer FIFO of `T` between processes and threads.
///
/// Hand a clone to a child process as an argument (under every start method), or send it over
/// a `Connection`; every handle, in every process, reaches the same queue. Items put by one
/// producer arrive in the order it put them. `T` travels encoded (postcard), so it is any serde
/// type without file descriptors (a `Lock` or `Connection` cannot travel through a queue: its
/// `put` fails with [`ErrorKind::Codec`](crate::ErrorKind::Codec)).
///
/// Clones made in one process are the same Python object: [`close`](Self::close) on one closes
/// them all in that process, and only there.
pub struct Queue<T> {
    pub(crate) handle: Handle,
    _t: PhantomData<fn(T) -> T>,
}

/// Options for a new [`Queue`] or [`JoinableQueue`](crate::JoinableQueue).
///
/// ```
/// use multiprocessing_queues::Queue;
/// let q = Queue::<String>::builder().maxsize(2).capacity(1 << 16).build().unwrap();
/// assert_eq!(q.maxsize(), 2);
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct QueueBuilder<T> {
    maxsize: usize,
    capacity: usize,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> QueueBuilder<T> {
    /// How many items the queue holds before `put` blocks (Python's `maxsize`); 0, the
    /// default, for no limit. At most 2^27.
    pub fn maxsize(mut self, maxsize: usize) -> Self {
        self.maxsize = maxsize;
        self
    }

    /// The ring's size in bytes, a power of two from 4 KiB to 1 GiB (default 32 MiB). It is
    /// address space: memory backs the ring's first 4 MiB once used, and beyond them only what
    /// a burst of items fills, given back once read (a ring below 8 MiB stays as it was
    /// filled). A full ring makes a bounded queue's `put` wait; an unbounded queue's sends
    /// the item to the process's outbox (see [`Queue::put`]). Items larger than
    /// a quarter of the ring travel in chunks.
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes;
        self
    }

    /// Makes the queue.
    pub fn build(self) -> Result<Queue<T>> {
        Queue::make(Kind::Queue, self.maxsize, self.capacity)
    }

    /// Makes a [`JoinableQueue`](crate::JoinableQueue) with these options.
    pub fn build_joinable(self) -> Result<crate::JoinableQueue<T>> {
        Queue::make(Kind::Joinable, self.maxsize, self.capacity).map(crate::JoinableQueue::wrap)
    }
}

impl<T> Queue<T> {
    pub(crate) fn make(kind: Kind, maxsize: usize, capacity: usize) -> Result<Queue<T>> {
        let ch = Channel::create(kind, channel::type_hash::<T>(), capacity, maxsize)?;
        Ok(Queue {
            handle: Handle::first(ch),
            _t: PhantomData,
        })
    }

    pub(crate) fn channel(&self) -> &Channel {
        &self.handle.ch
    }

    /// An unbounded queue, Python's `Queue()`.
    pub fn new() -> Result<Queue<T>> {
        Queue::builder().build()
    }

    /// A queue that holds at most `maxsize` items, Python's `Queue(maxsize)`; 0 for no limit.
    pub fn with_maxsize(maxsize: usize) -> Result<Queue<T>> {
        Queue::builder().maxsize(maxsize).build()
    }

    /// Options: `maxsize` and the ring's capacity.
    pub fn builder() -> QueueBuilder<T> {
        QueueBuilder {
            maxsize: 0,
            capacity: channel::DEFAULT_CAPACITY,
            _t: PhantomData,
        }
    }

    /// The `maxsize` given at creation, 0 for unbounded.
    #[must_use]
    pub fn maxsize(&self) -> usize {
        self.channel().maxsize()
    }

    /// The ring's capacity in bytes.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.channel().capacity()
    }

    /// How many items are in the queue now (exact at the instant it is read; other processes
    /// may change it right after).
    #[must_use]
    pub fn qsize(&self) -> usize {
        self.channel().qsize()
    }

    /// Alias of [`qsize`](Self::qsize).
    #[must_use]
    pub fn len(&self) -> usize {
        self.qsize()
    }

    /// Whether the queue holds no item now, Python's `empty()`.
    #[must_use]
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Python's name for [`is_empty`](Self::is_empty).
    #[must_use]
    pub fn empty(&self) -> bool {
        self.is_empty()
    }

    /// Whether the queue holds `maxsize` items now, Python's `full()` (never for unbounded).
    #[must_use]
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        self.channel().full()
    }

    /// Python's name for [`is_full`](Self::is_full).
    #[must_use]
    pub fn full(&self) -> bool {
        self.is_full()
    }

    /// Items lost: to a process killed in the middle of them (a consumer between two chunks of
    /// a large item, a producer between two chunks of one), left in the outbox of a producer
    /// that was killed, or dropped by one that exited while its outbox made no progress (see
    /// [`cancel_join_thread`](Self::cancel_join_thread)). Small items in the ring are never
    /// lost: they are whole in the queue or in a consumer's hands. Counted across processes.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.channel().lost()
    }

    /// Closes this process's handles: `put` and `get` on them fail with `Closed` from now on.
    /// Other processes' handles are unaffected, and items already put stay in the queue.
    pub fn close(&self) {
        self.channel().close();
    }

    /// Whether [`close`](Self::close) was called in this process.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.channel().is_closed()
    }

    /// Python's `join_thread()`: waits until everything this process put is in the queue's
    /// ring. Only an unbounded queue whose ring was full when `put` returned holds items back
    /// (in this process's outbox, which a feeder thread writes as room appears); otherwise
    /// this returns at once. Like Python, it is an error before [`close`](Self::close), and it
    /// waits as long as it takes: a reader must make room.
    pub fn join_thread(&self) -> Result<()> {
        if !self.is_closed() {
            return Err(Error::NotClosed);
        }
        crate::feeder::join(self.channel());
        Ok(())
    }

    /// Python's `cancel_join_thread()`: at exit, this process does not wait for its outbox
    /// (the items an unbounded queue's `put` could not write into a full ring) and drops it
    /// at once, counting the items in [`lost`](Self::lost) and reporting them through
    /// `tracing`. Without it, an exiting process waits for the outbox as long as readers make
    /// progress, and at most a few seconds without any.
    pub fn cancel_join_thread(&self) {
        self.channel().cancelled.store(true, Ordering::Release);
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// Puts `value`, waiting while the queue holds `maxsize` items. On an unbounded queue it
    /// returns at once, as in Python: an item the ring has no room for now waits in this
    /// process's outbox for a feeder thread (see [`join_thread`](Self::join_thread)), and the
    /// items put after it follow it there, in order. The value is encoded here, so a value
    /// that cannot be encoded is an error now, with the value handed back.
    pub fn put(&self, value: T) -> std::result::Result<(), PutError<T>> {
        self.handle
            .put(value, Deadline::never(), true)
            .map_err(PutError::from)
    }

    /// Puts `value`, waiting at most `timeout` for room, Python's `put(obj, timeout=t)`.
    /// Any duration is accepted (`Duration::MAX` waits forever).
    pub fn put_timeout(
        &self,
        value: T,
        timeout: Duration,
    ) -> std::result::Result<(), PutTimeoutError<T>> {
        self.handle
            .put(value, Deadline::after(timeout), true)
            .map_err(PutTimeoutError::from)
    }

    /// Puts `value` only if there is room now, Python's `put_nowait` (`put(obj, False)`). It
    /// never blocks: on a bounded queue, a queue holding `maxsize` items, a ring without room
    /// for the whole item, or a write lock that another writer holds for more than a
    /// millisecond (a writer of a chunked item waiting for room) is `Full(value)`. On an
    /// unbounded queue it is [`put`](Self::put), which never blocks there.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, value: T) -> std::result::Result<(), TryPutError<T>> {
        self.handle
            .put(value, Deadline::after(Duration::ZERO), false)
            .map_err(TryPutError::from)
    }

    /// Takes the next item, waiting for one. Fails with `Disconnected` when the queue is empty
    /// and no other handle to it exists in any process (Python waits forever there).
    pub fn get(&self) -> std::result::Result<T, GetError> {
        self.handle.get(Deadline::never()).map_err(GetError::from)
    }

    /// Takes the next item, waiting at most `timeout`, Python's `get(timeout=t)`.
    pub fn get_timeout(&self, timeout: Duration) -> std::result::Result<T, GetTimeoutError> {
        self.handle
            .get(Deadline::after(timeout))
            .map_err(GetTimeoutError::from)
    }

    /// Takes an item only if one is there now, Python's `get_nowait` (`get(False)`). It waits
    /// a millisecond at most for another consumer copying an item out (one in the middle of a
    /// chunked item makes it `Empty`, as Python's `get_nowait` is when another reader holds
    /// its lock); once it has begun a chunked item it takes the rest as its producer writes it.
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> std::result::Result<T, TryGetError> {
        self.handle
            .get(Deadline::after(Duration::ZERO))
            .map_err(TryGetError::from)
    }

    /// [`get`](Self::get) as a future, for async code (flume's `recv_async`): the same
    /// item and errors. It never blocks its executor's thread for longer than a `try_get`
    /// does (a millisecond at most, for another consumer copying an item out); thousands of
    /// futures waiting on one queue share one waiter thread (see the crate's async section).
    ///
    /// Cancel-safe: an item is taken only in the poll that returns it, so dropping the future
    /// (under `tokio::time::timeout`, or in a `select!`) loses no item.
    #[doc(alias = "recv_async")]
    #[cfg(not(loom))]
    pub async fn get_async(&self) -> std::result::Result<T, GetError> {
        self.handle
            .get_async(Deadline::never())
            .await
            .map_err(GetError::from)
    }

    /// [`get_timeout`](Self::get_timeout) as a future: `Timeout` once `timeout` passes (kept
    /// by the waiter thread, so no runtime timer is needed).
    #[cfg(not(loom))]
    pub async fn get_async_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<T, GetTimeoutError> {
        self.handle
            .get_async(Deadline::after(timeout))
            .await
            .map_err(GetTimeoutError::from)
    }

    /// [`put`](Self::put) as a future (flume's `send_async`): the same errors, the value
    /// handed back. On an unbounded queue it is ready at its first poll, as `put` never
    /// waits there; on a bounded one it waits for room without blocking its executor's
    /// thread.
    ///
    /// Cancel-safe: the item is put only in the poll that returns `Ok`, so a future dropped
    /// before it is ready did **not** put its item (which is dropped with it).
    #[doc(alias = "send_async")]
    #[cfg(not(loom))]
    pub async fn put_async(&self, value: T) -> std::result::Result<(), PutError<T>> {
        self.handle
            .put_async(value, Deadline::never())
            .await
            .map_err(PutError::from)
    }

    /// [`put_timeout`](Self::put_timeout) as a future: `Timeout(value)` once `timeout`
    /// passes without room.
    #[cfg(not(loom))]
    pub async fn put_async_timeout(
        &self,
        value: T,
        timeout: Duration,
    ) -> std::result::Result<(), PutTimeoutError<T>> {
        self.handle
            .put_async(value, Deadline::after(timeout))
            .await
            .map_err(PutTimeoutError::from)
    }

    /// A blocking iterator over received items; it ends when [`get`](Self::get) fails
    /// (closed, or disconnected: empty with no other handle anywhere).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { queue: self }
    }

    /// An iterator over the items there now; it ends at the first [`try_get`](Self::try_get)
    /// that fails.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { queue: self }
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            handle: self.handle.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A queue handle travels to another process (as a `Process` argument or over a
/// `Connection`), inside a transfer context like every handle with a file descriptor.
impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.channel().serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Queue::receive(d, Kind::Queue)
    }
}

impl<T> Queue<T> {
    pub(crate) fn receive<'de, D: Deserializer<'de>>(
        d: D,
        kind: Kind,
    ) -> std::result::Result<Self, D::Error> {
        let ch = Channel::deserialize(d, kind, channel::type_hash::<T>())?;
        Ok(Queue {
            handle: Handle::first(ch),
            _t: PhantomData,
        })
    }
}

/// A blocking iterator over a [`Queue`], from [`Queue::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    queue: &'a Queue<T>,
}

impl<T: Serialize + DeserializeOwned> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.queue.get().ok()
    }
}

/// A non-blocking iterator over a [`Queue`], from [`Queue::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    queue: &'a Queue<T>,
}

impl<T: Serialize + DeserializeOwned> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.queue.try_get().ok()
    }
}

impl<'a, T: Serialize + DeserializeOwned> IntoIterator for &'a Queue<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
