//! Offline verification of RFC 3161 tokens, ours or any TSA's: the CMS signature over the
//! original signed-attribute bytes, messageDigest, ESSCertID(v2), the signer's TSA profile,
//! a certificate path to a given root valid at genTime, and the message imprint.
//!
//! The token is walked as raw DER so that every hash and signature is checked over the bytes
//! the TSA produced, never over a re-encoding (der's SET OF decoding re-sorts).

use der::asn1::{Int, ObjectIdentifier};
use der::{Decode, Encode, Tag};
use ring::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::ext::pkix::name::GeneralName;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::timestamp::asn1::{IssuerSerial, SigningCertificate, SigningCertificateV2, TstInfo};
use crate::timestamp::der_walk::{Tlv, Walker};
use crate::timestamp::hash::digest_by_oid;
use crate::timestamp::response::Accuracy;
use crate::timestamp::status::{STATUS_GRANTED, STATUS_GRANTED_WITH_MODS, TimeStampResp};
use crate::timestamp::{FailureInfo, HashAlgorithm, TimeStampRequest, TimestampError, oids};

/// Largest token or response we read.
pub const MAX_TOKEN_LEN: usize = 256 * 1024;
/// Most certificates we read from one token.
const MAX_TOKEN_CERTS: usize = 32;
/// Longest path from the signer to a root, root included.
const MAX_CHAIN_LEN: usize = 8;
/// Most certificate signatures checked while building one path (stops pathological pools).
const MAX_PATH_SIGNATURE_CHECKS: usize = 256;

/// Roots a verifier trusts, plus untrusted intermediates (and the TSA certificate itself for
/// tokens requested without certReq), all DER.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    roots: Vec<Vec<u8>>,
    intermediates: Vec<Vec<u8>>,
}

/// Reads every CERTIFICATE block of a PEM buffer as DER, checking each parses.
fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, TimestampError> {
    let mut out = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| TimestampError::TrustStore(format!("PEM: {e}")))?;
        if block.label == "CERTIFICATE" {
            parse_certificate(&block.contents)
                .map_err(|e| TimestampError::TrustStore(e.to_string()))?;
            out.push(block.contents);
        }
    }
    if out.is_empty() {
        return Err(TimestampError::TrustStore("no CERTIFICATE in PEM".into()));
    }
    Ok(out)
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the DER certificate `der`.
    pub fn add_root_der(&mut self, der: Vec<u8>) -> Result<(), TimestampError> {
        parse_certificate(&der).map_err(|e| TimestampError::TrustStore(e.to_string()))?;
        self.roots.push(der);
        Ok(())
    }

    /// Trusts every certificate of a PEM buffer; returns how many.
    pub fn add_roots_pem(&mut self, pem: &[u8]) -> Result<usize, TimestampError> {
        let certs = pem_certificates(pem)?;
        let n = certs.len();
        self.roots.extend(certs);
        Ok(n)
    }

    /// Offers the DER certificate `der` for path building, without trusting it.
    pub fn add_intermediate_der(&mut self, der: Vec<u8>) -> Result<(), TimestampError> {
        parse_certificate(&der).map_err(|e| TimestampError::TrustStore(e.to_string()))?;
        self.intermediates.push(der);
        Ok(())
    }

    /// Offers every certificate of a PEM buffer for path building; returns how many.
    pub fn add_intermediates_pem(&mut self, pem: &[u8]) -> Result<usize, TimestampError> {
        let certs = pem_certificates(pem)?;
        let n = certs.len();
        self.intermediates.extend(certs);
        Ok(n)
    }
}

/// What a verified token certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// When the TSA says the imprint existed.
    pub gen_time: OffsetDateTime,
    /// The serial number's two's-complement bytes (big-endian).
    pub serial: Vec<u8>,
    /// The TSA policy.
    pub policy: ObjectIdentifier,
    /// Hash algorithm of the imprint.
    pub hash_algorithm: HashAlgorithm,
    /// The time-stamped digest.
    pub message_imprint: Vec<u8>,
    /// The nonce's two's-complement bytes, if the token has one.
    pub nonce: Option<Vec<u8>>,
    /// The stated accuracy of genTime, if any (seconds saturate at `u32::MAX`).
    pub accuracy: Option<Accuracy>,
    /// The signer certificate's subject, RFC 4514 style.
    pub signer_subject: String,
    /// The signer certificate (DER).
    pub signer_certificate: Vec<u8>,
}

impl VerifiedToken {
    /// The serial number as lowercase hex.
    pub fn serial_hex(&self) -> String {
        hex::encode(&self.serial)
    }
}

fn malformed(what: impl Into<String>) -> TimestampError {
    TimestampError::MalformedToken(what.into())
}

fn context(number: u8, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: der::TagNumber::new(number),
    }
}

/// The parts of a `TimeStampToken` that verification needs, as raw bytes.
struct RawToken<'a> {
    tst_info: &'a [u8],
    certificates: Vec<&'a [u8]>,
    sid: Tlv<'a>,
    digest_alg: AlgorithmIdentifierOwned,
    /// The signed attributes re-tagged as SET (0x31), exactly as signed.
    signed_attrs: Vec<u8>,
    signature_alg: AlgorithmIdentifierOwned,
    signature: &'a [u8],
}

