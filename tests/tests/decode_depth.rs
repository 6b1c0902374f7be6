//! A received value nested past the codec's limit is a typed error in the receiving process,
//! which keeps serving (it used to overflow its stack and abort).

use multiprocessing::connection::Error;
use multiprocessing::runtime::codec::MAX_DEPTH;
use multiprocessing::{Connection, StartMethod, get_context, pipe};
use multiprocessing_tests::per_method;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Nested {
    Leaf,
    Node(Box<Nested>),
}

/// Receives a hostile value, then a good one; says what it got for each.
fn receiver(mut conn: Connection) -> (Option<String>, Option<Nested>) {
    let hostile = match conn.recv::<Nested>() {
        Err(Error::Codec(msg)) => Some(msg),
        _ => None,
    };
    (hostile, conn.recv::<Nested>().ok())
}

fn million_deep_value_is_a_codec_error_in_the_receiving_child(method: StartMethod) {
    let (mut ours, theirs) = pipe(true).unwrap();
    let child = get_context(method).start(receiver, (theirs,)).unwrap();
    // "Node(Node(...(Leaf)))" a million levels deep, written by hand: building the value
    // would overflow our own stack.
    let mut hostile = vec![1u8; 1_000_000];
    hostile.push(0);
    ours.send_bytes(&hostile).unwrap();
    let good = Nested::Node(Box::new(Nested::Leaf));
    ours.send(&good).unwrap();
    let (hostile, after) = child.join().unwrap();
    let msg = hostile.expect("the hostile value was not refused with a codec error");
    assert!(msg.contains(&format!("deeper than {MAX_DEPTH}")), "{msg}");
    assert_eq!(after, Some(good), "the receiver did not keep serving");
}

per_method!(million_deep_value_is_a_codec_error_in_the_receiving_child);
