//! The error type of this crate.
//!
//! ```
//! use multiprocessing_sharedctypes::{Error, RawArray};
//! let a = RawArray::new(&[1u8, 2]).unwrap();
//! assert!(matches!(a.set(2, 0), Err(Error::IndexOutOfRange { index: 2, len: 2 })));
//! assert_eq!(a.set(2, 0).unwrap_err().kind(), multiprocessing_core::ErrorKind::OutOfRange);
//! ```

use multiprocessing_core::ErrorKind;

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by shared values and arrays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the core crate (heap allocation, transfer, I/O).
    #[error(transparent)]
    Core(#[from] multiprocessing_core::Error),
    /// An error from a lock.
    #[error(transparent)]
    Synchronize(#[from] multiprocessing_synchronize::Error),
    /// An index past the end of an array, Python's `IndexError`.
    #[error("index {index} out of range for an array of length {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// Data longer than the array, Python's `ValueError: byte string too long`.
    #[error("{len} elements do not fit in an array of length {capacity}")]
    TooLong {
        /// Length of the data.
        len: usize,
        /// The array's length.
        capacity: usize,
    },
    /// The operation was not done: the lock's previous owner died holding it, so the value may
    /// be inconsistent. Use `lock()` to get the lock and repair it.
    #[error("the previous owner of the lock died while holding it")]
    OwnerDied,
    /// An argument or a received value was invalid, Python's `ValueError`.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl<G> From<multiprocessing_synchronize::OwnerDied<G>> for Error {
    fn from(_: multiprocessing_synchronize::OwnerDied<G>) -> Self {
        Error::OwnerDied
    }
}

impl Error {
    /// Why the operation failed, for matching (an index past the end is
    /// [`ErrorKind::OutOfRange`], Python's `IndexError`).
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Core(e) => e.kind(),
            Error::Synchronize(e) => e.kind(),
            Error::IndexOutOfRange { .. } => ErrorKind::OutOfRange,
            Error::TooLong { .. } | Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::OwnerDied => ErrorKind::OwnerDied,
        }
    }
}
