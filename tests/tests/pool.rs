//! The process pool under each start method: results in order, chunks, the initializer,
//! `maxtasksperchild`, callbacks, timeouts, cancellation, close/join/terminate/kill, and the
//! faults CPython's pool hangs on (a worker killed mid-task, `process::exit` in a task).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use multiprocessing::pool::{Callbacks, Error, ErrorKind, Pool, default_chunksize};
use multiprocessing::runtime::time::TimedOut;
use multiprocessing::{StartMethod, get_context};
use multiprocessing_tests::helpers::{BOUND, eventually, within};
use multiprocessing_tests::per_method;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

fn square(x: u64) -> u64 {
    x * x
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// The worker that ran item `x`.
fn pid_of(x: u32) -> (u32, u32) {
    (std::process::id(), x)
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

static INIT_CALLS: AtomicU32 = AtomicU32::new(0);
static BASE: AtomicU64 = AtomicU64::new(0);

fn init(base: u64) {
    INIT_CALLS.fetch_add(1, Ordering::SeqCst);
    BASE.store(base, Ordering::SeqCst);
}

/// This worker's pid, how often its initializer ran, and `x` plus the initializer's base.
fn with_base(x: u64) -> (u32, u32, u64) {
    (
        std::process::id(),
        INIT_CALLS.load(Ordering::SeqCst),
        x + BASE.load(Ordering::SeqCst),
    )
}

fn failing_init() {
    panic!("the initializer gives up");
}

fn panicky(x: i32) -> i32 {
    assert!(x != 3, "no threes here");
    x
}

fn die_on_five(x: u32) -> u32 {
    if x == 5 {
        // SAFETY: signals this very process; nothing of ours is left half-done that matters.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    x
}

/// Item 3 writes its worker's pid to `path` and then runs for a minute (to be killed).
fn announce_three(path: String, x: u32) -> u32 {
    if x == 3 {
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, std::process::id().to_string()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    }
    x
}

/// Writes its worker's pid to `dir/pid`, then returns 7 once `dir/go` exists.
fn announce_then_wait_for_go(dir: String) -> u32 {
    let path = format!("{dir}/pid");
    std::fs::write(format!("{path}.tmp"), std::process::id().to_string()).unwrap();
    std::fs::rename(format!("{path}.tmp"), &path).unwrap();
    while !std::path::Path::new(&format!("{dir}/go")).exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    7
}

/// A process owning a pool: writes its workers' pids to `path`, then waits to be killed.
fn pool_owner(path: String, method: StartMethod) {
    let pool = get_context(method).pool(2).unwrap();
    let pids: Vec<String> = pool
        .map_chunksize(pid_of, 0..8, 1)
        .unwrap()
        .iter()
        .map(|(pid, _)| pid.to_string())
        .collect();
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, pids.join(" ")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// Writes `dir/worker-<pid>` (by rename, so it is whole), then runs for a minute.
fn announce_and_sleep(dir: String, _x: u32) -> u32 {
    let path = format!("{dir}/worker-{}", std::process::id());
    std::fs::write(format!("{path}.tmp"), "").unwrap();
    std::fs::rename(format!("{path}.tmp"), &path).unwrap();
    std::thread::sleep(Duration::from_secs(60));
    0
}

/// The pids of the workers that announced themselves in `dir`.
fn announced_workers(dir: &std::path::Path) -> Vec<u32> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("worker-")?.parse().ok()
        })
        .collect()
}

/// A process whose pool stops on Ctrl-C: maps slow tasks until SIGINT stops it, checks that
/// the calls queued behind them (an `apply`, an `imap`) fail the same way, then writes to
/// `dir/result` the error's kind and which of its workers still exist (none should: they are
/// reaped before the call returns), and exits normally.
fn interrupted_owner(dir: String, method: StartMethod) {
    let pool = get_context(method)
        .pool_builder()
        .processes(2)
        .stop_on_interrupt(true)
        .build()
        .unwrap();
    let items = (0..8).map(|x| (dir.clone(), x));
    let map = pool
        .starmap_async(announce_and_sleep, items, Some(1))
        .unwrap();
    // Queued behind the map's tasks, which hold both workers.
    let apply = pool.apply_async(square, (3,)).unwrap();
    let mut imap = pool.imap(square, 0..4).unwrap();
    let err = map.get().unwrap_err();
    let queued = (
        apply.get().unwrap_err().kind(),
        imap.next().unwrap().unwrap_err().kind(),
    );
    assert_eq!(queued, (ErrorKind::Interrupted, ErrorKind::Interrupted));
    let alive: Vec<u32> = announced_workers(std::path::Path::new(&dir))
        .into_iter()
        .filter(|&pid| exists(pid))
        .collect();
    // Every blocking call of the stopped pool says so, and new calls are refused the same way.
    let join = pool.join().unwrap_err().kind();
    let apply = pool.apply(square, (2,)).unwrap_err().kind();
    let result = format!("{:?} {join:?} {apply:?} alive {alive:?}", err.kind());
    std::fs::write(format!("{dir}/result.tmp"), result).unwrap();
    std::fs::rename(format!("{dir}/result.tmp"), format!("{dir}/result")).unwrap();
}

/// The SIGINT disposition's handler address (`SIG_DFL` is 0).
fn sigint_handler() -> usize {
    // SAFETY: an all-zero `sigaction` is valid; this only reads the disposition.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        assert_eq!(
            libc::sigaction(libc::SIGINT, std::ptr::null(), &mut current),
            0
        );
        current.sa_sigaction
    }
}

