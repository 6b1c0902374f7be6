//! Process rows: start and join a process that does nothing, for each start method.
//!
//! Raw baselines: `fork`, `_exit` and `waitpid`; `posix_spawn` of this very binary
//! (`mpbench exit`) and `waitpid`; and for the forkserver a server forked ahead of time that, per
//! request byte, forks a child, reaps it and answers one byte.

use std::ffi::{CString, c_char};
use std::io;

use rustix::process::Pid;

use crate::harness::{
    Config, Effort, Placement, Row, Samples, Target, Unit, fork_child, pin_parent, read_exact,
    socketpair, wait_pid, write_all,
};

#[cfg(feature = "ours-process")]
mod ours;

const PLACEMENTS: &[Placement] = &[Placement::OneCpu, Placement::Unpinned];
const QUICK_PLACEMENTS: &[Placement] = &[Placement::OneCpu];
const FULL: Effort = Effort {
    iters: 1,
    samples: 20,
    warmup: 2,
};
const QUICK: Effort = Effort {
    iters: 1,
    samples: 5,
    warmup: 1,
};

/// The process rows.
pub(crate) fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "start-fork",
            about: "start and join a process whose target does nothing, fork start method",
            unit: Unit::Ms,
            placements: PLACEMENTS,
            quick_placements: QUICK_PLACEMENTS,
            full: FULL,
            quick: QUICK,
            targets: &[Target::AtMostRaw(1.3)],
            #[cfg(feature = "ours-process")]
            ours: Some(ours::start_fork),
            #[cfg(not(feature = "ours-process"))]
            ours: None,
            ours_feature: "ours-process",
            raw: raw_fork,
            peer: None,
        },
        Row {
            name: "start-spawn",
            about: "start and join a process whose target does nothing, spawn start method \
                    (a fresh executable image)",
            unit: Unit::Ms,
            placements: PLACEMENTS,
            quick_placements: QUICK_PLACEMENTS,
            full: FULL,
            quick: QUICK,
            targets: &[Target::AtMostRaw(1.5), Target::FasterThanCpython(30.0)],
            #[cfg(feature = "ours-process")]
            ours: Some(ours::start_spawn),
            #[cfg(not(feature = "ours-process"))]
            ours: None,
            ours_feature: "ours-process",
            raw: raw_spawn,
            peer: None,
        },
        Row {
            name: "start-forkserver",
            about: "start and join a process whose target does nothing, forkserver start \
                    method (server started during warm-up)",
            unit: Unit::Ms,
            placements: PLACEMENTS,
            quick_placements: QUICK_PLACEMENTS,
            full: FULL,
            quick: QUICK,
            targets: &[Target::AtMostRaw(1.5), Target::FasterThanCpython(10.0)],
            #[cfg(feature = "ours-process")]
            ours: Some(ours::start_forkserver),
            #[cfg(not(feature = "ours-process"))]
            ours: None,
            ours_feature: "ours-process",
            raw: raw_forkserver,
            peer: None,
        },
    ]
}

/// Forks a child that exits at once and reaps it.
fn fork_and_reap() -> io::Result<()> {
    // SAFETY: mpbench is single-threaded, and the child only calls `_exit`.
    let pid = unsafe { libc::fork() };
    match pid {
        0 => {
            // SAFETY: leaves the child at once, running nothing of the parent's.
            unsafe { libc::_exit(0) }
        }
        p if p < 0 => Err(io::Error::last_os_error()),
        p => check_exit(wait_pid(Pid::from_raw(p).expect("positive pid"))?),
    }
}

fn check_exit(status: Option<i32>) -> io::Result<()> {
    match status {
        Some(0) => Ok(()),
        other => Err(io::Error::other(format!("child ended with {other:?}"))),
    }
}

fn raw_fork(cfg: &Config) -> Samples {
    pin_parent(cfg.placement)?;
    cfg.time_samples(Unit::Ms, |n| {
        for _ in 0..n {
            fork_and_reap()?;
        }
        Ok(())
    })
}

unsafe extern "C" {
    static environ: *const *mut c_char;
}

fn raw_spawn(cfg: &Config) -> Samples {
    pin_parent(cfg.placement)?;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let path =
        CString::new(exe.into_os_string().into_encoded_bytes()).map_err(|e| e.to_string())?;
    let argv0 = CString::new("mpbench").expect("no NUL");
    let argv1 = CString::new("exit").expect("no NUL");
    let argv: [*mut c_char; 3] = [
        argv0.as_ptr().cast_mut(),
        argv1.as_ptr().cast_mut(),
        std::ptr::null_mut(),
    ];
    cfg.time_samples(Unit::Ms, |n| {
        for _ in 0..n {
            let mut pid: libc::pid_t = 0;
            // SAFETY: `path` and `argv` are NUL-terminated and outlive the call; null file
            // actions and attributes mean defaults; `environ` is this process's environment,
            // which nothing modifies while mpbench runs.
            let rc = unsafe {
                libc::posix_spawn(
                    &mut pid,
                    path.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    argv.as_ptr(),
                    environ.cast(),
                )
            };
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            check_exit(wait_pid(Pid::from_raw(pid).expect("positive pid"))?)?;
        }
        Ok(())
    })
}

fn raw_forkserver(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let (ours, theirs) = socketpair().map_err(|e| e.to_string())?;
    let _server = fork_child(child_cpu, move || {
        let mut byte = [0u8; 1];
        loop {
            if read_exact(&theirs, &mut byte).is_err() {
                return 0;
            }
            byte[0] = u8::from(fork_and_reap().is_ok());
            if write_all(&theirs, &byte).is_err() {
                return 0;
            }
        }
    })?;
    let mut byte = [0u8; 1];
    cfg.time_samples(Unit::Ms, |n| {
        for _ in 0..n {
            write_all(&ours, b"f")?;
            read_exact(&ours, &mut byte)?;
            if byte[0] != 1 {
                return Err(io::Error::other("the server's fork failed"));
            }
        }
        Ok(())
    })
}
