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
