//! Organisations, their API keys and their certificates in PostgreSQL.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::StoreError;

/// The role an organisation plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Issues invoices, submits contracts.
    Issuer,
    /// An internet court.
    Court,
    /// An auditor.
    Auditor,
    /// A witness node's operator.
    Witness,
}

impl Role {
    /// The text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Issuer => "issuer",
            Role::Court => "court",
            Role::Auditor => "auditor",
            Role::Witness => "witness",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "issuer" => Ok(Role::Issuer),
            "court" => Ok(Role::Court),
            "auditor" => Ok(Role::Auditor),
            "witness" => Ok(Role::Witness),
            other => Err(format!(
                "unknown role `{other}`: expected issuer, court, auditor or witness"
            )),
        }
    }
}

/// An organisation record.
#[derive(Debug, Clone, Serialize)]
pub struct Org {
    /// Its id.
    pub id: Uuid,
    /// Legal name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Tax id (USCC or VAT id), if given.
    pub tax_id: Option<String>,
    /// Why the tax id looks wrong, if it does (a warning, never a rejection).
    pub tax_id_warning: Option<String>,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn org_from_row(r: &tokio_postgres::Row) -> Result<Org, StoreError> {
    let role: String = r.get("role");
    Ok(Org {
        id: r.get("id"),
        name: r.get("name"),
        role: role.parse().map_err(|e: String| StoreError::Conflict(e))?,
        tax_id: r.get("tax_id"),
        tax_id_warning: r.get("tax_id_warning"),
        created_at: r.get("created_at"),
    })
}

/// Inserts an organisation and its first API key (hash) in one transaction.
pub async fn create_org(
    client: &mut tokio_postgres::Client,
    name: &str,
    role: Role,
    tax_id: Option<&str>,
    tax_id_warning: Option<&str>,
    key_hash: &[u8; 32],
) -> Result<Org, StoreError> {
    let id = Uuid::new_v4();
    let tx = client.transaction().await?;
    let row = tx
        .query_one(
            "INSERT INTO orgs (id, name, role, tax_id, tax_id_warning) VALUES ($1, $2, $3, $4, $5)
             RETURNING id, name, role, tax_id, tax_id_warning, created_at",
            &[&id, &name, &role.as_str(), &tax_id, &tax_id_warning],
        )
        .await?;
    tx.execute(
        "INSERT INTO api_keys (id, org_id, key_hash) VALUES ($1, $2, $3)",
        &[&Uuid::new_v4(), &id, &key_hash.as_slice()],
    )
    .await?;
    tx.commit().await?;
    org_from_row(&row)
}

/// One organisation.
pub async fn get_org(client: &impl GenericClient, id: Uuid) -> Result<Org, StoreError> {
    let row = client
        .query_opt(
            "SELECT id, name, role, tax_id, tax_id_warning, created_at FROM orgs WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    org_from_row(&row)
}

/// All organisations, oldest first.
pub async fn list_orgs(client: &impl GenericClient) -> Result<Vec<Org>, StoreError> {
    client
        .query(
            "SELECT id, name, role, tax_id, tax_id_warning, created_at FROM orgs ORDER BY created_at, id",
            &[],
        )
        .await?
        .iter()
        .map(org_from_row)
        .collect()
}

/// The organisation owning an active API key with this hash.
pub async fn org_by_key_hash(
    client: &impl GenericClient,
    key_hash: &[u8; 32],
) -> Result<Option<Org>, StoreError> {
    let row = client
        .query_opt(
            "SELECT o.id, o.name, o.role, o.tax_id, o.tax_id_warning, o.created_at
             FROM api_keys k JOIN orgs o ON o.id = k.org_id
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
            &[&key_hash.as_slice()],
        )
        .await?;
    row.as_ref().map(org_from_row).transpose()
}

/// Revokes every active key of the org and adds a new one (rotation).
pub async fn rotate_key(
    client: &mut tokio_postgres::Client,
    org_id: Uuid,
    new_hash: &[u8; 32],
) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    get_org(&tx, org_id).await?;
    tx.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE org_id = $1 AND revoked_at IS NULL",
        &[&org_id],
    )
    .await?;
    tx.execute(
        "INSERT INTO api_keys (id, org_id, key_hash) VALUES ($1, $2, $3)",
        &[&Uuid::new_v4(), &org_id, &new_hash.as_slice()],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes every active API key of the org; returns how many.
pub async fn revoke_keys(client: &impl GenericClient, org_id: Uuid) -> Result<u64, StoreError> {
    Ok(client
        .execute(
            "UPDATE api_keys SET revoked_at = now() WHERE org_id = $1 AND revoked_at IS NULL",
            &[&org_id],
        )
        .await?)
}

/// A certificate row.
#[derive(Debug, Clone)]
pub struct CertRow {
    /// Serial number bytes.
    pub serial: Vec<u8>,
    /// The owning organisation.
    pub org_id: Uuid,
    /// SHA-256 of the DER.
    pub fingerprint: Vec<u8>,
    /// DER.
    pub cert_der: Vec<u8>,
    /// Whether the server holds the key.
    pub custodial: bool,
    /// The sealed PKCS#8 key when custodial.
    pub sealed_key: Option<Vec<u8>>,
    /// Validity end.
    pub not_after: OffsetDateTime,
    /// Revoked from this time on, if revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

fn cert_from_row(r: &tokio_postgres::Row) -> CertRow {
    CertRow {
        serial: r.get("serial"),
        org_id: r.get("org_id"),
        fingerprint: r.get("fingerprint"),
        cert_der: r.get("cert_der"),
        custodial: r.get("custodial"),
        sealed_key: r.get("sealed_key"),
        not_after: r.get("not_after"),
        revoked_at: r.get("revoked_at"),
    }
}

const CERT_COLUMNS: &str =
    "serial, org_id, fingerprint, cert_der, custodial, sealed_key, not_after, revoked_at";

/// Stores an issued certificate.
#[allow(clippy::too_many_arguments)]
pub async fn insert_certificate(
    client: &impl GenericClient,
    serial: &[u8],
    org_id: Uuid,
    fingerprint: &[u8],
    cert_der: &[u8],
    sealed_key: Option<&[u8]>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO certificates (serial, org_id, fingerprint, cert_der, custodial, sealed_key, not_before, not_after)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &serial,
                &org_id,
                &fingerprint,
                &cert_der,
                &sealed_key.is_some(),
                &sealed_key,
                &not_before,
                &not_after,
            ],
        )
        .await?;
    Ok(())
}

/// The org's newest certificate that is not revoked and not expired.
pub async fn current_certificate(
    client: &impl GenericClient,
    org_id: Uuid,
) -> Result<Option<CertRow>, StoreError> {
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates
         WHERE org_id = $1 AND (revoked_at IS NULL OR revoked_at > now()) AND not_after > now()
         ORDER BY issued_at DESC LIMIT 1"
    );
    Ok(client
        .query_opt(&sql, &[&org_id])
        .await?
        .as_ref()
        .map(cert_from_row))
}

