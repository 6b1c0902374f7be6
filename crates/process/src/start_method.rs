//! Start methods: how a child process comes to life (Python's `'fork'`, `'spawn'`, `'forkserver'`).
//!
//! ```
//! use multiprocessing_process::StartMethod;
//! let m: StartMethod = "spawn".parse().unwrap();
//! assert_eq!(m, StartMethod::Spawn);
//! assert_eq!(StartMethod::ForkServer.to_string(), "forkserver");
//! assert!("thread".parse::<StartMethod>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// How a child process is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum StartMethod {
    /// `fork()` the calling process; the child runs the target directly. Fastest; unsafe to
    /// mix with threads in the parent (a warning is logged when the parent has other threads).
    Fork,
    /// Re-execute this program (`/proc/self/exe`); the child entry runs before `main`.
    Spawn,
    /// Ask a single-threaded server process (a re-executed copy of this program, started on
    /// first use) to fork the child. The default, as in CPython 3.14.
    #[default]
    ForkServer,
}

impl StartMethod {
    /// Python's name of the method: `"fork"`, `"spawn"` or `"forkserver"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::ForkServer => "forkserver",
        }
    }

    /// The name Python gives the process class of this method (`ForkProcess`, ...).
    pub(crate) fn class_name(self) -> &'static str {
        match self {
            StartMethod::Fork => "ForkProcess",
            StartMethod::Spawn => "SpawnProcess",
            StartMethod::ForkServer => "ForkServerProcess",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StartMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::ForkServer),
            other => Err(Error::UnknownStartMethod(other.to_owned())),
        }
    }
}

/// The start methods this platform supports, the default first (Python's order on Linux
/// puts the default first too).
#[must_use]
pub fn get_all_start_methods() -> Vec<StartMethod> {
    vec![
        StartMethod::ForkServer,
        StartMethod::Fork,
        StartMethod::Spawn,
    ]
}