/// Without the opt-in a pool leaves SIGINT alone; with it the handler is installed, and once
/// that pool has ended a SIGINT has its default effect again: this process dies of it.
fn sigint_owner(path: String) {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.map(square, 0..10).unwrap().len(), 10);
    let without = sigint_handler();
    pool.close();
    pool.join().unwrap();
    drop(pool);
    let after_plain = sigint_handler();
    let pool = Pool::builder()
        .processes(1)
        .stop_on_interrupt(true)
        .build()
        .unwrap();
    let with = sigint_handler();
    pool.close();
    pool.join().unwrap();
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, format!("{without} {after_plain} {}", with != 0)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    // SAFETY: a signal to this very process, whose handler gives it the default action.
    unsafe { libc::raise(libc::SIGINT) };
    std::thread::sleep(Duration::from_secs(60));
}

fn exit_with(code: i32) -> i32 {
    std::process::exit(code)
}

/// A value whose encoding fails.
#[derive(Debug)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(S::Error::custom("refuses to be encoded"))
    }
}

impl<'de> Deserialize<'de> for Unencodable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d).map(|()| Unencodable)
    }
}

/// A value whose decoding fails.
#[derive(Debug)]
struct Undecodable;

impl Serialize for Undecodable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Undecodable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(D::Error::custom("refuses to be decoded"))
    }
}

/// A number, or (`None`) a value whose encoding fails.
#[derive(Debug)]
struct Picky(Option<u64>);

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(x) => x.serialize(s),
            None => Err(S::Error::custom("refuses to be encoded")),
        }
    }
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(|x| Picky(Some(x)))
    }
}

fn unpick(p: Picky) -> u64 {
    p.0.unwrap_or_default()
}

fn make_unencodable() -> Unencodable {
    Unencodable
}

fn make_undecodable() -> Undecodable {
    Undecodable
}

fn pool(method: StartMethod, n: usize) -> Pool {
    get_context(method).pool(n).unwrap()
}

/// Whether process `pid` exists (running or a zombie).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether process `pid` has exited (gone, or a zombie its new parent has not reaped).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits for the file a child writes (by rename, so it is whole) and returns its contents.
fn announced(path: &std::path::Path) -> String {
    eventually("the child announces itself", || path.exists());
    std::fs::read_to_string(path).unwrap()
}

