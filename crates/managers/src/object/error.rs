//! [`ObjectError`]: why a value could not become an [`Object`](super::Object) or come back out.

use std::fmt::Display;

use multiprocessing_core::ErrorKind;

/// Why a value could not be converted to or from an [`Object`](super::Object), or its wire
/// bytes could not be read.
///
/// Every variant is [`ErrorKind::Codec`] (Python's `PicklingError` / `UnpicklingError`); the
/// variants say what went wrong, and the messages name what was expected and what was found.
///
/// ```
/// use multiprocessing_managers::object::{Object, ObjectError, from_object};
/// let err = from_object::<u8>(Object::from("text")).unwrap_err();
/// assert!(matches!(err, ObjectError::InvalidType { .. }));
/// assert_eq!(err.to_string(), r#"invalid type: expected u8, found string "text""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The value is of another kind than the type asked for (a `str` where an integer was
    /// expected): Python's `TypeError`.
    #[error("invalid type: expected {expected}, found {found}")]
    #[doc(alias = "TypeError")]
    InvalidType {
        /// What the type asked for.
        expected: String,
        /// What the value is.
        found: String,
    },
    /// The value is of the right kind but outside what the type accepts (`300` for a `u8`, an
    /// unknown enum variant, an integer beyond `i128`).
    #[error("invalid value: expected {expected}, found {found}")]
    #[doc(alias = "ValueError")]
    InvalidValue {
        /// What the type accepts.
        expected: String,
        /// What the value is.
        found: String,
    },
    /// A sequence or map of the wrong length (a 3-element list read as a pair).
    #[error("invalid length {len}: expected {expected}")]
    InvalidLength {
        /// The length found.
        len: usize,
        /// What the type asked for.
        expected: String,
    },
    /// The value nests containers deeper than [`MAX_DEPTH`](super::MAX_DEPTH) levels; refused
    /// so that hostile input cannot overflow the stack.
    #[error("value nests deeper than {limit} levels")]
    TooDeep {
        /// The limit, [`MAX_DEPTH`](super::MAX_DEPTH).
        limit: usize,
    },
    /// Wire bytes ([`Object::from_wire`](super::Object::from_wire)) that do not encode an
    /// object: truncated, malformed, or with bytes left over.
    #[error("malformed object bytes: {0}")]
    Wire(String),
    /// Two values Python cannot order ([`Object::python_cmp`](super::Object::python_cmp)):
    /// Python's `TypeError` from `<`, as `sort()` of a mixed list raises it.
    #[error("'<' not supported between instances of '{left}' and '{right}'")]
    Unorderable {
        /// The left value's Python type name.
        left: String,
        /// The right value's Python type name.
        right: String,
    },
    /// Any other failure, with its message (a missing struct field, a `Serialize` impl's own
    /// error).
    #[error("{0}")]
    Message(String),
}

impl ObjectError {
    /// Why the conversion failed, for matching across the project's errors: always
    /// [`ErrorKind::Codec`].
    ///
    /// ```
    /// use multiprocessing_core::ErrorKind;
    /// use multiprocessing_managers::object::{Object, from_object};
    /// let err = from_object::<bool>(Object::None).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Codec);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Codec
    }

    pub(crate) fn too_deep() -> Self {
        ObjectError::TooDeep {
            limit: super::MAX_DEPTH,
        }
    }
}

impl serde::ser::Error for ObjectError {
    fn custom<T: Display>(msg: T) -> Self {
        ObjectError::Message(msg.to_string())
    }
}

impl serde::de::Error for ObjectError {
    fn custom<T: Display>(msg: T) -> Self {
        ObjectError::Message(msg.to_string())
    }

    fn invalid_type(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        ObjectError::InvalidType {
            expected: exp.to_string(),
            // The tree's only unit is Python's None.
            found: match unexp {
                serde::de::Unexpected::Unit => "None".to_owned(),
                other => other.to_string(),
            },
        }
    }

    fn invalid_value(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        ObjectError::InvalidValue {
            expected: exp.to_string(),
            found: unexp.to_string(),
        }
    }

    fn invalid_length(len: usize, exp: &dyn serde::de::Expected) -> Self {
        ObjectError::InvalidLength {
            len,
            expected: exp.to_string(),
        }
    }
}

impl From<ObjectError> for multiprocessing_core::Error {
    fn from(e: ObjectError) -> Self {
        multiprocessing_core::Error::Codec(e.to_string())
    }
}
