//! Hostile pickles: forged lengths, deep nesting, exponential sharing, code that must not run.
//! Each is a typed error, without a panic or a large allocation.

use multiprocessing_pickle::{Error, Limits, Value, loads, loads_with_limits};
use rand::{Rng, SeedableRng, rngs::StdRng};

#[test]
fn forged_lengths_are_truncation_not_allocation() {
    let cases: &[&[u8]] = &[
        b"\x80\x04X\xff\xff\xff\xffabc.", // BINUNICODE of 4 GB
        b"\x80\x04B\xff\xff\xff\xff.",    // BINBYTES of 4 GB
        b"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7fab.", // BINUNICODE8
        b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\xffab.", // BINBYTES8 beyond usize
        b"\x80\x05\x96\x00\x00\x00\x00\x01\x00\x00\x00.", // BYTEARRAY8
        b"\x80\x02\x8b\xff\xff\xff\x7f\x01.", // LONG4 of 2 GB
        b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xff", // FRAME, then nothing
        b"\x80\x02T\xff\xff\xff\x7fab.",  // BINSTRING
    ];
    for c in cases {
        assert!(
            matches!(loads(c), Err(Error::Truncated { .. })),
            "{c:?}: {:?}",
            loads(c)
        );
    }
    // Negative lengths are malformed.
    assert!(matches!(
        loads(b"\x80\x02\x8b\xff\xff\xff\xff."),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        loads(b"T\xff\xff\xff\xff."),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn nesting_past_the_depth_limit_is_an_error_not_a_stack_overflow() {
    // 100 000 empty lists, each appended into the one before: 100 000 levels.
    let n = 100_000;
    let mut p = b"\x80\x04".to_vec();
    p.extend(std::iter::repeat_n(b']', n));
    p.extend(std::iter::repeat_n(b'a', n - 1));
    p.push(b'.');
    assert!(
        matches!(loads(&p), Err(Error::LimitExceeded(_))),
        "{:?}",
        loads(&p)
    );
    // Just inside the limit is fine.
    let limits = Limits::default();
    let n = limits.max_depth;
    let mut p = b"\x80\x04".to_vec();
    p.extend(std::iter::repeat_n(b']', n));
    p.extend(std::iter::repeat_n(b'a', n - 1));
    p.push(b'.');
    let mut v = loads(&p).unwrap();
    let mut depth = 1;
    while let Value::List(mut items) = v {
        match items.pop() {
            Some(inner) => {
                depth += 1;
                v = inner;
            }
            None => break,
        }
    }
    assert_eq!(depth, n);
}

#[test]
fn exponential_sharing_hits_the_output_budget() {
    // a = ['x' * 100]; then 40 times: a = [a, a]  ->  2**40 copies from a 300-byte pickle.
    let mut p = b"\x80\x04]\x94(\x8cd".to_vec();
    p.extend([b'x'; 100]);
    p.extend(b"e");
    for i in 0..40u8 {
        // MEMOIZE gave the current list memo index i; build [a, a] and memoize it as i + 1.
        p.extend([b']', 0x94, b'(', b'h', i, b'h', i, b'e']);
    }
    p.push(b'.');
    assert!(
        matches!(loads(&p), Err(Error::LimitExceeded(_))),
        "{:?}",
        loads(&p).map(|_| ())
    );
}

#[test]
fn memo_limit_and_memo_misuse() {
    let limits = Limits {
        max_memo: 10,
        ..Limits::default()
    };
    let mut p = b"\x80\x04N".to_vec();
    p.extend([0x94; 11]);
    p.push(b'.');
    assert!(matches!(
        loads_with_limits(&p, &limits),
        Err(Error::LimitExceeded(_))
    ));
    assert!(matches!(
        loads(b"\x80\x02h\x05."),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        loads(b"\x80\x02q\x00."),
        Err(Error::Malformed { .. })
    )); // PUT of nothing
}

#[test]
fn stack_misuse_is_malformed() {
    for c in [
        &b"."[..],                   // STOP on an empty stack
        b"a.",                       // APPEND with nothing
        b"N]a0a.",                   // APPEND to None
        b"(Na.",                     // APPEND across a MARK
        b"t.",                       // TUPLE without MARK
        b"(K\x01d.",                 // DICT with an odd item count
        b"K\x01K\x02b.",             // BUILD on an int
        b"\x8c\x01a\x8c\x01b\x86R.", // REDUCE of a tuple that is no global
        b"cos\nsystem\nK\x01R.",     // REDUCE with arguments that are not a tuple
        b"Ixyz\n.",
        b"Fnope\n.",
        b"S'unterminated\n.",
        b"I1\n\x93.", // STACK_GLOBAL of ints
    ] {
        let r = loads(c);
        assert!(
            matches!(r, Err(Error::Malformed { .. } | Error::Unsupported(_))),
            "{c:?}: {r:?}"
        );
    }
    assert!(matches!(
        loads(b"\xee"),
        Err(Error::UnknownOpcode {
            opcode: 0xee,
            offset: 0
        })
    ));
}

#[test]
fn features_without_meaning_are_unsupported() {
    for c in [
        &b"Pid\n."[..],
        b"K\x01Q.",
        b"\x82\x01.",
        b"\x80\x05\x97.",
        b"\x80\x06N.",
        b"X\x02\x00\x00\x00\xed\xa0.", // a lone surrogate as surrogatepass writes it
    ] {
        assert!(
            matches!(loads(c), Err(Error::Unsupported(_))),
            "{c:?}: {:?}",
            loads(c)
        );
    }
}

#[test]
fn globals_stay_names_and_nothing_runs() {
    // os.system('touch FILE') at protocols 0, 2 and 4: a name and its arguments, nothing else.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ran");
    let cmd = format!("touch {}", file.display());
    let p0 = format!("cos\nsystem\n(V{cmd}\ntR.");
    let mut p4 = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c".to_vec();
    p4.push(cmd.len() as u8);
    p4.extend(cmd.as_bytes());
    p4.extend(b"\x85R.");
    for p in [p0.as_bytes(), &p4] {
        let v = loads(p).unwrap();
        assert_eq!(v.class(), Some(("os", "system")));
        let Value::Object(o) = v else { unreachable!() };
        assert_eq!(o.args, [Value::Str(cmd.clone())]);
    }
    assert!(!file.exists());
}

#[test]
fn random_bytes_and_mutated_pickles_never_panic() {
    let mut rng = StdRng::seed_from_u64(15);
    let seed = multiprocessing_pickle::dumps(&Value::List(vec![
        Value::Int(1),
        Value::from("two"),
        Value::Dict(vec![(Value::None, Value::Bytes(vec![1, 2]))]),
        Value::exception("KeyError", ["k"]),
        Value::Recursive(1),
    ]))
    .unwrap();
    for _ in 0..20_000 {
        let mut p = if rng.random_bool(0.5) {
            seed.clone()
        } else {
            (0..rng.random_range(0..64)).map(|_| rng.random()).collect()
        };
        for _ in 0..rng.random_range(0..4) {
            if !p.is_empty() {
                let i = rng.random_range(0..p.len());
                p[i] = rng.random();
            }
        }
        if let Err(e) = loads(&p) {
            assert_eq!(e.kind(), multiprocessing_core::ErrorKind::Codec);
        }
    }
}
