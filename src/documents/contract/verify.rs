//! Verification of every signature in a PDF, as the offline evidence verifier needs it:
//! the /ByteRange covers a whole revision but exactly the /Contents hole, messageDigest
//! matches those bytes, the CMS signature verifies over the original signed-attribute
//! bytes, the signer certificate chains to a trusted root at the time-stamp's time, and the
//! signature time-stamp (RFC 3161) is valid over the signature value. Bytes appended after
//! the last signature are reported: they are not covered by any signature.
//!
//! Each check that fails adds one sentence to a `problems` list; nothing is assumed.

use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::{Dictionary, Document, Object};
use time::OffsetDateTime;

use crate::documents::contract::cades::{
    RawSignature, der_len, digest_by_oid, parse_signature, sha256,
};
use crate::documents::contract::error::{ContractError, short_reason};
use crate::documents::contract::fields::fields;
use crate::identity::certcheck::{Revocations, check_certificate};
use crate::timestamp::{HashAlgorithm, TrustStore, verify_token};

/// Largest PDF verified.
pub const MAX_VERIFY_BYTES: usize = 128 * 1024 * 1024;
/// Most signatures checked in one PDF.
const MAX_SIGNATURES: usize = 64;

/// The signature time-stamp of one signature, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureTime {
    /// The TSA's genTime: when the signature value existed.
    pub gen_time: OffsetDateTime,
    /// The TSA certificate's subject.
    pub tsa_subject: String,
}

/// The findings on one signature field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The field's fully qualified name.
    pub field_name: String,
    /// /SubFilter of the signature dictionary.
    pub sub_filter: String,
    /// The /ByteRange as written, when it has four non-negative integers.
    pub byte_range: Option<[usize; 4]>,
    /// Length of the revision the signature covers (the end of its byte range).
    pub signed_length: usize,
    /// The signer certificate's subject, when found.
    pub signer_subject: Option<String>,
    /// The signer certificate (DER), when found.
    pub signer_certificate: Option<Vec<u8>>,
    /// The verified signature time-stamp, when present and valid.
    pub timestamp: Option<SignatureTime>,
    /// Every failed check, one sentence each; empty when the signature is valid.
    pub problems: Vec<String>,
}

impl SignatureCheck {
    /// Whether every check passed.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The findings on a whole PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfVerification {
    /// Every signature field that holds a signature, in the order the signatures were made.
    pub signatures: Vec<SignatureCheck>,
    /// Bytes after the end of the last signed revision (trailing whitespace not counted).
    pub unsigned_tail: usize,
    /// Document-level failures (no signature, bytes after the last signature).
    pub problems: Vec<String>,
}

impl PdfVerification {
    /// Whether there is at least one signature, every signature is valid and nothing follows
    /// the last one.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty() && self.signatures.iter().all(SignatureCheck::is_valid)
    }
}

/// Verifies every signature of `pdf` against the trusted root certificates `roots` (DER),
/// used both for signers and for the time-stamping authority.
///
/// # Errors
/// `TooLarge` or `Unreadable` when the PDF itself cannot be read; failed checks are not
/// errors but `problems` in the result.
pub fn verify_pdf_signatures(
    pdf: &[u8],
    roots: &[Vec<u8>],
) -> Result<PdfVerification, ContractError> {
    if pdf.len() > MAX_VERIFY_BYTES {
        return Err(ContractError::TooLarge {
            size: pdf.len(),
            limit: MAX_VERIFY_BYTES,
        });
    }
    let doc = catch_unwind(AssertUnwindSafe(|| Document::load_mem(pdf)))
        .map_err(|_| ContractError::ParserPanic)?
        .map_err(|e| ContractError::Unreadable(short_reason(&e.to_string())))?;
    let mut trust = TrustStore::new();
    for r in roots {
        trust
            .add_root_der(r.clone())
            .map_err(|e| ContractError::Signer(format!("trust root: {e}")))?;
    }

    let mut signatures: Vec<SignatureCheck> = fields(&doc)
        .into_iter()
        .filter(|f| f.is_signature)
        .filter_map(|f| f.value.map(|v| (f.name, v)))
        .take(MAX_SIGNATURES)
        .map(|(name, sig)| check_signature(pdf, &name, &sig, roots, &trust))
        .collect();
    signatures.sort_by_key(|s| s.signed_length);

    let mut problems = Vec::new();
    let content_end = pdf
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    let covered = signatures
        .iter()
        .map(|s| s.signed_length)
        .max()
        .unwrap_or(0);
    let unsigned_tail = content_end.saturating_sub(covered);
    if signatures.is_empty() {
        problems.push("the PDF has no signature".to_string());
    } else if unsigned_tail > 0 {
        problems.push(format!(
            "{unsigned_tail} bytes after the last signature are covered by no signature"
        ));
    }
    Ok(PdfVerification {
        signatures,
        unsigned_tail,
        problems,
    })
}

