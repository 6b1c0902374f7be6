//! The running process and its parent: Python's `current_process()` and `parent_process()`.
//!
//! ```
//! use multiprocessing_process::{current_process, parent_process};
//! let me = current_process();
//! assert_eq!(me.name(), "MainProcess");
//! assert_eq!(me.pid(), std::process::id());
//! assert!(parent_process().is_none());
//! assert!(me.is_alive() && me.exitcode().is_none());
//! assert!(me.to_string().starts_with("<_MainProcess name='MainProcess' parent=None started>"));
//! ```

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use multiprocessing_core::AuthKey;
use multiprocessing_core::identity::{self, Identity};
use rustix::process::{Pid, PidfdFlags, pidfd_open};

use crate::forkserver::my_pid;
use crate::process::py_repr;
use crate::{Error, Result};
use multiprocessing_core::time::{Deadline, wait_readable};

/// A snapshot of the running process's identity (Python's `current_process()`).
#[derive(Clone, Debug)]
pub struct CurrentProcess {
    identity: Identity,
    pid: u32,
}

impl CurrentProcess {
    /// `MainProcess`, or the child's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.identity.name
    }

    /// This process's id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether this process is daemonic.
    #[must_use]
    pub fn daemon(&self) -> bool {
        self.identity.daemon
    }

    /// The authkey this process authenticates with.
    #[must_use]
    pub fn authkey(&self) -> &AuthKey {
        &self.identity.authkey
    }

    /// Position in the process tree: empty for the main process, `[1, 2]` for `Process-1:2`
    /// (Python's `_identity`).
    #[must_use]
    pub fn identity(&self) -> &[u32] {
        &self.identity.path
    }

    /// Always true: the running process is alive (Python's `current_process().is_alive()`).
    #[must_use]
    pub fn is_alive(&self) -> bool {
        true
    }

    /// Always `None`: the running process has not exited (Python's
    /// `current_process().exitcode`).
    #[must_use]
    pub fn exitcode(&self) -> Option<i32> {
        None
    }
}

impl fmt::Display for CurrentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = if self.identity.parent.is_none() {
            "_MainProcess"
        } else {
            "Process"
        };
        write!(f, "<{class} name={} parent=", py_repr(&self.identity.name))?;
        match &self.identity.parent {
            Some(p) => write!(f, "{}", p.pid)?,
            None => f.write_str("None")?,
        }
        f.write_str(" started")?;
        if self.identity.daemon {
            f.write_str(" daemon")?;
        }
        f.write_str(">")
    }
}

/// The running process (Python's `current_process()`).
#[must_use]
pub fn current_process() -> CurrentProcess {
    CurrentProcess {
        identity: identity::current(),
        pid: my_pid(),
    }
}

/// The process that started this one (Python's `parent_process()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentProcess {
    name: String,
    pid: u32,
    /// Its start time, which tells it from a later process given the same pid.
    start: u64,
}

impl ParentProcess {
    /// The parent's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parent's process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the parent is still running: the process that started this one, not a later
    /// one the kernel gave the same pid (its start time is checked too).
    #[must_use]
    pub fn is_alive(&self) -> bool {
        multiprocessing_core::owner::is_alive(self.pid, self.start)
    }
}

impl ParentProcess {
    /// A descriptor that becomes readable when the parent exits (Python's
    /// `parent_process().sentinel`): a pidfd, or, when the parent is already gone, the read end
    /// of a pipe with no writer (readable at once).
    ///
    /// Safe against pid reuse: the pidfd counts only while this process is still the parent's
    /// child (`getppid`), since a process whose parent died is handed to another one and never
    /// handed back.
    pub fn sentinel(&self) -> Result<OwnedFd> {
        if let Some(pid) = Pid::from_raw(self.pid as i32)
            && let Ok(fd) = pidfd_open(pid, PidfdFlags::empty())
            // Opened first, checked second: if the pid named our parent when we checked, it
            // named it when we opened too (the parent had not died, so not been reused).
            && rustix::process::getppid().map(Pid::as_raw_nonzero) == Some(pid.as_raw_nonzero())
        {
            return Ok(fd);
        }
        crate::popen::readable_now()
    }

    /// Waits until the parent exits (Python's `parent_process().join()`).
    pub fn join(&self) -> Result<()> {
        self.wait(Deadline::never())
    }

    /// Waits at most `timeout` for the parent to exit (Python's
    /// `parent_process().join(timeout)`); [`Error::Timeout`] while it still runs. Any
    /// `Duration` is accepted: [`Duration::ZERO`] only checks.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.wait(Deadline::after(timeout))
    }

    fn wait(&self, deadline: Deadline) -> Result<()> {
        let sentinel = self.sentinel()?;
        if wait_readable(sentinel.as_fd(), deadline)? {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }
}

/// The parent of the running process, `None` in the main process.
#[must_use]
pub fn parent_process() -> Option<ParentProcess> {
    identity::current().parent.map(|p| ParentProcess {
        name: p.name,
        pid: p.pid,
        start: p.start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_is_known_by_its_start_time_not_only_its_pid() {
        let me = multiprocessing_core::owner::process();
        let parent = |start| ParentProcess {
            name: "MainProcess".into(),
            pid: me.id,
            start,
        };
        assert!(parent(me.start).is_alive());
        // The same pid with another start time is a later process given a reused pid.
        assert!(!parent(me.start + 1).is_alive());
    }
}
