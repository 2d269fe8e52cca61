//! The witness's configuration: the common settings (`DATABASE_URL`, `NOTARIUM_DATA_DIR`,
//! `NOTARIUM_MASTER_KEY`, pool size) read as for `serve`, plus the `NOTARIUM_WITNESS_*`
//! variables: its key name, its listen address, and the one log it follows.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::ledger::{ALG_ED25519, Ed25519Verifier};

use super::error::WitnessError;

/// Default data directory of a witness, apart from a server's `./var`.
pub const DEFAULT_DATA_DIR: &str = "./var-witness";
/// Default listen address of a witness.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

/// Everything a witness process needs.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// Database, data directory, master key, pool size (shared with `serve`).
    pub base: Config,
    /// The witness key's name, e.g. `witness.example.org/w1`.
    pub name: String,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// The followed log's origin line.
    pub log_origin: String,
    /// The log's checkpoint key.
    pub log_key: Ed25519Verifier,
    /// The log's base URL for mirroring (`GET /checkpoint`, tiles); `None` = push only.
    pub log_url: Option<String>,
    /// How often the mirror polls the log.
    pub poll_interval: Duration,
    /// Timeout of each request to the log.
    pub fetch_timeout: Duration,
    /// Entry bundles (256 entries each) the mirror fetches and commits per chunk.
    pub mirror_chunk_bundles: usize,
}

impl WitnessConfig {
    /// Reads the environment.
    ///
    /// # Errors
    /// [`WitnessError::Config`] for a missing log key or a malformed value.
    pub fn load() -> Result<Self, WitnessError> {
        Self::load_from(|k| std::env::var(k).ok())
    }

    /// Like [`WitnessConfig::load`], reading variables through `env` (tests pass a map).
    ///
    /// # Errors
    /// As [`WitnessConfig::load`].
    pub fn load_from(env: impl Fn(&str) -> Option<String>) -> Result<Self, WitnessError> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let mut base = Config::load_from(&env).map_err(|e| WitnessError::Config(e.to_string()))?;
        if get("NOTARIUM_DATA_DIR").is_none() && get("NOTARIUM_CONFIG").is_none() {
            base.data_dir = PathBuf::from(DEFAULT_DATA_DIR);
        }
        let name = get("NOTARIUM_WITNESS_NAME").ok_or_else(|| {
            WitnessError::Config("NOTARIUM_WITNESS_NAME (the witness key name) is not set".into())
        })?;
        crate::ledger::note_key::check_key_name(&name).map_err(|_| {
            WitnessError::Config(format!("NOTARIUM_WITNESS_NAME={name:?}: not a key name"))
        })?;
        let listen = parse_var(&get, "NOTARIUM_WITNESS_LISTEN", DEFAULT_LISTEN)?;
        let vkey = get("NOTARIUM_WITNESS_LOG_VKEY").ok_or_else(|| {
            WitnessError::Config(
                "NOTARIUM_WITNESS_LOG_VKEY (the log's checkpoint verifier key) is not set".into(),
            )
        })?;
        let log_key = Ed25519Verifier::from_vkey(vkey.trim())
            .map_err(|e| WitnessError::Config(format!("NOTARIUM_WITNESS_LOG_VKEY: {e}")))?;
        if log_key.alg() != ALG_ED25519 {
            return Err(WitnessError::Config(
                "NOTARIUM_WITNESS_LOG_VKEY must be an Ed25519 note key (type 0x01)".into(),
            ));
        }
        let log_origin = get("NOTARIUM_WITNESS_LOG_ORIGIN")
            .unwrap_or_else(|| crate::ledger::Verifier::name(&log_key).to_string());
        if log_origin.chars().any(char::is_control) {
            return Err(WitnessError::Config(
                "NOTARIUM_WITNESS_LOG_ORIGIN has control characters".into(),
            ));
        }
        let log_url =
            get("NOTARIUM_WITNESS_LOG_URL").map(|u| u.trim().trim_end_matches('/').to_string());
        if let Some(u) = &log_url
            && !u.starts_with("http://")
        {
            return Err(WitnessError::Config(format!(
                "NOTARIUM_WITNESS_LOG_URL={u:?}: must be an http:// URL (reach an https log \
                 through a local TLS proxy)"
            )));
        }
        let poll_ms: u64 = parse_var(&get, "NOTARIUM_WITNESS_POLL_MS", "10000")?;
        let timeout_ms: u64 = parse_var(&get, "NOTARIUM_WITNESS_FETCH_TIMEOUT_MS", "10000")?;
        let mirror_chunk_bundles: usize = parse_var(&get, "NOTARIUM_WITNESS_MIRROR_BUNDLES", "16")?;
        if poll_ms == 0 || timeout_ms == 0 || mirror_chunk_bundles == 0 {
            return Err(WitnessError::Config(
                "NOTARIUM_WITNESS_POLL_MS, NOTARIUM_WITNESS_FETCH_TIMEOUT_MS and \
                 NOTARIUM_WITNESS_MIRROR_BUNDLES must be above 0"
                    .into(),
            ));
        }
        Ok(Self {
            base,
            name,
            listen,
            log_origin,
            log_key,
            log_url,
            poll_interval: Duration::from_millis(poll_ms),
            fetch_timeout: Duration::from_millis(timeout_ms),
            mirror_chunk_bundles,
        })
    }
}

