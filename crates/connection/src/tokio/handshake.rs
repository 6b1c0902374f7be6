//! Drives the I/O-free [`Handshake`] over a socket registered with tokio's reactor: the same
//! state machine the blocking listener and client drive with `poll`.

use std::os::fd::{AsFd, OwnedFd};

use ::tokio::io::unix::AsyncFd;
use multiprocessing_core::time::retry_on_intr;
use rustix::net::{RecvFlags, SendFlags};

use crate::auth::Handshake;
use crate::{Error, Result};

/// Bytes read per `recv`: a handshake frame is at most a few hundred bytes.
const CHUNK: usize = 1024;

/// Runs `hs` to completion on `io`. On failure a pending `#FAILURE#` verdict is sent as a
/// courtesy (if the socket takes it at once) before the error is returned.
///
/// Cancel-safe in the sense that matters here: dropped, it leaves only the socket, which the
/// caller drops with it (a handshake is never resumed).
pub(super) async fn run(io: &AsyncFd<OwnedFd>, hs: &mut Handshake) -> Result<()> {
    loop {
        while !hs.output().is_empty() {
            let mut guard = io.writable().await.map_err(Error::Io)?;
            let out = hs.output();
            match guard.try_io(|fd| {
                retry_on_intr(|| {
                    rustix::net::send(fd.as_fd(), out, SendFlags::DONTWAIT | SendFlags::NOSIGNAL)
                })
                .map_err(Into::into)
            }) {
                Ok(Ok(n)) => hs.consume_output(n),
                Ok(Err(e)) => return Err(Error::Io(e)),
                Err(_would_block) => {}
            }
        }
        if hs.is_complete() {
            return Ok(());
        }
        let mut buf = [0u8; CHUNK];
        let n = loop {
            let mut guard = io.readable().await.map_err(Error::Io)?;
            match guard.try_io(|fd| {
                retry_on_intr(|| rustix::net::recv(fd.as_fd(), &mut buf, RecvFlags::DONTWAIT))
                    .map(|(n, _)| n)
                    .map_err(Into::into)
            }) {
                Ok(Ok(n)) => break n,
                Ok(Err(e)) => return Err(Error::Io(e)),
                Err(_would_block) => {}
            }
        };
        if n == 0 {
            return Err(Error::Eof);
        }
        if let Err(e) = hs.feed(&buf[..n]) {
            let out = hs.output();
            if !out.is_empty() {
                let _ =
                    rustix::net::send(io.as_fd(), out, SendFlags::DONTWAIT | SendFlags::NOSIGNAL);
            }
            return Err(e);
        }
    }
}
