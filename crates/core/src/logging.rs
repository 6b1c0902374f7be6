//! Logging through `tracing`, Python's `multiprocessing.util` logger.
//!
//! Every crate logs with target [`LOG_TARGET`]. [`log_to_stderr`] installs a subscriber that
//! prints those events as `[LEVEL/ProcessName] message`, like Python's `log_to_stderr()`.
//!
//! ```
//! use multiprocessing_core::logging;
//! logging::log_to_stderr(tracing::Level::INFO);
//! tracing::info!(target: logging::LOG_TARGET, "child process calling self.run()");
//! // prints: [INFO/MainProcess] child process calling self.run()
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, filter};

/// The `tracing` target every crate of the workspace logs with.
pub const LOG_TARGET: &str = "multiprocessing";

/// Formats events as Python's multiprocessing logger does: `[LEVEL/ProcessName] message`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PythonFormat;

impl<S, N> FormatEvent<S, N> for PythonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "SUBDEBUG",
        };
        write!(w, "[{level}/{}] ", crate::identity::current().name)?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Holds the standard streams' locks across `fork()` (see [`fork`](crate::fork)), stdout
/// flushed first: buffered output would otherwise be written twice, by parent and child (Python
/// flushes there too), and a child that inherited a stream locked by a thread it does not have
/// (one logging at that instant) would wait for it forever when it logs or panics.
pub(crate) struct Stdio {
    held:
        std::cell::UnsafeCell<Option<(std::io::StdoutLock<'static>, std::io::StderrLock<'static>)>>,
}

// SAFETY: `held` is only touched by the fork hooks, which the fork registry runs on the forking
// thread one fork at a time (its own lock is held from before the fork to after it); the locks
// in it are taken and released by that one thread (the child continues it).
unsafe impl Sync for Stdio {}

pub(crate) static STDIO: Stdio = Stdio {
    held: std::cell::UnsafeCell::new(None),
};

impl crate::fork::ForkHook for Stdio {
    fn before_fork(&'static self) {
        let mut stdout = std::io::stdout().lock();
        let _ = std::io::Write::flush(&mut stdout);
        let stderr = std::io::stderr().lock();
        // SAFETY: see `impl Sync for Stdio`.
        unsafe { *self.held.get() = Some((stdout, stderr)) };
    }

    fn after_fork_in_parent(&'static self) {
        // SAFETY: see `impl Sync for Stdio`.
        drop(unsafe { (*self.held.get()).take() });
    }

    fn after_fork_in_child(&'static self) {
        // SAFETY: see `impl Sync for Stdio`.
        drop(unsafe { (*self.held.get()).take() });
    }
}

/// The level [`log_to_stderr`] installed, as a rank (0 = none, 1 = ERROR .. 5 = TRACE).
static STDERR_LEVEL: AtomicU8 = AtomicU8::new(0);

const LEVELS: [Level; 5] = [
    Level::ERROR,
    Level::WARN,
    Level::INFO,
    Level::DEBUG,
    Level::TRACE,
];

/// The level [`log_to_stderr`] installed in this process, if it did: spawned children are
/// given the same (Python passes `log_to_stderr`'s level to its children the same way).
#[must_use]
pub fn stderr_level() -> Option<Level> {
    let rank = STDERR_LEVEL.load(Ordering::Relaxed);
    LEVELS.get(usize::from(rank).checked_sub(1)?).copied()
}

/// Prints this library's events at `level` and above on standard error.
///
/// Returns `false` when a global subscriber was already installed (then nothing changes).
#[doc(alias = "get_logger")]
pub fn log_to_stderr(level: Level) -> bool {
    let layer = tracing_subscriber::fmt::layer()
        .event_format(PythonFormat)
        .with_writer(std::io::stderr)
        .with_filter(filter::filter_fn(move |meta| {
            meta.target().starts_with(LOG_TARGET) && *meta.level() <= level
        }));
    let installed =
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).is_ok();
    if installed && let Some(rank) = LEVELS.iter().position(|l| *l == level) {
        STDERR_LEVEL.store(rank as u8 + 1, Ordering::Relaxed);
    }
    installed
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_read_like_pythons_logger() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(PythonFormat)
            .with_writer(move || writer.clone())
            .with_max_level(Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: LOG_TARGET, "child process calling self.run()");
            tracing::warn!(target: LOG_TARGET, "a warning");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let name = crate::identity::current().name;
        assert_eq!(
            text,
            format!("[INFO/{name}] child process calling self.run()\n[WARNING/{name}] a warning\n")
        );
    }
}
