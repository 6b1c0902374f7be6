//! Processes as the kernel sees them: cached process and thread ids, `/proc/<pid>/stat`,
//! pid-reuse-safe liveness, and the decoding of a wait status into Python's exit code.
//!
//! Everything of the workspace that reads `/proc`, asks whether a process still runs or turns
//! a wait status into an exit code does it here. A lock in shared memory records who holds it as a process id (or thread id) together with
//! that process's start time, so a waiter can tell a dead owner from a live one even after the
//! kernel reused the id for a new process. Ids are cached so that recording an owner costs no
//! system call; the cache is refreshed in a forked child (see [`fork`](crate::fork)).
//!
//! ```
//! use multiprocessing_core::owner;
//! let me = owner::process();
//! assert_eq!(me.id, std::process::id());
//! assert_eq!(owner::pid(), me.id);
//! assert!(owner::is_alive(me.id, me.start));
//! ```

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A process or thread id with its start time (clock ticks since boot, `0` when unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The process id (or thread id for [`thread`]).
    pub id: u32,
    /// Start time from `/proc/<id>/stat` (field 22), `0` when unknown.
    pub start: u64,
}

static PROCESS_ID: AtomicU32 = AtomicU32::new(0);
/// [`START_UNREAD`] until `/proc/self/stat` was read (then the start time, `0` if unknown).
static PROCESS_START: AtomicU64 = AtomicU64::new(START_UNREAD);
const START_UNREAD: u64 = u64::MAX;

thread_local! {
    static THREAD: Cell<(u64, u32, u64)> = const { Cell::new((0, 0, 0)) };
}

pub(crate) fn forget_cached_ids() {
    PROCESS_ID.store(0, Ordering::Relaxed);
    PROCESS_START.store(START_UNREAD, Ordering::Relaxed);
}

/// The running process's id (Python's `os.getpid()`), from a cache: no system call after the
/// first, and no `/proc` read (which [`process`] adds for the start time).
#[doc(alias = "getpid")]
#[inline]
#[must_use]
pub fn pid() -> u32 {
    match PROCESS_ID.load(Ordering::Relaxed) {
        0 => pid_slow(),
        id => id,
    }
}

#[cold]
fn pid_slow() -> u32 {
    crate::fork::ensure_handlers();
    let id = rustix::process::getpid().as_raw_nonzero().get() as u32;
    PROCESS_ID.store(id, Ordering::Relaxed);
    id
}

/// The running process, from a cache (no system call after the first).
#[inline]
#[must_use]
pub fn process() -> Owner {
    let id = pid();
    match PROCESS_START.load(Ordering::Relaxed) {
        START_UNREAD => process_slow(id),
        start => Owner { id, start },
    }
}

#[cold]
fn process_slow(id: u32) -> Owner {
    let start = read_stat("/proc/self/stat").map_or(0, |s| s.start);
    PROCESS_START.store(start, Ordering::Relaxed);
    Owner { id, start }
}

/// The running thread (its kernel thread id), from a thread-local cache.
#[inline]
#[must_use]
pub fn thread() -> Owner {
    let generation = crate::fork::generation();
    let (cached_gen, id, start) = THREAD.with(Cell::get);
    if cached_gen == generation && id != 0 {
        return Owner { id, start };
    }
    thread_slow(generation)
}

#[cold]
fn thread_slow(generation: u64) -> Owner {
    crate::fork::ensure_handlers();
    let id = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    let start = read_stat("/proc/thread-self/stat").map_or(0, |s| s.start);
    THREAD.with(|c| c.set((generation, id, start)));
    Owner { id, start }
}

/// The fields of a `/proc/<pid>/stat` file the workspace uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    /// Field 3: `R`, `S`, `Z` (zombie), `X` (dead), ...
    state: u8,
    /// Field 20: the number of threads.
    threads: u64,
    /// Field 22: the start time in clock ticks since boot.
    start: u64,
}

