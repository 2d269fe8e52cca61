//! Test support: contract PDFs made with lopdf, and a throwaway PKI (root → issuing CA →
//! signers and a TSA) made with rcgen, with a signature time-stamp callback.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};

use crate::documents::contract::{CadesSigner, SignatureOptions, sign_pdf};
use crate::timestamp::{
    HashAlgorithm, TimeStampRequest, TokenParams, TsaSigner, generate_tsa_key,
    issue_tsa_certificate,
};

/// A PDF of `pages` text pages with an Info dictionary (classic xref table, or object and
/// xref streams when `modern`).
pub fn sample_pdf(pages: usize, modern: bool) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for n in 1..=pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 14.into()]),
                Operation::new("Td", vec![72.into(), 760.into()]),
                Operation::new(
                    "Tj",
                    vec![Object::string_literal(format!("Contract page {n}"))],
                ),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => pages as i64,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::string_literal("Lease agreement"),
        "Author" => Object::String(
            // "张三" as UTF-16BE with a BOM
            vec![0xFE, 0xFF, 0x5F, 0x20, 0x4E, 0x09],
            lopdf::StringFormat::Hexadecimal,
        ),
        "Producer" => Object::string_literal("notarium tests"),
        "CreationDate" => Object::string_literal("D:20260504030201+08'00'"),
        "ModDate" => Object::string_literal("D:20260505000000Z"),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    doc.compress();
    let mut out = Vec::new();
    if modern {
        doc.save_modern(&mut out).unwrap();
    } else {
        doc.save_to(&mut out).unwrap();
    }
    out
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = OffsetDateTime::now_utc() - Duration::days(1);
    p.not_after = OffsetDateTime::now_utc() + Duration::days(365);
    p
}

/// A root, an issuing CA, and a TSA under it.
pub struct TestPki {
    /// The root (DER).
    pub root_der: Vec<u8>,
    /// The issuing CA (DER).
    pub issuing_der: Vec<u8>,
    issuing_params: CertificateParams,
    issuing_key: KeyPair,
    tsa: TsaSigner,
}

impl TestPki {
    /// A fresh PKI.
    pub fn new() -> Self {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root_params = ca_params("Contract Test Root");
        let root = root_params.self_signed(&root_key).unwrap();
        let issuing_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let issuing_params = ca_params("Contract Test Issuing CA");
        let issuing = issuing_params
            .signed_by(&issuing_key, &Issuer::from_params(&root_params, &root_key))
            .unwrap();
        let tsa_key = generate_tsa_key().unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Contract Test TSA");
        let now = OffsetDateTime::now_utc();
        let tsa_cert = issue_tsa_certificate(
            dn,
            now - Duration::hours(1),
            now + Duration::days(30),
            &tsa_key,
            &Issuer::from_params(&issuing_params, &issuing_key),
        )
        .unwrap();
        let tsa = TsaSigner::new(
            &tsa_key.serialize_der(),
            tsa_cert.der().to_vec(),
            vec![issuing.der().to_vec()],
        )
        .unwrap();
        Self {
            root_der: root.der().to_vec(),
            issuing_der: issuing.der().to_vec(),
            issuing_params,
            issuing_key,
            tsa,
        }
    }

    /// A signer named `cn` with a fresh key and certificate from the issuing CA.
    pub fn signer(&self, cn: &str) -> CadesSigner {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        p.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        p.not_after = OffsetDateTime::now_utc() + Duration::days(30);
        let cert = p
            .signed_by(
                &key,
                &Issuer::from_params(&self.issuing_params, &self.issuing_key),
            )
            .unwrap();
        CadesSigner::new(
            &key.serialize_der(),
            cert.der(),
            std::slice::from_ref(&self.issuing_der),
        )
        .unwrap()
    }

    /// A signature time-stamp: a token over SHA-256 of `signature`, dated now.
    pub fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, String> {
        let digest = HashAlgorithm::Sha256.digest(signature);
        let request = TimeStampRequest::for_digest(HashAlgorithm::Sha256, &digest)
            .map_err(|e| e.to_string())?;
        let params = TokenParams {
            policy: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.7"),
            serial: 42,
            gen_time: OffsetDateTime::now_utc(),
            fraction_digits: 0,
            accuracy: None,
            signing_time: false,
            tsa_name: false,
        };
        self.tsa.token(&request, &params).map_err(|e| e.to_string())
    }

    /// `pdf` signed by a new signer `cn` in field `field`.
    pub fn sign(&self, pdf: &[u8], cn: &str, field: &str) -> Vec<u8> {
        sign_pdf(
            pdf,
            &self.signer(cn),
            &SignatureOptions::new(field, cn),
            |s| self.timestamp(s),
        )
        .unwrap()
    }
}
