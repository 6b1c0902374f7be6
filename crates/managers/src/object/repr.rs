//! Python's `repr` of an [`Object`]: its `Display`.

use std::borrow::Cow;
use std::fmt::{self, Display, Write};

use super::{MAX_DEPTH, Object, Token};

/// Python's `repr`: `None`, `True`, `1`, `0.25`, `1e+16`, `'text'`, `b'\x00'`, `[1, 2]`,
/// `(1,)`, `{0.25: None, 1: '1'}`, and a proxy as Python shows one inside a container. Floats
/// print the shortest digits that read back to the same float, with Python's choice between
/// fixed and exponent notation; strings pick their quote and escapes as Python does.
///
/// ```
/// use multiprocessing_managers::object::Object;
/// let d = Object::dict([
///     (Object::from(1), Object::from("1")),
///     (Object::from("2"), Object::from(2)),
///     (Object::from(0.25), Object::None),
/// ]);
/// assert_eq!(d.to_string(), "{0.25: None, 1: '1', '2': 2}");
/// assert_eq!(Object::tuple([Object::from(1e16)]).to_string(), "(1e+16,)");
/// assert_eq!(Object::from("it's").to_string(), r#""it's""#);
/// ```
impl Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_repr(self, f, 0)
    }
}

fn write_repr(o: &Object, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
    // Python raises RecursionError here; a display cannot fail, so it elides.
    if depth > MAX_DEPTH {
        return f.write_str("...");
    }
    let items = |f: &mut fmt::Formatter<'_>, items: &[Object]| -> fmt::Result {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_repr(item, f, depth + 1)?;
        }
        Ok(())
    };
    match o {
        Object::None => f.write_str("None"),
        Object::Bool(true) => f.write_str("True"),
        Object::Bool(false) => f.write_str("False"),
        Object::Int(i) => write!(f, "{i}"),
        Object::Float(x) => write_float(f, *x),
        Object::Str(s) => write_str(f, s),
        Object::Bytes(b) => write_bytes(f, b),
        Object::List(v) => {
            f.write_char('[')?;
            items(f, v)?;
            f.write_char(']')
        }
        Object::Tuple(v) => {
            f.write_char('(')?;
            items(f, v)?;
            if v.len() == 1 {
                f.write_char(',')?;
            }
            f.write_char(')')
        }
        Object::Dict(map) => {
            f.write_char('{')?;
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_repr(k, f, depth + 1)?;
                f.write_str(": ")?;
                write_repr(v, f, depth + 1)?;
            }
            f.write_char('}')
        }
        Object::Proxy(token) => {
            write!(f, "<{} object, typeid ", token.proxy_type_name())?;
            write_str(f, &token.typeid)?;
            write!(f, " at {:#x}>", token.id)
        }
        Object::Pickled(p) => write!(f, "{p}"),
    }
}

