//! The foundation of multiprocessing for Rust.
//!
//! Every other crate of the workspace stands on this one. It mirrors the parts of Python's
//! `multiprocessing` that are not a user-facing module of their own: the exceptions
//! (`multiprocessing.ProcessError`, `AuthenticationError`, ...: every crate's error reports an
//! [`ErrorKind`] to match on), how a call ended ([`outcome`]: returned, or panicked with message
//! and location, as a pool re-raises a task's exception), the `AuthenticationString` key,
//! the serialization used between processes (pickle there, [`codec`] here), `current_process()`'s
//! identity, the reduction machinery that moves file descriptors ([`transfer`], [`fdpass`]) and
//! `multiprocessing.util`'s logging ([`logging`]), the shared-memory heap of
//! `multiprocessing.heap` ([`heap`]) and `multiprocessing.shared_memory` ([`shm`]), with
//! `multiprocessing.resource_tracker` ([`tracker`]) to unlink segments whose creator died.
//!
//! It is also the runtime layer the other crates share instead of repeating: [`fork`] (the
//! fork-hook registry, `multiprocessing.util.register_after_fork`, with which every global
//! lock registers), [`time`] (one `Deadline`, `poll` and interrupted-call retry for every
//! blocking wait, and the `Waitable` trait behind `connection.wait`), [`futex`] (sleeping on a
//! word of shared memory until a deadline, with a loom model, and [`futex_async`] to await one
//! from async code), [`owner`] (`/proc`,
//! pid-reuse-safe liveness and exit-code decoding) and [`exit`] (Python's exit finalizers: work
//! a process does before it exits normally).
//!
//! ```
//! use multiprocessing_core::{codec, identity};
//! let bytes = codec::encode(&vec![1u32, 2, 3]).unwrap();
//! assert_eq!(codec::decode::<Vec<u32>>(&bytes).unwrap(), [1, 2, 3]);
//! assert_eq!(identity::current().name, "MainProcess");
//! ```

mod authkey;
pub mod backoff;
pub mod code;
pub mod codec;
mod error;
pub mod exit;
pub mod fdpass;
pub mod fork;
pub mod futex;
pub mod futex_async;
pub mod heap;
pub mod identity;
pub mod logging;
mod mapping;
pub mod outcome;
pub mod owner;
pub mod shm;
pub mod time;
pub mod tracker;
pub mod transfer;

pub use authkey::{AUTHKEY_LEN, AuthKey};
pub use error::{Error, ErrorKind, Result, TrackerFailure};
