//! The pool examples print what Python's documentation says they print (`pool_map`'s Python
//! original is run beside it; the others end by raising the timeout, so their output is
//! compared with the documented text), and the
//! lost-worker example reports the lost task where CPython's pool hangs; the async service
//! example serves every request through the pool and stops once its logger has them all.

use multiprocessing_tests::examples::{run_example as run, run_python_original};

const SQUARES: &str = "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]";
const TIMEOUT: &str = "the result is not ready in time";

#[test]
fn pool_prints_the_squares_twice_then_100_then_the_timeout() {
    let out = run("pool");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 13, "{out}");
    assert_eq!(lines[0], SQUARES);
    let mut unordered: Vec<u64> = lines[1..11].iter().map(|l| l.parse().unwrap()).collect();
    unordered.sort_unstable();
    assert_eq!(unordered, (0..10).map(|x| x * x).collect::<Vec<u64>>());
    assert_eq!(lines[11..], ["100", TIMEOUT]);
}

#[test]
fn pool_map_prints_the_squares_like_python() {
    assert_eq!(run("pool_map"), "[1, 4, 9]\n");
    assert_eq!(run_python_original("pool_map"), "[1, 4, 9]\n");
}

#[test]
fn pool_api_prints_100_the_squares_0_1_4_then_the_timeout() {
    assert_eq!(
        run("pool_api"),
        format!("100\n{SQUARES}\n0\n1\n4\n{TIMEOUT}\n")
    );
}

#[test]
fn pool_worker_lost_reports_the_task_and_serves_the_next_map() {
    assert_eq!(
        run("pool_worker_lost"),
        "lost: task 5 (items 5..6): killed by SIGKILL\n[0, 1, 4, 9, 16]\n"
    );
}

/// What `calculate` returns for the documentation's twenty tasks, without the worker's name.
fn calculations() -> Vec<String> {
    (0..10)
        .map(|i| format!("mul({i}, 7) = {}", i * 7))
        .chain((0..10).map(|i| format!("plus({i}, 8) = {}", i + 8)))
        .collect()
}

/// `PoolWorker-3 says that mul(2, 7) = 14` without its worker's name (checked).
fn without_worker(line: &str) -> String {
    let (worker, rest) = line
        .split_once(" says that ")
        .unwrap_or_else(|| panic!("not a result: {line:?}"));
    let n = worker
        .strip_prefix("PoolWorker-")
        .unwrap_or_else(|| panic!("not a worker: {worker:?}"));
    assert!(n.parse::<u32>().is_ok(), "{worker}");
    rest.to_string()
}

#[test]
fn pool_demo_prints_what_the_using_pool_example_prints() {
    let out = run("pool_demo");
    let mut sections = out.split("\n\n");
    assert_eq!(sections.next(), Some("Creating pool with 4 processes"));
    for (title, ordered) in [
        ("Ordered results using pool.apply_async():", true),
        ("Ordered results using pool.imap():", true),
        ("Unordered results using pool.imap_unordered():", false),
        (
            "Ordered results using pool.map() --- will block till complete:",
            true,
        ),
    ] {
        let section = sections.next().expect(title);
        let mut lines = section.lines();
        assert_eq!(lines.next(), Some(title));
        let mut got: Vec<String> = lines
            .map(|l| without_worker(l.strip_prefix("\t ").expect("a tab and a space")))
            .collect();
        let mut expected = calculations();
        if !ordered {
            got.sort();
            expected.sort();
        }
        assert_eq!(got, expected, "{title}");
    }
    assert_eq!(
        sections.next(),
        Some(
            "Testing error handling:\n\
             \tGot ZeroDivisionError as expected from pool.apply()\n\
             \tGot ZeroDivisionError as expected from pool.map()\n\
             \tGot ZeroDivisionError as expected from list(pool.imap())\n\
             \tGot ZeroDivisionError as expected from IMapIterator.next()"
        )
    );
    // Dots while waiting, then each result on its own line.
    let section = sections.next().expect("the get timeout");
    let rest = section
        .strip_prefix("Testing ApplyResult.get() with timeout: ")
        .expect("the get timeout's title");
    let (dots, result) = rest.split_once("\n\t").expect("a result");
    assert!(dots.chars().all(|c| c == '.'), "{dots:?}");
    assert_eq!(without_worker(result), calculations()[0]);
    let section = sections.next().expect("the next timeout");
    let rest = section
        .strip_prefix("Testing IMapIterator.next() with timeout: ")
        .expect("the next timeout's title");
    let got: Vec<String> = rest
        .split("\n\t")
        .skip(1)
        .map(|l| without_worker(l.trim_end_matches('.')))
        .collect();
    assert_eq!(got, calculations());
    assert_eq!(sections.next(), Some(""));
    assert_eq!(sections.next(), None);
}

#[test]
fn async_service_logs_every_request_then_prints_each_clients_answers() {
    let triangle = |n: u64| n * (n + 1) / 2;
    let mut expected = String::new();
    for client in 0..3u32 {
        for request in 0..3u32 {
            let n = 10u64.pow(client + 1) * u64::from(request + 1);
            expected += &format!(
                "logger: client {client} request {request}: triangle({n}) = {}\n",
                triangle(n)
            );
        }
    }
    expected += "logger: 9 requests recorded\n";
    expected += "client 0: [55, 210, 465]\n";
    expected += "client 1: [5050, 20100, 45150]\n";
    expected += "client 2: [500500, 2001000, 4501500]\n";
    expected += "server stopped after 9 requests\n";
    assert_eq!(run("async_service"), expected);
}
