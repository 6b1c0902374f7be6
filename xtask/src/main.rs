//! Task runner for the workspace: `cargo xtask ci` runs every check, `cargo xtask bench` the benchmarks.

mod bench;
mod ci;
mod hosts;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci                 run every check CI runs: fmt, clippy, tests, doc tests, rustdoc, miri, loom models, hosts, cargo-deny, bench --quick
  miri               run only CI's miri step (the unit tests that need no fork, under miri)
  verify             run the loom model tests (`--cfg loom`, LOOM_MAX_PREEMPTIONS=3 unless set)
  hosts              run an MpiPool job across three network namespaces (root; skipped otherwise)
  bench [--quick] [--filter PATTERN] [--reps N] [--features F] [--python PY]
                     measure each operation beside CPython and a raw OS baseline
                     (`cargo xtask bench --help` for details)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("miri") => ci::verify_miri(),
        Some("bench") => bench::run(&args[1..]),
        Some("verify") => ci::verify(&args[1..]),
        Some("hosts") => hosts::run(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
