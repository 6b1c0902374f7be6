//! The one codec every crate uses for messages between our own processes: `postcard`.
//!
//! ```
//! use multiprocessing_core::codec;
//! let bytes = codec::encode(&("hello", 42u32)).unwrap();
//! let back: (String, u32) = codec::decode(&bytes).unwrap();
//! assert_eq!(back, ("hello".to_string(), 42));
//! ```
//!
//! Decoding is bounded: a value nested deeper than [`MAX_DEPTH`] levels is an [`Error::Codec`],
//! never a stack overflow, whatever the sender wrote.
//!
//! ```
//! use multiprocessing_core::{Error, codec};
//! #[derive(serde::Deserialize)]
//! enum Nested { Leaf, Node(Box<Nested>) }
//! // A hostile sender's "Node(Node(Node(...)))" a million levels deep: tag 1, a million times.
//! let mut bytes = vec![1u8; 1_000_000];
//! bytes.push(0);
//! assert!(matches!(codec::decode::<Nested>(&bytes), Err(Error::Codec(_))));
//! ```

use std::cell::{Cell, RefCell};
use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

thread_local! {
    /// postcard's error type drops custom messages; they wait here until [`map_err`] reads them.
    /// Every `custom` error made while encoding or decoding is recorded (see [`record`]), with
    /// whether it is a descriptor-transfer failure ([`Error::Transfer`]) or a codec one.
    static CUSTOM: RefCell<Option<(String, Custom)>> = const { RefCell::new(None) };
}

/// What a recorded custom message becomes.
enum Custom {
    Codec,
    Transfer,
    /// A refused code reference: [`Error::CodeRef`], its reason kept whole.
    CodeRef(crate::code::CodeRefError),
}

fn set_custom(msg: String, kind: Custom) {
    CUSTOM.with(|c| *c.borrow_mut() = Some((msg, kind)));
}

/// Makes a serialization error whose message survives postcard.
///
/// [`encode`] keeps the message of a plain `Error::custom` too; this also keeps it for an
/// encoder that calls postcard directly.
pub fn ser_error<E: serde::ser::Error>(msg: impl Display) -> E {
    let msg = msg.to_string();
    let e = E::custom(&msg);
    set_custom(msg, Custom::Codec);
    e
}

/// Makes a deserialization error whose message survives postcard.
///
/// [`decode`] keeps the message of a plain `Error::custom` too; this also keeps it for a
/// decoder that calls postcard directly.
pub fn de_error<E: serde::de::Error>(msg: impl Display) -> E {
    let msg = msg.to_string();
    let e = E::custom(&msg);
    set_custom(msg, Custom::Codec);
    e
}

/// A deserialization error that [`decode`] reports as [`Error::CodeRef`], so a refused code
/// reference stays matchable by kind ([`ErrorKind::CodeRefused`](crate::ErrorKind::CodeRefused)).
pub(crate) fn code_ref_de_error<E: serde::de::Error>(refused: crate::code::CodeRefError) -> E {
    let e = E::custom(&refused);
    set_custom(refused.to_string(), Custom::CodeRef(refused));
    e
}

/// A serialization error that [`encode`] reports as [`Error::Transfer`].
pub(crate) fn transfer_ser_error<E: serde::ser::Error>(msg: impl Display) -> E {
    let msg = msg.to_string();
    // Made first: the encoder's own error type records the message as a codec error.
    let e = E::custom(&msg);
    set_custom(msg, Custom::Transfer);
    e
}

/// A deserialization error that [`decode`] reports as [`Error::Transfer`].
pub(crate) fn transfer_de_error<E: serde::de::Error>(msg: impl Display) -> E {
    let msg = msg.to_string();
    let e = E::custom(&msg);
    set_custom(msg, Custom::Transfer);
    e
}

fn map_err(e: postcard::Error) -> Error {
    let custom = CUSTOM.with(|c| c.borrow_mut().take());
    match (e, custom) {
        (
            postcard::Error::SerdeSerCustom | postcard::Error::SerdeDeCustom,
            Some((msg, Custom::Transfer)),
        ) => Error::Transfer(msg),
        (
            postcard::Error::SerdeSerCustom | postcard::Error::SerdeDeCustom,
            Some((msg, Custom::Codec)),
        ) => Error::Codec(msg),
        (
            postcard::Error::SerdeSerCustom | postcard::Error::SerdeDeCustom,
            Some((_, Custom::CodeRef(refused))),
        ) => Error::CodeRef(refused),
        (e, _) => Error::Codec(e.to_string()),
    }
}

