//! Code references: naming a function of this executable so that another process running the
//! same executable can call it, and so that nobody else can make it call anything.
//!
//! Python names a function across processes by its importable name and imports it again. We run
//! the same executable instead, so a function is named by its offset from a fixed anchor of the
//! executable. Every function that crosses processes travels as a [`CodeRef`]: process targets,
//! `Barrier` actions, and the pool's tasks and the managers' constructors. On the wire a
//! reference is a [`CodeWire`]: the offset, the executable's [fingerprint], and an HMAC-SHA256
//! tag over both (and the function's type) under the authkey of the process family. A received
//! reference becomes a function pointer only after three checks, in this order, each a typed
//! [`CodeRefError`] before anything is called:
//!
//! 1. the fingerprint is this executable's (another executable's offsets mean nothing here);
//! 2. the tag is valid under this process's authkey, so only a process holding the family's key
//!    can make a reference that is accepted: a peer that merely reaches a connection cannot;
//! 3. the address lies inside this executable's code.
//!
//! ```
//! use multiprocessing_core::code::CodeRef;
//! use multiprocessing_core::codec;
//!
//! fn double(x: u32) -> u32 { x * 2 }
//!
//! let r = CodeRef::new(double as fn(u32) -> u32);
//! let bytes = codec::encode(&r).unwrap(); // offset, fingerprint and tag
//! let back: CodeRef<fn(u32) -> u32> = codec::decode(&bytes).unwrap(); // checked here
//! assert_eq!((back.get())(21), 42);
//!
//! // A forged tag is refused before any call.
//! let mut wire = r.to_wire(&multiprocessing_core::identity::current().authkey);
//! wire.tag[0] ^= 1;
//! assert!(wire.resolve::<fn(u32) -> u32>(&multiprocessing_core::identity::current().authkey).is_err());
//! ```
//!
//! A reference is only made from a function pointer of type `F` and only resolved as the same
//! `F` (the type's name is part of the tag), so a reference to one signature is never called
//! through another.

mod image;

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;

use crate::AuthKey;

pub use image::{code_is_in_executable, display as display_fingerprint, fingerprint};

/// Length of a [`CodeWire`] tag (HMAC-SHA256).
pub const TAG_LEN: usize = 32;

/// A function pointer type: `fn(A, B, ..) -> R` with up to six arguments.
///
/// # Safety
/// Implemented only for function pointer types (pointer-sized, and any value made from a
/// function of this executable is callable in another process running it at the same offset).
/// Sealed in practice: the implementations below are the only ones a caller can rely on.
pub unsafe trait FnPtr: Copy + Send + Sync + 'static {}

macro_rules! impl_fn_ptr {
    ($($a:ident),*) => {
        // SAFETY: a function pointer type.
        unsafe impl<R: 'static, $($a: 'static,)*> FnPtr for fn($($a),*) -> R {}
    };
}
impl_fn_ptr!();
impl_fn_ptr!(A1);
impl_fn_ptr!(A1, A2);
impl_fn_ptr!(A1, A2, A3);
impl_fn_ptr!(A1, A2, A3, A4);
impl_fn_ptr!(A1, A2, A3, A4, A5);
impl_fn_ptr!(A1, A2, A3, A4, A5, A6);

/// Why a received code reference was refused. Nothing was called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeRefError {
    /// The reference was made by another executable.
    #[error("a code reference from another executable ({theirs}; this one is {ours})")]
    ForeignExecutable {
        /// The sender's fingerprint, rendered.
        theirs: String,
        /// Ours, rendered.
        ours: String,
    },
    /// The tag does not verify under this process's authkey: the sender does not hold the
    /// family's key, or the reference was altered.
    #[error(
        "a code reference whose authentication tag does not verify under this process's authkey"
    )]
    BadTag,
    /// The offset points outside this executable's code.
    #[error("a code reference pointing outside this executable's code")]
    OutOfImage,
}

