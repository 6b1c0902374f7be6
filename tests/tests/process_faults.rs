//! Processes that survive what users do to them (issue #8): a forkserver killed or sent Ctrl-C,
//! a daemonic child whose starting thread ends, a fork start that fails after the fork, any
//! timeout, and Python's defaults inside children.
//!
//! Children that must stay alive block on a socket the test holds (a handshake), never on a
//! sleep; deaths of processes that are not ours are observed through a pidfd.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use multiprocessing::process::{Context, Error};
use multiprocessing::runtime::transfer::TransferFd;
use multiprocessing::{
    JoinHandle, Process, StartMethod, active_children, get_context, get_start_method,
};
use multiprocessing_tests::helpers::{BOUND, channel, pidfd, readable};
use multiprocessing_tests::per_method;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, waitid};

fn signal(pid: u32, sig: Signal) {
    rustix::process::kill_process(Pid::from_raw(pid as i32).unwrap(), sig).unwrap();
}

// ---- targets ----

fn nothing() {}

/// Blocks until the test writes a byte to (or closes) the other end of `chan`.
fn block_until_released(chan: TransferFd) {
    let mut s = UnixStream::from(chan.into_inner());
    let _ = s.read(&mut [0u8; 1]);
}

/// Says it runs (so its start is complete), then blocks like [`block_until_released`].
fn report_then_block(chan: TransferFd) {
    let mut s = UnixStream::from(chan.into_inner());
    s.write_all(b"r").unwrap();
    let _ = s.read(&mut [0u8; 1]);
}

fn raise_sigint() {
    // SAFETY: raise(2) on this process.
    unsafe { libc::raise(libc::SIGINT) };
}

fn make_dir(path: String) {
    std::fs::create_dir(path).unwrap();
}

fn new_process_is_daemonic() -> bool {
    Process::new(nothing, ()).daemon()
}

fn default_start_method() -> String {
    get_start_method().to_string()
}

fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Whether libc's idea of this thread's id (encoded in its CPU clock id) is the kernel's.
fn libc_knows_my_thread_id() -> bool {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: asks libc for the calling thread's CPU clock with a valid out pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    assert_eq!(rc, 0);
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    // The kernel's per-thread scheduler clock: (~tid << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED.
    clock == ((!tid) << 3) | 4 | 2
}

/// Maps a robust process-shared mutex from `memfd`.
fn shared_mutex(memfd: &OwnedFd) -> *mut libc::pthread_mutex_t {
    let len = std::mem::size_of::<libc::pthread_mutex_t>();
    // SAFETY: maps `len` bytes of a memfd at least that long, shared, wherever the kernel likes.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            memfd.as_raw_fd(),
            0,
        )
    };
    assert_ne!(at, libc::MAP_FAILED);
    at.cast()
}

/// Locks the shared mutex and ends without unlocking it.
fn lock_and_exit(memfd: TransferFd) {
    let memfd = memfd.into_inner();
    // SAFETY: the parent initialized a robust, process-shared mutex there.
    assert_eq!(unsafe { libc::pthread_mutex_lock(shared_mutex(&memfd)) }, 0);
}

fn info_is_logged() -> bool {
    tracing::enabled!(target: multiprocessing::runtime::logging::LOG_TARGET, tracing::Level::INFO)
}

// ---- point 10: any timeout ----

per_method!(
    any_timeout_is_accepted,
    daemon_started_from_an_ended_thread_keeps_running,
    process_made_in_a_daemon_is_daemonic,
    child_default_start_method_is_the_one_that_started_it,
    children_inherit_only_given_descriptors,
);

fn any_timeout_is_accepted(m: StartMethod) {
    let (mut release, chan) = channel();
    let p = get_context(m)
        .process(block_until_released, (chan,))
        .start()
        .unwrap();
    assert!(
        matches!(p.join_timeout(Duration::ZERO), Err(Error::Timeout)),
        "ZERO polls"
    );
    release.write_all(b"x").unwrap();
    assert_eq!(p.join_timeout(Duration::MAX).unwrap(), 0);
    assert_eq!(p.join_timeout(Duration::ZERO).unwrap(), 0);

    let (mut release, chan) = channel();
    let h = get_context(m).start(block_until_released, (chan,)).unwrap();
    assert!(
        matches!(h.wait_timeout(Duration::ZERO), Err(Error::Timeout)),
        "ZERO polls"
    );
    release.write_all(b"x").unwrap();
    h.wait_timeout(Duration::MAX).unwrap();
    h.join().unwrap();
}

