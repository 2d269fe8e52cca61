//! The canonical serialisation of a normalised invoice and its SHA-256 (the canonical digest).
//!
//! Format `notarium-invoice/1`, specified in `docs/invoice-canonical.md`: compact UTF-8 JSON
//! (no insignificant whitespace), object keys in the fixed order of the structs below (not
//! sorted, and independent of any serde_json feature), every scalar a string or `null`,
//! decimals without trailing fraction zeros (`17198.00` → `"17198"`), dates `YYYY-MM-DD`,
//! texts trimmed with inner whitespace collapsed. The source syntax is left out, so the same
//! invoice as XML or JSON (or as UBL or CII) has the same digest.

use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{Invoice, InvoiceDate, Party};
use super::values::{canonical_decimal, iso_date};

/// The version tag that opens every canonical form.
pub const CANONICAL_VERSION: &str = "notarium-invoice/1";

#[derive(Serialize)]
struct Canonical<'a> {
    v: &'static str,
    profile: &'static str,
    kind: &'static str,
    type_code: Option<&'a str>,
    specification_id: Option<&'a str>,
    number: Option<&'a str>,
    issue_date: Option<String>,
    currency: Option<&'a str>,
    seller: CParty<'a>,
    buyer: CParty<'a>,
    lines: Vec<CLine<'a>>,
    allowances_charges: Vec<CAllowanceCharge<'a>>,
    vat_breakdown: Vec<CVat<'a>>,
    totals: CTotals,
    preceding: Vec<CPreceding<'a>>,
    china: Option<CChina<'a>>,
}

#[derive(Serialize)]
struct CParty<'a> {
    name: Option<&'a str>,
    ids: Vec<[&'a str; 2]>,
    country: Option<&'a str>,
}

#[derive(Serialize)]
struct CLine<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
    quantity: Option<String>,
    unit: Option<&'a str>,
    unit_price: Option<String>,
    net_amount: Option<String>,
    tax_category: Option<&'a str>,
    tax_rate_percent: Option<String>,
    tax_amount: Option<String>,
}

#[derive(Serialize)]
struct CAllowanceCharge<'a> {
    charge: &'static str,
    amount: Option<String>,
    reason: Option<&'a str>,
    tax_category: Option<&'a str>,
    tax_rate_percent: Option<String>,
}

#[derive(Serialize)]
struct CVat<'a> {
    category: Option<&'a str>,
    rate_percent: Option<String>,
    taxable_amount: Option<String>,
    tax_amount: Option<String>,
}

#[derive(Serialize)]
struct CTotals {
    line_net: Option<String>,
    allowances: Option<String>,
    charges: Option<String>,
    without_tax: Option<String>,
    tax: Option<String>,
    with_tax: Option<String>,
    prepaid: Option<String>,
    rounding: Option<String>,
    payable: Option<String>,
}

#[derive(Serialize)]
struct CPreceding<'a> {
    number: &'a str,
    issue_date: Option<String>,
    code: Option<&'a str>,
}

#[derive(Serialize)]
struct CChina<'a> {
    vat_label: Option<&'a str>,
    invoice_code: Option<&'a str>,
    amount_in_capitals: Option<&'a str>,
    issue_time: Option<&'a str>,
    red_confirmation_number: Option<&'a str>,
}

fn d(v: &Option<Decimal>) -> Option<String> {
    v.as_ref().map(canonical_decimal)
}

fn date(v: &Option<InvoiceDate>) -> Option<String> {
    v.as_ref().map(|x| iso_date(&x.0))
}

fn party(p: &Party) -> CParty<'_> {
    CParty {
        name: p.name.as_deref(),
        ids: p
            .ids
            .iter()
            .map(|i| [i.scheme.as_str(), i.value.as_str()])
            .collect(),
        country: p.country.as_deref(),
    }
}

/// The canonical bytes of an invoice (see the module doc).
pub fn canonical_bytes(inv: &Invoice) -> Vec<u8> {
    let t = &inv.totals;
    let c = Canonical {
        v: CANONICAL_VERSION,
        profile: inv.profile.as_str(),
        kind: inv.kind.as_str(),
        type_code: inv.type_code.as_deref(),
        specification_id: inv.specification_id.as_deref(),
        number: inv.number.as_deref(),
        issue_date: date(&inv.issue_date),
        currency: inv.currency.as_deref(),
        seller: party(&inv.seller),
        buyer: party(&inv.buyer),
        lines: inv
            .lines
            .iter()
            .map(|l| CLine {
                id: l.id.as_deref(),
                name: l.name.as_deref(),
                quantity: d(&l.quantity),
                unit: l.unit.as_deref(),
                unit_price: d(&l.unit_price),
                net_amount: d(&l.net_amount),
                tax_category: l.tax_category.as_deref(),
                tax_rate_percent: d(&l.tax_rate_percent),
                tax_amount: d(&l.tax_amount),
            })
            .collect(),
        allowances_charges: inv
            .allowances_charges
            .iter()
            .map(|a| CAllowanceCharge {
                charge: if a.is_charge { "true" } else { "false" },
                amount: d(&a.amount),
                reason: a.reason.as_deref(),
                tax_category: a.tax_category.as_deref(),
                tax_rate_percent: d(&a.tax_rate_percent),
            })
            .collect(),
        vat_breakdown: inv
            .vat_breakdown
            .iter()
            .map(|v| CVat {
                category: v.category.as_deref(),
                rate_percent: d(&v.rate_percent),
                taxable_amount: d(&v.taxable_amount),
                tax_amount: d(&v.tax_amount),
            })
            .collect(),
        totals: CTotals {
            line_net: d(&t.line_net),
            allowances: d(&t.allowances),
            charges: d(&t.charges),
            without_tax: d(&t.without_tax),
            tax: d(&t.tax),
            with_tax: d(&t.with_tax),
            prepaid: d(&t.prepaid),
            rounding: d(&t.rounding),
            payable: d(&t.payable),
        },
        preceding: inv
            .preceding
            .iter()
            .map(|p| CPreceding {
                number: &p.number,
                issue_date: date(&p.issue_date),
                code: p.code.as_deref(),
            })
            .collect(),
        china: inv.china.as_ref().map(|c| CChina {
            vat_label: c.vat_label.as_deref(),
            invoice_code: c.invoice_code.as_deref(),
            amount_in_capitals: c.amount_in_capitals.as_deref(),
            issue_time: c.issue_time.as_deref(),
            red_confirmation_number: c.red_confirmation_number.as_deref(),
        }),
    };
    // Serialising plain structs of strings cannot fail; an empty vector would only ever
    // produce a digest that matches no invoice.
    serde_json::to_vec(&c).unwrap_or_default()
}

/// SHA-256 of the canonical bytes.
pub fn canonical_digest(inv: &Invoice) -> [u8; 32] {
    Sha256::digest(canonical_bytes(inv)).into()
}
