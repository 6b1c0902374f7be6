//! References to shared-memory heap blocks held by children that never give them back
//! themselves: killed, leaving by `process::exit`, or exec'd by a `Command` with `pre_exec`.

use std::os::unix::process::CommandExt;

use multiprocessing::runtime::heap::HeapBlock;
use multiprocessing::{Event, StartMethod, get_context};
use multiprocessing_tests::fork::{run_if_test_child, spawn_test_child_by_fork};
use multiprocessing_tests::helpers::BOUND;
use multiprocessing_tests::per_method;

/// Holds `block` and says so; then leaves by `process::exit` (which runs no destructor) if
/// `exit`, else waits to be killed.
fn hold((block, ready, exit): (HeapBlock, Event, bool)) -> i32 {
    ready.set();
    if exit {
        std::hint::black_box(&block);
        std::process::exit(0)
    }
    loop {
        std::thread::park();
        std::hint::black_box(&block);
    }
}

/// Starts a child holding a clone of a fresh block; returns once the child holds it.
fn start_holder(method: StartMethod, exit: bool) -> (HeapBlock, multiprocessing::Process) {
    let block = HeapBlock::new(8).unwrap();
    let ready = Event::new().unwrap();
    let p = get_context(method)
        .process(hold, ((block.clone(), ready.clone(), exit),))
        .start()
        .unwrap();
    assert!(ready.wait_timeout(BOUND).is_ok());
    (block, p)
}

fn a_killed_child_leaves_no_reference(method: StartMethod) {
    let (block, p) = start_holder(method, false);
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
    let (block, p) = start_holder(method, true);
    p.join().unwrap();
    assert_eq!(block.ref_count(), 1, "the child's reference came back");
}

fn the_last_live_holder_frees_a_block_a_killed_child_held(method: StartMethod) {
    let (block, p) = start_holder(method, false);
    p.kill().unwrap();
    p.join().unwrap();
    drop(p); // and the arguments it kept

    // Keeps the arena mapped here once the block is gone.
    let keep = HeapBlock::new(8).unwrap();
    let addr = block.as_ptr();
    drop(block);
    // The child's other blocks (its `ready` event) came back with it: the block is one of
    // the next two handed out.
    let again = [HeapBlock::new(8).unwrap(), HeapBlock::new(8).unwrap()];
    assert!(
        again.iter().any(|b| b.as_ptr() == addr),
        "the block went back to the free list"
    );
    drop(keep);
}

per_method!(
    a_killed_child_leaves_no_reference,
    a_child_leaving_by_process_exit_leaves_no_reference,
    the_last_live_holder_frees_a_block_a_killed_child_held,
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

#[test]
fn an_execd_child_holds_a_block_it_inherited_and_received_once() {
    run_if_test_child(|block: HeapBlock| i32::from(block.ref_count() != 2));
    let kept = HeapBlock::new(8).unwrap();
    let sent = HeapBlock::new(8).unwrap();
    // The child's image before `exec` inherits both blocks; the image after it receives one.
    let child = spawn_test_child_by_fork(
        "an_execd_child_holds_a_block_it_inherited_and_received_once",
        &sent,
    );
    assert_eq!(child.wait(), 0, "the child counted itself once");
    assert_eq!(sent.ref_count(), 1, "the child gave back all it held");
    assert_eq!(kept.ref_count(), 1);
}
