//! The reader: protocols 0 to 5, as data. No global is ever resolved and no callable is ever
//! called; a fixed table of builtins that make plain data (`set`, `frozenset`, `bytearray`,
//! `bytes`, `_codecs.encode` of latin-1 text, `copyreg._reconstructor`) is read as the data it
//! describes, every other `REDUCE` / `NEWOBJ` becomes an [`Object`].
//!
//! Internally, containers live in an arena and the stack and memo hold their indices, so shared
//! and recursive containers cost nothing while reading; the tree is made at the end, with
//! [`Value::Recursive`] where a cycle closes and an output budget against exponential sharing.

use std::collections::HashMap;

use crate::compat::{IMPORT_MAPPING, NAME_MAPPING};
use crate::error::{Error, Result};
use crate::value::{BigInt, Construct, Global, Object, Value};

/// Bounds on what reading one pickle may cost, whatever its bytes claim.
///
/// Lengths inside the pickle are always checked against the bytes present before anything is
/// allocated, so a 4-byte length of 4 GB in a 10-byte pickle is [`Error::Truncated`], not a
/// 4 GB allocation.
///
/// ```
/// use multiprocessing_pickle::{Error, Limits, Value, dumps, loads_with_limits};
/// let mut deep = Value::None;
/// for _ in 0..50 {
///     deep = Value::List(vec![deep]);
/// }
/// let bytes = dumps(&deep).unwrap();
/// let limits = Limits { max_depth: 10, ..Limits::default() };
/// assert!(matches!(loads_with_limits(&bytes, &limits), Err(Error::LimitExceeded(_))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of containers in the result: 256, so that reading, writing, dropping and
    /// converting the tree stay well inside a 2 MiB thread stack even in debug builds.
    pub max_depth: usize,
    /// Most memo entries a pickle may create.
    pub max_memo: usize,
    /// Most elements plus bytes the result may hold, as a multiple of the input's length, on
    /// top of [`Limits::base_output`]: sharing (`[a, a]`, `[b, b]` with `b = [a, a]`, ...)
    /// cannot inflate a small pickle into a huge tree.
    pub output_per_input_byte: usize,
    /// The output allowance every pickle has, whatever its length.
    pub base_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_memo: 1 << 20,
            output_per_input_byte: 64,
            base_output: 1 << 20,
        }
    }
}

/// Reads a pickle as a [`Value`] with the default [`Limits`] (Python's `pickle.loads`, minus
/// the code execution).
///
/// ```
/// use multiprocessing_pickle::{Value, loads};
/// // What CPython's pickle.dumps([42, None, 'hello', {'a': 1}], protocol=2) gives.
/// let v = loads(b"\x80\x02]q\x00(K*NX\x05\x00\x00\x00helloq\x01}q\x02X\x01\x00\x00\x00aq\x03K\x01se.").unwrap();
/// assert_eq!(v.to_string(), "[42, None, 'hello', {'a': 1}]");
/// ```
#[doc(alias = "pickle.loads")]
pub fn loads(data: &[u8]) -> Result<Value> {
    loads_with_limits(data, &Limits::default())
}

/// [`loads`] with chosen [`Limits`].
pub fn loads_with_limits(data: &[u8], limits: &Limits) -> Result<Value> {
    let mut r = Reader {
        data,
        pos: 0,
        op_at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        nodes: Vec::new(),
        proto: 0,
        max_memo: limits.max_memo,
    };
    let root = r.run()?;
    let budget = data
        .len()
        .saturating_mul(limits.output_per_input_byte)
        .saturating_add(limits.base_output);
    let mut b = Builder::new(r.nodes, &root, limits.max_depth, budget);
    b.build(&root, true)
}

/// A stack or memo entry: scalars inline, everything else an arena index.
#[derive(Debug, Clone, Copy)]
enum Item {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Node(usize),
}

#[derive(Debug)]
enum Node {
    /// Strings, bytes, big ints, globals: no children.
    Leaf(Value),
    List(Vec<Item>),
    Tuple(Vec<Item>),
    Dict(Vec<(Item, Item)>),
    Set(Vec<Item>),
    FrozenSet(Vec<Item>),
    Object(Box<ObjectNode>),
}

