//! The one error type of the `contract` module. Every message is short and names what was
//! wrong; parser internals (the `pdf` and `lopdf` crates' long error chains) never reach it.

use serde::{Deserialize, Serialize};

/// Everything that can go wrong while inspecting, signing or verifying a contract PDF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ContractError {
    /// The document is larger than the configured bound.
    #[error("the PDF is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge {
        /// Size of the document.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The bytes do not start like a PDF.
    #[error("not a PDF: no %PDF- header")]
    NotPdf,
    /// The file ends before its cross-reference data.
    #[error("the PDF is truncated: no startxref / %%EOF at its end")]
    Truncated,
    /// The PDF is encrypted and cannot be opened without a password.
    #[error("the PDF is encrypted and needs a password to open")]
    Encrypted,
    /// The PDF could not be read; the reason is one short line.
    #[error("the PDF could not be read: {0}")]
    Unreadable(String),
    /// The PDF has more pages than accepted.
    #[error("the PDF has more than {0} pages")]
    TooManyPages(u32),
    /// The parser panicked on this input.
    #[error("the PDF could not be read: the parser failed on it")]
    ParserPanic,
    /// The isolated inspector ran out of time.
    #[error("reading the PDF took longer than {0} ms")]
    Timeout(u64),
    /// The isolated inspector died (memory cap, stack overflow, abort).
    #[error("reading the PDF exceeded the resource limits")]
    ResourceLimit,
    /// The isolated inspector could not be run at all (a server fault, not the document's).
    #[error("PDF inspector unavailable: {0}")]
    Inspector(String),
    /// The signing key, certificate or chain is unusable.
    #[error("signer: {0}")]
    Signer(String),
    /// The PDF cannot take a signature as asked (encrypted, field name taken, no page…).
    #[error("cannot sign this PDF: {0}")]
    Unsignable(String),
    /// The time-stamp callback failed or returned an unusable token.
    #[error("signature time-stamp: {0}")]
    Timestamp(String),
    /// The CMS signature does not fit in the space reserved for /Contents.
    #[error("the signature needs {needed} bytes but {reserved} are reserved")]
    SignatureTooLarge {
        /// Bytes of DER needed.
        needed: usize,
        /// Bytes reserved.
        reserved: usize,
    },
    /// Encoding a structure failed (does not happen with valid inputs).
    #[error("encoding failed: {0}")]
    Encoding(String),
    /// A CMS signature container is malformed.
    #[error("malformed CMS signature: {0}")]
    MalformedCms(String),
}

impl From<der::Error> for ContractError {
    fn from(e: der::Error) -> Self {
        Self::Encoding(e.to_string())
    }
}

/// One short, printable line of a parser's message: the first line, at most 120 characters,
/// control characters dropped, so no error chain or binary data reaches a client.
pub(crate) fn short_reason(message: &str) -> String {
    let first = message.lines().next().unwrap_or("").trim();
    let mut out: String = first
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    // a source location (`file.rs:12`) or an error chain is a parser's internals
    if out.is_empty() || out.contains(".rs:") || out.contains("caused by") {
        out = "malformed structure".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reason_keeps_one_bounded_printable_line() {
        let long = format!("first\u{7}line {}\nsecond line", "x".repeat(500));
        let r = short_reason(&long);
        assert!(r.starts_with("firstline "));
        assert_eq!(r.chars().count(), 120);
        assert!(!r.contains('\n'));
        assert_eq!(short_reason(""), "malformed structure");
        assert_eq!(
            short_reason("Try at /src/file.rs:197:33:, caused by\n  EOF"),
            "malformed structure"
        );
    }
}
