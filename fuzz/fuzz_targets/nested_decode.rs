//! Arbitrary bytes decoded through `codec::decode` as a recursive type that nests through every
//! kind of compound (enum, sequence, map, option, tuple, struct, newtype): never a panic or a
//! stack overflow, whatever the depth the bytes claim; what decodes re-encodes to the same bytes.
#![no_main]

use std::collections::BTreeMap;

use multiprocessing_core::{Error, codec};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
enum Tree {
    Leaf(u8),
    Text(String),
    Bytes(Vec<u8>),
    List(Vec<Tree>),
    Map(BTreeMap<u16, Tree>),
    Maybe(Option<Box<Tree>>),
    Pair(Box<(Tree, Tree)>),
    Record { left: Box<Tree>, right: Wrapped },
}

#[derive(Debug, Serialize, Deserialize)]
struct Wrapped(Option<Box<Tree>>);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match codec::decode::<Tree>(data) {
        // Postcard's encoding of a value is canonical except for map key order and varint
        // padding, so check the re-encoding decodes again rather than comparing bytes.
        Ok(tree) => {
            let bytes = codec::encode(&tree).expect("a decoded value encodes");
            codec::decode::<Tree>(&bytes).expect("a re-encoded value decodes");
        }
        Err(Error::Codec(_)) => {}
        Err(e) => panic!("decoding gave a non-codec error: {e:?}"),
    }
});
