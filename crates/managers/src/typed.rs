//! Proxies for the built-in types, with Python's methods as Rust methods: [`DictProxy`],
//! [`ListProxy`], [`NamespaceProxy`], [`ValueProxy`]. Each is a thin view over a [`Proxy`]
//! (`Deref` reaches it): cloning, sending to another process and dropping work the same.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::object::Object;
use crate::proxy::Proxy;

fn int(o: Object) -> Result<usize> {
    match o {
        Object::Int(n) if n >= 0 => Ok(n as usize),
        other => Err(Error::Codec(format!("expected a count, got {other:?}"))),
    }
}

fn boolean(o: Object) -> Result<bool> {
    match o {
        Object::Bool(b) => Ok(b),
        other => Err(Error::Codec(format!("expected a bool, got {other:?}"))),
    }
}

fn list(o: Object) -> Result<Vec<Object>> {
    match o {
        Object::List(v) => Ok(v),
        other => Err(Error::Codec(format!("expected a list, got {other:?}"))),
    }
}

fn pairs(o: Object) -> Result<Vec<(Object, Object)>> {
    list(o)?
        .into_iter()
        .map(|kv| match kv {
            Object::Tuple(kv) if kv.len() == 2 => {
                let mut kv = kv.into_iter();
                match (kv.next(), kv.next()) {
                    (Some(k), Some(v)) => Ok((k, v)),
                    _ => unreachable!("two elements"),
                }
            }
            other => Err(Error::Codec(format!("expected a pair, got {other:?}"))),
        })
        .collect()
}

