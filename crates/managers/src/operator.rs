//! Python's `operator` module over [`Object`]s, as a [`Module`] to share in a manager: the
//! documentation's `register('operator', get_operator_module)`.
//!
//! [`module()`] holds the 55 public functions of CPython 3.11's `operator`, with Python's
//! rules on the values an [`Object`] holds: `bool` counts as an `int`, `/` gives a float,
//! `//` and `%` round toward negative infinity (the sign of `%` is the divisor's), `int ** int`
//! stays an `int` unless the exponent is negative, `str`/`bytes`/`list`/`tuple` concatenate and
//! repeat, comparisons mix `int`, `float` and `bool` and refuse kinds Python cannot order with
//! Python's own `TypeError` text, and errors carry Python's exception classes and messages.
//!
//! ```
//! use multiprocessing_managers::{Exception, Object, operator};
//! let op = operator::module();
//! let call = |f: &str, args: Vec<Object>| op.call_function(f, args);
//! assert_eq!(call("add", vec![23.into(), 45.into()]).unwrap(), Object::Int(68));
//! assert_eq!(call("pow", vec![2.into(), 94.into()]).unwrap().to_string(), "19807040628566084398385987584");
//! assert_eq!(call("floordiv", vec![(-7).into(), 2.into()]).unwrap(), Object::Int(-4));
//! assert_eq!(call("mod", vec![(-7).into(), 2.into()]).unwrap(), Object::Int(1));
//! assert_eq!(call("truediv", vec![1.into(), 4.into()]).unwrap(), Object::Float(0.25));
//! assert_eq!(call("mul", vec!["ab".into(), 3.into()]).unwrap(), Object::from("ababab"));
//! let e = call("lt", vec!["a".into(), 1.into()]).unwrap_err();
//! assert_eq!(e.to_string(), "TypeError: '<' not supported between instances of 'str' and 'int'");
//! let e = call("truediv", vec![1.into(), 0.into()]).unwrap_err();
//! assert_eq!(e.exception, Exception::ZeroDivisionError);
//! assert_eq!(op.exposed().len(), 55);
//! ```
//!
//! # Where it differs from Python
//!
//! - An `int` is an `i128`: a result beyond it is an [`OverflowError`](Exception::OverflowError)
//!   (Python's ints are unbounded). A float result that would be complex (a negative number to
//!   a fractional power) is a `ValueError`.
//! - Values arrive as copies. `setitem` and `delitem` change the copy and return `None`, as
//!   Python's would when handed a copied argument; the in-place forms (`iadd`, `ior`, ...)
//!   return the new value. `is_` and `is_not` cannot see identity: two arguments are the same
//!   object here when they are of the same type and equal (`is_(None, None)`, `is_(1, 1)` are
//!   true, `is_(1, 1.0)` and `is_(1, True)` false; Python says false for two equal lists built
//!   apart, true here).
//! - `attrgetter`, `itemgetter` and `methodcaller` make callables, and `call` needs one: no
//!   callable crosses processes, so they raise a `TypeError` saying so (CPython's manager fails
//!   to pickle the reply). `call`'s error is Python's own: no value here is callable.
//! - There is no slice object: `getitem` takes integer indexes (negative ones count from the
//!   end) and dict keys. `str % args` and `bytes % args` format as Python's printf-style
//!   formatting does.
//! - A repetition (`'ab' * n`) longer than [`MAX_REPEAT`] items, or a `%` format width or
//!   precision over it, is an `OverflowError` rather than a gigabyte-sized reply from the
//!   manager.
//! - Equality and order are [`Object`]'s (`1 == 1.0 == True`); a top-level float NaN compares
//!   unequal and unordered as in Python, while NaNs inside containers equal each other (as
//!   Python's identity shortcut makes one NaN object sent twice equal to itself) and order
//!   after every number ([`Object::python_cmp`]).

use std::cmp::Ordering;

use crate::module::{Function, Module};
use crate::object::{Object, ObjectError};
use crate::protocol::{Exception, Raised};
use crate::types::type_error;

/// The longest result `mul` and `imul` make by repetition, in items (characters, bytes, list
/// items), and the largest width or precision `%` formatting takes: about four million, so a
/// list made so stays within a few hundred megabytes of the manager's memory.
pub const MAX_REPEAT: usize = 1 << 22;

type Res = Result<Object, Raised>;

/// Python's `operator` module: every public function of CPython 3.11's, over [`Object`]s
/// ([module docs](self)). Share it with a constructor such as the documentation's
/// `get_operator_module` (see [`module`](crate::module)).
#[doc(alias = "get_operator_module")]
#[must_use]
pub fn module() -> Module {
    Module::from_functions("operator", FUNCTIONS)
}

