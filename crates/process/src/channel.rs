//! The process crate's channels are the connection crate's [`Connection`]s.
//!
//! Between a parent, a spawned child and the forkserver (the bootstrap socket), and from a
//! typed child back to its [`JoinHandle`](crate::JoinHandle) (the result socket), each message
//! is one frame of [`multiprocessing_connection::frame`], with any descriptors attached through
//! [`Connection::send_bytes_with_fds`]: one framing and one descriptor-passing path for the
//! whole workspace. Frames are CPython's (4-byte big-endian length), or this crate's descriptor
//! header when descriptors ride along; the connection's reader only grows its buffers as bytes
//! actually arrive, so a peer cannot make us allocate what it never sends.
//!
//! ```text
//! let (a, b) = std::os::unix::net::UnixStream::pair()?;
//! let (mut a, mut b) = (channel(a.into()), channel(b.into()));
//! a.send_bytes_with_fds(b"hello", &[] as &[OwnedFd])?;
//! let (payload, fds) = b.recv_bytes_with_fds()?;
//! ```

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use multiprocessing_connection::{Connection, Error as ConnError};

use crate::Error;

/// A channel over one end of a Unix socket pair.
pub(crate) fn channel(fd: OwnedFd) -> Connection {
    Connection::from_unix_stream(UnixStream::from(fd))
}

/// No descriptors to attach.
pub(crate) const NO_FDS: &[OwnedFd] = &[];

/// The process crate's error for a channel's failure.
pub(crate) fn channel_error(e: ConnError) -> Error {
    match e {
        ConnError::Io(e) => Error::Io(e),
        ConnError::Eof | ConnError::UnexpectedEof => Error::Io(io::ErrorKind::UnexpectedEof.into()),
        ConnError::Codec(m) | ConnError::Transfer(m) => Error::Codec(m),
        ConnError::Timeout => Error::Timeout,
        other => Error::Io(io::Error::other(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "rustix's SendAncillaryBuffer::push writes through a shared borrow (SCM_RIGHTS), which Stacked Borrows rejects"
    )]
    fn channels_carry_payload_and_descriptors() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (channel(a.into()), channel(b.into()));
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        a.send_bytes_with_fds(b"hello", &[fd.as_fd()]).unwrap();
        a.send_bytes_with_fds(b"", NO_FDS).unwrap();
        let (payload, fds) = b.recv_bytes_with_fds().unwrap();
        assert_eq!((payload.as_slice(), fds.len()), (&b"hello"[..], 1));
        let (payload, fds) = b.recv_bytes_with_fds().unwrap();
        assert_eq!((payload.len(), fds.len()), (0, 0));
        drop(a);
        assert!(matches!(b.recv_bytes_with_fds(), Err(ConnError::Eof)));
    }

    #[test]
    fn a_channel_error_keeps_its_meaning() {
        assert!(matches!(
            channel_error(ConnError::Eof),
            Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof
        ));
        assert!(matches!(channel_error(ConnError::Timeout), Error::Timeout));
    }
}
