//! Re-executing this program: the `spawn` start method's launcher (Python's `popen_spawn_posix`).
//!
//! The child is started with `posix_spawn` (glibc uses `clone(CLONE_VM|CLONE_VFORK)`, so no
//! page tables are copied), with one end of a fresh socket pair placed at descriptor 3 and the
//! marker in its environment. It inherits only the standard streams and the descriptors it is
//! given (CPython's `close_fds`): every other one is closed in the child, whether or not it is
//! close-on-exec, so a descriptor some library left inheritable does not leak into it. The
//! descriptors given are an explicit list ([`inherited`]), placed from descriptor 3 on in
//! order, so one more (a resource tracker's, say) joins by being appended. The parent then
//! sends the boot frame (its fingerprint and the request, descriptors attached) and waits for
//! the child's acknowledgement, so a wrong executable is reported by `start`, not discovered
//! later.
//!
//! ```text
//! let (pid, pidfd, sock) = spawn_executable(Path::new("/proc/self/exe"), "spawn")?;
//! boot(&mut sock, &pidfd, exe, &request, &fds)?;
//! ```

use std::ffi::{CString, c_char};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use multiprocessing_connection::Connection;

use multiprocessing_core::time::{Deadline, poll};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, WaitIdOptions, pidfd_open, waitid};

use crate::channel::channel;
use crate::child::{BIND_NOW, BIND_NOW_SUFFIX, BOOT_FD, CHILD_ARG, FORKSERVER_ROLE, MARKER};
use crate::{Error, Result};
use multiprocessing_core::code::{display_fingerprint as display, fingerprint};

/// How long a freshly executed child may take to answer the boot frame.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// The descriptors a spawned child inherits besides the standard streams, in the order it finds
/// them from [`BOOT_FD`] on: the bootstrap socket first. The one place to add another.
fn inherited(boot: BorrowedFd<'_>) -> Vec<BorrowedFd<'_>> {
    vec![boot]
}

/// Starts `exe` in child role `role`; returns its pid, a pidfd and our end of the socket.
pub(crate) fn spawn_executable(exe: &Path, role: &str) -> Result<(u32, OwnedFd, Connection)> {
    let (ours, theirs) = UnixStream::pair()?;
    let keep = inherited(theirs.as_fd());
    // Each is placed with dup2, which must not find one of the others at its target number
    // (nor its own: dup2 onto the same number keeps close-on-exec): copy them all above the
    // slots first.
    let first_free = BOOT_FD + keep.len() as RawFd;
    let movable: Vec<OwnedFd> = keep
        .iter()
        .map(|fd| rustix::io::fcntl_dupfd_cloexec(fd, first_free))
        .collect::<rustix::io::Result<_>>()?;
    drop(keep);
    drop(theirs);
    let pid = posix_spawn(exe, role, &movable)?;
    drop(movable);
    let raw = Pid::from_raw(pid as i32).ok_or(Error::InvalidPid(i64::from(pid)))?;
    let pidfd = pidfd_open(raw, PidfdFlags::empty())?;
    Ok((pid, pidfd, channel(ours.into())))
}

fn cstring(bytes: &[u8]) -> Result<CString> {
    Ok(CString::new(bytes)?)
}

/// `posix_spawn` of `exe` with `keep[i]` at descriptor `BOOT_FD + i` and every descriptor
/// above them closed; `keep` must all be numbered above those slots.
fn posix_spawn(exe: &Path, role: &str, keep: &[OwnedFd]) -> Result<u32> {
    let path = cstring(exe.as_os_str().as_bytes())?;
    let arg = cstring(CHILD_ARG.as_bytes())?;
    let argv: [*const c_char; 3] = [path.as_ptr(), arg.as_ptr(), std::ptr::null()];
    let mut env = Vec::new();
    let mut bind_now = false;
    for (k, v) in std::env::vars_os() {
        if k != MARKER {
            bind_now |= k == BIND_NOW;
            env.push(cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat())?);
        }
    }
    let mut role = role.to_string();
    if role == FORKSERVER_ROLE && !bind_now {
        // The server resolves every symbol once, at load: otherwise each child it forks binds
        // lazily what the server never called (`_exit`, `sigaction`, ...), writing the GOT and
        // walking libc's symbol tables again, about a fifth of a child's page faults. The
        // server takes the variable out of its environment again (`BIND_NOW_SUFFIX`).
        env.push(cstring(format!("{BIND_NOW}=1").as_bytes())?);
        role.push_str(BIND_NOW_SUFFIX);
    }
    env.push(cstring(format!("{MARKER}={role}").as_bytes())?);
    let mut envp: Vec<*const c_char> = env.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());

    let mut pid: libc::pid_t = 0;
    let mut actions = MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
    let mut attr = MaybeUninit::<libc::posix_spawnattr_t>::uninit();
    // SAFETY: the file actions and attributes are initialized before use and destroyed after;
    // argv and envp are NUL-terminated arrays of pointers to C strings that outlive the call;
    // the descriptors in `keep` stay open until posix_spawn returns.
    let ret = unsafe {
        libc::posix_spawn_file_actions_init(actions.as_mut_ptr());
        libc::posix_spawnattr_init(attr.as_mut_ptr());
        let mut ret = 0;
        for (slot, fd) in (BOOT_FD..).zip(keep) {
            if ret == 0 {
                ret = libc::posix_spawn_file_actions_adddup2(
                    actions.as_mut_ptr(),
                    fd.as_raw_fd(),
                    slot,
                );
            }
        }
        if ret == 0 {
            ret = libc::posix_spawn_file_actions_addclosefrom_np(
                actions.as_mut_ptr(),
                BOOT_FD + keep.len() as RawFd,
            );
        }
        let mut empty = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(empty.as_mut_ptr());
        libc::posix_spawnattr_setsigmask(attr.as_mut_ptr(), empty.as_ptr());
        libc::posix_spawnattr_setflags(attr.as_mut_ptr(), libc::POSIX_SPAWN_SETSIGMASK as _);
        if ret == 0 {
            ret = libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                actions.as_ptr(),
                attr.as_ptr(),
                argv.as_ptr().cast(),
                envp.as_ptr().cast(),
            );
        }
        libc::posix_spawn_file_actions_destroy(actions.as_mut_ptr());
        libc::posix_spawnattr_destroy(attr.as_mut_ptr());
        ret
    };
    if ret != 0 {
        return Err(Error::Io(std::io::Error::from_raw_os_error(ret)));
    }
    Ok(pid as u32)
}

