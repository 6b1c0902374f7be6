//! The wire format of a message and the buffered reader that takes frames off a byte stream.
//!
//! A frame is a 4-byte big-endian signed length and the payload, exactly as CPython writes it:
//!
//! | header | meaning |
//! | --- | --- |
//! | `I32BE(n)`, `0 <= n <= 0x7FFFFFFF` | `n` payload bytes follow |
//! | `ff ff ff ff` `U64BE(n)` | `n` payload bytes follow (CPython 3.8+ long form; sent only for `n > 0x7FFFFFFF`, accepted for any `n`) |
//! | `b2 af b9 bc` (`-0x4d504644`) `U32BE(k)` `U64BE(n)` | this crate only: `n` payload bytes follow, and `k` file descriptors ride (`SCM_RIGHTS`) on the header's first byte |
//!
//! CPython never writes other negative lengths and reads them as an empty message without
//! consuming anything; this reader refuses them with [`Error::BadMessageLength`] instead,
//! because silently returning an empty message leaves the stream desynchronised.
//!
//! The reader keeps a small buffer so that a small message usually costs one `read`: header
//! and payload come in together. Large payloads are read straight into the message's own
//! vector, which grows at most [`MAX_AHEAD`] bytes ahead of the data actually received, so a
//! peer announcing 2 GiB makes us allocate nothing more until the bytes arrive.
//!
//! The codec itself is I/O-free and public ([`encode_header`], [`parse_header`],
//! [`decode_frame`]): feed it bytes, get frames out, so a blocking connection, the
//! handshake state machine ([`auth::Handshake`](crate::auth::Handshake)) and an async adapter
//! share one definition of the wire format. The blocking [`Connection`](crate::Connection)
//! drives it: every header it writes comes from [`encode_header`], and its buffered reader
//! parses every header with [`parse_header`] and applies the same length limit as
//! [`decode_frame`]. It does not go through [`decode_frame`] itself, which wants the whole frame
//! in one buffer: a large payload is read straight into the message's own vector instead,
//! without the copy (see above). An async adapter can use [`decode_frame`] as it is, or drive
//! [`parse_header`] the same way.
//!
//! ```
//! # use multiprocessing_connection::pipe;
//! let (mut a, mut b) = pipe(true).unwrap();
//! a.send_bytes(&[7u8; 100_000]).unwrap(); // header and payload leave in one writev
//! # let t = std::thread::spawn(move || b.recv_bytes().unwrap());
//! # assert_eq!(t.join().unwrap().len(), 100_000);
//! ```

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;

use crate::{Error, Result};

/// The long-form marker: an 8-byte length follows.
pub(crate) const LONG_MARKER: i32 = -1;
/// This crate's descriptor-carrying marker (`-0x4d504644`, "MPFD" negated, bytes `b2 af b9 bc`):
/// a 4-byte count and an 8-byte length follow. CPython never writes a negative length other
/// than `-1`, so no CPython frame is mistaken for it.
pub(crate) const FDS_MARKER: i32 = -0x4d50_4644;
/// Size of the internal read buffer.
pub(crate) const READ_BUFFER: usize = 16 * 1024;
/// How far ahead of the received bytes a payload buffer may be allocated.
pub const MAX_AHEAD: usize = 1 << 20;
/// Most descriptors waiting to be claimed by a message before the peer is considered hostile.
const MAX_PENDING_FDS: usize = 4 * multiprocessing_core::fdpass::MAX_FDS_PER_MESSAGE;

