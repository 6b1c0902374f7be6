//! The forkserver: a single-threaded copy of this program that forks children on request
//! (Python's `multiprocessing.forkserver` and `popen_forkserver`).
//!
//! A context using the `forkserver` method starts one server on first use: this executable,
//! re-executed in the forkserver role, so it has one thread and none of the parent's state.
//! Each request (the child's identity, target and arguments, descriptors attached by
//! `SCM_RIGHTS`) makes it fork a child *as its parent's*: `clone3(CLONE_PARENT)`, so the child
//! is the requesting process's own child. That process therefore waits for it, reads its true
//! exit status and signals it through a pidfd (sent back in the reply) exactly as for a fork
//! child, whatever becomes of the server: a child keeps running, and is joined normally, after
//! its server died. The server ignores SIGINT, as CPython's does (Ctrl-C reaches the whole
//! foreground process group; the children get the disposition back): it catches it with a
//! handler that does nothing, which `clone3(CLONE_CLEAR_SIGHAND)` resets to the default in each
//! child at no cost to the child. A server found dead is
//! replaced on the next start. It exits when its client socket closes: when the context is
//! dropped, or when the parent process dies.
//!
//! The raw `clone3` does what libc's `fork` does for the child's thread: libc's cached thread id
//! is set by the kernel (`CLONE_CHILD_SETTID` on the address libc registered, which
//! `PR_GET_TID_ADDRESS` gives) and the robust-futex list is registered again. No
//! `pthread_atfork` handlers run: the server registers none (it never touches shared memory).
//!
//! ```
//! use multiprocessing_process::{Context, StartMethod};
//! fn double(x: u32) -> u32 { x * 2 }
//! let ctx = Context::new(StartMethod::ForkServer);
//! assert_eq!(ctx.spawn(double, (21,)).unwrap().join().unwrap(), 42);
//! drop(ctx); // the server exits here
//! ```

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;

use multiprocessing_connection::Connection;
use multiprocessing_core::time::{Deadline, wait_readable};
use rustix::net::Shutdown;
use rustix::process::{WaitId, WaitIdOptions, waitid};

use crate::channel::{NO_FDS, channel, channel_error};
use crate::child::{Exit, accept_boot, boot_socket, finish, prepare_request, run_prepared};
use crate::spawn::{boot, spawn_executable};
use crate::{Error, Result};

/// Our handle on a running forkserver.
pub(crate) struct ForkServer {
    sock: Mutex<Connection>,
    pid: u32,
    pidfd: OwnedFd,
    owner: u32,
}

impl std::fmt::Debug for ForkServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ForkServer(pid={})", self.pid)
    }
}

/// A child the server forked: a child of ours.
pub(crate) struct Launched {
    pub(crate) pid: u32,
    pub(crate) pidfd: OwnedFd,
}

/// This process's id, cached (the fork registry forgets it in a forked child). The server
/// never asks for it: its children, made by a raw `clone3` that runs no fork handler, would
/// inherit the server's.
pub(crate) fn my_pid() -> u32 {
    multiprocessing_core::owner::pid()
}

