//! Owners of cross-process locks: cached process and thread ids, start times, and liveness.
//!
//! A lock in shared memory records who holds it as a process id (or thread id) together with
//! that process's start time, so a waiter can tell a dead owner from a live one even after the
//! kernel reused the id for a new process. Ids are cached so that recording an owner costs no
//! system call; the cache is refreshed in a forked child (see [`fork`](crate::fork)).
//!
//! ```
//! use multiprocessing_core::owner;
//! let me = owner::process();
//! assert_eq!(me.id, std::process::id());
//! assert!(owner::is_alive(me.id, me.start));
//! ```

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A process or thread id with its start time (clock ticks since boot, `0` when unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The process id (or thread id for [`thread`]).
    pub id: u32,
    /// Start time from `/proc/<id>/stat` (field 22), `0` when unknown.
    pub start: u64,
}

static PROCESS_ID: AtomicU64 = AtomicU64::new(0);
static PROCESS_START: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THREAD: Cell<(u64, u32, u64)> = const { Cell::new((0, 0, 0)) };
}

pub(crate) fn forget_cached_ids() {
    PROCESS_ID.store(0, Ordering::Relaxed);
    PROCESS_START.store(0, Ordering::Relaxed);
}

/// The running process, from a cache (no system call after the first).
#[inline]
#[must_use]
pub fn process() -> Owner {
    let id = PROCESS_ID.load(Ordering::Relaxed);
    if id != 0 {
        return Owner {
            id: id as u32,
            start: PROCESS_START.load(Ordering::Relaxed),
        };
    }
    process_slow()
}

#[cold]
fn process_slow() -> Owner {
    crate::fork::ensure_handlers();
    let id = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let start = read_stat("/proc/self/stat").map_or(0, |s| s.1);
    PROCESS_START.store(start, Ordering::Relaxed);
    PROCESS_ID.store(u64::from(id), Ordering::Relaxed);
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
    let start = read_stat("/proc/thread-self/stat").map_or(0, |s| s.1);
    THREAD.with(|c| c.set((generation, id, start)));
    Owner { id, start }
}

/// Reads the state letter and start time from a `/proc/.../stat` file.
fn read_stat(path: &str) -> Option<(u8, u64)> {
    let text = std::fs::read(path).ok()?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&text[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.bytes().next()?;
    // Field 3 is the state; the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
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
        Some((state, started)) => {
            !matches!(state, b'Z' | b'X' | b'x') && (start == 0 || started == start)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_and_thread_are_alive() {
        let p = process();
        assert!(p.start > 0);
        assert!(is_alive(p.id, p.start));
        assert!(
            !is_alive(p.id, p.start + 1),
            "a different start time means pid reuse"
        );
        let t = std::thread::spawn(thread).join().unwrap();
        assert_ne!(t.id, thread().id);
        assert!(!is_alive(t.id, t.start), "the exited thread is gone");
    }
}
