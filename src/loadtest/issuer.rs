//! Set-up through the public API before measuring: an issuer organisation registered with the
//! admin key, its own P-256 key certified from a CSR, and (for proofs, bundles and the mix)
//! invoices submitted so the log has entries and the organisation has records.

use futures::StreamExt;
use rcgen::{CertificateParams, DnType};
use serde_json::json;

use super::LoadtestError;
use super::invoices::{InvoiceSigner, InvoiceTemplate, signed_invoices};
use super::requests::{checkpoint_size, receipt_record_id};

/// Submissions in flight while populating.
const POPULATE_CONCURRENCY: usize = 16;

/// An issuer registered for the run.
#[derive(Debug)]
pub struct Issuer {
    /// Its id.
    pub org_id: String,
    /// Its API key.
    pub api_key: String,
    /// Its signing key (certified by the server).
    pub signer: InvoiceSigner,
}

async fn post_json(
    http: &reqwest::Client,
    url: &str,
    bearer: &str,
    body: &serde_json::Value,
) -> Result<(u16, serde_json::Value), LoadtestError> {
    let body = serde_json::to_vec(body).map_err(|e| LoadtestError::Setup(e.to_string()))?;
    let r = http
        .post(url)
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| LoadtestError::Setup(format!("POST {url}: {e}")))?;
    let status = r.status().as_u16();
    let bytes = r
        .bytes()
        .await
        .map_err(|e| LoadtestError::Setup(format!("POST {url}: {e}")))?;
    let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Ok((status, v))
}

/// Registers an issuer named `name` (with `tax_id`, the template's seller VAT id) and gets its
/// key certified from a CSR.
pub async fn register_issuer(
    http: &reqwest::Client,
    base: &str,
    admin_key: &str,
    name: &str,
    tax_id: Option<&str>,
) -> Result<Issuer, LoadtestError> {
    let (status, v) = post_json(
        http,
        &format!("{base}/v1/orgs"),
        admin_key,
        &json!({"name": name, "role": "issuer", "tax_id": tax_id}),
    )
    .await?;
    if status != 201 {
        return Err(LoadtestError::Setup(format!(
            "POST /v1/orgs answered {status}: {v} (is the admin key right?)"
        )));
    }
    let field = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| LoadtestError::Setup(format!("POST /v1/orgs: no `{k}` in {v}")))
    };
    let (org_id, api_key) = (field("org_id")?, field("api_key")?);
    let key =
        crate::identity::pki::new_key().map_err(|e| LoadtestError::Setup(format!("key: {e}")))?;
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| LoadtestError::Setup(format!("CSR: {e}")))?;
    params.distinguished_name.push(DnType::CommonName, name);
    let csr = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(|e| LoadtestError::Setup(format!("CSR: {e}")))?;
    let (status, v) = post_json(
        http,
        &format!("{base}/v1/orgs/{org_id}/certificates"),
        &api_key,
        &json!({"csr": csr}),
    )
    .await?;
    if status != 201 {
        return Err(LoadtestError::Setup(format!(
            "POST /v1/orgs/{{id}}/certificates answered {status}: {v}"
        )));
    }
    let signer = InvoiceSigner::from_pkcs8(key.serialized_der())?;
    Ok(Issuer {
        org_id,
        api_key,
        signer,
    })
}

/// Submits `count` invoices numbered from `first`; returns the record ids of the receipts.
pub async fn populate(
    http: &reqwest::Client,
    base: &str,
    issuer: &Issuer,
    template: &InvoiceTemplate,
    run_tag: &str,
    first: usize,
    count: usize,
) -> Result<Vec<String>, LoadtestError> {
    let invoices = signed_invoices(template, &issuer.signer, run_tag, first, count)?;
    let url = format!("{base}/v1/invoices");
    let results: Vec<Result<String, LoadtestError>> = futures::stream::iter(invoices)
        .map(|(body, sig)| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http
                    .post(&url)
                    .bearer_auth(&issuer.api_key)
                    .header("content-type", "application/xml")
                    .header("x-signature", sig)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| LoadtestError::Setup(format!("POST /v1/invoices: {e}")))?;
                let status = r.status().as_u16();
                let bytes = r.bytes().await.unwrap_or_default();
                if status == 404 || status == 405 {
                    return Err(LoadtestError::Setup(
                        "this server has no POST /v1/invoices".into(),
                    ));
                }
                if status != 201 {
                    return Err(LoadtestError::Setup(format!(
                        "POST /v1/invoices answered {status}: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(500)])
                    )));
                }
                let v: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| LoadtestError::Setup(format!("receipt is not JSON: {e}")))?;
                receipt_record_id(&v).ok_or_else(|| {
                    LoadtestError::Setup(format!("receipt without a record id: {v}"))
                })
            }
        })
        .buffer_unordered(POPULATE_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The log's tree size from `GET /checkpoint`.
pub async fn tree_size(http: &reqwest::Client, base: &str) -> Result<u64, LoadtestError> {
    let r = http
        .get(format!("{base}/checkpoint"))
        .send()
        .await
        .map_err(|e| LoadtestError::Setup(format!("GET /checkpoint: {e}")))?;
    let status = r.status().as_u16();
    if status != 200 {
        return Err(LoadtestError::Setup(format!(
            "GET /checkpoint answered {status}"
        )));
    }
    let text = r
        .text()
        .await
        .map_err(|e| LoadtestError::Setup(format!("GET /checkpoint: {e}")))?;
    checkpoint_size(&text)
        .ok_or_else(|| LoadtestError::Setup("GET /checkpoint: no tree size on line 2".into()))
}
