//! The test harness: one real PostgreSQL cluster per test run (started with notarium's own
//! embedded-cluster code, stopped at exit), a fresh database per test (copied from a migrated
//! template), and a real notarium server on a random port.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use notarium::api::AppState;
use notarium::config::Config;
use notarium::store::embedded::{EMBEDDED_USER, EmbeddedCluster};
use tokio::sync::Mutex;

struct Cluster {
    cluster: std::sync::Mutex<Option<EmbeddedCluster>>,
    dir: PathBuf,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static CREATE_DB: Mutex<bool> = Mutex::const_new(false);

extern "C" fn stop_cluster() {
    if let Some(c) = CLUSTER.get() {
        if let Ok(mut guard) = c.cluster.lock()
            && let Some(mut cluster) = guard.take()
        {
            cluster.stop();
        }
        let _ = std::fs::remove_dir_all(&c.dir);
    }
}

/// A directory under /tmp that the unprivileged PostgreSQL user can traverse.
pub fn shared_tempdir(prefix: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(std::env::temp_dir())
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let dir = shared_tempdir("notarium-test-pg-").keep();
        let mut cluster = EmbeddedCluster::new(&dir).expect("PostgreSQL binaries for tests");
        cluster.start().expect("test cluster starts");
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe {
            libc::atexit(stop_cluster);
        }
        Cluster {
            cluster: std::sync::Mutex::new(Some(cluster)),
            dir,
        }
    })
}

fn conn_string(db: &str) -> String {
    let c = cluster();
    let guard = c.cluster.lock().expect("cluster lock");
    guard
        .as_ref()
        .expect("cluster running")
        .connection_string(db)
}

async fn admin_exec(sql: &str) {
    let cfg: tokio_postgres::Config = conn_string("postgres").parse().expect("conn string");
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.expect("connect");
    let h = tokio::spawn(conn);
    client.batch_execute(sql).await.expect(sql);
    drop(client);
    let _ = h.await;
}

/// A fresh, migrated database; returns its connection string.
pub async fn fresh_database() -> String {
    let mut template_ready = CREATE_DB.lock().await;
    if !*template_ready {
        admin_exec("CREATE DATABASE notarium_template").await;
        let cfg: tokio_postgres::Config = conn_string("notarium_template").parse().expect("conn");
        let (mut client, conn) = cfg.connect(tokio_postgres::NoTls).await.expect("connect");
        let h = tokio::spawn(conn);
        notarium::store::migrate::apply(&mut client, notarium::store::migrate::MIGRATIONS)
            .await
            .expect("migrations apply");
        drop(client);
        let _ = h.await;
        *template_ready = true;
    }
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    admin_exec(&format!(
        "CREATE DATABASE {name} TEMPLATE notarium_template OWNER {EMBEDDED_USER}"
    ))
    .await;
    conn_string(&name)
}

/// A running server for one test.
pub struct TestApp {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The admin key.
    pub admin_key: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// The server's state (for direct checks).
    pub state: Arc<AppState>,
    /// The connection string of this test's database.
    pub database_url: String,
    /// The data directory (key files).
    pub data_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A test config over `database_url` and `data_dir`.
pub fn test_config(database_url: &str, data_dir: &Path) -> Config {
    let mut config = Config::load_from(|_| None).expect("default config");
    config.database_url = Some(database_url.to_string());
    config.data_dir = data_dir.to_path_buf();
    config.admin_key = Some("admin-test-key".into());
    config.master_key = Some("42".repeat(32));
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.pool_size = 8;
    config.batch_interval_ms = 5;
    config
}

impl TestApp {
    /// Starts a server on a fresh database with default test config.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` changed the config.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let database_url = fresh_database().await;
        let data_dir = shared_tempdir("notarium-test-data-");
        let mut config = test_config(&database_url, data_dir.path());
        adjust(&mut config);
        Self::start_on(config, database_url, data_dir).await
    }

    /// Starts a server with exactly this config.
    pub async fn start_on(
        config: Config,
        database_url: String,
        data_dir: tempfile::TempDir,
    ) -> Self {
        let admin_key = config.admin_key.clone().unwrap_or_default();
        let state = notarium::app::open(config).await.expect("app opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s = state.clone();
        let server = tokio::spawn(async move {
            let _ = notarium::app::serve_on(s, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        Self {
            base,
            admin_key,
            http: reqwest::Client::new(),
            state,
            database_url,
            data_dir,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }

    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Registers an organisation; returns (id, api key).
    pub async fn register(&self, name: &str, role: &str) -> (String, String) {
        let r = self
            .http
            .post(self.url("/v1/orgs"))
            .bearer_auth(&self.admin_key)
            .json(&serde_json::json!({"name": name, "role": role}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201, "register {name}");
        let v: serde_json::Value = r.json().await.expect("json");
        (
            v["org_id"].as_str().expect("org_id").to_string(),
            v["api_key"].as_str().expect("api_key").to_string(),
        )
    }
}

/// Runs a command, returning (success, stdout+stderr).
pub fn run(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd.output().expect("command runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A UBL invoice with its number (the first `cbc:ID`) replaced.
pub fn with_invoice_number(ubl: &str, number: &str) -> String {
    let start = ubl.find("<cbc:ID>").expect("cbc:ID") + "<cbc:ID>".len();
    let end = ubl[start..].find("</cbc:ID>").expect("end of cbc:ID") + start;
    format!("{}{number}{}", &ubl[..start], &ubl[end..])
}
