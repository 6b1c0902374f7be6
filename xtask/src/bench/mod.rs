//! `cargo xtask bench`: every row measured for ours, CPython and a raw OS baseline, interleaved.
//!
//! `mpbench` (the `multiprocessing-bench` package, built in release) and
//! `bench/python/mpbench.py` each run one measurement per call and print one JSON line. This
//! module asks `mpbench list` for the rows, runs the repetitions of each row and placement in
//! turn (ours, CPython, raw, ours, ...), so a slow drift of the machine hits all three alike, and
//! reduces each run to the median of its samples and each column to median, min and max.

mod json;
mod stats;
mod svg;
mod table;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use serde_json::Value;

use crate::ci::{cargo, workspace_root};
use stats::Summary;

const USAGE: &str = "usage: cargo xtask bench [--quick] [--filter PATTERN[,PATTERN...]] [--reps N]
                         [--features FEATURES] [--python PYTHON]

  --quick      a smoke run (well under a minute): fewer rows, placements and samples
  --filter     keep rows whose `name` or `name/placement` contains a pattern
  --reps       repetitions per column (default 7, quick 3)
  --features   only these cargo features of multiprocessing-bench (default: all), e.g. ours-connection,ours-process
  --python     the CPython interpreter (default python3)

Writes target/bench/results.json, results.md and ratios.svg.";

/// Command-line options.
#[derive(Debug, Default)]
struct Options {
    quick: bool,
    filters: Vec<String>,
    reps: Option<usize>,
    features: Option<String>,
    python: Option<String>,
    help: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("`{a}` needs a value\n\n{USAGE}"))
        };
        match a.as_str() {
            "--quick" => o.quick = true,
            "--filter" => o.filters.extend(
                value()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            ),
            "--reps" => {
                let v = value()?;
                let n = v
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("`--reps` needs a positive number, got `{v}`"))?;
                o.reps = Some(n);
            }
            "--features" => o.features = Some(value()?),
            "--python" => o.python = Some(value()?),
            "-h" | "--help" => o.help = true,
            other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    Ok(o)
}

/// Operations per sample, samples per run and warm-up operations.
#[derive(Clone, Copy, Debug)]
struct Effort {
    iters: u64,
    samples: u64,
    warmup: u64,
}

/// A goal for the "ours" column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Target {
    /// ours / raw at most this (time rows).
    AtMostRaw(f64),
    /// ours / raw at least this (throughput rows).
    AtLeastRaw(f64),
    /// At least this many times faster than CPython.
    FasterThanCpython(f64),
    /// At least this many times faster than the row's peer library.
    FasterThanPeer(f64),
}

impl Target {
    /// Short text for the table, e.g. `<=1.3x raw`.
    pub(crate) fn describe(self) -> String {
        match self {
            Target::AtMostRaw(f) => format!("<={f}x raw"),
            Target::AtLeastRaw(f) => format!(">={f}x raw"),
            Target::FasterThanCpython(f) => format!(">={f}x faster than CPython"),
            Target::FasterThanPeer(f) => format!(">={f}x faster than the peer"),
        }
    }

    /// Whether `row` meets the target; `None` when a column it needs is missing.
    pub(crate) fn met(self, row: &RowResult) -> Option<bool> {
        match self {
            Target::AtMostRaw(f) => Some(row.ratio(Impl::Ours, Impl::Raw)? <= f),
            Target::AtLeastRaw(f) => Some(row.ratio(Impl::Ours, Impl::Raw)? >= f),
            Target::FasterThanCpython(f) => Some(row.speedup_over_cpython()? >= f),
            Target::FasterThanPeer(f) => Some(row.speedup_over(Impl::Peer)? >= f),
        }
    }
}

