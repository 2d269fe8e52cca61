//! Certificate checking, the one function later modules call: chain to our roots (signatures
//! verified), validity at a given time, key usage, and revocation status at that time.
//!
//! Pure (no I/O): the caller passes the trust roots, candidate intermediates and the revocation
//! list (from the database, or from a bundle's CRL in the offline verifier).

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

/// Longest chain we follow (leaf, issuing, root and a spare).
const MAX_DEPTH: usize = 4;

/// Why a certificate is not acceptable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    /// Not a DER certificate.
    #[error("certificate does not parse: {0}")]
    Malformed(String),
    /// No chain to a trusted root was found.
    #[error("no chain to a trusted root for {0}")]
    Untrusted(String),
    /// A signature in the chain does not verify.
    #[error("signature of {0} does not verify")]
    BadSignature(String),
    /// Outside its validity period at the time asked about.
    #[error("{subject} is not valid at {at} (valid {not_before} to {not_after})")]
    Expired {
        /// The subject.
        subject: String,
        /// The time asked about.
        at: String,
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
    },
    /// A CA in the chain is not allowed to sign certificates.
    #[error("{0} is not a CA allowed to sign certificates")]
    NotACa(String),
    /// The leaf lacks the key usage asked for.
    #[error("{0} lacks the digitalSignature / nonRepudiation key usage")]
    KeyUsage(String),
    /// Revoked at or before the time asked about.
    #[error("{subject} was revoked at {revoked_at}")]
    Revoked {
        /// The subject.
        subject: String,
        /// When.
        revoked_at: String,
    },
    /// A CRL does not parse or is not signed by the issuing CA.
    #[error("CRL: {0}")]
    BadCrl(String),
}

/// Revocations known to the caller: serial number bytes → revocation time.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    entries: Vec<(Vec<u8>, OffsetDateTime)>,
}

impl Revocations {
    /// From pairs (serial, revoked at).
    pub fn new(entries: Vec<(Vec<u8>, OffsetDateTime)>) -> Self {
        Self { entries }
    }

    /// From a DER CRL, whose signature must verify with one of `issuers` (DER certificates).
    pub fn from_crl(crl_der: &[u8], issuers: &[Vec<u8>]) -> Result<Self, CertError> {
        let (_, crl) = CertificateRevocationList::from_der(crl_der)
            .map_err(|e| CertError::BadCrl(e.to_string()))?;
        let signed = issuers.iter().any(|der| {
            X509Certificate::from_der(der)
                .map(|(_, c)| {
                    c.subject() == crl.issuer() && crl.verify_signature(c.public_key()).is_ok()
                })
                .unwrap_or(false)
        });
        if !signed {
            return Err(CertError::BadCrl("not signed by a trusted issuer".into()));
        }
        let entries = crl
            .iter_revoked_certificates()
            .filter_map(|r| {
                let at = OffsetDateTime::from_unix_timestamp(r.revocation_date.timestamp()).ok()?;
                Some((r.raw_serial().to_vec(), at))
            })
            .collect();
        Ok(Self { entries })
    }

    /// When `serial` was revoked, if it was.
    pub fn revoked_at(&self, serial: &[u8]) -> Option<OffsetDateTime> {
        self.entries
            .iter()
            .filter(|(s, _)| s == serial)
            .map(|(_, t)| *t)
            .min()
    }
}

/// What a successful check found.
#[derive(Debug, Clone)]
pub struct CheckedCert {
    /// The leaf's subject, RFC 4514 text.
    pub subject: String,
    /// The leaf's serial number bytes.
    pub serial: Vec<u8>,
    /// The chain found, leaf first, root last (DER).
    pub chain: Vec<Vec<u8>>,
}

