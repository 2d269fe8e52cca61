//! PostgreSQL, the only state: the connection pool, the embedded cluster, migrations, and the
//! queries of each domain (SQL text lives beside the function that runs it; schema in `sql/`).

pub mod embedded;
pub mod keys;
pub mod log;
pub mod migrate;
pub mod orgs;
pub mod records;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::config::Config;
use embedded::{EMBEDDED_USER, EmbeddedCluster, EmbeddedError};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded cluster could not be started.
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    /// A database error.
    #[error("database: {}", db_message(.0))]
    Db(#[from] tokio_postgres::Error),
    /// No connection could be taken from the pool.
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The pool could not be built.
    #[error("database pool set-up: {0}")]
    PoolBuild(String),
    /// `DATABASE_URL` did not parse.
    #[error("DATABASE_URL: {0}")]
    BadUrl(String),
    /// An applied migration file has changed since.
    #[error(
        "migration {name} was applied with checksum {stored} but the file now has {current}; \
         an applied migration must never change: restore the file or add a new migration"
    )]
    MigrationChanged {
        /// The file name.
        name: String,
        /// Checksum recorded when applied.
        stored: String,
        /// Checksum of the file now.
        current: String,
    },
    /// A migration's SQL failed.
    #[error("migration {name} failed: {source}")]
    MigrationFailed {
        /// The file name.
        name: String,
        /// The database error.
        source: tokio_postgres::Error,
    },
    /// A row that must exist did not.
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// The server's message when there is one ("db error" alone says nothing).
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

impl StoreError {
    /// True when the error is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(e) => {
                e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }
}

/// The database: a pool, and the embedded cluster behind it when we run one.
pub struct Store {
    /// The connection pool.
    pub pool: Pool,
    /// The libpq configuration the pool connects with (for dedicated connections).
    pub pg_config: tokio_postgres::Config,
    embedded: Option<EmbeddedCluster>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("embedded", &self.embedded.is_some())
            .finish()
    }
}

impl Store {
    /// Connects as the config says: `DATABASE_URL`, or the embedded cluster under the data dir.
    /// Applies migrations.
    pub async fn open(config: &Config) -> Result<Self, StoreError> {
        let (pg_config, embedded) = match &config.database_url {
            Some(url) => (
                url.parse::<tokio_postgres::Config>()
                    .map_err(|e| StoreError::BadUrl(e.to_string()))?,
                None,
            ),
            None => {
                let data_dir = config.data_dir.clone();
                let cluster = tokio::task::spawn_blocking(move || {
                    let mut c = EmbeddedCluster::new(&data_dir)?;
                    c.start()?;
                    Ok::<_, EmbeddedError>(c)
                })
                .await
                .map_err(|e| StoreError::PoolBuild(e.to_string()))??;
                let cfg = cluster
                    .connection_string("postgres")
                    .parse::<tokio_postgres::Config>()
                    .map_err(|e| StoreError::BadUrl(e.to_string()))?;
                ensure_database(&cfg, EMBEDDED_USER).await?;
                let cfg = cluster
                    .connection_string(EMBEDDED_USER)
                    .parse::<tokio_postgres::Config>()
                    .map_err(|e| StoreError::BadUrl(e.to_string()))?;
                (cfg, Some(cluster))
            }
        };
        let store = Self::with_config(pg_config, config.pool_size, embedded)?;
        let mut client = store.dedicated().await?;
        migrate::apply(&mut client, migrate::MIGRATIONS).await?;
        Ok(store)
    }

    /// Builds a pool over an existing configuration (used by tests with their own cluster).
    pub fn with_config(
        pg_config: tokio_postgres::Config,
        pool_size: usize,
        embedded: Option<EmbeddedCluster>,
    ) -> Result<Self, StoreError> {
        let mgr = Manager::from_config(
            pg_config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(pool_size)
            .build()
            .map_err(|e| StoreError::PoolBuild(e.to_string()))?;
        Ok(Self {
            pool,
            pg_config,
            embedded,
        })
    }

    /// A connection outside the pool (migrations, the sequencer's lock session).
    pub async fn dedicated(&self) -> Result<tokio_postgres::Client, StoreError> {
        let (client, conn) = self.pg_config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "dedicated connection closed");
            }
        });
        Ok(client)
    }

    /// A pooled connection.
    pub async fn conn(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// Closes the pool and stops the embedded cluster if we started it.
    pub async fn shutdown(mut self) {
        self.pool.close();
        if let Some(mut cluster) = self.embedded.take() {
            let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
        }
    }
}

/// Creates `name` when it does not exist (the embedded cluster starts with `postgres` only).
async fn ensure_database(admin: &tokio_postgres::Config, name: &str) -> Result<(), StoreError> {
    let (client, conn) = admin.connect(NoTls).await?;
    let handle = tokio::spawn(conn);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        // Identifiers cannot be bound as parameters; `name` is our own constant.
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', ""));
        match client.batch_execute(&sql).await {
            Ok(()) => {}
            // Another process created it between our check and now.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(e) => return Err(e.into()),
        }
    }
    drop(client);
    let _ = handle.await;
    Ok(())
}
