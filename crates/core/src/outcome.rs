//! How a call ended: it returned a value, or it panicked (with the message and where).
//!
//! A child process's target, a pool's task and a manager's method all run code whose panic must
//! travel back to the caller as data. [`Outcome::catch`] runs a closure, catches a panic and
//! records the panic's message and source location; the [`Outcome`] is serde-able, so it crosses
//! processes with the [`codec`](crate::codec) like any message.
//!
//! ```
//! use multiprocessing_core::{codec, outcome::Outcome};
//! let ok = Outcome::catch(|| 6 * 7);
//! assert_eq!(ok.clone().into_result().unwrap(), 42);
//!
//! let failed: Outcome<u32> = Outcome::catch(|| panic!("no answer"));
//! let back: Outcome<u32> = codec::decode(&codec::encode(&failed).unwrap()).unwrap();
//! let info = back.into_result().unwrap_err();
//! assert_eq!(info.message, "no answer");
//! assert!(info.location.unwrap().file.ends_with(".rs"));
//! ```
//!
//! The location comes from a panic hook installed the first time [`Outcome::catch`] runs. It
//! chains to the hook that was installed before it (the default one prints the panic as usual)
//! and records a location only for a thread inside [`Outcome::catch`], so it changes nothing
//! else. A hook set later replaces it (the user's choice wins): panics then come back without a
//! location.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use serde::{Deserialize, Serialize};

/// How a call ended: Python's "returned or raised", where raising is a Rust panic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome<T> {
    /// The call returned this value.
    Returned(T),
    /// The call panicked.
    Panicked(PanicInfo),
}

/// A panic that ended a call: its message and where it happened.
///
/// Fields may be added (a thread name, a backtrace); build one with [`PanicInfo::new`] or
/// [`PanicInfo::from_payload`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PanicInfo {
    /// The panic's message (`"Box<dyn Any>"` for a payload that is not a string).
    pub message: String,
    /// Where the panic happened, when the panic hook could record it.
    pub location: Option<Location>,
}

/// A place in the source code, as `file:line:column`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Location {
    /// The source file, as the compiler names it.
    pub file: String,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

impl Location {
    /// The place `file:line:column`.
    #[must_use]
    pub fn new(file: impl Into<String>, line: u32, column: u32) -> Location {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl From<&panic::Location<'_>> for Location {
    fn from(l: &panic::Location<'_>) -> Self {
        Location {
            file: l.file().to_owned(),
            line: l.line(),
            column: l.column(),
        }
    }
}

impl fmt::Display for PanicInfo {
    /// `panicked at src/lib.rs:3:5: message`, as Rust's default hook prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(f, "panicked at {l}: {}", self.message),
            None => write!(f, "panicked: {}", self.message),
        }
    }
}

impl std::error::Error for PanicInfo {}

impl PanicInfo {
    /// A panic with `message` at `location`.
    #[must_use]
    pub fn new(message: impl Into<String>, location: Option<Location>) -> PanicInfo {
        PanicInfo {
            message: message.into(),
            location,
        }
    }

    /// The panic of `payload` (as [`std::panic::catch_unwind`] returns it), at `location`.
    #[must_use]
    pub fn from_payload(payload: &(dyn Any + Send), location: Option<Location>) -> PanicInfo {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "Box<dyn Any>".to_owned()
        };
        PanicInfo { message, location }
    }
}

thread_local! {
    /// How many [`Outcome::catch`] calls this thread is inside.
    static CATCHING: Cell<usize> = const { Cell::new(0) };
    /// Where this thread last panicked inside [`Outcome::catch`].
    static LAST: RefCell<Option<Location>> = const { RefCell::new(None) };
}

