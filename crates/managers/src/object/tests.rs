//! The tree's order, its serde bridge both ways, its wire form and its Python display.

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::*;

/// Structural identity: the same kinds all the way down (`Int(1)` is not `Bool(true)`), NaN
/// equal to itself, `-0.0` not `0.0`. `Debug` shows exactly that.
fn same<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn token(id: u64) -> Token {
    Token {
        typeid: "dict".into(),
        address: "/tmp/pymp-x/listener".into(),
        id,
    }
}

#[test]
fn numbers_compare_by_value_across_kinds() {
    assert_eq!(Object::Int(1), Object::Float(1.0));
    assert_eq!(Object::Bool(true), Object::Int(1));
    assert!(Object::Float(0.25) < Object::Int(1));
    assert!(Object::Int(1) < Object::Float(1.5));
    assert!(Object::Int(i128::from(u64::MAX)) < Object::Float(1e30));
    assert!(Object::Int(3) < Object::Str("2".into()));
}

/// Equal objects hash alike, over random pairs that are often equal across kinds.
#[test]
fn hashing_agrees_with_equality() {
    use std::hash::{BuildHasher, RandomState};
    let hasher = RandomState::new();
    let mut rng = StdRng::seed_from_u64(5);
    let numbers = |rng: &mut StdRng| match rng.random_range(0..5) {
        0 => Object::Bool(rng.random()),
        1 => Object::Int(rng.random_range(-3..3)),
        2 => Object::Float(f64::from(rng.random_range(-6..6)) / 2.0),
        3 => Object::Float([f64::NAN, -0.0, 0.0, 1e300][rng.random_range(0..4)]),
        _ => Object::Int([i128::MAX, i128::MIN, 1 << 100][rng.random_range(0..3)]),
    };
    let mut equal = 0;
    for _ in 0..5000 {
        let (a, b) = (numbers(&mut rng), numbers(&mut rng));
        if a == b {
            equal += 1;
            assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b), "{a:?} and {b:?}");
            let (a, b) = (Object::dict([(a, "v")]), Object::dict([(b, "v")]));
            assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b), "{a:?} and {b:?}");
        }
    }
    assert!(
        equal > 100,
        "only {equal} equal pairs: the check above checked little"
    );
    for (f, i) in [(2f64.powi(100), 1 << 100), (-(2f64.powi(127)), i128::MIN)] {
        assert_eq!(Object::Float(f), Object::Int(i));
        assert_eq!(
            hasher.hash_one(Object::Float(f)),
            hasher.hash_one(Object::Int(i))
        );
    }
}

#[test]
fn the_documentation_dict_sorts_as_printed() {
    let mut d = BTreeMap::new();
    d.insert(Object::Int(1), Object::Str("1".into()));
    d.insert(Object::Str("2".into()), Object::Int(2));
    d.insert(Object::Float(0.25), Object::None);
    let keys: Vec<_> = d.keys().cloned().collect();
    assert_eq!(
        keys,
        [Object::Float(0.25), Object::Int(1), Object::Str("2".into())]
    );
    assert_eq!(Object::Dict(d).to_string(), "{0.25: None, 1: '1', '2': 2}");
}

// ---- Typed values through the tree -------------------------------------------------------