#[derive(Debug)]
struct ObjectNode {
    class: Global,
    construct: Construct,
    args: Vec<Item>,
    kwargs: Vec<(Item, Item)>,
    state: Option<Item>,
    list_items: Vec<Item>,
    dict_items: Vec<(Item, Item)>,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    op_at: usize,
    stack: Vec<Item>,
    marks: Vec<usize>,
    memo: HashMap<u64, Item>,
    nodes: Vec<Node>,
    proto: u8,
    max_memo: usize,
}

fn unsupported<T>(what: &str) -> Result<T> {
    Err(Error::Unsupported(what.to_owned()))
}

impl Reader<'_> {
    fn bad<T>(&self, reason: impl Into<String>) -> Result<T> {
        Err(Error::Malformed {
            offset: self.op_at,
            reason: reason.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.data.len() - self.pos < n {
            return Err(Error::Truncated {
                offset: self.data.len(),
            });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take_array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<usize> {
        Ok(u32::from_le_bytes(self.take_array()?) as usize)
    }

    fn u64(&mut self) -> Result<usize> {
        // A length beyond usize is beyond the input too: take() reports it truncated.
        Ok(usize::try_from(u64::from_le_bytes(self.take_array()?)).unwrap_or(usize::MAX))
    }

    fn line(&mut self) -> Result<&[u8]> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(Error::Truncated {
                offset: self.data.len(),
            }),
        }
    }

    fn line_str(&mut self) -> Result<String> {
        let l = self.line()?;
        match std::str::from_utf8(l) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => self.bad("text operand is not UTF-8"),
        }
    }

    fn node(&mut self, n: Node) -> Item {
        self.nodes.push(n);
        Item::Node(self.nodes.len() - 1)
    }

    fn leaf(&mut self, v: Value) -> Item {
        self.node(Node::Leaf(v))
    }

    fn int(&mut self, v: Value) -> Item {
        match v {
            Value::Int(i) => Item::Int(i),
            other => self.leaf(other),
        }
    }

    fn push(&mut self, i: Item) {
        self.stack.push(i);
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Item> {
        if self.stack.len() <= self.floor() {
            return self.bad("unpickling stack underflow");
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    fn top(&self) -> Result<Item> {
        if self.stack.len() <= self.floor() {
            return self.bad("unpickling stack underflow");
        }
        Ok(self.stack[self.stack.len() - 1])
    }

    fn pop_mark(&mut self) -> Result<Vec<Item>> {
        match self.marks.pop() {
            Some(k) => Ok(self.stack.split_off(k)),
            None => self.bad("could not find MARK"),
        }
    }

    fn pairs(&self, items: Vec<Item>) -> Result<Vec<(Item, Item)>> {
        if !items.len().is_multiple_of(2) {
            return self.bad("odd number of items for a dict");
        }
        let mut it = items.into_iter();
        let mut out = Vec::with_capacity(it.len() / 2);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        Ok(out)
    }

    fn memo_put(&mut self, key: u64) -> Result<()> {
        let top = self.top()?;
        if self.memo.len() >= self.max_memo && !self.memo.contains_key(&key) {
            return Err(Error::LimitExceeded(format!(
                "more than {} memo entries",
                self.max_memo
            )));
        }
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<()> {
        match self.memo.get(&key) {
            Some(&i) => {
                self.push(i);
                Ok(())
            }
            None => self.bad(format!("memo key {key} not found")),
        }
    }

    fn leaf_value(&self, i: Item) -> Option<&Value> {
        match i {
            Item::Node(n) => match &self.nodes[n] {
                Node::Leaf(v) => Some(v),
                _ => None,
            },
            _ => None,
        }
    }

    fn tuple_items(&self, i: Item, what: &str) -> Result<Vec<Item>> {
        match i {
            Item::Node(n) => match &self.nodes[n] {
                Node::Tuple(items) => Ok(items.clone()),
                _ => self.bad(format!("{what} is not a tuple")),
            },
            _ => self.bad(format!("{what} is not a tuple")),
        }
    }

    fn global_of(&self, i: Item, what: &str) -> Result<Global> {
        match self.leaf_value(i) {
            Some(Value::Global(g)) => Ok(g.clone()),
            _ => unsupported(&format!("{what} that is not a global name")),
        }
    }

    fn find_class(&self, module: String, name: String) -> Global {
        if self.proto < 3 {
            if let Some((_, (m, n))) = NAME_MAPPING
                .iter()
                .find(|((m, n), _)| *m == module && *n == name)
            {
                return Global::new(*m, *n);
            }
            if let Some((_, m)) = IMPORT_MAPPING.iter().find(|(m, _)| *m == module) {
                return Global::new(*m, name);
            }
        }
        Global { module, name }
    }

    /// `class(*args)`: plain data for the builtins that make it, an [`Object`] otherwise.
    fn reduce(&mut self, class: Global, args: Vec<Item>) -> Result<Item> {
        let arg_values: Vec<Option<&Value>> = args.iter().map(|&a| self.leaf_value(a)).collect();
        let seq = |r: &Self, i: Item| -> Option<Vec<Item>> {
            match i {
                Item::Node(n) => match &r.nodes[n] {
                    Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
                        Some(v.clone())
                    }
                    _ => None,
                },
                _ => None,
            }
        };
        let data = match (class.module.as_str(), class.name.as_str()) {
            ("_codecs", "encode") => match arg_values.as_slice() {
                [Some(Value::Str(s)), Some(Value::Str(enc))]
                    if is_latin1(enc) && s.chars().all(|c| (c as u32) < 256) =>
                {
                    Some(Node::Leaf(Value::Bytes(
                        s.chars().map(|c| c as u8).collect(),
                    )))
                }
                _ => None,
            },
            ("builtins", "bytes") if args.is_empty() => Some(Node::Leaf(Value::Bytes(Vec::new()))),
            ("builtins", "bytearray") => match arg_values.as_slice() {
                [] => Some(Node::Leaf(Value::ByteArray(Vec::new()))),
                [Some(Value::Bytes(b))] => Some(Node::Leaf(Value::ByteArray(b.clone()))),
                // bytearray('text', 'latin-1'): how CPython 3.8-3.10 write it below protocol 3.
                [Some(Value::Str(s)), Some(Value::Str(enc))]
                    if is_latin1(enc) && s.chars().all(|c| (c as u32) < 256) =>
                {
                    Some(Node::Leaf(Value::ByteArray(
                        s.chars().map(|c| c as u8).collect(),
                    )))
                }
                _ => None,
            },
            ("builtins", "set") => match args.as_slice() {
                [] => Some(Node::Set(Vec::new())),
                [a] => seq(self, *a).map(Node::Set),
                _ => None,
            },
            ("builtins", "frozenset") => match args.as_slice() {
                [] => Some(Node::FrozenSet(Vec::new())),
                [a] => seq(self, *a).map(Node::FrozenSet),
                _ => None,
            },
            ("copyreg", "_reconstructor") => {
                match (args.as_slice(), arg_values.as_slice()) {
                    (
                        [_, _, Item::None],
                        [Some(Value::Global(cls)), Some(Value::Global(base)), _],
                    ) if base.module == "builtins" && base.name == "object" => Some(Node::Object(
                        Box::new(ObjectNode::new(cls.clone(), Construct::NewObj, Vec::new())),
                    )),
                    _ => None,
                }
            }
            _ => None,
        };
        let node = data.unwrap_or_else(|| {
            Node::Object(Box::new(ObjectNode::new(class, Construct::Reduce, args)))
        });
        Ok(self.node(node))
    }

    fn str_item(&mut self, bytes_len: usize) -> Result<Item> {
        let b = self.take(bytes_len)?;
        match std::str::from_utf8(b) {
            Ok(s) => {
                let s = s.to_owned();
                Ok(self.leaf(Value::Str(s)))
            }
            Err(_) => unsupported("a str that is not valid UTF-8 (a lone surrogate)"),
        }
    }

    fn bytes_item(&mut self, len: usize, array: bool) -> Result<Item> {
        let b = self.take(len)?.to_vec();
        Ok(self.leaf(if array {
            Value::ByteArray(b)
        } else {
            Value::Bytes(b)
        }))
    }

    /// Python 2 `str` (opcodes `STRING`, `BINSTRING`, `SHORT_BINSTRING`), decoded as CPython's
    /// default `encoding='ASCII'` does.
    fn py2_str(&mut self, b: Vec<u8>) -> Result<Item> {
        if !b.is_ascii() {
            return self.bad("a Python 2 str that is not ASCII");
        }
        let s = String::from_utf8(b).expect("ASCII is UTF-8");
        Ok(self.leaf(Value::Str(s)))
    }

    fn run(&mut self) -> Result<Item> {
        loop {
            self.op_at = self.pos;
            let op = self.u8()?;
            match op {
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    if self.stack.len() > self.floor() {
                        self.stack.pop();
                    } else {
                        self.pop_mark()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.push(t);
                }
                b'N' => self.push(Item::None),
                0x88 => self.push(Item::Bool(true)),
                0x89 => self.push(Item::Bool(false)),
                b'I' => {
                    let l = self.line()?.to_vec();
                    let item = match l.as_slice() {
                        b"00" => Item::Bool(false),
                        b"01" => Item::Bool(true),
                        t => match std::str::from_utf8(t).ok().and_then(BigInt::parse) {
                            Some(v) => self.int(v),
                            None => return self.bad("bad INT literal"),
                        },
                    };
                    self.push(item);
                }
                b'L' => {
                    let l = self.line()?.to_vec();
                    let t = l.strip_suffix(b"L").unwrap_or(&l);
                    match std::str::from_utf8(t).ok().and_then(BigInt::parse) {
                        Some(v) => {
                            let i = self.int(v);
                            self.push(i);
                        }
                        None => return self.bad("bad LONG literal"),
                    }
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take_array()?);
                    self.push(Item::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Item::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take_array()?);
                    self.push(Item::Int(v.into()));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        usize::from(self.u8()?)
                    } else {
                        let n = i32::from_le_bytes(self.take_array()?);
                        match usize::try_from(n) {
                            Ok(n) => n,
                            Err(_) => return self.bad("LONG4 with a negative length"),
                        }
                    };
                    let b = self.take(n)?;
                    let v = BigInt::from_signed_bytes_le(b);
                    let i = self.int(v);
                    self.push(i);
                }
                b'F' => {
                    let l = self.line()?;
                    match std::str::from_utf8(l)
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                    {
                        Some(f) => self.push(Item::Float(f)),
                        None => return self.bad("bad FLOAT literal"),
                    }
                }
                b'G' => {
                    let f = f64::from_be_bytes(self.take_array()?);
                    self.push(Item::Float(f));
                }
                b'S' => {
                    let l = self.line()?.to_vec();
                    let b = match unquote(&l) {
                        Some(b) => b,
                        None => return self.bad("bad STRING literal"),
                    };
                    let i = self.py2_str(b)?;
                    self.push(i);
                }
                b'T' => {
                    let n = i32::from_le_bytes(self.take_array()?);
                    let Ok(n) = usize::try_from(n) else {
                        return self.bad("BINSTRING with a negative length");
                    };
                    let b = self.take(n)?.to_vec();
                    let i = self.py2_str(b)?;
                    self.push(i);
                }
                b'U' => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?.to_vec();
                    let i = self.py2_str(b)?;
                    self.push(i);
                }
                b'V' => {
                    let l = self.line()?.to_vec();
                    match raw_unicode_escape(&l) {
                        Some(s) => {
                            let i = self.leaf(Value::Str(s));
                            self.push(i);
                        }
                        None => return unsupported("a UNICODE literal with a lone surrogate"),
                    }
                }
                b'X' => {
                    let n = self.u32()?;
                    let i = self.str_item(n)?;
                    self.push(i);
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let i = self.str_item(n)?;
                    self.push(i);
                }
                0x8d => {
                    let n = self.u64()?;
                    let i = self.str_item(n)?;
                    self.push(i);
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    let i = self.bytes_item(n, false)?;
                    self.push(i);
                }
                b'B' => {
                    let n = self.u32()?;
                    let i = self.bytes_item(n, false)?;
                    self.push(i);
                }
                0x8e => {
                    let n = self.u64()?;
                    let i = self.bytes_item(n, false)?;
                    self.push(i);
                }
                0x96 => {
                    let n = self.u64()?;
                    let i = self.bytes_item(n, true)?;
                    self.push(i);
                }
                b')' => {
                    let i = self.node(Node::Tuple(Vec::new()));
                    self.push(i);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let i = self.node(Node::Tuple(items));
                    self.push(i);
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < self.floor() + n {
                        return self.bad("unpickling stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let i = self.node(Node::Tuple(items));
                    self.push(i);
                }
                b']' => {
                    let i = self.node(Node::List(Vec::new()));
                    self.push(i);
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let i = self.node(Node::List(items));
                    self.push(i);
                }
                b'}' => {
                    let i = self.node(Node::Dict(Vec::new()));
                    self.push(i);
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    let i = self.node(Node::Dict(pairs));
                    self.push(i);
                }
                0x8f => {
                    let i = self.node(Node::Set(Vec::new()));
                    self.push(i);
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    let i = self.node(Node::FrozenSet(items));
                    self.push(i);
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top()?;
                    self.append(target, vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    self.append(target, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?;
                    self.set_items(target, vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    let target = self.top()?;
                    self.set_items(target, pairs)?;
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    match target {
                        Item::Node(n) => match &mut self.nodes[n] {
                            Node::Set(s) => s.extend(items),
                            _ => return self.bad("ADDITEMS to something that is not a set"),
                        },
                        _ => return self.bad("ADDITEMS to something that is not a set"),
                    }
                }
                b'p' => {
                    let l = self.line()?;
                    let Some(k) = std::str::from_utf8(l).ok().and_then(|s| s.parse().ok()) else {
                        return self.bad("bad PUT index");
                    };
                    self.memo_put(k)?;
                }
                b'q' => {
                    let k = self.u8()?;
                    self.memo_put(k.into())?;
                }
                b'r' => {
                    let k = u32::from_le_bytes(self.take_array()?);
                    self.memo_put(k.into())?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'g' => {
                    let l = self.line()?;
                    let Some(k) = std::str::from_utf8(l).ok().and_then(|s| s.parse().ok()) else {
                        return self.bad("bad GET index");
                    };
                    self.memo_get(k)?;
                }
                b'h' => {
                    let k = self.u8()?;
                    self.memo_get(k.into())?;
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.take_array()?);
                    self.memo_get(k.into())?;
                }
                b'c' => {
                    let module = self.line_str()?;
                    let name = self.line_str()?;
                    let g = self.find_class(module, name);
                    let i = self.leaf(Value::Global(g));
                    self.push(i);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(Value::Str(m)), Some(Value::Str(n))) =
                        (self.leaf_value(module), self.leaf_value(name))
                    else {
                        return self.bad("STACK_GLOBAL requires str");
                    };
                    let g = self.find_class(m.clone(), n.clone());
                    let i = self.leaf(Value::Global(g));
                    self.push(i);
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let args = self.tuple_items(args, "REDUCE arguments")?;
                    let class = self.global_of(callable, "REDUCE of a callable")?;
                    let i = self.reduce(class, args)?;
                    self.push(i);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let args = self.tuple_items(args, "NEWOBJ arguments")?;
                    let class = self.global_of(cls, "NEWOBJ of a class")?;
                    let i = self.node(Node::Object(Box::new(ObjectNode::new(
                        class,
                        Construct::NewObj,
                        args,
                    ))));
                    self.push(i);
                }
                0x92 => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let args = self.tuple_items(args, "NEWOBJ_EX arguments")?;
                    let kwargs = match kwargs {
                        Item::Node(n) => match &self.nodes[n] {
                            Node::Dict(d) => d.clone(),
                            _ => return self.bad("NEWOBJ_EX keyword arguments are not a dict"),
                        },
                        _ => return self.bad("NEWOBJ_EX keyword arguments are not a dict"),
                    };
                    let class = self.global_of(cls, "NEWOBJ_EX of a class")?;
                    let mut o = ObjectNode::new(class, Construct::NewObj, args);
                    o.kwargs = kwargs;
                    let i = self.node(Node::Object(Box::new(o)));
                    self.push(i);
                }
                b'i' => {
                    let module = self.line_str()?;
                    let name = self.line_str()?;
                    let args = self.pop_mark()?;
                    let class = self.find_class(module, name);
                    let i = self.node(Node::Object(Box::new(ObjectNode::new(
                        class,
                        Construct::Reduce,
                        args,
                    ))));
                    self.push(i);
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return self.bad("OBJ without a class");
                    }
                    let args = items.split_off(1);
                    let class = self.global_of(items[0], "OBJ of a class")?;
                    let i = self.node(Node::Object(Box::new(ObjectNode::new(
                        class,
                        Construct::Reduce,
                        args,
                    ))));
                    self.push(i);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    match target {
                        Item::Node(n) => match &mut self.nodes[n] {
                            Node::Object(o) => o.state = Some(state),
                            _ => return unsupported("BUILD on a builtin value"),
                        },
                        _ => return unsupported("BUILD on a builtin value"),
                    }
                }
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return unsupported(&format!("pickle protocol {p}"));
                    }
                    self.proto = p;
                }
                0x95 => {
                    // Framing only groups opcodes for buffered readers; the whole input is here.
                    self.take(8)?;
                }
                b'P' | b'Q' => return unsupported("persistent ids"),
                0x82..=0x84 => return unsupported("the copyreg extension registry"),
                0x97 | 0x98 => return unsupported("out-of-band buffers"),
                _ => {
                    return Err(Error::UnknownOpcode {
                        opcode: op,
                        offset: self.op_at,
                    });
                }
            }
        }
    }

    fn append(&mut self, target: Item, items: Vec<Item>) -> Result<()> {
        if let Item::Node(n) = target {
            match &mut self.nodes[n] {
                Node::List(l) => {
                    l.extend(items);
                    return Ok(());
                }
                Node::Object(o) => {
                    o.list_items.extend(items);
                    return Ok(());
                }
                _ => {}
            }
        }
        self.bad("APPEND to something that is not a list")
    }

    fn set_items(&mut self, target: Item, pairs: Vec<(Item, Item)>) -> Result<()> {
        if let Item::Node(n) = target {
            match &mut self.nodes[n] {
                Node::Dict(d) => {
                    d.extend(pairs);
                    return Ok(());
                }
                Node::Object(o) => {
                    o.dict_items.extend(pairs);
                    return Ok(());
                }
                _ => {}
            }
        }
        self.bad("SETITEM on something that is not a dict")
    }
}

