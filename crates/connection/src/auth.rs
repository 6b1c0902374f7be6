//! The HMAC challenge/response handshake, byte-compatible with CPython's
//! `deliver_challenge`/`answer_challenge`.
//!
//! The digest computations are plain functions ([`new_challenge`], [`challenge_body`],
//! [`response`], [`verify`]) so they can be checked against captured CPython bytes without a
//! socket; [`deliver_challenge`] and [`answer_challenge`] run them over a [`Connection`].
//! [`Handshake`] is the whole exchange of either side as an I/O-free state machine (bytes in,
//! bytes to write out), which the [`Listener`](crate::Listener) drives for many clients at once
//! and [`Client`](crate::Client) for one, each under a deadline for the whole exchange.
//!
//! * As challenger we send `#CHALLENGE#{sha256}` + 40 random bytes (CPython 3.12+) and accept
//!   every reply CPython 3.12+ accepts: a raw 16-byte HMAC-MD5 (how CPython 3.11 answers),
//!   `{md5}`, `{sha256}`, `{sha384}`, `{sha3_256}` and `{sha3_384}` MACs over the whole body.
//! * As responder we answer a 20-byte body with a raw HMAC-MD5 (CPython 3.11 servers) and a
//!   `{name}`-prefixed body with `{name}` + HMAC-name, and reject what CPython rejects.
//! * Every receive is limited to [`MESSAGE_LIMIT`] bytes; MACs are compared in constant time.
//!
//! ```
//! use multiprocessing_connection::auth;
//! let body = auth::new_challenge();
//! assert!(body.starts_with(b"{sha256}") && body.len() == 48);
//! let reply = auth::response(b"secret", &body).unwrap();
//! assert!(auth::verify(b"secret", &body, &reply).is_ok());
//! assert!(auth::verify(b"other", &body, &reply).is_err());
//! ```

use hmac::{Hmac, Mac};
use multiprocessing_core::AuthKey;
use rand::RngCore;

use crate::{Connection, Error, Result};

/// The prefix of a challenge frame.
pub const CHALLENGE: &[u8] = b"#CHALLENGE#";
/// The verdict that accepts a response.
pub const WELCOME: &[u8] = b"#WELCOME#";
/// The verdict that rejects a response.
pub const FAILURE: &[u8] = b"#FAILURE#";
/// The largest frame either side accepts during the handshake.
pub const MESSAGE_LIMIT: usize = 256;
/// Random bytes in a challenge we make (after the `{sha256}` prefix).
const NONCE_LEN: usize = 40;
/// Body length of a legacy (CPython 3.11) challenge.
const LEGACY_CHALLENGE_LEN: usize = 20;
/// Length of a raw HMAC-MD5 reply.
const MD5_LEN: usize = 16;
/// Longest allowed digest name (`sha3_256`).
const MAX_NAME_LEN: usize = 8;

/// A digest allowed in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Digest {
    /// HMAC-MD5 (the legacy protocol, and `{md5}`).
    Md5,
    /// HMAC-SHA256, the default of CPython 3.12+.
    Sha256,
    /// HMAC-SHA384.
    Sha384,
    /// HMAC-SHA3-256.
    Sha3_256,
    /// HMAC-SHA3-384.
    Sha3_384,
}

macro_rules! hmac_of {
    ($d:ty, $key:expr, $msg:expr) => {{
        // HMAC accepts keys of any length, so this never fails.
        let mut m = <Hmac<$d> as Mac>::new_from_slice($key).unwrap_or_else(|_| unreachable!());
        m.update($msg);
        m
    }};
}

