//! Python's `str % args` and `bytes % args` (printf-style formatting), CPython's
//! `PyUnicode_Format` and `_PyBytes_FormatEx`: conversions `s r a c d i u o x X e E f F g G %`
//! (and `b` for bytes), flags `- + space # 0`, width and precision (`*` from the arguments),
//! and `%(key)s` from a mapping. A `bytes` format runs as text whose characters are its bytes
//! (U+0000 to U+00FF), so one engine serves both.

use super::{getitem, int, ty};
use crate::object::Object;
use crate::protocol::{Exception, Raised};
use crate::types::type_error;

const LJUST: u8 = 1;
const SIGN: u8 = 2;
const BLANK: u8 = 4;
const ALT: u8 = 8;
const ZERO: u8 = 16;

/// The arguments as CPython walks them: a tuple's items one by one, or one value used once.
struct Args {
    items: Vec<Object>,
    /// Index of the next item; for a single value, `None` once used.
    next: Option<usize>,
    single: bool,
}

impl Args {
    fn next(&mut self) -> Result<Object, Raised> {
        let missing = || type_error("not enough arguments for format string");
        let i = self.next.ok_or_else(missing)?;
        let item = self.items.get(i).cloned().ok_or_else(missing)?;
        self.next = if self.single { None } else { Some(i + 1) };
        Ok(item)
    }

    /// Whether arguments are left over (a single value never used counts).
    fn left_over(&self) -> bool {
        self.next.is_some_and(|i| i < self.items.len())
    }
}

/// `fmt % args` for a `str` format.
pub(super) fn format_str(fmt: &str, args: Object) -> Result<Object, Raised> {
    format(fmt.chars().collect(), args, false).map(Object::Str)
}

/// `fmt % args` for a `bytes` format.
pub(super) fn format_bytes(fmt: &[u8], args: Object) -> Result<Object, Raised> {
    let text = format(fmt.iter().copied().map(char::from).collect(), args, true)?;
    // Every character is a byte's: the format's, or one this engine wrote from bytes or ASCII.
    Ok(Object::Bytes(
        text.chars()
            .map(|c| u8::try_from(c).unwrap_or(b'?'))
            .collect(),
    ))
}