fn parse_var<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &str,
    default: &str,
) -> Result<T, WitnessError>
where
    T::Err: std::fmt::Display,
{
    let value = get(var).unwrap_or_else(|| default.to_string());
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| WitnessError::Config(format!("{var}={value:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    fn load(vars: &[(&str, &str)]) -> Result<WitnessConfig, WitnessError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        WitnessConfig::load_from(|k| map.get(k).cloned())
    }

    #[test]
    fn minimal_and_defaults() {
        let c = load(&[
            ("NOTARIUM_WITNESS_NAME", "w.example/1"),
            ("NOTARIUM_WITNESS_LOG_VKEY", VKEY),
        ])
        .unwrap();
        assert_eq!(c.log_origin, "PeterNeumann");
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.base.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(c.log_url.is_none());
        assert_eq!(c.poll_interval, Duration::from_secs(10));
        let c = load(&[
            ("NOTARIUM_WITNESS_NAME", "w.example/1"),
            ("NOTARIUM_WITNESS_LOG_VKEY", VKEY),
            ("NOTARIUM_WITNESS_LOG_ORIGIN", "log.example/x"),
            ("NOTARIUM_WITNESS_LOG_URL", "http://log.internal:8080/"),
            ("NOTARIUM_DATA_DIR", "/srv/w"),
            ("NOTARIUM_WITNESS_POLL_MS", "250"),
        ])
        .unwrap();
        assert_eq!(c.log_origin, "log.example/x");
        assert_eq!(c.log_url.as_deref(), Some("http://log.internal:8080"));
        assert_eq!(c.base.data_dir, PathBuf::from("/srv/w"));
        assert_eq!(c.poll_interval, Duration::from_millis(250));
    }

    #[test]
    fn refusals_name_the_variable() {
        let e = load(&[("NOTARIUM_WITNESS_LOG_VKEY", VKEY)]).unwrap_err();
        assert!(e.to_string().contains("NOTARIUM_WITNESS_NAME"), "{e}");
        let e = load(&[("NOTARIUM_WITNESS_NAME", "w")]).unwrap_err();
        assert!(e.to_string().contains("NOTARIUM_WITNESS_LOG_VKEY"), "{e}");
        for (var, value) in [
            (
                "NOTARIUM_WITNESS_LOG_VKEY",
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            ),
            ("NOTARIUM_WITNESS_LOG_URL", "https://log.example"),
            ("NOTARIUM_WITNESS_POLL_MS", "0"),
            ("NOTARIUM_WITNESS_LISTEN", "nowhere"),
            ("NOTARIUM_WITNESS_NAME", "has space"),
        ] {
            let mut vars = vec![
                ("NOTARIUM_WITNESS_NAME", "w"),
                ("NOTARIUM_WITNESS_LOG_VKEY", VKEY),
            ];
            vars.retain(|(k, _)| *k != var);
            vars.push((var, value));
            let e = load(&vars).unwrap_err();
            assert!(e.to_string().contains(var), "{var}: {e}");
        }
    }
}