impl Digest {
    /// The name CPython puts between the braces.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Digest::Md5 => "md5",
            Digest::Sha256 => "sha256",
            Digest::Sha384 => "sha384",
            Digest::Sha3_256 => "sha3_256",
            Digest::Sha3_384 => "sha3_384",
        }
    }

    /// Looks a name up (exact, lowercase).
    #[must_use]
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"md5" => Digest::Md5,
            b"sha256" => Digest::Sha256,
            b"sha384" => Digest::Sha384,
            b"sha3_256" => Digest::Sha3_256,
            b"sha3_384" => Digest::Sha3_384,
            _ => return None,
        })
    }

    /// HMAC of `msg` under `key` with this digest.
    #[must_use]
    pub fn mac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        match self {
            Digest::Md5 => hmac_of!(md5::Md5, key, msg)
                .finalize()
                .into_bytes()
                .to_vec(),
            Digest::Sha256 => hmac_of!(sha2::Sha256, key, msg)
                .finalize()
                .into_bytes()
                .to_vec(),
            Digest::Sha384 => hmac_of!(sha2::Sha384, key, msg)
                .finalize()
                .into_bytes()
                .to_vec(),
            Digest::Sha3_256 => hmac_of!(sha3::Sha3_256, key, msg)
                .finalize()
                .into_bytes()
                .to_vec(),
            Digest::Sha3_384 => hmac_of!(sha3::Sha3_384, key, msg)
                .finalize()
                .into_bytes()
                .to_vec(),
        }
    }

    /// Checks `mac` against the HMAC of `msg` in constant time.
    fn verify(self, key: &[u8], msg: &[u8], mac: &[u8]) -> bool {
        match self {
            Digest::Md5 => hmac_of!(md5::Md5, key, msg).verify_slice(mac).is_ok(),
            Digest::Sha256 => hmac_of!(sha2::Sha256, key, msg).verify_slice(mac).is_ok(),
            Digest::Sha384 => hmac_of!(sha2::Sha384, key, msg).verify_slice(mac).is_ok(),
            Digest::Sha3_256 => hmac_of!(sha3::Sha3_256, key, msg).verify_slice(mac).is_ok(),
            Digest::Sha3_384 => hmac_of!(sha3::Sha3_384, key, msg).verify_slice(mac).is_ok(),
        }
    }

    /// Length of this digest's MAC.
    #[must_use]
    pub fn mac_len(self) -> usize {
        match self {
            Digest::Md5 => 16,
            Digest::Sha256 | Digest::Sha3_256 => 32,
            Digest::Sha384 | Digest::Sha3_384 => 48,
        }
    }
}

/// Python's `repr()` of a bytes object, for error messages that match CPython's.
pub(crate) fn py_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::from("b");
    s.push(quote);
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            c if c == quote as u8 => {
                s.push('\\');
                s.push(c as char);
            }
            0x20..=0x7e => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(quote);
    s
}

/// Splits a challenge body or a response into its digest and MAC (CPython's
/// `_get_digest_name_and_payload`); `None` digest means the legacy unprefixed form.
fn digest_and_payload(message: &[u8]) -> Result<(Option<Digest>, &[u8])> {
    if message.len() == LEGACY_CHALLENGE_LEN || message.len() == MD5_LEN {
        return Ok((None, message));
    }
    if message.first() == Some(&b'{') {
        let end = message.len().min(MAX_NAME_LEN + 2);
        if let Some(curly) = message[1..end].iter().position(|&c| c == b'}') {
            let curly = curly + 1;
            if let Some(d) = Digest::from_name(&message[1..curly]) {
                return Ok((Some(d), &message[curly + 1..]));
            }
        }
    }
    Err(Error::Authentication(format!(
        "unsupported message length, missing digest prefix, or unsupported digest: message={}",
        py_bytes_repr(message)
    )))
}

/// Makes a fresh challenge body: `{sha256}` and 40 random bytes.
#[must_use]
pub fn new_challenge() -> Vec<u8> {
    let mut body = b"{sha256}".to_vec();
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    body.extend_from_slice(&nonce);
    body
}

/// Checks that `frame` is a challenge and returns its body (the bytes after `#CHALLENGE#`).
pub fn challenge_body(frame: &[u8]) -> Result<&[u8]> {
    frame.strip_prefix(CHALLENGE).ok_or_else(|| {
        Error::Authentication(format!(
            "Protocol error, expected challenge: message={}",
            py_bytes_repr(frame)
        ))
    })
}