/// Bytes as serde bytes (what `serde_bytes` does).
mod as_bytes {
    pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = s.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Key {
    A,
    B(u8),
    C { x: i16 },
    D(i8, String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Newtype(Box<Tree>);

#[derive(Debug, Serialize, Deserialize)]
struct UnitStruct;

#[derive(Debug, Serialize, Deserialize)]
struct TupleStruct(i32, Option<String>);

/// Every serde shape, recursively.
#[derive(Debug, Serialize, Deserialize)]
enum Tree {
    Unit,
    Flag(bool),
    I8(i8),
    I32(i32),
    I64(i64),
    I128(i128),
    U16(u16),
    U64(u64),
    U128(u128),
    F32(f32),
    F64(f64),
    Letter(char),
    Text(String),
    Raw(#[serde(with = "as_bytes")] Vec<u8>),
    Plain(Vec<u8>),
    Maybe(Option<Box<Tree>>),
    List(Vec<Tree>),
    Pair(Box<(Tree, String)>),
    Empty((), Vec<Tree>, BTreeMap<String, Tree>),
    ByInt(BTreeMap<i64, Tree>),
    ByTuple(BTreeMap<(u8, String), bool>),
    ByEnum(BTreeMap<Key, Tree>),
    ByBool(BTreeMap<bool, u8>),
    Hashed(HashMap<String, Vec<u8>>),
    Record {
        name: String,
        score: Option<f64>,
        tags: Vec<String>,
        inner: Box<Tree>,
    },
    Wrapped(Newtype),
    Triple(u8, String, Box<Tree>),
    UnitInside(UnitStruct),
    Seq(TupleStruct),
    Token(Token),
}

fn gen_f64(rng: &mut StdRng) -> f64 {
    match rng.random_range(0..8) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        4 => f64::from_bits(rng.random()),
        5 => f64::from(rng.random_range(-1000..1000)) / 8.0,
        _ => rng.random::<f64>() * 10f64.powi(rng.random_range(-30..30)),
    }
}

fn gen_string(rng: &mut StdRng) -> String {
    let len = rng.random_range(0..8);
    (0..len)
        .map(|_| match rng.random_range(0..4) {
            0 => rng.random::<char>(),
            1 => ['\'', '"', '\\', '\n', '\0', '\u{7f}'][rng.random_range(0..6)],
            _ => char::from(rng.random_range(b' '..=b'~')),
        })
        .collect()
}

fn gen_bytes(rng: &mut StdRng) -> Vec<u8> {
    let len = rng.random_range(0..8);
    (0..len).map(|_| rng.random()).collect()
}

fn gen_tree(rng: &mut StdRng, depth: u32) -> Tree {
    let leaf = depth == 0;
    let pick = if leaf {
        rng.random_range(0..14)
    } else {
        rng.random_range(0..31)
    };
    let sub = |rng: &mut StdRng| Box::new(gen_tree(rng, depth.saturating_sub(1)));
    match pick {
        0 => Tree::Unit,
        1 => Tree::Flag(rng.random()),
        2 => Tree::I8(rng.random()),
        3 => Tree::I32(rng.random()),
        4 => Tree::I64([i64::MIN, i64::MAX, rng.random()][rng.random_range(0..3)]),
        5 => Tree::I128([i128::MIN, i128::MAX, rng.random()][rng.random_range(0..3)]),
        6 => Tree::U16(rng.random()),
        7 => Tree::U64([u64::MAX, 0, rng.random()][rng.random_range(0..3)]),
        8 => Tree::U128(rng.random::<u128>() >> 1),
        9 => Tree::F32(f32::from_bits(rng.random())),
        10 => Tree::F64(gen_f64(rng)),
        11 => Tree::Letter(rng.random()),
        12 => Tree::Text(gen_string(rng)),
        13 => Tree::Raw(gen_bytes(rng)),
        14 => Tree::Plain(gen_bytes(rng)),
        15 => Tree::Maybe(rng.random_bool(0.5).then(|| sub(rng))),
        16 => Tree::List((0..rng.random_range(0..4)).map(|_| *sub(rng)).collect()),
        17 => Tree::Pair(Box::new((*sub(rng), gen_string(rng)))),
        18 => Tree::Empty((), Vec::new(), BTreeMap::new()),
        19 => Tree::ByInt(
            (0..rng.random_range(0..4))
                .map(|_| (rng.random(), *sub(rng)))
                .collect(),
        ),
        20 => Tree::ByTuple(
            (0..rng.random_range(0..4))
                .map(|_| ((rng.random(), gen_string(rng)), rng.random()))
                .collect(),
        ),
        21 => Tree::ByEnum(
            (0..rng.random_range(0..4))
                .map(|_| {
                    let key = match rng.random_range(0..4) {
                        0 => Key::A,
                        1 => Key::B(rng.random()),
                        2 => Key::C { x: rng.random() },
                        _ => Key::D(rng.random(), gen_string(rng)),
                    };
                    (key, *sub(rng))
                })
                .collect(),
        ),
        22 => Tree::ByBool(
            [(false, 1), (true, 2)]
                .into_iter()
                .take(rng.random_range(0..3))
                .collect(),
        ),
        // One entry at most: a HashMap's order (and so its Debug) is not its own.
        23 => Tree::Hashed(
            (0..rng.random_range(0..2))
                .map(|_| (gen_string(rng), gen_bytes(rng)))
                .collect(),
        ),
        24 => Tree::Record {
            name: gen_string(rng),
            score: rng.random_bool(0.5).then(|| gen_f64(rng)),
            tags: (0..rng.random_range(0..3))
                .map(|_| gen_string(rng))
                .collect(),
            inner: sub(rng),
        },
        25 => Tree::Wrapped(Newtype(sub(rng))),
        26 => Tree::Triple(rng.random(), gen_string(rng), sub(rng)),
        27 => Tree::UnitInside(UnitStruct),
        28 => Tree::Seq(TupleStruct(
            rng.random(),
            rng.random_bool(0.5).then(|| gen_string(rng)),
        )),
        _ => Tree::Token(Token {
            typeid: gen_string(rng),
            address: gen_string(rng),
            id: rng.random(),
        }),
    }
}

/// Property: every generated value goes into the tree and comes back the same, and the tree
/// itself survives `Object`'s own serde impls, the wire form and JSON-free re-conversion.
#[test]
fn random_values_of_every_serde_shape_round_trip() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0b1e);
    for round in 0..3000 {
        let value = gen_tree(&mut rng, 4);
        let obj = to_object(&value).unwrap_or_else(|e| panic!("round {round}: {value:?}: {e}"));
        let back: Tree =
            from_object_ref(&obj).unwrap_or_else(|e| panic!("round {round}: {obj:?}: {e}"));
        assert!(
            same(&back, &value),
            "round {round}: {value:?} came back {back:?}"
        );

        let again: Object = from_object_ref(&obj).unwrap();
        assert!(
            same(&again, &obj),
            "round {round}: Object read back as {again:?}"
        );
        assert!(same(&to_object(&obj).unwrap(), &obj), "round {round}");

        let wire = Object::from_wire(&obj.to_wire().unwrap()).unwrap();
        assert!(same(&wire, &obj), "round {round}: wire gave {wire:?}");
    }
}

#[test]
fn edge_values_round_trip_exactly() {
    fn check<T: Serialize + for<'de> Deserialize<'de> + std::fmt::Debug>(v: T, expect: &str) {
        let obj = to_object(&v).unwrap();
        assert_eq!(obj.to_string(), expect, "{v:?}");
        let back: T = from_object(obj).unwrap();
        assert!(same(&back, &v), "{v:?} came back {back:?}");
    }
    check(u64::MAX, "18446744073709551615");
    check(i64::MIN, "-9223372036854775808");
    check(i128::MIN, "-170141183460469231731687303715884105728");
    check(
        u128::try_from(i128::MAX).unwrap(),
        "170141183460469231731687303715884105727",
    );
    check(f64::NAN, "nan");
    check(f64::INFINITY, "inf");
    check(f64::NEG_INFINITY, "-inf");
    check(-0.0f64, "-0.0");
    check(0.1f32, "0.10000000149011612");
    check((), "None");
    check(Some(5u8), "5");
    check(None::<u8>, "None");
    check(Vec::<u8>::new(), "[]");
    check(BTreeMap::<u8, u8>::new(), "{}");
    check(((),), "(None,)");
    check(
        (1, String::from("a"), [true, false]),
        "(1, 'a', (True, False))",
    );
    check('x', "'x'");
    check(UnitStruct, "None");
    check(TupleStruct(-1, None), "(-1, None)");
    check(Key::A, "'A'");
    check(Key::B(3), "{'B': 3}");
    check(Key::C { x: -2 }, "{'C': {'x': -2}}");
    check(Key::D(1, "s".into()), "{'D': (1, 's')}");
    check(BTreeMap::from([((1u8, 'a'), 2u8)]), "{(1, 'a'): 2}");
}

#[test]
fn integers_beyond_i128_are_refused_with_a_clear_message() {
    let err = to_object(&u128::MAX).unwrap_err();
    assert!(matches!(err, ObjectError::InvalidValue { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid value: expected an integer within i128, found integer `340282366920938463463374607431768211455`"
    );
    let err = from_object::<u8>(Object::Int(300)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value: expected u8, found integer `300`"
    );
    let err = from_object::<i64>(Object::Int(i128::MAX)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: expected i64, found integer `170141183460469231731687303715884105727` as i128"
    );
}

#[test]
fn python_natural_readings_are_accepted() {
    assert_eq!(from_object::<f64>(Object::Int(3)).unwrap(), 3.0);
    assert_eq!(from_object::<f32>(Object::Int(-2)).unwrap(), -2.0);
    let pair = Object::list([Object::from(1), Object::from("a")]);
    assert_eq!(from_object::<(u8, String)>(pair).unwrap(), (1, "a".into()));
    assert_eq!(
        from_object::<Vec<i32>>(Object::tuple([1, 2])).unwrap(),
        [1, 2]
    );
    assert_eq!(
        from_object::<Vec<u8>>(Object::bytes(*b"hi")).unwrap(),
        b"hi"
    );
    assert_eq!(
        from_object::<[u8; 2]>(Object::bytes(*b"hi")).unwrap(),
        *b"hi"
    );
    #[derive(Deserialize, Debug, PartialEq)]
    struct B(#[serde(with = "as_bytes")] Vec<u8>);
    assert_eq!(
        from_object::<B>(Object::list([104, 105])).unwrap(),
        B(b"hi".to_vec())
    );
    // A struct also reads from a sequence of its fields, as serde's derive allows.
    #[derive(Deserialize, Debug, PartialEq)]
    struct P {
        x: u8,
        y: u8,
    }
    assert_eq!(
        from_object::<P>(Object::tuple([1, 2])).unwrap(),
        P { x: 1, y: 2 }
    );
    // A unit variant written as `{name: None}` (serde_json's other form) reads too.
    let d = Object::dict([("A", Object::None)]);
    assert_eq!(from_object::<Key>(d).unwrap(), Key::A);
    // Non-negative ints go to `visit_u64`, as in serde_json: a variant named by its index.
    let d = Object::dict([(1, 7)]);
    assert_eq!(from_object::<Key>(d).unwrap(), Key::B(7));
}

#[test]
fn mismatches_name_what_was_expected_and_found() {
    let cases: Vec<(ObjectError, &str)> = vec![
        (
            from_object::<String>(Object::Int(5)).unwrap_err(),
            "invalid type: expected a string, found integer `5`",
        ),
        (
            from_object::<bool>(Object::None).unwrap_err(),
            "invalid type: expected a boolean, found None",
        ),
        (
            from_object::<(u8, u8)>(Object::list([1, 2, 3])).unwrap_err(),
            "invalid length 3: expected 2 elements",
        ),
        (
            from_object::<(u8, u8, u8)>(Object::list([1, 2])).unwrap_err(),
            "invalid length 2: expected a tuple of size 3",
        ),
        (
            from_object::<Key>(Object::from("Z")).unwrap_err(),
            "unknown variant `Z`, expected one of `A`, `B`, `C`, `D`",
        ),
        (
            from_object::<Key>(Object::list([1])).unwrap_err(),
            "invalid type: expected an enum: a variant's name, or a dict of one entry {name: value}, found list",
        ),
        (
            from_object::<HashMap<String, u8>>(Object::Proxy(token(1))).unwrap_err(),
            "invalid type: expected u8, found string \"dict\"",
        ),
    ];
    for (err, msg) in cases {
        assert_eq!(err.to_string(), msg);
        assert_eq!(err.kind(), multiprocessing_core::ErrorKind::Codec);
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code, reason = "only the error is looked at")]
    struct P {
        x: u8,
    }
    assert_eq!(
        from_object::<P>(Object::dict::<Object, Object>([])).unwrap_err(),
        ObjectError::Message("missing field `x`".into())
    );
}

/// Serde's buffering (untagged and internally tagged enums, flatten) goes through
/// `deserialize_any`, and reads Objects too.
#[test]
fn buffered_serde_shapes_read_from_the_tree() {
    #[derive(Deserialize, Debug)]
    #[serde(untagged)]
    enum Either {
        Number(u8),
        Anything(Object),
    }
    #[derive(Deserialize, Debug)]
    #[serde(tag = "kind")]
    enum Tagged {
        Point { x: i32, y: i32 },
    }
    #[derive(Deserialize, Debug)]
    struct Flat {
        name: String,
        #[serde(flatten)]
        rest: BTreeMap<String, Object>,
    }
    assert!(matches!(
        from_object(Object::from(3)).unwrap(),
        Either::Number(3)
    ));
    let Either::Anything(o) = from_object(Object::list(["a"])).unwrap() else {
        panic!("a list read as a number");
    };
    assert!(same(&o, &Object::list(["a"])));
    let t = Object::dict([
        ("kind", Object::from("Point")),
        ("x", 1.into()),
        ("y", 2.into()),
    ]);
    assert!(matches!(
        from_object(t).unwrap(),
        Tagged::Point { x: 1, y: 2 }
    ));
    let f = Object::dict([("name", Object::from("n")), ("extra", Object::from(0.5))]);
    let flat: Flat = from_object(f).unwrap();
    assert_eq!(flat.name, "n");
    assert!(same(&flat.rest["extra"], &Object::from(0.5)));
}

// ---- Tokens and proxies ------------------------------------------------------------------

/// What a proxy type does: serialize as its token so that storing it stores a reference.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
struct FakeProxy {
    token: Token,
}

#[test]
fn a_token_inside_a_value_becomes_a_proxy_reference_and_comes_back() {
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Holder {
        name: String,
        inner: FakeProxy,
        many: Vec<Token>,
    }
    let value = Holder {
        name: "n".into(),
        inner: FakeProxy { token: token(7) },
        many: vec![token(8)],
    };
    let obj = to_object(&value).unwrap();
    let dict = obj.as_dict().unwrap();
    assert!(same(
        &dict[&Object::from("inner")],
        &Object::Proxy(token(7))
    ));
    assert!(same(
        &dict[&Object::from("many")],
        &Object::list([Object::Proxy(token(8))])
    ));
    assert_eq!(from_object::<Holder>(obj.clone()).unwrap(), value);
    assert!(same(&from_object::<Object>(obj.clone()).unwrap(), &obj));
    // A plain dict of the token's fields reads as a token too (what JSON gives back).
    let json: Object = serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
    assert_eq!(from_object::<Holder>(json).unwrap(), value);
    // Foreign visitors see the fields.
    let v: serde_json::Value = from_object(Object::Proxy(token(9))).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"typeid": "dict", "address": "/tmp/pymp-x/listener", "id": 9})
    );
}

