//! The fd transfer context: how handles that own file descriptors travel inside messages.
//!
//! A connection end, a shared-memory block or a lock is only useful in another process if its file
//! descriptor goes along. While a value is encoded with [`encode_with_fds`], each [`TransferFd`]
//! inside it moves a duplicate of its descriptor into a side list and writes the index in its
//! place; [`decode_with_fds`] rebuilds the handles from the received descriptors. The same path
//! serves spawn arguments, forkserver requests and descriptors sent over a Unix-socket connection.
//! Encoding such a handle with plain [`codec::encode`] is an error, never a
//! silent copy of a number that means nothing in the other process.
//!
//! ```
//! use multiprocessing_core::transfer::{TransferFd, decode_with_fds, encode_with_fds};
//! let file = std::fs::File::open("/dev/null").unwrap();
//! let (bytes, fds) = encode_with_fds(&TransferFd::from(std::os::fd::OwnedFd::from(file))).unwrap();
//! assert_eq!(fds.len(), 1);
//! let back: TransferFd = decode_with_fds(&bytes, fds).unwrap();
//! # drop(back);
//! // Outside a transfer context the descriptor is refused.
//! let file = std::fs::File::open("/dev/null").unwrap();
//! assert!(multiprocessing_core::codec::encode(&TransferFd::from(std::os::fd::OwnedFd::from(file))).is_err());
//! ```

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result, codec};

enum Context {
    Sending(Vec<OwnedFd>),
    Receiving(Vec<Option<OwnedFd>>),
}

thread_local! {
    /// How many contexts are open on this thread, the innermost last.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The open contexts that hold descriptors, each with its depth. A receiving context with
    /// no descriptors is only counted in `DEPTH`: decoding most messages (a process's
    /// arguments in a freshly forked child included) then writes to no allocation.
    static CONTEXT: RefCell<Vec<(usize, Context)>> = const { RefCell::new(Vec::new()) };
}

/// Closes the context opened by [`enter`] even if encoding panics.
struct Entered {
    /// Whether the context is in `CONTEXT` (else it is a receiving one with no descriptors).
    stacked: bool,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if self.stacked {
            CONTEXT.with(|c| c.borrow_mut().pop());
        }
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

fn enter(ctx: Context) -> Entered {
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    CONTEXT.with(|c| c.borrow_mut().push((depth, ctx)));
    Entered { stacked: true }
}

fn enter_receiving(fds: Vec<OwnedFd>) -> Entered {
    if !fds.is_empty() {
        return enter(Context::Receiving(fds.into_iter().map(Some).collect()));
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    Entered { stacked: false }
}

fn leave() -> Option<Context> {
    let ctx = CONTEXT.with(|c| c.borrow_mut().pop()).map(|(_, ctx)| ctx);
    DEPTH.with(|d| d.set(d.get() - 1));
    ctx
}

/// What the innermost open context is.
enum Innermost<'a> {
    None,
    /// A receiving context that carried no descriptors.
    Empty,
    Context(&'a mut Context),
}

/// Runs `f` on the innermost open context.
fn with_innermost<R>(f: impl FnOnce(Innermost<'_>) -> R) -> R {
    let depth = DEPTH.with(Cell::get);
    CONTEXT.with(|c| {
        let mut stack = c.borrow_mut();
        match stack.last_mut() {
            Some((d, ctx)) if *d == depth => f(Innermost::Context(ctx)),
            _ if depth > 0 => f(Innermost::Empty),
            _ => f(Innermost::None),
        }
    })
}

/// Whether the current thread is encoding or decoding inside a transfer context.
#[must_use]
pub fn in_transfer() -> bool {
    DEPTH.with(Cell::get) > 0
}

/// Encodes `value`, moving the descriptors of the handles inside it into a side list.
pub fn encode_with_fds<T: Serialize + ?Sized>(value: &T) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    let guard = enter(Context::Sending(Vec::new()));
    let bytes = codec::encode(value);
    std::mem::forget(guard);
    let fds = match leave() {
        Some(Context::Sending(fds)) => fds,
        _ => return Err(Error::Transfer("transfer context was corrupted".into())),
    };
    Ok((bytes?, fds))
}

/// Decodes `bytes`, handing each [`TransferFd`] inside it its descriptor from `fds`.
///
/// Descriptors the message does not refer to are closed.
pub fn decode_with_fds<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T> {
    let _guard = enter_receiving(fds);
    codec::decode(bytes)
}

/// A file descriptor that can travel inside a message (see the [module docs](self)).
#[derive(Debug)]
pub struct TransferFd(OwnedFd);

impl TransferFd {
    /// Takes the descriptor back out.
    #[must_use]
    pub fn into_inner(self) -> OwnedFd {
        self.0
    }
}

impl From<OwnedFd> for TransferFd {
    fn from(fd: OwnedFd) -> Self {
        TransferFd(fd)
    }
}

impl AsFd for TransferFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for TransferFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Serializes a borrowed descriptor: the building block for handles that keep their own fd.
///
/// Inside an encoding transfer context a duplicate goes into the side list and its index is
/// written; anywhere else this fails with a message that names the fix.
pub fn serialize_fd<S: Serializer>(fd: BorrowedFd<'_>, s: S) -> Result<S::Ok, S::Error> {
    let index = with_innermost(|innermost| match innermost {
        Innermost::Context(Context::Sending(fds)) => {
            let dup = fd
                .try_clone_to_owned()
                .map_err(codec::transfer_ser_error::<S::Error>)?;
            fds.push(dup);
            Ok(u32::try_from(fds.len() - 1).map_err(codec::transfer_ser_error::<S::Error>)?)
        }
        _ => Err(codec::transfer_ser_error(
            "a handle owning a file descriptor can only be sent through a Connection, \
             a Queue or as a process argument (a transfer context), not encoded on its own",
        )),
    })?;
    s.serialize_u32(index)
}

/// Deserializes a descriptor written by [`serialize_fd`].
pub fn deserialize_fd<'de, D: Deserializer<'de>>(d: D) -> Result<OwnedFd, D::Error> {
    let index = u32::deserialize(d)? as usize;
    let missing = || {
        codec::transfer_de_error(format!(
            "message refers to file descriptor #{index} it did not carry"
        ))
    };
    with_innermost(|innermost| match innermost {
        Innermost::Context(Context::Receiving(fds)) => fds
            .get_mut(index)
            .and_then(Option::take)
            .ok_or_else(missing),
        Innermost::Empty => Err(missing()),
        _ => Err(codec::transfer_de_error(
            "a handle owning a file descriptor can only be received through a transfer context",
        )),
    })
}

impl Serialize for TransferFd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.0.as_fd(), s)
    }
}

