//! Invoices: `POST /v1/invoices` (notarize) and `POST /v1/invoices/{id}/status` (credit,
//! cancel).

use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::documents::{Invoice, InvoiceError, InvoiceKey, InvoiceKind, Severity, parse_invoice};
use crate::ledger::EntryKind;
use crate::notary::notarize::{Notarize, NotarizeError, Notarized, notarize};
use crate::notary::sequencer::{SequencerError, StatusCheck};
use crate::notary::signing::SigningError;
use crate::store::orgs::Role;

/// At most this many findings are listed in a 422 (the count is always given).
const MAX_FINDINGS_SHOWN: usize = 200;

impl From<NotarizeError> for ApiError {
    fn from(e: NotarizeError) -> Self {
        match e {
            NotarizeError::Signing(SigningError::Store(s)) => s.into(),
            NotarizeError::Signing(SigningError::Key(k)) => ApiError::Internal(k),
            NotarizeError::Signing(
                s @ (SigningError::NoCertificate | SigningError::NoCustodialKey),
            ) => ApiError::unprocessable("no-certificate", s.to_string()),
            NotarizeError::Signing(s) => ApiError::unprocessable("bad-signature", s.to_string()),
            NotarizeError::Sequencer(SequencerError::QueueFull) => ApiError::Unavailable {
                detail: "the notarization queue is full; retry shortly".into(),
                retry_after: 1,
            },
            NotarizeError::Sequencer(s) => ApiError::Unavailable {
                detail: format!("{s}; nothing was recorded, retry shortly"),
                retry_after: 1,
            },
            NotarizeError::Internal(i) => ApiError::Internal(i),
        }
    }
}

impl From<InvoiceError> for ApiError {
    fn from(e: InvoiceError) -> Self {
        match e {
            InvoiceError::Invalid { findings } => {
                let errors: Vec<_> = findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .collect();
                let count = errors.len();
                ApiError::Unprocessable {
                    slug: "invalid-invoice",
                    detail: format!("the invoice breaks {count} rule(s)"),
                    extra: Some(json!({
                        "error_count": count,
                        "errors": errors.into_iter().take(MAX_FINDINGS_SHOWN).collect::<Vec<_>>(),
                    })),
                }
            }
            InvoiceError::UnsupportedContentType(t) => ApiError::UnsupportedMediaType(format!(
                "invoices are XML (UBL 2.1, UN/CEFACT CII, Chinese e-invoice) or JSON, not `{t}`"
            )),
            other => ApiError::unprocessable("unreadable-invoice", other.to_string()),
        }
    }
}

/// Query of `POST /v1/invoices`.
#[derive(Debug, Deserialize, Default)]
pub struct SubmitQuery {
    /// Keep the document (encrypted at rest).
    #[serde(default)]
    store: bool,
}

fn x_signature(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("x-signature")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::unprocessable("bad-signature", "X-Signature is not ASCII"))
        })
        .transpose()
}

fn answer(result: Notarized) -> Result<Response, ApiError> {
    match result {
        Notarized::Receipt(r) => Ok((StatusCode::CREATED, Json(r)).into_response()),
        Notarized::Duplicate {
            record_id,
            created_at,
        } => Err(ApiError::Conflict {
            detail: format!("already notarized as record {record_id}"),
            extra: Some(json!({
                "record_id": record_id,
                "notarized_at": created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            })),
        }),
        Notarized::Refused(reason) => Err(ApiError::unprocessable("status-refused", reason)),
    }
}

/// The amount an invoice is worth for credit limits: payable, else with tax, in absolute value.
fn invoice_amount(inv: &Invoice) -> Decimal {
    let t = &inv.totals;
    t.payable
        .or(t.with_tax)
        .or(t.without_tax)
        .unwrap_or_default()
        .abs()
}

/// The key of the invoice a credit note / red-letter invoice refers to.
fn original_key(inv: &Invoice) -> Option<InvoiceKey> {
    let pre = inv.preceding.first()?;
    let mut orig = inv.clone();
    orig.number = Some(pre.number.clone());
    if let (Some(code), Some(china)) = (&pre.code, orig.china.as_mut()) {
        china.invoice_code = Some(code.clone());
    }
    InvoiceKey::for_invoice(&orig)
}

