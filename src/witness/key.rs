//! The witness's Ed25519 cosigning key (C2SP tlog-cosignature, type 0x04): created on first
//! start, stored sealed with the master key in `server_keys` like every server-held key.

use crate::identity::master_key::MasterKey;
use crate::ledger::{ALG_COSIGNATURE_V1, Ed25519Signer};
use crate::store::Store;
use crate::store::keys;

use super::error::WitnessError;

/// The name of the witness key in `server_keys`.
const KEY_ROW: &str = "witness";

/// Loads the witness key named `name`, creating it on first start. A stored key with another
/// name stops start-up: a witness's identity never changes silently.
///
/// # Errors
/// Storage, sealing, or a damaged or renamed key.
pub async fn load_or_create(
    store: &Store,
    mk: &MasterKey,
    name: &str,
) -> Result<Ed25519Signer, WitnessError> {
    let client = store.dedicated().await?;
    // Checked before anything is created: a wrong master key writes nothing.
    keys::check_master_key(&client, mk).await?;
    if keys::load_key(&client, mk, KEY_ROW).await?.is_none() {
        let signer = Ed25519Signer::generate(name, ALG_COSIGNATURE_V1)
            .map_err(|e| WitnessError::Key(e.to_string()))?;
        let vkey = signer.verifier().to_vkey();
        // ON CONFLICT DO NOTHING inside: two processes starting together keep one key.
        if keys::insert_key(
            &client,
            mk,
            KEY_ROW,
            None,
            vkey.as_bytes(),
            signer.to_skey().as_bytes(),
        )
        .await?
        {
            tracing::info!(%vkey, "created the witness key");
        }
    }
    let stored = keys::load_key(&client, mk, KEY_ROW)
        .await?
        .ok_or_else(|| WitnessError::Key("missing after creation".into()))?;
    let skey = std::str::from_utf8(&stored.secret).map_err(|e| WitnessError::Key(e.to_string()))?;
    let signer = Ed25519Signer::from_skey(skey).map_err(|e| WitnessError::Key(e.to_string()))?;
    if signer.alg() != ALG_COSIGNATURE_V1 {
        return Err(WitnessError::Key(
            "the stored witness key is not a cosigning key".into(),
        ));
    }
    if signer.name() != name {
        return Err(WitnessError::Key(format!(
            "the stored witness key is named `{}`, but NOTARIUM_WITNESS_NAME is `{name}`; a \
             witness's name is part of its identity (use a new database for a new witness)",
            signer.name()
        )));
    }
    Ok(signer)
}
