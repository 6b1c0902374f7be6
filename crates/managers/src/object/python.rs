//! Objects as CPython pickles them: the bridge between an [`Object`] and the pickle crate's
//! [`Value`], for managers that talk to CPython peers (a CPython client of our server, our
//! client of a CPython server).
//!
//! Python's built-in shapes map one to one (`None`, `bool`, `int`, `float`, `str`, `bytes`,
//! `tuple`, `list`, `dict`); a proxy ([`Object::Proxy`]) travels as CPython pickles a proxy,
//! `RebuildProxy(<proxy type>, Token(typeid, address, id), 'pickle', {})`, with the address in
//! Python's form (`('host', port)` for TCP, a path for a Unix socket) and the id as Python's
//! hex string. Whatever else a Python peer sends (a `set`, a `bytearray`, an `int` beyond 128
//! bits, an instance of one of its classes, a recursive list) the manager keeps as a
//! [`Pickled`] value: the object's own pickle, stored and handed back unchanged, never run.
//!
//! ```
//! use multiprocessing_managers::object::{Object, Pickled};
//! use multiprocessing_pickle::Value;
//!
//! let o = Object::list([Object::from(1), Object::tuple(["a"])]);
//! let v = o.to_python();
//! assert_eq!(v.to_string(), "[1, ('a',)]");
//! assert_eq!(Object::from_python(v), o);
//!
//! // A Python set is kept as its pickle.
//! let set = Value::Set(vec![Value::Int(1), Value::Int(2)]);
//! let kept = Object::from_python(set.clone());
//! assert!(matches!(kept, Object::Pickled(_)));
//! assert_eq!(kept.to_string(), "{1, 2}");
//! assert_eq!(kept.to_python(), set);
//! ```

use std::fmt;

use multiprocessing_pickle::{self as pickle, Global, Value};

use super::{Object, Token};
use crate::protocol::{Exception, Raised};

/// The module of CPython's manager classes.
const MANAGERS: &str = "multiprocessing.managers";

/// A Python object the manager holds as its pickle: a value of a kind an [`Object`] has no
/// shape for (a `set`, a class instance, ...), received from a CPython peer and handed back
/// byte for byte as it came. Reading it never runs code ([`value`](Pickled::value) gives the
/// object tree, with class names as names only).
///
/// Equality, order and hashing are those of the bytes, so a `Pickled` value can key a dict,
/// though equal Python objects pickled differently are different keys.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pickled(Vec<u8>);

impl Pickled {
    /// The pickle of `value` (protocol 4).
    ///
    /// # Errors
    ///
    /// What the pickle writer refuses (a value nesting too deep).
    pub fn new(value: &Value) -> Result<Pickled, pickle::Error> {
        pickle::dumps(value).map(Pickled)
    }

    /// A pickle's bytes, kept as they are once they read back as a pickle.
    ///
    /// # Errors
    ///
    /// Bytes that are not a pickle the reader accepts.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Pickled, pickle::Error> {
        pickle::loads(&bytes)?;
        Ok(Pickled(bytes))
    }

    /// The pickle's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The object tree the pickle holds (read afresh: the bytes are what is kept). Every way
    /// of making a `Pickled` checks that its bytes read back, so this is never a stand-in; the
    /// `None` that would be given for unreadable bytes is only a guard.
    #[must_use]
    pub fn value(&self) -> Value {
        pickle::loads(&self.0).unwrap_or(Value::None)
    }

    /// The class of the object, if it is a class instance, as `module.name`.
    #[must_use]
    pub fn class_name(&self) -> Option<String> {
        self.value()
            .class()
            .map(|(module, name)| format!("{module}.{name}"))
    }

    /// Python's type name for the object (`set`, `frozenset`, `bytearray`, `int`, the class
    /// name of an instance), as `type(x).__name__` gives it.
    #[must_use]
    pub fn type_name(&self) -> String {
        match self.value() {
            Value::Set(_) => "set".into(),
            Value::FrozenSet(_) => "frozenset".into(),
            Value::ByteArray(_) => "bytearray".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Global(_) => "type".into(),
            Value::Object(o) => o.class.name.clone(),
            Value::List(_) => "list".into(),
            Value::Dict(_) => "dict".into(),
            Value::Tuple(_) => "tuple".into(),
            other => format!("{other:?}")
                .split('(')
                .next()
                .unwrap_or("object")
                .to_lowercase(),
        }
    }
}

/// Python's `repr` of the object.
impl fmt::Display for Pickled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value(), f)
    }
}

impl fmt::Debug for Pickled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pickled({})", self.value())
    }
}

