//! Bulk evidence export for auditors and courts: `GET /v1/evidence?org=&from=&to=` streams one
//! zip holding one evidence bundle per visible record of `org` (`<record id>.zip`, stored, since
//! bundles are already deflated).
//!
//! Memory stays at about one bundle whatever the number of records: an async task pages through
//! the records with the cursor search and builds one bundle at a time; a blocking task writes
//! each into a streaming zip whose output goes, in chunks, through a bounded channel to the
//! response body. Every channel is bounded, so a slow client slows the builder down.
//!
//! Access: the org itself, the admin, or an auditor or court holding a grant from `org` in
//! force; anyone else gets 404, as for a record (existence never leaks). Which records a grant
//! covers is the search's business (its time scope), exactly as for `GET /v1/records`.

use std::io::Write;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;
use uuid::Uuid;
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use super::auth::Caller;
use super::records::parse_time;
use super::{ApiError, AppState};
use crate::evidence::build_bundle;
use crate::store::orgs::Role;
use crate::store::records::{self, Search};

/// Records fetched per search page.
const PAGE: i64 = 50;
/// Size of the chunks sent to the response body.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the zip writer and the body.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Query of `GET /v1/evidence`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    org: Uuid,
    from: Option<String>,
    to: Option<String>,
}

/// 404 unless `caller` may export `org`'s evidence.
async fn check_access(state: &AppState, caller: &Caller, org: Uuid) -> Result<(), ApiError> {
    let hidden = || ApiError::NotFound("no such organisation, or no grant from it".into());
    let conn = state.store.conn().await?;
    // The org must exist for everyone (the admin included).
    crate::store::orgs::get_org(&**conn, org)
        .await
        .map_err(|_| hidden())?;
    match caller {
        Caller::Admin => Ok(()),
        Caller::Org(o) if o.id == org => Ok(()),
        Caller::Org(o) if matches!(o.role, Role::Auditor | Role::Court) => {
            if records::has_grant(&**conn, org, o.id).await? {
                Ok(())
            } else {
                Err(hidden())
            }
        }
        Caller::Org(_) => Err(hidden()),
    }
}

/// `GET /v1/evidence?org=&from=&to=`: a zip of evidence bundles (see the module doc).
pub async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let search = Search {
        org: Some(q.org),
        from: parse_time("from", q.from.as_deref())?,
        to: parse_time("to", q.to.as_deref())?,
        limit: PAGE,
        ..Search::default()
    };
    check_access(&state, &caller, q.org).await?;
    let viewer = match &caller {
        Caller::Admin => None,
        Caller::Org(o) => Some(o.id),
    };

    let mut resp = stream_bundles(state, viewer, search).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"evidence-{}.zip\"", q.org))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// The zip of the bundles of every record `search` finds for `viewer` (`None`: every record),
