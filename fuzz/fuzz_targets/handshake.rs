//! Arbitrary bytes as a challenge frame (responder role) and as a challenge response
//! (challenger role).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    multiprocessing_connection::fuzzing::handshake(data);
});
