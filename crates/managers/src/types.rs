//! The built-in shared types of a [`SyncManager`](crate::SyncManager): `dict`, `list`,
//! `Namespace` and `Value`, with Python's method names, and [`Registry::builtin`].

use std::collections::BTreeMap;

use crate::object::Object;
use crate::protocol::{Exception, Raised};
use crate::shared::{Caller, Outcome, Registry, Shared, collect_references};

pub(crate) fn type_error(m: impl Into<String>) -> Raised {
    Raised::new(Exception::TypeError, m)
}

pub(crate) fn no_method(ty: &str, method: &str) -> Raised {
    Raised::new(
        Exception::AttributeError,
        format!("'{ty}' object has no attribute '{method}'"),
    )
}

pub(crate) fn ret(o: Object) -> Result<Outcome, Raised> {
    Ok(Outcome::Return(o))
}

fn none() -> Result<Outcome, Raised> {
    ret(Object::None)
}

/// Python's `repr()` of an object (its `Display`).
pub(crate) fn repr(o: &Object) -> String {
    o.to_string()
}

/// Appends Python's `repr()` of `o` to `out`.
fn write_repr(o: &Object, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(out, "{o}");
}

/// A `dict`: keys in order (numbers by value across int, float and bool, as in Python).
#[derive(Debug, Default)]
pub struct Dict(pub BTreeMap<Object, Object>);

fn key_error(k: &Object) -> Raised {
    Raised::new(Exception::KeyError, repr(k))
}

impl Shared for Dict {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        let mut a = args.into_iter();
        let mut next = |what: &str| {
            a.next()
                .ok_or_else(|| type_error(format!("{method}() needs {what}")))
        };
        match method {
            "__getitem__" => {
                let k = next("a key")?;
                match self.0.get(&k) {
                    Some(v) => ret(v.clone()),
                    None => Err(key_error(&k)),
                }
            }
            "get" => {
                let k = next("a key")?;
                let default = a.next().unwrap_or(Object::None);
                ret(self.0.get(&k).cloned().unwrap_or(default))
            }
            "__setitem__" => {
                let k = next("a key")?;
                let v = next("a value")?;
                self.0.insert(k, v);
                none()
            }
            // Beyond Python: one named read-modify-write, atomic (see `crate::update`).
            "update_with" => {
                let k = next("a key")?;
                let name = match next("an operation")? {
                    Object::Str(name) => name,
                    other => return Err(type_error(format!("an operation name, not {other}"))),
                };
                let op = crate::update::Op::from_wire(&name, next("an argument")?)?;
                let new = op.apply(self.0.get(&k).cloned())?;
                self.0.insert(k, new.clone());
                ret(new)
            }
            "__delitem__" => {
                let k = next("a key")?;
                match self.0.remove(&k) {
                    Some(_) => none(),
                    None => Err(key_error(&k)),
                }
            }
            "__contains__" => {
                let k = next("a key")?;
                ret(Object::Bool(self.0.contains_key(&k)))
            }
            "__len__" => ret(Object::Int(self.0.len() as i128)),
            "keys" => ret(Object::List(self.0.keys().cloned().collect())),
            "values" => ret(Object::List(self.0.values().cloned().collect())),
            "items" => ret(Object::List(
                self.0
                    .iter()
                    .map(|(k, v)| Object::Tuple(vec![k.clone(), v.clone()]))
                    .collect(),
            )),
            "pop" => {
                let k = next("a key")?;
                match (self.0.remove(&k), a.next()) {
                    (Some(v), _) => ret(v),
                    (None, Some(default)) => ret(default),
                    (None, None) => Err(key_error(&k)),
                }
            }
            "popitem" => match self.0.pop_last() {
                Some((k, v)) => ret(Object::Tuple(vec![k, v])),
                None => Err(Raised::new(
                    Exception::KeyError,
                    "'popitem(): dictionary is empty'",
                )),
            },
            "setdefault" => {
                let k = next("a key")?;
                let default = a.next().unwrap_or(Object::None);
                ret(self.0.entry(k).or_insert(default).clone())
            }
            "update" => {
                match next("a mapping")? {
                    Object::Dict(d) => self.0.extend(d),
                    Object::List(items) | Object::Tuple(items) => {
                        for item in items {
                            match item {
                                Object::Tuple(kv) | Object::List(kv) if kv.len() == 2 => {
                                    let mut kv = kv.into_iter();
                                    let (k, v) = (kv.next(), kv.next());
                                    if let (Some(k), Some(v)) = (k, v) {
                                        self.0.insert(k, v);
                                    }
                                }
                                _ => return Err(type_error("update() needs pairs")),
                            }
                        }
                    }
                    _ => return Err(type_error("update() needs a mapping or pairs")),
                }
                none()
            }
            "clear" => {
                self.0.clear();
                none()
            }
            "copy" => ret(Object::Dict(self.0.clone())),
            _ => Err(no_method("dict", method)),
        }
    }

    fn value(&self) -> Object {
        Object::Dict(self.0.clone())
    }

    fn repr(&self) -> String {
        let mut s = String::new();
        // Written in place: no copy of the whole dict for its repr.
        s.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            write_repr(k, &mut s);
            s.push_str(": ");
            write_repr(v, &mut s);
        }
        s.push('}');
        s
    }

    fn references(&self, out: &mut Vec<u64>) {
        for (k, v) in &self.0 {
            collect_references(k, out);
            collect_references(v, out);
        }
    }
}