impl ObjectNode {
    fn new(class: Global, construct: Construct, args: Vec<Item>) -> Self {
        ObjectNode {
            class,
            construct,
            args,
            kwargs: Vec::new(),
            state: None,
            list_items: Vec::new(),
            dict_items: Vec::new(),
        }
    }
}

fn is_latin1(encoding: &str) -> bool {
    matches!(encoding, "latin1" | "latin-1" | "latin_1" | "iso-8859-1")
}

/// A protocol-0 `STRING` operand: a quoted Python 2 literal with backslash escapes.
fn unquote(l: &[u8]) -> Option<Vec<u8>> {
    let q = *l.first()?;
    if l.len() < 2 || (q != b'\'' && q != b'"') || l[l.len() - 1] != q {
        return None;
    }
    let body = &l[1..l.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let e = *body.get(i)?;
        i += 1;
        match e {
            b'\\' | b'\'' | b'"' => out.push(e),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'\n' => {}
            b'x' => {
                let h = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// Python's `raw-unicode-escape` codec: `\uXXXX` and `\UXXXXXXXX` escapes, every other byte a
/// Latin-1 character.
fn raw_unicode_escape(l: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        let c = l[i];
        if c == b'\\' && matches!(l.get(i + 1), Some(b'u' | b'U')) {
            let n = if l[i + 1] == b'u' { 4 } else { 8 };
            let hex = l.get(i + 2..i + 2 + n)?;
            let v = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(char::from_u32(v)?);
            i += 2 + n;
        } else {
            out.push(char::from(c));
            i += 1;
        }
    }
    Some(out)
}

/// Makes the tree from the arena, depth-first, closing cycles with [`Value::Recursive`].
///
/// A node reachable by one path only (it and every ancestor stored once) is moved into the
/// tree, not copied, so a large `bytes` message costs no second copy; anything shared is cloned.
struct Builder {
    nodes: Vec<Node>,
    /// How many times each node is stored in another node (or is the root).
    refs: Vec<u32>,
    /// Arena index to its level on the current path (1 = outermost).
    path: HashMap<usize, usize>,
    depth: usize,
    max_depth: usize,
    budget: usize,
}

impl Builder {
    fn new(nodes: Vec<Node>, root: &Item, max_depth: usize, budget: usize) -> Self {
        let mut refs = vec![0u32; nodes.len()];
        let mut count = |i: &Item| {
            if let Item::Node(n) = *i {
                refs[n] = refs[n].saturating_add(1);
            }
        };
        count(root);
        for node in &nodes {
            match node {
                Node::Leaf(_) => {}
                Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
                    v.iter().for_each(&mut count)
                }
                Node::Dict(p) => p.iter().for_each(|(k, v)| {
                    count(k);
                    count(v);
                }),
                Node::Object(o) => {
                    o.args.iter().chain(&o.list_items).for_each(&mut count);
                    o.state.iter().for_each(&mut count);
                    o.kwargs.iter().chain(&o.dict_items).for_each(|(k, v)| {
                        count(k);
                        count(v);
                    });
                }
            }
        }
        Builder {
            nodes,
            refs,
            path: HashMap::new(),
            depth: 0,
            max_depth,
            budget,
        }
    }

    fn spend(&mut self, n: usize) -> Result<()> {
        match self.budget.checked_sub(n) {
            Some(b) => {
                self.budget = b;
                Ok(())
            }
            None => Err(Error::LimitExceeded(
                "the result would be much larger than the pickle (shared references)".into(),
            )),
        }
    }

    fn build(&mut self, i: &Item, unique: bool) -> Result<Value> {
        self.spend(1)?;
        let n = match *i {
            Item::None => return Ok(Value::None),
            Item::Bool(b) => return Ok(Value::Bool(b)),
            Item::Int(v) => return Ok(Value::Int(v)),
            Item::Float(f) => return Ok(Value::Float(f)),
            Item::Node(n) => n,
        };
        if let Some(&level) = self.path.get(&n) {
            return Ok(Value::Recursive(self.depth + 1 - level));
        }
        let unique = unique && self.refs[n] == 1;
        if let Node::Leaf(v) = &self.nodes[n] {
            let size = match v {
                Value::Str(s) => s.len(),
                Value::Bytes(b) | Value::ByteArray(b) => b.len(),
                Value::BigInt(b) => b.to_signed_bytes_le().len(),
                Value::Global(g) => g.module.len() + g.name.len(),
                _ => 0,
            };
            let v = if unique {
                match std::mem::replace(&mut self.nodes[n], Node::Leaf(Value::None)) {
                    Node::Leaf(v) => v,
                    _ => Value::None,
                }
            } else {
                v.clone()
            };
            self.spend(size)?;
            return Ok(v);
        }
        if self.depth >= self.max_depth {
            return Err(Error::LimitExceeded(format!(
                "containers nested deeper than {}",
                self.max_depth
            )));
        }
        // Only indices are copied here; leaves below are moved or cloned on their own.
        let node = if unique {
            std::mem::replace(&mut self.nodes[n], Node::Leaf(Value::None))
        } else {
            self.nodes[n].shallow_clone()
        };
        self.depth += 1;
        self.path.insert(n, self.depth);
        let r = self.build_node(node, unique);
        self.path.remove(&n);
        self.depth -= 1;
        r
    }

    fn seq(&mut self, items: &[Item], unique: bool) -> Result<Vec<Value>> {
        items.iter().map(|i| self.build(i, unique)).collect()
    }

    fn pairs(&mut self, pairs: &[(Item, Item)], unique: bool) -> Result<Vec<(Value, Value)>> {
        pairs
            .iter()
            .map(|(k, v)| Ok((self.build(k, unique)?, self.build(v, unique)?)))
            .collect()
    }

    fn build_node(&mut self, node: Node, u: bool) -> Result<Value> {
        Ok(match node {
            Node::Leaf(v) => v,
            Node::List(items) => Value::List(self.seq(&items, u)?),
            Node::Tuple(items) => Value::Tuple(self.seq(&items, u)?),
            Node::Set(items) => Value::Set(self.seq(&items, u)?),
            Node::FrozenSet(items) => Value::FrozenSet(self.seq(&items, u)?),
            Node::Dict(pairs) => Value::Dict(self.pairs(&pairs, u)?),
            Node::Object(o) => Value::Object(Box::new(Object {
                class: o.class,
                construct: o.construct,
                args: self.seq(&o.args, u)?,
                kwargs: self.pairs(&o.kwargs, u)?,
                state: o.state.map(|s| self.build(&s, u)).transpose()?,
                list_items: self.seq(&o.list_items, u)?,
                dict_items: self.pairs(&o.dict_items, u)?,
            })),
        })
    }
}

impl Node {
    /// A copy of a container's indices (a leaf is copied whole).
    fn shallow_clone(&self) -> Node {
        match self {
            Node::Leaf(v) => Node::Leaf(v.clone()),
            Node::List(v) => Node::List(v.clone()),
            Node::Tuple(v) => Node::Tuple(v.clone()),
            Node::Set(v) => Node::Set(v.clone()),
            Node::FrozenSet(v) => Node::FrozenSet(v.clone()),
            Node::Dict(p) => Node::Dict(p.clone()),
            Node::Object(o) => Node::Object(Box::new(ObjectNode {
                class: o.class.clone(),
                construct: o.construct,
                args: o.args.clone(),
                kwargs: o.kwargs.clone(),
                state: o.state,
                list_items: o.list_items.clone(),
                dict_items: o.dict_items.clone(),
            })),
        }
    }
}
