//! Raw shared memory and futex primitives for the baselines of the lock, value and event rows.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::mm::{MapFlags, ProtFlags};
use rustix::thread::futex;

const PAGE: usize = 4096;
const WORDS: usize = PAGE / 4;

/// One anonymous shared page of 32-bit atomic words, all zero at first. A forked child shares
/// it with its parent.
pub(crate) struct SharedPage {
    ptr: NonNull<AtomicU32>,
}

impl SharedPage {
    /// Maps a fresh page.
    pub(crate) fn new() -> io::Result<SharedPage> {
        // SAFETY: a new anonymous mapping aliases nothing; the pointer is checked below.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                PAGE,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<AtomicU32>()).ok_or(io::ErrorKind::OutOfMemory)?;
        Ok(SharedPage { ptr })
    }

    /// Word `i` of the page.
    pub(crate) fn word(&self, i: usize) -> &AtomicU32 {
        assert!(i < WORDS, "a page holds {WORDS} words");
        // SAFETY: the page is mapped, zero-filled and page-aligned while `self` lives; a zero
        // `AtomicU32` is valid, and every access goes through atomics, so processes sharing the
        // page never race non-atomically.
        unsafe { &*self.ptr.as_ptr().add(i) }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the mapping came from `mmap_anonymous` with this length, and no reference
        // from `word` outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), PAGE) };
    }
}

/// A futex lock word shared between processes: 0 free, 1 locked, 2 locked with waiters
/// (Drepper, "Futexes Are Tricky", mutex 3). Uncontended, it makes no system call.
pub(crate) fn lock(word: &AtomicU32) {
    if word
        .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return;
    }
    while word.swap(2, Ordering::Acquire) != 0 {
        // Shared (not private) futex: the waiters are in other processes.
        let _ = futex::wait(word, futex::Flags::empty(), 2, None);
    }
}

/// Releases a lock taken by [`lock`], waking one waiter when there are any.
pub(crate) fn unlock(word: &AtomicU32) {
    if word.swap(0, Ordering::Release) == 2 {
        let _ = futex::wake(word, futex::Flags::empty(), 1);
    }
}

/// Sets an event word and wakes its waiters.
pub(crate) fn set(word: &AtomicU32) {
    word.store(1, Ordering::Release);
    let _ = futex::wake(word, futex::Flags::empty(), u32::MAX >> 1);
}

/// Waits until an event word is set.
pub(crate) fn wait(word: &AtomicU32) {
    while word.load(Ordering::Acquire) == 0 {
        let _ = futex::wait(word, futex::Flags::empty(), 0, None);
    }
}

/// Clears an event word.
pub(crate) fn clear(word: &AtomicU32) {
    word.store(0, Ordering::Relaxed);
}
