//! Process behaviour across real processes, under each start method.
//!
//! Children that must stay alive block on a socket the test holds (a handshake), never on a
//! sleep; deaths of processes that are not ours are observed through a pidfd.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use multiprocessing::ErrorKind;
use multiprocessing::process::{Error, ProcessBuilder};
use multiprocessing::runtime::transfer::TransferFd;
use multiprocessing::{
    JoinHandle, Process, StartMethod, active_children, current_process, get_context, parent_process,
};
use multiprocessing_tests::helpers::{BOUND, channel, pidfd, readable, within};
use multiprocessing_tests::per_method;

fn read_u32(s: &mut UnixStream) -> u32 {
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    u32::from_le_bytes(b)
}

// ---- targets ----

fn nothing() {}

fn exit_with(code: i32) {
    std::process::exit(code)
}

/// The line of the `panic!` in [`panics`].
const PANIC_LINE: u32 = line!() + 3;

fn panics(msg: String) -> u32 {
    panic!("{msg}")
}

fn double(x: u64) -> u64 {
    x * 2
}

fn reversed(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

/// Blocks until the test writes a byte to (or closes) the other end of `chan`.
fn block_until_released(chan: TransferFd) {
    let mut s = UnixStream::from(chan.into_inner());
    let _ = s.read(&mut [0u8; 1]);
}

fn write_hello(chan: TransferFd) {
    UnixStream::from(chan.into_inner())
        .write_all(b"hello through a passed descriptor")
        .unwrap();
}

/// What a child sees of itself: name, pid, parent (name, pid), authkey bytes, daemon flag.
type View = (String, u32, Option<(String, u32)>, Vec<u8>, bool);

fn whoami() -> View {
    let me = current_process();
    (
        me.name().to_string(),
        me.pid(),
        parent_process().map(|p| (p.name().to_string(), p.pid())),
        me.authkey().as_bytes().to_vec(),
        me.daemon(),
    )
}

fn forever() {
    loop {
        std::thread::park();
    }
}

/// Starts a daemonic grandchild, reports its pid, then blocks until killed.
fn start_daemon_then_block(method: String, report: TransferFd) {
    let ctx = get_context(method.parse().unwrap());
    let grandchild = ctx.process(forever, ()).daemon(true).start().unwrap();
    let mut s = UnixStream::from(report.into_inner());
    s.write_all(&grandchild.pid().unwrap().to_le_bytes())
        .unwrap();
    forever();
}

/// Starts a non-daemonic child blocked on `release` and a daemonic one, reports both pids and
/// returns: the exit hook must terminate the daemon and wait for the other.
fn start_children_and_return(method: String, release: TransferFd, report: TransferFd) {
    let ctx = get_context(method.parse().unwrap());
    let worker = ctx
        .process(block_until_released, (release,))
        .start()
        .unwrap();
    let daemon = ctx.process(forever, ()).daemon(true).start().unwrap();
    let mut s = UnixStream::from(report.into_inner());
    s.write_all(&worker.pid().unwrap().to_le_bytes()).unwrap();
    s.write_all(&daemon.pid().unwrap().to_le_bytes()).unwrap();
}

/// A daemonic process may not start children.
fn daemon_tries_to_start_a_child(method: String) -> String {
    let ctx = get_context(method.parse().unwrap());
    match ctx.process(nothing, ()).start() {
        Ok(_) => "started".into(),
        Err(e @ Error::DaemonicParent) if e.kind() == ErrorKind::Unsupported => "refused".into(),
        Err(e) => format!("{e:?}"),
    }
}

// ---- tests, instantiated per start method ----

per_method!(
    exit_codes_follow_python,
    join_with_timeout_returns_while_child_runs,
    sentinel_becomes_readable_when_child_exits,
    child_sees_its_name_parent_and_authkey,
    active_children_lists_running_children,
    descriptor_passed_as_argument_reaches_child,
    typed_results_and_panics_come_back,
    daemonic_grandchild_dies_with_killed_parent,
    exit_hook_joins_children_and_terminates_daemons,
    daemonic_process_cannot_start_children,
    closures_need_fork,
    large_arguments_and_results_cross_intact,
    a_cloned_connection_serves_two_children,
    parent_process_join_and_sentinel_follow_the_parent,
    children_see_the_parents_environment,
);

/// The child's view of the variables the library itself may set when starting a server.
fn loader_environment() -> Option<String> {
    std::env::var("LD_BIND_NOW").ok()
}

fn children_see_the_parents_environment(m: StartMethod) {
    // The forkserver binds symbols at load time for its children's sake, but they must not
    // inherit a variable the parent did not set.
    let got = get_context(m)
        .start(loader_environment, ())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(got, loader_environment());
}

/// Starts [`watch_parent`] as a child and blocks until killed.
fn start_watcher_then_block(method: String, report: multiprocessing::Connection) {
    let ctx = get_context(method.parse().unwrap());
    ctx.process(watch_parent, (report,)).start().unwrap();
    forever();
}

/// Reports 1 once it has seen its parent running, 2 once `join` saw it exit and 3 if the
/// sentinel then reads as ended.
fn watch_parent(mut report: multiprocessing::Connection) {
    let me = current_process();
    assert!(me.is_alive() && me.exitcode().is_none());
    let parent = parent_process().unwrap();
    assert!(matches!(
        parent.join_timeout(Duration::ZERO),
        Err(Error::Timeout)
    ));
    report.send(&1u32).unwrap();
    parent.join().unwrap();
    report.send(&2u32).unwrap();
    if readable(parent.sentinel().unwrap(), Duration::ZERO) {
        report.send(&3u32).unwrap();
    }
}

fn parent_process_join_and_sentinel_follow_the_parent(m: StartMethod) {
    let ctx = get_context(m);
    let (mut reader, writer) = multiprocessing::pipe(false).unwrap();
    let parent = ctx
        .process(start_watcher_then_block, (m.to_string(), writer))
        .start()
        .unwrap();
    assert!(
        reader.poll(Some(BOUND)).unwrap(),
        "the grandchild did not start"
    );
    assert_eq!(reader.recv::<u32>().unwrap(), 1);
    parent.kill().unwrap();
    assert_eq!(parent.join().unwrap(), -9);
    assert!(
        reader.poll(Some(BOUND)).unwrap(),
        "join did not see the parent exit"
    );
    assert_eq!(reader.recv::<u32>().unwrap(), 2);
    assert!(reader.poll(Some(BOUND)).unwrap());
    assert_eq!(
        reader.recv::<u32>().unwrap(),
        3,
        "the sentinel of an ended parent"
    );
}

/// Sends `id` over `conn` (a clone handed to this child).
fn send_id(mut conn: multiprocessing::Connection, id: u32) {
    conn.send(&id).unwrap();
}

fn a_cloned_connection_serves_two_children(m: StartMethod) {
    // Python hands one connection to several children; in Rust each child gets a try_clone.
    let ctx = get_context(m);
    let (mut reader, writer) = multiprocessing::pipe(false).unwrap();
    let clone = writer.try_clone().unwrap();
    assert_ne!(clone.as_fd().as_raw_fd(), writer.as_fd().as_raw_fd());
    let a = ctx.process(send_id, (writer, 1u32)).start().unwrap();
    let b = ctx.process(send_id, (clone, 2u32)).start().unwrap();
    let mut got = [reader.recv::<u32>().unwrap(), reader.recv::<u32>().unwrap()];
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
    assert_eq!((a.join().unwrap(), b.join().unwrap()), (0, 0));
}

fn large_arguments_and_results_cross_intact(m: StartMethod) {
    // Larger than a socket buffer, so both directions must stream.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut expected = data.clone();
    expected.reverse();
    assert_eq!(
        get_context(m)
            .start(reversed, (data,))
            .unwrap()
            .join()
            .unwrap(),
        expected
    );
}

fn exit_codes_follow_python(m: StartMethod) {
    let ctx = get_context(m);
    let ok = ctx.process(nothing, ()).start().unwrap();
    let explicit = ctx.process(exit_with, (7,)).start().unwrap();
    let panicked = ctx
        .process(panics, ("expected panic".to_string(),))
        .start()
        .unwrap();
    let (_hold_term, chan) = channel();
    let terminated = ctx.process(block_until_released, (chan,)).start().unwrap();
    let (_hold_kill, chan) = channel();
    let killed = ctx.process(block_until_released, (chan,)).start().unwrap();
    terminated.terminate().unwrap();
    killed.kill().unwrap();
    assert_eq!(ok.join().unwrap(), 0);
    assert_eq!(explicit.join().unwrap(), 7);
    assert_eq!(panicked.join().unwrap(), 1);
    assert_eq!(terminated.join().unwrap(), -15);
    assert_eq!(killed.join().unwrap(), -9);
    assert_eq!(killed.exitcode(), Some(-9));
    assert!(
        terminated
            .to_string()
            .contains(" stopped exitcode=-SIGTERM"),
        "{terminated}"
    );
}

fn join_with_timeout_returns_while_child_runs(m: StartMethod) {
    let ctx = get_context(m);
    let (mut release, chan) = channel();
    let p = ctx.process(block_until_released, (chan,)).build();
    assert!(!p.is_alive());
    p.start().unwrap();
    assert!(p.is_alive());
    assert!(matches!(
        p.join_timeout(Duration::from_millis(100)),
        Err(Error::Timeout)
    ));
    assert_eq!(p.exitcode(), None);
    assert!(p.is_alive());
    assert!(p.to_string().ends_with(" started>"), "{p}");
    release.write_all(b"x").unwrap();
    assert_eq!(p.join_timeout(BOUND).unwrap(), 0);
    assert!(!p.is_alive());
    let err = p.start().unwrap_err();
    assert!(matches!(err, Error::AlreadyStarted), "{err}");
    assert_eq!(err.kind(), ErrorKind::AlreadyStarted);
    p.close().unwrap();
    assert!(p.sentinel().is_err());
}

fn sentinel_becomes_readable_when_child_exits(m: StartMethod) {
    let ctx = get_context(m);
    let (mut release, chan) = channel();
    let p = ctx.process(block_until_released, (chan,)).start().unwrap();
    let sentinel = p.sentinel().unwrap();
    assert!(!readable(&sentinel, Duration::ZERO));
    release.write_all(b"x").unwrap();
    assert!(readable(&sentinel, BOUND));
    assert_eq!(p.join().unwrap(), 0);
    assert!(readable(&sentinel, Duration::ZERO));
}

fn class_of(m: StartMethod) -> &'static str {
    match m {
        StartMethod::Fork => "ForkProcess",
        StartMethod::Spawn => "SpawnProcess",
        StartMethod::ForkServer => "ForkServerProcess",
    }
}

