//! Process objects, start methods and contexts: Python's `multiprocessing.process`,
//! `multiprocessing.context`, `popen_fork`, `popen_spawn_posix`, `popen_forkserver` and
//! `forkserver`.
//!
//! A [`Process`] runs a target — a `fn` item or a closure capturing nothing, with its arguments
//! as a tuple — in a child process started by one of three [`StartMethod`]s:
//!
//! - **fork**: `fork()` this process; also runs any `FnOnce() + Send` closure
//!   ([`Process::from_closure`]).
//! - **spawn**: re-execute this program; a constructor that runs before `main` takes the child
//!   role, so `main` never runs twice and test binaries need no harness.
//! - **forkserver** (the default): a single-threaded re-executed copy of this program forks each
//!   child on request.
//!
//! Targets are found in the child by their offset from a fixed symbol, which is sound because
//! every request carries the executable's fingerprint (its GNU build-id). Arguments and return
//! values are serde values; handles owning file descriptors travel with them under every method.
//! [`spawn`] returns a [`JoinHandle`] whose `join` gives back the target's return value.
//!
//! ```
//! use multiprocessing_process::{Process, current_process, spawn};
//! fn f(name: String) -> String {
//!     format!("hello {name} from {}", current_process().name())
//! }
//! let p = Process::new(f, ("bob".to_string(),));
//! p.start().unwrap();
//! assert_eq!(p.join().unwrap(), 0);
//! let greeting = spawn(f, ("alice".to_string(),)).unwrap().join().unwrap();
//! assert!(greeting.starts_with("hello alice from Process-"));
//! ```

mod channel;
mod child;
mod context;
mod cpu;
mod current;
mod error;
mod forkserver;
mod gate;
mod handle;
mod popen;
mod process;
mod registry;
mod signals;
mod spawn;
mod start_method;
mod target;

pub use child::freeze_support;
pub use context::{
    Context, default_context, get_context, get_start_method, set_executable, set_start_method,
};
pub use cpu::{cpu_count, process_cpu_count};
pub use current::{CurrentProcess, ParentProcess, current_process, parent_process};
pub use error::{Error, Result};
pub use handle::{JoinHandle, SpawnBuilder, spawn};
pub use multiprocessing_core::code::fingerprint;
pub use process::{Process, ProcessBuilder, Sentinel};
pub use registry::active_children;
pub use signals::signal_name;
pub use start_method::{StartMethod, get_all_start_methods};
pub use target::Target;
