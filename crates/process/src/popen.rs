//! Launching a child by each start method and watching it afterwards (Python's `Popen` classes).
//!
//! A [`Popen`] knows a started child's pid and, once it has one, its pidfd (the sentinel).
//! Under every method the child is this process's own (the forkserver forks children as
//! ours), and a child's pid cannot name another process until its parent reaps it: so waits
//! and polls ask the kernel about the pid (through the pidfd when there is one), and signals
//! go through a pidfd (`pidfd_send_signal`).
//!
//! Spawn and forkserver children come with their pidfd. A fork child gets one at the first
//! call that needs it (the sentinel, a timed join, a signal): a start and a plain join use the
//! pid alone, as CPython's fork `Popen` does, where a pidfd per child cost more than a tenth
//! of the start. The one hazard of a pid is a reaper elsewhere in the program (SIGCHLD set to
//! `SIG_IGN` or `SA_NOCLDWAIT`, or a wait for any child): it frees the pid, which may then name
//! another process. So a pidfd opened late is first checked to be our child (`waitid` with
//! `WNOWAIT` fails with `ECHILD` otherwise); a child found reaped elsewhere is reported ended
//! with its code unknown ([`Error::ReapedElsewhere`]) and is never signalled; and a start
//! made while the kernel reaps children itself takes the pidfd at once, as before (see
//! [`launch_fork`]).
//!
//! ```
//! use multiprocessing_process::{Process, get_context, StartMethod};
//! fn work() {}
//! let p = Process::builder(work, ()).context(&get_context(StartMethod::Fork)).build();
//! p.start().unwrap();
//! assert_eq!(p.join().unwrap(), 0);
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use multiprocessing_core::identity::{self, Identity};
use multiprocessing_core::logging::LOG_TARGET;
use multiprocessing_core::owner;
use multiprocessing_core::time::{Deadline, retry_on_intr, wait_readable};
use multiprocessing_core::transfer::{TransferFd, encode_with_fds};
use rustix::io::Errno;
use rustix::process::{
    Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, WaitIdStatus, WaitOptions, pidfd_open, waitid,
};

use crate::child::{ChildRequest, Exit, finish, log_level_for_child, prepare_child};
use crate::context::Context;
use crate::gate::Gate;
use crate::spawn::{boot, spawn_executable};
use crate::target::{Invocation, Payload};
use crate::{Error, Result, StartMethod};
use multiprocessing_core::code::CodeRef;

/// A started child of this process.
pub(crate) struct Popen {
    pid: Pid,
    /// The child's pidfd once it has one: from the start under spawn and forkserver (and under
    /// fork while the kernel reaps children itself), else opened by [`pidfd`](Self::pidfd).
    pidfd: Option<Arc<OwnedFd>>,
    pub(crate) returncode: Option<i32>,
    /// Found reaped by something other than this object: ended, its exit code unknown.
    lost: bool,
    /// While a thread reaps the child with a blocking wait, without the process's lock: the
    /// pid of the process that thread belongs to (a forked child's copy of the mark is not
    /// its own).
    reaping: Option<u32>,
    /// Threads waiting for that thread to record what it reaped (it wakes them only if any:
    /// a condition variable's notify is a system call every time).
    pub(crate) awaiting_reaper: u32,
    /// Memory a forked child was started with, freed once the child is reaped (see
    /// [`Kept`]).
    kept: Option<Kept>,
}

/// The heap memory of a fork start's request (the identity, the encoded arguments), kept by
/// the parent until the child has ended.
///
/// After `fork` every private page is shared copy-on-write, and the first write to one copies
/// it while the child lives. Freeing this memory right after the fork would write to the
/// allocator's pages (its free lists and the chunks themselves) and to `errno`'s (glibc's
/// `free` saves it), three or four pages copied on every start, where freeing it once the
/// child is reaped finds the pages the parent's own again. Descriptors are not kept: they are
/// closed right after the fork, as before.
struct Kept {
    _identity: Identity,
    _args: Vec<u8>,
    _fds: Vec<OwnedFd>,
}

/// A child to wait for without holding the process's lock.
pub(crate) struct Waitable {
    pid: Pid,
    pidfd: Option<Arc<OwnedFd>>,
}

/// What a blocking reap found, for [`Popen::finish_reaping`].
pub(crate) struct Reaped(rustix::io::Result<Option<WaitIdStatus>>);

