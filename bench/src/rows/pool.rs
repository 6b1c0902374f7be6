//! Pool rows: `Pool(2).map` and `imap_unordered` of 200,000 trivial tasks (the default chunk
//! size and one item per task), an `apply_async(..).get()` round trip (and its `.await` on tokio
//! against it), and a pool's whole life (create, first result, close, join).
//!
//! The task squares a `u64`. The raw baseline is the same work without a library: two forked
//! workers, each fed chunks of the items over its own socketpair (eight bytes an item, at most
//! two chunks in flight per worker), answering their squares.

use std::io;

use rustix::fd::OwnedFd;

use crate::harness::{
    Child, Config, Effort, Placement, Row, Samples, Target, Unit, fork_child, read_exact,
    socketpair, write_all,
};

#[cfg(feature = "ours-pool")]
pub(crate) mod ours;

/// The pool's size, CPython's `Pool(2)`.
const WORKERS: usize = 2;

// The pool's workers are not pinned (ours or CPython's): one placement.
const UNPINNED: &[Placement] = &[Placement::Unpinned];

const MAP: Effort = Effort {
    iters: 200_000,
    samples: 5,
    warmup: 0,
};
const MAP_QUICK: Effort = Effort {
    iters: 20_000,
    samples: 3,
    warmup: 0,
};
const RTT: Effort = Effort {
    iters: 500,
    samples: 5,
    warmup: 50,
};
const LIFE: Effort = Effort {
    iters: 1,
    samples: 20,
    warmup: 2,
};
const LIFE_QUICK: Effort = Effort {
    iters: 1,
    samples: 5,
    warmup: 1,
};

macro_rules! ours {
    ($f:ident) => {{
        #[cfg(feature = "ours-pool")]
        let run: Option<crate::harness::Measure> = Some(ours::$f);
        #[cfg(not(feature = "ours-pool"))]
        let run: Option<crate::harness::Measure> = None;
        run
    }};
}

/// Python's default chunk size for `map` of `n` items over `workers` workers.
pub(crate) fn default_chunksize(n: usize, workers: usize) -> usize {
    n.div_ceil(workers * 4).max(1)
}

/// The pool rows.
pub(crate) fn rows() -> Vec<Row> {
    let rate = |name, about| Row {
        name,
        about,
        unit: Unit::MMsgps,
        placements: UNPINNED,
        quick_placements: UNPINNED,
        full: MAP,
        quick: MAP_QUICK,
        targets: &[Target::FasterThanCpython(10.0)],
        ours: None,
        ours_feature: "ours-pool",
        raw: raw_map_default,
        peer: None,
    };
    vec![
        Row {
            ours: ours!(map_default),
            ..rate(
                "pool-map",
                "Pool(2).map of 200,000 trivial tasks (square a u64), the default chunk size \
                 (tasks per second)",
            )
        },
        Row {
            ours: ours!(map_chunk1),
            raw: raw_map_chunk1,
            ..rate(
                "pool-map-chunk1",
                "Pool(2).map of 200,000 trivial tasks, chunksize 1: one task per item \
                 (tasks per second)",
            )
        },
        Row {
            ours: ours!(imap_unordered_default),
            ..rate(
                "pool-imap-unordered",
                "Pool(2).imap_unordered of 200,000 trivial tasks, chunks of map's default size \
                 (tasks per second)",
            )
        },
        Row {
            ours: ours!(imap_unordered_chunk1),
            raw: raw_map_chunk1,
            ..rate(
                "pool-imap-unordered-chunk1",
                "Pool(2).imap_unordered of 200,000 trivial tasks, chunksize 1 (imap's default; \
                 tasks per second)",
            )
        },
        Row {
            name: "pool-apply-rtt",
            about: "apply_async(square, (7,)).get() on a running Pool(2): one task's round trip",
            unit: Unit::Us,
            placements: UNPINNED,
            quick_placements: UNPINNED,
            full: RTT,
            quick: RTT,
            targets: &[Target::FasterThanCpython(10.0)],
            ours: ours!(apply_rtt),
            ours_feature: "ours-pool",
            raw: raw_rtt,
            peer: None,
        },
        Row {
            name: "pool-apply-rtt-async",
            about: "pool-apply-rtt with the result awaited (AsyncResult: IntoFuture) on a \
                    current-thread tokio runtime; the raw column is the blocking get(), \
                    pool-apply-rtt's ours",
            unit: Unit::Us,
            placements: UNPINNED,
            quick_placements: UNPINNED,
            full: RTT,
            quick: RTT,
            targets: &[Target::AtMostRaw(1.3)],
            ours: ours!(apply_rtt_async),
            ours_feature: "ours-pool",
            #[cfg(feature = "ours-pool")]
            raw: ours::apply_rtt,
            // Without our crate the blocking twin is not built: the socketpair baseline stands in.
            #[cfg(not(feature = "ours-pool"))]
            raw: raw_rtt,
            peer: None,
        },
        Row {
            name: "pool-lifecycle",
            about: "create a Pool(2) (fork), get one apply's result, close and join it",
            unit: Unit::Ms,
            placements: UNPINNED,
            quick_placements: UNPINNED,
            full: LIFE,
            quick: LIFE_QUICK,
            targets: &[Target::FasterThanCpython(10.0)],
            ours: ours!(lifecycle),
            ours_feature: "ours-pool",
            raw: raw_lifecycle,
            peer: None,
        },
    ]
}