fn map_starmap_and_apply_keep_order(method: StartMethod) {
    let pool = pool(method, 2);
    let squares: Vec<u64> = (0..100).map(|x| x * x).collect();
    assert_eq!(pool.map(square, 0..100).unwrap(), squares);
    assert_eq!(pool.map_chunksize(square, 0..100, 7).unwrap(), squares);
    assert_eq!(
        pool.map(square, Vec::<u64>::new()).unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(
        pool.starmap(add, [(1, 2), (3, 4), (5, 6)]).unwrap(),
        [3, 7, 11]
    );
    assert_eq!(pool.apply(add, (20, 22)).unwrap(), 42);
    let r = pool.map_async(square, [3, 4], None).unwrap();
    let s = pool.starmap_async(add, [(1, 1)], Some(1)).unwrap();
    assert_eq!(s.get().unwrap(), [2]);
    assert_eq!(r.get().unwrap(), [9, 16]);
    pool.close();
    pool.join().unwrap();
}

/// Groups the items by the worker that ran them: with one task per worker
/// (`maxtasksperchild(1)`), each group is exactly one chunk.
fn chunks_seen(results: &[(u32, u32)]) -> Vec<Vec<u32>> {
    let mut by_pid: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(pid, x) in results {
        by_pid.entry(pid).or_default().push(x);
    }
    let mut chunks: Vec<Vec<u32>> = by_pid.into_values().collect();
    chunks.sort();
    chunks
}

fn chunksize_is_respected(method: StartMethod) {
    let pool = get_context(method)
        .pool_builder()
        .processes(2)
        .maxtasksperchild(1)
        .build()
        .unwrap();
    let results = pool.map_chunksize(pid_of, 0..20u32, 5).unwrap();
    assert_eq!(
        results.iter().map(|r| r.1).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    let expected: Vec<Vec<u32>> = (0..4).map(|c| (c * 5..c * 5 + 5).collect()).collect();
    assert_eq!(chunks_seen(&results), expected);
    // Python's default: divmod(20, 2 * 4) = (2, 4), so chunks of 3.
    assert_eq!(default_chunksize(20, 2), 3);
    let results = pool.map(pid_of, 0..20u32).unwrap();
    let sizes: Vec<usize> = chunks_seen(&results).iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 3, 3, 3, 3, 2]);
    // imap and imap_unordered too.
    let expected: Vec<Vec<u32>> = (0..5).map(|c| (c * 4..c * 4 + 4).collect()).collect();
    let results: Vec<(u32, u32)> = pool
        .imap_chunksize(pid_of, 0..20u32, 4)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        results.iter().map(|r| r.1).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(chunks_seen(&results), expected);
    let results: Vec<(u32, u32)> = pool
        .imap_unordered_chunksize(pid_of, 0..20u32, 4)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(chunks_seen(&results), expected);
}

fn initializer_runs_once_per_worker(method: StartMethod) {
    let pool = get_context(method)
        .pool_builder()
        .processes(3)
        .initializer(init, (100,))
        .build()
        .unwrap();
    let results = pool.map_chunksize(with_base, 0..30, 1).unwrap();
    for (i, &(pid, calls, value)) in results.iter().enumerate() {
        assert_ne!(pid, std::process::id());
        assert_eq!(calls, 1, "worker {pid} ran its initializer {calls} times");
        assert_eq!(value, i as u64 + 100);
    }
}

