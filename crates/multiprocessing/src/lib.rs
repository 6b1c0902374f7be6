//! Process-based parallelism for Rust, after Python's `multiprocessing`.
//!
//! This facade re-exports the workspace's crates under Python's names; depend on a sub-crate
//! instead when you need only part of it.

pub use multiprocessing_core as core;
pub use multiprocessing_core::{AuthKey, codec, identity, logging, transfer};

#[cfg(feature = "connection")]
pub use multiprocessing_connection as connection;
#[cfg(feature = "connection")]
pub use multiprocessing_connection::{Address, Connection, Listener, client, pipe, wait};
