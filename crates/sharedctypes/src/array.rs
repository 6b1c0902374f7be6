//! [`Array`]: a shared array guarded by a lock, Python's `multiprocessing.Array`.
//!
//! ```
//! use multiprocessing_sharedctypes::Array;
//! let arr = Array::new(&(0..10).collect::<Vec<i32>>()).unwrap();
//! {
//!     let a = arr.lock().unwrap(); // read, write and update under the lock
//!     a.update(|a| a.iter_mut().for_each(|x| *x = -*x));
//!     a.set(0, 100).unwrap();
//!     assert_eq!(a.read(1..3).unwrap(), [-1, -2]);
//! }
//! assert_eq!(arr.get(0).unwrap(), 100);
//! let s = Array::new(b"hello world").unwrap();
//! let upper = s.value().unwrap().to_ascii_uppercase();
//! s.set_value(&upper).unwrap();
//! assert_eq!(s.value().unwrap(), b"HELLO WORLD");
//! ```

use std::fmt;

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

/// An [`Array`]'s lock, held: read, write and update its elements while other lock users wait.
///
/// As with [`ValueGuard`](crate::ValueGuard), the guard hands out copies, never references into
/// shared memory (a second guard from the same thread's `RLock`, or a write through
/// [`Array::get_obj`], could otherwise alias them); [`update`](Self::update) runs a closure
/// on a copy of the elements and writes it back:
///
/// ```
/// use multiprocessing_sharedctypes::Array;
/// let arr = Array::new(&[1i32, 2, 3]).unwrap();
/// let guard = arr.lock().unwrap();
/// guard.update(|a| a.iter_mut().for_each(|x| *x = -*x));
/// guard.set(0, 100).unwrap();
/// assert_eq!(guard.to_vec(), [100, -2, -3]);
/// ```
///
/// ```compile_fail
/// use multiprocessing_sharedctypes::Array;
/// let arr = Array::new(&[1i32, 2, 3]).unwrap();
/// arr.lock().unwrap()[0] = 5; // error: the guard is not a slice
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T> {
    _guard: SharedLockGuard<'a>,
    array: &'a RawArray<T>,
}

impl<T: Pod> ArrayGuard<'_, T> {
    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.array.len()
    }

    /// Whether the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.array.is_empty()
    }

    /// Reads element `index`, `None` past the end.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<T> {
        self.array.get(index)
    }

    /// Writes element `index`.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        self.array.set(index, value)
    }

    /// Copies the elements in `range` out, Python's `a[i:j]`.
    pub fn read(&self, range: std::ops::Range<usize>) -> Result<Vec<T>> {
        self.array.read(range)
    }

    /// Writes `values` starting at `start`, Python's `a[i:i+n] = values`.
    pub fn write(&self, start: usize, values: &[T]) -> Result<()> {
        self.array.write(start, values)
    }

    /// Copies every element out, Python's `a[:]`.
    #[must_use]
    pub fn to_vec(&self) -> Vec<T> {
        self.array.to_vec()
    }

    /// Iterates over copies of the elements.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + '_ {
        self.array.iter()
    }

    /// Copies the elements into `f` and writes back what `f` left; returns what `f` returns.
    pub fn update<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> R {
        let mut v = self.array.to_vec();
        let r = f(&mut v);
        // Same length by construction: a slice cannot grow.
        let _ = self.array.write(0, &v);
        r
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
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

    /// Holds the lock and gives access to the elements.
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
        guard.get(index).ok_or(Error::IndexOutOfRange {
            index,
            len: self.len(),
        })
    }

    /// Writes element `index` under the lock.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        let _guard = self.locked()?;
        self.obj.set(index, value)
    }

    /// Read-modify-write of every element under the lock: `f` gets a copy of the elements and
    /// what it leaves is written back. Returns what `f` returns.
    pub fn update<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
        Ok(self.locked()?.update(f))
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
