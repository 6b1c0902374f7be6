//! Proxies for a manager's synchronization and queue types, with Python's methods:
//! [`QueueProxy`], [`JoinableQueueProxy`], [`AcquirerProxy`] (`Lock`, `RLock`, `Semaphore`,
//! `BoundedSemaphore`), [`ConditionProxy`], [`EventProxy`], [`BarrierProxy`] and
//! [`ArrayProxy`], and the [`SyncManager`](crate::SyncManager) methods that make them.
//!
//! Every blocking call waits in the server without blocking it, and has a `_timeout` form
//! whose expiry is an error of kind `Timeout` (`Empty`/`Full` for a queue, `BrokenBarrier` for
//! a barrier, as in Python). A lock's owner is the calling thread of the calling process;
//! if that process dies holding the lock, the server releases it for the next waiter.
//!
//! Each call is a round trip to the server. Between processes of one family on one machine the
//! `synchronize` crate's locks and the `queues` crate's queues work in shared memory instead;
//! the manager's are for processes that are unrelated, on other machines, or that already
//! share state through this manager.
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_managers::{ErrorKind, Object, manager};
//! let m = manager().unwrap();
//! // Items are `Object`s by default (any mix of kinds, as in Python) ...
//! let q = m.queue(2).unwrap();
//! q.put("hello").unwrap();
//! q.put(42).unwrap();
//! assert_eq!(q.get().unwrap(), Object::from("hello"));
//! // ... or of one serde type through a typed view.
//! let jobs = m.queue_of::<(u32, String)>(0).unwrap();
//! jobs.put((1, "build".to_string())).unwrap();
//! assert_eq!(jobs.get().unwrap(), (1, "build".to_string()));
//! let e = jobs.get_timeout(Duration::from_millis(10)).unwrap_err();
//! assert_eq!(e.kind(), ErrorKind::Empty); // Python's queue.Empty
//!
//! let lock = m.lock().unwrap();
//! {
//!     let _held = lock.lock().unwrap(); // released when the guard drops
//!     assert!(lock.try_lock().unwrap().is_none()); // a Lock is not re-entrant
//! }
//! let event = m.event().unwrap();
//! event.set().unwrap();
//! event.wait().unwrap();
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manager::BaseManager;
use crate::object::{Object, from_object, to_object};
use crate::protocol::{Exception, Raised};
use crate::proxy::Proxy;
use crate::typed::typed_proxy;

/// Converts a value for the server.
fn obj<T: Serialize + ?Sized>(v: &T) -> Result<Object> {
    to_object(v).map_err(|e| Error::Codec(e.to_string()))
}

/// Converts a value from the server.
fn val<T: DeserializeOwned>(o: Object) -> Result<T> {
    from_object(o).map_err(|e| Error::Codec(e.to_string()))
}

fn secs(d: Duration) -> Object {
    Object::Float(d.as_secs_f64())
}

fn boolean(o: Object) -> Result<bool> {
    match o {
        Object::Bool(b) => Ok(b),
        other => Err(Error::Codec(format!("expected a bool, got {other:?}"))),
    }
}

fn count(o: Object) -> Result<usize> {
    match o {
        Object::Int(n) if n >= 0 => Ok(n as usize),
        other => Err(Error::Codec(format!("expected a count, got {other:?}"))),
    }
}

fn timed_out(what: &str, d: Duration) -> Error {
    Error::Raised(Raised::new(
        Exception::TimeoutError,
        format!("{what} timed out after {d:?}"),
    ))
}