/// A row as `mpbench list` describes it.
#[derive(Clone, Debug)]
struct RowSpec {
    name: String,
    about: String,
    unit: String,
    higher_is_better: bool,
    placements: Vec<String>,
    quick_placements: Vec<String>,
    full: Effort,
    quick: Effort,
    targets: Vec<Target>,
    ours: bool,
    ours_feature: String,
    /// The peer library's name, whether `mpbench` was built with it, and its feature.
    peer: Option<(String, bool, String)>,
}

fn parse_rows(list: &Value) -> Result<Vec<RowSpec>, String> {
    let bad = |what: &str| format!("`mpbench list`: bad or missing `{what}`");
    let s = |v: &Value, k: &str| v[k].as_str().map(String::from).ok_or_else(|| bad(k));
    let names = |v: &Value, k: &str| -> Result<Vec<String>, String> {
        v[k].as_array()
            .ok_or_else(|| bad(k))?
            .iter()
            .map(|p| p.as_str().map(String::from).ok_or_else(|| bad(k)))
            .collect()
    };
    let effort = |v: &Value, k: &str| -> Result<Effort, String> {
        let n = |f: &str| v[k][f].as_u64().ok_or_else(|| bad(&format!("{k}.{f}")));
        Ok(Effort {
            iters: n("iters")?,
            samples: n("samples")?,
            warmup: n("warmup")?,
        })
    };
    let rows = list["rows"].as_array().ok_or_else(|| bad("rows"))?;
    rows.iter()
        .map(|r| {
            let targets = r["targets"]
                .as_array()
                .ok_or_else(|| bad("targets"))?
                .iter()
                .map(|t| {
                    let f = t["factor"].as_f64().ok_or_else(|| bad("factor"))?;
                    match t["kind"].as_str() {
                        Some("at_most_raw") => Ok(Target::AtMostRaw(f)),
                        Some("at_least_raw") => Ok(Target::AtLeastRaw(f)),
                        Some("faster_than_cpython") => Ok(Target::FasterThanCpython(f)),
                        Some("faster_than_peer") => Ok(Target::FasterThanPeer(f)),
                        _ => Err(bad("kind")),
                    }
                })
                .collect::<Result<_, _>>()?;
            Ok(RowSpec {
                name: s(r, "name")?,
                about: s(r, "about")?,
                unit: s(r, "unit")?,
                higher_is_better: r["higher_is_better"]
                    .as_bool()
                    .ok_or_else(|| bad("higher_is_better"))?,
                placements: names(r, "placements")?,
                quick_placements: names(r, "quick_placements")?,
                full: effort(r, "full")?,
                quick: effort(r, "quick")?,
                targets,
                ours: r["ours"].as_bool().ok_or_else(|| bad("ours"))?,
                ours_feature: s(r, "ours_feature")?,
                peer: match &r["peer"] {
                    Value::Null => None,
                    p => Some((
                        s(p, "name")?,
                        p["available"]
                            .as_bool()
                            .ok_or_else(|| bad("peer.available"))?,
                        s(p, "feature")?,
                    )),
                },
            })
        })
        .collect()
}

/// The columns of a row: three in every row, and a peer library in a few.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Impl {
    Ours,
    Cpython,
    Raw,
    Peer,
}

impl Impl {
    const ALL: [Impl; 4] = [Impl::Ours, Impl::Cpython, Impl::Raw, Impl::Peer];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::Cpython => "cpython",
            Impl::Raw => "raw",
            Impl::Peer => "peer",
        }
    }
}

/// The peer column of a row: the library's name and its measurement.
#[derive(Clone, Debug)]
pub(crate) struct PeerColumn {
    pub(crate) name: String,
    pub(crate) column: Column,
}

/// One column of a result row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Column {
    /// Median, min and max over the successful repetitions.
    Measured(Summary),
    /// Not measurable here (feature off, one CPU, no Python), with the reason.
    Unavailable(String),
    /// Every repetition failed; the last error.
    Failed(String),
}

impl Column {
    pub(crate) fn summary(&self) -> Option<&Summary> {
        match self {
            Column::Measured(s) => Some(s),
            _ => None,
        }
    }
}

