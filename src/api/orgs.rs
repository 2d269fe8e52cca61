//! Organisations: registration (admin), certificates (CSR or custodial), key rotation,
//! revocation.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rcgen::PublicKeyData;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::identity::pki::{OrgSubject, pem_cert};
use crate::identity::{apikey, csr};
use crate::store::orgs::{self, Org, Role};

/// Body of `POST /v1/orgs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// Legal name.
    pub name: String,
    /// issuer | court | auditor | witness.
    pub role: Role,
    /// USCC or VAT id.
    pub tax_id: Option<String>,
}

/// Registers an organisation: shared by the HTTP route and the admin CLI.
pub async fn register(state: &AppState, new: NewOrg) -> Result<(Org, String), ApiError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "bad-org",
            "name must be 1 to 200 characters",
        ));
    }
    let tax_id = new
        .tax_id
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(t) = tax_id
        && (t.len() > 64 || t.chars().any(char::is_control))
    {
        return Err(ApiError::unprocessable(
            "bad-org",
            "tax_id must be at most 64 printable characters",
        ));
    }
    let warning = tax_id.and_then(crate::documents::taxid::tax_id_warning);
    let key = apikey::generate();
    let mut conn = state.store.conn().await?;
    let org = orgs::create_org(
        &mut conn,
        name,
        new.role,
        tax_id,
        warning.as_deref(),
        &key.hash,
    )
    .await?;
    tracing::info!(org_id = %org.id, role = org.role.as_str(), "organisation registered");
    Ok((org, key.plaintext))
}

/// `POST /v1/orgs` (admin).
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let new: NewOrg = super::json_body(&body)?;
    let (org, api_key) = register(&state, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"org_id": org.id, "api_key": api_key, "org": org})),
    )
        .into_response())
}

/// `GET /v1/orgs` (admin).
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let conn = state.store.conn().await?;
    Ok(Json(orgs::list_orgs(&**conn).await?).into_response())
}

fn admin_or_self(caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Org(o) if o.id == id => Ok(()),
        // Another org's id: answer as if it did not exist.
        Caller::Org(_) => Err(ApiError::NotFound("no such organisation".into())),
    }
}

/// `GET /v1/orgs/{id}` (admin or that org).
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    admin_or_self(&caller, id)?;
    let conn = state.store.conn().await?;
    let org = orgs::get_org(&**conn, id).await?;
    let cert = orgs::current_certificate(&**conn, id).await?;
    Ok(Json(json!({
        "org": org,
        "certificate": cert.map(|c| json!({
            "serial": hex::encode(&c.serial),
            "fingerprint": hex::encode(&c.fingerprint),
            "custodial": c.custodial,
            "certificate": pem_cert(&c.cert_der),
        })),
    }))
    .into_response())
}

/// Body of `POST /v1/orgs/{id}/certificates` as JSON.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CertRequest {
    /// A PKCS#10 CSR, PEM.
    pub csr: Option<String>,
    /// Ask the server to generate and keep the key.
    #[serde(default)]
    pub custodial: bool,
}

/// Issues a certificate for `org` from a CSR, or for a key the server generates and keeps.
pub async fn issue(
    state: &AppState,
    org: &Org,
    csr_bytes: Option<&[u8]>,
) -> Result<serde_json::Value, ApiError> {
    let subject = OrgSubject {
        org_id: org.id,
        name: org.name.clone(),
        tax_id: org.tax_id.clone(),
    };
    let crl_url = format!("{}/v1/crl", state.config.public_url.trim_end_matches('/'));
    let validity = state.config.cert_validity_days;
    let (issued, sealed) = match csr_bytes {
        Some(bytes) => {
            let checked = csr::check_csr(bytes)
                .map_err(|e| ApiError::unprocessable("bad-csr", e.to_string()))?;
            (
                state
                    .pki
                    .issue_org_cert(&subject, &checked.spki_der, validity, &crl_url)?,
                None,
            )
        }
        None => {
            let key = crate::identity::pki::new_key()?;
            let issued = state.pki.issue_org_cert(
                &subject,
                &key.subject_public_key_info(),
                validity,
                &crl_url,
            )?;
            let label = custodial_label(&issued.serial);
            (
                issued,
                Some(state.master_key.seal(&label, key.serialized_der())),
            )
        }
    };
    let fingerprint: [u8; 32] = Sha256::digest(&issued.der).into();
    let conn = state.store.conn().await?;
    orgs::insert_certificate(
        &**conn,
        &issued.serial,
        org.id,
        &fingerprint,
        &issued.der,
        sealed.as_deref(),
        issued.not_before,
        issued.not_after,
    )
    .await?;
    state.signatures.invalidate(org.id);
    tracing::info!(org_id = %org.id, custodial = sealed.is_some(), "certificate issued");
    let cert_pem = pem_cert(&issued.der);
    let chain = format!(
        "{cert_pem}{}{}",
        pem_cert(&state.pki.issuing.cert_der),
        pem_cert(&state.pki.root.cert_der)
    );
    Ok(json!({
        "serial": hex::encode(&issued.serial),
        "fingerprint": hex::encode(fingerprint),
        "custodial": sealed.is_some(),
        "not_before": issued.not_before.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "not_after": issued.not_after.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "certificate": cert_pem,
        "chain": chain,
    }))
}

