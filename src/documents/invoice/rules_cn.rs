//! Rules for Chinese VAT e-invoices (数电票 and older e-invoices), ids `CN-01`…`CN-21`
//! (documented in `docs/invoice-rules.md`). Totals must agree exactly; line arithmetic has
//! the tolerances the tax system allows (±0.01 for quantity × price, ±0.06 for the tax).

use rust_decimal::Decimal;

use super::chinese_amount::{parse_capitals, to_capitals};
use super::finding::Finding;
use super::model::{Invoice, InvoiceKind, Party, Profile};
use super::values::checked_sum;
use crate::documents::taxid::validate_uscc;

/// VAT rates (percent) Chinese invoices may carry: current 13/9/6, simplified-method 3/5,
/// the temporary 1 % levy rate, zero rate, and the pre-2019 rates 17/16/11/10 still found on
/// older invoices and on red letters reversing them.
pub const KNOWN_RATES_PERCENT: [u32; 11] = [0, 1, 3, 5, 6, 9, 10, 11, 13, 16, 17];
/// Non-numeric rate labels: tax-exempt (免税), not taxable (不征税), exempted levy (免征).
pub const RATE_LABELS: [&str; 3] = ["免税", "不征税", "免征"];

/// Where each checked item lives, for one Chinese layout.
struct Paths {
    number: &'static str,
    seller_name: &'static str,
    seller_id: &'static str,
    buyer_name: &'static str,
    buyer_id: &'static str,
    label: &'static str,
    issue: &'static str,
    without_tax: &'static str,
    tax: &'static str,
    with_tax: &'static str,
    capitals: &'static str,
    items: &'static str,
    amount: &'static str,
    line_tax: &'static str,
    rate: &'static str,
    reference: &'static str,
}

const DIGITAL: Paths = Paths {
    number: "/EInvoice/Header/EIid",
    seller_name: "/EInvoice/EInvoiceData/SellerInformation/SellerName",
    seller_id: "/EInvoice/EInvoiceData/SellerInformation/SellerIdNum",
    buyer_name: "/EInvoice/EInvoiceData/BuyerInformation/BuyerName",
    buyer_id: "/EInvoice/EInvoiceData/BuyerInformation/BuyerIdNum",
    label: "/EInvoice/Header/InherentLabel/GeneralOrSpecialVAT/LabelCode",
    issue: "/EInvoice/EInvoiceData/BasicInformation/RequestTime",
    without_tax: "/EInvoice/EInvoiceData/BasicInformation/TotalAmWithoutTax",
    tax: "/EInvoice/EInvoiceData/BasicInformation/TotalTaxAm",
    with_tax: "/EInvoice/EInvoiceData/BasicInformation/TotalTax-includedAmount",
    capitals: "/EInvoice/EInvoiceData/BasicInformation/TotalTax-includedAmountInChinese",
    items: "/EInvoice/EInvoiceData/IssuItemInformation",
    amount: "Amount",
    line_tax: "ComTaxAm",
    rate: "TaxRate",
    reference: "/EInvoice/EInvoiceData/SpecificInformation/RedEInvoice/OriginalInvoiceCode",
};

const LEGACY: Paths = Paths {
    number: "/eInvoice/InvoiceNo",
    seller_name: "/eInvoice/Seller/SellerName",
    seller_id: "/eInvoice/Seller/SellerTaxID",
    buyer_name: "/eInvoice/Buyer/BuyerName",
    buyer_id: "/eInvoice/Buyer/BuyerTaxID",
    label: "/eInvoice/LabelCode",
    issue: "/eInvoice/IssueDate",
    without_tax: "/eInvoice/TaxExclusiveTotalAmount",
    tax: "/eInvoice/TaxTotalAmount",
    with_tax: "/eInvoice/TaxInclusiveTotalAmount",
    capitals: "/eInvoice/TaxInclusiveTotalAmountCN",
    items: "/eInvoice/GoodsInfos/GoodsInfo",
    amount: "Amount",
    line_tax: "TaxAmount",
    rate: "TaxScheme",
    reference: "/eInvoice/OriginalInvoiceNo",
};