/// A certificate by its SHA-256 fingerprint.
pub async fn certificate_by_fingerprint(
    client: &impl GenericClient,
    fingerprint: &[u8],
) -> Result<Option<CertRow>, StoreError> {
    let sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE fingerprint = $1");
    Ok(client
        .query_opt(&sql, &[&fingerprint])
        .await?
        .as_ref()
        .map(cert_from_row))
}

/// Revokes the org's certificates from `from` on (those not already revoked earlier).
pub async fn revoke_certificates(
    client: &impl GenericClient,
    org_id: Uuid,
    from: OffsetDateTime,
    reason: Option<&str>,
) -> Result<u64, StoreError> {
    Ok(client
        .execute(
            "UPDATE certificates SET revoked_at = $2, revocation_reason = $3
             WHERE org_id = $1 AND (revoked_at IS NULL OR revoked_at > $2)",
            &[&org_id, &from, &reason],
        )
        .await?)
}

/// Every revoked certificate (serial, time), for the CRL and for checks.
pub async fn revocations(
    client: &impl GenericClient,
) -> Result<Vec<(Vec<u8>, OffsetDateTime)>, StoreError> {
    Ok(client
        .query(
            "SELECT serial, revoked_at FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The next CRL number.
pub async fn next_crl_number(client: &impl GenericClient) -> Result<u64, StoreError> {
    let n: i64 = client
        .query_one("SELECT nextval('crl_number')", &[])
        .await?
        .get(0);
    Ok(n.max(1) as u64)
}
