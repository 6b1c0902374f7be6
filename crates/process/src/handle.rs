//! Typed results: run a target in a child and get its return value back, like
//! `std::thread::spawn(..).join()` (beyond Python, whose `Process` returns nothing).
//!
//! The child sends how its target ended, an [`Outcome`](multiprocessing_core::outcome::Outcome),
//! over a socket made for this handle; [`JoinHandle::join`] receives it and reaps the child. A
//! panic comes back as [`Error::Panicked`] with its message and source location; a child that
//! died without answering (killed, or `std::process::exit`) as [`Error::Signaled`] or
//! [`Error::Exited`].
//!
//! ```
//! use multiprocessing_process::{spawn, Error};
//! fn divide(a: i32, b: i32) -> i32 {
//!     if b == 0 { panic!("division by zero") }
//!     a / b
//! }
//! assert_eq!(spawn(divide, (7, 2)).unwrap().join().unwrap(), 3);
//! let err = spawn(divide, (1, 0)).unwrap().join().unwrap_err();
//! let Error::Panicked(panic) = &err else { panic!("{err}") };
//! assert_eq!(panic.message, "division by zero");
//! assert!(panic.location.is_some()); // file, line and column of the `panic!`
//! assert!(err.to_string().starts_with("child process panicked at "));
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use multiprocessing_core::outcome::Outcome;
use multiprocessing_core::transfer::decode_with_fds;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(feature = "tokio")]
use crate::async_wait::{Watch, any_readable};
use crate::channel::channel;
use crate::process::ProcessBuilder;
use crate::{Error, Process, Result, Target};
use multiprocessing_connection::Connection;
use multiprocessing_core::time::{Deadline, poll, wait_readable};
use rustix::event::{PollFd, PollFlags};
use std::time::Duration;

/// A started child whose return value can be collected with [`join`](JoinHandle::join).
#[must_use = "dropping a JoinHandle discards the child's result (the child still runs)"]
pub struct JoinHandle<R> {
    process: Process,
    result: Connection,
    _result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for JoinHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("process", &self.process)
            .finish()
    }
}

/// Starts `target(args)` in a child of the default context; `args` is a tuple.
pub fn spawn<F, Args>(target: F, args: Args) -> Result<JoinHandle<F::Output>>
where
    F: Target<Args>,
    Args: Serialize + DeserializeOwned + Send + 'static,
    F::Output: Serialize + DeserializeOwned,
{
    JoinHandle::start(ProcessBuilder::new_typed(target, args))
}

/// Options for a typed child: name, daemon flag, authkey and context (see [`JoinHandle::builder`]).
#[must_use = "a builder does nothing until spawned"]
pub struct SpawnBuilder<R> {
    inner: ProcessBuilder,
    _result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for SpawnBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<R: DeserializeOwned> SpawnBuilder<R> {
    /// The process's name.
    pub fn name(self, name: impl Into<String>) -> Self {
        self.map(|b| b.name(name))
    }

    /// Whether the process is daemonic.
    pub fn daemon(self, daemon: bool) -> Self {
        self.map(|b| b.daemon(daemon))
    }

    /// The process's authkey.
    pub fn authkey(self, key: impl Into<multiprocessing_core::AuthKey>) -> Self {
        self.map(|b| b.authkey(key))
    }

    /// The context (start method) to start with.
    pub fn context(self, ctx: &crate::Context) -> Self {
        self.map(|b| b.context(ctx))
    }

    fn map(self, f: impl FnOnce(ProcessBuilder) -> ProcessBuilder) -> Self {
        SpawnBuilder {
            inner: f(self.inner),
            _result: PhantomData,
        }
    }

    /// Starts the child.
    pub fn spawn(self) -> Result<JoinHandle<R>> {
        JoinHandle::start(self.inner)
    }
}

impl<R: DeserializeOwned> JoinHandle<R> {
    /// A builder for a typed child with options:
    ///
    /// ```
    /// use multiprocessing_process::{JoinHandle, current_process};
    /// fn name() -> String { current_process().name().to_string() }
    /// let h = JoinHandle::builder(name, ()).name("worker").spawn().unwrap();
    /// assert_eq!(h.join().unwrap(), "worker");
    /// ```
    pub fn builder<F, Args>(target: F, args: Args) -> SpawnBuilder<R>
    where
        F: Target<Args, Output = R>,
        Args: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize,
    {
        SpawnBuilder {
            inner: ProcessBuilder::new_typed(target, args),
            _result: PhantomData,
        }
    }

    pub(crate) fn start(builder: ProcessBuilder) -> Result<JoinHandle<R>> {
        let (ours, theirs) = UnixStream::pair()?;
        let process = builder.result_channel(theirs.into()).build();
        process.start()?;
        Ok(JoinHandle {
            process,
            result: channel(ours.into()),
            _result: PhantomData,
        })
    }

    /// The underlying process (pid, sentinel, terminate, ...).
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// Whether the child has ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        !self.process.is_alive()
    }

    /// Waits for the child and returns its value, or why there is none.
    pub fn join(mut self) -> Result<R> {
        let frame = self.receive()?;
        let code = self.process.join()?;
        Self::outcome(frame, code)
    }

    /// The target's value from its result message, or why there is none from the exit code.
    fn outcome(frame: Option<(Vec<u8>, Vec<std::os::fd::OwnedFd>)>, code: i32) -> Result<R> {
        match frame {
            Some((bytes, fds)) => match decode_with_fds::<Outcome<R>>(&bytes, fds)? {
                Outcome::Returned(value) => Ok(value),
                Outcome::Panicked(panic) => Err(Error::Panicked(panic)),
            },
            None if code < 0 => Err(Error::Signaled(-code)),
            None => Err(Error::Exited(code)),
        }
    }

