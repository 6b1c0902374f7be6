//! The pool on MPI ranks, across real MPI jobs: each test starts `mpirun` (or the scenario
//! binary alone, which spawns its workers) on `src/bin/mpi_scenarios.rs`, whose rank 0 checks
//! the pool's calls and prints an `ok ...` line per check.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A generous limit for one MPI job on a loaded 2-core machine (a job takes about a second).
const JOB_LIMIT: Duration = Duration::from_secs(120);

const SCENARIOS: &str = env!("CARGO_BIN_EXE_mpi_scenarios");
const OTHER_BUILD: &str = env!("CARGO_BIN_EXE_mpi_other_build");

/// Root may run MPI jobs only when it says so (OpenMPI refuses by default).
fn allow_root(cmd: &mut Command) -> &mut Command {
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
}

/// `mpirun` with more ranks than cores allowed, and its own time limit.
fn mpirun() -> Command {
    let mut cmd = Command::new("mpirun");
    allow_root(&mut cmd).args([
        "--oversubscribe",
        "--timeout",
        &JOB_LIMIT.as_secs().to_string(),
    ]);
    cmd
}

/// Runs `cmd` to its end, killing it after [`JOB_LIMIT`].
fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun or the scenario binary starts (is openmpi-bin installed?)");
    let deadline = Instant::now() + JOB_LIMIT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the MPI job ran longer than {JOB_LIMIT:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// Runs the `calls` scenario and returns its `ok` lines, failing with its output otherwise.
fn calls(cmd: &mut Command) -> Vec<String> {
    calls_output(run(cmd))
}

/// The `ok` lines of a finished `calls` job, failing with its output if it failed.
fn calls_output(out: Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("ok closed"),
        "the job failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_string).collect()
}

fn line<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {lines:?}"))
}

#[test]
fn calls_on_one_worker_rank_give_ordered_and_complete_results() {
    let lines = calls(mpirun().args(["-n", "2", SCENARIOS, "calls"]));
    assert_eq!(line(&lines, "ok workers"), "ok workers 1 Ranks");
    assert_eq!(line(&lines, "ok map ordered"), "ok map ordered over 1");
    assert!(line(&lines, "ok panic").contains("three is not allowed"));
    assert_eq!(line(&lines, "ok closed"), "ok closed spawned=false");
}

#[test]
fn calls_on_two_worker_ranks_spread_over_both() {
    let out = run(mpirun().args(["-n", "3", SCENARIOS, "calls"]));
    // Under mpirun every rank runs `main` up to the pool.
    assert_eq!(mains(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));
    let lines = calls_output(out);
    assert_eq!(line(&lines, "ok workers"), "ok workers 2 Ranks");
    assert_eq!(line(&lines, "ok map ordered"), "ok map ordered over 2");
    line(&lines, "ok imap imap_unordered");
    line(&lines, "ok goes on");
}

#[test]
fn calls_on_three_worker_ranks_spread_over_all() {
    let lines = calls(mpirun().args(["-n", "4", SCENARIOS, "calls"]));
    assert_eq!(line(&lines, "ok workers"), "ok workers 3 Ranks");
    assert_eq!(line(&lines, "ok map ordered"), "ok map ordered over 3");
}

/// How many processes ran the scenario binary's `main`.
fn mains(out: &Output) -> usize {
    // Counted as phrases, not lines: another rank's output may still land inside a line.
    String::from_utf8_lossy(&out.stderr)
        .matches("main runs in pid ")
        .count()
}

#[test]
fn a_program_started_alone_spawns_its_workers_which_never_run_main() {
    let out = run(allow_root(&mut Command::new(SCENARIOS)).args(["calls", "2"]));
    assert_eq!(mains(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let lines = calls_output(out);
    assert_eq!(line(&lines, "ok workers"), "ok workers 2 Spawned");
    assert_eq!(line(&lines, "ok map ordered"), "ok map ordered over 2");
    assert_eq!(line(&lines, "ok closed"), "ok closed spawned=true");
}

#[test]
fn a_rank_running_another_build_is_refused_by_name() {
    // MPMD: rank 0 runs the scenarios, rank 1 another executable.
    let out = run(mpirun().args(["-n", "1", SCENARIOS, "refused", ":", "-n", "1", OTHER_BUILD]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refused = stdout
        .lines()
        .find(|l| l.starts_with("ok refused"))
        .unwrap_or_else(|| panic!("rank 0 did not refuse:\n{stdout}\n{stderr}"));
    let host = mpi_host();
    assert!(
        refused.contains(&format!("rank 1 on host {host}"))
            && refused.contains("another executable"),
        "{refused}"
    );
    // The refused rank says so too, and ran nothing.
    assert!(stderr.contains("refused by rank 0"), "{stderr}");
}

#[test]
fn the_initializer_runs_on_every_worker_before_its_tasks() {
    let out = run(mpirun().args(["-n", "3", SCENARIOS, "initializer", "7"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ok initialized on every worker"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_panicking_initializer_fails_build_naming_the_rank() {
    let out = run(mpirun().args(["-n", "3", SCENARIOS, "initializer", "13"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("ok initializer failed"))
        .unwrap_or_else(|| panic!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        line.contains("thirteen is an unlucky setting") && line.contains("rank "),
        "{line}"
    );
    assert!(out.status.success(), "{stdout}");
}

#[test]
fn terminate_fails_unfinished_calls_and_the_job_ends() {
    let out = run(mpirun().args(["-n", "3", SCENARIOS, "terminate"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ok unfinished calls terminated"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The running tasks (1 s, started before `terminate`) were let finish: a rank cannot be
    // stopped alone.
    let ms: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ok terminated in "))
        .and_then(|l| l.trim_end_matches(" ms").parse().ok())
        .expect("the terminate line");
    assert!(
        ms >= 400,
        "terminate returned after {ms} ms, before the running tasks ended"
    );
}

#[test]
fn a_worker_dying_mid_task_ends_the_whole_job() {
    // MPI is fail-stop: the job fails as a whole, promptly, and rank 0 never sees a result.
    let out = run(mpirun().args(["-n", "3", SCENARIOS, "dead-worker"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "the job survived a dead worker: {stdout}"
    );
    assert!(stdout.contains("ok started"), "{stdout}");
    assert!(!stdout.contains("ok after the abort"), "{stdout}");
}

/// The `mpi_pool` example prints the sum and each worker's share, spawning its workers when
/// run alone and using the ranks under `mpirun`.
#[test]
fn the_mpi_pool_example_sums_squares_alone_and_under_mpirun() {
    let example = multiprocessing_tests::examples::example("mpi_pool");
    for (cmd, how) in [
        (allow_root(&mut Command::new(&example)), "alone"),
        (mpirun().args(["-n", "3"]).arg(&example), "mpirun -n 3"),
    ] {
        let out = run(cmd);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{how}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], "sum of squares = 332833500", "{how}");
        let shares: Vec<usize> = lines[1..]
            .iter()
            .map(|l| {
                let (name, items) = l.split_once(": ").expect("worker: N items");
                assert!(name.starts_with("MpiWorker-"), "{how}: {l}");
                items.trim_end_matches(" items").parse().expect("a count")
            })
            .collect();
        assert_eq!(shares.len(), 2, "{how}: {stdout}");
        assert_eq!(shares.iter().sum::<usize>(), 1000, "{how}");
    }
}

/// This machine's name as MPI reports it (`MPI_Get_processor_name` is the host name).
fn mpi_host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`, which outlives the call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0, "gethostname failed");
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