fn name_of(dict: &Dictionary, key: &[u8]) -> String {
    dict.get(key)
        .and_then(Object::as_name)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default()
}

/// The four /ByteRange numbers, when they are four non-negative integers.
fn byte_range(dict: &Dictionary) -> Option<[usize; 4]> {
    let arr = dict.get(b"ByteRange").and_then(Object::as_array).ok()?;
    let nums: Vec<usize> = arr
        .iter()
        .map(|o| o.as_i64().ok().and_then(|v| usize::try_from(v).ok()))
        .collect::<Option<_>>()?;
    nums.try_into().ok()
}

/// Checks the byte range against the file: it starts at 0, its hole is exactly a hex string
/// `<…>` holding `contents`, and it ends a revision (at `%%EOF`). Returns the signed bytes.
fn signed_bytes(pdf: &[u8], br: [usize; 4], contents: &[u8]) -> Result<Vec<u8>, String> {
    let [start, len1, hole_end, len2] = br;
    let end = hole_end
        .checked_add(len2)
        .ok_or("the byte range overflows")?;
    if start != 0 || len1 >= hole_end || end > pdf.len() {
        return Err("the byte range does not start at 0 or lies outside the file".into());
    }
    let hole = pdf
        .get(len1..hole_end)
        .ok_or("the byte range is out of bounds")?;
    let inner = match hole {
        [b'<', inner @ .., b'>'] => inner,
        _ => return Err("the byte range's hole is not exactly the /Contents string".into()),
    };
    if inner.len() % 2 != 0 || hex::decode(inner).ok().as_deref() != Some(contents) {
        return Err("the byte range's hole is not exactly the /Contents string".into());
    }
    let head = pdf.get(..end).ok_or("the byte range is out of bounds")?;
    let trimmed = head
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .and_then(|p| head.get(..=p))
        .unwrap_or_default();
    if !trimmed.ends_with(b"%%EOF") {
        return Err("the byte range does not end a revision (%%EOF)".into());
    }
    let mut signed = Vec::with_capacity(end - (hole_end - len1));
    signed.extend_from_slice(pdf.get(..len1).unwrap_or_default());
    signed.extend_from_slice(pdf.get(hole_end..end).unwrap_or_default());
    Ok(signed)
}

fn check_signature(
    pdf: &[u8],
    field_name: &str,
    sig: &Dictionary,
    roots: &[Vec<u8>],
    trust: &TrustStore,
) -> SignatureCheck {
    let mut check = SignatureCheck {
        field_name: field_name.to_string(),
        sub_filter: name_of(sig, b"SubFilter"),
        byte_range: byte_range(sig),
        signed_length: 0,
        signer_subject: None,
        signer_certificate: None,
        timestamp: None,
        problems: Vec::new(),
    };
    if !matches!(
        check.sub_filter.as_str(),
        "ETSI.CAdES.detached" | "adbe.pkcs7.detached"
    ) {
        check
            .problems
            .push(format!("unsupported /SubFilter {:?}", check.sub_filter));
        return check;
    }
    let Some(br) = check.byte_range else {
        check
            .problems
            .push("/ByteRange is not four non-negative integers".into());
        return check;
    };
    check.signed_length = br[2].saturating_add(br[3]);
    let Ok(contents) = sig.get(b"Contents").and_then(Object::as_str) else {
        check.problems.push("/Contents is missing".into());
        return check;
    };
    let signed = match signed_bytes(pdf, br, contents) {
        Ok(s) => s,
        Err(e) => {
            check.problems.push(e);
            return check;
        }
    };
    let cms_len = match der_len(contents) {
        Ok(n) => n,
        Err(e) => {
            check.problems.push(e.to_string());
            return check;
        }
    };
    let (cms, padding) = contents.split_at(cms_len.min(contents.len()));
    if padding.iter().any(|b| *b != 0) {
        check
            .problems
            .push("/Contents has data after the CMS signature".into());
    }
    match parse_signature(cms) {
        Ok(raw) => check_cms(&mut check, &raw, &signed, roots, trust),
        Err(e) => check.problems.push(e.to_string()),
    }
    check
}

