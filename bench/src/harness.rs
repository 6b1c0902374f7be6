//! What every row shares: the row registry types, placement and pinning, forked children and the
//! timing loop.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::thread::CpuSet;

/// The result of one measurement: one value per sample, in the row's unit.
pub(crate) type Samples = Result<Vec<f64>, String>;

/// One implementation of a row: runs the measurement described by the config.
pub(crate) type Measure = fn(&Config) -> Samples;

/// The unit a row reports its samples in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Nanoseconds per operation.
    Ns,
    /// Microseconds per operation.
    Us,
    /// Milliseconds per operation.
    Ms,
    /// Gigabytes (10^9 bytes) per second.
    GBps,
    /// Millions of messages per second.
    MMsgps,
}

impl Unit {
    /// The unit's name in the JSON output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Unit::Ns => "ns",
            Unit::Us => "us",
            Unit::Ms => "ms",
            Unit::GBps => "GB/s",
            Unit::MMsgps => "Mmsg/s",
        }
    }

    /// Whether a larger value is better (throughput) rather than worse (time).
    pub(crate) fn higher_is_better(self) -> bool {
        matches!(self, Unit::GBps | Unit::MMsgps)
    }

    /// Converts a time per operation into this (time) unit.
    fn per_op(self, elapsed: Duration, ops: u64) -> f64 {
        let ns = elapsed.as_nanos() as f64 / ops as f64;
        match self {
            Unit::Ns => ns,
            Unit::Us => ns / 1e3,
            Unit::Ms => ns / 1e6,
            Unit::GBps | Unit::MMsgps => {
                unreachable!("throughput rows use `throughput_samples` or `rate_samples`")
            }
        }
    }
}

/// Where the processes of a measurement run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Every process pinned to the same CPU: no cross-CPU wake-ups.
    OneCpu,
    /// Parent on one CPU, child on another: every hand-off wakes the other CPU.
    Split,
    /// No pinning; the scheduler decides. Reported as a reference only.
    Unpinned,
}

impl Placement {
    /// Every placement, in the order they are reported.
    pub(crate) const ALL: [Placement; 3] =
        [Placement::OneCpu, Placement::Split, Placement::Unpinned];

    /// The placement's name on the command line and in the output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Placement::OneCpu => "one-cpu",
            Placement::Split => "split",
            Placement::Unpinned => "unpinned",
        }
    }

    /// Parses a placement name.
    pub(crate) fn parse(s: &str) -> Option<Placement> {
        Placement::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The CPUs for the parent and the child; `Err` when the machine cannot provide them.
    pub(crate) fn cpus(self) -> Result<(Option<usize>, Option<usize>), String> {
        let allowed = allowed_cpus().map_err(|e| format!("sched_getaffinity: {e}"))?;
        match self {
            Placement::Unpinned => Ok((None, None)),
            Placement::OneCpu => {
                let first = *allowed.first().ok_or("no CPU is allowed")?;
                Ok((Some(first), Some(first)))
            }
            Placement::Split => match allowed[..] {
                [a, b, ..] => Ok((Some(a), Some(b))),
                _ => Err(UNAVAILABLE_SPLIT.into()),
            },
        }
    }
}

/// The message a split row gives on a machine (or cgroup) with a single CPU.
pub(crate) const UNAVAILABLE_SPLIT: &str = "unavailable: needs two CPUs";

/// A goal for the "ours" column, checked (never asserted) by `cargo xtask bench`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// ours / raw at most this factor (time rows).
    AtMostRaw(f64),
    /// ours / raw at least this factor (throughput rows).
    AtLeastRaw(f64),
    /// CPython's time / ours at least this factor.
    FasterThanCpython(f64),
    /// The peer's time / ours at least this factor.
    FasterThanPeer(f64),
}

