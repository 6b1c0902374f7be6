//! [`Handle`]: one handle value on a channel, counted in the channel's handle table, with the
//! typed put and get every queue type shares.

use std::cell::RefCell;
use std::sync::Arc;

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
