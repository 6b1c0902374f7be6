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

use multiprocessing::ErrorKind;
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

/// Makes the kernel reap this process's children as they exit (SIGCHLD ignored).
fn ignore_sigchld() {
    // SAFETY: sets a signal's disposition; SIG_IGN runs no code.
    let previous = unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    assert_ne!(previous, libc::SIG_ERR);
}

/// Fills this process's descriptor table (its limit lowered first, so the filling is quick):
/// the descriptors holding it, closed when dropped.
fn fill_descriptor_table() -> Vec<OwnedFd> {
    let highest = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let mut limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit.current = Some(highest + 64);
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
    let mut filler = Vec::new();
    while let Ok(fd) = rustix::io::dup(std::io::stdin()) {
        filler.push(fd);
    }
    filler
}

#[test]
fn fork_start_failing_after_the_fork_runs_nothing_and_leaves_no_zombie() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_path_buf();
    // In a forked copy of this test: its descriptor table is filled up, and it has no children.
    // While the kernel reaps its children (SIGCHLD ignored), a fork start takes the child's
    // pidfd before the child runs: the step after the fork that can fail.
    let child = multiprocessing_tests::fork::fork(move || {
        ignore_sigchld();
        let ctx = get_context(StartMethod::Fork);
        let mut filler = fill_descriptor_table();
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
                    // Its code went to the kernel, which reaped it.
                    if !matches!(p.join(), Err(Error::ReapedElsewhere { .. }))
                        || !target_dir.exists()
                    {
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
        "10+k: a child was left; 20+k: the target ran; 30+k: a started child did not run or \
         join did not report it reaped elsewhere; 40: nothing failed; 50+k: the failed start \
         was listed as active"
    );
}

// ---- a fork child watched without a pidfd until a call needs one ----

#[test]
fn fork_start_with_a_full_descriptor_table_runs_and_only_pidfd_calls_fail() {
    let dir = tempfile::tempdir().unwrap();
    let target_dir = dir.path().join("ran");
    let path = target_dir.to_string_lossy().into_owned();
    let child = multiprocessing_tests::fork::fork(move || {
        let mut filler = fill_descriptor_table();
        let p = get_context(StartMethod::Fork)
            .process(make_dir, (path,))
            .start()
            .expect("a plain fork start needs no descriptor");
        assert_eq!(
            kind(p.sentinel()),
            Some(ErrorKind::Io),
            "the sentinel needs a pidfd"
        );
        assert_eq!(
            kind(p.join_timeout(BOUND)),
            Some(ErrorKind::Io),
            "so does a timed join"
        );
        assert_eq!(p.join().unwrap(), 0, "a plain join needs none");
        assert_eq!(p.exitcode(), Some(0));
        assert!(!p.is_alive());
        // A reaped child's sentinel is a pipe's read end, readable at once: two descriptors.
        assert_eq!(kind(p.sentinel()), Some(ErrorKind::Io));
        filler.truncate(filler.len() - 2);
        assert!(readable(p.sentinel().unwrap(), Duration::ZERO));
        0
    });
    assert_eq!(child.wait(), 0, "see the forked copy's panic above");
    assert!(target_dir.exists(), "the target ran");
}

/// The kind of `r`'s error, if it is one.
fn kind<T>(r: Result<T, Error>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

fn exit_with(code: i32) {
    std::process::exit(code);
}

#[test]
fn fork_sentinel_asked_after_the_child_exited_but_before_join_is_ready() {
    let p = get_context(StartMethod::Fork)
        .process(exit_with, (7,))
        .start()
        .unwrap();
    let pid = Pid::from_raw(p.pid().unwrap() as i32).unwrap();
    // Until the child has exited, without reaping it.
    waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    )
    .unwrap();
    let sentinel = p.sentinel().unwrap();
    assert!(readable(&sentinel, Duration::ZERO));
    assert_eq!(
        p.join().unwrap(),
        7,
        "the child's own code: the pidfd is of our child"
    );
    assert!(readable(&sentinel, Duration::ZERO));
    assert!(readable(p.sentinel().unwrap(), Duration::ZERO));
}

/// How the program reaps a fork child behind its `Process`'s back.
#[derive(Clone, Copy, Debug)]
enum Reaper {
    /// A wait for any child (`waitpid(-1)`).
    WaitForAny,
    /// The kernel, SIGCHLD being ignored before the start (the pidfd is taken at the start).
    IgnoredBeforeStart,
    /// The kernel, SIGCHLD being ignored only after the start (the child has no pidfd yet).
    IgnoredAfterStart,
}

const REAPERS: [Reaper; 3] = [
    Reaper::WaitForAny,
    Reaper::IgnoredBeforeStart,
    Reaper::IgnoredAfterStart,
];

/// Starts a fork child and has `reaper` reap it once it ends: returns when its pid is free.
fn start_and_reap_elsewhere(reaper: Reaper) -> Process {
    if matches!(reaper, Reaper::IgnoredBeforeStart) {
        ignore_sigchld();
    }
    let (mut release, chan) = channel();
    let p = get_context(StartMethod::Fork)
        .process(block_until_released, (chan,))
        .start()
        .unwrap();
    if matches!(reaper, Reaper::IgnoredAfterStart) {
        ignore_sigchld();
    }
    release.write_all(b"x").unwrap();
    let pid = p.pid().unwrap() as i32;
    match reaper {
        Reaper::WaitForAny => {
            let (reaped, _) = rustix::process::wait(rustix::process::WaitOptions::empty())
                .unwrap()
                .unwrap();
            assert_eq!(reaped.as_raw_nonzero().get(), pid);
        }
        // A wait for any child fails once the kernel has reaped the last one.
        _ => assert_eq!(
            waitid(WaitId::All, WaitIdOptions::EXITED | WaitIdOptions::NOWAIT).err(),
            Some(rustix::io::Errno::CHILD)
        ),
    }
    p
}

/// What a process whose child was reaped elsewhere reports, whatever was asked first.
fn assert_reported_ended(p: &Process) {
    let ours = p.pid().unwrap();
    assert!(readable(p.sentinel().unwrap(), Duration::ZERO));
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), None, "its code is unknown");
    p.terminate().unwrap();
    p.kill().unwrap();
    for joined in [
        p.join(),
        p.join_timeout(BOUND),
        p.join_timeout(Duration::ZERO),
    ] {
        let err = joined.unwrap_err();
        assert!(
            matches!(err, Error::ReapedElsewhere { pid } if pid == ours),
            "{err}"
        );
        assert_eq!(err.kind(), ErrorKind::Exited);
    }
    let repr = p.to_string();
    assert!(repr.ends_with(" stopped>"), "{repr}");
    assert!(active_children().is_empty());
    p.close().unwrap();
}

