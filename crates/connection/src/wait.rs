//! [`wait`]: block until any of several connections, listeners or descriptors is ready,
//! Python's `multiprocessing.connection.wait`.
//!
//! Anything that implements [`AsFd`] can be waited on: connections, listeners, a process
//! sentinel, a raw pipe. Mix types through `&dyn AsFd`.
//!
//! ```
//! use std::os::fd::AsFd;
//! use std::time::Duration;
//! use multiprocessing_connection::{pipe, wait};
//! let (a, mut b) = pipe(true).unwrap();
//! let (c, _d) = pipe(true).unwrap();
//! assert!(wait(&[&a, &c], Some(Duration::ZERO)).unwrap().is_empty());
//! b.send_bytes(b"ping").unwrap();
//! let ready = wait(&[&a, &c], Some(Duration::from_secs(5))).unwrap();
//! assert_eq!(ready.len(), 1);
//! assert!(std::ptr::eq(ready[0], &a));
//! let mixed: [&dyn AsFd; 2] = [&a, &c];
//! assert_eq!(wait(&mixed, None).unwrap().len(), 1);
//! ```

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

use crate::Result;
use multiprocessing_core::time::{self, Deadline};

/// Descriptors of connections that hold received-but-unread bytes: they are ready although
/// the kernel has nothing more for them.
static BUFFERED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// Records whether the connection on `fd` has buffered bytes (called on transitions only).
pub(crate) fn set_buffered(fd: RawFd, has: bool) {
    let mut set = BUFFERED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if has {
        if !set.contains(&fd) {
            set.push(fd);
        }
    } else {
        set.retain(|&f| f != fd);
    }
}

/// Waits until at least one of `objects` is ready to read (or has hit end of stream, or is a
/// listener with a pending connection), and returns the ready ones in their original order.
///
/// `timeout`: `None` waits forever, `Some(Duration::ZERO)` only checks. On timeout the result is
/// empty. Interrupting signals do not shorten or break the wait.
pub fn wait<'a, T: AsFd + ?Sized>(
    objects: &[&'a T],
    timeout: Option<Duration>,
) -> Result<Vec<&'a T>> {
    let already: Vec<&'a T> = {
        let set = BUFFERED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if set.is_empty() {
            Vec::new()
        } else {
            objects
                .iter()
                .copied()
                .filter(|o| set.contains(&o.as_fd().as_raw_fd()))
                .collect()
        }
    };
    if !already.is_empty() {
        return Ok(already);
    }
    let mut fds: Vec<PollFd<'_>> = objects
        .iter()
        .map(|o| PollFd::from_borrowed_fd(o.as_fd(), PollFlags::IN))
        .collect();
    let n = time::poll(&mut fds, Deadline::from_timeout(timeout))?;
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(objects
        .iter()
        .zip(&fds)
        .filter(|(_, p)| !p.revents().is_empty())
        .map(|(o, _)| *o)
        .collect())
}
