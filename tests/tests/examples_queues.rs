//! The queue examples, twins of Python's documentation, print what Python prints.

use multiprocessing_tests::examples::run_example as run;

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
