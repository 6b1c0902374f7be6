//! Arbitrary bytes, in arbitrary chunks, fed to both sides of the I/O-free handshake state
//! machine as if a hostile peer sent them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    multiprocessing_connection::fuzzing::handshake_machine(data);
});
