//! The peer column of the queue rows: `ipc-channel`, what a Rust user would pick today to move
//! serde values between processes.

use ipc_channel::ipc;

use super::{SMALL, Small, acking_consumer};
use crate::harness::{Config, Samples, pin_parent, read_exact};

/// `queue-1to1` with an `IpcSender` in the parent and its `IpcReceiver` in a forked child.
pub(crate) fn ipc_1to1(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let (tx, rx) = ipc::channel::<Small>().map_err(|e| e.to_string())?;
    let (_child, acks) = acking_consumer(cfg, child_cpu, move || rx.recv().is_ok())?;
    let mut ack = [0u8; 1];
    cfg.rate_samples(|n| {
        for _ in 0..n {
            tx.send(SMALL).map_err(std::io::Error::other)?;
        }
        read_exact(&acks, &mut ack)
    })
}
