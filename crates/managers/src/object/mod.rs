//! The self-describing value tree that a manager holds.
//!
//! Python's manager holds arbitrary Python objects; ours holds [`Object`]s, a tree with Python's
//! built-in shapes (None, bool, int, float, str, bytes, list, tuple, dict) plus references to
//! other shared objects of the same manager ([`Object::Proxy`]). Any serde value converts to
//! ([`to_object`]) and from ([`from_object`]) an `Object`, so a managed `dict` holds mixed keys
//! and values as in Python, and typed proxies are thin views over the tree. Its `Display` is
//! Python's `repr`, and dict keys keep Python's equality (`1 == 1.0 == True`) in a total order,
//! so a dict prints sorted by key.
//!
//! ```
//! use multiprocessing_managers::object::{Object, from_object, to_object};
//!
//! // The documentation's `d[1] = '1'; d['2'] = 2; d[0.25] = None`.
//! let mut d = Object::dict::<Object, Object>([]);
//! let dict = d.as_dict_mut().unwrap();
//! dict.insert(1.into(), "1".into());
//! dict.insert("2".into(), 2.into());
//! dict.insert(0.25.into(), Object::None);
//! assert_eq!(d.to_string(), "{0.25: None, 1: '1', '2': 2}");
//!
//! // Typed values go in and come out through serde.
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! enum Shape { Circle { r: f64 }, Square(u32), Empty }
//! let shapes = vec![Shape::Circle { r: 0.5 }, Shape::Square(2), Shape::Empty];
//! let o = to_object(&shapes).unwrap();
//! assert_eq!(o.to_string(), "[{'Circle': {'r': 0.5}}, {'Square': 2}, 'Empty']");
//! assert_eq!(from_object::<Vec<Shape>>(o).unwrap(), shapes);
//! ```
//!
//! # The serde mapping
//!
//! | serde (Rust)                                        | `Object`                      | Python         |
//! |-----------------------------------------------------|-------------------------------|----------------|
//! | `()`, unit struct, `None`                           | `None`                        | `None`         |
//! | `Some(x)`                                           | what `x` is                   |                |
//! | `bool`                                              | `Bool`                        | `bool`         |
//! | every integer type (`u128` up to `i128::MAX`)       | `Int` (`i128`)                | `int`          |
//! | `f32`, `f64`                                        | `Float` (`f64`)               | `float`        |
//! | `char`, `str`, `String`                             | `Str`                         | `str`          |
//! | bytes (`serde_bytes`; a bare `Vec<u8>` is a list)   | `Bytes`                       | `bytes`        |
//! | sequence (`Vec`, sets, ...)                         | `List`                        | `list`         |
//! | tuple, tuple struct                                 | `Tuple`                       | `tuple`        |
//! | map (any key type), struct                          | `Dict` (fields as `Str` keys) | `dict`         |
//! | newtype struct                                      | what its inner value is       |                |
//! | unit variant `E::A`                                 | `Str("A")`                    | `'A'`          |
//! | other variants `E::B(x)`, `E::C(x, y)`, `E::D { f }`| `Dict {"B": x}`, ...          | `{'B': x}`     |
//! | [`Token`] (and what serializes as one)              | `Proxy`                       | a proxy        |
//!
//! Enums are tagged externally, as `serde_json` does. Reading back ([`from_object`]) accepts
//! all of this and a few Python-natural readings: an `int` as a float, a `list` as a tuple and a
//! `tuple` as a list, `bytes` as a sequence of `u8`. As in JSON, `Some(None)` comes back as
//! `None`. Values nest at most [`MAX_DEPTH`] levels both ways, so hostile input cannot overflow
//! the stack.
//!
//! # Between processes
//!
//! In human-readable formats such as JSON, `Object` serializes in Python's data model (a `dict`
//! as a map, `None` as a unit) and reads back from it. Postcard, the codec of our messages, is
//! not self-describing and not human-readable: there an `Object` writes and reads its flat,
//! tagged [wire form](wire), so an `Object` field in a message needs nothing more.
//! [`Object::to_wire`] gives the bytes alone; [`WireObject`] and `#[serde(with = "wire")]`
//! force the wire form in any format.

use std::collections::BTreeMap;