/// as a streamed body; `search.limit` is the page size. Starts the builder and the zip writer;
/// the body ends with an error if a bundle cannot be built.
pub fn stream_bundles(state: Arc<AppState>, viewer: Option<Uuid>, search: Search) -> Body {
    // builder (async) --bundles--> zip writer (blocking) --chunks--> body
    let (bundle_tx, bundle_rx) = mpsc::channel::<Part>(1);
    let (chunk_tx, chunk_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    tokio::spawn(async move {
        if let Err(e) = build_all(&state, viewer, search, &bundle_tx).await {
            tracing::error!(error = %e, "bulk evidence export failed");
            let _ = bundle_tx.send(Part::Failed).await;
        }
    });
    tokio::task::spawn_blocking(move || write_zip(bundle_rx, chunk_tx));
    let stream = futures::stream::unfold(chunk_rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Body::from_stream(stream)
}

/// What the builder sends the zip writer.
enum Part {
    /// One record's bundle.
    Bundle(Uuid, Vec<u8>),
    /// The builder failed: the download must break, never end as a short but complete zip.
    Failed,
}

/// Pages through the visible records and sends each one's bundle, in (created_at, id) order.
async fn build_all(
    state: &AppState,
    viewer: Option<Uuid>,
    mut search: Search,
    tx: &mpsc::Sender<Part>,
) -> Result<(), ApiError> {
    loop {
        let page = {
            let conn = state.store.conn().await?;
            records::search(&**conn, viewer, &search).await?
        };
        for record in &page {
            let input = super::evidence::bundle_input(state, record).await?;
            let zip = build_bundle(&input).map_err(ApiError::internal)?;
            if tx.send(Part::Bundle(record.id, zip)).await.is_err() {
                // The client went away: stop building.
                return Ok(());
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == search.limit => {
                search.after = Some((last.created_at, last.id));
            }
            _ => return Ok(()),
        }
    }
}

/// Writes each bundle received into a streaming zip over `chunks`, and the zip's central
/// directory once the builder is done (its sender dropped). When the builder failed, the body
/// ends with an error instead, so the client sees a broken download.
fn write_zip(mut parts: mpsc::Receiver<Part>, chunks: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let sink = ChunkSender {
        buf: Vec::with_capacity(CHUNK),
        tx: chunks.clone(),
    };
    let mut zip = ZipWriter::new_stream(sink);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .unix_permissions(0o644);
    while let Some(part) = parts.blocking_recv() {
        match part {
            Part::Bundle(id, bundle) => {
                let written = zip
                    .start_file(format!("{id}.zip"), options)
                    .map_err(std::io::Error::other)
                    .and_then(|_| zip.write_all(&bundle));
                if written.is_err() {
                    // The body is gone (client disconnected): dropping `parts` stops the
                    // builder.
                    return;
                }
            }
            Part::Failed => {
                let _ = chunks.blocking_send(Err(std::io::Error::other("export failed")));
                return;
            }
        }
    }
    if let Ok(stream) = zip.finish() {
        let _ = stream.into_inner().flush();
    }
}

/// A `Write` that sends what it is given, in chunks, through a bounded channel (blocking the
/// writer's thread while the channel is full).
struct ChunkSender {
    buf: Vec<u8>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl ChunkSender {
    fn send_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    /// The streaming writer's output, gathered from the channel, is a zip that a reader opens,
    /// with every bundle stored byte for byte under its record id.
    #[tokio::test]
    async fn streamed_zip_holds_every_bundle_stored() {
        let (btx, brx) = mpsc::channel(1);
        let (ctx, mut crx) = mpsc::channel(2);
        let writer = tokio::task::spawn_blocking(move || write_zip(brx, ctx));
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sender = {
            let ids = ids.clone();
            let big = big.clone();
            tokio::spawn(async move {
                for (n, id) in ids.iter().enumerate() {
                    let mut body = big.clone();
                    body[0] = n as u8;
                    btx.send(Part::Bundle(*id, body)).await.unwrap();
                }
            })
        };
        let mut out = Vec::new();
        let mut chunks = 0;
        while let Some(c) = crx.recv().await {
            let c = c.unwrap();
            assert!(c.len() <= CHUNK + big.len());
            out.extend_from_slice(&c);
            chunks += 1;
        }
        sender.await.unwrap();
        writer.await.unwrap();
        assert!(chunks > 3, "output came in one piece");
        let mut zip = zip::ZipArchive::new(Cursor::new(out)).unwrap();
        assert_eq!(zip.len(), 3);
        for (n, id) in ids.iter().enumerate() {
            let mut f = zip.by_name(&format!("{id}.zip")).unwrap();
            assert_eq!(f.compression(), CompressionMethod::Stored);
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap();
            assert_eq!(got.len(), big.len());
            assert_eq!(got[0], n as u8);
            assert_eq!(got[1..], big[1..]);
        }
    }

    /// A failed builder breaks the body (an error chunk, no central directory after it).
    #[tokio::test]
    async fn a_failed_builder_breaks_the_download() {
        let (btx, brx) = mpsc::channel(1);
        let (ctx, mut crx) = mpsc::channel(4);
        let writer = tokio::task::spawn_blocking(move || write_zip(brx, ctx));
        btx.send(Part::Bundle(Uuid::new_v4(), vec![1u8; 10]))
            .await
            .unwrap();
        btx.send(Part::Failed).await.unwrap();
        drop(btx);
        let mut last = None;
        while let Some(c) = crx.recv().await {
            last = Some(c);
        }
        writer.await.unwrap();
        assert!(
            matches!(last, Some(Err(_))),
            "the body did not end with an error"
        );
    }

    /// A client that goes away stops the writer (and so the builder) instead of blocking it.
    #[tokio::test]
    async fn a_closed_body_stops_the_writer() {
        let (btx, brx) = mpsc::channel(1);
        let (ctx, crx) = mpsc::channel(1);
        drop(crx);
        let writer = tokio::task::spawn_blocking(move || write_zip(brx, ctx));
        let big = vec![7u8; 4 * CHUNK];
        btx.send(Part::Bundle(Uuid::new_v4(), big.clone()))
            .await
            .unwrap();
        writer.await.unwrap();
        // The writer has dropped its receiver: the builder's next send fails.
        assert!(btx.send(Part::Bundle(Uuid::new_v4(), big)).await.is_err());
    }
}
