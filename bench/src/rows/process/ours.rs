//! Our side of the process rows, through `multiprocessing_process`.

use multiprocessing_process::{StartMethod, get_context};

use crate::harness::{Config, Samples, Unit, pin_parent};

/// The target: does nothing, like CPython's `Process(target=noop)`.
fn noop() {}

fn start_join(cfg: &Config, method: StartMethod) -> Samples {
    pin_parent(cfg.placement)?;
    let ctx = get_context(method);
    cfg.time_samples(Unit::Ms, |n| {
        for _ in 0..n {
            let p = ctx
                .process(noop, ())
                .start()
                .map_err(std::io::Error::other)?;
            p.join().map_err(std::io::Error::other)?;
        }
        Ok(())
    })
}

pub(crate) fn start_fork(cfg: &Config) -> Samples {
    start_join(cfg, StartMethod::Fork)
}

pub(crate) fn start_spawn(cfg: &Config) -> Samples {
    start_join(cfg, StartMethod::Spawn)
}

pub(crate) fn start_forkserver(cfg: &Config) -> Samples {
    start_join(cfg, StartMethod::ForkServer)
}
