//! Running the facade's examples from a test: built once per test binary, with the test's own
//! profile and target directory, so a test never runs a stale example; and running the Python
//! originals they twin (`tests/python/docs/`), so a test compares with what CPython prints.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Path of an example binary of the facade crate, building the examples once.
pub fn example(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        // Test binaries live in <target>/<profile>/deps; examples in <target>/<profile>/examples.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target profile dir");
        let target_dir = profile_dir.parent().expect("target dir");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "multiprocessing",
                "--examples",
                // The MPI pool's example too (the workspace builds against MPI already), and
                // the async ones.
                "--features",
                "mpi,tokio",
                "--profile",
                profile,
            ])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the examples failed");
        profile_dir.join("examples")
    });
    let path = dir.join(name);
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// Runs an example to completion and returns its standard output; a failure panics with its
/// standard error.
pub fn run_example(name: &str) -> String {
    let out = Command::new(example(name)).output().expect("example runs");
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("example output is UTF-8")
}

/// Runs the Python original of a documentation example, `tests/python/docs/<name>.py`, with
/// `python3`, and returns its standard output: what the example's twin must print.
pub fn run_python_original(name: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python/docs")
        .join(format!("{name}.py"));
    let out = Command::new("python3")
        .arg(&script)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("Python's output is UTF-8")
}
