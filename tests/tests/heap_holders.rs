//! References to shared-memory heap blocks held by children that never give them back
//! themselves: killed, leaving by `process::exit`, or exec'd by a `Command` with `pre_exec`.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use multiprocessing::heap::HeapBlock;
use multiprocessing::{Event, StartMethod, get_context};
use multiprocessing_tests::per_method;

const BOUND: Duration = Duration::from_secs(20);

/// Holds `block`, says so, and waits to be killed.
fn hold_until_killed((block, ready): (HeapBlock, Event)) -> i32 {
    ready.set();
    loop {
        std::thread::park();
        std::hint::black_box(&block);
    }
}

/// Holds `block` and leaves by `process::exit`, which runs no destructor.
fn hold_and_exit((block, ready): (HeapBlock, Event)) -> i32 {
    ready.set();
    std::hint::black_box(&block);
    std::process::exit(0)
}

fn a_killed_child_leaves_no_reference(method: StartMethod) {
    let block = HeapBlock::new(8).unwrap();
    let ready = Event::new().unwrap();
    let p = get_context(method)
        .process(hold_until_killed, ((block.clone(), ready.clone()),))
        .start()
        .unwrap();
    assert!(ready.wait_timeout(BOUND));
    assert_eq!(block.ref_count(), 2, "the child holds the block");
    p.kill().unwrap();
    p.join().unwrap();
    assert_eq!(
        block.ref_count(),
        1,
        "the killed child's reference came back"
    );
}

fn a_child_leaving_by_process_exit_leaves_no_reference(method: StartMethod) {
    let block = HeapBlock::new(8).unwrap();
    let ready = Event::new().unwrap();
    let p = get_context(method)
        .process(hold_and_exit, ((block.clone(), ready.clone()),))
        .start()
        .unwrap();
    assert!(ready.wait_timeout(BOUND));
    p.join().unwrap();
    assert_eq!(block.ref_count(), 1, "the child's reference came back");
}

per_method!(
    a_killed_child_leaves_no_reference,
    a_child_leaving_by_process_exit_leaves_no_reference,
);

#[test]
fn a_command_with_pre_exec_leaves_no_reference() {
    let block = HeapBlock::new(8).unwrap();
    let mut cmd = std::process::Command::new("true");
    // SAFETY: the hook does nothing; it only makes std fork (running the heap's fork handlers)
    // instead of using posix_spawn.
    unsafe { cmd.pre_exec(|| Ok(())) };
    for _ in 0..3 {
        assert!(cmd.status().unwrap().success());
    }
    assert_eq!(block.ref_count(), 1, "no exec'd child keeps a reference");
}
