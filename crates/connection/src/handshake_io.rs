//! Drives an I/O-free [`Handshake`] over a socket: one non-blocking round ([`pump`]) shared by
//! the [`Listener`](crate::Listener)'s poll loop over many clients and by [`run`], which runs one
//! handshake to completion under a deadline (the [`Client`](crate::Client)'s side).

use std::os::fd::BorrowedFd;

use multiprocessing_core::time::{self, Deadline, retry_on_intr};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};

use crate::auth::Handshake;
use crate::{Error, Result};

/// Bytes read per `recv`: a handshake frame is at most a few hundred bytes.
const CHUNK: usize = 1024;

/// Writes what `hs` has to say and, if `readable`, reads what the peer sent, without blocking.
///
/// Returns `true` once the handshake is complete. On failure a pending `#FAILURE#` verdict is
/// sent as a courtesy before the error is returned.
pub(crate) fn pump(fd: BorrowedFd<'_>, hs: &mut Handshake, readable: bool) -> Result<bool> {
    pump_with(fd, hs, readable, false)
}

/// [`pump`], with blocking reads if `block` (for a handshake without a deadline, where a
/// blocking `recv` saves the `poll` before it).
fn pump_with(
    fd: BorrowedFd<'_>,
    hs: &mut Handshake,
    mut readable: bool,
    block: bool,
) -> Result<bool> {
    let flags = if block {
        RecvFlags::empty()
    } else {
        RecvFlags::DONTWAIT
    };
    loop {
        if !flush(fd, hs)? {
            return Ok(false);
        }
        if hs.is_complete() {
            return Ok(true);
        }
        if !readable {
            return Ok(false);
        }
        let mut buf = [0u8; CHUNK];
        let n = match retry_on_intr(|| rustix::net::recv(fd, &mut buf, flags)) {
            Ok((n, _)) => n,
            Err(Errno::AGAIN) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(Error::Eof);
        }
        if let Err(e) = hs.feed(&buf[..n]) {
            let _ = flush(fd, hs);
            return Err(e);
        }
        // Having just answered, the peer must reply before there is more to read: a `recv` now
        // would only find nothing, so that is left to `poll`.
        readable = block || hs.output().is_empty();
    }
}

/// Whether `poll` reported something a `recv` should look at.
pub(crate) fn readable(revents: PollFlags) -> bool {
    revents.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
}

/// Sends as much pending output as the socket takes now; `true` when all of it went.
fn flush(fd: BorrowedFd<'_>, hs: &mut Handshake) -> Result<bool> {
    while !hs.output().is_empty() {
        let out = hs.output();
        match retry_on_intr(|| {
            rustix::net::send(fd, out, SendFlags::DONTWAIT | SendFlags::NOSIGNAL)
        }) {
            Ok(n) => hs.consume_output(n),
            Err(Errno::AGAIN) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// What `poll` should wait for on a handshake's socket.
pub(crate) fn interest(hs: &Handshake) -> PollFlags {
    if hs.output().is_empty() {
        PollFlags::IN
    } else {
        PollFlags::OUT
    }
}

/// Runs `hs` to completion on `fd`, failing with [`Error::Timeout`] at `deadline`: the deadline
/// bounds the whole exchange, however the peer spreads its bytes.
pub(crate) fn run(fd: BorrowedFd<'_>, hs: &mut Handshake, deadline: Deadline) -> Result<()> {
    let block = deadline.instant().is_none();
    let mut can_read = block;
    loop {
        if pump_with(fd, hs, can_read, block)? {
            return Ok(());
        }
        let mut fds = [PollFd::from_borrowed_fd(fd, interest(hs))];
        if time::poll(&mut fds, deadline)? == 0 {
            return Err(Error::Timeout);
        }
        can_read = block || readable(fds[0].revents());
    }
}
