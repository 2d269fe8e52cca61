//! EN 16931-1 business rules checked here: mandatory terms BR-01…BR-16 and the calculation
//! rules BR-CO-10, -13, -14, -15, -16, -17, in decimal arithmetic with the rounding of the
//! CEN schematron (XPath `round(x*100) div 100`). A malformed value counts as absent.

use rust_decimal::Decimal;

use super::en16931_terms::{Locator, Term};
use super::finding::Finding;
use super::model::Invoice;
use super::values::{checked_sum, round0, round2};

/// Checks every implemented EN 16931 rule and returns all findings.
pub fn check(inv: &Invoice, loc: Locator) -> Vec<Finding> {
    let mut out = Vec::new();
    mandatory(inv, loc, &mut out);
    calculations(inv, loc, &mut out);
    out
}

fn mandatory(inv: &Invoice, loc: Locator, out: &mut Vec<Finding>) {
    let mut require = |present: bool, rule: &'static str, term: Term, what: &str| {
        if !present {
            out.push(Finding::error(
                rule,
                loc.path(term),
                format!("An Invoice shall have {what}."),
            ));
        }
    };
    require(
        inv.specification_id.is_some(),
        "BR-01",
        Term::Specification,
        "a Specification identifier (BT-24)",
    );
    require(
        inv.number.is_some(),
        "BR-02",
        Term::Number,
        "an Invoice number (BT-1)",
    );
    require(
        inv.issue_date.is_some(),
        "BR-03",
        Term::IssueDate,
        "an Invoice issue date (BT-2)",
    );
    require(
        inv.type_code.is_some(),
        "BR-04",
        Term::TypeCode,
        "an Invoice type code (BT-3)",
    );
    require(
        inv.currency.is_some(),
        "BR-05",
        Term::Currency,
        "an Invoice currency code (BT-5)",
    );
    require(
        inv.seller.name.is_some(),
        "BR-06",
        Term::SellerName,
        "the Seller name (BT-27)",
    );
    require(
        inv.buyer.name.is_some(),
        "BR-07",
        Term::BuyerName,
        "the Buyer name (BT-44)",
    );
    require(
        inv.seller.has_postal_address,
        "BR-08",
        Term::SellerAddress,
        "the Seller postal address (BG-5)",
    );
    if inv.seller.has_postal_address {
        require(
            inv.seller.country.is_some(),
            "BR-09",
            Term::SellerCountry,
            "a Seller country code (BT-40) in the Seller postal address",
        );
    }
    require(
        inv.buyer.has_postal_address,
        "BR-10",
        Term::BuyerAddress,
        "the Buyer postal address (BG-8)",
    );
    if inv.buyer.has_postal_address {
        require(
            inv.buyer.country.is_some(),
            "BR-11",
            Term::BuyerCountry,
            "a Buyer country code (BT-55) in the Buyer postal address",
        );
    }
    let t = &inv.totals;
    require(
        t.line_net.is_some(),
        "BR-12",
        Term::LineNetTotal,
        "the Sum of Invoice line net amount (BT-106)",
    );
    require(
        t.without_tax.is_some(),
        "BR-13",
        Term::WithoutTax,
        "the Invoice total amount without VAT (BT-109)",
    );
    require(
        t.with_tax.is_some(),
        "BR-14",
        Term::WithTax,
        "the Invoice total amount with VAT (BT-112)",
    );
    require(
        t.payable.is_some(),
        "BR-15",
        Term::Payable,
        "the Amount due for payment (BT-115)",
    );
    require(
        !inv.lines.is_empty(),
        "BR-16",
        Term::Lines,
        "at least one Invoice line (BG-25)",
    );
}

/// Reports `rule` when `expected` (computed) differs from `stated`, or when computing overflowed.
fn compare(
    out: &mut Vec<Finding>,
    rule: &'static str,
    element: String,
    stated: Decimal,
    expected: Option<Decimal>,
    formula: &str,
) {
    match expected {
        Some(e) if e == stated => {}
        Some(e) => out.push(Finding::error(
            rule,
            element,
            format!("{formula}: stated {stated}, computed {e}"),
        )),
        None => out.push(Finding::error(
            rule,
            element,
            format!("{formula}: arithmetic overflow"),
        )),
    }
}

