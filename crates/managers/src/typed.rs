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

/// Declares a proxy method and its async twin (feature `tokio`) from one declaration, so the
/// two send the same request and read the reply the same way:
///
/// ```text
/// twins! {
///     /// Docs of the blocking method.
///     pub fn name, name_async [generics] (&self, arg: Type, ...) -> Result<Ret>
///         = "server_method"(arguments_vec) |reply| conversion;
/// }
/// ```
///
/// `arguments_vec` builds the `Vec<Object>` sent (it may use `?`); `conversion` turns the
/// reply (an [`Object`] bound to the pattern) into the result. The async twin is documented as
/// its blocking twin, awaited, and shares [`Proxy::call_method_async`]'s cancellation rules.
macro_rules! twins {
    ($(
        $(#[$m:meta])*
        pub fn $name:ident, $async_name:ident $([$($g:tt)*])? (&$self:ident $(, $arg:ident : $ty:ty)* $(,)?) -> Result<$ret:ty>
            = $method:literal ($args:expr) |$o:pat_param| $conv:expr;
    )*) => {$(
        $(#[$m])*
        pub fn $name $(<$($g)*>)? (&$self $(, $arg: $ty)*) -> Result<$ret> {
            let args = $args;
            let $o = $self.call_method($method, args)?;
            $conv
        }

        #[doc = concat!(
            "[`", stringify!($name), "`](Self::", stringify!($name), "), awaited (feature \
             `tokio`): the same request, with no thread blocked while the server answers. \
             Cancel-safe as [`Proxy::call_method_async`](crate::Proxy::call_method_async)."
        )]
        #[cfg(feature = "tokio")]
        pub async fn $async_name $(<$($g)*>)? (&$self $(, $arg: $ty)*) -> Result<$ret> {
            let args = $args;
            let $o = $self.call_method_async($method, args).await?;
            $conv
        }
    )*};
}

pub(crate) use twins;

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
    twins! {
        /// `d[key]`; a missing key is an error of kind `NotFound` (Python's `KeyError`).
        #[doc(alias = "__getitem__")]
        pub fn get_item, get_item_async(&self, key: impl Into<K>) -> Result<V>
            = "__getitem__"(vec![obj(&key.into())?]) |o| val(o);

        /// `d[key] = value`.
        #[doc(alias = "__setitem__")]
        pub fn set, set_async(&self, key: impl Into<K>, value: impl Into<V>) -> Result<()>
            = "__setitem__"(vec![obj(&key.into())?, obj(&value.into())?]) |_| Ok(());

        /// Beyond Python: applies `op` to the value at `key` in the server, atomically, and
        /// returns the new value: a read-modify-write in one round trip, with no lock (see
        /// [`update`](crate::update)). A missing key starts from the op's argument
        /// (`Op::add(1)` on a missing key stores `1`). An op that does not fit the value
        /// (adding a `str` to an int) is an error of kind `InvalidArgument` (Python's
        /// `TypeError`) and leaves the value unchanged.
        ///
        /// ```
        /// use multiprocessing_managers::{manager, update::Op};
        /// let m = manager().unwrap();
        /// let d = m.dict_of::<String, i64>().unwrap();
        /// d.update_with("n", Op::add(5)).unwrap();
        /// assert_eq!(d.update_with("n", Op::add(-2)).unwrap(), 3);
        /// ```
        pub fn update_with, update_with_async(&self, key: impl Into<K>, op: crate::update::Op) -> Result<V>
            = "update_with"(vec![obj(&key.into())?, Object::Str(op.name().into()), op.into_argument()])
              |o| val(o);

        /// `del d[key]`; a missing key is `NotFound`.
        #[doc(alias = "__delitem__")]
        pub fn del, del_async(&self, key: impl Into<K>) -> Result<()>
            = "__delitem__"(vec![obj(&key.into())?]) |_| Ok(());

        /// `key in d`.
        #[doc(alias = "__contains__")]
        pub fn contains, contains_async(&self, key: impl Into<K>) -> Result<bool>
            = "__contains__"(vec![obj(&key.into())?]) |o| val(o);

        /// `len(d)`.
        #[doc(alias = "__len__")]
        pub fn len, len_async(&self) -> Result<usize> = "__len__"(Vec::new()) |o| count(o);

        /// `list(d.keys())`, in key order.
        pub fn keys, keys_async(&self) -> Result<Vec<K>> = "keys"(Vec::new()) |o| val(o);

        /// `list(d.values())`, in key order.
        pub fn values, values_async(&self) -> Result<Vec<V>> = "values"(Vec::new()) |o| val(o);

        /// `list(d.items())`, in key order.
        pub fn items, items_async(&self) -> Result<Vec<(K, V)>> = "items"(Vec::new()) |o| val(o);

        /// `d.pop(key)`; a missing key is `NotFound`.
        pub fn pop, pop_async(&self, key: impl Into<K>) -> Result<V>
            = "pop"(vec![obj(&key.into())?]) |o| val(o);

        /// `d.pop(key, default)`.
        pub fn pop_or, pop_or_async(&self, key: impl Into<K>, default: impl Into<V>) -> Result<V>
            = "pop"(vec![obj(&key.into())?, obj(&default.into())?]) |o| val(o);

        /// `d.update(pairs)`.
        pub fn update, update_async(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()>
            = "update"(vec![Object::Dict(
                pairs
                    .into_iter()
                    .map(|(k, v)| Ok((obj(&k)?, obj(&v)?)))
                    .collect::<Result<BTreeMap<_, _>>>()?,
            )]) |_| Ok(());

        /// `d.setdefault(key, default)`: the value at `key`, set to `default` first if missing.
        pub fn setdefault, setdefault_async(&self, key: impl Into<K>, default: impl Into<V>) -> Result<V>
            = "setdefault"(vec![obj(&key.into())?, obj(&default.into())?]) |o| val(o);

        /// `d.clear()`.
        pub fn clear, clear_async(&self) -> Result<()> = "clear"(Vec::new()) |_| Ok(());
    }

    /// `d.get(key)`: `None` for a missing key.
    pub fn get(&self, key: impl Into<K>) -> Result<Option<V>> {
        absent_is_none(self.get_item(key))
    }

    /// [`get`](Self::get), awaited (feature `tokio`): `None` for a missing key.
    #[cfg(feature = "tokio")]
    pub async fn get_async(&self, key: impl Into<K>) -> Result<Option<V>> {
        absent_is_none(self.get_item_async(key).await)
    }

    /// `len(d) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// [`is_empty`](Self::is_empty), awaited (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn is_empty_async(&self) -> Result<bool> {
        Ok(self.len_async().await? == 0)
    }

    /// `d.copy()`: a local copy of the whole dict.
    pub fn copy(&self) -> Result<BTreeMap<K, V>>
    where
        K: Ord,
    {
        val(self.call_method("copy", Vec::new())?)
    }

    /// [`copy`](Self::copy), awaited (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn copy_async(&self) -> Result<BTreeMap<K, V>>
    where
        K: Ord,
    {
        val(self.call_method_async("copy", Vec::new()).await?)
    }
}

