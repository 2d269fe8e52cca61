//! Who is calling: the admin (the admin key from config) or an organisation (its API key).
//!
//! `Authorization: Bearer <key>`. Keys are looked up by their SHA-256; the admin key is
//! compared in constant time. Missing, unknown, rotated-out and revoked keys all answer the same
//! 401, so a caller learns nothing about which keys exist.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::identity::apikey;
use crate::store::orgs::{Org, Role};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The operator.
    Admin,
    /// An organisation.
    Org(Org),
}

impl Caller {
    /// The org, or 403 for the admin (org-only routes).
    pub fn org(&self) -> Result<&Org, ApiError> {
        match self {
            Caller::Org(o) => Ok(o),
            Caller::Admin => Err(ApiError::Forbidden(
                "this call is made by an organisation with its own API key".into(),
            )),
        }
    }

    /// 403 unless the admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Org(_) => Err(ApiError::Forbidden("this call needs the admin key".into())),
        }
    }

    /// The org if it has `role`, else 403.
    pub fn org_with_role(&self, role: Role) -> Result<&Org, ApiError> {
        let org = self.org()?;
        if org.role == role {
            Ok(org)
        } else {
            Err(ApiError::Forbidden(format!(
                "this call is for organisations with role {}",
                role.as_str()
            )))
        }
    }
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <api key>".into()))?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("invalid API key".into()))?;
    let key = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::Unauthorized("expected Authorization: Bearer <api key>".into()))?;
    Ok(key.trim())
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let key = bearer(parts)?;
        let hash = apikey::hash(key);
        if apikey::ct_eq(&hash, &state.admin_key_hash) {
            return Ok(Caller::Admin);
        }
        let conn = state.store.conn().await?;
        match crate::store::orgs::org_by_key_hash(&**conn, &hash).await? {
            Some(org) => Ok(Caller::Org(org)),
            None => Err(ApiError::Unauthorized("invalid API key".into())),
        }
    }
}