/// A `list`.
#[derive(Debug, Default)]
pub struct List(pub Vec<Object>);

fn as_int(o: &Object) -> Option<i128> {
    match o {
        Object::Int(i) => Some(*i),
        Object::Bool(b) => Some(i128::from(*b)),
        _ => None,
    }
}

/// Python's index normalisation: a negative index counts from the end.
fn index(len: usize, o: &Object) -> Result<usize, Raised> {
    let i = as_int(o).ok_or_else(|| type_error("list indices must be integers or slices"))?;
    let len = len as i128;
    let j = if i < 0 { i + len } else { i };
    if (0..len).contains(&j) {
        Ok(j as usize)
    } else {
        Err(Raised::new(
            Exception::IndexError,
            "list index out of range",
        ))
    }
}

/// The positions a slice `(start, stop, step)` selects in a sequence of `len` (Python's
/// `slice.indices`).
fn slice_positions(len: usize, parts: &[Object]) -> Result<Vec<usize>, Raised> {
    let get = |i: usize| -> Result<Option<i128>, Raised> {
        match parts.get(i) {
            None | Some(Object::None) => Ok(None),
            Some(o) => as_int(o)
                .map(Some)
                .ok_or_else(|| type_error("slice indices must be integers or None")),
        }
    };
    let len = len as i128;
    let step = get(2)?.unwrap_or(1);
    if step == 0 {
        return Err(Raised::new(
            Exception::ValueError,
            "slice step cannot be zero",
        ));
    }
    let clamp = |v: Option<i128>, default: i128, lo: i128, hi: i128| match v {
        None => default,
        Some(v) if v < 0 => (v + len).max(lo),
        Some(v) => v.min(hi),
    };
    let mut out = Vec::new();
    if step > 0 {
        let (start, stop) = (clamp(get(0)?, 0, 0, len), clamp(get(1)?, len, 0, len));
        let mut i = start;
        while i < stop {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (start, stop) = (
            clamp(get(0)?, len - 1, -1, len - 1),
            clamp(get(1)?, -1, -1, len - 1),
        );
        let mut i = start;
        while i > stop {
            out.push(i as usize);
            i += step;
        }
    }
    Ok(out)
}

impl Shared for List {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        let mut a = args.into_iter();
        let mut next = |what: &str| {
            a.next()
                .ok_or_else(|| type_error(format!("{method}() needs {what}")))
        };
        let v = &mut self.0;
        match method {
            "append" => {
                v.push(next("an item")?);
                none()
            }
            "extend" | "__iadd__" => match iterable_items(next("a list")?) {
                Some(items) => {
                    v.extend(items);
                    none()
                }
                None => Err(type_error("extend() needs an iterable of data")),
            },
            "insert" => {
                let at =
                    as_int(&next("an index")?).ok_or_else(|| type_error("an integer index"))?;
                let len = v.len() as i128;
                let at = if at < 0 {
                    (at + len).max(0)
                } else {
                    at.min(len)
                };
                v.insert(at as usize, next("an item")?);
                none()
            }
            "pop" => {
                if v.is_empty() {
                    return Err(Raised::new(Exception::IndexError, "pop from empty list"));
                }
                let at = match a.next() {
                    None => v.len() - 1,
                    Some(i) => index(v.len(), &i)?,
                };
                ret(v.remove(at))
            }
            "remove" => {
                let x = next("an item")?;
                match v.iter().position(|o| *o == x) {
                    Some(i) => {
                        v.remove(i);
                        none()
                    }
                    None => Err(Raised::new(
                        Exception::ValueError,
                        "list.remove(x): x not in list",
                    )),
                }
            }
            "index" => {
                let x = next("an item")?;
                match v.iter().position(|o| *o == x) {
                    Some(i) => ret(Object::Int(i as i128)),
                    None => Err(Raised::new(
                        Exception::ValueError,
                        format!("{} is not in list", repr(&x)),
                    )),
                }
            }
            "count" => {
                let x = next("an item")?;
                ret(Object::Int(v.iter().filter(|o| **o == x).count() as i128))
            }
            "__len__" => ret(Object::Int(v.len() as i128)),
            "__contains__" => {
                let x = next("an item")?;
                ret(Object::Bool(v.contains(&x)))
            }
            "__getitem__" => match next("an index")? {
                Object::Tuple(parts) => {
                    let pos = slice_positions(v.len(), &parts)?;
                    ret(Object::List(
                        pos.into_iter().map(|i| v[i].clone()).collect(),
                    ))
                }
                i => ret(v[index(v.len(), &i)?].clone()),
            },
            "__setitem__" => {
                let at = next("an index")?;
                let x = next("a value")?;
                match at {
                    Object::Tuple(parts) => {
                        let (Object::List(items) | Object::Tuple(items)) = x else {
                            return Err(type_error("can only assign a list to a slice"));
                        };
                        let step = parts.get(2).and_then(as_int).unwrap_or(1);
                        let pos = slice_positions(v.len(), &parts)?;
                        if step == 1 {
                            // Contiguous: replace the run at the slice's start (an empty run
                            // inserts there).
                            let len = v.len() as i128;
                            let start = match parts.first().and_then(as_int) {
                                None => 0,
                                Some(s) if s < 0 => (s + len).max(0),
                                Some(s) => s.min(len),
                            } as usize;
                            v.splice(start..start + pos.len(), items);
                        } else {
                            if items.len() != pos.len() {
                                return Err(Raised::new(
                                    Exception::ValueError,
                                    format!(
                                        "attempt to assign sequence of size {} to extended slice of size {}",
                                        items.len(),
                                        pos.len()
                                    ),
                                ));
                            }
                            for (i, x) in pos.into_iter().zip(items) {
                                v[i] = x;
                            }
                        }
                        none()
                    }
                    i => {
                        let i = index(v.len(), &i)?;
                        v[i] = x;
                        none()
                    }
                }
            }
            "__delitem__" => match next("an index")? {
                Object::Tuple(parts) => {
                    let mut pos = slice_positions(v.len(), &parts)?;
                    pos.sort_unstable();
                    for i in pos.into_iter().rev() {
                        v.remove(i);
                    }
                    none()
                }
                i => {
                    let i = index(v.len(), &i)?;
                    v.remove(i);
                    none()
                }
            },
            "__imul__" => {
                let n = as_int(&next("a count")?).ok_or_else(|| type_error("an integer count"))?;
                let n = usize::try_from(n).unwrap_or(0);
                let one = std::mem::take(v);
                *v = (0..n).flat_map(|_| one.iter().cloned()).collect();
                none()
            }
            "reverse" => {
                v.reverse();
                none()
            }
            "sort" => {
                let reverse = matches!(a.next(), Some(Object::Bool(true)));
                v.sort();
                if reverse {
                    v.reverse();
                }
                none()
            }
            "clear" => {
                v.clear();
                none()
            }
            "copy" => ret(Object::List(v.clone())),
            _ => Err(no_method("list", method)),
        }
    }

    fn value(&self) -> Object {
        Object::List(self.0.clone())
    }

    fn repr(&self) -> String {
        let mut s = String::from("[");
        for (i, o) in self.0.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            write_repr(o, &mut s);
        }
        s.push(']');
        s
    }

    fn references(&self, out: &mut Vec<u64>) {
        self.0.iter().for_each(|o| collect_references(o, out));
    }
}