/// A `KeyError` as `None` (Python's `d.get(key)`).
fn absent_is_none<V>(r: Result<V>) -> Result<Option<V>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == crate::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A list of `items` as the server takes it.
fn list_of<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<Object> {
    let items = items
        .into_iter()
        .map(|i| obj(&i))
        .collect::<Result<Vec<_>>>()?;
    Ok(Object::List(items))
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    twins! {
        /// `l.append(item)`.
        pub fn append, append_async(&self, item: impl Into<T>) -> Result<()>
            = "append"(vec![obj(&item.into())?]) |_| Ok(());

        /// `l.extend(items)`.
        pub fn extend, extend_async(&self, items: impl IntoIterator<Item = T>) -> Result<()>
            = "extend"(vec![list_of(items)?]) |_| Ok(());

        /// `l.insert(index, item)`.
        pub fn insert, insert_async(&self, index: i64, item: impl Into<T>) -> Result<()>
            = "insert"(vec![index_arg(index), obj(&item.into())?]) |_| Ok(());

        /// `l.pop()`: the last item; an empty list is `OutOfRange` (Python's `IndexError`).
        pub fn pop, pop_async(&self) -> Result<T> = "pop"(Vec::new()) |o| val(o);

        /// `l.pop(index)`.
        pub fn pop_at, pop_at_async(&self, index: i64) -> Result<T>
            = "pop"(vec![index_arg(index)]) |o| val(o);

        /// `l.remove(item)`: the first equal item; none is `InvalidArgument` (`ValueError`).
        pub fn remove, remove_async(&self, item: impl Into<T>) -> Result<()>
            = "remove"(vec![obj(&item.into())?]) |_| Ok(());

        /// `l.index(item)`.
        pub fn index, index_async(&self, item: impl Into<T>) -> Result<usize>
            = "index"(vec![obj(&item.into())?]) |o| count(o);

        /// `l.count(item)`.
        pub fn count, count_async(&self, item: impl Into<T>) -> Result<usize>
            = "count"(vec![obj(&item.into())?]) |o| count(o);

        /// `len(l)`.
        #[doc(alias = "__len__")]
        pub fn len, len_async(&self) -> Result<usize> = "__len__"(Vec::new()) |o| count(o);

        /// `l[index]` (negative counts from the end); past the end is `OutOfRange`.
        #[doc(alias = "__getitem__")]
        pub fn get, get_async(&self, index: i64) -> Result<T>
            = "__getitem__"(vec![index_arg(index)]) |o| val(o);

        /// `l[index] = item`.
        #[doc(alias = "__setitem__")]
        pub fn set, set_async(&self, index: i64, item: impl Into<T>) -> Result<()>
            = "__setitem__"(vec![index_arg(index), obj(&item.into())?]) |_| Ok(());

        /// `l[start:stop:step]`.
        pub fn get_slice, get_slice_async(
            &self,
            start: Option<i64>,
            stop: Option<i64>,
            step: Option<i64>,
        ) -> Result<Vec<T>> = "__getitem__"(vec![slice(start, stop, step)]) |o| val(o);

        /// `l[start:stop:step] = items`.
        pub fn set_slice, set_slice_async(
            &self,
            start: Option<i64>,
            stop: Option<i64>,
            step: Option<i64>,
            items: impl IntoIterator<Item = T>,
        ) -> Result<()> = "__setitem__"(vec![slice(start, stop, step), list_of(items)?]) |_| Ok(());

        /// `del l[start:stop:step]`.
        pub fn del_slice, del_slice_async(
            &self,
            start: Option<i64>,
            stop: Option<i64>,
            step: Option<i64>,
        ) -> Result<()> = "__delitem__"(vec![slice(start, stop, step)]) |_| Ok(());

        /// `l.reverse()`.
        pub fn reverse, reverse_async(&self) -> Result<()> = "reverse"(Vec::new()) |_| Ok(());

        /// `l.sort()` (the order of [`Object`]: numbers by value, then by kind).
        pub fn sort, sort_async(&self) -> Result<()> = "sort"(Vec::new()) |_| Ok(());

        /// A local copy of the whole list (Python's `l[:]`).
        pub fn to_vec, to_vec_async(&self) -> Result<Vec<T>> = "#GETVALUE"(Vec::new()) |o| val(o);
    }

    /// `len(l) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// [`is_empty`](Self::is_empty), awaited (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn is_empty_async(&self) -> Result<bool> {
        Ok(self.len_async().await? == 0)
    }
}

