//! Value rows: two processes each add 1 to a locked shared integer `iters` times.
//!
//! A sample is one whole job: the parent signals a waiting child, both add, the child reports
//! done. The raw baseline is a futex lock word and a counter in one shared page.

use std::sync::atomic::Ordering;

use crate::harness::{
    Config, Effort, Placement, Row, Samples, Target, Unit, fork_child, pin_parent, read_exact,
    socketpair, write_all,
};
use crate::shm::{SharedPage, lock, unlock};

#[cfg(feature = "ours-sharedctypes")]
mod ours;

/// The value rows.
pub(crate) fn rows() -> Vec<Row> {
    vec![Row {
        name: "value-add-2proc",
        about: "two processes each add 1 to a locked shared Value 100,000 times (time for both)",
        unit: Unit::Ms,
        placements: &Placement::ALL,
        quick_placements: &[Placement::OneCpu, Placement::Split],
        full: Effort {
            iters: 100_000,
            samples: 5,
            warmup: 1,
        },
        quick: Effort {
            iters: 100_000,
            samples: 2,
            warmup: 1,
        },
        targets: &[Target::AtMostRaw(1.5), Target::FasterThanCpython(10.0)],
        #[cfg(feature = "ours-sharedctypes")]
        ours: Some(ours::add_2proc),
        #[cfg(not(feature = "ours-sharedctypes"))]
        ours: None,
        ours_feature: "ours-sharedctypes",
        raw: raw_add_2proc,
        peer: None,
    }]
}

fn raw_add_2proc(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let page = SharedPage::new().map_err(|e| e.to_string())?;
    let (ours, theirs) = socketpair().map_err(|e| e.to_string())?;
    let adds = cfg.iters;
    // A plain load and store under the lock, as `value += 1` is.
    let add = |page: &SharedPage| {
        let (word, counter) = (page.word(0), page.word(1));
        for _ in 0..adds {
            lock(word);
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            unlock(word);
        }
    };
    let _child = fork_child(child_cpu, || {
        let mut byte = [0u8; 1];
        while read_exact(&theirs, &mut byte).is_ok() {
            add(&page);
            if write_all(&theirs, b"d").is_err() {
                return 0;
            }
        }
        0
    })?;
    let counter = page.word(1);
    let mut byte = [0u8; 1];
    cfg.time_jobs(Unit::Ms, || {
        counter.store(0, Ordering::Relaxed);
        write_all(&ours, b"g")?;
        add(&page);
        read_exact(&ours, &mut byte)?;
        let total = u64::from(counter.load(Ordering::Relaxed));
        if total != 2 * adds {
            return Err(std::io::Error::other(format!(
                "counted {total}, not {}",
                2 * adds
            )));
        }
        Ok(())
    })
}
