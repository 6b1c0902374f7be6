//! The child side: the constructor that runs before `main`, and what every child does.
//!
//! A program that links this crate gets a constructor (crate `ctor`). In the parent it only
//! records that it ran. In a process started by `spawn` or as the forkserver, the environment
//! carries a marker; the constructor then takes the child role (read the request from the
//! bootstrap socket, check the executable's fingerprint, run the target, or serve fork requests)
//! and exits, so `main` never runs in the child. This is why test binaries and doctests need no
//! harness. Life before `main` is handled here: SIGPIPE is set to ignored as std would, panics
//! are caught (a panic never unwinds out of the constructor), and stdout is flushed before exit.
//!
//! ```
//! // Outside a child, freeze_support does nothing, exactly like Python's.
//! multiprocessing_process::freeze_support();
//! ```

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use multiprocessing_core::identity::{self, Identity};
use multiprocessing_core::transfer::{TransferFd, decode_with_fds};
use serde::{Deserialize, Serialize};

use crate::channel::channel;
use crate::target::{Invocation, Trampoline};
use crate::{Error, Result, StartMethod};
use multiprocessing_connection::Connection;
use multiprocessing_core::code::{CodeWire, fingerprint};

/// The environment variable that tells the constructor to take a child role.
pub(crate) const MARKER: &str = "MULTIPROCESSING_RS_CHILD";
/// The forkserver's role name in [`MARKER`].
pub(crate) const FORKSERVER_ROLE: &str = "forkserver";
/// The dynamic loader's variable that binds every symbol at load time.
pub(crate) const BIND_NOW: &str = "LD_BIND_NOW";
/// Appended to the forkserver's role when the parent set [`BIND_NOW`] for it alone.
pub(crate) const BIND_NOW_SUFFIX: &str = "+bind-now";
/// The descriptor a spawned child finds its bootstrap socket at.
pub(crate) const BOOT_FD: RawFd = 3;
/// The argument a spawned child sees (as CPython's frozen executables do).
pub(crate) const CHILD_ARG: &str = "--multiprocessing-fork";

static ENTRY_RAN: AtomicBool = AtomicBool::new(false);

/// What a spawned child or forkserver child is asked to run.
#[derive(Serialize, Deserialize)]
pub(crate) struct ChildRequest {
    pub(crate) identity: Identity,
    /// The trampoline, checked before it is called.
    pub(crate) target: CodeWire,
    pub(crate) args: Vec<u8>,
    pub(crate) fds: Vec<TransferFd>,
    pub(crate) result: Option<TransferFd>,
    /// The method that started the child: its default start method (as Python's `_bootstrap`).
    pub(crate) method: StartMethod,
    /// The level `log_to_stderr` was called with in the parent, as `tracing::Level`'s rank
    /// (0 = ERROR .. 4 = TRACE): Python's spawn passes it on the same way.
    pub(crate) log_level: Option<u8>,
    /// The family's resource tracker (when the parent has one), so the segments the child
    /// creates are cleaned up with the family's and the tracker waits for the child too.
    pub(crate) tracker: Option<TransferFd>,
}

/// The parent's `log_to_stderr` level, for [`ChildRequest::log_level`].
pub(crate) fn log_level_for_child() -> Option<u8> {
    use tracing::Level;
    multiprocessing_core::logging::stderr_level().map(|l| match l {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    })
}

#[ctor::ctor(unsafe)]
fn child_entry() {
    ENTRY_RAN.store(true, Ordering::Relaxed);
    let Some(role) = std::env::var_os(MARKER) else {
        return;
    };
    enter(role);
}

