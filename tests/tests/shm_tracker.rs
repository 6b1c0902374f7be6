//! The resource tracker unlinks the named segments of a creator that never got to (SIGKILL,
//! `process::exit`), once its family has exited, and nothing else.
//! (A test binary of its own: the test process itself never creates a named segment, so it
//! holds no tracker and a child's segments are cleaned when the child's family exits.)

use std::path::Path;

use multiprocessing::{Connection, SharedMemory, StartMethod, get_context, pipe};
use multiprocessing_tests::helpers::eventually;
use multiprocessing_tests::per_method;

fn exists(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

/// Creates a segment, reports its name, then waits to be killed.
fn create_and_wait(mut conn: Connection) -> i32 {
    let shm = SharedMemory::create(4096).unwrap();
    conn.send(&shm.name().to_owned()).unwrap();
    let _ = conn.recv::<u8>();
    0
}

/// Whether this process holds a tracker end before creating any segment itself.
fn has_inherited_tracker() -> bool {
    multiprocessing::runtime::tracker::inherited_fd().is_some()
}

/// Creates a segment (starting the family's tracker), then asks a child started by `method`
/// whether it was handed that tracker.
fn create_then_ask_a_child(method: StartMethod) -> bool {
    let _shm = SharedMemory::create(4096).unwrap();
    assert!(has_inherited_tracker());
    get_context(method)
        .start(has_inherited_tracker, ())
        .unwrap()
        .join()
        .unwrap()
}

fn children_share_the_familys_tracker(method: StartMethod) {
    let child = get_context(method)
        .start(create_then_ask_a_child, (method,))
        .unwrap();
    assert!(
        child.join().unwrap(),
        "the grandchild had no tracker of the family's"
    );
}

fn segment_of_a_killed_creator_is_unlinked(method: StartMethod) {
    let (mut ours, theirs) = pipe(true).unwrap();
    let child = get_context(method)
        .start(create_and_wait, (theirs,))
        .unwrap();
    let name: String = ours.recv().unwrap();
    assert!(exists(&name));
    child.process().kill().unwrap();
    assert!(child.join().is_err());
    eventually("the tracker unlinks the killed creator's segment", || {
        !exists(&name)
    });
}

/// Makes one segment of each fate, reports their names (unlinked normally, given away with
/// `set_unlink_on_drop(false)`, to be replaced by a namesake, leaked), waits for the go and
/// leaves through `process::exit`, so no destructor runs. Stderr goes to `log`, which the
/// tracker inherits.
fn make_every_fate_and_exit(mut conn: Connection, log: String) -> i32 {
    let file = std::fs::File::create(&log).unwrap();
    // SAFETY: points this process's stderr at the log; nothing else uses descriptor 2 now.
    assert!(unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&file), 2) } == 2);
    let unlinked = SharedMemory::create(4096).unwrap();
    let given = SharedMemory::create(4096).unwrap();
    given.set_unlink_on_drop(false);
    let replaced = SharedMemory::create(4096).unwrap();
    let leaked = SharedMemory::create(4096).unwrap();
    let names: Vec<String> = [&unlinked, &given, &replaced, &leaked]
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    drop(unlinked);
    drop(given);
    conn.send(&names).unwrap();
    let _ = conn.recv::<u8>();
    std::process::exit(0);
}

fn segments_left_by_process_exit_are_unlinked_and_nothing_else(method: StartMethod) {
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("tracker.log");
    let (mut ours, theirs) = pipe(true).unwrap();
    let child = get_context(method)
        .start(
            make_every_fate_and_exit,
            (theirs, log.to_string_lossy().into_owned()),
        )
        .unwrap();
    let names: Vec<String> = ours.recv().unwrap();
    let [unlinked, given, replaced, leaked] = &names[..] else {
        panic!("{names:?}")
    };
    assert!(!exists(unlinked) && exists(given) && exists(replaced) && exists(leaked));
    // Someone outside the family reuses two names: one the creator unlinked, one it leaked.
    let shm = Path::new("/dev/shm");
    std::fs::remove_file(shm.join(replaced)).unwrap();
    std::fs::File::create_new(shm.join(replaced)).unwrap();
    std::fs::File::create_new(shm.join(unlinked)).unwrap();
    ours.send(&1u8).unwrap();
    assert_eq!(child.join().unwrap_or(0), 0);
    // The tracker unlinks in registration order, the leaked segment last, then warns.
    eventually("the tracker unlinks the leaked segment", || !exists(leaked));
    eventually("the tracker warns", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("leaked shared_memory"))
    });
    let warning = std::fs::read_to_string(&log).unwrap();
    let survivors = [unlinked, given, replaced].map(|n| exists(n));
    for n in [unlinked, given, replaced] {
        let _ = std::fs::remove_file(shm.join(n));
    }
    assert_eq!(
        survivors, [true; 3],
        "the tracker removed a name it should not have"
    );
    assert!(
        warning.contains("There appear to be 1 leaked") && warning.contains(leaked.as_str()),
        "{warning}"
    );
}

per_method!(
    children_share_the_familys_tracker,
    segment_of_a_killed_creator_is_unlinked,
    segments_left_by_process_exit_are_unlinked_and_nothing_else,
);