// ---- point 8: the parent-death signal follows the process, not the thread ----

fn daemon_started_from_an_ended_thread_keeps_running(m: StartMethod) {
    // A fresh context, so that a forkserver too is started from the short-lived thread.
    let ctx = Context::new(m);
    let (mut release, chan) = channel();
    let starter = std::thread::spawn(move || {
        let p = ctx
            .process(report_then_block, (chan,))
            .daemon(true)
            .start()
            .unwrap();
        release.read_exact(&mut [0u8; 1]).unwrap();
        (p, release, rustix::thread::gettid().as_raw_nonzero().get())
    });
    let (p, mut release, tid) = starter.join().unwrap();
    // The kernel sends the parent-death signal while the thread exits, before its task entry
    // goes away: once it has, the signal (if any) was sent.
    let task = format!("/proc/self/task/{tid}");
    let start = Instant::now();
    while std::path::Path::new(&task).exists() {
        assert!(start.elapsed() < BOUND, "thread {tid} never went away");
        std::thread::yield_now();
    }
    release.write_all(b"x").unwrap();
    assert_eq!(p.join_timeout(BOUND).unwrap(), 0);
}

// ---- point 11: Python's defaults ----

fn process_made_in_a_daemon_is_daemonic(m: StartMethod) {
    let h = JoinHandle::builder(new_process_is_daemonic, ())
        .daemon(true)
        .context(get_context(m).as_process())
        .spawn()
        .unwrap();
    assert!(h.join().unwrap());
    let h = get_context(m).start(new_process_is_daemonic, ()).unwrap();
    assert!(!h.join().unwrap());
}

fn child_default_start_method_is_the_one_that_started_it(m: StartMethod) {
    let got = get_context(m).start(default_start_method, ()).unwrap();
    assert_eq!(got.join().unwrap(), m.to_string());
}

fn children_inherit_only_given_descriptors(m: StartMethod) {
    // A descriptor without close-on-exec, made before the context (and its forkserver).
    // A number well above the ones a child's start uses itself.
    let (r, w) = rustix::pipe::pipe().unwrap();
    // SAFETY: F_DUPFD makes a new descriptor (without close-on-exec) that we own.
    let high = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_DUPFD, 200) };
    assert!(high >= 200);
    // SAFETY: `high` was just made and is owned by nothing else.
    let high = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(high) };
    let ctx = Context::new(m);
    let open = ctx.spawn(fd_is_open, (high.as_raw_fd(),)).unwrap();
    // fork copies every descriptor, as Python's does; the others close what they are not given.
    assert_eq!(open.join().unwrap(), m == StartMethod::Fork);
    drop((r, w, high));
}

#[test]
fn log_to_stderr_level_reaches_children() {
    assert!(multiprocessing::log_to_stderr(tracing::Level::INFO));
    for m in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::ForkServer,
    ] {
        let h = Context::new(m).spawn(info_is_logged, ()).unwrap();
        assert!(h.join().unwrap(), "{m}");
    }
}

#[test]
fn get_context_returns_the_same_context() {
    let a = get_context(StartMethod::ForkServer);
    a.process(nothing, ()).start().unwrap().join().unwrap();
    let b = get_context(StartMethod::ForkServer);
    assert!(a.as_process().forkserver_pid().is_some());
    assert_eq!(
        a.as_process().forkserver_pid(),
        b.as_process().forkserver_pid()
    );
}

// ---- point 7: the forkserver survives Ctrl-C and its own death ----

#[test]
fn forkserver_ignores_sigint_and_its_children_do_not() {
    let ctx = Context::new(StartMethod::ForkServer);
    ctx.process(nothing, ()).start().unwrap().join().unwrap();
    let server = ctx.forkserver_pid().unwrap();
    signal(server, Signal::INT);
    // Delivered before the server reads this next request: were it fatal, this start fails.
    let p = ctx.process(raise_sigint, ()).start().unwrap();
    assert_eq!(p.join_timeout(BOUND).unwrap(), -libc::SIGINT);
    assert_eq!(ctx.forkserver_pid(), Some(server));
}

#[test]
fn forkserver_children_are_whole_processes_to_libc() {
    assert!(libc_knows_my_thread_id());
    let h = Context::new(StartMethod::ForkServer)
        .spawn(libc_knows_my_thread_id, ())
        .unwrap();
    assert!(
        h.join().unwrap(),
        "libc in the child still holds the server's thread id"
    );
}