fn parse_token(token: &[u8]) -> Result<RawToken<'_>, TimestampError> {
    // ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }
    let mut top = Walker::new(token)?;
    let ci = top.expect(Tag::Sequence, "ContentInfo")?;
    top.finish("ContentInfo")?;
    let mut ci = Walker::new(ci.value)?;
    let ct = ci.expect(Tag::ObjectIdentifier, "contentType")?;
    if ObjectIdentifier::from_der(ct.raw).map_err(|e| malformed(e.to_string()))?
        != oids::SIGNED_DATA
    {
        return Err(malformed("content type is not signedData"));
    }
    let content = ci.expect(context(0, true), "ContentInfo content")?;
    ci.finish("ContentInfo")?;
    let mut content = Walker::new(content.value)?;
    let sd = content.expect(Tag::Sequence, "SignedData")?;
    content.finish("SignedData")?;

    let mut sd = Walker::new(sd.value)?;
    sd.expect(Tag::Integer, "SignedData version")?;
    sd.expect(Tag::Set, "digestAlgorithms")?;
    let encap = sd.expect(Tag::Sequence, "encapContentInfo")?;
    let mut certificates = Vec::new();
    let mut next = sd.next("SignedData")?;
    if next.tag == context(0, true) {
        let mut certs = Walker::new(next.value)?;
        while !certs.is_finished() {
            let c = certs.next("certificate")?;
            // other certificate formats (attribute certificates…) play no part here
            if c.tag == Tag::Sequence {
                if certificates.len() >= MAX_TOKEN_CERTS {
                    return Err(malformed("too many certificates"));
                }
                certificates.push(c.raw);
            }
        }
        next = sd.next("SignedData")?;
    }
    if next.tag == context(1, true) {
        next = sd.next("SignedData")?;
    }
    if next.tag != Tag::Set {
        return Err(malformed("signerInfos: expected SET"));
    }
    sd.finish("SignedData")?;

    let mut encap = Walker::new(encap.value)?;
    let ect = encap.expect(Tag::ObjectIdentifier, "eContentType")?;
    if ObjectIdentifier::from_der(ect.raw).map_err(|e| malformed(e.to_string()))? != oids::TST_INFO
    {
        return Err(malformed("eContentType is not id-ct-TSTInfo"));
    }
    let econtent = encap.expect(context(0, true), "eContent")?;
    encap.finish("encapContentInfo")?;
    let mut econtent = Walker::new(econtent.value)?;
    let tst_info = econtent.expect(Tag::OctetString, "eContent")?.value;
    econtent.finish("eContent")?;

    let mut signers = Walker::new(next.value)?;
    let si = signers.expect(Tag::Sequence, "SignerInfo")?;
    if !signers.is_finished() {
        return Err(malformed("a time-stamp token has exactly one SignerInfo"));
    }
    let mut si = Walker::new(si.value)?;
    si.expect(Tag::Integer, "SignerInfo version")?;
    let sid = si.next("sid")?;
    let digest_alg =
        AlgorithmIdentifierOwned::from_der(si.expect(Tag::Sequence, "digestAlgorithm")?.raw)
            .map_err(|e| malformed(format!("digestAlgorithm: {e}")))?;
    let attrs = si.next("signedAttrs")?;
    if attrs.tag != context(0, true) {
        return Err(TimestampError::SignedAttribute("set is missing".into()));
    }
    // RFC 5652 section 5.4: signed over the EXPLICIT SET OF encoding, i.e. tag 0x31.
    let mut signed_attrs = attrs.raw.to_vec();
    if let Some(first) = signed_attrs.first_mut() {
        *first = 0x31;
    }
    let signature_alg =
        AlgorithmIdentifierOwned::from_der(si.expect(Tag::Sequence, "signatureAlgorithm")?.raw)
            .map_err(|e| malformed(format!("signatureAlgorithm: {e}")))?;
    let signature = si.expect(Tag::OctetString, "signature")?.value;
    if !si.is_finished() {
        si.expect(context(1, true), "unsignedAttrs")?;
    }
    si.finish("SignerInfo")?;
    Ok(RawToken {
        tst_info,
        certificates,
        sid,
        digest_alg,
        signed_attrs,
        signature_alg,
        signature,
    })
}

/// Parses a whole DER certificate (no trailing bytes).
pub(crate) fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, TimestampError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(TimestampError::MalformedCertificate(
            "trailing data after certificate".into(),
        )),
        Err(e) => Err(TimestampError::MalformedCertificate(e.to_string())),
    }
}