/// Python's `float.__repr__`: the shortest round-trip digits, in fixed notation when the
/// decimal point falls within 16 digits of them, else as `d.ddde±XX`.
fn write_float(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    if x.is_nan() {
        return f.write_str("nan");
    }
    if x.is_infinite() {
        return f.write_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    if x == 0.0 {
        return f.write_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
    }
    let sci = shortest_sci(x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    f.write_str(sign)?;
    // The value is 0.DIGITS x 10^decpt (CPython's `format_float_short`).
    let decpt = exp + 1;
    if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        f.write_str(first)?;
        if !rest.is_empty() {
            write!(f, ".{rest}")?;
        }
        let e = decpt - 1;
        write!(
            f,
            "e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.unsigned_abs()
        )
    } else if decpt <= 0 {
        f.write_str("0.")?;
        for _ in 0..-decpt {
            f.write_char('0')?;
        }
        f.write_str(&digits)
    } else {
        let decpt = decpt.unsigned_abs() as usize;
        if decpt >= digits.len() {
            f.write_str(&digits)?;
            for _ in digits.len()..decpt {
                f.write_char('0')?;
            }
            f.write_str(".0")
        } else {
            let (int, frac) = digits.split_at(decpt);
            write!(f, "{int}.{frac}")
        }
    }
}

/// The shortest digits that read back as `x`, in Rust's `{:e}` form (`-1.2345e-5`); among
/// digit strings that short, the one nearest `x`, as CPython's `repr` picks.
fn shortest_sci(x: f64) -> String {
    // Rust's `{:e}` gives a shortest round-trip string but not always the nearest one
    // (176447156683931.62 where CPython prints ...63): round `x` exactly to that many digits.
    let shortest = format!("{x:e}");
    let digits = shortest
        .split_once('e')
        .map_or(0, |(m, _)| m.bytes().filter(u8::is_ascii_digit).count());
    let nearest = format!("{:.*e}", digits.saturating_sub(1), x);
    // At a power of two the interval that reads back is narrower below `x` than above, so
    // the nearest may miss it where another string as short does not.
    if nearest.parse::<f64>() == Ok(x) {
        nearest
    } else {
        shortest
    }
}

/// Whether Python prints `c` as itself in a `str`'s repr (`str.isprintable`): not a control,
/// format, surrogate, private-use, unassigned or separator character, except the space. Rust's
/// `escape_debug` escapes exactly these after a string's first character.
fn printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let mut buf = [0u8; 8];
    buf[0] = b'a';
    let len = 1 + c.encode_utf8(&mut buf[1..]).len();
    std::str::from_utf8(&buf[..len])
        .map(|s| s.escape_debug().count() == 2)
        .unwrap_or(false)
}

/// Python's `str.__repr__`: single quotes unless the text holds one and no double quote.
fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    f.write_char(quote)?;
    // Runs of characters printed as themselves go out in one write.
    let mut run = 0;
    for (i, c) in s.char_indices() {
        let plain = c != quote && c != '\\' && printable(c);
        if plain {
            continue;
        }
        f.write_str(&s[run..i])?;
        run = i + c.len_utf8();
        match c {
            '\\' => f.write_str("\\\\")?,
            '\t' => f.write_str("\\t")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if u32::from(c) <= 0xff => write!(f, "\\x{:02x}", u32::from(c))?,
            c if u32::from(c) <= 0xffff => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "\\U{:08x}", u32::from(c))?,
        }
    }
    f.write_str(&s[run..])?;
    f.write_char(quote)
}

/// Python's `bytes.__repr__`.
fn write_bytes(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    f.write_char('b')?;
    f.write_char(char::from(quote))?;
    for &byte in b {
        match byte {
            b'\\' => f.write_str("\\\\")?,
            b'\t' => f.write_str("\\t")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b if b == quote => write!(f, "\\{}", char::from(b))?,
            b' '..=b'~' => f.write_char(char::from(byte))?,
            _ => write!(f, "\\x{byte:02x}")?,
        }
    }
    f.write_char(char::from(quote))
}

impl Token {
    /// The name of the proxy class Python's `SyncManager` gives this typeid (`DictProxy` for
    /// `dict`, `AcquirerProxy` for `Lock`, `AutoProxy[Queue]` for `Queue` and unknown types),
    /// as a proxy's `repr` shows it.
    ///
    /// ```
    /// use multiprocessing_managers::object::Token;
    /// let token = Token { typeid: "Lock".into(), address: "/tmp/m".into(), id: 1 };
    /// assert_eq!(token.proxy_type_name(), "AcquirerProxy");
    /// ```
    #[must_use]
    pub fn proxy_type_name(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self.typeid.as_str() {
            "dict" => "DictProxy",
            "list" => "ListProxy",
            "Namespace" => "NamespaceProxy",
            "Lock" | "RLock" | "Semaphore" | "BoundedSemaphore" => "AcquirerProxy",
            "Condition" => "ConditionProxy",
            "Event" => "EventProxy",
            "Barrier" => "BarrierProxy",
            "Value" => "ValueProxy",
            "Array" => "ArrayProxy",
            "Pool" => "PoolProxy",
            "Iterator" => "IteratorProxy",
            other => return Cow::Owned(format!("AutoProxy[{other}]")),
        })
    }
}
