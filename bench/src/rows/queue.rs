//! Queue rows: one producer process to one consumer (`Queue` and `SimpleQueue`), four producers
//! to one consumer, a put/get ping-pong, and 1 MiB items.
//!
//! The rate rows move batches of small values (the pipe rows' `(12345, 2.5, True, b"abcdefgh")`)
//! and the consumer acknowledges each batch with one byte on a socketpair, outside the measured
//! path. Their raw baseline is [`RawRing`]: 32-byte slots in shared memory, the value's 19
//! encoded bytes copied in and out, futex wake-ups only for a side that sleeps. The 1 MiB row's
//! raw baseline is the pipe row's: 1 MiB frames over a socketpair.

use super::pipe::VALUE_PAYLOAD;
use crate::harness::{
    Config, Effort, Peer, Placement, Row, Samples, Target, Unit, fork_child, pin_parent,
    read_exact, socketpair, write_all,
};
use crate::ring::{MAX_PAYLOAD, RawRing};

#[cfg(feature = "ours-queues")]
mod ours;
#[cfg(feature = "peer-ipc-channel")]
mod peer;

/// The small value; CPython puts the tuple `(12345, 2.5, True, b"abcdefgh")`.
#[cfg(any(feature = "ours-queues", feature = "peer-ipc-channel"))]
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Small {
    id: u64,
    x: f64,
    flag: bool,
    tag: [u8; 8],
}

#[cfg(any(feature = "ours-queues", feature = "peer-ipc-channel"))]
const SMALL: Small = Small {
    id: 12345,
    x: 2.5,
    flag: true,
    tag: *b"abcdefgh",
};

const PINNED: &[Placement] = &[Placement::OneCpu, Placement::Split];
const ONE_CPU: &[Placement] = &[Placement::OneCpu];

/// Producers of the many-to-one row.
const PRODUCERS: u64 = 4;

// Rate rows warm up with one whole batch whatever `warmup` says.
const RATE: Effort = Effort {
    iters: 200_000,
    samples: 5,
    warmup: 0,
};
const RATE_QUICK: Effort = Effort {
    iters: 20_000,
    samples: 3,
    warmup: 0,
};
const RTT: Effort = Effort {
    iters: 1000,
    samples: 10,
    warmup: 200,
};
const BIG: Effort = Effort {
    iters: 32,
    samples: 10,
    warmup: 32,
};
const BIG_QUICK: Effort = Effort {
    iters: 8,
    samples: 3,
    warmup: 8,
};

macro_rules! peer {
    ($f:ident) => {{
        #[cfg(feature = "peer-ipc-channel")]
        let run: Option<crate::harness::Measure> = Some(peer::$f);
        #[cfg(not(feature = "peer-ipc-channel"))]
        let run: Option<crate::harness::Measure> = None;
        Some(Peer {
            name: "ipc-channel",
            run,
            feature: "peer-ipc-channel",
        })
    }};
}

macro_rules! ours {
    ($f:ident) => {{
        #[cfg(feature = "ours-queues")]
        let run: Option<crate::harness::Measure> = Some(ours::$f);
        #[cfg(not(feature = "ours-queues"))]
        let run: Option<crate::harness::Measure> = None;
        run
    }};
}

/// The queue rows.
pub(crate) fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "queue-1to1",
            about: "Queue: one producer process puts batches of 200,000 small serde values, one \
                    consumer process gets them (messages per second); peer: ipc-channel's \
                    IpcSender and IpcReceiver",
            unit: Unit::MMsgps,
            placements: PINNED,
            quick_placements: ONE_CPU,
            full: RATE,
            quick: RATE_QUICK,
            targets: &[Target::FasterThanCpython(10.0), Target::FasterThanPeer(5.0)],
            ours: ours!(queue_1to1),
            ours_feature: "ours-queues",
            raw: raw_1to1,
            peer: peer!(ipc_1to1),
        },
        Row {
            name: "simplequeue-1to1",
            about: "SimpleQueue: one producer process puts batches of 200,000 small serde values, \
                    one consumer process gets them (messages per second)",
            unit: Unit::MMsgps,
            placements: PINNED,
            quick_placements: &[],
            full: RATE,
            quick: RATE_QUICK,
            targets: &[Target::FasterThanCpython(10.0)],
            ours: ours!(simplequeue_1to1),
            ours_feature: "ours-queues",
            raw: raw_1to1,
            peer: None,
        },
        Row {
            name: "queue-4to1",
            about: "Queue: four producer processes put 50,000 small serde values each per batch, \
                    one consumer process gets them all (messages per second); split: the \
                    producers share the second CPU",
            unit: Unit::MMsgps,
            placements: PINNED,
            quick_placements: &[],
            full: RATE,
            quick: RATE_QUICK,
            targets: &[Target::FasterThanCpython(10.0)],
            ours: ours!(queue_4to1),
            ours_feature: "ours-queues",
            raw: raw_4to1,
            peer: None,
        },
        Row {
            name: "queue-pingpong",
            about: "round trip of a small serde value through two Queues: the parent puts on one, \
                    a child gets it and puts it on the other",
            unit: Unit::Us,
            placements: PINNED,
            quick_placements: &[],
            full: RTT,
            quick: RTT,
            targets: &[Target::AtMostRaw(1.3)],
            ours: ours!(pingpong),
            ours_feature: "ours-queues",
            raw: raw_pingpong,
            peer: None,
        },
        Row {
            name: "queue-pingpong-async",
            about: "queue-pingpong with the parent's put and get as futures (put_async, \
                    get_async, current-thread tokio runtime); raw: the blocking twin, \
                    queue-pingpong's ours",
            unit: Unit::Us,
            placements: PINNED,
            quick_placements: PINNED,
            full: RTT,
            quick: RTT,
            targets: &[Target::AtMostRaw(1.3)],
            ours: ours!(pingpong_async),
            ours_feature: "ours-queues",
            raw: blocking_twin,
            peer: None,
        },
        Row {
            name: "queue-1mib",
            about: "Queue: one-way throughput of 1 MiB byte items (one shared buffer put again and \
                    again, as CPython puts one bytes object) to a \
                    child that gets them and acknowledges each batch; raw: 1 MiB frames over a \
                    socketpair",
            unit: Unit::GBps,
            placements: PINNED,
            quick_placements: ONE_CPU,
            full: BIG,
            quick: BIG_QUICK,
            targets: &[Target::AtLeastRaw(0.5)],
            ours: ours!(throughput_1mib),
            ours_feature: "ours-queues",
            raw: super::pipe::raw_throughput,
            peer: None,
        },
    ]
}

