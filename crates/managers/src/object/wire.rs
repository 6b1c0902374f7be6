//! The wire form of an [`Object`]: how trees travel between our processes inside postcard
//! messages, which are not self-describing.
//!
//! A tree is written as the sequence of its nodes in prefix order, each node tagged with its
//! kind, a container's node carrying its length (`[1, (2, 'a')]` is `List(2) Int(1) Tuple(2)
//! Int(2) Str('a')`). A flat sequence keeps the message's own nesting shallow whatever the
//! tree's depth, and the reader rebuilds the tree with an explicit stack: no recursion, so
//! hostile bytes can neither overflow the stack nor make it reserve memory they do not carry.
//! A tree deeper than [`MAX_DEPTH`] levels (each container and proxy is one) is refused both
//! ways, as [`to_object`](super::to_object) and [`from_object`](super::from_object) refuse it.
//!
//! An [`Object`] uses this form by itself in formats that are not human-readable (postcard,
//! so inside any of our messages). [`WireObject`] and `#[serde(with = "wire")]` use it in every
//! format, e.g. to keep tuples and proxies exact through JSON:
//!
//! ```
//! use multiprocessing_core::codec;
//! use multiprocessing_managers::object::{Object, WireObject, wire};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! enum Request {
//!     Set { key: Object, #[serde(with = "wire")] value: Object, old: WireObject },
//! }
//!
//! let (key, value) = (Object::from(0.25), Object::tuple([1]));
//! let msg = Request::Set { key: key.clone(), value: value.clone(), old: Object::None.into() };
//! let Request::Set { key: k, value: v, .. } = codec::decode(&codec::encode(&msg).unwrap()).unwrap();
//! assert_eq!((k, v), (key, value));
//! let json = serde_json::to_string(&msg).unwrap();
//! assert_eq!(json, r#"{"Set":{"key":0.25,"value":[{"Tuple":1},{"Int":1}],"old":["None"]}}"#);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Error as _, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{MAX_DEPTH, Object, ObjectError, Token};

/// An [`Object`] that serializes in its [wire form](self): usable inside postcard messages (and
/// any other format), where a bare `Object`'s natural form cannot be read back.
///
/// ```
/// use multiprocessing_managers::object::{Object, WireObject};
/// let o = Object::list([Object::from(1), Object::from("a")]);
/// let bytes = multiprocessing_core::codec::encode(&WireObject(o.clone())).unwrap();
/// let back: WireObject = multiprocessing_core::codec::decode(&bytes).unwrap();
/// assert_eq!(back.0, o);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct WireObject(pub Object);

impl From<Object> for WireObject {
    fn from(o: Object) -> Self {
        WireObject(o)
    }
}

impl From<WireObject> for Object {
    fn from(w: WireObject) -> Self {
        w.0
    }
}

impl Serialize for WireObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for WireObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize(d).map(WireObject)
    }
}

/// Writes `obj` in its wire form: for `#[serde(with = "wire")]` on an [`Object`] field.
///
/// # Errors
/// The serializer's error for a tree deeper than [`MAX_DEPTH`], or the serializer's own.
pub fn serialize<S: Serializer>(obj: &Object, s: S) -> Result<S::Ok, S::Error> {
    let mut count = 0usize;
    for (node, depth) in Preorder::new(obj) {
        count += 1;
        if node.too_deep(depth) {
            return Err(S::Error::custom(ObjectError::too_deep()));
        }
    }
    let mut seq = s.serialize_seq(Some(count))?;
    for (node, _) in Preorder::new(obj) {
        seq.serialize_element(&node)?;
    }
    seq.end()
}

/// Reads an [`Object`] in its wire form: for `#[serde(with = "wire")]` on an [`Object`] field.
///
/// # Errors
/// The deserializer's error for malformed nodes, a truncated tree, nodes after its end, or a
/// tree deeper than [`MAX_DEPTH`].
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Object, D::Error> {
    d.deserialize_seq(NodesVisitor)
}

impl Object {
    /// Encodes this object in its [wire form](self) (postcard bytes), for
    /// [`from_wire`](Object::from_wire) in this process or another.
    ///
    /// # Errors
    /// [`ObjectError::TooDeep`] for a tree deeper than [`MAX_DEPTH`].
    ///
    /// ```
    /// use multiprocessing_managers::object::Object;
    /// let o = Object::dict([(Object::from(1), Object::from("1")), (Object::from(0.25), Object::None)]);
    /// let bytes = o.to_wire().unwrap();
    /// assert_eq!(Object::from_wire(&bytes).unwrap(), o);
    /// ```
    pub fn to_wire(&self) -> Result<Vec<u8>, ObjectError> {
        let mut out = Vec::new();
        self.to_wire_into(&mut out)?;
        Ok(out)
    }

