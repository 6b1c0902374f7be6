//! Arbitrary bytes through the connection frame reader (any chunking, with and without the
//! 256-byte handshake limit).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    multiprocessing_connection::fuzzing::frame_reader(data);
});
