//! Ctrl-C for pools built with [`stop_on_interrupt`](crate::PoolBuilder::stop_on_interrupt):
//! a process-wide SIGINT handler that wakes those pools, each of which then stops.
//!
//! Python turns SIGINT into `KeyboardInterrupt` in the main thread, which unwinds through
//! `with Pool() as p:` and terminates the pool. A library must not take the process's SIGINT
//! from the program unasked, so here the handler is installed only by the first pool that opts
//! in, and it stays polite:
//!
//! - It is installed once per process and never removed. A SIGINT that is *ignored* when the
//!   first pool opts in (a background job, `nohup`) stays ignored: nothing is installed.
//! - It only counts the interrupt and writes to the eventfd of each registered pool (both
//!   async-signal-safe); the pool's result handler does the rest.
//! - A handler the program installed before is called after that, every time.
//! - When no pool is registered (none opted in, or every one has finished: its result handler
//!   unregisters it as it ends), a SIGINT whose previous disposition was the default gets the
//!   default back: the disposition is reset and the signal raised again, so the process ends as
//!   it would have. Hence a second Ctrl-C, after the pools stopped, ends a program that does not
//!   itself handle SIGINT.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// Pools that may be registered at once.
const SLOTS: usize = 128;
const EMPTY: i32 = -1;
/// A signal handler is writing to the slot's descriptor: it may not be unregistered yet.
const BUSY: i32 = -2;

/// The eventfds of the registered pools.
static REGISTERED: [AtomicI32; SLOTS] = [const { AtomicI32::new(EMPTY) }; SLOTS];
/// SIGINTs delivered since the handler was installed.
static INTERRUPTS: AtomicU64 = AtomicU64::new(0);
/// The disposition before ours: `SIG_DFL`, or a handler's address.
static PREVIOUS_HANDLER: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
/// Its `sa_flags` (whether it takes `siginfo`).
static PREVIOUS_FLAGS: AtomicI32 = AtomicI32::new(0);

/// The process whose pools are registered: a forked child inherits the handler and the
/// registry, and must neither wake its parent's pools nor swallow its own Ctrl-C for them.
static OWNER: AtomicI32 = AtomicI32::new(0);

/// Whether the handler is installed; `None` before the first opt-in.
static INSTALLED: Mutex<Option<bool>> = Mutex::new(None);

/// A pool's place in the registry; unregisters on drop. The eventfd must outlive it.
pub(crate) struct Registration {
    slot: Option<usize>,
    fd: i32,
    /// [`INTERRUPTS`] when the pool registered.
    seen: u64,
}

impl Registration {
    /// Installs the handler (once per process) and registers `wake`, which the handler writes
    /// to on each SIGINT. A registration that does nothing when SIGINT is ignored.
    pub(crate) fn new(wake: BorrowedFd<'_>) -> Result<Registration> {
        let fd = wake.as_raw_fd();
        let seen = INTERRUPTS.load(Ordering::SeqCst);
        // Held while registering, so the clearing below never races another registration.
        let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
        if !install(&mut installed)? {
            return Ok(Registration {
                slot: None,
                fd,
                seen,
            });
        }
        // SAFETY: `getpid` has no preconditions.
        let pid = unsafe { libc::getpid() };
        if OWNER.swap(pid, Ordering::SeqCst) != pid {
            // Inherited across `fork`: the parent's registrations are not this process's.
            for slot in &REGISTERED {
                slot.store(EMPTY, Ordering::SeqCst);
            }
        }
        for (i, slot) in REGISTERED.iter().enumerate() {
            if slot
                .compare_exchange(EMPTY, fd, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Ok(Registration {
                    slot: Some(i),
                    fd,
                    seen,
                });
            }
        }
        Err(Error::InvalidArgument(format!(
            "at most {SLOTS} pools may stop on Ctrl-C at once"
        )))
    }

