//! The manager examples print what Python's documentation says, and what their Python
//! originals print when run beside them.

use multiprocessing_tests::examples::{run_example as run, run_python_original};

#[test]
fn manager_prints_the_mixed_dict_and_the_reversed_list_like_python() {
    // The documentation's text: keys in order. CPython 3.7+ prints its dict in insertion order
    // instead (`{1: '1', '2': 2, 0.25: None}`); ours keeps keys sorted, as the text shows.
    assert_eq!(
        run("manager"),
        "{0.25: None, 1: '1', '2': 2}\n[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]\n"
    );
    let python = run_python_original("manager");
    let lines: Vec<&str> = python.lines().collect();
    assert_eq!(
        lines,
        [
            "{1: '1', '2': 2, 0.25: None}",
            "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]"
        ]
    );
}

#[test]
fn namespace_prints_its_attributes_like_python() {
    let expected = "Namespace(x=10, y='hello')\n";
    assert_eq!(run("namespace"), expected);
    assert_eq!(run_python_original("namespace"), expected);
}

/// `<ListProxy object, typeid 'list' at 0x...>` without its address.
fn without_address(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| match l.split_once(" at 0x") {
            Some((head, _)) => format!("{head} at 0x...>"),
            None => l.to_string(),
        })
        .collect()
}

#[test]
fn proxy_objects_prints_like_the_documentation_and_python() {
    let expected = [
        "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]",
        "<ListProxy object, typeid 'list' at 0x...>",
        "16",
        "[4, 9, 16]",
        "[[]] []",
        "[['hello']] ['hello']",
    ];
    assert_eq!(without_address(&run("proxy_objects")), expected);
    // CPython 3.11 keeps the proxy itself inside the list, so its last two lines show the
    // proxy's repr where the documentation (and ours) shows the referent.
    let python = without_address(&run_python_original("proxy_objects"));
    assert_eq!(python[..4], expected[..4]);
    assert_eq!(
        python[4..],
        [
            "[<ListProxy object, typeid 'list' at 0x...>",
            "[<ListProxy object, typeid 'list' at 0x...>"
        ]
    );
}

#[test]
fn custom_manager_prints_the_sum_and_the_product_like_python() {
    let expected = "7\n56\n";
    assert_eq!(run("custom_manager"), expected);
    assert_eq!(run_python_original("custom_manager"), expected);
}

#[test]
fn customized_managers_prints_every_line_of_python_and_shows_the_refused_h() {
    let python = run_python_original("customized_managers");
    assert!(python.contains("op.pow(2, 94) = 19807040628566084398385987584"));
    let out = std::process::Command::new(multiprocessing_tests::examples::example(
        "customized_managers",
    ))
    .output()
    .expect("the example runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).expect("UTF-8"), python);
    // Python's `assert not hasattr(f1, '_h')`: the server refused it, naming it.
    let err = String::from_utf8(out.stderr).expect("UTF-8");
    assert!(
        err.contains("f1._h(): ") && err.contains("'_h'") && err.contains("not in exposed"),
        "{err}"
    );
}

#[test]
fn remote_manager_serves_one_queue_to_two_clients_and_a_local_queue_like_python() {
    let expected = "'hello'\n'local hello'\n";
    assert_eq!(run("remote_manager"), expected);
    assert_eq!(run_python_original("remote_manager"), expected);
}

/// Standard error of a program, each line with the process number and the quoted address
/// masked: `[INFO/SyncManager-...] manager serving at '...'`.
fn masked_stderr(mut cmd: std::process::Command) -> Vec<String> {
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8(out.stderr)
        .expect("UTF-8")
        .lines()
        .map(|l| {
            let l = match l.split_once("SyncManager-") {
                Some((head, tail)) => {
                    let rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
                    format!("{head}SyncManager-...{rest}")
                }
                None => l.to_string(),
            };
            match l.split_once(" at '") {
                Some((head, _)) => format!("{head} at '...'"),
                None => l,
            }
        })
        .collect()
}

#[test]
fn logging_manager_logs_the_documentation_session() {
    let ours = masked_stderr(std::process::Command::new(
        multiprocessing_tests::examples::example("logging_manager"),
    ));
    // The documentation's lines, less its temporary directory (an abstract socket needs none).
    let session = [
        "[WARNING/MainProcess] doomed",
        "[INFO/SyncManager-...] child process calling self.run()",
        "[INFO/SyncManager-...] manager serving at '...'",
        "[INFO/MainProcess] sending shutdown message to manager",
        "[INFO/SyncManager-...] manager exiting with exitcode 0",
    ];
    // Ours logs "serving" before reporting the address, so the lines keep this order.
    assert_eq!(ours, session);
    // CPython 3.11 logs the same lines, but its server logs "serving" after reporting its
    // address (so on a loaded machine after the owner's shutdown message), words its exit as
    // "process exiting with exitcode 0", and loses that line when the owner terminates it after
    // its 1 s shutdown timeout: compare each process's lines, up to the exit. When the owner
    // closes its connection before the server's reply to `shutdown` is written, CPython's server
    // also logs "Failure to send message" with two " ... " lines (a race in CPython's own
    // shutdown, seen on a loaded machine): those lines are CPython's, not the session's.
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/docs/logging_manager.py");
    let mut python = std::process::Command::new("python3");
    python.arg(script);
    let python: Vec<String> = masked_stderr(python)
        .into_iter()
        .filter(|l| {
            !l.contains("created temp directory")
                && !l.contains("shutting down")
                && !l.contains("exiting with exitcode")
                && !l.contains("Failure to send message")
                && !l.contains("]  ... ")
        })
        .collect();
    let of = |lines: &[&str], who: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.contains(who))
            .map(|l| l.to_string())
            .collect()
    };
    let python: Vec<&str> = python.iter().map(String::as_str).collect();
    for who in ["/MainProcess]", "/SyncManager-...]"] {
        assert_eq!(of(&python, who), of(&session[..4], who));
    }
}
