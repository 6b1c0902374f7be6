//! Arbitrary bytes read as a pickle: never a panic, a stack overflow or an allocation the
//! input did not pay for; every failure is a typed error of kind `Codec`; whatever reads
//! writes again (unless it holds a recursion the writer refuses) and reads back equal.
//! Seeds worth giving it: the CPython pickles in `tests/data/cpython/pickle_vectors.json`.
#![no_main]

use multiprocessing_core::ErrorKind;
use multiprocessing_pickle::{Error, dumps, loads};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match loads(data) {
        Ok(value) => match dumps(&value) {
            Ok(bytes) => {
                match loads(&bytes) {
                    // NaN is not equal to itself; compare the printed forms, which are exact.
                    Ok(again) => assert_eq!(again.to_string(), value.to_string()),
                    // A tree inflated by sharing may pass the memo limit once written out.
                    Err(Error::LimitExceeded(_)) => {}
                    Err(e) => panic!("our own pickle does not read back: {e}"),
                }
            }
            // A cycle through a tuple, keyword arguments to REDUCE, or a reference past the
            // writer's depth: refused with a typed error, never written wrong.
            Err(Error::Unsupported(_) | Error::LimitExceeded(_)) => {}
            Err(e) => panic!("writing what was read failed: {e}"),
        },
        Err(e) => assert_eq!(e.kind(), ErrorKind::Codec),
    }
});
