//! PKCS#10 certificate signing requests: parsed and signature-checked with x509-parser, and
//! accepted only for ECDSA P-256 keys. Only the public key is taken from a CSR; the subject
//! comes from the organisation record.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

/// Largest CSR accepted, in bytes (a P-256 CSR is a few hundred).
pub const MAX_CSR_BYTES: usize = 16 * 1024;

/// Why a CSR was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CsrError {
    /// Too large to be a CSR.
    #[error("CSR larger than {MAX_CSR_BYTES} bytes")]
    TooLarge,
    /// Not PEM `CERTIFICATE REQUEST` nor DER PKCS#10.
    #[error("not a PKCS#10 certificate request (PEM or DER): {0}")]
    Malformed(String),
    /// The CSR's self-signature does not verify.
    #[error("the CSR's signature does not verify (proof of possession failed)")]
    BadSignature,
    /// The key is not an EC key on P-256.
    #[error("only ECDSA P-256 keys are certified; this CSR carries {0}")]
    UnsupportedKey(String),
}

/// What we take from a valid CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCsr {
    /// The SubjectPublicKeyInfo DER of the P-256 key.
    pub spki_der: Vec<u8>,
}

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";

/// Parses (PEM or DER), verifies the self-signature and checks the key is P-256.
pub fn check_csr(input: &[u8]) -> Result<CheckedCsr, CsrError> {
    if input.len() > MAX_CSR_BYTES {
        return Err(CsrError::TooLarge);
    }
    let der = if input.trim_ascii_start().starts_with(b"-----BEGIN") {
        let p = pem::parse(input).map_err(|e| CsrError::Malformed(e.to_string()))?;
        if p.tag() != "CERTIFICATE REQUEST" && p.tag() != "NEW CERTIFICATE REQUEST" {
            return Err(CsrError::Malformed(format!("PEM block is {}", p.tag())));
        }
        p.into_contents()
    } else {
        input.to_vec()
    };
    let (rest, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| CsrError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed(
            "trailing bytes after the request".into(),
        ));
    }
    let spki = &csr.certification_request_info.subject_pki;
    let alg = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    if alg != OID_EC_PUBLIC_KEY {
        return Err(CsrError::UnsupportedKey(format!("algorithm {alg}")));
    }
    if curve.as_deref() != Some(OID_P256) {
        return Err(CsrError::UnsupportedKey(format!(
            "EC curve {}",
            curve.as_deref().unwrap_or("(none)")
        )));
    }
    csr.verify_signature().map_err(|_| CsrError::BadSignature)?;
    Ok(CheckedCsr {
        spki_der: spki.raw.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr_for(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let params = rcgen::CertificateParams::new(vec![]).unwrap();
        params.serialize_request(&key).unwrap().der().to_vec()
    }

    #[test]
    fn p256_csr_accepted_pem_and_der() {
        let der = csr_for(&rcgen::PKCS_ECDSA_P256_SHA256);
        let checked = check_csr(&der).unwrap();
        assert!(!checked.spki_der.is_empty());
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        assert_eq!(
            check_csr(pem.as_bytes()).unwrap().spki_der,
            checked.spki_der
        );
    }

    #[test]
    fn p384_refused_with_reason() {
        let der = csr_for(&rcgen::PKCS_ECDSA_P384_SHA384);
        let e = check_csr(&der).unwrap_err();
        assert!(
            matches!(e, CsrError::UnsupportedKey(ref s) if s.contains("1.3.132.0.34")),
            "{e}"
        );
    }

    #[test]
    fn broken_signature_refused() {
        let mut der = csr_for(&rcgen::PKCS_ECDSA_P256_SHA256);
        // The signature is the last element; flipping its last byte breaks it (or the DER).
        let n = der.len();
        der[n - 1] ^= 0x01;
        let e = check_csr(&der).unwrap_err();
        assert!(
            matches!(e, CsrError::BadSignature | CsrError::Malformed(_)),
            "{e}"
        );
    }

    #[test]
    fn garbage_refused() {
        assert!(matches!(check_csr(b"hello"), Err(CsrError::Malformed(_))));
        assert_eq!(
            check_csr(&vec![0u8; MAX_CSR_BYTES + 1]),
            Err(CsrError::TooLarge)
        );
    }
}
