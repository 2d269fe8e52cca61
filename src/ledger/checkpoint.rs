//! C2SP tlog-checkpoint: the note body `origin`, `tree size`, `base64 root hash`, then optional
//! extension lines; built, strictly parsed, signed and opened against the log's key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::NoteError;
use super::hash::Hash;
use super::note::{Note, Verifier};
use super::note_key::Ed25519Signer;

/// Most extension lines accepted.
pub const MAX_EXTENSIONS: usize = 16;

/// A log's signed statement of its tree size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `notarium.example/log`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// The RFC 6962 root hash at that size.
    pub root: Hash,
    /// Opaque extension lines (not recommended; not auditable).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text.
    ///
    /// # Errors
    /// [`NoteError::BadCheckpoint`] when a line is empty or holds a newline or control
    /// character.
    pub fn to_text(&self) -> Result<String, NoteError> {
        check_line(&self.origin)?;
        if self.extensions.len() > MAX_EXTENSIONS {
            return Err(NoteError::BadCheckpoint("too many extension lines"));
        }
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            check_line(e)?;
            out.push_str(e);
            out.push('\n');
        }
        Ok(out)
    }

    /// Parses a checkpoint note text (signatures already split off).
    ///
    /// # Errors
    /// [`NoteError::BadCheckpoint`].
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::BadCheckpoint("must end with a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(NoteError::BadCheckpoint("fewer than three lines"));
        };
        check_line(origin)?;
        let size = parse_decimal(size).ok_or(NoteError::BadCheckpoint("bad tree size"))?;
        let root = decode_hash(root).ok_or(NoteError::BadCheckpoint("bad root hash"))?;
        if extensions.len() > MAX_EXTENSIONS {
            return Err(NoteError::BadCheckpoint("too many extension lines"));
        }
        for e in extensions {
            check_line(e)?;
        }
        Ok(Self {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    /// Signs the checkpoint with the log's key: a note with one signature line.
    ///
    /// # Errors
    /// [`NoteError::BadCheckpoint`]; [`NoteError::BadKey`] for a cosigning key.
    pub fn sign(&self, log: &Ed25519Signer) -> Result<Note, NoteError> {
        let mut note = Note::new(&self.to_text()?)?;
        let sig = log.sign_note_text(note.text())?;
        note.add_signature(sig)?;
        Ok(note)
    }

    /// Parses a signed checkpoint note, checks the log's signature and the origin.
    ///
    /// # Errors
    /// Note parsing errors; [`NoteError::NoKnownSignature`] or [`NoteError::BadSignature`]
    /// for the log's signature; [`NoteError::BadCheckpoint`]; [`NoteError::WrongOrigin`].
    pub fn open(note: &[u8], origin: &str, log: &dyn Verifier) -> Result<(Self, Note), NoteError> {
        let note = Note::parse(note)?;
        note.verify(&[log])?;
        let cp = Self::parse(note.text())?;
        if cp.origin != origin {
            return Err(NoteError::WrongOrigin);
        }
        Ok((cp, note))
    }
}

fn check_line(s: &str) -> Result<(), NoteError> {
    if s.is_empty() || s.chars().any(char::is_control) {
        return Err(NoteError::BadCheckpoint("empty line or control character"));
    }
    Ok(())
}

/// An ASCII decimal with no sign and no leading zero (except "0"), fitting u64.
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Standard padded base64 of exactly 32 bytes, in its one canonical spelling.
pub(crate) fn decode_hash(s: &str) -> Option<Hash> {
    let raw = STANDARD.decode(s).ok()?;
    let h: Hash = raw.try_into().ok()?;
    // Reject spellings with non-zero padding bits: one hash, one text.
    (STANDARD.encode(h) == s).then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::note_key::{ALG_ED25519, Ed25519Signer};
    use ed25519_dalek::SigningKey;

    #[test]
    fn parses_spec_example() {
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse(text).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20_852_163);
        assert_eq!(
            STANDARD.encode(cp.root),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert_eq!(cp.to_text().unwrap(), text);
        let ext = format!("{text}ext one\n");
        assert_eq!(
            Checkpoint::parse(&ext).unwrap().extensions,
            vec!["ext one".to_string()]
        );
    }

    #[test]
    fn strict_parsing() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            format!("o\n1\n{root}"),
            "o\n1\n".to_string(),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n1\n{}\n", &root[..40]),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".to_string(),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\n"),
            format!("o\n1\n {root}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size,
            0
        );
    }

    #[test]
    fn sign_and_open() {
        let log = Ed25519Signer::new(
            "notarium.example/log",
            ALG_ED25519,
            SigningKey::from_bytes(&[5; 32]),
        )
        .unwrap();
        let cp = Checkpoint::new("notarium.example/log", 42, [9u8; 32]);
        let note = cp.sign(&log).unwrap().to_text();
        let v = log.verifier();
        let (back, _) = Checkpoint::open(note.as_bytes(), "notarium.example/log", &v).unwrap();
        assert_eq!(back, cp);
        assert_eq!(
            Checkpoint::open(note.as_bytes(), "other", &v).unwrap_err(),
            NoteError::WrongOrigin
        );
        let other = Ed25519Signer::new(
            "notarium.example/log",
            ALG_ED25519,
            SigningKey::from_bytes(&[6; 32]),
        )
        .unwrap();
        assert!(
            Checkpoint::open(note.as_bytes(), "notarium.example/log", &other.verifier()).is_err()
        );
        let tampered = note.replacen("42", "43", 1);
        assert!(Checkpoint::open(tampered.as_bytes(), "notarium.example/log", &v).is_err());
    }
}
