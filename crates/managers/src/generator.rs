//! Generators in a manager: a registered function that returns an iterator gives a proxy that
//! is an [`Iterator`] in every process that holds it (the documentation's `GeneratorProxy` over
//! `baz()`).
//!
//! The server holds the iterator as a [`Generator`], a shared type exposing one method,
//! `__next__`, which answers the next item or raises `StopIteration` at the end. A
//! [`GeneratorProxy<T>`] calls it once per item, so every process iterating proxies to one
//! generator takes items from the same sequence, each item once.
//!
//! ```
//! use multiprocessing_managers::{BaseManager, Generator, GeneratorProxy, Object, Raised, Shared};
//!
//! /// Python's `def baz(): for i in range(10): yield i*i`.
//! fn baz(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
//!     Ok(Box::new(Generator::new((0..10).map(|i: u64| i * i))))
//! }
//!
//! let manager = BaseManager::builder().register("baz", baz).start().unwrap();
//! let it: GeneratorProxy<u64> = manager.create_as("baz", Vec::new()).unwrap();
//! let mut out = String::new();
//! for i in it {
//!     out += &format!("<{}> ", i.unwrap());
//! }
//! assert_eq!(out, "<0> <1> <4> <9> <16> <25> <36> <49> <64> <81> ");
//! ```

use std::fmt;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::object::{Object, ObjectError, from_object, to_object};
use crate::protocol::{Exception, Raised};
use crate::proxy::Proxy;
use crate::shared::{Caller, Outcome, ProxyType, Shared};

/// The methods a [`Generator`] answers (Python's `GeneratorProxy._exposed_`).
const EXPOSED: &[&str] = &["__next__"];

/// An iterator living in a manager (a Python generator object): its `__next__` gives the next
/// item, converted to an [`Object`], and raises `StopIteration` at the end and after it.
///
/// The iterator runs in the server, on its one thread, one `__next__` at a time; it need not
/// be `Send`.
#[doc(alias = "generator")]
pub struct Generator {
    items: Box<dyn Iterator<Item = std::result::Result<Object, ObjectError>>>,
    /// It ended (or an item could not be converted): `__next__` raises `StopIteration` from
    /// now on, without polling the iterator again.
    done: bool,
}

impl Generator {
    /// A generator over `items`, each converted with the serde bridge ([`to_object`]) when
    /// it is asked for.
    pub fn new<I>(items: I) -> Generator
    where
        I: IntoIterator,
        I::IntoIter: 'static,
        I::Item: Serialize,
    {
        Generator {
            items: Box::new(items.into_iter().map(|i| to_object(&i))),
            done: false,
        }
    }
}

impl fmt::Debug for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Shared for Generator {
    fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        if method != "__next__" {
            return Err(crate::types::no_method("generator", method));
        }
        if self.done {
            return Err(Raised::new(Exception::StopIteration, ""));
        }
        // Finished if `next` panics (as a Python generator that raised): its state may be
        // half-changed, so it is not polled again.
        self.done = true;
        let next = self.items.next();
        self.done = false;
        match next {
            Some(Ok(item)) => Ok(Outcome::Return(item)),
            Some(Err(e)) => {
                // As a Python generator that raised: finished.
                self.done = true;
                Err(Raised::new(
                    Exception::TypeError,
                    format!("a generator's item could not be shared: {e}"),
                ))
            }
            None => {
                self.done = true;
                Err(Raised::new(Exception::StopIteration, ""))
            }
        }
    }

    /// A generator has no value to copy: `None`.
    fn value(&self) -> Object {
        Object::None
    }

    fn repr(&self) -> String {
        "<generator object>".to_string()
    }

    fn exposed(&self) -> Option<&[&'static str]> {
        Some(EXPOSED)
    }
}

