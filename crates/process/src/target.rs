//! Targets: the functions a child process runs, and the trampolines that call them.
//!
//! A target is a `fn` item or a closure that captures nothing, taking its arguments as a tuple
//! the way Python's `Process(target=f, args=(...))` does: `fn()` takes `()`, `fn(u32)` takes
//! `(7,)`, `fn(u32, String)` takes `(7, "x".to_string())`. Such a target has a type of size
//! zero, so the monomorphized trampoline for it identifies it completely: the parent sends the
//! trampoline as a [`CodeRef`](multiprocessing_core::code::CodeRef) (its offset in the
//! executable, the executable's [`fingerprint`](crate::fingerprint), and a tag under the child's
//! authkey), and the child checks all three before it calls anything. Arguments travel
//! encoded with the core codec inside a transfer context, so handles owning file descriptors
//! reach the child under every start method.
//!
//! ```
//! use multiprocessing_process::Target;
//! fn add(a: u32, b: u32) -> u32 { a + b }
//! assert_eq!(Target::call(add, (2, 3)), 5);
//! ```

use std::any::Any;
use std::os::fd::OwnedFd;

use multiprocessing_core::outcome::{Outcome, PanicInfo};
use multiprocessing_core::transfer::{decode_with_fds, encode_with_fds};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::channel::channel;

/// A function a child process can run with arguments `Args` (a tuple).
///
/// Implemented for every `Fn` of up to eight arguments that is `Copy`, `Send` and `'static`;
/// starting a process additionally requires the target to capture nothing (a compile-time
/// check), since only its code, not its state, can be found in another process:
///
/// ```compile_fail
/// use multiprocessing_process::Process;
/// let offset = 10u32;
/// // error: a process target must be a fn item or a closure that captures nothing
/// let p = Process::new(move |x: u32| x + offset, (1,));
/// ```
pub trait Target<Args>: Copy + Send + 'static {
    /// What the target returns.
    type Output;
    /// Calls the target.
    fn call(self, args: Args) -> Self::Output;
}

macro_rules! impl_target {
    ($($a:ident),*) => {
        impl<F, R, $($a,)*> Target<($($a,)*)> for F
        where
            F: Fn($($a),*) -> R + Copy + Send + 'static,
        {
            type Output = R;
            #[allow(non_snake_case, clippy::unused_unit)]
            fn call(self, ($($a,)*): ($($a,)*)) -> R {
                self($($a),*)
            }
        }
    };
}

impl_target!();
impl_target!(A1);
impl_target!(A1, A2);
impl_target!(A1, A2, A3);
impl_target!(A1, A2, A3, A4);
impl_target!(A1, A2, A3, A4, A5);
impl_target!(A1, A2, A3, A4, A5, A6);
impl_target!(A1, A2, A3, A4, A5, A6, A7);
impl_target!(A1, A2, A3, A4, A5, A6, A7, A8);

/// A monomorphized entry: decodes the arguments, calls the target, reports the outcome on the
/// result channel (when there is one) and returns the exit code. It crosses processes as a
/// [`CodeRef`](multiprocessing_core::code::CodeRef).
pub(crate) type Trampoline = fn(Invocation) -> i32;

/// What a trampoline is called with.
pub(crate) struct Invocation {
    /// The encoded arguments.
    pub(crate) args: Vec<u8>,
    /// The descriptors the arguments refer to.
    pub(crate) fds: Vec<OwnedFd>,
    /// Where a typed target reports its outcome.
    pub(crate) result: Option<OwnedFd>,
}

/// What a process runs: a target found by its trampoline, or (fork only) a boxed closure.
pub(crate) enum Payload {
    Target {
        trampoline: Trampoline,
        args: Vec<u8>,
        fds: Vec<OwnedFd>,
    },
    Closure(Box<dyn FnOnce() + Send + 'static>),
}

impl Payload {
    /// Encodes `args` for `F` (checked at compile time to capture nothing).
    pub(crate) fn new<F, Args>(_target: F, args: &Args) -> crate::Result<Payload>
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + 'static,
    {
        const {
            assert!(
                size_of::<F>() == 0,
                "a process target must be a fn item or a closure that captures nothing; \
                 pass state through the arguments (or use Process::from_closure with fork)"
            )
        };
        let (args, fds) = encode_with_fds(args)?;
        // Installed in the parent, so a forked child never installs it itself (see there).
        multiprocessing_core::outcome::install_hook();
        Ok(Payload::Target {
            trampoline: plain_trampoline::<F, Args>,
            args,
            fds,
        })
    }