/// Refuses certificates with a critical extension we cannot interpret (RFC 5280 4.2).
fn check_critical_extensions(cert: &X509Certificate<'_>) -> Result<(), TimestampError> {
    for ext in cert.extensions() {
        if ext.critical
            && matches!(
                ext.parsed_extension(),
                ParsedExtension::UnsupportedExtension { .. } | ParsedExtension::ParseError { .. }
            )
        {
            return Err(TimestampError::MalformedCertificate(format!(
                "{}: unsupported critical extension {}",
                cert.subject(),
                ext.oid.to_id_string()
            )));
        }
    }
    Ok(())
}

/// The TSA certificate profile of RFC 3161 section 2.3, as OpenSSL enforces it: a critical
/// extendedKeyUsage holding timeStamping only, and a keyUsage (if any) that allows
/// digitalSignature or nonRepudiation.
pub(crate) fn check_tsa_profile(cert: &X509Certificate<'_>) -> Result<(), TimestampError> {
    let not_tsa = |why: &str| TimestampError::NotTsaCertificate(why.into());
    let eku = cert
        .extended_key_usage()
        .map_err(|e| not_tsa(&format!("extendedKeyUsage: {e}")))?
        .ok_or_else(|| not_tsa("no extendedKeyUsage"))?;
    if !eku.critical {
        return Err(not_tsa("extendedKeyUsage is not critical"));
    }
    let e = eku.value;
    let others = e.any
        || e.server_auth
        || e.client_auth
        || e.code_signing
        || e.email_protection
        || e.ocsp_signing
        || !e.other.is_empty();
    if !e.time_stamping || others {
        return Err(not_tsa("extendedKeyUsage must be timeStamping only"));
    }
    let ku = cert
        .key_usage()
        .map_err(|e| not_tsa(&format!("keyUsage: {e}")))?;
    if let Some(ku) = ku
        && !(ku.value.digital_signature() || ku.value.non_repudiation())
    {
        return Err(not_tsa(
            "keyUsage allows neither digitalSignature nor nonRepudiation",
        ));
    }
    check_critical_extensions(cert)
}

fn valid_at(cert: &X509Certificate<'_>, t: OffsetDateTime) -> Result<(), TimestampError> {
    let secs = t.unix_timestamp();
    let v = cert.validity();
    if secs < v.not_before.timestamp() || secs > v.not_after.timestamp() {
        return Err(TimestampError::CertificateExpired {
            subject: cert.subject().to_string(),
            gen_time: t.to_string(),
        });
    }
    Ok(())
}

/// Whether `issuer` may issue certificates: basicConstraints cA and, if keyUsage is present,
/// keyCertSign. A trust root without basicConstraints (v1 style) is accepted.
fn may_issue(issuer: &X509Certificate<'_>, is_root: bool) -> Result<(), String> {
    match issuer.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(None) if is_root => {}
        Ok(_) => return Err(format!("{} is not a CA", issuer.subject())),
        Err(e) => return Err(format!("{}: basicConstraints: {e}", issuer.subject())),
    }
    match issuer.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => {
            Err(format!("{} may not sign certificates", issuer.subject()))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{}: keyUsage: {e}", issuer.subject())),
    }
}

/// sha1WithRSAEncryption and its old alias: no longer acceptable for certificate signatures.
fn is_sha1_signature(cert: &X509Certificate<'_>) -> bool {
    matches!(
        cert.signature_algorithm.algorithm.to_id_string().as_str(),
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" | "1.2.840.10045.4.1"
    )
}

struct PathBuilder<'c, 'd> {
    pool: &'c [X509Certificate<'d>],
    roots: &'c [X509Certificate<'d>],
    gen_time: OffsetDateTime,
    checks: usize,
    last_error: String,
}

impl<'c, 'd> PathBuilder<'c, 'd> {
    /// Whether `issuer` signed `child` (counting the check against the budget).
    fn signed_by(&mut self, child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
        if child.issuer().as_raw() != issuer.subject().as_raw() || is_sha1_signature(child) {
            return false;
        }
        self.checks += 1;
        child.verify_signature(Some(issuer.public_key())).is_ok()
    }

    /// Finds a path from `cert` (already checked) to a root; `path` holds the certificates
    /// above the signer so far, as indices into the pool.
    fn extend(&mut self, cert: &X509Certificate<'_>, path: &mut Vec<usize>) -> bool {
        if self.checks > MAX_PATH_SIGNATURE_CHECKS {
            self.last_error = "too many candidate certificates".into();
            return false;
        }
        if self.roots.iter().any(|r| r.as_raw() == cert.as_raw()) {
            return true;
        }
        for root in self.roots {
            if self.signed_by(cert, root) {
                match may_issue(root, true)
                    .map_err(|e| e.to_string())
                    .and_then(|()| valid_at(root, self.gen_time).map_err(|e| e.to_string()))
                {
                    Ok(()) => return true,
                    Err(e) => self.last_error = e,
                }
            }
        }
        if path.len() + 2 > MAX_CHAIN_LEN {
            self.last_error = "path too long".into();
            return false;
        }
        let pool = self.pool;
        for (i, cand) in pool.iter().enumerate() {
            if path.contains(&i) || cand.as_raw() == cert.as_raw() {
                continue;
            }
            if !self.signed_by(cert, cand) {
                continue;
            }
            let usable = may_issue(cand, false)
                .and_then(|()| valid_at(cand, self.gen_time).map_err(|e| e.to_string()))
                .and_then(|()| check_critical_extensions(cand).map_err(|e| e.to_string()));
            if let Err(e) = usable {
                self.last_error = e;
                continue;
            }
            path.push(i);
            if self.extend(cand, path) {
                return true;
            }
            path.pop();
        }
        false
    }
}