    /// [`to_wire`](Object::to_wire), appending to `out` (after a frame header, say).
    ///
    /// # Errors
    /// [`ObjectError::TooDeep`] for a tree deeper than [`MAX_DEPTH`]; `out` is left as it was.
    pub fn to_wire_into(&self, out: &mut Vec<u8>) -> Result<(), ObjectError> {
        // Checked first: the codec empties `out` on an error, and depth is the only one.
        if Preorder::new(self).any(|(node, depth)| node.too_deep(depth)) {
            return Err(ObjectError::too_deep());
        }
        multiprocessing_core::codec::encode_into(&Borrowed(self), out)
            .map_err(|e| ObjectError::Wire(e.to_string()))
    }

    /// Decodes an object from its [wire form](self). Never panics: malformed, truncated or
    /// trailing bytes are [`ObjectError::Wire`], a tree deeper than [`MAX_DEPTH`] too.
    ///
    /// # Errors
    /// [`ObjectError::Wire`] when the bytes are not one object's wire form.
    ///
    /// ```
    /// use multiprocessing_managers::object::{Object, ObjectError};
    /// let bytes = Object::list([Object::from("a")]).to_wire().unwrap();
    /// assert!(matches!(Object::from_wire(&bytes[..bytes.len() - 1]), Err(ObjectError::Wire(_))));
    /// ```
    pub fn from_wire(bytes: &[u8]) -> Result<Object, ObjectError> {
        multiprocessing_core::codec::decode::<WireObject>(bytes)
            .map(|w| w.0)
            .map_err(|e| match e {
                multiprocessing_core::Error::Codec(msg) => ObjectError::Wire(msg),
                other => ObjectError::Wire(other.to_string()),
            })
    }
}

/// Serializes a borrowed object in its wire form.
struct Borrowed<'a>(&'a Object);

impl Serialize for Borrowed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(self.0, s)
    }
}

/// One node of the prefix-order sequence, as written.
#[derive(Serialize)]
#[serde(rename = "Node")]
enum NodeOut<'a> {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
    Bytes(BytesOut<'a>),
    List(u64),
    Tuple(u64),
    Dict(u64),
    Proxy(&'a Token),
    Pickled(BytesOut<'a>),
}

impl NodeOut<'_> {
    /// Whether this node, inside `depth` containers, is past the limit: each container and
    /// proxy is a level, as in [`to_object`](super::to_object) and
    /// [`from_object`](super::from_object), so a tree the wire accepts converts both ways.
    fn too_deep(&self, depth: usize) -> bool {
        let level = matches!(
            self,
            NodeOut::List(_) | NodeOut::Tuple(_) | NodeOut::Dict(_) | NodeOut::Proxy(_)
        );
        level && depth >= MAX_DEPTH
    }
}

/// One node of the prefix-order sequence, as read; the same tags as [`NodeOut`].
#[derive(Deserialize)]
#[serde(rename = "Node")]
enum NodeIn {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(BytesIn),
    List(u64),
    Tuple(u64),
    Dict(u64),
    Proxy(Token),
    Pickled(BytesIn),
}

/// Bytes written as serde bytes (one length and the bytes in postcard), not a sequence of
/// integers.
struct BytesOut<'a>(&'a [u8]);

impl Serialize for BytesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

struct BytesIn(Vec<u8>);

impl<'de> Deserialize<'de> for BytesIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = BytesIn;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<BytesIn, E> {
        Ok(BytesIn(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<BytesIn, E> {
        Ok(BytesIn(v))
    }
    // Self-describing formats without bytes (JSON) write a sequence of integers.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BytesIn, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element()? {
            out.push(b);
        }
        Ok(BytesIn(out))
    }
}

/// Walks a tree in prefix order without recursion, giving each node and its depth (the number
/// of containers around it).
struct Preorder<'a> {
    root: Option<&'a Object>,
    stack: Vec<Pending<'a>>,
}

/// The children of a container still to walk.
enum Pending<'a> {
    Items(std::slice::Iter<'a, Object>),
    Entries {
        iter: std::collections::btree_map::Iter<'a, Object, Object>,
        value: Option<&'a Object>,
    },
}

impl<'a> Preorder<'a> {
    fn new(root: &'a Object) -> Self {
        Preorder {
            root: Some(root),
            stack: Vec::new(),
        }
    }

    /// The next object in prefix order, and its depth.
    fn next_object(&mut self) -> Option<(&'a Object, usize)> {
        if let Some(root) = self.root.take() {
            return Some((root, 0));
        }
        loop {
            let depth = self.stack.len();
            let next = match self.stack.last_mut()? {
                Pending::Items(iter) => iter.next(),
                Pending::Entries { iter, value } => match value.take() {
                    Some(v) => Some(v),
                    None => iter.next().map(|(k, v)| {
                        *value = Some(v);
                        k
                    }),
                },
            };
            match next {
                Some(obj) => return Some((obj, depth)),
                None => {
                    self.stack.pop();
                }
            }
        }
    }
}

