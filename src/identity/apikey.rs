//! API keys: 256 random bits shown once as `nk_<base64url>`; only their SHA-256 is stored.
//!
//! A fast hash is enough here (unlike passwords): the key has 256 bits of entropy, so nobody
//! guesses it from the hash. Lookup is by the hash, and the final comparison is constant-time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix that marks a notarium API key (helps secret scanners).
pub const PREFIX: &str = "nk_";

/// A freshly generated key: the text shown once, and the hash stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The key, to show to its owner once.
    pub plaintext: String,
    /// SHA-256 of the key text.
    pub hash: [u8; 32],
}

/// Generates a new 256-bit API key.
pub fn generate() -> NewApiKey {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let plaintext = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
    let hash = hash(&plaintext);
    NewApiKey { plaintext, hash }
}

/// The stored form of a key text.
pub fn hash(plaintext: &str) -> [u8; 32] {
    Sha256::digest(plaintext.as_bytes()).into()
}

/// Constant-time equality of two secrets (or their hashes).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_prefixed_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert!(a.plaintext.starts_with(PREFIX));
        assert_eq!(a.plaintext.len(), PREFIX.len() + 43);
        assert_eq!(hash(&a.plaintext), a.hash);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
