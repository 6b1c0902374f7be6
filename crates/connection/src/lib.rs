//! Message-oriented connections between processes, mirroring Python's
//! `multiprocessing.connection` and byte-compatible with CPython on the wire.
//!
//! * [`pipe`] makes a connected pair ([`Connection`]s), like `multiprocessing.Pipe`.
//! * [`Listener`] and [`client`] connect unrelated processes over Unix or TCP sockets
//!   ([`Address`]), with CPython's HMAC challenge handshake ([`auth`]), so a CPython
//!   `Client`/`Listener` can be the other side.
//! * [`wait`] blocks on many connections, listeners and descriptors at once.
//! * `tokio` (feature `tokio`, off by default): the same connections, listener, client and
//!   pipe with every wait an `.await` on a tokio runtime, over the same frames and handshake.
//!
//! A [`Connection`] carries raw byte messages ([`Connection::send_bytes`]) and serde values
//! ([`Connection::send`]); values may contain other connections, whose descriptors travel
//! over Unix sockets.
//!
//! ```
//! use multiprocessing_connection::pipe;
//! let (mut parent, mut child) = pipe(true).unwrap();
//! let t = std::thread::spawn(move || {
//!     let n: u64 = child.recv().unwrap();
//!     child.send(&(n * 2)).unwrap();
//! });
//! parent.send(&21u64).unwrap();
//! assert_eq!(parent.recv::<u64>().unwrap(), 42);
//! t.join().unwrap();
//! ```

mod address;
pub mod auth;
mod client;
mod connection;
mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod handshake_io;
mod listener;
mod pipe;
#[cfg(feature = "tokio")]
pub mod tokio;
mod wait;

pub use address::Address;
pub use auth::{answer_challenge, deliver_challenge};
pub use client::{Client, ClientBuilder, client};
pub use connection::Connection;
pub use error::{Error, Result};
pub use listener::{
    DEFAULT_BACKLOG, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_PENDING, Listener, ListenerBuilder,
};
pub use multiprocessing_core::AuthKey;
pub use multiprocessing_core::time::{WaitFd, Waitable};
pub use pipe::pipe;
pub use wait::wait;