/// A peer column: the same work done with the library a Rust user would pick today.
pub(crate) struct Peer {
    /// The library's name, e.g. `ipc-channel`.
    pub(crate) name: &'static str,
    /// The measurement, `None` when built without `feature`.
    pub(crate) run: Option<Measure>,
    /// The cargo feature that builds `run`.
    pub(crate) feature: &'static str,
}

/// How many operations one run measures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Effort {
    /// Operations per sample.
    pub(crate) iters: u64,
    /// Samples per run.
    pub(crate) samples: u32,
    /// Operations run before timing.
    pub(crate) warmup: u64,
}

/// One row of the table: an operation measured for ours, CPython and a raw baseline.
pub(crate) struct Row {
    /// Unique name, e.g. `pipe-rtt-value`; the Python script knows the same name.
    pub(crate) name: &'static str,
    /// One sentence on the work each operation does.
    pub(crate) about: &'static str,
    /// The unit of the samples.
    pub(crate) unit: Unit,
    /// The placements measured in a full run.
    pub(crate) placements: &'static [Placement],
    /// The placements measured by `--quick`.
    pub(crate) quick_placements: &'static [Placement],
    /// Effort of a full run.
    pub(crate) full: Effort,
    /// Effort of a `--quick` run.
    pub(crate) quick: Effort,
    /// Goals for the "ours" column.
    pub(crate) targets: &'static [Target],
    /// Our implementation, `None` when built without `ours_feature`.
    pub(crate) ours: Option<Measure>,
    /// The cargo feature that builds `ours`.
    pub(crate) ours_feature: &'static str,
    /// The same work done directly on the OS.
    pub(crate) raw: Measure,
    /// The same work done with another library, for a few rows.
    pub(crate) peer: Option<Peer>,
}

/// What one run of `mpbench` measures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Where the processes run.
    pub(crate) placement: Placement,
    /// Operations per sample.
    pub(crate) iters: u64,
    /// Number of samples.
    pub(crate) samples: u32,
    /// Operations run before timing (warm caches, started servers, faulted-in pages).
    pub(crate) warmup: u64,
}

impl Config {
    /// Times `samples` batches of `iters` operations after a warm-up batch; one value per batch,
    /// the time per operation in `unit`. `batch(n)` runs n operations.
    pub(crate) fn time_samples(
        &self,
        unit: Unit,
        mut batch: impl FnMut(u64) -> io::Result<()>,
    ) -> Samples {
        if self.warmup > 0 {
            batch(self.warmup).map_err(|e| format!("warm-up: {e}"))?;
        }
        let mut out = Vec::with_capacity(self.samples as usize);
        for _ in 0..self.samples {
            let start = Instant::now();
            batch(self.iters).map_err(|e| e.to_string())?;
            out.push(unit.per_op(start.elapsed(), self.iters));
        }
        Ok(out)
    }

    /// Times `samples` whole jobs after `warmup` untimed ones; one value per job, its duration
    /// in `unit`. For rows whose operation is a job of `iters` steps (e.g. 100,000 increments).
    pub(crate) fn time_jobs(&self, unit: Unit, mut job: impl FnMut() -> io::Result<()>) -> Samples {
        for _ in 0..self.warmup {
            job().map_err(|e| format!("warm-up: {e}"))?;
        }
        let mut out = Vec::with_capacity(self.samples as usize);
        for _ in 0..self.samples {
            let start = Instant::now();
            job().map_err(|e| e.to_string())?;
            out.push(unit.per_op(start.elapsed(), 1));
        }
        Ok(out)
    }

    /// Like [`Config::time_samples`] for throughput: each operation moves `bytes_per_op` bytes
    /// and each sample is in GB/s. Every batch, the warm-up too, has `iters` operations, so a
    /// receiver can acknowledge each batch without being told its size.
    pub(crate) fn throughput_samples(
        &self,
        bytes_per_op: usize,
        mut batch: impl FnMut(u64) -> io::Result<()>,
    ) -> Samples {
        batch(self.iters).map_err(|e| format!("warm-up: {e}"))?;
        let mut out = Vec::with_capacity(self.samples as usize);
        for _ in 0..self.samples {
            let start = Instant::now();
            batch(self.iters).map_err(|e| e.to_string())?;
            let secs = start.elapsed().as_secs_f64();
            out.push(self.iters as f64 * bytes_per_op as f64 / secs / 1e9);
        }
        Ok(out)
    }

