//! CPython's own pickles (3.11 and 3.13, every protocol each writes) decode to the trees they
//! describe, and every prefix of them fails as truncated.

use multiprocessing_pickle::{Construct, Error, Value, loads};

fn vectors() -> Vec<(String, String, u8, String, Vec<u8>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/cpython/pickle_vectors.json"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for run in json["runs"].as_array().unwrap() {
        for p in run["pickles"].as_array().unwrap() {
            let hex = p["hex"].as_str().unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            out.push((
                run["python"].as_str().unwrap().to_owned(),
                p["label"].as_str().unwrap().to_owned(),
                p["protocol"].as_u64().unwrap() as u8,
                p["repr"].as_str().unwrap().to_owned(),
                bytes,
            ));
        }
    }
    assert!(out.len() >= 190, "{} vectors", out.len());
    out
}

#[test]
fn every_cpython_vector_decodes_to_its_tree() {
    for (py, label, proto, repr, bytes) in vectors() {
        let v = loads(&bytes).unwrap_or_else(|e| panic!("{py} {label} p{proto}: {e}"));
        let what = format!("{py} {label} protocol {proto}");
        match label.as_str() {
            "Token" => {
                let Value::Object(o) = &v else {
                    panic!("{what}: {v:?}")
                };
                assert_eq!(
                    (o.class.module.as_str(), o.class.name.as_str(), o.construct),
                    ("multiprocessing.managers", "Token", Construct::NewObj),
                    "{what}"
                );
                assert!(o.args.is_empty(), "{what}");
                assert_eq!(
                    o.state.as_ref().unwrap().to_string(),
                    "('dict', ('127.0.0.1', 5000), '7f00')",
                    "{what}"
                );
            }
            "date" => {
                let Value::Object(o) = &v else {
                    panic!("{what}: {v:?}")
                };
                assert_eq!(o.class.module, "datetime", "{what}");
                assert_eq!(o.class.name, "date", "{what}");
                assert_eq!(o.args, [Value::Bytes(vec![7, 0xe8, 1, 2])], "{what}");
            }
            // Python's repr and ours agree on everything else, exceptions included.
            _ => assert_eq!(v.to_string(), repr, "{what}"),
        }
        match label.as_str() {
            "recursive list" => assert_eq!(v, Value::List(vec![Value::Recursive(1)]), "{what}"),
            "big int" => assert!(matches!(v, Value::Int(_)), "{what}: 2**70 fits 128 bits"),
            "KeyError" => {
                assert_eq!(v, Value::exception("KeyError", ["missing"]), "{what}")
            }
            _ => {}
        }
    }
}

#[test]
fn every_prefix_of_every_vector_is_truncated_never_a_panic() {
    for (py, label, proto, _, bytes) in vectors() {
        for cut in 0..bytes.len() {
            match loads(&bytes[..cut]) {
                Err(Error::Truncated { .. }) => {}
                other => panic!("{py} {label} p{proto} cut at {cut}: {other:?}"),
            }
        }
    }
}
