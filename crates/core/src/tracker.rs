//! The resource tracker: unlinks the named shared-memory segments a process family leaked.
//!
//! Python's `multiprocessing.resource_tracker`. A segment created by [`SharedMemory::create`]
//! is normally unlinked by its creator; a creator that is SIGKILLed or calls
//! `std::process::exit` never runs that code, and its segment would stay in `/dev/shm` until
//! reboot. So the first named segment a process creates starts a small tracker process (the
//! same executable, re-executed; a constructor takes the tracker role before `main`). Every
//! process of the family holds one end of a socket to it: forked children inherit it, and a
//! spawned or forkserver child is handed it by the code that starts it ([`inherited_fd`],
//! [`adopt`]); a child that was not starts its own tracker when it creates a segment. The
//! creator registers each segment it creates (name, device and inode) and unregisters it when
//! it unlinks it or gives it away
//! ([`set_unlink_on_drop(false)`](crate::shm::SharedMemory::set_unlink_on_drop)). When the
//! last holder has exited, however it died, the tracker unlinks what is still registered (only
//! if the name still names that very file, so a later namesake survives), warns on stderr as
//! CPython does, and exits. The tracker ignores SIGINT and SIGTERM, so a Ctrl-C to the whole
//! process group still leaves it to clean up.
//!
//! ```
//! use multiprocessing_core::shm::SharedMemory;
//! use multiprocessing_core::tracker;
//! let shm = SharedMemory::create(16).unwrap();
//! // This process now holds an end of its tracker; a spawned child would be handed it.
//! assert!(tracker::inherited_fd().is_some());
//! ```
//!
//! [`SharedMemory::create`]: crate::shm::SharedMemory::create

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, recv, send, socketpair,
};

use crate::time::{Deadline, retry_on_intr, wait_readable, wait_writable};
use crate::{Error, Result, TrackerFailure};

/// The environment variable that makes the constructor take the tracker role; its value is the
/// descriptor of the tracker's end of the socket.
const MARKER: &str = "MULTIPROCESSING_RS_TRACKER";
/// The process crate's child marker, which a tracker must never see.
const CHILD_MARKER: &str = "MULTIPROCESSING_RS_CHILD";
/// What the tracker sends once it runs, so its creator knows the constructor caught it.
const READY: &[u8] = b"ready";
/// How long a starting tracker may take to answer, and a full socket may block a message.
const PATIENCE: Duration = Duration::from_secs(10);
/// Room for one message: a tag, two numbers and a name of at most 250 bytes.
const MESSAGE_MAX: usize = 512;

/// Set by the constructor; proves the tracker role would catch a re-executed copy of this
/// program before `main`.
static ENTRY_RAN: AtomicBool = AtomicBool::new(false);
/// This process's end of its family's tracker socket.
static ENDPOINT: OnceLock<OwnedFd> = OnceLock::new();
/// Held while [`ENDPOINT`] is set, and across `fork()` (see [`fork`](crate::fork)), so a child
/// never inherits the endpoint half set (it would wait forever to set or read it).
pub(crate) static SETTING: crate::fork::ForkMutex<()> = crate::fork::ForkMutex::new(());
/// Starting a tracker failed once; do not try (and warn) on every segment.
static START_FAILED: AtomicBool = AtomicBool::new(false);

// Runs before other constructors (the process crate's child roles may create segments from
// theirs) so that ENTRY_RAN is true whenever anything could start a tracker.
#[ctor::ctor(unsafe, priority = early)]
fn tracker_entry() {
    ENTRY_RAN.store(true, Ordering::Relaxed);
    if let Some(fd) = std::env::var_os(MARKER) {
        let code = catch_unwind(AssertUnwindSafe(|| role(fd.to_str()))).unwrap_or(1);
        let _ = std::io::stderr().flush();
        std::process::exit(code);
    }
}

/// This process's end of its tracker socket, if it has one: what a spawned or forkserver child
/// must be handed (and [`adopt`]) so that the segments it creates are tracked by the family's
/// tracker and the tracker waits for it. Forked children inherit it by themselves.
#[must_use]
pub fn inherited_fd() -> Option<BorrowedFd<'static>> {
    ENDPOINT.get().map(AsFd::as_fd)
}

/// Makes `fd` (a descriptor of a parent's [`inherited_fd`]) this process's tracker end, before
/// it creates a segment; a process that already has one keeps it and gets an error.
pub fn adopt(fd: OwnedFd) -> Result<()> {
    let _setting = SETTING.lock();
    ENDPOINT.set(fd).map_err(|_| Error::TrackerAlreadySet)
}

/// Records that this family created the segment `name` (device `dev`, inode `ino`), starting
/// the tracker first if needed. Failure only costs the cleanup, so it is logged, not returned.
pub(crate) fn register(name: &str, dev: u64, ino: u64) {
    if let Some(fd) = endpoint() {
        tell(fd, b'R', name, dev, ino);
    }
}

/// Records that the segment no longer needs cleaning up (it was unlinked, or given away).
pub(crate) fn unregister(name: &str, dev: u64, ino: u64) {
    if let Some(fd) = ENDPOINT.get() {
        tell(fd.as_fd(), b'U', name, dev, ino);
    }
}

fn endpoint() -> Option<BorrowedFd<'static>> {
    if let Some(fd) = ENDPOINT.get() {
        return Some(fd.as_fd());
    }
    if START_FAILED.load(Ordering::Relaxed) {
        return None;
    }
    match start() {
        // A racing thread may have started one too; the loser's tracker sees EOF and exits.
        Ok(fd) => {
            let _setting = SETTING.lock();
            let _ = ENDPOINT.set(fd);
        }
        Err(e) => {
            START_FAILED.store(true, Ordering::Relaxed);
            tracing::warn!(
                target: crate::logging::LOG_TARGET,
                "could not start the resource tracker, so shared-memory segments this process \
                 leaks will not be unlinked: {e}"
            );
        }
    }
    ENDPOINT.get().map(AsFd::as_fd)
}

