//! The writer: protocols 2 to 5, every [`Value`] including globals and class instances.

use crate::error::{Error, Result};
use crate::value::{Construct, Global, Object, Value};

/// The protocol [`dumps`] writes: 4, CPython 3.8+'s default and what its `Connection.send()`
/// uses.
pub const DEFAULT_PROTOCOL: u8 = 4;

/// The deepest tree the writer accepts, as [`Limits::max_depth`](crate::Limits) for reading.
pub const MAX_WRITE_DEPTH: usize = 256;

/// Writes a [`Value`] as a pickle of [`DEFAULT_PROTOCOL`] (Python's `pickle.dumps`).
///
/// ```
/// use multiprocessing_pickle::{Value, dumps, loads};
/// let v = Value::List(vec![Value::Int(42), Value::None, Value::from("hello")]);
/// let bytes = dumps(&v).unwrap();
/// assert_eq!(&bytes[..2], b"\x80\x04");
/// assert_eq!(loads(&bytes).unwrap(), v);
/// ```
#[doc(alias = "pickle.dumps")]
pub fn dumps(value: &Value) -> Result<Vec<u8>> {
    dumps_protocol(value, DEFAULT_PROTOCOL)
}

/// Writes a [`Value`] as a pickle of `protocol` (2 to 5; every CPython 3.8+ reads them all).
///
/// Below protocol 3 bytes travel as `_codecs.encode(text, 'latin1')`, below 4 sets as
/// `builtins.set([...])`, below 5 a bytearray as `builtins.bytearray(b'...')`, as CPython
/// writes them.
///
/// ```
/// use multiprocessing_pickle::{Value, dumps_protocol, loads};
/// let v = Value::Set(vec![Value::Bytes(b"\x00\xff".to_vec())]);
/// for protocol in 2..=5 {
///     assert_eq!(loads(&dumps_protocol(&v, protocol).unwrap()).unwrap(), v);
/// }
/// ```
pub fn dumps_protocol(value: &Value, protocol: u8) -> Result<Vec<u8>> {
    if !(2..=5).contains(&protocol) {
        return Err(Error::Unsupported(format!("writing protocol {protocol}")));
    }
    let mut w = Writer {
        out: vec![0x80, protocol],
        proto: protocol,
        memo: 0,
        path: Vec::new(),
    };
    w.value(value)?;
    w.out.push(b'.');
    Ok(w.out)
}

struct Writer {
    out: Vec<u8>,
    proto: u8,
    memo: u32,
    /// For each enclosing container, its memo index (`None` for a tuple or frozenset, which
    /// cannot be referred to before it is complete).
    path: Vec<Option<u32>>,
}

const BATCH: usize = 1000;

impl Writer {
    fn memoize(&mut self) -> u32 {
        let i = self.memo;
        self.memo += 1;
        if self.proto >= 4 {
            self.out.push(0x94);
        } else if i < 256 {
            self.out.extend([b'q', i as u8]);
        } else {
            self.out.push(b'r');
            self.out.extend(i.to_le_bytes());
        }
        i
    }

    fn get(&mut self, i: u32) {
        if i < 256 {
            self.out.extend([b'h', i as u8]);
        } else {
            self.out.push(b'j');
            self.out.extend(i.to_le_bytes());
        }
    }

    fn enter(&mut self, memo: Option<u32>) -> Result<()> {
        if self.path.len() >= MAX_WRITE_DEPTH {
            return Err(Error::LimitExceeded(format!(
                "containers nested deeper than {MAX_WRITE_DEPTH}"
            )));
        }
        self.path.push(memo);
        Ok(())
    }

    fn str(&mut self, s: &str) {
        let b = s.as_bytes();
        if self.proto >= 4 && b.len() < 256 {
            self.out.extend([0x8c, b.len() as u8]);
        } else if let Ok(n) = u32::try_from(b.len()) {
            self.out.push(b'X');
            self.out.extend(n.to_le_bytes());
        } else {
            self.out.push(0x8d);
            self.out.extend((b.len() as u64).to_le_bytes());
        }
        self.out.extend_from_slice(b);
    }