fn format(chars: Vec<char>, args: Object, bytes: bool) -> Result<String, Raised> {
    // Python treats anything subscriptable but a tuple or the format's own type as the mapping
    // for `%(key)s`.
    let mapping = match &args {
        Object::Dict(_) | Object::List(_) => true,
        Object::Bytes(_) => !bytes,
        _ => false,
    }
    .then(|| args.clone());
    let mut args = match args {
        Object::Tuple(items) => Args {
            items,
            next: Some(0),
            single: false,
        },
        other => Args {
            items: vec![other],
            next: Some(0),
            single: true,
        },
    };
    let mut out = String::with_capacity(chars.len());
    let mut at = 0;
    let incomplete = || Raised::new(Exception::ValueError, "incomplete format");
    while at < chars.len() {
        if chars[at] != '%' {
            out.push(chars[at]);
            at += 1;
            continue;
        }
        at += 1;
        let mut keyed = None;
        if chars.get(at) == Some(&'(') {
            let Some(map) = &mapping else {
                return Err(type_error("format requires a mapping"));
            };
            // The key runs to the matching parenthesis.
            let start = at + 1;
            let mut depth = 1;
            at += 1;
            while depth > 0 {
                match chars.get(at) {
                    None => {
                        return Err(Raised::new(Exception::ValueError, "incomplete format key"));
                    }
                    Some('(') => depth += 1,
                    Some(')') => depth -= 1,
                    Some(_) => {}
                }
                at += 1;
            }
            let key: String = chars[start..at - 1].iter().collect();
            let key = if bytes {
                Object::Bytes(
                    key.chars()
                        .map(|c| u8::try_from(c).unwrap_or(b'?'))
                        .collect(),
                )
            } else {
                Object::Str(key)
            };
            keyed = Some(getitem(vec![map.clone(), key])?);
            // After a key, no positional argument is left.
            args.next = None;
        }
        let mut flags = 0;
        while let Some(c) = chars.get(at) {
            flags |= match c {
                '-' => LJUST,
                '+' => SIGN,
                ' ' => BLANK,
                '#' => ALT,
                '0' => ZERO,
                _ => break,
            };
            at += 1;
        }
        let spec_start = at;
        let width = if chars.get(at) == Some(&'*') {
            at += 1;
            let w = int(&args.next()?).ok_or_else(|| type_error("* wants int"))?;
            let w = isize::try_from(w).map_err(|_| {
                Raised::new(
                    Exception::OverflowError,
                    "Python int too large to convert to C ssize_t",
                )
            })?;
            if w < 0 {
                flags |= LJUST;
            }
            w.unsigned_abs()
        } else {
            digits(&chars, &mut at, "width", isize::MAX.unsigned_abs())?
        };
        let mut precision = None;
        if chars.get(at) == Some(&'.') {
            at += 1;
            precision = Some(if chars.get(at) == Some(&'*') {
                at += 1;
                let p = int(&args.next()?).ok_or_else(|| type_error("* wants int"))?;
                let p = i32::try_from(p).map_err(|_| {
                    Raised::new(
                        Exception::OverflowError,
                        "Python int too large to convert to C int",
                    )
                })?;
                p.max(0).unsigned_abs() as usize
            } else {
                digits(
                    &chars,
                    &mut at,
                    "precision",
                    i32::MAX.unsigned_abs() as usize,
                )?
            });
        }
        // Python would build a text this long; a manager's reply should not be.
        if width.max(precision.unwrap_or(0)) > super::MAX_REPEAT {
            return Err(Raised::new(
                Exception::OverflowError,
                format!("a width or precision over {} is refused", super::MAX_REPEAT),
            ));
        }
        let Some(&c) = chars.get(at) else {
            return Err(incomplete());
        };
        let index = at;
        at += 1;
        // A bare `%%` is a percent sign; with a key, flags, width or precision, `%` is a
        // conversion Python does not know (after taking its argument).
        if c == '%' && keyed.is_none() && flags == 0 && index == spec_start {
            out.push('%');
            continue;
        }
        let value = match keyed.take() {
            Some(v) => v,
            None => args.next()?,
        };
        let piece = convert(c, index, &value, flags, precision, bytes)?;
        pad(&mut out, &piece, width, flags);
    }
    if mapping.is_none() && args.left_over() {
        return Err(type_error(format!(
            "not all arguments converted during {} formatting",
            if bytes { "bytes" } else { "string" }
        )));
    }
    Ok(out)
}

fn too_big(what: &str) -> Raised {
    Raised::new(Exception::ValueError, format!("{what} too big"))
}

/// A run of decimal digits at `at` (a width or precision), at most `max`.
fn digits(chars: &[char], at: &mut usize, what: &str, max: usize) -> Result<usize, Raised> {
    let mut n = 0usize;
    while let Some(d) = chars.get(*at).and_then(|c| c.to_digit(10)) {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(d as usize))
            .filter(|n| *n <= max)
            .ok_or_else(|| too_big(what))?;
        *at += 1;
    }
    Ok(n)
}

/// One converted value: what precedes any zero padding (a number's sign and prefix), and the
/// rest.
struct Piece {
    head: String,
    body: String,
    /// Whether `0` pads it with zeros (a number), else with spaces.
    zeros: bool,
}

impl Piece {
    fn text(body: String) -> Piece {
        Piece {
            head: String::new(),
            body,
            zeros: false,
        }
    }
}