impl ForkServer {
    /// Starts a server from `exe`.
    pub(crate) fn start(exe: &Path) -> Result<ForkServer> {
        let (pid, pidfd, mut sock) = spawn_executable(exe, crate::child::FORKSERVER_ROLE)?;
        boot(&mut sock, &pidfd, exe, &[], &[])?;
        Ok(ForkServer {
            sock: Mutex::new(sock),
            pid,
            pidfd,
            owner: my_pid(),
        })
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether this handle belongs to the running process (not inherited through fork).
    pub(crate) fn is_own(&self) -> bool {
        self.owner == my_pid()
    }

    /// Whether the server has not exited (its pidfd is not readable yet).
    pub(crate) fn is_running(&self) -> bool {
        !wait_readable(
            self.pidfd.as_fd(),
            Deadline::after(std::time::Duration::ZERO),
        )
        .unwrap_or(true)
    }

    /// Asks the server to fork a child running `request`; `Ok(None)` when the server is gone
    /// and never got the request (so asking another server runs the target at most once).
    pub(crate) fn launch(&self, request: &[u8], fds: &[OwnedFd]) -> Result<Option<Launched>> {
        let mut sock = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        let gone = || Error::ForkServerLost;
        if sock.send_bytes_with_fds(request, fds).is_err() {
            // Nothing, or part of a frame, reached it: it cannot have forked.
            return Ok(None);
        }
        let (reply, mut got) = match sock.recv_bytes_with_fds() {
            Ok(frame) => frame,
            Err(multiprocessing_connection::Error::Eof) => return Err(gone()),
            Err(e) => return Err(channel_error(e)),
        };
        drop(sock);
        match reply.first() {
            Some(0) if reply.len() == 5 => {
                let pid = u32::from_le_bytes([reply[1], reply[2], reply[3], reply[4]]);
                match got.pop() {
                    Some(pidfd) => Ok(Some(Launched { pid, pidfd })),
                    None => Err(reap_unwatched(pid)),
                }
            }
            _ => Err(Error::ForkServerFailed(
                String::from_utf8_lossy(reply.get(1..).unwrap_or_default()).into_owned(),
            )),
        }
    }
}

/// A child of ours whose pidfd did not arrive (our descriptor table was full): it cannot be
/// watched, so it is killed and reaped (by pid: safe for an unreaped child of ours).
fn reap_unwatched(pid: u32) -> Error {
    let pid = pid as libc::pid_t;
    // SAFETY: `pid` is our own child, not yet reaped, so the number cannot name another process.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    crate::popen::reap(pid);
    Error::ChildUnwatched { pid: pid as u32 }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        if !self.is_own() {
            return; // a forked child's copy: closing our descriptor is all we may do
        }
        let sock = self.sock.get_mut().unwrap_or_else(|p| p.into_inner());
        // Shutting the socket down (not just closing our descriptor) reaches the server even
        // when forked children still hold copies of it.
        let _ = rustix::net::shutdown(&*sock, Shutdown::Both);
        let _ = waitid(WaitId::PidFd(self.pidfd.as_fd()), WaitIdOptions::EXITED);
    }
}

/// The forkserver role's main loop; returns the server's exit code.
pub(crate) fn serve() -> i32 {
    let mut sock = channel(boot_socket());
    if accept_boot(&mut sock).is_none() {
        return 1;
    }
    let sigint = catch_sigint();
    // Set up here, once, what every child would otherwise set up in its own copy of memory
    // (a page fault each): the standard output every child flushes at exit (its lock numbers
    // the thread the first time), the transfer contexts' thread-local (registering its
    // destructor) that decoding descriptors and encoding a return value use, the panic hook
    // with its thread-local that running a target uses, the table of children that the exit
    // hook reads, and the default start method each child takes.
    drop(std::io::stdout().lock());
    let _ = multiprocessing_core::transfer::encode_with_fds(&());
    multiprocessing_core::outcome::install_hook();
    crate::registry::register_with_fork_registry();
    crate::context::set_child_default(crate::StartMethod::ForkServer);
    let thread = ThreadState::of_this_thread();
    // The last request's memory, freed when the next one arrives rather than right after its
    // fork: until the child ends, each heap page the server writes is copied for it.
    let mut previous = None;
    loop {
        let Ok((request, fds)) = sock.recv_bytes_with_fds() else {
            return 0; // the client is gone
        };
        drop(previous.take());
        // Decoded and checked here, before the fork: the server's pages for that code are
        // mapped already, where each child would fault them in again. A request that cannot
        // run still gets its child, which reports why and exits with 1, as under spawn.
        let mut prepared = prepare_request(&request, fds);
        match fork_for_parent(&thread) {
            Ok(Forked::Child { handlers_reset }) => {
                thread.restore_in_child();
                close_without_freeing(sock);
                if sigint == Sigint::Caught && !handlers_reset {
                    // SAFETY: restores the default disposition this process started with.
                    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
                }
                let code = run_prepared(prepared);
                finish(code, Exit::Immediate);
            }
            Ok(Forked::Parent(pid, pidfd)) => {
                let mut reply = [0u8; 5];
                reply[1..].copy_from_slice(&pid.to_le_bytes());
                let sent = sock.send_bytes_with_fds(&reply, &[pidfd]);
                // The child's descriptors (its arguments', its result channel) close now, as
                // they did: only memory waits.
                if let Ok(p) = &mut prepared {
                    p.release_descriptors();
                }
                previous = Some((request, prepared));
                if sent.is_err() {
                    return 1;
                }
            }
            Err(e) => {
                drop(prepared);
                let _ = sock.send_bytes_with_fds(format!("\x01{e}").as_bytes(), NO_FDS);
            }
        }
    }
}