#[test]
fn a_malformed_token_is_an_error_not_a_proxy() {
    struct Bad;
    impl Serialize for Bad {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_newtype_struct(TOKEN_MARKER, &"not a token")
        }
    }
    let err = to_object(&Bad).unwrap_err();
    assert!(
        err.to_string().starts_with("a malformed manager token"),
        "{err}"
    );
}

// ---- Object's own serde impls with other formats -----------------------------------------

#[test]
fn objects_travel_through_json_in_pythons_data_model() {
    let obj = Object::dict([
        (
            Object::from("a"),
            Object::list([Object::from(1), Object::from(2.5), Object::None]),
        ),
        (Object::from("b"), Object::from(true)),
        (Object::from("c"), Object::from(u64::MAX)),
    ]);
    let text = serde_json::to_string(&obj).unwrap();
    assert_eq!(
        text,
        r#"{"a":[1,2.5,null],"b":true,"c":18446744073709551615}"#
    );
    let back: Object = serde_json::from_str(&text).unwrap();
    assert!(same(&back, &obj), "{back:?}");
    // JSON has no tuples: they come back as lists, equal in kind order only to lists.
    let t: Object =
        serde_json::from_str(&serde_json::to_string(&Object::tuple([1])).unwrap()).unwrap();
    assert!(same(&t, &Object::list([1])));
}