impl<'a> Iterator for Preorder<'a> {
    type Item = (NodeOut<'a>, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let (obj, depth) = self.next_object()?;
        let len = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let node = match obj {
            Object::None => NodeOut::None,
            Object::Bool(b) => NodeOut::Bool(*b),
            Object::Int(i) => NodeOut::Int(*i),
            Object::Float(f) => NodeOut::Float(*f),
            Object::Str(s) => NodeOut::Str(s),
            Object::Bytes(b) => NodeOut::Bytes(BytesOut(b)),
            Object::List(items) => {
                self.stack.push(Pending::Items(items.iter()));
                NodeOut::List(len(items.len()))
            }
            Object::Tuple(items) => {
                self.stack.push(Pending::Items(items.iter()));
                NodeOut::Tuple(len(items.len()))
            }
            Object::Dict(map) => {
                self.stack.push(Pending::Entries {
                    iter: map.iter(),
                    value: None,
                });
                NodeOut::Dict(len(map.len()))
            }
            Object::Proxy(token) => NodeOut::Proxy(token),
            Object::Pickled(p) => NodeOut::Pickled(BytesOut(p.as_bytes())),
        };
        Some((node, depth))
    }
}

/// A container being rebuilt: its children so far and how many are still to come.
enum Frame {
    Items {
        items: Vec<Object>,
        tuple: bool,
        left: u64,
    },
    Dict {
        map: BTreeMap<Object, Object>,
        key: Option<Object>,
        /// Children (keys and values) still to come.
        left: u64,
    },
}

impl Frame {
    /// A container of `len` children, or the empty container itself when it has none.
    fn open(len: u64, kind: NodeIn) -> Result<Frame, Object> {
        // A claimed length is the sender's word: reserve only what a message could carry.
        let cap = usize::try_from(len.min(1024)).unwrap_or(0);
        match kind {
            NodeIn::Dict(_) if len == 0 => Err(Object::Dict(BTreeMap::new())),
            NodeIn::Dict(_) => Ok(Frame::Dict {
                map: BTreeMap::new(),
                key: None,
                left: len.saturating_mul(2),
            }),
            NodeIn::Tuple(_) if len == 0 => Err(Object::Tuple(Vec::new())),
            _ if len == 0 => Err(Object::List(Vec::new())),
            kind => Ok(Frame::Items {
                items: Vec::with_capacity(cap),
                tuple: matches!(kind, NodeIn::Tuple(_)),
                left: len,
            }),
        }
    }

    /// Adds one child; the finished container when that was its last.
    fn push(&mut self, child: Object) -> Option<Object> {
        match self {
            Frame::Items { items, tuple, left } => {
                items.push(child);
                *left -= 1;
                (*left == 0).then(|| {
                    let items = std::mem::take(items);
                    if *tuple {
                        Object::Tuple(items)
                    } else {
                        Object::List(items)
                    }
                })
            }
            Frame::Dict { map, key, left } => {
                match key.take() {
                    None => *key = Some(child),
                    Some(k) => {
                        map.insert(k, child);
                    }
                }
                *left -= 1;
                (*left == 0).then(|| Object::Dict(std::mem::take(map)))
            }
        }
    }
}

struct NodesVisitor;

impl<'de> Visitor<'de> for NodesVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object's nodes in prefix order")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Object, A::Error> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let Some(node) = seq.next_element::<NodeIn>()? else {
                return Err(A::Error::custom(match stack.len() {
                    0 => "no object: an empty node sequence".to_owned(),
                    n => format!("a truncated object: {n} containers unfinished"),
                }));
            };
            let mut done = match node {
                NodeIn::None => Object::None,
                NodeIn::Bool(b) => Object::Bool(b),
                NodeIn::Int(i) => Object::Int(i),
                NodeIn::Float(f) => Object::Float(f),
                NodeIn::Str(s) => Object::Str(s),
                NodeIn::Bytes(b) => Object::Bytes(b.0),
                // Each container and proxy is a level (see `NodeOut::too_deep`).
                NodeIn::Proxy(_) | NodeIn::List(_) | NodeIn::Tuple(_) | NodeIn::Dict(_)
                    if stack.len() >= MAX_DEPTH =>
                {
                    return Err(A::Error::custom(ObjectError::too_deep()));
                }
                NodeIn::Proxy(t) => Object::Proxy(t),
                NodeIn::Pickled(b) => {
                    Object::Pickled(super::Pickled::from_bytes(b.0).map_err(A::Error::custom)?)
                }
                NodeIn::List(len) | NodeIn::Tuple(len) | NodeIn::Dict(len) => {
                    match Frame::open(len, node) {
                        Ok(frame) => {
                            stack.push(frame);
                            continue;
                        }
                        Err(empty) => empty,
                    }
                }
            };
            // Hand the finished value up, closing every container it completes.
            loop {
                let Some(top) = stack.last_mut() else {
                    if seq.next_element::<NodeIn>()?.is_some() {
                        return Err(A::Error::custom("nodes after the end of the object"));
                    }
                    return Ok(done);
                };
                match top.push(done) {
                    Some(finished) => {
                        stack.pop();
                        done = finished;
                    }
                    None => break,
                }
            }
        }
    }
}