/// In a child of the server: closes the server's socket but leaves its buffers in the child's
/// copy of the heap (freeing them would write, and so copy, the allocator's pages).
fn close_without_freeing(sock: Connection) {
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    std::mem::forget(sock);
    // SAFETY: `fd` was owned by the forgotten connection, which will never use or close it.
    // (rustix's call is inlined here, where libc's `close` would be one more page to fault in.)
    unsafe { rustix::io::close(fd) };
}

/// What the server does with SIGINT.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sigint {
    /// It was ignored when the server started: left so, and so inherited by the children.
    Ignored,
    /// Caught by a handler that does nothing, so the server survives Ctrl-C; a child gets the
    /// default back (see [`Forked::Child`]).
    Caught,
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Keeps Ctrl-C from ending the server: a handler rather than `SIG_IGN`, since the kernel
/// resets handled signals (not ignored ones) in a child made with `CLONE_CLEAR_SIGHAND`.
fn catch_sigint() -> Sigint {
    // SAFETY: reads and then sets SIGINT's disposition through initialized sigaction structs;
    // the handler is an `extern "C"` function that does nothing (async-signal-safe), and
    // SA_RESTART resumes the server's blocking calls it interrupts.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old);
        if old.sa_sigaction == libc::SIG_IGN {
            return Sigint::Ignored;
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore_signal as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
    Sigint::Caught
}

enum Forked {
    /// In the child; `handlers_reset` when the kernel gave every caught signal its default
    /// disposition back (`CLONE_CLEAR_SIGHAND`, which the older `clone` lacks).
    Child {
        handlers_reset: bool,
    },
    Parent(u32, OwnedFd),
}

/// What libc's `fork` keeps right for the child's thread, learned once from the kernel.
struct ThreadState {
    /// libc's cached thread id (the address it gave `set_tid_address`).
    tid: Option<u64>,
    /// The robust-futex list head and its size.
    robust: Option<(usize, usize)>,
}

impl ThreadState {
    fn of_this_thread() -> ThreadState {
        let mut tid: *mut libc::c_int = std::ptr::null_mut();
        // SAFETY: PR_GET_TID_ADDRESS stores one pointer through a valid out pointer.
        let tid_ok = unsafe { libc::prctl(libc::PR_GET_TID_ADDRESS, &mut tid) } == 0;
        let mut head: usize = 0;
        let mut len: usize = 0;
        // SAFETY: get_robust_list(0, ..) stores the calling thread's head and its length through
        // two valid out pointers.
        let robust_ok = unsafe {
            libc::syscall(
                libc::SYS_get_robust_list,
                0,
                &mut head as *mut usize,
                &mut len as *mut usize,
            )
        } == 0;
        ThreadState {
            tid: (tid_ok && !tid.is_null()).then_some(tid as u64),
            robust: (robust_ok && head != 0).then_some((head, len)),
        }
    }

    /// In the child: registers the robust list again (the kernel gives a new task none).
    fn restore_in_child(&self) {
        if let Some((head, len)) = self.robust {
            // SAFETY: the same head at the same address in this copy of the server's memory.
            unsafe { libc::syscall(libc::SYS_set_robust_list, head, len) };
        }
    }
}

/// `clone3(CLONE_PARENT | CLONE_PIDFD | CLONE_CLEAR_SIGHAND)`: a fork whose child is our
/// parent's child, with caught signals reset to their defaults. Falls back to the older `clone`
/// call (without the reset) where `clone3` is refused (container seccomp profiles answer ENOSYS
/// for it).
fn fork_for_parent(thread: &ThreadState) -> std::io::Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let mut flags = libc::CLONE_PARENT | libc::CLONE_PIDFD;
    if thread.tid.is_some() {
        // As libc's fork: the kernel writes the child's id into libc's cache (and clears it
        // at exit).
        flags |= libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID;
    }
    let child_tid = thread.tid.unwrap_or(0);
    let clone3 = |flags: u64, pidfd: &mut libc::c_int| {
        // SAFETY: an all-zero clone_args is valid (no stack: a fork); the pidfd pointer
        // outlives the call, and `child_tid` is libc's tid field of this (single) thread, whose
        // copy the kernel writes in the child. The exit signal must be 0 with CLONE_PARENT: the
        // child inherits ours (SIGCHLD), sent to our parent. The server is single-threaded, so
        // the child is a complete copy that leaves through `finish`, never returning here.
        unsafe {
            let mut args: libc::clone_args = std::mem::zeroed();
            args.flags = flags;
            args.pidfd = std::ptr::from_mut(pidfd) as u64;
            args.child_tid = child_tid;
            libc::syscall(
                libc::SYS_clone3,
                std::ptr::from_mut(&mut args),
                std::mem::size_of::<libc::clone_args>(),
            )
        }
    };
    let errno = || std::io::Error::last_os_error().raw_os_error();
    let mut handlers_reset = true;
    let mut ret = clone3(flags as u64 | CLONE_CLEAR_SIGHAND, &mut pidfd);
    if ret < 0 && errno() == Some(libc::EINVAL) {
        // A kernel before 5.5 knows clone3 but not the reset.
        handlers_reset = false;
        ret = clone3(flags as u64, &mut pidfd);
    }
    if ret < 0 && errno() == Some(libc::ENOSYS) {
        handlers_reset = false;
        ret = legacy_clone(flags, &mut pidfd, child_tid);
    }
    forked(ret, pidfd, handlers_reset)
}

