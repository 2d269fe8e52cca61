//! Configuration: one typed struct, read from an optional TOML file (`NOTARIUM_CONFIG`) and then
//! from `NOTARIUM_*` environment variables (and `DATABASE_URL`), which win. Every key is
//! documented in the README with its default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file did not parse.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// An environment variable had a value of the wrong shape.
    #[error("{var}={value:?}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// What was expected.
        message: String,
    },
}

/// The whole configuration of a notarium process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// An existing PostgreSQL (`DATABASE_URL`); `None` runs the embedded cluster.
    pub database_url: Option<String>,
    /// Where the embedded cluster, generated keys and local state live.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// The admin bearer key; `None` = generated into `<data_dir>/admin.key` on first start.
    pub admin_key: Option<String>,
    /// The master key (64 hex chars or base64 of 32 bytes) sealing server-held private keys;
    /// `None` = a key file `<data_dir>/master.key` created with mode 0600 (with a warning).
    pub master_key: Option<String>,
    /// Database pool size.
    pub pool_size: usize,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Requests taking longer are answered 408.
    pub request_timeout_secs: u64,
    /// Requests in flight beyond this are answered 503 with `Retry-After`.
    pub concurrency_limit: usize,
    /// Validity of organisation certificates, in days.
    pub cert_validity_days: u32,
    /// The public base URL, used in pages and bundles' READMEs.
    pub public_url: String,
    /// The log's origin line in checkpoints (C2SP tlog-checkpoint).
    pub log_origin: String,
    /// The sequencer commits a batch at least this often, in milliseconds.
    pub batch_interval_ms: u64,
    /// ... or as soon as this many submissions wait.
    pub batch_max: usize,
    /// Submissions allowed to wait for the sequencer; beyond it, 503 with `Retry-After`.
    pub queue_max: usize,
    /// The TSA policy OID put in every token.
    pub tsa_policy: String,
    /// The accuracy the TSA declares, in milliseconds.
    pub tsa_accuracy_ms: u32,
    /// Time-stamp requests per second allowed per client address on `POST /tsa` (0 = no limit).
    pub tsa_rate_per_sec: u32,
    /// Witnesses the log sends checkpoints to: comma-separated `label=url=vkey`.
    pub witnesses: String,
    /// Cosignatures (of the configured witnesses) a checkpoint needs to be trusted.
    pub witness_policy: usize,
    /// Timeout of each request to a witness, in milliseconds.
    pub witness_timeout_ms: u64,
    /// Largest contract PDF accepted, in bytes (its route's body limit follows it).
    pub contract_max_bytes: usize,
    /// The executable run as the isolated PDF inspector (`<exe> __inspect-pdf`); `None` =
    /// this very executable.
    pub pdf_inspector: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: None,
            data_dir: PathBuf::from("./var"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_key: None,
            master_key: None,
            pool_size: 16,
            body_limit: 10 * 1024 * 1024,
            request_timeout_secs: 30,
            concurrency_limit: 2048,
            cert_validity_days: 730,
            public_url: "http://127.0.0.1:8080".into(),
            log_origin: "notarium.example/log".into(),
            batch_interval_ms: 20,
            batch_max: 4096,
            queue_max: 65536,
            // Under the Internet "experimental" arc (1.3.6.1.3, RFC 1155): a placeholder that
            // claims nobody's registered arc; production operators set their own policy OID.
            tsa_policy: "1.3.6.1.3.3161.1".into(),
            tsa_accuracy_ms: 1000,
            tsa_rate_per_sec: 0,
            witnesses: String::new(),
            witness_policy: 0,
            witness_timeout_ms: 5000,
            contract_max_bytes: 20 * 1024 * 1024,
            pdf_inspector: None,
        }
    }
}