/// Computes the response to a challenge body, as CPython 3.12+'s responder does.
pub fn response(key: &[u8], body: &[u8]) -> Result<Vec<u8>> {
    if body.len() < LEGACY_CHALLENGE_LEN {
        return Err(Error::Authentication(format!(
            "challenge too short: {} bytes",
            body.len()
        )));
    }
    match digest_and_payload(body)? {
        (None, _) => Ok(Digest::Md5.mac(key, body)),
        (Some(d), _) => {
            let mut out = format!("{{{}}}", d.name()).into_bytes();
            out.extend_from_slice(&d.mac(key, body));
            Ok(out)
        }
    }
}

/// Verifies a peer's response to the challenge `body` we sent, as CPython 3.12+'s challenger does.
pub fn verify(key: &[u8], body: &[u8], response: &[u8]) -> Result<()> {
    let (digest, mac) = digest_and_payload(response)?;
    let digest = digest.unwrap_or(Digest::Md5);
    if mac.len() != digest.mac_len() {
        return Err(Error::Authentication(format!(
            "expected '{}' of length {} got {}",
            digest.name(),
            digest.mac_len(),
            mac.len()
        )));
    }
    if !digest.verify(key, body, mac) {
        return Err(Error::Authentication("digest received was wrong".into()));
    }
    Ok(())
}

/// Challenges the peer to prove it knows `key` (Python's `deliver_challenge`).
///
/// Sends the challenge, checks the reply and sends the verdict; a wrong reply sends `#FAILURE#`
/// and fails with [`Error::Authentication`]. Replies longer than [`MESSAGE_LIMIT`] fail with
/// [`Error::BadMessageLength`] before anything is allocated for them.
pub fn deliver_challenge(conn: &mut Connection, key: &AuthKey) -> Result<()> {
    let body = new_challenge();
    let mut frame = CHALLENGE.to_vec();
    frame.extend_from_slice(&body);
    conn.send_bytes(&frame)?;
    let reply = conn.recv_bytes_max(MESSAGE_LIMIT)?;
    match verify(key.as_bytes(), &body, &reply) {
        Ok(()) => conn.send_bytes(WELCOME),
        Err(e) => {
            // The verdict is a courtesy; the authentication error is what matters.
            let _ = conn.send_bytes(FAILURE);
            Err(e)
        }
    }
}

/// Answers the peer's challenge with `key` (Python's `answer_challenge`).
///
/// Fails with [`Error::Authentication`] if the first message is not a challenge we can answer
/// (`'Protocol error, expected challenge ...'`, `'challenge too short ...'`, an unsupported
/// digest) or if the peer rejects our answer (`'digest sent was rejected'`).
pub fn answer_challenge(conn: &mut Connection, key: &AuthKey) -> Result<()> {
    let frame = conn.recv_bytes_max(MESSAGE_LIMIT)?;
    let body = challenge_body(&frame)?;
    let reply = response(key.as_bytes(), body)?;
    conn.send_bytes(&reply)?;
    let verdict = conn.recv_bytes_max(MESSAGE_LIMIT)?;
    if verdict != WELCOME {
        return Err(Error::Authentication("digest sent was rejected".into()));
    }
    Ok(())
}

/// Which side of the connection a [`Handshake`] plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// The listener: challenges first, then answers the client's challenge.
    Server,
    /// The client: answers first, then challenges the server.
    Client,
}

/// Where a [`Handshake`] stands: which frame it waits for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Waiting for the reply to our challenge.
    Reply,
    /// Waiting for the verdict on our reply.
    Verdict,
    /// Waiting for the peer's challenge.
    Challenge,
    /// Finished, successfully.
    Done,
    /// Failed; nothing more is read.
    Failed,
}