typed_proxy!(
    /// A shared `Queue` or `JoinableQueue` (Python's `AutoProxy[Queue]`) of `T`, [`Object`]s
    /// by default. Use [`JoinableQueueProxy`] for `task_done`/`join`.
    QueueProxy<T>
);
typed_proxy!(
    /// A shared `Lock`, `RLock`, `Semaphore` or `BoundedSemaphore` (Python's
    /// `AcquirerProxy`).
    AcquirerProxy<>
);
typed_proxy!(
    /// A shared `Condition` (Python's `ConditionProxy`).
    ConditionProxy<>
);
typed_proxy!(
    /// A shared `Event` (Python's `EventProxy`).
    EventProxy<>
);
typed_proxy!(
    /// A shared `Barrier` (Python's `BarrierProxy`).
    BarrierProxy<>
);
typed_proxy!(
    /// A shared `Array` (Python's `ArrayProxy` over an `array.array`) of `T`, [`Object`]s by
    /// default.
    ArrayProxy<T>
);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// `q.put(item)`: waits while a bounded queue is full.
    pub fn put(&self, item: impl Into<T>) -> Result<()> {
        self.call_method("put", vec![obj(&item.into())?]).map(drop)
    }

    /// `q.put(item, timeout=t)`: still full after `timeout` is an error of kind `Full`
    /// (Python's `queue.Full`).
    pub fn put_timeout(&self, item: impl Into<T>, timeout: Duration) -> Result<()> {
        let item = obj(&item.into())?;
        self.call_method("put", vec![item, Object::Bool(true), secs(timeout)])
            .map(drop)
    }

    /// `q.put_nowait(item)`: a full queue is an error of kind `Full`.
    pub fn put_nowait(&self, item: impl Into<T>) -> Result<()> {
        self.call_method("put_nowait", vec![obj(&item.into())?])
            .map(drop)
    }

    /// `q.get()`: waits for an item.
    pub fn get(&self) -> Result<T> {
        val(self.call_method("get", Vec::new())?)
    }

    /// `q.get(timeout=t)`: still empty after `timeout` is an error of kind `Empty` (Python's
    /// `queue.Empty`).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        val(self.call_method("get", vec![Object::Bool(true), secs(timeout)])?)
    }

    /// `q.get_nowait()`: an empty queue is an error of kind `Empty`.
    pub fn get_nowait(&self) -> Result<T> {
        val(self.call_method("get_nowait", Vec::new())?)
    }

    /// `q.qsize()`.
    pub fn qsize(&self) -> Result<usize> {
        count(self.call_method("qsize", Vec::new())?)
    }

    /// `q.empty()`.
    pub fn empty(&self) -> Result<bool> {
        boolean(self.call_method("empty", Vec::new())?)
    }

    /// `q.full()`.
    pub fn full(&self) -> Result<bool> {
        boolean(self.call_method("full", Vec::new())?)
    }

    /// `q.maxsize` (0: no bound).
    pub fn maxsize(&self) -> Result<usize> {
        count(self.call_method("maxsize", Vec::new())?)
    }
}

/// A shared `JoinableQueue`: a [`QueueProxy`] (`Deref` reaches it) that also counts
/// unfinished tasks.
pub struct JoinableQueueProxy<T = Object>(QueueProxy<T>);

impl<T> Clone for JoinableQueueProxy<T> {
    fn clone(&self) -> Self {
        JoinableQueueProxy(self.0.clone())
    }
}

/// Travels as its [`Proxy`] (a reference held in transit).
impl<T> Serialize for JoinableQueueProxy<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueueProxy<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        QueueProxy::deserialize(d).map(JoinableQueueProxy)
    }
}

impl<T> JoinableQueueProxy<T> {
    /// A typed view of `proxy` (its referent must be a `JoinableQueue`).
    #[must_use]
    pub fn from_proxy(proxy: Proxy) -> Self {
        JoinableQueueProxy(QueueProxy::from_proxy(proxy))
    }

    /// The untyped proxy.
    #[must_use]
    pub fn into_proxy(self) -> Proxy {
        self.0.into_proxy()
    }

    /// `q.task_done()`: one item put earlier is finished; more calls than items is
    /// `InvalidArgument` (Python's `ValueError`).
    pub fn task_done(&self) -> Result<()> {
        self.call_method("task_done", Vec::new()).map(drop)
    }

    /// `q.join()`: waits until every item put has been marked done.
    pub fn join(&self) -> Result<()> {
        self.call_method("join", Vec::new()).map(drop)
    }

    /// `q.join()` for at most `timeout`; unfinished tasks after it are `Timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.call_method("join", vec![secs(timeout)]).map(drop)
    }
}