impl NamespaceProxy {
    twins! {
        /// `ns.name`; a missing attribute is `Unsupported` (Python's `AttributeError`).
        #[doc(alias = "__getattribute__")]
        pub fn get, get_async[T: DeserializeOwned](&self, name: &str) -> Result<T>
            = "__getattribute__"(vec![Object::Str(name.into())]) |o| val(o);

        /// `ns.name = value`.
        #[doc(alias = "__setattr__")]
        pub fn set, set_async[T: Serialize + ?Sized](&self, name: &str, value: &T) -> Result<()>
            = "__setattr__"(vec![Object::Str(name.into()), obj(value)?]) |_| Ok(());

        /// `del ns.name`.
        #[doc(alias = "__delattr__")]
        pub fn del, del_async(&self, name: &str) -> Result<()>
            = "__delattr__"(vec![Object::Str(name.into())]) |_| Ok(());
    }
}

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    twins! {
        /// `v.value`.
        pub fn get, get_async(&self) -> Result<T> = "get"(Vec::new()) |o| val(o);

        /// `v.value = value`.
        pub fn set, set_async(&self, value: impl Into<T>) -> Result<()>
            = "set"(vec![obj(&value.into())?]) |_| Ok(());

        /// Beyond Python: applies `op` to the value in the server, atomically, and returns the
        /// new value (`v.value += 1` in one round trip, with no lock; see
        /// [`update`](crate::update)). An op that does not fit the value is an error of kind
        /// `InvalidArgument` and leaves it unchanged.
        ///
        /// ```
        /// use multiprocessing_managers::{manager, update::Op};
        /// let m = manager().unwrap();
        /// let counter = m.value_of("i", &0i64).unwrap();
        /// assert_eq!(counter.update_with(Op::add(1)).unwrap(), 1);
        /// ```
        pub fn update_with, update_with_async(&self, op: crate::update::Op) -> Result<T>
            = "update_with"(vec![Object::Str(op.name().into()), op.into_argument()]) |o| val(o);
    }
}
