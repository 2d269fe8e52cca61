//! Intake of a contract PDF: check that the bytes are a real, readable PDF (with the `pdf`
//! crate) and record what a notary wants to know about it: page count, version, the Info
//! dictionary, existing signature fields and encryption.
//!
//! The parser runs on untrusted bytes. Sizes are bounded here, and a parser panic is caught;
//! an out-of-memory abort or a stack overflow cannot be caught in-process, which is why the
//! server calls [`crate::documents::contract::inspect_pdf_isolated`] (a child process with
//! memory and time limits) and keeps [`inspect_pdf`] for the child itself and for tests.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use pdf::error::PdfError;
use pdf::file::FileOptions;
use pdf::object::{FieldDictionary, FieldType, ParseOptions, Resolve};
use pdf::primitive::{Date, PdfString, TimeRel};
use serde::{Deserialize, Serialize};

use crate::documents::contract::error::{ContractError, short_reason};

/// Most characters kept of one Info string (a title is not a novel).
const MAX_TEXT_CHARS: usize = 512;
/// Most signature fields listed.
const MAX_LISTED_FIELDS: usize = 256;
/// Most form fields visited, and deepest field tree followed.
const MAX_VISITED_FIELDS: usize = 10_000;
/// Deepest /Kids nesting followed.
const MAX_FIELD_DEPTH: usize = 16;
/// How far from the end `startxref` may be (ISO 32000 readers look at the last 1024 bytes;
/// a little slack for trailing whitespace).
const TAIL_WINDOW: usize = 2048;

/// Bounds applied to one inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeLimits {
    /// Largest PDF accepted, in bytes.
    pub max_bytes: usize,
    /// Most pages accepted.
    pub max_pages: u32,
    /// Address-space cap of the isolated inspector process, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock limit of the isolated inspector.
    pub timeout: Duration,
}

impl Default for IntakeLimits {
    /// 50 MiB, 10 000 pages, 1 GiB of address space, 20 seconds.
    fn default() -> Self {
        Self {
            max_bytes: 50 * 1024 * 1024,
            max_pages: 10_000,
            memory_bytes: 1024 * 1024 * 1024,
            timeout: Duration::from_secs(20),
        }
    }
}

/// A signature field found in the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureFieldInfo {
    /// The field's partial name (/T), lossily decoded.
    pub name: String,
    /// Whether the field holds a signature (/V present).
    pub signed: bool,
}

/// What intake found in a readable PDF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfInfo {
    /// Number of pages (counted by walking the page tree, not trusted from /Count alone).
    pub page_count: u32,
    /// PDF version: the catalog's /Version when later than the header's, else the header's.
    pub version: String,
    /// Info /Title.
    pub title: Option<String>,
    /// Info /Author.
    pub author: Option<String>,
    /// Info /Producer.
    pub producer: Option<String>,
    /// Info /CreationDate, as `YYYY-MM-DDTHH:MM:SS±HH:MM` (or `Z`).
    pub creation_date: Option<String>,
    /// Info /ModDate, same format.
    pub modification_date: Option<String>,
    /// Whether the file is encrypted (openable with the empty user password, else intake fails).
    pub encrypted: bool,
    /// The AcroForm /SigFlags (bit 1: signatures exist, bit 2: append only).
    pub sig_flags: u32,
    /// Signature fields (at most 256 listed).
    pub signature_fields: Vec<SignatureFieldInfo>,
}

impl PdfInfo {
    /// Whether the PDF already carries a signature (a signed /Sig field or /SigFlags bit 1).
    pub fn has_signatures(&self) -> bool {
        self.sig_flags & 1 != 0 || self.signature_fields.iter().any(|f| f.signed)
    }
}

