//! Arbitrary bytes decoded as a manager's `Object` in its wire form: never a panic, a stack
//! overflow or a huge reservation, whatever lengths and depths the bytes claim; what decodes
//! re-encodes, decodes again to the same tree, and converts through serde both ways.
#![no_main]

use multiprocessing_managers::object::{Object, ObjectError, from_object_ref, to_object};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match Object::from_wire(data) {
        Ok(obj) => {
            let bytes = obj.to_wire().expect("a decoded object encodes");
            let again = Object::from_wire(&bytes).expect("a re-encoded object decodes");
            // Debug shows kinds exactly (NaN, -0.0, Int vs Bool), unlike `==`.
            assert_eq!(format!("{again:?}"), format!("{obj:?}"));
            let through: Object = from_object_ref(&obj).expect("an object reads as itself");
            assert_eq!(format!("{through:?}"), format!("{obj:?}"));
            let back = to_object(&obj).expect("an object converts to itself");
            assert_eq!(format!("{back:?}"), format!("{obj:?}"));
            let _ = obj.to_string();
        }
        Err(ObjectError::Wire(_)) => {}
        Err(e) => panic!("decoding gave a non-wire error: {e:?}"),
    }
});
