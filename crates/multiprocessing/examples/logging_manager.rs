//! Logging: the documentation's example session with logging turned on, where a manager's
//! server process reports its start, its address and its exit.
//!
//! ```python
//! >>> import multiprocessing, logging
//! >>> logger = multiprocessing.log_to_stderr()
//! >>> logger.setLevel(logging.INFO)
//! >>> logger.warning('doomed')
//! [WARNING/MainProcess] doomed
//! >>> m = multiprocessing.Manager()
//! [INFO/SyncManager-...] child process calling self.run()
//! [INFO/SyncManager-...] created temp directory /.../pymp-...
//! [INFO/SyncManager-...] manager serving at '/.../listener-...'
//! >>> del m
//! [INFO/MainProcess] sending shutdown message to manager
//! [INFO/SyncManager-...] manager exiting with exitcode 0
//! ```
//!
//! Prints those lines on standard error, without the temporary directory: the server listens
//! on an abstract Unix name (`'@mp-manager-...'`), which needs none.

use multiprocessing::runtime::logging::LOG_TARGET;

fn main() -> Result<(), multiprocessing::Error> {
    multiprocessing::log_to_stderr(tracing::Level::INFO);
    tracing::warn!(target: LOG_TARGET, "doomed");
    let m = multiprocessing::manager()?;
    drop(m); // Python's `del m`: shuts the server down
    Ok(())
}
