//! Tests over the whole pipeline: the conformance files, one broken invoice per rule, XML vs
//! JSON keys and digests, hostile input.
//!
//! Files under `tests/data/invoices/`: `ubl/` and `cii/` come from
//! github.com/ConnectingEurope/eInvoicing-EN16931 (`ubl/examples/`, `cii/examples/`, commit
//! b6c9e06a, EUPL-1.2); `cn/` holds samples constructed for this project (the 数电票 XML is
//! the shared test vector; the JSON and legacy files mirror it and are ours).

use std::collections::BTreeSet;
use std::path::Path;

use proptest::prelude::*;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::canonical::canonical_bytes;
use super::error::InvoiceError;
use super::finding::Severity;
use super::model::{InvoiceKind, Profile, Syntax};
use super::{Analysis, MAX_DEPTH, MAX_INVOICE_BYTES, analyze_invoice, parse_invoice};

fn data(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/invoices")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(rel: &str) -> String {
    String::from_utf8(data(rel)).expect("test files are UTF-8")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("test literal")
}

/// Replaces `from` (which must occur) by `to`, in the first occurrence only.
fn mutate(src: &str, from: &str, to: &str) -> String {
    assert!(src.contains(from), "mutation target {from:?} not found");
    src.replacen(from, to, 1)
}

/// Removes the `n`-th (0-based) block from `open` to the matching `close` inclusive.
fn remove_block(src: &str, open: &str, close: &str, n: usize) -> String {
    let start = src
        .match_indices(open)
        .nth(n)
        .map(|(i, _)| i)
        .expect("block present");
    let end = src[start..]
        .find(close)
        .map(|i| start + i + close.len())
        .expect("block closed");
    format!("{}{}", &src[..start], &src[end..])
}

fn analyze(ct: Option<&str>, doc: &str) -> Analysis {
    analyze_invoice(ct, doc.as_bytes()).expect("readable document")
}

/// The set of rule ids reported (errors and warnings).
fn rules(ct: Option<&str>, doc: &str) -> BTreeSet<&'static str> {
    analyze(ct, doc).findings.iter().map(|f| f.rule).collect()
}