/// CPython's mutual HMAC handshake as an I/O-free state machine.
///
/// Feed it the bytes the peer sent ([`feed`](Self::feed)) and write out what it asks
/// ([`output`](Self::output), then [`consume_output`](Self::consume_output)); it never reads
/// or writes itself, so a blocking socket, a `poll` loop over many sockets or an async runtime
/// can drive it. The exchange is byte-for-byte CPython's (`deliver_challenge` then
/// `answer_challenge` for the server, the reverse for the client), with one difference in
/// timing: the client sends its own challenge right behind its response, without waiting for
/// the verdict on it. The server reads the two frames in turn as before (CPython's too), and
/// the same six frames cross in two round trips instead of three: the server answers with its
/// verdict and its response together. Every frame is limited to [`MESSAGE_LIMIT`] bytes,
/// refused as soon as its header arrives.
///
/// It is complete when [`is_complete`](Self::is_complete): the last frame was read and all
/// output written. Bytes the peer sent after its last handshake frame (its first messages) are
/// kept: [`into_unread`](Self::into_unread). On failure [`feed`](Self::feed) returns the error
/// and the output may still hold a `#FAILURE#` verdict, worth writing as a courtesy.
///
/// ```
/// use multiprocessing_connection::{AuthKey, auth::Handshake};
/// let key = AuthKey::new(b"secret".to_vec());
/// let (mut server, mut client) = (Handshake::server(&key), Handshake::client(&key));
/// while !(server.is_complete() && client.is_complete()) {
///     let out = server.output().to_vec();
///     server.consume_output(out.len());
///     client.feed(&out).unwrap();
///     let out = client.output().to_vec();
///     client.consume_output(out.len());
///     server.feed(&out).unwrap();
/// }
/// ```
pub struct Handshake {
    role: Role,
    key: AuthKey,
    step: Step,
    /// The challenge body we sent, once sent.
    body: Vec<u8>,
    /// Received bytes not yet consumed.
    input: Vec<u8>,
    /// Bytes to write to the peer.
    output: Vec<u8>,
    written: usize,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("role", &self.role)
            .field("step", &self.step)
            .field("unread", &self.input.len())
            .field("unwritten", &self.output().len())
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// The listener's side, with a fresh random challenge queued as the first output.
    #[must_use]
    pub fn server(key: &AuthKey) -> Self {
        Self::server_with_challenge(key, new_challenge())
    }

    /// The listener's side with a chosen challenge body (for replaying captured sessions).
    #[must_use]
    pub fn server_with_challenge(key: &AuthKey, body: Vec<u8>) -> Self {
        let mut h = Self::new(Role::Server, key);
        h.send_challenge(body);
        h.step = Step::Reply;
        h
    }

    /// The client's side: it waits for the server's challenge, then sends its response and
    /// its own challenge together.
    #[must_use]
    pub fn client(key: &AuthKey) -> Self {
        let mut h = Self::new(Role::Client, key);
        h.step = Step::Challenge;
        h
    }

    fn new(role: Role, key: &AuthKey) -> Self {
        Handshake {
            role,
            key: key.clone(),
            step: Step::Reply,
            body: Vec::new(),
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
        }
    }

