//! What the code `#[managed]` generates calls: one home for decoding a call's arguments,
//! encoding its result and the Python-style errors both give. Not a public API: its items
//! change with the macro.

use std::any::Any;
use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use serde;

use crate::error::Error;
use crate::object::{Object, from_object, to_object};
use crate::protocol::{Exception, Raised};
use crate::proxy::Proxy;
use crate::shared::{Managed, Outcome, ProxyType};

/// Held while a generated `call` or `construct` runs: a proxy used meanwhile (an argument
/// decoded into one, or one the method calls) fails at once instead of stalling the server,
/// which would wait for itself.
#[must_use]
pub fn in_method() -> InMethod {
    InMethod(crate::client::InMethod::enter())
}

/// The guard of [`in_method`].
pub struct InMethod(#[allow(dead_code)] crate::client::InMethod);

/// `N` arguments named `names`, or Python's `TypeError` for a wrong count.
pub fn args<const N: usize>(
    func: &str,
    args: Vec<Object>,
    names: &[&str; N],
) -> Result<[Object; N], Raised> {
    let given = args.len();
    <[Object; N]>::try_from(args).map_err(|_| {
        let message = if given > N {
            let s = if N == 1 { "" } else { "s" };
            let were = if given == 1 { "was" } else { "were" };
            format!("{func}() takes {N} positional argument{s} but {given} {were} given")
        } else {
            let missing = &names[given..];
            let s = if missing.len() == 1 { "" } else { "s" };
            format!(
                "{func}() missing {} required positional argument{s}: {}",
                missing.len(),
                python_list(missing)
            )
        };
        Raised::new(Exception::TypeError, message)
    })
}

/// `'x'`, `'x' and 'y'`, `'x', 'y', and 'z'`, as Python lists missing arguments.
fn python_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    }
}

/// The argument `name` of `func`, decoded; a value of another shape is a `TypeError` naming
/// both.
pub fn arg<T: DeserializeOwned>(func: &str, name: &str, o: Object) -> Result<T, Raised> {
    from_object(o).map_err(|e| {
        Raised::new(
            Exception::TypeError,
            format!("{func}() argument '{name}': {e}"),
        )
    })
}

/// A method's result, sent back as an [`Object`].
pub fn ret<R: Serialize>(func: &str, r: R) -> Result<Outcome, Raised> {
    to_object(&r).map(Outcome::Return).map_err(|e| {
        Raised::new(
            Exception::TypeError,
            format!("{func}() returned a value that cannot be sent: {e}"),
        )
    })
}

/// A method's `Result`: `Ok` sent back, `Err` raised.
pub fn ret_result<R: Serialize, E: Display + 'static>(
    func: &str,
    r: Result<R, E>,
) -> Result<Outcome, Raised> {
    match r {
        Ok(v) => ret(func, v),
        Err(e) => Err(raised(e)),
    }
}

/// A method's error as the exception its caller gets: a [`Raised`] (or an [`Error::Raised`]
/// from a proxy the method called) as it is, anything else a `RuntimeError` with its message.
pub fn raised<E: Display + 'static>(e: E) -> Raised {
    let any: &dyn Any = &e;
    if let Some(r) = any.downcast_ref::<Raised>() {
        return r.clone();
    }
    if let Some(Error::Raised(r)) = any.downcast_ref::<Error>() {
        return r.clone();
    }
    Raised::new(Exception::RuntimeError, e.to_string())
}

/// A method's result shared as a new object of `typeid` (Python's `method_to_typeid`).
pub fn share<R: Managed>(typeid: &str, r: R) -> Result<Outcome, Raised> {
    Ok(Outcome::Share {
        typeid: typeid.to_string(),
        object: Box::new(r),
    })
}

/// [`share`] of a method's `Ok`; its `Err` raised.
pub fn share_result<R: Managed, E: Display + 'static>(
    typeid: &str,
    r: Result<R, E>,
) -> Result<Outcome, Raised> {
    r.map_err(raised).and_then(|r| share(typeid, r))
}