fn set(ids: &[&'static str]) -> BTreeSet<&'static str> {
    ids.iter().copied().collect()
}

// ---------------------------------------------------------------------------------------
// The conformance files: all accepted, with the totals they state.

struct Expect {
    file: &'static str,
    number: &'static str,
    kind: InvoiceKind,
    lines: usize,
    line_net: &'static str,
    without_tax: &'static str,
    tax: &'static str,
    with_tax: &'static str,
    payable: &'static str,
}

/// Totals copied by hand from each file's LegalMonetaryTotal / MonetarySummation / TaxTotal.
const EN_FILES: [Expect; 12] = [
    Expect {
        file: "ubl/en16931-ubl-creditnote1.xml",
        number: "018304 / 28865",
        kind: InvoiceKind::CreditNote,
        lines: 1,
        line_net: "100.11",
        without_tax: "100.11",
        tax: "0.00",
        with_tax: "100.11",
        payable: "100.11",
    },
    Expect {
        file: "ubl/en16931-ubl-example1.xml",
        number: "12115118",
        kind: InvoiceKind::Invoice,
        lines: 20,
        line_net: "229.60",
        without_tax: "229.60",
        tax: "20.73",
        with_tax: "250.33",
        payable: "250.33",
    },
    Expect {
        file: "ubl/en16931-ubl-example2.xml",
        number: "TOSL108",
        kind: InvoiceKind::Invoice,
        lines: 5,
        line_net: "1436.50",
        without_tax: "1436.50",
        tax: "365.28",
        with_tax: "1801.78",
        payable: "801.78",
    },
    Expect {
        file: "ubl/en16931-ubl-example3.xml",
        number: "TOSL108",
        kind: InvoiceKind::Invoice,
        lines: 2,
        line_net: "1600.00",
        without_tax: "1700.00",
        tax: "305.00",
        with_tax: "2005.00",
        payable: "2005.00",
    },
    Expect {
        file: "ubl/en16931-ubl-example4.xml",
        number: "TOSL110",
        kind: InvoiceKind::Invoice,
        lines: 3,
        line_net: "4000.00",
        without_tax: "4000.00",
        tax: "675.00",
        with_tax: "4675.00",
        payable: "4675.00",
    },
    Expect {
        file: "ubl/en16931-ubl-example5.xml",
        number: "TOSL110",
        kind: InvoiceKind::Invoice,
        lines: 3,
        line_net: "4000.00",
        without_tax: "4000.00",
        tax: "675.00",
        with_tax: "4675.00",
        payable: "2337.50",
    },
    Expect {
        file: "cii/en16931-cii-example1.xml",
        number: "12115118",
        kind: InvoiceKind::Invoice,
        lines: 20,
        line_net: "229.6",
        without_tax: "229.6",
        tax: "20.73",
        with_tax: "250.33",
        payable: "250.33",
    },
    Expect {
        file: "cii/en16931-cii-example2.xml",
        number: "TOSL108",
        kind: InvoiceKind::Invoice,
        lines: 5,
        line_net: "1436.5",
        without_tax: "1436.5",
        tax: "365.28",
        with_tax: "1801.78",
        payable: "801.78",
    },
    Expect {
        file: "cii/en16931-cii-example3.xml",
        number: "TOSL108",
        kind: InvoiceKind::Invoice,
        lines: 1,
        line_net: "800",
        without_tax: "900",
        tax: "225",
        with_tax: "1125",
        payable: "1125",
    },
    Expect {
        file: "cii/en16931-cii-example4.xml",
        number: "TOSL110",
        kind: InvoiceKind::Invoice,
        lines: 3,
        line_net: "4000",
        without_tax: "4000",
        tax: "675",
        with_tax: "4675",
        payable: "4675",
    },
    Expect {
        file: "cii/en16931-cii-example5.xml",
        number: "TOSL110",
        kind: InvoiceKind::Invoice,
        lines: 3,
        line_net: "4000.00",
        without_tax: "4000",
        tax: "675.00",
        with_tax: "4675",
        payable: "2337.5",
    },
    Expect {
        file: "cii/en16931-cii-rounding-issue.xml",
        number: "0",
        kind: InvoiceKind::Invoice,
        lines: 4,
        line_net: "0.00",
        without_tax: "0.00",
        tax: "0.00",
        with_tax: "0.00",
        payable: "0.00",
    },
];

#[test]
fn every_en16931_file_is_accepted_with_its_totals() {
    for e in &EN_FILES {
        let parsed = parse_invoice(Some("application/xml"), &data(e.file))
            .unwrap_or_else(|err| panic!("{}: {err:?}", e.file));
        let inv = &parsed.invoice;
        assert_eq!(inv.profile, Profile::En16931, "{}", e.file);
        assert_eq!(
            inv.syntax,
            if e.file.starts_with("ubl") {
                Syntax::Ubl
            } else {
                Syntax::Cii
            }
        );
        assert_eq!(inv.number.as_deref(), Some(e.number), "{}", e.file);
        assert_eq!(inv.kind, e.kind, "{}", e.file);
        assert_eq!(inv.lines.len(), e.lines, "{}", e.file);
        let t = &inv.totals;
        assert_eq!(t.line_net, Some(dec(e.line_net)), "{} BT-106", e.file);
        assert_eq!(t.without_tax, Some(dec(e.without_tax)), "{} BT-109", e.file);
        assert_eq!(t.tax, Some(dec(e.tax)), "{} BT-110", e.file);
        assert_eq!(t.with_tax, Some(dec(e.with_tax)), "{} BT-112", e.file);
        assert_eq!(t.payable, Some(dec(e.payable)), "{} BT-115", e.file);
        assert!(
            parsed.findings.is_empty(),
            "{}: {:?}",
            e.file,
            parsed.findings
        );
    }
}

#[test]
fn rounding_issue_file_sums_to_exactly_zero() {
    let parsed = parse_invoice(None, &data("cii/en16931-cii-rounding-issue.xml")).expect("valid");
    let sum: Decimal = parsed
        .invoice
        .lines
        .iter()
        .filter_map(|l| l.net_amount)
        .sum();
    assert_eq!(sum, Decimal::ZERO);
    assert_eq!(
        parsed.key.as_str(),
        "en16931:vat=DE123456789:0",
        "the VAT id loses its spaces in the key"
    );
}

#[test]
fn credit_note_reads_as_credit_note_with_key() {
    let parsed = parse_invoice(None, &data("ubl/en16931-ubl-creditnote1.xml")).expect("valid");
    assert_eq!(parsed.invoice.kind, InvoiceKind::CreditNote);
    assert_eq!(parsed.invoice.type_code.as_deref(), Some("381"));
    assert_eq!(
        parsed.key.as_str(),
        "en16931:vat=BE0000000196:018304%20/%2028865"
    );
}

#[test]
fn credit_notes_carry_their_preceding_invoice() {
    let ubl = mutate(
        &text("ubl/en16931-ubl-creditnote1.xml"),
        "<cac:AccountingSupplierParty>",
        "<cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>INV-7</cbc:ID><cbc:IssueDate>2019-08-31</cbc:IssueDate></cac:InvoiceDocumentReference></cac:BillingReference><cac:AccountingSupplierParty>",
    );
    let a = analyze(None, &ubl);
    assert_eq!(a.invoice.preceding.len(), 1);
    assert_eq!(a.invoice.preceding[0].number, "INV-7");
    assert_eq!(
        a.invoice.preceding[0].issue_date.map(|d| d.0.to_string()),
        Some("2019-08-31".into())
    );

    let cii = mutate(
        &text("cii/en16931-cii-example3.xml"),
        "<ram:TypeCode>380</ram:TypeCode>",
        "<ram:TypeCode>381</ram:TypeCode>",
    );
    let cii = mutate(
        &cii,
        "</ram:SpecifiedTradeSettlementHeaderMonetarySummation>",
        "</ram:SpecifiedTradeSettlementHeaderMonetarySummation><ram:InvoiceReferencedDocument><ram:IssuerAssignedID>TOSL100</ram:IssuerAssignedID><ram:FormattedIssueDateTime><qdt:DateTimeString format=\"102\">20130301</qdt:DateTimeString></ram:FormattedIssueDateTime></ram:InvoiceReferencedDocument>",
    );
    let a = analyze(None, &cii);
    assert!(!a.has_errors(), "{:?}", a.findings);
    assert_eq!(a.invoice.kind, InvoiceKind::CreditNote);
    assert_eq!(a.invoice.preceding[0].number, "TOSL100");
    assert_eq!(
        a.invoice.preceding[0].issue_date.map(|d| d.0.to_string()),
        Some("2013-03-01".into())
    );
}

#[test]
fn shudian_file_is_accepted_with_its_totals() {
    let parsed = parse_invoice(
        Some("application/xml"),
        &data("cn/shudian-special-2lines.xml"),
    )
    .expect("valid");
    let inv = &parsed.invoice;
    assert_eq!(
        (inv.profile, inv.syntax, inv.kind),
        (Profile::CnDigital, Syntax::CnXml, InvoiceKind::Invoice)
    );
    assert_eq!(inv.totals.without_tax, Some(dec("15838.94")));
    assert_eq!(inv.totals.tax, Some(dec("1359.06")));
    assert_eq!(inv.totals.with_tax, Some(dec("17198.00")));
    assert_eq!(inv.lines.len(), 2);
    assert_eq!(inv.lines[1].tax_rate_percent, Some(dec("13")));
    let china = inv.china.as_ref().expect("chinese details");
    assert_eq!(china.vat_label.as_deref(), Some("01"));
    assert_eq!(
        china.amount_in_capitals.as_deref(),
        Some("壹万柒仟壹佰玖拾捌圆整")
    );
    assert_eq!(inv.seller.id("cn-taxpayer"), Some("91110000600037341L"));
    assert_eq!(parsed.key.as_str(), "cn-digital:25312000000012345678");
    assert!(parsed.findings.is_empty(), "{:?}", parsed.findings);
}

// ---------------------------------------------------------------------------------------
// Canonical form and duplicate key.

/// The canonical form of the 数电票 sample, written by hand from `docs/invoice-canonical.md`;
/// its SHA-256 was computed with Python's hashlib over this exact text.
const SHUDIAN_CANONICAL: &str = r#"{"v":"notarium-invoice/1","profile":"cn-digital","kind":"invoice","type_code":null,"specification_id":null,"number":"25312000000012345678","issue_date":"2026-11-20","currency":"CNY","seller":{"name":"示例财产保险股份有限公司","ids":[["cn-taxpayer","91110000600037341L"]],"country":null},"buyer":{"name":"示例物流有限公司","ids":[["cn-taxpayer","91310115MA1K3BTP2B"]],"country":null},"lines":[{"id":null,"name":"*保险服务*财产保险费","quantity":"1","unit":"项","unit_price":"10000","net_amount":"10000","tax_category":null,"tax_rate_percent":"6","tax_amount":"600"},{"id":null,"name":"*制冷空调设备*空调","quantity":"2","unit":"套","unit_price":"2919.47","net_amount":"5838.94","tax_category":null,"tax_rate_percent":"13","tax_amount":"759.06"}],"allowances_charges":[],"vat_breakdown":[],"totals":{"line_net":null,"allowances":null,"charges":null,"without_tax":"15838.94","tax":"1359.06","with_tax":"17198","prepaid":null,"rounding":null,"payable":null},"preceding":[],"china":{"vat_label":"01","invoice_code":null,"amount_in_capitals":"壹万柒仟壹佰玖拾捌圆整","issue_time":"2026-11-20 10:15:00","red_confirmation_number":null}}"#;
const SHUDIAN_DIGEST_HEX: &str = "12c7664631ac196d8a8151d17be9a6755bef16c41330459564c32c7ab9404dd5";

#[test]
fn canonical_form_matches_the_specification() {
    let parsed = parse_invoice(None, &data("cn/shudian-special-2lines.xml")).expect("valid");
    let bytes = canonical_bytes(&parsed.invoice);
    assert_eq!(
        String::from_utf8(bytes.clone()).expect("utf-8"),
        SHUDIAN_CANONICAL
    );
    assert_eq!(hex::encode(parsed.canonical_digest), SHUDIAN_DIGEST_HEX);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), SHUDIAN_DIGEST_HEX);
}

