//! The one codec every crate uses for messages between our own processes: `postcard`.
//!
//! ```
//! use multiprocessing_core::codec;
//! let bytes = codec::encode(&("hello", 42u32)).unwrap();
//! let back: (String, u32) = codec::decode(&bytes).unwrap();
//! assert_eq!(back, ("hello".to_string(), 42));
//! ```

use std::cell::RefCell;
use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

thread_local! {
    /// postcard's error type drops custom messages; they wait here until [`map_err`] reads them.
    static CUSTOM: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Makes a serialization error whose message survives postcard (use instead of `Error::custom`).
pub fn ser_error<E: serde::ser::Error>(msg: impl Display) -> E {
    let msg = msg.to_string();
    CUSTOM.with(|c| *c.borrow_mut() = Some(msg.clone()));
    E::custom(msg)
}

/// Makes a deserialization error whose message survives postcard (use instead of `Error::custom`).
pub fn de_error<E: serde::de::Error>(msg: impl Display) -> E {
    let msg = msg.to_string();
    CUSTOM.with(|c| *c.borrow_mut() = Some(msg.clone()));
    E::custom(msg)
}

fn map_err(e: postcard::Error) -> Error {
    let custom = CUSTOM.with(|c| c.borrow_mut().take());
    match (e, custom) {
        (postcard::Error::SerdeSerCustom | postcard::Error::SerdeDeCustom, Some(msg)) => {
            Error::Codec(msg)
        }
        (e, _) => Error::Codec(e.to_string()),
    }
}

/// Encodes a value into a fresh buffer.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(map_err)
}

/// Encodes a value, appending to `out` (so a caller can reserve room for a frame header first).
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let extended = postcard::to_extend(value, std::mem::take(out)).map_err(map_err)?;
    *out = extended;
    Ok(())
}

/// Decodes a value; trailing bytes are an error, so a message is read whole or not at all.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(map_err)?;
    if !rest.is_empty() {
        return Err(Error::Codec(format!(
            "{} unexpected trailing bytes after the message",
            rest.len()
        )));
    }
    Ok(value)
}
