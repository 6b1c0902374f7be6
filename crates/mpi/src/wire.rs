//! The messages between the pool's rank 0 and its worker ranks, and waiting for them.
//!
//! Every message is one MPI message of bytes (tag 0) encoded with the project's codec. Rank 0
//! never blocks in MPI: it sends with `MPI_Isend` (a worker busy with a task cannot stall it,
//! and neither side can wait on the other's send) and polls for replies.

use std::time::Duration;

use mpi::point_to_point::{Destination, MatchedReceiveVec, Source, Status};
use mpi::topology::{Communicator, Rank, SimpleCommunicator};
use multiprocessing_core::backoff::Backoff;
use multiprocessing_core::code::CodeWire;
use multiprocessing_core::codec;
use multiprocessing_core::outcome::PanicInfo;
use multiprocessing_pool::remote::TaskReply;
use serde::{Deserialize, Serialize};

/// Bytes inside a message, encoded as one byte string.
pub(crate) type Bytes = serde_bytes::ByteBuf;

/// Rank 0 to a worker.
#[derive(Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// The worker runs this executable: here is the family's authkey, and the initializer to
    /// run (its trampoline's reference and encoded arguments) before answering `Ready`.
    Welcome {
        authkey: Bytes,
        init: Option<(CodeWire, Bytes)>,
    },
    /// The worker may not serve (another executable somewhere): it exits.
    Reject { reason: String },
    /// Run these tasks of one target, in order, after those already sent.
    Tasks {
        code: CodeWire,
        tasks: Vec<(u64, Bytes)>,
    },
    /// Exit once the tasks sent are answered.
    Stop,
}

/// A worker to rank 0.
#[derive(Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The worker's first message: where it runs and what it runs.
    Hello {
        host: String,
        pid: u32,
        fingerprint: Bytes,
    },
    /// Welcomed, and the initializer (if any) returned: the worker takes tasks.
    Ready,
    /// The initializer panicked (or was refused); the worker takes no task.
    InitFailed(PanicInfo),
    /// Task `id` ended.
    Done { id: u64, reply: TaskReply },
}

/// How long a waiting side sleeps at most between two polls, once spinning and yielding found
/// nothing (MPI has no descriptor to block on without burning a CPU).
pub(crate) const POLL_SLEEP_MAX: Duration = Duration::from_millis(1);

/// Polls with a backoff: spins, yields, then sleeps a little longer each time.
pub(crate) struct Poller {
    backoff: Backoff,
    sleep: Duration,
}

impl Poller {
    pub(crate) fn new() -> Poller {
        Poller {
            backoff: Backoff::new(),
            sleep: Duration::from_micros(20),
        }
    }

    /// Progress was made: the next wait starts short again.
    pub(crate) fn reset(&mut self) {
        self.backoff.reset();
        self.sleep = Duration::from_micros(20);
    }

    /// Nothing happened: waits a little before the next poll.
    pub(crate) fn idle(&mut self) {
        self.idle_at_most(POLL_SLEEP_MAX);
    }

    /// As [`idle`](Self::idle), sleeping at most `max` (what is awaited is due soon).
    pub(crate) fn idle_at_most(&mut self, max: Duration) {
        if !self.backoff.is_completed() {
            self.backoff.snooze();
            return;
        }
        let sleep = self.sleep.min(max);
        std::thread::sleep(sleep);
        self.sleep = (sleep * 2).min(POLL_SLEEP_MAX);
    }
}

/// Encodes `msg` (a codec failure here is a bug: every field is plain data).
pub(crate) fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    codec::encode(msg).unwrap_or_else(|e| unreachable!("a pool message always encodes: {e}"))
}

/// Sends `msg` to `rank`, blocking until MPI has taken it (workers only: rank 0 polls for
/// their messages at all times, so the send completes).
pub(crate) fn send_blocking<T: Serialize>(comm: &SimpleCommunicator, rank: Rank, msg: &T) {
    comm.process_at_rank(rank).send(&encode(msg)[..]);
}

/// The next message from `rank` (or any rank), waiting with a [`Poller`]; `None` when
/// `give_up` says so between polls.
pub(crate) fn receive<T: for<'de> Deserialize<'de>>(
    comm: &SimpleCommunicator,
    rank: Option<Rank>,
    mut give_up: impl FnMut() -> bool,
) -> Option<(Rank, Result<T, multiprocessing_core::Error>)> {
    let mut poller = Poller::new();
    loop {
        if let Some(got) = try_receive(comm, rank) {
            return Some(got);
        }
        if give_up() {
            return None;
        }
        poller.idle();
    }
}

/// A message from `rank` (or any rank) if one has arrived.
pub(crate) fn try_receive<T: for<'de> Deserialize<'de>>(
    comm: &SimpleCommunicator,
    rank: Option<Rank>,
) -> Option<(Rank, Result<T, multiprocessing_core::Error>)> {
    let probed = match rank {
        Some(r) => comm.process_at_rank(r).immediate_matched_probe(),
        None => comm.any_process().immediate_matched_probe(),
    };
    let (bytes, status): (Vec<u8>, Status) = probed?.matched_receive_vec::<u8>();
    Some((status.source_rank(), codec::decode(&bytes)))
}