/// A slice `start:stop:step` as a list method takes it (each part optional, as in Python).
fn slice(start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Object {
    let f = |x: Option<i64>| x.map_or(Object::None, |v| Object::Int(i128::from(v)));
    Object::Tuple(vec![f(start), f(stop), f(step)])
}

macro_rules! typed_proxy {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Proxy);

        impl $name {
            /// A typed view of `proxy` (its referent must be of this type for the calls to
            /// succeed).
            #[must_use]
            pub fn from_proxy(proxy: Proxy) -> Self {
                $name(proxy)
            }

            /// The untyped proxy.
            #[must_use]
            pub fn into_proxy(self) -> Proxy {
                self.0
            }
        }

        impl Deref for $name {
            type Target = Proxy;
            fn deref(&self) -> &Proxy {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        /// Shows the referent, as Python's `str(proxy)`.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

pub(crate) use typed_proxy;

typed_proxy!(
    /// A shared `dict` (Python's `DictProxy`): keys and values are [`Object`]s, so keys of
    /// mixed kinds live side by side as in Python.
    DictProxy
);
typed_proxy!(
    /// A shared `list` (Python's `ListProxy`).
    ListProxy
);
typed_proxy!(
    /// A shared `Namespace` (Python's `NamespaceProxy`): named attributes.
    NamespaceProxy
);
typed_proxy!(
    /// A shared `Value` (Python's `ValueProxy`).
    ValueProxy
);

impl DictProxy {
    /// `d[key]`; a missing key is an error of kind `NotFound` (Python's `KeyError`).
    #[doc(alias = "__getitem__")]
    pub fn get_item(&self, key: Object) -> Result<Object> {
        self.call_method("__getitem__", vec![key])
    }

    /// `d.get(key)`: `None` for a missing key.
    pub fn get(&self, key: Object) -> Result<Option<Object>> {
        match self.get_item(key) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == crate::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `d[key] = value`.
    #[doc(alias = "__setitem__")]
    pub fn set(&self, key: Object, value: Object) -> Result<()> {
        self.call_method("__setitem__", vec![key, value]).map(drop)
    }

    /// `del d[key]`; a missing key is `NotFound`.
    #[doc(alias = "__delitem__")]
    pub fn del(&self, key: Object) -> Result<()> {
        self.call_method("__delitem__", vec![key]).map(drop)
    }

    /// `key in d`.
    #[doc(alias = "__contains__")]
    pub fn contains(&self, key: Object) -> Result<bool> {
        boolean(self.call_method("__contains__", vec![key])?)
    }

    /// `len(d)`.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize> {
        int(self.call_method("__len__", Vec::new())?)
    }

    /// `len(d) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `list(d.keys())`, in key order.
    pub fn keys(&self) -> Result<Vec<Object>> {
        list(self.call_method("keys", Vec::new())?)
    }

    /// `list(d.values())`, in key order.
    pub fn values(&self) -> Result<Vec<Object>> {
        list(self.call_method("values", Vec::new())?)
    }

    /// `list(d.items())`, in key order.
    pub fn items(&self) -> Result<Vec<(Object, Object)>> {
        pairs(self.call_method("items", Vec::new())?)
    }

    /// `d.pop(key)`; a missing key is `NotFound`.
    pub fn pop(&self, key: Object) -> Result<Object> {
        self.call_method("pop", vec![key])
    }

    /// `d.pop(key, default)`.
    pub fn pop_or(&self, key: Object, default: Object) -> Result<Object> {
        self.call_method("pop", vec![key, default])
    }

    /// `d.update(pairs)`.
    pub fn update(&self, pairs: impl IntoIterator<Item = (Object, Object)>) -> Result<()> {
        let d = Object::Dict(pairs.into_iter().collect());
        self.call_method("update", vec![d]).map(drop)
    }

    /// `d.setdefault(key, default)`: the value at `key`, set to `default` first if missing.
    pub fn setdefault(&self, key: Object, default: Object) -> Result<Object> {
        self.call_method("setdefault", vec![key, default])
    }

    /// `d.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.call_method("clear", Vec::new()).map(drop)
    }

    /// `d.copy()`: a local copy of the whole dict.
    pub fn copy(&self) -> Result<Object> {
        self.call_method("copy", Vec::new())
    }
}

impl ListProxy {
    /// `l.append(item)`.
    pub fn append(&self, item: Object) -> Result<()> {
        self.call_method("append", vec![item]).map(drop)
    }

    /// `l.extend(items)`.
    pub fn extend(&self, items: Vec<Object>) -> Result<()> {
        self.call_method("extend", vec![Object::List(items)])
            .map(drop)
    }

    /// `l.insert(index, item)`.
    pub fn insert(&self, index: i64, item: Object) -> Result<()> {
        self.call_method("insert", vec![Object::Int(index.into()), item])
            .map(drop)
    }

    /// `l.pop()`: the last item; an empty list is `OutOfRange` (Python's `IndexError`).
    pub fn pop(&self) -> Result<Object> {
        self.call_method("pop", Vec::new())
    }

    /// `l.pop(index)`.
    pub fn pop_at(&self, index: i64) -> Result<Object> {
        self.call_method("pop", vec![Object::Int(index.into())])
    }

    /// `l.remove(item)`: the first equal item; none is `InvalidArgument` (`ValueError`).
    pub fn remove(&self, item: Object) -> Result<()> {
        self.call_method("remove", vec![item]).map(drop)
    }

    /// `l.index(item)`.
    pub fn index(&self, item: Object) -> Result<usize> {
        int(self.call_method("index", vec![item])?)
    }

    /// `l.count(item)`.
    pub fn count(&self, item: Object) -> Result<usize> {
        int(self.call_method("count", vec![item])?)
    }

    /// `len(l)`.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize> {
        int(self.call_method("__len__", Vec::new())?)
    }

    /// `len(l) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `l[index]` (negative counts from the end); past the end is `OutOfRange`.
    #[doc(alias = "__getitem__")]
    pub fn get(&self, index: i64) -> Result<Object> {
        self.call_method("__getitem__", vec![Object::Int(index.into())])
    }

    /// `l[index] = item`.
    #[doc(alias = "__setitem__")]
    pub fn set(&self, index: i64, item: Object) -> Result<()> {
        self.call_method("__setitem__", vec![Object::Int(index.into()), item])
            .map(drop)
    }

    /// `l[start:stop:step]`.
    pub fn get_slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    ) -> Result<Vec<Object>> {
        list(self.call_method("__getitem__", vec![slice(start, stop, step)])?)
    }

    /// `l[start:stop:step] = items`.
    pub fn set_slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
        items: Vec<Object>,
    ) -> Result<()> {
        self.call_method(
            "__setitem__",
            vec![slice(start, stop, step), Object::List(items)],
        )
        .map(drop)
    }

    /// `del l[start:stop:step]`.
    pub fn del_slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    ) -> Result<()> {
        self.call_method("__delitem__", vec![slice(start, stop, step)])
            .map(drop)
    }

    /// `l.reverse()`.
    pub fn reverse(&self) -> Result<()> {
        self.call_method("reverse", Vec::new()).map(drop)
    }

    /// `l.sort()` (Python's order across kinds where it has one).
    pub fn sort(&self) -> Result<()> {
        self.call_method("sort", Vec::new()).map(drop)
    }

    /// A local copy of the whole list (Python's `l[:]`).
    pub fn to_vec(&self) -> Result<Vec<Object>> {
        list(self.get_value()?)
    }
}

impl NamespaceProxy {
    /// `ns.name`; a missing attribute is `Unsupported` (Python's `AttributeError`).
    #[doc(alias = "__getattribute__")]
    pub fn get(&self, name: &str) -> Result<Object> {
        self.call_method("__getattribute__", vec![Object::Str(name.into())])
    }

    /// `ns.name = value`.
    #[doc(alias = "__setattr__")]
    pub fn set(&self, name: &str, value: Object) -> Result<()> {
        self.call_method("__setattr__", vec![Object::Str(name.into()), value])
            .map(drop)
    }

    /// `del ns.name`.
    #[doc(alias = "__delattr__")]
    pub fn del(&self, name: &str) -> Result<()> {
        self.call_method("__delattr__", vec![Object::Str(name.into())])
            .map(drop)
    }
}

impl ValueProxy {
    /// `v.value`.
    pub fn get(&self) -> Result<Object> {
        self.call_method("get", Vec::new())
    }

    /// `v.value = value`.
    pub fn set(&self, value: Object) -> Result<()> {
        self.call_method("set", vec![value]).map(drop)
    }
}