impl Object {
    /// This value as CPython pickles it (see the [module docs](self)).
    #[must_use]
    pub fn to_python(&self) -> Value {
        match self {
            Object::None => Value::None,
            Object::Bool(b) => Value::Bool(*b),
            Object::Int(i) => Value::Int(*i),
            Object::Float(f) => Value::Float(*f),
            Object::Str(s) => Value::Str(s.clone()),
            Object::Bytes(b) => Value::Bytes(b.clone()),
            Object::List(items) => Value::List(items.iter().map(Object::to_python).collect()),
            Object::Tuple(items) => Value::Tuple(items.iter().map(Object::to_python).collect()),
            Object::Dict(map) => Value::Dict(
                map.iter()
                    .map(|(k, v)| (k.to_python(), v.to_python()))
                    .collect(),
            ),
            Object::Proxy(token) => proxy_to_python(token),
            Object::Pickled(p) => p.value(),
        }
    }

    /// A value a CPython peer sent, as an `Object` (see the [module docs](self)): never fails,
    /// what has no shape of its own is kept as [`Object::Pickled`].
    #[must_use]
    pub fn from_python(value: Value) -> Object {
        if contains_cycle(&value) {
            return keep(&value);
        }
        convert(value)
    }
}

/// The proxy class CPython's `SyncManager` registers for `typeid`; `AutoProxy` for the others
/// (it asks the server for the methods).
fn proxy_class(typeid: &str) -> &'static str {
    match typeid {
        "dict" => "DictProxy",
        "list" => "ListProxy",
        "Namespace" => "NamespaceProxy",
        "Value" => "ValueProxy",
        "Array" => "ArrayProxy",
        "Event" => "EventProxy",
        "Lock" | "RLock" | "Semaphore" | "BoundedSemaphore" => "AcquirerProxy",
        "Condition" => "ConditionProxy",
        "Barrier" => "BarrierProxy",
        "Iterator" => "IteratorProxy",
        "Pool" => "PoolProxy",
        _ => "AutoProxy",
    }
}

/// `RebuildProxy(<proxy class>, token, 'pickle', {})`, as CPython's `BaseProxy.__reduce__`.
fn proxy_to_python(token: &Token) -> Value {
    pickle::Object::reduce(
        MANAGERS,
        "RebuildProxy",
        vec![
            Value::Global(Global::new(MANAGERS, proxy_class(&token.typeid))),
            token.to_python(),
            Value::from("pickle"),
            Value::Dict(Vec::new()),
        ],
    )
    .into()
}

impl Token {
    /// CPython's `multiprocessing.managers.Token(typeid, address, id)` for this token: the
    /// address in Python's form (`('host', port)`, a path, or `'\0name'` for an abstract
    /// socket), the id as Python's hex string.
    #[must_use]
    pub fn to_python(&self) -> Value {
        pickle::Object::new_obj(MANAGERS, "Token", Vec::new())
            .state(Value::Tuple(vec![
                Value::from(self.typeid.as_str()),
                address_to_python(&self.address),
                Value::Str(format!("{:x}", self.id)),
            ]))
            .into()
    }

    /// The token a CPython `Token` pickles as, if `value` is one whose id is a hex number (as
    /// CPython's are).
    #[must_use]
    pub fn from_python(value: &Value) -> Option<Token> {
        let Value::Object(o) = value else {
            return None;
        };
        if o.class.module != MANAGERS || o.class.name != "Token" {
            return None;
        }
        let Some(Value::Tuple(fields)) = &o.state else {
            return None;
        };
        let [Value::Str(typeid), address, Value::Str(id)] = fields.as_slice() else {
            return None;
        };
        Some(Token {
            typeid: typeid.clone(),
            address: address_from_python(address)?,
            id: u64::from_str_radix(id, 16).ok()?,
        })
    }
}

impl Raised {
    /// The exception instance CPython's `#ERROR` reply carries for this one:
    /// `builtins.KeyError('missing')`, `_queue.Empty()`, `threading.BrokenBarrierError()`, ...
    /// (a `KeyError`'s message, the key's `repr`, gives the key back when it is a plain
    /// string).
    #[must_use]
    pub fn to_python(&self) -> Value {
        let (module, name) = match &self.class {
            Some(class) => class.rsplit_once('.').unwrap_or(("builtins", class)),
            None => python_class(self.exception),
        };
        let args = if self.message.is_empty() {
            Vec::new()
        } else if self.exception == Exception::KeyError {
            vec![
                unquote(&self.message)
                    .map_or_else(|| Value::from(self.message.as_str()), Value::Str),
            ]
        } else {
            vec![Value::from(self.message.as_str())]
        };
        pickle::Object::reduce(module, name, args).into()
    }

