//! [`Array`]: a shared array guarded by a lock, Python's `multiprocessing.Array`.
//!
//! ```
//! use multiprocessing_sharedctypes::Array;
//! let arr = Array::new(&(0..10).collect::<Vec<i32>>()).unwrap();
//! {
//!     let mut a = arr.lock().unwrap(); // index, slice and iterate under the lock
//!     for x in a.iter_mut() {
//!         *x = -*x;
//!     }
//!     a[0] = 100;
//!     assert_eq!(&a[1..3], &[-1, -2]);
//! }
//! assert_eq!(arr.get(0).unwrap(), 100);
//! let s = Array::new(b"hello world").unwrap();
//! let upper = s.value().unwrap().to_ascii_uppercase();
//! s.set_value(&upper).unwrap();
//! assert_eq!(s.value().unwrap(), b"HELLO WORLD");
//! ```

use std::fmt;
use std::ops::{Deref, DerefMut};

use bytemuck::Pod;
use multiprocessing_synchronize::LockResult;
use serde::{Deserialize, Serialize};

use crate::{Error, RawArray, Result, SharedLock, SharedLockGuard};

/// A [`RawArray`] with a lock, synchronized across processes. The lock is a fresh
/// [`RLock`](multiprocessing_synchronize::RLock) unless one is given.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "", deserialize = "T: Pod"))]
#[doc(alias = "SynchronizedArray")]
pub struct Array<T> {
    obj: RawArray<T>,
    lock: SharedLock,
}

/// Access to an [`Array`]'s elements as a slice while holding its lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T> {
    _guard: SharedLockGuard<'a>,
    array: &'a RawArray<T>,
}

impl<T: Pod> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the block holds `len` aligned, initialized values for as long as `array`
        // lives, and the lock keeps other lock users away.
        unsafe { std::slice::from_raw_parts(self.array.as_ptr(), self.array.len()) }
    }
}

impl<T: Pod> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; the guard is borrowed mutably, so this is the only slice in
        // this process, and the lock excludes other processes using the lock.
        unsafe { std::slice::from_raw_parts_mut(self.array.as_ptr(), self.array.len()) }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Pod> Array<T> {
    /// A shared array holding a copy of `values`, guarded by a fresh `RLock`,
    /// Python's `Array(typecode, sequence)`.
    pub fn new(values: &[T]) -> Result<Array<T>> {
        Array::with_lock(values, SharedLock::new_rlock()?)
    }

    /// A shared array of `len` zeroed values, guarded by a fresh `RLock`,
    /// Python's `Array(typecode, size)`.
    #[doc(alias = "Array")]
    pub fn zeroed(len: usize) -> Result<Array<T>> {
        Ok(Array {
            obj: RawArray::zeroed(len)?,
            lock: SharedLock::new_rlock()?,
        })
    }

    /// A shared array guarded by `lock`, Python's `Array(typecode, sequence, lock=lock)`.
    pub fn with_lock(values: &[T], lock: impl Into<SharedLock>) -> Result<Array<T>> {
        Ok(Array {
            obj: RawArray::new(values)?,
            lock: lock.into(),
        })
    }

    pub(crate) fn from_parts(obj: RawArray<T>, lock: SharedLock) -> Array<T> {
        Array { obj, lock }
    }

    /// Holds the lock and gives access to the elements as a slice.
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T>> {
        let wrap = |g| ArrayGuard {
            _guard: g,
            array: &self.obj,
        };
        self.lock.lock().map(wrap).map_err(|e| e.map(wrap))
    }

    fn locked(&self) -> Result<ArrayGuard<'_, T>> {
        self.lock().map_err(|_| Error::OwnerDied)
    }

    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.obj.len()
    }

    /// Whether the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.obj.is_empty()
    }

    /// Reads element `index` under the lock.
    pub fn get(&self, index: usize) -> Result<T> {
        let guard = self.locked()?;
        guard.get(index).copied().ok_or(Error::IndexOutOfRange {
            index,
            len: self.len(),
        })
    }

    /// Writes element `index` under the lock.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        let _guard = self.locked()?;
        self.obj.set(index, value)
    }

    /// Copies every element out under the lock, Python's `arr[:]`.
    #[doc(alias = "__getitem__")]
    pub fn to_vec(&self) -> Result<Vec<T>> {
        Ok(self.locked()?.to_vec())
    }

    /// The lock, Python's `get_lock()`.
    #[must_use]
    pub fn get_lock(&self) -> &SharedLock {
        &self.lock
    }

    /// The unsynchronized array underneath, Python's `get_obj()`.
    #[must_use]
    pub fn get_obj(&self) -> &RawArray<T> {
        &self.obj
    }
}

impl Array<u8> {
    /// The bytes up to the first NUL, under the lock (Python's `value` of a `c_char` array).
    pub fn value(&self) -> Result<Vec<u8>> {
        let _guard = self.locked()?;
        Ok(self.obj.value())
    }

    /// Stores `bytes` (and a NUL if there is room) under the lock.
    pub fn set_value(&self, bytes: &[u8]) -> Result<()> {
        let _guard = self.locked()?;
        self.obj.set_value(bytes)
    }

    /// All the bytes, under the lock (Python's `raw`).
    pub fn raw(&self) -> Result<Vec<u8>> {
        let _guard = self.locked()?;
        Ok(self.obj.raw())
    }

    /// Stores `bytes` at the start under the lock (Python's `raw` setter).
    pub fn set_raw(&self, bytes: &[u8]) -> Result<()> {
        let _guard = self.locked()?;
        self.obj.set_raw(bytes)
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Array").field(&self.obj).finish()
    }
}
