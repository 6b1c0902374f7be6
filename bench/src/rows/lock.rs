//! Lock rows: an uncontended acquire and release in one process.
//!
//! The raw baseline is a futex lock word in shared memory ([`crate::shm::lock`]).

use crate::harness::{Config, Effort, Placement, Row, Samples, Target, Unit, pin_parent};
use crate::shm::{SharedPage, lock, unlock};

#[cfg(feature = "ours-synchronize")]
mod ours;

/// The lock rows.
pub(crate) fn rows() -> Vec<Row> {
    vec![Row {
        name: "lock-uncontended",
        about: "acquire and release a process-shared Lock that no one else holds",
        unit: Unit::Ns,
        placements: &[Placement::OneCpu],
        quick_placements: &[Placement::OneCpu],
        full: Effort {
            iters: 1_000_000,
            samples: 10,
            warmup: 100_000,
        },
        quick: Effort {
            iters: 100_000,
            samples: 5,
            warmup: 10_000,
        },
        targets: &[Target::AtMostRaw(1.3)],
        #[cfg(feature = "ours-synchronize")]
        ours: Some(ours::uncontended),
        #[cfg(not(feature = "ours-synchronize"))]
        ours: None,
        ours_feature: "ours-synchronize",
        raw: raw_uncontended,
        peer: None,
    }]
}

fn raw_uncontended(cfg: &Config) -> Samples {
    pin_parent(cfg.placement)?;
    let page = SharedPage::new().map_err(|e| e.to_string())?;
    let word = page.word(0);
    cfg.time_samples(Unit::Ns, |n| {
        for _ in 0..n {
            lock(word);
            unlock(word);
        }
        Ok(())
    })
}