/// The ring algorithm for a SignerInfo signature: the hash comes from the signature algorithm
/// (or from the digest algorithm when the signer wrote a bare key algorithm there).
fn signature_algorithm(
    sig_alg: &ObjectIdentifier,
    digest_alg: &ObjectIdentifier,
    key: &SubjectPublicKeyInfo<'_>,
) -> Result<&'static dyn VerificationAlgorithm, TimestampError> {
    let unsupported = || {
        TimestampError::UnsupportedAlgorithm(format!(
            "signature {sig_alg} with key {}",
            key.algorithm.algorithm.to_id_string()
        ))
    };
    let digest = HashAlgorithm::from_oid(digest_alg);
    let key_alg = key.algorithm.algorithm.to_id_string();
    if key_alg == oids::EC_PUBLIC_KEY.to_string() {
        let hash = match *sig_alg {
            oids::ECDSA_WITH_SHA256 => HashAlgorithm::Sha256,
            oids::ECDSA_WITH_SHA384 => HashAlgorithm::Sha384,
            oids::ECDSA_WITH_SHA512 => HashAlgorithm::Sha512,
            oids::EC_PUBLIC_KEY => digest.ok_or_else(unsupported)?,
            _ => return Err(unsupported()),
        };
        let curve = key
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string())
            .unwrap_or_default();
        let p256 = curve == oids::CURVE_P256.to_string();
        let p384 = curve == oids::CURVE_P384.to_string();
        return match (p256, p384, hash) {
            (true, _, HashAlgorithm::Sha256) => Ok(&sig::ECDSA_P256_SHA256_ASN1),
            (true, _, HashAlgorithm::Sha384) => Ok(&sig::ECDSA_P256_SHA384_ASN1),
            (_, true, HashAlgorithm::Sha256) => Ok(&sig::ECDSA_P384_SHA256_ASN1),
            (_, true, HashAlgorithm::Sha384) => Ok(&sig::ECDSA_P384_SHA384_ASN1),
            _ => Err(unsupported()),
        };
    }
    if key_alg == oids::RSA_ENCRYPTION.to_string() {
        let hash = match *sig_alg {
            oids::SHA256_WITH_RSA => HashAlgorithm::Sha256,
            oids::SHA384_WITH_RSA => HashAlgorithm::Sha384,
            oids::SHA512_WITH_RSA => HashAlgorithm::Sha512,
            oids::RSA_ENCRYPTION => digest.ok_or_else(unsupported)?,
            _ => return Err(unsupported()),
        };
        return Ok(match hash {
            HashAlgorithm::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            HashAlgorithm::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            HashAlgorithm::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        });
    }
    Err(unsupported())
}

/// Strips the sign-padding zero bytes so integers compare by value.
fn trim_int(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes.get(start..).unwrap_or(bytes)
}

/// Whether the signer identifier names `cert`.
fn sid_matches(sid: &Tlv<'_>, cert: &X509Certificate<'_>) -> bool {
    if sid.tag == Tag::Sequence {
        // IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }
        let Ok(mut w) = Walker::new(sid.value) else {
            return false;
        };
        let (Ok(issuer), Ok(serial)) = (
            w.expect(Tag::Sequence, "issuer"),
            w.expect(Tag::Integer, "serialNumber"),
        ) else {
            return false;
        };
        return w.is_finished()
            && issuer.raw == cert.issuer().as_raw()
            && trim_int(serial.value) == trim_int(cert.raw_serial());
    }
    if sid.tag == context(0, false) {
        return cert.extensions().iter().any(|e| {
            matches!(e.parsed_extension(),
                ParsedExtension::SubjectKeyIdentifier(k) if k.0 == sid.value)
        });
    }
    false
}

/// The only value of attribute `oid`; an error if it is absent, repeated or multi-valued.
fn single_value<'a>(
    attrs: &'a Attributes,
    oid: ObjectIdentifier,
    name: &str,
) -> Result<Option<&'a der::Any>, TimestampError> {
    let mut found: Vec<&Attribute> = attrs.iter().filter(|a| a.oid == oid).collect();
    match (found.pop(), found.is_empty()) {
        (None, _) => Ok(None),
        (Some(a), true) if a.values.len() == 1 => Ok(a.values.get(0)),
        _ => Err(TimestampError::SignedAttribute(format!(
            "{name} must occur once with one value"
        ))),
    }
}