impl<T> crate::shared::ProxyType for JoinableQueueProxy<T> {
    fn from_proxy(proxy: Proxy) -> Self {
        JoinableQueueProxy(QueueProxy::from_proxy(proxy))
    }

    fn as_proxy(&self) -> &Proxy {
        &self.0.0
    }
}

impl<T> Deref for JoinableQueueProxy<T> {
    type Target = QueueProxy<T>;
    fn deref(&self) -> &QueueProxy<T> {
        &self.0
    }
}

impl<T> fmt::Debug for JoinableQueueProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Shows the referent, as Python's `str(proxy)`.
impl<T> fmt::Display for JoinableQueueProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A hold on a manager lock, semaphore or condition, released when dropped. It stays with the
/// thread that took it (the lock's owner is that thread).
#[must_use = "the lock is released as soon as the guard drops"]
pub struct AcquirerGuard<'a> {
    proxy: &'a Proxy,
    _thread_bound: PhantomData<*const ()>,
}

impl AcquirerGuard<'_> {
    fn new(proxy: &Proxy) -> AcquirerGuard<'_> {
        AcquirerGuard {
            proxy,
            _thread_bound: PhantomData,
        }
    }
}

impl fmt::Debug for AcquirerGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AcquirerGuard").field(self.proxy).finish()
    }
}

impl Drop for AcquirerGuard<'_> {
    fn drop(&mut self) {
        // A failure means the server is gone, and the hold with it.
        let _ = self.proxy.call_method("release", Vec::new());
    }
}

/// The acquire family shared by [`AcquirerProxy`] and [`ConditionProxy`].
fn acquire(p: &Proxy, block: bool, timeout: Option<Duration>) -> Result<bool> {
    let t = timeout.map_or(Object::None, secs);
    boolean(p.call_method("acquire", vec![Object::Bool(block), t])?)
}

fn acquire_timeout(p: &Proxy, timeout: Duration) -> Result<()> {
    if acquire(p, true, Some(timeout))? {
        Ok(())
    } else {
        Err(timed_out("acquire", timeout))
    }
}

macro_rules! acquirer_methods {
    () => {
        /// Python's `acquire(blocking, timeout)`: whether it was taken (`false` when not
        /// blocking and held elsewhere, or at the timeout).
        pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool> {
            acquire(self, block, timeout)
        }

        /// `acquire(timeout=t)`; not taken in time is an error of kind `Timeout`.
        pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
            acquire_timeout(self, timeout)
        }

        /// `release()`. Releasing a lock this thread does not hold is an error of kind
        /// `NotOwner` (Python's `RuntimeError`); a `BoundedSemaphore` released past its value
        /// is `InvalidArgument` (`ValueError`).
        pub fn release(&self) -> Result<()> {
            self.call_method("release", Vec::new()).map(drop)
        }

        /// Acquires, waiting as long as it takes, and returns a guard that releases (Python's
        /// `with lock:`).
        pub fn lock(&self) -> Result<AcquirerGuard<'_>> {
            acquire(self, true, None)?;
            Ok(AcquirerGuard::new(self))
        }

        /// Acquires if free at once (`acquire(False)`): `None` if held elsewhere.
        pub fn try_lock(&self) -> Result<Option<AcquirerGuard<'_>>> {
            Ok(acquire(self, false, None)?.then(|| AcquirerGuard::new(self)))
        }

        /// Acquires within `timeout` and returns a guard; not in time is `Timeout`.
        pub fn lock_timeout(&self, timeout: Duration) -> Result<AcquirerGuard<'_>> {
            acquire_timeout(self, timeout)?;
            Ok(AcquirerGuard::new(self))
        }
    };
}

impl AcquirerProxy {
    acquirer_methods!();

    /// A `Semaphore`'s current value (Python's `_value`); not for locks.
    pub fn get_value(&self) -> Result<usize> {
        count(self.call_method("get_value", Vec::new())?)
    }
}

impl ConditionProxy {
    acquirer_methods!();

    /// `cond.wait()`: releases the lock (which this thread must hold), waits for a
    /// notification, and takes the lock back.
    pub fn wait(&self) -> Result<()> {
        self.call_method("wait", Vec::new()).map(drop)
    }

