//! The evidence a notary-seal signature carries when it signs a contract PDF on behalf of a
//! party that signed with its own key outside the server.
//!
//! Such a party signs the contract's original bytes (a raw ECDSA P-256 / SHA-256 signature,
//! as for every notarium submission); it cannot make the PAdES signature itself, because a
//! PAdES signature covers the final byte range, which nobody knows before the server writes
//! the update. So the notary seal makes that PAdES signature, names the party in /Name and
//! /Reason, and puts the party's own signature, certificate and RFC 3161 token in one
//! signed attribute of its CMS, [`ATTR_ON_BEHALF_OF`]:
//!
//! ```text
//! OnBehalfOf ::= SEQUENCE {
//!     signedLength    INTEGER,       -- the party signed the first signedLength bytes of
//!                                    -- this very file (the original contract revision)
//!     signature       OCTET STRING,  -- the party's DER ECDSA signature over those bytes
//!     certificate     Certificate,   -- the party's certificate
//!     timeStampToken  ContentInfo,   -- RFC 3161 token over SHA-256 of those bytes
//!     logIndex        INTEGER        -- the party's ContractSignature entry in the ledger
//! }
//! ```
//!
//! Anyone checks it without notarium: `head -c signedLength signed.pdf > original.pdf`,
//! then `openssl dgst -sha256 -verify party.pub -signature sig.der original.pdf` and
//! `openssl ts -verify -data original.pdf -in token.der -token_in -CAfile roots.pem`.
//! [`check_on_behalf`] does the same checks for the offline verifier.

use der::asn1::{ObjectIdentifier as Oid, OctetString};
use der::{Any, Decode, Encode, Sequence};
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;

use crate::documents::contract::cades::sha256;
use crate::documents::contract::error::ContractError;
use crate::identity::certcheck::{Revocations, check_certificate};
use crate::timestamp::{HashAlgorithm, TrustStore, verify_token};

/// The attribute type of [`OnBehalfOf`]. notarium has no enterprise number of its own, so,
/// like the default TSA policy, it lives under the Internet "experimental" arc (RFC 1155).
pub const ATTR_ON_BEHALF_OF: Oid = Oid::new_unwrap("1.3.6.1.3.3161.2.1");

/// Largest encoded evidence accepted (a certificate and a token are a few KiB).
const MAX_EVIDENCE_LEN: usize = 64 * 1024;

/// The DER form, field for field.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct OnBehalfOfAsn1 {
    signed_length: u64,
    signature: OctetString,
    certificate: Any,
    time_stamp_token: Any,
    log_index: u64,
}

/// A party's own signature over the original contract, carried by the notary seal's PAdES
/// signature made on the party's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnBehalfOf {
    /// The party signed bytes `[0, signed_length)` of the signed file.
    pub signed_length: usize,
    /// The party's DER ECDSA P-256 / SHA-256 signature over them.
    pub signature: Vec<u8>,
    /// The party's certificate (DER).
    pub certificate_der: Vec<u8>,
    /// RFC 3161 token (DER ContentInfo) over SHA-256 of those bytes.
    pub token_der: Vec<u8>,
    /// The party's ContractSignature entry in the notarium ledger.
    pub log_index: u64,
}

impl OnBehalfOf {
    /// The DER encoding (the attribute's value).
    ///
    /// # Errors
    /// `Encoding` when the certificate or token is not one DER element.
    pub fn to_der(&self) -> Result<Vec<u8>, ContractError> {
        let value = OnBehalfOfAsn1 {
            signed_length: self.signed_length as u64,
            signature: OctetString::new(self.signature.as_slice())?,
            certificate: Any::from_der(&self.certificate_der)?,
            time_stamp_token: Any::from_der(&self.token_der)?,
            log_index: self.log_index,
        };
        Ok(value.to_der()?)
    }

    /// Reads the DER encoding.
    ///
    /// # Errors
    /// `MalformedCms` for anything but exactly one well-formed value.
    pub fn from_der(bytes: &[u8]) -> Result<Self, ContractError> {
        let bad = |e: String| ContractError::MalformedCms(format!("onBehalfOf: {e}"));
        if bytes.len() > MAX_EVIDENCE_LEN {
            return Err(bad("too large".into()));
        }
        let v = OnBehalfOfAsn1::from_der(bytes).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            signed_length: usize::try_from(v.signed_length).map_err(|e| bad(e.to_string()))?,
            signature: v.signature.as_bytes().to_vec(),
            certificate_der: v.certificate.to_der().map_err(|e| bad(e.to_string()))?,
            token_der: v
                .time_stamp_token
                .to_der()
                .map_err(|e| bad(e.to_string()))?,
            log_index: v.log_index,
        })
    }
}

/// What a verified [`OnBehalfOf`] proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnBehalfCheck {
    /// The party's certificate subject.
    pub party_subject: String,
    /// The party's certificate (DER).
    pub party_certificate: Vec<u8>,
    /// Length of the revision the party signed.
    pub signed_length: usize,
    /// When the party's signature existed (the token's genTime), if the token verified.
    pub signed_at: Option<OffsetDateTime>,
    /// The party's ledger entry.
    pub log_index: u64,
}