fn convert(
    c: char,
    index: usize,
    v: &Object,
    flags: u8,
    precision: Option<usize>,
    bytes: bool,
) -> Result<Piece, Raised> {
    let truncate = |s: String| match precision {
        Some(p) => s.chars().take(p).collect(),
        None => s,
    };
    Ok(match c {
        's' | 'b' if bytes => match v {
            Object::Bytes(b) => Piece::text(truncate(b.iter().copied().map(char::from).collect())),
            v => {
                return Err(type_error(format!(
                    "%b requires a bytes-like object, or an object that implements __bytes__, not '{}'",
                    ty(v)
                )));
            }
        },
        'r' | 'a' if bytes => Piece::text(truncate(ascii(&v.to_string()))),
        'c' if bytes => Piece::text(byte(v)?.to_string()),
        's' => Piece::text(truncate(v.display_str().to_string())),
        'r' => Piece::text(truncate(v.to_string())),
        'a' => Piece::text(truncate(ascii(&v.to_string()))),
        'c' => Piece::text(character(v)?.to_string()),
        'd' | 'i' | 'u' => {
            let n = match v {
                Object::Float(f) => float_to_int(*f)?,
                v => int(v).ok_or_else(|| {
                    // A bytes format names `%i` as `%d`.
                    type_error(format!(
                        "%{} format: a real number is required, not {}",
                        if bytes && c == 'i' { 'd' } else { c },
                        ty(v)
                    ))
                })?,
            };
            integer(n, c, flags, precision)
        }
        'o' | 'x' | 'X' => {
            let n = int(v).ok_or_else(|| {
                type_error(format!(
                    "%{c} format: an integer is required, not {}",
                    ty(v)
                ))
            })?;
            integer(n, c, flags, precision)
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let x = match v {
                Object::Float(f) => *f,
                #[expect(clippy::cast_precision_loss, reason = "Python's float(int)")]
                v => int(v).ok_or_else(|| {
                    type_error(if bytes {
                        format!("float argument required, not {}", ty(v))
                    } else {
                        format!("must be real number, not {}", ty(v))
                    })
                })? as f64,
            };
            float(x, c, flags, precision.unwrap_or(6))
        }
        other if bytes && !other.is_ascii() => {
            // CPython's own (odd) error for a non-ASCII byte after `%`.
            return Err(Raised::new(
                Exception::OverflowError,
                "character argument not in range(0x110000)",
            ));
        }
        other => {
            return Err(Raised::new(
                Exception::ValueError,
                format!(
                    "unsupported format character '{}' (0x{:x}) at index {index}",
                    if other.is_ascii() { other } else { '?' },
                    u32::from(other)
                ),
            ));
        }
    })
}

/// Python's `int(f)` for `%d`: truncation toward zero.
fn float_to_int(f: f64) -> Result<i128, Raised> {
    if f.is_nan() {
        return Err(Raised::new(
            Exception::ValueError,
            "cannot convert float NaN to integer",
        ));
    }
    if f.is_infinite() {
        return Err(Raised::new(
            Exception::OverflowError,
            "cannot convert float infinity to integer",
        ));
    }
    let t = f.trunc();
    if t.abs() >= 2f64.powi(127) {
        return Err(super::overflow());
    }
    #[expect(clippy::cast_possible_truncation, reason = "integral and within range")]
    Ok(t as i128)
}

/// `%c`: an int's character or a one-character str.
fn character(v: &Object) -> Result<char, Raised> {
    match v {
        Object::Str(s) if s.chars().count() == 1 => Ok(s.chars().next().unwrap_or_default()),
        v => match int(v) {
            Some(i) => u32::try_from(i)
                .ok()
                .filter(|i| *i < 0x11_0000)
                .map(|i| char::from_u32(i).unwrap_or(char::REPLACEMENT_CHARACTER))
                .ok_or_else(|| {
                    Raised::new(Exception::OverflowError, "%c arg not in range(0x110000)")
                }),
            None => Err(type_error("%c requires int or char")),
        },
    }
}

/// `%c` of a bytes format: an int's byte or a one-byte bytes, as a character U+0000 to U+00FF.
fn byte(v: &Object) -> Result<char, Raised> {
    match v {
        Object::Bytes(b) if b.len() == 1 => Ok(char::from(b[0])),
        v => match int(v) {
            Some(i) => u8::try_from(i)
                .map(char::from)
                .map_err(|_| Raised::new(Exception::OverflowError, "%c arg not in range(256)")),
            None => Err(type_error(
                "%c requires an integer in range(256) or a single byte",
            )),
        },
    }
}

/// Python's `ascii()` of a repr: non-ASCII characters escaped.
fn ascii(repr: &str) -> String {
    let mut out = String::with_capacity(repr.len());
    for c in repr.chars() {
        match u32::from(c) {
            0..=0x7f => out.push(c),
            n @ 0x80..=0xff => out.push_str(&format!("\\x{n:02x}")),
            n @ 0x100..=0xffff => out.push_str(&format!("\\u{n:04x}")),
            n => out.push_str(&format!("\\U{n:08x}")),
        }
    }
    out
}