impl Waitable {
    /// Waits until the child has exited or `deadline` passes; false on timeout. One without a
    /// pidfd is known to have ended (see [`Popen::waitable`]).
    pub(crate) fn wait(&self, deadline: Deadline) -> Result<bool> {
        match &self.pidfd {
            Some(fd) => Ok(wait_readable(fd.as_fd(), deadline)?),
            None => Ok(true),
        }
    }

    /// Waits for the child to end and reaps it: the work of a [`Popen::start_reaping`] caller,
    /// done without the process's lock.
    pub(crate) fn reap(&self) -> Reaped {
        Reaped(retry_on_intr(|| {
            waitid(
                child_id(self.pid, self.pidfd.as_deref()),
                WaitIdOptions::EXITED,
            )
        }))
    }
}

/// The child as `waitid` names it: by its pidfd if there is one, else by its pid.
fn child_id(pid: Pid, pidfd: Option<&OwnedFd>) -> WaitId<'_> {
    match pidfd {
        Some(fd) => WaitId::PidFd(fd.as_fd()),
        None => WaitId::Pid(pid),
    }
}

fn exit_code_of(status: Option<WaitIdStatus>) -> Option<i32> {
    status
        .filter(|s| s.exited() || s.killed() || s.dumped())
        .map(|s| owner::exit_code(&s))
}

impl Popen {
    /// A child that came with its pidfd (spawn, forkserver).
    fn watched(pid: u32, pidfd: OwnedFd) -> Result<Popen> {
        let pid = Pid::from_raw(pid as i32).ok_or(Error::InvalidPid(i64::from(pid)))?;
        Ok(Popen::new(pid, Some(Arc::new(pidfd)), None))
    }

    fn new(pid: Pid, pidfd: Option<Arc<OwnedFd>>, kept: Option<Kept>) -> Popen {
        Popen {
            pid,
            pidfd,
            returncode: None,
            lost: false,
            reaping: None,
            awaiting_reaper: 0,
            kept,
        }
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid.as_raw_pid() as u32
    }

    /// The child's pidfd if it has one already.
    pub(crate) fn opened_pidfd(&self) -> Option<Arc<OwnedFd>> {
        self.pidfd.clone()
    }

    /// The child's pidfd, opened now if it has none yet; `None` when the child is known to
    /// have ended without one (nothing is left to watch or to signal).
    ///
    /// Until this process reaps its child, the pid names that child, unless something else
    /// in the program reaped it (see the module's documentation). So the pidfd is opened
    /// first and checked second: `waitid(P_PIDFD, WNOWAIT)` succeeds only on a child of ours,
    /// and a pidfd keeps naming the process it was opened for, so a pidfd that passes names
    /// our child for good. One that fails names another process: ours was reaped elsewhere
    /// (or, while another thread reaps it, by that thread).
    pub(crate) fn pidfd(&mut self) -> Result<Option<Arc<OwnedFd>>> {
        if let Some(fd) = &self.pidfd {
            return Ok(Some(fd.clone()));
        }
        if self.returncode.is_some() || self.lost {
            return Ok(None);
        }
        let fd = match pidfd_open(self.pid, PidfdFlags::empty()) {
            Ok(fd) => fd,
            // No process by that pid, or a thread's (not a process's) id: not ours.
            Err(Errno::SRCH | Errno::INVAL) => return Ok(self.gone()),
            Err(e) => return Err(e.into()),
        };
        let ours = retry_on_intr(|| {
            waitid(
                WaitId::PidFd(fd.as_fd()),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            )
        });
        match ours {
            Ok(_) => {
                let fd = Arc::new(fd);
                self.pidfd = Some(fd.clone());
                Ok(Some(fd))
            }
            Err(Errno::CHILD) => Ok(self.gone()),
            Err(e) => Err(e.into()),
        }
    }

    /// The pid no longer names our child: reaped elsewhere, or by the thread that reaps it
    /// now (which records what it found).
    fn gone(&mut self) -> Option<Arc<OwnedFd>> {
        if !self.reaping() {
            self.lost = true;
            self.kept = None;
        }
        None
    }

    /// What to wait on for a timed wait without holding the process's lock (opening the
    /// pidfd if the child has none yet).
    pub(crate) fn waitable(&mut self) -> Result<Waitable> {
        Ok(Waitable {
            pid: self.pid,
            pidfd: self.pidfd()?,
        })
    }

