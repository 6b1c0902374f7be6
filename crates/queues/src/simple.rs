//! [`SimpleQueue`]: the plain FIFO, Python's `multiprocessing.SimpleQueue`.
//!
//! ```
//! use multiprocessing_queues::SimpleQueue;
//! let q = SimpleQueue::new().unwrap();
//! q.put("hello".to_string()).unwrap();
//! assert!(!q.empty());
//! assert_eq!(q.get().unwrap(), "hello");
//! assert!(q.empty());
//! q.close();
//! assert!(q.put("late".to_string()).is_err());
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::channel::Kind;
use crate::error::{GetError, PutError, Result};
use crate::queue::Queue;

/// An unbounded FIFO between processes with only `put`, `get`, `empty` and `close`.
///
/// It is the same ring as [`Queue`] without a size limit, timeouts or non-blocking forms;
/// pick it where Python code used `SimpleQueue`.
pub struct SimpleQueue<T> {
    inner: Queue<T>,
}

impl<T> SimpleQueue<T> {
    /// A new, empty queue.
    pub fn new() -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            inner: Queue::make(Kind::Simple, 0, crate::channel::DEFAULT_CAPACITY)?,
        })
    }

    /// Whether the queue holds no item now.
    #[must_use]
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Python's name for [`is_empty`](Self::is_empty).
    #[must_use]
    pub fn empty(&self) -> bool {
        self.is_empty()
    }

    /// Closes this process's handles: `put` and `get` on them fail with `Closed` from now on.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// Puts `value` (encoded here: an unencodable value is an error now, handed back). It
    /// waits while the ring is full, as Python's `SimpleQueue.put` waits on its pipe: there
    /// is no feeder thread.
    pub fn put(&self, value: T) -> std::result::Result<(), PutError<T>> {
        self.inner.put(value)
    }

    /// Takes the next item, waiting for one; `Disconnected` when the queue is empty and no
    /// other handle to it exists in any process.
    pub fn get(&self) -> std::result::Result<T, GetError> {
        self.inner.get()
    }

    /// [`put`](Self::put) as a future: waits for room without blocking its executor's
    /// thread; a future dropped before it is ready did not put its item (see
    /// [`Queue::put_async`](crate::Queue::put_async)).
    #[doc(alias = "send_async")]
    #[cfg(not(loom))]
    pub async fn put_async(&self, value: T) -> std::result::Result<(), PutError<T>> {
        self.inner.put_async(value).await
    }

    /// [`get`](Self::get) as a future; cancel-safe (an item is taken only in the poll that
    /// returns it, see [`Queue::get_async`](crate::Queue::get_async)).
    #[doc(alias = "recv_async")]
    #[cfg(not(loom))]
    pub async fn get_async(&self) -> std::result::Result<T, GetError> {
        self.inner.get_async().await
    }
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("empty", &self.is_empty())
            .finish()
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.inner.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(SimpleQueue {
            inner: Queue::receive(d, Kind::Simple)?,
        })
    }
}
