//! The waits of this crate as futures on tokio (the `tokio` feature; taught in the crate's
//! documentation): the reactor registrations they share, and [`wait_async`].
//!
//! Each future registers a duplicate of an object's descriptor with the runtime's reactor
//! (tokio's [`AsyncFd`]): several futures can then wait on one object at once (epoll refuses
//! one descriptor twice) and the object's own descriptor is never touched.

use std::future::poll_fn;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::task::Poll;
use std::time::Duration;

use multiprocessing_core::time::{Deadline, Waitable};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::channel::channel_error;
use crate::{Error, Result};

/// A descriptor watched by the runtime's reactor for readability: a duplicate of the one it was
/// made from.
pub(crate) struct Watch(AsyncFd<OwnedFd>);

impl Watch {
    /// Registers a duplicate of `fd`; an error outside a tokio runtime.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> Result<Watch> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Io(std::io::Error::other(
                "this future must be polled inside a tokio runtime",
            )));
        }
        let dup = rustix::io::fcntl_dupfd_cloexec(fd, 0)?;
        // SAFETY: the `AsyncFd` owns `dup`, an open descriptor that no one else can close or
        // replace, and an `OwnedFd`'s `as_raw_fd` always returns that same number.
        let registered = unsafe { AsyncFd::register_with_interest(dup, Interest::READABLE) };
        Ok(Watch(registered.map_err(|e| e.into_parts().1)?))
    }

    /// Waits until the descriptor is readable (or at end of file, or in error).
    pub(crate) async fn readable(&self) -> Result<()> {
        // The readiness is kept: a pidfd or a closed socket stays readable.
        self.0.readable().await?.retain_ready();
        Ok(())
    }

    /// Forgets a readiness that proved false, so that the next wait waits for a new event
    /// (tokio keeps it if an event arrived meanwhile).
    async fn clear(&self) -> Result<()> {
        self.0.readable().await?.clear_ready();
        Ok(())
    }
}

/// Waits until at least one of `watches` is readable; which ones are.
pub(crate) async fn any_readable(watches: &[Watch]) -> Result<Vec<bool>> {
    poll_fn(|cx| {
        let mut ready = vec![false; watches.len()];
        for (w, r) in watches.iter().zip(&mut ready) {
            match w.0.poll_read_ready(cx) {
                Poll::Ready(Ok(_)) => *r = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => {}
            }
        }
        if ready.contains(&true) {
            Poll::Ready(Ok(ready))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// The async form of `multiprocessing_connection::wait` (Python's
/// `multiprocessing.connection.wait`): waits until at least one of `objects` is ready and
/// returns the ready ones in their original order, without blocking the runtime's thread.
///
/// The same semantics as the blocking `wait`, which it uses to decide what is ready: any
/// [`Waitable`] (connections, listeners, [`Sentinel`](crate::Sentinel)s, descriptors, mixed
/// through `&dyn Waitable`); an object ready by its own account (a connection's buffered
/// message) makes it return at once; `timeout` `None` (or [`Duration::MAX`]) waits for ever,
/// `Some(Duration::ZERO)` only checks, and on timeout the result is empty. Cancel-safe:
/// dropping the future reads nothing from any object.
///
/// ```
/// use std::time::Duration;
/// use multiprocessing_connection::pipe;
/// use multiprocessing_process::wait_async;
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// rt.block_on(async {
///     let (a, mut b) = pipe(true).unwrap();
///     let (c, _d) = pipe(true).unwrap();
///     let short = Some(Duration::from_millis(10));
///     assert!(wait_async(&[&a, &c], short).await.unwrap().is_empty());
///     b.send_bytes(b"ping").unwrap();
///     let ready = wait_async(&[&a, &c], None).await.unwrap();
///     assert!(ready.len() == 1 && std::ptr::eq(ready[0], &a));
/// });
/// ```
#[doc(alias = "wait")]
pub async fn wait_async<'a, T: Waitable + ?Sized>(
    objects: &[&'a T],
    timeout: Option<Duration>,
) -> Result<Vec<&'a T>> {
    let deadline = Deadline::from_timeout(timeout);
    let check = || multiprocessing_connection::wait(objects, Some(Duration::ZERO));
    let ready = check().map_err(channel_error)?;
    if !ready.is_empty() || deadline.is_expired() {
        return Ok(ready);
    }
    let watches = objects
        .iter()
        .map(|o| Watch::new(o.wait_fd()))
        .collect::<Result<Vec<_>>>()?;
    loop {
        let seen = match deadline.instant() {
            None => any_readable(&watches).await?,
            Some(at) => match tokio::time::timeout_at(at.into(), any_readable(&watches)).await {
                Ok(seen) => seen?,
                Err(_elapsed) => return Ok(Vec::new()),
            },
        };
        let ready = check().map_err(channel_error)?;
        if !ready.is_empty() {
            return Ok(ready);
        }
        // Readable a moment ago, not now (another reader took the data): wait for new events.
        for (w, _) in watches.iter().zip(seen).filter(|(_, s)| *s) {
            w.clear().await?;
        }
    }
}
