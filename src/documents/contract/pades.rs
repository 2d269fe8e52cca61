//! PAdES B-T signing: the original PDF bytes, untouched, plus one incremental update
//! (ISO 32000-1, 7.5.6) that adds a signature field with an invisible widget on the first
//! page, registers it in the AcroForm (/SigFlags 3), and carries the signature dictionary
//! (/Filter /Adobe.PPKLite, /SubFilter /ETSI.CAdES.detached) whose /Contents is a
//! CAdES-detached CMS over the /ByteRange (the whole new file but the /Contents hole).
//!
//! Why `lopdf` writes the update: its `IncrementalDocument` keeps the earlier bytes as they
//! are, writes only the objects we clone or add, a cross-reference section of the same
//! kind as the original's (table or stream) and a trailer with /Prev; it also reads object
//! streams and xref streams, which a small writer of our own would have to parse to find
//! the catalog and first page. What `lopdf` cannot do is the signature's two-pass dance,
//! so we write fixed-width placeholders for /ByteRange and /Contents, then patch them in
//! place: the file length and every offset stay as written.

use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::{Dictionary, IncrementalDocument, Object, StringFormat};
use time::OffsetDateTime;

use crate::documents::contract::cades::{CadesSigner, sha256};
use crate::documents::contract::error::{ContractError, short_reason};
use crate::documents::contract::fields::{acroform, fields};
use crate::documents::contract::intake::find;

/// Default DER bytes reserved for the CMS in /Contents (16 KiB of hex in the file).
pub const DEFAULT_CONTENTS_RESERVE: usize = 8 * 1024;
/// Largest reserve accepted (a CMS with long chains and a token stays far below).
const MAX_CONTENTS_RESERVE: usize = 256 * 1024;
/// Placeholder written in each /ByteRange slot before the real offsets are known; ten
/// digits so any real offset of a file under 10 GB fits in its place.
const BYTE_RANGE_PLACEHOLDER: i64 = 9_999_999_999;
/// Longest field name, reason or signer name accepted.
const MAX_TEXT: usize = 256;
/// /F of the widget: Print (4) + Locked (128).
const WIDGET_FLAGS: i64 = 132;

/// What one signature says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureOptions {
    /// The new signature field's name (/T): unique in the document, no '.'.
    pub field_name: String,
    /// The signer's name for people (/Name).
    pub signer_name: String,
    /// Why the signer signs (/Reason), if said.
    pub reason: Option<String>,
    /// Where (/Location), if said.
    pub location: Option<String>,
    /// The signer's claimed signing time (/M); the proven time is the time-stamp's.
    pub signing_time: Option<OffsetDateTime>,
    /// DER bytes reserved for the CMS in /Contents.
    pub contents_reserve: usize,
}

impl SignatureOptions {
    /// Options with the default reserve and no reason or location.
    pub fn new(field_name: &str, signer_name: &str) -> Self {
        Self {
            field_name: field_name.to_string(),
            signer_name: signer_name.to_string(),
            reason: None,
            location: None,
            signing_time: None,
            contents_reserve: DEFAULT_CONTENTS_RESERVE,
        }
    }
}

fn unsignable(why: impl Into<String>) -> ContractError {
    ContractError::Unsignable(why.into())
}

/// A PDF text string: literal when printable ASCII, else UTF-16BE with a BOM.
fn text_string(s: &str) -> Object {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
    } else {
        let mut v = vec![0xFE, 0xFF];
        for unit in s.encode_utf16() {
            v.extend(unit.to_be_bytes());
        }
        Object::String(v, StringFormat::Hexadecimal)
    }
}

/// A PDF date string (ISO 32000-1, 7.9.4) in UTC: `D:YYYYMMDDHHmmSSZ`.
fn pdf_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn check_text(what: &str, s: &str) -> Result<(), ContractError> {
    if s.chars().count() > MAX_TEXT || s.chars().any(char::is_control) {
        return Err(unsignable(format!(
            "{what} must be at most {MAX_TEXT} characters without control characters"
        )));
    }
    Ok(())
}

