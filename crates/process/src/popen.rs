//! Launching a child by each start method and watching it afterwards (Python's `Popen` classes).
//!
//! A [`Popen`] knows a started child's pid and pidfd (its sentinel), how to learn its exit
//! code (`waitid` on the pidfd for our own children, the status pipe for the forkserver's), and
//! how to signal it (`pidfd_send_signal`, immune to pid reuse).
//!
//! ```
//! use multiprocessing_process::{Process, get_context, StartMethod};
//! fn work() {}
//! let p = Process::builder(work, ()).context(&get_context(StartMethod::Fork)).build();
//! p.start().unwrap();
//! assert_eq!(p.join().unwrap(), 0);
//! ```

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use multiprocessing_core::identity::{self, Identity};
use multiprocessing_core::logging::LOG_TARGET;
use multiprocessing_core::transfer::{TransferFd, encode_with_fds};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, pidfd_open, waitid};

use crate::child::{ChildRequest, Exit, die_with_parent, finish};
use crate::context::Context;
use crate::forkserver::{ForkServer, exitcode, my_pid};
use crate::spawn::{boot, spawn_executable};
use crate::target::{Invocation, Payload};
use crate::{Error, Result, StartMethod};
use multiprocessing_core::code::CodeRef;

/// A started child.
pub(crate) struct Popen {
    pub(crate) pid: u32,
    pub(crate) pidfd: Arc<OwnedFd>,
    /// Forkserver children: the pipe the server writes the exit code to.
    status: Option<Arc<OwnedFd>>,
    pub(crate) returncode: Option<i32>,
    _server: Option<Arc<ForkServer>>,
}

/// Something to wait on without holding the process's lock.
pub(crate) struct Waitable(Arc<OwnedFd>);

impl Waitable {
    /// Waits until readable; false on timeout.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        wait_readable(self.0.as_fd(), timeout)
    }
}

