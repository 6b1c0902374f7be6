//! The pool examples print what Python's documentation says they print (the Python originals
//! end by raising the timeout, so their output is compared with the documented text), and the
//! lost-worker example reports the lost task where CPython's pool hangs.

use multiprocessing_tests::examples::run_example as run;

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
