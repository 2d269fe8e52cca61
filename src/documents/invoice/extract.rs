//! Helpers the syntax readers share: reading text, decimals and dates out of tree elements
//! while recording a format finding (`FMT-*`) for every malformed value.

use rust_decimal::Decimal;
use time::Date;

use super::finding::{Finding, fmt_rules};
use super::model::InvoiceDate;
use super::tree::Element;
use super::values::parse_decimal;

/// Collects format findings while a reader walks the tree.
#[derive(Debug, Default)]
pub struct Extractor {
    /// Findings about malformed values, in reading order.
    pub findings: Vec<Finding>,
}

impl Extractor {
    /// Cleaned text of an optional element.
    pub fn text(&self, el: Option<&Element>) -> Option<String> {
        el.and_then(Element::clean_text)
    }

    /// Decimal value of an optional element; a present but malformed value gives `FMT-01`.
    pub fn decimal(&mut self, el: Option<&Element>, path: &str) -> Option<Decimal> {
        let raw = el.and_then(Element::clean_text)?;
        let value = parse_decimal(&raw);
        if value.is_none() {
            self.findings.push(Finding::error(
                fmt_rules::DECIMAL,
                path,
                format!("{raw:?} is not a decimal number (digits, optional sign and fraction; at most 18 integer and 10 fraction digits)"),
            ));
        }
        value
    }

    /// Rate in percent from a Chinese rate text (`0.13`, `13%`); non-numeric labels such as
    /// 免税 are returned as the second value instead.
    pub fn cn_rate(
        &mut self,
        el: Option<&Element>,
        path: &str,
    ) -> (Option<Decimal>, Option<String>) {
        let Some(raw) = el.and_then(Element::clean_text) else {
            return (None, None);
        };
        if let Some(rate) = super::values::parse_rate_percent(&raw) {
            return (Some(rate), None);
        }
        let looks_numeric = raw.chars().any(|c| c.is_ascii_digit());
        if looks_numeric {
            self.findings.push(Finding::error(
                fmt_rules::DECIMAL,
                path,
                format!("tax rate {raw:?} is neither a fraction (0.13) nor a percentage (13%)"),
            ));
            (None, None)
        } else {
            (None, Some(raw))
        }
    }

    /// Date of an optional element read with `parse`; present but malformed gives `FMT-02`.
    pub fn date(
        &mut self,
        el: Option<&Element>,
        path: &str,
        parse: fn(&str) -> Option<Date>,
        expected: &str,
    ) -> Option<InvoiceDate> {
        let raw = el.and_then(Element::clean_text)?;
        match parse(&raw) {
            Some(d) => Some(InvoiceDate(d)),
            None => {
                self.findings.push(Finding::error(
                    fmt_rules::DATE,
                    path,
                    format!("{raw:?} is not a valid date ({expected})"),
                ));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::invoice::values::parse_iso_date;

    fn el(text: &str) -> Element {
        let mut e = Element::new(None, "X");
        e.text = text.into();
        e
    }

    #[test]
    fn malformed_values_become_findings() {
        let mut x = Extractor::default();
        assert_eq!(x.decimal(Some(&el("1,5")), "/a"), None);
        assert_eq!(
            x.decimal(Some(&el(" ")), "/b"),
            None,
            "blank is absent, not malformed"
        );
        assert_eq!(x.decimal(None, "/c"), None);
        assert!(
            x.date(Some(&el("2019-02-30")), "/d", parse_iso_date, "YYYY-MM-DD")
                .is_none()
        );
        let rules: Vec<_> = x
            .findings
            .iter()
            .map(|f| (f.rule, f.element.as_str()))
            .collect();
        assert_eq!(rules, vec![("FMT-01", "/a"), ("FMT-02", "/d")]);
    }

    #[test]
    fn chinese_rates() {
        let mut x = Extractor::default();
        assert_eq!(
            x.cn_rate(Some(&el("0.13")), "/r").0,
            Some(Decimal::from(13))
        );
        assert_eq!(
            x.cn_rate(Some(&el("免税")), "/r"),
            (None, Some("免税".into()))
        );
        assert_eq!(x.cn_rate(Some(&el("13 %x")), "/r"), (None, None));
        assert_eq!(x.findings.len(), 1);
    }
}
