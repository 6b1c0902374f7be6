//! Out of the tree: [`from_object`], a self-describing serde `Deserializer` over an [`Object`],
//! and the `Deserialize` impls of [`Object`] and [`Token`].

use std::collections::BTreeMap;
use std::collections::btree_map;

use serde::de::value::{BorrowedBytesDeserializer, BorrowedStrDeserializer};
use serde::de::{
    self, Deserialize, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, Error as _,
    IgnoredAny, IntoDeserializer, MapAccess, SeqAccess, Unexpected, VariantAccess, Visitor,
};

use super::{
    MAX_DEPTH, OBJECT_MARKER, Object, ObjectError, PICKLED_MARKER, Pickled, TOKEN_MARKER,
    TUPLE_MARKER, Token,
};

/// Converts an [`Object`] tree into any serde type: the inverse of
/// [`to_object`](super::to_object).
///
/// Besides what `to_object` produces, Python-natural readings are accepted: an `int` read as a
/// float, a `list` read as a tuple and a `tuple` as a list, `bytes` read as a sequence of `u8`
/// and a list of small ints as bytes. The error names what was expected and what was found.
/// Strings and bytes are copied out of the tree; [`from_object_ref`] can borrow them instead.
///
/// ```
/// use multiprocessing_managers::object::{Object, from_object};
///
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Point { x: i32, y: f64 }
///
/// let o = Object::dict([(Object::from("x"), Object::from(1)), (Object::from("y"), Object::from(2))]);
/// assert_eq!(from_object::<Point>(o).unwrap(), Point { x: 1, y: 2.0 });
///
/// let err = from_object::<Vec<i32>>(Object::from("no")).unwrap_err();
/// assert_eq!(err.to_string(), r#"invalid type: expected a sequence, found string "no""#);
/// ```
#[doc(alias = "pickle.loads")]
pub fn from_object<T: DeserializeOwned>(obj: Object) -> Result<T, ObjectError> {
    from_object_ref(&obj)
}

/// [`from_object`] reading through a reference, so the result may borrow strings and bytes
/// from the tree.
///
/// ```
/// use multiprocessing_managers::object::{Object, from_object_ref};
/// let o = Object::tuple([Object::from("borrowed"), Object::from(2)]);
/// let (text, n): (&str, u8) = from_object_ref(&o).unwrap();
/// assert_eq!((text, n), ("borrowed", 2));
/// ```
pub fn from_object_ref<'de, T: Deserialize<'de>>(obj: &'de Object) -> Result<T, ObjectError> {
    T::deserialize(ObjectRef { obj, depth: 0 })
}

/// One level further in from `depth` containers, or the format's error with
/// [`ObjectError::TooDeep`]'s message.
fn enter<E: de::Error>(depth: usize) -> Result<usize, E> {
    if depth >= MAX_DEPTH {
        return Err(E::custom(ObjectError::too_deep()));
    }
    Ok(depth + 1)
}

/// [`enter`] for the tree's own deserializer, whose error says [`ObjectError::TooDeep`].
fn enter_tree(depth: usize) -> Result<usize, ObjectError> {
    if depth >= MAX_DEPTH {
        return Err(ObjectError::too_deep());
    }
    Ok(depth + 1)
}

/// What a value is, for error messages.
fn unexpected(o: &Object) -> Unexpected<'_> {
    match o {
        Object::None => Unexpected::Other("None"),
        Object::Bool(b) => Unexpected::Bool(*b),
        Object::Int(i) => match (u64::try_from(*i), i64::try_from(*i)) {
            (Ok(v), _) => Unexpected::Unsigned(v),
            (_, Ok(v)) => Unexpected::Signed(v),
            _ => Unexpected::Other("an integer beyond 64 bits"),
        },
        Object::Float(f) => Unexpected::Float(*f),
        Object::Str(s) => Unexpected::Str(s),
        Object::Bytes(b) => Unexpected::Bytes(b),
        Object::List(_) => Unexpected::Other("list"),
        Object::Tuple(_) => Unexpected::Other("tuple"),
        Object::Dict(_) => Unexpected::Other("dict"),
        Object::Proxy(_) => Unexpected::Other("proxy"),
        Object::Pickled(_) => Unexpected::Other("a pickled Python object"),
    }
}

