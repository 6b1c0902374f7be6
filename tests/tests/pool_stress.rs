//! Fifty pools per start method leave nothing behind: no zombie, no thread, no descriptor.
//!
//! Alone in its binary, so no other test starts or ends threads and children while it counts
//! them.

use multiprocessing::{StartMethod, get_context};
use multiprocessing_tests::helpers::open_fds;
use rustix::process::{WaitId, WaitIdOptions, waitid};

fn square(x: u64) -> u64 {
    x * x
}

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

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// One test for every start method in turn, so no other test of this binary starts or ends
/// threads and children while it counts them.
#[test]
fn fifty_pools_leave_no_zombie_thread_or_descriptor() {
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::ForkServer,
    ] {
        let ctx = get_context(method);
        // The first pool starts what lives as long as the context (the forkserver).
        drop(ctx.pool(1).unwrap());
        let (fds, tasks) = (open_fds(), threads());
        for i in 0..50 {
            let pool = ctx.pool(2).unwrap();
            assert_eq!(pool.apply(square, (i,)).unwrap(), i * i);
            if i % 2 == 0 {
                pool.close();
                pool.join().unwrap();
            } // else dropped: terminated
        }
        assert!(!has_zombie_child(), "{method}: a zombie child is left");
        assert_eq!(threads(), tasks, "{method}: threads leaked");
        assert_eq!(open_fds(), fds, "{method}: descriptors leaked");
    }
}
