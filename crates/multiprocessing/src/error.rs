//! The library-wide error: every sub-crate's error converts into it, so `?` works across them.
//!
//! ```
//! fn roundtrip() -> Result<String, multiprocessing::Error> {
//!     let (mut a, mut b) = multiprocessing::pipe(true)?; // a connection error converts
//!     a.send("hi")?;
//!     Ok(b.recv()?)
//! }
//! assert_eq!(roundtrip().unwrap(), "hi");
//! ```

pub use multiprocessing_core::ErrorKind;

/// Any error of the library, tagged with the crate it came from.
///
/// [`Error::kind`] says why, for matching, whichever crate the error came from;
/// [`Error::python_exception`] names the Python exception the same failure raises, for readers
/// coming from Python's `multiprocessing`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From `multiprocessing-core`.
    #[error(transparent)]
    Core(#[from] multiprocessing_core::Error),
    /// From `multiprocessing-connection`.
    #[cfg(feature = "connection")]
    #[error(transparent)]
    Connection(#[from] multiprocessing_connection::Error),
    /// From `multiprocessing-process`.
    #[cfg(feature = "process")]
    #[error(transparent)]
    Process(#[from] multiprocessing_process::Error),
    /// From `multiprocessing-synchronize`.
    #[cfg(feature = "synchronize")]
    #[error(transparent)]
    Synchronize(#[from] multiprocessing_synchronize::Error),
    /// From `multiprocessing-sharedctypes`.
    #[cfg(feature = "sharedctypes")]
    #[error(transparent)]
    Sharedctypes(#[from] multiprocessing_sharedctypes::Error),
    /// From `multiprocessing-queues`.
    #[cfg(feature = "queues")]
    #[error(transparent)]
    Queues(#[from] multiprocessing_queues::Error),
    /// From `multiprocessing-pool`.
    #[cfg(feature = "pool")]
    #[error(transparent)]
    Pool(#[from] multiprocessing_pool::Error),
    /// From `multiprocessing-managers`.
    #[cfg(feature = "managers")]
    #[error(transparent)]
    Managers(#[from] multiprocessing_managers::Error),
}

#[cfg(feature = "synchronize")]
impl<G> From<multiprocessing_synchronize::OwnerDied<G>> for Error {
    fn from(e: multiprocessing_synchronize::OwnerDied<G>) -> Self {
        Error::Synchronize(e.into())
    }
}

/// A failed `try_lock` or `lock_timeout` converts too (dropping the guard of a lock taken from
/// a dead owner), so `?` works on them.
#[cfg(feature = "synchronize")]
impl<G> From<multiprocessing_synchronize::TryLockError<G>> for Error {
    fn from(e: multiprocessing_synchronize::TryLockError<G>) -> Self {
        Error::Synchronize(e.into())
    }
}

/// A queue operation's own error converts too (dropping the value it hands back), so `?`
/// works on `put` and `get` in a function returning [`enum@Error`].
#[cfg(feature = "queues")]
macro_rules! from_queue_errors {
    ($($name:ident$(<$t:ident>)?),*) => {$(
        impl$(<$t>)? From<multiprocessing_queues::$name$(<$t>)?> for Error {
            fn from(e: multiprocessing_queues::$name$(<$t>)?) -> Self {
                Error::Queues(e.into())
            }
        }
    )*};
}
#[cfg(feature = "queues")]
from_queue_errors!(
    PutError<T>,
    TryPutError<T>,
    PutTimeoutError<T>,
    GetError,
    TryGetError,
    GetTimeoutError
);

impl From<multiprocessing_core::time::TimedOut> for Error {
    fn from(e: multiprocessing_core::time::TimedOut) -> Self {
        Error::Core(e.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Core(e.into())
    }
}

/// The Python exception that corresponds to an [`enum@Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PythonException {
    /// `multiprocessing.ProcessError`.
    ProcessError,
    /// `multiprocessing.BufferTooShort`.
    BufferTooShort,
    /// `multiprocessing.AuthenticationError`.
    AuthenticationError,
    /// `multiprocessing.TimeoutError` / `TimeoutError`.
    TimeoutError,
    /// `EOFError`: the peer closed the connection.
    EOFError,
    /// `OSError`: the operating system failed, or a connection is closed or used the wrong way.
    OSError,
    /// `ValueError`: an argument out of range.
    ValueError,
    /// `threading.BrokenBarrierError`.
    BrokenBarrierError,
    /// `IndexError`: an index past the end of an array.
    IndexError,
    /// `KeyError`: a key not in a (managed) dict.
    KeyError,
    /// `queue.Empty`.
    Empty,
    /// `queue.Full`.
    Full,
    /// `AssertionError`: an API used out of order (`Queue.join_thread()` before `close()`).
    AssertionError,
    /// `multiprocessing.managers.RemoteError` / a pool's re-raised remote exception.
    RemoteError,
    /// `pickle.PicklingError` / `UnpicklingError`: a value could not be encoded or decoded.
    PicklingError,
    /// `TypeError`: a shared object's method got arguments of the wrong type or count.
    TypeError,
    /// `AttributeError`: a shared object has no such method, or its registration does not
    /// expose it.
    AttributeError,
    /// `StopIteration`: a shared generator ended.
    StopIteration,
    /// `RuntimeError`: a shared object's method failed (a custom type's `Err`).
    RuntimeError,
    /// `OverflowError`: a shared function's integer result beyond its range.
    OverflowError,
    /// `ZeroDivisionError`: a shared function divided by zero.
    ZeroDivisionError,
    /// `KeyboardInterrupt`: Ctrl-C stopped a pool built with `stop_on_interrupt`.
    KeyboardInterrupt,
    /// No Python exception: Python deadlocks or crashes where Rust reports this, or returns a
    /// flag (`acquire(block=False)` returning `False` for [`ErrorKind::WouldBlock`]).
    RustOnly,
}

impl Error {
    /// Why the operation failed, for matching: the sub-crate's error's own
    /// [`kind`](multiprocessing_core::Error::kind).
    ///
    /// ```
    /// use multiprocessing::{Error, ErrorKind, Lock};
    /// fn release_twice() -> Result<(), Error> {
    ///     let lock = Lock::new()?;
    ///     lock.acquire(true, None)?;
    ///     lock.release()?;
    ///     lock.release()?; // one release too many
    ///     Ok(())
    /// }
    /// assert_eq!(release_twice().unwrap_err().kind(), ErrorKind::NotLocked);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Core(e) => e.kind(),
            #[cfg(feature = "connection")]
            Error::Connection(e) => e.kind(),
            #[cfg(feature = "process")]
            Error::Process(e) => e.kind(),
            #[cfg(feature = "synchronize")]
            Error::Synchronize(e) => e.kind(),
            #[cfg(feature = "sharedctypes")]
            Error::Sharedctypes(e) => e.kind(),
            #[cfg(feature = "queues")]
            Error::Queues(e) => e.kind(),
            #[cfg(feature = "pool")]
            Error::Pool(e) => e.kind(),
            #[cfg(feature = "managers")]
            Error::Managers(e) => e.kind(),
        }
    }

    /// The Python exception raised for the same failure, derived from the
    /// [`kind`](Self::kind) (and, where Python splits one kind, from the variant).
    ///
    /// ```
    /// use multiprocessing::{Error, PythonException};
    /// let e: Error = multiprocessing::runtime::Error::Timeout.into();
    /// assert_eq!(e.python_exception(), PythonException::TimeoutError);
    /// ```
    #[must_use]
    pub fn python_exception(&self) -> PythonException {
        use PythonException as P;
        // Where Python raises another exception than the kind's usual one.
        #[cfg(feature = "connection")]
        if let Error::Connection(
            multiprocessing_connection::Error::UnexpectedEof
            | multiprocessing_connection::Error::ReadOnly
            | multiprocessing_connection::Error::WriteOnly,
        ) = self
        {
            return P::OSError;
        }
        #[cfg(feature = "process")]
        if let Error::Process(multiprocessing_process::Error::Closed) = self {
            return P::ValueError;
        }
        #[cfg(feature = "queues")]
        if let Error::Queues(e) = self {
            use multiprocessing_queues::Error as Q;
            match e {
                // Python's timed `get` and `put` raise the non-blocking forms' exceptions.
                Q::GetTimeout => return P::Empty,
                Q::PutTimeout => return P::Full,
                Q::Closed => return P::ValueError,
                Q::NotClosed => return P::AssertionError,
                _ => {}
            }
        }
        #[cfg(feature = "managers")]
        if let Some(e) = self.managers_exception() {
            return e;
        }
        match self.kind() {
            ErrorKind::Io | ErrorKind::Closed | ErrorKind::Protocol => P::OSError,
            ErrorKind::Timeout => P::TimeoutError,
            ErrorKind::Eof => P::EOFError,
            ErrorKind::BufferTooShort => P::BufferTooShort,
            ErrorKind::Authentication => P::AuthenticationError,
            ErrorKind::Codec | ErrorKind::Transfer | ErrorKind::CodeRefused => P::PicklingError,
            ErrorKind::InvalidArgument | ErrorKind::NotLocked | ErrorKind::NotOwner => {
                P::ValueError
            }
            ErrorKind::OutOfRange => P::IndexError,
            ErrorKind::NotFound => P::KeyError,
            ErrorKind::BrokenBarrier => P::BrokenBarrierError,
            ErrorKind::Empty => P::Empty,
            ErrorKind::Full => P::Full,
            ErrorKind::InvalidState => P::ValueError,
            ErrorKind::Remote => P::RemoteError,
            ErrorKind::Unsupported
            | ErrorKind::AlreadyStarted
            | ErrorKind::NotStarted
            | ErrorKind::StillRunning
            | ErrorKind::WrongProcess
            | ErrorKind::WorkerLost => P::ProcessError,
            ErrorKind::Interrupted => P::KeyboardInterrupt,
            ErrorKind::OwnerDied | ErrorKind::WouldBlock => P::RustOnly,
            _ => P::RustOnly,
        }
    }
}

impl Error {
    /// The exception a shared object's method raised, named as Python names it.
    #[cfg(feature = "managers")]
    fn managers_exception(&self) -> Option<PythonException> {
        use PythonException as P;
        use multiprocessing_managers::Exception as X;
        let Error::Managers(e) = self else {
            return None;
        };
        Some(match e.exception()? {
            X::KeyError => P::KeyError,
            X::IndexError => P::IndexError,
            X::ValueError => P::ValueError,
            X::TypeError => P::TypeError,
            X::AttributeError => P::AttributeError,
            X::StopIteration => P::StopIteration,
            X::TimeoutError => P::TimeoutError,
            X::RuntimeError => P::RuntimeError,
            X::Empty => P::Empty,
            X::Full => P::Full,
            X::BrokenBarrierError => P::BrokenBarrierError,
            X::OverflowError => P::OverflowError,
            X::ZeroDivisionError => P::ZeroDivisionError,
            // Python's `RuntimeError('cannot release un-acquired lock')`.
            X::NotOwner => P::RuntimeError,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_exceptions_follow_kinds() {
        use PythonException as P;
        let core = |e: multiprocessing_core::Error| Error::from(e).python_exception();
        assert_eq!(core(multiprocessing_core::Error::Timeout), P::TimeoutError);
        assert_eq!(
            core(multiprocessing_core::Error::Codec("x".into())),
            P::PicklingError
        );
        #[cfg(feature = "connection")]
        {
            use multiprocessing_connection::Error as C;
            assert_eq!(Error::from(C::Eof).python_exception(), P::EOFError);
            assert_eq!(Error::from(C::UnexpectedEof).python_exception(), P::OSError);
            assert_eq!(Error::from(C::Closed).kind(), ErrorKind::Closed);
        }
        #[cfg(feature = "process")]
        {
            use multiprocessing_process::Error as Pr;
            assert_eq!(
                Error::from(Pr::AlreadyStarted).python_exception(),
                P::ProcessError
            );
            assert_eq!(Error::from(Pr::Closed).python_exception(), P::ValueError);
            assert_eq!(Error::from(Pr::Exited(3)).python_exception(), P::RustOnly);
        }
        #[cfg(feature = "synchronize")]
        {
            let lock = multiprocessing_synchronize::Lock::new().unwrap();
            let _held = lock.try_lock().unwrap();
            let e = Error::from(lock.try_lock().unwrap_err());
            assert_eq!(e.kind(), ErrorKind::WouldBlock);
            assert_eq!(e.python_exception(), P::RustOnly);
        }
        #[cfg(feature = "managers")]
        {
            use multiprocessing_managers::{Error as M, Exception as X, Raised};
            let raised = |x| Error::from(M::Raised(Raised::new(x, "m"))).python_exception();
            assert_eq!(raised(X::ZeroDivisionError), P::ZeroDivisionError);
            assert_eq!(raised(X::OverflowError), P::OverflowError);
            assert_eq!(raised(X::AttributeError), P::AttributeError);
            assert_eq!(raised(X::StopIteration), P::StopIteration);
            assert_eq!(raised(X::KeyError), P::KeyError);
            assert_eq!(raised(X::NotOwner), P::RuntimeError);
            let remote = Error::from(M::Remote("boom".into()));
            assert_eq!(remote.python_exception(), P::RemoteError);
        }
        #[cfg(feature = "pool")]
        {
            let e = Error::from(multiprocessing_pool::Error::Interrupted);
            assert_eq!(e.kind(), ErrorKind::Interrupted);
            assert_eq!(e.python_exception(), P::KeyboardInterrupt);
        }
        #[cfg(feature = "sharedctypes")]
        {
            let e = multiprocessing_sharedctypes::Error::IndexOutOfRange { index: 2, len: 1 };
            assert_eq!(Error::from(e).python_exception(), P::IndexError);
        }
        #[cfg(feature = "queues")]
        {
            use multiprocessing_queues::{
                GetError, GetTimeoutError, PutError, PutTimeoutError, TryGetError, TryPutError,
            };
            assert_eq!(
                Error::from(TryPutError::Full(7u8)).python_exception(),
                P::Full
            );
            assert_eq!(Error::from(TryGetError::Empty).python_exception(), P::Empty);
            let py = |e: multiprocessing_queues::Error| Error::from(e).python_exception();
            assert_eq!(
                Error::from(GetTimeoutError::Timeout).python_exception(),
                P::Empty
            );
            assert_eq!(
                Error::from(PutTimeoutError::Timeout(1u8)).python_exception(),
                P::Full
            );
            assert_eq!(
                Error::from(GetTimeoutError::Timeout).kind(),
                ErrorKind::Timeout
            );
            assert_eq!(
                Error::from(PutTimeoutError::Timeout(1u8)).kind(),
                ErrorKind::Timeout
            );
            assert_eq!(py(multiprocessing_queues::Error::Closed), P::ValueError);
            assert_eq!(
                Error::from(PutError::Closed(1u8)).python_exception(),
                P::ValueError
            );
            assert_eq!(
                py(multiprocessing_queues::Error::NotClosed),
                P::AssertionError
            );
            assert_eq!(
                py(multiprocessing_queues::Error::TooManyTaskDone),
                P::ValueError
            );
            assert_eq!(
                Error::from(GetError::Disconnected).kind(),
                ErrorKind::Disconnected
            );
        }
    }
}
