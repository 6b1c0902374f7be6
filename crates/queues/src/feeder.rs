//! The feeder: Python's feeder thread, for what an unbounded queue's `put` cannot write now.
//!
//! `put` on an unbounded queue returns at once, as in Python. It writes the item into the ring
//! itself when the ring has room (the usual case: no thread, no copy); when the ring is full,
//! or another writer holds it for longer than a moment, the encoded item goes into this
//! process's outbox for the queue, and a feeder thread, started then, writes the outbox into
//! the ring as room appears. Once the outbox holds something, later puts of this process append
//! to it, so items still arrive in the order each producer put them.
//!
//! While the outbox holds items the feeder counts as a handle of the queue (a consumer does not
//! see the queue disconnected while items are still on their way). At a normal exit the process
//! waits for its outboxes to drain ([`flush_at_exit`], an exit hook) as long as they make
//! progress, and gives up after [`STALL`] without any: what it drops is counted in the queue's
//! `lost()` (and as done for `JoinableQueue::join`) and reported through `tracing`, so a
//! process that put more than a reader takes still exits (the "joining processes that use
//! queues" deadlock of Python's guidelines does not happen). `cancel_join_thread` drops the
//! outbox at exit without waiting, as in Python.
//!
//! Fork safety: the outboxes live under one [`ForkMutex`], never inherited locked; a forked
//! child starts with none (the parent's items are the parent's to write) and no feeder thread.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, MutexGuard};
use std::time::{Duration, Instant};

use multiprocessing_core::fork::ForkMutex;
use multiprocessing_core::time::Deadline;

use crate::channel::Channel;
use crate::wait::SLICE;

/// How long an exiting process waits for an outbox that makes no progress (no item written
/// into the ring meanwhile) before it drops what is left.
pub(crate) const STALL: Duration = Duration::from_secs(3);

/// One queue's outbox in this process.
struct Outbox {
    ch: Arc<Channel>,
    items: VecDeque<Vec<u8>>,
    bytes: usize,
    /// The feeder took an item and is writing it.
    in_flight: bool,
    /// A feeder thread runs for this outbox.
    running: bool,
    /// Items the feeder wrote: progress, for the exit flush.
    written: u64,
}

impl Outbox {
    fn busy(&self) -> bool {
        !self.items.is_empty() || self.in_flight
    }
}

/// Every outbox of this process with items in it or a feeder running.
static OUTBOXES: ForkMutex<Vec<Outbox>> = ForkMutex::new(Vec::new());
/// Signalled when an outbox changes (an item queued or written, a feeder ending).
static CHANGED: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, Vec<Outbox>> {
    OUTBOXES.lock()
}

fn find<'a>(list: &'a mut [Outbox], ch: &Channel) -> Option<&'a mut Outbox> {
    list.iter_mut()
        .find(|o| std::ptr::eq(Arc::as_ptr(&o.ch), ch))
}

/// Makes sure the outboxes' lock is known to the fork registry before the queues' fork hook,
/// so the hook can take it in a forked child (hooks run after a fork in registration order).
pub(crate) fn register_before_hook() {
    drop(lock());
}

/// Queues an encoded item for the feeder (the caller already counted a joinable task).
pub(crate) fn push(ch: &Arc<Channel>, item: Vec<u8>) {
    // Before taking the outboxes' lock: registering takes the fork registry's lock, which a
    // fork holds while it takes every `ForkMutex`.
    multiprocessing_core::exit::at_exit(flush_at_exit);
    let mut list = lock();
    let outbox = match list.iter().position(|o| Arc::ptr_eq(&o.ch, ch)) {
        Some(i) => &mut list[i],
        None => {
            list.push(Outbox {
                ch: Arc::clone(ch),
                items: VecDeque::new(),
                bytes: 0,
                in_flight: false,
                running: false,
                written: 0,
            });
            list.last_mut().expect("just pushed")
        }
    };
    if !outbox.busy() {
        // The items on their way hold the queue open, as a handle does.
        ch.handle_added();
    }
    outbox.bytes += item.len();
    outbox.items.push_back(item);
    ch.queued.fetch_add(1, Ordering::AcqRel);
    ch.outbox_added();
    if !outbox.running {
        let feeding = Arc::clone(ch);
        let spawned = std::thread::Builder::new()
            .name("queue-feeder".into())
            .spawn(move || feed(&feeding));
        match spawned {
            Ok(_) => outbox.running = true,
            Err(e) => {
                // No thread: the exit flush (or `join_thread`) is left to write them.
                tracing::warn!(target: "multiprocessing", "cannot start a queue feeder thread: {e}");
            }
        }
    }
    CHANGED.notify_all();
}

