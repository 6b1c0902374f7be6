//! The examples that work with CPython, run end to end with every CPython 3.8+ on the machine
//! (the example's `$PYTHON`), and their all-Python originals, which must print the same lines.

use std::path::PathBuf;
use std::process::{Command, Output};

use multiprocessing_tests::cpython::{Python, pythons};
use multiprocessing_tests::examples::example;
use multiprocessing_tests::helpers::within_for;

/// What `queue_server.py` prints once the workers are done.
const SQUARES: &str = "\
1 squared is 1
2 squared is 4
3 squared is 9
4 squared is 16
5 squared is 25
6 squared is 36
7 squared is 49
8 squared is 64
9 squared is 81
10 squared is 100
";

/// What the documentation's manager example prints with a Namespace and a Queue after it.
const MANAGER_SESSION: &str = "\
{0.25: None, 1: '1', '2': 2}
[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
Namespace(x=10, y='hello')
'hello'
";

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/multiprocessing/examples/python")
        .join(name)
}

/// Runs a command to its end within a minute (the examples wait on CPython processes).
fn output(what: &str, mut cmd: Command) -> String {
    let out: Output = within_for(what, std::time::Duration::from_secs(60), move || {
        cmd.output().expect("runs")
    });
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// An example run with `py` as its `$PYTHON`.
fn run_with(name: &str, py: &Python) -> String {
    let mut cmd = Command::new(example(name));
    cmd.env("PYTHON", &py.program);
    match &py.pyenv {
        Some(v) => cmd.env("PYENV_VERSION", v),
        None => cmd.env_remove("PYENV_VERSION"),
    };
    output(&format!("{name} with CPython {}", py.version), cmd)
}

/// `f` for every CPython, each on a thread of its own (their processes mostly wait on each
/// other); a failure fails the test once all are done.
fn each_cpython(f: impl Fn(&Python) + Sync) {
    std::thread::scope(|s| {
        for py in pythons() {
            let f = &f;
            s.spawn(move || f(&py));
        }
    });
}

#[test]
fn queue_server_with_python_workers_prints_the_squares() {
    let py = &pythons()[0];
    let mut cmd = py.command();
    cmd.arg(script("queue_server.py")).args(["2", "python"]);
    let out = output("queue_server.py 2 python", cmd);
    let (first, rest) = out.split_once('\n').expect("two lines or more");
    assert!(first.starts_with("serving on 127.0.0.1:"), "{first}");
    assert_eq!(rest, SQUARES);
}

#[test]
fn python_queue_worker_does_the_python_servers_jobs_in_rust() {
    each_cpython(|py| {
        assert_eq!(
            run_with("python_queue_worker", py),
            SQUARES,
            "CPython {}",
            py.version
        );
    });
}

#[test]
fn manager_client_against_a_cpython_manager_prints_the_documentations_lines() {
    let py = &pythons()[0];
    let mut cmd = py.command();
    cmd.arg(script("manager_client.py")).arg("python");
    // CPython's own dict keeps insertion order; ours shows its keys sorted, as the
    // documentation's text does.
    let expected = MANAGER_SESSION.replace(
        "{0.25: None, 1: '1', '2': 2}",
        "{1: '1', '2': 2, 0.25: None}",
    );
    assert_eq!(output("manager_client.py python", cmd), expected);
}

#[test]
fn python_client_uses_a_rust_manager_from_cpython() {
    each_cpython(|py| {
        assert_eq!(
            run_with("python_client", py),
            format!("{MANAGER_SESSION}objects left in the Rust manager: 0\n"),
            "CPython {}",
            py.version
        );
    });
}