fn all_digits(s: &str, lengths: &[usize]) -> bool {
    lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks every Chinese rule and returns all findings.
pub fn check(inv: &Invoice) -> Vec<Finding> {
    let legacy = inv.profile == Profile::CnLegacy;
    let p = if legacy { &LEGACY } else { &DIGITAL };
    let china = inv.china.clone().unwrap_or_default();
    let mut out = Vec::new();
    let err = |rule, element: &str, message: String| Finding::error(rule, element, message);

    // Identification.
    let (number_lengths, number_what): (&[usize], &str) = if legacy {
        (&[8], "8 digits")
    } else {
        (&[20], "20 digits")
    };
    match &inv.number {
        None => out.push(err(
            "CN-01",
            p.number,
            "the invoice number is missing".into(),
        )),
        Some(n) if !all_digits(n, number_lengths) => out.push(err(
            "CN-01",
            p.number,
            format!("invoice number {n:?} must be {number_what}"),
        )),
        Some(_) => {}
    }
    if legacy {
        match &china.invoice_code {
            None => out.push(err(
                "CN-02",
                "/eInvoice/InvoiceCode",
                "the invoice code (发票代码) is missing".into(),
            )),
            Some(c) if !all_digits(c, &[10, 12]) => out.push(err(
                "CN-02",
                "/eInvoice/InvoiceCode",
                format!("invoice code {c:?} must be 10 or 12 digits"),
            )),
            Some(_) => {}
        }
    }
    if inv.seller.name.is_none() {
        out.push(err(
            "CN-03",
            p.seller_name,
            "the seller name is missing".into(),
        ));
    }
    let seller_id = inv.seller.id("cn-taxpayer");
    if seller_id.is_none() {
        out.push(err(
            "CN-04",
            p.seller_id,
            "the seller taxpayer id is missing".into(),
        ));
    }
    if inv.buyer.name.is_none() {
        out.push(err(
            "CN-05",
            p.buyer_name,
            "the buyer name is missing".into(),
        ));
    }
    if china.vat_label.as_deref() == Some("01") && inv.buyer.id("cn-taxpayer").is_none() {
        out.push(err(
            "CN-06",
            p.buyer_id,
            "a special VAT invoice (label 01) must name the buyer's taxpayer id".into(),
        ));
    }
    match china.vat_label.as_deref() {
        Some("01") | Some("02") => {}
        None if legacy => {}
        None => out.push(err(
            "CN-07",
            p.label,
            "the special/ordinary label code is missing".into(),
        )),
        Some(other) => out.push(err(
            "CN-07",
            p.label,
            format!("label code {other:?} must be 01 (special) or 02 (ordinary)"),
        )),
    }
    if inv.issue_date.is_none() {
        out.push(err(
            "CN-08",
            p.issue,
            "the issue date/time is missing or invalid".into(),
        ));
    }
    if inv.lines.is_empty() {
        out.push(err("CN-09", p.items, "the invoice has no item line".into()));
    }

    // Totals: exact.
    let t = &inv.totals;
    let line_path = |i: usize, leaf: &str| format!("{}[{}]/{leaf}", p.items, i + 1);
    for (i, l) in inv.lines.iter().enumerate() {
        if l.net_amount.is_none() {
            out.push(err(
                "CN-10",
                &line_path(i, p.amount),
                "the line amount is missing or invalid".into(),
            ));
        }
        if l.tax_amount.is_none() {
            out.push(err(
                "CN-11",
                &line_path(i, p.line_tax),
                "the line tax amount is missing or invalid".into(),
            ));
        }
    }
    let amount_sum = checked_sum(inv.lines.iter().filter_map(|l| l.net_amount.as_ref()));
    let tax_sum = checked_sum(inv.lines.iter().filter_map(|l| l.tax_amount.as_ref()));
    total_rule(
        &mut out,
        "CN-10",
        p.without_tax,
        "total without tax",
        t.without_tax,
        amount_sum,
        "the sum of line amounts",
    );
    total_rule(
        &mut out,
        "CN-11",
        p.tax,
        "total tax",
        t.tax,
        tax_sum,
        "the sum of line tax amounts",
    );
    // CN-12 is only meaningful when both parts were read (their own rules report them).
    if t.with_tax.is_none() || (t.without_tax.is_some() && t.tax.is_some()) {
        let sum = t.without_tax.zip(t.tax).and_then(|(a, b)| a.checked_add(b));
        total_rule(
            &mut out,
            "CN-12",
            p.with_tax,
            "total with tax",
            t.with_tax,
            sum,
            "total without tax + total tax",
        );
    }

    // Amount in capitals.
    match (&china.amount_in_capitals, t.with_tax) {
        (None, _) if legacy => {}
        (None, _) => out.push(err(
            "CN-13",
            p.capitals,
            "the total in Chinese capitals is missing".into(),
        )),
        (Some(caps), Some(figure)) => {
            if parse_capitals(caps) != Some(figure) {
                let expected = to_capitals(&figure).unwrap_or_else(|| "(not expressible)".into());
                out.push(err(
                    "CN-13",
                    p.capitals,
                    format!("{caps:?} does not read as {figure}; expected {expected}"),
                ));
            }
        }
        (Some(_), None) => {}
    }

    // Lines: tolerances and rates.
    let cent = Decimal::new(1, 2);
    let six_cents = Decimal::new(6, 2);
    for (i, l) in inv.lines.iter().enumerate() {
        if let (Some(q), Some(price), Some(amount)) = (l.quantity, l.unit_price, l.net_amount) {
            let diff = q.checked_mul(price).and_then(|qp| amount.checked_sub(qp));
            if diff.is_none_or(|d| d.abs() > cent) {
                out.push(err("CN-14", &line_path(i, p.amount), format!(
                    "line amount {amount} differs from quantity {q} × unit price {price} by more than 0.01"
                )));
            }
        }
        match (l.tax_rate_percent, &l.tax_category) {
            (Some(rate), _) => {
                let known = KNOWN_RATES_PERCENT
                    .iter()
                    .any(|k| Decimal::from(*k) == rate);
                if !known {
                    out.push(err(
                        "CN-16",
                        &line_path(i, p.rate),
                        format!("tax rate {rate} % is not a known Chinese VAT rate"),
                    ));
                }
                if let (Some(amount), Some(tax)) = (l.net_amount, l.tax_amount) {
                    let diff = amount
                        .checked_mul(rate)
                        .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED))
                        .and_then(|x| x.checked_sub(tax));
                    if diff.is_none_or(|d| d.abs() > six_cents) {
                        out.push(err("CN-15", &line_path(i, p.line_tax), format!(
                            "line tax {tax} differs from amount {amount} × rate {rate} % by more than 0.06"
                        )));
                    }
                }
            }
            (None, Some(label)) => {
                if !RATE_LABELS.contains(&label.as_str()) {
                    out.push(err(
                        "CN-16",
                        &line_path(i, p.rate),
                        format!("tax rate {label:?} is not a known rate or label"),
                    ));
                }
                if l.tax_amount.is_some_and(|t| !t.is_zero()) {
                    out.push(err(
                        "CN-15",
                        &line_path(i, p.line_tax),
                        format!("a line at rate {label} must carry no tax"),
                    ));
                }
            }
            (None, None) => out.push(err(
                "CN-16",
                &line_path(i, p.rate),
                "the line tax rate is missing or invalid".into(),
            )),
        }
    }

    // Taxpayer ids: a warning only, since ids predating 2015 are not USCCs.
    taxpayer_warning(&mut out, &inv.seller, p.seller_id, "seller");
    taxpayer_warning(&mut out, &inv.buyer, p.buyer_id, "buyer");

    // Red letters reverse an earlier invoice with negative amounts; blue ones are not negative.
    let negative = |d: Option<Decimal>| d.is_some_and(|v| v.is_sign_negative() && !v.is_zero());
    let positive = |d: Option<Decimal>| d.is_some_and(|v| v.is_sign_positive() && !v.is_zero());
    if inv.kind == InvoiceKind::RedLetter {
        if !negative(t.with_tax) || positive(t.without_tax) || positive(t.tax) {
            out.push(err("CN-18", p.with_tax, format!(
                "a red-letter invoice must have negative totals (with tax {}, without tax {}, tax {})",
                show(t.with_tax), show(t.without_tax), show(t.tax)
            )));
        }
        let reference = inv.preceding.first();
        let ok = reference.is_some_and(|r| {
            if legacy {
                all_digits(&r.number, &[8])
                    && r.code.as_deref().is_some_and(|c| all_digits(c, &[10, 12]))
            } else {
                all_digits(&r.number, &[20])
            }
        });
        if !ok {
            out.push(err(
                "CN-19",
                p.reference,
                "a red-letter invoice must name the original (blue) invoice it reverses".into(),
            ));
        }
    } else if negative(t.with_tax) {
        out.push(err(
            "CN-20",
            p.with_tax,
            format!(
                "total with tax {} is negative but the invoice is not marked red-letter",
                show(t.with_tax)
            ),
        ));
    }
    if let (Some(number), Some(sup)) = (&inv.number, &china.supervision_number)
        && number != sup
    {
        out.push(err(
            "CN-21",
            "/EInvoice/TaxSupervisionInfo/InvoiceNumber",
            format!("EIid {number} and TaxSupervisionInfo/InvoiceNumber {sup} differ"),
        ));
    }
    out
}