fn child_sees_its_name_parent_and_authkey(m: StartMethod) {
    let ctx = get_context(m);
    let me = current_process();
    let h = ctx.start(whoami, ()).unwrap();
    let expected_name = h.process().name();
    let pid = h.process().pid().unwrap();
    let (name, child_pid, parent, key, daemon) = h.join().unwrap();
    assert_eq!(name, expected_name);
    assert!(name.starts_with(&format!("{}-", class_of(m))), "{name}");
    assert_eq!(child_pid, pid);
    assert_eq!(parent, Some((me.name().to_string(), me.pid())));
    assert_eq!(key, me.authkey().as_bytes());
    assert!(!daemon);

    let h = JoinHandle::builder(whoami, ())
        .name("custom")
        .authkey(&b"secret"[..])
        .daemon(true)
        .context(ctx.as_process())
        .spawn()
        .unwrap();
    let (name, _, _, key, daemon) = h.join().unwrap();
    assert_eq!(
        (name.as_str(), key.as_slice(), daemon),
        ("custom", &b"secret"[..], true)
    );
}

fn active_children_lists_running_children(m: StartMethod) {
    let ctx = get_context(m);
    let (mut release, chan) = channel();
    let p = ctx.process(block_until_released, (chan,)).start().unwrap();
    let pid = p.pid();
    assert!(active_children().iter().any(|c| c.pid() == pid));
    release.write_all(b"x").unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert!(!active_children().iter().any(|c| c.pid() == pid));
}