/// Checks `leaf_der` at time `at`: a chain through `intermediates` to one of `roots` with every
/// signature verified, every certificate valid at `at`, CAs allowed to sign, the leaf usable
/// for signatures, and the leaf not revoked at or before `at`.
pub fn check_certificate(
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
    roots: &[Vec<u8>],
    at: OffsetDateTime,
    revocations: &Revocations,
) -> Result<CheckedCert, CertError> {
    let (_, leaf) =
        X509Certificate::from_der(leaf_der).map_err(|e| CertError::Malformed(e.to_string()))?;
    let subject = leaf.subject().to_string();
    check_time(&leaf, at)?;
    let ku_ok = match leaf.key_usage() {
        Ok(Some(ku)) => ku.value.digital_signature() || ku.value.non_repudiation(),
        Ok(None) => true,
        Err(_) => false,
    };
    if !ku_ok {
        return Err(CertError::KeyUsage(subject));
    }
    if let Some(t) = revocations.revoked_at(leaf.raw_serial())
        && t <= at
    {
        return Err(CertError::Revoked {
            subject,
            revoked_at: t.to_string(),
        });
    }
    let mut chain = vec![leaf_der.to_vec()];
    let mut current_der = leaf_der.to_vec();
    for _ in 0..MAX_DEPTH {
        let (_, current) = X509Certificate::from_der(&current_der)
            .map_err(|e| CertError::Malformed(e.to_string()))?;
        // Candidates named as the issuer: trusted roots first, then intermediates. A candidate
        // whose key does not verify the signature is skipped (same name, other key).
        let mut name_matched = false;
        let mut found: Option<(Vec<u8>, bool)> = None;
        let candidates = roots
            .iter()
            .map(|d| (d, true))
            .chain(intermediates.iter().map(|d| (d, false)));
        for (der, is_root) in candidates {
            let Ok((_, c)) = X509Certificate::from_der(der) else {
                continue;
            };
            if c.subject() != current.issuer() || (!is_root && der == &current_der) {
                continue;
            }
            name_matched = true;
            if current.verify_signature(Some(c.public_key())).is_ok() {
                check_time(&c, at)?;
                check_ca(&c)?;
                if let Some(t) = revocations.revoked_at(c.raw_serial())
                    && t <= at
                {
                    return Err(CertError::Revoked {
                        subject: c.subject().to_string(),
                        revoked_at: t.to_string(),
                    });
                }
                found = Some((der.clone(), is_root));
                break;
            }
        }
        match found {
            Some((der, true)) => {
                chain.push(der);
                return Ok(CheckedCert {
                    subject,
                    serial: chain_leaf_serial(&chain[0]),
                    chain,
                });
            }
            Some((der, false)) => {
                chain.push(der.clone());
                current_der = der;
            }
            None if name_matched => {
                return Err(CertError::BadSignature(current.subject().to_string()));
            }
            None => return Err(CertError::Untrusted(subject)),
        }
    }
    Err(CertError::Untrusted(subject))
}

fn chain_leaf_serial(der: &[u8]) -> Vec<u8> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c.raw_serial().to_vec())
        .unwrap_or_default()
}

fn check_time(c: &X509Certificate<'_>, at: OffsetDateTime) -> Result<(), CertError> {
    let ts = at.unix_timestamp();
    let v = c.validity();
    if ts < v.not_before.timestamp() || ts > v.not_after.timestamp() {
        return Err(CertError::Expired {
            subject: c.subject().to_string(),
            at: at.to_string(),
            not_before: v.not_before.to_string(),
            not_after: v.not_after.to_string(),
        });
    }
    Ok(())
}

