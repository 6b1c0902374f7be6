//! Proxies for the built-in types, with Python's methods as Rust methods: [`DictProxy`],
//! [`ListProxy`], [`NamespaceProxy`], [`ValueProxy`]. Each is a thin view over a [`Proxy`]
//! (`Deref` reaches it): cloning, sending to another process and dropping work the same.
//!
//! The referent holds [`Object`]s; a typed proxy converts its keys, values and items with the
//! serde bridge ([`to_object`], [`from_object`]), so `DictProxy<String, u64>` reads and writes
//! the same dict another process sees as `DictProxy<Object, Object>` (the default). Arguments
//! take `impl Into<K>`, so `d.set(1, "one")` works on the default `Object` view.
//!
//! ```
//! use multiprocessing_managers::{DictProxy, ListProxy, Object, manager};
//! let m = manager().unwrap();
//! let scores: DictProxy<String, u32> = m.dict_of().unwrap();
//! scores.set("ada", 36u32).unwrap();
//! assert_eq!(scores.get("ada").unwrap(), Some(36));
//! // The same object, untyped: mixed kinds of keys, as in Python.
//! let any = DictProxy::<Object, Object>::from_proxy(scores.clone().into_proxy());
//! any.set(0.25, ()).unwrap();
//! assert_eq!(any.to_string(), "{0.25: None, 'ada': 36}");
//! let l: ListProxy<(u8, String)> = m.list_of([(1, "one".to_string())]).unwrap();
//! assert_eq!(l.get(0).unwrap(), (1, "one".to_string()));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::object::{Object, from_object, to_object};
use crate::proxy::Proxy;

/// Converts a value for the server.
fn obj<T: Serialize + ?Sized>(v: &T) -> Result<Object> {
    to_object(v).map_err(|e| Error::Codec(e.to_string()))
}

/// Converts a value from the server.
fn val<T: DeserializeOwned>(o: Object) -> Result<T> {
    from_object(o).map_err(|e| Error::Codec(e.to_string()))
}

fn count(o: Object) -> Result<usize> {
    val::<u64>(o).map(|n| n as usize)
}

fn index_arg(index: i64) -> Object {
    Object::Int(index.into())
}

