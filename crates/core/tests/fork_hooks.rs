//! The fork-hook registry across real forks: hooks run in order on both sides, and a child forked
//! while other threads log (taking the identity's and stderr's locks) never inherits them locked.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use multiprocessing_core::fork::{self, ForkHook, ForkMutex};
use multiprocessing_core::identity;
use multiprocessing_core::logging::{LOG_TARGET, PythonFormat};
use multiprocessing_core::time::{Deadline, wait_readable};

/// Forks; the child runs `child` and leaves with its return value as exit code (never unwinding
/// into the test harness). Returns the pid and a pidfd.
fn fork_child(child: impl FnOnce() -> i32) -> (libc::pid_t, OwnedFd) {
    // SAFETY: the child runs `child` and leaves by `_exit`, never returning into our frames.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: leaving the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: pidfd_open on our own unreaped child; a negative result is checked.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(raw >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor we own.
    (pid, unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Waits up to `bound` for the child; its exit code, `None` when it hung (then it is killed).
fn exit_code_within(pid: libc::pid_t, pidfd: &OwnedFd, bound: Duration) -> Option<i32> {
    let exited = wait_readable(pidfd.as_fd(), Deadline::after(bound)).unwrap();
    if !exited {
        // SAFETY: signalling our own unreaped child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child with a valid status pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {}
    exited.then(|| multiprocessing_core::owner::exit_code_from_wait_status(status))
}

/// The tests of this file fork and count hook calls: one at a time, also under `cargo test`.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

static ORDER: AtomicU32 = AtomicU32::new(0);
static BEFORE: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
static PARENT: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
static CHILD: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

struct Recorder(usize);

impl ForkHook for Recorder {
    fn before_fork(&'static self) {
        BEFORE[self.0].store(ORDER.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    }
    fn after_fork_in_parent(&'static self) {
        PARENT[self.0].store(ORDER.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    }
    fn after_fork_in_child(&'static self) {
        CHILD[self.0].store(ORDER.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    }
}

static FIRST: Recorder = Recorder(0);
static SECOND: Recorder = Recorder(1);

#[test]
fn hooks_run_in_order_on_both_sides_of_a_fork() {
    let _serial = serial();
    fork::register(&FIRST);
    fork::register(&SECOND);
    fork::register(&FIRST); // registering again does nothing
    let (pid, pidfd) = fork_child(|| {
        // Before hooks in reverse order of registration, child hooks in order, once each.
        let ok = BEFORE[1].load(Ordering::SeqCst) == 1
            && BEFORE[0].load(Ordering::SeqCst) == 2
            && CHILD[0].load(Ordering::SeqCst) == 3
            && CHILD[1].load(Ordering::SeqCst) == 4
            && PARENT.iter().all(|p| p.load(Ordering::SeqCst) == 0);
        if ok { 0 } else { 1 }
    });
    assert_eq!(
        exit_code_within(pid, &pidfd, Duration::from_secs(30)),
        Some(0)
    );
    assert_eq!(BEFORE[1].load(Ordering::SeqCst), 1);
    assert_eq!(BEFORE[0].load(Ordering::SeqCst), 2);
    assert_eq!(PARENT[0].load(Ordering::SeqCst), 3);
    assert_eq!(PARENT[1].load(Ordering::SeqCst), 4);
    assert!(CHILD.iter().all(|c| c.load(Ordering::SeqCst) == 0));
}

static TABLE: ForkMutex<Vec<u32>> = ForkMutex::new(Vec::new());

#[test]
fn a_fork_mutex_is_never_inherited_locked() {
    let _serial = serial();
    TABLE.lock().push(1);
    let stop = Arc::new(AtomicBool::new(false));
    let holder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut t = TABLE.lock();
                t.push(2);
                t.pop();
            }
        })
    };
    for _ in 0..50 {
        let (pid, pidfd) = fork_child(|| {
            let t = TABLE.lock();
            i32::from(t.as_slice() != [1])
        });
        assert_eq!(
            exit_code_within(pid, &pidfd, Duration::from_secs(30)),
            Some(0)
        );
    }
    stop.store(true, Ordering::Relaxed);
    holder.join().unwrap();
}

/// A writer that takes stderr's lock (as printing does) and throws the text away.
struct LockedSink;

impl std::io::Write for LockedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _stderr = std::io::stderr().lock();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_child_forked_while_threads_log_never_deadlocks() {
    let _serial = serial();
    // Every event is formatted with the process name (the identity's lock) and written under
    // stderr's lock: the two locks a child takes when it logs or installs its identity.
    let subscriber = tracing_subscriber::fmt()
        .event_format(PythonFormat)
        .with_writer(|| LockedSink)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let loggers: Vec<_> = (0..3)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tracing::info!(target: LOG_TARGET, "logger {i} event {n}");
                    if n.is_multiple_of(64) {
                        identity::set_name(format!("Logger-{i}"));
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for round in 0..1000 {
        let (pid, pidfd) = fork_child(|| {
            tracing::info!(target: LOG_TARGET, "child logging");
            let mut me = identity::current();
            me.name = "Child".into();
            identity::set_current_in_forked_child(me);
            eprint!("");
            i32::from(identity::current().name != "Child")
        });
        assert_eq!(
            exit_code_within(pid, &pidfd, Duration::from_secs(30)),
            Some(0),
            "child {round} did not exit promptly (deadlocked on a lock inherited locked?)"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in loggers {
        t.join().unwrap();
    }
}
