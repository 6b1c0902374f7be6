//! `parent_process().is_alive()` across real processes: a grandchild sees its parent alive, then
//! dead once the parent is gone (its pid is checked with its start time, so a reused pid would
//! not revive it).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use multiprocessing::runtime::transfer::TransferFd;
use multiprocessing::{StartMethod, get_context, parent_process};
use multiprocessing_tests::helpers::channel;
use multiprocessing_tests::per_method;

/// Reports whether its parent is alive, waits for the release, and reports again.
fn grandchild(report: TransferFd, release: TransferFd) {
    let mut report = UnixStream::from(report.into_inner());
    let mut release = UnixStream::from(release.into_inner());
    let alive = || u8::from(parent_process().is_some_and(|p| p.is_alive()));
    report.write_all(&[alive()]).unwrap();
    let _ = release.read(&mut [0u8; 1]);
    report.write_all(&[alive()]).unwrap();
}

/// Starts the grandchild, then leaves when told to, without joining it.
fn middle(method: String, report: TransferFd, release: TransferFd, leave: TransferFd) {
    let method: StartMethod = method.parse().unwrap();
    get_context(method)
        .process(grandchild, (report, release))
        .start()
        .unwrap();
    let _ = UnixStream::from(leave.into_inner()).read(&mut [0u8; 1]);
    // SAFETY: leaving without the exit hook, which would join the grandchild.
    unsafe { libc::_exit(0) };
}

fn a_parent_that_left_is_not_alive(m: StartMethod) {
    let (mut report, report_theirs) = channel();
    let (mut release, release_theirs) = channel();
    let (mut leave, leave_theirs) = channel();
    let p = get_context(m)
        .process(
            middle,
            (m.to_string(), report_theirs, release_theirs, leave_theirs),
        )
        .start()
        .unwrap();
    let mut byte = [0u8; 1];
    report.read_exact(&mut byte).unwrap();
    assert_eq!(byte[0], 1, "the grandchild sees its running parent alive");
    leave.write_all(b"x").unwrap();
    assert_eq!(p.join().unwrap(), 0);
    release.write_all(b"x").unwrap();
    report.read_exact(&mut byte).unwrap();
    assert_eq!(byte[0], 0, "the grandchild sees its exited parent dead");
}

per_method!(a_parent_that_left_is_not_alive);