/// The functions, by Python's names.
const FUNCTIONS: &[(&str, Function)] = &[
    ("abs", abs),
    ("add", add),
    ("and_", and_),
    ("attrgetter", attrgetter),
    ("call", call),
    ("concat", concat),
    ("contains", contains),
    ("countOf", count_of),
    ("delitem", delitem),
    ("eq", eq),
    ("floordiv", floordiv),
    ("ge", ge),
    ("getitem", getitem),
    ("gt", gt),
    ("iadd", iadd),
    ("iand", iand),
    ("iconcat", iconcat),
    ("ifloordiv", ifloordiv),
    ("ilshift", ilshift),
    ("imatmul", imatmul),
    ("imod", imod),
    ("imul", imul),
    ("index", index),
    ("indexOf", index_of),
    ("inv", inv),
    ("invert", invert),
    ("ior", ior),
    ("ipow", ipow),
    ("irshift", irshift),
    ("is_", is_),
    ("is_not", is_not),
    ("isub", isub),
    ("itemgetter", itemgetter),
    ("itruediv", itruediv),
    ("ixor", ixor),
    ("le", le),
    ("length_hint", length_hint),
    ("lshift", lshift),
    ("lt", lt),
    ("matmul", matmul),
    ("methodcaller", methodcaller),
    ("mod", mod_),
    ("mul", mul),
    ("ne", ne),
    ("neg", neg),
    ("not_", not_),
    ("or_", or_),
    ("pos", pos),
    ("pow", pow),
    ("rshift", rshift),
    ("setitem", setitem),
    ("sub", sub),
    ("truediv", truediv),
    ("truth", truth),
    ("xor", xor),
];

// ---------------------------------------------------------------------------------------------
// Errors, arguments, kinds

fn overflow() -> Raised {
    Raised::new(
        Exception::OverflowError,
        "integer result does not fit in 128 bits",
    )
}

fn zero_division(m: &str) -> Raised {
    Raised::new(Exception::ZeroDivisionError, m)
}

fn ty(o: &Object) -> std::borrow::Cow<'static, str> {
    o.type_name()
}

/// The `N` arguments of `name`, or Python's `TypeError` for another count.
fn exact<const N: usize>(name: &str, args: Vec<Object>) -> Result<[Object; N], Raised> {
    let n = args.len();
    args.try_into().map_err(|_| {
        type_error(if N == 1 {
            format!("_operator.{name}() takes exactly one argument ({n} given)")
        } else {
            format!("{name} expected {N} arguments, got {n}")
        })
    })
}

/// An `int`'s value, a `bool` counting as one.
fn int(o: &Object) -> Option<i128> {
    match o {
        Object::Int(i) => Some(*i),
        Object::Bool(b) => Some(i128::from(*b)),
        _ => None,
    }
}

/// A number: an `int` (or `bool`) or a `float`.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn num(o: &Object) -> Option<Num> {
    match o {
        Object::Float(f) => Some(Num::Float(*f)),
        o => int(o).map(Num::Int),
    }
}

impl Num {
    #[expect(
        clippy::cast_precision_loss,
        reason = "Python's float(int) rounds the same"
    )]
    fn float(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn is_nan(o: &Object) -> bool {
    matches!(o, Object::Float(f) if f.is_nan())
}

/// Python's `bool(o)`.
fn truthy(o: &Object) -> bool {
    match o {
        Object::None => false,
        Object::Bool(b) => *b,
        Object::Int(i) => *i != 0,
        Object::Float(f) => *f != 0.0,
        Object::Str(s) => !s.is_empty(),
        Object::Bytes(b) => !b.is_empty(),
        Object::List(v) | Object::Tuple(v) => !v.is_empty(),
        Object::Dict(d) => !d.is_empty(),
        Object::Proxy(_) => true,
        // Python's empty set, frozenset and bytearray are false, other objects true.
        Object::Pickled(p) => {
            use multiprocessing_pickle::Value;
            !matches!(p.value(), Value::Set(v) | Value::FrozenSet(v) if v.is_empty())
                && !matches!(p.value(), Value::ByteArray(b) if b.is_empty())
        }
    }
}

/// Python's `a == b`: [`Object`]'s equality, except that a float NaN equals nothing.
fn py_eq(a: &Object, b: &Object) -> bool {
    !is_nan(a) && !is_nan(b) && a == b
}

/// Python's `TypeError` for a dict key that cannot be hashed (a list or dict, also inside a
/// tuple).
fn hashable(o: &Object) -> Result<(), Raised> {
    match o {
        Object::List(_) | Object::Dict(_) => {
            Err(type_error(format!("unhashable type: '{}'", ty(o))))
        }
        Object::Tuple(items) => items.iter().try_for_each(hashable),
        _ => Ok(()),
    }
}

/// The items Python's `iter(o)` gives: a `str`'s characters, a `bytes`' ints, a dict's keys.
fn items(o: Object, not_iterable: impl FnOnce(&Object) -> String) -> Result<Vec<Object>, Raised> {
    match o {
        Object::Str(s) => Ok(s.chars().map(Object::from).collect()),
        Object::Bytes(b) => Ok(b.into_iter().map(Object::from).collect()),
        Object::List(v) | Object::Tuple(v) => Ok(v),
        Object::Dict(d) => Ok(d.into_keys().collect()),
        other => Err(type_error(not_iterable(&other))),
    }
}

fn not_iterable(o: &Object) -> String {
    format!("'{}' object is not iterable", ty(o))
}

fn argument_not_iterable(o: &Object) -> String {
    format!("argument of type '{}' is not iterable", ty(o))
}

// ---------------------------------------------------------------------------------------------
// Binary operators

/// A binary operator, with its symbol for Python's error messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bin {
    Add,
    Sub,
    Mul,
    TrueDiv,
    FloorDiv,
    Mod,
    Pow,
    LShift,
    RShift,
    And,
    Or,
    Xor,
    MatMul,
}