/// Installs, once per process, the panic hook that records where a thread inside
/// [`Outcome::catch`] panics; [`Outcome::catch`] calls it.
///
/// Call it before forking a child that will use [`Outcome::catch`] (the process crate does):
/// the installation takes std's hook lock once, and a child forked while another thread held
/// it would find it taken forever. Calling it again installs nothing; a panicking thread (which
/// may not touch the hook) leaves it for a later call.
///
/// It also sets up the calling thread's record of the panic location (registering its
/// destructor with the C library), so that a child forked from this thread finds it ready: done
/// in each child, that costs a dozen page faults (the allocator, the loader binding a symbol).
pub fn install_hook() {
    static HOOK: Once = Once::new();
    let _ = LAST.try_with(|_| ());
    if HOOK.is_completed() || std::thread::panicking() {
        return;
    }
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // `try_with`: a panic while this thread's locals are being destroyed must not panic
            // again in the hook (that would abort).
            if CATCHING.try_with(Cell::get).unwrap_or(0) > 0 {
                let location = info.location().map(Location::from);
                let _ = LAST.try_with(|l| l.replace(location));
            }
            previous(info);
        }));
    });
}

impl<T> Outcome<T> {
    /// Runs `f`, catching a panic with its message and location.
    ///
    /// As with [`std::panic::catch_unwind`], a panic that aborts (`panic = "abort"`) is not
    /// caught. `f` is treated as unwind-safe: the caller gets the panic as data, as a thread's
    /// `join` does.
    pub fn catch(f: impl FnOnce() -> T) -> Outcome<T> {
        install_hook();
        CATCHING.with(|c| c.set(c.get() + 1));
        LAST.with(|l| *l.borrow_mut() = None);
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        CATCHING.with(|c| c.set(c.get() - 1));
        match result {
            Ok(value) => Outcome::Returned(value),
            Err(payload) => {
                let location = LAST.with(|l| l.borrow_mut().take());
                Outcome::Panicked(PanicInfo::from_payload(&*payload, location))
            }
        }
    }

    /// `Ok` with the returned value, `Err` with the panic.
    pub fn into_result(self) -> Result<T, PanicInfo> {
        match self {
            Outcome::Returned(v) => Ok(v),
            Outcome::Panicked(p) => Err(p),
        }
    }

    /// Whether the call returned.
    #[must_use]
    pub fn is_returned(&self) -> bool {
        matches!(self, Outcome::Returned(_))
    }

    /// The outcome with the returned value mapped by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Returned(v) => Outcome::Returned(f(v)),
            Outcome::Panicked(p) => Outcome::Panicked(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_and_panics_with_location() {
        assert_eq!(Outcome::catch(|| 1).into_result().unwrap(), 1);
        let line = line!() + 1;
        let out: Outcome<()> = Outcome::catch(|| panic!("boom {}", 7));
        let info = out.into_result().unwrap_err();
        assert_eq!(info.message, "boom 7");
        let loc = info.location.clone().unwrap();
        assert_eq!((loc.file.as_str(), loc.line), (file!(), line));
        assert_eq!(
            info.to_string(),
            format!("panicked at {}:{line}:{}: boom 7", file!(), loc.column)
        );
    }

    #[test]
    fn a_panic_outside_catch_records_nothing_and_the_previous_hook_still_runs() {
        let before: Outcome<()> = Outcome::catch(|| ());
        assert!(before.is_returned());
        // A panic caught by plain catch_unwind on this thread leaves no location behind.
        let _ = panic::catch_unwind(|| panic!("plain"));
        assert!(LAST.with(|l| l.borrow().is_none()));
        let nested: Outcome<Outcome<()>> = Outcome::catch(|| Outcome::catch(|| panic!("inner")));
        let inner = nested.into_result().unwrap().into_result().unwrap_err();
        assert_eq!(inner.message, "inner");
        assert!(inner.location.is_some());
    }

    #[test]
    fn non_string_payload_and_serde_roundtrip() {
        let out: Outcome<u8> = Outcome::catch(|| std::panic::panic_any(5u32));
        let bytes = crate::codec::encode(&out).unwrap();
        let back: Outcome<u8> = crate::codec::decode(&bytes).unwrap();
        assert_eq!(back, out);
        assert_eq!(back.into_result().unwrap_err().message, "Box<dyn Any>");
        assert_eq!(
            Outcome::<u8>::Returned(2).map(|x| x * 2),
            Outcome::Returned(4)
        );
    }
}