    /// The exception a CPython peer's `#ERROR` reply carries, if `value` is an instance: its
    /// class as an [`Exception`] (with [`class`](Raised::class) set when it is none of
    /// them, or not the builtin of that name) and Python's `str(exc)` of it as the message.
    #[must_use]
    pub fn from_python(value: &Value) -> Option<Raised> {
        let Value::Object(o) = value else {
            return None;
        };
        let (module, name) = (o.class.module.as_str(), o.class.name.as_str());
        let exception = [
            Exception::KeyError,
            Exception::IndexError,
            Exception::ValueError,
            Exception::TypeError,
            Exception::AttributeError,
            Exception::StopIteration,
            Exception::TimeoutError,
            Exception::RuntimeError,
            Exception::Empty,
            Exception::Full,
            Exception::BrokenBarrierError,
            Exception::OverflowError,
            Exception::ZeroDivisionError,
        ]
        .into_iter()
        .find(|e| {
            python_class(*e) == (module, name)
                || (*e == Exception::Empty && (module, name) == ("queue", "Empty"))
        });
        // Python's `str(exc)`: nothing, the one argument (a `KeyError`'s as its repr), or
        // the arguments' tuple.
        let message = match o.args.as_slice() {
            [] => String::new(),
            [Value::Str(s)] if exception != Some(Exception::KeyError) => s.clone(),
            [one] => one.to_string(),
            many => Value::Tuple(many.to_vec()).to_string(),
        };
        Some(Raised {
            exception: exception.unwrap_or(Exception::Other),
            message,
            class: exception.is_none().then(|| format!("{module}.{name}")),
        })
    }
}

/// Where CPython defines the class of `e`.
fn python_class(e: Exception) -> (&'static str, &'static str) {
    match e {
        Exception::Empty => ("_queue", "Empty"),
        Exception::Full => ("queue", "Full"),
        Exception::BrokenBarrierError => ("threading", "BrokenBarrierError"),
        Exception::Other => ("builtins", "Exception"),
        other => ("builtins", other.name()),
    }
}

/// The string a plain `'...'` repr (no quotes or backslashes inside) stands for.
fn unquote(repr: &str) -> Option<String> {
    let inner = repr.strip_prefix('\'')?.strip_suffix('\'')?;
    (!inner.contains(['\'', '\\'])).then(|| inner.to_owned())
}

/// Our address text (`host:port`, `/path`, `@name`) as CPython writes addresses.
pub(crate) fn address_to_python(address: &str) -> Value {
    if let Some(name) = address.strip_prefix('@') {
        return Value::Str(format!("\0{name}"));
    }
    if !address.starts_with('/')
        && let Some((host, port)) = address.rsplit_once(':')
        && let Ok(port) = port.parse::<u16>()
    {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        return Value::Tuple(vec![Value::from(host), Value::Int(port.into())]);
    }
    Value::from(address)
}

/// A CPython address as our address text.
pub(crate) fn address_from_python(address: &Value) -> Option<String> {
    match address {
        Value::Str(s) => Some(match s.strip_prefix('\0') {
            Some(name) => format!("@{name}"),
            None => s.clone(),
        }),
        Value::Tuple(t) => match t.as_slice() {
            [Value::Str(host), Value::Int(port)] => Some(if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the tree closes a cycle anywhere ([`Value::Recursive`]): such a value is kept whole.
fn contains_cycle(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Recursive(_) => return true,
            Value::Tuple(items)
            | Value::List(items)
            | Value::Set(items)
            | Value::FrozenSet(items) => stack.extend(items),
            Value::Dict(pairs) => stack.extend(pairs.iter().flat_map(|(k, v)| [k, v])),
            Value::Object(o) => {
                stack.extend(&o.args);
                stack.extend(o.kwargs.iter().flat_map(|(k, v)| [k, v]));
                stack.extend(&o.state);
                stack.extend(&o.list_items);
                stack.extend(o.dict_items.iter().flat_map(|(k, v)| [k, v]));
            }
            _ => {}
        }
    }
    false
}

/// `value` kept as its pickle; a value the writer refuses (nesting past its limit) is kept as
/// its `repr` text instead, so nothing panics and the loss is visible.
fn keep(value: &Value) -> Object {
    match Pickled::new(value) {
        Ok(p) => Object::Pickled(p),
        Err(_) => Object::Str(value.to_string()),
    }
}

/// The conversion of a tree without cycles.
fn convert(value: Value) -> Object {
    match value {
        Value::None => Object::None,
        Value::Bool(b) => Object::Bool(b),
        Value::Int(i) => Object::Int(i),
        Value::Float(f) => Object::Float(f),
        Value::Str(s) => Object::Str(s),
        Value::Bytes(b) => Object::Bytes(b),
        Value::Tuple(items) => Object::Tuple(items.into_iter().map(convert).collect()),
        Value::List(items) => Object::List(items.into_iter().map(convert).collect()),
        Value::Dict(pairs) => Object::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (convert(k), convert(v)))
                .collect(),
        ),
        // A dict's `keys()`, `values()` and `items()` views, which CPython's manager sends as
        // `list(...)` (its `rebuild_as_list` reducer).
        Value::Object(o) if is_list_call(&o) => match o.args.into_iter().next() {
            Some(Value::List(items)) => Object::List(items.into_iter().map(convert).collect()),
            _ => unreachable!("is_list_call checked the one list argument"),
        },
        Value::Object(o) if is_rebuild_proxy(&o) => {
            match o.args.get(1).and_then(Token::from_python) {
                Some(token) => Object::Proxy(token),
                None => keep(&Value::Object(o)),
            }
        }
        other => keep(&other),
    }
}

