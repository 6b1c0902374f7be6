//! The small helpers every test file needs: one bound for "promptly", polling for states no
//! handshake reports, a deadline on a call that a bug would block, descriptors, raw frames,
//! temporary socket paths, the heap arenas mapped here, and a peer's `listening on ADDRESS`.
//!
//! ```
//! use multiprocessing_tests::helpers::{BOUND, eventually, within};
//! let n = within("an addition", || 2 + 2);
//! eventually("the sum is known", || n == 4);
//! assert!(BOUND.as_secs() >= 10);
//! ```

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use multiprocessing::runtime::transfer::TransferFd;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, pidfd_open};

/// A generous bound for anything that should happen promptly, on a loaded 2-core machine.
pub const BOUND: Duration = Duration::from_secs(20);

/// Polls `f` until it holds, for at most [`BOUND`]: only for states no handshake can report
/// (another process's cleanup, a waiter registered in shared memory).
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `f` on another thread and returns its result, failing the test if it takes longer
/// than [`BOUND`] (where a bug would block for ever).
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    within_for(what, BOUND, f)
}

/// As [`within`], with a bound of one's own.
pub fn within_for<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} still blocked after {limit:?}"))
}

/// Whether `fd` becomes readable within `timeout`.
pub fn readable(fd: impl AsFd, timeout: Duration) -> bool {
    let ts = Timespec::try_from(timeout).expect("a timeout poll(2) takes");
    let mut pfd = [PollFd::new(&fd, PollFlags::IN)];
    poll(&mut pfd, Some(&ts)).expect("poll") == 1
}

/// A pidfd for `pid` (readable once that process exits).
pub fn pidfd(pid: u32) -> OwnedFd {
    pidfd_open(
        Pid::from_raw(pid as i32).expect("a valid pid"),
        PidfdFlags::empty(),
    )
    .expect("pidfd_open")
}

/// This process's thread count, from `/proc/self/status`.
pub fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

/// The number of descriptors this process has open.
pub fn open_fds() -> usize {
    fds_in("/proc/self/fd")
}

/// What each descriptor of process `pid` refers to (`socket:[...]`, `pipe:[...]`, a path),
/// as `/proc/<pid>/fd` shows it.
pub fn fd_targets(pid: u32) -> Vec<std::path::PathBuf> {
    let dir = format!("/proc/{pid}/fd");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .collect()
}

fn fds_in(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .count()
}

/// A socket pair: our end, and the other end ready to hand to a child as an argument.
pub fn channel() -> (UnixStream, TransferFd) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    (ours, TransferFd::from(OwnedFd::from(theirs)))
}

/// Reads one frame as CPython writes it (a 4-byte big-endian length, then the payload), to
/// look at what our side put on the wire.
pub fn read_frame(s: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h)?;
    let mut p = vec![0u8; u32::from_be_bytes(h) as usize];
    s.read_exact(&mut p)?;
    Ok(p)
}

/// A fresh Unix socket path in a temporary directory removed on drop.
#[derive(Debug)]
pub struct TempSock {
    _dir: tempfile::TempDir,
    /// The socket path (nothing exists there yet).
    pub path: PathBuf,
}

impl TempSock {
    /// A socket path in a new private directory whose name carries `tag`.
    pub fn new(tag: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("mp-test-{tag}-"))
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("sock");
        TempSock { _dir: dir, path }
    }
}

/// Number and total size of the shared-memory heap arenas mapped in this process, read from
/// `/proc/self/maps`.
pub fn heap_mappings() -> (usize, u64) {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter(|l| l.contains("memfd:mp-heap"))
        .map(|l| {
            let range = l.split_whitespace().next().expect("address range");
            let (a, b) = range.split_once('-').expect("start-end");
            u64::from_str_radix(b, 16).expect("hex end")
                - u64::from_str_radix(a, 16).expect("hex start")
        })
        .fold((0, 0), |(n, total), size| (n + 1, total + size))
}

/// Reads the first line a peer prints (such as `listening on ADDRESS`, before it accepts) from
/// `stream` and returns what follows `prefix` in it.
///
/// Panics with the line it got when the peer said something else (or nothing).
pub fn read_announcement(stream: impl Read, prefix: &str) -> String {
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("read the peer's first line");
    line.trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected a line starting {prefix:?}, got {line:?}"))
        .to_string()
}

/// The names in `/dev/shm` now.
pub fn dev_shm() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