fn check_cms(
    check: &mut SignatureCheck,
    raw: &RawSignature<'_>,
    signed: &[u8],
    roots: &[Vec<u8>],
    trust: &TrustStore,
) {
    let problems = &mut check.problems;
    if raw.has_econtent {
        problems.push("the CMS is not detached".into());
    }
    if !raw.content_type_is_data() {
        problems.push("the contentType attribute is not id-data".into());
    }
    if check.sub_filter == "ETSI.CAdES.detached" && raw.has_signing_time() {
        problems.push("a PAdES signature must not carry signingTime".into());
    }
    match (raw.message_digest(), digest_by_oid(&raw.digest_alg, signed)) {
        (Ok(md), Some(actual)) if md == actual => {}
        (Ok(_), Some(_)) => problems
            .push("messageDigest does not match the signed bytes: the document was changed".into()),
        (Ok(_), None) => problems.push(format!("unsupported digest {}", raw.digest_alg)),
        (Err(e), _) => problems.push(e.to_string()),
    }
    let cert = match raw.signer_certificate() {
        Ok(c) => c.to_vec(),
        Err(e) => {
            problems.push(e.to_string());
            return;
        }
    };
    if let Err(e) = raw.verify_signature(&cert) {
        problems.push(e.to_string());
    }
    if let Ok((_, c)) = x509_parser::parse_x509_certificate(&cert) {
        check.signer_subject = Some(c.subject().to_string());
    }
    check.signer_certificate = Some(cert.clone());

    match raw.timestamp_token() {
        Ok(Some(token)) => {
            match verify_token(token, HashAlgorithm::Sha256, &sha256(raw.signature), trust) {
                Ok(v) => {
                    check.timestamp = Some(SignatureTime {
                        gen_time: v.gen_time,
                        tsa_subject: v.signer_subject,
                    })
                }
                Err(e) => problems.push(format!("signature time-stamp: {e}")),
            }
        }
        Ok(None) => problems.push("no signature time-stamp (not PAdES B-T)".into()),
        Err(e) => problems.push(e.to_string()),
    }

    // The certificate must have been good when the signature is proven to exist.
    let Some(at) = check.timestamp.as_ref().map(|t| t.gen_time) else {
        problems.push("no trusted time to check the signer certificate at".into());
        return;
    };
    let carried: Vec<Vec<u8>> = raw.certificates.iter().map(|c| c.to_vec()).collect();
    if let Err(e) = check_certificate(&cert, &carried, roots, at, &Revocations::default()) {
        problems.push(format!("signer certificate: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::contract::intake::find;
    use crate::documents::contract::testing::{TestPki, sample_pdf};

    #[test]
    fn an_unsigned_pdf_is_not_valid() {
        let report = verify_pdf_signatures(&sample_pdf(1, false), &[]).unwrap();
        assert!(report.signatures.is_empty());
        assert!(!report.is_valid());
        assert_eq!(report.problems, ["the PDF has no signature"]);
    }

    #[test]
    fn reports_signer_and_time_and_refuses_other_roots() {
        let pki = TestPki::new();
        let signed = pki.sign(&sample_pdf(1, false), "Party A", "party-a");
        let ok = verify_pdf_signatures(&signed, std::slice::from_ref(&pki.root_der)).unwrap();
        assert!(ok.is_valid(), "{ok:#?}");
        let s = &ok.signatures[0];
        assert_eq!(s.signer_subject.as_deref(), Some("CN=Party A"));
        let t = s.timestamp.as_ref().unwrap();
        assert!((OffsetDateTime::now_utc() - t.gen_time).abs() < time::Duration::minutes(5));
        assert_eq!(t.tsa_subject, "CN=Contract Test TSA");

        let other = TestPki::new();
        let bad = verify_pdf_signatures(&signed, std::slice::from_ref(&other.root_der)).unwrap();
        assert!(!bad.is_valid());
        let problems = &bad.signatures[0].problems;
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("signature time-stamp")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_byte_range_that_skips_more_than_the_contents_is_refused() {
        let pki = TestPki::new();
        let signed = pki.sign(&sample_pdf(1, false), "Party A", "party-a");
        // widen the hole by one byte on the left, keeping the file length
        let at = find(&signed, b"/ByteRange[0 ").unwrap() + b"/ByteRange[0 ".len();
        let end = at + signed[at..].iter().position(|&b| b == b' ').unwrap();
        let a: usize = std::str::from_utf8(&signed[at..end])
            .unwrap()
            .parse()
            .unwrap();
        let shifted = format!("{:0width$}", a - 1, width = end - at);
        let mut bad = signed.clone();
        bad[at..end].copy_from_slice(shifted.as_bytes());
        let report = verify_pdf_signatures(&bad, std::slice::from_ref(&pki.root_der)).unwrap();
        assert!(!report.is_valid());
        assert!(
            report.signatures[0].problems[0].contains("not exactly the /Contents"),
            "{report:#?}"
        );
    }

    #[test]
    fn bytes_after_the_last_signature_are_reported() {
        let pki = TestPki::new();
        let mut signed = pki.sign(&sample_pdf(1, false), "Party A", "party-a");
        signed.extend_from_slice(b"\n\n  \n");
        let ok = verify_pdf_signatures(&signed, std::slice::from_ref(&pki.root_der)).unwrap();
        assert!(ok.is_valid(), "trailing whitespace is not content: {ok:#?}");
        signed.extend_from_slice(b"% a comment\n");
        let bad = verify_pdf_signatures(&signed, std::slice::from_ref(&pki.root_der)).unwrap();
        assert!(!bad.is_valid());
        assert!(bad.unsigned_tail > 0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(verify_pdf_signatures(b"", &[]).is_err());
        assert!(verify_pdf_signatures(b"%PDF-1.7\n%%EOF", &[]).is_err());
    }
}
