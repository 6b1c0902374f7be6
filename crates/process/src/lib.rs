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

#![cfg_attr(
    feature = "tokio",
    doc = r#"
# From async code (the `tokio` feature)

Each blocking wait of this crate has a future that waits on tokio's reactor instead: a child's
pidfd becomes readable when it ends, a connection's socket when a message arrives. No thread is
started per waiting child and no runtime thread blocks.

- [`Process::join_async`]: the exit code, as [`Process::join`]; [`Process::exitcode`] and later
  joins agree with it.
- [`JoinHandle::join_async`], also `handle.await` ([`IntoFuture`]): the
  target's return value; [`JoinHandle::wait_async`] waits without consuming the handle.
- [`wait_async`]: `multiprocessing.connection.wait` over connections, listeners and sentinels,
  with the blocking `wait`'s semantics and timeout.

Deadlines come from [`tokio::time::timeout`] (or `wait_async`'s own `timeout`). Dropping any of
these futures neither kills nor reaps a child nor reads a message: the object is as it was, and a
later join, blocking or not, still gets the code. They must be polled inside a tokio runtime with
I/O enabled (and time, for a finite timeout); outside any runtime they fail with an error of kind
`Io`, and a runtime without those drivers panics as tokio's own sockets and timers do.

```
use std::time::Duration;
use multiprocessing_connection::{Connection, pipe};
use multiprocessing_process::{Process, spawn, wait_async};
fn answer(mut conn: Connection) { conn.send(&42u32).unwrap(); }
fn square(x: u64) -> u64 { x * x }
fn stall() { std::thread::sleep(Duration::from_secs(600)) }

let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
rt.block_on(async {
    // wait for a message or a child's end, whichever comes first
    let (mut ours, theirs) = pipe(true).unwrap();
    let p = Process::new(answer, (theirs,));
    p.start().unwrap();
    let sentinel = p.sentinel().unwrap();
    let objects: [&dyn multiprocessing_connection::Waitable; 2] = [&ours, &sentinel];
    let ready = wait_async(&objects, Some(Duration::from_secs(30))).await.unwrap();
    assert!(!ready.is_empty());
    assert_eq!(ours.recv::<u32>().unwrap(), 42);
    assert_eq!(p.join_async().await.unwrap(), 0);

    // a typed child's value
    assert_eq!(spawn(square, (12,)).unwrap().await.unwrap(), 144);

    // a deadline: the child is neither killed nor reaped by the timeout
    let slow = Process::new(stall, ());
    slow.start().unwrap();
    let late = tokio::time::timeout(Duration::from_millis(20), slow.join_async()).await;
    assert!(late.is_err() && slow.is_alive());
    slow.kill().unwrap();
    assert_eq!(slow.join().unwrap(), -9); // the blocking join still works
});
```
"#
)]

#[cfg(feature = "tokio")]
mod async_wait;
mod channel;
mod child;
mod context;
mod cpu;
mod current;
mod error;
mod forkserver;
mod gate;
mod handle;
mod initializer;
mod popen;
mod process;
mod registry;
mod signals;
mod spawn;
mod start_method;
mod target;

#[cfg(feature = "tokio")]
pub use async_wait::wait_async;
pub use child::freeze_support;
pub use context::{
    Context, default_context, get_context, get_start_method, set_executable, set_start_method,
};
pub use cpu::{cpu_count, process_cpu_count};
pub use current::{CurrentProcess, ParentProcess, current_process, parent_process};
pub use error::{Error, Result};
pub use handle::{JoinHandle, SpawnBuilder, spawn};
pub use initializer::{InitEntry, Initializer};
pub use multiprocessing_core::code::fingerprint;
pub use process::{Process, ProcessBuilder, Sentinel};
pub use registry::active_children;
pub use signals::signal_name;
pub use start_method::{StartMethod, get_all_start_methods};
pub use target::Target;
