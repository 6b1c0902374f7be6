//! Initializers: a function another process runs once before its work (Python's `initializer`
//! and `initargs`, for a pool's workers and a manager's server).
//!
//! Like a [`Target`], an initializer is a `fn` item or a closure that captures nothing, so the
//! monomorphized trampoline that decodes its arguments and calls it identifies it completely.
//! An [`Initializer`] is that trampoline as a checked [`CodeWire`] (signed with this process's
//! authkey) beside the encoded arguments; the receiving process checks the reference before it
//! calls anything.
//!
//! ```
//! use multiprocessing_process::Initializer;
//! fn greet(name: String) { assert_eq!(name, "worker"); }
//! let init = Initializer::new(greet, ("worker".to_string(),)).unwrap();
//! init.run().unwrap(); // what the receiving process does with it
//! ```

use multiprocessing_core::code::{self, CodeRef, CodeWire};
use multiprocessing_core::{codec, identity};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Target;

/// The entry an initializer crosses processes as: decodes the arguments and calls the
/// function, dropping what it returns. `Ok` holds nothing (the shape of a pool task's entry,
/// so a pool worker runs it as one); `Err` says the arguments could not be decoded.
pub type InitEntry = fn(Vec<u8>) -> Result<Vec<u8>, String>;

/// A function to run once in another process, as it travels there: the checked reference of
/// its trampoline and the encoded arguments.
#[derive(Clone, Serialize, Deserialize)]
#[must_use]
pub struct Initializer {
    code: CodeWire,
    args: Vec<u8>,
}

impl std::fmt::Debug for Initializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initializer")
            .field("code", &self.code)
            .field("args", &self.args.len())
            .finish()
    }
}

impl Initializer {
    /// Names `f(args)` (a `fn` item or a closure capturing nothing, checked when compiled):
    /// an argument that cannot be encoded is the codec's error.
    ///
    /// ```compile_fail
    /// use multiprocessing_process::Initializer;
    /// let n = 3u32;
    /// // error: an initializer must be a fn item or a closure that captures nothing
    /// let init = Initializer::new(move || n + 1, ());
    /// ```
    pub fn new<F, Args>(f: F, args: Args) -> multiprocessing_core::Result<Initializer>
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned,
    {
        const {
            assert!(
                size_of::<F>() == 0,
                "an initializer must be a fn item or a closure that captures nothing"
            )
        };
        let _ = f;
        let entry: InitEntry = trampoline::<F, Args>;
        Ok(Initializer {
            code: CodeRef::new(entry).to_wire(&identity::current().authkey),
            args: codec::encode(&args)?,
        })
    }

    /// The checked reference of its trampoline (an [`InitEntry`]).
    #[must_use]
    pub fn code(&self) -> &CodeWire {
        &self.code
    }

    /// Its encoded arguments.
    #[must_use]
    pub fn args(&self) -> &[u8] {
        &self.args
    }

    /// The reference and the arguments.
    #[must_use]
    pub fn into_parts(self) -> (CodeWire, Vec<u8>) {
        (self.code, self.args)
    }

    /// Runs it here, in the process it was sent to: checks the reference under this
    /// process's authkey, then calls the function. `Err` says why it did not run (a refused
    /// reference, arguments that could not be decoded); a panic in the function is not caught.
    pub fn run(self) -> Result<(), String> {
        let f = self
            .code
            .resolve::<InitEntry>(&identity::current().authkey)
            .map_err(|e| format!("the initializer was refused: {e}"))?;
        (f.get())(self.args).map(drop)
    }
}

/// The trampoline of an initializer `F(Args)`.
fn trampoline<F, Args>(input: Vec<u8>) -> Result<Vec<u8>, String>
where
    F: Target<Args>,
    Args: DeserializeOwned,
{
    let args: Args = codec::decode(&input)
        .map_err(|e| format!("could not decode the initializer's arguments: {e}"))?;
    // SAFETY: F is the target type this trampoline was instantiated for, reached through a
    // checked code reference made in a process of this executable that held a value of F.
    drop(unsafe { code::conjure::<F>() }.call(args));
    Ok(Vec::new())
}
