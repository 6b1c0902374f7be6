//! Runs the facade's examples that are twins of Python's documentation and compares their
//! output with what Python prints.

use multiprocessing::process::Error;
use multiprocessing::{StartMethod, get_context};

use multiprocessing_tests::examples::{example, run_example as run};

#[test]
fn hello_greets_bob() {
    assert_eq!(run("hello"), "hello bob\n");
}

#[test]
fn info_prints_module_and_process_ids() {
    let out = run("info");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 9, "{out}");
    assert_eq!(lines[0], "main line");
    assert_eq!(lines[1], "module name: __main__");
    assert_eq!(lines[4], "function f");
    assert_eq!(lines[5], "module name: __mp_main__");
    assert_eq!(lines[8], "hello bob");
    let number = |line: &str, prefix: &str| -> u32 {
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?}"))
            .parse()
            .unwrap()
    };
    let main_pid = number(lines[3], "process id: ");
    number(lines[2], "parent process: ");
    let child_parent = number(lines[6], "parent process: ");
    let child_pid = number(lines[7], "process id: ");
    assert_ne!(child_pid, main_pid);
    // With the default forkserver the child's OS parent is the server, a child of main.
    assert_ne!(child_parent, child_pid);
}

#[test]
fn terminate_shows_each_state_like_python() {
    let out = run("terminate");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    let head = "<SpawnProcess name='SpawnProcess-1' ";
    assert!(
        lines[0].starts_with(head) && lines[0].ends_with(" initial> False"),
        "{out}"
    );
    assert!(
        lines[1].contains(" pid=") && lines[1].ends_with(" started> True"),
        "{out}"
    );
    assert!(
        lines[2].ends_with(" stopped exitcode=-SIGTERM> False"),
        "{out}"
    );
    assert_eq!(lines[3], lines[2]);
    assert_eq!(lines[4], "True");
}

fn nothing() {}

#[test]
fn another_program_built_from_this_code_is_refused_by_fingerprint() {
    let other = example("hello");
    for m in [StartMethod::Spawn, StartMethod::ForkServer] {
        let ctx = get_context(m);
        ctx.set_executable(&other);
        let err = ctx.process(nothing, ()).start().unwrap_err();
        let Error::FingerprintMismatch { executable, detail } = &err else {
            panic!("{m}: expected a fingerprint mismatch, got {err}");
        };
        assert_eq!(executable, &other);
        assert!(
            detail.contains("this program has") && detail.contains("the executable has"),
            "{detail}"
        );
    }
}

#[test]
fn lock_prints_ten_whole_lines() {
    let out = run("lock");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    let mut expected: Vec<String> = (0..10).map(|i| format!("hello world {i}")).collect();
    expected.sort_unstable();
    assert_eq!(lines, expected);
}

#[test]
fn shared_memory_value_and_array_changed_by_the_child() {
    assert_eq!(
        run("shared_memory"),
        "3.1415927\n[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]\n"
    );
}

#[test]
fn sharedctypes_prints_what_python_prints() {
    assert_eq!(
        run("sharedctypes"),
        "49\n0.1111111111111111\nHELLO WORLD\n[(3.515625, 39.0625), (33.0625, 4.0), (5.640625, 90.25)]\n"
    );
}

#[test]
fn tour_visits_every_stop_and_completes() {
    let out = run("tour");
    for stop in [
        "== Pipe",
        "== Listener and Client",
        "== Process",
        "== Typed results",
        "== Lock, Value and Array",
        "== Queue and JoinableQueue",
        "== Event and wait",
        "== Pool",
        "== async (beyond Python)",
        "== Manager",
        "== custom managers",
        "== Python",
    ] {
        assert!(out.contains(stop), "the tour skipped {stop}:\n{out}");
    }
    assert!(out.contains("= 100000 in"), "{out}");
    assert!(out.contains("through proxies: 5050"), "{out}");
    assert!(out.contains("imap: 30/30 done"), "{out}");
    assert!(out.contains("q.get_async() x3 -> [10, 20, 30]"), "{out}");
    assert!(out.contains(".await -> 144"), "{out}");
    assert!(
        out.contains("word counts from two children: {'be': 2, 'is': 1, 'not': 1, 'or': 1, 'question': 1, 'that': 1, 'the': 1, 'to': 2}"),
        "{out}"
    );
    // The tests run where CPython is (they require it), so the Python stop is not skipped.
    assert!(
        out.contains("CPython received ('from Rust', [1.5, 2.5], None)"),
        "{out}"
    );
    assert!(
        out.contains("a pickle calling posix.system('echo this never runs') stays data"),
        "{out}"
    );
    assert!(out.ends_with("tour complete\n"), "{out}");
}