/// Runs the child role named by the marker and exits; never returns.
fn enter(role: OsString) -> ! {
    // SAFETY: this runs in the constructor (or first thing in main through freeze_support),
    // before any other thread of this freshly executed process exists.
    unsafe { std::env::remove_var(MARKER) };
    ignore_sigpipe();
    let code = catch_unwind(AssertUnwindSafe(|| match role.to_str() {
        Some("spawn") => spawn_role(),
        Some(FORKSERVER_ROLE) => crate::forkserver::serve(),
        Some(r) if r.strip_suffix(BIND_NOW_SUFFIX) == Some(FORKSERVER_ROLE) => {
            // SAFETY: as above, no other thread exists yet. The loader has bound every symbol
            // already; the children must not inherit a variable their parent did not set.
            unsafe { std::env::remove_var(BIND_NOW) };
            crate::forkserver::serve()
        }
        _ => {
            eprintln!("multiprocessing: unknown child role {role:?}");
            1
        }
    }))
    .unwrap_or(1);
    finish(code, Exit::Normal)
}

/// Python's `freeze_support()`: a no-op outside a child.
///
/// The constructor normally takes the child role before `main`. Should it not have run (a
/// platform or link mode without constructors), calling this first thing in `main` takes the
/// child role instead; processes are only started once either has happened.
pub fn freeze_support() {
    if let Some(role) = std::env::var_os(MARKER) {
        enter(role);
    }
    ENTRY_RAN.store(true, Ordering::Relaxed);
}

/// Refuses to start a re-executed child when nothing in this program would catch it before
/// `main`, which would otherwise run `main` a second time.
pub(crate) fn ensure_entry() -> Result<()> {
    if ENTRY_RAN.load(Ordering::Relaxed) {
        return Ok(());
    }
    Err(Error::EntryMissing)
}

fn ignore_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_IGN is what std's runtime does before main.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// How a child leaves.
pub(crate) enum Exit {
    /// Through `exit()`, running atexit handlers: a re-executed child.
    Normal,
    /// Through `_exit()`: a forked child, whose atexit handlers belong to the parent.
    Immediate,
}

/// Flushes stdout, joins the child's own children (Python's `_exit_function`), releases the
/// child's shared-memory references and exits.
pub(crate) fn finish(code: i32, how: Exit) -> ! {
    let _ = catch_unwind(|| {
        crate::registry::exit_hook();
        // Python runs its remaining finalizers (a queue's flush) after joining the children.
        multiprocessing_core::exit::run();
        // A forked child holds copies of its parent's shared-memory handles that it never
        // drops; give their references back so the blocks are freed with the last holder.
        multiprocessing_core::heap::release_before_exit();
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    });
    match how {
        Exit::Normal => std::process::exit(code),
        // SAFETY: _exit ends the process at once; nothing runs after it.
        Exit::Immediate => unsafe { libc::_exit(code) },
    }
}

/// The parent-death signal of a daemonic child. Not SIGKILL: the kernel sends it when the
/// *thread* that started the child ends, and only the end of the parent *process* should kill
/// it, so a handler checks which one happened. A real-time signal nobody else uses; its
/// default action (should a target replace the handler) still ends the child.
fn parent_death_signal() -> i32 {
    libc::SIGRTMAX()
}

