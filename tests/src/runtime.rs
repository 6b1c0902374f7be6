//! The async tests' runtimes: every async test runs on both of tokio's flavours, each on a
//! fresh runtime and under a bound, so a future that never completes fails its test instead of
//! hanging the suite.

use std::future::Future;
use std::time::Duration;

use crate::helpers::BOUND;

/// Which tokio runtime a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Flavor {
    /// A multi-thread runtime with two workers (one per CPU here).
    MultiThread,
    /// A current-thread runtime: every future on the test's own thread.
    CurrentThread,
}

/// Runs `f` to completion on a fresh runtime of `flavor`, failing the test after [`BOUND`].
pub fn run<F: Future>(flavor: Flavor, f: F) -> F::Output {
    run_within(flavor, BOUND, f)
}

/// As [`run`], with a bound of one's own.
pub fn run_within<F: Future>(flavor: Flavor, limit: Duration, f: F) -> F::Output {
    let rt = match flavor {
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .expect("a tokio runtime");
    // Not `tokio::time::timeout`: it polls the future once more when the bound passes, so a
    // future whose wake-up was lost would complete then and pass, late. The bound is checked
    // first here, and a future still pending fails the test.
    rt.block_on(async {
        let mut bound = std::pin::pin!(tokio::time::sleep(limit));
        let mut f = std::pin::pin!(f);
        std::future::poll_fn(|cx| {
            assert!(
                bound.as_mut().poll(cx).is_pending(),
                "the future completes within the bound"
            );
            f.as_mut().poll(cx)
        })
        .await
    })
}

/// One test per runtime flavour for each named function `fn name(flavor: Flavor)`: modules
/// `multi_thread` and `current_thread`, each with a `#[test] fn name()`.
#[macro_export]
macro_rules! per_runtime {
    ($($name:ident),* $(,)?) => {
        mod multi_thread {
            $(#[test] fn $name() { super::$name($crate::runtime::Flavor::MultiThread) })*
        }
        mod current_thread {
            $(#[test] fn $name() { super::$name($crate::runtime::Flavor::CurrentThread) })*
        }
    };
}