/// Resets every caught signal to its default in the child (Linux 5.5; the `libc` crate's
/// constant of that name is truncated to a C `int`).
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// The older `clone` call with `flags` (a fork: no new stack), the pidfd stored in `pidfd`.
fn legacy_clone(flags: libc::c_int, pidfd: &mut libc::c_int, child_tid: u64) -> libc::c_long {
    // SAFETY: no new stack, so the child is a fork of this single-threaded process; the pidfd
    // is stored through the parent-tid pointer, which outlives the call. The child-tid pointer
    // is the fourth argument on x86-64 and the fifth elsewhere, where the fourth is the TLS
    // value, read only with CLONE_SETTLS: passing it in both places suits both conventions.
    unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::c_ulong::from(flags as u32),
            0usize,
            std::ptr::from_mut(pidfd),
            child_tid,
            child_tid,
        )
    }
}

fn forked(ret: libc::c_long, pidfd: libc::c_int, handlers_reset: bool) -> std::io::Result<Forked> {
    match ret {
        0 => Ok(Forked::Child { handlers_reset }),
        pid if pid > 0 => {
            // SAFETY: the kernel stored a new pidfd, owned by nothing else, for the child.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Forked::Parent(pid as u32, pidfd))
        }
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallback for `clone3`: run in a forked helper, its child is this test's child.
    #[test]
    #[cfg_attr(miri, ignore = "forks, which miri cannot")]
    fn legacy_clone_forks_as_the_parents_child() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        // SAFETY: the helper only calls async-signal-safe functions and `_exit`s.
        let helper = unsafe { libc::fork() };
        if helper == 0 {
            let mut pidfd = -1;
            let flags = libc::CLONE_PARENT | libc::CLONE_PIDFD;
            let code = match forked(legacy_clone(flags, &mut pidfd, 0), pidfd, false) {
                // SAFETY: ends the grandchild at once.
                Ok(Forked::Child { .. }) => unsafe { libc::_exit(7) },
                Ok(Forked::Parent(pid, _)) => {
                    let ok = rustix::io::write(&w, &pid.to_le_bytes()) == Ok(4);
                    i32::from(!ok)
                }
                Err(_) => 2,
            };
            // SAFETY: ends the helper at once.
            unsafe { libc::_exit(code) };
        }
        drop(w);
        crate::popen::reap(helper);
        let mut pid = [0u8; 4];
        assert_eq!(rustix::io::read(&r, &mut pid), Ok(4));
        let pid = rustix::process::Pid::from_raw(u32::from_le_bytes(pid) as i32).unwrap();
        let status = waitid(WaitId::Pid(pid), WaitIdOptions::EXITED).unwrap();
        assert_eq!(status.and_then(|s| s.exit_status()), Some(7));
    }
}
