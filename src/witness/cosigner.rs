//! The cosigner: the one path through which the witness cosigns, used by `POST /add-checkpoint`
//! and by the mirror alike. It opens the checkpoint against the log's key, judges it against
//! what was last cosigned ([`super::verdict::judge`]) and records the outcome in the witness's
//! database before answering.
//!
//! Invariant (kept with `store::witness`): the last-cosigned row is locked, judged, advanced and
//! the cosignature recorded in one transaction, and a cosignature line is returned only after
//! that transaction committed. Hence the witness never cosigns a smaller tree than one it
//! cosigned before, nor two trees of one log that are not consistent, across restarts too.

use std::sync::Arc;

use crate::ledger::{
    Checkpoint, CosignatureVerifier, Ed25519Signer, Ed25519Verifier, Note, NoteError, Verifier,
    cosign,
};
use crate::store::Store;
use crate::store::witness::{self as store_witness, HeldCheckpoint, NewAlarm, NewCosignature};

use super::error::WitnessError;
use super::metrics::WitnessMetrics;
use super::request::AddCheckpoint;
use super::verdict::{Held, Verdict, judge};

/// A log the witness follows: its origin and checkpoint key.
#[derive(Debug, Clone)]
pub struct KnownLog {
    /// The origin line of its checkpoints.
    pub origin: String,
    /// Its Ed25519 note key.
    pub key: Ed25519Verifier,
}

/// A cosignature given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The tree size cosigned.
    pub size: u64,
    /// The cosignature line, newline included.
    pub line: String,
    /// The checkpoint note with the log's signature lines and this cosignature.
    pub note: String,
}

/// The witness's key, the logs it follows, and its metrics.
#[derive(Debug)]
pub struct Cosigner {
    key: Ed25519Signer,
    logs: Vec<KnownLog>,
    metrics: Arc<WitnessMetrics>,
}

