//! Helpers shared by the cross-crate tests, each in one home: [`helpers`] (bounds, polling,
//! descriptors, frames, temporary paths), [`fork`] (raw `fork` and re-executed test children),
//! [`sync_workers`] (child targets of the synchronization tests), [`cpython`] (CPython on this
//! machine) and [`examples`] (the facade's example binaries).

pub mod cpython;
pub mod examples;
pub mod fork;
pub mod helpers;
pub mod runtime;
pub mod sync_workers;

/// The bound and the polling loop most files name from the crate root; their one home is
/// [`helpers`].
pub use helpers::{BOUND, eventually};

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
