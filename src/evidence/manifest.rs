//! `manifest.json`: the bundle's table of contents. It names the format version, summarises
//! the record, describes every other file and gives its SHA-256. It is not signed: the
//! verifier cross-checks every fact in it against the pieces the log and the TSA vouch for.

use serde::{Deserialize, Serialize};

use super::error::EvidenceError;

/// The format version written in, and required of, every manifest.
pub const FORMAT: &str = "notarium-evidence/1";
/// Largest manifest accepted.
pub const MAX_MANIFEST_LEN: usize = 1024 * 1024;

/// File names at the top of a bundle.
pub mod names {
    /// The manifest.
    pub const MANIFEST: &str = "manifest.json";
    /// `sha256sum -c` list of every file but the manifest and itself.
    pub const SUMS: &str = "SHA256SUMS";
    /// How to check each part with standard tools.
    pub const README: &str = "README.txt";
    /// The printable evidence certificate.
    pub const CERTIFICATE: &str = "certificate.html";
    /// The notary root certificates.
    pub const ROOTS: &str = "roots.pem";
    /// The log's verifier key.
    pub const LOG_KEY: &str = "log.vkey";
    /// The witnesses' keys and threshold.
    pub const WITNESS_POLICY: &str = "witness-policy.txt";
    /// The issuing CA's CRL.
    pub const CRL: &str = "crl.der";
    /// Consistency proofs from each entry's checkpoint to the later checkpoint.
    pub const CONSISTENCY: &str = "consistency.json";
    /// The later checkpoint note.
    pub const LATER_CHECKPOINT: &str = "checkpoint-later.txt";
    /// The stand-alone Python (hashlib) proof checker.
    pub const CHECK_PROOF: &str = "check_proof.py";
    /// Inside `entries/<n>/`: the ledger entry.
    pub const ENTRY: &str = "entry.bin";
    /// Inside `entries/<n>/`: the org's DER ECDSA signature.
    pub const SIGNATURE: &str = "signature.der";
    /// Inside `entries/<n>/`: the signer certificate.
    pub const SIGNER_CERT: &str = "certificate.pem";
    /// Inside `entries/<n>/`: intermediate CA certificates.
    pub const CHAIN: &str = "chain.pem";
    /// Inside `entries/<n>/`: the bare RFC 3161 token.
    pub const TOKEN: &str = "timestamp.tsr";
    /// Inside `entries/<n>/`: the C2SP tlog-proof.
    pub const PROOF: &str = "proof.tlog-proof";
}

/// The path of `file` inside entry `n`'s folder.
pub fn entry_path(n: usize, file: &str) -> String {
    format!("entries/{n}/{file}")
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// When the bundle was made (RFC 3339, UTC).
    pub generated_at: String,
    /// The record summary.
    pub record: ManifestRecord,
    /// The log and its witnesses.
    pub log: ManifestLog,
    /// One item per ledger entry, oldest first.
    pub entries: Vec<ManifestEntry>,
    /// Every file of the bundle but the manifest.
    pub files: Vec<ManifestFile>,
}

/// Who deposited what, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    /// Record id (UUID).
    pub id: String,
    /// Kind, e.g. `invoice`.
    pub kind: String,
    /// Depositing organisation's id.
    pub org_id: String,
    /// Depositing organisation's name.
    pub org_name: String,
    /// SHA-256 of the document, lowercase hex.
    pub document_sha256: String,
    /// The document's file in the bundle, if included.
    pub document_file: Option<String>,
    /// The first entry's index in the log.
    pub log_index: u64,
    /// The first entry's token time (RFC 3339, UTC).
    pub token_time: String,
}

/// The log's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestLog {
    /// The checkpoint origin (the log key's name).
    pub origin: String,
    /// Witness cosignatures the bundle's policy requires.
    pub witness_threshold: usize,
}

