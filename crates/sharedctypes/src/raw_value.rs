//! [`RawValue`]: one plain-old-data value in shared memory, without a lock, Python's
//! `multiprocessing.sharedctypes.RawValue`.
//!
//! ```
//! use multiprocessing_sharedctypes::RawValue;
//! let x = RawValue::new(1.0f64 / 3.0).unwrap();
//! x.set(x.get() * x.get());
//! assert_eq!(x.get(), 1.0 / 9.0);
//! ```

use std::fmt;
use std::marker::PhantomData;

use bytemuck::Pod;
use multiprocessing_core::codec::de_error;
use multiprocessing_core::heap::HeapBlock;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Result, racy};

/// A `T` in the shared-memory heap, shared with children and readable and writable from any
/// process, without synchronization (reads and writes of one value are not atomic as a whole;
/// use [`Value`](crate::Value) for that).
pub struct RawValue<T> {
    block: HeapBlock,
    _t: PhantomData<T>,
}

pub(crate) fn alloc<T>(len: usize) -> Result<HeapBlock> {
    let bytes = std::mem::size_of::<T>().checked_mul(len).ok_or_else(|| {
        crate::Error::InvalidArgument(format!("an array of {len} elements is too large"))
    })?;
    Ok(HeapBlock::with_align(bytes, std::mem::align_of::<T>())?)
}

pub(crate) fn check_block<T, E: serde::de::Error>(block: &HeapBlock, len: usize) -> Result<(), E> {
    if Some(block.len()) != std::mem::size_of::<T>().checked_mul(len)
        || !(block.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>())
    {
        return Err(de_error(format!(
            "received block does not hold {len} values of {} bytes",
            std::mem::size_of::<T>()
        )));
    }
    Ok(())
}

impl<T: Pod> RawValue<T> {
    /// Allocates a shared value holding `value`, Python's `RawValue(typecode, value)`.
    pub fn new(value: T) -> Result<RawValue<T>> {
        let v = RawValue {
            block: alloc::<T>(1)?,
            _t: PhantomData,
        };
        v.set(value);
        Ok(v)
    }

    /// Pointer to the value, valid while this handle lives.
    #[must_use]
    pub fn as_ptr(&self) -> *mut T {
        self.block.as_ptr().cast()
    }

    /// Reads the value.
    #[must_use]
    pub fn get(&self) -> T {
        // SAFETY: the block holds one aligned `T` for as long as `self` lives.
        unsafe { racy::load(self.as_ptr()) }
    }

    /// Writes the value.
    pub fn set(&self, value: T) {
        // SAFETY: as in `get`.
        unsafe { racy::store(self.as_ptr(), value) }
    }

    /// A new shared value with the same contents, Python's `sharedctypes.copy`.
    pub fn copy(&self) -> Result<RawValue<T>> {
        RawValue::new(self.get())
    }
}

impl<T> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        RawValue {
            block: self.block.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawValue").field(&self.get()).finish()
    }
}

impl<T> Serialize for RawValue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.block.serialize(s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let block = HeapBlock::deserialize(d)?;
        check_block::<T, D::Error>(&block, 1)?;
        Ok(RawValue {
            block,
            _t: PhantomData,
        })
    }
}