/// The sign a number shows: `-`, or `+`/space as the flags ask.
fn sign(negative: bool, flags: u8) -> &'static str {
    if negative {
        "-"
    } else if flags & SIGN != 0 {
        "+"
    } else if flags & BLANK != 0 {
        " "
    } else {
        ""
    }
}

/// An integer conversion: sign, `#` prefix, digits (at least `precision` of them).
fn integer(n: i128, c: char, flags: u8, precision: Option<usize>) -> Piece {
    let m = n.unsigned_abs();
    let mut digits = match c {
        'o' => format!("{m:o}"),
        'x' => format!("{m:x}"),
        'X' => format!("{m:X}"),
        _ => m.to_string(),
    };
    if let Some(p) = precision
        && digits.len() < p
    {
        digits.insert_str(0, &"0".repeat(p - digits.len()));
    }
    let prefix = match (c, flags & ALT != 0) {
        ('o', true) => "0o",
        ('x', true) => "0x",
        ('X', true) => "0X",
        _ => "",
    };
    Piece {
        head: format!("{}{prefix}", sign(n < 0, flags)),
        body: digits,
        zeros: true,
    }
}

/// A float conversion, as C's `printf` (and Python's `%`) writes it.
fn float(x: f64, c: char, flags: u8, precision: usize) -> Piece {
    let upper = c.is_ascii_uppercase();
    let negative = x.is_sign_negative() && !x.is_nan();
    let sign = sign(negative, flags);
    if !x.is_finite() {
        let s = if x.is_nan() { "nan" } else { "inf" };
        let s = if upper {
            s.to_uppercase()
        } else {
            s.to_owned()
        };
        return Piece {
            head: sign.to_owned(),
            body: s,
            zeros: true,
        };
    }
    let a = x.abs();
    let alt = flags & ALT != 0;
    let body = match c.to_ascii_lowercase() {
        'f' => {
            let mut s = format!("{a:.precision$}");
            if alt && precision == 0 {
                s.push('.');
            }
            s
        }
        'e' => exponent(a, precision, alt),
        _ => {
            // `%g`: `%e` when the exponent is below -4 or at least the precision, else `%f`,
            // trailing zeros dropped unless `#`.
            let p = precision.max(1);
            let e = exponent(a, p - 1, alt);
            let x_exp: i64 = e
                .rsplit_once('e')
                .and_then(|(_, x)| x.parse().ok())
                .unwrap_or(0);
            let p_i = i64::try_from(p).unwrap_or(i64::MAX);
            let s = if (-4..p_i).contains(&x_exp) {
                let decimals = usize::try_from(p_i - 1 - x_exp).unwrap_or(0);
                let mut s = format!("{a:.decimals$}");
                if alt && decimals == 0 {
                    s.push('.');
                }
                s
            } else {
                e
            };
            if alt { s } else { strip_zeros(&s) }
        }
    };
    Piece {
        head: sign.to_owned(),
        body: if upper { body.to_uppercase() } else { body },
        zeros: true,
    }
}

/// `d.ddde±XX` with `precision` digits after the point.
fn exponent(a: f64, precision: usize, alt: bool) -> String {
    let s = format!("{a:.precision$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let point = if alt && precision == 0 { "." } else { "" };
    format!(
        "{mantissa}{point}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    )
}

/// `%g` without `#`: no trailing zeros after the point, and no bare point.
fn strip_zeros(s: &str) -> String {
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    match exp {
        Some(e) => format!("{mantissa}e{e}"),
        None => mantissa.to_owned(),
    }
}

/// Pads a piece to `width`: spaces on the left (right with `-`), or for a number with `0`,
/// zeros after its sign and prefix.
fn pad(out: &mut String, piece: &Piece, width: usize, flags: u8) {
    let (head, tail) = (piece.head.as_str(), piece.body.as_str());
    let len = head.chars().count() + tail.chars().count();
    let fill = width.saturating_sub(len);
    if flags & LJUST != 0 {
        out.push_str(head);
        out.push_str(tail);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if piece.zeros && flags & ZERO != 0 {
        out.push_str(head);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(tail);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(head);
        out.push_str(tail);
    }
}
