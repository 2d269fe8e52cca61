//! Reading the log: the signing key, a cache of hot tiles, and proofs assembled from tiles
//! (O(log n) tile reads, most of them served from memory because recent proofs touch the same
//! right-edge tiles).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::identity::master_key::MasterKey;
use crate::ledger::{
    ALG_ED25519, Ed25519Signer, ExpandedTile, Hash, ProofError, Tile, TileError, consistency_plan,
    inclusion_plan, tile_span, tiles_for_plan,
};
use crate::store::keys::{self, KeyStoreError};
use crate::store::{Store, StoreError, log as store_log};

/// Errors reading the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A proof request that makes no sense for this tree (size beyond it, index beyond size…).
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Stored tiles do not fit together.
    #[error("stored tiles: {0}")]
    Tile(#[from] TileError),
    /// Key storage.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// The log key is damaged.
    #[error("log key: {0}")]
    Key(String),
    /// A tile a proof needs is not stored (or narrower than the tree asked about).
    #[error("tile {0} is not stored")]
    MissingTile(String),
    /// The log has no checkpoint yet.
    #[error("the log is empty: no checkpoint yet")]
    Empty,
}

/// Loads the log's Ed25519 checkpoint key (named after the origin), creating it on first start.
pub async fn load_or_create_log_key(
    store: &Store,
    mk: &MasterKey,
    origin: &str,
) -> Result<Ed25519Signer, LogError> {
    let client = store.dedicated().await?;
    if keys::load_key(&client, mk, "log").await?.is_none() {
        let signer = Ed25519Signer::generate(origin, ALG_ED25519)
            .map_err(|e| LogError::Key(e.to_string()))?;
        let skey = signer.to_skey();
        let vkey = signer.verifier().to_vkey();
        if keys::insert_key(&client, mk, "log", None, vkey.as_bytes(), skey.as_bytes()).await? {
            tracing::info!(%vkey, "created the log key");
        }
    }
    let stored = keys::load_key(&client, mk, "log")
        .await?
        .ok_or_else(|| LogError::Key("missing after creation".into()))?;
    let skey = std::str::from_utf8(&stored.secret).map_err(|e| LogError::Key(e.to_string()))?;
    let signer = Ed25519Signer::from_skey(skey).map_err(|e| LogError::Key(e.to_string()))?;
    if signer.name() != origin {
        return Err(LogError::Key(format!(
            "the stored log key is for origin `{}`, but NOTARIUM_LOG_ORIGIN is `{origin}`; \
             a log's origin never changes (start a new log with a new database instead)",
            signer.name()
        )));
    }
    Ok(signer)
}

/// Recently written tiles, expanded (every inner node hashed once), so proofs for fresh receipts
/// are lookups: no database read and no hashing per proof.
#[derive(Debug, Default)]
pub struct TileCache {
    inner: Mutex<HashMap<(u8, u64), Arc<ExpandedTile>>>,
}

/// How many tiles the cache keeps (an expanded tile is at most 511 hashes, 16 KiB).
const CACHE_TILES: usize = 2048;

impl TileCache {
    /// Remembers tiles just written (or read).
    pub fn put(&self, tiles: &[(Tile, Vec<u8>)]) {
        // Expand outside the lock: hashing is the costly part.
        let expanded: Vec<Arc<ExpandedTile>> = tiles
            .iter()
            .filter_map(|(t, d)| ExpandedTile::new(*t, d).ok().map(Arc::new))
            .collect();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() + expanded.len() > CACHE_TILES {
            // Keep the higher levels (few, hot) and drop level-0 tiles, which are the bulk.
            g.retain(|(level, _), _| *level > 0);
            if g.len() + expanded.len() > CACHE_TILES {
                g.clear();
            }
        }
        for e in expanded {
            let t = e.tile();
            let keep = match g.get(&(t.level, t.index)) {
                Some(old) => old.tile().width <= t.width,
                None => true,
            };
            if keep {
                g.insert((t.level, t.index), e);
            }
        }
    }

    /// A cached tile at least as wide as `t`: its nodes within `t`'s width are `t`'s nodes.
    fn get(&self, t: &Tile) -> Option<Arc<ExpandedTile>> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.get(&(t.level, t.index))
            .filter(|e| e.tile().width >= t.width)
            .cloned()
    }
}

/// Proof generation over stored tiles.
#[derive(Debug, Default)]
pub struct LogReader {
    /// Hot tiles.
    pub cache: TileCache,
}

impl LogReader {
    /// Fetches `wanted` tiles (cache first, then one database query), expanded.
    async fn tile_set(
        &self,
        store: &Store,
        wanted: &[Tile],
    ) -> Result<HashMap<(u8, u64), Arc<ExpandedTile>>, LogError> {
        let mut set = HashMap::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for t in wanted {
            match self.cache.get(t) {
                Some(e) => {
                    set.insert((t.level, t.index), e);
                }
                None => missing.push(*t),
            }
        }
        if !missing.is_empty() {
            let conn = store.conn().await?;
            let rows = store_log::tiles(&**conn, &missing).await?;
            for want in &missing {
                let Some((stored, data)) = rows
                    .iter()
                    .find(|(s, _)| s.level == want.level && s.index == want.index)
                else {
                    return Err(LogError::MissingTile(want.path()));
                };
                if stored.width < want.width || data.len() < want.byte_len() {
                    return Err(LogError::MissingTile(want.path()));
                }
                // Expand the stored (possibly wider) tile: its prefix is what was asked.
                let e = Arc::new(ExpandedTile::new(*stored, data)?);
                set.insert((want.level, want.index), e);
            }
            self.cache.put(&rows);
        }
        Ok(set)
    }

    fn assemble(
        plan: &crate::ledger::ProofPlan,
        set: &HashMap<(u8, u64), Arc<ExpandedTile>>,
        size: u64,
    ) -> Result<Vec<Hash>, LogError> {
        Ok(plan.assemble_with(|id| {
            // Only nodes complete within the tree of `size` (a cached tile may be wider).
            if id.end() > size {
                return None;
            }
            let (level, index, _, _) = tile_span(id);
            set.get(&(level, index))?.node(id)
        })?)
    }

    /// The RFC 9162 inclusion proof of `index` in the tree of `size`.
    pub async fn inclusion_proof(
        &self,
        store: &Store,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, LogError> {
        let plan = inclusion_plan(index, size)?;
        let tiles = tiles_for_plan(&plan, size)?;
        let set = self.tile_set(store, &tiles).await?;
        Self::assemble(&plan, &set, size)
    }

    /// The RFC 9162 consistency proof from `from` to `to`.
    pub async fn consistency_proof(
        &self,
        store: &Store,
        from: u64,
        to: u64,
    ) -> Result<Vec<Hash>, LogError> {
        let plan = consistency_plan(from, to)?;
        let tiles = tiles_for_plan(&plan, to)?;
        let set = self.tile_set(store, &tiles).await?;
        Self::assemble(&plan, &set, to)
    }
}