fn check_options(o: &SignatureOptions) -> Result<(), ContractError> {
    if o.field_name.is_empty() || o.field_name.contains('.') {
        return Err(unsignable(
            "the field name must be non-empty and contain no '.'",
        ));
    }
    check_text("the field name", &o.field_name)?;
    check_text("the signer name", &o.signer_name)?;
    if let Some(r) = &o.reason {
        check_text("the reason", r)?;
    }
    if let Some(l) = &o.location {
        check_text("the location", l)?;
    }
    if o.contents_reserve < 1024 || o.contents_reserve > MAX_CONTENTS_RESERVE {
        return Err(unsignable(format!(
            "the /Contents reserve must be 1024..={MAX_CONTENTS_RESERVE} bytes"
        )));
    }
    Ok(())
}

/// Signs `pdf`: returns `pdf` followed by an incremental update holding a PAdES B-T
/// signature by `signer`. `timestamp` receives the CMS signature value and must return a
/// DER `TimeStampToken` over its SHA-256 (the signature time-stamp).
///
/// Earlier signatures stay valid: their bytes are not touched.
///
/// # Errors
/// `Unsignable` (unreadable or encrypted PDF, field name taken, no page, bad options),
/// `Timestamp`, `Signer`, `SignatureTooLarge`.
pub fn sign_pdf(
    pdf: &[u8],
    signer: &CadesSigner,
    options: &SignatureOptions,
    timestamp: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, ContractError> {
    check_options(options)?;
    let mut out = catch_unwind(AssertUnwindSafe(|| prepare(pdf, options)))
        .map_err(|_| unsignable("the PDF parser failed on this document"))??;

    let (contents_start, contents_end) = patch_placeholders(&mut out, pdf.len(), options)?;
    let mut signed = Vec::with_capacity(out.len());
    signed.extend_from_slice(out.get(..contents_start).unwrap_or_default());
    signed.extend_from_slice(out.get(contents_end..).unwrap_or_default());
    let cms = signer.sign_detached(&sha256(&signed), timestamp)?;
    if cms.len() > options.contents_reserve {
        return Err(ContractError::SignatureTooLarge {
            needed: cms.len(),
            reserved: options.contents_reserve,
        });
    }
    let hex = hex::encode_upper(&cms);
    let slot = out
        .get_mut(contents_start + 1..contents_start + 1 + hex.len())
        .ok_or_else(|| ContractError::Encoding("contents slot out of bounds".into()))?;
    slot.copy_from_slice(hex.as_bytes());
    Ok(out)
}

/// Writes the incremental update with placeholders; returns the whole new file.
fn prepare(pdf: &[u8], options: &SignatureOptions) -> Result<Vec<u8>, ContractError> {
    let mut inc: IncrementalDocument = pdf
        .try_into()
        .map_err(|e: lopdf::Error| unsignable(short_reason(&e.to_string())))?;
    let prev = inc.get_prev_documents();
    // lopdf opens owner-password-only files by decrypting them: any of these means encrypted
    if prev.trailer.has(b"Encrypt") || prev.is_encrypted() || prev.encryption_state.is_some() {
        return Err(unsignable("the PDF is encrypted"));
    }
    if prev.xref_start == 0 {
        return Err(unsignable(
            "the PDF's cross-reference data had to be reconstructed",
        ));
    }
    if fields(prev).iter().any(|f| f.name == options.field_name) {
        return Err(unsignable(format!(
            "a field named {:?} already exists",
            options.field_name
        )));
    }
    let root_id = prev
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|_| unsignable("the trailer has no /Root"))?;
    let page_id = *prev
        .get_pages()
        .values()
        .next()
        .ok_or_else(|| unsignable("the PDF has no page"))?;
    let existing_af = acroform(prev).map(|(id, d)| (id, d.clone()));
    let page = prev
        .get_object(page_id)
        .and_then(Object::as_dict)
        .map_err(|_| unsignable("the first page is not a dictionary"))?
        .clone();
    let annots = page
        .get(b"Annots")
        .ok()
        .map(|a| prev.dereference(a).map(|(id, o)| (id, o.clone())))
        .transpose()
        .map_err(|_| unsignable("the first page's /Annots does not resolve"))?;
    let catalog = prev
        .get_object(root_id)
        .and_then(Object::as_dict)
        .map_err(|_| unsignable("the catalog is not a dictionary"))?
        .clone();
    let mut trailer = Dictionary::new();
    for key in [&b"Root"[..], b"Info", b"ID"] {
        if let Ok(v) = prev.trailer.get(key) {
            trailer.set(key, v.clone());
        }
    }
    let prev_xref = i64::try_from(prev.xref_start)
        .map_err(|_| unsignable("cross-reference offset out of range"))?;
    trailer.set("Prev", prev_xref);

    let doc = &mut inc.new_document;
    doc.trailer = trailer;
    let sig_id = doc.new_object_id();
    let field_id = doc.new_object_id();

    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"Sig".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    sig.set(
        "ByteRange",
        Object::Array(vec![
            Object::Integer(0),
            Object::Integer(BYTE_RANGE_PLACEHOLDER),
            Object::Integer(BYTE_RANGE_PLACEHOLDER),
            Object::Integer(BYTE_RANGE_PLACEHOLDER),
        ]),
    );
    sig.set(
        "Contents",
        Object::String(vec![0; options.contents_reserve], StringFormat::Hexadecimal),
    );
    sig.set("Name", text_string(&options.signer_name));
    if let Some(r) = &options.reason {
        sig.set("Reason", text_string(r));
    }
    if let Some(l) = &options.location {
        sig.set("Location", text_string(l));
    }
    if let Some(t) = options.signing_time {
        sig.set("M", Object::string_literal(pdf_date(t)));
    }
    doc.set_object(sig_id, Object::Dictionary(sig));

    let mut field = Dictionary::new();
    field.set("Type", Object::Name(b"Annot".to_vec()));
    field.set("Subtype", Object::Name(b"Widget".to_vec()));
    field.set("FT", Object::Name(b"Sig".to_vec()));
    field.set("T", text_string(&options.field_name));
    field.set("V", Object::Reference(sig_id));
    field.set(
        "Rect",
        Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
    );
    field.set("F", WIDGET_FLAGS);
    field.set("P", Object::Reference(page_id));
    doc.set_object(field_id, Object::Dictionary(field));

    // The AcroForm: extended where it lives, or created as an object of its own so later
    // signatures change it without rewriting the catalog.
    match existing_af {
        Some((af_id, mut af)) => {
            let mut list = match af.get(b"Fields") {
                Ok(f) => prev_array(inc.get_prev_documents(), f)?,
                Err(_) => Vec::new(),
            };
            list.push(Object::Reference(field_id));
            af.set("Fields", Object::Array(list));
            af.set("SigFlags", 3);
            let doc = &mut inc.new_document;
            match af_id {
                Some(id) => doc.set_object(id, Object::Dictionary(af)),
                None => {
                    let mut catalog = catalog;
                    catalog.set("AcroForm", Object::Dictionary(af));
                    doc.set_object(root_id, Object::Dictionary(catalog));
                }
            }
        }
        None => {
            let mut af = Dictionary::new();
            af.set("Fields", Object::Array(vec![Object::Reference(field_id)]));
            af.set("SigFlags", 3);
            let doc = &mut inc.new_document;
            let af_id = doc.add_object(Object::Dictionary(af));
            let mut catalog = catalog;
            catalog.set("AcroForm", Object::Reference(af_id));
            doc.set_object(root_id, Object::Dictionary(catalog));
        }
    }

    // The widget joins the first page's /Annots, wherever that array lives.
    let doc = &mut inc.new_document;
    let mut page = page;
    match annots {
        Some((Some(array_id), Object::Array(mut list))) => {
            list.push(Object::Reference(field_id));
            doc.set_object(array_id, Object::Array(list));
        }
        Some((None, Object::Array(mut list))) => {
            list.push(Object::Reference(field_id));
            page.set("Annots", Object::Array(list));
            doc.set_object(page_id, Object::Dictionary(page));
        }
        Some(_) => return Err(unsignable("the first page's /Annots is not an array")),
        None => {
            page.set("Annots", Object::Array(vec![Object::Reference(field_id)]));
            doc.set_object(page_id, Object::Dictionary(page));
        }
    }

    let mut out = Vec::with_capacity(pdf.len() + 2 * options.contents_reserve + 4096);
    inc.save_to(&mut out)
        .map_err(|e| ContractError::Encoding(short_reason(&e.to_string())))?;
    if out.get(..pdf.len()) != Some(pdf) {
        return Err(ContractError::Encoding(
            "the incremental writer changed earlier bytes".into(),
        ));
    }
    out.push(b'\n');
    Ok(out)
}