/// A slice `start:stop:step` as a list method takes it (each part optional, as in Python).
fn slice(start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Object {
    let f = |x: Option<i64>| x.map_or(Object::None, |v| Object::Int(i128::from(v)));
    Object::Tuple(vec![f(start), f(stop), f(step)])
}

macro_rules! typed_proxy {
    ($(#[$m:meta])* $name:ident < $($p:ident),* >) => {
        $(#[$m])*
        pub struct $name<$($p = Object),*>(Proxy, PhantomData<fn() -> ($($p,)*)>);

        impl<$($p),*> $name<$($p),*> {
            /// A typed view of `proxy` (its referent must be of this type for the calls to
            /// succeed).
            #[must_use]
            pub fn from_proxy(proxy: Proxy) -> Self {
                $name(proxy, PhantomData)
            }

            /// The untyped proxy.
            #[must_use]
            pub fn into_proxy(self) -> Proxy {
                self.0
            }
        }

        impl<$($p),*> $crate::shared::ProxyType for $name<$($p),*> {
            fn from_proxy(proxy: Proxy) -> Self {
                $name(proxy, PhantomData)
            }

            fn as_proxy(&self) -> &Proxy {
                &self.0
            }
        }

        impl<$($p),*> Clone for $name<$($p),*> {
            fn clone(&self) -> Self {
                $name(self.0.clone(), PhantomData)
            }
        }

        impl<$($p),*> Deref for $name<$($p),*> {
            type Target = Proxy;
            fn deref(&self) -> &Proxy {
                &self.0
            }
        }

        impl<$($p),*> fmt::Debug for $name<$($p),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        /// Shows the referent, as Python's `str(proxy)`.
        impl<$($p),*> fmt::Display for $name<$($p),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        /// Stored inside another shared object, it is a reference to its referent.
        impl<$($p),*> From<&$name<$($p),*>> for Object {
            fn from(p: &$name<$($p),*>) -> Object {
                p.0.to_object()
            }
        }

        /// Travels as its [`Proxy`] (a reference held in transit).
        impl<$($p),*> Serialize for $name<$($p),*> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        impl<'de, $($p),*> Deserialize<'de> for $name<$($p),*> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                Proxy::deserialize(d).map(Self::from_proxy)
            }
        }
    };
}

pub(crate) use typed_proxy;

typed_proxy!(
    /// A shared `dict` (Python's `DictProxy`) with keys `K` and values `V`, [`Object`]s by
    /// default, so keys of mixed kinds live side by side as in Python.
    DictProxy<K, V>
);
typed_proxy!(
    /// A shared `list` (Python's `ListProxy`) of `T`, [`Object`]s by default.
    ListProxy<T>
);
typed_proxy!(
    /// A shared `Value` (Python's `ValueProxy`) holding a `T`, an [`Object`] by default.
    ValueProxy<T>
);

typed_proxy!(
    /// A shared `Namespace` (Python's `NamespaceProxy`): named attributes of any serde type.
    NamespaceProxy<>
);

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// `d[key]`; a missing key is an error of kind `NotFound` (Python's `KeyError`).
    #[doc(alias = "__getitem__")]
    pub fn get_item(&self, key: impl Into<K>) -> Result<V> {
        val(self.call_method("__getitem__", vec![obj(&key.into())?])?)
    }

    /// `d.get(key)`: `None` for a missing key.
    pub fn get(&self, key: impl Into<K>) -> Result<Option<V>> {
        match self.get_item(key) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == crate::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `d[key] = value`.
    #[doc(alias = "__setitem__")]
    pub fn set(&self, key: impl Into<K>, value: impl Into<V>) -> Result<()> {
        let args = vec![obj(&key.into())?, obj(&value.into())?];
        self.call_method("__setitem__", args).map(drop)
    }

    /// Beyond Python: applies `op` to the value at `key` in the server, atomically, and
    /// returns the new value: a read-modify-write in one round trip, with no lock (see
    /// [`update`](crate::update)). A missing key starts from the op's argument
    /// (`Op::add(1)` on a missing key stores `1`). An op that does not fit the value (adding a
    /// `str` to an int) is an error of kind `InvalidArgument` (Python's `TypeError`) and leaves the value unchanged.
    ///
    /// ```
    /// use multiprocessing_managers::{manager, update::Op};
    /// let m = manager().unwrap();
    /// let d = m.dict_of::<String, i64>().unwrap();
    /// d.update_with("n", Op::add(5)).unwrap();
    /// assert_eq!(d.update_with("n", Op::add(-2)).unwrap(), 3);
    /// ```
    pub fn update_with(&self, key: impl Into<K>, op: crate::update::Op) -> Result<V> {
        let name = Object::Str(op.name().into());
        let args = vec![obj(&key.into())?, name, op.into_argument()];
        val(self.call_method("update_with", args)?)
    }

    /// `del d[key]`; a missing key is `NotFound`.
    #[doc(alias = "__delitem__")]
    pub fn del(&self, key: impl Into<K>) -> Result<()> {
        self.call_method("__delitem__", vec![obj(&key.into())?])
            .map(drop)
    }

    /// `key in d`.
    #[doc(alias = "__contains__")]
    pub fn contains(&self, key: impl Into<K>) -> Result<bool> {
        val(self.call_method("__contains__", vec![obj(&key.into())?])?)
    }

    /// `len(d)`.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize> {
        count(self.call_method("__len__", Vec::new())?)
    }

    /// `len(d) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `list(d.keys())`, in key order.
    pub fn keys(&self) -> Result<Vec<K>> {
        val(self.call_method("keys", Vec::new())?)
    }

    /// `list(d.values())`, in key order.
    pub fn values(&self) -> Result<Vec<V>> {
        val(self.call_method("values", Vec::new())?)
    }

    /// `list(d.items())`, in key order.
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        val(self.call_method("items", Vec::new())?)
    }

    /// `d.pop(key)`; a missing key is `NotFound`.
    pub fn pop(&self, key: impl Into<K>) -> Result<V> {
        val(self.call_method("pop", vec![obj(&key.into())?])?)
    }

    /// `d.pop(key, default)`.
    pub fn pop_or(&self, key: impl Into<K>, default: impl Into<V>) -> Result<V> {
        let args = vec![obj(&key.into())?, obj(&default.into())?];
        val(self.call_method("pop", args)?)
    }

    /// `d.update(pairs)`.
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let d = pairs
            .into_iter()
            .map(|(k, v)| Ok((obj(&k)?, obj(&v)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        self.call_method("update", vec![Object::Dict(d)]).map(drop)
    }

    /// `d.setdefault(key, default)`: the value at `key`, set to `default` first if missing.
    pub fn setdefault(&self, key: impl Into<K>, default: impl Into<V>) -> Result<V> {
        let args = vec![obj(&key.into())?, obj(&default.into())?];
        val(self.call_method("setdefault", args)?)
    }

    /// `d.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.call_method("clear", Vec::new()).map(drop)
    }

    /// `d.copy()`: a local copy of the whole dict.
    pub fn copy(&self) -> Result<BTreeMap<K, V>>
    where
        K: Ord,
    {
        val(self.call_method("copy", Vec::new())?)
    }
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// `l.append(item)`.
    pub fn append(&self, item: impl Into<T>) -> Result<()> {
        self.call_method("append", vec![obj(&item.into())?])
            .map(drop)
    }

    /// `l.extend(items)`.
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<()> {
        let items = items
            .into_iter()
            .map(|i| obj(&i))
            .collect::<Result<Vec<_>>>()?;
        self.call_method("extend", vec![Object::List(items)])
            .map(drop)
    }

    /// `l.insert(index, item)`.
    pub fn insert(&self, index: i64, item: impl Into<T>) -> Result<()> {
        self.call_method("insert", vec![index_arg(index), obj(&item.into())?])
            .map(drop)
    }

    /// `l.pop()`: the last item; an empty list is `OutOfRange` (Python's `IndexError`).
    pub fn pop(&self) -> Result<T> {
        val(self.call_method("pop", Vec::new())?)
    }

    /// `l.pop(index)`.
    pub fn pop_at(&self, index: i64) -> Result<T> {
        val(self.call_method("pop", vec![index_arg(index)])?)
    }

    /// `l.remove(item)`: the first equal item; none is `InvalidArgument` (`ValueError`).
    pub fn remove(&self, item: impl Into<T>) -> Result<()> {
        self.call_method("remove", vec![obj(&item.into())?])
            .map(drop)
    }

    /// `l.index(item)`.
    pub fn index(&self, item: impl Into<T>) -> Result<usize> {
        count(self.call_method("index", vec![obj(&item.into())?])?)
    }

    /// `l.count(item)`.
    pub fn count(&self, item: impl Into<T>) -> Result<usize> {
        count(self.call_method("count", vec![obj(&item.into())?])?)
    }

    /// `len(l)`.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize> {
        count(self.call_method("__len__", Vec::new())?)
    }

    /// `len(l) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `l[index]` (negative counts from the end); past the end is `OutOfRange`.
    #[doc(alias = "__getitem__")]
    pub fn get(&self, index: i64) -> Result<T> {
        val(self.call_method("__getitem__", vec![index_arg(index)])?)
    }

    /// `l[index] = item`.
    #[doc(alias = "__setitem__")]
    pub fn set(&self, index: i64, item: impl Into<T>) -> Result<()> {
        self.call_method("__setitem__", vec![index_arg(index), obj(&item.into())?])
            .map(drop)
    }

    /// `l[start:stop:step]`.
    pub fn get_slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    ) -> Result<Vec<T>> {
        val(self.call_method("__getitem__", vec![slice(start, stop, step)])?)
    }

    /// `l[start:stop:step] = items`.
    pub fn set_slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
        items: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        let items = items
            .into_iter()
            .map(|i| obj(&i))
            .collect::<Result<Vec<_>>>()?;
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

    /// `l.sort()` (the order of [`Object`]: numbers by value, then by kind).
    pub fn sort(&self) -> Result<()> {
        self.call_method("sort", Vec::new()).map(drop)
    }

    /// A local copy of the whole list (Python's `l[:]`).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        val(self.get_value()?)
    }
}