// ---- Nesting limits ----------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
enum Deep {
    Leaf,
    Node(Vec<Deep>),
}

fn deep(levels: usize) -> Deep {
    let mut d = Deep::Leaf;
    for _ in 0..levels {
        d = Deep::Node(vec![d]);
    }
    d
}

#[test]
fn nesting_past_the_limit_is_refused_in_every_direction() {
    // Each `Node(vec![..])` is two levels (the variant's dict, the list).
    assert!(to_object(&deep(MAX_DEPTH / 2 - 1)).is_ok());
    assert_eq!(
        to_object(&deep(MAX_DEPTH)).unwrap_err(),
        ObjectError::too_deep()
    );

    let ok = nest(MAX_DEPTH, Object::None);
    assert!(from_object_ref::<Object>(&ok).is_ok());
    assert_eq!(Object::from_wire(&ok.to_wire().unwrap()).unwrap(), ok);

    let too_deep = nest(MAX_DEPTH + 1, Object::None);
    assert_eq!(
        from_object_ref::<Object>(&too_deep).unwrap_err(),
        ObjectError::too_deep()
    );
    assert_eq!(
        from_object_ref::<serde_json::Value>(&too_deep).unwrap_err(),
        ObjectError::too_deep()
    );
    assert_eq!(too_deep.to_wire().unwrap_err(), ObjectError::too_deep());
    // The display elides rather than recursing without end.
    assert!(too_deep.to_string().contains("[...]"));

    // Hostile wire bytes claiming a million nested lists: refused, no stack overflow.
    let mut nodes = Vec::new();
    for _ in 0..1_000_000 {
        nodes.push(WireNode::List(1));
    }
    nodes.push(WireNode::None);
    let bytes = multiprocessing_core::codec::encode(&nodes).unwrap();
    let err = Object::from_wire(&bytes).unwrap_err();
    assert!(err.to_string().contains("deeper than 128"), "{err}");
}

