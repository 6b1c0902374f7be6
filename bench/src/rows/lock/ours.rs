//! Our side of the lock rows, through `multiprocessing_synchronize::Lock`.

use multiprocessing_synchronize::Lock;

use crate::harness::{Config, Samples, Unit, pin_parent};

pub(crate) fn uncontended(cfg: &Config) -> Samples {
    pin_parent(cfg.placement)?;
    let lock = Lock::new().map_err(|e| e.to_string())?;
    cfg.time_samples(Unit::Ns, |n| {
        for _ in 0..n {
            let guard = lock
                .lock()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            drop(guard);
        }
        Ok(())
    })
}
