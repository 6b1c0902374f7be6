//! Into the tree: [`to_object`], a serde `Serializer` that builds an [`Object`], and the
//! `Serialize` impls of [`Object`] and [`Token`].

use std::collections::BTreeMap;

use serde::ser::{self, Serialize, SerializeStruct};

use super::{MAX_DEPTH, Object, ObjectError, PICKLED_MARKER, Pickled, TOKEN_MARKER, Token};

/// Converts any serde value into an [`Object`] tree.
///
/// The mapping is the table of the [module docs](super); a [`Token`] inside the value becomes
/// an [`Object::Proxy`]. A value nesting deeper than [`MAX_DEPTH`] levels, or an integer beyond
/// `i128`, is an error.
///
/// ```
/// use std::collections::BTreeMap;
/// use multiprocessing_managers::object::{Object, to_object};
///
/// #[derive(serde::Serialize)]
/// struct Point { x: i32, y: f64 }
///
/// let o = to_object(&Point { x: 1, y: 0.5 }).unwrap();
/// assert_eq!(o.to_string(), "{'x': 1, 'y': 0.5}");
/// let o = to_object(&BTreeMap::from([(2u8, Some("b")), (1, None)])).unwrap();
/// assert_eq!(o.to_string(), "{1: None, 2: 'b'}");
/// assert_eq!(to_object(&(1, "a")).unwrap().to_string(), "(1, 'a')");
/// ```
#[doc(alias = "pickle.dumps")]
pub fn to_object<T: Serialize + ?Sized>(value: &T) -> Result<Object, ObjectError> {
    value.serialize(ObjectSerializer { depth: 0 })
}

/// Builds the [`Object`] of one value; `depth` counts the containers, `Some`s and newtypes
/// around it (the count [`multiprocessing_core::codec`] keeps, so the two agree on a limit).
#[derive(Clone, Copy)]
struct ObjectSerializer {
    depth: usize,
}

impl ObjectSerializer {
    /// The serializer of a value one level further in.
    fn nested(self) -> Result<ObjectSerializer, ObjectError> {
        if self.depth >= MAX_DEPTH {
            return Err(ObjectError::too_deep());
        }
        Ok(ObjectSerializer {
            depth: self.depth + 1,
        })
    }
}

fn variant_dict(variant: &str, value: Object) -> Object {
    Object::Dict(BTreeMap::from([(Object::Str(variant.to_owned()), value)]))
}

