//! Reads an older Chinese VAT e-invoice (invoice code + 8-digit number, root `eInvoice`).
//!
//! The layout is the invoice data file found inside issued OFD e-invoices, as public OFD
//! readers use it; `docs/invoice-json.md` lists every element accepted. A red-letter invoice
//! is recognised by `OriginalInvoiceCode` + `OriginalInvoiceNo`, or by the remark the tax
//! system writes in `Note` (对应正数发票代码:XXXX号码:YYYYYYYY).

use super::extract::Extractor;
use super::model::{
    ChinaDetails, Invoice, InvoiceKind, InvoiceLine, Party, PartyId, PrecedingInvoice, Profile,
    Syntax,
};
use super::tree::{Element, Ns};
use super::values::parse_cn_date;

const ANY: Ns<'static> = Ns::Any;
/// Root element name of an older e-invoice.
pub const ROOT: &str = "eInvoice";
/// Path of the item lines.
pub const ITEMS: &str = "/eInvoice/GoodsInfos/GoodsInfo";

/// Reads the model; `syntax` says whether the tree came from XML or JSON.
pub fn read(root: &Element, syntax: Syntax, x: &mut Extractor) -> Invoice {
    let note = x.text(root.child(ANY, "Note"));
    let explicit = match (
        x.text(root.child(ANY, "OriginalInvoiceCode")),
        x.text(root.child(ANY, "OriginalInvoiceNo")),
    ) {
        (code, Some(number)) => Some((code, number)),
        _ => None,
    };
    let original = explicit.or_else(|| note.as_deref().and_then(original_from_note));
    let with_tax = x.decimal(
        root.child(ANY, "TaxInclusiveTotalAmount"),
        "/eInvoice/TaxInclusiveTotalAmount",
    );
    // Either the reference or a negative total marks a red-letter invoice; CN-15/16 then
    // check the other half.
    let is_red =
        original.is_some() || with_tax.is_some_and(|t| t.is_sign_negative() && !t.is_zero());
    let kind = if is_red {
        InvoiceKind::RedLetter
    } else {
        InvoiceKind::Invoice
    };
    let mut inv = Invoice::empty(syntax, Profile::CnLegacy, kind);
    inv.currency = Some("CNY".into());
    inv.number = x.text(root.child(ANY, "InvoiceNo"));
    let issue_el = root.child(ANY, "IssueDate");
    inv.issue_date = x.date(
        issue_el,
        "/eInvoice/IssueDate",
        parse_cn_date,
        "YYYY-MM-DD or YYYY年MM月DD日",
    );
    inv.seller = party(root.child(ANY, "Seller"), "SellerName", "SellerTaxID", x);
    inv.buyer = party(root.child(ANY, "Buyer"), "BuyerName", "BuyerTaxID", x);
    inv.totals.without_tax = x.decimal(
        root.child(ANY, "TaxExclusiveTotalAmount"),
        "/eInvoice/TaxExclusiveTotalAmount",
    );
    inv.totals.tax = x.decimal(
        root.child(ANY, "TaxTotalAmount"),
        "/eInvoice/TaxTotalAmount",
    );
    inv.totals.with_tax = with_tax;

    if let Some(goods) = root.child(ANY, "GoodsInfos") {
        for (i, item) in goods.children_named(ANY, "GoodsInfo").enumerate() {
            let base = format!("{ITEMS}[{}]", i + 1);
            let (rate, rate_label) =
                x.cn_rate(item.child(ANY, "TaxScheme"), &format!("{base}/TaxScheme"));
            inv.lines.push(InvoiceLine {
                id: None,
                name: x.text(item.child(ANY, "Item")),
                quantity: x.decimal(item.child(ANY, "Quantity"), &format!("{base}/Quantity")),
                unit: x.text(item.child(ANY, "MeasurementDimension")),
                unit_price: x.decimal(item.child(ANY, "Price"), &format!("{base}/Price")),
                net_amount: x.decimal(item.child(ANY, "Amount"), &format!("{base}/Amount")),
                tax_category: rate_label,
                tax_rate_percent: rate,
                tax_amount: x.decimal(item.child(ANY, "TaxAmount"), &format!("{base}/TaxAmount")),
            });
        }
    }
    if let Some((code, number)) = original {
        inv.preceding.push(PrecedingInvoice {
            number,
            issue_date: None,
            code,
        });
    }
    inv.china = Some(ChinaDetails {
        vat_label: x.text(root.child(ANY, "LabelCode")),
        invoice_code: x.text(root.child(ANY, "InvoiceCode")),
        amount_in_capitals: x.text(root.child(ANY, "TaxInclusiveTotalAmountCN")),
        issue_time: x.text(issue_el),
        red_confirmation_number: None,
        supervision_number: None,
    });
    inv
}

fn party(el: Option<&Element>, name: &str, id: &str, x: &mut Extractor) -> Party {
    let mut party = Party {
        name: x.text(el.and_then(|e| e.child(ANY, name))),
        ..Party::default()
    };
    if let Some(value) = x.text(el.and_then(|e| e.child(ANY, id))) {
        party.ids.push(PartyId {
            scheme: "cn-taxpayer".into(),
            value,
        });
    }
    party
}

/// Finds `对应正数发票代码:<code>号码:<number>` in a remark (ASCII or full-width colons).
fn original_from_note(note: &str) -> Option<(Option<String>, String)> {
    let after = note.split_once("对应正数发票代码")?.1;
    let after = after.trim_start_matches([':', '：', ' ']);
    let code: String = after.chars().take_while(char::is_ascii_digit).collect();
    let rest = after
        .get(code.len()..)?
        .trim_start_matches([' ', ',', '，']);
    let rest = rest
        .strip_prefix("号码")?
        .trim_start_matches([':', '：', ' ']);
    let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if code.is_empty() || number.is_empty() {
        return None;
    }
    Some((Some(code), number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remark_reference_is_found() {
        assert_eq!(
            original_from_note("对应正数发票代码:011001900111号码:12345678"),
            Some((Some("011001900111".into()), "12345678".into()))
        );
        assert_eq!(
            original_from_note("退货 对应正数发票代码：3100201130 号码：00012345 其他"),
            Some((Some("3100201130".into()), "00012345".into()))
        );
        assert_eq!(original_from_note("对应正数发票代码:号码:1"), None);
        assert_eq!(original_from_note("普通备注"), None);
    }
}
