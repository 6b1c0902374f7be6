//! The queue examples, twins of Python's documentation, print what Python prints (the Python
//! originals are run beside them where their output is fixed; where it is random, the same
//! check holds for both).

use std::collections::BTreeMap;

use multiprocessing_tests::examples::{run_example as run, run_python_original};

#[test]
fn queue_prints_the_list_the_child_put() {
    assert_eq!(run("queue"), "[42, None, 'hello']\n");
}

#[test]
fn joinable_queue_works_every_item_then_completes() {
    let mut expected: String = (0..30)
        .map(|i| format!("Working on {i}\nFinished {i}\n"))
        .collect();
    expected.push_str("All work completed\n");
    assert_eq!(run("joinable_queue"), expected);
}

#[test]
fn queue_deadlock_finishes() {
    assert_eq!(
        run("queue_deadlock"),
        "joined before draining: exit code 0\ngot 1000000 bytes\n"
    );
}

#[test]
fn start_method_and_context_print_hello_like_python() {
    for name in ["start_method", "context"] {
        assert_eq!(run(name), "hello\n", "{name}");
        assert_eq!(run_python_original(name), "hello\n", "{name}.py");
    }
}

/// One result line of `worker_queues`: `\t Process-3 says that mul(4, 7) = 28`.
struct WorkerResult {
    process: u32,
    func: String,
    args: (i64, i64),
    value: i64,
}

fn parse_result(line: &str) -> Option<WorkerResult> {
    let rest = line.strip_prefix("\t Process-")?;
    let (process, rest) = rest.split_once(" says that ")?;
    let (func, rest) = rest.split_once('(')?;
    let (args, value) = rest.split_once(") = ")?;
    let (a, b) = args.split_once(", ")?;
    Some(WorkerResult {
        process: process.parse().ok()?,
        func: func.to_string(),
        args: (a.parse().ok()?, b.parse().ok()?),
        value: value.parse().ok()?,
    })
}

/// The shape of the worker example's output, which CPython's output has too: a heading, 20
/// products `mul(i, 7)` for i in 0..20 in any order, then 10 sums `plus(i, 8)` for i in 0..10,
/// each computed right and by one of four workers.
fn check_worker_results(out: &str, who: &str) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 31, "{who}:\n{out}");
    assert_eq!(lines[0], "Unordered results:", "{who}");
    let mut by_process = BTreeMap::new();
    for (batch, func, b, count) in [(&lines[1..21], "mul", 7, 20), (&lines[21..], "plus", 8, 10)] {
        let mut firsts: Vec<i64> = batch
            .iter()
            .map(|line| {
                let r = parse_result(line).unwrap_or_else(|| panic!("{who}: {line:?}"));
                assert_eq!(r.func, func, "{who}: {line:?}");
                assert_eq!(r.args.1, b, "{who}: {line:?}");
                let right = if func == "mul" {
                    r.args.0 * b
                } else {
                    r.args.0 + b
                };
                assert_eq!(r.value, right, "{who}: {line:?}");
                assert!((1..=4).contains(&r.process), "{who}: {line:?}");
                *by_process.entry(r.process).or_insert(0) += 1;
                r.args.0
            })
            .collect();
        firsts.sort_unstable();
        assert_eq!(firsts, (0..count).collect::<Vec<i64>>(), "{who}: {func}");
    }
    assert_eq!(by_process.values().sum::<i32>(), 30);
}

#[test]
fn worker_queues_prints_every_result_once_like_python() {
    check_worker_results(&run("worker_queues"), "worker_queues");
    check_worker_results(&run_python_original("worker_queues"), "worker_queues.py");
}