/// Checks an `IssuerSerial` of an ESSCertID against the signer certificate.
fn check_issuer_serial(
    is: &IssuerSerial,
    cert: &X509Certificate<'_>,
) -> Result<(), TimestampError> {
    let issuer_ok = is.issuer.iter().any(|gn| match gn {
        GeneralName::DirectoryName(n) => n
            .to_der()
            .is_ok_and(|d| d.as_slice() == cert.issuer().as_raw()),
        _ => false,
    });
    if !issuer_ok {
        return Err(TimestampError::EssCertIdMismatch("issuer differs".into()));
    }
    let serial: &Int = &is.serial_number;
    if trim_int(serial.as_bytes()) != trim_int(cert.raw_serial()) {
        return Err(TimestampError::EssCertIdMismatch("serial differs".into()));
    }
    Ok(())
}

/// Checks signingCertificateV2 (or, failing that, signingCertificate) against the signer.
fn check_signing_certificate(
    attrs: &Attributes,
    cert_der: &[u8],
    cert: &X509Certificate<'_>,
) -> Result<(), TimestampError> {
    let bad = |e: der::Error| TimestampError::SignedAttribute(format!("signingCertificate: {e}"));
    if let Some(v) = single_value(
        attrs,
        oids::ATTR_SIGNING_CERTIFICATE_V2,
        "signingCertificateV2",
    )? {
        let sc: SigningCertificateV2 = v.decode_as().map_err(bad)?;
        let id = sc
            .certs
            .first()
            .ok_or_else(|| TimestampError::SignedAttribute("empty signingCertificateV2".into()))?;
        let hash = digest_by_oid(&id.hash_oid(), cert_der).ok_or_else(|| {
            TimestampError::UnsupportedAlgorithm(format!("ESSCertIDv2 hash {}", id.hash_oid()))
        })?;
        if id.cert_hash.as_bytes() != hash.as_slice() {
            return Err(TimestampError::EssCertIdMismatch(
                "certificate hash differs".into(),
            ));
        }
        return id
            .issuer_serial
            .as_ref()
            .map_or(Ok(()), |is| check_issuer_serial(is, cert));
    }
    if let Some(v) = single_value(attrs, oids::ATTR_SIGNING_CERTIFICATE, "signingCertificate")? {
        let sc: SigningCertificate = v.decode_as().map_err(bad)?;
        let id = sc
            .certs
            .first()
            .ok_or_else(|| TimestampError::SignedAttribute("empty signingCertificate".into()))?;
        let hash = digest_by_oid(&oids::SHA1, cert_der).unwrap_or_default();
        if id.cert_hash.as_bytes() != hash.as_slice() {
            return Err(TimestampError::EssCertIdMismatch(
                "certificate hash differs".into(),
            ));
        }
        return id
            .issuer_serial
            .as_ref()
            .map_or(Ok(()), |is| check_issuer_serial(is, cert));
    }
    Err(TimestampError::SignedAttribute(
        "neither signingCertificateV2 nor signingCertificate is present".into(),
    ))
}

