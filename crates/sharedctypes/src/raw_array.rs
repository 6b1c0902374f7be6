//! [`RawArray`]: a fixed-length array of plain-old-data in shared memory, without a lock,
//! Python's `multiprocessing.sharedctypes.RawArray`.
//!
//! ```
//! use multiprocessing_sharedctypes::RawArray;
//! let a = RawArray::new(&[1i32, 2, 3]).unwrap();
//! a.set(0, 10).unwrap();
//! assert_eq!(a.get(0), Some(10));
//! assert_eq!(a.iter().sum::<i32>(), 15);
//! assert!(a.set(3, 0).is_err());
//! let zeros = RawArray::<f64>::zeroed(4).unwrap();
//! assert_eq!(zeros.to_vec(), [0.0; 4]);
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use bytemuck::Pod;
use multiprocessing_core::heap::HeapBlock;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::racy;
use crate::raw_value::{alloc, check_block};
use crate::{Error, Result};

/// `len` values of `T` in the shared-memory heap, without synchronization: every element read
/// or written is copied whole or torn by a racing writer, never referenced, so racing threads
/// and processes see stale or mixed bytes but never undefined behaviour.
pub struct RawArray<T> {
    block: HeapBlock,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> RawArray<T> {
    /// A shared array holding a copy of `values`, Python's `RawArray(typecode, sequence)`.
    pub fn new(values: &[T]) -> Result<RawArray<T>> {
        let a = RawArray::zeroed(values.len())?;
        a.write(0, values)?;
        Ok(a)
    }

    /// A shared array of `len` zeroed values, Python's `RawArray(typecode, size)`.
    #[doc(alias = "RawArray")]
    pub fn zeroed(len: usize) -> Result<RawArray<T>> {
        Ok(RawArray {
            block: alloc::<T>(len)?,
            len,
            _t: PhantomData,
        })
    }

    /// Pointer to the first element, valid while this handle lives.
    #[must_use]
    pub fn as_ptr(&self) -> *mut T {
        self.block.as_ptr().cast()
    }

    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads element `index`, `None` past the end.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<T> {
        // SAFETY: in bounds and aligned for as long as `self` lives.
        (index < self.len).then(|| unsafe { racy::load(self.as_ptr().add(index)) })
    }

    /// Writes element `index`.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        if index >= self.len {
            return Err(Error::IndexOutOfRange {
                index,
                len: self.len,
            });
        }
        // SAFETY: in bounds and aligned.
        unsafe { racy::store(self.as_ptr().add(index), value) };
        Ok(())
    }

    /// Copies the elements in `range` out, Python's `a[i:j]`.
    #[doc(alias = "__getitem__")]
    pub fn read(&self, range: Range<usize>) -> Result<Vec<T>> {
        if range.start > range.end || range.end > self.len {
            return Err(Error::IndexOutOfRange {
                index: range.end,
                len: self.len,
            });
        }
        Ok(range.filter_map(|i| self.get(i)).collect())
    }

    /// Writes `values` starting at `start`, Python's `a[i:i+n] = values`.
    #[doc(alias = "__setitem__")]
    pub fn write(&self, start: usize, values: &[T]) -> Result<()> {
        let end = start
            .checked_add(values.len())
            .filter(|&e| e <= self.len)
            .ok_or(Error::TooLong {
                len: start.saturating_add(values.len()),
                capacity: self.len,
            })?;
        for (i, v) in (start..end).zip(values) {
            // SAFETY: `i < end <= len`, aligned.
            unsafe { racy::store(self.as_ptr().add(i), *v) };
        }
        Ok(())
    }

    /// Copies every element out.
    #[must_use]
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }

    /// Iterates over copies of the elements.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + '_ {
        (0..self.len).map(|i| {
            // SAFETY: `i < len`, aligned.
            unsafe { racy::load(self.as_ptr().add(i)) }
        })
    }

    /// A new shared array with the same contents, Python's `sharedctypes.copy`.
    pub fn copy(&self) -> Result<RawArray<T>> {
        RawArray::new(&self.to_vec())
    }
}

impl RawArray<u8> {
    /// The bytes up to the first NUL, Python's `value` of a `c_char` array.
    #[must_use]
    pub fn value(&self) -> Vec<u8> {
        self.iter().take_while(|&b| b != 0).collect()
    }

    /// Stores `bytes` followed by a NUL if there is room; longer than the array is an error.
    pub fn set_value(&self, bytes: &[u8]) -> Result<()> {
        self.write(0, bytes)?;
        if bytes.len() < self.len {
            self.set(bytes.len(), 0)?;
        }
        Ok(())
    }

    /// All the bytes, Python's `raw`.
    #[must_use]
    pub fn raw(&self) -> Vec<u8> {
        self.to_vec()
    }

    /// Stores `bytes` at the start (Python's `raw` setter); longer than the array is an error.
    pub fn set_raw(&self, bytes: &[u8]) -> Result<()> {
        self.write(0, bytes)
    }
}

impl<T> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        RawArray {
            block: self.block.clone(),
            len: self.len,
            _t: PhantomData,
        }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> Serialize for RawArray<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.block, self.len as u64).serialize(s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (block, len): (HeapBlock, u64) = Deserialize::deserialize(d)?;
        let len = usize::try_from(len)
            .map_err(|_| multiprocessing_core::codec::de_error("array length overflows"))?;
        check_block::<T, D::Error>(&block, len)?;
        Ok(RawArray {
            block,
            len,
            _t: PhantomData,
        })
    }
}