    /// `cond.wait(timeout)`: not notified in time is `Timeout` (Python returns `False`); the
    /// lock is held again either way.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        if boolean(self.call_method("wait", vec![secs(timeout)])?)? {
            Ok(())
        } else {
            Err(timed_out("Condition.wait", timeout))
        }
    }

    /// `cond.wait_for(predicate)`: waits until `predicate` holds, checking it here (in the
    /// caller, as Python's does) after each notification.
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<()> {
        while !predicate() {
            self.wait()?;
        }
        Ok(())
    }

    /// `cond.wait_for(predicate, timeout)`: `predicate` still false after `timeout` is
    /// `Timeout`.
    pub fn wait_for_timeout(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<()> {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return self.wait_for(predicate);
        };
        while !predicate() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out("Condition.wait_for", timeout));
            }
            match self.wait_timeout(left) {
                Ok(()) => {}
                Err(e) if e.kind() == crate::ErrorKind::Timeout => {
                    return if predicate() {
                        Ok(())
                    } else {
                        Err(timed_out("Condition.wait_for", timeout))
                    };
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `cond.notify(n)`: wakes up to `n` waiters (this thread must hold the lock).
    pub fn notify(&self, n: usize) -> Result<()> {
        self.call_method("notify", vec![Object::Int(n as i128)])
            .map(drop)
    }

    /// `cond.notify_all()`.
    pub fn notify_all(&self) -> Result<()> {
        self.call_method("notify_all", Vec::new()).map(drop)
    }
}

impl EventProxy {
    /// `e.is_set()`.
    pub fn is_set(&self) -> Result<bool> {
        boolean(self.call_method("is_set", Vec::new())?)
    }

    /// `e.set()`: wakes every waiter.
    pub fn set(&self) -> Result<()> {
        self.call_method("set", Vec::new()).map(drop)
    }

    /// `e.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.call_method("clear", Vec::new()).map(drop)
    }

    /// `e.wait()`: until the flag is set.
    pub fn wait(&self) -> Result<()> {
        self.call_method("wait", Vec::new()).map(drop)
    }

    /// `e.wait(timeout)`: not set in time is `Timeout` (Python returns `False`).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        if boolean(self.call_method("wait", vec![secs(timeout)])?)? {
            Ok(())
        } else {
            Err(timed_out("Event.wait", timeout))
        }
    }
}

/// The async forms (feature `tokio`): each is its blocking twin's request, awaited with
/// [`Proxy::call_method_async`]. Cancel-safe: a dropped `get_async` or `wait_async` hangs up,
/// and the server cancels the waiting call, so it takes no item and the proxy stays usable.
///
/// ```
/// use std::time::Duration;
/// use multiprocessing_managers::manager;
/// let m = manager().unwrap();
/// let q = m.queue_of::<u32>(0).unwrap();
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// rt.block_on(async {
///     // Nothing to get yet: the timeout drops the call, which takes nothing.
///     let early = tokio::time::timeout(Duration::from_millis(50), q.get_async()).await;
///     assert!(early.is_err());
///     q.put_async(7u32).await.unwrap();
///     assert_eq!(q.get_async().await.unwrap(), 7);
/// });
/// ```
#[cfg(feature = "tokio")]
impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// [`put`](Self::put), awaited: waits while a bounded queue is full.
    pub async fn put_async(&self, item: impl Into<T>) -> Result<()> {
        let args = vec![obj(&item.into())?];
        self.call_method_async("put", args).await.map(drop)
    }

    /// [`get`](Self::get), awaited: waits for an item.
    pub async fn get_async(&self) -> Result<T> {
        val(self.call_method_async("get", Vec::new()).await?)
    }
}

/// The async forms (feature `tokio`), as [`QueueProxy`]'s.
#[cfg(feature = "tokio")]
impl EventProxy {
    /// [`is_set`](Self::is_set), awaited.
    pub async fn is_set_async(&self) -> Result<bool> {
        boolean(self.call_method_async("is_set", Vec::new()).await?)
    }

    /// [`set`](Self::set), awaited.
    pub async fn set_async(&self) -> Result<()> {
        self.call_method_async("set", Vec::new()).await.map(drop)
    }