fn a_panicking_initializer_breaks_the_pool(method: StartMethod) {
    let pool = get_context(method)
        .pool_builder()
        .processes(2)
        .initializer(failing_init, ())
        .build()
        .unwrap();
    let err = within("a map on a broken pool", move || {
        let err = pool.map(square, 0..10).unwrap_err();
        (err, pool)
    })
    .0;
    assert!(matches!(err, Error::InitializerPanicked { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(
        err.to_string().contains("the initializer gives up"),
        "{err}"
    );
}

fn maxtasksperchild_replaces_workers_without_losing_tasks(method: StartMethod) {
    let pool = get_context(method)
        .pool_builder()
        .processes(2)
        .maxtasksperchild(2)
        .build()
        .unwrap();
    let results = pool.map_chunksize(pid_of, 0..20u32, 1).unwrap();
    assert_eq!(
        results.iter().map(|r| r.1).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    let mut per_pid: BTreeMap<u32, usize> = BTreeMap::new();
    for &(pid, _) in &results {
        *per_pid.entry(pid).or_default() += 1;
    }
    assert!(
        per_pid.len() >= 10,
        "only {} workers ran 20 tasks",
        per_pid.len()
    );
    assert!(per_pid.values().all(|&n| n <= 2), "{per_pid:?}");
    // The retired workers were reaped.
    let retired: Vec<u32> = per_pid.keys().copied().collect();
    pool.close();
    pool.join().unwrap();
    for pid in retired {
        assert!(!exists(pid), "worker {pid} was not reaped");
    }
}

fn callbacks_run_once_with_the_value_or_the_error(method: StartMethod) {
    let pool = pool(method, 2);
    let (tx, rx) = mpsc::channel();
    let (etx, erx) = mpsc::channel();
    let (tx2, etx2) = (tx.clone(), etx.clone());
    let ok = pool
        .apply_async_with(
            square,
            (9,),
            Callbacks::new()
                .callback(move |v: &u64| tx2.send(*v).unwrap())
                .error_callback(move |e: &Error| etx2.send(e.kind()).unwrap()),
        )
        .unwrap();
    let failed = pool
        .map_async_with(
            panicky,
            0..8,
            Some(2),
            Callbacks::new()
                .callback(move |v: &Vec<i32>| tx.send(v.len() as u64).unwrap())
                .error_callback(move |e: &Error| etx.send(e.kind()).unwrap()),
        )
        .unwrap();
    assert_eq!(ok.get().unwrap(), 81);
    assert_eq!(failed.get().unwrap_err().kind(), ErrorKind::Panicked);
    drop(pool); // the callbacks' senders go with the results
    assert_eq!(rx.iter().collect::<Vec<_>>(), [81]);
    assert_eq!(erx.iter().collect::<Vec<_>>(), [ErrorKind::Panicked]);
}

fn get_timeout_and_successful_before_ready(method: StartMethod) {
    let pool = pool(method, 1);
    let mut r = pool.apply_async(sleep_ms, (300,)).unwrap();
    assert_eq!(r.successful().unwrap_err().kind(), ErrorKind::InvalidState);
    assert!(!r.ready());
    let start = Instant::now();
    let err = r.get_timeout(Duration::from_millis(20)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(start.elapsed() < BOUND);
    assert_eq!(r.wait_timeout(Duration::ZERO), Err(TimedOut));
    r.wait_timeout(BOUND).expect("ready within the bound");
    assert!(r.ready());
    assert!(r.successful().unwrap());
    assert_eq!(r.get_timeout(BOUND).unwrap(), 300);
    assert_eq!(
        r.get_timeout(BOUND).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
}

fn cancel_stops_a_call_no_worker_started(method: StartMethod) {
    let pool = pool(method, 1);
    let first = pool.apply_async(sleep_ms, (300,)).unwrap();
    // One worker, busy with `first` for a while: `second` cannot have started.
    let (etx, erx) = mpsc::channel();
    let second = pool
        .apply_async_with(
            square,
            (3,),
            Callbacks::new().error_callback(move |e: &Error| etx.send(e.kind()).unwrap()),
        )
        .unwrap();
    assert!(second.cancel());
    assert!(!second.cancel());
    assert!(second.ready());
    assert_eq!(erx.recv().unwrap(), ErrorKind::Cancelled);
    assert_eq!(second.get().unwrap_err().kind(), ErrorKind::Cancelled);
    first.wait();
    assert!(!first.cancel(), "a finished call cannot be cancelled");
    assert_eq!(first.get().unwrap(), 300);
    assert_eq!(pool.apply(square, (4,)).unwrap(), 16);
}

fn close_then_join_finishes_queued_work(method: StartMethod) {
    let pool = pool(method, 2);
    assert_eq!(pool.join().unwrap_err().kind(), ErrorKind::InvalidState);
    let r = pool.map_async(sleep_ms, [50, 50, 50, 50], Some(1)).unwrap();
    pool.close();
    assert!(matches!(pool.apply(square, (1,)), Err(Error::NotRunning)));
    within("join after close", move || pool.join().unwrap());
    assert_eq!(r.get().unwrap(), [50, 50, 50, 50]);
}

fn terminate_and_kill_reap_every_worker_in_bounded_time(method: StartMethod) {
    for kill in [false, true] {
        let pool = pool(method, 1);
        let (pid, _) = pool.apply(pid_of, (0,)).unwrap();
        let running = pool.apply_async(sleep_ms, (60_000,)).unwrap();
        let queued = pool.apply_async(sleep_ms, (60_000,)).unwrap();
        let start = Instant::now();
        if kill {
            pool.kill();
        } else {
            pool.terminate();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{kill}: {:?}",
            start.elapsed()
        );
        assert!(!exists(pid), "worker {pid} was not reaped (kill: {kill})");
        assert_eq!(running.get().unwrap_err().kind(), ErrorKind::Closed);
        assert_eq!(queued.get().unwrap_err().kind(), ErrorKind::Closed);
        assert!(matches!(pool.apply(square, (1,)), Err(Error::NotRunning)));
        pool.join().unwrap();
    }
}

fn a_panicking_task_fails_only_its_call(method: StartMethod) {
    let pool = pool(method, 2);
    let err = pool.apply(panicky, (3,)).unwrap_err();
    let Error::Panicked { worker, panic } = &err else {
        panic!("not a panic: {err}")
    };
    assert!(worker.starts_with("PoolWorker-"), "{worker}");
    assert_eq!(panic.message, "no threes here");
    let location = panic.location.as_ref().expect("a location");
    assert!(location.file.ends_with("pool.rs"), "{location}");
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(pool.map(panicky, [1, 2, 4]).unwrap(), [1, 2, 4]);
}

fn a_worker_killed_mid_map_fails_that_task_and_the_pool_goes_on(method: StartMethod) {
    let pool = pool(method, 2);
    let (err, pool) = within("a map with a killed worker", move || {
        let start = Instant::now();
        let err = pool.map_chunksize(die_on_five, 0..10, 1).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        (err, pool)
    });
    let Error::WorkerLost {
        task, items, exit, ..
    } = &err
    else {
        panic!("not a lost worker: {err}")
    };
    assert_eq!((*task, items.clone()), (5, 5..6));
    assert_eq!(exit, "killed by SIGKILL");
    assert_eq!(err.kind(), ErrorKind::WorkerLost);
    assert_eq!(pool.map(die_on_five, 0..5).unwrap(), [0, 1, 2, 3, 4]);
    // `process::exit` in a task is a lost worker too.
    let err = within("a task calling exit", {
        let r = pool.apply_async(exit_with, (3,)).unwrap();
        move || r.get().unwrap_err()
    });
    assert!(
        matches!(&err, Error::WorkerLost { exit, .. } if exit == "exit code 3"),
        "{err}"
    );
    assert_eq!(pool.apply(square, (5,)).unwrap(), 25);
}

fn a_worker_killed_from_outside_mid_map_fails_that_task(method: StartMethod) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pid");
    let pool = pool(method, 2);
    let arg = path.to_str().unwrap().to_string();
    let r = pool
        .starmap_async(announce_three, (0..8).map(|x| (arg.clone(), x)), Some(1))
        .unwrap();
    let pid: i32 = announced(&path).parse().unwrap();
    // SAFETY: a plain signal to the worker that announced itself.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let start = Instant::now();
    let (err, pool) = within("a map whose worker was killed", move || {
        (r.get().unwrap_err(), pool)
    });
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(&err, Error::WorkerLost { task: 3, pid: p, exit, .. }
            if *p == pid as u32 && exit == "killed by SIGKILL"),
        "{err}"
    );
    assert!(err.to_string().contains("task 3"), "{err}");
    assert_eq!(pool.map(square, [1, 2, 3]).unwrap(), [1, 4, 9]);
}

fn tasks_waiting_behind_a_killed_workers_task_complete_elsewhere(method: StartMethod) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pid");
    let pool = pool(method, 2);
    let doomed = pool
        .apply_async(announce_three, (path.to_str().unwrap().to_string(), 3))
        .unwrap();
    let pid: i32 = announced(&path).parse().unwrap();
    // Its chunks go to the other worker, and may wait behind `doomed` in the announced one.
    let rest = pool.map_async(square, 0..200, Some(1)).unwrap();
    // SAFETY: a plain signal to the worker that announced itself.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let (doomed, rest) = within("both calls", move || (doomed.get(), rest.get()));
    assert_eq!(doomed.unwrap_err().kind(), ErrorKind::WorkerLost);
    assert_eq!(rest.unwrap(), (0..200).map(|x| x * x).collect::<Vec<u64>>());
}

fn workers_exit_when_the_pools_owner_is_killed(method: StartMethod) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pids");
    let ctx = get_context(method);
    let owner = ctx
        .process(pool_owner, (path.to_str().unwrap().to_string(), method))
        .start()
        .unwrap();
    let pids: Vec<u32> = announced(&path)
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    owner.kill().unwrap();
    owner.join().unwrap();
    for pid in pids {
        eventually("an orphaned worker exits", || exited(pid));
    }
}

fn workers_ignore_ctrl_c(method: StartMethod) {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(method, 1);
    let arg = dir.path().to_str().unwrap().to_string();
    let r = pool.apply_async(announce_then_wait_for_go, (arg,)).unwrap();
    let pid: i32 = announced(&dir.path().join("pid")).parse().unwrap();
    // SAFETY: a plain signal to the worker that announced itself.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    // The signal is pending before `go` exists, so the worker meets it before it can see `go`.
    std::fs::write(dir.path().join("go"), "").unwrap();
    assert_eq!(within("the task after SIGINT", move || r.get()).unwrap(), 7);
}

fn ctrl_c_stops_a_pool_that_opted_in(method: StartMethod) {
    let dir = tempfile::tempdir().unwrap();
    let arg = dir.path().to_str().unwrap().to_string();
    let owner = get_context(method)
        .process(interrupted_owner, (arg, method))
        .start()
        .unwrap();
    // Both workers run a task of the map: the call is under way.
    eventually("both workers start a task", || {
        announced_workers(dir.path()).len() == 2
    });
    let workers = announced_workers(dir.path());
    let pid = owner.pid().unwrap() as i32;
    // SAFETY: a plain signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let start = Instant::now();
    let code = within("the pool's owner after Ctrl-C", move || {
        owner.join().unwrap()
    });
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(code, 0, "the owner did not exit cleanly");
    let result = std::fs::read_to_string(dir.path().join("result")).unwrap();
    assert_eq!(result, "Interrupted Interrupted Interrupted alive []");
    for pid in workers {
        assert!(exited(pid), "worker {pid} outlived its pool");
    }
}

#[test]
fn without_the_opt_in_a_pool_leaves_sigint_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dispositions");
    let owner = get_context(StartMethod::Spawn)
        .process(sigint_owner, (path.to_str().unwrap().to_string(),))
        .start()
        .unwrap();
    let code = within("the owner raising SIGINT", move || owner.join().unwrap());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{} {} true", libc::SIG_DFL, libc::SIG_DFL)
    );
    assert_eq!(
        code,
        -libc::SIGINT,
        "the second SIGINT did not end the owner"
    );
}