/// The elements of an array given directly or by reference in the previous revision.
fn prev_array(doc: &lopdf::Document, obj: &Object) -> Result<Vec<Object>, ContractError> {
    doc.dereference(obj)
        .ok()
        .and_then(|(_, o)| o.as_array().ok().cloned())
        .ok_or_else(|| unsignable("the AcroForm /Fields is not an array"))
}

/// Finds the /ByteRange and /Contents placeholders in the update (after `prev_len`), writes
/// the real byte range over the first, and returns the /Contents hole (from '<' to just
/// after '>').
fn patch_placeholders(
    out: &mut [u8],
    prev_len: usize,
    options: &SignatureOptions,
) -> Result<(usize, usize), ContractError> {
    let not_found = |what: &str| ContractError::Encoding(format!("{what} placeholder not found"));
    let update = out.get(prev_len..).ok_or_else(|| not_found("update"))?;
    let mut pattern = b"/Contents<".to_vec();
    pattern.extend(std::iter::repeat_n(b'0', 2 * options.contents_reserve));
    pattern.push(b'>');
    let at = find(update, &pattern).ok_or_else(|| not_found("/Contents"))?;
    let contents_start = prev_len + at + b"/Contents".len();
    let contents_end = prev_len + at + pattern.len();

    let br_at = find(update, b"/ByteRange[").ok_or_else(|| not_found("/ByteRange"))?;
    let open = prev_len + br_at + b"/ByteRange[".len();
    let close = open
        + out
            .get(open..)
            .and_then(|s| s.iter().position(|&b| b == b']'))
            .ok_or_else(|| not_found("/ByteRange"))?;
    let total = out.len();
    let text = format!("0 {contents_start} {contents_end} {}", total - contents_end);
    let slot = out
        .get_mut(open..close)
        .ok_or_else(|| not_found("/ByteRange"))?;
    if text.len() > slot.len() {
        return Err(ContractError::Encoding(
            "file too large for /ByteRange".into(),
        ));
    }
    slot.fill(b' ');
    if let Some(dst) = slot.get_mut(..text.len()) {
        dst.copy_from_slice(text.as_bytes());
    }
    Ok((contents_start, contents_end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::contract::testing::{TestPki, sample_pdf};
    use crate::documents::contract::verify_pdf_signatures;

    #[test]
    fn the_update_appends_and_its_byte_range_leaves_out_exactly_the_contents() {
        let pki = TestPki::new();
        let original = sample_pdf(2, false);
        let signed = pki.sign(&original, "Party A", "party-a");
        assert!(signed.starts_with(&original));
        let tail = &signed[original.len()..];
        for needle in [
            &b"/Type/Sig"[..],
            b"/Filter/Adobe.PPKLite",
            b"/SubFilter/ETSI.CAdES.detached",
            b"/SigFlags 3",
            b"/FT/Sig",
            b"/Prev ",
        ] {
            assert!(
                find(tail, needle).is_some(),
                "{}",
                String::from_utf8_lossy(needle)
            );
        }
        // ByteRange [0 a b c]: a is the '<' of /Contents, b just after its '>', b + c the end
        let at = find(tail, b"/ByteRange[").unwrap() + b"/ByteRange[".len();
        let end = tail[at..].iter().position(|&b| b == b']').unwrap();
        let nums: Vec<usize> = std::str::from_utf8(&tail[at..at + end])
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(nums.len(), 4);
        assert_eq!(nums[0], 0);
        assert_eq!(signed[nums[1]], b'<');
        assert_eq!(signed[nums[2] - 1], b'>');
        assert_eq!(nums[2] - nums[1], 2 * DEFAULT_CONTENTS_RESERVE + 2);
        assert_eq!(nums[2] + nums[3], signed.len());
        // the hole holds the DER CMS, zero-padded
        assert_eq!(&signed[nums[1] + 1..nums[1] + 3], b"30");
    }

    #[test]
    fn signatures_in_sequence_all_stay_valid() {
        let pki = TestPki::new();
        let mut pdf = sample_pdf(2, true);
        for (i, field) in ["a", "b", "seal"].iter().enumerate() {
            pdf = pki.sign(&pdf, &format!("Signer {i}"), field);
        }
        let report = verify_pdf_signatures(&pdf, std::slice::from_ref(&pki.root_der)).unwrap();
        assert!(report.is_valid(), "{report:#?}");
        let names: Vec<&str> = report
            .signatures
            .iter()
            .map(|s| s.field_name.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "seal"]);
        // each covers a longer revision than the one before
        let lens: Vec<usize> = report.signatures.iter().map(|s| s.signed_length).collect();
        assert!(lens.windows(2).all(|w| w[0] < w[1]) && lens[2] == pdf.len());
    }

    #[test]
    fn refuses_bad_options_and_a_taken_field_name() {
        let pki = TestPki::new();
        let signer = pki.signer("Party A");
        let pdf = sample_pdf(1, false);
        let sign =
            |pdf: &[u8], o: &SignatureOptions| sign_pdf(pdf, &signer, o, |s| pki.timestamp(s));
        for bad in ["", "a.b", "line\nbreak"] {
            let e = sign(&pdf, &SignatureOptions::new(bad, "A")).unwrap_err();
            assert!(matches!(e, ContractError::Unsignable(_)), "{bad:?}: {e}");
        }
        let mut o = SignatureOptions::new("f", "A");
        o.contents_reserve = 10;
        assert!(matches!(sign(&pdf, &o), Err(ContractError::Unsignable(_))));
        let once = sign(&pdf, &SignatureOptions::new("f", "A")).unwrap();
        let e = sign(&once, &SignatureOptions::new("f", "B")).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert!(matches!(
            sign(b"%PDF-1.7\nnot really", &SignatureOptions::new("f", "A")),
            Err(ContractError::Unsignable(_))
        ));
    }

    #[test]
    fn a_signature_larger_than_the_reserve_is_refused() {
        let pki = TestPki::new();
        let signer = pki.signer("Party A");
        let mut o = SignatureOptions::new("f", "A");
        o.contents_reserve = 1024; // a token and two certificates do not fit
        let e = sign_pdf(&sample_pdf(1, false), &signer, &o, |s| pki.timestamp(s)).unwrap_err();
        assert!(
            matches!(e, ContractError::SignatureTooLarge { reserved: 1024, .. }),
            "{e}"
        );
    }

    #[test]
    fn text_strings_are_literal_ascii_or_utf16() {
        assert_eq!(
            text_string("Acme (HK)"),
            Object::String(b"Acme (HK)".to_vec(), StringFormat::Literal)
        );
        assert_eq!(
            text_string("张"),
            Object::String(vec![0xFE, 0xFF, 0x5F, 0x20], StringFormat::Hexadecimal)
        );
        let t = OffsetDateTime::from_unix_timestamp(1_777_777_777).unwrap();
        // cross-checked: date -u -d @1777777777 +%Y%m%d%H%M%S → 20260503030937
        assert_eq!(pdf_date(t), "D:20260503030937Z");
    }
}
