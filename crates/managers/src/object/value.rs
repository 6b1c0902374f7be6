//! Building and reading [`Object`]s by hand: conversions from Rust values, builders for the
//! containers, and accessors.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use super::{Object, ObjectError, Token};

impl Object {
    /// A `list` of the given items.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::list([1, 2]).to_string(), "[1, 2]");
    /// ```
    pub fn list<T: Into<Object>>(items: impl IntoIterator<Item = T>) -> Object {
        Object::List(items.into_iter().map(Into::into).collect())
    }

    /// A `tuple` of the given items.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::tuple(["a"]).to_string(), "('a',)");
    /// assert_eq!(Object::tuple::<Object>([]).to_string(), "()");
    /// ```
    pub fn tuple<T: Into<Object>>(items: impl IntoIterator<Item = T>) -> Object {
        Object::Tuple(items.into_iter().map(Into::into).collect())
    }

    /// A `dict` of the given pairs; a key equal to an earlier one (`1` and `1.0`) keeps the
    /// earlier key and takes the later value, as Python's `dict` does.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// let d = Object::dict([(Object::from(1), "a"), (Object::from(1.0), "b")]);
    /// assert_eq!(d.to_string(), "{1: 'b'}");
    /// ```
    pub fn dict<K: Into<Object>, V: Into<Object>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Object {
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    /// A `bytes`.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::bytes(*b"a\x00").to_string(), r"b'a\x00'");
    /// ```
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Object {
        Object::Bytes(bytes.into())
    }

    /// Whether this is `None`.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert!(Object::default().is_none());
    /// ```
    #[must_use]
    pub fn is_none(&self) -> bool {
        matches!(self, Object::None)
    }

    /// The value of a `bool`.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::from(true).as_bool(), Some(true));
    /// assert_eq!(Object::from(1).as_bool(), None);
    /// ```
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Object::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value of an `int` (not of a `bool`).
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::from(u64::MAX).as_int(), Some(u64::MAX.into()));
    /// assert_eq!(Object::from(1.0).as_int(), None);
    /// ```
    #[must_use]
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Object::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value of a `float`, or of an `int` as Python's `float(i)` gives it.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::from(0.5).as_float(), Some(0.5));
    /// assert_eq!(Object::from(2).as_float(), Some(2.0));
    /// ```
    #[must_use]
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Object::Float(f) => Some(*f),
            #[expect(clippy::cast_precision_loss, reason = "as Python's float(int) rounds")]
            Object::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The text of a `str`.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::from("hi").as_str(), Some("hi"));
    /// ```
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Object::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a `bytes`.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::bytes(vec![1, 2]).as_bytes(), Some(&[1u8, 2][..]));
    /// ```
    #[must_use]
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Object::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The items of a `list`.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::list([1]).as_list(), Some(&[Object::from(1)][..]));
    /// assert_eq!(Object::tuple([1]).as_list(), None);
    /// ```
    #[must_use]
    pub fn as_list(&self) -> Option<&[Object]> {
        match self {
            Object::List(v) => Some(v),
            _ => None,
        }
    }

    /// The items of a `list`, to change in place.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// let mut l = Object::list([1]);
    /// l.as_list_mut().unwrap().push("two".into());
    /// assert_eq!(l.to_string(), "[1, 'two']");
    /// ```
    #[must_use]
    pub fn as_list_mut(&mut self) -> Option<&mut Vec<Object>> {
        match self {
            Object::List(v) => Some(v),
            _ => None,
        }
    }

    /// The items of a `tuple`.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::tuple([1]).as_tuple(), Some(&[Object::from(1)][..]));
    /// ```
    #[must_use]
    pub fn as_tuple(&self) -> Option<&[Object]> {
        match self {
            Object::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// The entries of a `dict`, in key order.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// let d = Object::dict([("a", 1)]);
    /// assert_eq!(d.as_dict().unwrap()[&Object::from("a")], Object::from(1));
    /// ```
    #[must_use]
    pub fn as_dict(&self) -> Option<&BTreeMap<Object, Object>> {
        match self {
            Object::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The entries of a `dict`, to change in place.
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// let mut d = Object::dict::<Object, Object>([]);
    /// d.as_dict_mut().unwrap().insert(1.into(), "1".into());
    /// assert_eq!(d.to_string(), "{1: '1'}");
    /// ```
    #[must_use]
    pub fn as_dict_mut(&mut self) -> Option<&mut BTreeMap<Object, Object>> {
        match self {
            Object::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The token of a proxy reference.
    ///
    /// ```
    /// use multiprocessing_managers::object::{Object, Token};
    /// let token = Token { typeid: "list".into(), address: "/tmp/m".into(), id: 1 };
    /// assert_eq!(Object::from(token.clone()).as_token(), Some(&token));
    /// ```
    #[must_use]
    pub fn as_token(&self) -> Option<&Token> {
        match self {
            Object::Proxy(t) => Some(t),
            _ => None,
        }
    }

    /// Python's `type(x).__name__`: `NoneType`, `bool`, `int`, `float`, `str`, `bytes`,
    /// `list`, `tuple`, `dict`, or the proxy's class ([`Token::proxy_type_name`]).
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::None.type_name(), "NoneType");
    /// assert_eq!(Object::from(0.5).type_name(), "float");
    /// ```
    #[must_use]
    pub fn type_name(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Object::None => "NoneType",
            Object::Bool(_) => "bool",
            Object::Int(_) => "int",
            Object::Float(_) => "float",
            Object::Str(_) => "str",
            Object::Bytes(_) => "bytes",
            Object::List(_) => "list",
            Object::Tuple(_) => "tuple",
            Object::Dict(_) => "dict",
            Object::Proxy(t) => return t.proxy_type_name(),
            Object::Pickled(p) => return Cow::Owned(p.type_name()),
        })
    }
}

impl Object {
    /// Python's `<` between two values, as `sorted()` and `list.sort()` use it: numbers
    /// (bool, int, float) by value, `str` with `str`, `bytes` with `bytes`, and lists with
    /// lists and tuples with tuples element by element. Anything else (`None`, a dict, a `str`
    /// against an `int`) is [`ObjectError::Unorderable`], Python's `TypeError`; `Ord` instead
    /// orders every pair, for dict keys. NaN sorts after every number rather than comparing
    /// false both ways.
    ///
    /// # Errors
    /// [`ObjectError::Unorderable`] for values Python cannot order.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::from(1).python_cmp(&Object::from(0.5)).unwrap(), Ordering::Greater);
    /// assert_eq!(Object::list([1, 2]).python_cmp(&Object::list([1])).unwrap(), Ordering::Greater);
    /// let err = Object::from("a").python_cmp(&Object::from(1)).unwrap_err();
    /// assert_eq!(err.to_string(), "'<' not supported between instances of 'str' and 'int'");
    /// ```
    pub fn python_cmp(&self, other: &Object) -> Result<Ordering, ObjectError> {
        let number = |o: &Object| matches!(o, Object::Bool(_) | Object::Int(_) | Object::Float(_));
        match (self, other) {
            (a, b) if number(a) && number(b) => Ok(a.cmp(b)),
            (Object::Str(a), Object::Str(b)) => Ok(a.cmp(b)),
            (Object::Bytes(a), Object::Bytes(b)) => Ok(a.cmp(b)),
            (Object::List(a), Object::List(b)) | (Object::Tuple(a), Object::Tuple(b)) => {
                // Python skips equal elements, then orders the first pair that differs.
                for (x, y) in a.iter().zip(b) {
                    if x != y {
                        return x.python_cmp(y);
                    }
                }
                Ok(a.len().cmp(&b.len()))
            }
            (a, b) => Err(ObjectError::Unorderable {
                left: a.type_name().into_owned(),
                right: b.type_name().into_owned(),
            }),
        }
    }

    /// Python's `str(x)`, as `print(x)` shows it: a `str` as its text, anything else as its
    /// `repr` (the [`Display`](fmt::Display) of `Object`).
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// assert_eq!(Object::from("hello").display_str().to_string(), "hello");
    /// assert_eq!(Object::list(["hello"]).display_str().to_string(), "['hello']");
    /// ```
    #[doc(alias = "str")]
    #[must_use]
    pub fn display_str(&self) -> DisplayStr<'_> {
        DisplayStr(self)
    }
}

/// Python's `str(x)` of an [`Object`]: see [`Object::display_str`].
#[derive(Debug, Clone, Copy)]
pub struct DisplayStr<'a>(&'a Object);