/// Builds the header for a payload of `len` bytes carrying `nfds` descriptors.
///
/// Returns the header bytes and how many of them are used: 4 (CPython's short form), 12 (the
/// long form, for `len > 0x7FFFFFFF`) or 16 (descriptors attached).
///
/// ```
/// use multiprocessing_connection::frame::encode_header;
/// let (h, n) = encode_header(5, 0);
/// assert_eq!(&h[..n], &[0, 0, 0, 5]);
/// ```
#[must_use]
pub fn encode_header(len: usize, nfds: usize) -> ([u8; 16], usize) {
    let mut h = [0u8; 16];
    if nfds > 0 {
        h[..4].copy_from_slice(&FDS_MARKER.to_be_bytes());
        h[4..8].copy_from_slice(&(nfds as u32).to_be_bytes());
        h[8..16].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 16)
    } else if len <= 0x7FFF_FFFF {
        h[..4].copy_from_slice(&(len as u32).to_be_bytes());
        (h, 4)
    } else {
        h[..4].copy_from_slice(&LONG_MARKER.to_be_bytes());
        h[4..12].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 12)
    }
}

/// Where a [`FrameReader`] gets its bytes: a socket, a pipe, or a slice when fuzzing.
pub(crate) trait Source {
    /// Reads some bytes (0 at end of stream), appending any attached descriptors to `fds`.
    fn read_some(&mut self, buf: &mut [u8], fds: &mut FdQueue) -> io::Result<usize>;
    /// Appends at most `n` bytes to `out` (which has room for them), never reading past them.
    /// Returns the number appended (0 at end of stream).
    fn read_spare(&mut self, out: &mut Vec<u8>, n: usize) -> io::Result<usize>;
    /// Reads at most `buf.len()` bytes into `buf`, never past them.
    fn read_direct(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// Payload length.
    pub len: u64,
    /// Descriptors attached to the frame.
    pub nfds: u32,
}

/// Parses the frame header at the start of `buf`.
///
/// Returns the header and its size in bytes, `Ok(None)` if `buf` does not hold a whole header
/// yet, or [`Error::BadMessageLength`] for a negative length other than the two markers.
///
/// ```
/// use multiprocessing_connection::frame::parse_header;
/// let (h, n) = parse_header(&[0, 0, 0, 9, 1]).unwrap().unwrap();
/// assert_eq!((h.len, h.nfds, n), (9, 0, 4));
/// assert!(parse_header(&[0xff, 0xff]).unwrap().is_none());
/// ```
pub fn parse_header(buf: &[u8]) -> Result<Option<(Header, usize)>> {
    let be = |r: std::ops::Range<usize>| -> u64 {
        buf[r]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    };
    if buf.len() < 4 {
        return Ok(None);
    }
    let n = be(0..4) as u32 as i32;
    match n {
        0.. => Ok(Some((
            Header {
                len: n as u64,
                nfds: 0,
            },
            4,
        ))),
        LONG_MARKER if buf.len() < 12 => Ok(None),
        LONG_MARKER => Ok(Some((
            Header {
                len: be(4..12),
                nfds: 0,
            },
            12,
        ))),
        FDS_MARKER if buf.len() < 16 => Ok(None),
        FDS_MARKER => Ok(Some((
            Header {
                len: be(8..16),
                nfds: be(4..8) as u32,
            },
            16,
        ))),
        other => Err(Error::BadMessageLength {
            length: i128::from(other),
            limit: None,
        }),
    }
}

/// Finds the first whole frame in `buf`, refusing one longer than `limit` as soon as its header
/// is seen (before its payload arrives).
///
/// Returns the header, where the payload lies in `buf`, and how many bytes the frame takes;
/// `Ok(None)` if more bytes are needed.
///
/// ```
/// use multiprocessing_connection::frame::decode_frame;
/// let (h, payload, used) = decode_frame(&[0, 0, 0, 2, b'h', b'i', 0], 256).unwrap().unwrap();
/// assert_eq!((h.len, payload, used), (2, 4..6, 6));
/// assert!(decode_frame(&[0, 0, 0, 2, b'h'], 256).unwrap().is_none());
/// assert!(decode_frame(&[0, 0, 1, 1], 256).is_err());
/// ```
pub fn decode_frame(
    buf: &[u8],
    limit: usize,
) -> Result<Option<(Header, std::ops::Range<usize>, usize)>> {
    let Some((h, start)) = parse_header(buf)? else {
        return Ok(None);
    };
    check_limit(h.len, Some(limit))?;
    let end = start + h.len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((h, start..end, end)))
}

