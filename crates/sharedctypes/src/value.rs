//! [`Value`]: a shared value guarded by a lock, Python's `multiprocessing.Value`.
//!
//! ```
//! use multiprocessing_sharedctypes::Value;
//! let counter = Value::new(0i64).unwrap();
//! counter.update(|c| *c += 1).unwrap(); // read-modify-write under the lock: never lost
//! assert_eq!(counter.get().unwrap(), 1);
//! counter.set(3).unwrap();
//! assert_eq!(counter.get_obj().get(), 3);
//! ```

use std::fmt;

use bytemuck::Pod;
use multiprocessing_synchronize::LockResult;
use serde::{Deserialize, Serialize};

use crate::{RawValue, Result, SharedLock, SharedLockGuard};

/// A [`RawValue`] with a lock: reads, writes and [`lock`](Self::lock)ed updates are
/// synchronized across processes. The lock is a fresh [`RLock`](multiprocessing_synchronize::RLock)
/// unless one is given.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "", deserialize = "T: Pod"))]
#[doc(alias = "Synchronized")]
pub struct Value<T> {
    obj: RawValue<T>,
    lock: SharedLock,
}

/// A [`Value`]'s lock, held: read, write and update the value while other lock users wait.
///
/// The guard hands out copies, never references into shared memory. The default lock is an
/// `RLock`, which this thread may take again for a second guard, and the raw value underneath
/// ([`Value::get_obj`]) may be written without the lock, so a `&mut T` handed out here could
/// alias another. [`update`](Self::update) is the read-modify-write:
///
/// ```
/// use multiprocessing_sharedctypes::Value;
/// let v = Value::new(41i64).unwrap();
/// let guard = v.lock().unwrap();
/// guard.update(|x| *x += 1);
/// assert_eq!(guard.get(), 42);
/// ```
///
/// No reference escapes:
///
/// ```compile_fail
/// use multiprocessing_sharedctypes::Value;
/// let v = Value::new(0i64).unwrap();
/// *v.lock().unwrap() += 1; // error: the guard has no `DerefMut`
/// ```
///
/// ```compile_fail
/// use multiprocessing_sharedctypes::Value;
/// let v = Value::new(0i64).unwrap();
/// let r: &i64 = &*v.lock().unwrap(); // error: nor `Deref`
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T> {
    _guard: SharedLockGuard<'a>,
    value: &'a RawValue<T>,
}

impl<T: Pod> ValueGuard<'_, T> {
    /// Reads the value.
    #[must_use]
    #[doc(alias = "value")]
    pub fn get(&self) -> T {
        self.value.get()
    }

    /// Writes the value.
    #[doc(alias = "value")]
    pub fn set(&self, value: T) {
        self.value.set(value);
    }

    /// Reads the value into `f` and writes back what `f` left, Python's `v.value += 1` under
    /// `with v.get_lock():`. Returns what `f` returns.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut v = self.value.get();
        let r = f(&mut v);
        self.value.set(v);
        r
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

impl<T: Pod> Value<T> {
    /// A shared value holding `value`, guarded by a fresh `RLock`, Python's `Value(typecode, v)`.
    pub fn new(value: T) -> Result<Value<T>> {
        Value::with_lock(value, SharedLock::new_rlock()?)
    }

    /// A shared value guarded by `lock`, Python's `Value(typecode, v, lock=lock)`.
    pub fn with_lock(value: T, lock: impl Into<SharedLock>) -> Result<Value<T>> {
        Ok(Value {
            obj: RawValue::new(value)?,
            lock: lock.into(),
        })
    }

    pub(crate) fn from_parts(obj: RawValue<T>, lock: SharedLock) -> Value<T> {
        Value { obj, lock }
    }

    /// Holds the lock and gives access to the value.
    pub fn lock(&self) -> LockResult<ValueGuard<'_, T>> {
        let wrap = |g| ValueGuard {
            _guard: g,
            value: &self.obj,
        };
        self.lock.lock().map(wrap).map_err(|e| e.map(wrap))
    }

    /// Read-modify-write under the lock: `f` gets the value and what it leaves is written back.
    /// Returns what `f` returns.
    ///
    /// [`Error::OwnerDied`](crate::Error::OwnerDied) means nothing was changed because the lock's
    /// previous owner died; [`lock`](Self::lock) gets the lock to repair the value.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R> {
        Ok(self.lock().map_err(|_| crate::Error::OwnerDied)?.update(f))
    }

    /// Reads the value under the lock, Python's `v.value`.
    ///
    /// [`Error::OwnerDied`](crate::Error::OwnerDied) means nothing was read because the lock's
    /// previous owner died; [`lock`](Self::lock) gets the lock to repair the value.
    #[doc(alias = "value")]
    pub fn get(&self) -> Result<T> {
        Ok(self.lock().map_err(|_| crate::Error::OwnerDied)?.get())
    }

    /// Writes the value under the lock, Python's `v.value = x`.
    #[doc(alias = "value")]
    pub fn set(&self, value: T) -> Result<()> {
        self.lock().map_err(|_| crate::Error::OwnerDied)?.set(value);
        Ok(())
    }

    /// The lock, Python's `get_lock()`.
    #[must_use]
    pub fn get_lock(&self) -> &SharedLock {
        &self.lock
    }

    /// The unsynchronized value underneath, Python's `get_obj()`.
    #[must_use]
    pub fn get_obj(&self) -> &RawValue<T> {
        &self.obj
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Value").field(&self.obj.get()).finish()
    }
}
