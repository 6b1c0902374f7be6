//! Entry points for the fuzz targets in `fuzz/`: the frame reader and the handshake parsers,
//! driven by arbitrary bytes without sockets. Not part of the stable API.
//!
//! ```
//! multiprocessing_connection::fuzzing::frame_reader(&[0, 0, 0, 1, 7, 0xff]);
//! multiprocessing_connection::fuzzing::handshake(b"#CHALLENGE#{sha256}0123456789");
//! multiprocessing_connection::fuzzing::handshake_machine(b"\x03\0\0\0\x05hello");
//! ```

use crate::auth::Handshake;
use crate::frame::{FrameReader, SliceSource, read_frame};
use crate::{Error, auth};
use multiprocessing_core::AuthKey;

/// Reads frames from `data` (first byte chooses the read chunk size and the length limit)
/// until an error, checking the reader's invariants.
pub fn frame_reader(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(ctl & 0x3f) + 1;
    let limit = if ctl & 0x40 != 0 {
        Some(auth::MESSAGE_LIMIT)
    } else {
        None
    };
    let mut reader = FrameReader::new();
    let mut src = SliceSource { data: rest, chunk };
    let mut out = Vec::new();
    let mut total = 0usize;
    loop {
        match read_frame(&mut reader, &mut src, limit, &mut out) {
            Ok(h) => {
                assert_eq!(out.len() as u64, h.len);
                total += out.len();
                assert!(total <= rest.len());
                if let Some(l) = limit {
                    assert!(out.len() <= l);
                }
                if h.nfds > 0 {
                    // No descriptors arrive from a slice: claiming them must fail cleanly.
                    assert!(matches!(reader.claim_fds(h.nfds), Err(Error::Transfer(_))));
                }
            }
            Err(_) => {
                // Never more allocated than a bounded chunk ahead of what arrived.
                assert!(out.capacity() <= rest.len() + crate::frame::MAX_AHEAD + 64 * 1024);
                return;
            }
        }
    }
}

/// Feeds `data` to both roles of the handshake as if a peer had sent it.
pub fn handshake(data: &[u8]) {
    let key = b"secret";
    // As responder: `data` is the challenge frame.
    if let Ok(body) = auth::challenge_body(data)
        && let Ok(resp) = auth::response(key, body)
    {
        assert!(resp.len() <= auth::MESSAGE_LIMIT);
        assert!(auth::verify(key, body, &resp).is_ok());
    }
    // As challenger: `data` is the reply to a fixed challenge.
    let mut body = b"{sha256}".to_vec();
    body.extend(0u8..40);
    let _ = auth::verify(key, &body, data);
}

/// Feeds `data` (first byte chooses the chunk size) to a server and a client [`Handshake`] as if
/// a peer had sent it, checking that neither panics, that output stays small and that a failed
/// handshake stays failed.
pub fn handshake_machine(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(ctl & 0x3f) + 1;
    let key = AuthKey::new(b"secret".to_vec());
    for mut hs in [Handshake::server(&key), Handshake::client(&key)] {
        let mut failed = false;
        for piece in rest.chunks(chunk) {
            let r = hs.feed(piece);
            assert!(
                !(failed && r.is_ok()),
                "a failed handshake accepted more input"
            );
            failed |= r.is_err();
            // At most a few frames of a few hundred bytes are ever queued.
            assert!(hs.output().len() <= 4 * auth::MESSAGE_LIMIT);
            let n = hs.output().len();
            hs.consume_output(n);
        }
        if hs.is_complete() {
            assert!(!failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore};

    /// A quick run of the fuzz entry points on random and half-valid inputs.
    #[test]
    fn random_inputs_keep_the_invariants() {
        let mut rng = rand::rng();
        let challenge = {
            let mut f = vec![0, 0, 0, 59];
            f.extend_from_slice(b"#CHALLENGE#{sha256}");
            f.extend_from_slice(&[7u8; 40]);
            f
        };
        let rounds = if cfg!(miri) { 30 } else { 3000 };
        for i in 0..rounds {
            let mut data = vec![0u8; rng.random_range(0..400)];
            rng.fill_bytes(&mut data);
            if i % 2 == 0 && !data.is_empty() {
                let at = 1.min(data.len());
                data.splice(at..at, challenge.iter().copied());
            }
            super::handshake_machine(&data);
            super::frame_reader(&data);
        }
    }
}
