//! Connections on a tokio runtime (feature `tokio`): [`Connection`], [`Listener`], [`client`]
//! and [`pipe`], the blocking module's types with every wait an `.await`.
//!
//! # When to choose it
//!
//! Choose these when the code that talks over the connection already runs on tokio (a server,
//! a service with many peers): a `recv` awaits on the runtime's reactor instead of blocking a
//! worker thread or needing `spawn_blocking`, and a thousand connections cost a thousand
//! registrations, not a thousand threads. Choose the blocking [`crate::Connection`] for a
//! plain process or thread doing one exchange at a time: it is simpler and, for a lone round
//! trip, a little faster (it can spin briefly where a runtime would park and be woken).
//!
//! Both speak exactly the same frames (one codec, [`frame`](crate::frame)) and the same
//! handshake (one state machine, [`auth::Handshake`](crate::auth::Handshake)), so either end of
//! a connection can be blocking, async, or CPython. A connection moves between the two forms
//! without losing a message: [`Connection::try_from`] a blocking one, [`Connection::into_std`]
//! back; [`Listener::try_from`] a bound blocking listener, or [`Listener::bind`] with its builder.
//!
//! The runtime needs its I/O driver, and its timer for the listener's handshake timeout and
//! for deadlines (`Builder::enable_all`, which `#[tokio::main]` does). Either flavour works:
//! the multi-thread one, or a current-thread one where everything runs on one thread.
//!
//! ```
//! use multiprocessing_connection::{AuthKey, Listener, tokio as mp};
//!
//! # fn main() {
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! rt.block_on(async {
//!     let key = AuthKey::new(b"secret".to_vec());
//!     let listener = mp::Listener::bind(Listener::builder().authkey(key.clone())).unwrap();
//!     let address = listener.address().clone();
//!     // A server task: doubles every number it receives.
//!     let server = tokio::spawn(async move {
//!         let mut conn = listener.accept().await.unwrap();
//!         while let Ok(n) = conn.recv::<u64>().await {
//!             conn.send(&(n * 2)).await.unwrap();
//!         }
//!     });
//!     let mut conn = mp::client(&address, Some(&key)).await.unwrap();
//!     for n in 1..=3u64 {
//!         conn.send(&n).await.unwrap();
//!         assert_eq!(conn.recv::<u64>().await.unwrap(), 2 * n);
//!     }
//!     drop(conn);
//!     server.await.unwrap();
//! });
//! # }
//! ```
//!
//! # Deadlines
//!
//! No method takes a timeout: every wait is a future, and [`tokio::time::timeout`] puts a
//! deadline on any of them (Python's `poll(t)` is also [`Connection::poll`]). What a
//! timed-out future leaves behind is its cancel safety, documented on each method:
//!
//! | method | cancel-safe |
//! | --- | --- |
//! | [`Connection::recv`], [`recv_bytes`](Connection::recv_bytes), [`recv_bytes_max`](Connection::recv_bytes_max), `recv_pickle` | yes: a partial message stays in the connection's buffer, the next receive returns it whole |
//! | [`Connection::wait_readable`], [`Connection::poll`] | yes: they take nothing |
//! | [`Connection::send`], [`send_bytes`](Connection::send_bytes), `send_pickle` | no: dropped after part of a frame went out, the sending side is poisoned (later sends are an error, never a garbled frame) |
//! | [`Listener::accept`] | yes: a connection accepted meanwhile is kept for the next call |
//! | [`client`] | yes: the half-made connection is closed |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use multiprocessing_connection::tokio::pipe;
//! let (mut a, mut b) = pipe(true).unwrap();
//! let waited = tokio::time::timeout(Duration::from_millis(10), b.recv_bytes()).await;
//! assert!(waited.is_err(), "nothing was sent");
//! a.send_bytes(b"late").await.unwrap();
//! assert_eq!(b.recv_bytes().await.unwrap(), b"late");
//! # }
//! ```

mod client;
mod connection;
mod handshake;
mod listener;
mod pipe;

pub use client::client;
pub use connection::Connection;
pub use listener::Listener;
pub use pipe::pipe;
