//! Deadlines for every blocking wait: one [`Deadline`] type, `poll(2)` until it passes, the
//! interrupted-call retry, and [`Waitable`], what `multiprocessing.connection.wait` waits on.
//!
//! Every wait of the library takes a [`Duration`] (or none, for "forever") and turns it into a
//! [`Deadline`] once, at the start of the call, so a wait that is interrupted, woken spuriously or
//! split into several system calls still ends on time. Any `Duration` is accepted:
//! [`Duration::MAX`] saturates to "never", and [`Duration::ZERO`] means "poll once, do not block".
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_core::time::Deadline;
//!
//! let never = Deadline::after(Duration::MAX); // saturates, never panics
//! assert_eq!(never.remaining(), None);
//! let now = Deadline::after(Duration::ZERO); // "poll": already expired
//! assert!(now.is_expired());
//! assert_eq!(Deadline::from_timeout(None).remaining(), None);
//! ```

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

pub use rustix::io::retry_on_intr;

/// [`retry_on_intr`] for `std::io` calls: runs `f` again while it fails with
/// [`ErrorKind::Interrupted`](std::io::ErrorKind::Interrupted).
///
/// ```
/// use std::io::Read;
/// use multiprocessing_core::time::retry_on_interrupted;
/// let (mut r, mut w) = std::io::pipe().unwrap();
/// std::io::Write::write_all(&mut w, b"x").unwrap();
/// let mut buf = [0u8; 1];
/// assert_eq!(retry_on_interrupted(|| r.read(&mut buf)).unwrap(), 1);
/// ```
pub fn retry_on_interrupted<T>(mut f: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// A timed wait ran out of time: the error of the workspace's one timed shape,
/// `*_timeout(Duration) -> Result<T, E>`, for waits that cannot fail otherwise (an
/// `Event`'s, a `Semaphore`'s). Like tokio's `Elapsed` and std's `RecvTimeoutError::Timeout`,
/// expiry is an `Err`, so timed waits compose with `?` and look alike across crates; waits
/// that can also fail otherwise report expiry as their crate error's `Timeout`.
///
/// ```
/// use multiprocessing_core::time::TimedOut;
/// let r: Result<(), TimedOut> = Err(TimedOut);
/// assert_eq!(r.unwrap_err().to_string(), "operation timed out");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[doc(alias = "TimeoutError")]
pub struct TimedOut;

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("operation timed out")
    }
}

impl std::error::Error for TimedOut {}

impl TimedOut {
    /// Always [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
    #[must_use]
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Timeout
    }
}

impl From<TimedOut> for crate::Error {
    fn from(_: TimedOut) -> crate::Error {
        crate::Error::Timeout
    }
}

/// When a blocking call gives up: an instant, or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// A deadline that never passes.
    #[must_use]
    pub const fn never() -> Deadline {
        Deadline(None)
    }

    /// `timeout` from now; a timeout too large to represent saturates to [`never`](Self::never).
    #[must_use]
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// `timeout` from now, or never for `None`: the shape of Python's `timeout=None`.
    #[must_use]
    pub fn from_timeout(timeout: Option<Duration>) -> Deadline {
        timeout.map_or(Deadline::never(), Deadline::after)
    }

    /// At `instant`.
    #[must_use]
    pub const fn at(instant: Instant) -> Deadline {
        Deadline(Some(instant))
    }

    /// The instant, `None` for never.
    #[must_use]
    pub const fn instant(&self) -> Option<Instant> {
        self.0
    }

    /// Time left: `None` for never, `Some(Duration::ZERO)` once passed.
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline has passed.
    #[must_use]
    pub fn is_expired(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }

    /// The earlier of two deadlines.
    #[must_use]
    pub fn min(self, other: Deadline) -> Deadline {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Deadline(Some(a.min(b))),
            (a, b) => Deadline(a.or(b)),
        }
    }

    /// Time left as a [`Timespec`] for `poll`, `futex` and friends: `None` for never (or more
    /// than a `Timespec` holds).
    #[must_use]
    pub fn timespec(&self) -> Option<Timespec> {
        self.remaining()
            .and_then(|left| Timespec::try_from(left).ok())
    }

    /// Time left in whole milliseconds, rounded up so a wait never ends early; `-1` for never,
    /// the convention of `poll(2)`-style millisecond timeouts.
    #[must_use]
    pub fn millis(&self) -> i32 {
        self.remaining().map_or(-1, ceil_millis)
    }
}

/// `left` in whole milliseconds, rounded up, saturating at `i32::MAX`.
fn ceil_millis(left: Duration) -> i32 {
    i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
}

impl From<Option<Duration>> for Deadline {
    fn from(timeout: Option<Duration>) -> Deadline {
        Deadline::from_timeout(timeout)
    }
}

/// `poll(2)` on `fds` until one is ready or `deadline` passes, restarting after signals with the
/// time left. Returns how many are ready (0: the deadline passed).
pub fn poll(fds: &mut [PollFd<'_>], deadline: Deadline) -> std::io::Result<usize> {
    // Each attempt waits only for the time left.
    Ok(retry_on_intr(|| {
        rustix::event::poll(fds, deadline.timespec().as_ref())
    })?)
}

/// Waits until `fd` is readable (or at end of file or in error) or `deadline` passes; `true` when
/// it is ready.
pub fn wait_readable(fd: BorrowedFd<'_>, deadline: Deadline) -> std::io::Result<bool> {
    let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
    Ok(poll(&mut fds, deadline)? > 0)
}

/// Waits until `fd` is writable or `deadline` passes; `true` when it is ready.
pub fn wait_writable(fd: BorrowedFd<'_>, deadline: Deadline) -> std::io::Result<bool> {
    let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::OUT)];
    Ok(poll(&mut fds, deadline)? > 0)
}

