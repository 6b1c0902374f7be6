//! Python's module-level helpers: [`synchronized`] wraps a raw object with a lock, [`copy`]
//! makes an independent raw copy.
//!
//! ```
//! use multiprocessing_sharedctypes::{RawValue, copy, synchronized};
//! let raw = RawValue::new(5u32).unwrap();
//! let other = copy(&raw).unwrap();
//! other.set(6);
//! assert_eq!(raw.get(), 5);
//! let value = synchronized(raw, None).unwrap();
//! assert_eq!(value.get().unwrap(), 5);
//! ```

use bytemuck::Pod;

use crate::{Array, RawArray, RawValue, Result, SharedLock, Value};

/// A raw shared object that [`synchronized`] can wrap.
pub trait Synchronize {
    /// The synchronized wrapper.
    type Synchronized;
    /// Wraps `self` with `lock`, or a fresh `RLock`.
    fn synchronized(self, lock: Option<SharedLock>) -> Result<Self::Synchronized>;
}

impl<T: Pod> Synchronize for RawValue<T> {
    type Synchronized = Value<T>;
    fn synchronized(self, lock: Option<SharedLock>) -> Result<Value<T>> {
        let lock = match lock {
            Some(l) => l,
            None => SharedLock::new_rlock()?,
        };
        Ok(Value::from_parts(self, lock))
    }
}

impl<T: Pod> Synchronize for RawArray<T> {
    type Synchronized = Array<T>;
    fn synchronized(self, lock: Option<SharedLock>) -> Result<Array<T>> {
        let lock = match lock {
            Some(l) => l,
            None => SharedLock::new_rlock()?,
        };
        Ok(Array::from_parts(self, lock))
    }
}

/// Wraps a raw shared object with a lock (a fresh `RLock` when `None`),
/// Python's `sharedctypes.synchronized(obj, lock)`.
pub fn synchronized<O: Synchronize>(obj: O, lock: Option<SharedLock>) -> Result<O::Synchronized> {
    obj.synchronized(lock)
}

/// A raw shared object that [`copy`] can duplicate.
pub trait SharedCopy: Sized {
    /// A new shared object with the same contents.
    fn shared_copy(&self) -> Result<Self>;
}

impl<T: Pod> SharedCopy for RawValue<T> {
    fn shared_copy(&self) -> Result<Self> {
        self.copy()
    }
}

impl<T: Pod> SharedCopy for RawArray<T> {
    fn shared_copy(&self) -> Result<Self> {
        self.copy()
    }
}

/// A new raw shared object with the same contents, Python's `sharedctypes.copy(obj)`.
pub fn copy<O: SharedCopy>(obj: &O) -> Result<O> {
    obj.shared_copy()
}