impl Bin {
    fn symbol(self, inplace: bool) -> &'static str {
        use Bin::*;
        match (self, inplace) {
            (Add, false) => "+",
            (Add, true) => "+=",
            (Sub, false) => "-",
            (Sub, true) => "-=",
            (Mul, false) => "*",
            (Mul, true) => "*=",
            (TrueDiv, false) => "/",
            (TrueDiv, true) => "/=",
            (FloorDiv, false) => "//",
            (FloorDiv, true) => "//=",
            (Mod, false) => "%",
            (Mod, true) => "%=",
            (Pow, false) => "** or pow()",
            (Pow, true) => "**=",
            (LShift, false) => "<<",
            (LShift, true) => "<<=",
            (RShift, false) => ">>",
            (RShift, true) => ">>=",
            (And, false) => "&",
            (And, true) => "&=",
            (Or, false) => "|",
            (Or, true) => "|=",
            (Xor, false) => "^",
            (Xor, true) => "^=",
            (MatMul, false) => "@",
            (MatMul, true) => "@=",
        }
    }
}

fn unsupported(op: Bin, inplace: bool, a: &Object, b: &Object) -> Raised {
    type_error(format!(
        "unsupported operand type(s) for {}: '{}' and '{}'",
        op.symbol(inplace),
        ty(a),
        ty(b)
    ))
}

/// Python's `a <op> b` (or `a <op>= b` when `inplace`).
fn binary(op: Bin, a: Object, b: Object, inplace: bool) -> Res {
    if let (Some(x), Some(y)) = (num(&a), num(&b)) {
        return match op {
            Bin::LShift | Bin::RShift | Bin::And | Bin::Or | Bin::Xor => match (x, y) {
                (Num::Int(x), Num::Int(y)) => bitwise(op, x, y, &a, &b),
                _ => Err(unsupported(op, inplace, &a, &b)),
            },
            Bin::MatMul => Err(unsupported(op, inplace, &a, &b)),
            _ => arithmetic(op, x, y),
        };
    }
    match op {
        Bin::Add => concatenate(a, b, inplace),
        Bin::Mul => repeat(a, b, inplace),
        Bin::Or => match (a, b) {
            (Object::Dict(mut x), Object::Dict(y)) => {
                // A key equal to one present keeps the present key, takes the new value.
                for (k, v) in y {
                    x.insert(k, v);
                }
                Ok(Object::Dict(x))
            }
            (Object::Dict(mut x), pairs) if inplace => {
                let all = items(pairs, not_iterable)?;
                for (i, pair) in all.into_iter().enumerate() {
                    let kv = items(pair, |_| {
                        format!(
                            "cannot convert dictionary update sequence element #{i} to a sequence"
                        )
                    })?;
                    let [k, v]: [Object; 2] = kv.try_into().map_err(|kv: Vec<Object>| {
                        Raised::new(
                            Exception::ValueError,
                            format!(
                                "dictionary update sequence element #{i} has length {}; 2 is required",
                                kv.len()
                            ),
                        )
                    })?;
                    hashable(&k)?;
                    x.insert(k, v);
                }
                Ok(Object::Dict(x))
            }
            (a, b) => Err(unsupported(op, inplace, &a, &b)),
        },
        Bin::Mod => match a {
            Object::Str(fmt) => format::format_str(&fmt, b),
            Object::Bytes(fmt) => format::format_bytes(&fmt, b),
            a => Err(unsupported(op, inplace, &a, &b)),
        },
        _ => Err(unsupported(op, inplace, &a, &b)),
    }
}

/// `+` (and `concat`, `iconcat`) on sequences. A list `+=` takes any iterable, as Python's
/// `list.__iadd__` (`extend`) does.
fn concatenate(a: Object, b: Object, inplace: bool) -> Res {
    match (a, b) {
        (Object::Str(mut x), Object::Str(y)) => {
            x.push_str(&y);
            Ok(Object::Str(x))
        }
        (Object::Bytes(mut x), Object::Bytes(y)) => {
            x.extend(y);
            Ok(Object::Bytes(x))
        }
        (Object::List(mut x), Object::List(y)) => {
            x.extend(y);
            Ok(Object::List(x))
        }
        (Object::Tuple(mut x), Object::Tuple(y)) => {
            x.extend(y);
            Ok(Object::Tuple(x))
        }
        (Object::List(mut x), other) if inplace => {
            x.extend(items(other, not_iterable)?);
            Ok(Object::List(x))
        }
        (a @ (Object::Str(_) | Object::List(_) | Object::Tuple(_)), b) => Err(type_error(format!(
            "can only concatenate {} (not \"{}\") to {}",
            ty(&a),
            ty(&b),
            ty(&a)
        ))),
        (Object::Bytes(_), b) => Err(type_error(format!("can't concat {} to bytes", ty(&b)))),
        (a, b) => Err(unsupported(Bin::Add, inplace, &a, &b)),
    }
}

