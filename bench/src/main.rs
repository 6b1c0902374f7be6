//! `mpbench`: runs one benchmark measurement and prints it as one JSON line.
//!
//! ```text
//! mpbench list                                   the rows, as JSON
//! mpbench ROW IMPL PLACEMENT [--iters N] [--samples S] [--warmup W]
//!     IMPL: ours | raw | peer;  PLACEMENT: one-cpu | split | unpinned
//!     prints {"unit":"us","samples":[...]} or {"unavailable":"why"}
//! mpbench exit                                   exits at once (the raw spawn baseline's child)
//! ```
//!
//! `cargo xtask bench` drives it, beside `bench/python/mpbench.py` which takes the same arguments.

mod harness;
mod ring;
mod rows;
mod shm;

use std::process::ExitCode;

use serde_json::json;

use harness::{Config, Placement, Row, Target, UNAVAILABLE_SPLIT};

const USAGE: &str = "usage: mpbench list | mpbench exit | \
    mpbench ROW (ours|raw|peer) (one-cpu|split|unpinned) [--iters N] [--samples S] [--warmup W]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // Checked first: this is the child the raw spawn baseline times.
        Some("exit") => ExitCode::SUCCESS,
        // A rank of the MPI row's job (`rows/mpi.rs`): every rank runs this.
        #[cfg(feature = "ours-mpi")]
        Some("mpi-ranks") => match rows::mpi_ranks(&args[1..]) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mpbench: {e}");
                ExitCode::FAILURE
            }
        },
        Some("list") => {
            println!("{}", list(&rows::all()));
            ExitCode::SUCCESS
        }
        Some(_) => match measure(&args) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mpbench: {e}");
                ExitCode::FAILURE
            }
        },
        None => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}

/// The row registry as JSON, for `cargo xtask bench`.
fn list(rows: &[Row]) -> serde_json::Value {
    let effort =
        |e: harness::Effort| json!({"iters": e.iters, "samples": e.samples, "warmup": e.warmup});
    let names = |ps: &[Placement]| ps.iter().map(|p| p.name()).collect::<Vec<_>>();
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            let targets: Vec<_> = r
                .targets
                .iter()
                .map(|t| match *t {
                    Target::AtMostRaw(f) => json!({"kind": "at_most_raw", "factor": f}),
                    Target::AtLeastRaw(f) => json!({"kind": "at_least_raw", "factor": f}),
                    Target::FasterThanCpython(f) => {
                        json!({"kind": "faster_than_cpython", "factor": f})
                    }
                    Target::FasterThanPeer(f) => json!({"kind": "faster_than_peer", "factor": f}),
                })
                .collect();
            json!({
                "name": r.name,
                "about": r.about,
                "unit": r.unit.name(),
                "higher_is_better": r.unit.higher_is_better(),
                "placements": names(r.placements),
                "quick_placements": names(r.quick_placements),
                "full": effort(r.full),
                "quick": effort(r.quick),
                "targets": targets,
                "ours": r.ours.is_some(),
                "ours_feature": r.ours_feature,
                "peer": r.peer.as_ref().map(|p| json!({
                    "name": p.name,
                    "available": p.run.is_some(),
                    "feature": p.feature,
                })),
            })
        })
        .collect();
    json!({ "rows": rows })
}

fn measure(args: &[String]) -> Result<serde_json::Value, String> {
    let [row, imp, placement, flags @ ..] = args else {
        return Err(USAGE.into());
    };
    let rows = rows::all();
    let row = rows
        .iter()
        .find(|r| r.name == row)
        .ok_or_else(|| format!("unknown row `{row}`"))?;
    let placement =
        Placement::parse(placement).ok_or_else(|| format!("unknown placement `{placement}`"))?;
    let mut cfg = Config {
        placement,
        iters: row.full.iters,
        samples: row.full.samples,
        warmup: row.full.warmup,
    };
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let value = flags
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("`{flag}` needs a number, got `{value}`"))
        };
        match flag.as_str() {
            "--iters" => cfg.iters = number()?.max(1),
            "--samples" => {
                cfg.samples = u32::try_from(number()?.max(1)).map_err(|e| e.to_string())?
            }
            "--warmup" => cfg.warmup = number()?,
            _ => return Err(format!("unknown flag `{flag}`\n{USAGE}")),
        }
    }
    let run = match imp.as_str() {
        "raw" => row.raw,
        "ours" => match row.ours {
            Some(run) => run,
            None => {
                let why = format!("built without feature `{}`", row.ours_feature);
                return Ok(json!({ "unavailable": why }));
            }
        },
        "peer" => match row.peer.as_ref().map(|p| (p.run, p.feature)) {
            Some((Some(run), _)) => run,
            Some((None, feature)) => {
                let why = format!("built without feature `{feature}`");
                return Ok(json!({ "unavailable": why }));
            }
            None => return Ok(json!({ "unavailable": "no peer for this row" })),
        },
        other => {
            return Err(format!(
                "unknown implementation `{other}` (ours, raw or peer)"
            ));
        }
    };
    if let Err(why) = placement.cpus() {
        if why == UNAVAILABLE_SPLIT {
            return Ok(json!({ "unavailable": why }));
        }
        return Err(why);
    }
    let samples = run(&cfg)?;
    Ok(json!({ "unit": row.unit.name(), "samples": samples }))
}