#[test]
fn fork_child_reaped_elsewhere_is_reported_ended_and_join_returns() {
    for reaper in REAPERS {
        let child = multiprocessing_tests::fork::fork(move || {
            let p = start_and_reap_elsewhere(reaper);
            assert_reported_ended(&p);
            0
        });
        assert_eq!(
            child.wait(),
            0,
            "{reaper:?}: see the forked copy's panic above"
        );
    }
}

/// The first call made on a process whose child's pid names another process.
#[derive(Clone, Copy, Debug)]
enum First {
    Sentinel,
    IsAlive,
    Terminate,
    Join,
    TimedJoin,
}

/// A process of someone else's holding `pid`: made by a child of ours (its parent, which
/// stays alive so that the stranger is never handed to us) in this pid namespace.
struct Stranger {
    release: OwnedFd,
    report: OwnedFd,
}

impl Stranger {
    /// The stranger, running, or `None` if `pid` could not be given to it.
    fn at(pid: i32) -> Option<Stranger> {
        let (release_r, release_w) = rustix::pipe::pipe().unwrap();
        let (report_r, report_w) = rustix::pipe::pipe().unwrap();
        // SAFETY: the child runs only the async-signal-safe calls below and `_exit`s.
        let parent = unsafe { libc::fork() };
        assert!(parent >= 0);
        if parent == 0 {
            // SAFETY: raw system calls on descriptors this process owns; the clone is a fork
            // (no stack) whose child only reads and exits.
            unsafe {
                libc::signal(libc::SIGCHLD, libc::SIG_DFL); // its child's status is its own
                let tids = [pid];
                let mut args: libc::clone_args = std::mem::zeroed();
                args.exit_signal = libc::SIGCHLD as u64;
                args.set_tid = tids.as_ptr() as u64;
                args.set_tid_size = 1;
                // A kernel that reaps a child itself (SIGCHLD ignored) may free its pid a moment
                // after `waitid` stops listing it, and no event says when: retry a taken pid for
                // up to 2 s.
                let mut tries = 0;
                let stranger = loop {
                    let made = libc::syscall(
                        libc::SYS_clone3,
                        &raw mut args,
                        size_of::<libc::clone_args>(),
                    );
                    tries += 1;
                    if made >= 0 || *libc::__errno_location() != libc::EEXIST || tries == 2000 {
                        break made;
                    }
                    libc::usleep(1000);
                };
                if stranger == 0 {
                    let mut byte = 0u8;
                    libc::read(release_r.as_raw_fd(), (&raw mut byte).cast(), 1);
                    libc::_exit(0);
                }
                let mut status = if stranger > 0 { 1u8 } else { 0 };
                libc::write(report_w.as_raw_fd(), (&raw const status).cast(), 1);
                if stranger > 0 {
                    let mut raw = 0;
                    libc::waitpid(stranger as i32, &raw mut raw, 0);
                    // 0: it exited as released; else the signal that ended it.
                    status = if libc::WIFSIGNALED(raw) {
                        libc::WTERMSIG(raw) as u8
                    } else {
                        0
                    };
                    libc::write(report_w.as_raw_fd(), (&raw const status).cast(), 1);
                }
                libc::_exit(0);
            }
        }
        drop((release_r, report_w));
        let mut report = std::fs::File::from(report_r);
        let mut started = [0u8];
        report.read_exact(&mut started).unwrap();
        (started[0] == 1).then(|| Stranger {
            release: release_w,
            report: report.into(),
        })
    }

