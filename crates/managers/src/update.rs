//! Beyond Python: [`Op`], a small set of *named* modifications a manager applies to a value
//! atomically in the server, so a read-modify-write is one round trip and needs no lock.
//!
//! In Python, `d[k] += 1` on a manager `dict` is two calls (`__getitem__`, then
//! `__setitem__`) and loses updates when processes race, unless every caller takes a manager
//! `Lock` around it (two more round trips). [`DictProxy::update_with`] sends the key and an
//! [`Op`] ([`ValueProxy::update_with`] just the op); the server applies it in one call, which
//! no other call interleaves. No code travels:
//! the op is a name and an argument, from the fixed list below.
//!
//! ```
//! use multiprocessing_managers::{Object, manager, update::Op};
//! let m = manager().unwrap();
//! let d = m.dict().unwrap();
//! assert_eq!(d.update_with("hits", Op::add(1)).unwrap(), Object::Int(1)); // a missing key starts from the argument
//! assert_eq!(d.update_with("hits", Op::add(2)).unwrap(), Object::Int(3));
//! d.update_with("log", Op::append("started")).unwrap();
//! assert_eq!(d.update_with("log", Op::append("done")).unwrap().to_string(), "['started', 'done']");
//! assert_eq!(d.update_with("best", Op::max(7)).unwrap(), Object::Int(7));
//! assert_eq!(d.update_with("best", Op::max(5)).unwrap(), Object::Int(7));
//! ```
//!
//! [`DictProxy::update_with`]: crate::DictProxy::update_with
//! [`ValueProxy::update_with`]: crate::ValueProxy::update_with

use crate::object::Object;
use crate::protocol::{Exception, Raised};
use crate::types::type_error;

/// A modification of one value, applied by the server atomically ([module docs](self)).
///
/// Each applies to the current value, or to *no value* (a missing dict key), and gives the new
/// value, which the call returns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// `v + x`: numbers add (int + float is a float), `str`, `bytes`, lists and tuples
    /// concatenate, as [`operator`](crate::operator)'s `add`; a missing value becomes `x`. An
    /// int overflow is an `OverflowError`, never a wrapped number.
    Add(Object),
    /// `v.append(x)` for a list; a missing value becomes `[x]`.
    Append(Object),
    /// `v.extend(xs)` for a list; a missing value becomes `xs`.
    Extend(Vec<Object>),
    /// Python's `dict.setdefault`: a missing value becomes `x`, a present one stays.
    SetDefault(Object),
    /// `max(v, x)` (Python's ordering across numbers); a missing value becomes `x`.
    Max(Object),
    /// `min(v, x)`; a missing value becomes `x`.
    Min(Object),
}

impl Op {
    /// [`Op::Add`] of anything an [`Object`] is made from.
    pub fn add(x: impl Into<Object>) -> Op {
        Op::Add(x.into())
    }

    /// [`Op::Append`].
    pub fn append(x: impl Into<Object>) -> Op {
        Op::Append(x.into())
    }

    /// [`Op::Extend`].
    pub fn extend<T: Into<Object>>(xs: impl IntoIterator<Item = T>) -> Op {
        Op::Extend(xs.into_iter().map(Into::into).collect())
    }

    /// [`Op::SetDefault`].
    #[doc(alias = "setdefault")]
    pub fn set_default(x: impl Into<Object>) -> Op {
        Op::SetDefault(x.into())
    }

    /// [`Op::Max`].
    pub fn max(x: impl Into<Object>) -> Op {
        Op::Max(x.into())
    }

    /// [`Op::Min`].
    pub fn min(x: impl Into<Object>) -> Op {
        Op::Min(x.into())
    }