#[test]
fn chinese_xml_and_json_share_key_and_digest() {
    for (xml, json) in [
        (
            "cn/shudian-special-2lines.xml",
            "cn/shudian-special-2lines.json",
        ),
        (
            "cn/legacy-ordinary-1line.xml",
            "cn/legacy-ordinary-1line.json",
        ),
    ] {
        let x =
            parse_invoice(Some("text/xml"), &data(xml)).unwrap_or_else(|e| panic!("{xml}: {e:?}"));
        let j = parse_invoice(Some("application/json; charset=utf-8"), &data(json))
            .unwrap_or_else(|e| panic!("{json}: {e:?}"));
        assert_eq!(j.invoice.syntax, Syntax::CnJson);
        assert_eq!(x.key, j.key, "{xml}");
        assert_eq!(x.canonical_digest, j.canonical_digest, "{xml}");
        // Sniffing without a content type reaches the same result.
        let sniffed = parse_invoice(None, &data(json)).expect("valid");
        assert_eq!(sniffed.canonical_digest, j.canonical_digest);
    }
    let legacy = parse_invoice(None, &data("cn/legacy-ordinary-1line.xml")).expect("valid");
    assert_eq!(legacy.key.as_str(), "cn-legacy:011001900111:12345678");
    assert_eq!(
        legacy.invoice.issue_date.map(|d| d.0.to_string()),
        Some("2020-01-15".into())
    );
}

/// The CEN examples publish the same invoices in both syntaxes: same duplicate key.
#[test]
fn ubl_and_cii_of_the_same_invoice_share_the_key() {
    for n in 1..=5 {
        let ubl =
            parse_invoice(None, &data(&format!("ubl/en16931-ubl-example{n}.xml"))).expect("valid");
        let cii =
            parse_invoice(None, &data(&format!("cii/en16931-cii-example{n}.xml"))).expect("valid");
        assert_eq!(ubl.key, cii.key, "example {n}");
        assert!(ubl.key.as_str().starts_with("en16931:vat="), "{}", ubl.key);
    }
}

