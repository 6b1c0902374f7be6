//! Our side of the pipe rows, through `multiprocessing_connection::pipe`.

use multiprocessing_connection::{Connection, pipe};
use serde::{Deserialize, Serialize};

use super::BIG_PAYLOAD;
use crate::harness::{Config, Samples, Unit, fork_child, pin_parent};

/// The small value; CPython sends the tuple `(12345, 2.5, True, b"abcdefgh")`.
#[derive(Serialize, Deserialize)]
struct Small {
    id: u64,
    x: f64,
    flag: bool,
    tag: [u8; 8],
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A parent end and a forked child that runs `serve` on the other end.
fn with_child(
    cfg: &Config,
    serve: fn(Connection) -> i32,
) -> Result<(Connection, crate::harness::Child), String> {
    let child_cpu = pin_parent(cfg.placement)?;
    let (parent, child) = pipe(true).map_err(err)?;
    let child = fork_child(child_cpu, move || serve(child))?;
    Ok((parent, child))
}

pub(crate) fn rtt_value(cfg: &Config) -> Samples {
    let (mut conn, _child) = with_child(cfg, |mut c| {
        loop {
            let Ok(v) = c.recv::<Small>() else { return 0 };
            if c.send(&v).is_err() {
                return 0;
            }
        }
    })?;
    let value = Small {
        id: 12345,
        x: 2.5,
        flag: true,
        tag: *b"abcdefgh",
    };
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            conn.send(&value).map_err(io)?;
            let _: Small = conn.recv().map_err(io)?;
        }
        Ok(())
    })
}

/// [`rtt_value`] with the parent's end async: forked first (a runtime does not survive a fork),
/// then a current-thread runtime and the end registered with it.
pub(crate) fn rtt_value_async(cfg: &Config) -> Samples {
    let (conn, _child) = with_child(cfg, |mut c| {
        loop {
            let Ok(v) = c.recv::<Small>() else { return 0 };
            if c.send(&v).is_err() {
                return 0;
            }
        }
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(err)?;
    let mut conn = {
        let _in_runtime = rt.enter();
        multiprocessing_connection::tokio::Connection::try_from(conn).map_err(err)?
    };
    let value = Small {
        id: 12345,
        x: 2.5,
        flag: true,
        tag: *b"abcdefgh",
    };
    cfg.time_samples(Unit::Us, |n| {
        rt.block_on(async {
            for _ in 0..n {
                conn.send(&value).await.map_err(io)?;
                let _: Small = conn.recv().await.map_err(io)?;
            }
            Ok(())
        })
    })
}

pub(crate) fn rtt_bytes64(cfg: &Config) -> Samples {
    let (mut conn, _child) = with_child(cfg, |mut c| {
        let mut buf = [0u8; 64];
        loop {
            let Ok(n) = c.recv_bytes_into(&mut buf) else {
                return 0;
            };
            if c.send_bytes(&buf[..n]).is_err() {
                return 0;
            }
        }
    })?;
    let mut buf = [7u8; 64];
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            conn.send_bytes(&buf).map_err(io)?;
            conn.recv_bytes_into(&mut buf).map_err(io)?;
        }
        Ok(())
    })
}

pub(crate) fn throughput_1mib(cfg: &Config) -> Samples {
    let per_ack = cfg.iters;
    let child_cpu = pin_parent(cfg.placement)?;
    let (mut conn, theirs) = pipe(true).map_err(err)?;
    let _child = fork_child(child_cpu, move || {
        let mut c = theirs;
        let mut buf = vec![0u8; BIG_PAYLOAD];
        loop {
            for _ in 0..per_ack {
                if c.recv_bytes_into(&mut buf).is_err() {
                    return 0;
                }
            }
            if c.send_bytes(b"k").is_err() {
                return 0;
            }
        }
    })?;
    let payload = vec![1u8; BIG_PAYLOAD];
    let mut ack = [0u8; 16];
    cfg.throughput_samples(BIG_PAYLOAD, |n| {
        for _ in 0..n {
            conn.send_bytes(&payload).map_err(io)?;
        }
        conn.recv_bytes_into(&mut ack).map_err(io)?;
        Ok(())
    })
}