/// Buffered frame reader (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct FrameReader {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    fds: FdQueue,
}

/// Descriptors received but not yet claimed by a frame.
#[derive(Debug, Default)]
pub(crate) struct FdQueue {
    pub(crate) fds: VecDeque<OwnedFd>,
    /// The kernel dropped descriptors that did not fit (more than the per-message cap were
    /// attached): the next frame that claims descriptors fails, alone.
    pub(crate) truncated: bool,
}

fn retry<T>(f: impl FnMut() -> io::Result<T>) -> Result<T> {
    multiprocessing_core::time::retry_on_interrupted(f).map_err(Error::from_io)
}

impl FrameReader {
    /// A reader with no buffer yet: it is allocated by the first read, so a connection that
    /// only sends (a result channel, a connection closed after its handshake) never pays for it.
    pub(crate) fn new() -> Self {
        FrameReader {
            buf: Box::default(),
            start: 0,
            end: 0,
            fds: FdQueue::default(),
        }
    }

    /// A reader that already holds `bytes` (read past the end of a handshake).
    pub(crate) fn with_bytes(bytes: &[u8]) -> Self {
        let mut r = Self::new();
        if !bytes.is_empty() {
            let mut buf = bytes.to_vec();
            buf.resize(bytes.len().max(READ_BUFFER), 0);
            r.buf = buf.into_boxed_slice();
            r.end = bytes.len();
        }
        r
    }

    /// Takes apart the reader: the bytes received but not handed out, and the descriptors
    /// received but not claimed (to move them to an async connection, and back).
    #[cfg(feature = "tokio")]
    pub(crate) fn into_unread(self) -> (Vec<u8>, FdQueue) {
        (self.buf[self.start..self.end].to_vec(), self.fds)
    }

    /// A reader holding `bytes` and `fds` taken from another reader.
    #[cfg(feature = "tokio")]
    pub(crate) fn with_unread(bytes: &[u8], fds: FdQueue) -> Self {
        let mut r = Self::with_bytes(bytes);
        r.fds = fds;
        r
    }

