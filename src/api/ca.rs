//! The notary's public PKI material: root and issuing certificates, and the CRL.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::identity::pki::Revoked;
use crate::store::orgs;

/// `GET /v1/ca`: root then issuing certificate, PEM.
pub async fn certificates(State(state): State<Arc<AppState>>) -> Response {
    let mut resp = state.pki.chain_pem().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pem-certificate-chain"),
    );
    resp
}

/// The current CRL (DER), signed now by the issuing CA.
pub async fn current_crl(state: &AppState) -> Result<Vec<u8>, ApiError> {
    let conn = state.store.conn().await?;
    let revoked: Vec<Revoked> = orgs::revocations(&**conn)
        .await?
        .into_iter()
        .map(|(serial, at)| Revoked { serial, at })
        .collect();
    let number = orgs::next_crl_number(&**conn).await?;
    Ok(state.pki.crl(number, &revoked)?)
}

/// `GET /v1/crl`: the CRL, DER (`application/pkix-crl`).
pub async fn crl(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let der = current_crl(&state).await?;
    let mut resp = der.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pkix-crl"),
    );
    Ok(resp)
}
