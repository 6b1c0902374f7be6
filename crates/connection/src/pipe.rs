//! [`pipe`]: a connected pair of [`Connection`]s, Python's `multiprocessing.Pipe`.
//!
//! ```
//! use multiprocessing_connection::{Error, pipe};
//! let (mut reader, mut writer) = pipe(false).unwrap();
//! writer.send_bytes(b"one way").unwrap();
//! assert_eq!(reader.recv_bytes().unwrap(), b"one way");
//! assert!(matches!(reader.send_bytes(b"x"), Err(Error::ReadOnly)));
//! assert!(matches!(writer.recv_bytes(), Err(Error::WriteOnly)));
//! ```

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::pipe::PipeFlags;

use crate::connection::Kind;
use crate::{Connection, Result};

/// Makes a pair of connected connections (Python's `Pipe(duplex)`).
///
/// With `duplex` both ends send and receive over a Unix socket pair (which can also carry
/// descriptors); without, the first end only receives and the second only sends, over a pipe.
/// Both descriptors are close-on-exec.
#[doc(alias = "Pipe")]
pub fn pipe(duplex: bool) -> Result<(Connection, Connection)> {
    if duplex {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok((
            Connection::from_parts(a, Kind::Unix, true, true),
            Connection::from_parts(b, Kind::Unix, true, true),
        ))
    } else {
        let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
        Ok((
            Connection::from_parts(r, Kind::Pipe, true, false),
            Connection::from_parts(w, Kind::Pipe, false, true),
        ))
    }
}
