//! Start-up and shutdown of a notarium server: the order in which state is opened, checked and
//! created, shared by `serve`, `demo`, the admin commands and the tests.

use std::path::Path;
use std::sync::Arc;

use crate::api::AppState;
use crate::config::Config;
use crate::identity::apikey;
use crate::identity::master_key::{MasterKey, write_secret_file};
use crate::store::keys::{self, KeyStoreError};
use crate::store::{Store, StoreError};

/// Errors during start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Storage could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// Identity material problem (master key, key files).
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// The TSA could not be set up.
    #[error(transparent)]
    Tsa(#[from] crate::notary::tsa::TsaError),
    /// The log could not be set up.
    #[error(transparent)]
    Log(#[from] crate::notary::log::LogError),
    /// The listener could not be bound or served.
    #[error("HTTP listener on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Opens everything a server needs: database (embedded or not), migrations, master key check,
/// notary PKI, admin key.
pub async fn open(config: Config) -> Result<Arc<AppState>, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| {
        crate::identity::IdentityError::Io {
            path: config.data_dir.clone(),
            source,
        }
    })?;
    let master_key = MasterKey::load(config.master_key.as_deref(), &config.data_dir)?;
    let store = Store::open(&config).await?;
    let mut client = store.dedicated().await?;
    // Checked before anything is created: a wrong key changes nothing.
    keys::check_master_key(&client, &master_key).await?;
    let pki = keys::load_or_create_pki(&mut client, &master_key).await?;
    drop(client);
    let admin_key_hash = admin_key_hash(config.admin_key.as_deref(), &config.data_dir)?;
    let tsa = crate::notary::tsa::TimeStamper::open(&store, &master_key, &pki, &config).await?;
    let tsa_limiter = std::num::NonZeroU32::new(config.tsa_rate_per_sec)
        .map(|n| governor::RateLimiter::keyed(governor::Quota::per_second(n)));
    let log_signer =
        crate::notary::log::load_or_create_log_key(&store, &master_key, &config.log_origin).await?;
    let log_vkey = log_signer.verifier().to_vkey();
    let log = Arc::new(crate::notary::log::LogReader::default());
    let sequencer = crate::notary::sequencer::Sequencer::spawn(
        store.pool.clone(),
        store.pg_config.clone(),
        log_signer,
        log.clone(),
        crate::notary::sequencer::SequencerConfig {
            batch_interval: std::time::Duration::from_millis(config.batch_interval_ms),
            batch_max: config.batch_max,
            queue_max: config.queue_max,
            origin: config.log_origin.clone(),
        },
    );
    Ok(Arc::new(AppState {
        signatures: Default::default(),
        sequencer,
        log,
        log_vkey,
        tsa,
        tsa_limiter,
        config,
        store,
        pki,
        master_key,
        admin_key_hash,
        metrics: crate::api::metrics::Metrics::new(),
    }))
}

/// The admin key's hash: from config, or from `<data_dir>/admin.key` (created on first start).
fn admin_key_hash(configured: Option<&str>, data_dir: &Path) -> Result<[u8; 32], StartError> {
    if let Some(k) = configured {
        return Ok(apikey::hash(k.trim()));
    }
    let path = data_dir.join("admin.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(apikey::hash(text.trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = apikey::generate();
            write_secret_file(&path, key.plaintext.as_bytes())?;
            tracing::warn!(path = %path.display(), "NOTARIUM_ADMIN_KEY is not set: generated an admin key into this file (mode 0600)");
            Ok(key.hash)
        }
        Err(source) => Err(crate::identity::IdentityError::Io { path, source }.into()),
    }
}

/// Serves HTTP until SIGINT or SIGTERM, then drains requests and stops the database.
pub async fn serve(state: Arc<AppState>) -> Result<(), StartError> {
    let addr = state.config.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| StartError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    tracing::info!(%local, "notarium listening");
    serve_on(state, listener, shutdown_signal()).await
}

/// Serves on an already-bound listener until `shutdown` completes.
pub async fn serve_on(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let app = crate::api::router(state.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|source| StartError::Listen { addr, source })?;
    tracing::info!("HTTP server stopped");
    close(state).await;
    Ok(())
}

/// Stops the database when this is the last holder of the state.
pub async fn close(state: Arc<AppState>) {
    state.sequencer.stop();
    match Arc::try_unwrap(state) {
        Ok(state) => state.store.shutdown().await,
        Err(_) => {
            tracing::debug!("state still shared at shutdown; database left to the last holder")
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
