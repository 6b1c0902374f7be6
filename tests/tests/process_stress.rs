//! Starting many processes leaves nothing behind: no zombie, no descriptor, no forkserver.
//!
//! One test runs the three start methods in turn, so no other test of this binary starts
//! children while it counts them.

use multiprocessing::process::Context;
use multiprocessing::{StartMethod, get_start_method, set_start_method};
use multiprocessing_tests::helpers::open_fds;
use rustix::process::{WaitId, WaitIdOptions, waitid};

fn nothing() {}

/// Whether an exited child of this process is waiting to be reaped.
fn has_zombie_child() -> bool {
    matches!(
        waitid(
            WaitId::All,
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT
        ),
        Ok(Some(_))
    )
}

#[test]
fn two_hundred_processes_per_method_leave_no_zombie_fd_or_server() {
    for m in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::ForkServer,
    ] {
        let before = open_fds();
        let ctx = Context::new(m);
        let mut server = None;
        for i in 0..200 {
            let p = ctx.process(nothing, ()).start().unwrap();
            assert_eq!(p.join().unwrap(), 0, "{m} process {i}");
            if i == 0 {
                server = ctx.forkserver_pid();
            }
        }
        assert!(!has_zombie_child(), "{m}: a zombie child is left");
        drop(ctx);
        assert_eq!(open_fds(), before, "{m}: descriptors leaked");
        if let Some(pid) = server {
            assert_eq!(m, StartMethod::ForkServer);
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "forkserver {pid} outlived its context"
            );
        }
        assert!(
            !has_zombie_child(),
            "{m}: a zombie is left after the context dropped"
        );
    }
}

#[test]
fn start_method_is_set_once_unless_forced() {
    set_start_method(StartMethod::Spawn, false).unwrap();
    assert_eq!(get_start_method(), StartMethod::Spawn);
    let err = set_start_method(StartMethod::Fork, false).unwrap_err();
    assert!(
        matches!(err, multiprocessing::process::Error::ContextAlreadySet),
        "{err}"
    );
    assert_eq!(err.kind(), multiprocessing::ErrorKind::AlreadyStarted);
    set_start_method(StartMethod::Fork, true).unwrap();
    assert_eq!(get_start_method(), StartMethod::Fork);
    assert_eq!(multiprocessing::get_all_start_methods().len(), 3);
}