/// Encodes a value into a fresh buffer.
///
/// A `Serialize` impl's own message (`S::Error::custom(msg)`) is kept in the [`Error::Codec`]:
///
/// ```
/// use multiprocessing_core::{Error, codec};
/// struct Refuses;
/// impl serde::Serialize for Refuses {
///     fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
///         Err(serde::ser::Error::custom("not today"))
///     }
/// }
/// assert!(matches!(codec::encode(&Refuses), Err(Error::Codec(m)) if m == "not today"));
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Encodes a value, appending to `out` (so a caller can reserve room for a frame header first);
/// on an error `out` is left as it was.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    CUSTOM.with(|c| c.borrow_mut().take());
    let start = out.len();
    postcard::serialize_with_flavor(&record::Value(value), Append { out: &mut *out }).map_err(|e| {
        out.truncate(start);
        map_err(e)
    })
}

/// The flavor of [`encode_into`]: appends to a vector. postcard hands a number's varint (one to
/// ten bytes) to `try_extend` as a slice; copying the short ones with a fixed length keeps a
/// sequence of numbers from calling `memcpy` once per number.
struct Append<'a> {
    out: &'a mut Vec<u8>,
}

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.out.push(byte);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        match *data {
            [a] => self.out.push(a),
            [a, b] => self.out.extend_from_slice(&[a, b]),
            [a, b, c] => self.out.extend_from_slice(&[a, b, c]),
            [a, b, c, d] => self.out.extend_from_slice(&[a, b, c, d]),
            [a, b, c, d, e] => self.out.extend_from_slice(&[a, b, c, d, e]),
            _ => self.out.extend_from_slice(data),
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}
/// Where [`encode_in_place`] put an encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Placed {
    /// In the first `n` bytes of the slice.
    InPlace(usize),
    /// In the vector, whole: the slice was too short.
    Spilled,
}

/// Encodes a value straight into `dest` when it fits there, else into `spill` (cleared
/// first), in one pass: a writer that owns a region of shared memory encodes into it without
/// an intermediate copy, and the value's `Serialize` runs once whichever way it went.
///
/// ```
/// use multiprocessing_core::codec::{self, Placed};
/// let (mut dest, mut spill) = ([0u8; 8], Vec::new());
/// assert_eq!(codec::encode_in_place(&7u32, &mut dest, &mut spill).unwrap(), Placed::InPlace(1));
/// let long = codec::encode_in_place(&"far too long", &mut dest, &mut spill).unwrap();
/// assert_eq!(long, Placed::Spilled);
/// assert_eq!(codec::decode::<String>(&spill).unwrap(), "far too long");
/// ```
pub fn encode_in_place<T: Serialize + ?Sized>(
    value: &T,
    dest: &mut [u8],
    spill: &mut Vec<u8>,
) -> Result<Placed> {
    CUSTOM.with(|c| c.borrow_mut().take());
    let flavor = InPlace {
        dest,
        len: 0,
        spill,
        spilled: false,
    };
    postcard::serialize_with_flavor(&record::Value(value), flavor).map_err(map_err)
}

/// The flavor of [`encode_in_place`]: a slice, then a vector once the slice is full.
struct InPlace<'a> {
    dest: &'a mut [u8],
    len: usize,
    spill: &'a mut Vec<u8>,
    spilled: bool,
}

impl InPlace<'_> {
    #[cold]
    fn spill(&mut self) {
        self.spill.clear();
        self.spill.extend_from_slice(&self.dest[..self.len]);
        self.spilled = true;
    }
}

impl postcard::ser_flavors::Flavor for InPlace<'_> {
    type Output = Placed;

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        if !self.spilled {
            if let Some(b) = self.dest.get_mut(self.len) {
                *b = byte;
                self.len += 1;
                return Ok(());
            }
            self.spill();
        }
        self.spill.push(byte);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if !self.spilled {
            if let Some(room) = self.dest.get_mut(self.len..self.len + data.len()) {
                room.copy_from_slice(data);
                self.len += data.len();
                return Ok(());
            }
            self.spill();
        }
        self.spill.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Placed> {
        Ok(if self.spilled {
            Placed::Spilled
        } else {
            Placed::InPlace(self.len)
        })
    }
}

