//! Server-held keys in PostgreSQL, sealed with the master key.
//!
//! Invariant: a private key is written only sealed, and only once per name (`ON CONFLICT DO
//! NOTHING` then re-read), so several processes starting together agree on one key. The master
//! key is checked against a sealed known value before any key is created, so a wrong master
//! key stops start-up with nothing written.

use rcgen::PublicKeyData;
use tokio_postgres::GenericClient;

use super::StoreError;
use crate::identity::IdentityError;
use crate::identity::master_key::MasterKey;
use crate::identity::pki::{CaKey, NotaryPki, key_from_pkcs8};

/// The value sealed in `master_key_check`.
const CHECK_PLAINTEXT: &[u8] = b"notarium master key check v1";

/// Errors loading keys: storage or identity.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key material.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl From<tokio_postgres::Error> for KeyStoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Checks the master key against the database, recording it on first use.
pub async fn check_master_key(
    client: &impl GenericClient,
    mk: &MasterKey,
) -> Result<(), KeyStoreError> {
    let sealed = mk.seal("master-key-check", CHECK_PLAINTEXT);
    client
        .execute(
            "INSERT INTO master_key_check (sealed) VALUES ($1) ON CONFLICT (id) DO NOTHING",
            &[&sealed],
        )
        .await?;
    let row = client
        .query_one("SELECT sealed FROM master_key_check", &[])
        .await?;
    let stored: Vec<u8> = row.get(0);
    let opened = mk.open("master-key-check", &stored)?;
    if opened.as_slice() != CHECK_PLAINTEXT {
        return Err(IdentityError::Unseal("master-key-check".into()).into());
    }
    Ok(())
}

/// A stored key: certificate (if any), public key, and the opened PKCS#8 / raw secret.
pub struct StoredKey {
    /// Certificate DER, when the key has one.
    pub cert_der: Option<Vec<u8>>,
    /// Public key bytes (SPKI DER, or raw for Ed25519).
    pub public_key: Vec<u8>,
    /// The opened secret (PKCS#8 DER or a raw seed).
    pub secret: zeroize::Zeroizing<Vec<u8>>,
}

/// Reads and opens the key `name`.
pub async fn load_key(
    client: &impl GenericClient,
    mk: &MasterKey,
    name: &str,
) -> Result<Option<StoredKey>, KeyStoreError> {
    let Some(row) = client
        .query_opt(
            "SELECT cert_der, public_key, sealed_key FROM server_keys WHERE name = $1",
            &[&name],
        )
        .await?
    else {
        return Ok(None);
    };
    let sealed: Vec<u8> = row.get(2);
    Ok(Some(StoredKey {
        cert_der: row.get(0),
        public_key: row.get(1),
        secret: mk.open(name, &sealed)?,
    }))
}

/// Stores key `name` unless one exists; returns whether this call wrote it.
pub async fn insert_key(
    client: &impl GenericClient,
    mk: &MasterKey,
    name: &str,
    cert_der: Option<&[u8]>,
    public_key: &[u8],
    secret: &[u8],
) -> Result<bool, KeyStoreError> {
    let sealed = mk.seal(name, secret);
    let n = client
        .execute(
            "INSERT INTO server_keys (name, cert_der, public_key, sealed_key) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
            &[&name, &cert_der, &public_key, &sealed],
        )
        .await?;
    Ok(n == 1)
}

/// Loads the notary PKI, creating it on first start.
pub async fn load_or_create_pki(
    client: &mut tokio_postgres::Client,
    mk: &MasterKey,
) -> Result<NotaryPki, KeyStoreError> {
    if let Some(pki) = load_pki(client, mk).await? {
        return Ok(pki);
    }
    let fresh = NotaryPki::generate()?;
    let tx = client.transaction().await?;
    // Both CAs in one transaction: a crash never leaves a root without its issuing CA.
    let wrote = insert_key(
        &tx,
        mk,
        "ca-root",
        Some(&fresh.root.cert_der),
        &fresh.root.key.subject_public_key_info(),
        fresh.root.key.serialized_der(),
    )
    .await?;
    if wrote {
        insert_key(
            &tx,
            mk,
            "ca-issuing",
            Some(&fresh.issuing.cert_der),
            &fresh.issuing.key.subject_public_key_info(),
            fresh.issuing.key.serialized_der(),
        )
        .await?;
        tx.commit().await?;
        tracing::info!("created the notary root and issuing CA");
        return Ok(fresh);
    }
    // Another process won the race; use its PKI.
    drop(tx);
    load_pki(client, mk)
        .await?
        .ok_or_else(|| IdentityError::Damaged("ca-issuing".into()).into())
}

async fn load_pki(
    client: &impl GenericClient,
    mk: &MasterKey,
) -> Result<Option<NotaryPki>, KeyStoreError> {
    let (Some(root), Some(issuing)) = (
        load_key(client, mk, "ca-root").await?,
        load_key(client, mk, "ca-issuing").await?,
    ) else {
        return Ok(None);
    };
    let ca = |k: StoredKey, label: &str| -> Result<CaKey, KeyStoreError> {
        Ok(CaKey {
            cert_der: k
                .cert_der
                .ok_or_else(|| IdentityError::Damaged(label.into()))?,
            key: key_from_pkcs8(&k.secret, label)?,
        })
    };
    Ok(Some(NotaryPki {
        root: ca(root, "ca-root")?,
        issuing: ca(issuing, "ca-issuing")?,
    }))
}
