//! Our side of the manager rows, through `multiprocessing_managers`.

use multiprocessing_managers::update::Op;
use multiprocessing_managers::{BaseManager, Object};
use multiprocessing_process::{StartMethod, get_context};

use crate::harness::{Config, Samples, Unit, pin, pin_parent};

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Pins the server process to `cpu` (run by the manager before it serves).
fn pin_server(cpu: Option<usize>) {
    let _ = pin(cpu);
}

/// A manager whose server runs on the placement's child CPU.
fn started(cfg: &Config) -> Result<BaseManager, String> {
    let server_cpu = pin_parent(cfg.placement)?;
    BaseManager::builder()
        .context(&get_context(StartMethod::Fork))
        .initializer(pin_server, (server_cpu,))
        .start()
        .map_err(|e| e.to_string())
}

pub(crate) fn dict_set(cfg: &Config) -> Samples {
    let m = started(cfg)?;
    let d = m.dict().map_err(|e| e.to_string())?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            d.set(Object::Int(7), Object::Str("value".into()))
                .map_err(io)?;
        }
        Ok(())
    })
}

pub(crate) fn dict_get(cfg: &Config) -> Samples {
    let m = started(cfg)?;
    let d = m.dict().map_err(|e| e.to_string())?;
    d.set(Object::Int(7), Object::Str("value".into()))
        .map_err(|e| e.to_string())?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            d.get_item(Object::Int(7)).map_err(io)?;
        }
        Ok(())
    })
}

pub(crate) fn list_append(cfg: &Config) -> Samples {
    let m = started(cfg)?;
    let l = m.list(Vec::new()).map_err(|e| e.to_string())?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            l.append(Object::Int(7)).map_err(io)?;
        }
        Ok(())
    })
}

/// `d[7] += 1` safe against other processes, in one call: `update_with` (no lock).
pub(crate) fn dict_increment(cfg: &Config) -> Samples {
    let m = started(cfg)?;
    let d = m.dict().map_err(|e| e.to_string())?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            d.update_with(Object::Int(7), Op::add(1)).map_err(io)?;
        }
        Ok(())
    })
}

pub(crate) fn new_proxy_tcp(cfg: &Config) -> Samples {
    let m = BaseManager::builder()
        .context(&get_context(StartMethod::Fork))
        .address("127.0.0.1:0".parse().map_err(|e| format!("{e}"))?)
        .start()
        .map_err(|e| e.to_string())?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            drop(m.dict().map_err(io)?);
        }
        Ok(())
    })
}

pub(crate) fn lifecycle(cfg: &Config) -> Samples {
    cfg.time_samples(Unit::Ms, |n| {
        for _ in 0..n {
            let mut m = BaseManager::builder()
                .context(&get_context(StartMethod::Fork))
                .start()
                .map_err(io)?;
            m.dict().map_err(io)?;
            m.shutdown().map_err(io)?;
        }
        Ok(())
    })
}