/// A `Namespace`: named attributes (Python's `SimpleNamespace`-like manager type).
#[derive(Debug, Default)]
pub struct Namespace(pub BTreeMap<String, Object>);

impl Shared for Namespace {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        let mut a = args.into_iter();
        let name = match a.next() {
            Some(Object::Str(s)) => s,
            _ => return Err(type_error("attribute name must be a string")),
        };
        let missing = |name: &str| {
            Raised::new(
                Exception::AttributeError,
                format!("'Namespace' object has no attribute '{name}'"),
            )
        };
        match method {
            "__getattribute__" => match self.0.get(&name) {
                Some(v) => ret(v.clone()),
                None => Err(missing(&name)),
            },
            "__setattr__" => {
                let v = a
                    .next()
                    .ok_or_else(|| type_error("__setattr__() needs a value"))?;
                self.0.insert(name, v);
                none()
            }
            "__delattr__" => match self.0.remove(&name) {
                Some(_) => none(),
                None => Err(missing(&name)),
            },
            _ => Err(no_method("Namespace", method)),
        }
    }

    fn value(&self) -> Object {
        Object::Dict(
            self.0
                .iter()
                .map(|(k, v)| (Object::Str(k.clone()), v.clone()))
                .collect(),
        )
    }

    fn repr_resolved(&self, resolve: &mut dyn FnMut(&Object) -> Object) -> String {
        let mut s = String::from("Namespace(");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(k);
            s.push('=');
            write_repr(&resolve(v), &mut s);
        }
        s.push(')');
        s
    }

    /// `Namespace(x=10, y='hello')`.
    fn repr(&self) -> String {
        let mut s = String::from("Namespace(");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(k);
            s.push('=');
            write_repr(v, &mut s);
        }
        s.push(')');
        s
    }

    fn references(&self, out: &mut Vec<u64>) {
        self.0.values().for_each(|o| collect_references(o, out));
    }
}