fn check_ca(c: &X509Certificate<'_>) -> Result<(), CertError> {
    let is_ca = matches!(c.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    let may_sign = match c.key_usage() {
        Ok(Some(ku)) => ku.value.key_cert_sign(),
        Ok(None) => true,
        Err(_) => false,
    };
    if is_ca && may_sign {
        Ok(())
    } else {
        Err(CertError::NotACa(c.subject().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::pki::{NotaryPki, OrgSubject, Revoked, new_key};
    use rcgen::PublicKeyData;

    fn setup() -> (NotaryPki, Vec<u8>, Vec<u8>) {
        let pki = NotaryPki::generate().unwrap();
        let key = new_key().unwrap();
        let subject = OrgSubject {
            org_id: uuid::Uuid::new_v4(),
            name: "Org".into(),
            tax_id: None,
        };
        let c = pki
            .issue_org_cert(&subject, &key.subject_public_key_info(), 30, "http://x/crl")
            .unwrap();
        (pki, c.der, c.serial)
    }

    #[test]
    fn valid_chain_passes() {
        let (pki, leaf, serial) = setup();
        let ok = check_certificate(
            &leaf,
            std::slice::from_ref(&pki.issuing.cert_der),
            std::slice::from_ref(&pki.root.cert_der),
            OffsetDateTime::now_utc(),
            &Revocations::default(),
        )
        .unwrap();
        assert_eq!(ok.chain.len(), 3);
        assert_eq!(ok.serial, serial);
    }

    #[test]
    fn other_root_missing_intermediate_and_time_fail() {
        let (pki, leaf, _) = setup();
        let other = NotaryPki::generate().unwrap();
        let now = OffsetDateTime::now_utc();
        let e = check_certificate(
            &leaf,
            std::slice::from_ref(&pki.issuing.cert_der),
            std::slice::from_ref(&other.root.cert_der),
            now,
            &Revocations::default(),
        )
        .unwrap_err();
        // Same names, other keys: the signature cannot verify.
        assert!(matches!(e, CertError::BadSignature(_)), "{e}");
        let e = check_certificate(
            &leaf,
            &[],
            std::slice::from_ref(&pki.root.cert_der),
            now,
            &Revocations::default(),
        )
        .unwrap_err();
        assert!(matches!(e, CertError::Untrusted(_)), "{e}");
        let e = check_certificate(
            &leaf,
            std::slice::from_ref(&pki.issuing.cert_der),
            std::slice::from_ref(&pki.root.cert_der),
            now + time::Duration::days(31),
            &Revocations::default(),
        )
        .unwrap_err();
        assert!(matches!(e, CertError::Expired { .. }), "{e}");
    }

    #[test]
    fn substituted_issuer_key_fails_signature() {
        // An intermediate with the same subject but another key must not validate the leaf.
        let (pki, leaf, _) = setup();
        let mut forged = NotaryPki::generate().unwrap();
        forged.root = pki.root; // trust the real root
        let e = check_certificate(
            &leaf,
            std::slice::from_ref(&forged.issuing.cert_der),
            std::slice::from_ref(&forged.root.cert_der),
            OffsetDateTime::now_utc(),
            &Revocations::default(),
        )
        .unwrap_err();
        assert!(matches!(e, CertError::BadSignature(_)), "{e}");
    }

    #[test]
    fn revocation_applies_from_its_time_and_crl_round_trips() {
        let (pki, leaf, serial) = setup();
        let now = OffsetDateTime::now_utc();
        let revoked_at = now - time::Duration::minutes(1);
        let crl = pki
            .crl(
                1,
                &[Revoked {
                    serial: serial.clone(),
                    at: revoked_at,
                }],
            )
            .unwrap();
        let revs =
            Revocations::from_crl(&crl, std::slice::from_ref(&pki.issuing.cert_der)).unwrap();
        assert!(revs.revoked_at(&serial).is_some());
        let inter = std::slice::from_ref(&pki.issuing.cert_der);
        let roots = std::slice::from_ref(&pki.root.cert_der);
        // Signed before the revocation: still fine.
        assert!(
            check_certificate(&leaf, inter, roots, now - time::Duration::minutes(2), &revs).is_ok()
        );
        // After: revoked.
        let e = check_certificate(&leaf, inter, roots, now, &revs).unwrap_err();
        assert!(matches!(e, CertError::Revoked { .. }), "{e}");
        // A CRL from another CA is refused.
        let other = NotaryPki::generate().unwrap();
        assert!(
            Revocations::from_crl(&crl, std::slice::from_ref(&other.issuing.cert_der)).is_err()
        );
    }
}
