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
//! With the `tokio` feature every method has an `_async` twin (`get_async`,
//! `get_async_timeout`, `join_async`, ...) sending the same request, awaited, and cancel-safe
//! as `Proxy::call_method_async`: a dropped `get_async` takes no item. A lock, semaphore or
//! condition taken by a task is held by an `AsyncAcquirerGuard` (`lock_async`, ...), whose
//! owner is a connection of its own rather than a thread, so it moves with its task.
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
//!
//! The async forms (feature `tokio`):
//!
//! ```
//! # #[cfg(feature = "tokio")] {
//! use std::time::Duration;
//! use multiprocessing_managers::{ErrorKind, manager};
//! let m = manager().unwrap();
//! let q = m.queue_of::<u32>(0).unwrap();
//! let lock = m.lock().unwrap();
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! rt.block_on(async {
//!     // Nothing to get yet: a dropped get takes nothing.
//!     let early = tokio::time::timeout(Duration::from_millis(50), q.get_async()).await;
//!     assert!(early.is_err());
//!     q.put_async(7u32).await.unwrap();
//!     assert_eq!(q.get_async().await.unwrap(), 7);
//!     let e = q.get_async_timeout(Duration::from_millis(10)).await.unwrap_err();
//!     assert_eq!(e.kind(), ErrorKind::Empty);
//!     let held = lock.lock_async().await.unwrap();
//!     assert!(lock.try_lock_async().await.unwrap().is_none());
//!     held.release_async().await.unwrap();
//! });
//! # }
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
use crate::typed::{twins, typed_proxy};

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
    twins! {
        /// `q.put(item)`: waits while a bounded queue is full.
        pub fn put, put_async(&self, item: impl Into<T>) -> Result<()>
            = "put"(vec![obj(&item.into())?]) |_| Ok(());

        /// `q.put(item, timeout=t)`: still full after `timeout` is an error of kind `Full`
        /// (Python's `queue.Full`).
        pub fn put_timeout, put_async_timeout(&self, item: impl Into<T>, timeout: Duration) -> Result<()>
            = "put"(vec![obj(&item.into())?, Object::Bool(true), secs(timeout)]) |_| Ok(());

        /// `q.put_nowait(item)`: a full queue is an error of kind `Full`.
        pub fn put_nowait, put_nowait_async(&self, item: impl Into<T>) -> Result<()>
            = "put_nowait"(vec![obj(&item.into())?]) |_| Ok(());

        /// `q.get()`: waits for an item.
        pub fn get, get_async(&self) -> Result<T> = "get"(Vec::new()) |o| val(o);

        /// `q.get(timeout=t)`: still empty after `timeout` is an error of kind `Empty`
        /// (Python's `queue.Empty`).
        pub fn get_timeout, get_async_timeout(&self, timeout: Duration) -> Result<T>
            = "get"(vec![Object::Bool(true), secs(timeout)]) |o| val(o);

        /// `q.get_nowait()`: an empty queue is an error of kind `Empty`.
        pub fn get_nowait, get_nowait_async(&self) -> Result<T>
            = "get_nowait"(Vec::new()) |o| val(o);

        /// `q.qsize()`.
        pub fn qsize, qsize_async(&self) -> Result<usize> = "qsize"(Vec::new()) |o| count(o);

        /// `q.empty()`.
        pub fn empty, empty_async(&self) -> Result<bool> = "empty"(Vec::new()) |o| boolean(o);

        /// `q.full()`.
        pub fn full, full_async(&self) -> Result<bool> = "full"(Vec::new()) |o| boolean(o);

        /// `q.maxsize` (0: no bound).
        pub fn maxsize, maxsize_async(&self) -> Result<usize> = "maxsize"(Vec::new()) |o| count(o);
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

    twins! {
        /// `q.task_done()`: one item put earlier is finished; more calls than items is
        /// `InvalidArgument` (Python's `ValueError`).
        pub fn task_done, task_done_async(&self) -> Result<()>
            = "task_done"(Vec::new()) |_| Ok(());

        /// `q.join()`: waits until every item put has been marked done.
        pub fn join, join_async(&self) -> Result<()> = "join"(Vec::new()) |_| Ok(());

        /// `q.join()` for at most `timeout`; unfinished tasks after it are `Timeout`.
        pub fn join_timeout, join_async_timeout(&self, timeout: Duration) -> Result<()>
            = "join"(vec![secs(timeout)]) |_| Ok(());
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

        twins! {
            /// `release()`. Releasing a lock this thread does not hold is an error of kind
            /// `NotOwner` (Python's `RuntimeError`); a `BoundedSemaphore` released past its
            /// value is `InvalidArgument` (`ValueError`). A hold taken by an async acquire is
            /// released by its `AsyncAcquirerGuard` instead (its owner is not a thread).
            pub fn release, release_async(&self) -> Result<()> = "release"(Vec::new()) |_| Ok(());
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

        /// [`acquire`](Self::acquire), awaited (feature `tokio`): the hold, if taken, as an
        /// [`AsyncAcquirerGuard`] (`None` when not blocking and held elsewhere, or at the
        /// timeout). The hold's owner is the guard, not a thread, so it moves with its task.
        #[cfg(feature = "tokio")]
        pub async fn acquire_async(
            &self,
            block: bool,
            timeout: Option<Duration>,
        ) -> Result<Option<AsyncAcquirerGuard>> {
            acquire_async(self, block, timeout).await
        }

        /// [`lock`](Self::lock), awaited (feature `tokio`): waits as long as it takes, parking
        /// the task only, and returns a `Send` guard that releases when dropped.
        #[cfg(feature = "tokio")]
        pub async fn lock_async(&self) -> Result<AsyncAcquirerGuard> {
            match acquire_async(self, true, None).await? {
                Some(g) => Ok(g),
                None => Err(Error::Protocol("a blocking acquire answered False".into())),
            }
        }

        /// [`try_lock`](Self::try_lock), awaited (feature `tokio`): `None` if held elsewhere.
        #[cfg(feature = "tokio")]
        pub async fn try_lock_async(&self) -> Result<Option<AsyncAcquirerGuard>> {
            acquire_async(self, false, None).await
        }

        /// [`lock_timeout`](Self::lock_timeout), awaited (feature `tokio`); not in time is
        /// `Timeout`.
        #[cfg(feature = "tokio")]
        pub async fn lock_async_timeout(&self, timeout: Duration) -> Result<AsyncAcquirerGuard> {
            match acquire_async(self, true, Some(timeout)).await? {
                Some(g) => Ok(g),
                None => Err(timed_out("acquire", timeout)),
            }
        }
    };
}

/// A hold on a manager lock, semaphore or condition taken by an async acquire (feature
/// `tokio`): `Send`, so it moves with its task between a runtime's threads; released when
/// dropped, or by [`release_async`](Self::release_async), which reports the server's answer.
///
/// The hold's owner is a connection of its own to the manager (its calls are made as a fresh
/// caller, never a thread's), so a task that moves between threads still owns the lock. A
/// hold released cleanly leaves its connection holding nothing, and the session keeps a few
/// such for the next holds. That connection is also what makes the hold safe to drop:
///
/// - Dropping the guard inside a tokio runtime hands the release to a task on that runtime
///   (the release request, its reply, then the connection closes); outside one, the guard
///   sends the release and reads its answer on the spot (one round trip). So the lock is
///   free shortly after the drop, not necessarily when `drop` returns: await
///   [`release_async`](Self::release_async) to know it is.
/// - When the connection closes without a release (an acquire future dropped as the server
///   granted it, a runtime shut down, a process killed), the server releases what the
///   connection held for the next waiter: the `Lock`, `RLock` or `Condition`, and the
///   permits it took from a `Semaphore` (which, taken by a thread, have no owner).
///
/// A CPython manager server ties a lock to its thread serving a connection and does not
/// release a lock whose connection closed: the async acquires refuse it (`Unsupported`).
///
/// ```
/// use multiprocessing_managers::manager;
/// let m = manager().unwrap();
/// let lock = m.lock().unwrap();
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
/// rt.block_on(async {
///     let held = lock.lock_async().await.unwrap();
///     // The guard is Send: another task (maybe on another thread) releases it.
///     tokio::spawn(async move { held.release_async().await.unwrap() }).await.unwrap();
///     assert!(lock.try_lock_async().await.unwrap().is_some());
/// });
/// ```
#[cfg(feature = "tokio")]
#[must_use = "the lock is released as soon as the guard drops"]
pub struct AsyncAcquirerGuard {
    proxy: Proxy,
    /// `None` once released.
    channel: Option<crate::client::Channel>,
}

#[cfg(feature = "tokio")]
impl AsyncAcquirerGuard {
    /// Releases the hold and awaits the server's answer (an error of kind `WorkerLost` if the
    /// manager is gone, which released it). The lock is free when this returns.
    #[doc(alias = "release")]
    pub async fn release_async(mut self) -> Result<()> {
        let channel = self.channel.take().ok_or_else(released)?;
        match channel.release(self.proxy.token()).await? {
            crate::protocol::Reply::Return(_) => Ok(()),
            other => Err(crate::client::unexpected(other)),
        }
    }

    /// Calls `method` of the held object as the hold's owner (a condition's `wait`).
    async fn call(&mut self, proxy: &Proxy, method: &str, args: Vec<Object>) -> Result<Object> {
        if proxy.token().id != self.proxy.token().id {
            return Err(Error::InvalidArgument(
                "the guard holds another object's lock".into(),
            ));
        }
        let channel = self.channel.as_mut().ok_or_else(released)?;
        self.proxy.call_on(channel, method, args).await
    }
}

#[cfg(feature = "tokio")]
fn released() -> Error {
    Error::InvalidArgument("the hold was released".into())
}

#[cfg(feature = "tokio")]
impl Drop for AsyncAcquirerGuard {
    fn drop(&mut self) {
        if let Some(channel) = self.channel.take() {
            channel.release_detached(self.proxy.token().clone());
        }
    }
}

#[cfg(feature = "tokio")]
impl fmt::Debug for AsyncAcquirerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncAcquirerGuard")
            .field(&self.proxy)
            .finish()
    }
}

/// The async acquire family shared by [`AcquirerProxy`] and [`ConditionProxy`]: the acquire
/// is made on a connection of its own, which the guard keeps. A future dropped before the
/// answer closes that connection, and the server releases what it held.
#[cfg(feature = "tokio")]
async fn acquire_async(
    p: &Proxy,
    block: bool,
    timeout: Option<Duration>,
) -> Result<Option<AsyncAcquirerGuard>> {
    let mut channel = p.channel_async().await?;
    let t = timeout.map_or(Object::None, secs);
    let args = vec![Object::Bool(block), t];
    let taken = boolean(p.call_on(&mut channel, "acquire", args).await?)?;
    Ok(taken.then(|| AsyncAcquirerGuard {
        proxy: p.clone(),
        channel: Some(channel),
    }))
}

impl AcquirerProxy {
    acquirer_methods!();

    twins! {
        /// A `Semaphore`'s current value (Python's `_value`); not for locks.
        pub fn get_value, get_value_async(&self) -> Result<usize>
            = "get_value"(Vec::new()) |o| count(o);
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

/// The async forms of a condition's calls (feature `tokio`). Each takes the hold its task has
/// on the condition's lock (from [`lock_async`](ConditionProxy::lock_async)): the calls are
/// made as that hold's owner, as Python's are made by the thread holding the lock. A hold of
/// another object is `InvalidArgument`.
///
/// Dropping a `wait_async` mid-wait closes the hold's connection: the server cancels the wait
/// and releases the lock if the wait had taken it back; the hold is gone (its later calls are
/// `InvalidArgument`).
///
/// ```
/// use multiprocessing_managers::manager;
/// let m = manager().unwrap();
/// let cond = m.condition().unwrap();
/// let ready = m.value_of("b", &false).unwrap();
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
/// rt.block_on(async {
///     let (c, r) = (cond.clone(), ready.clone());
///     let notifier = tokio::spawn(async move {
///         let mut held = c.lock_async().await.unwrap();
///         r.set_async(true).await.unwrap();
///         c.notify_all_async(&mut held).await.unwrap();
///     });
///     let mut held = cond.lock_async().await.unwrap();
///     let r = ready.clone();
///     cond.wait_for_async(&mut held, || async { r.get_async().await.unwrap() }).await.unwrap();
///     held.release_async().await.unwrap();
///     notifier.await.unwrap();
/// });
/// ```
#[cfg(feature = "tokio")]
impl ConditionProxy {
    /// [`wait`](Self::wait), awaited: releases the lock `held`, waits for a notification,
    /// and takes the lock back for `held`.
    pub async fn wait_async(&self, held: &mut AsyncAcquirerGuard) -> Result<()> {
        held.call(self, "wait", Vec::new()).await.map(drop)
    }

    /// [`wait_timeout`](Self::wait_timeout), awaited: not notified in time is `Timeout`; the
    /// lock is held again either way.
    pub async fn wait_async_timeout(
        &self,
        held: &mut AsyncAcquirerGuard,
        timeout: Duration,
    ) -> Result<()> {
        if boolean(held.call(self, "wait", vec![secs(timeout)]).await?)? {
            Ok(())
        } else {
            Err(timed_out("Condition.wait", timeout))
        }
    }

    /// [`wait_for`](Self::wait_for), awaited: waits until `predicate` holds, checking it
    /// here after each notification.
    ///
    /// The predicate is async, so it may read the state it waits for through other proxies
    /// (`|| async { ready.get_async().await.unwrap_or(false) }`).
    pub async fn wait_for_async<F, P>(
        &self,
        held: &mut AsyncAcquirerGuard,
        mut predicate: P,
    ) -> Result<()>
    where
        P: FnMut() -> F,
        F: std::future::Future<Output = bool>,
    {
        while !predicate().await {
            self.wait_async(held).await?;
        }
        Ok(())
    }

    /// [`wait_for_timeout`](Self::wait_for_timeout), awaited: `predicate` still false after
    /// `timeout` is `Timeout`; the lock is held again either way.
    pub async fn wait_for_async_timeout<F, P>(
        &self,
        held: &mut AsyncAcquirerGuard,
        mut predicate: P,
        timeout: Duration,
    ) -> Result<()>
    where
        P: FnMut() -> F,
        F: std::future::Future<Output = bool>,
    {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return self.wait_for_async(held, predicate).await;
        };
        while !predicate().await {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out("Condition.wait_for", timeout));
            }
            match self.wait_async_timeout(held, left).await {
                Ok(()) => {}
                Err(e) if e.kind() == crate::ErrorKind::Timeout => {
                    return if predicate().await {
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

    /// [`notify`](Self::notify), awaited: wakes up to `n` waiters.
    pub async fn notify_async(&self, held: &mut AsyncAcquirerGuard, n: usize) -> Result<()> {
        let args = vec![Object::Int(n as i128)];
        held.call(self, "notify", args).await.map(drop)
    }

    /// [`notify_all`](Self::notify_all), awaited.
    pub async fn notify_all_async(&self, held: &mut AsyncAcquirerGuard) -> Result<()> {
        held.call(self, "notify_all", Vec::new()).await.map(drop)
    }
}

impl EventProxy {
    twins! {
        /// `e.is_set()`.
        pub fn is_set, is_set_async(&self) -> Result<bool> = "is_set"(Vec::new()) |o| boolean(o);

        /// `e.set()`: wakes every waiter.
        pub fn set, set_async(&self) -> Result<()> = "set"(Vec::new()) |_| Ok(());

        /// `e.clear()`.
        pub fn clear, clear_async(&self) -> Result<()> = "clear"(Vec::new()) |_| Ok(());

        /// `e.wait()`: until the flag is set.
        pub fn wait, wait_async(&self) -> Result<()> = "wait"(Vec::new()) |_| Ok(());

        /// `e.wait(timeout)`: not set in time is `Timeout` (Python returns `False`).
        pub fn wait_timeout, wait_async_timeout(&self, timeout: Duration) -> Result<()>
            = "wait"(vec![secs(timeout)])
              |o| if boolean(o)? { Ok(()) } else { Err(timed_out("Event.wait", timeout)) };
    }
}

impl BarrierProxy {
    twins! {
        /// `b.wait()`: waits for all parties; returns this caller's arrival index (`0` to
        /// `parties - 1`). A broken, aborted or reset barrier is `BrokenBarrier`.
        pub fn wait, wait_async(&self) -> Result<usize> = "wait"(Vec::new()) |o| count(o);

        /// `b.wait(timeout)`: at the timeout the barrier breaks, for every waiter, as in
        /// Python (`BrokenBarrier`).
        pub fn wait_timeout, wait_async_timeout(&self, timeout: Duration) -> Result<usize>
            = "wait"(vec![secs(timeout)]) |o| count(o);

        /// `b.abort()`: breaks the barrier; current and later waiters get `BrokenBarrier`.
        pub fn abort, abort_async(&self) -> Result<()> = "abort"(Vec::new()) |_| Ok(());

        /// `b.reset()`: back to empty; current waiters get `BrokenBarrier`.
        pub fn reset, reset_async(&self) -> Result<()> = "reset"(Vec::new()) |_| Ok(());

        /// `b.parties`.
        pub fn parties, parties_async(&self) -> Result<usize> = "parties"(Vec::new()) |o| count(o);

        /// `b.n_waiting`.
        pub fn n_waiting, n_waiting_async(&self) -> Result<usize>
            = "n_waiting"(Vec::new()) |o| count(o);

        /// `b.broken`.
        pub fn broken, broken_async(&self) -> Result<bool> = "broken"(Vec::new()) |o| boolean(o);
    }
}

/// A slice `start:stop:step` as the server takes it.
fn slice(start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Object {
    let f = |x: Option<i64>| x.map_or(Object::None, |v| Object::Int(i128::from(v)));
    Object::Tuple(vec![f(start), f(stop), f(step)])
}

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    twins! {
        /// `len(a)`.
        #[doc(alias = "__len__")]
        pub fn len, len_async(&self) -> Result<usize> = "__len__"(Vec::new()) |o| count(o);

        /// `a[index]` (negative counts from the end); past the end is `OutOfRange`.
        #[doc(alias = "__getitem__")]
        pub fn get, get_async(&self, index: i64) -> Result<T>
            = "__getitem__"(vec![Object::Int(index.into())]) |o| val(o);

        /// `a[index] = value`; a value that does not fit the type code is `InvalidArgument`.
        #[doc(alias = "__setitem__")]
        pub fn set, set_async(&self, index: i64, value: impl Into<T>) -> Result<()>
            = "__setitem__"(vec![Object::Int(index.into()), obj(&value.into())?]) |_| Ok(());

        /// `a[start:stop:step]`.
        pub fn get_slice, get_slice_async(
            &self,
            start: Option<i64>,
            stop: Option<i64>,
            step: Option<i64>,
        ) -> Result<Vec<T>> = "__getitem__"(vec![slice(start, stop, step)]) |o| val(o);

        /// `a[start:stop:step] = values`.
        pub fn set_slice, set_slice_async(
            &self,
            start: Option<i64>,
            stop: Option<i64>,
            step: Option<i64>,
            values: impl IntoIterator<Item = T>,
        ) -> Result<()> = "__setitem__"(vec![
            slice(start, stop, step),
            Object::List(values.into_iter().map(|v| obj(&v)).collect::<Result<_>>()?),
        ]) |_| Ok(());

        /// A local copy of every item (Python's `a[:]`).
        pub fn to_vec, to_vec_async(&self) -> Result<Vec<T>> = "#GETVALUE"(Vec::new()) |o| val(o);
    }

    /// `len(a) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// [`is_empty`](Self::is_empty), awaited (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn is_empty_async(&self) -> Result<bool> {
        Ok(self.len_async().await? == 0)
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