impl<'de> Deserialize<'de> for TransferFd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fd(d).map(TransferFd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devnull() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    #[test]
    fn nested_handles_round_trip_in_order() {
        let value = (
            TransferFd::from(devnull()),
            vec![TransferFd::from(devnull())],
            7u8,
        );
        let (bytes, fds) = encode_with_fds(&value).unwrap();
        assert_eq!(fds.len(), 2);
        let (a, v, n): (TransferFd, Vec<TransferFd>, u8) = decode_with_fds(&bytes, fds).unwrap();
        assert_eq!(n, 7);
        assert_ne!(a.as_raw_fd(), v[0].as_raw_fd());
        assert!(!in_transfer());
    }

    #[test]
    fn missing_descriptor_is_an_error() {
        let (bytes, _fds) = encode_with_fds(&TransferFd::from(devnull())).unwrap();
        let err = decode_with_fds::<TransferFd>(&bytes, Vec::new()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Transfer, "{err}");
    }

    /// Decodes, while its own message is being decoded, an inner message that carried no
    /// descriptors but names one.
    struct DecodesInner {
        inner_failed: bool,
        in_transfer: bool,
    }

    impl<'de> Deserialize<'de> for DecodesInner {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let inner = Vec::<u8>::deserialize(d)?;
            let result = decode_with_fds::<TransferFd>(&inner, Vec::new());
            Ok(DecodesInner {
                inner_failed: result.is_err_and(|e| e.kind() == crate::ErrorKind::Transfer),
                in_transfer: in_transfer(),
            })
        }
    }

    #[test]
    fn a_message_without_descriptors_cannot_take_the_enclosing_ones() {
        let (inner, inner_fds) = encode_with_fds(&TransferFd::from(devnull())).unwrap();
        drop(inner_fds);
        let (bytes, fds) = encode_with_fds(&(inner, TransferFd::from(devnull()))).unwrap();
        assert_eq!(fds.len(), 1);
        let (nested, outer): (DecodesInner, TransferFd) = decode_with_fds(&bytes, fds).unwrap();
        assert!(
            nested.inner_failed,
            "the inner message took the outer one's descriptor"
        );
        assert!(nested.in_transfer);
        drop(outer);
        assert!(!in_transfer());
    }

    #[test]
    fn plain_encoding_refuses_descriptors() {
        let err = codec::encode(&TransferFd::from(devnull())).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Transfer, "{err}");
    }
}