    fn global(&mut self, g: &Global) -> Result<()> {
        if self.proto >= 4 {
            self.str(&g.module);
            self.str(&g.name);
            self.out.push(0x93);
        } else {
            if g.module.contains('\n') || g.name.contains('\n') {
                return Err(Error::Unsupported("a global name with a newline".into()));
            }
            self.out.push(b'c');
            self.out.extend_from_slice(g.module.as_bytes());
            self.out.push(b'\n');
            self.out.extend_from_slice(g.name.as_bytes());
            self.out.push(b'\n');
        }
        Ok(())
    }

    fn builtin(&mut self, name: &str) -> Result<()> {
        self.global(&Global::new("builtins", name))
    }

    fn int(&mut self, i: i128) {
        if (0..256).contains(&i) {
            self.out.extend([b'K', i as u8]);
        } else if (0..65536).contains(&i) {
            self.out.push(b'M');
            self.out.extend((i as u16).to_le_bytes());
        } else if let Ok(v) = i32::try_from(i) {
            self.out.push(b'J');
            self.out.extend(v.to_le_bytes());
        } else {
            let mut b = i.to_le_bytes().to_vec();
            while b.len() > 1 {
                let (last, prev) = (b[b.len() - 1], b[b.len() - 2]);
                if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
                    b.pop();
                } else {
                    break;
                }
            }
            self.long(&b);
        }
    }

    fn long(&mut self, b: &[u8]) {
        if b.len() < 256 {
            self.out.extend([0x8a, b.len() as u8]);
        } else {
            self.out.push(0x8b);
            self.out.extend((b.len() as u32).to_le_bytes());
        }
        self.out.extend_from_slice(b);
    }

    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        if self.proto >= 3 {
            if b.len() < 256 {
                self.out.extend([b'C', b.len() as u8]);
            } else if let Ok(n) = u32::try_from(b.len()) {
                self.out.push(b'B');
                self.out.extend(n.to_le_bytes());
            } else {
                self.out.push(0x8e);
                self.out.extend((b.len() as u64).to_le_bytes());
            }
            self.out.extend_from_slice(b);
            return Ok(());
        }
        // Protocol 2 has no bytes: CPython writes _codecs.encode(latin-1 text, 'latin1').
        self.global(&Global::new("_codecs", "encode"))?;
        let text: String = b.iter().map(|&c| char::from(c)).collect();
        self.str(&text);
        self.str("latin1");
        self.out.push(0x86);
        self.out.push(b'R');
        Ok(())
    }

    fn items(&mut self, items: &[Value], op: u8) -> Result<()> {
        for chunk in items.chunks(BATCH) {
            self.out.push(b'(');
            for v in chunk {
                self.value(v)?;
            }
            self.out.push(op);
        }
        Ok(())
    }

    fn pairs(&mut self, pairs: &[(Value, Value)]) -> Result<()> {
        for chunk in pairs.chunks(BATCH) {
            self.out.push(b'(');
            for (k, v) in chunk {
                self.value(k)?;
                self.value(v)?;
            }
            self.out.push(b'u');
        }
        Ok(())
    }

    fn tuple(&mut self, items: &[Value]) -> Result<()> {
        self.enter(None)?;
        match items.len() {
            0 => self.out.push(b')'),
            1..=3 => {
                for v in items {
                    self.value(v)?;
                }
                self.out.push(0x84 + items.len() as u8);
            }
            _ => {
                self.out.push(b'(');
                for v in items {
                    self.value(v)?;
                }
                self.out.push(b't');
            }
        }
        self.path.pop();
        Ok(())
    }

    /// `builtins.set([...])` / `builtins.frozenset([...])` below protocol 4.
    /// A set cannot contain itself in Python, so nothing refers back to it.
    fn reduce_set(&mut self, name: &str, items: &[Value]) -> Result<()> {
        self.builtin(name)?;
        self.out.push(b']');
        self.enter(None)?;
        self.items(items, b'e')?;
        self.path.pop();
        self.out.push(0x85);
        self.out.push(b'R');
        Ok(())
    }

    fn object(&mut self, o: &Object) -> Result<()> {
        self.global(&o.class)?;
        self.tuple(&o.args)?;
        match o.construct {
            Construct::Reduce if o.kwargs.is_empty() => self.out.push(b'R'),
            Construct::Reduce => {
                return Err(Error::Unsupported(
                    "keyword arguments to a REDUCE constructor".into(),
                ));
            }
            Construct::NewObj if o.kwargs.is_empty() => self.out.push(0x81),
            Construct::NewObj if self.proto >= 4 => {
                self.out.push(b'}');
                // The keyword dict is one level, as the reader counts it.
                self.enter(None)?;
                self.pairs(&o.kwargs)?;
                self.path.pop();
                self.out.push(0x92);
            }
            Construct::NewObj => {
                return Err(Error::Unsupported(
                    "keyword arguments to __new__ below protocol 4".into(),
                ));
            }
        }
        let m = self.memoize();
        self.enter(Some(m))?;
        if !o.list_items.is_empty() {
            self.items(&o.list_items, b'e')?;
        }
        if !o.dict_items.is_empty() {
            self.pairs(&o.dict_items)?;
        }
        if let Some(state) = &o.state {
            self.value(state)?;
            self.out.push(b'b');
        }
        self.path.pop();
        Ok(())
    }

    fn value(&mut self, v: &Value) -> Result<()> {
        match v {
            Value::None => self.out.push(b'N'),
            Value::Bool(true) => self.out.push(0x88),
            Value::Bool(false) => self.out.push(0x89),
            Value::Int(i) => self.int(*i),
            Value::BigInt(b) => self.long(b.to_signed_bytes_le()),
            Value::Float(f) => {
                self.out.push(b'G');
                self.out.extend(f.to_be_bytes());
            }
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => self.bytes(b)?,
            Value::ByteArray(b) => {
                if self.proto >= 5 {
                    self.out.push(0x96);
                    self.out.extend((b.len() as u64).to_le_bytes());
                    self.out.extend_from_slice(b);
                } else {
                    self.builtin("bytearray")?;
                    self.bytes(b)?;
                    self.out.push(0x85);
                    self.out.push(b'R');
                }
            }
            Value::Tuple(items) => self.tuple(items)?,
            Value::List(items) => {
                self.out.push(b']');
                let m = self.memoize();
                self.enter(Some(m))?;
                self.items(items, b'e')?;
                self.path.pop();
            }
            Value::Dict(pairs) => {
                self.out.push(b'}');
                let m = self.memoize();
                self.enter(Some(m))?;
                self.pairs(pairs)?;
                self.path.pop();
            }
            Value::Set(items) if self.proto >= 4 => {
                self.out.push(0x8f);
                let m = self.memoize();
                self.enter(Some(m))?;
                self.items(items, 0x90)?;
                self.path.pop();
            }
            Value::Set(items) => self.reduce_set("set", items)?,
            Value::FrozenSet(items) if self.proto >= 4 => {
                self.enter(None)?;
                self.out.push(b'(');
                for v in items {
                    self.value(v)?;
                }
                self.out.push(0x91);
                self.path.pop();
            }
            Value::FrozenSet(items) => self.reduce_set("frozenset", items)?,
            Value::Global(g) => self.global(g)?,
            Value::Object(o) => self.object(o)?,
            Value::Recursive(n) => {
                let target = self
                    .path
                    .len()
                    .checked_sub(*n)
                    .filter(|_| *n > 0)
                    .map(|i| self.path[i]);
                match target {
                    Some(Some(m)) => self.get(m),
                    Some(None) => {
                        return Err(Error::Unsupported(
                            "a recursive reference to a tuple or frozenset".into(),
                        ));
                    }
                    None => {
                        return Err(Error::Unsupported(format!(
                            "a recursive reference {n} levels up with only {} enclosing",
                            self.path.len()
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}
