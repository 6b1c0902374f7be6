//! Errors in crossbeam's shape: one type per operation, handing the value back where one was
//! given, each with a [`kind()`](ErrorKind), plus the crate-wide [`enum@Error`].
//!
//! ```
//! use multiprocessing_queues::{Queue, ErrorKind, TryGetError, TryPutError};
//! let q = Queue::<u32>::with_maxsize(1).unwrap();
//! q.try_put(1).unwrap();
//! let TryPutError::Full(back) = q.try_put(2).unwrap_err() else { panic!() };
//! assert_eq!(back, 2); // the value is handed back
//! assert_eq!(q.try_get().unwrap(), 1);
//! let err = q.try_get().unwrap_err();
//! assert!(matches!(err, TryGetError::Empty));
//! assert_eq!(err.kind(), ErrorKind::Empty);
//! ```

use std::fmt;

pub use multiprocessing_core::ErrorKind;

/// Errors of this crate that carry no value: creating queues, `task_done`, `join_thread`, and
/// every per-operation error once its value is dropped (`From` conversions).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ErrorKind::Empty`].
    #[error("the queue is empty")]
    Empty,
    /// See [`ErrorKind::Full`].
    #[error("the queue is full")]
    Full,
    /// `get_timeout` found nothing before its timeout (Python's `queue.Empty`); its kind is
    /// [`ErrorKind::Timeout`].
    #[error("nothing arrived before the timeout")]
    GetTimeout,
    /// `put_timeout` found no room before its timeout (Python's `queue.Full`); its kind is
    /// [`ErrorKind::Timeout`].
    #[error("the queue stayed full until the timeout")]
    PutTimeout,
    /// See [`ErrorKind::Closed`].
    #[error("the queue is closed")]
    Closed,
    /// See [`ErrorKind::Disconnected`].
    #[error("the queue is empty and every other handle to it is gone")]
    Disconnected,
    /// See [`ErrorKind::Codec`].
    #[error("queue codec error: {0}")]
    Codec(String),
    /// `task_done` was called more times than items were put (Python's `ValueError`).
    #[error("task_done() called too many times")]
    TooManyTaskDone,
    /// `join_thread` was called on a queue that is not closed (Python's `AssertionError`).
    #[error("join_thread() called before close()")]
    NotClosed,
    /// See [`ErrorKind::InvalidArgument`].
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An error from the core crate (allocating the ring, transfer).
    #[error(transparent)]
    Core(#[from] multiprocessing_core::Error),
    /// An error from the synchronize crate (allocating the ring's locks).
    #[error(transparent)]
    Synchronize(#[from] multiprocessing_synchronize::Error),
}

/// Result alias with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Empty => ErrorKind::Empty,
            Error::Full => ErrorKind::Full,
            Error::GetTimeout | Error::PutTimeout => ErrorKind::Timeout,
            Error::Closed => ErrorKind::Closed,
            Error::Disconnected => ErrorKind::Disconnected,
            Error::Codec(_) => ErrorKind::Codec,
            Error::TooManyTaskDone | Error::NotClosed => ErrorKind::InvalidState,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Core(multiprocessing_core::Error::InvalidArgument(_))
            | Error::Synchronize(multiprocessing_synchronize::Error::InvalidArgument(_)) => {
                ErrorKind::InvalidArgument
            }
            Error::Core(
                multiprocessing_core::Error::Codec(_) | multiprocessing_core::Error::Transfer(_),
            ) => ErrorKind::Codec,
            Error::Core(_) | Error::Synchronize(_) => ErrorKind::Io,
        }
    }
}

