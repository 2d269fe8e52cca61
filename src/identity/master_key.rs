//! The master key: seals every private key the server holds (AES-256-GCM, random 96-bit nonce,
//! the key's name as associated data so a sealed blob cannot be swapped for another's).
//!
//! It comes from `NOTARIUM_MASTER_KEY` (64 hex characters or base64 of 32 bytes) or, when unset,
//! from `<data dir>/master.key`, created with mode 0600 on first start with a logged warning:
//! whoever reads that file and the database holds every key.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use zeroize::Zeroizing;

use super::IdentityError;

/// Sealed blobs start with this version byte, then the 12-byte nonce, then ciphertext + tag.
const SEAL_VERSION: u8 = 1;

/// The key that seals server-held private keys.
pub struct MasterKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A master key from 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }

    /// Parses 64 hex characters or base64 of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            hex::decode(text)
                .ok()
                .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
                .ok_or(IdentityError::BadMasterKey)?,
        );
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| IdentityError::BadMasterKey)?;
        let arr = Zeroizing::new(arr);
        Ok(Self::from_bytes(&arr))
    }

    /// From config, or from (or into, the first time) `<data_dir>/master.key`.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Self, IdentityError> {
        if let Some(text) = configured {
            return Self::parse(text);
        }
        let path = data_dir.join("master.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(bytes.as_mut());
                write_secret_file(&path, hex::encode(bytes.as_ref()).as_bytes())?;
                tracing::warn!(
                    path = %path.display(),
                    "NOTARIUM_MASTER_KEY is not set: created a master key file; back it up and \
                     keep it apart from database backups, or set NOTARIUM_MASTER_KEY"
                );
                Ok(Self::from_bytes(&bytes))
            }
            Err(source) => Err(IdentityError::Io { path, source }),
        }
    }

    /// Seals `plaintext`, bound to `label` (the key's name).
    pub fn seal(&self, label: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: label.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + 12 + ct.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a sealed blob; fails when the key, the label or a byte is wrong.
    pub fn open(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
        if sealed.len() < 1 + 12 + 16 || sealed[0] != SEAL_VERSION {
            return Err(IdentityError::Unseal(label.to_string()));
        }
        let (nonce, ct) = sealed[1..].split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| IdentityError::Unseal(label.to_string()))?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: label.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| IdentityError::Unseal(label.to_string()))
    }
}

/// Writes a new file readable by its owner only (mode 0600), failing if it exists.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), IdentityError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| IdentityError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    f.write_all(contents)
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .map_err(|source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = MasterKey::from_bytes(&[7u8; 32]);
        let sealed = k.seal("ca-root", b"secret key bytes");
        assert_eq!(
            &k.open("ca-root", &sealed).unwrap()[..],
            b"secret key bytes"
        );
        // Another label, another key, or a flipped byte all fail.
        assert!(k.open("ca-issuing", &sealed).is_err());
        assert!(
            MasterKey::from_bytes(&[8u8; 32])
                .open("ca-root", &sealed)
                .is_err()
        );
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(k.open("ca-root", &bad).is_err());
        assert!(k.open("ca-root", &[1, 2, 3]).is_err());
    }

    #[test]
    fn parse_hex_and_base64() {
        let hex_key = "11".repeat(32);
        assert!(MasterKey::parse(&hex_key).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
        assert!(MasterKey::parse(&b64).is_ok());
        assert!(MasterKey::parse("short").is_err());
        assert!(MasterKey::parse(&"11".repeat(31)).is_err());
    }

    #[test]
    fn key_file_created_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::load(None, dir.path()).unwrap();
        let sealed = a.seal("x", b"y");
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = MasterKey::load(None, dir.path()).unwrap();
        assert_eq!(&b.open("x", &sealed).unwrap()[..], b"y");
    }
}