impl fmt::Display for DisplayStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Object::Str(s) => f.write_str(s),
            other => fmt::Display::fmt(other, f),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        /// An `int`.
        impl From<$t> for Object {
            fn from(v: $t) -> Object {
                Object::Int(v as i128)
            }
        }
    )*};
}

// Every one of these fits in an i128, so the `as` is exact.
from_int!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, usize);

/// A `bool`.
impl From<bool> for Object {
    fn from(v: bool) -> Object {
        Object::Bool(v)
    }
}

/// A `float`.
impl From<f64> for Object {
    fn from(v: f64) -> Object {
        Object::Float(v)
    }
}

/// A `float`.
impl From<f32> for Object {
    fn from(v: f32) -> Object {
        Object::Float(v.into())
    }
}

/// A `str`.
impl From<&str> for Object {
    fn from(v: &str) -> Object {
        Object::Str(v.to_owned())
    }
}

/// A `str`.
impl From<String> for Object {
    fn from(v: String) -> Object {
        Object::Str(v)
    }
}

/// A `str` of one character.
impl From<char> for Object {
    fn from(v: char) -> Object {
        Object::Str(v.to_string())
    }
}

/// A `bytes`.
impl From<&[u8]> for Object {
    fn from(v: &[u8]) -> Object {
        Object::Bytes(v.to_vec())
    }
}