/// Seconds since the epoch (0 if the clock is before it, which no cosignature should carry).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Cosigner {
    /// A cosigner with this key for these logs.
    pub fn new(key: Ed25519Signer, logs: Vec<KnownLog>, metrics: Arc<WitnessMetrics>) -> Self {
        Self { key, logs, metrics }
    }

    /// The witness's verifier key string (`name+id+base64`), for logs' configuration.
    pub fn vkey(&self) -> String {
        self.key.verifier().to_vkey()
    }

    /// The witness's cosignature verifier.
    ///
    /// # Errors
    /// Never in practice: the key is a cosigning key by construction.
    pub fn verifier(&self) -> Result<CosignatureVerifier, NoteError> {
        CosignatureVerifier::new(self.key.verifier())
    }

    /// The metrics this cosigner updates.
    pub fn metrics(&self) -> &WitnessMetrics {
        &self.metrics
    }

    /// Parses a checkpoint note, finds its log and checks the log's signature. Returns the
    /// checkpoint, the note reduced to the log's verified signature lines, and the log.
    ///
    /// # Errors
    /// [`WitnessError::BadRequest`] for a malformed note; [`WitnessError::UnknownLog`];
    /// [`WitnessError::NotSigned`].
    pub fn open(&self, note: &[u8]) -> Result<(Checkpoint, Note, &KnownLog), WitnessError> {
        let parsed = Note::parse(note).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        let cp = Checkpoint::parse(parsed.text())
            .map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        let log = self
            .logs
            .iter()
            .find(|l| l.origin == cp.origin)
            .ok_or(WitnessError::UnknownLog)?;
        let verified = parsed
            .verify(&[&log.key as &dyn Verifier])
            .map_err(WitnessError::NotSigned)?;
        // Keep only what the log signed: other lines (other witnesses) are not ours to vouch for.
        let mut own =
            Note::new(parsed.text()).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        for sig in verified {
            own.add_signature(sig.clone())
                .map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        }
        Ok((cp, own, log))
    }

    /// Handles one `add-checkpoint`: judges it, records the outcome, and returns the
    /// cosignature only after it is durable. Split views and inconsistent proofs are recorded
    /// as alarms with both checkpoints before the refusal is returned.
    ///
    /// # Errors
    /// The refusals of C2SP tlog-witness as [`WitnessError`] variants; storage errors.
    pub async fn add_checkpoint(
        &self,
        store: &Store,
        req: &AddCheckpoint,
    ) -> Result<Cosigned, WitnessError> {
        let result = self.add_checkpoint_inner(store, req).await;
        if let Err(e) = &result {
            self.metrics.refused(refusal_reason(e));
        }
        result
    }

    async fn add_checkpoint_inner(
        &self,
        store: &Store,
        req: &AddCheckpoint,
    ) -> Result<Cosigned, WitnessError> {
        let (cp, log_note, log) = self.open(&req.note)?;
        let mut client = store.conn().await?;
        let tx = client.transaction().await?;
        let held = store_witness::lock_log(&tx, &log.origin).await?;
        let verdict = judge(
            held.as_ref().map(|h| Held {
                size: h.size,
                root: h.root,
            }),
            req.old,
            &req.proof,
            &cp,
        );
        let current = held.as_ref().map_or(0, |h| h.size);
        match verdict {
            Verdict::Cosign => {
                let timestamp = now_secs();
                let sig = cosign(&self.key, log_note.text(), timestamp)
                    .map_err(|e| WitnessError::Key(e.to_string()))?;
                let line = sig.to_line();
                let note_text = log_note.to_text();
                store_witness::record_cosignature(
                    &tx,
                    &NewCosignature {
                        origin: &log.origin,
                        size: cp.size,
                        root: &cp.root,
                        note: &note_text,
                        text: log_note.text(),
                        timestamp,
                        line: &line,
                    },
                )
                .await?;
                tx.commit().await?;
                // Durable: only now may the cosignature leave the process.
                self.metrics.cosigned(cp.size);
                let mut cosigned = log_note;
                cosigned
                    .add_signature(sig)
                    .map_err(|e| WitnessError::BadRequest(e.to_string()))?;
                Ok(Cosigned {
                    size: cp.size,
                    line,
                    note: cosigned.to_text(),
                })
            }
            Verdict::OldTooLarge => Err(WitnessError::BadRequest(format!(
                "old size {} exceeds the checkpoint size {}",
                req.old, cp.size
            ))),
            Verdict::SizeMismatch { current } => Err(WitnessError::SizeMismatch { current }),
            Verdict::BadProof(e) => Err(WitnessError::BadProof(e)),
            Verdict::SplitView => {
                let detail = format!(
                    "the log signed size {} with a root other than the one cosigned",
                    cp.size
                );
                self.alarm(
                    &*tx,
                    &log.origin,
                    "split-view",
                    &detail,
                    held.as_ref(),
                    req,
                    None,
                )
                .await?;
                tx.commit().await?;
                Err(WitnessError::SplitView { current })
            }
            Verdict::Inconsistent(e) => {
                let detail = format!(
                    "the log signed size {} with a consistency proof from {} that does not hold \
                     from the root cosigned",
                    cp.size, req.old
                );
                let body = String::from_utf8_lossy(&req.to_body()).into_owned();
                self.alarm(
                    &*tx,
                    &log.origin,
                    "inconsistent-proof",
                    &detail,
                    held.as_ref(),
                    req,
                    Some(&body),
                )
                .await?;
                tx.commit().await?;
                Err(WitnessError::Inconsistent(e))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn alarm(
        &self,
        client: &impl tokio_postgres::GenericClient,
        origin: &str,
        kind: &str,
        detail: &str,
        held: Option<&HeldCheckpoint>,
        req: &AddCheckpoint,
        proof: Option<&str>,
    ) -> Result<(), WitnessError> {
        let offered = String::from_utf8_lossy(&req.note).into_owned();
        record_alarm(
            client,
            &self.metrics,
            &NewAlarm {
                origin,
                kind,
                detail,
                held_note: held.map(|h| h.note.as_str()),
                offered_note: &offered,
                proof,
            },
        )
        .await
    }
}

/// Records an alarm, logs it loudly when new, and refreshes the alarm gauge.
///
/// # Errors
/// Storage.
pub async fn record_alarm(
    client: &impl tokio_postgres::GenericClient,
    metrics: &WitnessMetrics,
    alarm: &NewAlarm<'_>,
) -> Result<(), WitnessError> {
    let new = store_witness::record_alarm(client, alarm).await?;
    if new {
        tracing::error!(
            origin = alarm.origin,
            kind = alarm.kind,
            detail = alarm.detail,
            offered = alarm.offered_note,
            held = alarm.held_note.unwrap_or("-"),
            "WITNESS ALARM: the log misbehaved; evidence kept in witness_alarms"
        );
    } else {
        tracing::warn!(
            origin = alarm.origin,
            kind = alarm.kind,
            "the log offered a checkpoint already recorded as an alarm"
        );
    }
    metrics.set_alarms(store_witness::alarm_count(client).await?);
    Ok(())
}

/// The metric label of a refusal.
fn refusal_reason(e: &WitnessError) -> &'static str {
    match e {
        WitnessError::BadRequest(_) => "bad-request",
        WitnessError::UnknownLog => "unknown-log",
        WitnessError::NotSigned(_) => "not-signed",
        WitnessError::SizeMismatch { .. } => "old-size-mismatch",
        WitnessError::SplitView { .. } => "split-view",
        WitnessError::BadProof(_) => "bad-proof",
        WitnessError::Inconsistent(_) => "inconsistent-proof",
        _ => "internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{ALG_COSIGNATURE_V1, ALG_ED25519, WitnessPolicy};
    use ed25519_dalek::SigningKey;

    fn log_key(seed: u8) -> Ed25519Signer {
        Ed25519Signer::new(
            "log.example",
            ALG_ED25519,
            SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
    }

    fn cosigner() -> Cosigner {
        let w = Ed25519Signer::new(
            "w.example",
            ALG_COSIGNATURE_V1,
            SigningKey::from_bytes(&[9; 32]),
        )
        .unwrap();
        Cosigner::new(
            w,
            vec![KnownLog {
                origin: "log.example".into(),
                key: log_key(1).verifier(),
            }],
            Arc::new(WitnessMetrics::new()),
        )
    }

    #[test]
    fn open_checks_origin_and_signature_and_drops_foreign_lines() {
        let c = cosigner();
        let mut note = Checkpoint::new("log.example", 3, [1u8; 32])
            .sign(&log_key(1))
            .unwrap();
        // A line from a key the witness does not know is ignored, and dropped.
        let stranger =
            Ed25519Signer::new("x.example", ALG_ED25519, SigningKey::from_bytes(&[3; 32])).unwrap();
        note.add_signature(stranger.sign_note_text(note.text()).unwrap())
            .unwrap();
        let (cp, own, log) = c.open(note.to_text().as_bytes()).unwrap();
        assert_eq!(cp.size, 3);
        assert_eq!(log.origin, "log.example");
        assert_eq!(own.signatures().len(), 1);
        assert_eq!(own.signatures()[0].name, "log.example");

        let other_key = Checkpoint::new("log.example", 3, [1u8; 32])
            .sign(&log_key(2))
            .unwrap();
        assert!(matches!(
            c.open(other_key.to_text().as_bytes()),
            Err(WitnessError::NotSigned(_))
        ));
        let other_log = Checkpoint::new("other.example", 3, [1u8; 32])
            .sign(&log_key(1))
            .unwrap();
        assert!(matches!(
            c.open(other_log.to_text().as_bytes()),
            Err(WitnessError::UnknownLog)
        ));
        assert!(matches!(
            c.open(b"garbage"),
            Err(WitnessError::BadRequest(_))
        ));
    }

    #[test]
    fn cosignature_verifies_under_a_policy() {
        // The line the cosigner makes is what a k-of-n policy accepts (the code path
        // add_checkpoint takes after its transaction).
        let c = cosigner();
        let note = Checkpoint::new("log.example", 3, [1u8; 32])
            .sign(&log_key(1))
            .unwrap();
        let (_, mut own, _) = c.open(note.to_text().as_bytes()).unwrap();
        own.add_signature(cosign(&c.key, own.text(), 1_700_000_000).unwrap())
            .unwrap();
        let policy = WitnessPolicy::new(1, vec![c.verifier().unwrap()]).unwrap();
        let got = policy
            .check(&Note::parse(own.to_text().as_bytes()).unwrap(), None)
            .unwrap();
        assert_eq!(got[0].name, "w.example");
        assert!(c.vkey().starts_with("w.example+"));
    }
}