/// `inner` inside `levels` lists.
fn nest(levels: usize, inner: Object) -> Object {
    let mut o = inner;
    for _ in 0..levels {
        o = Object::List(vec![o]);
    }
    o
}

/// Every direction agrees on the limit: each container and proxy is a level, a tree of
/// `MAX_DEPTH` levels passes everywhere and one of `MAX_DEPTH + 1` nowhere.
#[test]
fn every_direction_draws_the_depth_line_at_the_same_place() {
    for inner in [
        Object::list::<Object>([]),
        Object::dict::<Object, Object>([]),
        Object::tuple([1]),
        Object::Proxy(token(1)),
    ] {
        for (levels, ok) in [(MAX_DEPTH - 1, true), (MAX_DEPTH, false)] {
            let o = nest(levels, inner.clone());
            let verdicts = [
                ("to_object", to_object(&o).is_ok()),
                ("from_object", from_object_ref::<Object>(&o).is_ok()),
                (
                    "from_object as JSON",
                    from_object_ref::<serde_json::Value>(&o).is_ok(),
                ),
                ("to_wire", o.to_wire().is_ok()),
            ];
            for (what, verdict) in verdicts {
                assert_eq!(verdict, ok, "{what} of {inner:?} inside {levels} lists");
            }
        }
        // The wire reader draws the line where the writer does.
        let mut nodes: Vec<WireNode> = (0..MAX_DEPTH).map(|_| WireNode::List(1)).collect();
        nodes.push(match &inner {
            Object::Proxy(_) => WireNode::Proxy(token(1)),
            Object::Dict(_) => WireNode::Dict(0),
            _ => WireNode::List(0),
        });
        let bytes = multiprocessing_core::codec::encode(&nodes).unwrap();
        assert_eq!(
            Object::from_wire(&bytes).unwrap_err().to_string(),
            "malformed object bytes: value nests deeper than 128 levels"
        );
    }
}

/// The wire's node tags, to hand-write hostile messages.
#[derive(Serialize)]
#[allow(dead_code, reason = "each variant is written by some test")]
enum WireNode {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(u64),
    Tuple(u64),
    Dict(u64),
    Proxy(Token),
}

// ---- The wire form -----------------------------------------------------------------------

fn gen_object(rng: &mut StdRng, depth: u32) -> Object {
    let pick = if depth == 0 {
        rng.random_range(0..7)
    } else {
        rng.random_range(0..11)
    };
    let sub = |rng: &mut StdRng| gen_object(rng, depth - 1);
    match pick {
        0 => Object::None,
        1 => Object::Bool(rng.random()),
        2 => Object::Int(rng.random::<i128>() >> rng.random_range(0..127)),
        3 => Object::Float(gen_f64(rng)),
        4 => Object::Str(gen_string(rng)),
        5 => Object::Bytes(gen_bytes(rng)),
        6 => Object::Proxy(token(rng.random())),
        7 => Object::List((0..rng.random_range(0..4)).map(|_| sub(rng)).collect()),
        8 => Object::Tuple((0..rng.random_range(0..4)).map(|_| sub(rng)).collect()),
        _ => Object::Dict(
            (0..rng.random_range(0..4))
                .map(|_| (sub(rng), sub(rng)))
                .collect(),
        ),
    }
}