/// `None`.
impl From<()> for Object {
    fn from((): ()) -> Object {
        Object::None
    }
}

/// The value, or `None`.
impl<T: Into<Object>> From<Option<T>> for Object {
    fn from(v: Option<T>) -> Object {
        v.map_or(Object::None, Into::into)
    }
}

/// A `list`.
impl From<Vec<Object>> for Object {
    fn from(v: Vec<Object>) -> Object {
        Object::List(v)
    }
}

/// A `dict`.
impl From<BTreeMap<Object, Object>> for Object {
    fn from(v: BTreeMap<Object, Object>) -> Object {
        Object::Dict(v)
    }
}

/// A reference to the shared object the token names.
impl From<Token> for Object {
    fn from(v: Token) -> Object {
        Object::Proxy(v)
    }
}

/// A `list`.
///
/// ```
/// use multiprocessing_managers::object::Object;
/// let l: Object = (1..=3).map(Object::from).collect();
/// assert_eq!(l.to_string(), "[1, 2, 3]");
/// ```
impl FromIterator<Object> for Object {
    fn from_iter<I: IntoIterator<Item = Object>>(iter: I) -> Object {
        Object::List(iter.into_iter().collect())
    }
}

/// A `dict`; a key equal to an earlier one keeps the earlier key and takes the later value.
///
/// ```
/// use multiprocessing_managers::object::Object;
/// let d: Object = [("b", 2), ("a", 1)].map(|(k, v)| (k.into(), v.into())).into_iter().collect();
/// assert_eq!(d.to_string(), "{'a': 1, 'b': 2}");
/// ```
impl FromIterator<(Object, Object)> for Object {
    fn from_iter<I: IntoIterator<Item = (Object, Object)>>(iter: I) -> Object {
        // Not `BTreeMap::from_iter`, which keeps the last of equal keys: Python keeps the first.
        let mut map = BTreeMap::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        Object::Dict(map)
    }
}
