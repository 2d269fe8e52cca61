//! C2SP tlog-cosignature `cosignature/v1` (signature type 0x04): a witness's timestamped
//! Ed25519 signature over `cosignature/v1\ntime <t>\n` followed by the checkpoint text, and
//! the k-of-n witness policy that decides whether a checkpoint is trusted.

use super::error::NoteError;
use super::note::{Note, NoteSignature, Verifier};
use super::note_key::{ALG_COSIGNATURE_V1, Ed25519Signer, Ed25519Verifier};

/// Largest timestamp allowed (2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// The message a `cosignature/v1` signs.
pub fn cosigned_message(checkpoint_text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}")
}

/// Makes a witness cosignature line for a checkpoint text.
///
/// # Errors
/// [`NoteError::BadKey`] unless the signer is a type 0x04 key; [`NoteError::BadTimestamp`].
pub fn cosign(
    witness: &Ed25519Signer,
    checkpoint_text: &str,
    timestamp: u64,
) -> Result<NoteSignature, NoteError> {
    if witness.alg() != ALG_COSIGNATURE_V1 {
        return Err(NoteError::BadKey("not a cosignature key"));
    }
    if timestamp > MAX_TIMESTAMP {
        return Err(NoteError::BadTimestamp);
    }
    let msg = cosigned_message(checkpoint_text, timestamp);
    Ok(witness.sign_raw(msg.as_bytes(), &timestamp.to_be_bytes()))
}

/// A trusted witness key, checking `cosignature/v1` signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    key: Ed25519Verifier,
}

impl CosignatureVerifier {
    /// Wraps a type 0x04 verifier.
    ///
    /// # Errors
    /// [`NoteError::BadKey`] for another type.
    pub fn new(key: Ed25519Verifier) -> Result<Self, NoteError> {
        if key.alg() != ALG_COSIGNATURE_V1 {
            return Err(NoteError::BadKey("not a cosignature key"));
        }
        Ok(Self { key })
    }

    /// Parses a witness verifier key string (type 0x04).
    ///
    /// # Errors
    /// [`NoteError::BadKey`], [`NoteError::BadKeyName`].
    pub fn from_vkey(s: &str) -> Result<Self, NoteError> {
        Self::new(Ed25519Verifier::from_vkey(s)?)
    }

    /// The verifier key string.
    pub fn to_vkey(&self) -> String {
        self.key.to_vkey()
    }

    /// The timestamp of a cosignature by this key, if it verifies over `checkpoint_text`.
    pub fn verified_timestamp(&self, checkpoint_text: &str, sig: &[u8]) -> Option<u64> {
        let (ts, ed) = split_timestamp(sig)?;
        let msg = cosigned_message(checkpoint_text, ts);
        self.key.verify_raw(msg.as_bytes(), ed).then_some(ts)
    }
}

fn split_timestamp(sig: &[u8]) -> Option<(u64, &[u8])> {
    if sig.len() != 8 + 64 {
        return None;
    }
    let (ts, ed) = sig.split_at(8);
    let ts = u64::from_be_bytes(ts.try_into().ok()?);
    (ts <= MAX_TIMESTAMP).then_some((ts, ed))
}

impl Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        self.key.name()
    }

    fn key_id(&self) -> u32 {
        self.key.key_id()
    }

    fn verify(&self, text: &str, sig: &[u8]) -> bool {
        self.verified_timestamp(text, sig).is_some()
    }
}

/// A witness whose cosignature verified, and when it cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessCosignature {
    /// The witness's key name.
    pub name: String,
    /// The POSIX time it cosigned.
    pub timestamp: u64,
}

/// "At least `threshold` of these witnesses cosigned."
#[derive(Debug, Clone)]
pub struct WitnessPolicy {
    threshold: usize,
    witnesses: Vec<CosignatureVerifier>,
}