#[test]
fn the_wire_form_is_flat_and_exact() {
    let obj = Object::list([
        Object::from(1),
        Object::tuple([Object::from(2), Object::from("a")]),
    ]);
    let expect = multiprocessing_core::codec::encode(&vec![
        WireNode::List(2),
        WireNode::Int(1),
        WireNode::Tuple(2),
        WireNode::Int(2),
        WireNode::Str("a".into()),
    ])
    .unwrap();
    assert_eq!(obj.to_wire().unwrap(), expect);
    // Appending keeps what was there, also when the tree is refused.
    let mut out = vec![9u8];
    obj.to_wire_into(&mut out).unwrap();
    assert_eq!((out[0], &out[1..]), (9, &expect[..]));
    let mut out = vec![9u8];
    let deep = nest(MAX_DEPTH + 1, Object::None);
    assert_eq!(deep.to_wire_into(&mut out), Err(ObjectError::too_deep()));
    assert_eq!(out, [9]);
    // Equal keys are one key, whichever kind came first.
    let d = Object::dict([(Object::from(1), "a"), (Object::from(true), "b")]);
    assert!(same(&Object::from_wire(&d.to_wire().unwrap()).unwrap(), &d));
}

#[test]
fn wire_objects_sit_inside_postcard_messages() {
    #[derive(Serialize, Deserialize, Debug)]
    enum Request {
        Call {
            id: u32,
            args: Vec<WireObject>,
            plain: Vec<Object>,
            #[serde(with = "wire")]
            kwargs: Object,
        },
        Ping,
    }
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..200 {
        let args: Vec<WireObject> = (0..3).map(|_| gen_object(&mut rng, 3).into()).collect();
        let kwargs = gen_object(&mut rng, 3);
        let plain: Vec<Object> = (0..3).map(|_| gen_object(&mut rng, 3)).collect();
        let msg = Request::Call {
            id: 9,
            args: args.clone(),
            plain: plain.clone(),
            kwargs: kwargs.clone(),
        };
        let bytes = multiprocessing_core::codec::encode(&msg).unwrap();
        let Request::Call {
            id,
            args: a,
            plain: p,
            kwargs: k,
        } = multiprocessing_core::codec::decode(&bytes).unwrap()
        else {
            panic!("decoded another variant");
        };
        assert_eq!(id, 9);
        assert!(same(&a, &args) && same(&p, &plain) && same(&k, &kwargs));
    }
    let bytes = multiprocessing_core::codec::encode(&Request::Ping).unwrap();
    assert!(matches!(
        multiprocessing_core::codec::decode(&bytes).unwrap(),
        Request::Ping
    ));
    // Self-describing formats read the wire form too.
    let w = WireObject(Object::dict([("k", Object::bytes(*b"\x00"))]));
    let json = serde_json::to_string(&w).unwrap();
    assert_eq!(json, r#"[{"Dict":1},{"Str":"k"},{"Bytes":[0]}]"#);
    assert!(same(
        &serde_json::from_str::<WireObject>(&json).unwrap(),
        &w
    ));
}

#[test]
fn malformed_wire_bytes_are_errors_never_panics() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut decoded = 0;
    for _ in 0..2000 {
        let obj = gen_object(&mut rng, 3);
        let bytes = obj.to_wire().unwrap();
        // Every strict prefix is a truncated object.
        for cut in 0..bytes.len() {
            assert!(
                Object::from_wire(&bytes[..cut]).is_err(),
                "{obj:?} cut at {cut}"
            );
        }
        // Trailing bytes are refused.
        let mut long = bytes.clone();
        long.push(0);
        assert!(Object::from_wire(&long).is_err());
        // Flipped bytes decode to something or fail, and what decodes re-encodes.
        let mut mutated = bytes;
        let at = rng.random_range(0..mutated.len());
        mutated[at] ^= 1 << rng.random_range(0..8);
        if let Ok(o) = Object::from_wire(&mutated) {
            decoded += 1;
            let again = Object::from_wire(&o.to_wire().unwrap()).unwrap();
            assert!(same(&again, &o));
        }
        // Random bytes.
        let noise: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
        let _ = Object::from_wire(&noise);
    }
    assert!(
        decoded > 0,
        "no mutation decoded: the check above checked nothing"
    );

    // Claims of huge containers with nothing behind them reserve nothing and fail.
    for claim in [
        WireNode::List(u64::MAX),
        WireNode::Dict(u64::MAX),
        WireNode::Tuple(1 << 40),
    ] {
        let bytes = multiprocessing_core::codec::encode(&vec![claim]).unwrap();
        let err = Object::from_wire(&bytes).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
    let two_roots =
        multiprocessing_core::codec::encode(&vec![WireNode::None, WireNode::None]).unwrap();
    let err = Object::from_wire(&two_roots).unwrap_err();
    assert!(err.to_string().contains("after the end"), "{err}");
    let none = multiprocessing_core::codec::encode(&Vec::<WireNode>::new()).unwrap();
    assert!(Object::from_wire(&none).is_err());
}

// ---- Python's repr -----------------------------------------------------------------------

/// Python's repr of each object, as CPython 3.11 prints it (checked against python3 below).
fn repr_table() -> Vec<(Object, &'static str)> {
    let mut dict = BTreeMap::new();
    dict.insert(Object::from(1), Object::from("1"));
    dict.insert(Object::from("2"), Object::from(2));
    dict.insert(Object::from(0.25), Object::None);
    vec![
        (Object::None, "None"),
        (Object::from(true), "True"),
        (Object::from(false), "False"),
        (Object::from(0), "0"),
        (Object::from(-17), "-17"),
        (
            Object::Int(i128::MIN),
            "-170141183460469231731687303715884105728",
        ),
        (Object::from(0.25), "0.25"),
        (Object::from(1.0), "1.0"),
        (Object::from(-1.5), "-1.5"),
        (Object::from(0.1), "0.1"),
        (Object::from(1e16), "1e+16"),
        (Object::from(1.5e16), "1.5e+16"),
        (Object::from(1e15), "1000000000000000.0"),
        (Object::from(123456789012345680.0), "1.2345678901234568e+17"),
        (Object::from(1e-5), "1e-05"),
        (Object::from(0.0001), "0.0001"),
        (Object::from(1.25e-7), "1.25e-07"),
        (Object::from(1e100), "1e+100"),
        (Object::from(5e-324), "5e-324"),
        (Object::from(f64::MAX), "1.7976931348623157e+308"),
        (Object::from(-0.0), "-0.0"),
        (Object::from(f64::INFINITY), "inf"),
        (Object::from(f64::NEG_INFINITY), "-inf"),
        (Object::from(f64::NAN), "nan"),
        (Object::from(""), "''"),
        (Object::from("text"), "'text'"),
        (Object::from("it's"), "\"it's\""),
        (Object::from("say \"hi\""), "'say \"hi\"'"),
        (Object::from("both ' and \""), "'both \\' and \"'"),
        (
            Object::from("tab\tnl\ncr\r\\ \0 \x1b \x7f"),
            "'tab\\tnl\\ncr\\r\\\\ \\x00 \\x1b \\x7f'",
        ),
        (Object::from("é ü 中文 😀"), "'é ü 中文 😀'"),
        (
            Object::from("\u{85} \u{a0} \u{ad} \u{200b} \u{2028} \u{e000} \u{f0000} \u{378}"),
            "'\\x85 \\xa0 \\xad \\u200b \\u2028 \\ue000 \\U000f0000 \\u0378'",
        ),
        (Object::from("\u{301}e\u{301}"), "'\u{301}e\u{301}'"),
        (Object::bytes(*b""), "b''"),
        (Object::bytes(*b"abc"), "b'abc'"),
        (Object::bytes(*b"\x00\xff'"), "b\"\\x00\\xff'\""),
        (Object::bytes(*b"'\"\t\\"), "b'\\'\"\\t\\\\'"),
        (Object::list::<Object>([]), "[]"),
        (Object::list([1, 2]), "[1, 2]"),
        (Object::tuple::<Object>([]), "()"),
        (Object::tuple([1]), "(1,)"),
        (Object::tuple(["a", "b"]), "('a', 'b')"),
        (Object::Dict(BTreeMap::new()), "{}"),
        (Object::Dict(dict), "{0.25: None, 1: '1', '2': 2}"),
        (
            Object::list([Object::list(["hello"]), Object::tuple([Object::None])]),
            "[['hello'], (None,)]",
        ),
        (
            Object::dict([(
                Object::tuple([1, 2]),
                Object::dict([("x", Object::bytes(*b"y"))]),
            )]),
            "{(1, 2): {'x': b'y'}}",
        ),
    ]
}

#[test]
fn display_is_pythons_repr() {
    for (obj, expect) in repr_table() {
        assert_eq!(obj.to_string(), expect, "{obj:?}");
    }
    let p = Object::list([
        Object::Proxy(token(0x7f3a)),
        Object::Proxy(Token {
            typeid: "Queue".into(),
            address: "127.0.0.1:5000".into(),
            id: 1,
        }),
    ]);
    assert_eq!(
        p.to_string(),
        "[<DictProxy object, typeid 'dict' at 0x7f3a>, <AutoProxy[Queue] object, typeid 'Queue' at 0x1>]"
    );
}

/// Runs python3 on `tasks` (a JSON list of `[kind, arg]`) and returns its reprs, or `None`
/// (with the reason printed) when this machine has no python3.
fn python_reprs(tasks: &serde_json::Value) -> Option<Vec<Option<String>>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const SCRIPT: &str = r#"
import json, struct, sys, unicodedata
out = []
for kind, arg in json.load(sys.stdin):
    if kind == "float":
        out.append(repr(struct.unpack("<d", arg.to_bytes(8, "little"))[0]))
    elif kind == "str":
        # Characters this Python's Unicode tables do not know yet are compared by no one.
        known = all(unicodedata.category(c) != "Cn" for c in arg)
        out.append(repr(arg) if known else None)
    elif kind == "bytes":
        out.append(repr(bytes.fromhex(arg)))
    else:
        try:
            out.append(repr(eval(arg, {"inf": float("inf"), "nan": float("nan")})))
        except TypeError as e:
            out.append(str(e))
json.dump(out, sys.stdout)
"#;
    let child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("skipped the comparison with CPython: no python3 ({e})");
            return None;
        }
    };
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(tasks.to_string().as_bytes())
        .expect("python3 reads its input");
    let out = child.wait_with_output().expect("python3 runs");
    assert!(out.status.success(), "python3 failed: {out:?}");
    Some(serde_json::from_slice(&out.stdout).expect("python3 prints JSON"))
}