/// `*` with a sequence on one side: repetition by the `int` on the other. In place, a left
/// side that is a container but no sequence (a dict) refuses, as CPython's
/// `PyNumber_InPlaceMultiply` does.
fn repeat(a: Object, b: Object, inplace: bool) -> Res {
    let sequence = |o: &Object| {
        matches!(
            o,
            Object::Str(_) | Object::Bytes(_) | Object::List(_) | Object::Tuple(_)
        )
    };
    let (seq, count) = if sequence(&a) {
        (a, b)
    } else if sequence(&b) && !(inplace && matches!(a, Object::Dict(_))) {
        (b, a)
    } else {
        return Err(unsupported(Bin::Mul, inplace, &a, &b));
    };
    let Some(n) = int(&count) else {
        return Err(type_error(format!(
            "can't multiply sequence by non-int of type '{}'",
            ty(&count)
        )));
    };
    // Python converts the count to a machine index before it looks at its sign.
    let n = isize::try_from(n).map_err(|_| {
        Raised::new(
            Exception::OverflowError,
            "cannot fit 'int' into an index-sized integer",
        )
    })?;
    let n = n.unsigned_abs() * usize::from(n > 0);
    let len = match &seq {
        Object::Str(s) => s.chars().count(),
        Object::Bytes(b) => b.len(),
        Object::List(v) | Object::Tuple(v) => v.len(),
        _ => 0,
    };
    if len.checked_mul(n).is_none_or(|total| total > MAX_REPEAT) {
        return Err(Raised::new(
            Exception::OverflowError,
            format!("repeated sequence is too long (over {MAX_REPEAT} items)"),
        ));
    }
    Ok(match seq {
        Object::Str(s) => Object::Str(s.repeat(n)),
        Object::Bytes(b) => Object::Bytes(b.repeat(n)),
        Object::List(v) => Object::List(repeated(&v, n)),
        Object::Tuple(v) => Object::Tuple(repeated(&v, n)),
        other => other,
    })
}

fn repeated(v: &[Object], n: usize) -> Vec<Object> {
    (0..n).flat_map(|_| v.iter().cloned()).collect()
}

/// `&`, `|`, `^`, `<<`, `>>` on ints; a bool result for two bools' `&`, `|`, `^`.
fn bitwise(op: Bin, x: i128, y: i128, a: &Object, b: &Object) -> Res {
    let bools = matches!((a, b), (Object::Bool(_), Object::Bool(_)));
    let wrap = |v: i128| {
        if bools {
            Object::Bool(v != 0)
        } else {
            Object::Int(v)
        }
    };
    let negative_shift = || Raised::new(Exception::ValueError, "negative shift count");
    match op {
        Bin::And => Ok(wrap(x & y)),
        Bin::Or => Ok(wrap(x | y)),
        Bin::Xor => Ok(wrap(x ^ y)),
        Bin::LShift => {
            if y < 0 {
                return Err(negative_shift());
            }
            if x == 0 {
                return Ok(Object::Int(0));
            }
            let shift = u32::try_from(y)
                .ok()
                .filter(|s| *s < 128)
                .ok_or_else(overflow)?;
            let v = x << shift;
            if v >> shift == x {
                Ok(Object::Int(v))
            } else {
                Err(overflow())
            }
        }
        Bin::RShift => {
            if y < 0 {
                return Err(negative_shift());
            }
            Ok(Object::Int(match u32::try_from(y) {
                Ok(s) if s < 128 => x >> s,
                _ if x < 0 => -1,
                _ => 0,
            }))
        }
        _ => Err(unsupported(op, false, a, b)),
    }
}

/// `+ - * / // % **` on numbers.
fn arithmetic(op: Bin, x: Num, y: Num) -> Res {
    if let (Num::Int(x), Num::Int(y)) = (x, y) {
        return int_arithmetic(op, x, y);
    }
    let (x, y) = (x.float(), y.float());
    Ok(Object::Float(match op {
        Bin::Add => x + y,
        Bin::Sub => x - y,
        Bin::Mul => x * y,
        Bin::TrueDiv => {
            if y == 0.0 {
                return Err(zero_division("float division by zero"));
            }
            x / y
        }
        Bin::FloorDiv => {
            if y == 0.0 {
                return Err(zero_division("float floor division by zero"));
            }
            float_divmod(x, y).0
        }
        Bin::Mod => {
            if y == 0.0 {
                return Err(zero_division("float modulo"));
            }
            float_divmod(x, y).1
        }
        Bin::Pow => return float_pow(x, y).map(Object::Float),
        _ => return Err(type_error("not an arithmetic operator")),
    }))
}