/// A proxy to a [`Generator`] (the documentation's `GeneratorProxy`): an [`Iterator`] of the
/// generator's items as `T` ([`Object`]s by default), each one a round trip to the server.
///
/// It ends at the generator's `StopIteration`. A failed call (the server gone, an item that is
/// not a `T`, an error raised in the generator) is yielded once as an `Err`, and the iterator
/// ends after it: it is fused. Clones and proxies in other processes share the generator, so
/// between them they see each item once.
///
/// ```
/// # use multiprocessing_managers::{BaseManager, Generator, GeneratorProxy, Object, Raised, Shared};
/// # fn countdown(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
/// #     Ok(Box::new(Generator::new((1..=3).rev())))
/// # }
/// let manager = BaseManager::builder().register("countdown", countdown).start().unwrap();
/// let mut it: GeneratorProxy<i32> = manager.create_as("countdown", Vec::new()).unwrap();
/// assert_eq!(it.next().unwrap().unwrap(), 3);
/// let rest: Result<Vec<i32>, _> = it.collect();
/// assert_eq!(rest.unwrap(), [2, 1]);
/// ```
pub struct GeneratorProxy<T = Object> {
    proxy: Proxy,
    done: bool,
    _items: PhantomData<fn() -> T>,
}

impl<T> GeneratorProxy<T> {
    /// A typed view of `proxy` (its referent must answer `__next__` as a [`Generator`] does).
    #[must_use]
    pub fn from_proxy(proxy: Proxy) -> Self {
        GeneratorProxy {
            proxy,
            done: false,
            _items: PhantomData,
        }
    }

    /// The untyped proxy.
    #[must_use]
    pub fn into_proxy(self) -> Proxy {
        self.proxy
    }
}

impl<T: DeserializeOwned> Iterator for GeneratorProxy<T> {
    type Item = Result<T>;

    #[doc(alias = "__next__")]
    fn next(&mut self) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        let item = match self.proxy.call_method("__next__", Vec::new()) {
            Ok(o) => from_object(o).map_err(|e| Error::Codec(e.to_string())),
            Err(e) if e.exception() == Some(Exception::StopIteration) => {
                self.done = true;
                return None;
            }
            Err(e) => Err(e),
        };
        self.done = item.is_err();
        Some(item)
    }
}

impl<T: DeserializeOwned> FusedIterator for GeneratorProxy<T> {}

impl<T> ProxyType for GeneratorProxy<T> {
    fn from_proxy(proxy: Proxy) -> Self {
        GeneratorProxy::from_proxy(proxy)
    }

    fn as_proxy(&self) -> &Proxy {
        &self.proxy
    }
}

/// Another view of the same generator (Python's copy of a proxy), not ended even if this one
/// is.
impl<T> Clone for GeneratorProxy<T> {
    fn clone(&self) -> Self {
        GeneratorProxy::from_proxy(self.proxy.clone())
    }
}

impl<T> Deref for GeneratorProxy<T> {
    type Target = Proxy;
    fn deref(&self) -> &Proxy {
        &self.proxy
    }
}

impl<T> fmt::Debug for GeneratorProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.proxy, f)
    }
}

/// Shows the referent, as Python's `str(proxy)`.
impl<T> fmt::Display for GeneratorProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.proxy, f)
    }
}

/// Travels as its [`Proxy`] (a reference held in transit); the receiver iterates on from
/// where the generator is.
impl<T> Serialize for GeneratorProxy<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.proxy.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for GeneratorProxy<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Proxy::deserialize(d).map(Self::from_proxy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(g: &mut Generator) -> std::result::Result<Object, Raised> {
        match g.call("__next__", Vec::new(), Caller::new(1, 1))? {
            Outcome::Return(o) => Ok(o),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn items_then_stop_iteration_for_ever() {
        let mut g = Generator::new(["a", "b"]);
        assert_eq!(next(&mut g), Ok(Object::Str("a".into())));
        assert_eq!(next(&mut g), Ok(Object::Str("b".into())));
        for _ in 0..2 {
            assert_eq!(
                next(&mut g).unwrap_err().exception,
                Exception::StopIteration
            );
        }
        assert_eq!(g.exposed(), Some(EXPOSED));
        assert_eq!(
            g.call("send", Vec::new(), Caller::new(1, 1))
                .unwrap_err()
                .exception,
            Exception::AttributeError
        );
    }

    #[test]
    fn the_iterator_is_not_polled_after_its_end() {
        // An iterator that would start again after its `None` (not fused).
        let mut n = 0;
        let mut g = Generator::new(std::iter::from_fn(move || {
            n += 1;
            (n % 2 == 1).then_some(n)
        }));
        assert_eq!(next(&mut g), Ok(Object::Int(1)));
        assert!(next(&mut g).is_err());
        assert_eq!(
            next(&mut g).unwrap_err().exception,
            Exception::StopIteration
        );
    }
}