fn imap_yields_in_order_and_imap_unordered_yields_everything(method: StartMethod) {
    let pool = pool(method, 2);
    let squares: Vec<u64> = (0..50).map(|x| x * x).collect();
    let inputs: Vec<u64> = (0..50).collect();
    let results = pool.imap(square, inputs.clone()).unwrap();
    assert_eq!(results.len(), 50);
    assert_eq!(results.collect::<Result<Vec<_>, _>>().unwrap(), squares);
    let results = pool.imap_chunksize(square, 0..50, 7).unwrap();
    assert_eq!(results.collect::<Result<Vec<_>, _>>().unwrap(), squares);
    for chunksize in [1, 4] {
        let mut results = pool
            .imap_unordered_chunksize(square, inputs.clone(), chunksize)
            .unwrap();
        let mut seen = Vec::new();
        while let Some(r) = results.next() {
            seen.push(r.unwrap());
            assert_eq!(results.len(), 50 - seen.len());
        }
        seen.sort_unstable();
        assert_eq!(seen, squares);
    }
}

fn imap_gives_a_failed_chunks_error_for_each_of_its_items(method: StartMethod) {
    let pool = pool(method, 2);
    let kinds = |r: Vec<Result<i32, Error>>| -> Vec<Result<i32, ErrorKind>> {
        r.into_iter().map(|r| r.map_err(|e| e.kind())).collect()
    };
    let one = pool.imap(panicky, 0..6).unwrap().collect::<Vec<_>>();
    assert_eq!(
        kinds(one),
        [Ok(0), Ok(1), Ok(2), Err(ErrorKind::Panicked), Ok(4), Ok(5)]
    );
    let two = pool
        .imap_chunksize(panicky, 0..6, 2)
        .unwrap()
        .collect::<Vec<_>>();
    assert_eq!(
        kinds(two),
        [
            Ok(0),
            Ok(1),
            Err(ErrorKind::Panicked),
            Err(ErrorKind::Panicked),
            Ok(4),
            Ok(5)
        ]
    );
}