fn show(d: Option<Decimal>) -> String {
    d.map_or_else(|| "missing".into(), |v| v.to_string())
}

fn total_rule(
    out: &mut Vec<Finding>,
    rule: &'static str,
    element: &str,
    what: &str,
    stated: Option<Decimal>,
    computed: Option<Decimal>,
    formula: &str,
) {
    match (stated, computed) {
        (None, _) => out.push(Finding::error(
            rule,
            element,
            format!("the {what} is missing or invalid"),
        )),
        (Some(s), Some(c)) if s == c => {}
        (Some(s), Some(c)) => out.push(Finding::error(
            rule,
            element,
            format!("the {what} {s} must equal {formula}, {c}"),
        )),
        (Some(_), None) => out.push(Finding::error(
            rule,
            element,
            format!("{formula}: arithmetic overflow"),
        )),
    }
}

fn taxpayer_warning(out: &mut Vec<Finding>, party: &Party, element: &str, who: &str) {
    let Some(id) = party.id("cn-taxpayer") else {
        return;
    };
    match id.chars().count() {
        18 => {
            if let Err(e) = validate_uscc(id) {
                out.push(Finding::warning("CN-17", element, format!(
                    "{who} taxpayer id {id} is not a valid unified social credit code (GB 32100-2015): {e}"
                )));
            }
        }
        // Pre-2015 taxpayer numbers (15, 17 or 20 characters) have no check character.
        15 | 17 | 20 => {}
        n => out.push(Finding::warning("CN-17", element, format!(
            "{who} taxpayer id {id} has {n} characters; expected an 18-character unified social credit code"
        ))),
    }
}