    /// Like [`Config::throughput_samples`] for message rates: each operation is one message
    /// and each sample is in millions of messages per second.
    pub(crate) fn rate_samples(&self, batch: impl FnMut(u64) -> io::Result<()>) -> Samples {
        let mut out = self.throughput_samples(1, batch)?;
        // One byte per operation in GB/s is 10^9 operations per second: 1000 M/s.
        out.iter_mut().for_each(|v| *v *= 1e3);
        Ok(out)
    }
}

/// The CPUs this process may run on.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = rustix::thread::sched_getaffinity(None)?;
    Ok((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
}

/// Pins the calling process to `cpu`; `None` leaves it where it is.
pub(crate) fn pin(cpu: Option<usize>) -> io::Result<()> {
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        set.set(cpu);
        rustix::thread::sched_setaffinity(None, &set)?;
    }
    Ok(())
}

/// Pins this process as the parent of `placement` and returns the child's CPU.
pub(crate) fn pin_parent(placement: Placement) -> Result<Option<usize>, String> {
    let (parent, child) = placement.cpus()?;
    pin(parent).map_err(|e| format!("sched_setaffinity: {e}"))?;
    Ok(child)
}

/// A forked child, killed and reaped when dropped.
pub(crate) struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    /// Waits for the child to exit by itself: its exit code, or `None` when a signal ended it.
    pub(crate) fn join(mut self) -> io::Result<Option<i32>> {
        self.reaped = true;
        wait_pid(self.pid)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = rustix::process::kill_process(self.pid, Signal::KILL);
            let _ = wait_pid(self.pid);
        }
    }
}

/// Waits for `pid`; its exit code, or `None` when a signal ended it.
pub(crate) fn wait_pid(pid: Pid) -> io::Result<Option<i32>> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(status.exit_status()),
            Ok(None) => continue,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Forks a child pinned to `cpu` that runs `body` and exits with its code (101 on panic). The
/// child dies with this process, so a killed benchmark leaves nothing behind.
pub(crate) fn fork_child(cpu: Option<usize>, body: impl FnOnce() -> i32) -> Result<Child, String> {
    let parent = rustix::process::getpid();
    // SAFETY: mpbench never starts a thread, so the child is a complete copy of a single-threaded
    // process and may run any code; it leaves through `_exit`, never returning into the caller.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        let code = catch_unwind(AssertUnwindSafe(|| {
            let orphaned = rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .is_err()
                || rustix::process::getppid() != Some(parent);
            if orphaned || pin(cpu).is_err() {
                return 102;
            }
            body()
        }))
        .unwrap_or(101);
        // SAFETY: `_exit` ends the child without running the parent's atexit handlers or
        // flushing its copied stdio buffers.
        unsafe { libc::_exit(code) }
    }
    Ok(Child {
        pid: Pid::from_raw(pid).expect("fork returned a positive pid"),
        reaped: false,
    })
}

/// Reads exactly `buf.len()` bytes; `UnexpectedEof` when the peer closed first.
pub(crate) fn read_exact(fd: impl AsFd, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match rustix::io::read(&fd, &mut buf[done..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes all of `buf`.
pub(crate) fn write_all(fd: impl AsFd, buf: &[u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match rustix::io::write(&fd, &buf[done..]) {
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A connected pair of Unix stream sockets, as CPython's duplex `Pipe()` uses.
pub(crate) fn socketpair() -> io::Result<(rustix::fd::OwnedFd, rustix::fd::OwnedFd)> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}
