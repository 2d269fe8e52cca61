//! E-invoices: detect the format, read it into one normalised model, validate it, and derive
//! its duplicate key and canonical digest. Pure: bytes in, model and findings out; no I/O.
//!
//! Formats: EN 16931 invoices and credit notes in UBL 2.1 and UN/CEFACT CII; the Chinese
//! fully digitalised e-invoice (数电票, root `EInvoice`) and the older Chinese e-invoice
//! (root `eInvoice`), each as XML or as the JSON mirror of `docs/invoice-json.md`.
//! Rules and their ids: `docs/invoice-rules.md`. Canonical form: `docs/invoice-canonical.md`.
//!
//! Untrusted input is bounded: at most [`MAX_INVOICE_BYTES`], [`MAX_DEPTH`] levels and
//! [`MAX_ELEMENTS`] elements; DOCTYPEs are refused; nothing here panics on any input.

pub mod canonical;
pub mod chinese_amount;
pub mod cii;
pub mod cn_digital;
pub mod cn_json;
pub mod cn_legacy;
pub mod en16931_terms;
pub mod error;
pub mod extract;
pub mod finding;
pub mod key;
pub mod model;
pub mod rules_cn;
pub mod rules_en16931;
pub mod tree;
pub mod ubl;
pub mod values;
pub mod xml_tree;

#[cfg(test)]
mod tests;

use en16931_terms::Locator;
use error::InvoiceError;
use extract::Extractor;
use finding::{Finding, Severity};
use key::InvoiceKey;
use model::{Invoice, Profile, Syntax};
use tree::Element;

/// Largest invoice document accepted, in bytes.
pub const MAX_INVOICE_BYTES: usize = 8 * 1024 * 1024;
/// Deepest element nesting accepted (EN 16931 documents need about 10).
pub const MAX_DEPTH: usize = 64;
/// Most elements (or JSON values) accepted in one document.
pub const MAX_ELEMENTS: usize = 200_000;

/// A document read into the model, with every finding (errors and warnings).
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The normalised invoice (fields that were absent or malformed are `None`).
    pub invoice: Invoice,
    /// Every finding: format problems first, then rules in id order.
    pub findings: Vec<Finding>,
}

impl Analysis {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// A valid invoice: model, warnings, duplicate key and canonical digest.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedInvoice {
    /// The normalised invoice.
    pub invoice: Invoice,
    /// Warnings (no errors: an invoice with errors is refused).
    pub findings: Vec<Finding>,
    /// The duplicate key.
    pub key: InvoiceKey,
    /// SHA-256 of the canonical serialisation (`canonical::canonical_bytes`).
    pub canonical_digest: [u8; 32],
}

/// Reads, validates and keys an invoice; `Err(Invalid)` lists every finding if any is an
/// error. `content_type` is the HTTP media type, if known (XML types, JSON types, or none /
/// `application/octet-stream` to sniff the first character).
pub fn parse_invoice(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<ParsedInvoice, InvoiceError> {
    let analysis = analyze_invoice(content_type, bytes)?;
    if analysis.has_errors() {
        return Err(InvoiceError::Invalid {
            findings: analysis.findings,
        });
    }
    let Some(key) = InvoiceKey::for_invoice(&analysis.invoice) else {
        // The rules require what the key needs, so this is a safety net only.
        let rule = if analysis.invoice.profile == Profile::En16931 {
            "BR-02"
        } else {
            "CN-01"
        };
        let mut findings = analysis.findings;
        findings.push(Finding::error(
            rule,
            "/",
            "no duplicate key can be formed from this invoice",
        ));
        return Err(InvoiceError::Invalid { findings });
    };
    let canonical_digest = canonical::canonical_digest(&analysis.invoice);
    Ok(ParsedInvoice {
        invoice: analysis.invoice,
        findings: analysis.findings,
        key,
        canonical_digest,
    })
}

/// Reads an invoice and runs every rule, without refusing it for errors (the offline
/// verifier and diagnostics use this). Errors only for unreadable documents.
pub fn analyze_invoice(content_type: Option<&str>, bytes: &[u8]) -> Result<Analysis, InvoiceError> {
    if bytes.len() > MAX_INVOICE_BYTES {
        return Err(InvoiceError::TooLarge {
            size: bytes.len(),
            limit: MAX_INVOICE_BYTES,
        });
    }
    match carrier(content_type, bytes)? {
        Carrier::Xml => read_tree(&xml_tree::parse(bytes)?, false),
        Carrier::Json => read_tree(&cn_json::parse(bytes)?, true),
    }
}

/// The outer syntax a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carrier {
    Xml,
    Json,
}

/// Chooses XML or JSON from the media type, sniffing when there is none.
fn carrier(content_type: Option<&str>, bytes: &[u8]) -> Result<Carrier, InvoiceError> {
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/json" => return Ok(Carrier::Json),
        "application/xml" | "text/xml" => return Ok(Carrier::Xml),
        m if m.ends_with("+json") => return Ok(Carrier::Json),
        m if m.ends_with("+xml") => return Ok(Carrier::Xml),
        "" | "application/octet-stream" => {}
        other => return Err(InvoiceError::UnsupportedContentType(other.to_string())),
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(InvoiceError::Empty),
        Some(b'<') => Ok(Carrier::Xml),
        Some(b'{') => Ok(Carrier::Json),
        Some(_) => Err(InvoiceError::UnknownFormat(
            "the document is neither XML nor JSON".into(),
        )),
    }
}

/// Picks the reader by root element and runs the matching rules.
fn read_tree(root: &Element, from_json: bool) -> Result<Analysis, InvoiceError> {
    let mut x = Extractor::default();
    let cn_syntax = if from_json {
        Syntax::CnJson
    } else {
        Syntax::CnXml
    };
    let (invoice, rules) = if !from_json && ubl::is_ubl_root(root) {
        let inv = ubl::read(root, &mut x);
        let loc = Locator::Ubl {
            credit_note_root: root.name == "CreditNote",
        };
        let rules = rules_en16931::check(&inv, loc);
        (inv, rules)
    } else if !from_json && cii::is_cii_root(root) {
        let inv = cii::read(root, &mut x);
        let rules = rules_en16931::check(&inv, Locator::Cii);
        (inv, rules)
    } else if root.name == cn_digital::ROOT {
        let inv = cn_digital::read(root, cn_syntax, &mut x);
        let rules = rules_cn::check(&inv);
        (inv, rules)
    } else if root.name == cn_legacy::ROOT {
        let inv = cn_legacy::read(root, cn_syntax, &mut x);
        let rules = rules_cn::check(&inv);
        (inv, rules)
    } else {
        let ns = root
            .ns
            .as_deref()
            .map(|n| format!("{{{n}}}"))
            .unwrap_or_default();
        return Err(InvoiceError::UnknownFormat(format!(
            "root element {ns}{} is not a UBL Invoice/CreditNote, CII CrossIndustryInvoice, EInvoice or eInvoice",
            root.name
        )));
    };
    let mut findings = x.findings;
    findings.extend(rules);
    Ok(Analysis { invoice, findings })
}