mod de;
mod error;
pub mod python;
mod repr;
mod ser;
mod value;
pub mod wire;

pub use de::{from_object, from_object_ref};
pub use error::ObjectError;
pub use python::Pickled;
pub use ser::to_object;
pub use value::DisplayStr;
pub use wire::WireObject;

/// Deepest nesting accepted when converting to or from an [`Object`] and in its wire form:
/// each container and proxy is a level (and, from serde values, each `Some` and newtype). The
/// codec's limit, [`multiprocessing_core::codec::MAX_DEPTH`].
pub const MAX_DEPTH: usize = multiprocessing_core::codec::MAX_DEPTH;

/// The newtype-struct name a [`Token`] serializes under, which [`to_object`] recognizes to make
/// it an [`Object::Proxy`]. A type that stands for a shared object (a proxy) serializes as its
/// token, or as `serialize_newtype_struct(TOKEN_MARKER, ..)` around the token's fields, to be
/// stored as a reference; other serializers see the plain struct of the fields.
pub const TOKEN_MARKER: &str = "$multiprocessing_managers::Token";

/// The newtype-struct name `Object`'s `Deserialize` asks for, so that [`from_object`] can tell
/// it what other visitors cannot see (a tuple, a proxy).
const OBJECT_MARKER: &str = "$multiprocessing_managers::Object";

/// The one key of the map in which [`from_object`] hands a tuple to `Object`'s `Deserialize`.
const TUPLE_MARKER: &str = "$multiprocessing_managers::Tuple";

/// The newtype-struct name an [`Object::Pickled`] serializes under (around its pickle's bytes),
/// and the one key of the map in which [`from_object`] hands one to `Object`'s `Deserialize`:
/// so that `to_object` and `from_object` keep it (other formats see the bytes).
const PICKLED_MARKER: &str = "$multiprocessing_managers::Pickled";

