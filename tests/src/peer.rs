//! Peers that announce where they listen: a child process prints one line such as
//! `listening on ADDRESS` before it accepts, and the test reads it to know where to connect.

use std::io::{BufRead, BufReader, Read};

/// Reads the first line from `stream` and returns what follows `prefix` in it.
///
/// Panics with the line it got when the peer said something else (or nothing).
pub fn read_announcement(stream: impl Read, prefix: &str) -> String {
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("read the peer's first line");
    line.trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected a line starting {prefix:?}, got {line:?}"))
        .to_string()
}
