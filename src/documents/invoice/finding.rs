//! Validation findings: which rule, where, why, how serious.

use serde::Serialize;

/// How serious a finding is: errors reject the invoice, warnings are reported only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The invoice is refused.
    Error,
    /// The invoice is accepted; the finding is reported to the submitter.
    Warning,
}

/// One broken rule: stable rule id (see `docs/invoice-rules.md`), element path, message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id, e.g. `BR-CO-15` or `CN-09`.
    pub rule: &'static str,
    /// XPath-like location of the element concerned (XML element names, also for JSON input).
    pub element: String,
    /// Human-readable explanation with the values involved.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

impl Finding {
    /// An error finding.
    pub fn error(
        rule: &'static str,
        element: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            rule,
            element: element.into(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// A warning finding.
    pub fn warning(
        rule: &'static str,
        element: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            rule,
            element: element.into(),
            message: message.into(),
            severity: Severity::Warning,
        }
    }
}

/// Format-level rule ids shared by every syntax (malformed values found while reading).
pub mod fmt_rules {
    /// A decimal amount, quantity or rate is not a plain decimal number.
    pub const DECIMAL: &str = "FMT-01";
    /// A date is not a valid calendar date in the syntax's format.
    pub const DATE: &str = "FMT-02";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_serialises_lowercase() {
        let f = Finding::warning("CN-14", "/EInvoice", "check");
        let json = serde_json::to_string(&f).expect("serialisable");
        assert!(json.contains("\"severity\":\"warning\""), "{json}");
        assert!(json.contains("\"rule\":\"CN-14\""), "{json}");
        assert_eq!(Finding::error("BR-01", "/", "x").severity, Severity::Error);
    }
}
