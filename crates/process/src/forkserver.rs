//! The forkserver: a single-threaded copy of this program that forks children on request
//! (Python's `multiprocessing.forkserver` and `popen_forkserver`).
//!
//! A context using the `forkserver` method starts one server on first use: this executable,
//! re-executed in the forkserver role, so it has one thread and none of the parent's state.
//! Each request (the child's identity, target and arguments, descriptors attached by
//! `SCM_RIGHTS`) makes it fork a child; the reply carries the child's pid, a pidfd and the read
//! end of a pipe on which the server writes the exit code once it has reaped the child (the
//! child is the server's, so only the server can learn how it ended). The server exits when its
//! client socket closes: when the context (and every process started through it) is dropped, or
//! when the parent process dies; daemonic children, which asked the kernel to kill them when the
//! server dies, go with it.
//!
//! ```
//! use multiprocessing_process::{get_context, StartMethod};
//! fn double(x: u32) -> u32 { x * 2 }
//! let ctx = get_context(StartMethod::ForkServer);
//! assert_eq!(ctx.spawn(double, (21,)).unwrap().join().unwrap(), 42);
//! drop(ctx); // the server exits here
//! ```

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Mutex;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::net::Shutdown;
use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions, getpid, pidfd_open, waitid};

use crate::child::{Exit, accept_boot, boot_socket, finish, run_request};
use crate::spawn::{boot, spawn_executable};
use crate::wire::{recv_frame, send_frame, send_frame_borrowed};
use crate::{Error, Result};

/// Our handle on a running forkserver.
pub(crate) struct ForkServer {
    sock: Mutex<UnixStream>,
    pid: u32,
    pidfd: OwnedFd,
    owner: u32,
}

impl std::fmt::Debug for ForkServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ForkServer(pid={})", self.pid)
    }
}

/// A child the server forked, as the server sees it.
pub(crate) struct Launched {
    pub(crate) pid: u32,
    pub(crate) pidfd: OwnedFd,
    pub(crate) status: OwnedFd,
}

pub(crate) fn my_pid() -> u32 {
    getpid().as_raw_nonzero().get() as u32
}

impl ForkServer {
    /// Starts a server from `exe`.
    pub(crate) fn start(exe: &Path) -> Result<ForkServer> {
        let (pid, pidfd, sock) = spawn_executable(exe, "forkserver")?;
        boot(&sock, &pidfd, exe, &[], &[])?;
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

    /// Asks the server to fork a child running `request`.
    pub(crate) fn launch(&self, request: &[u8], fds: &[OwnedFd]) -> Result<Launched> {
        let sock = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        let gone = || Error::Process("the forkserver has exited".into());
        send_frame(sock.as_fd(), request, fds).map_err(|_| gone())?;
        let (reply, mut got) = recv_frame(sock.as_fd())?.ok_or_else(gone)?;
        drop(sock);
        match reply.first() {
            Some(0) if reply.len() == 5 && got.len() == 2 => {
                let pid = u32::from_le_bytes([reply[1], reply[2], reply[3], reply[4]]);
                let status = got.pop().ok_or_else(gone)?;
                let pidfd = got.pop().ok_or_else(gone)?;
                Ok(Launched { pid, pidfd, status })
            }
            _ => Err(Error::Process(format!(
                "the forkserver could not fork: {}",
                String::from_utf8_lossy(reply.get(1..).unwrap_or_default())
            ))),
        }
    }
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

/// The exit code of a reaped child in Python's convention (`-N` after signal N).
pub(crate) fn exitcode(status: &rustix::process::WaitIdStatus) -> i32 {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => -sig,
        _ => 1,
    }
}

/// The forkserver role's main loop; returns the server's exit code.
pub(crate) fn serve() -> i32 {
    let sock = boot_socket();
    if accept_boot(&sock).is_none() {
        return 1;
    }
    let me = my_pid();
    // (pidfd, write end of the status pipe) of each running child.
    let mut children: Vec<(OwnedFd, OwnedFd)> = Vec::new();
    loop {
        let ready: Vec<bool> = {
            let mut pfds = Vec::with_capacity(children.len() + 1);
            pfds.push(PollFd::new(&sock, PollFlags::IN));
            pfds.extend(
                children
                    .iter()
                    .map(|(pidfd, _)| PollFd::new(pidfd, PollFlags::IN)),
            );
            match poll(&mut pfds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return 1,
            }
            pfds.iter().map(|p| !p.revents().is_empty()).collect()
        };
        for i in (0..children.len()).rev() {
            if ready[i + 1] {
                let (pidfd, status_w) = children.swap_remove(i);
                let code = match waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED) {
                    Ok(Some(status)) => exitcode(&status),
                    _ => 255,
                };
                let _ = std::fs::File::from(status_w).write_all(&code.to_le_bytes());
            }
        }
        if !ready[0] {
            continue;
        }
        let Ok(Some((request, fds))) = recv_frame(sock.as_fd()) else {
            return 0; // the client is gone
        };
        // Non-blocking, so that the client can read the exit code without polling first (the
        // 4-byte write into the empty pipe never has to wait).
        let flags = rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK;
        let (status_r, status_w) = match rustix::pipe::pipe_with(flags) {
            Ok(p) => p,
            Err(e) => {
                let _ = send_frame(sock.as_fd(), format!("\x01{e}").as_bytes(), &[]);
                continue;
            }
        };
        // SAFETY: the server is single-threaded, so the child is a complete copy; the child
        // drops the server's descriptors and leaves through `finish`, never returning here.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            drop(sock);
            drop(children);
            drop(status_r);
            drop(status_w);
            let code = run_request(&request, fds, Some(me));
            finish(code, Exit::Immediate);
        }
        drop(fds);
        let opened = Pid::from_raw(pid)
            .ok_or(rustix::io::Errno::CHILD)
            .and_then(|p| pidfd_open(p, PidfdFlags::empty()));
        match opened {
            Ok(pidfd) => {
                let mut reply = vec![0u8];
                reply.extend_from_slice(&(pid as u32).to_le_bytes());
                // The receiver gets its own copies of both; the server keeps its pidfd.
                let sent =
                    send_frame_borrowed(sock.as_fd(), &reply, &[pidfd.as_fd(), status_r.as_fd()]);
                drop(status_r);
                if sent.is_err() {
                    return 1;
                }
                children.push((pidfd, status_w));
            }
            Err(e) => {
                let _ = send_frame(sock.as_fd(), format!("\x01{e}").as_bytes(), &[]);
            }
        }
    }
}