impl Config {
    /// Reads the optional file named by `NOTARIUM_CONFIG`, then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(|k| std::env::var(k).ok())
    }

    /// Like [`Config::load`], reading variables through `env` (tests pass a map).
    pub fn load_from(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut cfg = match env("NOTARIUM_CONFIG") {
            Some(path) => {
                let path = PathBuf::from(path);
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse {
                    path,
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        if let Some(v) = env("DATABASE_URL").filter(|v| !v.is_empty()) {
            cfg.database_url = Some(v);
        }
        set(&env, "NOTARIUM_DATA_DIR", &mut cfg.data_dir)?;
        set(&env, "NOTARIUM_LISTEN", &mut cfg.listen)?;
        if let Some(v) = env("NOTARIUM_ADMIN_KEY").filter(|v| !v.is_empty()) {
            cfg.admin_key = Some(v);
        }
        if let Some(v) = env("NOTARIUM_MASTER_KEY").filter(|v| !v.is_empty()) {
            cfg.master_key = Some(v);
        }
        set(&env, "NOTARIUM_POOL_SIZE", &mut cfg.pool_size)?;
        set(&env, "NOTARIUM_BODY_LIMIT", &mut cfg.body_limit)?;
        set(
            &env,
            "NOTARIUM_REQUEST_TIMEOUT_SECS",
            &mut cfg.request_timeout_secs,
        )?;
        set(
            &env,
            "NOTARIUM_CONCURRENCY_LIMIT",
            &mut cfg.concurrency_limit,
        )?;
        set(
            &env,
            "NOTARIUM_CERT_VALIDITY_DAYS",
            &mut cfg.cert_validity_days,
        )?;
        set(&env, "NOTARIUM_PUBLIC_URL", &mut cfg.public_url)?;
        set(&env, "NOTARIUM_LOG_ORIGIN", &mut cfg.log_origin)?;
        set(
            &env,
            "NOTARIUM_BATCH_INTERVAL_MS",
            &mut cfg.batch_interval_ms,
        )?;
        set(&env, "NOTARIUM_BATCH_MAX", &mut cfg.batch_max)?;
        set(&env, "NOTARIUM_QUEUE_MAX", &mut cfg.queue_max)?;
        set(&env, "NOTARIUM_TSA_POLICY", &mut cfg.tsa_policy)?;
        set(&env, "NOTARIUM_TSA_ACCURACY_MS", &mut cfg.tsa_accuracy_ms)?;
        set(&env, "NOTARIUM_TSA_RATE_PER_SEC", &mut cfg.tsa_rate_per_sec)?;
        set(&env, "NOTARIUM_WITNESSES", &mut cfg.witnesses)?;
        set(&env, "NOTARIUM_WITNESS_POLICY", &mut cfg.witness_policy)?;
        set(
            &env,
            "NOTARIUM_WITNESS_TIMEOUT_MS",
            &mut cfg.witness_timeout_ms,
        )?;
        set(
            &env,
            "NOTARIUM_CONTRACT_MAX_BYTES",
            &mut cfg.contract_max_bytes,
        )?;
        if let Some(v) = env("NOTARIUM_PDF_INSPECTOR").filter(|v| !v.is_empty()) {
            cfg.pdf_inspector = Some(PathBuf::from(v));
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |var: &str, value: String, message: &str| ConfigError::Env {
            var: var.into(),
            value,
            message: message.into(),
        };
        if self.pool_size == 0 {
            return Err(bad("NOTARIUM_POOL_SIZE", "0".into(), "must be at least 1"));
        }
        if self.contract_max_bytes == 0 {
            return Err(bad(
                "NOTARIUM_CONTRACT_MAX_BYTES",
                "0".into(),
                "must be at least 1",
            ));
        }
        if self.batch_max == 0 {
            return Err(bad("NOTARIUM_BATCH_MAX", "0".into(), "must be at least 1"));
        }
        // Every arc must fit 32 bits (the DER OID parser we use refuses larger arcs).
        let arcs_ok = self.tsa_policy.split('.').count() >= 2
            && self
                .tsa_policy
                .split('.')
                .all(|a| !a.is_empty() && a.parse::<u32>().is_ok());
        if !arcs_ok {
            return Err(bad(
                "NOTARIUM_TSA_POLICY",
                self.tsa_policy.clone(),
                "must be a dotted OID whose arcs each fit 32 bits",
            ));
        }
        if self.log_origin.is_empty() || self.log_origin.contains(char::is_whitespace) {
            return Err(bad(
                "NOTARIUM_LOG_ORIGIN",
                self.log_origin.clone(),
                "must be a non-empty string without spaces",
            ));
        }
        Ok(())
    }
}

fn set<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    var: &str,
    slot: &mut T,
) -> Result<(), ConfigError>
where
    T::Err: std::fmt::Display,
{
    if let Some(value) = env(var).filter(|v| !v.is_empty()) {
        *slot = value.parse().map_err(|e: T::Err| ConfigError::Env {
            var: var.into(),
            value: value.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_from(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_without_environment() {
        let c = load(&[]).unwrap();
        assert!(c.database_url.is_none());
        assert_eq!(c.data_dir, PathBuf::from("./var"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\npool_size = 3\n").unwrap();
        let c = load(&[
            ("NOTARIUM_CONFIG", file.to_str().unwrap()),
            ("NOTARIUM_POOL_SIZE", "7"),
        ])
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.pool_size, 7);
    }

    #[test]
    fn bad_values_are_named() {
        let e = load(&[("NOTARIUM_LISTEN", "nowhere")]).unwrap_err();
        assert!(e.to_string().contains("NOTARIUM_LISTEN"), "{e}");
        let e = load(&[("NOTARIUM_POOL_SIZE", "0")]).unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }

    #[test]
    fn contract_settings_come_from_the_environment() {
        let c = load(&[]).unwrap();
        assert_eq!(c.contract_max_bytes, 20 * 1024 * 1024);
        assert!(c.pdf_inspector.is_none());
        let c = load(&[
            ("NOTARIUM_CONTRACT_MAX_BYTES", "4096"),
            ("NOTARIUM_PDF_INSPECTOR", "/opt/notarium/bin/notarium"),
        ])
        .unwrap();
        assert_eq!(c.contract_max_bytes, 4096);
        assert_eq!(
            c.pdf_inspector,
            Some(PathBuf::from("/opt/notarium/bin/notarium"))
        );
        let e = load(&[("NOTARIUM_CONTRACT_MAX_BYTES", "0")]).unwrap_err();
        assert!(e.to_string().contains("NOTARIUM_CONTRACT_MAX_BYTES"), "{e}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let e = load(&[("NOTARIUM_CONFIG", file.to_str().unwrap())]).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
    }
}
