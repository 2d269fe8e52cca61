//! Signed-note keys (C2SP signed-note, Ed25519): key names, key ids, and the text forms of
//! verifier keys (`name+hexkeyid+base64(type || public key)`) and signer keys
//! (`PRIVATE+KEY+name+hexkeyid+base64(type || private seed)`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::error::NoteError;
use super::note::{NoteSignature, Verifier};

/// Signature type of plain Ed25519 note signatures.
pub const ALG_ED25519: u8 = 0x01;
/// Signature type of timestamped Ed25519 cosignatures (tlog-cosignature `cosignature/v1`).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Longest key name accepted.
pub const MAX_KEY_NAME: usize = 256;

/// The key id: the first 4 bytes, big-endian, of `SHA-256(name || 0x0A || type || public key)`.
pub fn key_id(name: &str, alg: u8, public: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, alg]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Checks a key name: non-empty, bounded, no Unicode space, no `+`, no control character.
///
/// # Errors
/// [`NoteError::BadKeyName`].
pub fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty()
        || name.len() > MAX_KEY_NAME
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(NoteError::BadKeyName);
    }
    Ok(())
}

/// A key string's parts: name, signature type, the 32 key bytes, and the key id as written.
struct KeyText {
    name: String,
    alg: u8,
    key: [u8; 32],
    id: u32,
}

/// Parses `name+hexkeyid+base64(type || 32 bytes)`; the caller checks the id against the key.
fn parse_key_text(s: &str) -> Result<KeyText, NoteError> {
    // The base64 key data may itself contain '+': only the first two split.
    let (name, rest) = s
        .split_once('+')
        .ok_or(NoteError::BadKey("expected name+keyid+key"))?;
    let (id_hex, data) = rest
        .split_once('+')
        .ok_or(NoteError::BadKey("expected name+keyid+key"))?;
    check_key_name(name)?;
    if id_hex.len() != 8
        || !id_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(NoteError::BadKey("key id must be 8 lowercase hex digits"));
    }
    let id = u32::from_str_radix(id_hex, 16).map_err(|_| NoteError::BadKey("bad key id"))?;
    let raw = STANDARD
        .decode(data)
        .map_err(|_| NoteError::BadKey("bad base64"))?;
    match raw.as_slice() {
        [alg, rest @ ..] if rest.len() == 32 => {
            let mut key = [0u8; 32];
            key.copy_from_slice(rest);
            Ok(KeyText {
                name: name.to_owned(),
                alg: *alg,
                key,
                id,
            })
        }
        _ => Err(NoteError::BadKey("key must be a type byte and 32 bytes")),
    }
}

fn format_key_text(name: &str, id: u32, alg: u8, key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(alg);
    raw.extend_from_slice(key);
    format!("{name}+{id:08x}+{}", STANDARD.encode(raw))
}

/// A trusted Ed25519 public key of some signature type, with its name and key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: String,
    alg: u8,
    id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// A verifier for `name` and `key` with signature type `alg` (0x01 or 0x04).
    ///
    /// # Errors
    /// [`NoteError::BadKeyName`]; [`NoteError::BadKey`] for another type.
    pub fn new(name: &str, alg: u8, key: VerifyingKey) -> Result<Self, NoteError> {
        check_key_name(name)?;
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(NoteError::BadKey("unsupported signature type"));
        }
        let id = key_id(name, alg, key.as_bytes());
        Ok(Self {
            name: name.to_owned(),
            alg,
            id,
            key,
        })
    }

    /// Parses a verifier key string `name+hexkeyid+base64(type || public key)`.
    ///
    /// # Errors
    /// [`NoteError::BadKey`] or [`NoteError::BadKeyName`].
    pub fn from_vkey(s: &str) -> Result<Self, NoteError> {
        let t = parse_key_text(s)?;
        let key = VerifyingKey::from_bytes(&t.key)
            .map_err(|_| NoteError::BadKey("not an Ed25519 key"))?;
        let v = Self::new(&t.name, t.alg, key)?;
        if v.id != t.id {
            return Err(NoteError::BadKey("key id does not match the key"));
        }
        Ok(v)
    }

    /// The verifier key string.
    pub fn to_vkey(&self) -> String {
        format_key_text(&self.name, self.id, self.alg, self.key.as_bytes())
    }

    /// The signature type (0x01 note, 0x04 cosignature).
    pub fn alg(&self) -> u8 {
        self.alg
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    pub(crate) fn verify_raw(&self, msg: &[u8], sig: &[u8]) -> bool {
        match Signature::from_slice(sig) {
            Ok(s) => self.key.verify_strict(msg, &s).is_ok(),
            Err(_) => false,
        }
    }
}

impl Verifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, text: &str, sig: &[u8]) -> bool {
        // Plain note signatures sign the text; cosignature verification lives in
        // `cosignature`, which knows the timestamped message.
        self.alg == ALG_ED25519 && self.verify_raw(text.as_bytes(), sig)
    }
}

/// A note signer: an Ed25519 private key with its name and signature type.
#[derive(Clone)]
pub struct Ed25519Signer {
    name: String,
    alg: u8,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("Ed25519Signer")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish()
    }
}