#[test]
fn forkserver_child_dying_with_a_robust_mutex_frees_it() {
    let memfd = rustix::fs::memfd_create("robust", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&memfd, 4096).unwrap();
    let mutex = shared_mutex(&memfd);
    // SAFETY: initializes a robust, process-shared mutex in the fresh mapping, attributes first.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        libc::pthread_mutexattr_init(&mut attr);
        libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
        assert_eq!(libc::pthread_mutex_init(mutex, &attr), 0);
    }
    let child = rustix::io::fcntl_dupfd_cloexec(&memfd, 0).unwrap();
    let p = Context::new(StartMethod::ForkServer)
        .process(lock_and_exit, (TransferFd::from(child),))
        .start()
        .unwrap();
    assert_eq!(p.join_timeout(BOUND).unwrap(), 0);
    let mut now: libc::timespec = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: reads the clock into a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    now.tv_sec += 5;
    // SAFETY: locks the initialized mutex with a valid deadline.
    let rc = unsafe { libc::pthread_mutex_timedlock(mutex, &now) };
    assert_eq!(
        rc,
        libc::EOWNERDEAD,
        "the dead owner's robust list was not registered"
    );
}

#[test]
fn dead_forkserver_is_replaced_on_next_start() {
    let ctx = Context::new(StartMethod::ForkServer);
    ctx.process(nothing, ()).start().unwrap().join().unwrap();
    let server = ctx.forkserver_pid().unwrap();
    let server_fd = pidfd(server);
    signal(server, Signal::KILL);
    assert!(readable(&server_fd, BOUND));
    let p = ctx.process(nothing, ()).start().unwrap();
    assert_eq!(p.join_timeout(BOUND).unwrap(), 0);
    let replacement = ctx.forkserver_pid().unwrap();
    assert_ne!(replacement, server);
}

#[test]
fn child_outlives_its_forkserver_and_join_waits_for_it() {
    let ctx = Context::new(StartMethod::ForkServer);
    let (mut release, chan) = channel();
    let p = ctx.process(block_until_released, (chan,)).start().unwrap();
    let server = ctx.forkserver_pid().unwrap();
    let server_fd = pidfd(server);
    signal(server, Signal::KILL);
    assert!(readable(&server_fd, BOUND));
    assert!(matches!(
        p.join_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    assert!(p.is_alive());
    assert!(!readable(p.sentinel().unwrap(), Duration::ZERO));
    release.write_all(b"x").unwrap();
    assert_eq!(p.join_timeout(BOUND).unwrap(), 0, "its true exit code");
}

// ---- point 9: a fork start that fails after the fork runs nothing ----

/// Whether this process has any child left, running or a zombie (waits for one to exit).
fn has_any_child() -> bool {
    !matches!(
        waitid(WaitId::All, WaitIdOptions::EXITED | WaitIdOptions::NOWAIT),
        Err(rustix::io::Errno::CHILD)
    )
}

#[test]
fn fork_start_failing_after_the_fork_runs_nothing_and_leaves_no_zombie() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_path_buf();
    // In a forked copy of this test: its descriptor table is filled up, and it has no children.
    let child = multiprocessing_tests::fork::fork(move || {
        let ctx = get_context(StartMethod::Fork);
        let highest = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
        let limit = rustix::process::Rlimit {
            current: Some(highest + 64),
            maximum: None,
        };
        let mut limit_max = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        limit_max.current = limit.current;
        rustix::process::setrlimit(rustix::process::Resource::Nofile, limit_max).unwrap();
        let mut filler = Vec::new();
        while let Ok(fd) = rustix::io::dup(std::io::stdin()) {
            filler.push(fd);
        }
        let mut failures = 0;
        for free in 0..6 {
            filler.truncate(filler.len().saturating_sub(usize::from(free > 0)));
            let target_dir = base.join(format!("free-{free}"));
            let started = ctx
                .process(make_dir, (target_dir.to_string_lossy().into_owned(),))
                .start();
            match started {
                Err(_) => {
                    failures += 1;
                    if has_any_child() {
                        return 10 + free;
                    }
                    if target_dir.exists() {
                        return 20 + free;
                    }
                    if !active_children().is_empty() {
                        return 50 + free;
                    }
                }
                Ok(p) => {
                    if p.join().unwrap() != 0 || !target_dir.exists() {
                        return 30 + free;
                    }
                }
            }
        }
        if failures == 0 { 40 } else { 0 }
    });
    let code = child.wait();
    drop(dir);
    assert_eq!(
        code, 0,
        "10+k: a child was left; 20+k: the target ran; 40: nothing failed; 50+k: the failed \
         start was listed as active"
    );
}