/// Deepest nesting [`decode`] accepts: each sequence, tuple, map, struct, enum variant,
/// `Some` and newtype struct a value is inside counts one level (serde_json's limit too).
///
/// Rust's derived decoders recurse once per level, so without a bound a small hostile message
/// (a million nested `Some`s is a megabyte) would overflow the receiver's stack and abort it.
pub const MAX_DEPTH: usize = 128;

/// Decodes a value; trailing bytes are an error, so a message is read whole or not at all.
///
/// A value nested deeper than [`MAX_DEPTH`] is an [`Error::Codec`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    CUSTOM.with(|c| c.borrow_mut().take());
    let budget = depth::Budget {
        level: Cell::new(0),
        input_len: bytes.len(),
    };
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let value = T::deserialize(depth::Limited {
        inner: &mut de,
        depth: &budget,
    })
    .map_err(|e| map_err(e.0))?;
    let rest = de.finalize().map_err(map_err)?;
    if !rest.is_empty() {
        return Err(Error::Codec(format!(
            "{} unexpected trailing bytes after the message",
            rest.len()
        )));
    }
    Ok(value)
}

/// Keeps the message of every `custom` error a `Serialize` or `Deserialize` impl makes, which
/// postcard's own error type drops: the serializer ([`Ser`](record::Ser)) and the decoder's
/// adaptor ([`depth::Limited`]) hand the impls [`Recorded`](record::Recorded) as their error
/// type, whose `custom` writes the message where [`map_err`] finds it.
mod record {
    use std::fmt;

    use serde::ser::{
        self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant,
        SerializeTuple, SerializeTupleStruct, SerializeTupleVariant, Serializer,
    };

    /// An error of the wrapped encoder or decoder, whose `custom` records its message.
    #[derive(Debug)]
    pub(super) struct Recorded<E>(pub(super) E);