impl Ed25519Signer {
    /// A signer for `name` with signature type `alg` (0x01 or 0x04).
    ///
    /// # Errors
    /// [`NoteError::BadKeyName`]; [`NoteError::BadKey`] for another type.
    pub fn new(name: &str, alg: u8, key: SigningKey) -> Result<Self, NoteError> {
        let v = Ed25519Verifier::new(name, alg, key.verifying_key())?;
        Ok(Self {
            name: v.name,
            alg,
            id: v.id,
            key,
        })
    }

    /// A fresh random key.
    ///
    /// # Errors
    /// As [`Ed25519Signer::new`].
    pub fn generate(name: &str, alg: u8) -> Result<Self, NoteError> {
        Self::new(name, alg, SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Parses `PRIVATE+KEY+name+hexkeyid+base64(type || 32-byte seed)`.
    ///
    /// # Errors
    /// [`NoteError::BadKey`] or [`NoteError::BadKeyName`].
    pub fn from_skey(s: &str) -> Result<Self, NoteError> {
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("missing PRIVATE+KEY+"))?;
        let t = parse_key_text(rest)?;
        let signer = Self::new(&t.name, t.alg, SigningKey::from_bytes(&t.key))?;
        if signer.id != t.id {
            return Err(NoteError::BadKey("key id does not match the key"));
        }
        Ok(signer)
    }

    /// The signer key string; it holds the private key.
    pub fn to_skey(&self) -> String {
        format!(
            "PRIVATE+KEY+{}",
            format_key_text(&self.name, self.id, self.alg, &self.key.to_bytes())
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.name.clone(),
            alg: self.alg,
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The signature type.
    pub fn alg(&self) -> u8 {
        self.alg
    }

    /// Signs `msg` as is and wraps the result as a note signature line.
    pub(crate) fn sign_raw(&self, msg: &[u8], prefix: &[u8]) -> NoteSignature {
        use ed25519_dalek::Signer as _;
        let sig = self.key.sign(msg);
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&sig.to_bytes());
        NoteSignature {
            name: self.name.clone(),
            key_id: self.id,
            signature: bytes,
        }
    }

    /// Signs a note text with a plain Ed25519 (type 0x01) signature.
    ///
    /// # Errors
    /// [`NoteError::BadKey`] when this is a cosigning key (type 0x04): those sign only through
    /// `cosignature`, so one key never makes both kinds of signature.
    pub fn sign_note_text(&self, text: &str) -> Result<NoteSignature, NoteError> {
        if self.alg != ALG_ED25519 {
            return Err(NoteError::BadKey("not a note signing key"));
        }
        Ok(self.sign_raw(text.as_bytes(), &[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_matches_python() {
        // python3 -c 'import hashlib; print(hashlib.sha256(b"example.com/log\n\x01" + bytes(range(32))).hexdigest()[:8])'
        assert_eq!(
            format!(
                "{:08x}",
                key_id("example.com/log", 1, &(0u8..32).collect::<Vec<_>>())
            ),
            KEY_ID_PY
        );
    }

    #[test]
    fn key_strings_round_trip() {
        let s = Ed25519Signer::new(
            "example.com/log",
            ALG_ED25519,
            SigningKey::from_bytes(&[7u8; 32]),
        )
        .unwrap();
        let skey = s.to_skey();
        assert!(skey.starts_with("PRIVATE+KEY+example.com/log+"));
        let back = Ed25519Signer::from_skey(&skey).unwrap();
        assert_eq!(back.verifier(), s.verifier());
        let vkey = s.verifier().to_vkey();
        assert_eq!(Ed25519Verifier::from_vkey(&vkey).unwrap(), s.verifier());
        assert!(!format!("{s:?}").contains(&hex::encode([7u8; 32])));
    }

    #[test]
    fn rejects_bad_keys() {
        let v = Ed25519Signer::new(
            "a.example/w",
            ALG_COSIGNATURE_V1,
            SigningKey::from_bytes(&[9u8; 32]),
        )
        .unwrap()
        .verifier();
        let good = v.to_vkey();
        assert_eq!(
            Ed25519Verifier::from_vkey(&good).unwrap().alg(),
            ALG_COSIGNATURE_V1
        );
        let (name, rest) = good.split_once('+').unwrap();
        let (id, data) = rest.split_once('+').unwrap();
        let flipped_id = format!("{:08x}", u32::from_str_radix(id, 16).unwrap() ^ 1);
        for bad in [
            format!("{name}+{flipped_id}+{data}"),
            format!("{name}+{}+{data}", id.to_uppercase()),
            format!("{name}+{id}"),
            format!("{name}+{id}+{data}+x"),
            format!("{name}+{id}+{data}=="),
            format!("+{id}+{data}"),
            format!("a b+{id}+{data}"),
            format!("{name}+{id}+{}", &data[1..]),
            format!("{name}+{id}+AQ=="),
        ] {
            assert!(Ed25519Verifier::from_vkey(&bad).is_err(), "{bad}");
        }
        assert!(check_key_name("ok.example/x").is_ok());
        assert!(check_key_name("no\u{a0}nbsp").is_err());
        assert!(check_key_name("").is_err());
        assert!(Ed25519Signer::generate("x", 0x02).is_err());
    }

    const KEY_ID_PY: &str = "a06c8792";
}