/// A raw worker: reads `[count: u32][count u64s]` and answers the squares; count 0 ends it.
fn raw_worker(fd: &OwnedFd) -> i32 {
    let mut items = Vec::new();
    let mut out = Vec::new();
    loop {
        let mut head = [0u8; 4];
        if read_exact(fd, &mut head).is_err() {
            return 1;
        }
        let count = u32::from_le_bytes(head) as usize;
        if count == 0 {
            return 0;
        }
        items.resize(count * 8, 0);
        if read_exact(fd, &mut items).is_err() {
            return 1;
        }
        out.clear();
        for x in items.chunks_exact(8) {
            let x = u64::from_le_bytes(x.try_into().expect("8 bytes"));
            out.extend_from_slice(&x.wrapping_mul(x).to_le_bytes());
        }
        if write_all(fd, &out).is_err() {
            return 1;
        }
    }
}

/// The raw pool: forked workers, one socketpair each.
struct RawPool {
    workers: Vec<(Child, OwnedFd)>,
}

impl RawPool {
    fn start() -> Result<RawPool, String> {
        let mut workers = Vec::with_capacity(WORKERS);
        for _ in 0..WORKERS {
            let (ours, theirs) = socketpair().map_err(|e| e.to_string())?;
            let child = fork_child(None, move || raw_worker(&theirs))?;
            workers.push((child, ours));
        }
        Ok(RawPool { workers })
    }

    fn send(&self, worker: usize, items: std::ops::Range<u64>) -> io::Result<()> {
        let mut buf = Vec::with_capacity(4 + 8 * (items.end - items.start) as usize);
        buf.extend_from_slice(&((items.end - items.start) as u32).to_le_bytes());
        for x in items {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        write_all(&self.workers[worker].1, &buf)
    }

    fn recv(&self, worker: usize, count: usize, into: &mut Vec<u64>) -> io::Result<()> {
        let mut buf = vec![0u8; count * 8];
        read_exact(&self.workers[worker].1, &mut buf)?;
        into.extend(
            buf.chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
        );
        Ok(())
    }

    /// Squares `0..n` in chunks of `chunksize`, at most two chunks in flight per worker.
    fn map(&self, n: u64, chunksize: u64) -> io::Result<Vec<u64>> {
        let chunks: Vec<std::ops::Range<u64>> = (0..n.div_ceil(chunksize))
            .map(|i| i * chunksize..((i + 1) * chunksize).min(n))
            .collect();
        let mut next = 0;
        let mut in_flight: Vec<std::collections::VecDeque<usize>> =
            vec![Default::default(); WORKERS];
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..2 {
            for (w, queue) in in_flight.iter_mut().enumerate() {
                if next < chunks.len() {
                    self.send(w, chunks[next].clone())?;
                    queue.push_back(next);
                    next += 1;
                }
            }
        }
        while in_flight.iter().any(|q| !q.is_empty()) {
            for (w, queue) in in_flight.iter_mut().enumerate() {
                if let Some(c) = queue.pop_front() {
                    let r = &chunks[c];
                    self.recv(w, (r.end - r.start) as usize, &mut out)?;
                    if next < chunks.len() {
                        self.send(w, chunks[next].clone())?;
                        queue.push_back(next);
                        next += 1;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Tells every worker to stop and reaps it.
    fn join(self) -> io::Result<()> {
        for (child, fd) in self.workers {
            write_all(&fd, &0u32.to_le_bytes())?;
            child.join()?;
        }
        Ok(())
    }
}

fn check(got: usize, n: u64) -> io::Result<()> {
    if got as u64 == n {
        Ok(())
    } else {
        Err(io::Error::other(format!("{got} results for {n} tasks")))
    }
}

fn raw_map(cfg: &Config, chunksize: Option<u64>) -> Samples {
    let pool = RawPool::start()?;
    let samples = cfg.rate_samples(|n| {
        let cs = chunksize.unwrap_or(default_chunksize(n as usize, WORKERS) as u64);
        check(pool.map(n, cs)?.len(), n)
    })?;
    pool.join().map_err(|e| e.to_string())?;
    Ok(samples)
}

pub(crate) fn raw_map_default(cfg: &Config) -> Samples {
    raw_map(cfg, None)
}

fn raw_map_chunk1(cfg: &Config) -> Samples {
    raw_map(cfg, Some(1))
}

fn raw_rtt(cfg: &Config) -> Samples {
    let pool = RawPool::start()?;
    let mut out = Vec::with_capacity(1);
    let samples = cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            out.clear();
            pool.send(0, 7..8)?;
            pool.recv(0, 1, &mut out)?;
        }
        Ok(())
    })?;
    pool.join().map_err(|e| e.to_string())?;
    Ok(samples)
}

fn raw_lifecycle(cfg: &Config) -> Samples {
    cfg.time_samples(Unit::Ms, |n| {
        for _ in 0..n {
            let pool = RawPool::start().map_err(io::Error::other)?;
            let mut out = Vec::with_capacity(1);
            pool.send(0, 7..8)?;
            pool.recv(0, 1, &mut out)?;
            pool.join()?;
        }
        Ok(())
    })
}