/// `builtins.list([...])` and nothing more.
fn is_list_call(o: &pickle::Object) -> bool {
    o.class.module == "builtins"
        && o.class.name == "list"
        && o.construct == pickle::Construct::Reduce
        && matches!(o.args.as_slice(), [Value::List(_)])
        && o.kwargs.is_empty()
        && o.state.is_none()
        && o.list_items.is_empty()
        && o.dict_items.is_empty()
}

fn is_rebuild_proxy(o: &pickle::Object) -> bool {
    o.class.module == MANAGERS && o.class.name == "RebuildProxy" && o.args.len() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token {
            typeid: "dict".into(),
            address: "127.0.0.1:5000".into(),
            id: 0x7f_3a10,
        }
    }

    #[test]
    fn built_in_shapes_round_trip() {
        let o = Object::dict([
            (Object::from(1), Object::from("a")),
            (
                Object::from("b"),
                Object::list([Object::None, Object::from(0.5)]),
            ),
            (Object::tuple([1, 2]), Object::Bytes(b"x".to_vec())),
        ]);
        assert_eq!(Object::from_python(o.to_python()), o);
    }

    #[test]
    fn a_proxy_travels_as_cpython_pickles_one() {
        let v = Object::Proxy(token()).to_python();
        let bytes = pickle::dumps(&v).unwrap();
        let back = pickle::loads(&bytes).unwrap();
        assert_eq!(back.class(), Some((MANAGERS, "RebuildProxy")));
        assert_eq!(Object::from_python(back), Object::Proxy(token()));
        let Value::Object(o) = &v else { unreachable!() };
        assert_eq!(o.args[0], Value::Global(Global::new(MANAGERS, "DictProxy")));
    }

    #[test]
    fn addresses_take_python_forms_and_come_back() {
        for (ours, python) in [
            (
                "127.0.0.1:5000",
                Value::Tuple(vec!["127.0.0.1".into(), Value::Int(5000)]),
            ),
            ("/tmp/m.sock", Value::from("/tmp/m.sock")),
            ("@mgr", Value::from("\0mgr")),
        ] {
            assert_eq!(address_to_python(ours), python);
            assert_eq!(address_from_python(&python).as_deref(), Some(ours));
        }
        let v6 = address_to_python("[::1]:80");
        assert_eq!(v6, Value::Tuple(vec!["::1".into(), Value::Int(80)]));
        assert_eq!(address_from_python(&v6).as_deref(), Some("[::1]:80"));
    }

    #[test]
    fn what_has_no_shape_is_kept_as_its_pickle() {
        let instance: Value = pickle::Object::new_obj("app", "Job", Vec::new())
            .state(Value::Dict(vec![("n".into(), Value::Int(3))]))
            .into();
        for v in [
            Value::Set(vec![Value::Int(1)]),
            Value::FrozenSet(Vec::new()),
            Value::ByteArray(b"ab".to_vec()),
            instance.clone(),
            Value::Global(Global::new("builtins", "len")),
        ] {
            let o = Object::from_python(v.clone());
            assert!(matches!(o, Object::Pickled(_)), "{v}");
            assert_eq!(o.to_python(), v);
        }
        // Inside a container, only the part without a shape is kept as a pickle.
        let list = Object::from_python(Value::List(vec![Value::Int(1), instance.clone()]));
        let items = list.as_list().unwrap();
        assert_eq!(items[0], Object::from(1));
        let Object::Pickled(p) = &items[1] else {
            panic!("{list}")
        };
        assert_eq!(p.class_name().as_deref(), Some("app.Job"));
        assert_eq!(p.type_name(), "Job");
    }

    #[test]
    fn a_pickled_value_crosses_our_wire_and_bad_bytes_do_not() {
        let o = Object::list([Object::from_python(Value::Set(vec![Value::Int(1)]))]);
        let bytes =
            multiprocessing_core::codec::encode(&super::super::WireObject(o.clone())).unwrap();
        let back: super::super::WireObject = multiprocessing_core::codec::decode(&bytes).unwrap();
        assert_eq!(back.0, o);
        // The same message with the pickle's bytes garbled is refused, not stored.
        let at = bytes.len() - 2;
        let mut bad = bytes.clone();
        bad[at] ^= 0xff;
        assert!(multiprocessing_core::codec::decode::<super::super::WireObject>(&bad).is_err());
    }

    #[test]
    fn a_dict_view_sent_as_a_list_call_is_a_list() {
        // CPython's manager answers `d.items()` with `list([(1, 2)])`.
        let items: Value = pickle::Object::reduce(
            "builtins",
            "list",
            vec![Value::List(vec![Value::Tuple(vec![
                Value::Int(1),
                Value::Int(2),
            ])])],
        )
        .into();
        assert_eq!(
            Object::from_python(items),
            Object::list([Object::tuple([1, 2])])
        );
        // Any other call of `list` is kept as it came.
        let other: Value =
            pickle::Object::reduce("builtins", "list", vec![Value::from("ab")]).into();
        assert!(matches!(Object::from_python(other), Object::Pickled(_)));
    }

    #[test]
    fn a_pickled_value_survives_the_serde_bridge() {
        let o = Object::list([Object::from_python(Value::Set(vec![Value::Int(1)]))]);
        // A typed proxy's `Object` arguments and results go through `to_object`/`from_object`.
        let through = super::super::to_object(&o).unwrap();
        assert_eq!(through, o);
        assert_eq!(super::super::from_object::<Object>(through).unwrap(), o);
        // Other formats see the pickle's bytes.
        let json = serde_json::to_string(&o).unwrap();
        assert!(json.starts_with("[[128,"), "{json}");
    }

    #[test]
    fn a_recursive_value_is_kept_whole() {
        let l = Value::List(vec![Value::Int(1), Value::Recursive(1)]);
        let o = Object::from_python(l.clone());
        assert!(matches!(o, Object::Pickled(_)));
        assert_eq!(o.to_python(), l);
        assert_eq!(o.to_string(), "[1, [...]]");
    }

    #[test]
    fn exceptions_cross_both_ways() {
        let missing = Raised::new(Exception::KeyError, "'missing'");
        let v = missing.to_python();
        assert_eq!(v.to_string(), "KeyError('missing')");
        assert_eq!(Raised::from_python(&v), Some(missing));
        for (r, text) in [
            (Raised::new(Exception::StopIteration, ""), "StopIteration()"),
            (Raised::new(Exception::Empty, ""), "_queue.Empty()"),
            (
                Raised::new(Exception::ValueError, "bad"),
                "ValueError('bad')",
            ),
            (
                Raised::new(Exception::BrokenBarrierError, ""),
                "threading.BrokenBarrierError()",
            ),
        ] {
            let v = r.to_python();
            assert!(v.to_string().ends_with(text), "{v} vs {text}");
            assert_eq!(Raised::from_python(&v).as_ref(), Some(&r));
        }
        // A class of the peer's own keeps its name.
        let own: Value =
            pickle::Object::reduce("app", "JobFailed", vec![Value::from("no disk")]).into();
        let r = Raised::from_python(&own).unwrap();
        assert_eq!(
            (r.exception, r.name(), r.message.as_str()),
            (Exception::Other, "JobFailed", "no disk")
        );
        assert_eq!(r.to_string(), "JobFailed: no disk");
        assert_eq!(r.to_python(), own);
        // queue.Empty under its public name is the same class.
        let empty: Value = pickle::Object::reduce("queue", "Empty", Vec::new()).into();
        assert_eq!(
            Raised::from_python(&empty).unwrap().exception,
            Exception::Empty
        );
        assert_eq!(Raised::from_python(&Value::Int(1)), None);
    }

    #[test]
    fn bytes_that_are_not_a_pickle_are_refused() {
        assert!(Pickled::from_bytes(b"not a pickle".to_vec()).is_err());
        let p = Pickled::from_bytes(pickle::dumps(&Value::Int(5)).unwrap()).unwrap();
        assert_eq!(p.value(), Value::Int(5));
    }
}