fn an_endless_imap_runs_in_bounded_memory_and_can_be_dropped(method: StartMethod) {
    let pool = pool(method, 2);
    let pulled = std::sync::Arc::new(AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&pulled);
    let endless = (0u64..).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let mut results = pool.imap(square, endless).unwrap();
    for x in 0..20u64 {
        assert_eq!(results.next().unwrap().unwrap(), x * x);
    }
    // Twenty yielded, and at most the default lookahead (64 one-item chunks per worker)
    // beyond.
    let taken = pulled.load(Ordering::SeqCst);
    assert!((20..=20 + 2 * 64).contains(&taken), "{taken} items pulled");
    drop(results);
    assert_eq!(pool.map(square, [3]).unwrap(), [9]);
    pool.close();
    within("join after a dropped endless imap", move || {
        pool.join().unwrap()
    });
}

fn imap_next_timeout_and_join_during_an_imap(method: StartMethod) {
    let pool = pool(method, 1);
    let mut results = pool.imap(sleep_ms, [300, 1, 2]).unwrap();
    let err = results
        .next_timeout(Duration::from_millis(10))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(results.len(), 3, "a timeout consumes no item");
    assert_eq!(results.next_timeout(BOUND).unwrap().unwrap(), 300);
    // The pool closes and joins while the iterator is half consumed.
    pool.close();
    pool.join().unwrap();
    let rest: Vec<u64> = results.map(Result::unwrap).collect();
    assert_eq!(rest, [1, 2]);
    assert!(matches!(pool.imap(square, [1]), Err(Error::NotRunning)));
}