/// The deserializer over one node of a tree; `depth` counts the containers around it.
#[derive(Clone, Copy)]
struct ObjectRef<'de> {
    obj: &'de Object,
    depth: usize,
}

impl<'de> ObjectRef<'de> {
    fn visit_items<V: Visitor<'de>>(
        self,
        items: &'de [Object],
        visitor: V,
    ) -> Result<V::Value, ObjectError> {
        let mut seq = SeqRef {
            iter: items.iter(),
            depth: enter_tree(self.depth)?,
        };
        let value = visitor.visit_seq(&mut seq)?;
        seq.end(items.len())?;
        Ok(value)
    }

    fn visit_dict<V: Visitor<'de>>(
        self,
        map: &'de BTreeMap<Object, Object>,
        visitor: V,
    ) -> Result<V::Value, ObjectError> {
        let mut access = MapRef {
            iter: map.iter(),
            value: None,
            depth: enter_tree(self.depth)?,
        };
        let value = visitor.visit_map(&mut access)?;
        if access.iter.len() > 0 {
            return Err(ObjectError::invalid_length(
                map.len(),
                &"fewer dict entries",
            ));
        }
        Ok(value)
    }
}

impl<'de> Deserializer<'de> for ObjectRef<'de> {
    type Error = ObjectError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ObjectError> {
        match self.obj {
            Object::None => visitor.visit_unit(),
            Object::Bool(b) => visitor.visit_bool(*b),
            // As serde_json: a visitor that takes only `u64` (a variant index) reads `0`.
            Object::Int(i) => match (u64::try_from(*i), i64::try_from(*i)) {
                (Ok(v), _) => visitor.visit_u64(v),
                (_, Ok(v)) => visitor.visit_i64(v),
                _ => visitor.visit_i128(*i),
            },
            Object::Float(f) => visitor.visit_f64(*f),
            Object::Str(s) => visitor.visit_borrowed_str(s),
            Object::Bytes(b) => visitor.visit_borrowed_bytes(b),
            Object::List(items) | Object::Tuple(items) => self.visit_items(items, visitor),
            Object::Dict(map) => self.visit_dict(map, visitor),
            Object::Proxy(token) => {
                enter_tree(self.depth)?;
                visitor.visit_map(TokenAccess { token, field: 0 })
            }
            Object::Pickled(_) => Err(de::Error::invalid_type(unexpected(self.obj), &visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ObjectError> {
        match self.obj {
            Object::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ObjectError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ObjectError> {
        match self.obj {
            // Python's `float(1)`: an int where a float is expected reads as one.
            #[expect(clippy::cast_precision_loss, reason = "as Python's float(int) rounds")]
            Object::Int(i) => visitor.visit_f64(*i as f64),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ObjectError> {
        match self.obj {
            Object::Bytes(bytes) => {
                let mut seq = BytesSeq { iter: bytes.iter() };
                enter_tree(self.depth)?;
                let value = visitor.visit_seq(&mut seq)?;
                if seq.iter.len() > 0 {
                    return Err(ObjectError::invalid_length(bytes.len(), &"fewer bytes"));
                }
                Ok(value)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ObjectError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ObjectError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ObjectError> {
        if name != OBJECT_MARKER {
            return visitor.visit_newtype_struct(self);
        }
        // `Object`'s own Deserialize asks: tell it what a visitor cannot otherwise see.
        match self.obj {
            Object::Tuple(_) => visitor.visit_map(MarkerAccess {
                key: TUPLE_MARKER,
                value: Some(self),
            }),
            Object::Proxy(_) => visitor.visit_map(MarkerAccess {
                key: TOKEN_MARKER,
                value: Some(self),
            }),
            Object::Pickled(p) => visitor.visit_map(PickledAccess(Some(p.as_bytes()))),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ObjectError> {
        match self.obj {
            Object::Str(s) => visitor.visit_enum(BorrowedStrDeserializer::<ObjectError>::new(s)),
            Object::Dict(map) if map.len() == 1 => {
                let depth = enter_tree(self.depth)?;
                match map.iter().next() {
                    Some((key, value)) => visitor.visit_enum(EnumRef { key, value, depth }),
                    None => Err(ObjectError::invalid_length(0, &"a dict of one entry")),
                }
            }
            other => Err(ObjectError::invalid_type(
                unexpected(other),
                &"an enum: a variant's name, or a dict of one entry {name: value}",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ObjectError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 char str string bytes byte_buf unit
        unit_struct map struct identifier
    }
}

/// The elements of a list or tuple.
struct SeqRef<'de> {
    iter: std::slice::Iter<'de, Object>,
    depth: usize,
}

impl SeqRef<'_> {
    fn end(&self, len: usize) -> Result<(), ObjectError> {
        let left = self.iter.len();
        if left == 0 {
            return Ok(());
        }
        Err(ObjectError::InvalidLength {
            len,
            expected: format!("{} elements", len - left),
        })
    }
}

impl<'de> SeqAccess<'de> for SeqRef<'de> {
    type Error = ObjectError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ObjectError> {
        self.iter
            .next()
            .map(|obj| {
                seed.deserialize(ObjectRef {
                    obj,
                    depth: self.depth,
                })
            })
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// `bytes` read as a sequence of `u8`.
struct BytesSeq<'de> {
    iter: std::slice::Iter<'de, u8>,
}

impl<'de> SeqAccess<'de> for BytesSeq<'de> {
    type Error = ObjectError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ObjectError> {
        self.iter
            .next()
            .map(|b| seed.deserialize(b.into_deserializer()))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The entries of a dict.
struct MapRef<'de> {
    iter: btree_map::Iter<'de, Object, Object>,
    value: Option<&'de Object>,
    depth: usize,
}

impl<'de> MapAccess<'de> for MapRef<'de> {
    type Error = ObjectError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ObjectError> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(ObjectRef {
            obj: key,
            depth: self.depth,
        })
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ObjectError> {
        let obj = self
            .value
            .take()
            .ok_or_else(|| ObjectError::Message("a dict value asked for before its key".into()))?;
        seed.deserialize(ObjectRef {
            obj,
            depth: self.depth,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

const TOKEN_FIELDS: [&str; 3] = ["typeid", "address", "id"];

/// A token's fields as a map, for visitors other than the token's own.
struct TokenAccess<'de> {
    token: &'de Token,
    field: usize,
}

impl<'de> MapAccess<'de> for TokenAccess<'de> {
    type Error = ObjectError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ObjectError> {
        match TOKEN_FIELDS.get(self.field) {
            Some(name) => seed
                .deserialize(BorrowedStrDeserializer::new(name))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ObjectError> {
        self.field += 1;
        match self.field {
            1 => seed.deserialize(BorrowedStrDeserializer::new(&self.token.typeid)),
            2 => seed.deserialize(BorrowedStrDeserializer::new(&self.token.address)),
            _ => seed.deserialize(self.token.id.into_deserializer()),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(TOKEN_FIELDS.len().saturating_sub(self.field))
    }
}

/// A map of one entry whose key is a marker, for `Object`'s own visitor.
struct MarkerAccess<'de> {
    key: &'static str,
    value: Option<ObjectRef<'de>>,
}

impl<'de> MapAccess<'de> for MarkerAccess<'de> {
    type Error = ObjectError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ObjectError> {
        match self.value {
            Some(_) => seed
                .deserialize(BorrowedStrDeserializer::new(self.key))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ObjectError> {
        let value = self
            .value
            .take()
            .ok_or_else(|| ObjectError::Message("a marker value asked for twice".into()))?;
        seed.deserialize(value)
    }
}

/// A pickled object handed to `Object`'s `Deserialize`: `{PICKLED_MARKER: bytes}`.
struct PickledAccess<'de>(Option<&'de [u8]>);

impl<'de> MapAccess<'de> for PickledAccess<'de> {
    type Error = ObjectError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ObjectError> {
        match self.0 {
            Some(_) => seed
                .deserialize(BorrowedStrDeserializer::new(PICKLED_MARKER))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ObjectError> {
        let bytes = self
            .0
            .take()
            .ok_or_else(|| ObjectError::Message("a marker value asked for twice".into()))?;
        seed.deserialize(BorrowedBytesDeserializer::new(bytes))
    }
}

/// Reads a pickle's bytes back as a [`Pickled`] (checked to read as a pickle).
struct PickledSeed;

impl<'de> DeserializeSeed<'de> for PickledSeed {
    type Value = Pickled;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Pickled, D::Error> {
        d.deserialize_byte_buf(PickledSeed)
    }
}

impl<'de> Visitor<'de> for PickledSeed {
    type Value = Pickled;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a pickle's bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Pickled, E> {
        self.visit_byte_buf(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Pickled, E> {
        Pickled::from_bytes(v).map_err(|e| E::custom(format!("a malformed pickle: {e}")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pickled, A::Error> {
        // Formats without bytes (JSON) give a sequence of numbers.
        let mut v = Vec::new();
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        self.visit_byte_buf(v)
    }
}

/// An enum written as a one-entry dict `{variant: value}`.
struct EnumRef<'de> {
    key: &'de Object,
    value: &'de Object,
    depth: usize,
}

impl<'de> EnumAccess<'de> for EnumRef<'de> {
    type Error = ObjectError;
    type Variant = ObjectRef<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, ObjectRef<'de>), ObjectError> {
        let variant = seed.deserialize(ObjectRef {
            obj: self.key,
            depth: self.depth,
        })?;
        Ok((
            variant,
            ObjectRef {
                obj: self.value,
                depth: self.depth,
            },
        ))
    }
}

impl<'de> VariantAccess<'de> for ObjectRef<'de> {
    type Error = ObjectError;

    fn unit_variant(self) -> Result<(), ObjectError> {
        match self.obj {
            Object::None => Ok(()),
            other => Err(ObjectError::invalid_type(
                unexpected(other),
                &"None for a unit variant",
            )),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ObjectError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ObjectError> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ObjectError> {
        self.deserialize_any(visitor)
    }
}

/// Reads an [`Object`] nested inside `depth` containers.
#[derive(Clone, Copy)]
struct ObjectSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Object;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Object, D::Error> {
        d.deserialize_newtype_struct(
            OBJECT_MARKER,
            ObjectVisitor {
                depth: self.depth,
                unwrapped: false,
            },
        )
    }
}

/// The natural reading: any self-describing format (serde_json, the [`from_object`]
/// deserializer) gives an [`Object`]. From [`from_object`] it is exact (`from_object(o) == o`,
/// tuples and proxies included); from formats with fewer shapes, a JSON array is a `List`, a
/// JSON object a `Dict` with `Str` keys. A value nested deeper than [`MAX_DEPTH`] is refused.
/// Formats that are not human-readable (postcard) read the [wire form](super::wire), which
/// `Object`'s `Serialize` writes for them.
///
/// ```
/// use multiprocessing_managers::object::Object;
/// let o: Object = serde_json::from_str(r#"{"a": [1, 2.5, null, true]}"#).unwrap();
/// assert_eq!(o.to_string(), "{'a': [1, 2.5, None, True]}");
/// ```
impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Object, D::Error> {
        if !d.is_human_readable() {
            return super::wire::deserialize(d);
        }
        ObjectSeed { depth: 0 }.deserialize(d)
    }
}

struct ObjectVisitor {
    depth: usize,
    /// Whether the marker newtype was already unwrapped: a second newtype is a level.
    unwrapped: bool,
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value of Python's shapes (None, bool, int, float, str, bytes, list, dict)")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Object, E> {
        Ok(Object::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Object, E> {
        Ok(Object::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Object, E> {
        Ok(Object::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Object, E> {
        Ok(Object::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Object, E> {
        i128::try_from(v)
            .map(Object::Int)
            .map_err(|_| E::invalid_value(Unexpected::Other("an integer beyond i128"), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Object, E> {
        Ok(Object::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Object, E> {
        Ok(Object::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Object, E> {
        Ok(Object::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Object, E> {
        Ok(Object::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Object, E> {
        Ok(Object::Bytes(v))
    }
    fn visit_none<E: de::Error>(self) -> Result<Object, E> {
        Ok(Object::None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Object, E> {
        Ok(Object::None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Object, D::Error> {
        ObjectSeed {
            depth: enter(self.depth)?,
        }
        .deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Object, D::Error> {
        let depth = if self.unwrapped {
            enter(self.depth)?
        } else {
            self.depth
        };
        d.deserialize_any(ObjectVisitor {
            depth,
            unwrapped: true,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Object, A::Error> {
        let depth = enter(self.depth)?;
        items(depth, seq).map(Object::List)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
        let depth = enter(self.depth)?;
        let seed = ObjectSeed { depth };
        let mut dict = BTreeMap::new();
        let Some(first) = map.next_key_seed(seed)? else {
            return Ok(Object::Dict(dict));
        };
        if let Object::Str(key) = &first {
            let marked = if key == TUPLE_MARKER {
                Some(Object::Tuple(map.next_value_seed(ItemsSeed { depth })?))
            } else if key == TOKEN_MARKER {
                Some(Object::Proxy(map.next_value()?))
            } else if key == PICKLED_MARKER {
                Some(Object::Pickled(map.next_value_seed(PickledSeed)?))
            } else {
                None
            };
            if let Some(marked) = marked {
                if map.next_key::<IgnoredAny>()?.is_some() {
                    return Err(A::Error::custom(format!(
                        "a dict whose first key is {key:?} has other keys"
                    )));
                }
                return Ok(marked);
            }
        }
        dict.insert(first, map.next_value_seed(seed)?);
        while let Some(key) = map.next_key_seed(seed)? {
            let value = map.next_value_seed(seed)?;
            dict.insert(key, value);
        }
        Ok(Object::Dict(dict))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Object, A::Error> {
        let depth = enter(self.depth)?;
        let (key, variant) = data.variant_seed(ObjectSeed { depth })?;
        let value = variant.newtype_variant_seed(ObjectSeed { depth })?;
        Ok(Object::Dict(BTreeMap::from([(key, value)])))
    }
}

/// The elements of a sequence, each inside `depth` containers.
fn items<'de, A: SeqAccess<'de>>(depth: usize, mut seq: A) -> Result<Vec<Object>, A::Error> {
    // A size hint is the sender's claim; cap what is reserved on its word.
    let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
    while let Some(item) = seq.next_element_seed(ObjectSeed { depth })? {
        items.push(item);
    }
    Ok(items)
}

/// A tuple's elements behind its marker (the marker map was the level).
struct ItemsSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed {
    type Value = Vec<Object>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Object>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed {
    type Value = Vec<Object>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a tuple's elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<Object>, A::Error> {
        items(self.depth, seq)
    }
}

/// Reads what the token's `Serialize` wrote: the newtype [`TOKEN_MARKER`] around its fields,
/// as a struct (a map in self-describing formats, a sequence in postcard).
///
/// ```
/// use multiprocessing_managers::object::{Object, Token, from_object};
/// let token = Token { typeid: "dict".into(), address: "/tmp/m".into(), id: 3 };
/// assert_eq!(from_object::<Token>(Object::Proxy(token.clone())).unwrap(), token);
/// let json = serde_json::to_string(&token).unwrap();
/// assert_eq!(serde_json::from_str::<Token>(&json).unwrap(), token);
/// ```
impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Token, D::Error> {
        d.deserialize_newtype_struct(TOKEN_MARKER, TokenVisitor)
    }
}

struct TokenVisitor;

impl<'de> Visitor<'de> for TokenVisitor {
    type Value = Token;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a manager token (typeid, address, id)")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Token, D::Error> {
        d.deserialize_struct("Token", &TOKEN_FIELDS, TokenVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Token, A::Error> {
        let typeid = seq
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(0, &self))?;
        let address = seq
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(1, &self))?;
        let id = seq
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(2, &self))?;
        Ok(Token {
            typeid,
            address,
            id,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Token, A::Error> {
        let (mut typeid, mut address, mut id) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "typeid" => typeid = Some(map.next_value()?),
                "address" => address = Some(map.next_value()?),
                "id" => id = Some(map.next_value()?),
                // A proxy as `Object`'s own deserializer shows it.
                TOKEN_MARKER => return map.next_value(),
                other => return Err(A::Error::unknown_field(other, &TOKEN_FIELDS)),
            }
        }
        Ok(Token {
            typeid: typeid.ok_or_else(|| A::Error::missing_field("typeid"))?,
            address: address.ok_or_else(|| A::Error::missing_field("address"))?,
            id: id.ok_or_else(|| A::Error::missing_field("id"))?,
        })
    }
}