fn int_arithmetic(op: Bin, x: i128, y: i128) -> Res {
    let v = match op {
        Bin::Add => x.checked_add(y),
        Bin::Sub => x.checked_sub(y),
        Bin::Mul => x.checked_mul(y),
        Bin::TrueDiv => return int_truediv(x, y).map(Object::Float),
        Bin::FloorDiv => {
            if y == 0 {
                return Err(zero_division("integer division or modulo by zero"));
            }
            x.checked_div(y).map(|q| {
                if x % y != 0 && ((x < 0) != (y < 0)) {
                    q - 1
                } else {
                    q
                }
            })
        }
        Bin::Mod => {
            if y == 0 {
                return Err(zero_division("integer modulo by zero"));
            }
            // `i128::MIN % -1` overflows in Rust; Python's answer is 0.
            let r = x.checked_rem(y).unwrap_or(0);
            Some(if r != 0 && ((r < 0) != (y < 0)) {
                r + y
            } else {
                r
            })
        }
        Bin::Pow => return int_pow(x, y),
        _ => return Err(type_error("not an arithmetic operator")),
    };
    v.map(Object::Int).ok_or_else(overflow)
}

/// `int ** int`: an `int` for a non-negative exponent, else Python's float power.
fn int_pow(x: i128, y: i128) -> Res {
    if y < 0 {
        return float_pow(Num::Int(x).float(), Num::Int(y).float()).map(Object::Float);
    }
    match (x, u32::try_from(y)) {
        (_, Ok(e)) => x.checked_pow(e).map(Object::Int).ok_or_else(overflow),
        (0 | 1, Err(_)) => Ok(Object::Int(x)),
        (-1, Err(_)) => Ok(Object::Int(if y % 2 == 0 { 1 } else { -1 })),
        _ => Err(overflow()),
    }
}

/// Python's `int / int`: the exact quotient rounded once to the nearest float (CPython's
/// `long_true_divide`), not `float(a) / float(b)`, which rounds three times for large ints.
fn int_truediv(a: i128, b: i128) -> Result<f64, Raised> {
    if b == 0 {
        return Err(zero_division("division by zero"));
    }
    const EXACT: u128 = 1 << 53;
    let (n, d) = (a.unsigned_abs(), b.unsigned_abs());
    let negative = (a < 0) != (b < 0);
    #[expect(clippy::cast_precision_loss, reason = "exact below 2^53")]
    let magnitude = if n == 0 || (n <= EXACT && d <= EXACT) {
        n as f64 / d as f64
    } else {
        // Long division (of a non-zero `n`) to at least 55 significant bits, then a sticky bit for what is left:
        // one correct rounding by the conversion to f64.
        let (mut q, mut r) = (n / d, n % d);
        let mut k = 0;
        while q < 1 << 54 {
            // `r < d <= 2^127`, so `2r` fits.
            r <<= 1;
            q <<= 1;
            if r >= d {
                r -= d;
                q |= 1;
            }
            k += 1;
        }
        if r != 0 {
            q |= 1;
        }
        // A power of two within the normal range: the scaling is exact.
        q as f64 * 2f64.powi(-k)
    };
    Ok(if negative { -magnitude } else { magnitude })
}

/// CPython's `float_divmod`: floor quotient and remainder with the divisor's sign.
fn float_divmod(x: f64, y: f64) -> (f64, f64) {
    let mut m = x % y;
    let mut div = (x - m) / y;
    if m != 0.0 {
        if (y < 0.0) != (m < 0.0) {
            m += y;
            div -= 1.0;
        }
    } else {
        m = 0f64.copysign(y);
    }
    let floordiv = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0f64.copysign(x / y)
    };
    (floordiv, m)
}

/// CPython's `float_pow`, its special cases first.
fn float_pow(x: f64, y: f64) -> Result<f64, Raised> {
    let odd = |v: f64| v.is_finite() && v % 2.0 != 0.0 && v.fract() == 0.0;
    if y == 0.0 {
        return Ok(1.0);
    }
    if x.is_nan() {
        return Ok(x);
    }
    if y.is_nan() {
        return Ok(if x == 1.0 { 1.0 } else { y });
    }
    if y.is_infinite() {
        let ax = x.abs();
        return Ok(if ax == 1.0 {
            1.0
        } else if (y > 0.0) == (ax > 1.0) {
            f64::INFINITY
        } else {
            0.0
        });
    }
    if x.is_infinite() {
        return Ok(if y > 0.0 {
            if odd(y) { x } else { x.abs() }
        } else if odd(y) {
            0f64.copysign(x)
        } else {
            0.0
        });
    }
    if x == 0.0 {
        if y < 0.0 {
            return Err(zero_division("0.0 cannot be raised to a negative power"));
        }
        return Ok(if odd(y) { x } else { 0.0 });
    }
    let mut base = x;
    let mut negate = false;
    if x < 0.0 {
        if y.fract() != 0.0 {
            return Err(Raised::new(
                Exception::ValueError,
                "a negative number to a fractional power is complex, which this operator module does not make",
            ));
        }
        base = -x;
        negate = odd(y);
    }
    let v = if base == 1.0 { 1.0 } else { base.powf(y) };
    if v.is_infinite() {
        return Err(Raised::new(
            Exception::OverflowError,
            "(34, 'Numerical result out of range')",
        ));
    }
    Ok(if negate { -v } else { v })
}

// ---------------------------------------------------------------------------------------------
// The functions

macro_rules! binaries {
    ($($name:ident, $iname:ident => $op:ident;)*) => {$(
        fn $name(args: Vec<Object>) -> Res {
            let [a, b] = exact::<2>(stringify!($name), args)?;
            binary(Bin::$op, a, b, false)
        }
        fn $iname(args: Vec<Object>) -> Res {
            let [a, b] = exact::<2>(stringify!($iname), args)?;
            binary(Bin::$op, a, b, true)
        }
    )*};
}