    /// [`wait`](Self::wait), awaited: until the flag is set.
    pub async fn wait_async(&self) -> Result<()> {
        self.call_method_async("wait", Vec::new()).await.map(drop)
    }
}

impl BarrierProxy {
    /// `b.wait()`: waits for all parties; returns this caller's arrival index (`0` to
    /// `parties - 1`). A broken, aborted or reset barrier is `BrokenBarrier`.
    pub fn wait(&self) -> Result<usize> {
        count(self.call_method("wait", Vec::new())?)
    }

    /// `b.wait(timeout)`: at the timeout the barrier breaks, for every waiter, as in Python
    /// (`BrokenBarrier`).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        count(self.call_method("wait", vec![secs(timeout)])?)
    }

    /// `b.abort()`: breaks the barrier; current and later waiters get `BrokenBarrier`.
    pub fn abort(&self) -> Result<()> {
        self.call_method("abort", Vec::new()).map(drop)
    }

    /// `b.reset()`: back to empty; current waiters get `BrokenBarrier`.
    pub fn reset(&self) -> Result<()> {
        self.call_method("reset", Vec::new()).map(drop)
    }

    /// `b.parties`.
    pub fn parties(&self) -> Result<usize> {
        count(self.call_method("parties", Vec::new())?)
    }

    /// `b.n_waiting`.
    pub fn n_waiting(&self) -> Result<usize> {
        count(self.call_method("n_waiting", Vec::new())?)
    }

    /// `b.broken`.
    pub fn broken(&self) -> Result<bool> {
        boolean(self.call_method("broken", Vec::new())?)
    }
}

/// A slice `start:stop:step` as the server takes it.
fn slice(start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Object {
    let f = |x: Option<i64>| x.map_or(Object::None, |v| Object::Int(i128::from(v)));
    Object::Tuple(vec![f(start), f(stop), f(step)])
}

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    /// `len(a)`.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize> {
        count(self.call_method("__len__", Vec::new())?)
    }

    /// `len(a) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `a[index]` (negative counts from the end); past the end is `OutOfRange`.
    #[doc(alias = "__getitem__")]
    pub fn get(&self, index: i64) -> Result<T> {
        val(self.call_method("__getitem__", vec![Object::Int(index.into())])?)
    }

    /// `a[index] = value`; a value that does not fit the type code is `InvalidArgument`.
    #[doc(alias = "__setitem__")]
    pub fn set(&self, index: i64, value: impl Into<T>) -> Result<()> {
        let value = obj(&value.into())?;
        self.call_method("__setitem__", vec![Object::Int(index.into()), value])
            .map(drop)
    }

    /// `a[start:stop:step]`.
    pub fn get_slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    ) -> Result<Vec<T>> {
        val(self.call_method("__getitem__", vec![slice(start, stop, step)])?)
    }

    /// `a[start:stop:step] = values`.
    pub fn set_slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
        values: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        let values = values.into_iter().map(|v| obj(&v)).collect::<Result<_>>()?;
        self.call_method(
            "__setitem__",
            vec![slice(start, stop, step), Object::List(values)],
        )
        .map(drop)
    }

    /// A local copy of every item (Python's `a[:]`).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        val(self.get_value()?)
    }
}

/// The synchronization and queue types of a `SyncManager`.
impl BaseManager {
    /// A shared `Queue` holding at most `maxsize` items (0: no bound).
    #[doc(alias = "Queue")]
    pub fn queue(&self, maxsize: usize) -> Result<QueueProxy> {
        Ok(QueueProxy::from_proxy(
            self.create("Queue", vec![Object::Int(maxsize as i128)])?,
        ))
    }

    /// A shared `Queue` of `T` (a typed view; the queue holds [`Object`]s, as any other).
    pub fn queue_of<T>(&self, maxsize: usize) -> Result<QueueProxy<T>> {
        Ok(QueueProxy::from_proxy(
            self.create("Queue", vec![Object::Int(maxsize as i128)])?,
        ))
    }

