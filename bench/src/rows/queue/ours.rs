//! Our side of the queue rows, through `multiprocessing_queues`.

use std::sync::Arc;

use multiprocessing_queues::{Queue, SimpleQueue};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::{SMALL, Small, acking_consumer, producers, start_batch};
use crate::harness::{Config, Samples, Unit, fork_child, pin_parent, read_exact};
use crate::rows::pipe::BIG_PAYLOAD;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// `queue-1to1`: the parent puts batches on a `Queue`, a forked child gets and acknowledges.
pub(crate) fn queue_1to1(cfg: &Config) -> Samples {
    one_to_one(
        cfg,
        || Queue::<Small>::new().map_err(err),
        |q| q.put(SMALL).map_err(io),
        |q| q.get().is_ok(),
    )
}

/// `simplequeue-1to1`: as `queue-1to1` on a `SimpleQueue`.
pub(crate) fn simplequeue_1to1(cfg: &Config) -> Samples {
    one_to_one(
        cfg,
        || SimpleQueue::<Small>::new().map_err(err),
        |q| q.put(SMALL).map_err(io),
        |q| q.get().is_ok(),
    )
}

/// The 1-to-1 rows over any queue (made by `make` once the parent is pinned): the parent
/// `put`s batches, a forked child `get`s each item and acknowledges every batch with one byte.
fn one_to_one<Q: Clone>(
    cfg: &Config,
    make: impl FnOnce() -> Result<Q, String>,
    put: impl Fn(&Q) -> std::io::Result<()>,
    get: impl Fn(&Q) -> bool,
) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let q = make()?;
    let theirs = q.clone();
    let (_child, acks) = acking_consumer(cfg, child_cpu, move || get(&theirs))?;
    let mut ack = [0u8; 1];
    cfg.rate_samples(|n| {
        for _ in 0..n {
            put(&q)?;
        }
        read_exact(&acks, &mut ack)
    })
}

/// `queue-4to1`: four forked producers put, the parent gets every item of the batch.
pub(crate) fn queue_4to1(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let q = Queue::<Small>::new().map_err(err)?;
    let theirs = q.clone();
    let (_children, socks) = producers(child_cpu, move || theirs.put(SMALL).is_ok())?;
    cfg.rate_samples(|n| {
        start_batch(&socks, n)?;
        for _ in 0..n {
            q.get().map_err(io)?;
        }
        Ok(())
    })
}

/// `queue-pingpong`: one value there on one `Queue` and back on another.
pub(crate) fn pingpong(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let there = Queue::<Small>::new().map_err(err)?;
    let back = Queue::<Small>::new().map_err(err)?;
    let (t, b) = (there.clone(), back.clone());
    let _child = fork_child(child_cpu, move || {
        while let Ok(v) = t.get() {
            if b.put(v).is_err() {
                return 1;
            }
        }
        0
    })?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            there.put(SMALL).map_err(io)?;
            back.get().map_err(io)?;
        }
        Ok(())
    })
}

/// `queue-pingpong-async`: [`pingpong`] with the parent's put and get as futures
/// (`put_async`, `get_async`) on a current-thread tokio runtime; the child is the same.
pub(crate) fn pingpong_async(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let there = Queue::<Small>::new().map_err(err)?;
    let back = Queue::<Small>::new().map_err(err)?;
    let (t, b) = (there.clone(), back.clone());
    let _child = fork_child(child_cpu, move || {
        while let Ok(v) = t.get() {
            if b.put(v).is_err() {
                return 1;
            }
        }
        0
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(err)?;
    cfg.time_samples(Unit::Us, |n| {
        rt.block_on(async {
            for _ in 0..n {
                there.put_async(SMALL).await.map_err(io)?;
                back.get_async().await.map_err(io)?;
            }
            Ok(())
        })
    })
}

/// `queue-1mib`: 1 MiB [`Blob`] items to a forked child that acknowledges each batch.
pub(crate) fn throughput_1mib(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let q = Queue::<Blob>::new().map_err(err)?;
    let theirs = q.clone();
    let (_child, acks) = acking_consumer(cfg, child_cpu, move || {
        theirs.get().is_ok_and(|b| b.0.len() == BIG_PAYLOAD)
    })?;
    let payload = Blob(Arc::new(vec![1u8; BIG_PAYLOAD]));
    let mut ack = [0u8; 1];
    cfg.throughput_samples(BIG_PAYLOAD, |n| {
        for _ in 0..n {
            q.put(payload.clone()).map_err(io)?;
        }
        read_exact(&acks, &mut ack)
    })
}

/// A byte buffer that encodes as one byte string (as `serde_bytes` does) and is shared by
/// reference: a producer that puts the same bytes again and again clones an `Arc`, as CPython
/// puts the same `bytes` object. The consumer gets its own buffer.
#[derive(Clone)]
struct Blob(Arc<Vec<u8>>);

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Blob(Arc::new(ByteBuf::deserialize(d)?.into_vec())))
    }
}