/// One ledger entry of the record's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The entry's folder, `entries/<n>`.
    pub dir: String,
    /// Entry kind, e.g. `invoice`, `invoice-status`.
    pub kind: String,
    /// The entry's record id.
    pub record_id: String,
    /// Index in the log.
    pub log_index: u64,
    /// Token time (RFC 3339, UTC).
    pub token_time: String,
    /// SHA-256 of the entry's document, lowercase hex.
    pub document_sha256: String,
    /// The entry's document in the bundle, if included.
    pub document_file: Option<String>,
}

/// One file and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path inside the zip.
    pub path: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// What the file is.
    pub description: String,
}

impl Manifest {
    /// Parses and checks the manifest's shape (format version, digests spelled as 64 lowercase
    /// hex digits, no repeated paths).
    ///
    /// # Errors
    /// [`EvidenceError::Manifest`].
    pub fn parse(bytes: &[u8]) -> Result<Self, EvidenceError> {
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(EvidenceError::Manifest("too large".into()));
        }
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| EvidenceError::Manifest(e.to_string()))?;
        if m.format != FORMAT {
            return Err(EvidenceError::Manifest(format!(
                "unknown format {:?} (this verifier reads {FORMAT})",
                m.format
            )));
        }
        for f in &m.files {
            if !is_hex_digest(&f.sha256) {
                return Err(EvidenceError::Manifest(format!(
                    "digest of {:?} is not 64 lowercase hex digits",
                    f.path
                )));
            }
        }
        for (i, f) in m.files.iter().enumerate() {
            if m.files[..i].iter().any(|o| o.path == f.path) {
                return Err(EvidenceError::Manifest(format!(
                    "{:?} listed twice",
                    f.path
                )));
            }
        }
        Ok(m)
    }

    /// The manifest as pretty JSON.
    ///
    /// # Errors
    /// [`EvidenceError::Manifest`] (serialisation cannot fail for these types in practice).
    pub fn to_json(&self) -> Result<Vec<u8>, EvidenceError> {
        let mut out =
            serde_json::to_vec_pretty(self).map_err(|e| EvidenceError::Manifest(e.to_string()))?;
        out.push(b'\n');
        Ok(out)
    }

    /// The digest listed for `path`.
    pub fn digest_of(&self, path: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.sha256.as_str())
    }
}

/// 64 lowercase hex digits.
pub fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            generated_at: "2026-05-04T03:02:01Z".into(),
            record: ManifestRecord {
                id: "r".into(),
                kind: "invoice".into(),
                org_id: "o".into(),
                org_name: "Org".into(),
                document_sha256: "ab".repeat(32),
                document_file: None,
                log_index: 3,
                token_time: "2026-05-04T03:02:01Z".into(),
            },
            log: ManifestLog {
                origin: "log.example".into(),
                witness_threshold: 1,
            },
            entries: vec![],
            files: vec![ManifestFile {
                path: "a".into(),
                sha256: "0".repeat(64),
                description: "d".into(),
            }],
        }
    }

    #[test]
    fn round_trips_and_refuses_bad_shapes() {
        let m = sample();
        let json = m.to_json().unwrap();
        assert_eq!(Manifest::parse(&json).unwrap(), m);
        assert_eq!(m.digest_of("a"), Some("0".repeat(64).as_str()));
        assert_eq!(m.digest_of("b"), None);

        let mut other = m.clone();
        other.format = "notarium-evidence/2".into();
        let e = Manifest::parse(&other.to_json().unwrap()).unwrap_err();
        assert!(e.to_string().contains("unknown format"), "{e}");

        let mut upper = m.clone();
        upper.files[0].sha256 = "A".repeat(64);
        assert!(Manifest::parse(&upper.to_json().unwrap()).is_err());

        let mut twice = m.clone();
        twice.files.push(twice.files[0].clone());
        assert!(Manifest::parse(&twice.to_json().unwrap()).is_err());

        assert!(Manifest::parse(b"{").is_err());
        assert!(Manifest::parse(&vec![b' '; MAX_MANIFEST_LEN + 1]).is_err());
    }
}
