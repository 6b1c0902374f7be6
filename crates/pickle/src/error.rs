//! The crate's error type: every way a pickle can fail to read or write, by kind.

use multiprocessing_core::ErrorKind;

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a pickle could not be read or written (Python's `UnpicklingError` / `PicklingError`).
///
/// Every malformed input gives one of these, never a panic. All of them are
/// [`ErrorKind::Codec`] by [`Error::kind`].
///
/// ```
/// use multiprocessing_pickle::{Error, loads};
/// // A protocol-2 pickle of a list, cut short before its STOP opcode.
/// assert!(matches!(loads(b"\x80\x02]q\x00"), Err(Error::Truncated { .. })));
/// assert!(matches!(loads(b"\xff"), Err(Error::UnknownOpcode { opcode: 0xff, offset: 0 })));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
#[doc(alias = "UnpicklingError")]
#[doc(alias = "PicklingError")]
pub enum Error {
    /// The input ended in the middle of an opcode or before STOP.
    #[error("pickle data was truncated (at byte {offset})")]
    Truncated {
        /// Where the missing bytes should have been.
        offset: usize,
    },
    /// A byte that is no pickle opcode.
    #[error("invalid pickle opcode {opcode:#04x} at byte {offset}")]
    UnknownOpcode {
        /// The byte.
        opcode: u8,
        /// Where it was.
        offset: usize,
    },
    /// An opcode whose operands or stack make no sense: a bad literal, a stack underflow, a
    /// missing memo entry, a constructor whose arguments are not a tuple.
    #[error("malformed pickle at byte {offset}: {reason}")]
    Malformed {
        /// The opcode's position.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A valid pickle feature this crate does not give meaning to: persistent ids, the
    /// extension registry, out-of-band buffers, protocols above 5, strings with lone surrogates;
    /// when writing, a recursive reference to a tuple or keyword arguments below protocol 4.
    #[error("unsupported pickle feature: {0}")]
    Unsupported(String),
    /// A limit of [`Limits`](crate::Limits) was reached (depth, memo entries, output size).
    #[error("pickle limit exceeded: {0}")]
    LimitExceeded(String),
    /// A value did not fit the serde type asked for, or a serde type could not become a value.
    #[error("{0}")]
    Serde(String),
}

impl Error {
    /// The workspace-wide reason: always [`ErrorKind::Codec`].
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Codec
    }
}

impl serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Serde(msg.to_string())
    }
}

impl serde::de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Serde(msg.to_string())
    }
}