/// Defines a per-operation error enum that hands its value back.
macro_rules! value_error {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $kind:ident, $msg:literal; )* }
    ) => {
        $(#[$meta])*
        #[derive(PartialEq, Eq)]
        pub enum $name<T> {
            $( $(#[$vmeta])* $variant(T), )*
            /// The value could not be encoded (it is handed back with the encoder's message);
            /// nothing was put. CPython loses such a value silently in its feeder thread.
            Encode(T, String),
        }

        impl<T> $name<T> {
            /// The kind of failure.
            #[must_use]
            pub fn kind(&self) -> ErrorKind {
                match self {
                    $( $name::$variant(_) => ErrorKind::$kind, )*
                    $name::Encode(..) => ErrorKind::Codec,
                }
            }

            /// The value that was not put.
            #[must_use]
            pub fn into_inner(self) -> T {
                match self {
                    $( $name::$variant(v) )|* | $name::Encode(v, _) => v,
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $name::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")), )*
                    $name::Encode(_, m) => write!(f, "Encode(.., {m:?})"),
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $name::$variant(_) => f.write_str($msg), )*
                    $name::Encode(_, m) => write!(f, "cannot encode the value: {m}"),
                }
            }
        }

        impl<T> std::error::Error for $name<T> {}

        impl<T> From<$name<T>> for Error {
            fn from(e: $name<T>) -> Error {
                match e {
                    $( $name::$variant(_) => value_error!(@plain $kind), )*
                    $name::Encode(_, m) => Error::Codec(m),
                }
            }
        }
    };
    (@plain Full) => { Error::Full };
    (@plain Closed) => { Error::Closed };
    (@plain Timeout) => { Error::PutTimeout };
}

value_error! {
    /// Why [`put`](crate::Queue::put) failed; the value is handed back.
    PutError {
        /// This handle was closed.
        Closed => Closed, "put on a closed queue";
    }
}

value_error! {
    /// Why [`try_put`](crate::Queue::try_put) (Python's `put_nowait`) failed; the value is handed
    /// back.
    TryPutError {
        /// The queue holds `maxsize` items (or its ring is full).
        Full => Full, "the queue is full";
        /// This handle was closed.
        Closed => Closed, "put on a closed queue";
    }
}

value_error! {
    /// Why [`put_timeout`](crate::Queue::put_timeout) failed; the value is handed back.
    PutTimeoutError {
        /// The queue stayed full until the timeout.
        Timeout => Timeout, "the queue stayed full until the timeout";
        /// This handle was closed.
        Closed => Closed, "put on a closed queue";
    }
}

/// Defines a per-operation error enum of a receiving operation.
macro_rules! get_error {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $msg:literal; )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* #[error($msg)] $variant, )*
            /// This handle was closed.
            #[error("get on a closed queue")]
            Closed,
            /// The queue is empty and no other handle to it exists in any process.
            #[error("the queue is empty and every other handle to it is gone")]
            Disconnected,
            /// An item arrived but could not be decoded into the queue's type; it is consumed.
            #[error("cannot decode the item: {0}")]
            Decode(String),
        }

        impl $name {
            /// The kind of failure.
            #[must_use]
            pub fn kind(&self) -> ErrorKind {
                Error::from(self.clone()).kind()
            }
        }

        impl From<$name> for Error {
            fn from(e: $name) -> Error {
                match e {
                    $( $name::$variant => get_error!(@plain $variant), )*
                    $name::Closed => Error::Closed,
                    $name::Disconnected => Error::Disconnected,
                    $name::Decode(m) => Error::Codec(m),
                }
            }
        }
    };
    (@plain Empty) => { Error::Empty };
    (@plain Timeout) => { Error::GetTimeout };
}

get_error! {
    /// Why [`get`](crate::Queue::get) failed.
    GetError {}
}

get_error! {
    /// Why [`try_get`](crate::Queue::try_get) (Python's `get_nowait`) failed.
    TryGetError {
        /// Nothing is in the queue right now (Python's `queue.Empty`).
        Empty => "the queue is empty";
    }
}

get_error! {
    /// Why [`get_timeout`](crate::Queue::get_timeout) failed.
    GetTimeoutError {
        /// Nothing arrived before the timeout (Python's `queue.Empty`).
        Timeout => "nothing arrived before the timeout";
    }
}

/// How a receive of the ring ended, before it is shaped into a per-operation error.
#[derive(Debug)]
pub(crate) enum RecvFailure {
    Deadline,
    Closed,
    Disconnected,
    Decode(String),
}

impl From<RecvFailure> for GetError {
    fn from(f: RecvFailure) -> GetError {
        match f {
            RecvFailure::Closed => GetError::Closed,
            RecvFailure::Decode(m) => GetError::Decode(m),
            // A get without deadline never sees one.
            RecvFailure::Disconnected | RecvFailure::Deadline => GetError::Disconnected,
        }
    }
}

impl From<RecvFailure> for TryGetError {
    fn from(f: RecvFailure) -> TryGetError {
        match f {
            RecvFailure::Deadline => TryGetError::Empty,
            RecvFailure::Closed => TryGetError::Closed,
            RecvFailure::Disconnected => TryGetError::Disconnected,
            RecvFailure::Decode(m) => TryGetError::Decode(m),
        }
    }
}

impl From<RecvFailure> for GetTimeoutError {
    fn from(f: RecvFailure) -> GetTimeoutError {
        match f {
            RecvFailure::Deadline => GetTimeoutError::Timeout,
            RecvFailure::Closed => GetTimeoutError::Closed,
            RecvFailure::Disconnected => GetTimeoutError::Disconnected,
            RecvFailure::Decode(m) => GetTimeoutError::Decode(m),
        }
    }
}

/// How a send into the ring ended, before it is shaped into a per-operation error.
#[derive(Debug)]
pub(crate) enum SendFailure {
    Full,
    Deadline,
    Closed,
    Encode(String),
}

impl<T> From<(SendFailure, T)> for PutError<T> {
    fn from((f, v): (SendFailure, T)) -> PutError<T> {
        match f {
            SendFailure::Encode(m) => PutError::Encode(v, m),
            // A put without deadline can only fail by being closed.
            SendFailure::Closed | SendFailure::Full | SendFailure::Deadline => PutError::Closed(v),
        }
    }
}

impl<T> From<(SendFailure, T)> for TryPutError<T> {
    fn from((f, v): (SendFailure, T)) -> TryPutError<T> {
        match f {
            SendFailure::Encode(m) => TryPutError::Encode(v, m),
            SendFailure::Closed => TryPutError::Closed(v),
            SendFailure::Full | SendFailure::Deadline => TryPutError::Full(v),
        }
    }
}

impl<T> From<(SendFailure, T)> for PutTimeoutError<T> {
    fn from((f, v): (SendFailure, T)) -> PutTimeoutError<T> {
        match f {
            SendFailure::Encode(m) => PutTimeoutError::Encode(v, m),
            SendFailure::Closed => PutTimeoutError::Closed(v),
            SendFailure::Full | SendFailure::Deadline => PutTimeoutError::Timeout(v),
        }
    }
}
