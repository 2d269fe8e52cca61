//! Reading notarized records and the grants that let auditors and courts see them.

use time::OffsetDateTime;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::StoreError;

/// A stored record.
#[derive(Debug, Clone)]
pub struct Record {
    /// Id.
    pub id: Uuid,
    /// Kind.
    pub kind: String,
    /// Owner.
    pub org_id: Uuid,
    /// The record acted on.
    pub refers_to: Option<Uuid>,
    /// Log index.
    pub log_index: u64,
    /// Leaf hash.
    pub leaf_hash: Vec<u8>,
    /// Document SHA-256.
    pub document_sha256: Vec<u8>,
    /// Canonical SHA-256.
    pub canonical_sha256: Option<Vec<u8>>,
    /// RFC 3161 token.
    pub token: Vec<u8>,
    /// Org signature.
    pub signature: Vec<u8>,
    /// `org` or `custodial`.
    pub signer: String,
    /// Signer certificate fingerprint.
    pub cert_fingerprint: Vec<u8>,
    /// Facts.
    pub meta: serde_json::Value,
    /// Whether the document is stored.
    pub has_document: bool,
    /// When notarized.
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, kind, org_id, refers_to, log_index, leaf_hash, document_sha256, \
    canonical_sha256, token, signature, signer, cert_fingerprint, meta, document IS NOT NULL, created_at";

fn from_row(r: &tokio_postgres::Row) -> Record {
    Record {
        id: r.get(0),
        kind: r.get(1),
        org_id: r.get(2),
        refers_to: r.get(3),
        log_index: r.get::<_, i64>(4) as u64,
        leaf_hash: r.get(5),
        document_sha256: r.get(6),
        canonical_sha256: r.get(7),
        token: r.get(8),
        signature: r.get(9),
        signer: r.get(10),
        cert_fingerprint: r.get(11),
        meta: r.get(12),
        has_document: r.get(13),
        created_at: r.get(14),
    }
}

/// One record.
pub async fn get(client: &impl GenericClient, id: Uuid) -> Result<Option<Record>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM records WHERE id = $1");
    Ok(client.query_opt(&sql, &[&id]).await?.as_ref().map(from_row))
}

/// The record of `org` holding this unique key.
pub async fn by_unique_key(
    client: &impl GenericClient,
    key: &str,
    org_id: Uuid,
) -> Result<Option<Record>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM records WHERE unique_key = $1 AND org_id = $2");
    Ok(client
        .query_opt(&sql, &[&key, &org_id])
        .await?
        .as_ref()
        .map(from_row))
}