binaries! {
    sub, isub => Sub;
    truediv, itruediv => TrueDiv;
    floordiv, ifloordiv => FloorDiv;
    pow, ipow => Pow;
    lshift, ilshift => LShift;
    rshift, irshift => RShift;
    and_, iand => And;
    or_, ior => Or;
    xor, ixor => Xor;
    matmul, imatmul => MatMul;
}

fn add(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("add", args)?;
    binary(Bin::Add, a, b, false)
}

/// Python's `a + b` (the `add` function's body, for the manager's `update_with`).
pub(crate) fn add_values(a: Object, b: Object) -> Res {
    binary(Bin::Add, a, b, false)
}

fn iadd(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("iadd", args)?;
    binary(Bin::Add, a, b, true)
}

fn mul(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("mul", args)?;
    binary(Bin::Mul, a, b, false)
}

fn imul(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("imul", args)?;
    binary(Bin::Mul, a, b, true)
}

fn mod_(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("mod", args)?;
    binary(Bin::Mod, a, b, false)
}

fn imod(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("imod", args)?;
    binary(Bin::Mod, a, b, true)
}

/// Python's `concat`: `+` for sequences only.
fn concat_(name: &str, args: Vec<Object>, inplace: bool) -> Res {
    let [a, b] = exact::<2>(name, args)?;
    if !matches!(
        a,
        Object::Str(_) | Object::Bytes(_) | Object::List(_) | Object::Tuple(_)
    ) {
        return Err(type_error(format!(
            "'{}' object can't be concatenated",
            ty(&a)
        )));
    }
    concatenate(a, b, inplace)
}

fn concat(args: Vec<Object>) -> Res {
    concat_("concat", args, false)
}

fn iconcat(args: Vec<Object>) -> Res {
    concat_("iconcat", args, true)
}

fn abs(args: Vec<Object>) -> Res {
    let [a] = exact::<1>("abs", args)?;
    match (&a, num(&a)) {
        (_, Some(Num::Int(i))) => i.checked_abs().map(Object::Int).ok_or_else(overflow),
        (_, Some(Num::Float(f))) => Ok(Object::Float(f.abs())),
        _ => Err(type_error(format!(
            "bad operand type for abs(): '{}'",
            ty(&a)
        ))),
    }
}

fn neg(args: Vec<Object>) -> Res {
    let [a] = exact::<1>("neg", args)?;
    match num(&a) {
        Some(Num::Int(i)) => i.checked_neg().map(Object::Int).ok_or_else(overflow),
        Some(Num::Float(f)) => Ok(Object::Float(-f)),
        None => Err(type_error(format!(
            "bad operand type for unary -: '{}'",
            ty(&a)
        ))),
    }
}

fn pos(args: Vec<Object>) -> Res {
    let [a] = exact::<1>("pos", args)?;
    match num(&a) {
        Some(Num::Int(i)) => Ok(Object::Int(i)),
        Some(Num::Float(f)) => Ok(Object::Float(f)),
        None => Err(type_error(format!(
            "bad operand type for unary +: '{}'",
            ty(&a)
        ))),
    }
}

/// Python's `~`.
fn inv(args: Vec<Object>) -> Res {
    invert_("inv", args)
}

/// Python's `~`, under its other name.
fn invert(args: Vec<Object>) -> Res {
    invert_("invert", args)
}

fn invert_(name: &str, args: Vec<Object>) -> Res {
    let [a] = exact::<1>(name, args)?;
    match int(&a) {
        Some(i) => Ok(Object::Int(!i)),
        None => Err(type_error(format!(
            "bad operand type for unary ~: '{}'",
            ty(&a)
        ))),
    }
}

fn index(args: Vec<Object>) -> Res {
    let [a] = exact::<1>("index", args)?;
    int(&a).map(Object::Int).ok_or_else(|| {
        type_error(format!(
            "'{}' object cannot be interpreted as an integer",
            ty(&a)
        ))
    })
}

fn not_(args: Vec<Object>) -> Res {
    let [a] = exact::<1>("not_", args)?;
    Ok(Object::Bool(!truthy(&a)))
}

fn truth(args: Vec<Object>) -> Res {
    let [a] = exact::<1>("truth", args)?;
    Ok(Object::Bool(truthy(&a)))
}

/// The same object, as far as copies can tell: the same type and equal.
fn same(a: &Object, b: &Object) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b) && a == b
}

fn is_(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("is_", args)?;
    Ok(Object::Bool(same(&a, &b)))
}

fn is_not(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("is_not", args)?;
    Ok(Object::Bool(!same(&a, &b)))
}

/// `<`, `<=`, `>`, `>=` by [`Object::python_cmp`], with Python's `TypeError` naming the
/// operator and the first pair of values it could not order.
fn order(name: &str, symbol: &str, args: Vec<Object>, holds: fn(Ordering) -> bool) -> Res {
    let [a, b] = exact::<2>(name, args)?;
    if num(&a).is_some() && num(&b).is_some() && (is_nan(&a) || is_nan(&b)) {
        return Ok(Object::Bool(false));
    }
    match a.python_cmp(&b) {
        Ok(o) => Ok(Object::Bool(holds(o))),
        Err(ObjectError::Unorderable { left, right }) => Err(type_error(format!(
            "'{symbol}' not supported between instances of '{left}' and '{right}'"
        ))),
        Err(e) => Err(type_error(e.to_string())),
    }
}