/// The table above, and thousands of random floats, strings and bytes, printed as CPython does.
#[test]
fn display_matches_cpython() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut tasks = Vec::new();
    let mut ours = Vec::new();
    for (obj, expect) in repr_table() {
        // CPython evaluates the expected text back to the same repr: it is Python's own.
        tasks.push(serde_json::json!(["eval", expect]));
        ours.push(expect.to_owned());
        let _ = obj;
    }
    for _ in 0..3000 {
        let f = gen_f64(&mut rng);
        tasks.push(serde_json::json!(["float", f.to_bits()]));
        ours.push(Object::Float(f).to_string());
    }
    for _ in 0..1000 {
        // Characters assigned by Unicode 14 (CPython 3.11's tables) mostly sit below U+3100.
        let s: String = (0..8)
            .map(|_| match rng.random_range(0..3) {
                0 => char::from_u32(rng.random_range(0..0x3100)).unwrap_or('?'),
                1 => char::from(rng.random_range(0u8..0x80)),
                _ => ['\'', '"', '\\'][rng.random_range(0..3)],
            })
            .collect();
        tasks.push(serde_json::json!(["str", s]));
        ours.push(Object::Str(s).to_string());
        let b = gen_bytes(&mut rng);
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        tasks.push(serde_json::json!(["bytes", hex]));
        ours.push(Object::Bytes(b).to_string());
    }
    let Some(theirs) = python_reprs(&serde_json::Value::Array(tasks.clone())) else {
        return;
    };
    assert_eq!(theirs.len(), ours.len());
    let mut compared = 0;
    for ((task, t), o) in tasks.iter().zip(&theirs).zip(&ours) {
        if let Some(t) = t {
            assert_eq!(t, o, "CPython and we print {task} differently");
            compared += 1;
        }
    }
    assert!(
        compared > ours.len() * 9 / 10,
        "only {compared} of {} compared",
        ours.len()
    );
}

