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