fn lt(args: Vec<Object>) -> Res {
    order("lt", "<", args, Ordering::is_lt)
}

fn le(args: Vec<Object>) -> Res {
    order("le", "<=", args, Ordering::is_le)
}

fn gt(args: Vec<Object>) -> Res {
    order("gt", ">", args, Ordering::is_gt)
}

fn ge(args: Vec<Object>) -> Res {
    order("ge", ">=", args, Ordering::is_ge)
}

fn eq(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("eq", args)?;
    Ok(Object::Bool(py_eq(&a, &b)))
}

fn ne(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("ne", args)?;
    Ok(Object::Bool(!py_eq(&a, &b)))
}

fn contains(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("contains", args)?;
    let found = match (&a, &b) {
        (Object::Str(s), Object::Str(t)) => s.contains(t.as_str()),
        (Object::Str(_), b) => {
            return Err(type_error(format!(
                "'in <string>' requires string as left operand, not {}",
                ty(b)
            )));
        }
        (Object::Bytes(s), Object::Bytes(t)) => {
            t.is_empty() || s.windows(t.len()).any(|w| w == t.as_slice())
        }
        (Object::Bytes(s), b) => match int(b) {
            Some(i) => match u8::try_from(i) {
                Ok(byte) => s.contains(&byte),
                Err(_) => {
                    return Err(Raised::new(
                        Exception::ValueError,
                        "byte must be in range(0, 256)",
                    ));
                }
            },
            None => {
                return Err(type_error(format!(
                    "a bytes-like object is required, not '{}'",
                    ty(b)
                )));
            }
        },
        (Object::List(v) | Object::Tuple(v), b) => v.iter().any(|x| py_eq(x, b)),
        (Object::Dict(d), b) => {
            hashable(b)?;
            d.contains_key(b)
        }
        (a, _) => return Err(type_error(argument_not_iterable(a))),
    };
    Ok(Object::Bool(found))
}

fn count_of(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("countOf", args)?;
    let all = items(a, argument_not_iterable)?;
    Ok(Object::Int(
        all.iter().filter(|x| py_eq(x, &b)).count() as i128
    ))
}

fn index_of(args: Vec<Object>) -> Res {
    let [a, b] = exact::<2>("indexOf", args)?;
    let all = items(a, argument_not_iterable)?;
    match all.iter().position(|x| py_eq(x, &b)) {
        Some(i) => Ok(Object::Int(i as i128)),
        None => Err(Raised::new(
            Exception::ValueError,
            "sequence.index(x): x not in sequence",
        )),
    }
}

fn length_hint(args: Vec<Object>) -> Res {
    let n = args.len();
    if n == 0 || n > 2 {
        return Err(type_error(if n == 0 {
            "length_hint expected at least 1 argument, got 0".to_owned()
        } else {
            format!("length_hint expected at most 2 arguments, got {n}")
        }));
    }
    let mut a = args.into_iter();
    let o = a.next().unwrap_or_default();
    let default = match a.next() {
        None => 0,
        Some(d) => int(&d).ok_or_else(|| {
            type_error(format!(
                "'{}' object cannot be interpreted as an integer",
                ty(&d)
            ))
        })?,
    };
    if isize::try_from(default).is_err() {
        return Err(Raised::new(
            Exception::OverflowError,
            "Python int too large to convert to C ssize_t",
        ));
    }
    let len = match &o {
        Object::Str(s) => s.chars().count(),
        Object::Bytes(b) => b.len(),
        Object::List(v) | Object::Tuple(v) => v.len(),
        Object::Dict(d) => d.len(),
        _ => return Ok(Object::Int(default)),
    };
    Ok(Object::Int(len as i128))
}

/// An index as Python's machine index (`Py_ssize_t`): beyond it, Python's `IndexError`.
fn machine_index(i: i128) -> Result<i128, Raised> {
    if isize::try_from(i).is_ok() {
        Ok(i)
    } else {
        Err(Raised::new(
            Exception::IndexError,
            "cannot fit 'int' into an index-sized integer",
        ))
    }
}

/// Python's position of index `i` in a sequence of `len`, negative counting from the end;
/// `None` when out of range.
fn position(len: usize, i: i128) -> Result<Option<usize>, Raised> {
    let i = machine_index(i)?;
    let len = len as i128;
    let j = if i < 0 { i + len } else { i };
    Ok(usize::try_from(j).ok().filter(|j| (*j as i128) < len))
}

