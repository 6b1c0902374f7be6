//! The Python object tree: what a pickle holds, as plain Rust data.

use std::fmt;

/// A Python object as data.
///
/// Containers own their elements, so a `Value` is a tree. Two things a pickle can say that a
/// tree cannot are handled so: a container reached twice (a *shared* sub-list, `[a, a]`) is
/// repeated, each copy equal to the other (its identity is not kept, as in JSON); a container
/// that contains itself (`l.append(l)`) holds a [`Value::Recursive`] where the cycle closes,
/// naming the enclosing container by how many levels up it is. No `Rc`, no cycle, nothing leaks.
///
/// ```
/// use multiprocessing_pickle::{Value, dumps, loads};
/// // Python: l = []; l.append(l)  ->  [[...]]
/// let l = Value::List(vec![Value::Recursive(1)]);
/// assert_eq!(l.to_string(), "[[...]]");
/// assert_eq!(loads(&dumps(&l).unwrap()).unwrap(), l);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` that fits 128 bits.
    Int(i128),
    /// An `int` that does not fit 128 bits.
    BigInt(BigInt),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes`.
    Bytes(Vec<u8>),
    /// A `bytearray`.
    ByteArray(Vec<u8>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `list`.
    List(Vec<Value>),
    /// A `dict`, in insertion order; keys may be of any kind, as in Python.
    Dict(Vec<(Value, Value)>),
    /// A `set`, in pickle order.
    Set(Vec<Value>),
    /// A `frozenset`, in pickle order.
    FrozenSet(Vec<Value>),
    /// A global reference (a class or function) by name; never resolved.
    Global(Global),
    /// A class instance: its class's name, constructor arguments and state.
    Object(Box<Object>),
    /// The container `n` levels up from here (1: the innermost container holding this value),
    /// where a recursive structure closes its cycle.
    Recursive(usize),
}

/// A global's name: `module.name` (CPython's `find_class` arguments), never looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Global {
    /// The module, such as `builtins` or `multiprocessing.managers`.
    pub module: String,
    /// The qualified name in the module, such as `KeyError` or `Token`.
    pub name: String,
}

impl Global {
    /// The global `module.name`.
    pub fn new(module: impl Into<String>, name: impl Into<String>) -> Self {
        Global {
            module: module.into(),
            name: name.into(),
        }
    }
}

/// How an [`Object`] is made when Python unpickles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Construct {
    /// `class(*args)` (opcode `REDUCE`; how exceptions and most `__reduce__` results travel).
    Reduce,
    /// `class.__new__(class, *args, **kwargs)` (opcodes `NEWOBJ` / `NEWOBJ_EX`; plain class
    /// instances, a manager `Token`).
    NewObj,
}

/// A class instance as data: what CPython's pickle would construct, and with what.
///
/// ```
/// use multiprocessing_pickle::{Object, Value};
/// let e = Value::from(Object::reduce("builtins", "KeyError", vec![Value::from("missing")]));
/// assert_eq!(e.to_string(), "KeyError('missing')");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The class (or callable) that makes it.
    pub class: Global,
    /// Called, or `__new__`.
    pub construct: Construct,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments (`NEWOBJ_EX`; written only at protocol 4 and above).
    pub kwargs: Vec<(Value, Value)>,
    /// The state given to `__setstate__` or merged into `__dict__` (opcode `BUILD`).
    pub state: Option<Value>,
    /// Items appended after construction (a `list` subclass).
    pub list_items: Vec<Value>,
    /// Items set after construction (a `dict` subclass).
    pub dict_items: Vec<(Value, Value)>,
}

impl Object {
    /// An instance made by calling `module.name(*args)`.
    pub fn reduce(module: impl Into<String>, name: impl Into<String>, args: Vec<Value>) -> Self {
        Self::with(Global::new(module, name), Construct::Reduce, args)
    }

    /// An instance made by `module.name.__new__(module.name, *args)`.
    pub fn new_obj(module: impl Into<String>, name: impl Into<String>, args: Vec<Value>) -> Self {
        Self::with(Global::new(module, name), Construct::NewObj, args)
    }

    fn with(class: Global, construct: Construct, args: Vec<Value>) -> Self {
        Object {
            class,
            construct,
            args,
            kwargs: Vec::new(),
            state: None,
            list_items: Vec::new(),
            dict_items: Vec::new(),
        }
    }

    /// The same instance with `state` (the `BUILD` argument).
    #[must_use]
    pub fn state(mut self, state: Value) -> Self {
        self.state = Some(state);
        self
    }
}