impl ser::Serializer for ObjectSerializer {
    type Ok = Object;
    type Error = ObjectError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Object, ObjectError> {
        Ok(Object::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Object, ObjectError> {
        Ok(Object::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Object, ObjectError> {
        Ok(Object::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Object, ObjectError> {
        Ok(Object::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Object, ObjectError> {
        Ok(Object::Int(v.into()))
    }
    fn serialize_i128(self, v: i128) -> Result<Object, ObjectError> {
        Ok(Object::Int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Object, ObjectError> {
        Ok(Object::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Object, ObjectError> {
        Ok(Object::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Object, ObjectError> {
        Ok(Object::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Object, ObjectError> {
        Ok(Object::Int(v.into()))
    }
    fn serialize_u128(self, v: u128) -> Result<Object, ObjectError> {
        i128::try_from(v)
            .map(Object::Int)
            .map_err(|_| ObjectError::InvalidValue {
                expected: "an integer within i128".into(),
                found: format!("integer `{v}`"),
            })
    }
    fn serialize_f32(self, v: f32) -> Result<Object, ObjectError> {
        Ok(Object::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Object, ObjectError> {
        Ok(Object::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Object, ObjectError> {
        Ok(Object::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Object, ObjectError> {
        Ok(Object::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Object, ObjectError> {
        Ok(Object::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Object, ObjectError> {
        Ok(Object::None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Object, ObjectError> {
        value.serialize(self.nested()?)
    }
    fn serialize_unit(self) -> Result<Object, ObjectError> {
        Ok(Object::None)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Object, ObjectError> {
        Ok(Object::None)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Object, ObjectError> {
        Ok(Object::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Object, ObjectError> {
        if name == PICKLED_MARKER {
            return match value.serialize(self)? {
                Object::Bytes(b) => Pickled::from_bytes(b)
                    .map(Object::Pickled)
                    .map_err(|e| ObjectError::Message(format!("a malformed pickle: {e}"))),
                other => Err(ObjectError::Message(format!(
                    "a pickled object that is not bytes: {other:?}"
                ))),
            };
        }
        if name == TOKEN_MARKER {
            // The token's struct inside is the proxy's one level, as in `from_object`.
            let inner = value.serialize(self)?;
            // The fields of a token (or of a proxy that serializes as one): a reference.
            return super::from_object_ref::<Token>(&inner)
                .map(Object::Proxy)
                .map_err(|e| ObjectError::Message(format!("a malformed manager token: {e}")));
        }
        value.serialize(self.nested()?)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Object, ObjectError> {
        Ok(variant_dict(variant, value.serialize(self.nested()?)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, ObjectError> {
        SeqBuilder::new(self, len.unwrap_or(0), SeqKind::List)
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, ObjectError> {
        SeqBuilder::new(self, len, SeqKind::Tuple)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ObjectError> {
        SeqBuilder::new(self, len, SeqKind::Tuple)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ObjectError> {
        // The variant's Dict is one level, its tuple another.
        SeqBuilder::new(self.nested()?, len, SeqKind::Variant(variant))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, ObjectError> {
        MapBuilder::new(self, None)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<MapBuilder, ObjectError> {
        MapBuilder::new(self, None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapBuilder, ObjectError> {
        MapBuilder::new(self.nested()?, Some(variant))
    }
}

#[derive(Clone, Copy)]
enum SeqKind {
    List,
    Tuple,
    /// A tuple variant: `{variant: (..)}`.
    Variant(&'static str),
}

/// Collects the elements of a sequence, tuple or tuple variant.
struct SeqBuilder {
    items: Vec<Object>,
    kind: SeqKind,
    element: ObjectSerializer,
}

impl SeqBuilder {
    fn new(ser: ObjectSerializer, len: usize, kind: SeqKind) -> Result<SeqBuilder, ObjectError> {
        Ok(SeqBuilder {
            // A size hint is the caller's claim; cap what is reserved on its word.
            items: Vec::with_capacity(len.min(4096)),
            kind,
            element: ser.nested()?,
        })
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ObjectError> {
        self.items.push(value.serialize(self.element)?);
        Ok(())
    }

    fn finish(self) -> Object {
        match self.kind {
            SeqKind::List => Object::List(self.items),
            SeqKind::Tuple => Object::Tuple(self.items),
            SeqKind::Variant(v) => variant_dict(v, Object::Tuple(self.items)),
        }
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Object;
    type Error = ObjectError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ObjectError> {
        self.push(value)
    }
    fn end(self) -> Result<Object, ObjectError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Object;
    type Error = ObjectError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ObjectError> {
        self.push(value)
    }
    fn end(self) -> Result<Object, ObjectError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Object;
    type Error = ObjectError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ObjectError> {
        self.push(value)
    }
    fn end(self) -> Result<Object, ObjectError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Object;
    type Error = ObjectError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ObjectError> {
        self.push(value)
    }
    fn end(self) -> Result<Object, ObjectError> {
        Ok(self.finish())
    }
}

/// Collects the entries of a map, struct or struct variant.
struct MapBuilder {
    map: BTreeMap<Object, Object>,
    key: Option<Object>,
    variant: Option<&'static str>,
    entry: ObjectSerializer,
}

impl MapBuilder {
    fn new(
        ser: ObjectSerializer,
        variant: Option<&'static str>,
    ) -> Result<MapBuilder, ObjectError> {
        Ok(MapBuilder {
            map: BTreeMap::new(),
            key: None,
            variant,
            entry: ser.nested()?,
        })
    }

    /// Python's `d[k] = v`: a key equal to one already there (`1` and `1.0`) keeps the first
    /// key and takes the new value.
    fn insert(&mut self, key: Object, value: Object) {
        self.map.insert(key, value);
    }

    fn finish(self) -> Object {
        let dict = Object::Dict(self.map);
        match self.variant {
            Some(v) => variant_dict(v, dict),
            None => dict,
        }
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Object;
    type Error = ObjectError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ObjectError> {
        self.key = Some(key.serialize(self.entry)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ObjectError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ObjectError::Message("a map value without its key".into()))?;
        let value = value.serialize(self.entry)?;
        self.insert(key, value);
        Ok(())
    }
    fn end(self) -> Result<Object, ObjectError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Object;
    type Error = ObjectError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ObjectError> {
        let value = value.serialize(self.entry)?;
        self.insert(Object::Str(key.to_owned()), value);
        Ok(())
    }
    fn end(self) -> Result<Object, ObjectError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Object;
    type Error = ObjectError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ObjectError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<Object, ObjectError> {
        Ok(self.finish())
    }
}

/// Python's data model in serde's: `None` is a unit, an `int` the narrowest of `i64`, `u64` and
/// `i128` that holds it, a `tuple` a tuple, a `dict` a map, a proxy its [`Token`]. So
/// [`to_object`] gives the object back, and `serde_json` writes `[1, {"a": null}]`.
///
/// Formats that are not human-readable (postcard, our codec; bincode) get the tagged
/// [wire form](super::wire) instead, which they can read back without describing themselves:
/// an `Object` field in a message just works.
///
/// ```
/// use multiprocessing_core::codec;
/// use multiprocessing_managers::object::{Object, to_object};
/// let o = Object::list([Object::from(1), Object::tuple([Object::from("a"), Object::None])]);
/// assert_eq!(to_object(&o).unwrap(), o);
/// assert_eq!(serde_json::to_string(&o).unwrap(), r#"[1,["a",null]]"#);
/// let back: Object = codec::decode(&codec::encode(&o).unwrap()).unwrap();
/// assert_eq!(back, o);
/// ```
impl Serialize for Object {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            return super::wire::serialize(self, s);
        }
        match self {
            Object::None => s.serialize_unit(),
            Object::Bool(b) => s.serialize_bool(*b),
            Object::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    s.serialize_i64(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    s.serialize_u64(v)
                } else {
                    s.serialize_i128(*i)
                }
            }
            Object::Float(f) => s.serialize_f64(*f),
            Object::Str(v) => s.serialize_str(v),
            Object::Bytes(v) => s.serialize_bytes(v),
            Object::List(items) => s.collect_seq(items),
            Object::Tuple(items) => {
                use ser::SerializeTuple;
                let mut t = s.serialize_tuple(items.len())?;
                for item in items {
                    t.serialize_element(item)?;
                }
                t.end()
            }
            Object::Dict(map) => s.collect_map(map),
            Object::Proxy(token) => token.serialize(s),
            // Its pickle's bytes: what a self-describing format can carry of it (and, marked,
            // what `to_object` makes a `Pickled` again).
            Object::Pickled(p) => s.serialize_newtype_struct(PICKLED_MARKER, &PickleBytes(p)),
        }
    }
}

/// A pickle's bytes, as bytes.
struct PickleBytes<'a>(&'a Pickled);

impl Serialize for PickleBytes<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0.as_bytes())
    }
}

/// A token is the newtype struct [`TOKEN_MARKER`] around a struct of its three fields: other
/// serializers see the plain struct (`{"typeid": .., "address": .., "id": ..}` in JSON), and
/// [`to_object`] recognizes the marker and makes the token an [`Object::Proxy`]. A type that
/// wraps a token (a proxy) serializes through the token to be stored as a reference.
///
/// ```
/// use multiprocessing_managers::object::{Object, Token, to_object};
/// let token = Token { typeid: "list".into(), address: "/tmp/m".into(), id: 7 };
/// assert_eq!(to_object(&token).unwrap(), Object::Proxy(token.clone()));
/// assert_eq!(
///     serde_json::to_string(&token).unwrap(),
///     r#"{"typeid":"list","address":"/tmp/m","id":7}"#,
/// );
/// ```
impl Serialize for Token {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(TOKEN_MARKER, &TokenFields(self))
    }
}

/// A token's fields as a plain struct.
struct TokenFields<'a>(&'a Token);

impl Serialize for TokenFields<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Token", 3)?;
        st.serialize_field("typeid", &self.0.typeid)?;
        st.serialize_field("address", &self.0.address)?;
        st.serialize_field("id", &self.0.id)?;
        st.end()
    }
}