/// Polls one descriptor for readability, retrying on EINTR.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ts = left.map(|l| Timespec {
            tv_sec: l.as_secs() as _,
            tv_nsec: l.subsec_nanos() as _,
        });
        let mut pfd = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        match poll(&mut pfd, ts.as_ref()) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Popen {
    /// What becomes readable when the exit code is known.
    pub(crate) fn waitable(&self) -> Waitable {
        Waitable(self.status.clone().unwrap_or_else(|| self.pidfd.clone()))
    }

    /// The exit code if the child has ended (reaping it), without blocking.
    pub(crate) fn poll(&mut self) -> Result<Option<i32>> {
        if self.returncode.is_some() {
            return Ok(self.returncode);
        }
        match &self.status {
            None => {
                let status = waitid(
                    WaitId::PidFd(self.pidfd.as_fd()),
                    WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
                )?;
                self.returncode = status
                    .filter(|s| s.exited() || s.killed() || s.dumped())
                    .map(|s| exitcode(&s));
            }
            Some(fd) => {
                // The server writes the 4 bytes at once into an empty pipe: one read gets them
                // all, or end-of-file if the server died first. The server made the pipe
                // non-blocking, so no data yet is `EAGAIN`, not a wait.
                let mut buf = [0u8; 4];
                let n = loop {
                    match rustix::io::read(fd.as_fd(), &mut buf) {
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(rustix::io::Errno::AGAIN) => return Ok(None),
                        other => break other?,
                    }
                };
                if n != 4 {
                    return Err(Error::Process(
                        "the forkserver exited before reporting the child's exit code".into(),
                    ));
                }
                self.returncode = Some(i32::from_le_bytes(buf));
            }
        }
        Ok(self.returncode)
    }

    /// Sends `sig`; a child that already ended is not an error.
    pub(crate) fn send_signal(&mut self, sig: Signal) -> Result<()> {
        if self.poll()?.is_some() {
            return Ok(());
        }
        match rustix::process::pidfd_send_signal(&*self.pidfd, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn pidfd_of(pid: i32) -> Result<OwnedFd> {
    let pid = Pid::from_raw(pid).ok_or_else(|| Error::Process("invalid pid".into()))?;
    Ok(pidfd_open(pid, PidfdFlags::empty())?)
}

/// Starts a child running `payload` as `identity` by the context's method.
pub(crate) fn launch(
    ctx: &Context,
    payload: Payload,
    identity: Identity,
    result: Option<OwnedFd>,
) -> Result<Popen> {
    match ctx.get_start_method() {
        StartMethod::Fork => launch_fork(payload, identity, result),
        method => {
            let Payload::Target {
                trampoline,
                args,
                fds,
            } = payload
            else {
                return Err(Error::Process(format!(
                    "a closure can only be started with the fork start method, not {method}; \
                     use a fn item (or a closure capturing nothing) with arguments instead"
                )));
            };
            crate::child::ensure_entry()?;
            if !multiprocessing_core::code::code_is_in_executable() {
                return Err(Error::Process(format!(
                    "the {method} start method re-executes the main executable, but this code is \
                     in a shared library; use the fork start method"
                )));
            }
            let request = ChildRequest {
                target: CodeRef::new(trampoline).to_wire(&identity.authkey),
                identity,
                args,
                fds: fds.into_iter().map(TransferFd::from).collect(),
                result: result.map(TransferFd::from),
            };
            let (bytes, fds) = encode_with_fds(&request)?;
            drop(request);
            if method == StartMethod::Spawn {
                let exe = ctx.executable();
                let (pid, pidfd, sock) = spawn_executable(&exe, "spawn")?;
                boot(&sock, &pidfd, &exe, &bytes, &fds)?;
                Ok(Popen {
                    pid,
                    pidfd: Arc::new(pidfd),
                    status: None,
                    returncode: None,
                    _server: None,
                })
            } else {
                let server = ctx.forkserver()?;
                let launched = server.launch(&bytes, &fds)?;
                Ok(Popen {
                    pid: launched.pid,
                    pidfd: Arc::new(launched.pidfd),
                    status: Some(Arc::new(launched.status)),
                    returncode: None,
                    _server: Some(server),
                })
            }
        }
    }
}

/// How many threads this process has, from `/proc/self/stat`.
fn thread_count() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(17)?.parse().ok()
}

fn launch_fork(payload: Payload, identity: Identity, result: Option<OwnedFd>) -> Result<Popen> {
    if tracing::enabled!(target: LOG_TARGET, tracing::Level::WARN)
        && let Some(n) = thread_count().filter(|&n| n > 1)
    {
        tracing::warn!(
            target: LOG_TARGET,
            "this process has {n} threads; fork() copies only the calling one, so the \
             child may deadlock on a lock another thread held"
        );
    }
    let parent = my_pid();
    // Buffered output would otherwise be written twice, by parent and child (Python flushes
    // here too). The standard streams' locks are held across fork so that the child does
    // not inherit them locked by a thread it does not have (a panic message in the child
    // would then wait forever); the child is the same thread, so it owns and releases them.
    let mut stdout = std::io::stdout().lock();
    let _ = std::io::Write::flush(&mut stdout);
    let stderr = std::io::stderr().lock();
    let gate = crate::gate::hold();
    let guard = crate::registry::lock_for_fork();
    // SAFETY: in the child only the child path below runs, and it leaves through `finish`
    // (`_exit`), never returning into the caller's frames.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        crate::registry::reset_in_child(guard);
        drop(gate);
        drop(stderr);
        drop(stdout);
        if identity.daemon && !die_with_parent(parent) {
            finish(1, Exit::Immediate);
        }
        identity::set_current_in_forked_child(identity);
        let code = match payload {
            Payload::Target {
                trampoline,
                args,
                fds,
            } => trampoline(Invocation { args, fds, result }),
            Payload::Closure(f) => catch_unwind(AssertUnwindSafe(f)).map_or(1, |()| 0),
        };
        finish(code, Exit::Immediate);
    }
    drop(guard);
    drop(gate);
    drop(stderr);
    drop(stdout);
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let pidfd = pidfd_of(pid)?;
    Ok(Popen {
        pid: pid as u32,
        pidfd: Arc::new(pidfd),
        status: None,
        returncode: None,
        _server: None,
    })
}
