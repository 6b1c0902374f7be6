//! [`Handle`]: one handle value on a channel, counted in the channel's handle table, with the
//! typed put and get every queue type shares.

use std::cell::RefCell;
use std::sync::Arc;
#[cfg(not(loom))]
use std::{
    future::poll_fn,
    sync::atomic::Ordering,
    task::Poll,
    time::{Duration, Instant},
};

#[cfg(not(loom))]
use multiprocessing_core::futex_async::AsyncWaiter;
use multiprocessing_core::time::Deadline;
use multiprocessing_core::{codec, fork};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::channel::{Channel, Got};
use crate::error::{RecvFailure, SendFailure};

thread_local! {
    /// A reusable buffer for encoding and receiving, so a put or get allocates nothing.
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's buffer (a fresh one if a nested call holds it).
fn with_buf<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buf = BUF.with(|b| b.take());
    buf.clear();
    let r = f(&mut buf);
    // Kept up to a few megabytes, so large items do not map and unmap a buffer each time.
    if buf.capacity() <= 8 << 20 {
        BUF.with(|b| *b.borrow_mut() = buf);
    }
    r
}

/// One handle value: counted in the channel's table while it lives.
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) ch: Arc<Channel>,
    /// The fork generation the handle was made in: another one means it came through `fork`.
    generation: u64,
}

impl Handle {
    /// Wraps a channel's first handle (already counted by `Channel::adopt`).
    pub(crate) fn first(ch: Arc<Channel>) -> Handle {
        Handle {
            ch,
            generation: fork::generation(),
        }
    }

    fn inherited(&self) -> bool {
        self.generation != fork::generation()
    }

    /// Encodes `value` in the caller and puts it.
    pub(crate) fn put<T: Serialize>(
        &self,
        value: T,
        deadline: Deadline,
        blocking: bool,
    ) -> Result<(), (SendFailure, T)> {
        if self.ch.is_closed() {
            return Err((SendFailure::Closed, value));
        }
        let sent = with_buf(|spill| {
            let encode = |dest: &mut [u8], spill: &mut Vec<u8>| {
                codec::encode_in_place(&value, dest, spill)
                    .map_err(|e| SendFailure::Encode(e.to_string()))
            };
            self.ch
                .send_encoded(encode, spill, deadline, blocking, self.ch.joinable())
        });
        sent.map_err(|f| (f, value))
    }

    /// Takes the next item and decodes it.
    pub(crate) fn get<T: DeserializeOwned>(&self, deadline: Deadline) -> Result<T, RecvFailure> {
        let decode =
            |bytes: &[u8]| codec::decode(bytes).map_err(|e| RecvFailure::Decode(e.to_string()));
        with_buf(
            |buf| match self.ch.recv(buf, deadline, self.inherited(), decode)? {
                Got::Direct(item) => item,
                Got::Buffered => decode(buf),
            },
        )
    }
}

// ---------------------------------------------------------------- async forms

/// Time between two checks, by a waiting future, that its peers still live (the blocking
/// waits check each [`SLICE`](crate::wait::SLICE) too).
#[cfg(not(loom))]
const CHECK: Duration = crate::wait::SLICE;

// Not under loom: the event count's words are loom's there, and the waiter thread sleeps on
// std's.
#[cfg(not(loom))]
impl Handle {
    /// [`get`](Self::get) as a future: each poll tries a `try_get` (an item is taken only in
    /// the poll that returns it, so a dropped future loses nothing), else announces itself on
    /// the ring's data event count and sleeps through `futex_async` (no thread of its own).
    pub(crate) async fn get_async<T: DeserializeOwned>(
        &self,
        deadline: Deadline,
    ) -> Result<T, RecvFailure> {
        let mut waiter = AsyncWaiter::new();
        let mut checked = Instant::now();
        let (data, _) = self.ch.events();
        poll_fn(|cx| {
            loop {
                match self.get(Deadline::after(Duration::ZERO)) {
                    Err(RecvFailure::Deadline) => {}
                    done => return Poll::Ready(done),
                }
                if self.ch.has_data() {
                    // Another consumer is in the middle of a chunked item: come back soon.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let inherited = self.inherited();
                let alone = if checked.elapsed() >= CHECK {
                    checked = Instant::now();
                    !self.ch.others_exist(true, inherited)
                } else {
                    !self.ch.others_exist(false, inherited)
                };
                if alone {
                    if self.ch.has_data() {
                        continue;
                    }
                    return Poll::Ready(Err(RecvFailure::Disconnected));
                }
                if deadline.is_expired() {
                    return Poll::Ready(Err(RecvFailure::Deadline));
                }
                let seen = data.announce();
                if self.ch.has_data() {
                    continue;
                }
                std::task::ready!(data.poll_wait(&mut waiter, seen, deadline, cx));
            }
        })
        .await
    }

    /// [`put`](Self::put) as a future: each poll tries a `try_put` (so a dropped future never
    /// put its item), else announces itself on the ring's space event count and sleeps. An
    /// item that cannot fit an empty ring whole goes in chunks as the blocking put writes
    /// them: its later chunks wait for consumers inside that poll.
    pub(crate) async fn put_async<T: Serialize>(
        &self,
        value: T,
        deadline: Deadline,
    ) -> Result<(), (SendFailure, T)> {
        let mut waiter = AsyncWaiter::new();
        let mut value = Some(value);
        let (_, space) = self.ch.events();
        let max = self.ch.maxsize();
        // Room for an item, and a ring so empty that one not fitting now never will whole.
        let chunked = || (max == 0 || self.ch.qsize() < max) && self.ch.ring_is_empty();
        poll_fn(|cx| {
            let mut announced = None;
            loop {
                let v = value
                    .take()
                    .unwrap_or_else(|| unreachable!("polled after Ready"));
                let v = match self.put(v, Deadline::after(Duration::ZERO), false) {
                    Err((SendFailure::Full, v)) => v,
                    done => return Poll::Ready(done),
                };
                if chunked() {
                    match self.put(v, Deadline::after(Duration::ZERO), true) {
                        Err((SendFailure::Deadline, v)) => {
                            // Another writer holds the write lock: come back soon.
                            value = Some(v);
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        done => return Poll::Ready(done),
                    }
                }
                if deadline.is_expired() {
                    return Poll::Ready(Err((SendFailure::Deadline, v)));
                }
                value = Some(v);
                match announced {
                    // Announced, then still full: sleep until a consumer makes room.
                    Some(seen) => {
                        std::task::ready!(space.poll_wait(&mut waiter, seen, deadline, cx));
                        announced = None;
                    }
                    // Announce, then try once more: room made meanwhile is not slept through.
                    None => announced = Some(space.announce()),
                }
            }
        })
        .await
    }

    /// `JoinableQueue::join` as a future: sleeps on the unfinished-task word, settling the
    /// outboxes of dead producers each slice as the blocking `join` does.
    pub(crate) async fn join_async(&self) {
        let mut waiter = AsyncWaiter::new();
        let word = self.ch.unfinished_word();
        poll_fn(|cx| {
            loop {
                let v = word.load(Ordering::Acquire);
                if v == 0 {
                    return Poll::Ready(());
                }
                std::task::ready!(waiter.poll_wait(word, v, Deadline::never(), cx));
                // Each slice: items that died in a producer's outbox are done.
                self.ch.settle_dead_outboxes();
            }
        })
        .await
    }
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        self.ch.handle_added();
        Handle {
            ch: Arc::clone(&self.ch),
            generation: fork::generation(),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.ch.handle_dropped(self.inherited());
    }
}