/// The raw small value's bytes.
const VALUE: [u8; VALUE_PAYLOAD] = [7; VALUE_PAYLOAD];

/// A forked consumer that acknowledges every `per_ack` items it took with `take` with one byte.
pub(crate) fn acking_consumer(
    cfg: &Config,
    child_cpu: Option<usize>,
    mut take: impl FnMut() -> bool,
) -> Result<(crate::harness::Child, rustix::fd::OwnedFd), String> {
    let per_ack = cfg.iters;
    let (ours, theirs) = socketpair().map_err(|e| e.to_string())?;
    let child = fork_child(child_cpu, move || {
        loop {
            for _ in 0..per_ack {
                if !take() {
                    return 1;
                }
            }
            if write_all(&theirs, b"k").is_err() {
                return 0;
            }
        }
    })?;
    Ok((child, ours))
}

fn raw_1to1(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let ring = RawRing::new().map_err(|e| e.to_string())?;
    let mut buf = [0u8; MAX_PAYLOAD];
    let (_child, acks) = acking_consumer(cfg, child_cpu, || ring.pop(&mut buf) == VALUE_PAYLOAD)?;
    let mut ack = [0u8; 1];
    cfg.rate_samples(|n| {
        for _ in 0..n {
            ring.push(&VALUE);
        }
        read_exact(&acks, &mut ack)
    })
}

/// Forks the producers of the many-to-one rows: each waits for a batch size (8 bytes) on its
/// socket and runs `put` that many times. The parent gets.
pub(crate) fn producers<F: FnMut() -> bool + Clone>(
    child_cpu: Option<usize>,
    put: F,
) -> Result<(Vec<crate::harness::Child>, Vec<rustix::fd::OwnedFd>), String> {
    let mut children = Vec::new();
    let mut socks = Vec::new();
    for _ in 0..PRODUCERS {
        let (ours, theirs) = socketpair().map_err(|e| e.to_string())?;
        let mut put = put.clone();
        children.push(fork_child(child_cpu, move || {
            let mut n = [0u8; 8];
            while read_exact(&theirs, &mut n).is_ok() {
                for _ in 0..u64::from_le_bytes(n) {
                    if !put() {
                        return 1;
                    }
                }
            }
            0
        })?);
        socks.push(ours);
    }
    Ok((children, socks))
}

/// Starts a batch of `n` items across the producers; the caller then takes `n` items.
pub(crate) fn start_batch(socks: &[rustix::fd::OwnedFd], n: u64) -> std::io::Result<()> {
    let each = n / PRODUCERS;
    for (i, s) in socks.iter().enumerate() {
        // The first producer also puts the remainder.
        let k = each + if i == 0 { n % PRODUCERS } else { 0 };
        write_all(s, &k.to_le_bytes())?;
    }
    Ok(())
}

fn raw_4to1(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let ring = RawRing::new().map_err(|e| e.to_string())?;
    let (_children, socks) = producers(child_cpu, || {
        ring.push_locked(&VALUE);
        true
    })?;
    let mut buf = [0u8; MAX_PAYLOAD];
    cfg.rate_samples(|n| {
        start_batch(&socks, n)?;
        for _ in 0..n {
            ring.pop(&mut buf);
        }
        Ok(())
    })
}

/// The async row's baseline: the blocking `Queue` ping-pong.
fn blocking_twin(cfg: &Config) -> Samples {
    #[cfg(feature = "ours-queues")]
    return ours::pingpong(cfg);
    #[cfg(not(feature = "ours-queues"))]
    {
        let _ = cfg;
        Err("the blocking twin needs the ours-queues feature".into())
    }
}

fn raw_pingpong(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let there = RawRing::new().map_err(|e| e.to_string())?;
    let back = RawRing::new().map_err(|e| e.to_string())?;
    let _child = fork_child(child_cpu, || {
        let mut buf = [0u8; MAX_PAYLOAD];
        loop {
            let n = there.pop(&mut buf);
            back.push(&buf[..n]);
        }
    })?;
    let mut buf = [0u8; MAX_PAYLOAD];
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            there.push(&VALUE);
            back.pop(&mut buf);
        }
        Ok(())
    })
}