    /// A shared `JoinableQueue` holding at most `maxsize` items (0: no bound).
    #[doc(alias = "JoinableQueue")]
    pub fn joinable_queue(&self, maxsize: usize) -> Result<JoinableQueueProxy> {
        Ok(JoinableQueueProxy::from_proxy(self.create(
            "JoinableQueue",
            vec![Object::Int(maxsize as i128)],
        )?))
    }

    /// A shared `JoinableQueue` of `T`.
    pub fn joinable_queue_of<T>(&self, maxsize: usize) -> Result<JoinableQueueProxy<T>> {
        Ok(JoinableQueueProxy::from_proxy(self.create(
            "JoinableQueue",
            vec![Object::Int(maxsize as i128)],
        )?))
    }

    /// A shared `Lock`.
    #[doc(alias = "Lock")]
    pub fn lock(&self) -> Result<AcquirerProxy> {
        Ok(AcquirerProxy::from_proxy(self.create("Lock", Vec::new())?))
    }

    /// A shared `RLock`: its owner (a thread of a process) may acquire it again.
    #[doc(alias = "RLock")]
    pub fn rlock(&self) -> Result<AcquirerProxy> {
        Ok(AcquirerProxy::from_proxy(self.create("RLock", Vec::new())?))
    }

    /// A shared `Semaphore` with `value` permits.
    #[doc(alias = "Semaphore")]
    pub fn semaphore(&self, value: usize) -> Result<AcquirerProxy> {
        Ok(AcquirerProxy::from_proxy(
            self.create("Semaphore", vec![Object::Int(value as i128)])?,
        ))
    }

    /// A shared `BoundedSemaphore`: releasing it past `value` is `InvalidArgument`.
    #[doc(alias = "BoundedSemaphore")]
    pub fn bounded_semaphore(&self, value: usize) -> Result<AcquirerProxy> {
        Ok(AcquirerProxy::from_proxy(self.create(
            "BoundedSemaphore",
            vec![Object::Int(value as i128)],
        )?))
    }

    /// A shared `Condition` over a lock of its own (an `RLock`, as Python's default).
    #[doc(alias = "Condition")]
    pub fn condition(&self) -> Result<ConditionProxy> {
        Ok(ConditionProxy::from_proxy(
            self.create("Condition", Vec::new())?,
        ))
    }

    /// A shared `Condition` over `lock`, a `Lock` or `RLock` of this manager (Python's
    /// `Condition(lock)`): holding one is holding the other.
    pub fn condition_with(&self, lock: &AcquirerProxy) -> Result<ConditionProxy> {
        let sync_id = lock.call_method("_sync_id", Vec::new())?;
        Ok(ConditionProxy::from_proxy(
            self.create("Condition", vec![lock.to_object(), sync_id])?,
        ))
    }

    /// A shared `Event`, not set.
    #[doc(alias = "Event")]
    pub fn event(&self) -> Result<EventProxy> {
        Ok(EventProxy::from_proxy(self.create("Event", Vec::new())?))
    }

    /// A shared `Barrier` for `parties` callers.
    #[doc(alias = "Barrier")]
    pub fn barrier(&self, parties: usize) -> Result<BarrierProxy> {
        Ok(BarrierProxy::from_proxy(
            self.create("Barrier", vec![Object::Int(parties as i128)])?,
        ))
    }

    /// A shared `Array` of `typecode` (`"i"`, `"d"`, ... as Python's `array` module) holding
    /// `values`.
    #[doc(alias = "Array")]
    pub fn array(&self, typecode: &str, values: Vec<Object>) -> Result<ArrayProxy> {
        Ok(ArrayProxy::from_proxy(self.create(
            "Array",
            vec![Object::Str(typecode.into()), Object::List(values)],
        )?))
    }

    /// A shared `Array` of `typecode` holding `values` of a Rust type (`i32` for `"i"`, `f64`
    /// for `"d"`, ...), read and written as `T`.
    pub fn array_of<T: Serialize>(
        &self,
        typecode: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>> {
        let values = values.into_iter().map(|v| obj(&v)).collect::<Result<_>>()?;
        Ok(ArrayProxy::from_proxy(self.create(
            "Array",
            vec![Object::Str(typecode.into()), Object::List(values)],
        )?))
    }
}
