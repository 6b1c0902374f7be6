//! The pool on MPI ranks: `MpiPool.map` of 10,000 trivial tasks over two worker ranks
//! (`mpirun -n 3`, ranks on one machine talking over shared memory), beside the local
//! `Pool(2).map` of the same tasks (the peer column), mpi4py's `mpi4py.util.pool.Pool` under
//! `mpirun -n 3 python -m mpi4py.futures` (the CPython column, where mpi4py is installed) and
//! the raw forked baseline of the pool rows.
//!
//! An MPI job initializes MPI once, so "ours" runs a job (`mpirun ... mpbench mpi-ranks`)
//! whose rank 0 measures every sample and prints them.

use crate::harness::{Effort, Peer, Placement, Row, Target, Unit};

// The ranks are not pinned (nor CPython's): one placement.
const UNPINNED: &[Placement] = &[Placement::Unpinned];

/// The row's name, which `mpbench.py` knows too.
pub(crate) const ROW: &str = "mpi-pool-map";

/// The mpi rows.
pub(crate) fn rows() -> Vec<Row> {
    vec![Row {
        name: ROW,
        about: "MpiPool.map of 10,000 trivial tasks (square a u64) over 2 worker ranks \
                (mpirun -n 3, one machine), the default chunk size (tasks per second)",
        unit: Unit::MMsgps,
        placements: UNPINNED,
        quick_placements: UNPINNED,
        full: Effort {
            iters: 10_000,
            samples: 7,
            warmup: 0,
        },
        quick: Effort {
            iters: 10_000,
            samples: 3,
            warmup: 0,
        },
        // Within 1.5x of the local pool, ahead of mpi4py.
        targets: &[Target::FasterThanPeer(0.67), Target::FasterThanCpython(1.0)],
        ours: {
            #[cfg(feature = "ours-mpi")]
            let run: Option<crate::harness::Measure> = Some(ours::map_default);
            #[cfg(not(feature = "ours-mpi"))]
            let run: Option<crate::harness::Measure> = None;
            run
        },
        ours_feature: "ours-mpi",
        raw: super::pool::raw_map_default,
        peer: Some(Peer {
            name: "local Pool",
            run: {
                #[cfg(feature = "ours-pool")]
                let run: Option<crate::harness::Measure> = Some(super::pool::ours::map_default);
                #[cfg(not(feature = "ours-pool"))]
                let run: Option<crate::harness::Measure> = None;
                run
            },
            feature: "ours-pool",
        }),
    }]
}

#[cfg(feature = "ours-mpi")]
pub(crate) mod ours {
    use std::process::Command;

    use multiprocessing_mpi::MpiPool;

    use crate::harness::{Config, Placement, Samples};

    /// The task: squares its item.
    fn square(x: u64) -> u64 {
        x.wrapping_mul(x)
    }

    /// Runs `mpirun -n 3 mpbench mpi-ranks ITERS SAMPLES` and returns rank 0's samples.
    pub(crate) fn map_default(cfg: &Config) -> Samples {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = Command::new("mpirun")
            .args(["--oversubscribe", "-n", "3"])
            .arg(exe)
            .args([
                "mpi-ranks",
                &cfg.iters.to_string(),
                &cfg.samples.to_string(),
            ])
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .output()
            .map_err(|e| format!("unavailable: mpirun: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "the MPI job failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim()).map_err(|e| e.to_string())?;
        v["samples"]
            .as_array()
            .and_then(|a| a.iter().map(serde_json::Value::as_f64).collect())
            .ok_or_else(|| format!("no samples in {line}"))
    }

    /// `mpbench mpi-ranks ITERS SAMPLES`, every rank of the job: rank 0 makes the pool over
    /// the others (which serve inside `MpiPool::new` and exit there), times `SAMPLES` maps of
    /// `ITERS` items after one untimed map, and prints `{"samples": [...]}` in Mmsg/s.
    pub(crate) fn ranks(args: &[String]) -> Result<String, String> {
        let parse = |i: usize| -> Result<u64, String> {
            args.get(i)
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| "usage: mpbench mpi-ranks ITERS SAMPLES".to_string())
        };
        let (iters, samples) = (parse(0)?, parse(1)?);
        let pool = MpiPool::new().map_err(|e| e.to_string())?;
        let cfg = Config {
            placement: Placement::Unpinned,
            iters,
            samples: u32::try_from(samples).map_err(|e| e.to_string())?,
            warmup: 0,
        };
        let got = cfg.rate_samples(|n| {
            let out = pool.map(square, 0..n).map_err(std::io::Error::other)?;
            if out.len() as u64 == n {
                Ok(())
            } else {
                Err(std::io::Error::other("results missing"))
            }
        })?;
        pool.close();
        pool.join().map_err(|e| e.to_string())?;
        Ok(serde_json::json!({ "samples": got }).to_string())
    }
}