fn start() -> Result<OwnedFd> {
    if !ENTRY_RAN.load(Ordering::Relaxed) {
        return Err(Error::TrackerNotStarted(TrackerFailure::EntryMissing));
    }
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let raw: RawFd = theirs.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.env(MARKER, raw.to_string())
        .env_remove(CHILD_MARKER)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: the hook runs in the forked child before exec and only calls fcntl, which is
    // async-signal-safe; it makes just the tracker's end survive exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::fcntl(raw, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(theirs);
    let mut buf = [0u8; 16];
    let ready = wait_readable(ours.as_fd(), Deadline::after(PATIENCE))?
        && matches!(recv(&ours, &mut buf, RecvFlags::DONTWAIT), Ok((n, _)) if buf[..n] == *READY);
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::TrackerNotStarted(TrackerFailure::NoAnswer));
    }
    // The tracker outlives us; whoever inherits it reaps it.
    drop(child);
    Ok(ours)
}

/// Sends one message; never blocks past [`PATIENCE`] and never raises SIGPIPE.
fn tell(fd: BorrowedFd<'_>, tag: u8, name: &str, dev: u64, ino: u64) {
    let msg = format!("{} {dev} {ino} {name}", tag as char);
    let deadline = Deadline::after(PATIENCE);
    let sent = loop {
        match retry_on_intr(|| {
            send(
                fd,
                msg.as_bytes(),
                SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
            )
        }) {
            Ok(_) => break Ok(()),
            Err(Errno::AGAIN) => match wait_writable(fd, deadline) {
                Ok(true) => {}
                Ok(false) => break Err(Error::Timeout),
                Err(e) => break Err(e.into()),
            },
            Err(e) => break Err(e.into()),
        }
    };
    if let Err(e) = sent {
        tracing::warn!(
            target: crate::logging::LOG_TARGET,
            "could not tell the resource tracker about shared-memory segment {name:?}: {e}"
        );
    }
}

/// The tracker process: collects records until every holder of the other end is gone, then
/// unlinks what is left. Returns the exit code.
fn role(fd: Option<&str>) -> i32 {
    // SAFETY: this runs in the constructor of a freshly executed process, before any other
    // thread exists; the tracker must survive a Ctrl-C or SIGTERM sent to its family's group,
    // and a warning to a closed stderr must not kill it.
    unsafe {
        std::env::remove_var(MARKER);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let Some(raw) = fd.and_then(|s| s.parse::<RawFd>().ok()) else {
        eprintln!("multiprocessing resource tracker: bad {MARKER} value {fd:?}");
        return 1;
    };
    // SAFETY: the creator put its end of a fresh socket pair at this number for us alone.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let _ = rustix::io::fcntl_setfd(&sock, rustix::io::FdFlags::CLOEXEC);
    if send(&sock, READY, SendFlags::NOSIGNAL).is_err() {
        return 1;
    }
    let mut live = Records::default();
    let mut buf = [0u8; MESSAGE_MAX];
    loop {
        match retry_on_intr(|| recv(&sock, &mut buf, RecvFlags::empty())) {
            Ok((0, _)) => break,
            Ok((n, _)) => live.apply(&buf[..n]),
            // Anything else also means the family is gone.
            Err(_) => break,
        }
    }
    let leaked = live.unlink_all();
    if !leaked.is_empty() {
        eprintln!(
            "multiprocessing resource tracker: There appear to be {} leaked shared_memory \
             objects to clean up at shutdown: {leaked:?}",
            leaked.len()
        );
    }
    0
}

/// What is registered, in registration order.
#[derive(Default)]
struct Records {
    next: u64,
    by_key: HashMap<(String, u64, u64), u64>,
}

impl Records {
    /// Applies one `R|U <dev> <ino> <name>` message; a malformed one is ignored.
    fn apply(&mut self, msg: &[u8]) {
        let Ok(text) = std::str::from_utf8(msg) else {
            return;
        };
        let mut parts = text.splitn(4, ' ');
        let (Some(tag), Some(dev), Some(ino), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let (Ok(dev), Ok(ino)) = (dev.parse(), ino.parse()) else {
            return;
        };
        let key = (name.to_owned(), dev, ino);
        match tag {
            "R" => {
                self.by_key.insert(key, self.next);
                self.next += 1;
            }
            "U" => {
                self.by_key.remove(&key);
            }
            _ => {}
        }
    }

    /// Unlinks every registered name that still names its file; returns the names unlinked.
    fn unlink_all(self) -> Vec<String> {
        let mut records: Vec<_> = self.by_key.into_iter().collect();
        records.sort_by_key(|(_, seq)| *seq);
        records
            .into_iter()
            .filter(|((name, dev, ino), _)| crate::shm::unlink_if_same(name, *dev, *ino).is_ok())
            .map(|((name, _, _), _)| name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_order_and_forget_unregistered_segments() {
        let mut r = Records::default();
        r.apply(b"R 1 10 b");
        r.apply(b"R 1 11 a");
        r.apply(b"R 1 12 c d");
        r.apply(b"U 1 10 b");
        r.apply(b"junk");
        r.apply(b"R x 1 y");
        r.apply(&[0xff, b' ', b'1']);
        let mut order: Vec<_> = r.by_key.iter().collect();
        order.sort_by_key(|(_, seq)| **seq);
        let names: Vec<_> = order.iter().map(|((n, _, _), _)| n.as_str()).collect();
        assert_eq!(names, ["a", "c d"]);
    }
}