/// Sends the boot frame (fingerprint, then `rest`) and waits for the child's answer.
///
/// On failure the child is killed and reaped before the error is returned.
pub(crate) fn boot(
    sock: &mut Connection,
    pidfd: &OwnedFd,
    exe: &Path,
    rest: &[u8],
    fds: &[OwnedFd],
) -> Result<()> {
    let result = boot_inner(sock, pidfd, exe, rest, fds);
    if result.is_err() {
        let _ = rustix::process::pidfd_send_signal(pidfd, rustix::process::Signal::KILL);
        let _ = waitid(
            rustix::process::WaitId::PidFd(pidfd.as_fd()),
            WaitIdOptions::EXITED,
        );
    }
    result
}

fn boot_inner(
    sock: &mut Connection,
    pidfd: &OwnedFd,
    exe: &Path,
    rest: &[u8],
    fds: &[OwnedFd],
) -> Result<()> {
    let fp = fingerprint();
    let mut payload = Vec::with_capacity(1 + fp.len() + rest.len());
    payload.push(fp.len() as u8);
    payload.extend_from_slice(fp);
    payload.extend_from_slice(rest);
    let mismatch = |detail: String| Error::FingerprintMismatch {
        executable: exe.to_path_buf(),
        detail,
    };
    let silent = || {
        mismatch(
            "it exited or closed the bootstrap socket without answering, so it does not contain \
             this program's multiprocessing child entry"
                .into(),
        )
    };
    if sock.send_bytes_with_fds(&payload, fds).is_err() {
        return Err(silent());
    }
    let mut pfds = [
        PollFd::new(&*sock, PollFlags::IN),
        PollFd::new(pidfd, PollFlags::IN),
    ];
    if poll(&mut pfds, Deadline::after(BOOT_TIMEOUT))? == 0 {
        return Err(mismatch(format!(
            "it did not answer within {BOOT_TIMEOUT:?}"
        )));
    }
    match sock.recv_bytes() {
        Ok(reply) if reply.first() == Some(&0) => Ok(()),
        Ok(reply) if reply.first() == Some(&1) => Err(mismatch(format!(
            "this program has {}, the executable has {}",
            display(fp),
            display(&reply[1..])
        ))),
        _ => Err(silent()),
    }
}