    /// Allocates the read buffer on first use.
    #[inline]
    fn ensure_buffer(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0u8; READ_BUFFER].into_boxed_slice();
        }
    }

    /// Bytes read from the stream but not yet handed out.
    pub(crate) fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Descriptors received but not yet claimed by a message.
    pub(crate) fn pending_fds(&self) -> usize {
        self.fds.fds.len()
    }

    /// Ensures `need` (at most the buffer size) bytes are buffered.
    /// Returns `false` at end of stream before that.
    fn fill<S: Source>(&mut self, src: &mut S, need: usize) -> Result<bool> {
        debug_assert!(need <= self.buf.len());
        while self.buffered() < need {
            if self.start + need > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let end = self.end;
            let (buf, fds) = (&mut self.buf[end..], &mut self.fds);
            let n = retry(|| src.read_some(buf, fds))?;
            // The bytes are kept whatever happens to the descriptors, so the stream stays in step.
            self.end += n;
            if self.fds.fds.len() > MAX_PENDING_FDS {
                self.fds.fds.clear();
                return Err(Error::Transfer(
                    "the peer sent more file descriptors than its messages claimed".into(),
                ));
            }
            if n == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.buf[self.start..self.start + n];
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        s
    }

    /// Reads a frame header; `Error::Eof` if the stream ends before its first byte.
    pub(crate) fn read_header<S: Source>(&mut self, src: &mut S) -> Result<Header> {
        self.ensure_buffer();
        let mut need = 4;
        loop {
            if !self.fill(src, need)? {
                return Err(if self.buffered() == 0 {
                    Error::Eof
                } else {
                    Error::UnexpectedEof
                });
            }
            match parse_header(&self.buf[self.start..self.end]) {
                Ok(Some((h, n))) => {
                    self.take(n);
                    return Ok(h);
                }
                // A marker: the long form needs 12 bytes, the descriptor form 16.
                Ok(None) => need = if need == 4 { 12 } else { 16 },
                Err(e) => {
                    self.take(4);
                    return Err(e);
                }
            }
        }
    }

    /// Takes the `n` descriptors a frame announced off the queue of received ones.
    ///
    /// A frame announcing more than the per-message cap, or whose descriptors the kernel had to
    /// truncate, fails alone: its descriptors are closed and the next frame reads normally.
    pub(crate) fn claim_fds(&mut self, n: u32) -> Result<Vec<OwnedFd>> {
        let n = n as usize;
        if n == 0 {
            return Ok(Vec::new());
        }
        let cap = multiprocessing_core::fdpass::MAX_FDS_PER_MESSAGE;
        if n > cap || self.fds.truncated {
            self.fds.truncated = false;
            self.fds.fds.clear();
            return Err(Error::Transfer(format!(
                "the message carried {n} file descriptors, more than the {cap} allowed"
            )));
        }
        if n > self.fds.fds.len() {
            self.fds.fds.clear();
            return Err(Error::Transfer(format!(
                "the message announced {n} file descriptors that did not arrive"
            )));
        }
        Ok(self.fds.fds.drain(..n).collect())
    }

    /// Reads a payload of `len` bytes into `out` (cleared first).
    pub(crate) fn read_payload<S: Source>(
        &mut self,
        src: &mut S,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        out.clear();
        let first = self.buffered().min(len);
        out.reserve(first.max(len.min(READ_BUFFER)));
        out.extend_from_slice(self.take(first));
        let mut remaining = len - first;
        if remaining == 0 {
            return Ok(());
        }
        if remaining <= self.buf.len() / 2 {
            if !self.fill(src, remaining)? {
                return Err(Error::UnexpectedEof);
            }
            out.extend_from_slice(self.take(remaining));
            return Ok(());
        }
        while remaining > 0 {
            if out.capacity() == out.len() {
                out.reserve(remaining.min(out.len().max(MAX_AHEAD)));
            }
            let room = (out.capacity() - out.len()).min(remaining);
            let n = retry(|| src.read_spare(out, room))?;
            if n == 0 {
                return Err(Error::UnexpectedEof);
            }
            remaining -= n;
        }
        Ok(())
    }

    /// Reads a payload of exactly `out.len()` bytes into `out`.
    pub(crate) fn read_payload_into<S: Source>(
        &mut self,
        src: &mut S,
        out: &mut [u8],
    ) -> Result<()> {
        let first = self.buffered().min(out.len());
        out[..first].copy_from_slice(self.take(first));
        let mut done = first;
        let remaining = out.len() - done;
        if remaining == 0 {
            return Ok(());
        }
        if remaining <= self.buf.len() / 2 {
            if !self.fill(src, remaining)? {
                return Err(Error::UnexpectedEof);
            }
            out[done..].copy_from_slice(self.take(remaining));
            return Ok(());
        }
        while done < out.len() {
            let n = retry(|| src.read_direct(&mut out[done..]))?;
            if n == 0 {
                return Err(Error::UnexpectedEof);
            }
            done += n;
        }
        Ok(())
    }
}

/// A [`Source`] over a byte slice, handing out at most `chunk` bytes per read (for fuzzing and
/// unit tests).
#[derive(Debug)]
pub(crate) struct SliceSource<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) chunk: usize,
}