    /// The op's name on the wire.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Op::Add(_) => "add",
            Op::Append(_) => "append",
            Op::Extend(_) => "extend",
            Op::SetDefault(_) => "setdefault",
            Op::Max(_) => "max",
            Op::Min(_) => "min",
        }
    }

    /// The op's argument on the wire.
    #[must_use]
    pub fn into_argument(self) -> Object {
        match self {
            Op::Add(x) | Op::Append(x) | Op::SetDefault(x) | Op::Max(x) | Op::Min(x) => x,
            Op::Extend(xs) => Object::List(xs),
        }
    }

    /// The op named `name` with `argument`, as the server receives it; an unknown name is an
    /// `AttributeError`.
    pub fn from_wire(name: &str, argument: Object) -> Result<Op, Raised> {
        Ok(match name {
            "add" => Op::Add(argument),
            "append" => Op::Append(argument),
            "extend" => match argument {
                Object::List(xs) | Object::Tuple(xs) => Op::Extend(xs),
                other => return Err(type_error(format!("extend() needs a list, not {other}"))),
            },
            "setdefault" => Op::SetDefault(argument),
            "max" => Op::Max(argument),
            "min" => Op::Min(argument),
            other => {
                return Err(Raised::new(
                    Exception::AttributeError,
                    format!("no update operation named '{other}'"),
                ));
            }
        })
    }

    /// The new value: this op applied to `current` (`None` for a missing value). On an error
    /// the caller keeps the current value unchanged.
    pub fn apply(self, current: Option<Object>) -> Result<Object, Raised> {
        let Some(v) = current else {
            return Ok(match self {
                Op::Append(x) => Object::List(vec![x]),
                other => other.into_argument(),
            });
        };
        match self {
            Op::Add(x) => crate::operator::add_values(v, x),
            Op::Append(x) => match v {
                Object::List(mut items) => {
                    items.push(x);
                    Ok(Object::List(items))
                }
                other => Err(type_error(format!("append() to a {}", other.type_name()))),
            },
            Op::Extend(xs) => match v {
                Object::List(mut items) => {
                    items.extend(xs);
                    Ok(Object::List(items))
                }
                other => Err(type_error(format!("extend() of a {}", other.type_name()))),
            },
            Op::SetDefault(_) => Ok(v),
            Op::Max(x) => Ok(if x > v { x } else { v }),
            Op::Min(x) => Ok(if x < v { x } else { v }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_apply_to_present_and_missing_values() {
        assert_eq!(Op::add(2).apply(Some(1.into())).unwrap(), Object::Int(3));
        assert_eq!(
            Op::add(0.5).apply(Some(1.into())).unwrap(),
            Object::Float(1.5)
        );
        assert_eq!(
            Op::add("b").apply(Some("a".into())).unwrap(),
            Object::from("ab")
        );
        assert_eq!(Op::add(5).apply(None).unwrap(), Object::Int(5));
        assert_eq!(
            Op::append(1).apply(None).unwrap(),
            Object::List(vec![1.into()])
        );
        assert_eq!(
            Op::extend([2, 3])
                .apply(Some(Object::List(vec![1.into()])))
                .unwrap(),
            Object::List(vec![1.into(), 2.into(), 3.into()])
        );
        assert_eq!(
            Op::set_default(9).apply(Some(1.into())).unwrap(),
            Object::Int(1)
        );
        assert_eq!(Op::set_default(9).apply(None).unwrap(), Object::Int(9));
        assert_eq!(
            Op::max(2.5).apply(Some(2.into())).unwrap(),
            Object::Float(2.5)
        );
        assert_eq!(Op::min(2.5).apply(Some(2.into())).unwrap(), Object::Int(2));
    }

    #[test]
    fn mismatched_kinds_and_overflow_are_errors() {
        let e = Op::add("x").apply(Some(1.into())).unwrap_err();
        assert_eq!(e.exception, Exception::TypeError);
        let e = Op::append(1).apply(Some(1.into())).unwrap_err();
        assert_eq!(e.exception, Exception::TypeError);
        let e = Op::add(1).apply(Some(Object::Int(i128::MAX))).unwrap_err();
        assert_eq!(e.exception, Exception::OverflowError);
    }

    #[test]
    fn ops_cross_the_wire_by_name() {
        for op in [
            Op::add(1),
            Op::append("a"),
            Op::extend([1]),
            Op::set_default(()),
            Op::max(1),
            Op::min(1),
        ] {
            let name = op.name();
            assert_eq!(Op::from_wire(name, op.clone().into_argument()).unwrap(), op);
        }
        let e = Op::from_wire("exec", Object::None).unwrap_err();
        assert_eq!(e.exception, Exception::AttributeError);
    }
}