/// Makes a value of the zero-sized type `F`: a `fn` item or a closure that captures nothing,
/// as a trampoline does to call the target it was instantiated for. Such a type has no bytes,
/// so its value is the type itself.
///
/// ```
/// fn call_it<F: Fn() -> u32 + Copy>(_: F) -> u32 {
///     // SAFETY: a value of F exists (the argument); F only names a closure.
///     let f: F = unsafe { multiprocessing_core::code::conjure() };
///     f()
/// }
/// assert_eq!(call_it(|| 7), 7);
/// ```
///
/// # Safety
///
/// A value of `F` must have existed in a process running this executable (the trampoline that
/// calls this was reached through a checked [`CodeRef`] made where that value was), and `F`
/// must be a type whose only meaning is the function it names (no token type whose existence
/// proves something). That `F` is zero-sized is checked at compile time.
#[must_use]
pub unsafe fn conjure<F: Copy>() -> F {
    const { assert!(size_of::<F>() == 0) };
    // SAFETY: F has no bytes to initialize; the caller vouches that a value of it may exist.
    unsafe { std::mem::zeroed::<F>() }
}

/// A function of this executable, ready to cross to another process of the same family.
///
/// Serializing signs it with the current process's authkey
/// ([`identity::current`](crate::identity::current)); deserializing verifies it with the
/// receiver's (see the [module docs](self) for the checks).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CodeRef<F> {
    f: F,
}

impl<F: FnPtr> CodeRef<F> {
    /// Names `f`.
    #[must_use]
    pub fn new(f: F) -> CodeRef<F> {
        const { assert!(size_of::<F>() == size_of::<usize>()) };
        CodeRef { f }
    }

    /// The function.
    #[must_use]
    pub fn get(self) -> F {
        self.f
    }

    fn addr(&self) -> usize {
        // SAFETY: `F` is a function pointer type (FnPtr's contract), the size of a `usize`.
        unsafe { std::mem::transmute_copy::<F, usize>(&self.f) }
    }

    /// The wire form, signed with `key` (the authkey the receiver will verify with).
    #[must_use]
    pub fn to_wire(&self, key: &AuthKey) -> CodeWire {
        let offset = self.addr().wrapping_sub(image::anchor_addr()) as i64;
        let fingerprint = image::fingerprint().to_vec();
        let tag = tag::<F>(key, &fingerprint, offset);
        CodeWire {
            offset,
            fingerprint,
            tag,
        }
    }
}

impl<F> fmt::Debug for CodeRef<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeRef<{}>", std::any::type_name::<F>())
    }
}

/// A code reference as it travels: unverified until [`resolve`](Self::resolve)d.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeWire {
    /// Offset of the function from the executable's anchor.
    pub offset: i64,
    /// The sender's executable fingerprint.
    pub fingerprint: Vec<u8>,
    /// HMAC-SHA256 under the family's authkey over the fingerprint, the type and the offset.
    pub tag: [u8; TAG_LEN],
}

impl fmt::Debug for CodeWire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeWire")
            .field("offset", &self.offset)
            .field("fingerprint", &image::display(&self.fingerprint))
            .finish_non_exhaustive()
    }
}

impl CodeWire {
    /// Checks the reference (fingerprint, tag under `key`, address) and makes the function
    /// pointer; nothing is called.
    pub fn resolve<F: FnPtr>(&self, key: &AuthKey) -> Result<CodeRef<F>, CodeRefError> {
        const { assert!(size_of::<F>() == size_of::<usize>()) };
        if self.fingerprint != image::fingerprint() {
            return Err(CodeRefError::ForeignExecutable {
                theirs: image::display(&self.fingerprint),
                ours: image::display(image::fingerprint()),
            });
        }
        mac::<F>(key, &self.fingerprint, self.offset)
            .verify_slice(&self.tag)
            .map_err(|_| CodeRefError::BadTag)?;
        let addr = image::anchor_addr().wrapping_add(self.offset as usize);
        if !image::contains(addr) {
            return Err(CodeRefError::OutOfImage);
        }
        // SAFETY: a holder of the family's key made this tag from a value of type `F` (the
        // type's name is under the tag) in a process running this very executable (same
        // fingerprint), where `addr - anchor` was that function's offset; code sits at the same
        // offset from the anchor in every process running it, so `addr` is that function here.
        let f = unsafe { std::mem::transmute_copy::<usize, F>(&addr) };
        Ok(CodeRef { f })
    }
}

