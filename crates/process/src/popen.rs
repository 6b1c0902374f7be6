//! Launching a child by each start method and watching it afterwards (Python's `Popen` classes).
//!
//! A [`Popen`] knows a started child's pid and pidfd (its sentinel). Under every method the
//! child is this process's own (the forkserver forks children as ours), so its exit code comes
//! from `waitid` on the pidfd and signals go through `pidfd_send_signal`, immune to pid reuse.
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
use rustix::process::{
    Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, WaitOptions, pidfd_open, waitid,
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
    pub(crate) pid: u32,
    pub(crate) pidfd: Arc<OwnedFd>,
    pub(crate) returncode: Option<i32>,
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

/// Something to wait on without holding the process's lock.
pub(crate) struct Waitable(Arc<OwnedFd>);

impl Waitable {
    /// Waits until the child has exited or `deadline` passes; false on timeout.
    pub(crate) fn wait(&self, deadline: Deadline) -> Result<bool> {
        Ok(wait_readable(self.0.as_fd(), deadline)?)
    }

    /// Waits for the child to end and reaps it: the work of a [`Popen::start_reaping`] caller,
    /// done without the process's lock. Its result goes to [`Popen::finish_reaping`].
    pub(crate) fn reap(&self) -> Result<Option<i32>> {
        let status =
            retry_on_intr(|| waitid(WaitId::PidFd(self.0.as_fd()), WaitIdOptions::EXITED))?;
        Ok(exit_code_of(status))
    }
}

fn exit_code_of(status: Option<rustix::process::WaitIdStatus>) -> Option<i32> {
    status
        .filter(|s| s.exited() || s.killed() || s.dumped())
        .map(|s| owner::exit_code(&s))
}

impl Popen {
    fn new(pid: u32, pidfd: OwnedFd) -> Popen {
        Popen {
            pid,
            pidfd: Arc::new(pidfd),
            returncode: None,
            reaping: None,
            awaiting_reaper: 0,
            kept: None,
        }
    }

    /// What becomes readable when the child has exited.
    pub(crate) fn waitable(&self) -> Waitable {
        Waitable(self.pidfd.clone())
    }

    /// The exit code if the child has ended (reaping it), without blocking. `None` while
    /// another thread reaps it (see [`reaping`](Self::reaping)).
    pub(crate) fn poll(&mut self) -> Result<Option<i32>> {
        if self.returncode.is_some() || self.reaping() {
            return Ok(self.returncode);
        }
        let status = retry_on_intr(|| {
            waitid(
                WaitId::PidFd(self.pidfd.as_fd()),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
            )
        })?;
        self.record(exit_code_of(status));
        Ok(self.returncode)
    }

    fn record(&mut self, code: Option<i32>) {
        self.returncode = code;
        if code.is_some() {
            self.kept = None;
        }
    }

    /// Whether a thread is reaping the child with a blocking `waitid` (its result not yet
    /// recorded): others wait for [`finish_reaping`](Self::finish_reaping) rather than ask
    /// the kernel, which would find the child gone.
    pub(crate) fn reaping(&self) -> bool {
        self.reaping.is_some_and(|pid| pid == owner::pid())
    }

    /// Makes the caller the one thread that reaps the child with a blocking wait (without the
    /// lock); `None` when another thread already does.
    pub(crate) fn start_reaping(&mut self) -> Option<Waitable> {
        if self.reaping() {
            return None;
        }
        self.reaping = Some(owner::pid());
        Some(self.waitable())
    }

    /// Records what the reaping thread's wait found.
    pub(crate) fn finish_reaping(&mut self, reaped: Result<Option<i32>>) -> Result<Option<i32>> {
        self.reaping = None;
        let code = reaped?;
        self.record(code);
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

/// Waits for an unreaped child of ours known only by pid (its pidfd could not be had); the pid
/// cannot name another process until it is reaped.
pub(crate) fn reap(pid: libc::pid_t) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = retry_on_intr(|| rustix::process::waitpid(Some(pid), WaitOptions::empty()));
    }
}

fn pidfd_of(pid: i32) -> Result<OwnedFd> {
    let pid = Pid::from_raw(pid).ok_or(Error::InvalidPid(i64::from(pid)))?;
    Ok(pidfd_open(pid, PidfdFlags::empty())?)
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
                return Ok(Popen::new(pid, pidfd));
            }
            // A server that died since its last use is replaced; one found gone while asked
            // (it never got the request) is replaced once more.
            for _ in 0..2 {
                let server = ctx.forkserver()?;
                match server.launch(&bytes, &fds)? {
                    Some(child) => return Ok(Popen::new(child.pid, child.pidfd)),
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
    // What the parent needs after the fork and can fail to get is a descriptor: the pidfd.
    // The child waits at the gate for the parent's verdict (go once it has the pidfd), so a
    // failure there (a full descriptor table) ends a child that ran nothing: the error means
    // nothing ran.
    let gate = Gate::arm()?;
    // Allocated before the fork, like everything the parent writes until it waits: a write to
    // the heap between the fork and the child's end copies the page it falls on (see `Kept`).
    let mut pidfd_slot = Arc::<OwnedFd>::new_uninit();
    // The fork registry (multiprocessing_core::fork) holds every global lock across the fork,
    // the standard streams' included (stdout flushed first), so the child inherits none locked.
    multiprocessing_core::fork::ensure_handlers();
    // SAFETY: in the child only the child path below runs, and it leaves through `finish`
    // (`_exit`), never returning into the caller's frames.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        run_forked_child(&gate, payload, identity, result);
    }
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let pidfd = match pidfd_of(pid) {
        Ok(fd) => fd,
        Err(e) => {
            // The child leaves without running anything; reap it before anyone else can.
            gate.open(false);
            reap(pid);
            return Err(e);
        }
    };
    gate.open(true);
    // The child's copies are its own; the parent's descriptors close now, its memory waits.
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
    let pidfd = match Arc::get_mut(&mut pidfd_slot) {
        Some(slot) => {
            slot.write(pidfd);
            // SAFETY: written just above.
            unsafe { pidfd_slot.assume_init() }
        }
        // Unreachable: the slot was made above and never shared.
        None => Arc::new(pidfd),
    };
    Ok(Popen {
        pid: pid as u32,
        pidfd,
        returncode: None,
        reaping: None,
        awaiting_reaper: 0,
        kept: Some(kept),
    })
}

/// The forked child's path: waits at the gate, becomes the child and runs the payload; never
/// returns.
fn run_forked_child(
    gate: &Gate,
    payload: Payload,
    identity: Identity,
    result: Option<OwnedFd>,
) -> ! {
    if !gate.wait() {
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
