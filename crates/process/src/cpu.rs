//! CPU counts: Python's `cpu_count()` and 3.13's `process_cpu_count()`.
//!
//! ```
//! use multiprocessing_process::{cpu_count, process_cpu_count};
//! let all = cpu_count().unwrap();
//! let mine = process_cpu_count().unwrap();
//! assert!(mine >= 1 && mine <= all);
//! ```

use crate::{Error, Result};

/// The number of CPUs online in the system (Python's `os.cpu_count()`).
pub fn cpu_count() -> Result<usize> {
    // SAFETY: sysconf only reads a system setting.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n < 1 {
        return Err(Error::CpuCountUnknown);
    }
    Ok(n as usize)
}

/// The number of CPUs this process may run on (`sched_getaffinity`; Python 3.13's
/// `process_cpu_count()`).
pub fn process_cpu_count() -> Result<usize> {
    let set = rustix::thread::sched_getaffinity(None)?;
    Ok(set.count() as usize)
}
