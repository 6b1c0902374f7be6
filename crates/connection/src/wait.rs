//! [`wait`]: block until any of several connections, listeners or sentinels is ready, Python's
//! `multiprocessing.connection.wait`.
//!
//! Anything that implements [`Waitable`] can be waited on: a [`Connection`](crate::Connection)
//! (ready with a message, end of stream, or bytes it already buffered), a
//! [`Listener`](crate::Listener) (ready with a client to accept), a process sentinel, any
//! descriptor ([`WaitFd`](multiprocessing_core::time::WaitFd) wraps other [`AsFd`](std::os::fd::AsFd)
//! types). Each object says itself whether it holds data the kernel cannot see, so a
//! connection's buffered message is found without a system call.
//!
//! Like Python's, `wait` returns the ready objects themselves, in their original order: the
//! slice's element type is kept (`&Connection` in, `&Connection` out), so what comes back can
//! be used at once, compared with [`std::ptr::eq`], or located in the input with `position`.
//! Mix types through `&dyn Waitable`.
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_connection::{Waitable, pipe, wait};
//! let (a, mut b) = pipe(true).unwrap();
//! let (c, _d) = pipe(true).unwrap();
//! assert!(wait(&[&a, &c], Some(Duration::ZERO)).unwrap().is_empty());
//! b.send_bytes(b"ping").unwrap();
//! let ready = wait(&[&a, &c], Some(Duration::from_secs(5))).unwrap();
//! assert_eq!(ready.len(), 1);
//! assert!(std::ptr::eq(ready[0], &a));
//! let (r, _w) = std::io::pipe().unwrap();
//! let mixed: [&dyn Waitable; 3] = [&a, &c, &r];
//! assert_eq!(wait(&mixed, None).unwrap().len(), 1);
//! ```

use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

use crate::Result;
use multiprocessing_core::time::{self, Deadline, Waitable};

/// Waits until at least one of `objects` is ready (a message or end of stream to read, a
/// client to accept, a child that exited), and returns the ready ones in their original order.
///
/// `timeout`: `None` waits forever, as does any duration too long to represent
/// ([`Duration::MAX`]); `Some(Duration::ZERO)` only checks. On timeout the result is empty.
/// Interrupting signals do not shorten or break the wait. Objects that are ready without the
/// kernel's help ([`Waitable::is_ready`], e.g. a connection's buffered message) make the wait
/// return at once; the others are then only checked, not waited for.
#[doc(alias = "multiprocessing.connection.wait")]
pub fn wait<'a, T: Waitable + ?Sized>(
    objects: &[&'a T],
    timeout: Option<Duration>,
) -> Result<Vec<&'a T>> {
    let buffered: Vec<bool> = objects.iter().map(|o| o.is_ready()).collect();
    let any_buffered = buffered.contains(&true);
    let deadline = if any_buffered {
        Deadline::after(Duration::ZERO)
    } else {
        Deadline::from_timeout(timeout)
    };
    let mut fds: Vec<PollFd<'_>> = objects
        .iter()
        .zip(&buffered)
        .filter(|(_, b)| !**b)
        .map(|(o, _)| PollFd::from_borrowed_fd(o.wait_fd(), PollFlags::IN))
        .collect();
    // Nothing to ask the kernel when everything is ready already; with nothing at all, this
    // sleeps out the timeout, as Python's does.
    if !(fds.is_empty() && any_buffered) {
        time::poll(&mut fds, deadline)?;
    }
    let mut polled = fds.iter();
    Ok(objects
        .iter()
        .zip(&buffered)
        .filter(|(_, b)| **b || polled.next().is_some_and(|p| !p.revents().is_empty()))
        .map(|(o, _)| *o)
        .collect())
}
