//! [`JoinableQueue`]: a [`Queue`] that counts unfinished tasks, Python's
//! `multiprocessing.JoinableQueue`.
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_queues::{Error, JoinableQueue};
//! let q = JoinableQueue::new().unwrap();
//! q.put(1u8).unwrap();
//! assert!(q.join_timeout(Duration::from_millis(10)).is_err()); // one task unfinished
//! q.get().unwrap();
//! q.task_done().unwrap();
//! q.join(); // every task is done
//! assert!(matches!(q.task_done(), Err(Error::TooManyTaskDone)));
//! ```

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use multiprocessing_core::time::{Deadline, TimedOut};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::channel::{self, Kind};
use crate::error::Result;
use crate::queue::{Queue, QueueBuilder};

/// A [`Queue`] whose every `put` counts an unfinished task until a consumer calls
/// [`task_done`](Self::task_done); [`join`](Self::join) waits until none is left, across
/// processes. Every method of [`Queue`] is available through `Deref`.
///
/// An item lost to a killed or exiting process (see [`Queue::lost`]) counts as done, since
/// nobody can take it. A consumer killed after `get` and before `task_done` leaves its task
/// unfinished for ever, as in Python: use [`join_timeout`](Self::join_timeout) where that can
/// happen.
pub struct JoinableQueue<T> {
    inner: Queue<T>,
}

impl<T> JoinableQueue<T> {
    pub(crate) fn wrap(inner: Queue<T>) -> JoinableQueue<T> {
        JoinableQueue { inner }
    }

    /// An unbounded joinable queue.
    pub fn new() -> Result<JoinableQueue<T>> {
        Queue::make(Kind::Joinable, 0, channel::DEFAULT_CAPACITY).map(JoinableQueue::wrap)
    }

    /// A joinable queue holding at most `maxsize` items (0 for no limit).
    pub fn with_maxsize(maxsize: usize) -> Result<JoinableQueue<T>> {
        Queue::builder().maxsize(maxsize).build_joinable()
    }

    /// Options: `maxsize` and the ring's capacity; finish with
    /// [`build_joinable`](QueueBuilder::build_joinable).
    pub fn builder() -> QueueBuilder<T> {
        Queue::builder()
    }

    /// Marks one item taken with `get` as processed. An error
    /// ([`Error::TooManyTaskDone`](crate::Error::TooManyTaskDone)) when called more times
    /// than items were put, Python's `ValueError`.
    pub fn task_done(&self) -> Result<()> {
        self.inner.channel().task_done()
    }

    /// Blocks until every item put (by any process) was marked done or lost.
    pub fn join(&self) {
        self.inner.channel().join_tasks(Deadline::never());
    }

    /// Blocks until every item put was marked done, or fails with [`TimedOut`] once `timeout`
    /// passes with tasks still unfinished.
    #[doc(alias = "join")]
    pub fn join_timeout(&self, timeout: Duration) -> std::result::Result<(), TimedOut> {
        if self.inner.channel().join_tasks(Deadline::after(timeout)) {
            Ok(())
        } else {
            Err(TimedOut)
        }
    }

    /// [`join`](Self::join) as a future: ready once every item put was marked done or lost,
    /// without blocking its executor's thread. Dropping it changes nothing; for a deadline,
    /// wrap it in `tokio::time::timeout`.
    #[doc(alias = "join")]
    #[cfg(not(loom))]
    pub async fn join_async(&self) {
        self.inner.handle.join_async().await;
    }

    /// Items put and not yet marked done.
    #[must_use]
    pub fn unfinished_tasks(&self) -> usize {
        self.inner.channel().unfinished()
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.inner
    }
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("qsize", &self.qsize())
            .field("unfinished_tasks", &self.unfinished_tasks())
            .finish()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.inner.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(JoinableQueue {
            inner: Queue::receive(d, Kind::Joinable)?,
        })
    }
}