    impl<E: fmt::Display> fmt::Display for Recorded<E> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt(f)
        }
    }

    impl<E: std::error::Error> std::error::Error for Recorded<E> {}

    fn record(msg: &dyn fmt::Display) -> String {
        let msg = msg.to_string();
        super::set_custom(msg.clone(), super::Custom::Codec);
        msg
    }

    impl<E: ser::Error> ser::Error for Recorded<E> {
        fn custom<T: fmt::Display>(msg: T) -> Self {
            Recorded(E::custom(record(&msg)))
        }
    }

    impl<E: serde::de::Error> serde::de::Error for Recorded<E> {
        fn custom<T: fmt::Display>(msg: T) -> Self {
            Recorded(E::custom(record(&msg)))
        }
    }

    /// A value whose `Serialize` impl is handed [`Ser`] around the real serializer.
    pub(super) struct Value<'a, T: ?Sized>(pub(super) &'a T);

    impl<T: Serialize + ?Sized> Serialize for Value<'_, T> {
        #[inline]
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.serialize(Ser(s)).map_err(|e| e.0)
        }
    }

    /// A serializer (or one of its compound states) whose error is [`Recorded`].
    pub(super) struct Ser<S>(pub(super) S);

    macro_rules! forward_ser {
        ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
            #[inline]
            fn $method(self $(, $arg: $ty)*) -> Result<S::Ok, Self::Error> {
                self.0.$method($($arg),*).map_err(Recorded)
            }
        )*};
    }

    impl<S: Serializer> Serializer for Ser<S> {
        type Ok = S::Ok;
        type Error = Recorded<S::Error>;
        type SerializeSeq = Ser<S::SerializeSeq>;
        type SerializeTuple = Ser<S::SerializeTuple>;
        type SerializeTupleStruct = Ser<S::SerializeTupleStruct>;
        type SerializeTupleVariant = Ser<S::SerializeTupleVariant>;
        type SerializeMap = Ser<S::SerializeMap>;
        type SerializeStruct = Ser<S::SerializeStruct>;
        type SerializeStructVariant = Ser<S::SerializeStructVariant>;

        forward_ser! {
            serialize_bool(v: bool); serialize_i8(v: i8); serialize_i16(v: i16);
            serialize_i32(v: i32); serialize_i64(v: i64); serialize_i128(v: i128);
            serialize_u8(v: u8); serialize_u16(v: u16); serialize_u32(v: u32);
            serialize_u64(v: u64); serialize_u128(v: u128); serialize_f32(v: f32);
            serialize_f64(v: f64); serialize_char(v: char); serialize_str(v: &str);
            serialize_bytes(v: &[u8]); serialize_none(); serialize_unit();
            serialize_unit_struct(name: &'static str);
            serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
        }

        fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<S::Ok, Self::Error> {
            self.0.serialize_some(&Value(v)).map_err(Recorded)
        }

        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            name: &'static str,
            v: &T,
        ) -> Result<S::Ok, Self::Error> {
            self.0
                .serialize_newtype_struct(name, &Value(v))
                .map_err(Recorded)
        }

        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
            v: &T,
        ) -> Result<S::Ok, Self::Error> {
            self.0
                .serialize_newtype_variant(name, index, variant, &Value(v))
                .map_err(Recorded)
        }

        fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
            self.0.serialize_seq(len).map(Ser).map_err(Recorded)
        }

        fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, Self::Error> {
            self.0.serialize_tuple(len).map(Ser).map_err(Recorded)
        }

        fn serialize_tuple_struct(
            self,
            name: &'static str,
            len: usize,
        ) -> Result<Self::SerializeTupleStruct, Self::Error> {
            self.0
                .serialize_tuple_struct(name, len)
                .map(Ser)
                .map_err(Recorded)
        }

        fn serialize_tuple_variant(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
            len: usize,
        ) -> Result<Self::SerializeTupleVariant, Self::Error> {
            self.0
                .serialize_tuple_variant(name, index, variant, len)
                .map(Ser)
                .map_err(Recorded)
        }

        fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
            self.0.serialize_map(len).map(Ser).map_err(Recorded)
        }

        fn serialize_struct(
            self,
            name: &'static str,
            len: usize,
        ) -> Result<Self::SerializeStruct, Self::Error> {
            self.0
                .serialize_struct(name, len)
                .map(Ser)
                .map_err(Recorded)
        }

        fn serialize_struct_variant(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
            len: usize,
        ) -> Result<Self::SerializeStructVariant, Self::Error> {
            self.0
                .serialize_struct_variant(name, index, variant, len)
                .map(Ser)
                .map_err(Recorded)
        }

        fn collect_str<T: fmt::Display + ?Sized>(self, v: &T) -> Result<S::Ok, Self::Error> {
            self.0.collect_str(v).map_err(Recorded)
        }

        fn is_human_readable(&self) -> bool {
            self.0.is_human_readable()
        }
    }

    macro_rules! compound {
        ($trait:ident, $elem:ident) => {
            impl<S: $trait> $trait for Ser<S> {
                type Ok = S::Ok;
                type Error = Recorded<S::Error>;

                #[inline]
                fn $elem<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
                    self.0.$elem(&Value(v)).map_err(Recorded)
                }

                fn end(self) -> Result<S::Ok, Self::Error> {
                    self.0.end().map_err(Recorded)
                }
            }
        };
    }
    compound!(SerializeSeq, serialize_element);
    compound!(SerializeTuple, serialize_element);
    compound!(SerializeTupleStruct, serialize_field);
    compound!(SerializeTupleVariant, serialize_field);

    macro_rules! named_compound {
        ($trait:ident) => {
            impl<S: $trait> $trait for Ser<S> {
                type Ok = S::Ok;
                type Error = Recorded<S::Error>;

                #[inline]
                fn serialize_field<T: Serialize + ?Sized>(
                    &mut self,
                    key: &'static str,
                    v: &T,
                ) -> Result<(), Self::Error> {
                    self.0.serialize_field(key, &Value(v)).map_err(Recorded)
                }

                fn skip_field(&mut self, key: &'static str) -> Result<(), Self::Error> {
                    self.0.skip_field(key).map_err(Recorded)
                }

                fn end(self) -> Result<S::Ok, Self::Error> {
                    self.0.end().map_err(Recorded)
                }
            }
        };
    }
    named_compound!(SerializeStruct);
    named_compound!(SerializeStructVariant);

    impl<S: SerializeMap> SerializeMap for Ser<S> {
        type Ok = S::Ok;
        type Error = Recorded<S::Error>;

        fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Self::Error> {
            self.0.serialize_key(&Value(k)).map_err(Recorded)
        }

        fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
            self.0.serialize_value(&Value(v)).map_err(Recorded)
        }

        fn end(self) -> Result<S::Ok, Self::Error> {
            self.0.end().map_err(Recorded)
        }
    }
}

