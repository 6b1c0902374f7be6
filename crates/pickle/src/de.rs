//! A [`Value`] to any `Deserialize` type.

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use crate::error::{Error, Result};
use crate::value::Value;

/// Converts the tree to a serde type: the inverse of [`to_value`](crate::to_value), and lenient
/// where Python is loose (any sequence, set or tuple fills a `Vec` or a tuple; `bytes` and
/// `bytearray` fill a byte buffer; an `int` fills a float). A class instance, a global or a
/// recursive reference has no serde form: read those as a [`Value`].
///
/// ```
/// use multiprocessing_pickle::{Value, from_value};
/// let v = Value::Tuple(vec![Value::Int(1), Value::from("two")]);
/// let (a, b): (u8, String) = from_value(v).unwrap();
/// assert_eq!((a, b.as_str()), (1, "two"));
/// ```
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T> {
    T::deserialize(value)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "a bool",
        Value::Int(_) | Value::BigInt(_) => "an int",
        Value::Float(_) => "a float",
        Value::Str(_) => "a str",
        Value::Bytes(_) => "bytes",
        Value::ByteArray(_) => "a bytearray",
        Value::Tuple(_) => "a tuple",
        Value::List(_) => "a list",
        Value::Dict(_) => "a dict",
        Value::Set(_) => "a set",
        Value::FrozenSet(_) => "a frozenset",
        Value::Global(_) => "a global",
        Value::Object(_) => "a class instance",
        Value::Recursive(_) => "a recursive reference",
    }
}

struct Seq(std::vec::IntoIter<Value>);

impl<'de> de::SeqAccess<'de> for Seq {
    type Error = Error;
    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>> {
        self.0.next().map(|v| seed.deserialize(v)).transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map(std::vec::IntoIter<(Value, Value)>, Option<Value>);

impl<'de> de::MapAccess<'de> for Map {
    type Error = Error;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.0.next() {
            Some((k, v)) => {
                self.1 = Some(v);
                seed.deserialize(k).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        match self.1.take() {
            Some(v) => seed.deserialize(v),
            None => Err(Error::Serde("map value without a key".into())),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Enum(Value, Option<Value>);

impl<'de> de::EnumAccess<'de> for Enum {
    type Error = Error;
    type Variant = Variant;
    fn variant_seed<V: de::DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Variant)> {
        Ok((seed.deserialize(self.0)?, Variant(self.1)))
    }
}

struct Variant(Option<Value>);

impl<'de> de::VariantAccess<'de> for Variant {
    type Error = Error;
    fn unit_variant(self) -> Result<()> {
        match self.0 {
            None | Some(Value::None) => Ok(()),
            Some(v) => Err(Error::Serde(format!(
                "expected a unit variant, got {}",
                kind(&v)
            ))),
        }
    }
    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        match self.0 {
            Some(v) => seed.deserialize(v),
            None => Err(Error::Serde(
                "expected a newtype variant, got a name".into(),
            )),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        match self.0 {
            Some(v) => de::Deserializer::deserialize_seq(v, visitor),
            None => Err(Error::Serde("expected a tuple variant, got a name".into())),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.0 {
            Some(v) => de::Deserializer::deserialize_map(v, visitor),
            None => Err(Error::Serde("expected a struct variant, got a name".into())),
        }
    }
}

impl<'de> IntoDeserializer<'de, Error> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self {
            Value::None => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(i) => {
                if let Ok(v) = i64::try_from(i) {
                    visitor.visit_i64(v)
                } else if let Ok(v) = u64::try_from(i) {
                    visitor.visit_u64(v)
                } else {
                    visitor.visit_i128(i)
                }
            }
            Value::BigInt(b) => match b.to_signed_bytes_le() {
                // Past i128 but within u128: 16 magnitude bytes and a zero sign byte.
                [lo @ .., 0] if lo.len() == 16 => {
                    let mut buf = [0; 16];
                    buf.copy_from_slice(lo);
                    visitor.visit_u128(u128::from_le_bytes(buf))
                }
                _ => Err(Error::Serde(format!("integer {b} does not fit 128 bits"))),
            },
            Value::Float(f) => visitor.visit_f64(f),
            Value::Str(s) => visitor.visit_string(s),
            Value::Bytes(b) | Value::ByteArray(b) => visitor.visit_byte_buf(b),
            Value::Tuple(v) | Value::List(v) | Value::Set(v) | Value::FrozenSet(v) => {
                visitor.visit_seq(Seq(v.into_iter()))
            }
            Value::Dict(p) => visitor.visit_map(Map(p.into_iter(), None)),
            other @ (Value::Global(_) | Value::Object(_) | Value::Recursive(_)) => {
                Err(Error::Serde(format!(
                    "{} has no serde form; read it as a Value",
                    kind(&other)
                )))
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self {
            Value::None => visitor.visit_none(),
            v => visitor.visit_some(v),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self {
            Value::Str(s) => visitor.visit_enum(Enum(Value::Str(s), None)),
            Value::Dict(mut p) if p.len() == 1 => {
                let (k, v) = p.pop().expect("one entry");
                visitor.visit_enum(Enum(k, Some(v)))
            }
            other => Err(Error::Serde(format!(
                "expected an enum (a str or a one-entry dict), got {}",
                kind(&other)
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}
