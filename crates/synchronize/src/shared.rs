//! [`Shared<T>`]: a typed state struct living in a shared-memory heap block.
//!
//! Every primitive is such a handle: cloning it shares the same state.
//!
//! ```
//! let a = multiprocessing_synchronize::Semaphore::new(1).unwrap();
//! let b = a.clone();
//! assert!(a.try_acquire());
//! assert_eq!(b.get_value(), 0);
//! ```

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};

use multiprocessing_core::codec::de_error;
use multiprocessing_core::heap::HeapBlock;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Result;

/// A state struct that may live in shared memory.
///
/// # Safety
/// Implementors are `#[repr(C)]`, start with an `AtomicU32` holding [`Self::MAGIC`], contain
/// only atomics and plain integers (valid for any bit pattern), and need at most 16-byte alignment.
pub(crate) unsafe trait SharedState: Sized {
    /// Tags the block so a handle of the wrong kind is refused when received.
    const MAGIC: u32;
    /// Name used in error messages.
    const NAME: &'static str;
}

/// A handle to a `T` in the shared-memory heap.
pub(crate) struct Shared<T> {
    block: HeapBlock,
    _t: PhantomData<T>,
}

impl<T: SharedState> Shared<T> {
    pub(crate) fn new(init: T) -> Result<Shared<T>> {
        let block = HeapBlock::new(std::mem::size_of::<T>())?;
        // SAFETY: the block is fresh, large enough and 16-aligned (T needs at most 16); no other
        // process knows it yet.
        unsafe { block.as_ptr().cast::<T>().write(init) };
        Ok(Shared {
            block,
            _t: PhantomData,
        })
    }

    #[inline]
    pub(crate) fn get(&self) -> &T {
        // SAFETY: the block holds an initialized `T` (checked by MAGIC when received); `T` is
        // only atomics and plain integers, so shared references across threads and processes
        // are sound.
        unsafe { &*self.block.as_ptr().cast::<T>() }
    }

    pub(crate) fn same(&self, other: &Shared<T>) -> bool {
        self.block.same_block(&other.block)
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            block: self.block.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.block.fmt(f)
    }
}

impl<T> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.block.serialize(s)
    }
}

impl<'de, T: SharedState> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let block = HeapBlock::deserialize(d)?;
        if block.len() < std::mem::size_of::<T>() {
            return Err(de_error(format!(
                "received block is too small for a {}",
                T::NAME
            )));
        }
        // SAFETY: the block is at least 4 bytes, 16-aligned, and its first word is only read
        // atomically.
        let magic = unsafe { &*block.as_ptr().cast::<AtomicU32>() };
        if magic.load(Ordering::Acquire) != T::MAGIC {
            return Err(de_error(format!(
                "received block does not hold a {}",
                T::NAME
            )));
        }
        Ok(Shared {
            block,
            _t: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use multiprocessing_core::transfer::{decode_with_fds, encode_with_fds};

    use crate::{Barrier, Event, Lock, Semaphore};

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn a_handle_of_another_kind_is_refused() {
        let (bytes, fds) = encode_with_fds(&Lock::new().unwrap()).unwrap();
        let err = decode_with_fds::<Event>(&bytes, fds).unwrap_err();
        assert_eq!(err.kind(), multiprocessing_core::ErrorKind::Codec, "{err}");
        let (bytes, fds) = encode_with_fds(&Semaphore::new(1).unwrap()).unwrap();
        assert!(decode_with_fds::<Semaphore>(&bytes, fds).is_ok());
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn handles_refuse_plain_encoding() {
        let err = multiprocessing_core::codec::encode(&Lock::new().unwrap()).unwrap_err();
        assert_eq!(
            err.kind(),
            multiprocessing_core::ErrorKind::Transfer,
            "{err}"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn bad_arguments_are_errors() {
        assert!(Barrier::new(0).is_err());
        assert!(Semaphore::new(crate::SEM_VALUE_MAX + 1).is_err());
        let sem = Semaphore::new(crate::SEM_VALUE_MAX).unwrap();
        assert!(matches!(sem.release(), Err(crate::Error::TooManyReleases)));
    }
}
