//! C2SP tlog-proof: a self-contained text proof that an entry is in a log, made of the entry's
//! index, its inclusion proof, and the checkpoint note (with any cosignatures) it proves to.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::checkpoint::{Checkpoint, decode_hash, parse_decimal};
use super::cosignature::{WitnessCosignature, WitnessPolicy};
use super::error::NoteError;
use super::hash::Hash;
use super::inclusion::{MAX_PROOF_LEN, verify_inclusion};
use super::note::{MAX_NOTE_SIZE, Note, Verifier};

/// The first line of every tlog-proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Largest extra data accepted, in bytes before base64.
pub const MAX_EXTRA: usize = 4096;
/// Largest proof text accepted.
pub const MAX_PROOF_TEXT: usize = MAX_NOTE_SIZE + 16 * 1024;

/// A parsed tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// The entry's index in the log.
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling upwards.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim, signatures included.
    pub checkpoint: String,
}

/// What a verified tlog-proof established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The checkpoint the entry is included in.
    pub checkpoint: Checkpoint,
    /// The witnesses that cosigned it (empty without a policy).
    pub witnesses: Vec<WitnessCosignature>,
}

impl TlogProof {
    /// The proof as text.
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&STANDARD.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a proof strictly; the checkpoint must parse as a signed checkpoint note (its
    /// signatures are checked by [`TlogProof::verify`]).
    ///
    /// # Errors
    /// [`NoteError::TooLarge`], [`NoteError::BadProofText`], and note parsing errors.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_PROOF_TEXT {
            return Err(NoteError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| NoteError::BadText)?;
        // The first empty line ends the header and hashes; the checkpoint follows verbatim.
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(NoteError::BadProofText("no checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(NoteError::BadProofText("missing header line"));
        }
        let mut line = lines
            .next()
            .ok_or(NoteError::BadProofText("missing index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            let data = STANDARD
                .decode(b64)
                .map_err(|_| NoteError::BadProofText("bad extra"))?;
            if data.len() > MAX_EXTRA || STANDARD.encode(&data) != b64 {
                return Err(NoteError::BadProofText("bad extra"));
            }
            extra = Some(data);
            line = lines
                .next()
                .ok_or(NoteError::BadProofText("missing index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(NoteError::BadProofText("bad index line"))?;
        let mut proof = Vec::new();
        for l in lines {
            if proof.len() == MAX_PROOF_LEN {
                return Err(NoteError::BadProofText("too many proof hashes"));
            }
            proof.push(decode_hash(l).ok_or(NoteError::BadProofText("bad proof hash"))?);
        }
        Checkpoint::parse(Note::parse(checkpoint.as_bytes())?.text())?;
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Verifies the proof for an entry's leaf hash: the log's signature on the checkpoint, its
    /// origin, and the inclusion proof against its root.
    ///
    /// # Errors
    /// Checkpoint errors ([`Checkpoint::open`]) and [`NoteError::Proof`].
    pub fn verify(
        &self,
        leaf: &Hash,
        origin: &str,
        log: &dyn Verifier,
    ) -> Result<VerifiedProof, NoteError> {
        let (checkpoint, _) = Checkpoint::open(self.checkpoint.as_bytes(), origin, log)?;
        verify_inclusion(
            self.index,
            checkpoint.size,
            leaf,
            &self.proof,
            &checkpoint.root,
        )?;
        Ok(VerifiedProof {
            checkpoint,
            witnesses: Vec::new(),
        })
    }

    /// As [`TlogProof::verify`], and the checkpoint must meet the witness policy.
    ///
    /// # Errors
    /// As [`TlogProof::verify`] and [`WitnessPolicy::check`].
    pub fn verify_with_policy(
        &self,
        leaf: &Hash,
        origin: &str,
        log: &dyn Verifier,
        policy: &WitnessPolicy,
        now: Option<u64>,
    ) -> Result<VerifiedProof, NoteError> {
        let mut verified = self.verify(leaf, origin, log)?;
        let note = Note::parse(self.checkpoint.as_bytes())?;
        verified.witnesses = policy.check(&note, now)?;
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::cosignature::{CosignatureVerifier, cosign};
    use crate::ledger::hash::leaf_hash;
    use crate::ledger::note_key::{ALG_COSIGNATURE_V1, ALG_ED25519, Ed25519Signer};
    use crate::ledger::reference::{reference_inclusion_proof, root_of};
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "notarium.example/log";

    fn setup() -> (Ed25519Signer, Ed25519Signer, Vec<Hash>, TlogProof) {
        let log =
            Ed25519Signer::new(ORIGIN, ALG_ED25519, SigningKey::from_bytes(&[1; 32])).unwrap();
        let w = Ed25519Signer::new(
            "w.example",
            ALG_COSIGNATURE_V1,
            SigningKey::from_bytes(&[2; 32]),
        )
        .unwrap();
        let leaves: Vec<Hash> = (0u8..11).map(|i| leaf_hash(&[i])).collect();
        let mut note = Checkpoint::new(ORIGIN, 11, root_of(&leaves))
            .sign(&log)
            .unwrap();
        note.add_signature(cosign(&w, note.text(), 77).unwrap())
            .unwrap();
        let proof = TlogProof {
            extra: Some(b"context".to_vec()),
            index: 6,
            proof: reference_inclusion_proof(&leaves, 6).unwrap(),
            checkpoint: note.to_text(),
        };
        (log, w, leaves, proof)
    }

    #[test]
    fn round_trip_and_verify() {
        let (log, w, leaves, proof) = setup();
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra Y29udGV4dA==\nindex 6\n"));
        let parsed = TlogProof::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, proof);
        let v = parsed.verify(&leaves[6], ORIGIN, &log.verifier()).unwrap();
        assert_eq!(v.checkpoint.size, 11);
        assert!(matches!(
            parsed.verify(&leaves[5], ORIGIN, &log.verifier()),
            Err(NoteError::Proof(_))
        ));
        let policy =
            WitnessPolicy::new(1, vec![CosignatureVerifier::new(w.verifier()).unwrap()]).unwrap();
        let v = parsed
            .verify_with_policy(&leaves[6], ORIGIN, &log.verifier(), &policy, None)
            .unwrap();
        assert_eq!(v.witnesses.len(), 1);
        let no_extra = TlogProof {
            extra: None,
            ..proof
        };
        assert_eq!(
            TlogProof::parse(no_extra.to_text().as_bytes()).unwrap(),
            no_extra
        );
    }

    #[test]
    fn rejects_malformed() {
        let (_, _, _, proof) = setup();
        let good = proof.to_text();
        let h0 = STANDARD.encode(proof.proof[0]);
        for bad in [
            good.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1),
            good.replacen("index 6", "index 06", 1),
            good.replacen("index 6", "index  6", 1),
            good.replacen("index 6\n", "", 1),
            good.replacen("extra Y29udGV4dA==", "extra Y29udGV4dA", 1),
            good.replacen(&h0, &h0[..40], 1),
            good.replacen(&format!("{h0}\n"), &format!("{h0}\n\n"), 1),
            good.replacen(
                "extra Y29udGV4dA==\nindex 6",
                "index 6\nextra Y29udGV4dA==",
                1,
            ),
            good.split("\n\n").next().unwrap().to_string(),
            format!("{good}junk"),
        ] {
            assert!(TlogProof::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