impl WitnessPolicy {
    /// A k-of-n policy.
    ///
    /// # Errors
    /// [`NoteError::BadKey`] when `threshold` exceeds the number of witnesses or two witnesses
    /// share a name and key id (they would count twice).
    pub fn new(threshold: usize, witnesses: Vec<CosignatureVerifier>) -> Result<Self, NoteError> {
        if threshold > witnesses.len() {
            return Err(NoteError::BadKey(
                "threshold exceeds the number of witnesses",
            ));
        }
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses[..i]
                .iter()
                .any(|o| o.name() == w.name() && o.key_id() == w.key_id())
            {
                return Err(NoteError::BadKey("duplicate witness"));
            }
        }
        Ok(Self {
            threshold,
            witnesses,
        })
    }

    /// The number of cosignatures required.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Checks the policy over a checkpoint note whose log signature the caller has verified.
    /// Cosignatures later than `now` (POSIX seconds) are refused when `now` is given.
    ///
    /// # Errors
    /// [`NoteError::BadSignature`] when a trusted witness's cosignature fails;
    /// [`NoteError::BadTimestamp`]; [`NoteError::PolicyNotMet`].
    pub fn check(
        &self,
        note: &Note,
        now: Option<u64>,
    ) -> Result<Vec<WitnessCosignature>, NoteError> {
        let mut seen: Vec<WitnessCosignature> = Vec::new();
        for sig in note.signatures() {
            let Some(w) = self
                .witnesses
                .iter()
                .find(|w| w.name() == sig.name && w.key_id() == sig.key_id)
            else {
                continue;
            };
            let ts = w
                .verified_timestamp(note.text(), &sig.signature)
                .ok_or_else(|| NoteError::BadSignature(sig.name.clone()))?;
            if now.is_some_and(|n| ts > n) {
                return Err(NoteError::BadTimestamp);
            }
            if !seen.iter().any(|s| s.name == sig.name) {
                seen.push(WitnessCosignature {
                    name: sig.name.clone(),
                    timestamp: ts,
                });
            }
        }
        if seen.len() < self.threshold {
            return Err(NoteError::PolicyNotMet {
                need: self.threshold,
                got: seen.len(),
            });
        }
        Ok(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::checkpoint::Checkpoint;
    use crate::ledger::note_key::ALG_ED25519;
    use ed25519_dalek::SigningKey;

    fn witness(name: &str, seed: u8) -> Ed25519Signer {
        Ed25519Signer::new(
            name,
            ALG_COSIGNATURE_V1,
            SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
    }

    #[test]
    fn message_format_matches_spec() {
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(
            cosigned_message(text, 1_679_315_147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn k_of_n_policy() {
        let log = Ed25519Signer::new("log.example", ALG_ED25519, SigningKey::from_bytes(&[1; 32]))
            .unwrap();
        let w1 = witness("w1.example", 11);
        let w2 = witness("w2.example", 12);
        let w3 = witness("w3.example", 13);
        let mut note = Checkpoint::new("log.example", 7, [3u8; 32])
            .sign(&log)
            .unwrap();
        note.add_signature(cosign(&w1, note.text(), 1000).unwrap())
            .unwrap();
        note.add_signature(cosign(&w2, note.text(), 1001).unwrap())
            .unwrap();
        let note = Note::parse(note.to_text().as_bytes()).unwrap();
        let vs: Vec<CosignatureVerifier> = [&w1, &w2, &w3]
            .iter()
            .map(|w| CosignatureVerifier::new(w.verifier()).unwrap())
            .collect();
        let two = WitnessPolicy::new(2, vs.clone()).unwrap();
        let got = two.check(&note, Some(2000)).unwrap();
        assert_eq!(
            got,
            vec![
                WitnessCosignature {
                    name: "w1.example".into(),
                    timestamp: 1000
                },
                WitnessCosignature {
                    name: "w2.example".into(),
                    timestamp: 1001
                },
            ]
        );
        let three = WitnessPolicy::new(3, vs.clone()).unwrap();
        assert_eq!(
            three.check(&note, None),
            Err(NoteError::PolicyNotMet { need: 3, got: 2 })
        );
        assert_eq!(two.check(&note, Some(1000)), Err(NoteError::BadTimestamp));
        assert!(WitnessPolicy::new(4, vs.clone()).is_err());
        assert!(WitnessPolicy::new(1, vec![vs[0].clone(), vs[0].clone()]).is_err());
        // The log key is no witness: its plain signature never counts.
        assert!(CosignatureVerifier::new(log.verifier()).is_err());
        // A note signer of type 0x04 cannot make plain note signatures, and vice versa.
        assert!(w1.sign_note_text("x\n").is_err());
        assert!(cosign(&log, "x\n", 1).is_err());
        // A cosignature over another checkpoint fails, and fails the whole check.
        let mut other = Checkpoint::new("log.example", 8, [3u8; 32])
            .sign(&log)
            .unwrap();
        let stolen = note.signatures()[1].clone();
        other.add_signature(stolen).unwrap();
        assert_eq!(
            two.check(&other, None),
            Err(NoteError::BadSignature("w1.example".into()))
        );
    }

    #[test]
    fn matches_python_cryptography() {
        // Line and key made with Python's `cryptography` Ed25519 from the same seed, name,
        // checkpoint text and time (the C2SP spec's example checkpoint).
        let w = witness("w.example", 4);
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let line = cosign(&w, text, 1_679_315_147).unwrap().to_line();
        assert_eq!(line, format!("{PY_LINE}\n"));
        assert_eq!(w.verifier().to_vkey(), PY_VKEY);
    }

    const PY_LINE: &str = "\u{2014} w.example sw+b2QAAAABkGFDL82BuVAliPYXLWoJdqTHPN+gVatFS5l4TLdVUdui5SWFBYaPFa5qCTXt9oXy6f2KKtotpN9mICDJhWyA+srs/Ag==";
    const PY_VKEY: &str = "w.example+b30f9bd9+BMqTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r58";

    #[test]
    fn vkey_round_trip_and_limits() {
        let w = witness("w.example", 4);
        let v = CosignatureVerifier::new(w.verifier()).unwrap();
        assert_eq!(CosignatureVerifier::from_vkey(&v.to_vkey()).unwrap(), v);
        assert!(cosign(&w, "t\n", MAX_TIMESTAMP + 1).is_err());
        let sig = cosign(&w, "t\n", 5).unwrap();
        assert_eq!(v.verified_timestamp("t\n", &sig.signature), Some(5));
        assert_eq!(v.verified_timestamp("u\n", &sig.signature), None);
        assert_eq!(v.verified_timestamp("t\n", &sig.signature[1..]), None);
    }
}