    /// The child's result message, or `None` when it ended without sending one.
    ///
    /// Waits on the result socket and the child's sentinel together: end-of-file on the socket
    /// alone is not enough, since a process forked meanwhile by another thread may hold a copy
    /// of the child's end. A child writes its result before it exits, so once it has exited
    /// the message is either in the socket already or never coming.
    fn receive(&mut self) -> Result<Option<(Vec<u8>, Vec<std::os::fd::OwnedFd>)>> {
        let sentinel = self.process.sentinel()?;
        let mut fds = [
            PollFd::new(&self.result, PollFlags::IN),
            PollFd::new(&sentinel, PollFlags::IN),
        ];
        poll(&mut fds, Deadline::never())?;
        let result_readable = !fds[0].revents().is_empty();
        self.take_result(result_readable)
    }

    /// Waits at most `timeout` for the child to finish: `Ok` once its result has started to
    /// arrive or it has ended, so [`join`](Self::join) no longer waits for the target;
    /// [`Error::Timeout`] otherwise (the workspace's timed shape). Any `Duration` is
    /// accepted: [`Duration::ZERO`] only polls, [`Duration::MAX`] never gives up.
    ///
    /// ```
    /// use std::time::Duration;
    /// fn add(a: u32, b: u32) -> u32 { a + b }
    /// let h = multiprocessing_process::spawn(add, (2, 3)).unwrap();
    /// h.wait_timeout(Duration::MAX).unwrap();
    /// assert_eq!(h.join().unwrap(), 5);
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        let sentinel = self.process.sentinel()?;
        let mut fds = [
            PollFd::new(&self.result, PollFlags::IN),
            PollFd::new(&sentinel, PollFlags::IN),
        ];
        if poll(&mut fds, Deadline::after(timeout))? > 0 {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    /// The async twin of [`join`](Self::join) (the `tokio` feature); `handle.await` does the
    /// same through [`IntoFuture`](std::future::IntoFuture).
    ///
    /// Waits on the result socket and the child's sentinel on tokio's reactor (no thread per
    /// child), reads the result once it has started to arrive (a message too large for the
    /// socket's buffer is read as the child writes it), then awaits the child's end with
    /// [`Process::join_async`]. The handle is consumed: dropping the future drops the result, as
    /// dropping the handle does (the child still runs). To bound the wait and keep the handle,
    /// time out [`wait_async`](Self::wait_async) instead. Must be polled inside a tokio runtime
    /// with I/O enabled.
    ///
    /// ```
    /// fn add(a: u32, b: u32) -> u32 { a + b }
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// rt.block_on(async {
    ///     let h = multiprocessing_process::spawn(add, (2, 3)).unwrap();
    ///     assert_eq!(h.await.unwrap(), 5);
    /// });
    /// ```
    #[cfg(feature = "tokio")]
    #[doc(alias = "join")]
    pub async fn join_async(mut self) -> Result<R> {
        let result_readable = self.result_or_end().await?;
        let frame = self.take_result(result_readable)?;
        let code = self.process.join_async().await?;
        Self::outcome(frame, code)
    }

    /// The async twin of [`wait_timeout`](Self::wait_timeout) with no limit (the `tokio`
    /// feature): completes once the child's result has started to arrive or the child has
    /// ended, so that [`join`](Self::join) or `.await` no longer waits for the target. Reads
    /// nothing, so dropping it (a [`tokio::time::timeout`] that expires) leaves the handle as it
    /// was.
    ///
    /// ```
    /// use std::time::Duration;
    /// fn stall() { std::thread::sleep(Duration::from_secs(600)) }
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// rt.block_on(async {
    ///     let h = multiprocessing_process::spawn(stall, ()).unwrap();
    ///     let quick = tokio::time::timeout(Duration::from_millis(20), h.wait_async()).await;
    ///     assert!(quick.is_err()); // the handle is still ours
    ///     h.process().kill().unwrap();
    ///     h.wait_async().await.unwrap();
    ///     assert!(matches!(h.await, Err(multiprocessing_process::Error::Signaled(9))));
    /// });
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn wait_async(&self) -> Result<()> {
        self.result_or_end().await.map(drop)
    }

    /// Waits on tokio's reactor until the result socket or the sentinel is readable (see
    /// [`receive`](Self::receive)); whether the socket is.
    #[cfg(feature = "tokio")]
    async fn result_or_end(&self) -> Result<bool> {
        let sentinel = self.process.sentinel()?;
        let watches = [
            Watch::new(self.result.as_fd())?,
            Watch::new(sentinel.as_fd())?,
        ];
        Ok(any_readable(&watches).await?[0])
    }

    /// After a poll of (result, sentinel) returned: the result message, if there is one.
    fn take_result(
        &mut self,
        result_readable: bool,
    ) -> Result<Option<(Vec<u8>, Vec<std::os::fd::OwnedFd>)>> {
        let result_ready =
            result_readable || wait_readable(self.result.as_fd(), Deadline::after(Duration::ZERO))?;
        if !result_ready {
            return Ok(None);
        }
        Ok(self.result.recv_bytes_with_fds().ok())
    }
}

/// `handle.await` is [`JoinHandle::join_async`] (the `tokio` feature).
#[cfg(feature = "tokio")]
impl<R: DeserializeOwned + 'static> std::future::IntoFuture for JoinHandle<R> {
    type Output = Result<R>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<R>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.join_async())
    }
}
