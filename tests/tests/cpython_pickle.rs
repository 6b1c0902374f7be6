//! Pickled `send`/`recv` with every CPython 3.8+ on the machine, both directions: a CPython
//! `Client` sends every kind of object at every protocol it writes and our `recv_pickle_value`
//! must give the expected tree; we send the same trees at protocols 2 to 5 and CPython's
//! `recv()` must rebuild the objects (a manager `Token`, a `KeyError`, shared and recursive
//! containers, big ints included). Then a serde struct each way.

use std::thread;

use multiprocessing::connection::{Address, AuthKey, Connection, Listener};
use multiprocessing::pickle::{BigInt, Global, Object, Value, dumps_protocol};
use multiprocessing_tests::cpython::{Python, pythons};
use multiprocessing_tests::helpers::TempSock;

fn big(s: &str) -> Value {
    BigInt::parse(s).expect("decimal")
}

fn list<const N: usize>(items: [Value; N]) -> Value {
    Value::List(items.into())
}

/// The trees of `objects()` in `tests/python/pickle_peer.py`, in its order.
fn objects() -> Vec<(&'static str, Value)> {
    let s = Value::from;
    let i = |v: i128| Value::Int(v);
    vec![
        ("none", Value::None),
        ("bools", list([Value::Bool(true), Value::Bool(false)])),
        (
            "ints",
            list([
                i(0),
                i(-1),
                i(255),
                i(256),
                i(65535),
                i(65536),
                i(-(1 << 31)),
                i(1 << 31),
                i(1 << 63),
                i(-(1 << 63) - 1),
                i(i128::MAX),
                i(i128::MIN),
            ]),
        ),
        (
            "big ints",
            list([
                big("1606938044258990275541962092341162602522202993782792835301376"),
                big("-1606938044258990275541962092341162602522202993782792835301376"),
                big("340282366920938463463374607431768211456"),
                big("-340282366920938463463374607431768211457"),
            ]),
        ),
        (
            "floats",
            list([
                Value::Float(2.5),
                Value::Float(-0.0),
                Value::Float(1e300),
                Value::Float(f64::INFINITY),
                Value::Float(f64::NEG_INFINITY),
            ]),
        ),
        ("str", s("h\u{e9}llo \u{2603} \u{1f600} \n \\ '\"")),
        ("bytes", Value::Bytes(b"\x00\xffbytes".to_vec())),
        ("bytearray", Value::ByteArray(b"ba\x00".to_vec())),
        (
            "tuple",
            Value::Tuple(vec![
                i(1),
                s("two"),
                Value::Float(3.0),
                Value::Bool(true),
                Value::None,
            ]),
        ),
        (
            "list",
            list([
                i(1),
                list([i(2), list([i(3)])]),
                list([]),
                Value::Tuple(vec![]),
            ]),
        ),
        (
            "dict",
            Value::Dict(vec![
                (i(1), s("int key")),
                (s("b"), i(2)),
                (Value::Tuple(vec![i(1), i(2)]), Value::None),
                (Value::None, s("none key")),
                (Value::Float(2.5), s("float key")),
            ]),
        ),
        ("set", Value::Set(vec![i(1), i(2), i(3)])),
        ("frozenset", Value::FrozenSet(vec![s("x")])),
        ("global", Value::Global(Global::new("builtins", "KeyError"))),
        (
            "token",
            Object::new_obj("multiprocessing.managers", "Token", vec![])
                .state(Value::Tuple(vec![
                    s("dict"),
                    Value::Tuple(vec![s("127.0.0.1"), i(5000)]),
                    s("7f00"),
                ]))
                .into(),
        ),
        ("KeyError", Value::exception("KeyError", ["missing"])),
        ("shared", list([list([i(1)]), list([i(1)])])),
        ("recursive list", list([Value::Recursive(1)])),
        (
            "recursive dict",
            Value::Dict(vec![(s("self"), Value::Recursive(1))]),
        ),
    ]
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Job {
    id: u32,
    name: String,
    args: (f64, Option<String>),
}

fn session(py: &Python, address: Address) {
    let l = Listener::builder()
        .address(address)
        .authkey(AuthKey::from("pickles"))
        .bind()
        .unwrap();
    let mut cmd = py.command();
    cmd.arg(format!(
        "{}/python/pickle_peer.py",
        env!("CARGO_MANIFEST_DIR")
    ))
    .arg(l.address().to_string())
    .arg("pickles");
    let peer = thread::spawn(move || cmd.output().unwrap());
    let mut c: Connection = l.accept().unwrap();
    let want = objects();

    // CPython -> us: every object at the default protocol and at 0 to HIGHEST_PROTOCOL.
    let mut received = 0;
    while let Some((label, proto)) = c.recv_pickle::<Option<(String, Option<u8>)>>().unwrap() {
        let got = c.recv_pickle_value().unwrap();
        let (_, expected) = want.iter().find(|(l, _)| *l == label).unwrap();
        assert_eq!(
            &got, expected,
            "CPython {} {label} protocol {proto:?}",
            py.version
        );
        received += 1;
    }
    assert!(
        received >= want.len() * 7,
        "CPython {}: {received} objects",
        py.version
    );
    let job: Job = c.recv_pickle().unwrap();
    assert_eq!(
        job,
        Job {
            id: 7,
            name: "job".into(),
            args: (1.5, None)
        }
    );

    // Us -> CPython: every tree at protocols 2 to 5, and through send_pickle_value.
    let mut sent = 0;
    for (label, v) in &want {
        for proto in [2u8, 3, 4, 5] {
            c.send_pickle(&(label, proto)).unwrap();
            c.send_bytes(&dumps_protocol(v, proto).unwrap()).unwrap();
            sent += 1;
        }
        c.send_pickle(&(label, "send_pickle_value")).unwrap();
        c.send_pickle_value(v).unwrap();
        sent += 1;
    }
    c.send_pickle(&()).unwrap();
    c.send_pickle(&Job {
        id: 8,
        name: "done".into(),
        args: (2.5, Some("x".into())),
    })
    .unwrap();

    let out = peer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let what = format!(
        "CPython {}: {stdout}{}",
        py.version,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what}");
    assert!(!stdout.contains("FAIL"), "{what}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        sent,
        "{what}"
    );
    assert!(stdout.contains("job True\n"), "{what}");
    assert!(stdout.ends_with(&format!("done {sent}\n")), "{what}");
}

#[test]
fn pickled_send_and_recv_both_ways_with_every_cpython() {
    let found = pythons();
    for minor in 8..=13 {
        let v = format!("3.{minor}");
        if !found.iter().any(|p| p.version == v) {
            println!("CPython {v}: not on this machine, skipped");
        }
    }
    for py in found {
        session(&py, "127.0.0.1:0".parse().unwrap());
        let sock = TempSock::new("pickle");
        session(&py, Address::Unix(sock.path.clone()));
        println!(
            "CPython {}: pickled send/recv both ways over TCP and Unix sockets",
            py.version
        );
    }
}