/// A serde adaptor that counts nesting: every way a decoder can recurse goes through one of the
/// visitor's compound entries (`visit_seq`, `visit_map`, `visit_enum`, `visit_some`,
/// `visit_newtype_struct`), which count one level while they run and refuse past [`MAX_DEPTH`].
/// The nested deserializers they hand on are wrapped again, so no level escapes the count.
///
/// It also caps the length a map claims (which serde's maps preallocate from, up to 1 MiB
/// each) at the message's size, as postcard already does for sequences, so a short hostile
/// message nesting many claimed-huge maps cannot make the receiver reserve megabytes per level.
mod depth {
    use std::cell::Cell;
    use std::fmt;

    use serde::de::{
        self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess,
        Visitor,
    };

    use super::record::Recorded;
    use super::{MAX_DEPTH, de_error};

    /// What one message may still use.
    pub(super) struct Budget {
        /// How deep the value being decoded is nested.
        pub(super) level: Cell<usize>,
        /// No sequence or map of the message can hold more elements than it has bytes.
        pub(super) input_len: usize,
    }

    /// Runs `f` one level deeper, or refuses when that is past the limit.
    fn nest<T, E: de::Error>(budget: &Budget, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let level = budget.level.get();
        if level >= MAX_DEPTH {
            return Err(de_error(format!(
                "message nests values deeper than {MAX_DEPTH} levels"
            )));
        }
        budget.level.set(level + 1);
        let out = f();
        budget.level.set(level);
        out
    }