    /// Which side this is.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    fn push_frame(&mut self, payload: &[u8]) {
        self.push_frame_of(&[payload]);
    }

    /// Queues one frame whose payload is `parts` one after another.
    fn push_frame_of(&mut self, parts: &[&[u8]]) {
        let len = parts.iter().map(|p| p.len()).sum();
        let (h, n) = crate::frame::encode_header(len, 0);
        self.output.extend_from_slice(&h[..n]);
        for p in parts {
            self.output.extend_from_slice(p);
        }
    }

    /// Queues our challenge; the caller says what is awaited next.
    fn send_challenge(&mut self, body: Vec<u8>) {
        self.push_frame_of(&[CHALLENGE, &body]);
        self.body = body;
    }

    /// Bytes waiting to be written to the peer.
    #[must_use]
    pub fn output(&self) -> &[u8] {
        &self.output[self.written..]
    }

    /// Marks the first `n` bytes of [`output`](Self::output) as written.
    pub fn consume_output(&mut self, n: usize) {
        self.written = (self.written + n).min(self.output.len());
        if self.written == self.output.len() {
            self.output.clear();
            self.written = 0;
        }
    }

    /// Whether the handshake still needs bytes from the peer.
    #[must_use]
    pub fn wants_input(&self) -> bool {
        matches!(self.step, Step::Reply | Step::Verdict | Step::Challenge)
    }

    /// Whether the handshake succeeded and everything it had to say was written.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.step == Step::Done && self.output().is_empty()
    }

    /// Takes bytes received from the peer and advances as far as they allow.
    ///
    /// Bytes past the end of the handshake are kept for [`into_unread`](Self::into_unread).
    /// After an error the handshake is over: further calls return [`Error::Authentication`].
    pub fn feed(&mut self, data: &[u8]) -> Result<()> {
        match self.step {
            Step::Failed => return Err(Error::Authentication("handshake already failed".into())),
            Step::Done => {
                self.input.extend_from_slice(data);
                return Ok(());
            }
            _ => {}
        }
        self.input.extend_from_slice(data);
        let r = self.advance();
        if r.is_err() {
            self.step = Step::Failed;
            self.input.clear();
        }
        r
    }

    fn advance(&mut self) -> Result<()> {
        let mut used = 0;
        while self.wants_input() {
            let Some((h, payload, n)) =
                crate::frame::decode_frame(&self.input[used..], MESSAGE_LIMIT)?
            else {
                break;
            };
            if h.nfds > 0 {
                return Err(Error::Authentication(
                    "Protocol error: descriptors during the handshake".into(),
                ));
            }
            let payload = self.input[used + payload.start..used + payload.end].to_vec();
            used += n;
            self.on_frame(&payload)?;
        }
        self.input.drain(..used);
        Ok(())
    }

    fn on_frame(&mut self, msg: &[u8]) -> Result<()> {
        match self.step {
            Step::Reply => match verify(self.key.as_bytes(), &self.body, msg) {
                Ok(()) => {
                    self.push_frame(WELCOME);
                    self.step = match self.role {
                        Role::Server => Step::Challenge,
                        Role::Client => Step::Done,
                    };
                }
                Err(e) => {
                    // The verdict is a courtesy; the authentication error is what matters.
                    self.push_frame(FAILURE);
                    return Err(e);
                }
            },
            Step::Challenge => {
                let reply = response(self.key.as_bytes(), challenge_body(msg)?)?;
                self.push_frame(&reply);
                if self.role == Role::Client {
                    // Our challenge goes out with the response: one write, and the server
                    // answers it together with its verdict (a round trip fewer).
                    self.send_challenge(new_challenge());
                }
                self.step = Step::Verdict;
            }
            Step::Verdict => {
                if msg != WELCOME {
                    return Err(Error::Authentication("digest sent was rejected".into()));
                }
                self.step = match self.role {
                    Role::Server => Step::Done,
                    // Our challenge went out with the response; its reply is next.
                    Role::Client => Step::Reply,
                };
            }
            Step::Done | Step::Failed => {}
        }
        Ok(())
    }

    /// Bytes the peer sent after the handshake (the start of its first messages).
    #[must_use]
    pub fn into_unread(self) -> Vec<u8> {
        self.input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn wire_protocol_table_vectors() {
        let seq = |start: u8, n: u8| (start..start + n).collect::<Vec<u8>>();
        assert_eq!(
            response(b"secret", &seq(0, 20)).unwrap(),
            hex("7defa9cc46abc3583325d17ccda75190")
        );
        let mut body = b"{sha256}".to_vec();
        body.extend(seq(0, 40));
        let mut want = b"{sha256}".to_vec();
        want.extend(hex(
            "fc57fbe650d6124b98215e7b5d197d5807ad69982d275a9735ea2d56f1fa6989",
        ));
        assert_eq!(response(b"secret", &body).unwrap(), want);
        verify(b"secret", &body, &hex("8e48d2bb349b4b72b9382999ed5b62eb")).unwrap();
        let mut md5 = b"{md5}".to_vec();
        md5.extend(seq(0, 40));
        assert_eq!(
            response(b"secret", &md5).unwrap(),
            hex("7b6d64357de8928e8cca3ace2d777017168dc6a0b2")
        );
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(py_bytes_repr(b"a'\x00\xff\\"), "b\"a'\\x00\\xff\\\\\"");
        assert_eq!(py_bytes_repr(b"hi"), "b'hi'");
    }

    #[test]
    fn rejects_what_cpython_rejects() {
        let body = new_challenge();
        for bad in [
            &b"{sha512}xxxxxxxxxxxxxxxxxxxxxxxxxxxx"[..],
            b"{sha1}xxxxxxxxxxxxxxxxxxxxxx",
            &[0u8; 32],
            b"{}",
            b"",
        ] {
            assert!(matches!(
                verify(b"k", &body, bad),
                Err(Error::Authentication(_))
            ));
        }
        assert!(response(b"k", &[0u8; 16]).is_err());
        assert!(response(b"k", &[0u8; 30]).is_err());
    }

    /// Runs two handshakes against each other in memory, moving `chunk` bytes at a time.
    fn exchange(server: &mut Handshake, client: &mut Handshake, chunk: usize) -> [Result<()>; 2] {
        let mut results = [Ok(()), Ok(())];
        for _ in 0..1000 {
            if server.is_complete() && client.is_complete() {
                break;
            }
            let mut moved = false;
            for dir in 0..2 {
                let (from, to) = if dir == 0 {
                    (&mut *server, &mut *client)
                } else {
                    (&mut *client, &mut *server)
                };
                let r = 1 - dir;
                let n = from.output().len().min(chunk);
                if n > 0 && results[r].is_ok() {
                    let piece = from.output()[..n].to_vec();
                    from.consume_output(n);
                    results[r] = to.feed(&piece);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        results
    }

    #[test]
    fn machines_complete_with_the_same_key_in_any_chunking() {
        let key = AuthKey::new(b"k".to_vec());
        for chunk in [1, 3, 64, 4096] {
            let (mut s, mut c) = (Handshake::server(&key), Handshake::client(&key));
            let [rs, rc] = exchange(&mut s, &mut c, chunk);
            rs.unwrap();
            rc.unwrap();
            assert!(s.is_complete() && c.is_complete(), "{s:?} {c:?}");
        }
    }

    #[test]
    fn machines_fail_with_cpython_messages_on_a_wrong_key() {
        let (mut s, mut c) = (
            Handshake::server(&AuthKey::new(b"right".to_vec())),
            Handshake::client(&AuthKey::new(b"wrong".to_vec())),
        );
        let [rs, rc] = exchange(&mut s, &mut c, 4096);
        assert!(
            matches!(&rs, Err(Error::Authentication(m)) if m == "digest received was wrong"),
            "{rs:?}"
        );
        assert!(
            matches!(&rc, Err(Error::Authentication(m)) if m == "digest sent was rejected"),
            "{rc:?}"
        );
        assert!(s.feed(b"more").is_err());
    }

    #[test]
    fn oversized_frame_is_refused_at_its_header_and_bytes_after_are_kept() {
        let key = AuthKey::new(b"k".to_vec());
        let mut s = Handshake::server(&key);
        let e = s.feed(&[0x7f, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(matches!(e, Error::BadMessageLength { .. }), "{e:?}");
        // The server keeps what the client sent after its verdict (its first message).
        let (mut s, mut c) = (Handshake::server(&key), Handshake::client(&key));
        let take = |h: &mut Handshake| {
            let out = h.output().to_vec();
            h.consume_output(out.len());
            out
        };
        // Challenge; response with the counter-challenge; welcome with the response.
        for step in 0..3 {
            if step % 2 == 0 {
                c.feed(&take(&mut s)).unwrap();
            } else {
                s.feed(&take(&mut c)).unwrap();
            }
        }
        let mut out = take(&mut c);
        assert_eq!(out, [&[0, 0, 0, 9][..], WELCOME].concat());
        out.extend_from_slice(&[0, 0, 0, 2, b'h', b'i']);
        s.feed(&out).unwrap();
        assert!(s.is_complete() && c.is_complete());
        assert_eq!(s.into_unread(), [0, 0, 0, 2, b'h', b'i']);
    }
}
