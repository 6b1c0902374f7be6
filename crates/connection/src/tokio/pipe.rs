//! The async [`pipe`]: a connected pair of async connections, Python's `Pipe()` on tokio.

use super::Connection;
use crate::Result;

/// Makes a pair of connected async connections (Python's `Pipe(duplex)`), inside a tokio
/// runtime: [`crate::pipe`], both ends registered with the runtime's reactor.
///
/// To hand one end to a child process, make the pair with [`crate::pipe`], give the child its
/// blocking end, and turn the parent's end into an async one with
/// [`Connection::try_from`](Connection#impl-TryFrom<Connection>-for-Connection): a runtime does
/// not survive a fork, a descriptor does.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use multiprocessing_connection::{Error, tokio::pipe};
/// let (mut reader, mut writer) = pipe(false).unwrap();
/// writer.send_bytes(b"one way").await.unwrap();
/// assert_eq!(reader.recv_bytes().await.unwrap(), b"one way");
/// assert!(matches!(reader.send_bytes(b"x").await, Err(Error::ReadOnly)));
/// # }
/// ```
#[doc(alias = "Pipe")]
pub fn pipe(duplex: bool) -> Result<(Connection, Connection)> {
    let (a, b) = crate::pipe(duplex)?;
    Ok((Connection::try_from(a)?, Connection::try_from(b)?))
}