/// Runs a future on this thread, parking between polls.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) {
            return v;
        }
        std::thread::park();
    }
}

fn async_results_can_be_awaited(method: StartMethod) {
    let pool = pool(method, 2);
    let slow = pool.apply_async(sleep_ms, (100,)).unwrap();
    let squares = pool.map_async(square, 0..5, None).unwrap();
    let failed = pool.apply_async(panicky, (3,)).unwrap();
    let (slow, squares, failed) = within("awaiting three results", move || {
        block_on(async { (slow.await, squares.await, failed.await) })
    });
    assert_eq!(slow.unwrap(), 100);
    assert_eq!(squares.unwrap(), [0, 1, 4, 9, 16]);
    assert_eq!(failed.unwrap_err().kind(), ErrorKind::Panicked);
}

fn a_task_over_the_task_timeout_is_killed_and_the_pool_goes_on(method: StartMethod) {
    let pool = get_context(method)
        .pool_builder()
        .processes(2)
        .task_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let start = Instant::now();
    let (err, pool) = within("a map with a stuck task", move || {
        (
            pool.map_chunksize(sleep_ms, [1, 60_000, 2], 1).unwrap_err(),
            pool,
        )
    });
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let Error::TaskTimeout { task, pid, .. } = &err else {
        panic!("not a task timeout: {err}")
    };
    assert_eq!(*task, 1);
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let killed = *pid;
    multiprocessing_tests::helpers::eventually("the stuck worker is reaped", || !exists(killed));
    assert_eq!(pool.map(sleep_ms, [1, 2, 3]).unwrap(), [1, 2, 3]);
}

