//! Helpers shared by the cross-crate tests, each in one home: [`helpers`] (bounds, polling,
//! descriptors, frames, temporary paths), [`fork`] (raw `fork` and re-executed test children),
//! [`sync_workers`] (child targets of the synchronization tests), [`cpython`] (CPython on this
//! machine) and [`examples`] (the facade's example binaries).

pub mod cpython;
pub mod examples;
pub mod fork;
pub mod helpers;
pub mod sync_workers;

use std::time::{Duration, Instant};

/// A generous bound for anything that should happen promptly (a bug would block for ever).
pub const BOUND: Duration = Duration::from_secs(20);

/// Polls `f` until it holds, for at most [`BOUND`]: for states no handshake can report.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Instantiates each named test function `fn(StartMethod)` once per start method, in modules
/// `fork`, `spawn` and `forkserver`, so a failure names the method it failed under.
#[macro_export]
macro_rules! per_method {
    ($($name:ident),* $(,)?) => {
        mod fork { $(#[test] fn $name() { super::$name(multiprocessing::StartMethod::Fork) })* }
        mod spawn { $(#[test] fn $name() { super::$name(multiprocessing::StartMethod::Spawn) })* }
        mod forkserver { $(#[test] fn $name() { super::$name(multiprocessing::StartMethod::ForkServer) })* }
    };
}