/// `POST /v1/invoices`: notarize an invoice (issuer).
pub async fn submit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<SubmitQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let org = caller.org_with_role(Role::Issuer)?.clone();
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let parsed = parse_invoice(ctype, &body)?;
    let inv = &parsed.invoice;
    let warnings: Vec<_> = parsed
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .collect();
    let amount = invoice_amount(inv);
    let currency = inv.currency.clone().unwrap_or_default();
    let number = inv.number.clone().unwrap_or_default();
    let seller = inv
        .seller
        .ids
        .first()
        .map(|i| i.value.clone())
        .or_else(|| inv.seller.name.clone())
        .unwrap_or_default();
    let mut meta = json!({
        "format": inv.profile,
        "syntax": inv.syntax,
        "invoice_kind": inv.kind.as_str(),
        "number": number,
        "seller": seller,
        "seller_name": inv.seller.name,
        "buyer_name": inv.buyer.name,
        "currency": currency,
        "amount": amount.to_string(),
        "issue_date": inv.issue_date,
        "invoice_key": parsed.key.as_str(),
        "warnings": warnings,
    });
    // A credit note / red-letter invoice that names a notarized original of this org becomes a
    // status change of it, checked against the original's total in the sequencer's batch.
    let (kind, refers_to, check, detail) = match inv.kind {
        InvoiceKind::CreditNote | InvoiceKind::RedLetter => {
            let original = match original_key(inv) {
                Some(k) => {
                    let conn = state.store.conn().await?;
                    crate::store::records::by_unique_key(&**conn, k.as_str(), org.id).await?
                }
                None => None,
            };
            match original {
                Some(orig) => {
                    let limit = Decimal::from_str(orig.meta["amount"].as_str().unwrap_or("0"))
                        .unwrap_or_default();
                    meta["status"] = json!("credit");
                    (
                        EntryKind::InvoiceStatus,
                        Some(orig.id),
                        Some(StatusCheck::Credit {
                            original: orig.id,
                            amount,
                            limit,
                        }),
                        format!("credit {amount} {currency} by {number}"),
                    )
                }
                None => (
                    EntryKind::Invoice,
                    None,
                    None,
                    format!("{} {number} {amount} {currency}", inv.kind.as_str()),
                ),
            }
        }
        InvoiceKind::Invoice => (
            EntryKind::Invoice,
            None,
            None,
            format!("invoice {number} {amount} {currency}"),
        ),
    };
    let result = notarize(
        &state,
        Notarize {
            kind,
            org_id: org.id,
            body: &body,
            x_signature: x_signature(&headers)?,
            canonical_sha256: Some(parsed.canonical_digest),
            unique_key: Some(parsed.key.as_str().to_string()),
            refers_to,
            detail: truncate(&detail, 200),
            meta,
            store_document: q.store,
            check,
        },
    )
    .await?;
    answer(result)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Body of `POST /v1/invoices/{id}/status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `credit` or `cancel`.
    pub status: String,
    /// Credited amount (decimal string), for `credit`.
    pub amount: Option<String>,
    /// Free text.
    pub reason: Option<String>,
}

/// `POST /v1/invoices/{id}/status`: credit (red-letter) or cancel, as a new ledger entry linked
/// to the original. The JSON body is the document the org signs (`X-Signature`).
pub async fn status(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let org = caller.org_with_role(Role::Issuer)?.clone();
    let change: StatusChange = super::json_body(&body)?;
    let conn = state.store.conn().await?;
    let original = crate::store::records::get(&**conn, id)
        .await?
        .filter(|r| r.org_id == org.id && r.kind == "invoice")
        .ok_or_else(|| ApiError::NotFound("no such invoice".into()))?;
    drop(conn);
    let limit =
        Decimal::from_str(original.meta["amount"].as_str().unwrap_or("0")).unwrap_or_default();
    let currency = original.meta["currency"].as_str().unwrap_or("").to_string();
    let (check, detail, meta) = match change.status.as_str() {
        "credit" => {
            let amount = change
                .amount
                .as_deref()
                .and_then(|a| Decimal::from_str(a.trim()).ok())
                .filter(|a| *a > Decimal::ZERO)
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "bad-status",
                        "credit needs a positive decimal `amount`",
                    )
                })?;
            (
                StatusCheck::Credit {
                    original: id,
                    amount,
                    limit,
                },
                format!("credit {amount} {currency}"),
                json!({"status": "credit", "amount": amount.to_string(), "currency": currency, "reason": change.reason}),
            )
        }
        "cancel" => (
            StatusCheck::Cancel { original: id },
            "cancel".to_string(),
            json!({"status": "cancel", "reason": change.reason}),
        ),
        other => {
            return Err(ApiError::unprocessable(
                "bad-status",
                format!("status must be `credit` or `cancel`, not `{other}`"),
            ));
        }
    };
    let result = notarize(
        &state,
        Notarize {
            kind: EntryKind::InvoiceStatus,
            org_id: org.id,
            body: &body,
            x_signature: x_signature(&headers)?,
            canonical_sha256: None,
            unique_key: None,
            refers_to: Some(id),
            detail,
            meta,
            store_document: true,
            check: Some(check),
        },
    )
    .await?;
    answer(result)
}