/// A `Value`: one value with a type code (Python's manager `Value(typecode, value)`, which
/// holds any object; the code is informative).
#[derive(Debug)]
pub struct Value {
    /// The type code given at creation (`"i"`, `"d"`, ...).
    pub typecode: String,
    /// The value.
    pub value: Object,
}

impl Shared for Value {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "get" => ret(self.value.clone()),
            "set" => {
                self.value = args
                    .into_iter()
                    .next()
                    .ok_or_else(|| type_error("set() needs a value"))?;
                none()
            }
            // Beyond Python: one named read-modify-write, atomic (see `crate::update`).
            "update_with" => {
                let mut a = args.into_iter();
                let name = match a.next() {
                    Some(Object::Str(name)) => name,
                    other => return Err(type_error(format!("an operation name, not {other:?}"))),
                };
                let argument = a
                    .next()
                    .ok_or_else(|| type_error("update_with() needs an argument"))?;
                let op = crate::update::Op::from_wire(&name, argument)?;
                self.value = op.apply(Some(self.value.clone()))?;
                ret(self.value.clone())
            }
            _ => Err(no_method("Value", method)),
        }
    }

    fn value(&self) -> Object {
        self.value.clone()
    }

    fn repr_resolved(&self, resolve: &mut dyn FnMut(&Object) -> Object) -> String {
        format!(
            "Value({}, {})",
            repr(&Object::Str(self.typecode.clone())),
            repr(&resolve(&self.value))
        )
    }

    /// `Value('i', 7)`.
    fn repr(&self) -> String {
        format!(
            "Value({}, {})",
            repr(&Object::Str(self.typecode.clone())),
            repr(&self.value)
        )
    }

    fn references(&self, out: &mut Vec<u64>) {
        collect_references(&self.value, out);
    }
}

fn make_dict(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    let mut d = Dict::default();
    if let Some(init) = args.into_iter().next() {
        d.call("update", vec![init], Caller::new(0, 0))?;
    }
    Ok(Box::new(d))
}

fn make_list(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    match args.into_iter().next() {
        None => Ok(Box::new(List::default())),
        Some(o) => match iterable_items(o) {
            Some(v) => Ok(Box::new(List(v))),
            None => Err(type_error("list() needs an iterable of data")),
        },
    }
}

/// The items Python's `list(o)` gives, where they are data: a list's or tuple's items, a
/// `str`'s characters, a `bytes`' values, a dict's keys, and a CPython peer's `set`, `range`
/// or `bytearray` ([`Pickled::items`](crate::object::Pickled::items)).
fn iterable_items(o: Object) -> Option<Vec<Object>> {
    match o {
        Object::List(v) | Object::Tuple(v) => Some(v),
        Object::Str(s) => Some(s.chars().map(|c| Object::Str(c.into())).collect()),
        Object::Bytes(b) => Some(b.into_iter().map(Object::from).collect()),
        Object::Dict(d) => Some(d.into_keys().collect()),
        Object::Pickled(p) => p.items(),
        _ => None,
    }
}

