//! Our side of the value rows, through `multiprocessing_sharedctypes::Value`.

use multiprocessing_sharedctypes::Value;

use crate::harness::{
    Config, Samples, Unit, fork_child, pin_parent, read_exact, socketpair, write_all,
};

pub(crate) fn add_2proc(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let value = Value::<i64>::new(0).map_err(|e| e.to_string())?;
    let (ours, theirs) = socketpair().map_err(|e| e.to_string())?;
    let adds = cfg.iters;
    let add = |v: &Value<i64>| -> std::io::Result<()> {
        for _ in 0..adds {
            v.lock()
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .update(|x| *x += 1);
        }
        Ok(())
    };
    let _child = fork_child(child_cpu, || {
        let mut byte = [0u8; 1];
        while read_exact(&theirs, &mut byte).is_ok() {
            if add(&value).is_err() || write_all(&theirs, b"d").is_err() {
                return 1;
            }
        }
        0
    })?;
    let mut byte = [0u8; 1];
    cfg.time_jobs(Unit::Ms, || {
        value
            .lock()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .set(0);
        write_all(&ours, b"g")?;
        add(&value)?;
        read_exact(&ours, &mut byte)?;
        let total = value
            .lock()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .get();
        if total != 2 * adds as i64 {
            return Err(std::io::Error::other(format!("counted {total}")));
        }
        Ok(())
    })
}