/// Checks `evidence` found in a signature whose own byte range starts its hole at
/// `hole_start`: the party's bytes are a whole earlier revision of `pdf`, the party's
/// signature verifies over them with its certificate, the token is over their SHA-256, and
/// the certificate chains (through `carried` certificates) to `roots` at the token's time.
/// Returns what it proves and one sentence per failed check.
pub fn check_on_behalf(
    evidence: &OnBehalfOf,
    pdf: &[u8],
    hole_start: usize,
    carried: &[Vec<u8>],
    roots: &[Vec<u8>],
    trust: &TrustStore,
) -> (OnBehalfCheck, Vec<String>) {
    let mut problems = Vec::new();
    let subject = x509_parser::certificate::X509Certificate::from_der(&evidence.certificate_der)
        .map(|(_, c)| c.subject().to_string())
        .ok();
    let mut check = OnBehalfCheck {
        party_subject: subject.clone().unwrap_or_default(),
        party_certificate: evidence.certificate_der.clone(),
        signed_length: evidence.signed_length,
        signed_at: None,
        log_index: evidence.log_index,
    };
    if subject.is_none() {
        problems.push("on behalf of: the party certificate is unreadable".to_string());
    }
    let original = match pdf.get(..evidence.signed_length) {
        Some(o) if evidence.signed_length <= hole_start && ends_revision(o) => o,
        _ => {
            problems.push(
                "on behalf of: the party's signed length is not an earlier revision of this file"
                    .to_string(),
            );
            return (check, problems);
        }
    };
    match x509_parser::parse_x509_certificate(&evidence.certificate_der) {
        Ok((_, cert)) => {
            let point = &cert.public_key().subject_public_key.data;
            if UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
                .verify(original, &evidence.signature)
                .is_err()
            {
                problems.push(
                    "on behalf of: the party's signature does not verify over the original"
                        .to_string(),
                );
            }
        }
        Err(_) => return (check, problems),
    }
    match verify_token(
        &evidence.token_der,
        HashAlgorithm::Sha256,
        &sha256(original),
        trust,
    ) {
        Ok(t) => check.signed_at = Some(t.gen_time),
        Err(e) => problems.push(format!("on behalf of: the party's time-stamp: {e}")),
    }
    match check.signed_at {
        Some(at) => {
            if let Err(e) = check_certificate(
                &evidence.certificate_der,
                carried,
                roots,
                at,
                &Revocations::default(),
            ) {
                problems.push(format!("on behalf of: the party certificate: {e}"));
            }
        }
        None => problems
            .push("on behalf of: no trusted time to check the party certificate at".to_string()),
    }
    (check, problems)
}

/// Whether `bytes` end a PDF revision (`%%EOF`, then only whitespace).
fn ends_revision(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .and_then(|p| bytes.get(..=p))
        .is_some_and(|t| t.ends_with(b"%%EOF"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::contract::testing::{TestPki, sample_pdf};

    fn evidence(pki: &TestPki, pdf: &[u8]) -> OnBehalfOf {
        let (key, cert) = pki.party_key("Party B");
        let signature = key
            .sign(&ring::rand::SystemRandom::new(), pdf)
            .unwrap()
            .as_ref()
            .to_vec();
        OnBehalfOf {
            signed_length: pdf.len(),
            signature,
            certificate_der: cert,
            // the test TSA stamps SHA-256 of what it is given
            token_der: pki.timestamp(pdf).unwrap(),
            log_index: 7,
        }
    }

    fn trust(pki: &TestPki) -> TrustStore {
        let mut t = TrustStore::new();
        t.add_root_der(pki.root_der.clone()).unwrap();
        t
    }

    #[test]
    fn round_trips_through_der() {
        let pki = TestPki::new();
        let ev = evidence(&pki, &sample_pdf(1, false));
        let der = ev.to_der().unwrap();
        assert_eq!(der[0], 0x30, "a SEQUENCE");
        assert_eq!(OnBehalfOf::from_der(&der).unwrap(), ev);
        assert!(OnBehalfOf::from_der(&der[..der.len() - 1]).is_err());
        assert!(OnBehalfOf::from_der(b"\x30\x00").is_err());
        let mut longer = der.clone();
        longer.push(0);
        assert!(OnBehalfOf::from_der(&longer).is_err(), "trailing bytes");
    }

    #[test]
    fn checks_the_party_signature_token_and_certificate() {
        let pki = TestPki::new();
        let original = sample_pdf(2, false);
        let ev = evidence(&pki, &original);
        let mut file = original.clone();
        file.extend_from_slice(b"\n% the seal's update would follow here\n");
        let carried = vec![pki.issuing_der.clone()];
        let roots = vec![pki.root_der.clone()];
        let (check, problems) =
            check_on_behalf(&ev, &file, file.len(), &carried, &roots, &trust(&pki));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(check.party_subject, "CN=Party B");
        assert_eq!(check.log_index, 7);
        let at = check.signed_at.unwrap();
        assert!((OffsetDateTime::now_utc() - at).abs() < time::Duration::minutes(5));

        // a signature over other bytes
        let mut other = ev.clone();
        other.signature = evidence(&pki, b"%PDF-1.7 other\n%%EOF").signature;
        let (_, problems) =
            check_on_behalf(&other, &file, file.len(), &carried, &roots, &trust(&pki));
        assert!(
            problems.iter().any(|p| p.contains("does not verify")),
            "{problems:?}"
        );

        // a length that is not a revision, or reaches into the seal's own signature
        for (len, hole) in [(original.len() - 3, file.len()), (original.len(), 10)] {
            let mut cut = ev.clone();
            cut.signed_length = len;
            let (_, problems) = check_on_behalf(&cut, &file, hole, &carried, &roots, &trust(&pki));
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("not an earlier revision")),
                "{problems:?}"
            );
        }

        // another PKI's root: neither the token nor the certificate is trusted
        let stranger = TestPki::new();
        let (_, problems) = check_on_behalf(
            &ev,
            &file,
            file.len(),
            &carried,
            std::slice::from_ref(&stranger.root_der),
            &trust(&stranger),
        );
        assert!(
            problems.iter().any(|p| p.contains("time-stamp")),
            "{problems:?}"
        );
    }
}