#[test]
fn reserialised_xml_keeps_its_digest_and_changed_content_does_not() {
    let original = text("ubl/en16931-ubl-example3.xml");
    let base = parse_invoice(None, original.as_bytes()).expect("valid");
    // Other namespace prefixes, no indentation, attributes in another order.
    let compact: String = original.lines().map(str::trim).collect::<Vec<_>>().join("");
    let reprefixed = compact
        .replace("xmlns:cbc=", "xmlns:b=")
        .replace("xmlns:cac=", "xmlns:a=")
        .replace("cbc:", "b:")
        .replace("cac:", "a:");
    let reordered = mutate(
        &reprefixed,
        "<b:EndDate>2013-04-01</b:EndDate>",
        "<b:EndDate >2013-04-01</b:EndDate >",
    );
    let again = parse_invoice(None, reordered.as_bytes()).expect("still valid");
    assert_eq!(again.canonical_digest, base.canonical_digest);
    assert_eq!(again.key, base.key);
    // Padding a value with spaces changes nothing; changing a value changes the digest.
    let padded = mutate(
        &original,
        "<cbc:Name>Paper subscription</cbc:Name>",
        "<cbc:Name>  Paper\n subscription </cbc:Name>",
    );
    assert_eq!(
        parse_invoice(None, padded.as_bytes())
            .expect("valid")
            .canonical_digest,
        base.canonical_digest
    );
    let renamed = mutate(
        &original,
        "<cbc:Name>Paper subscription</cbc:Name>",
        "<cbc:Name>Paper subscriptions</cbc:Name>",
    );
    assert_ne!(
        parse_invoice(None, renamed.as_bytes())
            .expect("valid")
            .canonical_digest,
        base.canonical_digest
    );
}

#[test]
fn attribute_order_does_not_matter() {
    let original = text("cii/en16931-cii-example5.xml");
    let a = parse_invoice(None, original.as_bytes()).expect("valid");
    let swapped = original.replace(
        "<ram:BilledQuantity unitCode=\"C62\">",
        "<ram:BilledQuantity xmlns:z=\"urn:z\" z:extra=\"1\" unitCode=\"C62\">",
    );
    assert_ne!(swapped, original);
    let b = parse_invoice(None, swapped.as_bytes()).expect("valid");
    assert_eq!(a.canonical_digest, b.canonical_digest);
}

// ---------------------------------------------------------------------------------------
// EN 16931: one broken invoice per rule.

const UBL3: &str = "ubl/en16931-ubl-example3.xml";
const CII3: &str = "cii/en16931-cii-example3.xml";