    /// The payload with only a typed return value's trampoline, for `spawn`.
    pub(crate) fn typed<F, Args>(target: F, args: &Args) -> crate::Result<Payload>
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + 'static,
        F::Output: Serialize,
    {
        let mut payload = Payload::new(target, args)?;
        if let Payload::Target { trampoline, .. } = &mut payload {
            *trampoline = typed_trampoline::<F, Args>;
        }
        Ok(payload)
    }
}

/// Decodes the arguments and runs the target, catching a panic with its message and location;
/// `Err` holds the exit code and, for a panic, the panic.
fn run<F, Args>(args: &[u8], fds: Vec<OwnedFd>) -> Result<F::Output, (i32, Option<PanicInfo>)>
where
    F: Target<Args>,
    Args: DeserializeOwned + 'static,
{
    let args: Args = match no_arguments(args, &fds).map_or_else(|| decode_with_fds(args, fds), Ok) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("multiprocessing: could not decode the process arguments: {e}");
            return Err((1, None));
        }
    };
    // SAFETY: F is the target type this trampoline was instantiated for, reached through a
    // checked code reference made in a process of this executable that held a value of F.
    let f: F = unsafe { multiprocessing_core::code::conjure() };
    Outcome::catch(|| f.call(args))
        .into_result()
        .map_err(|p| (1, Some(p)))
}

/// `()` for a target that takes no arguments when none were sent (`()` encodes to nothing), so
/// that such a child runs no decoder: its code is a page or two more to fault in, in a forked
/// child.
fn no_arguments<Args: 'static>(bytes: &[u8], fds: &[OwnedFd]) -> Option<Args> {
    if !bytes.is_empty() || !fds.is_empty() {
        return None;
    }
    let unit: Box<dyn Any> = Box::new(());
    unit.downcast::<Args>().ok().map(|args| *args)
}

fn plain_trampoline<F, Args>(inv: Invocation) -> i32
where
    F: Target<Args>,
    Args: DeserializeOwned + 'static,
{
    match run::<F, Args>(&inv.args, inv.fds) {
        Ok(_) => 0,
        Err((code, _)) => code,
    }
}

fn typed_trampoline<F, Args>(inv: Invocation) -> i32
where
    F: Target<Args>,
    Args: DeserializeOwned + 'static,
    F::Output: Serialize,
{
    let outcome = run::<F, Args>(&inv.args, inv.fds);
    let Some(chan) = inv.result else {
        return outcome.map_or_else(|(c, _)| c, |_| 0);
    };
    // The result frame is one encoded `Outcome<F::Output>`.
    let mut chan = channel(chan);
    match outcome {
        Ok(value) => match encode_with_fds(&Outcome::Returned(&value)) {
            Ok((frame, fds)) => match chan.send_bytes_with_fds(&frame, &fds) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("multiprocessing: could not send the return value: {e}");
                    1
                }
            },
            Err(e) => {
                eprintln!("multiprocessing: could not encode the return value: {e}");
                1
            }
        },
        Err((code, Some(panic))) => {
            if let Ok((frame, fds)) = encode_with_fds(&Outcome::<()>::Panicked(panic)) {
                let _ = chan.send_bytes_with_fds(&frame, &fds);
            }
            code
        }
        Err((code, None)) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_unit_with_nothing_sent_skips_the_decoder() {
        assert_eq!(no_arguments::<()>(&[], &[]), Some(()));
        assert_eq!(no_arguments::<(u8,)>(&[], &[]), None);
        assert_eq!(no_arguments::<()>(&[0], &[]), None);
        let fd = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        assert_eq!(no_arguments::<()>(&[], &[fd]), None);
    }
}
