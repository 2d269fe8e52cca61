//! The evidence certificate (存证证书): a printable bilingual HTML page rendered from
//! `templates/certificate.html` with minijinja, every value HTML-escaped.

use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use time::format_description::BorrowedFormatItem;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, UtcOffset};

const TEMPLATE_NAME: &str = "certificate.html";
const TEMPLATE: &str = include_str!("../../templates/certificate.html");

/// What the certificate page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateData {
    /// Record id.
    pub record_id: String,
    /// Record kind.
    pub kind: String,
    /// Depositing organisation's name.
    pub org_name: String,
    /// Depositing organisation's id.
    pub org_id: String,
    /// SHA-256 of the document, hex.
    pub document_sha256: String,
    /// The document's file name in the bundle, if included.
    pub document_file: Option<String>,
    /// First entry's token time, UTC.
    pub token_time_utc: String,
    /// First entry's token time in Beijing time (UTC+8).
    pub token_time_beijing: String,
    /// First entry's index in the log.
    pub log_index: u64,
    /// The log's origin.
    pub log_origin: String,
    /// When the certificate was made, UTC.
    pub generated_at: String,
    /// Each entry of the record's history.
    pub entries: Vec<CertificateEntry>,
    /// Cosignatures the policy requires.
    pub witness_threshold: usize,
    /// The witnesses' verifier keys.
    pub witness_keys: Vec<String>,
}

/// One entry on the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateEntry {
    /// Entry kind.
    pub kind: String,
    /// The entry's record id.
    pub record_id: String,
    /// The entry's detail text.
    pub detail: String,
    /// SHA-256 of its document, hex.
    pub document_sha256: String,
    /// The signer certificate's subject.
    pub certificate_subject: String,
    /// The signer certificate's serial, hex.
    pub certificate_serial: String,
    /// Who signed: the organisation, or the server on its behalf.
    pub signer: String,
    /// Token time, UTC.
    pub token_time_utc: String,
    /// Token time, Beijing.
    pub token_time_beijing: String,
    /// SHA-256 of the token, hex.
    pub token_sha256: String,
    /// Index in the log.
    pub log_index: u64,
    /// Leaf hash, hex.
    pub leaf_hash: String,
    /// Size of the checkpoint proven to.
    pub checkpoint_size: u64,
    /// Its root hash, base64.
    pub checkpoint_root: String,
    /// The witnesses whose cosignature lines the checkpoint carries.
    pub witnesses: Vec<String>,
}

const DATE_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// `2026-05-04 03:02:01 UTC`.
pub fn format_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    match t.format(DATE_TIME) {
        Ok(s) => format!("{s} UTC"),
        Err(_) => t.to_string(),
    }
}

/// `2026-05-04 11:02:01 北京时间 (UTC+8)`.
pub fn format_beijing(t: OffsetDateTime) -> String {
    let t = t.to_offset(offset!(+8));
    match t.format(DATE_TIME) {
        Ok(s) => format!("{s} 北京时间 (UTC+8)"),
        Err(_) => t.to_string(),
    }
}

/// Renders the certificate page. Every value is HTML-escaped; a template failure (which the
/// tests rule out for this template) yields a plain page saying so rather than a panic.
pub fn render_certificate(data: &CertificateData) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    let rendered = env
        .add_template(TEMPLATE_NAME, TEMPLATE)
        .and_then(|()| env.get_template(TEMPLATE_NAME))
        .and_then(|t| t.render(minijinja::value::Serde(data)));
    match rendered {
        Ok(html) => html,
        Err(e) => format!(
            "<!DOCTYPE html><html><body><p>certificate unavailable: {}</p></body></html>",
            escape_html(&e.to_string())
        ),
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
pub(crate) fn sample_data() -> CertificateData {
    use time::macros::datetime;
    let t = datetime!(2026-05-04 20:02:01 UTC);
    CertificateData {
        record_id: "4b1d0c6e-0000-4000-8000-000000000001".into(),
        kind: "invoice".into(),
        org_name: "平安保险 <script>alert(1)</script> & Co".into(),
        org_id: "0f0e0d0c-0b0a-0908-0706-050403020100".into(),
        document_sha256: "02e6a14b".repeat(8),
        document_file: Some("document.xml".into()),
        token_time_utc: format_utc(t),
        token_time_beijing: format_beijing(t),
        log_index: 41,
        log_origin: "notarium.example/log".into(),
        generated_at: format_utc(t),
        entries: vec![CertificateEntry {
            kind: "invoice".into(),
            record_id: "4b1d0c6e-0000-4000-8000-000000000001".into(),
            detail: "\"quoted\" detail".into(),
            document_sha256: "02e6a14b".repeat(8),
            certificate_subject: "CN=平安保险".into(),
            certificate_serial: "01ab".into(),
            signer: "organisation".into(),
            token_time_utc: format_utc(t),
            token_time_beijing: format_beijing(t),
            token_sha256: "70".repeat(32),
            log_index: 41,
            leaf_hash: "6e".repeat(32),
            checkpoint_size: 42,
            checkpoint_root: "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=".into(),
            witnesses: vec!["w1.example (2026-05-04 20:02:05 UTC)".into()],
        }],
        witness_threshold: 1,
        witness_keys: vec!["w1.example+b30f9bd9+BMqT".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escaped_bilingual_page() {
        let html = render_certificate(&sample_data());
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("存证证书"));
        assert!(html.contains("Evidence Certificate"));
        assert!(html.contains("@page { size: A4"));
        // Beijing time is eight hours ahead and crosses the date line here.
        assert!(html.contains("2026-05-04 20:02:01 UTC"));
        assert!(html.contains("2026-05-05 04:02:01 北京时间 (UTC+8)"));
        assert!(html.contains(&"02e6a14b".repeat(8)));
        assert!(html.contains("w1.example (2026-05-04 20:02:05 UTC)"));
        // Escaped, never raw.
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;"));
        assert!(html.contains("&amp; Co"));
        assert!(!html.contains("\"quoted\" detail"));
        // Self-contained: no external resources.
        for external in ["http://", "https://", "src=", "<link", "@import"] {
            assert!(!html.contains(external), "{external}");
        }
    }
}
