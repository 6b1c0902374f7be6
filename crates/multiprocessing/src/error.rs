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

/// Any error of the library, tagged with the crate it came from.
///
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
}

#[cfg(feature = "synchronize")]
impl<G> From<multiprocessing_synchronize::OwnerDied<G>> for Error {
    fn from(e: multiprocessing_synchronize::OwnerDied<G>) -> Self {
        Error::Synchronize(e.into())
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
    /// `pickle.PicklingError` / `UnpicklingError`: a value could not be encoded or decoded.
    PicklingError,
    /// `queue.Empty`: nothing arrived in a queue (non-blocking or timed `get`).
    QueueEmpty,
    /// `queue.Full`: no room in a queue (non-blocking or timed `put`).
    QueueFull,
    /// No Python counterpart: Python deadlocks or crashes where Rust reports this.
    RustOnly,
}

impl Error {
    /// The Python exception raised for the same failure.
    ///
    /// ```
    /// use multiprocessing::{Error, PythonException};
    /// let e: Error = multiprocessing::core::Error::Timeout.into();
    /// assert_eq!(e.python_exception(), PythonException::TimeoutError);
    /// ```
    #[must_use]
    pub fn python_exception(&self) -> PythonException {
        use PythonException as P;
        match self {
            Error::Core(e) => core_exception(e),
            #[cfg(feature = "connection")]
            Error::Connection(e) => {
                use multiprocessing_connection::Error as C;
                match e {
                    C::Eof => P::EOFError,
                    C::BufferTooShort(_) => P::BufferTooShort,
                    C::Authentication(_) => P::AuthenticationError,
                    C::Timeout => P::TimeoutError,
                    C::Codec(_) | C::Transfer(_) => P::PicklingError,
                    _ => P::OSError,
                }
            }
            #[cfg(feature = "process")]
            Error::Process(e) => {
                use multiprocessing_process::Error as Pr;
                match e {
                    Pr::Process(_) => P::ProcessError,
                    Pr::Timeout => P::TimeoutError,
                    Pr::Codec(_) => P::PicklingError,
                    Pr::Io(_) => P::OSError,
                    Pr::Core(c) => core_exception(c),
                    _ => P::RustOnly,
                }
            }
            #[cfg(feature = "synchronize")]
            Error::Synchronize(e) => sync_exception(e),
            #[cfg(feature = "sharedctypes")]
            Error::Sharedctypes(e) => {
                use multiprocessing_sharedctypes::Error as S;
                match e {
                    S::Core(c) => core_exception(c),
                    S::Synchronize(s) => sync_exception(s),
                    S::IndexOutOfRange { .. } => P::ValueError,
                    S::TooLong { .. } | S::InvalidArgument(_) => P::ValueError,
                    _ => P::RustOnly,
                }
            }
            #[cfg(feature = "queues")]
            Error::Queues(e) => {
                use multiprocessing_queues::Error as Q;
                match e {
                    Q::Empty | Q::Timeout => P::QueueEmpty,
                    Q::Full => P::QueueFull,
                    Q::Closed | Q::TooManyTaskDone | Q::InvalidArgument(_) => P::ValueError,
                    Q::Codec(_) => P::PicklingError,
                    Q::Core(c) => core_exception(c),
                    Q::Synchronize(s) => sync_exception(s),
                    _ => P::RustOnly,
                }
            }
        }
    }
}

fn core_exception(e: &multiprocessing_core::Error) -> PythonException {
    use PythonException as P;
    use multiprocessing_core::Error as C;
    match e {
        C::Process(_) => P::ProcessError,
        C::Authentication(_) => P::AuthenticationError,
        C::Timeout => P::TimeoutError,
        C::Codec(_) | C::Transfer(_) => P::PicklingError,
        C::Io(_) => P::OSError,
        _ => P::ValueError,
    }
}

#[cfg(feature = "synchronize")]
fn sync_exception(e: &multiprocessing_synchronize::Error) -> PythonException {
    use PythonException as P;
    use multiprocessing_synchronize::Error as S;
    match e {
        S::Core(c) => core_exception(c),
        // Python: `ValueError('semaphore or lock released too many times')` and
        // `RuntimeError`/`AssertionError` for foreign releases.
        S::NotLocked | S::NotOwner | S::TooManyReleases | S::InvalidArgument(_) => P::ValueError,
        S::BrokenBarrier => P::BrokenBarrierError,
        _ => P::RustOnly,
    }
}
