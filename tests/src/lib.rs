//! Helpers shared by the cross-crate tests.

pub mod cpython;
pub mod examples;
pub mod fork;
pub mod helpers;
pub mod memory;
pub mod peer;
pub mod sync_workers;

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
