//! The TSA certificate profile (RFC 3161 section 2.3), issued with rcgen: a P-256 key,
//! extendedKeyUsage timeStamping only and critical, keyUsage digitalSignature and
//! nonRepudiation, issued by a given CA for a given subject and validity.

use der::Encode;
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PublicKeyData, SerialNumber, SigningKey,
};
use ring::rand::SecureRandom;
use time::OffsetDateTime;
use x509_cert::ext::pkix::ExtendedKeyUsage;

use crate::timestamp::{TimestampError, oids};

fn cert_err(e: impl std::fmt::Display) -> TimestampError {
    TimestampError::Certificate(e.to_string())
}

/// A fresh P-256 key for a TSA; `serialize_der()` gives the PKCS#8 that
/// [`crate::timestamp::TsaSigner::new`] takes.
///
/// # Errors
/// `Certificate` if the system's random source fails.
pub fn generate_tsa_key() -> Result<KeyPair, TimestampError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err)
}

/// Issues the TSA certificate for `tsa_key` (a P-256 public key), signed by `issuer`.
///
/// The serial number is 16 random bytes (positive), so re-issuing for the same key never
/// repeats a serial.
///
/// # Errors
/// `Certificate` when the key is not P-256, the validity is empty, or rcgen fails.
pub fn issue_tsa_certificate(
    subject: DistinguishedName,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    tsa_key: &impl PublicKeyData,
    issuer: &Issuer<'_, impl SigningKey>,
) -> Result<rcgen::Certificate, TimestampError> {
    if tsa_key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
        return Err(cert_err("the TSA key must be ECDSA P-256"));
    }
    if not_after <= not_before {
        return Err(cert_err("notAfter must be later than notBefore"));
    }
    let mut serial = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| cert_err("random source failed"))?;
    serial[0] &= 0x7f; // positive without a padding byte
    serial[0] |= 0x01; // and never shorter than 16 bytes

    let mut params = CertificateParams::default();
    params.distinguished_name = subject;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    // rcgen writes extendedKeyUsage non-critical; RFC 3161 section 2.3 requires it critical,
    // so it goes in as a custom extension and `extended_key_usages` stays empty.
    let eku = ExtendedKeyUsage(vec![oids::KP_TIME_STAMPING])
        .to_der()
        .map_err(cert_err)?;
    let arcs: Vec<u64> = oids::EXT_EXTENDED_KEY_USAGE.arcs().map(u64::from).collect();
    let mut ext = CustomExtension::from_oid_content(&arcs, eku);
    ext.set_criticality(true);
    params.custom_extensions = vec![ext];
    params.use_authority_key_identifier_extension = true;
    params.signed_by(tsa_key, issuer).map_err(cert_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::verify::{check_tsa_profile, parse_certificate};
    use rcgen::{BasicConstraints, DnType};
    use time::macros::datetime;

    fn ca() -> (CertificateParams, KeyPair) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, "Test CA");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        (p, key)
    }

    #[test]
    fn tsa_certificate_follows_the_profile() {
        let (ca_params, ca_key) = ca();
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let key = generate_tsa_key().unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "notarium TSA");
        dn.push(DnType::OrganizationName, "notarium");
        let cert = issue_tsa_certificate(
            dn,
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2035-01-01 0:00 UTC),
            &key,
            &issuer,
        )
        .unwrap();
        let parsed = parse_certificate(cert.der()).unwrap();
        check_tsa_profile(&parsed).unwrap();
        let eku = parsed.extended_key_usage().unwrap().unwrap();
        assert!(eku.critical && eku.value.time_stamping);
        let ku = parsed.key_usage().unwrap().unwrap();
        assert!(ku.value.digital_signature() && ku.value.non_repudiation());
        assert!(!ku.value.key_cert_sign());
        assert!(!parsed.basic_constraints().unwrap().unwrap().value.ca);
        assert_eq!(parsed.subject().to_string(), "CN=notarium TSA, O=notarium");
        assert_eq!(parsed.issuer().to_string(), "CN=Test CA");
        assert_eq!(parsed.validity().not_before.timestamp(), 1_735_689_600);
        assert_eq!(parsed.raw_serial().len(), 16);
        assert!(
            parsed
                .verify_signature(Some(ca_key_spki(&ca_key).public_key()))
                .is_ok()
        );
    }

    fn ca_key_spki(key: &KeyPair) -> x509_parser::certificate::X509Certificate<'static> {
        // a self-signed certificate for the CA key, only to get its SubjectPublicKeyInfo
        let (p, _) = ca();
        let der = p.self_signed(key).unwrap().der().to_vec();
        let leaked: &'static [u8] = Box::leak(der.into_boxed_slice());
        parse_certificate(leaked).unwrap()
    }

    #[test]
    fn refuses_other_keys_and_empty_validity() {
        let (ca_params, ca_key) = ca();
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let t = datetime!(2025-01-01 0:00 UTC);
        let dn = DistinguishedName::new();
        assert!(
            issue_tsa_certificate(dn.clone(), t, t + time::Duration::DAY, &ed, &issuer).is_err()
        );
        let key = generate_tsa_key().unwrap();
        assert!(issue_tsa_certificate(dn, t, t, &key, &issuer).is_err());
    }

    #[test]
    fn the_profile_check_refuses_what_openssl_refuses() {
        let (ca_params, ca_key) = ca();
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let key = generate_tsa_key().unwrap();
        let make = |eku: Vec<rcgen::ExtendedKeyUsagePurpose>, custom: Option<(bool, Vec<u8>)>| {
            let mut p = CertificateParams::default();
            p.extended_key_usages = eku;
            if let Some((critical, content)) = custom {
                let arcs: Vec<u64> = oids::EXT_EXTENDED_KEY_USAGE.arcs().map(u64::from).collect();
                let mut ext = CustomExtension::from_oid_content(&arcs, content);
                ext.set_criticality(critical);
                p.custom_extensions = vec![ext];
            }
            p.signed_by(&key, &issuer).unwrap().der().to_vec()
        };
        let ts_only = ExtendedKeyUsage(vec![oids::KP_TIME_STAMPING])
            .to_der()
            .unwrap();
        let ts_and_server = ExtendedKeyUsage(vec![
            oids::KP_TIME_STAMPING,
            der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1"),
        ])
        .to_der()
        .unwrap();
        // rcgen's own EKU is non-critical
        let non_critical = make(vec![rcgen::ExtendedKeyUsagePurpose::TimeStamping], None);
        let err = check_tsa_profile(&parse_certificate(&non_critical).unwrap()).unwrap_err();
        assert!(err.to_string().contains("not critical"), "{err}");
        let extra = make(vec![], Some((true, ts_and_server)));
        let err = check_tsa_profile(&parse_certificate(&extra).unwrap()).unwrap_err();
        assert!(err.to_string().contains("timeStamping only"), "{err}");
        let none = make(vec![], None);
        assert!(check_tsa_profile(&parse_certificate(&none).unwrap()).is_err());
        let good = make(vec![], Some((true, ts_only)));
        check_tsa_profile(&parse_certificate(&good).unwrap()).unwrap();
    }
}