    /// A deserializer, visitor, seed or access whose nested values are counted.
    pub(super) struct Limited<'a, T> {
        pub(super) inner: T,
        pub(super) depth: &'a Budget,
    }

    impl<'a, T> Limited<'a, T> {
        fn wrap<U>(&self, inner: U) -> Limited<'a, U> {
            Limited {
                inner,
                depth: self.depth,
            }
        }
    }

    macro_rules! forward_deserialize {
        ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
            #[inline]
            fn $method<V: Visitor<'de>>(self $(, $arg: $ty)*, visitor: V) -> Result<V::Value, Self::Error> {
                let visitor = self.wrap(visitor);
                self.inner.$method($($arg,)* visitor).map_err(Recorded)
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<'_, D> {
        type Error = Recorded<D::Error>;

        forward_deserialize! {
            deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16();
            deserialize_i32(); deserialize_i64(); deserialize_i128(); deserialize_u8();
            deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
            deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
            deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
            deserialize_option(); deserialize_unit(); deserialize_unit_struct(name: &'static str);
            deserialize_newtype_struct(name: &'static str); deserialize_seq();
            deserialize_tuple(len: usize); deserialize_tuple_struct(name: &'static str, len: usize);
            deserialize_map(); deserialize_struct(name: &'static str, fields: &'static [&'static str]);
            deserialize_enum(name: &'static str, variants: &'static [&'static str]);
            deserialize_identifier(); deserialize_ignored_any();
        }

        fn is_human_readable(&self) -> bool {
            self.inner.is_human_readable()
        }
    }

    macro_rules! forward_visit {
        ($($method:ident($ty:ty);)*) => {$(
            #[inline]
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.inner.$method::<Recorded<E>>(v).map_err(|e| e.0)
            }
        )*};
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Limited<'_, V> {
        type Value = V::Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.expecting(f)
        }

        forward_visit! {
            visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64);
            visit_i128(i128); visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64);
            visit_u128(u128); visit_f32(f32); visit_f64(f64); visit_char(char);
            visit_str(&str); visit_borrowed_str(&'de str); visit_string(String);
            visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
        }

        fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_none::<Recorded<E>>().map_err(|e| e.0)
        }

        fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_unit::<Recorded<E>>().map_err(|e| e.0)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
            let d = self.wrap(d);
            nest(self.depth, || self.inner.visit_some(d)).map_err(|e| e.0)
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
            let d = self.wrap(d);
            nest(self.depth, || self.inner.visit_newtype_struct(d)).map_err(|e| e.0)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
            let seq = self.wrap(seq);
            nest(self.depth, || self.inner.visit_seq(seq)).map_err(|e| e.0)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
            let map = self.wrap(map);
            nest(self.depth, || self.inner.visit_map(map)).map_err(|e| e.0)
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
            let data = self.wrap(data);
            nest(self.depth, || self.inner.visit_enum(data)).map_err(|e| e.0)
        }
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Limited<'_, S> {
        type Value = S::Value;

        #[inline]
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
            let d = self.wrap(d);
            self.inner.deserialize(d).map_err(|e| e.0)
        }
    }

    impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Limited<'_, A> {
        type Error = Recorded<A::Error>;

        #[inline]
        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, Self::Error> {
            let seed = self.wrap(seed);
            self.inner.next_element_seed(seed).map_err(Recorded)
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint().map(|n| n.min(self.depth.input_len))
        }
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Limited<'_, A> {
        type Error = Recorded<A::Error>;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, Self::Error> {
            let seed = self.wrap(seed);
            self.inner.next_key_seed(seed).map_err(Recorded)
        }

        fn next_value_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<T::Value, Self::Error> {
            let seed = self.wrap(seed);
            self.inner.next_value_seed(seed).map_err(Recorded)
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint().map(|n| n.min(self.depth.input_len))
        }
    }

    impl<'a, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Limited<'a, A> {
        type Error = Recorded<A::Error>;
        type Variant = Limited<'a, A::Variant>;

        fn variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<(T::Value, Self::Variant), Self::Error> {
            let seed = self.wrap(seed);
            let depth = self.depth;
            let (value, inner) = self.inner.variant_seed(seed).map_err(Recorded)?;
            Ok((value, Limited { inner, depth }))
        }
    }

    impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Limited<'_, A> {
        type Error = Recorded<A::Error>;

        fn unit_variant(self) -> Result<(), Self::Error> {
            self.inner.unit_variant().map_err(Recorded)
        }

        fn newtype_variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<T::Value, Self::Error> {
            let seed = self.wrap(seed);
            self.inner.newtype_variant_seed(seed).map_err(Recorded)
        }

        fn tuple_variant<V: Visitor<'de>>(
            self,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            let visitor = self.wrap(visitor);
            self.inner.tuple_variant(len, visitor).map_err(Recorded)
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            let visitor = self.wrap(visitor);
            self.inner.struct_variant(fields, visitor).map_err(Recorded)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Nested {
        Leaf,
        Node(Box<Nested>),
    }

    /// `levels` enum levels: `levels - 1` nodes around a leaf, written by hand as a hostile
    /// sender would (building the value itself would overflow the sender's stack).
    fn nested(levels: usize) -> Vec<u8> {
        let mut bytes = vec![1u8; levels - 1];
        bytes.push(0);
        bytes
    }

    #[test]
    fn nesting_up_to_the_limit_decodes_and_past_it_is_a_codec_error() {
        let mut value = Nested::Leaf;
        for _ in 1..MAX_DEPTH {
            value = Nested::Node(Box::new(value));
        }
        assert_eq!(encode(&value).unwrap(), nested(MAX_DEPTH));
        assert_eq!(decode::<Nested>(&nested(MAX_DEPTH)).unwrap(), value);
        let err = decode::<Nested>(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(
            matches!(&err, Error::Codec(m) if m.contains("deeper than 128")),
            "{err:?}"
        );
    }

    #[test]
    fn a_claimed_length_is_capped_at_the_message_size() {
        /// Records the length hint a map hands its visitor (what maps preallocate from).
        struct Hint(Option<usize>);
        impl<'de> Deserialize<'de> for Hint {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Hint;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a map")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        a: A,
                    ) -> Result<Hint, A::Error> {
                        Ok(Hint(a.size_hint()))
                    }
                }
                d.deserialize_map(V)
            }
        }
        // A three-byte message claiming a million elements.
        let claim = encode(&1_000_000u32).unwrap();
        assert_eq!(claim.len(), 3);
        assert_eq!(decode::<Hint>(&claim).unwrap().0, Some(3));
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "a million levels take minutes interpreted; the depth limit is tested above"
    )]
    fn a_million_levels_through_every_compound_is_a_codec_error() {
        #[derive(Debug, Deserialize)]
        struct Seq(#[allow(dead_code)] Vec<Seq>);
        #[derive(Debug, Deserialize)]
        struct Opt(#[allow(dead_code)] Option<Box<Opt>>);
        #[derive(Debug, Deserialize)]
        struct Map(#[allow(dead_code)] BTreeMap<u8, Map>);
        #[derive(Debug, Deserialize)]
        struct Tuple(#[allow(dead_code)] Box<(u8, Option<Tuple>)>);
        let deep = 1_000_000;
        let ones = vec![1u8; deep];
        let map: Vec<u8> = std::iter::repeat_n([1u8, 7], deep).flatten().collect();
        let tuple: Vec<u8> = std::iter::repeat_n([7u8, 1], deep).flatten().collect();
        for err in [
            decode::<Nested>(&ones).unwrap_err(),
            decode::<Seq>(&ones).unwrap_err(),
            decode::<Opt>(&ones).unwrap_err(),
            decode::<Map>(&map).unwrap_err(),
            decode::<Tuple>(&tuple).unwrap_err(),
        ] {
            assert!(
                matches!(&err, Error::Codec(m) if m.contains("deeper than")),
                "{err:?}"
            );
        }
        // The limit resets for every message.
        assert_eq!(
            decode::<Nested>(&nested(3)).unwrap(),
            Nested::Node(Box::new(Nested::Node(Box::new(Nested::Leaf))))
        );
    }

    /// Serializes as a field deep inside a struct, then refuses with its own message.
    struct Refuses;

    impl Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused: unread data"))
        }
    }

    #[derive(Serialize)]
    struct Outer {
        n: u32,
        inner: Vec<Option<(u8, Refuses)>>,
    }

    /// Refuses in its visitor, with the error type the visitor is handed.
    #[derive(Debug)]
    struct Odd(u32);

    impl<'de> Deserialize<'de> for Odd {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Odd, D::Error> {
            let n = u32::deserialize(d)?;
            if n % 2 == 0 {
                return Err(serde::de::Error::custom(format!("{n} is even")));
            }
            Ok(Odd(n))
        }
    }

    #[test]
    fn custom_messages_survive_encoding() {
        let value = Outer {
            n: 1,
            inner: vec![None, Some((2, Refuses))],
        };
        for err in [
            encode(&value).unwrap_err(),
            encode_into(&value, &mut Vec::new()).unwrap_err(),
        ] {
            assert_eq!(err.kind(), crate::ErrorKind::Codec);
            assert!(
                matches!(&err, Error::Codec(m) if m == "refused: unread data"),
                "{err}"
            );
        }
        // A later failure of postcard's own is not blamed on the old message.
        let bad = decode::<bool>(&[7]).unwrap_err();
        assert!(!bad.to_string().contains("refused"), "{bad}");
    }

    #[test]
    fn encode_into_appends_every_varint_width_and_keeps_out_on_error() {
        // One number per encoded width (1 to 10 bytes), each width's copy path taken.
        let values: Vec<u64> = (0..64)
            .step_by(7)
            .map(|s| 1u64 << s)
            .chain([0, u64::MAX])
            .collect();
        let mut out = vec![0xAB, 0xCD];
        encode_into(&(values.clone(), -5i64, "text"), &mut out).unwrap();
        assert_eq!(out[..2], [0xAB, 0xCD]);
        assert_eq!(
            out[2..],
            encode(&(values.clone(), -5i64, "text")).unwrap()[..]
        );
        let back: (Vec<u64>, i64, String) = decode(&out[2..]).unwrap();
        assert_eq!(back, (values, -5, "text".to_string()));
        // A failure part way leaves what was there before, not half an encoding.
        let failing = Outer {
            n: 1,
            inner: vec![None, Some((2, Refuses))],
        };
        assert!(encode_into(&failing, &mut out).is_err());
        assert_eq!(out[2..], encode(&(back.0, back.1, back.2)).unwrap()[..]);
    }

    #[test]
    fn custom_messages_survive_decoding() {
        let bytes = encode(&vec![3u32, 4]).unwrap();
        let err = decode::<Vec<Odd>>(&bytes).unwrap_err();
        assert!(matches!(&err, Error::Codec(m) if m == "4 is even"), "{err}");
        assert_eq!(
            decode::<Vec<Odd>>(&encode(&vec![5u32]).unwrap()).unwrap()[0].0,
            5
        );
        // serde's derived messages (made with `custom`) are kept too.
        let err = decode::<Nested>(&[9]).unwrap_err();
        assert!(
            matches!(&err, Error::Codec(m) if m.contains("variant index")),
            "{err}"
        );
    }
}