/// One row of the table: a row measured in one placement.
#[derive(Clone, Debug)]
pub(crate) struct RowResult {
    pub(crate) name: String,
    pub(crate) about: String,
    pub(crate) placement: String,
    pub(crate) unit: String,
    pub(crate) higher_is_better: bool,
    pub(crate) targets: Vec<Target>,
    pub(crate) ours: Column,
    pub(crate) cpython: Column,
    pub(crate) raw: Column,
    /// The peer library's column, for the rows that have one.
    pub(crate) peer: Option<PeerColumn>,
    /// Repetitions that failed, all columns together.
    pub(crate) failed_runs: usize,
}

impl RowResult {
    /// Column `i`; `None` for the peer of a row without one.
    pub(crate) fn column(&self, i: Impl) -> Option<&Column> {
        match i {
            Impl::Ours => Some(&self.ours),
            Impl::Cpython => Some(&self.cpython),
            Impl::Raw => Some(&self.raw),
            Impl::Peer => self.peer.as_ref().map(|p| &p.column),
        }
    }

    fn median(&self, i: Impl) -> Option<f64> {
        self.column(i)?.summary().map(|s| s.median)
    }

    /// `a`'s median over `b`'s, as the table prints it (ours/CPython, ours/raw).
    pub(crate) fn ratio(&self, a: Impl, b: Impl) -> Option<f64> {
        Some(self.median(a)? / self.median(b)?)
    }

    /// How many times faster ours is than CPython, whatever the unit's direction.
    pub(crate) fn speedup_over_cpython(&self) -> Option<f64> {
        self.speedup_over(Impl::Cpython)
    }

    /// How many times faster ours is than column `i`, whatever the unit's direction.
    pub(crate) fn speedup_over(&self, i: Impl) -> Option<f64> {
        let r = self.ratio(Impl::Ours, i)?;
        Some(if self.higher_is_better { r } else { 1.0 / r })
    }

    /// How many times slower than the raw baseline `i` is, whatever the unit's direction.
    pub(crate) fn cost_over_raw(&self, i: Impl) -> Option<f64> {
        let r = self.ratio(i, Impl::Raw)?;
        Some(if self.higher_is_better { 1.0 / r } else { r })
    }

    /// Unpinned rows are a reference only: their figures flip between scheduler modes.
    pub(crate) fn reference_only(&self) -> bool {
        self.placement == "unpinned"
    }

    /// "met", "missed" or "n/a" for each target.
    pub(crate) fn verdicts(&self) -> Vec<(String, &'static str)> {
        self.targets
            .iter()
            .map(|t| {
                let v = match t.met(self) {
                    Some(true) => "met",
                    Some(false) => "missed",
                    None => "n/a",
                };
                (t.describe(), v)
            })
            .collect()
    }
}

/// The outcome of one run of a measuring program.
enum Outcome {
    Samples(Vec<f64>),
    Unavailable(String),
    Failed(String),
}

/// Runs `mpbench` and the Python script, one measurement at a time.
struct Runner {
    mpbench: PathBuf,
    python: Option<String>,
    script: PathBuf,
    out_dir: PathBuf,
    timeout: Duration,
}

impl Runner {
    fn run(&self, imp: Impl, row: &RowSpec, placement: &str, e: Effort) -> Outcome {
        let mut cmd = match imp {
            Impl::Ours | Impl::Raw | Impl::Peer => {
                let mut c = Command::new(&self.mpbench);
                c.args([&row.name, imp.name(), placement]);
                c
            }
            Impl::Cpython => {
                let Some(python) = &self.python else {
                    return Outcome::Unavailable("no python3".into());
                };
                let mut c = Command::new(python);
                c.arg(&self.script).args([&row.name, "cpython", placement]);
                c
            }
        };
        cmd.args(["--iters", &e.iters.to_string()])
            .args(["--samples", &e.samples.to_string()])
            .args(["--warmup", &e.warmup.to_string()]);
        match self.run_command(cmd) {
            Ok(line) => parse_outcome(&line, &row.unit),
            Err(e) => Outcome::Failed(e),
        }
    }