fn calculations(inv: &Invoice, loc: Locator, out: &mut Vec<Finding>) {
    let t = &inv.totals;
    let line_sum = checked_sum(inv.lines.iter().filter_map(|l| l.net_amount.as_ref()));
    let line_sum_rounded = line_sum.and_then(round2);
    let zero = Decimal::ZERO;

    if let Some(stated) = t.line_net {
        compare(
            out,
            "BR-CO-10",
            loc.path(Term::LineNetTotal),
            stated,
            line_sum_rounded,
            "Sum of Invoice line net amount (BT-106) = Σ Invoice line net amount (BT-131)",
        );
    }
    if let Some(stated) = t.without_tax {
        let expected = (|| {
            let charges = round2(t.charges.unwrap_or(zero))?;
            let allowances = round2(t.allowances.unwrap_or(zero))?;
            line_sum_rounded?
                .checked_add(charges)?
                .checked_sub(allowances)
        })();
        compare(
            out,
            "BR-CO-13",
            loc.path(Term::WithoutTax),
            stated,
            expected,
            "Invoice total amount without VAT (BT-109) = Σ BT-131 − allowances (BT-107) + charges (BT-108)",
        );
    }
    let vat_sum = checked_sum(
        inv.vat_breakdown
            .iter()
            .filter_map(|v| v.tax_amount.as_ref()),
    )
    .and_then(round2);
    match t.tax {
        Some(stated) => compare(
            out,
            "BR-CO-14",
            loc.path(Term::Tax),
            stated,
            vat_sum,
            "Invoice total VAT amount (BT-110) = Σ VAT category tax amount (BT-117)",
        ),
        None if vat_sum != Some(zero) => out.push(Finding::error(
            "BR-CO-14",
            loc.path(Term::Tax),
            "Invoice total VAT amount (BT-110) is missing but the VAT breakdown holds tax",
        )),
        None => {}
    }
    if let (Some(stated), Some(without)) = (t.with_tax, t.without_tax) {
        let expected = without.checked_add(t.tax.unwrap_or(zero)).and_then(round2);
        compare(
            out,
            "BR-CO-15",
            loc.path(Term::WithTax),
            stated,
            expected,
            "Invoice total amount with VAT (BT-112) = BT-109 + BT-110",
        );
    }
    if let (Some(payable), Some(with_tax)) = (t.payable, t.with_tax) {
        // As the schematron: round(BT-115 − BT-114) = round(BT-112 − BT-113).
        let lhs = payable
            .checked_sub(t.rounding.unwrap_or(zero))
            .and_then(round2);
        let rhs = with_tax
            .checked_sub(t.prepaid.unwrap_or(zero))
            .and_then(round2);
        let formula = "Amount due for payment (BT-115) = BT-112 − paid amount (BT-113) + rounding amount (BT-114)";
        match (lhs, rhs) {
            (Some(l), Some(r)) if l == r => {}
            (Some(_), Some(r)) => {
                let computed = r.checked_add(t.rounding.unwrap_or(zero));
                compare(
                    out,
                    "BR-CO-16",
                    loc.path(Term::Payable),
                    payable,
                    computed,
                    formula,
                );
            }
            _ => compare(
                out,
                "BR-CO-16",
                loc.path(Term::Payable),
                payable,
                None,
                formula,
            ),
        }
    }
    for (i, v) in inv.vat_breakdown.iter().enumerate() {
        let Some(tax) = v.tax_amount else { continue };
        let element = loc.path(Term::VatTax(i));
        match v.rate_percent {
            Some(rate) if round0(rate) != Some(zero) => {
                let taxable = v.taxable_amount.unwrap_or(zero).abs();
                let expected = taxable
                    .checked_mul(rate)
                    .and_then(|p| p.checked_div(Decimal::ONE_HUNDRED))
                    .and_then(round2);
                // The schematron accepts |BT-117| within (expected − 1, expected + 1).
                let ok = expected
                    .and_then(|e| tax.abs().checked_sub(e))
                    .is_some_and(|d| d.abs() < Decimal::ONE);
                if !ok {
                    out.push(Finding::error("BR-CO-17", element, format!(
                        "VAT category tax amount (BT-117) {tax} ≠ taxable amount (BT-116) {} × rate (BT-119) {rate} % = {}",
                        v.taxable_amount.unwrap_or(zero),
                        expected.map_or_else(|| "overflow".into(), |e| e.to_string()),
                    )));
                }
            }
            _ => {
                if round0(tax) != Some(zero) {
                    out.push(Finding::error("BR-CO-17", element, format!(
                        "VAT category tax amount (BT-117) is {tax} although the VAT category rate (BT-119) is zero or absent"
                    )));
                }
            }
        }
    }
}
