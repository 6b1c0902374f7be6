//! Pipe rows: round trips through a duplex `Pipe` (blocking, and async on tokio against its
//! blocking twin) and one-way 1 MiB `send_bytes` throughput.
//!
//! The raw baseline is a Unix socketpair (what a duplex `Pipe` is on Linux) moving frames of the
//! same size with plain `read`/`write`.

use crate::harness::{
    Config, Effort, Placement, Row, Samples, Target, Unit, fork_child, pin_parent, read_exact,
    socketpair, write_all,
};

#[cfg(feature = "ours-connection")]
mod ours;

const ALL: &[Placement] = &Placement::ALL;
const PINNED: &[Placement] = &[Placement::OneCpu, Placement::Split];

/// Length of the postcard encoding of the small value `(12345u64, 2.5f64, true, *b"abcdefgh")`:
/// varint (2) + f64 (8) + bool (1) + [u8; 8] (8).
pub(crate) const VALUE_PAYLOAD: usize = 19;
/// Size of the raw-bytes message.
const BYTES_PAYLOAD: usize = 64;
/// Size of one throughput message.
pub(crate) const BIG_PAYLOAD: usize = 1 << 20;
/// CPython's frame header: a 4-byte big-endian length.
const HEADER: usize = 4;

const RTT: Effort = Effort {
    iters: 1000,
    samples: 10,
    warmup: 200,
};
const RTT_QUICK: Effort = Effort {
    iters: 200,
    samples: 5,
    warmup: 50,
};
// Throughput rows warm up with one whole batch whatever `warmup` says.
const BIG: Effort = Effort {
    iters: 32,
    samples: 10,
    warmup: 32,
};
const BIG_QUICK: Effort = Effort {
    iters: 8,
    samples: 5,
    warmup: 8,
};

/// The pipe rows.
pub(crate) fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "pipe-rtt-value",
            about: "round trip of a small serde value (u64, f64, bool, 8 bytes) through a duplex \
                    Pipe: the parent sends it, a child receives it and sends it back",
            unit: Unit::Us,
            placements: ALL,
            quick_placements: PINNED,
            full: RTT,
            quick: RTT_QUICK,
            targets: &[Target::AtMostRaw(1.3)],
            #[cfg(feature = "ours-connection")]
            ours: Some(ours::rtt_value),
            #[cfg(not(feature = "ours-connection"))]
            ours: None,
            ours_feature: "ours-connection",
            raw: |cfg| raw_rtt(cfg, HEADER + VALUE_PAYLOAD),
            peer: None,
        },
        Row {
            name: "pipe-rtt-value-async",
            about: "pipe-rtt-value with the parent's end an async Connection awaited on a \
                    current-thread tokio runtime (the child answers with the blocking API); \
                    the raw column is the blocking form, pipe-rtt-value's ours; CPython \
                    awaits each recv() in an asyncio executor thread",
            unit: Unit::Us,
            placements: ALL,
            quick_placements: PINNED,
            full: RTT,
            quick: RTT_QUICK,
            targets: &[Target::AtMostRaw(1.3)],
            #[cfg(feature = "ours-connection")]
            ours: Some(ours::rtt_value_async),
            #[cfg(not(feature = "ours-connection"))]
            ours: None,
            ours_feature: "ours-connection",
            #[cfg(feature = "ours-connection")]
            raw: ours::rtt_value,
            // Without our crate the blocking twin is not built: the socketpair baseline stands in.
            #[cfg(not(feature = "ours-connection"))]
            raw: |cfg| raw_rtt(cfg, HEADER + VALUE_PAYLOAD),
            peer: None,
        },
        Row {
            name: "pipe-rtt-bytes64",
            about: "round trip of 64 raw bytes through a duplex Pipe with send_bytes/recv_bytes",
            unit: Unit::Us,
            placements: ALL,
            quick_placements: PINNED,
            full: RTT,
            quick: RTT_QUICK,
            targets: &[Target::AtMostRaw(1.3)],
            #[cfg(feature = "ours-connection")]
            ours: Some(ours::rtt_bytes64),
            #[cfg(not(feature = "ours-connection"))]
            ours: None,
            ours_feature: "ours-connection",
            raw: |cfg| raw_rtt(cfg, HEADER + BYTES_PAYLOAD),
            peer: None,
        },
        Row {
            name: "pipe-1mib",
            about: "one-way throughput of 1 MiB send_bytes messages to a child that receives \
                    them and acknowledges each batch",
            unit: Unit::GBps,
            placements: PINNED,
            quick_placements: &[Placement::OneCpu],
            full: BIG,
            quick: BIG_QUICK,
            targets: &[Target::AtLeastRaw(0.8)],
            #[cfg(feature = "ours-connection")]
            ours: Some(ours::throughput_1mib),
            #[cfg(not(feature = "ours-connection"))]
            ours: None,
            ours_feature: "ours-connection",
            raw: raw_throughput,
            peer: None,
        },
    ]
}

/// Ping-pong of `frame` bytes over a socketpair.
pub(crate) fn raw_rtt(cfg: &Config, frame: usize) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let (ours, theirs) = socketpair().map_err(|e| e.to_string())?;
    let _child = fork_child(child_cpu, move || {
        let mut buf = [0u8; 256];
        let buf = &mut buf[..frame];
        loop {
            if read_exact(&theirs, buf).is_err() || write_all(&theirs, buf).is_err() {
                return 0;
            }
        }
    })?;
    let mut buf = [7u8; 256];
    let buf = &mut buf[..frame];
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            write_all(&ours, buf)?;
            read_exact(&ours, buf)?;
        }
        Ok(())
    })
}

/// Frames of a 4-byte header and 1 MiB over a socketpair; the child acknowledges each batch of
/// `iters` frames with one byte.
pub(crate) fn raw_throughput(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let (ours, theirs) = socketpair().map_err(|e| e.to_string())?;
    let per_ack = cfg.iters;
    let _child = fork_child(child_cpu, move || {
        let mut buf = vec![0u8; BIG_PAYLOAD];
        let batch = per_ack as usize * (HEADER + BIG_PAYLOAD);
        loop {
            let mut left = batch;
            while left > 0 {
                let n = left.min(buf.len());
                if read_exact(&theirs, &mut buf[..n]).is_err() {
                    return 0;
                }
                left -= n;
            }
            if write_all(&theirs, b"k").is_err() {
                return 0;
            }
        }
    })?;
    let mut frame = vec![1u8; HEADER + BIG_PAYLOAD];
    frame[..HEADER].copy_from_slice(&(BIG_PAYLOAD as u32).to_be_bytes());
    let mut ack = [0u8; 1];
    // Every batch has `per_ack` frames (see `throughput_samples`).
    cfg.throughput_samples(BIG_PAYLOAD, |n| {
        for _ in 0..n {
            write_all(&ours, &frame)?;
        }
        read_exact(&ours, &mut ack)
    })
}