/// Inspects `bytes` in this process: checks it is a readable PDF within `limits` (size and
/// pages; memory and time are only enforced by the isolated variant) and describes it.
///
/// # Errors
/// `TooLarge`, `NotPdf`, `Truncated`, `Encrypted`, `TooManyPages`, `Unreadable` with one short
/// line, or `ParserPanic` when the parser panicked.
pub fn inspect_pdf(bytes: &[u8], limits: &IntakeLimits) -> Result<PdfInfo, ContractError> {
    if bytes.len() > limits.max_bytes {
        return Err(ContractError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let header_version = header_version(bytes)?;
    let tail = bytes
        .get(bytes.len().saturating_sub(TAIL_WINDOW)..)
        .unwrap_or(bytes);
    if find(tail, b"startxref").is_none() {
        return Err(ContractError::Truncated);
    }
    let owned = bytes.to_vec();
    let max_pages = limits.max_pages;
    match catch_unwind(AssertUnwindSafe(move || {
        parse(owned, header_version, max_pages)
    })) {
        Ok(result) => result,
        Err(_) => Err(ContractError::ParserPanic),
    }
}

/// The `d.d` after `%PDF-` in the first 1024 bytes.
fn header_version(bytes: &[u8]) -> Result<String, ContractError> {
    let head = bytes.get(..1024.min(bytes.len())).unwrap_or(bytes);
    let at = find(head, b"%PDF-").ok_or(ContractError::NotPdf)?;
    let v = bytes.get(at + 5..at + 8).ok_or(ContractError::NotPdf)?;
    match v {
        [major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Ok(format!("{}.{}", char::from(*major), char::from(*minor)))
        }
        _ => Err(ContractError::NotPdf),
    }
}

/// Position of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The refusal for a parser error: `Encrypted` when a password is what failed, else the
/// innermost cause in one short line. The outer layers of the `pdf` crate's errors name its
/// source files and lines: never shown.
fn unreadable(e: &PdfError) -> ContractError {
    let mut current: &(dyn std::error::Error + 'static) = e;
    for _ in 0..64 {
        if is_invalid_password(current) {
            return ContractError::Encrypted;
        }
        match current.source() {
            Some(next) => current = next,
            None => break,
        }
    }
    ContractError::Unreadable(short_reason(&current.to_string()))
}

/// Whether `e` is the `pdf` crate's wrong-password error (its chain holds it bare, boxed or
/// shared).
fn is_invalid_password(e: &(dyn std::error::Error + 'static)) -> bool {
    let inner = e
        .downcast_ref::<PdfError>()
        .or_else(|| e.downcast_ref::<Box<PdfError>>().map(|b| &**b))
        .or_else(|| e.downcast_ref::<std::sync::Arc<PdfError>>().map(|a| &**a));
    matches!(inner, Some(PdfError::InvalidPassword))
}

fn parse(bytes: Vec<u8>, header_version: String, max_pages: u32) -> Result<PdfInfo, ContractError> {
    // Optional entries that fail to parse (odd dates, broken outlines) are dropped rather than
    // rejecting the document; the cross-reference data must be sound.
    let options = ParseOptions {
        allow_error_in_option: true,
        allow_xref_error: false,
        allow_invalid_ops: true,
        allow_missing_endobj: false,
    };
    let file = FileOptions::uncached()
        .parse_options(options)
        .load(bytes)
        .map_err(|e| unreadable(&e))?;
    let root = file.get_root();

    let declared = root.pages.count;
    if declared > max_pages {
        return Err(ContractError::TooManyPages(max_pages));
    }
    // Walk the tree: a /Count that lies about the pages is an unreadable document.
    for n in 0..declared {
        file.get_page(n).map_err(|e| unreadable(&e))?;
    }
    if declared == 0 {
        return Err(ContractError::Unreadable(
            "the document has no pages".into(),
        ));
    }

    let version = match root.version.as_ref().map(|n| n.as_str().to_string()) {
        Some(v) if is_version(&v) && v > header_version => v,
        _ => header_version,
    };

    let info = file.trailer.info_dict.as_ref();
    let text = |s: Option<&PdfString>| s.map(|s| bounded(&s.to_string_lossy()));

    let (sig_flags, signature_fields) = match &root.forms {
        Some(form) => {
            let resolver = file.resolver();
            let mut walk = FieldWalk {
                resolver: &resolver,
                visited: 0,
                found: Vec::new(),
            };
            for field in &form.fields {
                walk.visit(field, None, 0);
            }
            (form.sig_flags, walk.found)
        }
        None => (0, Vec::new()),
    };

    Ok(PdfInfo {
        page_count: declared,
        version,
        title: text(info.and_then(|i| i.title.as_ref())),
        author: text(info.and_then(|i| i.author.as_ref())),
        producer: text(info.and_then(|i| i.producer.as_ref())),
        creation_date: info.and_then(|i| i.creation_date.as_ref()).map(format_date),
        modification_date: info.and_then(|i| i.mod_date.as_ref()).map(format_date),
        encrypted: file.trailer.encrypt_dict.is_some(),
        sig_flags,
        signature_fields,
    })
}

fn is_version(v: &str) -> bool {
    matches!(v.as_bytes(), [a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit())
}

fn bounded(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT_CHARS)
        .collect()
}

fn format_date(d: &Date) -> String {
    let zone = match d.rel {
        TimeRel::Universal => "Z".to_string(),
        TimeRel::Later => format!("+{:02}:{:02}", d.tz_hour, d.tz_minute),
        TimeRel::Earlier => format!("-{:02}:{:02}", d.tz_hour, d.tz_minute),
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone}",
        d.year, d.month, d.day, d.hour, d.minute, d.second
    )
}

/// A bounded walk of the AcroForm field tree collecting signature fields.
struct FieldWalk<'r, R: Resolve> {
    resolver: &'r R,
    visited: usize,
    found: Vec<SignatureFieldInfo>,
}

impl<R: Resolve> FieldWalk<'_, R> {
    fn visit(&mut self, field: &FieldDictionary, inherited: Option<FieldType>, depth: usize) {
        self.visited += 1;
        if depth > MAX_FIELD_DEPTH || self.visited > MAX_VISITED_FIELDS {
            return;
        }
        // /FT is inheritable (ISO 32000-1, 12.7.3.1)
        let typ = field.typ.or(inherited);
        if field.kids.is_empty() || typ == Some(FieldType::Signature) {
            if typ == Some(FieldType::Signature) && self.found.len() < MAX_LISTED_FIELDS {
                self.found.push(SignatureFieldInfo {
                    name: field
                        .name
                        .as_ref()
                        .map(|n| bounded(&n.to_string_lossy()))
                        .unwrap_or_default(),
                    signed: !matches!(field.value, pdf::primitive::Primitive::Null),
                });
            }
            if typ == Some(FieldType::Signature) {
                return;
            }
        }
        for kid in &field.kids {
            // a kid that does not resolve is skipped: intake describes, it does not judge forms
            if let Ok(k) = self.resolver.get(*kid)
                && let Some(child) = k.a.as_ref()
            {
                self.visit(child, typ, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::contract::testing::{TestPki, sample_pdf};
    use proptest::prelude::*;

    fn limits() -> IntakeLimits {
        IntakeLimits::default()
    }

    #[test]
    fn describes_a_contract() {
        for modern in [false, true] {
            let info = inspect_pdf(&sample_pdf(3, modern), &limits()).unwrap();
            assert_eq!(info.page_count, 3);
            assert_eq!(info.version, "1.7");
            assert_eq!(info.title.as_deref(), Some("Lease agreement"));
            assert_eq!(info.author.as_deref(), Some("张三"));
            assert_eq!(info.producer.as_deref(), Some("notarium tests"));
            assert_eq!(
                info.creation_date.as_deref(),
                Some("2026-05-04T03:02:01+08:00")
            );
            assert_eq!(
                info.modification_date.as_deref(),
                Some("2026-05-05T00:00:00Z")
            );
            assert!(!info.encrypted);
            assert!(!info.has_signatures());
            assert!(info.signature_fields.is_empty());
        }
    }

    #[test]
    fn sees_existing_signatures() {
        let pki = TestPki::new();
        let signed = pki.sign(&sample_pdf(1, false), "Party A", "party-a");
        let info = inspect_pdf(&signed, &limits()).unwrap();
        assert!(info.has_signatures());
        assert_eq!(info.sig_flags, 3);
        assert_eq!(
            info.signature_fields,
            [SignatureFieldInfo {
                name: "party-a".into(),
                signed: true
            }]
        );
    }

    #[test]
    fn refuses_what_is_not_a_readable_pdf() {
        let pdf = sample_pdf(2, false);
        let l = limits();
        assert_eq!(inspect_pdf(b"hello world", &l), Err(ContractError::NotPdf));
        assert_eq!(inspect_pdf(b"", &l), Err(ContractError::NotPdf));
        assert_eq!(inspect_pdf(b"%PDF-x.y\n", &l), Err(ContractError::NotPdf));
        // cut before the cross-reference data
        assert_eq!(
            inspect_pdf(&pdf[..pdf.len() / 2], &l),
            Err(ContractError::Truncated)
        );
        // a header and a startxref pointing nowhere
        let fake = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\nstartxref\n999999\n%%EOF\n";
        assert!(matches!(
            inspect_pdf(fake, &l),
            Err(ContractError::Unreadable(_))
        ));
        let small = IntakeLimits {
            max_bytes: 100,
            ..l
        };
        assert_eq!(
            inspect_pdf(&pdf, &small),
            Err(ContractError::TooLarge {
                size: pdf.len(),
                limit: 100
            })
        );
        let few = IntakeLimits { max_pages: 1, ..l };
        assert_eq!(inspect_pdf(&pdf, &few), Err(ContractError::TooManyPages(1)));
    }

    #[test]
    fn a_page_count_that_lies_is_unreadable() {
        let pdf = sample_pdf(2, false);
        let at = find(&pdf, b"/Count 2").unwrap();
        let mut bad = pdf.clone();
        bad[at + 7] = b'9';
        let e = inspect_pdf(&bad, &limits()).unwrap_err();
        assert!(matches!(e, ContractError::Unreadable(_)), "{e:?}");
        // the message is one short line without parser internals
        let text = e.to_string();
        assert!(
            !text.contains('\n') && !text.contains(".rs:") && text.len() < 200,
            "{text}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Random bytes behind a PDF header: refused with an error, never a panic.
        #[test]
        fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut bytes = b"%PDF-1.7\n".to_vec();
            bytes.extend(body);
            bytes.extend(b"\nstartxref\n9\n%%EOF\n");
            let _ = inspect_pdf(&bytes, &limits());
        }

        /// A real PDF with bytes overwritten, removed or cut: any outcome but a panic; the
        /// parser's own panics are caught and reported as ParserPanic.
        #[test]
        fn mutated_pdfs_never_panic(
            modern in any::<bool>(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
            cut in any::<prop::sample::Index>(),
            do_cut in any::<bool>(),
        ) {
            let mut pdf = sample_pdf(2, modern);
            for (at, byte) in edits {
                let i = at.index(pdf.len());
                pdf[i] = byte;
            }
            if do_cut {
                pdf.truncate(cut.index(pdf.len()));
            }
            match inspect_pdf(&pdf, &limits()) {
                Ok(info) => prop_assert!(info.page_count <= 2 || info.page_count < 10_000),
                Err(e) => prop_assert!(e.to_string().len() < 300),
            }
        }
    }
}
