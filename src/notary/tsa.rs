//! The time-stamping service: the TSA key and certificate (created on first start, sealed like
//! every server key), serial numbers reserved in blocks from PostgreSQL, and the clock.

use std::sync::Mutex;

use der::oid::ObjectIdentifier;
use rcgen::{DistinguishedName, DnType, Issuer, PublicKeyData};
use time::{Duration, OffsetDateTime};

use crate::config::Config;
use crate::identity::master_key::MasterKey;
use crate::identity::pki::{NotaryPki, key_from_pkcs8};
use crate::store::keys::{self, KeyStoreError};
use crate::store::{Store, StoreError};
use crate::timestamp::{
    Accuracy, HashAlgorithm, TimeStampRequest, TimestampError, TokenParams, TsaSigner,
};

/// Errors of the time-stamping service.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    /// Building or parsing a token failed.
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key storage.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// The configured policy is not an OID.
    #[error("NOTARIUM_TSA_POLICY is not an OID: {0}")]
    Policy(String),
}

/// Serials per reserved block.
const BLOCK_BITS: u32 = 24;

/// The TSA of this server.
pub struct TimeStamper {
    signer: TsaSigner,
    policy: ObjectIdentifier,
    accuracy: Accuracy,
    serials: Mutex<SerialBlock>,
}

impl std::fmt::Debug for TimeStamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeStamper").finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct SerialBlock {
    block: u128,
    next: u128,
    end: u128,
}

impl TimeStamper {
    /// Loads the TSA key and certificate, creating them on first start.
    pub async fn open(
        store: &Store,
        mk: &MasterKey,
        pki: &NotaryPki,
        config: &Config,
    ) -> Result<Self, TsaError> {
        let policy = ObjectIdentifier::new(&config.tsa_policy)
            .map_err(|e| TsaError::Policy(format!("{}: {e}", config.tsa_policy)))?;
        let client = store.dedicated().await?;
        if keys::load_key(&client, mk, "tsa").await?.is_none() {
            let key = crate::timestamp::generate_tsa_key()?;
            let mut dn = DistinguishedName::new();
            dn.push(DnType::OrganizationName, "notarium");
            dn.push(DnType::CommonName, "notarium Time-Stamping Authority");
            let now = OffsetDateTime::now_utc();
            let issuing = x509_parser::parse_x509_certificate(&pki.issuing.cert_der)
                .map(|(_, c)| c.validity().not_after.timestamp())
                .unwrap_or(0);
            let ca_end = OffsetDateTime::from_unix_timestamp(issuing).unwrap_or(now);
            let not_after = (now + Duration::days(365 * 10)).min(ca_end);
            let issuer =
                Issuer::from_ca_cert_der(&pki.issuing.cert_der.as_slice().into(), &pki.issuing.key)
                    .map_err(|e| KeyStoreError::Identity(e.into()))?;
            let cert = crate::timestamp::issue_tsa_certificate(
                dn,
                now - Duration::minutes(5),
                not_after,
                &key,
                &issuer,
            )?;
            if keys::insert_key(
                &client,
                mk,
                "tsa",
                Some(cert.der()),
                &key.subject_public_key_info(),
                key.serialized_der(),
            )
            .await?
            {
                tracing::info!("created the TSA key and certificate");
            }
        }
        let stored = keys::load_key(&client, mk, "tsa").await?.ok_or_else(|| {
            KeyStoreError::Identity(crate::identity::IdentityError::Damaged("tsa".into()))
        })?;
        // Validate the PKCS#8 the same way as other keys before handing it to the signer.
        key_from_pkcs8(&stored.secret, "tsa").map_err(KeyStoreError::Identity)?;
        let cert = stored.cert_der.ok_or_else(|| {
            KeyStoreError::Identity(crate::identity::IdentityError::Damaged("tsa".into()))
        })?;
        let signer = TsaSigner::new(&stored.secret, cert, vec![pki.issuing.cert_der.clone()])?;
        let ms = config.tsa_accuracy_ms;
        Ok(Self {
            signer,
            policy,
            accuracy: Accuracy {
                seconds: ms / 1000,
                millis: (ms % 1000) as u16,
                micros: 0,
            },
            serials: Mutex::new(SerialBlock::default()),
        })
    }

    /// The policies this TSA accepts in requests.
    pub fn policies(&self) -> &[ObjectIdentifier] {
        std::slice::from_ref(&self.policy)
    }

    /// The TSA certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        self.signer.certificate_der()
    }

    /// A fresh serial: from the current block, reserving a new block when it runs out.
    pub async fn next_serial(&self, store: &Store) -> Result<u128, TsaError> {
        if let Some(s) = self.take_serial() {
            return Ok(s);
        }
        let conn = store.conn().await?;
        let block: i64 = conn
            .query_one("SELECT nextval('tsa_serial_block')", &[])
            .await
            .map_err(StoreError::from)?
            .get(0);
        let mut g = self.serials.lock().unwrap_or_else(|p| p.into_inner());
        // Another task may have refilled meanwhile; a fresh block is never wasted harm.
        g.block = block as u128;
        g.next = (block as u128) << BLOCK_BITS;
        g.end = ((block as u128) + 1) << BLOCK_BITS;
        let s = g.next;
        g.next += 1;
        Ok(s)
    }

    fn take_serial(&self) -> Option<u128> {
        let mut g = self.serials.lock().unwrap_or_else(|p| p.into_inner());
        (g.next < g.end).then(|| {
            let s = g.next;
            g.next += 1;
            s
        })
    }

    fn params(&self, serial: u128) -> TokenParams {
        TokenParams {
            policy: self.policy,
            serial,
            gen_time: OffsetDateTime::now_utc(),
            fraction_digits: 3,
            accuracy: Some(self.accuracy),
            signing_time: false,
            tsa_name: true,
        }
    }

    /// Answers a parsed request with a granted `TimeStampResp` (DER).
    pub async fn grant(&self, store: &Store, req: &TimeStampRequest) -> Result<Vec<u8>, TsaError> {
        let serial = self.next_serial(store).await?;
        Ok(self.signer.grant(req, &self.params(serial))?)
    }

    /// A token (DER ContentInfo) over a SHA-256 digest, for the server's own notarizations.
    pub async fn token_for_sha256(
        &self,
        store: &Store,
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, TsaError> {
        let req = TimeStampRequest::for_digest(HashAlgorithm::Sha256, digest)?;
        let serial = self.next_serial(store).await?;
        Ok(self.signer.token(&req, &self.params(serial))?)
    }
}
