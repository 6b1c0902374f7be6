//! [`Value`]: a shared value guarded by a lock, Python's `multiprocessing.Value`.
//!
//! ```
//! use multiprocessing_sharedctypes::Value;
//! let counter = Value::new(0i64).unwrap();
//! *counter.lock().unwrap() += 1; // read-modify-write under the lock: never lost
//! assert_eq!(counter.get().unwrap(), 1);
//! counter.set(3).unwrap();
//! assert_eq!(counter.get_obj().get(), 3);
//! ```

use std::fmt;
use std::ops::{Deref, DerefMut};

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

/// Access to a [`Value`] while holding its lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T> {
    _guard: SharedLockGuard<'a>,
    value: &'a RawValue<T>,
}

impl<T: Pod> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the block holds one aligned, initialized `T` for as long as `value` lives, and
        // the lock keeps other lock users away.
        unsafe { &*self.value.as_ptr() }
    }
}

impl<T: Pod> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; the guard is borrowed mutably, so this is the only reference
        // in this process, and the lock excludes other processes using the lock.
        unsafe { &mut *self.value.as_ptr() }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
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

    /// Reads the value under the lock, Python's `v.value`.
    ///
    /// [`Error::OwnerDied`](crate::Error::OwnerDied) means nothing was read because the lock's
    /// previous owner died; [`lock`](Self::lock) gets the lock to repair the value.
    #[doc(alias = "value")]
    pub fn get(&self) -> Result<T> {
        let guard = self.lock().map_err(|_| crate::Error::OwnerDied)?;
        Ok(*guard)
    }

    /// Writes the value under the lock, Python's `v.value = x`.
    #[doc(alias = "value")]
    pub fn set(&self, value: T) -> Result<()> {
        *self.lock().map_err(|_| crate::Error::OwnerDied)? = value;
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
