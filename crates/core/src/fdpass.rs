//! Sending file descriptors over a Unix stream socket (`SCM_RIGHTS`).
//!
//! `interprocess` 2.x dropped its ancillary-data API, so descriptors travel with rustix's
//! `sendmsg`/`recvmsg`. Every received descriptor is close-on-exec, and at most
//! [`MAX_FDS_PER_MESSAGE`] travel in one message.
//!
//! ```
//! use std::os::unix::net::UnixStream;
//! use std::os::fd::{AsFd, OwnedFd};
//! use multiprocessing_core::fdpass::{recv_with_fds, send_with_fds};
//! let (a, b) = UnixStream::pair().unwrap();
//! let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
//! send_with_fds(a.as_fd(), b"x", &[file.as_fd()]).unwrap();
//! let mut buf = [0u8; 1];
//! let mut fds = Vec::new();
//! assert_eq!(recv_with_fds(b.as_fd(), &mut buf, &mut fds).unwrap(), 1);
//! assert_eq!(fds.len(), 1);
//! ```

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::time::retry_on_intr;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

/// The most descriptors one message may carry; more is refused before anything is sent.
pub const MAX_FDS_PER_MESSAGE: usize = 64;

const SPACE: usize = rustix::cmsg_space!(ScmRights(MAX_FDS_PER_MESSAGE));

/// Sends all of `data`, with `fds` attached to its first byte.
///
/// `data` must not be empty: the kernel drops ancillary data sent without payload.
pub fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    if data.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "descriptors need at least one byte of payload",
        ));
    }
    if fds.len() > MAX_FDS_PER_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} descriptors in one message, at most {MAX_FDS_PER_MESSAGE} allowed",
                fds.len()
            ),
        ));
    }
    let mut space = [MaybeUninit::<u8>::uninit(); SPACE];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("ancillary buffer too small"));
    }
    let mut sent = retry_on_intr(|| {
        sendmsg(
            sock,
            &[IoSlice::new(data)],
            &mut control,
            SendFlags::NOSIGNAL,
        )
    })?;
    while sent < data.len() {
        sent += retry_on_intr(|| rustix::net::send(sock, &data[sent..], SendFlags::NOSIGNAL))?;
    }
    Ok(())
}

/// Receives up to `buf.len()` bytes and appends any attached descriptors to `fds`.
///
/// Returns the number of bytes read (0 at end of stream). Descriptors the kernel had to drop
/// because they did not fit are reported as an error, never silently lost (the bytes read with
/// them are then lost too: use [`recv_with_fds_keep`] to keep the stream in step).
pub fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let got = recv_with_fds_keep(sock, buf, fds)?;
    if got.truncated {
        return Err(io::Error::other(
            "received descriptors were truncated by the kernel",
        ));
    }
    Ok(got.bytes)
}

/// What one [`recv_with_fds_keep`] call received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// Bytes read into the buffer (0 at end of stream).
    pub bytes: usize,
    /// The peer attached more descriptors than [`MAX_FDS_PER_MESSAGE`]: the kernel closed the
    /// ones that did not fit.
    pub truncated: bool,
}

/// Like [`recv_with_fds`], but reports truncated descriptors in [`Received::truncated`] instead
/// of failing, so the bytes read with them are never lost.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use std::os::fd::AsFd;
/// let (a, b) = UnixStream::pair().unwrap();
/// std::io::Write::write_all(&mut &a, b"hi").unwrap();
/// let (mut buf, mut fds) = ([0u8; 4], Vec::new());
/// let got = multiprocessing_core::fdpass::recv_with_fds_keep(b.as_fd(), &mut buf, &mut fds).unwrap();
/// assert_eq!((got.bytes, got.truncated), (2, false));
/// ```
pub fn recv_with_fds_keep(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<Received> {
    let mut space = [MaybeUninit::<u8>::uninit(); SPACE];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = retry_on_intr(|| {
        recvmsg(
            sock,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
    })?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    Ok(Received {
        bytes: msg.bytes,
        truncated: msg.flags.contains(ReturnFlags::CTRUNC),
    })
}
