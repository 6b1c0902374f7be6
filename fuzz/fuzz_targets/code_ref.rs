//! Arbitrary bytes decoded as a code reference: every forged, truncated or foreign reference
//! must be refused with an error before it becomes a function pointer (nothing is ever called).
#![no_main]

use multiprocessing_core::code::CodeRef;
use multiprocessing_core::codec;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Only a reference this process signed may resolve; the fuzzer cannot forge the tag.
    if let Ok(r) = codec::decode::<CodeRef<fn(u64) -> u64>>(data) {
        let ours = codec::encode(&r).expect("encode");
        assert_eq!(ours, data, "a reference resolved that this process did not sign");
    }
});