impl NamespaceProxy {
    /// `ns.name`; a missing attribute is `Unsupported` (Python's `AttributeError`).
    #[doc(alias = "__getattribute__")]
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        val(self.call_method("__getattribute__", vec![Object::Str(name.into())])?)
    }

    /// `ns.name = value`.
    #[doc(alias = "__setattr__")]
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<()> {
        self.call_method("__setattr__", vec![Object::Str(name.into()), obj(value)?])
            .map(drop)
    }

    /// `del ns.name`.
    #[doc(alias = "__delattr__")]
    pub fn del(&self, name: &str) -> Result<()> {
        self.call_method("__delattr__", vec![Object::Str(name.into())])
            .map(drop)
    }
}

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// `v.value`.
    pub fn get(&self) -> Result<T> {
        val(self.call_method("get", Vec::new())?)
    }

    /// `v.value = value`.
    pub fn set(&self, value: impl Into<T>) -> Result<()> {
        self.call_method("set", vec![obj(&value.into())?]).map(drop)
    }

    /// Beyond Python: applies `op` to the value in the server, atomically, and returns the new
    /// value (`v.value += 1` in one round trip, with no lock; see [`update`](crate::update)).
    /// An op that does not fit the value is an error of kind `InvalidArgument` and leaves it
    /// unchanged.
    ///
    /// ```
    /// use multiprocessing_managers::{manager, update::Op};
    /// let m = manager().unwrap();
    /// let counter = m.value_of("i", &0i64).unwrap();
    /// assert_eq!(counter.update_with(Op::add(1)).unwrap(), 1);
    /// ```
    pub fn update_with(&self, op: crate::update::Op) -> Result<T> {
        let args = vec![Object::Str(op.name().into()), op.into_argument()];
        val(self.call_method("update_with", args)?)
    }
}

