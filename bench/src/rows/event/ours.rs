//! Our side of the event rows, through `multiprocessing_synchronize::Event`.

use multiprocessing_synchronize::Event;

use crate::harness::{Config, Samples, Unit, fork_child, pin_parent};

pub(crate) fn pingpong(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let a = Event::new().map_err(|e| e.to_string())?;
    let b = Event::new().map_err(|e| e.to_string())?;
    let _child = fork_child(child_cpu, || {
        loop {
            a.wait();
            a.clear();
            b.set();
        }
    })?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            a.set();
            b.wait();
            b.clear();
        }
        Ok(())
    })
}

/// `event-pingpong-async`: [`pingpong`] with the parent's wait as a future
/// (`wait_async`) on a current-thread tokio runtime; the child is the same.
pub(crate) fn pingpong_async(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let a = Event::new().map_err(|e| e.to_string())?;
    let b = Event::new().map_err(|e| e.to_string())?;
    let _child = fork_child(child_cpu, || {
        loop {
            a.wait();
            a.clear();
            b.set();
        }
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    cfg.time_samples(Unit::Us, |n| {
        rt.block_on(async {
            for _ in 0..n {
                a.set();
                b.wait_async().await;
                b.clear();
            }
        });
        Ok(())
    })
}