fn descriptor_passed_as_argument_reaches_child(m: StartMethod) {
    let ctx = get_context(m);
    let (mut ours, chan) = channel();
    let p = ctx.process(write_hello, (chan,)).start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    // Read the message, not to end-of-file: a process forked meanwhile by another test may
    // hold a copy of the child's end.
    let mut got = [0u8; 33];
    ours.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello through a passed descriptor");
}

fn typed_results_and_panics_come_back(m: StartMethod) {
    let ctx = get_context(m);
    assert_eq!(ctx.start(double, (21,)).unwrap().join().unwrap(), 42);
    let err = ctx
        .start(panics, ("the message".to_string(),))
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    let Error::Panicked(panic) = &err else {
        panic!("{err}")
    };
    assert_eq!(panic.message, "the message");
    let at = panic.location.as_ref().expect("the panic's location");
    assert_eq!((at.file.as_str(), at.line), (file!(), PANIC_LINE), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("panicked at {}:{PANIC_LINE}:", file!())),
        "{err}"
    );
    let err = ctx.start(exit_with, (3,)).unwrap().join().unwrap_err();
    assert!(matches!(err, Error::Exited(3)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Exited);
    let (_hold, chan) = channel();
    let h = ctx.start(block_until_released, (chan,)).unwrap();
    h.process().kill().unwrap();
    let err = h.join().unwrap_err();
    assert!(matches!(err, Error::Signaled(9)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Exited);
    assert!(err.to_string().contains("SIGKILL"));
}

fn daemonic_grandchild_dies_with_killed_parent(m: StartMethod) {
    let ctx = get_context(m);
    let (mut report, chan) = channel();
    let parent = ctx
        .process(start_daemon_then_block, (m.to_string(), chan))
        .start()
        .unwrap();
    let grandchild = read_u32(&mut report);
    let grandchild_fd = pidfd(grandchild);
    assert!(!readable(&grandchild_fd, Duration::ZERO));
    parent.kill().unwrap();
    assert_eq!(parent.join().unwrap(), -9);
    assert!(
        readable(&grandchild_fd, BOUND),
        "daemonic grandchild {grandchild} survived its parent"
    );
}

fn exit_hook_joins_children_and_terminates_daemons(m: StartMethod) {
    let ctx = get_context(m);
    let (mut release, release_chan) = channel();
    let (mut report, report_chan) = channel();
    let parent = ctx
        .process(
            start_children_and_return,
            (m.to_string(), release_chan, report_chan),
        )
        .start()
        .unwrap();
    let worker = pidfd(read_u32(&mut report));
    let daemon = pidfd(read_u32(&mut report));
    assert!(
        readable(&daemon, BOUND),
        "the daemonic child was not terminated at exit"
    );
    // The parent's target has returned, but it waits for its non-daemonic child.
    assert!(matches!(
        parent.join_timeout(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
    assert!(!readable(&worker, Duration::ZERO));
    release.write_all(b"x").unwrap();
    assert_eq!(parent.join_timeout(BOUND).unwrap(), 0);
    assert!(readable(&worker, Duration::ZERO));
}

fn daemonic_process_cannot_start_children(m: StartMethod) {
    let h = JoinHandle::builder(daemon_tries_to_start_a_child, (m.to_string(),))
        .daemon(true)
        .context(get_context(m).as_process())
        .spawn()
        .unwrap();
    assert_eq!(h.join().unwrap(), "refused");
}

/// Misuse reported by kind and typed data, seen from a forked child holding its parent's
/// process objects (Python's `AssertionError('can only join a child process')`).
#[test]
fn a_child_cannot_join_or_start_its_parents_process_objects() {
    let ctx = get_context(StartMethod::Fork);
    let (mut release, chan) = channel();
    // Daemonic: a child whose exit hook took its copy of the parent's children for its own
    // would terminate it (the check after the child's exit).
    let sibling = ctx
        .process(block_until_released, (chan,))
        .daemon(true)
        .start()
        .unwrap();
    let unstarted = ctx.process(nothing, ()).build();
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let parent = std::process::id();
    let (sibling2, unstarted2) = (sibling.clone(), unstarted.clone());
    let p = ProcessBuilder::closure(move || {
        let me = std::process::id();
        let join = sibling2.join().unwrap_err();
        let start = unstarted2.start().unwrap_err();
        let verdict = [
            u8::from(matches!(join, Error::NotCreator { creator, current }
                if creator == parent && current == me)),
            u8::from(start.kind() == ErrorKind::WrongProcess),
            // Not its child: never reported alive here.
            u8::from(!sibling2.is_alive()),
            // Nor signalled (the join below gets 0, not -SIGTERM), nor watched by a pidfd
            // the parent never opened.
            u8::from(sibling2.terminate().unwrap_err().kind() == ErrorKind::WrongProcess),
            u8::from(sibling2.sentinel().unwrap_err().kind() == ErrorKind::WrongProcess),
        ];
        let mut theirs = theirs;
        theirs.write_all(&verdict).unwrap();
    })
    .context(ctx.as_process())
    .start()
    .unwrap();
    let mut got = [0u8; 5];
    ours.read_exact(&mut got).unwrap();
    assert_eq!(got, [1; 5], "join, start, is_alive, terminate, sentinel");
    assert_eq!(p.join().unwrap(), 0);
    let err = sibling.close().unwrap_err();
    assert!(matches!(err, Error::StillRunning), "{err}");
    assert_eq!(err.kind(), ErrorKind::StillRunning);
    release.write_all(b"x").unwrap();
    assert_eq!(sibling.join().unwrap(), 0);
    // In the parent the same objects work, and misuse has its own kinds.
    assert_eq!(
        sibling.start().unwrap_err().kind(),
        ErrorKind::AlreadyStarted
    );
    assert_eq!(unstarted.join().unwrap_err().kind(), ErrorKind::NotStarted);
    unstarted.close().unwrap();
    assert!(matches!(unstarted.start(), Err(Error::Closed)));
}

fn closures_need_fork(m: StartMethod) {
    let ctx = get_context(m);
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let captured = String::from("captured state");
    let p = ProcessBuilder::closure(move || {
        let mut theirs = theirs;
        theirs.write_all(captured.as_bytes()).unwrap();
    })
    .context(ctx.as_process())
    .build();
    match m {
        StartMethod::Fork => {
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), 0);
            let mut got = [0u8; 14];
            ours.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"captured state");
        }
        _ => {
            let err = p.start().unwrap_err();
            assert!(
                matches!(err, Error::ClosureNeedsFork(method) if method == m),
                "{err}"
            );
            assert_eq!(err.kind(), ErrorKind::Unsupported);
        }
    }
}

#[test]
fn foreign_executable_is_refused_by_fingerprint() {
    for m in [StartMethod::Spawn, StartMethod::ForkServer] {
        let ctx = get_context(m);
        ctx.set_executable("/bin/true");
        let err = ctx.process(nothing, ()).start().unwrap_err();
        assert!(matches!(err, Error::FingerprintMismatch { .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::FingerprintMismatch);
        assert!(err.to_string().contains("is not this program"), "{err}");
    }
}

#[test]
fn process_repr_reads_like_python() {
    let ctx = get_context(StartMethod::Fork);
    let (mut release, chan) = channel();
    let p = ctx
        .process(block_until_released, (chan,))
        .daemon(true)
        .build();
    let me = std::process::id();
    let name = p.name();
    assert_eq!(
        p.to_string(),
        format!("<ForkProcess name='{name}' parent={me} initial daemon>")
    );
    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert_eq!(
        p.to_string(),
        format!("<ForkProcess name='{name}' pid={pid} parent={me} started daemon>")
    );
    release.write_all(b"x").unwrap();
    p.join().unwrap();
    assert_eq!(
        p.to_string(),
        format!("<ForkProcess name='{name}' pid={pid} parent={me} stopped exitcode=0 daemon>")
    );
    let plain = Process::new(nothing, ());
    assert!(
        plain.to_string().starts_with("<Process name='Process-"),
        "{plain}"
    );
}

/// Several threads join one process at once, with and without a timeout, while another asks
/// whether it is alive: one of them reaps the child with a blocking wait, and every one gets
/// its exit code (a thread asking meanwhile must not reap it under the joiner's feet).
#[test]
fn threads_joining_one_process_at_once_all_get_its_exit_code() {
    for _ in 0..20 {
        let (mut release, chan) = channel();
        let p = get_context(StartMethod::Fork)
            .process(block_until_released, (chan,))
            .start()
            .unwrap();
        let ready = std::sync::Arc::new(std::sync::Barrier::new(8));
        let asker = {
            let (p, ready) = (p.clone(), ready.clone());
            std::thread::spawn(move || {
                ready.wait();
                while p.is_alive() {
                    std::thread::yield_now();
                }
                p.exitcode()
            })
        };
        let waiters: Vec<_> = (0..6)
            .map(|i| {
                let (p, ready) = (p.clone(), ready.clone());
                std::thread::spawn(move || {
                    ready.wait();
                    if i % 3 == 0 {
                        p.join_timeout(BOUND)
                    } else {
                        p.join()
                    }
                })
            })
            .collect();
        ready.wait();
        release.write_all(b"x").unwrap();
        for w in waiters {
            assert_eq!(w.join().unwrap().unwrap(), 0);
        }
        assert_eq!(asker.join().unwrap(), Some(0));
        assert_eq!(p.exitcode(), Some(0));
        assert!(!p.is_alive());
        assert_eq!(p.join().unwrap(), 0);
    }
}

/// While threads join a fork child (one of them reaping it by its pid: it has no pidfd yet),
/// others take its sentinel and terminate it: the pidfd opened meanwhile names the child, the
/// signal reaches it (nothing else ends it), and every joiner gets `-SIGTERM`.
#[test]
fn threads_joining_while_others_terminate_and_take_the_sentinel() {
    for _ in 0..20 {
        let (release, chan) = channel();
        let p = get_context(StartMethod::Fork)
            .process(block_until_released, (chan,))
            .start()
            .unwrap();
        let ready = std::sync::Arc::new(std::sync::Barrier::new(6));
        let spawn = |f: fn(&Process) -> Option<i32>| {
            let (p, ready) = (p.clone(), ready.clone());
            std::thread::spawn(move || {
                ready.wait();
                f(&p)
            })
        };
        let threads = [
            spawn(|p| p.join().ok()),
            spawn(|p| p.join().ok()),
            spawn(|p| p.join_timeout(BOUND).ok()),
            spawn(|p| readable(p.sentinel().unwrap(), BOUND).then_some(0)),
            spawn(|p| p.terminate().ok().map(|()| 0)),
        ];
        ready.wait();
        let got = within("the joins", move || threads.map(|t| t.join().unwrap()));
        assert_eq!(got, [Some(-15), Some(-15), Some(-15), Some(0), Some(0)]);
        assert_eq!(p.exitcode(), Some(-15));
        drop(release);
    }
}