/// The parent process a daemonic child must die with (0: none recorded).
static EXPECTED_PARENT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_parent_death(_: libc::c_int) {
    // SAFETY: getppid, getpid and kill are async-signal-safe system calls.
    unsafe {
        if libc::getppid() != EXPECTED_PARENT.load(Ordering::Relaxed) {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Marks a daemonic child to die with its parent process (SIGKILL, as seen from outside);
/// false when the parent is already gone.
///
/// The parent-death signal stays armed after a thread of the parent ends (the kernel reparents
/// the child to another of its threads), so it also covers the thread that ends next.
pub(crate) fn die_with_parent(expected_parent: u32) -> bool {
    let sig = parent_death_signal();
    EXPECTED_PARENT.store(expected_parent as i32, Ordering::Relaxed);
    // SAFETY: installs an async-signal-safe handler and unblocks its signal in this
    // single-threaded child; the sigaction and sigset structures are initialized before use.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_parent_death as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(sig, &action, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong);
    }
    rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) == Some(expected_parent)
}

/// What every child does before its target: die with a daemonic parent, take the default
/// start method of the method that started it. False when the parent is already gone.
pub(crate) fn prepare_child(identity: &Identity, method: StartMethod) -> bool {
    crate::context::set_child_default(method);
    let parent = identity.parent.as_ref().map_or(0, |p| p.pid);
    !identity.daemon || die_with_parent(parent)
}

/// A request decoded and its target checked, ready to run in a child.
pub(crate) struct Prepared {
    req: ChildRequest,
    trampoline: Trampoline,
}

/// Decodes a request and checks its target (the forkserver does this before it forks, so each
/// child starts with the decoding and the digest's code already done); `Err` says why it cannot
/// run.
pub(crate) fn prepare_request(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
) -> std::result::Result<Prepared, String> {
    let req: ChildRequest = decode_with_fds(bytes, fds)
        .map_err(|e| format!("could not decode the child request: {e}"))?;
    let trampoline = req
        .target
        .resolve::<Trampoline>(&req.identity.authkey)
        .map_err(|e| format!("refused to run the requested target: {e}"))?
        .get();
    Ok(Prepared { req, trampoline })
}

impl Prepared {
    /// Closes the request's descriptors (the server's copies, once its child has them).
    pub(crate) fn release_descriptors(&mut self) {
        self.req.fds.clear();
        self.req.result = None;
        self.req.tracker = None;
    }
}

/// Runs a prepared request in this (freshly spawned or forked) child; returns the exit code.
///
/// The child's parent process is the one that asked for it under both spawn and forkserver
/// (whose server forks children as its parent's, see [`crate::forkserver`]).
pub(crate) fn run_prepared(prepared: std::result::Result<Prepared, String>) -> i32 {
    let Prepared { req, trampoline } = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("multiprocessing: {e}");
            return 1;
        }
    };
    let ChildRequest {
        identity,
        target,
        args,
        fds,
        result,
        method,
        log_level,
        tracker,
    } = req;
    let forked = method == StartMethod::ForkServer;
    if forked {
        // The forkserver's child: what it inherited from the server is never freed, as in a
        // fork child (freeing writes to, and so copies, the allocator's pages).
        std::mem::forget(target);
    }
    if !prepare_child(&identity, method) {
        return 1;
    }
    if let Some(fd) = tracker {
        let _ = multiprocessing_core::tracker::adopt(fd.into_inner());
    }
    if let Some(level) = log_level {
        use tracing::Level;
        let levels = [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ];
        multiprocessing_core::logging::log_to_stderr(levels[usize::from(level.min(4))]);
    }
    if forked {
        identity::set_current_in_forked_child(identity);
    } else {
        identity::set_current(identity);
    }
    trampoline(Invocation {
        args,
        fds: fds.into_iter().map(TransferFd::into_inner).collect(),
        result: result.map(TransferFd::into_inner),
    })
}

/// Checks the boot frame's fingerprint and acknowledges; returns the rest of the payload.
pub(crate) fn accept_boot(sock: &mut Connection) -> Option<(Vec<u8>, Vec<OwnedFd>)> {
    let (payload, fds) = sock.recv_bytes_with_fds().ok()?;
    let fp_len = *payload.first()? as usize;
    let theirs = payload.get(1..1 + fp_len)?;
    if theirs != fingerprint() {
        let mut reply = vec![1u8];
        reply.extend_from_slice(fingerprint());
        let _ = sock.send_bytes(&reply);
        return None;
    }
    sock.send_bytes(&[0]).ok()?;
    Some((payload[1 + fp_len..].to_vec(), fds))
}

/// Takes over the bootstrap socket the parent placed at [`BOOT_FD`].
pub(crate) fn boot_socket() -> OwnedFd {
    // SAFETY: the parent's posix_spawn file actions put our end of the bootstrap socket at
    // BOOT_FD, and nothing else in this fresh process owns that descriptor.
    let sock = unsafe { OwnedFd::from_raw_fd(BOOT_FD) };
    let _ = rustix::io::fcntl_setfd(&sock, rustix::io::FdFlags::CLOEXEC);
    sock
}

fn spawn_role() -> i32 {
    let mut sock = channel(boot_socket());
    let Some((request, fds)) = accept_boot(&mut sock) else {
        return 1;
    };
    drop(sock);
    run_prepared(prepare_request(&request, fds))
}
