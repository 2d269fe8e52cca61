//! C2SP signed notes: a text ending in a newline, a blank line, then one or more signature
//! lines `— <key name> base64(key id || signature)`. Parsing is strict and bounded; signatures
//! from unknown keys are ignored, and one bad signature from a known key rejects the note.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::NoteError;
use super::note_key::check_key_name;

/// Largest note accepted, signatures included.
pub const MAX_NOTE_SIZE: usize = 128 * 1024;
/// Most signature lines accepted (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

const SIG_PREFIX: &str = "\u{2014} ";

/// Something that can check one kind of note signature for one key.
pub trait Verifier {
    /// The key name signatures must carry.
    fn name(&self) -> &str;
    /// The key id signatures must carry.
    fn key_id(&self) -> u32;
    /// Whether `sig` (after the key id) is valid over the note text.
    fn verify(&self, text: &str, sig: &[u8]) -> bool;
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signing key's name.
    pub name: String,
    /// The signing key's id.
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, newline included.
    pub fn to_line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }

    fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(NoteError::Malformed("signature line"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line"))?;
        check_key_name(name)?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed("signature too short"));
        }
        let (id, sig) = raw.split_at(4);
        Ok(Self {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            signature: sig.to_vec(),
        })
    }
}

/// A note: its text and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// An unsigned note with this text.
    ///
    /// # Errors
    /// [`NoteError::BadText`] unless the text is non-empty, ends in a newline and has no control
    /// character but newline; [`NoteError::TooLarge`].
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        if text.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge);
        }
        if !text.ends_with('\n') {
            return Err(NoteError::BadText);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`], [`NoteError::BadText`], [`NoteError::Malformed`],
    /// [`NoteError::TooManySignatures`], [`NoteError::BadKeyName`].
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge);
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::BadText)?;
        check_text(s)?;
        // The text ends at the last blank line; signature lines follow it.
        let split = s
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no signatures"))?;
        let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("no signatures"));
        }
        let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let signatures = lines
            .into_iter()
            .map(NoteSignature::parse_line)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, final newline included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signatures in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line.
    ///
    /// # Errors
    /// [`NoteError::TooManySignatures`]; [`NoteError::BadKeyName`].
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        check_key_name(&sig.name)?;
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// The note as text: the text, a blank line, the signature lines.
    pub fn to_text(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out
    }

    /// Checks the signatures from the given keys and returns those that verified, each key
    /// once. Signatures from unknown keys are ignored.
    ///
    /// # Errors
    /// [`NoteError::BadSignature`] when a known key's signature fails;
    /// [`NoteError::NoKnownSignature`] when no known key signed.
    pub fn verify(&self, verifiers: &[&dyn Verifier]) -> Result<Vec<&NoteSignature>, NoteError> {
        let mut ok: Vec<&NoteSignature> = Vec::new();
        for sig in &self.signatures {
            let Some(v) = verifiers
                .iter()
                .find(|v| v.name() == sig.name && v.key_id() == sig.key_id)
            else {
                continue;
            };
            if !v.verify(&self.text, &sig.signature) {
                return Err(NoteError::BadSignature(sig.name.clone()));
            }
            if !ok
                .iter()
                .any(|o| o.name == sig.name && o.key_id == sig.key_id)
            {
                ok.push(sig);
            }
        }
        if ok.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(ok)
    }
}

fn check_text(s: &str) -> Result<(), NoteError> {
    if s.is_empty() || s.chars().any(|c| c != '\n' && (c < ' ' || c == '\u{7f}')) {
        return Err(NoteError::BadText);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::note_key::{ALG_ED25519, Ed25519Signer, Ed25519Verifier};
    use ed25519_dalek::SigningKey;

    fn signer(name: &str, seed: u8) -> Ed25519Signer {
        Ed25519Signer::new(name, ALG_ED25519, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    #[test]
    fn sign_parse_verify() {
        let a = signer("a.example/log", 1);
        let b = signer("b.example/other", 2);
        let mut note = Note::new("hello\n\nworld\n").unwrap();
        note.add_signature(a.sign_note_text(note.text()).unwrap())
            .unwrap();
        note.add_signature(b.sign_note_text(note.text()).unwrap())
            .unwrap();
        let text = note.to_text();
        let parsed = Note::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, note);
        assert_eq!(parsed.text(), "hello\n\nworld\n");
        let va = a.verifier();
        let got = parsed.verify(&[&va]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "a.example/log");
        // Unknown keys only: rejected.
        let vc = signer("c.example/x", 3).verifier();
        assert_eq!(parsed.verify(&[&vc]), Err(NoteError::NoKnownSignature));
        // Same name, other key: ignored, not a failure.
        let va2 = signer("a.example/log", 4).verifier();
        assert_eq!(parsed.verify(&[&va2]), Err(NoteError::NoKnownSignature));
    }

    #[test]
    fn matches_go_note_format() {
        // From the Go sumdb note package documentation (golang.org/x/mod/sumdb/note): the
        // PeterNeumann key and the signed "If you think cryptography..." note.
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let msg = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let v = Ed25519Verifier::from_vkey(vkey).unwrap();
        let note = Note::parse(msg.as_bytes()).unwrap();
        assert_eq!(note.verify(&[&v]).unwrap().len(), 1);
        let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let s = Ed25519Signer::from_skey(skey).unwrap();
        assert_eq!(s.verifier(), v);
        let mut again = Note::new(note.text()).unwrap();
        again
            .add_signature(s.sign_note_text(note.text()).unwrap())
            .unwrap();
        // Ed25519 is deterministic: the same key and text give the same line.
        assert_eq!(again.to_text(), msg);
    }

    #[test]
    fn tampering_and_malformed_notes() {
        let a = signer("a.example/log", 1);
        let va = a.verifier();
        let mut note = Note::new("body\n").unwrap();
        note.add_signature(a.sign_note_text(note.text()).unwrap())
            .unwrap();
        let good = note.to_text();
        let forged = good.replacen("body", "bodY", 1);
        assert_eq!(
            Note::parse(forged.as_bytes()).unwrap().verify(&[&va]),
            Err(NoteError::BadSignature("a.example/log".into()))
        );
        for bad in [
            "body\n".to_string(),
            "body\n\n".to_string(),
            good.trim_end().to_string(),
            good.replace('\u{2014}', "-"),
            good.replacen("body", "bo\tdy", 1),
            good.replacen("a.example/log ", "a.example/log  ", 1),
            format!("{good}\n"),
            format!("{good}junk\n"),
            "\n\n\u{2014} a AAAAAA==\n".replace("AAAAAA==", "AAAA"),
        ] {
            assert!(Note::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(Note::parse(&[0xff, b'\n', b'\n']).is_err());
        assert_eq!(
            Note::parse(&vec![b'a'; MAX_NOTE_SIZE + 1]),
            Err(NoteError::TooLarge)
        );
        let many: String = format!(
            "t\n\n{}",
            "\u{2014} k AAAAAAA=\n".repeat(MAX_SIGNATURES + 1)
        );
        assert_eq!(
            Note::parse(many.as_bytes()),
            Err(NoteError::TooManySignatures)
        );
        assert!(Note::new("no newline").is_err());
    }
}
