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
    static CUSTOM: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Makes a serialization error whose message survives postcard (use instead of `Error::custom`).
pub fn ser_error<E: serde::ser::Error>(msg: impl Display) -> E {
    let msg = msg.to_string();
    CUSTOM.with(|c| *c.borrow_mut() = Some(msg.clone()));
    E::custom(msg)
}

/// Makes a deserialization error whose message survives postcard (use instead of `Error::custom`).
pub fn de_error<E: serde::de::Error>(msg: impl Display) -> E {
    let msg = msg.to_string();
    CUSTOM.with(|c| *c.borrow_mut() = Some(msg.clone()));
    E::custom(msg)
}

fn map_err(e: postcard::Error) -> Error {
    let custom = CUSTOM.with(|c| c.borrow_mut().take());
    match (e, custom) {
        (postcard::Error::SerdeSerCustom | postcard::Error::SerdeDeCustom, Some(msg)) => {
            Error::Codec(msg)
        }
        (e, _) => Error::Codec(e.to_string()),
    }
}

/// Encodes a value into a fresh buffer.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(map_err)
}

/// Encodes a value, appending to `out` (so a caller can reserve room for a frame header first).
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let extended = postcard::to_extend(value, std::mem::take(out)).map_err(map_err)?;
    *out = extended;
    Ok(())
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
    let budget = depth::Budget {
        level: Cell::new(0),
        input_len: bytes.len(),
    };
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let value = T::deserialize(depth::Limited {
        inner: &mut de,
        depth: &budget,
    })
    .map_err(map_err)?;
    let rest = de.finalize().map_err(map_err)?;
    if !rest.is_empty() {
        return Err(Error::Codec(format!(
            "{} unexpected trailing bytes after the message",
            rest.len()
        )));
    }
    Ok(value)
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
            fn $method<V: Visitor<'de>>(self $(, $arg: $ty)*, visitor: V) -> Result<V::Value, D::Error> {
                let visitor = self.wrap(visitor);
                self.inner.$method($($arg,)* visitor)
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<'_, D> {
        type Error = D::Error;

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
                self.inner.$method(v)
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
            self.inner.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
            let d = self.wrap(d);
            nest(self.depth, || self.inner.visit_some(d))
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
            let d = self.wrap(d);
            nest(self.depth, || self.inner.visit_newtype_struct(d))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
            let seq = self.wrap(seq);
            nest(self.depth, || self.inner.visit_seq(seq))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
            let map = self.wrap(map);
            nest(self.depth, || self.inner.visit_map(map))
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
            let data = self.wrap(data);
            nest(self.depth, || self.inner.visit_enum(data))
        }
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Limited<'_, S> {
        type Value = S::Value;

        #[inline]
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
            let d = self.wrap(d);
            self.inner.deserialize(d)
        }
    }

    impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Limited<'_, A> {
        type Error = A::Error;

        #[inline]
        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, A::Error> {
            let seed = self.wrap(seed);
            self.inner.next_element_seed(seed)
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint().map(|n| n.min(self.depth.input_len))
        }
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Limited<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            let seed = self.wrap(seed);
            self.inner.next_key_seed(seed)
        }

        fn next_value_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<T::Value, A::Error> {
            let seed = self.wrap(seed);
            self.inner.next_value_seed(seed)
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint().map(|n| n.min(self.depth.input_len))
        }
    }

    impl<'a, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Limited<'a, A> {
        type Error = A::Error;
        type Variant = Limited<'a, A::Variant>;

        fn variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<(T::Value, Self::Variant), A::Error> {
            let seed = self.wrap(seed);
            let depth = self.depth;
            let (value, inner) = self.inner.variant_seed(seed)?;
            Ok((value, Limited { inner, depth }))
        }
    }

    impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Limited<'_, A> {
        type Error = A::Error;

        fn unit_variant(self) -> Result<(), A::Error> {
            self.inner.unit_variant()
        }

        fn newtype_variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<T::Value, A::Error> {
            let seed = self.wrap(seed);
            self.inner.newtype_variant_seed(seed)
        }

        fn tuple_variant<V: Visitor<'de>>(
            self,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            let visitor = self.wrap(visitor);
            self.inner.tuple_variant(len, visitor)
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            let visitor = self.wrap(visitor);
            self.inner.struct_variant(fields, visitor)
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
}
