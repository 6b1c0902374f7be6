//! Property: for random trees of every kind, writing at each protocol and reading back is the
//! identity; and serde values survive `to_vec` / `from_slice`.

use std::collections::BTreeMap;

use multiprocessing_pickle::{
    BigInt, Construct, Global, Object, Value, dumps_protocol, from_slice, loads, to_vec,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// `targets`: for each enclosing level, whether a recursive reference may point at it
/// (lists and dicts, which the writer memoizes before their contents).
fn tree(rng: &mut StdRng, depth: usize, targets: &mut Vec<bool>, proto: u8) -> Value {
    let leaf = depth >= 4 || rng.random_bool(0.4);
    if leaf {
        return match rng.random_range(0..11) {
            0 => Value::None,
            1 => Value::Bool(rng.random()),
            2 => Value::Int(rng.random::<i64>().into()),
            3 => Value::Int(rng.random::<i128>() >> rng.random_range(0..127)),
            4 => {
                let n: Vec<u8> = (0..rng.random_range(17..40))
                    .map(|_| rng.random())
                    .collect();
                BigInt::from_signed_bytes_le(&n)
            }
            5 => Value::Float(f64::from_bits(rng.random::<u64>() & !0x7ff0_0000_0000_0000)),
            6 => Value::Str(
                (0..rng.random_range(0..300))
                    .map(|_| rng.random::<char>())
                    .collect(),
            ),
            7 => Value::Bytes(
                (0..rng.random_range(0..300))
                    .map(|_| rng.random())
                    .collect(),
            ),
            8 => Value::ByteArray((0..rng.random_range(0..20)).map(|_| rng.random()).collect()),
            9 => Value::Global(Global::new(
                "pkg.mod",
                format!("Name{}", rng.random::<u8>()),
            )),
            _ => {
                let ok: Vec<usize> = targets
                    .iter()
                    .rev()
                    .enumerate()
                    .filter(|(_, t)| **t)
                    .map(|(i, _)| i + 1)
                    .collect();
                if ok.is_empty() {
                    Value::None
                } else {
                    Value::Recursive(ok[rng.random_range(0..ok.len())])
                }
            }
        };
    }
    let n = rng.random_range(0..5);
    let kind = rng.random_range(0..7);
    targets.push(matches!(kind, 1 | 2));
    let items = |rng: &mut StdRng, targets: &mut Vec<bool>| -> Vec<Value> {
        (0..n)
            .map(|_| tree(rng, depth + 1, targets, proto))
            .collect()
    };
    let v = match kind {
        0 => Value::Tuple(items(rng, targets)),
        1 => Value::List(items(rng, targets)),
        2 => {
            let keys = items(rng, targets);
            let vals = items(rng, targets);
            Value::Dict(keys.into_iter().zip(vals).collect())
        }
        3 => Value::Set(items(rng, targets)),
        4 => Value::FrozenSet(items(rng, targets)),
        _ => {
            // The object is a level; its arguments are not referable (as in Python).
            *targets.last_mut().unwrap() = false;
            let args = items(rng, targets);
            *targets.last_mut().unwrap() = true;
            let mut o = if kind == 5 {
                Object::reduce("pkg.mod", "Cls", args)
            } else {
                Object::new_obj("multiprocessing.managers", "Token", args)
            };
            if rng.random_bool(0.5) {
                o.state = Some(tree(rng, depth + 1, targets, proto));
            }
            if rng.random_bool(0.3) {
                o.list_items = items(rng, targets);
            }
            if rng.random_bool(0.3) {
                o.dict_items = vec![(Value::from("k"), tree(rng, depth + 1, targets, proto))];
            }
            if proto >= 4 && o.construct == Construct::NewObj && rng.random_bool(0.3) {
                *targets.last_mut().unwrap() = false;
                o.kwargs = vec![(Value::from("kw"), tree(rng, depth + 1, targets, proto))];
            }
            o.into()
        }
    };
    targets.pop();
    v
}

#[test]
fn writer_then_reader_is_the_identity_on_random_trees() {
    let mut rng = StdRng::seed_from_u64(15);
    for round in 0..3000 {
        let proto = 2 + (round % 4) as u8;
        let v = tree(&mut rng, 0, &mut Vec::new(), proto);
        let bytes = dumps_protocol(&v, proto).unwrap_or_else(|e| panic!("{e}: {v:?}"));
        let back = loads(&bytes).unwrap_or_else(|e| panic!("protocol {proto}: {e}: {v:?}"));
        assert_eq!(back, v, "protocol {proto}");
    }
}

#[test]
fn big_ints_print_and_travel() {
    for s in [
        "0",
        "-1",
        "170141183460469231731687303715884105727",
        "170141183460469231731687303715884105728",
        "-170141183460469231731687303715884105728",
        "-170141183460469231731687303715884105729",
        "1606938044258990275541962092341162602522202993782792835301376",
        "-340282366920938463463374607431768211456",
    ] {
        let v = BigInt::parse(s).unwrap();
        assert_eq!(v.to_string(), s);
        for proto in 2..=5 {
            assert_eq!(loads(&dumps_protocol(&v, proto).unwrap()).unwrap(), v);
        }
    }
    assert!(BigInt::parse(&"9".repeat(5000)).is_none());
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
enum Shape {
    Empty,
    Circle(f64),
    Rect { w: u32, h: u32 },
    Pair(i8, i8),
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Job {
    id: u64,
    name: String,
    tags: Vec<String>,
    extra: Option<Box<Job>>,
    shapes: Vec<Shape>,
    table: BTreeMap<String, (i32, bool)>,
    #[serde(with = "serde_bytes_shim")]
    blob: Vec<u8>,
    big: u128,
}

mod serde_bytes_shim {
    pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[test]
fn serde_types_survive_and_look_like_python() {
    let job = Job {
        id: 7,
        name: "résumé".into(),
        tags: vec!["a".into(), "b".into()],
        extra: Some(Box::new(Job {
            id: 8,
            name: String::new(),
            tags: vec![],
            extra: None,
            shapes: vec![],
            table: BTreeMap::new(),
            blob: vec![],
            big: 0,
        })),
        shapes: vec![
            Shape::Empty,
            Shape::Circle(1.5),
            Shape::Rect { w: 2, h: 3 },
            Shape::Pair(-1, 1),
        ],
        table: [("x".to_string(), (1, true))].into(),
        blob: vec![0, 255],
        big: u128::MAX,
    };
    let bytes = to_vec(&job).unwrap();
    assert_eq!(from_slice::<Job>(&bytes).unwrap(), job);
    let v = loads(&bytes).unwrap();
    let s = v.to_string();
    assert!(
        s.contains(
            "'shapes': ['Empty', {'Circle': 1.5}, {'Rect': {'w': 2, 'h': 3}}, {'Pair': (-1, 1)}]"
        ),
        "{s}"
    );
    assert!(s.contains("'blob': b'\\x00\\xff'"), "{s}");
    assert!(
        s.contains("'big': 340282366920938463463374607431768211455"),
        "{s}"
    );
    // Wrong shapes are serde errors, not panics.
    assert!(from_slice::<Vec<u8>>(&to_vec(&"no").unwrap()).is_err());
    assert!(from_slice::<u8>(&to_vec(&300).unwrap()).is_err());
}

#[test]
fn shared_containers_and_arguments_are_whole_in_every_copy() {
    // a = ['sss']; [a, a, 'u'], as CPython 3.13 pickles it at protocol 4.
    let p = b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00]\x94(]\x94\x8c\x03sss\x94ah\x01\x8c\x01u\x94e.";
    assert_eq!(loads(p).unwrap().to_string(), "[['sss'], ['sss'], 'u']");
    // e = KeyError('m'); [e.args, e]: the args tuple is shared by the list and the exception.
    let p = b"\x80\x04\x95'\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x01m\x94\x85\x94\x8c\x08builtins\x94\x8c\x08KeyError\x94\x93\x94h\x02R\x94e.";
    assert_eq!(loads(p).unwrap().to_string(), "[('m',), KeyError('m')]");
}