fn mac<F>(key: &AuthKey, fingerprint: &[u8], offset: i64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    let ty = std::any::type_name::<F>().as_bytes();
    mac.update(b"multiprocessing-rs code reference v1\0");
    for part in [fingerprint, ty] {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    mac.update(&offset.to_le_bytes());
    mac
}

fn tag<F>(key: &AuthKey, fingerprint: &[u8], offset: i64) -> [u8; TAG_LEN] {
    mac::<F>(key, fingerprint, offset)
        .finalize()
        .into_bytes()
        .into()
}

impl<F: FnPtr> Serialize for CodeRef<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_wire(&crate::identity::current().authkey)
            .serialize(s)
    }
}

impl<'de, F: FnPtr> Deserialize<'de> for CodeRef<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = CodeWire::deserialize(d)?;
        wire.resolve(&crate::identity::current().authkey)
            .map_err(crate::codec::code_ref_de_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seven() -> u32 {
        7
    }
    fn eight() -> u32 {
        8
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "finds this executable's build-id through getauxval, which miri cannot call"
    )]
    fn a_reference_resolves_to_the_same_function() {
        let key = AuthKey::new(b"family".to_vec());
        let wire = CodeRef::new(seven as fn() -> u32).to_wire(&key);
        assert_eq!((wire.resolve::<fn() -> u32>(&key).unwrap().get())(), 7);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "finds this executable's build-id through getauxval, which miri cannot call"
    )]
    fn forged_or_foreign_references_are_refused() {
        let key = AuthKey::new(b"family".to_vec());
        let good = CodeRef::new(seven as fn() -> u32).to_wire(&key);
        // Another key (a peer without the family's authkey).
        let other = AuthKey::new(b"stranger".to_vec());
        assert_eq!(
            good.resolve::<fn() -> u32>(&other).unwrap_err(),
            CodeRefError::BadTag
        );
        // An offset moved to another function, keeping the tag.
        let eight_offset = CodeRef::new(eight as fn() -> u32).to_wire(&key).offset;
        let moved = CodeWire {
            offset: eight_offset,
            ..good.clone()
        };
        assert_eq!(
            moved.resolve::<fn() -> u32>(&key).unwrap_err(),
            CodeRefError::BadTag
        );
        // The same reference resolved as another type.
        assert_eq!(
            good.resolve::<fn(u8) -> u32>(&key).unwrap_err(),
            CodeRefError::BadTag
        );
        // Another executable.
        let foreign = CodeWire {
            fingerprint: b"build-id:0000".to_vec(),
            ..good.clone()
        };
        assert!(matches!(
            foreign.resolve::<fn() -> u32>(&key),
            Err(CodeRefError::ForeignExecutable { .. })
        ));
        // A wild offset with a valid tag (a key holder's mistake) is still refused.
        let wild_offset = i64::MAX / 2;
        let wild = CodeWire {
            offset: wild_offset,
            tag: tag::<fn() -> u32>(&key, image::fingerprint(), wild_offset),
            ..good
        };
        assert_eq!(
            wild.resolve::<fn() -> u32>(&key).unwrap_err(),
            CodeRefError::OutOfImage
        );
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "finds this executable's build-id through getauxval, which miri cannot call"
    )]
    fn a_refused_reference_decodes_to_its_own_kind() {
        // Signed under a key this process does not hold: decoding refuses it by kind, not text.
        let stranger = AuthKey::new(b"stranger".to_vec());
        let wire = CodeRef::new(seven as fn() -> u32).to_wire(&stranger);
        let bytes = crate::codec::encode(&wire).unwrap();
        let err = crate::codec::decode::<CodeRef<fn() -> u32>>(&bytes).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::CodeRefused);
        assert!(
            matches!(err, crate::Error::CodeRef(CodeRefError::BadTag)),
            "{err}"
        );
    }
}
