//! Length-prefixed frames with attached descriptors: the bootstrap channel's framing.
//!
//! Between a parent, a spawned child and the forkserver, each message is a 4-byte little-endian
//! length and a payload, with any file descriptors attached to the first byte (`SCM_RIGHTS`).
//! A frame longer than [`MAX_FRAME`] is refused, and the receive buffer only grows as bytes
//! actually arrive, so a peer cannot make us allocate what it never sends.
//!
//! ```text
//! let (a, b) = std::os::unix::net::UnixStream::pair()?;
//! send_frame(a.as_fd(), b"hello", &[])?;
//! let (payload, fds) = recv_frame(b.as_fd())?.unwrap();
//! ```

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use multiprocessing_core::fdpass::{MAX_FDS_PER_MESSAGE, recv_with_fds, send_with_fds};

/// The largest frame accepted (1 GiB).
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// Sends one frame. More than [`MAX_FDS_PER_MESSAGE`] descriptors are refused.
pub(crate) fn send_frame(sock: BorrowedFd<'_>, payload: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
    send_frame_borrowed(sock, payload, &borrowed)
}

/// [`send_frame`] with descriptors the caller keeps.
pub(crate) fn send_frame_borrowed(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "message of {} bytes exceeds the {MAX_FRAME}-byte limit",
                payload.len()
            ),
        ));
    }
    let mut data = Vec::with_capacity(4 + payload.len());
    data.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    data.extend_from_slice(payload);
    send_with_fds(sock, &data, fds)
}

/// Receives one frame; `None` when the peer closed the stream before sending anything.
pub(crate) fn recv_frame(sock: BorrowedFd<'_>) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut fds = Vec::new();
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = recv_with_fds(sock, &mut header[got..], &mut fds)?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("peer announced a {len}-byte message, more than the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut payload = Vec::with_capacity(len.min(64 * 1024));
    let mut chunk = vec![0u8; len.min(64 * 1024)];
    while payload.len() < len {
        let want = (len - payload.len()).min(chunk.len());
        let n = recv_with_fds(sock, &mut chunk[..want], &mut fds)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        payload.extend_from_slice(&chunk[..n]);
    }
    if fds.len() > MAX_FDS_PER_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many descriptors",
        ));
    }
    Ok(Some((payload, fds)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    #[cfg_attr(miri, ignore = "sends descriptors with sendmsg, which miri cannot")]
    fn frames_carry_payload_and_descriptors() {
        let (a, b) = UnixStream::pair().unwrap();
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        send_frame(a.as_fd(), b"hello", &[fd]).unwrap();
        send_frame(a.as_fd(), b"", &[]).unwrap();
        let (payload, fds) = recv_frame(b.as_fd()).unwrap().unwrap();
        assert_eq!((payload.as_slice(), fds.len()), (&b"hello"[..], 1));
        let (payload, fds) = recv_frame(b.as_fd()).unwrap().unwrap();
        assert_eq!((payload.len(), fds.len()), (0, 0));
        drop(a);
        assert!(recv_frame(b.as_fd()).unwrap().is_none());
    }

    #[test]
    #[cfg_attr(miri, ignore = "receives with recvmsg, which miri cannot")]
    fn oversized_announcement_is_refused_without_allocating() {
        use std::io::Write;
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&u32::MAX.to_le_bytes()).unwrap();
        let err = recv_frame(b.as_fd()).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }
}