/// The async forms (feature `tokio`): each is its blocking twin's request, awaited with
/// [`Proxy::call_method_async`] (whose cancellation rules they share).
#[cfg(feature = "tokio")]
impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// [`get_item`](Self::get_item), awaited.
    pub async fn get_item_async(&self, key: impl Into<K>) -> Result<V> {
        let args = vec![obj(&key.into())?];
        val(self.call_method_async("__getitem__", args).await?)
    }

    /// [`get`](Self::get), awaited: `None` for a missing key.
    pub async fn get_async(&self, key: impl Into<K>) -> Result<Option<V>> {
        match self.get_item_async(key).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == crate::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`set`](Self::set), awaited.
    pub async fn set_async(&self, key: impl Into<K>, value: impl Into<V>) -> Result<()> {
        let args = vec![obj(&key.into())?, obj(&value.into())?];
        self.call_method_async("__setitem__", args).await.map(drop)
    }

    /// [`update_with`](Self::update_with), awaited.
    pub async fn update_with_async(&self, key: impl Into<K>, op: crate::update::Op) -> Result<V> {
        let name = Object::Str(op.name().into());
        let args = vec![obj(&key.into())?, name, op.into_argument()];
        val(self.call_method_async("update_with", args).await?)
    }

    /// [`del`](Self::del), awaited.
    pub async fn del_async(&self, key: impl Into<K>) -> Result<()> {
        let args = vec![obj(&key.into())?];
        self.call_method_async("__delitem__", args).await.map(drop)
    }

    /// [`contains`](Self::contains), awaited.
    pub async fn contains_async(&self, key: impl Into<K>) -> Result<bool> {
        let args = vec![obj(&key.into())?];
        val(self.call_method_async("__contains__", args).await?)
    }

    /// [`len`](Self::len), awaited.
    pub async fn len_async(&self) -> Result<usize> {
        count(self.call_method_async("__len__", Vec::new()).await?)
    }

    /// [`keys`](Self::keys), awaited.
    pub async fn keys_async(&self) -> Result<Vec<K>> {
        val(self.call_method_async("keys", Vec::new()).await?)
    }

    /// [`items`](Self::items), awaited.
    pub async fn items_async(&self) -> Result<Vec<(K, V)>> {
        val(self.call_method_async("items", Vec::new()).await?)
    }

    /// [`pop`](Self::pop), awaited.
    pub async fn pop_async(&self, key: impl Into<K>) -> Result<V> {
        let args = vec![obj(&key.into())?];
        val(self.call_method_async("pop", args).await?)
    }
}

