//! The fork start's gate: a forked child waits for its parent's verdict before it runs anything.
//!
//! Used while the kernel reaps this program's children itself (SIGCHLD ignored, or
//! `SA_NOCLDWAIT`): a child's pid is then freed the moment it exits, so the parent takes the
//! child's pidfd right after `fork` (otherwise it waits for a call that needs one: see
//! `popen`). Getting it can fail (a full descriptor table); the child must not run its target
//! until the parent has it, so that a failed start has run nothing, and cannot exit before
//! the pidfd pins it. The verdict travels through a word of shared memory rather than a
//! descriptor: each thread that starts processes owns a word in a page mapped shared by this
//! process (so its forked children see the parent's writes), and numbers its starts. The parent
//! arms the gate before `fork` (the child inherits the number it waits for), then stores the
//! number, marked when it gives up, and wakes the child only if it is already asleep on the
//! word's futex. On one CPU the parent usually runs first and the child finds its verdict
//! waiting: no system call on either side, where a descriptor took five.
//!
//! A number newer than a child's own means its own verdict was "go": a thread that gives up on
//! a start reaps that child before it starts another. A forked child (a new fork generation)
//! maps a page of its own the first time it starts a process.
//!
//! ```text
//! let gate = Gate::arm()?;            // parent, before fork
//! // child:  if !gate.wait() { exit }  // parent: gate.open(got_pidfd)
//! ```

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use multiprocessing_core::fork::{ForkMutex, generation};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::thread::futex;

use crate::{Error, Result};

/// The start number: 30 bits, compared with wrap-around.
const SEQ: u32 = (1 << 30) - 1;
/// Set with the number when the parent gave up on that start.
const ABORT: u32 = 1 << 30;
/// Set by a child that sleeps on the word: the parent's store must wake it.
const WAITER: u32 = 1 << 31;
const PAGE: usize = 4096;
const WORDS: usize = PAGE / size_of::<AtomicU32>();

/// This process's page of words.
struct Page {
    /// The fork generation that mapped it (a forked child maps its own).
    generation: u64,
    words: NonNull<AtomicU32>,
    /// Words never handed out start here.
    next: usize,
    /// Words given back by threads that ended.
    free: Vec<usize>,
}

// SAFETY: the page is shared memory that lives as long as the process (never unmapped while
// its generation lasts); the pointer is only read under the mutex or through `Slot`s.
unsafe impl Send for Page {}

static PAGES: ForkMutex<Option<Page>> = ForkMutex::new(None);

/// The calling thread's word, for its fork generation, and the last number it used.
struct Slot {
    generation: Cell<u64>,
    index: Cell<usize>,
    word: Cell<Option<NonNull<AtomicU32>>>,
    seq: Cell<u32>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The thread ends: its word goes back to this generation's page.
        if self.word.get().is_some() {
            let mut pages = PAGES.lock();
            if let Some(page) = pages
                .as_mut()
                .filter(|p| p.generation == self.generation.get())
            {
                page.free.push(self.index.get());
            }
        }
    }
}

thread_local! {
    static SLOT: Slot = const {
        Slot {
            generation: Cell::new(0),
            index: Cell::new(0),
            word: Cell::new(None),
            seq: Cell::new(0),
        }
    };
}

/// A start's gate, armed by the parent before `fork`.
pub(crate) struct Gate {
    word: NonNull<AtomicU32>,
    seq: u32,
}

impl Gate {
    /// Takes the calling thread's next start number (claiming a word on its first start).
    pub(crate) fn arm() -> Result<Gate> {
        SLOT.try_with(|slot| {
            let current = generation();
            let word = match slot.word.get() {
                Some(word) if slot.generation.get() == current => word,
                _ => {
                    let (index, word) = claim(current)?;
                    slot.generation.set(current);
                    slot.index.set(index);
                    slot.word.set(Some(word));
                    // SAFETY: `claim` returns a word of the live page.
                    slot.seq
                        .set(unsafe { word.as_ref() }.load(Ordering::Relaxed) & SEQ);
                    word
                }
            };
            let seq = slot.seq.get().wrapping_add(1) & SEQ;
            slot.seq.set(seq);
            Ok(Gate { word, seq })
        })
        .map_err(|_| Error::Io(std::io::Error::other("the thread is ending")))?
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: the page is never unmapped while this generation (the parent's, which the
        // child shares) uses it.
        unsafe { self.word.as_ref() }
    }

    /// In the child: waits for the verdict; `true` to go on.
    pub(crate) fn wait(&self) -> bool {
        let word = self.word();
        loop {
            let seen = word.load(Ordering::Acquire);
            let seq = seen & SEQ;
            if seq == self.seq {
                return seen & ABORT == 0;
            }
            if is_newer(seq, self.seq) {
                return true; // a later start: ours was let go
            }
            let asleep = seen | WAITER;
            if seen & WAITER == 0
                && word
                    .compare_exchange(seen, asleep, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            // Not private: the parent, another process, wakes it. Spurious returns and EINTR
            // just loop.
            let _ = futex::wait(word, futex::Flags::empty(), asleep, None);
        }
    }

    /// In the parent: gives the verdict, waking the child only if it sleeps.
    pub(crate) fn open(self, go: bool) {
        let verdict = self.seq | if go { 0 } else { ABORT };
        let word = self.word();
        if word.swap(verdict, Ordering::Release) & WAITER != 0 {
            let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
        }
    }
}

/// Whether start number `a` came after `b` (within half the number space).
fn is_newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b) & SEQ;
    d != 0 && d < 1 << 29
}

/// A word for the calling thread, mapping this generation's page if needed.
fn claim(current: u64) -> Result<(usize, NonNull<AtomicU32>)> {
    let mut pages = PAGES.lock();
    if pages.as_ref().is_none_or(|p| p.generation != current) {
        // A forked child's copy of its parent's page (one thread, past its gate) is left
        // mapped: the parent still uses it.
        // SAFETY: a fresh anonymous shared mapping, placed by the kernel, aliasing nothing.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                PAGE,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )
        }?;
        let words = NonNull::new(ptr.cast::<AtomicU32>()).expect("mmap never returns null");
        *pages = Some(Page {
            generation: current,
            words,
            next: 0,
            free: Vec::new(),
        });
    }
    let page = pages.as_mut().expect("set above");
    let index = match page.free.pop() {
        Some(i) => i,
        None if page.next < WORDS => {
            page.next += 1;
            page.next - 1
        }
        None => {
            return Err(Error::Io(std::io::Error::other(
                "too many threads starting processes at once",
            )));
        }
    };
    // SAFETY: `index` is within the page's words.
    Ok((index, unsafe { page.words.add(index) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_across_the_wrap() {
        assert!(is_newer(2, 1));
        assert!(!is_newer(1, 2));
        assert!(!is_newer(5, 5));
        assert!(is_newer(0, SEQ));
        assert!(is_newer(1, SEQ - 1));
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "maps shared memory and registers fork handlers, which miri cannot"
    )]
    fn a_verdict_given_before_the_wait_is_read_without_sleeping() {
        let go = Gate::arm().unwrap();
        let (word, seq) = (go.word, go.seq);
        go.open(true);
        assert!(Gate { word, seq }.wait());
        let stop = Gate::arm().unwrap();
        let (word, seq) = (stop.word, stop.seq);
        stop.open(false);
        assert!(!Gate { word, seq }.wait());
        // An older start's child that looks only now was let go.
        assert!(
            Gate {
                word,
                seq: seq.wrapping_sub(1) & SEQ
            }
            .wait()
        );
    }
}