/// `python_cmp` against CPython's `<` over random pairs of small values of every kind.
#[test]
fn python_cmp_orders_and_refuses_as_cpython() {
    let mut rng = StdRng::seed_from_u64(13);
    let small = |rng: &mut StdRng| match rng.random_range(0..9) {
        0 => Object::None,
        1 => Object::Bool(rng.random()),
        2 => Object::Int(rng.random_range(-2..3)),
        3 => Object::Float(f64::from(rng.random_range(-4..4)) / 2.0),
        4 => Object::from(["", "a", "b"][rng.random_range(0..3)]),
        5 => Object::bytes([b"" as &[u8], b"a"][rng.random_range(0..2)]),
        6 => Object::dict::<Object, Object>([]),
        7 => Object::list((0..rng.random_range(0..3)).map(|_| rng.random_range(0..2))),
        _ => Object::tuple((0..rng.random_range(0..3)).map(|_| rng.random_range(0..2))),
    };
    let mut tasks = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..400 {
        let (a, b) = (small(&mut rng), small(&mut rng));
        // Python's `(a < b, a > b)`, or the TypeError's message.
        tasks.push(serde_json::json!([
            "eval",
            format!("(lambda a, b: (a < b, a > b))({a}, {b})")
        ]));
        ours.push(match a.python_cmp(&b) {
            Ok(o) => format!("({}, {})", o.is_lt(), o.is_gt())
                .replace("true", "True")
                .replace("false", "False"),
            Err(e) => e.to_string(),
        });
    }
    let Some(theirs) = python_reprs(&serde_json::Value::Array(tasks.clone())) else {
        return;
    };
    for ((task, t), o) in tasks.iter().zip(&theirs).zip(&ours) {
        assert_eq!(t.as_deref(), Some(o.as_str()), "{task}");
    }
}

#[test]
fn conversions_and_accessors() {
    assert!(Object::default().is_none());
    assert!(same(&Object::from(Some("x")), &Object::from("x")));
    assert!(same(&Object::from(None::<i32>), &Object::None));
    assert!(same(
        &Object::from(vec![Object::from(1)]),
        &Object::list([1])
    ));
    let collected: Object = [
        (Object::from(1), Object::from("a")),
        (Object::from(1.0), Object::from("b")),
    ]
    .into_iter()
    .collect();
    // Python's dict keeps the first of equal keys and the last value.
    assert!(same(
        &collected,
        &Object::Dict(BTreeMap::from([(Object::Int(1), Object::from("b"))]))
    ));
    assert_eq!(Object::from("s").type_name(), "str");
    assert_eq!(Object::Proxy(token(1)).type_name(), "DictProxy");
    assert_eq!(Object::from(u32::MAX).as_int(), Some(i128::from(u32::MAX)));
    assert_eq!(Object::from('c').as_str(), Some("c"));
    assert_eq!(Object::from(&b"ab"[..]).as_bytes(), Some(&b"ab"[..]));
    assert_eq!(Object::tuple([1]).as_tuple().map(<[Object]>::len), Some(1));
    assert_eq!(Object::Proxy(token(4)).as_token(), Some(&token(4)));
}