/// Verifies a DER `TimeStampToken` against `trust` and the expected imprint.
///
/// Checks, in order: structure, signed attributes (contentType, messageDigest over the
/// eContent), the signer certificate (found by sid among the token's certificates and the
/// store's), ESSCertID(v2), the CMS signature over the original signed-attribute bytes, the
/// TSA profile, the imprint, the TSA name, and a path to a trusted root valid at genTime.
///
/// # Errors
/// One [`TimestampError`] variant per failed check.
pub fn verify_token(
    token: &[u8],
    hash_algorithm: HashAlgorithm,
    digest: &[u8],
    trust: &TrustStore,
) -> Result<VerifiedToken, TimestampError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TimestampError::TokenTooLarge(token.len()));
    }
    let raw = parse_token(token)?;
    let attrs = Attributes::from_der(&raw.signed_attrs)
        .map_err(|e| TimestampError::SignedAttribute(format!("unreadable: {e}")))?;

    // contentType must repeat eContentType (RFC 5652 section 11.1).
    let ct = single_value(&attrs, oids::ATTR_CONTENT_TYPE, "contentType")?
        .ok_or_else(|| TimestampError::SignedAttribute("contentType is missing".into()))?;
    if ct.decode_as::<ObjectIdentifier>().ok() != Some(oids::TST_INFO) {
        return Err(TimestampError::SignedAttribute(
            "contentType is not id-ct-TSTInfo".into(),
        ));
    }
    let md = single_value(&attrs, oids::ATTR_MESSAGE_DIGEST, "messageDigest")?
        .ok_or_else(|| TimestampError::SignedAttribute("messageDigest is missing".into()))?;
    let md: der::asn1::OctetString = md
        .decode_as()
        .map_err(|e| TimestampError::SignedAttribute(format!("messageDigest: {e}")))?;
    let digest_alg = HashAlgorithm::from_oid(&raw.digest_alg.oid).ok_or_else(|| {
        TimestampError::UnsupportedAlgorithm(format!("digest {}", raw.digest_alg.oid))
    })?;
    if md.as_bytes() != digest_alg.digest(raw.tst_info).as_slice() {
        return Err(TimestampError::MessageDigestMismatch);
    }

    // Every certificate on offer, parsed once.
    let offered: Vec<&[u8]> = raw
        .certificates
        .iter()
        .copied()
        .chain(trust.intermediates.iter().map(Vec::as_slice))
        .collect();
    let mut pool = Vec::with_capacity(offered.len());
    for der in &offered {
        pool.push(parse_certificate(der)?);
    }
    let roots = trust
        .roots
        .iter()
        .map(|r| parse_certificate(r))
        .collect::<Result<Vec<_>, _>>()?;

    // The signer is the certificate the sid names and the ESSCertID(v2) pins; a decoy with
    // the same issuer and serial must not hide the real one.
    let mut first_error = None;
    let mut signer = None;
    for c in pool.iter().chain(roots.iter()) {
        if !sid_matches(&raw.sid, c) {
            continue;
        }
        match check_signing_certificate(&attrs, c.as_raw(), c) {
            Ok(()) => {
                signer = Some(c);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let signer = match (signer, first_error) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(TimestampError::SignerCertificateNotFound),
    };
    let signer_der = signer.as_raw();

    let alg = signature_algorithm(
        &raw.signature_alg.oid,
        &raw.digest_alg.oid,
        signer.public_key(),
    )?;
    UnparsedPublicKey::new(alg, &signer.public_key().subject_public_key.data)
        .verify(&raw.signed_attrs, raw.signature)
        .map_err(|_| TimestampError::BadSignature)?;

    check_tsa_profile(signer)?;

    let tst = TstInfo::from_der(raw.tst_info).map_err(|e| malformed(format!("TSTInfo: {e}")))?;
    let imprint_alg =
        HashAlgorithm::from_oid(&tst.message_imprint.hash_algorithm.oid).ok_or_else(|| {
            TimestampError::UnsupportedAlgorithm(format!(
                "imprint hash {}",
                tst.message_imprint.hash_algorithm.oid
            ))
        })?;
    if imprint_alg != hash_algorithm || tst.message_imprint.hashed_message.as_bytes() != digest {
        return Err(TimestampError::ImprintMismatch);
    }
    if let Some(GeneralName::DirectoryName(name)) = &tst.tsa
        && name.to_der()?.as_slice() != signer.subject().as_raw()
    {
        return Err(TimestampError::TsaNameMismatch);
    }

    let gen_time = tst.gen_time.datetime;
    valid_at(signer, gen_time)?;
    let mut builder = PathBuilder {
        pool: &pool,
        roots: &roots,
        gen_time,
        checks: 0,
        last_error: "no issuer found".into(),
    };
    if !builder.extend(signer, &mut Vec::new()) {
        return Err(TimestampError::UntrustedChain(builder.last_error));
    }

    let accuracy = tst.accuracy.map(|a| Accuracy {
        seconds: a
            .seconds
            .map_or(0, |s| u32::try_from(s).unwrap_or(u32::MAX)),
        millis: a.millis.map_or(0, |m| u16::try_from(m).unwrap_or(0)),
        micros: a.micros.map_or(0, |m| u16::try_from(m).unwrap_or(0)),
    });
    Ok(VerifiedToken {
        gen_time,
        serial: tst.serial_number.as_bytes().to_vec(),
        policy: tst.policy,
        hash_algorithm: imprint_alg,
        message_imprint: tst.message_imprint.hashed_message.as_bytes().to_vec(),
        nonce: tst.nonce.map(|n| n.as_bytes().to_vec()),
        accuracy,
        signer_subject: signer.subject().to_string(),
        signer_certificate: signer_der.to_vec(),
    })
}

/// The token of a granted DER `TimeStampResp`.
fn granted_token(response: &[u8]) -> Result<Vec<u8>, TimestampError> {
    if response.len() > MAX_TOKEN_LEN {
        return Err(TimestampError::TokenTooLarge(response.len()));
    }
    let resp =
        TimeStampResp::from_der(response).map_err(|e| malformed(format!("TimeStampResp: {e}")))?;
    let status = resp.status.status;
    if status != STATUS_GRANTED && status != STATUS_GRANTED_WITH_MODS {
        let mut text = resp.status.status_string.unwrap_or_default().join("; ");
        if let Some(f) = resp
            .status
            .fail_info
            .as_ref()
            .and_then(FailureInfo::from_bit_string)
        {
            text = format!("{text} [{f:?}]");
        }
        return Err(TimestampError::NotGranted { status, text });
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| malformed("granted response without a token"))?;
    Ok(token.to_der()?)
}

/// Verifies a DER `TimeStampResp`: granted, and its token valid as in [`verify_token`].
///
/// # Errors
/// `NotGranted` for a rejection, else as [`verify_token`].
pub fn verify_response(
    response: &[u8],
    hash_algorithm: HashAlgorithm,
    digest: &[u8],
    trust: &TrustStore,
) -> Result<VerifiedToken, TimestampError> {
    verify_token(&granted_token(response)?, hash_algorithm, digest, trust)
}

/// Verifies a DER `TimeStampResp` as the answer to `request`: as [`verify_response`], and the
/// nonce and (if requested) policy match the request's.
///
/// # Errors
/// `NonceMismatch`, `UnacceptedPolicy`, else as [`verify_response`].
pub fn verify_response_for_request(
    response: &[u8],
    request: &TimeStampRequest,
    trust: &TrustStore,
) -> Result<VerifiedToken, TimestampError> {
    let v = verify_response(
        response,
        request.hash_algorithm,
        &request.message_imprint,
        trust,
    )?;
    if v.nonce.as_deref() != request.nonce_bytes() {
        return Err(TimestampError::NonceMismatch);
    }
    if let Some(p) = request.req_policy
        && p != v.policy
    {
        return Err(TimestampError::UnacceptedPolicy(v.policy.to_string()));
    }
    Ok(v)
}

impl From<crate::timestamp::der_walk::DerError> for TimestampError {
    fn from(e: crate::timestamp::der_walk::DerError) -> Self {
        TimestampError::MalformedToken(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::testing::{TestPki, params, request};
    use proptest::prelude::*;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    fn token_and_digest(pki: &TestPki) -> (Vec<u8>, Vec<u8>) {
        let (req, digest) = request();
        (pki.signer.token(&req, &params(9)).unwrap(), digest)
    }

    fn position(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).position(|w| w == needle).unwrap()
    }

    fn verify(pki: &TestPki, token: &[u8], digest: &[u8]) -> Result<VerifiedToken, TimestampError> {
        verify_token(token, HashAlgorithm::Sha256, digest, &pki.trust())
    }

    #[test]
    fn a_good_token_verifies() {
        let pki = TestPki::new();
        let (token, digest) = token_and_digest(&pki);
        let v = verify(&pki, &token, &digest).unwrap();
        assert_eq!(v.serial, [9]);
        assert_eq!(v.message_imprint, digest);
        assert_eq!(v.hash_algorithm, HashAlgorithm::Sha256);
    }

    #[test]
    fn tampering_is_caught_with_the_right_error() {
        let pki = TestPki::new();
        let (token, digest) = token_and_digest(&pki);
        let raw = parse_token(&token).unwrap();

        // a bit of the signature
        let mut t = token.clone();
        let at = position(&token, raw.signature) + raw.signature.len() - 1;
        t[at] ^= 1;
        assert_eq!(
            verify(&pki, &t, &digest).unwrap_err(),
            TimestampError::BadSignature
        );

        // a bit of the TSTInfo (inside the serial number's byte)
        let mut t = token.clone();
        let at = position(&token, raw.tst_info) + raw.tst_info.len() - 1;
        t[at] ^= 1;
        assert_eq!(
            verify(&pki, &t, &digest).unwrap_err(),
            TimestampError::MessageDigestMismatch
        );

        // the ESSCertIDv2 certificate hash
        let mut t = token.clone();
        let at = position(
            &token,
            &HashAlgorithm::Sha256.digest(pki.signer.certificate_der()),
        );
        t[at] ^= 1;
        assert!(matches!(
            verify(&pki, &t, &digest).unwrap_err(),
            TimestampError::EssCertIdMismatch(_)
        ));

        // the messageDigest attribute
        let mut t = token.clone();
        let at = position(&token, &HashAlgorithm::Sha256.digest(raw.tst_info));
        t[at] ^= 1;
        assert_eq!(
            verify(&pki, &t, &digest).unwrap_err(),
            TimestampError::MessageDigestMismatch
        );

        // another document
        let other = HashAlgorithm::Sha256.digest(b"other");
        assert_eq!(
            verify(&pki, &token, &other).unwrap_err(),
            TimestampError::ImprintMismatch
        );
        assert_eq!(
            verify_token(&token, HashAlgorithm::Sha512, &digest, &pki.trust()).unwrap_err(),
            TimestampError::ImprintMismatch
        );
    }

    #[test]
    fn every_single_bit_flip_in_the_signed_parts_fails() {
        let pki = TestPki::new();
        let (token, digest) = token_and_digest(&pki);
        let raw = parse_token(&token).unwrap();
        let attrs = &raw.signed_attrs[1..];
        let regions = [
            (position(&token, raw.tst_info), raw.tst_info.len()),
            (position(&token, attrs), attrs.len()),
            (position(&token, raw.signature), raw.signature.len()),
        ];
        for (start, len) in regions {
            for i in start..start + len {
                let mut t = token.clone();
                t[i] ^= 0x04;
                assert!(verify(&pki, &t, &digest).is_err(), "flip at {i} verified");
            }
        }
    }

    #[test]
    fn trust_decides_and_time_is_checked_at_gen_time() {
        let pki = TestPki::new();
        let stranger = TestPki::new();
        let (token, digest) = token_and_digest(&pki);
        // a stranger's root
        assert!(matches!(
            verify(&stranger, &token, &digest).unwrap_err(),
            TimestampError::UntrustedChain(_)
        ));
        // trusting the issuing CA, or the TSA certificate itself, is explicit trust
        for anchor in [
            pki.issuing_der.clone(),
            pki.signer.certificate_der().to_vec(),
        ] {
            let mut t = TrustStore::new();
            t.add_root_der(anchor).unwrap();
            verify_token(&token, HashAlgorithm::Sha256, &digest, &t).unwrap();
        }
        // an empty store trusts nothing
        assert!(matches!(
            verify_token(&token, HashAlgorithm::Sha256, &digest, &TrustStore::new()),
            Err(TimestampError::UntrustedChain(_))
        ));
        // genTime after the TSA certificate's notAfter (2030)
        let (req, digest) = request();
        let mut p = params(10);
        p.gen_time = time::macros::datetime!(2031-01-01 0:00 UTC);
        let late = pki.signer.token(&req, &p).unwrap();
        assert!(matches!(
            verify(&pki, &late, &digest).unwrap_err(),
            TimestampError::CertificateExpired { .. }
        ));
    }

    #[test]
    fn unsorted_signed_attributes_verify_over_their_original_bytes() {
        // A token as a careless TSA might write it: signed attributes in reverse order.
        let pki = TestPki::new();
        let (token, digest) = token_and_digest(&pki);
        let raw = parse_token(&token).unwrap();
        let mut elems = Vec::new();
        let len_byte = raw.signed_attrs[1];
        let header = if len_byte < 0x80 {
            2
        } else {
            2 + usize::from(len_byte & 0x7f)
        };
        let mut w = Walker::new(&raw.signed_attrs[header..]).unwrap();
        while !w.is_finished() {
            elems.push(w.next("attr").unwrap().raw.to_vec());
        }
        elems.reverse();
        let mut unsorted = raw.signed_attrs[..header].to_vec();
        unsorted.extend(elems.concat());
        assert_ne!(unsorted, raw.signed_attrs);
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &pki.tsa_key_pkcs8,
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        // keep the lengths so the surrounding DER needs no change
        let sig = loop {
            let s = key
                .sign(&ring::rand::SystemRandom::new(), &unsorted)
                .unwrap();
            if s.as_ref().len() == raw.signature.len() {
                break s;
            }
        };
        let mut t = token.clone();
        let a = position(&token, &raw.signed_attrs[1..]);
        t[a..a + unsorted.len() - 1].copy_from_slice(&unsorted[1..]);
        let s = position(&token, raw.signature);
        t[s..s + raw.signature.len()].copy_from_slice(sig.as_ref());
        verify(&pki, &t, &digest).unwrap();
        // and a signature over the sorted re-encoding does not pass for these bytes
        let mut t2 = t.clone();
        let s2 = position(&t2, sig.as_ref());
        t2[s2..s2 + raw.signature.len()].copy_from_slice(raw.signature);
        assert_eq!(
            verify(&pki, &t2, &digest).unwrap_err(),
            TimestampError::BadSignature
        );
    }

    #[test]
    fn responses_and_requests_are_matched() {
        let pki = TestPki::new();
        let (req, _) = request();
        let resp = pki.signer.grant(&req, &params(3)).unwrap();
        verify_response_for_request(&resp, &req, &pki.trust()).unwrap();
        let mut other = req.clone();
        other.nonce = Some(Int::new(&[0x12, 0x34, 0x57]).unwrap());
        assert_eq!(
            verify_response_for_request(&resp, &other, &pki.trust()).unwrap_err(),
            TimestampError::NonceMismatch
        );
        other.nonce = None;
        assert_eq!(
            verify_response_for_request(&resp, &other, &pki.trust()).unwrap_err(),
            TimestampError::NonceMismatch
        );
    }

    #[test]
    fn structure_errors_are_reported_not_panicked() {
        let pki = TestPki::new();
        let (token, digest) = token_and_digest(&pki);
        for cut in [0, 1, 10, token.len() / 2, token.len() - 1] {
            assert!(matches!(
                verify(&pki, &token[..cut], &digest),
                Err(TimestampError::MalformedToken(_))
            ));
        }
        assert!(matches!(
            verify(&pki, &vec![0u8; MAX_TOKEN_LEN + 1], &digest),
            Err(TimestampError::TokenTooLarge(_))
        ));
        let mut trailing = token.clone();
        trailing.push(0);
        assert!(verify(&pki, &trailing, &digest).is_err());
    }

    #[test]
    fn pem_trust_stores_read_certificates() {
        use base64::Engine;
        let pki = TestPki::new();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&pki.root_der);
        let pem = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        let mut t = TrustStore::new();
        assert_eq!(t.add_roots_pem(pem.as_bytes()).unwrap(), 1);
        let (token, digest) = token_and_digest(&pki);
        verify_token(&token, HashAlgorithm::Sha256, &digest, &t).unwrap();
        assert!(t.add_roots_pem(b"no pem here").is_err());
        assert!(t.add_root_der(vec![0x30, 0x00]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn mutated_tokens_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let pki = TestPki::new();
            let (mut token, digest) = token_and_digest(&pki);
            for (i, b) in flips {
                let i = i.index(token.len());
                token[i] ^= b;
            }
            token.truncate(cut.index(token.len()) + 1);
            let _ = verify(&pki, &token, &digest);
        }
    }
}
