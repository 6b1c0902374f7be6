//! Running CPython from the examples that work with it: the interpreter is `$PYTHON`
//! (`python3` when unset), and their Python scripts live beside this file.

// Each example uses part of this module.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A command running CPython.
pub(crate) fn interpreter() -> Command {
    Command::new(std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into()))
}

/// A command running `name`, a script of `examples/python/`, with CPython.
pub(crate) fn script(name: &str) -> Command {
    let mut c = interpreter();
    c.arg(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/python")
            .join(name),
    );
    c
}

/// The version of CPython (`3.11.7`), or `None` when it does not run.
pub(crate) fn version() -> Option<String> {
    let out = interpreter()
        .args(["-c", "import platform; print(platform.python_version())"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