impl Source for SliceSource<'_> {
    fn read_some(&mut self, buf: &mut [u8], _fds: &mut FdQueue) -> io::Result<usize> {
        self.read_direct(buf)
    }

    fn read_spare(&mut self, out: &mut Vec<u8>, n: usize) -> io::Result<usize> {
        let k = n.min(self.data.len()).min(self.chunk.max(1));
        out.extend_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }

    fn read_direct(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = buf.len().min(self.data.len()).min(self.chunk.max(1));
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

/// Reads one frame of at most `limit` bytes from `src`, the way a connection does.
pub(crate) fn read_frame<S: Source>(
    reader: &mut FrameReader,
    src: &mut S,
    limit: Option<usize>,
    out: &mut Vec<u8>,
) -> Result<Header> {
    let h = reader.read_header(src)?;
    check_limit(h.len, limit)?;
    reader.read_payload(src, h.len as usize, out)?;
    Ok(h)
}

/// Fails with [`Error::BadMessageLength`] if `len` exceeds `limit` (or the address space).
pub(crate) fn check_limit(len: u64, limit: Option<usize>) -> Result<()> {
    let max = limit.unwrap_or(isize::MAX as usize) as u64;
    if len > max {
        return Err(Error::BadMessageLength {
            length: i128::from(len),
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(data: &[u8], chunk: usize, limit: Option<usize>) -> (Vec<Vec<u8>>, Error) {
        let mut r = FrameReader::new();
        let mut src = SliceSource { data, chunk };
        let mut out = Vec::new();
        let mut got = Vec::new();
        loop {
            match read_frame(&mut r, &mut src, limit, &mut out) {
                Ok(_) => got.push(out.clone()),
                Err(e) => return (got, e),
            }
        }
    }

    #[test]
    fn header_forms() {
        assert_eq!(&encode_header(5, 0).0[..4], &[0, 0, 0, 5]);
        let (h, n) = encode_header(0x8000_0000, 0);
        assert_eq!(
            &h[..n],
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]
        );
        let (h, n) = encode_header(3, 2);
        assert_eq!(
            &h[..n],
            &[0xb2, 0xaf, 0xb9, 0xbc, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3]
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "50 KB read a byte at a time takes minutes interpreted")]
    fn any_chunking_gives_the_same_frames() {
        let mut data = Vec::new();
        for len in [0usize, 1, 5, 9000, 40_000, 3] {
            let (h, n) = encode_header(len, 0);
            data.extend_from_slice(&h[..n]);
            data.extend((0..len).map(|i| i as u8));
        }
        data.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 2, 9, 9]);
        for chunk in [1, 3, 7, 4096, 100_000] {
            let (got, err) = frames(&data, chunk, None);
            assert!(matches!(err, Error::Eof), "{err:?}");
            let lens: Vec<usize> = got.iter().map(Vec::len).collect();
            assert_eq!(lens, [0, 1, 5, 9000, 40_000, 3, 2]);
            assert_eq!(got[3][8999], (8998u32 + 1) as u8);
        }
    }

    #[test]
    fn huge_claim_allocates_only_what_arrives() {
        let mut data = vec![0x7f, 0xff, 0xff, 0xff];
        data.extend_from_slice(&[1u8; 100]);
        let mut r = FrameReader::new();
        let mut src = SliceSource {
            data: &data,
            chunk: 64,
        };
        let mut out = Vec::new();
        let err = read_frame(&mut r, &mut src, None, &mut out).unwrap_err();
        assert!(matches!(err, Error::UnexpectedEof), "{err:?}");
        assert!(
            out.capacity() <= MAX_AHEAD + READ_BUFFER,
            "{}",
            out.capacity()
        );
    }

    #[test]
    fn limits_and_bad_headers_are_typed_errors() {
        let (_, e) = frames(&[0, 0, 1, 1, 0], 16, Some(256));
        assert!(
            matches!(
                e,
                Error::BadMessageLength {
                    length: 257,
                    limit: Some(256)
                }
            ),
            "{e:?}"
        );
        let (_, e) = frames(&[0xff, 0xff, 0xff, 0xfd, 1], 16, None);
        assert!(
            matches!(e, Error::BadMessageLength { length: -3, .. }),
            "{e:?}"
        );
        let (_, e) = frames(&[0, 0], 16, None);
        assert!(matches!(e, Error::UnexpectedEof), "{e:?}");
        let (_, e) = frames(&[0xff, 0xff, 0xff, 0xff, 0, 0], 16, None);
        assert!(matches!(e, Error::UnexpectedEof), "{e:?}");
        let (_, e) = frames(
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
            16,
            None,
        );
        assert!(matches!(e, Error::BadMessageLength { .. }), "{e:?}");
    }
}