/// One value held by a manager: Python's built-in object shapes.
///
/// - Build one from Rust values (`Object::from(1)`, [`Object::list`], [`Object::dict`],
///   `collect()`) or from any serde value ([`to_object`]); read it with the accessors
///   ([`as_int`](Object::as_int), [`as_dict`](Object::as_dict), ...) or into any serde type
///   ([`from_object`]).
/// - `Display` is Python's `repr`; [`display_str`](Object::display_str) is Python's `str`.
/// - `Eq`, `Ord` and `Hash` agree with Python's dict keys: `1`, `1.0` and `True` are one key.
///   `Ord` is total (numbers by value, then `str`, `bytes`, `tuple`, `list`, `dict`, proxy;
///   NaN after every number), so a `Dict` keeps its keys sorted; Python's `<`, which refuses
///   mixed kinds, is [`python_cmp`](Object::python_cmp).
/// - Between processes it travels as itself inside postcard messages (see [`wire`]).
///
/// ```
/// use multiprocessing_managers::object::Object;
/// let o = Object::list([Object::from(1), Object::from("a"), Object::tuple([0.5])]);
/// assert_eq!(o.to_string(), "[1, 'a', (0.5,)]");
/// assert_eq!(o.as_list().unwrap()[0].as_int(), Some(1));
/// ```
#[derive(Debug, Clone, Default)]
pub enum Object {
    /// Python's `None` (Rust's `()` and `Option::None`); the default.
    #[default]
    None,
    /// A `bool`.
    Bool(bool),
    /// An integer; `i128` holds every Rust integer type up to `u64`/`i64` exactly.
    Int(i128),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes`.
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<Object>),
    /// A `tuple`.
    Tuple(Vec<Object>),
    /// A `dict`, kept in key order.
    Dict(BTreeMap<Object, Object>),
    /// A reference to another shared object of the same manager (a proxy stored inside a value).
    Proxy(Token),
    /// A Python object of a kind with no shape here (a `set`, an instance of a Python class),
    /// sent by a CPython peer and kept as its pickle, to be handed back unchanged (see
    /// [`python`]).
    Pickled(Pickled),
}

/// Names one shared object of a manager: Python's `multiprocessing.managers.Token`.
///
/// It serializes as the newtype struct [`TOKEN_MARKER`] around its fields, so a token inside a
/// value becomes an [`Object::Proxy`] (see [`to_object`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token {
    /// The registered type name (`"dict"`, `"list"`, `"Queue"`, ...).
    pub typeid: String,
    /// The manager's address in its text form (`/path`, `@name` or `host:port`).
    pub address: String,
    /// The object's identity inside the manager, unique while it lives.
    pub id: u64,
}

impl Object {
    /// The rank of this value's kind in the total order: numbers (bool, int, float) compare
    /// with each other by value, as in Python; other kinds sort by kind first.
    fn rank(&self) -> u8 {
        match self {
            Object::None => 0,
            Object::Bool(_) | Object::Int(_) | Object::Float(_) => 1,
            Object::Str(_) => 2,
            Object::Bytes(_) => 3,
            Object::Tuple(_) => 4,
            Object::List(_) => 5,
            Object::Dict(_) => 6,
            Object::Proxy(_) => 7,
            Object::Pickled(_) => 8,
        }
    }
}

/// Compares an integer with a float exactly (no rounding of large integers); NaN sorts after
/// every number.
fn cmp_int_float(i: i128, f: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if f.is_nan() {
        return Ordering::Less;
    }
    // Every f64 beyond ±2^127 is outside i128's range.
    if f >= 2f64.powi(127) {
        return Ordering::Less;
    }
    if f < -(2f64.powi(127)) {
        return Ordering::Greater;
    }
    let floor = f.floor();
    // `floor` is integral and within range, so the cast is exact.
    let fi = floor as i128;
    match i.cmp(&fi) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

fn cmp_float(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        // -0.0 == 0.0, as in Python.
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

impl Ord for Object {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use Object::*;
        let as_int = |o: &Object| match o {
            Bool(b) => Some(i128::from(*b)),
            Int(i) => Some(*i),
            _ => Option::None,
        };
        match (self, other) {
            (Float(a), Float(b)) => cmp_float(*a, *b),
            (Float(f), o) if as_int(o).is_some() => {
                cmp_int_float(as_int(o).unwrap_or_default(), *f).reverse()
            }
            (o, Float(f)) if as_int(o).is_some() => {
                cmp_int_float(as_int(o).unwrap_or_default(), *f)
            }
            (a, b) if as_int(a).is_some() && as_int(b).is_some() => as_int(a).cmp(&as_int(b)),
            (Str(a), Str(b)) => a.cmp(b),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (Tuple(a), Tuple(b)) | (List(a), List(b)) => a.cmp(b),
            (Dict(a), Dict(b)) => a.iter().cmp(b.iter()),
            (Proxy(a), Proxy(b)) => a.cmp(b),
            (Pickled(a), Pickled(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl PartialOrd for Object {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Equality follows the order: `1 == 1.0 == true` as dict keys, as in Python.
impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Object {}

/// Hashing agrees with equality, as Python's `hash(1) == hash(1.0) == hash(True)`: numbers
/// hash by value, so an `Object` can key a `HashMap` as well as a `BTreeMap`.
///
/// ```
/// use std::collections::HashSet;
/// use multiprocessing_managers::object::Object;
/// let set: HashSet<Object> = [Object::from(1), Object::from(1.0), Object::from(true)].into();
/// assert_eq!(set.len(), 1);
/// ```
impl std::hash::Hash for Object {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Object::None => {}
            Object::Bool(b) => i128::from(*b).hash(state),
            Object::Int(i) => i.hash(state),
            Object::Float(f) => {
                // An integral float equals the int of its value; every NaN equals every NaN.
                let integral = f.fract() == 0.0 && (-(2f64.powi(127))..2f64.powi(127)).contains(f);
                if integral {
                    #[expect(clippy::cast_possible_truncation, reason = "integral, in range")]
                    (*f as i128).hash(state);
                } else if f.is_nan() {
                    u64::MAX.hash(state);
                } else {
                    f.to_bits().hash(state);
                }
            }
            Object::Str(s) => s.hash(state),
            Object::Bytes(b) => b.hash(state),
            Object::List(items) | Object::Tuple(items) => items.hash(state),
            Object::Dict(map) => {
                map.len().hash(state);
                for (k, v) in map {
                    k.hash(state);
                    v.hash(state);
                }
            }
            Object::Proxy(token) => token.hash(state),
            Object::Pickled(p) => p.hash(state),
        }
    }
}

#[cfg(test)]
mod tests;