#[test]
fn en16931_mandatory_rules_each_fire() {
    let ubl = text(UBL3);
    let cases: [(&str, &str, &[&'static str]); 11] = [
        (
            "<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>",
            "",
            &["BR-01"],
        ),
        ("<cbc:ID>TOSL108</cbc:ID>", "", &["BR-02"]),
        ("<cbc:IssueDate>2013-04-10</cbc:IssueDate>", "", &["BR-03"]),
        (
            "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>",
            "",
            &["BR-04"],
        ),
        (
            "<cbc:DocumentCurrencyCode>DKK</cbc:DocumentCurrencyCode>",
            "",
            &["BR-05"],
        ),
        (
            "<cbc:RegistrationName>SubscriptionSeller</cbc:RegistrationName>",
            "",
            &["BR-06"],
        ),
        (
            "<cbc:RegistrationName>Buyercompany ltd</cbc:RegistrationName>",
            "",
            &["BR-07"],
        ),
        (
            "<cbc:LineExtensionAmount currencyID=\"DKK\">1600.00</cbc:LineExtensionAmount>",
            "",
            &["BR-12"],
        ),
        (
            "<cbc:TaxExclusiveAmount currencyID=\"DKK\">1700.00</cbc:TaxExclusiveAmount>",
            "",
            &["BR-13"],
        ),
        (
            "<cbc:TaxInclusiveAmount currencyID=\"DKK\">2005.00</cbc:TaxInclusiveAmount>",
            "",
            &["BR-14"],
        ),
        (
            "<cbc:PayableAmount currencyID=\"DKK\">2005.00</cbc:PayableAmount>",
            "",
            &["BR-15"],
        ),
    ];
    for (from, to, expected) in cases {
        let broken = mutate(&ubl, from, to);
        assert_eq!(rules(None, &broken), set(expected), "removing {from}");
        assert!(matches!(
            parse_invoice(None, broken.as_bytes()),
            Err(InvoiceError::Invalid { .. })
        ));
    }
}

#[test]
fn en16931_address_rules_each_fire() {
    let cii = text(CII3);
    let seller_addr = remove_block(
        &cii,
        "<ram:PostalTradeAddress>",
        "</ram:PostalTradeAddress>",
        0,
    );
    assert_eq!(rules(None, &seller_addr), set(&["BR-08"]));
    let buyer_addr = remove_block(
        &cii,
        "<ram:PostalTradeAddress>",
        "</ram:PostalTradeAddress>",
        1,
    );
    assert_eq!(rules(None, &buyer_addr), set(&["BR-10"]));
    let seller_country = mutate(&cii, "<ram:CountryID>DK</ram:CountryID>", "");
    assert_eq!(rules(None, &seller_country), set(&["BR-09"]));
    let buyer_country = remove_block(&cii, "<ram:CountryID>", "</ram:CountryID>", 1);
    assert_eq!(rules(None, &buyer_country), set(&["BR-11"]));
    let a = analyze(None, &buyer_country);
    assert!(
        a.findings[0]
            .element
            .ends_with("ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID")
    );
}

#[test]
fn en16931_no_lines_fires_br16() {
    let ubl = text(UBL3);
    let none = remove_block(
        &remove_block(&ubl, "<cac:InvoiceLine>", "</cac:InvoiceLine>", 0),
        "<cac:InvoiceLine>",
        "</cac:InvoiceLine>",
        0,
    );
    assert_eq!(rules(None, &none), set(&["BR-16", "BR-CO-10", "BR-CO-13"]));
}

#[test]
fn en16931_calculation_rules_each_fire() {
    let ubl = text(UBL3);
    let cases: [(&str, &str, &[&'static str]); 5] = [
        (
            "<cbc:LineExtensionAmount currencyID=\"DKK\">1600.00</cbc:LineExtensionAmount>",
            "<cbc:LineExtensionAmount currencyID=\"DKK\">1600.01</cbc:LineExtensionAmount>",
            &["BR-CO-10"],
        ),
        (
            "<cbc:TaxExclusiveAmount currencyID=\"DKK\">1700.00</cbc:TaxExclusiveAmount>",
            "<cbc:TaxExclusiveAmount currencyID=\"DKK\">1700.10</cbc:TaxExclusiveAmount>",
            &["BR-CO-13", "BR-CO-15"],
        ),
        (
            "<cbc:TaxAmount currencyID=\"DKK\">305.00</cbc:TaxAmount>",
            "<cbc:TaxAmount currencyID=\"DKK\">306.00</cbc:TaxAmount>",
            &["BR-CO-14", "BR-CO-15"],
        ),
        (
            "<cbc:TaxInclusiveAmount currencyID=\"DKK\">2005.00</cbc:TaxInclusiveAmount>",
            "<cbc:TaxInclusiveAmount currencyID=\"DKK\">2006.00</cbc:TaxInclusiveAmount>",
            &["BR-CO-15", "BR-CO-16"],
        ),
        (
            "<cbc:PayableAmount currencyID=\"DKK\">2005.00</cbc:PayableAmount>",
            "<cbc:PayableAmount currencyID=\"DKK\">2004.99</cbc:PayableAmount>",
            &["BR-CO-16"],
        ),
    ];
    for (from, to, expected) in cases {
        assert_eq!(rules(None, &mutate(&ubl, from, to)), set(expected), "{to}");
    }
    // A stated rounding amount makes the same payable amount consistent again.
    let rounded = mutate(
        &ubl,
        "<cbc:PayableAmount currencyID=\"DKK\">2005.00</cbc:PayableAmount>",
        "<cbc:PayableRoundingAmount currencyID=\"DKK\">-0.01</cbc:PayableRoundingAmount><cbc:PayableAmount currencyID=\"DKK\">2004.99</cbc:PayableAmount>",
    );
    assert_eq!(rules(None, &rounded), set(&[]));
    // CII totals too.
    let cii = mutate(
        &text(CII3),
        "<ram:GrandTotalAmount>1125</ram:GrandTotalAmount>",
        "<ram:GrandTotalAmount>1124</ram:GrandTotalAmount>",
    );
    assert_eq!(rules(None, &cii), set(&["BR-CO-15", "BR-CO-16"]));
}

#[test]
fn en16931_br_co_17_tolerance_is_the_schematron_one() {
    let ubl = text(UBL3);
    let sub = "<cbc:TaxAmount currencyID=\"DKK\">225.00</cbc:TaxAmount>";
    // 900 × 25 % = 225.00; the schematron accepts anything strictly within ±1.
    let near = mutate(
        &mutate(
            &ubl,
            sub,
            "<cbc:TaxAmount currencyID=\"DKK\">225.99</cbc:TaxAmount>",
        ),
        "<cbc:TaxAmount currencyID=\"DKK\">305.00</cbc:TaxAmount>",
        "<cbc:TaxAmount currencyID=\"DKK\">305.99</cbc:TaxAmount>",
    );
    let near = mutate(
        &near,
        "<cbc:TaxInclusiveAmount currencyID=\"DKK\">2005.00</cbc:TaxInclusiveAmount>",
        "<cbc:TaxInclusiveAmount currencyID=\"DKK\">2005.99</cbc:TaxInclusiveAmount>",
    );
    let near = mutate(
        &near,
        "<cbc:PayableAmount currencyID=\"DKK\">2005.00</cbc:PayableAmount>",
        "<cbc:PayableAmount currencyID=\"DKK\">2005.99</cbc:PayableAmount>",
    );
    assert_eq!(rules(None, &near), set(&[]));
    let far = near
        .replace("225.99", "226.00")
        .replace("305.99", "306.00")
        .replace("2005.99", "2006.00");
    assert_eq!(rules(None, &far), set(&["BR-CO-17"]));
    let a = analyze(None, &far);
    assert_eq!(
        a.findings[0].element,
        "/Invoice/cac:TaxTotal/cac:TaxSubtotal[1]/cbc:TaxAmount"
    );
    // A zero-rated category must carry no tax.
    let cn = text("ubl/en16931-ubl-creditnote1.xml");
    let taxed = cn.replace(
        "<cbc:TaxAmount currencyID=\"EUR\">0.00</cbc:TaxAmount>",
        "<cbc:TaxAmount currencyID=\"EUR\">1.00</cbc:TaxAmount>",
    );
    let taxed = taxed.replace(
        "<cbc:TaxInclusiveAmount currencyID=\"EUR\">100.11</cbc:TaxInclusiveAmount>",
        "<cbc:TaxInclusiveAmount currencyID=\"EUR\">101.11</cbc:TaxInclusiveAmount>",
    );
    let taxed = taxed.replace(
        "<cbc:PayableAmount currencyID=\"EUR\">100.11</cbc:PayableAmount>",
        "<cbc:PayableAmount currencyID=\"EUR\">101.11</cbc:PayableAmount>",
    );
    assert_eq!(rules(None, &taxed), set(&["BR-CO-17"]));
}

#[test]
fn malformed_values_are_format_findings() {
    let ubl = text(UBL3);
    let bad_amount = mutate(
        &ubl,
        ">2005.00</cbc:PayableAmount>",
        ">2005,00</cbc:PayableAmount>",
    );
    assert_eq!(rules(None, &bad_amount), set(&["FMT-01", "BR-15"]));
    let bad_date = mutate(
        &ubl,
        "<cbc:IssueDate>2013-04-10</cbc:IssueDate>",
        "<cbc:IssueDate>2013-02-30</cbc:IssueDate>",
    );
    assert_eq!(rules(None, &bad_date), set(&["FMT-02", "BR-03"]));
    let bad_cii_date = mutate(&text(CII3), ">20130410<", ">2013-04-10<");
    assert_eq!(rules(None, &bad_cii_date), set(&["FMT-02", "BR-03"]));
}

#[test]
fn every_finding_is_reported_at_once() {
    let ubl = text(UBL3);
    let broken = mutate(
        &ubl,
        "<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>",
        "",
    );
    let broken = mutate(&broken, "<cbc:IssueDate>2013-04-10</cbc:IssueDate>", "");
    let broken = mutate(
        &broken,
        ">2005.00</cbc:PayableAmount>",
        ">2004.00</cbc:PayableAmount>",
    );
    match parse_invoice(None, broken.as_bytes()) {
        Err(InvoiceError::Invalid { findings }) => {
            let ids: Vec<_> = findings.iter().map(|f| f.rule).collect();
            assert_eq!(ids, vec!["BR-01", "BR-03", "BR-CO-16"]);
            assert!(
                findings
                    .iter()
                    .all(|f| f.severity == Severity::Error && !f.message.is_empty())
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Chinese rules: one broken invoice per rule.

const SHUDIAN: &str = "cn/shudian-special-2lines.xml";
const LEGACY: &str = "cn/legacy-ordinary-1line.xml";

/// The sample turned into a consistent red-letter invoice reversing 25312000000000000001.
fn red_letter(mark: bool, reference: bool) -> String {
    let mut s = text(SHUDIAN);
    for (from, to) in [
        ("<Quantity>1</Quantity>", "<Quantity>-1</Quantity>"),
        ("<Quantity>2</Quantity>", "<Quantity>-2</Quantity>"),
        ("<Amount>10000.00</Amount>", "<Amount>-10000.00</Amount>"),
        (
            "<ComTaxAm>600.00</ComTaxAm>",
            "<ComTaxAm>-600.00</ComTaxAm>",
        ),
        ("<Amount>5838.94</Amount>", "<Amount>-5838.94</Amount>"),
        (
            "<ComTaxAm>759.06</ComTaxAm>",
            "<ComTaxAm>-759.06</ComTaxAm>",
        ),
        (">15838.94<", ">-15838.94<"),
        (">1359.06<", ">-1359.06<"),
        (">17198.00<", ">-17198.00<"),
        ("壹万柒仟壹佰玖拾捌圆整", "（负数）壹万柒仟壹佰玖拾捌圆整"),
    ] {
        s = mutate(&s, from, to);
    }
    if mark {
        s = mutate(
            &s,
            "<InherentLabel>",
            "<InherentLabel><InIssuType><LabelCode>N</LabelCode></InIssuType>",
        );
    }
    if reference {
        s = mutate(
            &s,
            "</EInvoiceData>",
            "<SpecificInformation><RedEInvoice><OriginalInvoiceCode>25312000000000000001</OriginalInvoiceCode><CreditNoteNumber>31011524091000000001</CreditNoteNumber></RedEInvoice></SpecificInformation></EInvoiceData>",
        );
    }
    s
}

#[test]
fn red_letter_invoice_is_accepted_and_linked() {
    let parsed = parse_invoice(None, red_letter(true, true).as_bytes()).expect("valid red letter");
    assert_eq!(parsed.invoice.kind, InvoiceKind::RedLetter);
    assert_eq!(parsed.invoice.preceding[0].number, "25312000000000000001");
    assert_eq!(parsed.invoice.totals.with_tax, Some(dec("-17198.00")));
    let china = parsed.invoice.china.as_ref().expect("details");
    assert_eq!(
        china.red_confirmation_number.as_deref(),
        Some("31011524091000000001")
    );
    // The reference alone also marks a red letter.
    assert!(parse_invoice(None, red_letter(false, true).as_bytes()).is_ok());
}

#[test]
fn chinese_rules_each_fire() {
    let s = text(SHUDIAN);
    let cases: Vec<(String, &[&'static str])> = vec![
        (
            mutate(
                &s,
                "<EIid>25312000000012345678</EIid>",
                "<EIid>2531200000001234567</EIid>",
            ),
            &["CN-01", "CN-21"],
        ),
        (
            mutate(&s, "<SellerName>示例财产保险股份有限公司</SellerName>", ""),
            &["CN-03"],
        ),
        (
            mutate(&s, "<SellerIdNum>91110000600037341L</SellerIdNum>", ""),
            &["CN-04"],
        ),
        (
            mutate(&s, "<BuyerName>示例物流有限公司</BuyerName>", ""),
            &["CN-05"],
        ),
        (
            mutate(&s, "<BuyerIdNum>91310115MA1K3BTP2B</BuyerIdNum>", ""),
            &["CN-06"],
        ),
        (
            mutate(&s, "<LabelCode>01</LabelCode>", "<LabelCode>03</LabelCode>"),
            &["CN-07"],
        ),
        (
            mutate(
                &s,
                "<RequestTime>2026-11-20 10:15:00</RequestTime>",
                "<RequestTime>2026-11-31 10:15:00</RequestTime>",
            ),
            &["FMT-02", "CN-08"],
        ),
        (
            remove_block(
                &remove_block(&s, "<IssuItemInformation>", "</IssuItemInformation>", 0),
                "<IssuItemInformation>",
                "</IssuItemInformation>",
                0,
            ),
            &["CN-09", "CN-10", "CN-11"],
        ),
        (mutate(&s, ">15838.94<", ">15838.95<"), &["CN-10", "CN-12"]),
        (mutate(&s, ">1359.06<", ">1359.07<"), &["CN-11", "CN-12"]),
        (mutate(&s, ">17198.00<", ">17198.01<"), &["CN-12", "CN-13"]),
        (
            mutate(&s, "壹万柒仟壹佰玖拾捌圆整", "壹万柒仟壹佰玖拾玖圆整"),
            &["CN-13"],
        ),
        (
            mutate(
                &s,
                "<UnPrice>2919.47</UnPrice>",
                "<UnPrice>2919.48</UnPrice>",
            ),
            &["CN-14"],
        ),
        (
            mutate(&s, "<TaxRate>0.13</TaxRate>", "<TaxRate>0.09</TaxRate>"),
            &["CN-15"],
        ),
        (
            mutate(&s, "<TaxRate>0.06</TaxRate>", "<TaxRate>0.07</TaxRate>"),
            &["CN-15", "CN-16"],
        ),
        (
            mutate(&s, "<TaxRate>0.06</TaxRate>", "<TaxRate>零税率X</TaxRate>"),
            &["CN-15", "CN-16"],
        ),
        (
            mutate(
                &s,
                "<SellerIdNum>91110000600037341L</SellerIdNum>",
                "<SellerIdNum>91110000600037341M</SellerIdNum>",
            ),
            &["CN-17"],
        ),
        (
            mutate(
                &s,
                "<InherentLabel>",
                "<InherentLabel><InIssuType><LabelCode>N</LabelCode></InIssuType>",
            ),
            &["CN-18", "CN-19"],
        ),
        (red_letter(true, false), &["CN-19"]),
        (red_letter(false, false), &["CN-20"]),
        (
            mutate(
                &s,
                "<InvoiceNumber>25312000000012345678</InvoiceNumber>",
                "<InvoiceNumber>25312000000012345679</InvoiceNumber>",
            ),
            &["CN-21"],
        ),
        (mutate(&s, ">1359.06<", ">1,359.06<"), &["FMT-01", "CN-11"]),
    ];
    for (doc, expected) in cases {
        assert_eq!(rules(None, &doc), set(expected), "{doc}");
    }
}

#[test]
fn chinese_line_tolerances_are_inclusive() {
    let s = text(SHUDIAN);
    // 2 × 2919.475 = 5838.95, 0.01 off the stated 5838.94: allowed.
    assert_eq!(
        rules(
            None,
            &mutate(
                &s,
                "<UnPrice>2919.47</UnPrice>",
                "<UnPrice>2919.475</UnPrice>"
            )
        ),
        set(&[])
    );
    // 5838.94 × 13 % = 759.0622; a tax of 759.12 is 0.0578 off (allowed), 759.13 is 0.0678 off.
    let shift = |tax: &str, total: &str, with: &str, caps: &str| {
        let d = mutate(
            &s,
            "<ComTaxAm>759.06</ComTaxAm>",
            &format!("<ComTaxAm>{tax}</ComTaxAm>"),
        );
        let d = mutate(&d, ">1359.06<", &format!(">{total}<"));
        let d = mutate(&d, ">17198.00<", &format!(">{with}<"));
        mutate(&d, "壹万柒仟壹佰玖拾捌圆整", caps)
    };
    assert_eq!(
        rules(
            None,
            &shift(
                "759.12",
                "1359.12",
                "17198.06",
                "壹万柒仟壹佰玖拾捌圆零陆分"
            )
        ),
        set(&[])
    );
    assert_eq!(
        rules(
            None,
            &shift(
                "759.13",
                "1359.13",
                "17198.07",
                "壹万柒仟壹佰玖拾捌圆零柒分"
            )
        ),
        set(&["CN-15"])
    );
}

#[test]
fn chinese_warning_does_not_refuse() {
    let s = mutate(
        &text(SHUDIAN),
        "<BuyerIdNum>91310115MA1K3BTP2B</BuyerIdNum>",
        "<BuyerIdNum>91310115MA1K3BTP2C</BuyerIdNum>",
    );
    let parsed = parse_invoice(None, s.as_bytes()).expect("a warning does not refuse");
    assert_eq!(parsed.findings.len(), 1);
    assert_eq!(parsed.findings[0].severity, Severity::Warning);
    assert_eq!(parsed.findings[0].rule, "CN-17");
    assert!(
        parsed.findings[0].message.contains("expected 'B'"),
        "{}",
        parsed.findings[0].message
    );
}

#[test]
fn legacy_rules_and_red_letter_from_the_remark() {
    let s = text(LEGACY);
    assert_eq!(rules(None, &s), set(&[]));
    assert_eq!(
        rules(
            None,
            &mutate(
                &s,
                "<fp:InvoiceNo>12345678</fp:InvoiceNo>",
                "<fp:InvoiceNo>1234567</fp:InvoiceNo>"
            )
        ),
        set(&["CN-01"])
    );
    assert_eq!(
        rules(
            None,
            &mutate(
                &s,
                "<fp:InvoiceCode>011001900111</fp:InvoiceCode>",
                "<fp:InvoiceCode>01100190011</fp:InvoiceCode>"
            )
        ),
        set(&["CN-02"])
    );
    assert_eq!(
        rules(None, &mutate(&s, ">壹仟零陆拾圆整<", ">壹仟零陆拾壹圆整<")),
        set(&["CN-13"])
    );
    let mut red = s.clone();
    for (from, to) in [
        (
            "<fp:Quantity>1</fp:Quantity>",
            "<fp:Quantity>-1</fp:Quantity>",
        ),
        (
            "<fp:Amount>1000.00</fp:Amount>",
            "<fp:Amount>-1000.00</fp:Amount>",
        ),
        (
            "<fp:TaxAmount>60.00</fp:TaxAmount>",
            "<fp:TaxAmount>-60.00</fp:TaxAmount>",
        ),
        (
            ">1000.00</fp:TaxExclusiveTotalAmount>",
            ">-1000.00</fp:TaxExclusiveTotalAmount>",
        ),
        (">60.00</fp:TaxTotalAmount>", ">-60.00</fp:TaxTotalAmount>"),
        (
            ">1060.00</fp:TaxInclusiveTotalAmount>",
            ">-1060.00</fp:TaxInclusiveTotalAmount>",
        ),
        (">壹仟零陆拾圆整<", ">负壹仟零陆拾圆整<"),
    ] {
        red = mutate(&red, from, to);
    }
    // Negative without the remark: a red letter that names no original.
    assert_eq!(rules(None, &red), set(&["CN-19"]));
    let linked = mutate(
        &red,
        "<fp:Note>保单号 PA0001</fp:Note>",
        "<fp:Note>对应正数发票代码:011001900111号码:12345670</fp:Note>",
    );
    let parsed = parse_invoice(None, linked.as_bytes()).expect("valid red letter");
    assert_eq!(parsed.invoice.kind, InvoiceKind::RedLetter);
    assert_eq!(
        parsed.invoice.preceding[0].code.as_deref(),
        Some("011001900111")
    );
    assert_eq!(parsed.invoice.preceding[0].number, "12345670");
}

// ---------------------------------------------------------------------------------------
// Hostile and unreadable input.

#[test]
fn hostile_xml_is_refused_with_a_clear_error() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
    assert_eq!(
        parse_invoice(None, laughs.as_bytes()),
        Err(InvoiceError::Doctype)
    );
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><EInvoice>&x;</EInvoice>"#;
    assert_eq!(
        parse_invoice(None, xxe.as_bytes()),
        Err(InvoiceError::Doctype)
    );
    let deep = "<EInvoice>".to_string() + &"<a>".repeat(100_000);
    assert_eq!(
        parse_invoice(None, deep.as_bytes()),
        Err(InvoiceError::TooDeep { limit: MAX_DEPTH })
    );
    let huge = vec![b' '; MAX_INVOICE_BYTES + 1];
    assert_eq!(
        parse_invoice(None, &huge),
        Err(InvoiceError::TooLarge {
            size: MAX_INVOICE_BYTES + 1,
            limit: MAX_INVOICE_BYTES
        })
    );
    let deep_json = "{\"EInvoice\":".to_string() + &"{\"a\":".repeat(100_000);
    assert!(matches!(
        parse_invoice(None, deep_json.as_bytes()),
        Err(InvoiceError::Json(_))
    ));
    let msg = InvoiceError::Doctype.to_string();
    assert!(msg.contains("DOCTYPE"), "{msg}");
}

#[test]
fn unreadable_input_is_refused_with_a_clear_error() {
    assert_eq!(parse_invoice(None, b"  \n"), Err(InvoiceError::Empty));
    assert!(matches!(
        parse_invoice(Some("text/plain"), b"<a/>"),
        Err(InvoiceError::UnsupportedContentType(_))
    ));
    assert!(matches!(
        parse_invoice(None, b"%PDF-1.7"),
        Err(InvoiceError::UnknownFormat(_))
    ));
    assert!(
        matches!(parse_invoice(None, b"<Order xmlns=\"urn:x\"/>"), Err(InvoiceError::UnknownFormat(m)) if m.contains("{urn:x}Order"))
    );
    // UBL names in JSON are not a format we read.
    assert!(matches!(
        parse_invoice(None, b"{\"Invoice\":{}}"),
        Err(InvoiceError::UnknownFormat(_))
    ));
    // A UBL root in the wrong namespace is not UBL.
    assert!(matches!(
        parse_invoice(None, b"<Invoice xmlns=\"urn:wrong\"/>"),
        Err(InvoiceError::UnknownFormat(_))
    ));
    assert!(matches!(
        parse_invoice(Some("application/xml"), b"{\"EInvoice\":{}}"),
        Err(InvoiceError::Xml(_))
    ));
    let float = r#"{"EInvoice":{"EInvoiceData":{"BasicInformation":{"TotalTaxAm":1359.06}}}}"#;
    assert!(
        matches!(parse_invoice(None, float.as_bytes()), Err(InvoiceError::Json(m)) if m.contains("TotalTaxAm"))
    );
}

fn corpus() -> Vec<Vec<u8>> {
    [
        "ubl/en16931-ubl-example1.xml",
        "ubl/en16931-ubl-creditnote1.xml",
        "cii/en16931-cii-example2.xml",
        "cii/en16931-cii-rounding-issue.xml",
        SHUDIAN,
        "cn/shudian-special-2lines.json",
        LEGACY,
    ]
    .iter()
    .map(|f| data(f))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), ct in 0usize..3) {
        let ct = [None, Some("application/xml"), Some("application/json")][ct];
        let _ = analyze_invoice(ct, &bytes);
        let mut xml = b"<EInvoice>".to_vec();
        xml.extend_from_slice(&bytes);
        let _ = analyze_invoice(None, &xml);
    }

    #[test]
    fn mutated_invoices_never_panic(
        which in 0usize..7,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let corpus = corpus();
        let mut doc = corpus[which % corpus.len()].clone();
        for (at, byte, op) in edits {
            if doc.is_empty() { break; }
            let i = at.index(doc.len());
            match op {
                0 => doc[i] = byte,
                1 => { doc.remove(i); }
                _ => doc.insert(i, byte),
            }
        }
        if let Ok(a) = analyze_invoice(None, &doc) {
            // Whatever was read keeps yielding a canonical form and maybe a key.
            let _ = canonical_bytes(&a.invoice);
            let _ = super::key::InvoiceKey::for_invoice(&a.invoice);
        }
    }

    #[test]
    fn mutated_amounts_never_panic(amount in "[-+0-9.eE,_ ]{0,40}", which in 0usize..4) {
        let s = text(SHUDIAN);
        let targets = [">15838.94<", ">1359.06<", "<UnPrice>2919.47<", "<Quantity>2<"];
        let target = targets[which];
        let replacement = target.replace(|c: char| c.is_ascii_digit() || c == '.', "").replace("><", &format!(">{amount}<"));
        let doc = s.replacen(target, &replacement, 1);
        let _ = analyze_invoice(None, doc.as_bytes());
    }
}
