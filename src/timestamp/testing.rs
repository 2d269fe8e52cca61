//! Test support: a throwaway PKI (root CA → issuing CA → TSA) made with rcgen, and a signer.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use time::macros::datetime;

use crate::timestamp::{
    HashAlgorithm, TimeStampRequest, TokenParams, TrustStore, TsaSigner, generate_tsa_key,
    issue_tsa_certificate,
};

/// A root, an issuing CA and a TSA signer.
pub struct TestPki {
    /// The self-signed root (DER).
    pub root_der: Vec<u8>,
    /// The issuing CA under the root (DER).
    pub issuing_der: Vec<u8>,
    /// The TSA's PKCS#8 key.
    pub tsa_key_pkcs8: Vec<u8>,
    /// The TSA, valid 2025–2030, with the issuing CA as chain.
    pub signer: TsaSigner,
}

/// Parameters of a CA named `cn`, valid 2020–2040.
pub fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    p.not_before = datetime!(2020-01-01 0:00 UTC);
    p.not_after = datetime!(2040-01-01 0:00 UTC);
    p
}

impl TestPki {
    /// A fresh PKI with new keys.
    pub fn new() -> Self {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root_params = ca_params("Test Root");
        let root = root_params.self_signed(&root_key).unwrap();
        let issuing_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let issuing_params = ca_params("Test Issuing CA");
        let issuing = issuing_params
            .signed_by(&issuing_key, &Issuer::from_params(&root_params, &root_key))
            .unwrap();
        let tsa_key = generate_tsa_key().unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Test TSA");
        let tsa = issue_tsa_certificate(
            dn,
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2030-01-01 0:00 UTC),
            &tsa_key,
            &Issuer::from_params(&issuing_params, &issuing_key),
        )
        .unwrap();
        let signer = TsaSigner::new(
            &tsa_key.serialize_der(),
            tsa.der().to_vec(),
            vec![issuing.der().to_vec()],
        )
        .unwrap();
        TestPki {
            root_der: root.der().to_vec(),
            issuing_der: issuing.der().to_vec(),
            tsa_key_pkcs8: tsa_key.serialize_der(),
            signer,
        }
    }

    /// Trusts the root only; the token must carry the chain.
    pub fn trust(&self) -> TrustStore {
        let mut t = TrustStore::new();
        t.add_root_der(self.root_der.clone()).unwrap();
        t
    }
}

/// Token parameters with genTime 2026-05-04 03:02:01.25 and no optional fields.
pub fn params(serial: u128) -> TokenParams {
    TokenParams {
        policy: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1"),
        serial,
        gen_time: datetime!(2026-05-04 03:02:01.250 UTC),
        fraction_digits: 3,
        accuracy: None,
        signing_time: false,
        tsa_name: false,
    }
}

/// A request for SHA-256("document") with a nonce and certReq.
pub fn request() -> (TimeStampRequest, Vec<u8>) {
    let digest = HashAlgorithm::Sha256.digest(b"document");
    let mut req = TimeStampRequest::for_digest(HashAlgorithm::Sha256, &digest).unwrap();
    req.nonce = Some(der::asn1::Int::new(&[0x12, 0x34, 0x56]).unwrap());
    (req, digest)
}