impl Value {
    /// An exception instance as CPython pickles one: `builtins.<name>(*args)`.
    ///
    /// ```
    /// use multiprocessing_pickle::Value;
    /// assert_eq!(Value::exception("KeyError", ["missing"]).to_string(), "KeyError('missing')");
    /// ```
    pub fn exception<I: IntoIterator<Item = V>, V: Into<Value>>(name: &str, args: I) -> Value {
        Object::reduce("builtins", name, args.into_iter().map(Into::into).collect()).into()
    }

    /// The object's class if this is an instance, as `(module, name)`.
    #[must_use]
    pub fn class(&self) -> Option<(&str, &str)> {
        match self {
            Value::Object(o) => Some((&o.class.module, &o.class.name)),
            _ => None,
        }
    }

    /// The string, if this is a `str`.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an `int` that fits an `i64`.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => i64::try_from(*i).ok(),
            _ => None,
        }
    }
}

impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Value::Object(Box::new(o))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i.into())
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

/// An `int` beyond 128 bits: its two's-complement bytes, little-endian, as pickle's `LONG1`
/// and `LONG4` carry them. The tree only needs to carry, compare, print and write such numbers,
/// never compute with them, so this byte form replaces a bignum dependency.
///
/// ```
/// use multiprocessing_pickle::{BigInt, Value};
/// let v = BigInt::parse("1606938044258990275541962092341162602522202993782792835301376").unwrap(); // 2**200
/// assert!(matches!(v, Value::BigInt(_)));
/// assert_eq!(v.to_string(), "1606938044258990275541962092341162602522202993782792835301376");
/// assert_eq!(BigInt::parse("-5").unwrap(), Value::Int(-5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BigInt(Vec<u8>);

/// The most decimal digits read from a text integer (CPython's default
/// `sys.get_int_max_str_digits()`).
pub const MAX_INT_DIGITS: usize = 4300;

impl BigInt {
    /// The integer with these two's-complement little-endian bytes: a [`Value::Int`] when it
    /// fits 128 bits, else a [`Value::BigInt`].
    #[must_use]
    pub fn from_signed_bytes_le(bytes: &[u8]) -> Value {
        let mut b = bytes.to_vec();
        if b.is_empty() {
            return Value::Int(0);
        }
        // Drop sign-extension bytes that carry no information.
        while b.len() > 1 {
            let (last, prev) = (b[b.len() - 1], b[b.len() - 2]);
            if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
                b.pop();
            } else {
                break;
            }
        }
        if b.len() <= 16 {
            let fill = if b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
            let mut buf = [fill; 16];
            buf[..b.len()].copy_from_slice(&b);
            Value::Int(i128::from_le_bytes(buf))
        } else {
            Value::BigInt(BigInt(b))
        }
    }

    /// The minimal two's-complement little-endian bytes (at least 17).
    #[must_use]
    pub fn to_signed_bytes_le(&self) -> &[u8] {
        &self.0
    }

    /// Whether it is below zero.
    #[must_use]
    pub fn is_negative(&self) -> bool {
        self.0.last().is_some_and(|b| b & 0x80 != 0)
    }

    /// Parses a decimal integer (optional sign, at most [`MAX_INT_DIGITS`] digits).
    #[must_use]
    pub fn parse(text: &str) -> Option<Value> {
        let (neg, digits) = match text.as_bytes() {
            [b'-', rest @ ..] => (true, rest),
            [b'+', rest @ ..] => (false, rest),
            rest => (false, rest),
        };
        if digits.is_empty() || digits.len() > MAX_INT_DIGITS {
            return None;
        }
        if let Ok(small) = text.parse::<i128>() {
            return Some(Value::Int(small));
        }
        // Magnitude in base 2^32 limbs, little-endian: limbs = limbs * 10 + digit.
        let mut limbs: Vec<u32> = vec![0];
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            let mut carry = u64::from(d - b'0');
            for l in &mut limbs {
                let v = u64::from(*l) * 10 + carry;
                *l = v as u32;
                carry = v >> 32;
            }
            if carry != 0 {
                limbs.push(carry as u32);
            }
        }
        let mut bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
        bytes.push(0); // room for the sign bit
        if neg {
            let mut carry = true;
            for b in &mut bytes {
                *b = !*b;
                if carry {
                    let (v, c) = b.overflowing_add(1);
                    *b = v;
                    carry = c;
                }
            }
        }
        Some(Self::from_signed_bytes_le(&bytes))
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.is_negative();
        let mut mag = self.0.clone();
        if neg {
            let mut carry = true;
            for b in &mut mag {
                *b = !*b;
                if carry {
                    let (v, c) = b.overflowing_add(1);
                    *b = v;
                    carry = c;
                }
            }
        }
        // Repeated division by 10^9, most significant byte first.
        let mut be: Vec<u8> = mag.into_iter().rev().collect();
        let mut chunks = Vec::new();
        while be.iter().any(|&b| b != 0) {
            let mut rem: u64 = 0;
            for b in &mut be {
                let cur = (rem << 8) | u64::from(*b);
                *b = (cur / 1_000_000_000) as u8;
                rem = cur % 1_000_000_000;
            }
            chunks.push(rem);
        }
        if neg {
            f.write_str("-")?;
        }
        let mut it = chunks.iter().rev();
        write!(f, "{}", it.next().copied().unwrap_or(0))?;
        for c in it {
            write!(f, "{c:09}")?;
        }
        Ok(())
    }
}

