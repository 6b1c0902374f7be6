//! The MPI pool's behaviour, run by `tests/tests/mpi.rs` under `mpirun` (or alone, to spawn its
//! workers). Every rank runs this `main` up to `MpiPool::new`; rank 0 then checks the pool's
//! calls and prints one `ok ...` line per check; a failed check panics (a non-zero exit).
//!
//! `mpi_scenarios calls [N]`: the pool's calls, over the job's ranks, or over N spawned workers
//! when run alone. `mpi_scenarios refused`: the pool must refuse a worker running another
//! executable (`mpi_other_build`, started beside it with `mpirun`'s MPMD syntax).
//! `mpi_scenarios initializer V`: an initializer setting V on each worker (13 panics).
//! `mpi_scenarios terminate`: `terminate` with tasks running and queued.
//! `mpi_scenarios dead-worker`: a worker aborts mid-task, which ends the job.
//! `mpi_scenarios hosts`: a map across simulated hosts (`cargo xtask hosts`), printing where
//! each rank ran.

use std::collections::BTreeSet;
use std::sync::mpsc;

use multiprocessing::mpi::{Callbacks, ErrorKind, MpiPool, Workers};

fn square(x: u64) -> u64 {
    x * x
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// The item back, and the worker that computed it.
fn whose(x: u64) -> (String, u64) {
    (multiprocessing::current_process().name().to_string(), x)
}

fn check(x: i32) -> i32 {
    assert!(x != 3, "three is not allowed");
    x
}

fn calls(processes: usize) {
    let pool = MpiPool::builder()
        .processes(processes)
        .build()
        .expect("the pool starts");
    let workers = pool.processes();
    println!("ok workers {workers} {:?}", pool.workers());
    let ranks = pool.ranks();
    assert_eq!(ranks.len(), workers);
    for (i, r) in ranks.iter().enumerate() {
        assert_eq!(r.rank as usize, i + 1);
        assert!(!r.host.is_empty() && r.pid != std::process::id());
    }

    // map: in order, over every worker (chunks of one item, several per worker).
    let out = pool.map_chunksize(whose, 0..200, 1).expect("map");
    assert_eq!(
        out.iter().map(|(_, x)| *x).collect::<Vec<_>>(),
        (0..200).collect::<Vec<_>>()
    );
    let names: BTreeSet<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    let expected: BTreeSet<String> = (1..=workers).map(|r| format!("MpiWorker-{r}")).collect();
    assert_eq!(names, expected.iter().map(String::as_str).collect());
    println!("ok map ordered over {}", names.len());
    assert_eq!(
        pool.map(square, 0..1000).expect("map").iter().sum::<u64>(),
        332_833_500
    );
    println!("ok map default chunksize");

    // starmap and apply.
    assert_eq!(
        pool.starmap(add, [(1, 2), (3, 4), (5, 6)])
            .expect("starmap"),
        [3, 7, 11]
    );
    assert_eq!(
        pool.starmap_chunksize(add, (0..50).map(|i| (i, i)), 7)
            .expect("starmap"),
        (0..50).map(|i| 2 * i).collect::<Vec<_>>()
    );
    assert_eq!(pool.apply(square, (12,)).expect("apply"), 144);
    println!("ok starmap apply");

    // imap in order, imap_unordered complete.
    let ordered: Vec<u64> = pool
        .imap(square, 0..100)
        .expect("imap")
        .collect::<Result<_, _>>()
        .expect("imap items");
    assert_eq!(ordered, (0..100).map(square).collect::<Vec<_>>());
    let mut unordered: Vec<u64> = pool
        .imap_unordered_chunksize(square, 0..100, 3)
        .expect("imap_unordered")
        .collect::<Result<_, _>>()
        .expect("imap_unordered items");
    unordered.sort_unstable();
    assert_eq!(unordered, ordered);
    println!("ok imap imap_unordered");

    // apply_async with callbacks, run on rank 0.
    let (tx, rx) = mpsc::channel();
    let r = pool
        .apply_async_with(
            square,
            (9,),
            Callbacks::new().callback(move |v: &u64| {
                tx.send(*v).unwrap();
            }),
        )
        .expect("apply_async");
    assert_eq!(r.get().expect("result"), 81);
    assert_eq!(rx.recv().unwrap(), 81);
    let (tx, rx) = mpsc::channel();
    let r = pool
        .map_async_with(
            check,
            [1, 2, 3],
            Some(1),
            Callbacks::new().error_callback(move |e| {
                tx.send(e.kind()).unwrap();
            }),
        )
        .expect("map_async");
    assert_eq!(r.get().unwrap_err().kind(), ErrorKind::Panicked);
    assert_eq!(rx.recv().unwrap(), ErrorKind::Panicked);
    println!("ok callbacks");

    // A panicking task is its call's error, naming the rank; the pool goes on.
    let err = pool.map(check, 0..6).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    let text = err.to_string();
    assert!(
        text.contains("three is not allowed") && text.contains("rank "),
        "{text}"
    );
    println!("ok panic: {text}");
    let items: Vec<_> = pool.imap(check, [2, 3, 4]).expect("imap").collect();
    assert!(items[0].is_ok() && items[1].is_err() && items[2].is_ok());
    assert_eq!(pool.map(check, [4, 5]).expect("the pool goes on"), [4, 5]);
    println!("ok goes on");

    let counted: usize = pool.ranks().iter().map(|r| r.items).sum();
    assert!(counted >= 200 + 1000, "{counted}");
    pool.close();
    pool.join().expect("join");
    assert_eq!(
        pool.map(square, [1]).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    let spawned = pool.workers() == Workers::Spawned;
    println!("ok closed spawned={spawned}");
}

/// This process's network namespace (`net:[inode]`): each simulated host has its own.
fn netns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .map_or_else(|e| format!("unknown ({e})"), |p| p.display().to_string())
}

/// The square of `x`, the worker that computed it and its network namespace.
fn square_where(x: u64) -> (String, String, u64) {
    (
        multiprocessing::current_process().name().to_string(),
        netns(),
        x * x,
    )
}

/// One rank per simulated host (`cargo xtask hosts`): prints the sum, and each rank's
/// namespace (`ns NAME NAMESPACE`), rank 0's first.
fn hosts() {
    let pool = MpiPool::new().expect("the pool starts");
    let out = pool.map_chunksize(square_where, 0..1000, 10).expect("map");
    println!("ok sum {}", out.iter().map(|(_, _, sq)| sq).sum::<u64>());
    println!("ns MainProcess {}", netns());
    let seen: BTreeSet<(String, String)> = out.into_iter().map(|(n, ns, _)| (n, ns)).collect();
    for (name, ns) in seen {
        println!("ns {name} {ns}");
    }
    for r in pool.ranks() {
        println!("rank {} host {} items {}", r.rank, r.host, r.items);
    }
    pool.close();
    pool.join().expect("join");
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    ms
}

/// Says it started (creates `marker`), then naps `ms`.
fn nap_marked(marker: String, ms: u64) -> u64 {
    std::fs::write(&marker, b"started").expect("the marker is written");
    nap(ms)
}

/// `terminate` fails what is unfinished at once, lets the running tasks end, and the job ends.
fn terminate() {
    let pool = MpiPool::new().expect("the pool starts");
    let dir = std::env::temp_dir().join(format!("mpi-terminate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    // Both workers busy for a while (each says when it started), and more queued behind them.
    let markers: Vec<String> = (0..pool.processes())
        .map(|i| dir.join(i.to_string()).display().to_string())
        .collect();
    let running: Vec<_> = markers
        .iter()
        .map(|m| {
            pool.apply_async(nap_marked, (m.clone(), 1000))
                .expect("apply_async")
        })
        .collect();
    let queued = pool
        .map_async(nap, [1, 1, 1, 1], Some(1))
        .expect("map_async");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !markers.iter().all(|m| std::path::Path::new(m).exists()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the tasks never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let started = std::time::Instant::now();
    pool.terminate();
    println!("ok terminated in {} ms", started.elapsed().as_millis());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(queued.get().unwrap_err().kind(), ErrorKind::Closed);
    for r in running {
        assert_eq!(r.get().unwrap_err().kind(), ErrorKind::Closed);
    }
    assert_eq!(
        pool.apply(nap, (1,)).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    println!("ok unfinished calls terminated");
}

/// A worker that aborts mid-task: MPI is fail-stop, so the whole job ends (never a hang).
fn abort_in_task(x: u64) -> u64 {
    if x == 7 {
        std::process::abort();
    }
    x
}

fn dead_worker() {
    let pool = MpiPool::new().expect("the pool starts");
    println!("ok started");
    let result = pool.map_chunksize(abort_in_task, 0..20, 1);
    println!("ok after the abort: {result:?}");
}

/// What the initializer set, in each worker.
static SETTING: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

fn set_setting(value: u64) {
    assert!(value != 13, "thirteen is an unlucky setting");
    SETTING
        .set(value)
        .expect("the initializer runs once per worker");
}

fn setting_plus(x: u64) -> u64 {
    SETTING.get().copied().unwrap_or(0) + x
}

/// The initializer runs on every worker before its tasks; one that panics fails `build`.
fn initializer(value: u64) {
    match MpiPool::builder()
        .initializer(set_setting, (value,))
        .build()
    {
        Ok(pool) => {
            let out = pool.map_chunksize(setting_plus, 0..40, 1).expect("map");
            assert_eq!(out, (0..40).map(|x| value + x).collect::<Vec<_>>());
            assert!(
                pool.ranks().iter().all(|r| r.tasks > 0),
                "{:?}",
                pool.ranks()
            );
            println!("ok initialized on every worker");
            pool.close();
            pool.join().expect("join");
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Panicked);
            println!("ok initializer failed: {e}");
        }
    }
}

fn refused() {
    match MpiPool::new() {
        Ok(_) => panic!("a worker running another executable was accepted"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::CodeRefused);
            println!("ok refused: {e}");
        }
    }
}

fn main() {
    // Counted by the tests: every rank of an `mpirun` job runs `main`; spawned workers do not.
    // One write of the whole line (eprintln! writes its pieces apart), so the ranks' lines,
    // which share one pipe, do not interleave within it.
    let line = format!("main runs in pid {}\n", std::process::id());
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("calls") => calls(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(2)),
        Some("refused") => refused(),
        Some("hosts") => hosts(),
        Some("terminate") => terminate(),
        Some("initializer") => initializer(args.get(2).and_then(|v| v.parse().ok()).unwrap_or(7)),
        Some("dead-worker") => dead_worker(),
        other => panic!("unknown scenario {other:?}"),
    }
}
