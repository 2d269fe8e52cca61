//! Reading a log over HTTP as C2SP tlog-tiles describes it: `GET /checkpoint`,
//! `GET /tile/<L>/<N>[.p/<W>]` and `GET /tile/entries/<N>[.p/<W>]`. Every body is read with a
//! size cap and checked for the exact length or entry count the tile calls for; nothing
//! fetched is trusted beyond that (the mirror verifies it against signed checkpoints).

use std::time::Duration;

use reqwest::StatusCode;

use crate::ledger::{MAX_ENTRY_SIZE, MAX_NOTE_SIZE, TILE_WIDTH, Tile, decode_bundle};

use super::error::WitnessError;

/// The largest entry bundle accepted: 256 entries of the largest size, with length prefixes.
const MAX_BUNDLE_BYTES: usize = TILE_WIDTH as usize * (2 + MAX_ENTRY_SIZE);

/// An HTTP client for one log.
#[derive(Debug, Clone)]
pub struct LogClient {
    http: reqwest::Client,
    base: String,
}

impl LogClient {
    /// A client for the log at `base` (`http://host:port`, no trailing slash), each request
    /// cut off after `timeout`.
    ///
    /// # Errors
    /// [`WitnessError::Config`] when the HTTP client cannot be built.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, WitnessError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("notarium-witness/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WitnessError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The log's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The log's latest checkpoint note, as served.
    ///
    /// # Errors
    /// [`WitnessError::Fetch`].
    pub async fn checkpoint(&self) -> Result<Vec<u8>, WitnessError> {
        match self.get("checkpoint", MAX_NOTE_SIZE).await? {
            Some(body) => Ok(body),
            None => Err(WitnessError::Fetch(
                "the log has no checkpoint (404)".into(),
            )),
        }
    }

    /// A hash tile of exactly `tile.width` hashes. A partial tile the log no longer serves
    /// (404) is read as the prefix of the full tile, as tlog-tiles allows.
    ///
    /// # Errors
    /// [`WitnessError::Fetch`] when absent or of the wrong length.
    pub async fn hash_tile(&self, tile: Tile) -> Result<Vec<u8>, WitnessError> {
        let want = tile.byte_len();
        let mut data = self
            .get_tile(
                &tile.path(),
                &Tile::full(tile.level, tile.index).path(),
                tile,
                want,
            )
            .await?;
        if data.len() < want || (data.len() != want && tile.is_full()) {
            return Err(WitnessError::Fetch(format!(
                "{}: {} bytes, expected {want}",
                tile.path(),
                data.len()
            )));
        }
        data.truncate(want);
        Ok(data)
    }

    /// The `tile.width` entries of an entry bundle.
    ///
    /// # Errors
    /// [`WitnessError::Fetch`] when absent or holding fewer entries (or, for the exact tile,
    /// another number).
    pub async fn entries(&self, tile: Tile) -> Result<Vec<Vec<u8>>, WitnessError> {
        let full = Tile::full(0, tile.index);
        let data = self
            .get_tile(
                &tile.entries_path(),
                &full.entries_path(),
                tile,
                MAX_BUNDLE_BYTES,
            )
            .await?;
        let entries = decode_bundle(&data)
            .map_err(|e| WitnessError::Fetch(format!("{}: {e}", tile.entries_path())))?;
        let want = usize::from(tile.width);
        if entries.len() < want {
            return Err(WitnessError::Fetch(format!(
                "{}: {} entries, expected {want}",
                tile.entries_path(),
                entries.len()
            )));
        }
        Ok(entries.into_iter().take(want).map(<[u8]>::to_vec).collect())
    }

    /// Fetches `path`, falling back to `full_path` on 404 for a partial tile.
    async fn get_tile(
        &self,
        path: &str,
        full_path: &str,
        tile: Tile,
        max: usize,
    ) -> Result<Vec<u8>, WitnessError> {
        if let Some(body) = self.get(path, max).await? {
            return Ok(body);
        }
        if !tile.is_full()
            && let Some(body) = self.get(full_path, max).await?
        {
            return Ok(body);
        }
        Err(WitnessError::Fetch(format!("{path}: not found")))
    }

    /// GETs `base/path`: `Some(body)` on 200, `None` on 404, an error otherwise.
    async fn get(&self, path: &str, max: usize) -> Result<Option<Vec<u8>>, WitnessError> {
        let url = format!("{}/{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| WitnessError::Fetch(format!("GET {url}: {e}")))?;
        match resp.status() {
            StatusCode::OK => read_bounded(resp, max)
                .await
                .map(Some)
                .map_err(|e| WitnessError::Fetch(format!("GET {url}: {e}"))),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(WitnessError::Fetch(format!("GET {url}: status {s}"))),
        }
    }
}

/// Reads a response body, refusing more than `max` bytes.
pub(crate) async fn read_bounded(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("body larger than {max} bytes"));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > max {
            return Err(format!("body larger than {max} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