/// Python's `repr()` of the tree, for the types CPython prints plainly; a class instance prints
/// as `Name(args)` (`module.Name(args)` outside `builtins`), as exceptions do.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        repr(self, f, &mut Vec::new())
    }
}

fn repr_seq(items: &[Value], f: &mut fmt::Formatter<'_>, path: &mut Vec<char>) -> fmt::Result {
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        repr(v, f, path)?;
    }
    Ok(())
}

fn repr_pairs(
    pairs: &[(Value, Value)],
    f: &mut fmt::Formatter<'_>,
    path: &mut Vec<char>,
) -> fmt::Result {
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        repr(k, f, path)?;
        f.write_str(": ")?;
        repr(v, f, path)?;
    }
    Ok(())
}

fn repr(v: &Value, f: &mut fmt::Formatter<'_>, path: &mut Vec<char>) -> fmt::Result {
    match v {
        Value::None => f.write_str("None"),
        Value::Bool(true) => f.write_str("True"),
        Value::Bool(false) => f.write_str("False"),
        Value::Int(i) => write!(f, "{i}"),
        Value::BigInt(b) => write!(f, "{b}"),
        Value::Float(x) => repr_float(*x, f),
        Value::Str(s) => repr_str(s, f),
        Value::Bytes(b) => repr_bytes(b, f),
        Value::ByteArray(b) => {
            f.write_str("bytearray(")?;
            repr_bytes(b, f)?;
            f.write_str(")")
        }
        Value::Tuple(items) => {
            path.push('(');
            f.write_str("(")?;
            repr_seq(items, f, path)?;
            f.write_str(if items.len() == 1 { ",)" } else { ")" })?;
            path.pop();
            Ok(())
        }
        Value::List(items) => {
            path.push('[');
            f.write_str("[")?;
            repr_seq(items, f, path)?;
            path.pop();
            f.write_str("]")
        }
        Value::Dict(pairs) => {
            path.push('{');
            f.write_str("{")?;
            repr_pairs(pairs, f, path)?;
            path.pop();
            f.write_str("}")
        }
        Value::Set(items) if items.is_empty() => f.write_str("set()"),
        Value::Set(items) => {
            path.push('{');
            f.write_str("{")?;
            repr_seq(items, f, path)?;
            path.pop();
            f.write_str("}")
        }
        Value::FrozenSet(items) if items.is_empty() => f.write_str("frozenset()"),
        Value::FrozenSet(items) => {
            path.push('{');
            f.write_str("frozenset({")?;
            repr_seq(items, f, path)?;
            path.pop();
            f.write_str("})")
        }
        Value::Global(g) => write!(f, "{}.{}", g.module, g.name),
        Value::Object(o) => {
            path.push('<');
            if o.class.module != "builtins" {
                write!(f, "{}.", o.class.module)?;
            }
            write!(f, "{}(", o.class.name)?;
            repr_seq(&o.args, f, path)?;
            path.pop();
            f.write_str(")")
        }
        Value::Recursive(n) => {
            let open = path
                .len()
                .checked_sub(*n)
                .and_then(|i| path.get(i))
                .copied()
                .unwrap_or('<');
            f.write_str(match open {
                '[' => "[...]",
                '{' => "{...}",
                '(' => "(...)",
                _ => "...",
            })
        }
    }
}

fn repr_float(x: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if x.is_nan() {
        return f.write_str("nan");
    }
    if x.is_infinite() {
        return f.write_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    let abs = x.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python's exponent form: 1e+16, 1.5e-05.
        let s = format!("{x:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        return write!(f, "{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    write!(f, "{x:?}")
}

fn repr_str(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    write!(f, "{quote}")?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c if (0x80..0xa0).contains(&(c as u32)) => write!(f, "\\x{:02x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    write!(f, "{quote}")
}

fn repr_bytes(b: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    write!(f, "b{}", quote as char)?;
    for &c in b {
        match c {
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            c if c == quote => write!(f, "\\{}", c as char)?,
            0x20..0x7f => write!(f, "{}", c as char)?,
            c => write!(f, "\\x{c:02x}")?,
        }
    }
    write!(f, "{}", quote as char)
}