    /// Releases the stranger; the signal that ended it instead, if one did.
    fn finish(self) -> Option<u8> {
        let mut release = std::fs::File::from(self.release);
        release.write_all(b"x").unwrap();
        let mut report = std::fs::File::from(self.report);
        let mut signal = [0u8];
        report.read_exact(&mut signal).unwrap();
        (signal[0] != 0).then_some(signal[0])
    }
}

#[test]
fn fork_child_reaped_elsewhere_never_signals_the_process_given_its_pid() {
    const UNSUPPORTED: i32 = 77;
    let firsts = [
        First::Sentinel,
        First::IsAlive,
        First::Terminate,
        First::Join,
        First::TimedJoin,
    ];
    for reaper in REAPERS {
        for first in firsts {
            // A forked copy enters new user and pid namespaces, where it may choose the pid of
            // a new process; its first child (init there) runs the test.
            let child = multiprocessing_tests::fork::fork(move || {
                // SAFETY: unshare(2) in this single-threaded copy of the test.
                if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWPID) } != 0 {
                    return UNSUPPORTED;
                }
                multiprocessing_tests::fork::fork(move || {
                    let p = start_and_reap_elsewhere(reaper);
                    let stranger = Stranger::at(p.pid().unwrap() as i32)
                        .expect("the freed pid can be given to another process");
                    match first {
                        First::Sentinel => {
                            assert!(readable(p.sentinel().unwrap(), Duration::ZERO));
                        }
                        First::IsAlive => assert!(!p.is_alive()),
                        First::Terminate => p.terminate().unwrap(),
                        First::Join => assert!(p.join().is_err()),
                        First::TimedJoin => assert!(p.join_timeout(BOUND).is_err()),
                    }
                    assert_reported_ended(&p);
                    assert_eq!(stranger.finish(), None, "the stranger was signalled");
                    0
                })
                .wait()
            });
            match child.wait() {
                UNSUPPORTED => {
                    eprintln!("skipped: no new user and pid namespaces here");
                    return;
                }
                code => assert_eq!(
                    code, 0,
                    "{reaper:?}, {first:?} first: see the forked copy's panic above"
                ),
            }
        }
    }
}