/// Records that act on `id`, in log order.
pub async fn history(client: &impl GenericClient, id: Uuid) -> Result<Vec<Record>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM records WHERE refers_to = $1 ORDER BY log_index");
    Ok(client
        .query(&sql, &[&id])
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// The sealed document of a record.
pub async fn sealed_document(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(client
        .query_opt("SELECT document FROM records WHERE id = $1", &[&id])
        .await?
        .and_then(|r| r.get(0)))
}

/// Whether `viewer` may see `record`: its owner, or a grantee of the owner whose grant is in
/// force and covers the record's time.
pub async fn may_see(
    client: &impl GenericClient,
    viewer: Uuid,
    record: &Record,
) -> Result<bool, StoreError> {
    if record.org_id == viewer {
        return Ok(true);
    }
    Ok(client
        .query_opt(
            "SELECT 1 FROM grants WHERE grantor = $1 AND grantee = $2 AND withdrawn_at IS NULL
               AND (valid_from IS NULL OR valid_from <= $3) AND (valid_to IS NULL OR valid_to >= $3)",
            &[&record.org_id, &viewer, &record.created_at],
        )
        .await?
        .is_some())
}

/// Whether `viewer` holds a grant in force from any of `grantors` that covers time `at`.
pub async fn granted_by_any(
    client: &impl GenericClient,
    grantors: &[Uuid],
    viewer: Uuid,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    if grantors.is_empty() {
        return Ok(false);
    }
    Ok(client
        .query_opt(
            "SELECT 1 FROM grants WHERE grantor = ANY($1) AND grantee = $2 AND withdrawn_at IS NULL
               AND (valid_from IS NULL OR valid_from <= $3) AND (valid_to IS NULL OR valid_to >= $3)
             LIMIT 1",
            &[&grantors, &viewer, &at],
        )
        .await?
        .is_some())
}

/// Search filters.
#[derive(Debug, Default, Clone)]
pub struct Search {
    /// Document SHA-256.
    pub digest: Option<Vec<u8>>,
    /// Invoice number.
    pub number: Option<String>,
    /// Seller id or name.
    pub seller: Option<String>,
    /// Only this owner.
    pub org: Option<Uuid>,
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created at or before.
    pub to: Option<OffsetDateTime>,
    /// Continue after this (created_at, id).
    pub after: Option<(OffsetDateTime, Uuid)>,
    /// Page size.
    pub limit: i64,
}

/// Records visible to `viewer` (own and granted; every record for `None` = admin), filtered,
/// in (created_at, id) order, one page.
pub async fn search(
    client: &impl GenericClient,
    viewer: Option<Uuid>,
    s: &Search,
) -> Result<Vec<Record>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM records r WHERE true");
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |sql: &mut String, clause: &str, p: Box<dyn ToSql + Sync + Send>| {
        params.push(p);
        sql.push_str(&clause.replace("$?", &format!("${}", params.len())));
    };
    if let Some(v) = viewer {
        add(
            &mut sql,
            " AND (r.org_id = $? OR EXISTS (SELECT 1 FROM grants g WHERE g.grantor = r.org_id \
             AND g.grantee = $? AND g.withdrawn_at IS NULL \
             AND (g.valid_from IS NULL OR g.valid_from <= r.created_at) \
             AND (g.valid_to IS NULL OR g.valid_to >= r.created_at)))",
            Box::new(v), // both placeholders take this one parameter
        );
    }
    if let Some(d) = &s.digest {
        add(&mut sql, " AND r.document_sha256 = $?", Box::new(d.clone()));
    }
    if let Some(n) = &s.number {
        add(&mut sql, " AND r.meta->>'number' = $?", Box::new(n.clone()));
    }
    if let Some(x) = &s.seller {
        add(&mut sql, " AND r.meta->>'seller' = $?", Box::new(x.clone()));
    }
    if let Some(o) = s.org {
        add(&mut sql, " AND r.org_id = $?", Box::new(o));
    }
    if let Some(f) = s.from {
        add(&mut sql, " AND r.created_at >= $?", Box::new(f));
    }
    if let Some(t) = s.to {
        add(&mut sql, " AND r.created_at <= $?", Box::new(t));
    }
    if let Some((at, id)) = s.after {
        add(&mut sql, " AND (r.created_at, r.id) > ($?", Box::new(at));
        add(&mut sql, ", $?)", Box::new(id));
    }
    add(
        &mut sql,
        " ORDER BY r.created_at, r.id LIMIT $?",
        Box::new(s.limit),
    );
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    Ok(client
        .query(&sql, &refs)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// A grant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Grant {
    /// Id.
    pub id: Uuid,
    /// The issuer granting.
    pub grantor: Uuid,
    /// The auditor or court.
    pub grantee: Uuid,
    /// Records from this time on.
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_from: Option<OffsetDateTime>,
    /// Records up to this time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_to: Option<OffsetDateTime>,
}

/// Creates a grant.
pub async fn create_grant(
    client: &impl GenericClient,
    grantor: Uuid,
    grantee: Uuid,
    valid_from: Option<OffsetDateTime>,
    valid_to: Option<OffsetDateTime>,
) -> Result<Grant, StoreError> {
    let id = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO grants (id, grantor, grantee, valid_from, valid_to) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &grantor, &grantee, &valid_from, &valid_to],
        )
        .await?;
    Ok(Grant {
        id,
        grantor,
        grantee,
        valid_from,
        valid_to,
    })
}

/// Withdraws a grant of `grantor`; false when there is none.
pub async fn withdraw_grant(
    client: &impl GenericClient,
    grantor: Uuid,
    id: Uuid,
) -> Result<bool, StoreError> {
    Ok(client
        .execute(
            "UPDATE grants SET withdrawn_at = now() WHERE id = $1 AND grantor = $2 AND withdrawn_at IS NULL",
            &[&id, &grantor],
        )
        .await?
        == 1)
}

/// Whether `grantor` has a grant in force (not withdrawn) to `grantee`, whatever its time scope.
pub async fn has_grant(
    client: &impl GenericClient,
    grantor: Uuid,
    grantee: Uuid,
) -> Result<bool, StoreError> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM grants WHERE grantor = $1 AND grantee = $2 AND withdrawn_at IS NULL",
            &[&grantor, &grantee],
        )
        .await?
        .is_some())
}
