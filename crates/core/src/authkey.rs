//! Authentication keys, Python's `AuthenticationString`.

use std::fmt;
use std::sync::Arc;

use rand::RngCore;

/// Number of random bytes in a key made by [`AuthKey::random`], as in CPython.
pub const AUTHKEY_LEN: usize = 32;

/// A secret key used for HMAC challenge authentication between processes.
///
/// The main process makes one at random on first use; children inherit it. The bytes never appear
/// in `Debug` output, and serializing a key is refused outside a
/// [transfer context](crate::transfer), like Python's `AuthenticationString` refuses pickling
/// except while spawning a child.
///
/// ```
/// use multiprocessing_core::AuthKey;
/// let key = AuthKey::new(b"secret".to_vec());
/// assert_eq!(key.as_bytes(), b"secret");
/// assert_eq!(format!("{key:?}"), "AuthKey(<6 bytes hidden>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[doc(alias = "AuthenticationString")]
pub struct AuthKey(Arc<[u8]>);

impl AuthKey {
    /// Wraps the given bytes. An empty key is a valid key (CPython 3.13 semantics).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        AuthKey(bytes.into().into())
    }

    /// Makes a fresh key of [`AUTHKEY_LEN`] random bytes.
    #[must_use]
    pub fn random() -> Self {
        let mut bytes = [0u8; AUTHKEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        AuthKey::new(bytes.to_vec())
    }

    /// The key's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthKey(<{} bytes hidden>)", self.0.len())
    }
}

impl From<&[u8]> for AuthKey {
    fn from(b: &[u8]) -> Self {
        AuthKey::new(b.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for AuthKey {
    fn from(b: &[u8; N]) -> Self {
        AuthKey::new(b.to_vec())
    }
}

impl From<Vec<u8>> for AuthKey {
    fn from(b: Vec<u8>) -> Self {
        AuthKey::new(b)
    }
}

impl From<&str> for AuthKey {
    fn from(s: &str) -> Self {
        AuthKey::new(s.as_bytes().to_vec())
    }
}

impl serde::Serialize for AuthKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !crate::transfer::in_transfer() {
            return Err(crate::codec::ser_error(
                "serializing an AuthKey is refused outside a transfer context, for security",
            ));
        }
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for AuthKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: serde_bytes::ByteBuf = serde::Deserialize::deserialize(d)?;
        Ok(AuthKey::new(bytes.into_vec()))
    }
}