/// The async forms (feature `tokio`), as [`DictProxy`]'s.
#[cfg(feature = "tokio")]
impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// [`append`](Self::append), awaited.
    pub async fn append_async(&self, item: impl Into<T>) -> Result<()> {
        let args = vec![obj(&item.into())?];
        self.call_method_async("append", args).await.map(drop)
    }

    /// [`pop`](Self::pop), awaited.
    pub async fn pop_async(&self) -> Result<T> {
        val(self.call_method_async("pop", Vec::new()).await?)
    }

    /// [`len`](Self::len), awaited.
    pub async fn len_async(&self) -> Result<usize> {
        count(self.call_method_async("__len__", Vec::new()).await?)
    }

    /// [`get`](Self::get), awaited.
    pub async fn get_async(&self, index: i64) -> Result<T> {
        val(self
            .call_method_async("__getitem__", vec![index_arg(index)])
            .await?)
    }

    /// [`set`](Self::set), awaited.
    pub async fn set_async(&self, index: i64, item: impl Into<T>) -> Result<()> {
        let args = vec![index_arg(index), obj(&item.into())?];
        self.call_method_async("__setitem__", args).await.map(drop)
    }

    /// [`to_vec`](Self::to_vec), awaited.
    pub async fn to_vec_async(&self) -> Result<Vec<T>> {
        val(self.get_value_async().await?)
    }
}

/// The async forms (feature `tokio`), as [`DictProxy`]'s.
#[cfg(feature = "tokio")]
impl NamespaceProxy {
    /// [`get`](Self::get), awaited.
    pub async fn get_async<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let args = vec![Object::Str(name.into())];
        val(self.call_method_async("__getattribute__", args).await?)
    }

    /// [`set`](Self::set), awaited.
    pub async fn set_async<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<()> {
        let args = vec![Object::Str(name.into()), obj(value)?];
        self.call_method_async("__setattr__", args).await.map(drop)
    }

    /// [`del`](Self::del), awaited.
    pub async fn del_async(&self, name: &str) -> Result<()> {
        let args = vec![Object::Str(name.into())];
        self.call_method_async("__delattr__", args).await.map(drop)
    }
}

/// The async forms (feature `tokio`), as [`DictProxy`]'s.
#[cfg(feature = "tokio")]
impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// [`get`](Self::get), awaited.
    pub async fn get_async(&self) -> Result<T> {
        val(self.call_method_async("get", Vec::new()).await?)
    }

    /// [`set`](Self::set), awaited.
    pub async fn set_async(&self, value: impl Into<T>) -> Result<()> {
        let args = vec![obj(&value.into())?];
        self.call_method_async("set", args).await.map(drop)
    }

    /// [`update_with`](Self::update_with), awaited.
    pub async fn update_with_async(&self, op: crate::update::Op) -> Result<T> {
        let args = vec![Object::Str(op.name().into()), op.into_argument()];
        val(self.call_method_async("update_with", args).await?)
    }
}