/// A constructor's `Result`, its `Err` raised.
pub fn constructed<T, E: Display + 'static>(r: Result<T, E>) -> Result<T, Raised> {
    r.map_err(raised)
}

/// Python's `AttributeError` for a method the type does not have.
#[must_use]
pub fn no_method(type_name: &str, method: &str) -> Raised {
    Raised::new(
        Exception::AttributeError,
        format!("'{type_name}' object has no attribute '{method}'"),
    )
}

/// An argument, encoded on the caller's side.
pub fn encode<T: Serialize + ?Sized>(v: &T) -> crate::Result<Object> {
    to_object(v).map_err(|e| Error::Codec(e.to_string()))
}

/// A result, decoded on the caller's side.
pub fn decode<T: DeserializeOwned>(o: Object) -> crate::Result<T> {
    from_object(o).map_err(|e| Error::Codec(e.to_string()))
}

/// The typed proxy of a managed type `R`.
pub fn proxy_of<R: Managed>(p: Proxy) -> R::Proxy {
    <R::Proxy as ProxyType>::from_proxy(p)
}

/// A managed value, for [`ValueBySerde`] or else [`ValueByName`] (autoref specialization:
/// `(&ValueOf(x)).managed_value()` picks the first that applies).
pub struct ValueOf<'a, T>(pub &'a T);

/// The value of a type that is `Serialize`.
pub trait ValueBySerde {
    /// The value as an [`Object`], if it converts.
    fn managed_value(&self) -> Option<Object>;
}

impl<T: Serialize> ValueBySerde for ValueOf<'_, T> {
    fn managed_value(&self) -> Option<Object> {
        to_object(self.0).ok()
    }
}

/// The value of any other type: none.
pub trait ValueByName {
    /// Nothing: the value shows as [`opaque`].
    fn managed_value(&self) -> Option<Object>;
}

impl<T> ValueByName for &ValueOf<'_, T> {
    fn managed_value(&self) -> Option<Object> {
        None
    }
}

/// How a value without a serde form shows: Python's `<Foo object>`.
#[must_use]
pub fn opaque(type_name: &str) -> String {
    format!("<{type_name} object>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_worded_as_python_words_them() {
        let e = args::<2>("add", vec![Object::Int(1)], &["x", "y"]).unwrap_err();
        assert_eq!(
            e.message,
            "add() missing 1 required positional argument: 'y'"
        );
        let e = args::<3>("f", Vec::new(), &["x", "y", "z"]).unwrap_err();
        assert_eq!(
            e.message,
            "f() missing 3 required positional arguments: 'x', 'y', and 'z'"
        );
        let e = args::<1>("g", vec![Object::None, Object::None], &["x"]).unwrap_err();
        assert_eq!(
            e.message,
            "g() takes 1 positional argument but 2 were given"
        );
        let e = args::<0>("h", vec![Object::None], &[]).unwrap_err();
        assert_eq!(
            e.message,
            "h() takes 0 positional arguments but 1 was given"
        );
        assert_eq!(e.exception, Exception::TypeError);
    }

    #[test]
    fn a_raised_error_passes_through_and_others_become_runtime_errors() {
        let r = Raised::new(Exception::KeyError, "'k'");
        assert_eq!(raised(r.clone()), r);
        assert_eq!(raised(Error::Raised(r.clone())), r);
        let other = raised(std::io::Error::other("disk on fire"));
        assert_eq!(other, Raised::new(Exception::RuntimeError, "disk on fire"));
    }

    #[test]
    // The borrow is what the generated code writes: without it both traits apply alike.
    #[allow(clippy::needless_borrow)]
    fn the_value_is_the_serde_form_when_there_is_one() {
        struct Opaque;
        assert_eq!((&ValueOf(&5u8)).managed_value(), Some(Object::Int(5)));
        assert_eq!((&ValueOf(&Opaque)).managed_value(), None);
    }
}
