//! The raw baseline of the queue rows: a minimal ring of fixed 32-byte slots in one shared
//! mapping, with futex wake-ups only when a side found it empty (or full) and said it sleeps
//! (once per sleep: the waker lowers the flag).
//! No spinning, no encoding, no liveness: the least a shared-memory queue has to do.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering, fence};

use rustix::mm::{MapFlags, ProtFlags};
use rustix::thread::futex;

const HEADER: usize = 4096;
/// Bytes per slot: a 4-byte length and up to 28 bytes of payload.
const SLOT: usize = 32;
/// Largest payload of one slot.
pub(crate) const MAX_PAYLOAD: usize = SLOT - 4;
/// Slots in the ring (64 KiB of them).
const SLOTS: u32 = 2048;
const LEN: usize = HEADER + SLOTS as usize * SLOT;

// Header words, each on its own cache line: the producers' side, the consumer's side, the lock.
const TAIL: usize = 0;
const PRODUCER_WAITS: usize = 1;
const HEAD: usize = 16;
const CONSUMER_WAITS: usize = 17;
const LOCK: usize = 32;

/// The ring; a forked child shares it with its parent.
pub(crate) struct RawRing {
    ptr: NonNull<u8>,
}

impl RawRing {
    /// Maps a fresh, empty ring.
    pub(crate) fn new() -> io::Result<RawRing> {
        // SAFETY: a new anonymous mapping aliases nothing; the pointer is checked below.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                LEN,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(io::ErrorKind::OutOfMemory)?;
        Ok(RawRing { ptr })
    }

    fn word(&self, i: usize) -> &AtomicU32 {
        debug_assert!(i * 4 < HEADER);
        // SAFETY: the header is mapped, zero-filled and page-aligned while `self` lives, and is
        // only accessed through atomics.
        unsafe { &*self.ptr.as_ptr().cast::<AtomicU32>().add(i) }
    }

    fn slot(&self, index: u32) -> *mut u8 {
        // SAFETY: `index % SLOTS` is in range, so the slot lies inside the mapping.
        unsafe {
            self.ptr
                .as_ptr()
                .add(HEADER + (index % SLOTS) as usize * SLOT)
        }
    }

    /// Lowers the "waits" flag `i`; whether it was raised. The waker lowers it, not the woken
    /// side, so the items that follow a wake-up make no system call while the woken process
    /// waits for its CPU. A side sleeps on its flag (expecting 1), so a flag lowered between
    /// its check and its sleep is a wake-up too, never a lost one.
    fn lower(&self, i: usize) -> bool {
        let flag = self.word(i);
        flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::Relaxed) != 0
    }

    /// Appends `payload` (at most [`MAX_PAYLOAD`] bytes), waiting while the ring is full. One
    /// producer at a time: several take [`RawRing::push_locked`].
    pub(crate) fn push(&self, payload: &[u8]) {
        assert!(payload.len() <= MAX_PAYLOAD);
        let (tail, head) = (self.word(TAIL), self.word(HEAD));
        let t = tail.load(Ordering::Relaxed);
        loop {
            let h = head.load(Ordering::Acquire);
            if t.wrapping_sub(h) < SLOTS {
                break;
            }
            let waits = self.word(PRODUCER_WAITS);
            waits.store(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if head.load(Ordering::Relaxed) == h {
                let _ = futex::wait(waits, futex::Flags::empty(), 1, None);
            }
        }
        let slot = self.slot(t);
        // SAFETY: slot `t` is free (the consumer is past it) and only this producer writes it
        // until `tail` publishes it; 4 + payload bytes fit in a slot.
        unsafe {
            slot.cast::<u32>().write(payload.len() as u32);
            std::ptr::copy_nonoverlapping(payload.as_ptr(), slot.add(4), payload.len());
        }
        tail.store(t.wrapping_add(1), Ordering::Release);
        fence(Ordering::SeqCst);
        if self.lower(CONSUMER_WAITS) {
            let _ = futex::wake(self.word(CONSUMER_WAITS), futex::Flags::empty(), 1);
        }
    }

    /// [`RawRing::push`] under the ring's producer lock, for several producers.
    pub(crate) fn push_locked(&self, payload: &[u8]) {
        crate::shm::lock(self.word(LOCK));
        self.push(payload);
        crate::shm::unlock(self.word(LOCK));
    }

    /// Takes the oldest payload into `buf`, waiting while the ring is empty; its length. One
    /// consumer.
    pub(crate) fn pop(&self, buf: &mut [u8; MAX_PAYLOAD]) -> usize {
        let (tail, head) = (self.word(TAIL), self.word(HEAD));
        let h = head.load(Ordering::Relaxed);
        while tail.load(Ordering::Acquire) == h {
            let waits = self.word(CONSUMER_WAITS);
            waits.store(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if tail.load(Ordering::Relaxed) == h {
                let _ = futex::wait(waits, futex::Flags::empty(), 1, None);
            }
        }
        let slot = self.slot(h);
        // SAFETY: `tail` published slot `h` (acquire above) and no producer rewrites it before
        // `head` moves past it; the length was written by `push`, at most MAX_PAYLOAD.
        let n = unsafe {
            let n = (slot.cast::<u32>().read() as usize).min(MAX_PAYLOAD);
            std::ptr::copy_nonoverlapping(slot.add(4), buf.as_mut_ptr(), n);
            n
        };
        head.store(h.wrapping_add(1), Ordering::Release);
        fence(Ordering::SeqCst);
        if self.lower(PRODUCER_WAITS) {
            let _ = futex::wake(self.word(PRODUCER_WAITS), futex::Flags::empty(), 1);
        }
        n
    }
}

impl Drop for RawRing {
    fn drop(&mut self) {
        // SAFETY: the mapping came from `mmap_anonymous` with this length, and no pointer from
        // `word` or `slot` outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), LEN) };
    }
}