    /// Runs `cmd` in its own process group with a deadline; its last stdout line.
    fn run_command(&self, mut cmd: Command) -> Result<String, String> {
        use std::os::unix::process::CommandExt;
        let out_path = self.out_dir.join("run.stdout");
        let err_path = self.out_dir.join("run.stderr");
        // Files, not pipes: a straggling grandchild holding a pipe open could block the read.
        let out = File::create(&out_path).map_err(|e| e.to_string())?;
        let err = File::create(&err_path).map_err(|e| e.to_string())?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
        let group = Pid::from_raw(child.id() as i32).expect("a child's pid is positive");
        let (done, wait_done) = mpsc::channel::<()>();
        let timeout = self.timeout;
        // A watchdog thread rather than polling: nothing wakes up on the measured CPUs.
        let watchdog = std::thread::spawn(move || {
            let timed_out = wait_done.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout);
            if timed_out {
                let _ = rustix::process::kill_process_group(group, Signal::KILL);
            }
            timed_out
        });
        let status = child.wait();
        let _ = done.send(());
        let timed_out = watchdog.join().unwrap_or(false);
        // Whatever the run left behind (a forkserver, a helper child) must not run into the next.
        let _ = rustix::process::kill_process_group(group, Signal::KILL);
        let status = status.map_err(|e| e.to_string())?;
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        if timed_out {
            return Err(format!("timed out after {}s {tail}", timeout.as_secs()));
        }
        if !status.success() {
            return Err(format!("{status}: {tail}"));
        }
        let stdout = std::fs::read_to_string(&out_path).map_err(|e| e.to_string())?;
        stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(String::from)
            .ok_or_else(|| format!("no output {tail}"))
    }
}

fn parse_outcome(line: &str, unit: &str) -> Outcome {
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed(format!("bad JSON ({e}): {line}")),
    };
    if let Some(why) = v["unavailable"].as_str() {
        return Outcome::Unavailable(why.into());
    }
    if v["unit"].as_str() != Some(unit) {
        return Outcome::Failed(format!("expected unit {unit}: {line}"));
    }
    let samples: Option<Vec<f64>> = v["samples"]
        .as_array()
        .and_then(|a| a.iter().map(Value::as_f64).collect());
    match samples {
        Some(s) if !s.is_empty() && s.iter().all(|x| x.is_finite() && *x > 0.0) => {
            Outcome::Samples(s)
        }
        _ => Outcome::Failed(format!("bad samples: {line}")),
    }
}

/// The column being gathered for one row and placement.
struct Gather {
    reps: Vec<f64>,
    unavailable: Option<String>,
    last_error: Option<String>,
}

impl Gather {
    fn finish(self) -> Column {
        if let Some(why) = self.unavailable {
            Column::Unavailable(why)
        } else if let Some(s) = Summary::of(&self.reps) {
            Column::Measured(s)
        } else {
            Column::Failed(self.last_error.unwrap_or_else(|| "not run".into()))
        }
    }
}

fn selected(filters: &[String], name: &str, placement: &str) -> bool {
    let label = format!("{name}/{placement}");
    filters.is_empty() || filters.iter().any(|f| label.contains(f.as_str()))
}