    /// The exit code if the child has ended (reaping it), without blocking. `None` while
    /// another thread reaps it (see [`reaping`](Self::reaping));
    /// [`Error::ReapedElsewhere`] once it was found reaped by something else.
    pub(crate) fn poll(&mut self) -> Result<Option<i32>> {
        if self.returncode.is_none() && !self.lost && !self.reaping() {
            let found = retry_on_intr(|| {
                waitid(
                    child_id(self.pid, self.pidfd.as_deref()),
                    WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
                )
            });
            self.record(found)?;
        }
        self.known()
    }

    /// What is known without asking the kernel.
    pub(crate) fn known(&self) -> Result<Option<i32>> {
        if self.lost {
            return Err(Error::ReapedElsewhere { pid: self.pid() });
        }
        Ok(self.returncode)
    }

    /// Records what a wait for the child found. `ECHILD` says the pid is not a child of ours:
    /// this object has not reaped it, so something else did.
    fn record(&mut self, found: rustix::io::Result<Option<WaitIdStatus>>) -> Result<()> {
        match found {
            Ok(status) => {
                self.returncode = exit_code_of(status);
                if self.returncode.is_some() {
                    self.kept = None;
                }
                Ok(())
            }
            Err(Errno::CHILD) => {
                self.lost = true;
                self.kept = None;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a thread is reaping the child with a blocking `waitid` (its result not yet
    /// recorded): others wait for [`finish_reaping`](Self::finish_reaping) rather than ask
    /// the kernel, which would find the child gone.
    pub(crate) fn reaping(&self) -> bool {
        self.reaping.is_some_and(|pid| pid == owner::pid())
    }

    /// Makes the caller the one thread that reaps the child with a blocking wait (without the
    /// lock); `None` when another thread already does. The wait needs no pidfd: it names the
    /// child by its pid when it has none.
    pub(crate) fn start_reaping(&mut self) -> Option<Waitable> {
        if self.reaping() {
            return None;
        }
        self.reaping = Some(owner::pid());
        Some(Waitable {
            pid: self.pid,
            pidfd: self.pidfd.clone(),
        })
    }

    /// Records what the reaping thread's wait found.
    pub(crate) fn finish_reaping(&mut self, reaped: Reaped) -> Result<Option<i32>> {
        self.reaping = None;
        self.record(reaped.0)?;
        self.known()
    }

    /// Sends `sig`; a child that already ended (or was reaped elsewhere) is not an error.
    pub(crate) fn send_signal(&mut self, sig: Signal) -> Result<()> {
        match self.poll() {
            Ok(None) => {}
            Ok(Some(_)) | Err(Error::ReapedElsewhere { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        // Through a pidfd even while the child is unreaped: `kill(pid)` would be as safe only
        // if nothing else in the program could have reaped it, and a reaper elsewhere frees
        // the pid without our knowing; a pidfd checked to name our child pins it.
        let Some(fd) = self.pidfd()? else {
            return Ok(());
        };
        match rustix::process::pidfd_send_signal(&*fd, sig) {
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Waits for an unreaped child of ours known only by pid (its pidfd could not be had); the pid
/// cannot name another process until it is reaped.
pub(crate) fn reap(pid: libc::pid_t) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = retry_on_intr(|| rustix::process::waitpid(Some(pid), WaitOptions::empty()));
    }
}

/// A descriptor that is readable at once: the read end of a pipe with no writer. The
/// sentinel of a process that has already ended and has no pidfd.
pub(crate) fn readable_now() -> Result<OwnedFd> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    drop(write);
    Ok(read)
}

/// Whether the kernel reaps this process's children itself as they exit (SIGCHLD ignored, or
/// its handler installed with `SA_NOCLDWAIT`): their pids are then freed with no wait of ours.
fn kernel_reaps_children() -> bool {
    // SAFETY: an all-zero `sigaction` is a valid value of the C struct.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: with a null new action, `sigaction` only stores the current one in `action`.
    if unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &raw mut action) } != 0 {
        return true; // cannot fail for SIGCHLD; if it did, assume the careful case
    }
    action.sa_sigaction == libc::SIG_IGN || action.sa_flags & libc::SA_NOCLDWAIT != 0
}

/// Starts a child running `payload` as `identity` by the context's method.
pub(crate) fn launch(
    ctx: Context,
    payload: Payload,
    identity: Identity,
    result: Option<OwnedFd>,
) -> Result<Popen> {
    match ctx.get_start_method() {
        StartMethod::Fork => {
            // Released before the fork rather than after (see `Kept`).
            drop(ctx);
            launch_fork(payload, identity, result)
        }
        method => {
            let Payload::Target {
                trampoline,
                args,
                fds,
            } = payload
            else {
                return Err(Error::ClosureNeedsFork(method));
            };
            crate::child::ensure_entry()?;
            if !multiprocessing_core::code::code_is_in_executable() {
                return Err(Error::CodeInSharedLibrary(method));
            }
            let request = ChildRequest {
                target: CodeRef::new(trampoline).to_wire(&identity.authkey),
                identity,
                args,
                fds: fds.into_iter().map(TransferFd::from).collect(),
                result: result.map(TransferFd::from),
                method,
                log_level: log_level_for_child(),
                tracker: multiprocessing_core::tracker::inherited_fd()
                    .map(|fd| fd.try_clone_to_owned().map(TransferFd::from))
                    .transpose()?,
            };
            let (bytes, fds) = encode_with_fds(&request)?;
            drop(request);
            if method == StartMethod::Spawn {
                let exe = ctx.executable();
                let (pid, pidfd, mut sock) = spawn_executable(&exe, "spawn")?;
                boot(&mut sock, &pidfd, &exe, &bytes, &fds)?;
                return Popen::watched(pid, pidfd);
            }
            // A server that died since its last use is replaced; one found gone while asked
            // (it never got the request) is replaced once more.
            for _ in 0..2 {
                let server = ctx.forkserver()?;
                match server.launch(&bytes, &fds)? {
                    Some(child) => return Popen::watched(child.pid, child.pidfd),
                    None => ctx.discard_forkserver(&server),
                }
            }
            Err(Error::ForkServerLost)
        }
    }
}

fn launch_fork(payload: Payload, identity: Identity, result: Option<OwnedFd>) -> Result<Popen> {
    if tracing::enabled!(target: LOG_TARGET, tracing::Level::WARN)
        && let Some(n) = owner::thread_count().filter(|&n| n > 1)
    {
        tracing::warn!(
            target: LOG_TARGET,
            "this process has {n} threads; fork() copies only the calling one, so the \
             child may deadlock on a lock another thread held"
        );
    }
    // Where the kernel reaps this program's children itself, a child's pid is freed the moment
    // it exits: its pidfd is taken now, and the child waits at the gate until the parent has
    // it, so that a failure there (a full descriptor table) ends a child that ran nothing.
    // Otherwise the pid is ours until we reap the child, and the pidfd waits for a call that
    // needs one (`Popen::pidfd`): nothing is acquired after the fork, so nothing can fail
    // there, and the child runs at once.
    let gate = if kernel_reaps_children() {
        Some(Gate::arm()?)
    } else {
        None
    };
    // The fork registry (multiprocessing_core::fork) holds every global lock across the fork,
    // the standard streams' included (stdout flushed first), so the child inherits none locked.
    multiprocessing_core::fork::ensure_handlers();
    // SAFETY: in the child only the child path below runs, and it leaves through `finish`
    // (`_exit`), never returning into the caller's frames.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        run_forked_child(gate.as_ref(), payload, identity, result);
    }
    let Some(pid) = Pid::from_raw(pid) else {
        return Err(std::io::Error::last_os_error().into());
    };
    let pidfd = match gate {
        None => None,
        Some(gate) => match pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => {
                gate.open(true);
                Some(Arc::new(fd))
            }
            Err(e) => {
                // The child leaves without running anything; reap it before anyone else can.
                gate.open(false);
                reap(pid.as_raw_pid());
                return Err(e.into());
            }
        },
    };
    // The child's copies are its own; the parent's descriptors close now, its memory waits
    // (see `Kept`).
    drop(result);
    let kept = match payload {
        Payload::Target { args, mut fds, .. } => {
            fds.clear();
            Kept {
                _identity: identity,
                _args: args,
                _fds: fds,
            }
        }
        Payload::Closure(f) => {
            // Dropped now: what the closure captured (descriptors among it) is released when it
            // was before.
            drop(f);
            Kept {
                _identity: identity,
                _args: Vec::new(),
                _fds: Vec::new(),
            }
        }
    };
    Ok(Popen::new(pid, pidfd, Some(kept)))
}

/// The forked child's path: waits at the gate if there is one, becomes the child and runs the payload; never
/// returns.
fn run_forked_child(
    gate: Option<&Gate>,
    payload: Payload,
    identity: Identity,
    result: Option<OwnedFd>,
) -> ! {
    if gate.is_some_and(|gate| !gate.wait()) {
        finish(1, Exit::Immediate); // the parent gave up on this start
    }
    if !prepare_child(&identity, StartMethod::Fork) {
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