/// The feeder thread: writes the outbox into the ring until it is empty, then ends.
fn feed(ch: &Arc<Channel>) {
    let mut list = lock();
    loop {
        let Some(outbox) = find(&mut list, ch) else {
            return;
        };
        if ch.stop_feeding.load(Ordering::Acquire) {
            outbox.running = false;
            CHANGED.notify_all();
            return;
        }
        let Some(item) = outbox.items.pop_front() else {
            outbox.running = false;
            retire(&mut list, ch);
            CHANGED.notify_all();
            return;
        };
        outbox.in_flight = true;
        drop(list);
        // Short attempts, so a stop request from the exit flush is seen between them.
        let wrote = loop {
            if ch.write_fed(&item, Deadline::after(SLICE)) {
                break true;
            }
            if ch.stop_feeding.load(Ordering::Acquire) {
                break false;
            }
        };
        list = lock();
        let outbox = find(&mut list, ch).expect("a running feeder's outbox stays");
        outbox.in_flight = false;
        if wrote {
            outbox.written += 1;
            outbox.bytes -= item.len();
            ch.queued.fetch_sub(1, Ordering::AcqRel);
        } else {
            outbox.items.push_front(item);
        }
        CHANGED.notify_all();
    }
}

/// Forgets an idle, empty outbox and gives back the handle its items held.
fn retire(list: &mut Vec<Outbox>, ch: &Channel) {
    if let Some(i) = list
        .iter()
        .position(|o| std::ptr::eq(Arc::as_ptr(&o.ch), ch) && !o.busy() && !o.running)
    {
        let outbox = list.swap_remove(i);
        outbox.ch.handle_dropped(false);
    }
}

/// Python's `join_thread`: waits until everything this process put into `ch` is in the ring.
pub(crate) fn join(ch: &Channel) {
    let mut list = lock();
    while find(&mut list, ch).is_some_and(|o| o.busy()) {
        list = CHANGED
            .wait_timeout(list, SLICE)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

/// The exit hook: drains every outbox while it makes progress; after [`STALL`] without any (at
/// once after `cancel_join_thread`), drops the rest, counts it lost and reports it.
fn flush_at_exit() {
    let mut list = lock();
    let channels: Vec<Arc<Channel>> = list.iter().map(|o| Arc::clone(&o.ch)).collect();
    for ch in channels {
        let mut seen = u64::MAX;
        let mut since = Instant::now();
        while let Some(outbox) = find(&mut list, &ch) {
            if !outbox.busy() {
                break;
            }
            if ch.cancelled.load(Ordering::Acquire) || !outbox.running {
                break;
            }
            if outbox.written != seen {
                seen = outbox.written;
                since = Instant::now();
            } else if since.elapsed() >= STALL {
                break;
            }
            list = CHANGED
                .wait_timeout(list, SLICE)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        // Stop the feeder between two attempts; an item it is in the middle of writing (past
        // its first chunk) is the reader's to count, as a writer that died there.
        ch.stop_feeding.store(true, Ordering::Release);
        let deadline = Instant::now() + 3 * SLICE;
        while find(&mut list, &ch).is_some_and(|o| o.in_flight) && Instant::now() < deadline {
            list = CHANGED
                .wait_timeout(list, SLICE)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        if let Some(outbox) = find(&mut list, &ch) {
            let count = outbox.items.len();
            if count > 0 {
                let bytes = outbox.bytes;
                outbox.items.clear();
                outbox.bytes = 0;
                ch.queued.fetch_sub(count, Ordering::AcqRel);
                ch.outbox_taken(count as u32);
                ch.count_lost(
                    count as u64,
                    "its producer exited before the queue had room for it",
                );
                tracing::warn!(
                    target: "multiprocessing",
                    items = count,
                    bytes,
                    "process exit: dropped {count} queued items ({bytes} bytes) that no reader made room for"
                );
            }
        }
    }
}

/// In a forked child (its only thread, the lock released): the parent's outboxes are not the
/// child's; the handles their items held were inherited, and are given back.
pub(crate) fn forget_in_child() {
    let taken = std::mem::take(&mut *lock());
    for outbox in taken {
        outbox.ch.queued.store(0, Ordering::Relaxed);
        outbox.ch.stop_feeding.store(false, Ordering::Relaxed);
        if outbox.busy() {
            outbox.ch.handle_dropped(true);
        }
    }
}
