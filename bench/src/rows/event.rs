//! Event rows: set/wait ping-pong between two processes over two Events.
//!
//! The parent sets `a` and waits for `b`; the child waits for `a`, clears it and sets `b`. The
//! raw baseline is two futex words in one shared page.

use crate::harness::{
    Config, Effort, Placement, Row, Samples, Target, Unit, fork_child, pin_parent,
};
use crate::shm::{SharedPage, clear, set, wait};

#[cfg(feature = "ours-synchronize")]
mod ours;

/// The event rows.
pub(crate) fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "event-pingpong",
            about: "round trip of Event set/wait between two processes (two Events, one each way)",
            unit: Unit::Us,
            placements: &Placement::ALL,
            quick_placements: &[Placement::OneCpu, Placement::Split],
            full: Effort {
                iters: 1000,
                samples: 10,
                warmup: 200,
            },
            quick: Effort {
                iters: 200,
                samples: 5,
                warmup: 50,
            },
            targets: &[Target::AtMostRaw(1.3)],
            #[cfg(feature = "ours-synchronize")]
            ours: Some(ours::pingpong),
            #[cfg(not(feature = "ours-synchronize"))]
            ours: None,
            ours_feature: "ours-synchronize",
            raw: raw_pingpong,
            peer: None,
        },
        Row {
            name: "event-pingpong-async",
            about: "event-pingpong with the parent's wait as a future (wait_async, current-thread \
                tokio runtime); raw: the blocking twin, event-pingpong's ours",
            unit: Unit::Us,
            placements: &[Placement::OneCpu, Placement::Split],
            quick_placements: &[Placement::OneCpu, Placement::Split],
            full: Effort {
                iters: 1000,
                samples: 10,
                warmup: 200,
            },
            quick: Effort {
                iters: 200,
                samples: 5,
                warmup: 50,
            },
            targets: &[Target::AtMostRaw(1.3)],
            #[cfg(feature = "ours-synchronize")]
            ours: Some(ours::pingpong_async),
            #[cfg(not(feature = "ours-synchronize"))]
            ours: None,
            ours_feature: "ours-synchronize",
            raw: blocking_twin,
            peer: None,
        },
    ]
}

/// The async row's baseline: the blocking `Event` ping-pong.
fn blocking_twin(cfg: &Config) -> Samples {
    #[cfg(feature = "ours-synchronize")]
    return ours::pingpong(cfg);
    #[cfg(not(feature = "ours-synchronize"))]
    {
        let _ = cfg;
        Err("the blocking twin needs the ours-synchronize feature".into())
    }
}

fn raw_pingpong(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let page = SharedPage::new().map_err(|e| e.to_string())?;
    let (a, b) = (page.word(0), page.word(1));
    let _child = fork_child(child_cpu, || {
        loop {
            wait(a);
            clear(a);
            set(b);
        }
    })?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            set(a);
            wait(b);
            clear(b);
        }
        Ok(())
    })
}
