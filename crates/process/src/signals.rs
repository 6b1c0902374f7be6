//! Signal names for exit codes, as Python's `_exitcode_to_name` prints them (`-SIGTERM`).
//!
//! ```
//! assert_eq!(multiprocessing_process::signal_name(9), "SIGKILL");
//! assert_eq!(multiprocessing_process::signal_name(64), "64");
//! ```

/// The conventional name of signal `signum` (`SIGTERM`), or its number when it has none.
#[must_use]
pub fn signal_name(signum: i32) -> String {
    let name = match signum {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => return signum.to_string(),
    };
    name.to_string()
}

/// Python's `_exitcode_to_name`: `-15` reads `-SIGTERM`, other codes read as numbers.
pub(crate) fn exitcode_name(code: i32) -> String {
    if code < 0 {
        let name = signal_name(-code);
        if name.starts_with("SIG") {
            return format!("-{name}");
        }
    }
    code.to_string()
}
