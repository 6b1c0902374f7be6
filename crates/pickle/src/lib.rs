//! CPython's `pickle` format as data, for talking to Python processes: a class-aware reader
//! (protocols 0 to 5) and writer (2 to 5) over a Python object tree, [`Value`], and a serde
//! bridge so any serde type travels as the pickle Python expects. Mirrors Python's `pickle`
//! module, for the subset of objects that carry data.
//!
//! # Safe where Python's own is not
//!
//! Python's `pickle.loads` imports modules and calls whatever a pickle names: unpickling
//! untrusted bytes runs arbitrary code. This reader **never runs code and never resolves a
//! global to anything but a name**: `os.system` in a pickle is [`Value::Global`] with module
//! `os` and name `system`, and a `REDUCE` of it is an [`Object`] whose class is that name. Only
//! a fixed table of builtins that make plain data (`set`, `frozenset`, `bytes`, `bytearray`,
//! `_codecs.encode` of Latin-1 text, `copyreg._reconstructor`) is read as the data it describes.
//! Everything else the input controls is bounded: lengths are checked against the bytes
//! present before any allocation, nesting depth, memo size and the result's size are limited
//! ([`Limits`]), and every malformed input is a typed [`enum@Error`], never a panic.
//!
//! ```
//! use multiprocessing_pickle::{Value, loads};
//! // pickle.dumps(os.system('echo hi'))-style payload, protocol 2: names, not a call.
//! let evil = b"\x80\x02cos\nsystem\nX\x07\x00\x00\x00echo hi\x85R.";
//! let v = loads(evil).unwrap();
//! assert_eq!(v.class(), Some(("os", "system")));
//! ```
//!
//! # The tree and serde
//!
//! ```
//! use multiprocessing_pickle::{Object, Value, dumps, from_slice, loads, to_vec};
//! // A serde type becomes the dict/list/tuple Python sees, and back.
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Point { x: i64, y: i64 }
//! let bytes = to_vec(&vec![Point { x: 1, y: 2 }]).unwrap();
//! assert_eq!(loads(&bytes).unwrap().to_string(), "[{'x': 1, 'y': 2}]");
//! assert_eq!(from_slice::<Vec<Point>>(&bytes).unwrap(), [Point { x: 1, y: 2 }]);
//!
//! // Class instances travel as their class name, arguments and state: a manager's Token.
//! let token = Object::new_obj("multiprocessing.managers", "Token", vec![]).state(Value::Tuple(vec![
//!     Value::from("dict"),
//!     Value::Tuple(vec![Value::from("127.0.0.1"), Value::Int(5000)]),
//!     Value::from("7f00"),
//! ]));
//! let v = Value::from(token);
//! assert_eq!(loads(&dumps(&v).unwrap()).unwrap(), v);
//! ```
//!
//! Python `int`s of any size are [`Value::Int`] up to 128 bits and [`BigInt`] beyond; a `dict`
//! keeps insertion order and any keys ([`Value::Dict`] is a list of pairs); a container shared
//! twice is repeated and one that contains itself ends in [`Value::Recursive`].

mod compat;
mod de;
mod error;
mod read;
mod ser;
mod value;
mod write;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use de::from_value;
pub use error::{Error, Result};
pub use read::{Limits, loads, loads_with_limits};
pub use ser::to_value;
pub use value::{BigInt, Construct, Global, MAX_INT_DIGITS, Object, Value};
pub use write::{DEFAULT_PROTOCOL, MAX_WRITE_DEPTH, dumps, dumps_protocol};

/// Pickles a serde value at [`DEFAULT_PROTOCOL`]: [`to_value`] then [`dumps`].
///
/// ```
/// let bytes = multiprocessing_pickle::to_vec(&(1, "two")).unwrap();
/// assert_eq!(multiprocessing_pickle::from_slice::<(i32, String)>(&bytes).unwrap(), (1, "two".into()));
/// ```
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    dumps(&to_value(value)?)
}

/// Unpickles a serde value: [`loads`] then [`from_value`].
pub fn from_slice<T: DeserializeOwned>(data: &[u8]) -> Result<T> {
    from_value(loads(data)?)
}

/// The crate README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