fn results_that_cannot_travel_fail_only_their_task(method: StartMethod) {
    let pool = pool(method, 1);
    let err = pool.apply(make_unencodable, ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
    assert!(err.to_string().contains("refuses to be encoded"), "{err}");
    let err = pool.apply(make_undecodable, ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
    assert!(err.to_string().contains("refuses to be decoded"), "{err}");
    // Arguments are encoded by the caller: nothing is queued.
    let err = pool
        .apply(|_: Unencodable| 0u8, (Unencodable,))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
    assert_eq!(pool.apply(square, (6,)).unwrap(), 36);
    // An unencodable item in a late chunk (earlier chunks are queued as they are encoded):
    // the call fails in the caller, and its callbacks never run.
    let (tx, rx) = mpsc::channel();
    let err_tx = tx.clone();
    let items = (0..100).map(|x| Picky((x != 70).then_some(x)));
    let callbacks = Callbacks::new()
        .callback(move |_: &Vec<u64>| tx.send("callback").unwrap())
        .error_callback(move |_| err_tx.send("error callback").unwrap());
    let err = pool
        .map_async_with(unpick, items, Some(10), callbacks)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
    assert!(err.to_string().contains("task 7"), "{err}");
    assert_eq!(pool.map(square, 0..20).unwrap().len(), 20);
    // The handler has served every earlier chunk by now; none ran a callback.
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
}

per_method!(
    map_starmap_and_apply_keep_order,
    chunksize_is_respected,
    initializer_runs_once_per_worker,
    a_panicking_initializer_breaks_the_pool,
    maxtasksperchild_replaces_workers_without_losing_tasks,
    callbacks_run_once_with_the_value_or_the_error,
    get_timeout_and_successful_before_ready,
    cancel_stops_a_call_no_worker_started,
    close_then_join_finishes_queued_work,
    terminate_and_kill_reap_every_worker_in_bounded_time,
    a_panicking_task_fails_only_its_call,
    a_worker_killed_mid_map_fails_that_task_and_the_pool_goes_on,
    a_worker_killed_from_outside_mid_map_fails_that_task,
    tasks_waiting_behind_a_killed_workers_task_complete_elsewhere,
    workers_exit_when_the_pools_owner_is_killed,
    workers_ignore_ctrl_c,
    ctrl_c_stops_a_pool_that_opted_in,
    results_that_cannot_travel_fail_only_their_task,
    imap_yields_in_order_and_imap_unordered_yields_everything,
    imap_gives_a_failed_chunks_error_for_each_of_its_items,
    an_endless_imap_runs_in_bounded_memory_and_can_be_dropped,
    imap_next_timeout_and_join_during_an_imap,
    async_results_can_be_awaited,
    a_task_over_the_task_timeout_is_killed_and_the_pool_goes_on,
);
