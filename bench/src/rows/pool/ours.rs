//! Our side of the pool rows, through `multiprocessing_pool` (fork start method, as CPython
//! 3.11's default on Linux).

use multiprocessing_pool::Pool;
use multiprocessing_process::{StartMethod, get_context};

use super::{WORKERS, default_chunksize};
use crate::harness::{Config, Samples, Unit};

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The task: squares its item.
fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn pool() -> Result<Pool, String> {
    Pool::builder()
        .processes(WORKERS)
        .context(&get_context(StartMethod::Fork))
        .build()
        .map_err(|e| e.to_string())
}

fn check(got: usize, n: u64) -> std::io::Result<()> {
    if got as u64 == n {
        Ok(())
    } else {
        Err(io(format!("{got} results for {n} tasks")))
    }
}

fn map(cfg: &Config, chunksize: Option<usize>) -> Samples {
    let pool = pool()?;
    cfg.rate_samples(|n| {
        let got = match chunksize {
            None => pool.map(square, 0..n),
            Some(cs) => pool.map_chunksize(square, 0..n, cs),
        };
        check(got.map_err(io)?.len(), n)
    })
}

pub(crate) fn map_default(cfg: &Config) -> Samples {
    map(cfg, None)
}

pub(crate) fn map_chunk1(cfg: &Config) -> Samples {
    map(cfg, Some(1))
}

fn imap_unordered(cfg: &Config, chunksize: Option<usize>) -> Samples {
    let pool = pool()?;
    cfg.rate_samples(|n| {
        let cs = chunksize.unwrap_or(default_chunksize(n as usize, WORKERS));
        let mut got = 0;
        for r in pool
            .imap_unordered_chunksize(square, 0..n, cs)
            .map_err(io)?
        {
            r.map_err(io)?;
            got += 1;
        }
        check(got, n)
    })
}

pub(crate) fn imap_unordered_default(cfg: &Config) -> Samples {
    imap_unordered(cfg, None)
}

pub(crate) fn imap_unordered_chunk1(cfg: &Config) -> Samples {
    imap_unordered(cfg, Some(1))
}

pub(crate) fn apply_rtt(cfg: &Config) -> Samples {
    let pool = pool()?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            pool.apply_async(square, (7,))
                .and_then(|r| r.get())
                .map_err(io)?;
        }
        Ok(())
    })
}

/// [`apply_rtt`] with the result awaited on a current-thread runtime: the pool's result handler
/// wakes the task instead of a condition variable.
pub(crate) fn apply_rtt_async(cfg: &Config) -> Samples {
    let pool = pool()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    cfg.time_samples(Unit::Us, |n| {
        rt.block_on(async {
            for _ in 0..n {
                pool.apply_async(square, (7,))
                    .map_err(io)?
                    .await
                    .map_err(io)?;
            }
            Ok(())
        })
    })
}

pub(crate) fn lifecycle(cfg: &Config) -> Samples {
    cfg.time_samples(Unit::Ms, |n| {
        for _ in 0..n {
            let pool = pool().map_err(io)?;
            pool.apply(square, (7,)).map_err(io)?;
            pool.close();
            pool.join().map_err(io)?;
        }
        Ok(())
    })
}
