//! The one error type of the invoice module.
//!
//! Policy: an `InvoiceError` means the bytes could not be read as an invoice at all (too big,
//! not XML/JSON, hostile constructs, unknown format) or were read but broke business rules
//! (`Invalid`, carrying every finding at once). Messages are safe to show to the submitter:
//! they never include parser internals beyond a position and a short reason.

use super::finding::Finding;

/// Why an invoice was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum InvoiceError {
    /// The document is larger than the accepted maximum.
    #[error("invoice is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge {
        /// Size of the submitted document in bytes.
        size: usize,
        /// Maximum accepted size in bytes.
        limit: usize,
    },
    /// The document is empty (or only whitespace).
    #[error("invoice document is empty")]
    Empty,
    /// The declared content type is neither XML nor JSON.
    #[error("content type {0:?} is not accepted for invoices (use an XML or JSON type)")]
    UnsupportedContentType(String),
    /// The bytes are not UTF-8, or the XML declaration names another encoding.
    #[error("invoice must be encoded in UTF-8: {0}")]
    Encoding(String),
    /// The XML carries a document type declaration (DTDs and entity definitions are refused).
    #[error("XML document type declarations (DOCTYPE) are not accepted")]
    Doctype,
    /// The XML refers to an entity that is not one of the five predefined ones.
    #[error("undefined XML entity reference &{0};")]
    UndefinedEntity(String),
    /// Elements are nested deeper than the limit.
    #[error("elements nested deeper than {limit} levels")]
    TooDeep {
        /// Maximum nesting depth.
        limit: usize,
    },
    /// The document holds more elements (or JSON values) than the limit.
    #[error("more than {limit} elements")]
    TooManyElements {
        /// Maximum number of elements.
        limit: usize,
    },
    /// The XML is not well-formed.
    #[error("malformed XML: {0}")]
    Xml(String),
    /// The JSON is malformed or does not follow the documented invoice schema.
    #[error("malformed invoice JSON: {0}")]
    Json(String),
    /// The root element (or JSON top-level key) names no invoice format we read.
    #[error("unknown invoice format: {0}")]
    UnknownFormat(String),
    /// The invoice was read but breaks business rules; every finding is listed.
    #[error("invoice breaks {} rule(s)", .findings.len())]
    Invalid {
        /// All findings, errors and warnings, in rule order.
        findings: Vec<Finding>,
    },
}