/// Reads a `/proc/.../stat` file (the name in field 2 may hold spaces and parentheses, so the
/// fields are counted from the last `)`).
fn read_stat(path: &str) -> Option<Stat> {
    let text = std::fs::read(path).ok()?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&text[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.bytes().next()?;
    // Fields 3 (state, read above) to 22 (start time); the thread count is field 20.
    let threads = fields.nth(16)?.parse().ok()?;
    let start = fields.nth(1)?.parse().ok()?;
    Some(Stat {
        state,
        threads,
        start,
    })
}

/// How many threads the running process has (`None` when `/proc` cannot tell).
#[must_use]
pub fn thread_count() -> Option<u64> {
    read_stat("/proc/self/stat").map(|s| s.threads)
}

/// Whether process (or thread) `id` still runs and is the one that started at `start`.
///
/// A zombie (exited, not yet reaped) counts as dead. With `start == 0` only the id is checked.
/// When `/proc` is unavailable this falls back to `kill(id, 0)`, which cannot see pid reuse.
#[must_use]
pub fn is_alive(id: u32, start: u64) -> bool {
    if id == 0 {
        return false;
    }
    match read_stat(&format!("/proc/{id}/stat")) {
        Some(stat) => {
            !matches!(stat.state, b'Z' | b'X' | b'x') && (start == 0 || stat.start == start)
        }
        None => {
            if std::path::Path::new("/proc/self/stat").exists() {
                return false;
            }
            match rustix::process::Pid::from_raw(id as i32) {
                Some(pid) => !matches!(
                    rustix::process::test_kill_process(pid),
                    Err(rustix::io::Errno::SRCH)
                ),
                None => false,
            }
        }
    }
}

/// A process recorded in shared memory: its id, start time and a small tag of the user's.
///
/// The one place where primitives record who is inside them (barrier parties, condition
/// waiters, heap-block holders, the heap allocator's lock holder), so that anyone can later
/// find a recorded process dead, pid reuse included. All zero means empty. Writers are
/// serialized by the caller (a lock guarding the table the cell sits in); a reader that may
/// race a writer checks the id it expects with [`alive_as`](Self::alive_as).
///
/// ```
/// use multiprocessing_core::owner::{self, OwnerCell};
/// let cell = OwnerCell::new();
/// assert!(cell.get().is_none());
/// cell.set(owner::process(), 7);
/// let (who, tag) = cell.get().unwrap();
/// assert_eq!((who, tag), (owner::process(), 7));
/// assert!(!cell.is_dead());
/// cell.clear();
/// assert!(cell.get().is_none());
/// ```
#[repr(C)]
#[derive(Debug, Default)]
pub struct OwnerCell {
    id: AtomicU32,
    tag: AtomicU32,
    start: AtomicU64,
}

impl OwnerCell {
    /// An empty cell.
    #[must_use]
    pub const fn new() -> OwnerCell {
        OwnerCell {
            id: AtomicU32::new(0),
            tag: AtomicU32::new(0),
            start: AtomicU64::new(0),
        }
    }

    /// Records `who` with `tag`; the id is written last, so a reader that sees it sees the rest.
    #[inline]
    pub fn set(&self, who: Owner, tag: u32) {
        self.start.store(who.start, Ordering::Relaxed);
        self.tag.store(tag, Ordering::Relaxed);
        self.id.store(who.id, Ordering::Release);
    }

    /// Empties the cell.
    #[inline]
    pub fn clear(&self) {
        self.id.store(0, Ordering::Release);
    }

    /// The recorded process and tag, `None` when empty.
    #[must_use]
    pub fn get(&self) -> Option<(Owner, u32)> {
        let id = self.id.load(Ordering::Acquire);
        (id != 0).then(|| {
            let who = Owner {
                id,
                start: self.start.load(Ordering::Relaxed),
            };
            (who, self.tag.load(Ordering::Relaxed))
        })
    }

    /// Whether the cell records a process that no longer runs (costs a read of `/proc`).
    #[must_use]
    pub fn is_dead(&self) -> bool {
        self.get()
            .is_some_and(|(who, _)| !is_alive(who.id, who.start))
    }

    /// Whether process `id` (found elsewhere, e.g. in a lock word) is alive; its start time is
    /// taken from the cell when the cell records that same id, else only the id is checked.
    #[must_use]
    pub fn alive_as(&self, id: u32) -> bool {
        let start = if self.id.load(Ordering::Acquire) == id {
            self.start.load(Ordering::Relaxed)
        } else {
            0
        };
        // The cell may have been rewritten between the two loads: trust the start only if the
        // id is still the one asked about.
        let start = if self.id.load(Ordering::Acquire) == id {
            start
        } else {
            0
        };
        is_alive(id, start)
    }
}

/// The start time of process `id` (`0` when unknown): lets a test or a recorder name a process
/// other than itself.
#[must_use]
pub fn start_time(id: u32) -> u64 {
    read_stat(&format!("/proc/{id}/stat")).map_or(0, |s| s.start)
}

/// The exit code of a reaped process in Python's convention (`Process.exitcode`): its exit
/// status, or `-N` after signal `N`.
#[must_use]
pub fn exit_code(status: &rustix::process::WaitIdStatus) -> i32 {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => -sig,
        _ => 1,
    }
}

/// [`exit_code`] for a raw `waitpid` status (Python's `os.waitstatus_to_exitcode`, except that
/// a signal gives `-N` as `Process.exitcode` does).
///
/// ```
/// use multiprocessing_core::owner::exit_code_from_wait_status;
/// assert_eq!(exit_code_from_wait_status(3 << 8), 3); // exit(3)
/// assert_eq!(exit_code_from_wait_status(9), -9); // killed by SIGKILL
/// ```
#[doc(alias = "waitstatus_to_exitcode")]
#[must_use]
pub fn exit_code_from_wait_status(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        -libc::WTERMSIG(status)
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "reads /proc for threads, and miri's threads are not the kernel's"
    )]
    fn own_process_and_thread_are_alive() {
        let p = process();
        assert!(p.start > 0);
        assert!(is_alive(p.id, p.start));
        assert!(
            !is_alive(p.id, p.start + 1),
            "a different start time means pid reuse"
        );
        assert!(thread_count().is_some_and(|n| n >= 1));
        let t = std::thread::spawn(thread).join().unwrap();
        assert_ne!(t.id, thread().id);
        assert!(!is_alive(t.id, t.start), "the exited thread is gone");
    }
}