/// Something a multi-object wait (the connection crate's `wait`, Python's
/// `multiprocessing.connection.wait`) can wait on: a descriptor that becomes readable when it
/// is ready, and possibly readiness the kernel cannot see.
///
/// A connection that already read a message into its buffer is ready although its socket has
/// nothing more: it says so through [`is_ready`](Self::is_ready), which is asked first and
/// costs no system call; the object owns that state, so no process-wide table keyed by
/// descriptor number (which a closed and reused number would fool) is needed. Connections,
/// listeners and process sentinels implement it in their crates; so do descriptors themselves
/// ([`OwnedFd`](std::os::fd::OwnedFd), [`BorrowedFd`], files, sockets, pipes) and `dyn AsFd`,
/// and [`WaitFd`] wraps any other [`AsFd`].
///
/// ```
/// use std::os::fd::{AsFd, BorrowedFd};
/// use multiprocessing_core::time::Waitable;
///
/// /// A reader with its own buffer, like a connection.
/// struct Buffered { fd: std::os::fd::OwnedFd, buffer: Vec<u8> }
///
/// impl Waitable for Buffered {
///     fn wait_fd(&self) -> BorrowedFd<'_> { self.fd.as_fd() }
///     fn is_ready(&self) -> bool { !self.buffer.is_empty() }
/// }
/// ```
pub trait Waitable {
    /// The descriptor that becomes readable (or hangs up) when this object is ready.
    fn wait_fd(&self) -> BorrowedFd<'_>;

    /// Whether this object is ready without asking the kernel (data it buffered itself). Must
    /// not block; `false` by default.
    fn is_ready(&self) -> bool {
        false
    }
}

/// Any [`AsFd`] as a [`Waitable`] that is ready when its descriptor is readable.
///
/// ```
/// use multiprocessing_core::time::{WaitFd, Waitable};
/// let (r, _w) = std::io::pipe().unwrap();
/// let waitable = WaitFd(r);
/// assert!(!waitable.is_ready());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitFd<T>(pub T);

impl<T: AsFd> Waitable for WaitFd<T> {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Waitable for dyn AsFd + '_ {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}

impl<T: Waitable + ?Sized> Waitable for &T {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        (**self).wait_fd()
    }
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
}

impl<T: Waitable + ?Sized> Waitable for Box<T> {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        (**self).wait_fd()
    }
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
}

impl<T: Waitable + ?Sized> Waitable for Arc<T> {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        (**self).wait_fd()
    }
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
}

/// Descriptors are waitable as they are: ready when readable.
macro_rules! waitable_by_fd {
    ($($ty:ty),* $(,)?) => {$(
        impl Waitable for $ty {
            fn wait_fd(&self) -> BorrowedFd<'_> {
                self.as_fd()
            }
        }
    )*};
}

waitable_by_fd!(
    std::os::fd::OwnedFd,
    BorrowedFd<'_>,
    std::fs::File,
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixListener,
    std::os::unix::net::UnixDatagram,
    std::net::TcpStream,
    std::net::TcpListener,
    std::net::UdpSocket,
    std::io::PipeReader,
    std::process::ChildStdout,
    std::process::ChildStderr,
);

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn any_duration_is_accepted() {
        assert_eq!(Deadline::after(Duration::MAX), Deadline::never());
        assert!(Deadline::after(Duration::ZERO).is_expired());
        assert_eq!(Deadline::after(Duration::ZERO).millis(), 0);
        assert_eq!(Deadline::never().millis(), -1);
        assert_eq!(Deadline::never().timespec(), None);
        // Time passes between `after` and `millis` (a lot of it under miri): only a range holds.
        let d = Deadline::after(Duration::from_micros(1500));
        assert!((0..=2).contains(&d.millis()));
    }

    #[test]
    fn millis_round_up_and_saturate() {
        assert_eq!(ceil_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ceil_millis(Duration::from_millis(1)), 1);
        assert_eq!(ceil_millis(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_millis(Duration::ZERO), 0);
        assert_eq!(ceil_millis(Duration::from_secs(u64::MAX / 4)), i32::MAX);
    }

    #[test]
    fn min_prefers_the_earlier() {
        let soon = Deadline::after(Duration::from_secs(1));
        assert_eq!(soon.min(Deadline::never()), soon);
        assert_eq!(Deadline::never().min(soon), soon);
        let later = Deadline::after(Duration::from_secs(60));
        assert_eq!(later.min(soon), soon);
    }

    #[test]
    #[cfg_attr(miri, ignore = "ppoll is a libc call miri cannot make")]
    fn poll_times_out_and_sees_data() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        let start = Instant::now();
        assert!(!wait_readable(r.as_fd(), Deadline::after(Duration::from_millis(20))).unwrap());
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(!wait_readable(r.as_fd(), Deadline::after(Duration::ZERO)).unwrap());
        rustix::io::write(&w, b"x").unwrap();
        assert!(wait_readable(r.as_fd(), Deadline::never()).unwrap());
        assert!(wait_writable(w.as_fd(), Deadline::after(Duration::MAX)).unwrap());
    }
}