fn getitem(args: Vec<Object>) -> Res {
    let [a, k] = exact::<2>("getitem", args)?;
    let out_of_range =
        |what: &str| Raised::new(Exception::IndexError, format!("{what} out of range"));
    match a {
        Object::Dict(d) => {
            hashable(&k)?;
            d.get(&k)
                .cloned()
                .ok_or_else(|| Raised::new(Exception::KeyError, k.to_string()))
        }
        seq @ (Object::List(_) | Object::Tuple(_)) if int(&k).is_none() => {
            Err(type_error(format!(
                "{} indices must be integers or slices, not {}",
                ty(&seq),
                ty(&k)
            )))
        }
        Object::List(v) => position(v.len(), int(&k).unwrap_or_default())?
            .map(|i| v[i].clone())
            .ok_or_else(|| out_of_range("list index")),
        Object::Tuple(v) => position(v.len(), int(&k).unwrap_or_default())?
            .map(|i| v[i].clone())
            .ok_or_else(|| out_of_range("tuple index")),
        Object::Str(s) => {
            let i = int(&k).ok_or_else(|| {
                type_error(format!("string indices must be integers, not '{}'", ty(&k)))
            })?;
            position(s.chars().count(), i)?
                .and_then(|i| s.chars().nth(i))
                .map(Object::from)
                .ok_or_else(|| out_of_range("string index"))
        }
        Object::Bytes(b) => {
            let i = int(&k).ok_or_else(|| {
                type_error(format!(
                    "byte indices must be integers or slices, not {}",
                    ty(&k)
                ))
            })?;
            position(b.len(), i)?
                .map(|i| Object::from(b[i]))
                .ok_or_else(|| out_of_range("index"))
        }
        other => Err(type_error(format!(
            "'{}' object is not subscriptable",
            ty(&other)
        ))),
    }
}

/// The list position `k` names, for assignment and deletion.
fn list_position(v: &[Object], k: &Object) -> Result<usize, Raised> {
    let i = int(k).ok_or_else(|| {
        type_error(format!(
            "list indices must be integers or slices, not {}",
            ty(k)
        ))
    })?;
    position(v.len(), i)?
        .ok_or_else(|| Raised::new(Exception::IndexError, "list assignment index out of range"))
}

/// Python's `a[k] = v` on the argument's copy: the checks and errors of Python's, then `None`.
fn setitem(args: Vec<Object>) -> Res {
    let [a, k, v] = exact::<3>("setitem", args)?;
    match a {
        Object::List(mut items) => {
            let i = list_position(&items, &k)?;
            items[i] = v;
        }
        Object::Dict(mut d) => {
            hashable(&k)?;
            d.insert(k, v);
        }
        other => {
            // A sequence named by an index checks the index first (`PySequence_SetItem`).
            if let (Object::Tuple(_) | Object::Str(_) | Object::Bytes(_), Some(i)) =
                (&other, int(&k))
            {
                machine_index(i)?;
            }
            return Err(type_error(format!(
                "'{}' object does not support item assignment",
                ty(&other)
            )));
        }
    }
    Ok(Object::None)
}

/// Python's `del a[k]` on the argument's copy: the checks and errors of Python's, then `None`.
fn delitem(args: Vec<Object>) -> Res {
    let [a, k] = exact::<2>("delitem", args)?;
    match a {
        Object::List(mut items) => {
            let i = list_position(&items, &k)?;
            items.remove(i);
        }
        Object::Dict(mut d) => {
            hashable(&k)?;
            if d.remove(&k).is_none() {
                return Err(Raised::new(Exception::KeyError, k.to_string()));
            }
        }
        // A sequence without deletion, named by an index (CPython's `PySequence_DelItem`).
        other @ (Object::Tuple(_) | Object::Str(_) | Object::Bytes(_)) if int(&k).is_some() => {
            machine_index(int(&k).unwrap_or_default())?;
            return Err(type_error(format!(
                "'{}' object doesn't support item deletion",
                ty(&other)
            )));
        }
        other => {
            return Err(type_error(format!(
                "'{}' object does not support item deletion",
                ty(&other)
            )));
        }
    }
    Ok(Object::None)
}

fn callable_error(what: &str) -> Raised {
    type_error(format!(
        "operator.{what}() makes a callable, and callables cannot be sent between processes: \
         make it in the process that calls it"
    ))
}

fn attrgetter(args: Vec<Object>) -> Res {
    if args.is_empty() {
        return Err(type_error("attrgetter expected 1 argument, got 0"));
    }
    if args.iter().any(|a| !matches!(a, Object::Str(_))) {
        return Err(type_error("attribute name must be a string"));
    }
    Err(callable_error("attrgetter"))
}

fn itemgetter(args: Vec<Object>) -> Res {
    if args.is_empty() {
        return Err(type_error("itemgetter expected 1 argument, got 0"));
    }
    Err(callable_error("itemgetter"))
}

fn methodcaller(args: Vec<Object>) -> Res {
    match args.first() {
        None => Err(type_error(
            "methodcaller needs at least one argument, the method name",
        )),
        Some(Object::Str(_)) => Err(callable_error("methodcaller")),
        Some(_) => Err(type_error("method name must be a string")),
    }
}

/// Python's `call(obj, *args)`: no value that crosses processes is callable.
fn call(args: Vec<Object>) -> Res {
    match args.first() {
        None => Err(type_error("call expected at least 1 argument, got 0")),
        Some(o) => Err(type_error(format!("'{}' object is not callable", ty(o)))),
    }
}

mod format;

#[cfg(test)]
mod tests;
