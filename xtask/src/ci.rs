//! `cargo xtask ci`: every check, in the order that fails fastest.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent")
        .to_path_buf()
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

fn has_cargo_subcommand(name: &str) -> bool {
    Command::new(format!("cargo-{name}"))
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs one step, printing its name and duration; a failing step stops CI.
fn step(name: &str, mut cmd: Command) -> Result<(), String> {
    println!("\n==> {name}");
    let start = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: could not start: {e}"))?;
    println!("<== {name}: {:.1}s", start.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("step `{name}` failed ({status})"))
    }
}

/// The crates whose unit tests miri runs: those with tests that need no fork, exec, futex,
/// pidfd, memfd or libc call miri lacks (such tests carry `#[cfg_attr(miri, ignore = ..)]`).
const MIRI_CRATES: [&str; 5] = [
    "multiprocessing-core",
    "multiprocessing-connection",
    "multiprocessing-synchronize",
    "multiprocessing-sharedctypes",
    "multiprocessing-process",
];

/// `cargo +nightly miri test --lib` over [`MIRI_CRATES`]: undefined behaviour and data races
/// in the code that runs in one process (codec, deadlines, code references, frames and the
/// handshake, racy copies). Isolation is off so tests may read `/proc` and open files.
pub(crate) fn verify_miri() -> Result<(), String> {
    let has_miri = Command::new("cargo")
        .args(["+nightly", "miri", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_miri {
        return Err(
            "miri is not installed: run `rustup toolchain install nightly --component \
             miri` and `cargo +nightly miri setup` (.ci/run does)"
                .into(),
        );
    }
    // The rustup proxy picks the toolchain from `+nightly`; the stable cargo running xtask
    // must not be the one called.
    let mut miri = Command::new("cargo");
    miri.current_dir(workspace_root())
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env("MIRIFLAGS", "-Zmiri-disable-isolation")
        .args(["+nightly", "miri", "test"]);
    for krate in MIRI_CRATES {
        miri.args(["-p", krate]);
    }
    miri.arg("--lib");
    step("miri", miri)
}

/// The crates whose lock-free protocols have `loom` models (tests named `loom_*`, built only
/// under `--cfg loom`).
const LOOM_CRATES: &[&str] = &[
    "multiprocessing-core",
    "multiprocessing-synchronize",
    "multiprocessing-queues",
];

/// Runs the `loom` model tests: every interleaving of the lock word, the waiter protocols, the
/// barrier, the heap allocator and the queue ring's event count, up to three preemptions. They
/// build in `target/loom`, so the `--cfg loom` build does not evict the ordinary one.
fn loom_models() -> Result<(), String> {
    let mut loom = cargo();
    loom.args(["test", "--release", "--lib"]);
    for krate in LOOM_CRATES {
        loom.args(["-p", krate]);
    }
    loom.args(["loom_"])
        .env("RUSTFLAGS", "--cfg loom")
        .env("CARGO_TARGET_DIR", workspace_root().join("target/loom"))
        .env(
            "LOOM_MAX_PREEMPTIONS",
            std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "3".into()),
        );
    step("loom models", loom)
}

/// `cargo xtask verify`: the model checks alone (also run by `cargo xtask ci`).
pub(crate) fn verify(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`verify` takes no arguments, got `{a}`"));
    }
    loom_models()
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`ci` takes no arguments, got `{a}`"));
    }
    let start = Instant::now();

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step("fmt", fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    step("clippy", clippy)?;

    // The examples, built as the tests that run them build them (tests/src/examples.rs): done
    // here once, so no test waits on the build within its timeout.
    let mut examples = cargo();
    examples.args([
        "build",
        "-p",
        "multiprocessing",
        "--examples",
        "--features",
        "mpi,tokio",
    ]);
    step("examples", examples)?;

    let mut tests = cargo();
    if has_cargo_subcommand("nextest") {
        tests.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        tests.args(["test", "--workspace", "--all-targets", "--no-fail-fast"]);
    }
    step("tests", tests)?;

    let mut doctests = cargo();
    doctests.args(["test", "--workspace", "--doc"]);
    step("doc tests", doctests)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    step("rustdoc", doc)?;

    verify_miri()?;
    loom_models()?;

    println!("\n==> hosts");
    crate::hosts::run(&[])?;

    if has_cargo_subcommand("deny") {
        let mut deny = cargo();
        deny.args([
            "deny",
            "--all-features",
            "check",
            "licenses",
            "bans",
            "sources",
        ]);
        step("cargo deny", deny)?;
    } else {
        return Err(
            "cargo-deny is not installed: run `cargo install --locked cargo-deny` (.ci/run does)"
                .into(),
        );
    }

    if workspace_root().join("xtask/src/bench").exists() {
        let mut bench = cargo();
        bench.args(["xtask", "bench", "--quick"]);
        step("bench --quick", bench)?;
    }

    println!(
        "\nci: all checks passed in {:.0}s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
