//! The self-describing value tree that a manager holds.
//!
//! Python's manager holds arbitrary Python objects; ours holds [`Object`]s, a tree with Python's
//! built-in shapes (None, bool, int, float, str, bytes, list, tuple, dict) plus references to
//! other shared objects of the same manager ([`Object::Proxy`]). Any serde value converts to and
//! from an `Object`, so typed proxies are thin views over the tree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One value held by a manager: Python's built-in object shapes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Object {
    /// Python's `None` (Rust's `()` and `Option::None`).
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
}

/// Names one shared object of a manager: Python's `multiprocessing.managers.Token`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_across_kinds() {
        assert_eq!(Object::Int(1), Object::Float(1.0));
        assert_eq!(Object::Bool(true), Object::Int(1));
        assert!(Object::Float(0.25) < Object::Int(1));
        assert!(Object::Int(1) < Object::Float(1.5));
        assert!(Object::Int(i128::from(u64::MAX)) < Object::Float(1e30));
        assert!(Object::Int(3) < Object::Str("2".into()));
    }

    #[test]
    fn the_documentation_dict_sorts_as_printed() {
        let mut d = BTreeMap::new();
        d.insert(Object::Int(1), Object::Str("1".into()));
        d.insert(Object::Str("2".into()), Object::Int(2));
        d.insert(Object::Float(0.25), Object::None);
        let keys: Vec<_> = d.keys().cloned().collect();
        assert_eq!(
            keys,
            [Object::Float(0.25), Object::Int(1), Object::Str("2".into())]
        );
    }
}
