//! Runs the facade's process examples (twins of Python's documentation) and compares their
//! output with what Python prints.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use multiprocessing::process::Error;
use multiprocessing::{StartMethod, get_context};

/// Builds the facade's examples with this test's profile and target directory (a no-op when
/// they are fresh) and returns their directory.
fn examples_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Test binaries live in <target>/<profile>/deps; examples in <target>/<profile>/examples.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
            "debug" => "dev",
            other => other,
        };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "multiprocessing",
                "--examples",
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
    })
    .clone()
}

fn run(name: &str) -> String {
    let out = Command::new(examples_dir().join(name))
        .output()
        .expect("example runs");
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn hello_greets_bob() {
    assert_eq!(run("hello"), "hello bob\n");
}

#[test]
fn info_prints_module_and_process_ids() {
    let out = run("info");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 9, "{out}");
    assert_eq!(lines[0], "main line");
    assert_eq!(lines[1], "module name: __main__");
    assert_eq!(lines[4], "function f");
    assert_eq!(lines[5], "module name: __mp_main__");
    assert_eq!(lines[8], "hello bob");
    let number = |line: &str, prefix: &str| -> u32 {
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?}"))
            .parse()
            .unwrap()
    };
    let main_pid = number(lines[3], "process id: ");
    number(lines[2], "parent process: ");
    let child_parent = number(lines[6], "parent process: ");
    let child_pid = number(lines[7], "process id: ");
    assert_ne!(child_pid, main_pid);
    // With the default forkserver the child's OS parent is the server, a child of main.
    assert_ne!(child_parent, child_pid);
}

#[test]
fn terminate_shows_each_state_like_python() {
    let out = run("terminate");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    let head = "<SpawnProcess name='SpawnProcess-1' ";
    assert!(
        lines[0].starts_with(head) && lines[0].ends_with(" initial> False"),
        "{out}"
    );
    assert!(
        lines[1].contains(" pid=") && lines[1].ends_with(" started> True"),
        "{out}"
    );
    assert!(
        lines[2].ends_with(" stopped exitcode=-SIGTERM> False"),
        "{out}"
    );
    assert_eq!(lines[3], lines[2]);
    assert_eq!(lines[4], "True");
}

fn nothing() {}

#[test]
fn another_program_built_from_this_code_is_refused_by_fingerprint() {
    let other = examples_dir().join("hello");
    for m in [StartMethod::Spawn, StartMethod::ForkServer] {
        let ctx = get_context(m);
        ctx.set_executable(&other);
        let err = ctx.process(nothing, ()).start().unwrap_err();
        let Error::FingerprintMismatch { executable, detail } = &err else {
            panic!("{m}: expected a fingerprint mismatch, got {err}");
        };
        assert_eq!(executable, &other);
        assert!(
            detail.contains("this program has") && detail.contains("the executable has"),
            "{detail}"
        );
    }
}