    /// Whether a SIGINT arrived since the pool registered.
    pub(crate) fn fired(&self) -> bool {
        self.slot.is_some() && INTERRUPTS.load(Ordering::SeqCst) != self.seen
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(i) = self.slot else { return };
        // A handler writing to the descriptor right now finishes first (it never waits), so
        // the descriptor is not closed under it.
        while let Err(current) =
            REGISTERED[i].compare_exchange(self.fd, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
        {
            if current != BUSY {
                return;
            }
            std::hint::spin_loop();
        }
    }
}

/// Installs the handler unless SIGINT is ignored; whether it is installed.
fn install(installed: &mut Option<bool>) -> Result<bool> {
    if let Some(done) = *installed {
        return Ok(done);
    }
    // SAFETY: an all-zero `sigaction` is a valid value (no handler, empty mask, no flags).
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reads the disposition into a valid `sigaction`; nothing is changed.
    if unsafe { libc::sigaction(libc::SIGINT, std::ptr::null(), &mut current) } != 0 {
        return Err(multiprocessing_core::Error::from(std::io::Error::last_os_error()).into());
    }
    if current.sa_sigaction == libc::SIG_IGN {
        *installed = Some(false);
        return Ok(false);
    }
    PREVIOUS_HANDLER.store(current.sa_sigaction, Ordering::SeqCst);
    PREVIOUS_FLAGS.store(current.sa_flags, Ordering::SeqCst);
    // SAFETY: as above.
    let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
    ours.sa_sigaction = on_sigint as *const () as usize;
    ours.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: `ours.sa_mask` is a valid set to empty; `on_sigint` is async-signal-safe.
    let set = unsafe {
        libc::sigemptyset(&mut ours.sa_mask);
        libc::sigaction(libc::SIGINT, &ours, std::ptr::null_mut())
    };
    if set != 0 {
        return Err(multiprocessing_core::Error::from(std::io::Error::last_os_error()).into());
    }
    *installed = Some(true);
    Ok(true)
}

/// The SIGINT handler: wakes every registered pool, then gives the signal to the previous
/// disposition (a handler: always; the default: when no pool took it). Async-signal-safe:
/// atomics, `write`, `sigaction` and `raise` only.
extern "C" fn on_sigint(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: reading errno's location is async-signal-safe; it is restored before returning.
    let errno = unsafe { *libc::__errno_location() };
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
    let mut woken = 0;
    // SAFETY: `getpid` is async-signal-safe.
    let ours = OWNER.load(Ordering::SeqCst) == unsafe { libc::getpid() };
    for slot in REGISTERED.iter().filter(|_| ours) {
        let fd = slot.load(Ordering::SeqCst);
        if fd < 0
            || slot
                .compare_exchange(fd, BUSY, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            continue;
        }
        let one = 1u64.to_ne_bytes();
        // SAFETY: `fd` is a registered eventfd, kept open until its slot is emptied, which
        // waits while the slot is BUSY.
        unsafe { libc::write(fd, one.as_ptr().cast(), one.len()) };
        slot.store(fd, Ordering::SeqCst);
        woken += 1;
    }
    let previous = PREVIOUS_HANDLER.load(Ordering::SeqCst);
    if previous == libc::SIG_DFL {
        if woken == 0 {
            // SAFETY: `sigaction` and `raise` are async-signal-safe; SIGINT is blocked while
            // this handler runs, so the raised signal is delivered, with the default action,
            // once it returns.
            unsafe {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGINT, &default, std::ptr::null_mut());
                libc::raise(libc::SIGINT);
            }
        }
    } else if previous != libc::SIG_IGN {
        if PREVIOUS_FLAGS.load(Ordering::SeqCst) & libc::SA_SIGINFO != 0 {
            // SAFETY: the program installed this address as an `SA_SIGINFO` handler.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(previous) };
            f(sig, info, context);
        } else {
            // SAFETY: the program installed this address as a plain handler.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous) };
            f(sig);
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}