/// The label a custodial key is sealed under (binds the sealed blob to its certificate).
pub fn custodial_label(serial: &[u8]) -> String {
    format!("custodial-{}", hex::encode(serial))
}

/// `POST /v1/orgs/{id}/certificates` (admin or that org): JSON `{csr}` / `{custodial: true}`,
/// or a raw CSR with content type `application/pkcs10`.
pub async fn certificates(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin_or_self(&caller, id)?;
    let conn = state.store.conn().await?;
    let org = orgs::get_org(&**conn, id).await?;
    drop(conn);
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let out = if ctype.starts_with("application/pkcs10") {
        issue(&state, &org, Some(&body)).await?
    } else {
        let req: CertRequest = if body.is_empty() {
            CertRequest::default()
        } else {
            super::json_body(&body)?
        };
        match (req.csr, req.custodial) {
            (Some(csr), false) => issue(&state, &org, Some(csr.as_bytes())).await?,
            (None, true) => issue(&state, &org, None).await?,
            _ => {
                return Err(ApiError::BadRequest(
                    "give either `csr` (PEM PKCS#10) or `custodial: true`".into(),
                ));
            }
        }
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// Body of `POST /v1/orgs/{id}/revoke`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Revoked from this time on (RFC 3339); default now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub from: Option<OffsetDateTime>,
    /// Free-text reason kept with the revocation.
    pub reason: Option<String>,
    /// Also revoke every API key of the org.
    #[serde(default)]
    pub keys: bool,
}

/// Revokes an org's certificates (and optionally keys): shared by HTTP and CLI.
pub async fn revoke_org(
    state: &AppState,
    id: Uuid,
    req: RevokeRequest,
) -> Result<serde_json::Value, ApiError> {
    let from = req.from.unwrap_or_else(OffsetDateTime::now_utc);
    let conn = state.store.conn().await?;
    orgs::get_org(&**conn, id).await?;
    let certs = orgs::revoke_certificates(&**conn, id, from, req.reason.as_deref()).await?;
    let keys = if req.keys {
        orgs::revoke_keys(&**conn, id).await?
    } else {
        0
    };
    state.signatures.invalidate(id);
    tracing::info!(org_id = %id, certs, keys, "organisation revoked");
    Ok(json!({"revoked_certificates": certs, "revoked_keys": keys,
        "from": from.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()}))
}

/// `POST /v1/orgs/{id}/revoke` (admin).
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let req: RevokeRequest = if body.is_empty() {
        RevokeRequest::default()
    } else {
        super::json_body(&body)?
    };
    Ok(Json(revoke_org(&state, id, req).await?).into_response())
}

/// Rotates an org's API key: shared by HTTP and CLI.
pub async fn rotate(state: &AppState, id: Uuid) -> Result<String, ApiError> {
    let key = apikey::generate();
    let mut conn = state.store.conn().await?;
    orgs::rotate_key(&mut conn, id, &key.hash).await?;
    tracing::info!(org_id = %id, "API key rotated");
    Ok(key.plaintext)
}

/// `POST /v1/orgs/{id}/keys` (admin or that org): a new key; the old ones stop working.
pub async fn rotate_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    admin_or_self(&caller, id)?;
    let key = rotate(&state, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"org_id": id, "api_key": key})),
    )
        .into_response())
}