fn measure_row(
    runner: &Runner,
    row: &RowSpec,
    placement: &str,
    effort: Effort,
    reps: usize,
) -> RowResult {
    let unavailable = |i: Impl| match (i, &row.peer) {
        (Impl::Ours, _) if !row.ours => {
            Some(format!("built without feature `{}`", row.ours_feature))
        }
        (Impl::Peer, Some((_, false, feature))) => {
            Some(format!("built without feature `{feature}`"))
        }
        _ => None,
    };
    let columns: Vec<Impl> = Impl::ALL
        .into_iter()
        .filter(|&i| i != Impl::Peer || row.peer.is_some())
        .collect();
    let mut cols: Vec<Gather> = columns
        .iter()
        .map(|&i| Gather {
            reps: Vec::new(),
            unavailable: unavailable(i),
            last_error: None,
        })
        .collect();
    let mut failed_runs = 0;
    for _ in 0..reps {
        for (i, col) in columns.iter().zip(cols.iter_mut()) {
            if col.unavailable.is_some() {
                continue;
            }
            match runner.run(*i, row, placement, effort) {
                Outcome::Samples(s) => col.reps.push(stats::median(&s).expect("not empty")),
                Outcome::Unavailable(why) => col.unavailable = Some(why),
                Outcome::Failed(e) => {
                    failed_runs += 1;
                    eprintln!("  warning: {} {placement} {}: {e}", row.name, i.name());
                    col.last_error = Some(e);
                }
            }
        }
    }
    let mut cols = cols.into_iter().map(Gather::finish);
    RowResult {
        name: row.name.clone(),
        about: row.about.clone(),
        placement: placement.into(),
        unit: row.unit.clone(),
        higher_is_better: row.higher_is_better,
        targets: row.targets.clone(),
        ours: cols.next().expect("three columns"),
        cpython: cols.next().expect("three columns"),
        raw: cols.next().expect("three columns"),
        peer: row.peer.as_ref().map(|(name, _, _)| PeerColumn {
            name: name.clone(),
            column: cols.next().expect("a peer column"),
        }),
        failed_runs,
    }
}

/// Facts about the machine that explain the numbers (the Python version is added later).
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    let virtual_machine = cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .ok();
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    serde_json::json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "load_average_1min_at_start": load_average(),
        "cpu_model": model,
        "virtual_machine": virtual_machine,
        "kernel": kernel,
        "rustc": rustc,
    })
}

/// The version of `python`, e.g. `3.11.7`.
fn python_version(python: Option<&str>) -> Option<String> {
    let out = Command::new(python?)
        .args(["-c", "import sys; print(sys.version.split()[0])"])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The one-minute load average, from `/proc/loadavg`.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Finds a Python with `multiprocessing`, or says why there is none.
fn find_python(wanted: Option<&str>) -> Result<String, String> {
    let python = wanted.unwrap_or("python3");
    match Command::new(python)
        .args(["-c", "import multiprocessing.connection"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(python.into()),
        Ok(s) => Err(format!("`{python}` cannot import multiprocessing ({s})")),
        Err(e) => Err(format!("`{python}` not found ({e})")),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn build_mpbench(features: Option<&str>) -> Result<PathBuf, String> {
    let mut c = cargo();
    c.args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "multiprocessing-bench",
        "--bin",
        "mpbench",
    ]);
    if let Some(f) = features {
        // Exactly the families named, so one crate can be measured while others are rewritten.
        c.args(["--no-default-features", "--features", f]);
    }
    let status = c.status().map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("building mpbench failed ({status})"));
    }
    Ok(target_dir().join("release/mpbench"))
}