fn make_namespace(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    let mut ns = Namespace::default();
    match args.into_iter().next() {
        None => {}
        Some(Object::Dict(d)) => {
            for (k, v) in d {
                match k {
                    Object::Str(k) => {
                        ns.0.insert(k, v);
                    }
                    _ => return Err(type_error("keywords must be strings")),
                }
            }
        }
        Some(_) => return Err(type_error("Namespace() takes a dict of attributes")),
    }
    Ok(Box::new(ns))
}

fn make_value(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    let mut a = args.into_iter();
    match (a.next(), a.next()) {
        (Some(Object::Str(typecode)), Some(value)) => Ok(Box::new(Value { typecode, value })),
        _ => Err(type_error("Value() takes a type code and a value")),
    }
}

impl Registry {
    /// The built-in types of a [`SyncManager`](crate::SyncManager): `dict`, `list`,
    /// `Namespace` and `Value`, and [`sync_types`](crate::sync_types)' queues, locks,
    /// semaphores, conditions, events, barriers and arrays.
    #[must_use]
    pub fn builtin() -> Registry {
        let mut r = Registry::new();
        r.register("dict", make_dict)
            .register("list", make_list)
            .register("Namespace", make_namespace)
            .register("Value", make_value);
        crate::sync_types::register(&mut r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Object {
        Object::Str(x.into())
    }

    fn call(o: &mut dyn Shared, m: &str, args: Vec<Object>) -> Result<Object, Raised> {
        match o.call(m, args, Caller::new(1, 1))? {
            Outcome::Return(o) => Ok(o),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn the_documentation_dict_and_list() {
        let mut d = Dict::default();
        call(&mut d, "__setitem__", vec![Object::Int(1), s("1")]).unwrap();
        call(&mut d, "__setitem__", vec![s("2"), Object::Int(2)]).unwrap();
        call(
            &mut d,
            "__setitem__",
            vec![Object::Float(0.25), Object::None],
        )
        .unwrap();
        assert_eq!(d.repr(), "{0.25: None, 1: '1', '2': 2}");
        let mut l = List((0..10).map(Object::Int).collect());
        call(&mut l, "reverse", vec![]).unwrap();
        assert_eq!(l.repr(), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
        let e = call(&mut d, "__getitem__", vec![s("missing")]).unwrap_err();
        assert_eq!(e.to_string(), "KeyError: 'missing'");
    }

    #[test]
    fn list_slices_follow_python() {
        let mut l = List((0..10).map(Object::Int).collect());
        let sl = |a: Option<i128>, b: Option<i128>, c: Option<i128>| {
            let f = |x: Option<i128>| x.map_or(Object::None, Object::Int);
            Object::Tuple(vec![f(a), f(b), f(c)])
        };
        assert_eq!(
            repr(&call(&mut l, "__getitem__", vec![sl(Some(2), Some(5), None)]).unwrap()),
            "[2, 3, 4]"
        );
        assert_eq!(
            repr(&call(&mut l, "__getitem__", vec![sl(None, None, Some(-3))]).unwrap()),
            "[9, 6, 3, 0]"
        );
        assert_eq!(
            repr(&call(&mut l, "__getitem__", vec![sl(Some(-2), None, None)]).unwrap()),
            "[8, 9]"
        );
        call(
            &mut l,
            "__setitem__",
            vec![
                sl(Some(2), Some(4), None),
                Object::List(vec![s("a"), s("b"), s("c")]),
            ],
        )
        .unwrap();
        assert_eq!(l.repr(), "[0, 1, 'a', 'b', 'c', 4, 5, 6, 7, 8, 9]");
        call(&mut l, "__delitem__", vec![sl(None, None, Some(2))]).unwrap();
        assert_eq!(l.repr(), "[1, 'b', 4, 6, 8]");
        assert_eq!(
            call(&mut l, "__getitem__", vec![Object::Int(9)])
                .unwrap_err()
                .exception,
            Exception::IndexError
        );
    }

    #[test]
    fn namespace_repr() {
        let mut ns = Namespace::default();
        call(&mut ns, "__setattr__", vec![s("x"), Object::Int(10)]).unwrap();
        call(&mut ns, "__setattr__", vec![s("y"), s("hello")]).unwrap();
        assert_eq!(ns.repr(), "Namespace(x=10, y='hello')");
    }
}