fn list_rows(mpbench: &Path) -> Result<Vec<RowSpec>, String> {
    let out = Command::new(mpbench)
        .arg("list")
        .output()
        .map_err(|e| format!("mpbench list: {e}"))?;
    if !out.status.success() {
        return Err(format!("mpbench list failed ({})", out.status));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("mpbench list: {e}"))?;
    parse_rows(&v)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let opts = parse_args(args)?;
    if opts.help {
        println!("{USAGE}");
        return Ok(());
    }
    let start = Instant::now();
    let mpbench = build_mpbench(opts.features.as_deref())?;
    let machine = machine();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Only a warning: the build just done raises the one-minute average too.
    if let Some(load) = load_average().filter(|&l| l > 0.75 * cpus as f64) {
        eprintln!(
            "warning: load average {load:.1} on {cpus} CPUs: other work is running and the \
             numbers will be noisy"
        );
    }
    let rows = list_rows(&mpbench)?;
    let python = match find_python(opts.python.as_deref()) {
        Ok(p) => Some(p),
        Err(why) => {
            eprintln!("warning: {why}; the CPython column will be n/a");
            None
        }
    };
    let out_dir = target_dir().join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let runner = Runner {
        mpbench,
        python: python.clone(),
        script: workspace_root().join("bench/python/mpbench.py"),
        out_dir: out_dir.clone(),
        timeout: Duration::from_secs(if opts.quick { 30 } else { 120 }),
    };
    let reps = opts.reps.unwrap_or(if opts.quick { 3 } else { 7 });

    let mut plan = Vec::new();
    for row in &rows {
        let (placements, effort) = if opts.quick {
            (&row.quick_placements, row.quick)
        } else {
            (&row.placements, row.full)
        };
        for p in placements {
            if selected(&opts.filters, &row.name, p) {
                plan.push((row, p.as_str(), effort));
            }
        }
    }
    if plan.is_empty() {
        return Err(format!("no row matches {:?}", opts.filters));
    }
    println!(
        "bench: {} rows, {reps} repetitions each, interleaved ours/CPython/raw{}",
        plan.len(),
        if opts.quick { " (quick)" } else { "" }
    );

    let mut results = Vec::new();
    for (row, placement, effort) in plan {
        let t = Instant::now();
        let r = measure_row(&runner, row, placement, effort, reps);
        println!(
            "  {:<18} {:<9} {}  ({:.1}s)",
            r.name,
            r.placement,
            table::progress(&r),
            t.elapsed().as_secs_f64()
        );
        results.push(r);
    }

    let mut machine = machine;
    machine["python"] = python_version(python.as_deref()).into();
    let md = table::render(&results);
    println!("\n{md}");
    let files = [
        ("results.md", md.clone()),
        (
            "results.json",
            serde_json::to_string_pretty(&json::results(&results, &machine, opts.quick))
                .expect("JSON values serialize"),
        ),
    ];
    for (name, text) in files {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    svg::chart(&results, &out_dir.join("ratios.svg"))?;
    let _ = std::fs::remove_file(out_dir.join("run.stdout"));
    let _ = std::fs::remove_file(out_dir.join("run.stderr"));
    println!(
        "bench: wrote {}/{{results.json,results.md,ratios.svg}} in {:.0}s",
        out_dir.display(),
        start.elapsed().as_secs_f64()
    );

    // Fail only when a column that should run could not run at all.
    let broken: Vec<String> = results
        .iter()
        .flat_map(|r| {
            Impl::ALL.iter().filter_map(move |&i| match r.column(i)? {
                Column::Failed(e) => Some(format!("{} {} {}: {e}", r.name, r.placement, i.name())),
                _ => None,
            })
        })
        .collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "rows that could not run:\n  {}",
            broken.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_name_or_name_and_placement() {
        let f = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(selected(&[], "pipe-1mib", "split"));
        assert!(selected(&f(&["pipe"]), "pipe-1mib", "split"));
        assert!(selected(&f(&["x", "/split"]), "pipe-1mib", "split"));
        assert!(!selected(&f(&["/one-cpu"]), "pipe-1mib", "split"));
    }

    #[test]
    fn outcome_parses_samples_and_unavailable_and_rejects_bad_units() {
        assert!(matches!(
            parse_outcome(r#"{"unit":"us","samples":[1.0,2.0]}"#, "us"),
            Outcome::Samples(s) if s == [1.0, 2.0]
        ));
        assert!(matches!(
            parse_outcome(r#"{"unavailable":"needs two CPUs"}"#, "us"),
            Outcome::Unavailable(_)
        ));
        assert!(matches!(
            parse_outcome(r#"{"unit":"ms","samples":[1.0]}"#, "us"),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            parse_outcome(r#"{"unit":"us","samples":[]}"#, "us"),
            Outcome::Failed(_)
        ));
    }
}
