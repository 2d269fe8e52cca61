//! The `notarium loadtest` command line: what to load, how hard, for how long, and which
//! baselines to measure beside it.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, ValueEnum};

/// Options of `notarium loadtest`.
#[derive(Debug, Clone, Args)]
pub struct Options {
    /// What to send.
    #[arg(long, value_enum, default_value = "tsa")]
    pub scenario: Scenario,
    /// Target server (ignored with --spawn).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Start a fresh `notarium serve` from this binary (fresh data directory), stop it at the end.
    #[arg(long)]
    pub spawn: bool,
    /// With --spawn: run the server under `taskset -c CPUS` (e.g. `0` or `0,1`).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Pin the load generator's own threads to these CPUs (e.g. `1`).
    #[arg(long)]
    pub client_cpus: Option<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub connections: usize,
    /// Measured duration, seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up before measuring, seconds (requests sent, not counted).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Requests prepared beforehand (default: 20,000 for invoices, 100,000 otherwise). A
    /// scenario that must not repeat a request (invoices, mix) ends when they run out.
    #[arg(long)]
    pub requests: Option<usize>,
    /// HTTP client for the measured requests.
    #[arg(long, value_enum, default_value = "hyper")]
    pub client: ClientKind,
    /// Baselines to measure in the same run: any of openssl, pg, noop; or `none`.
    #[arg(long, default_value = "openssl,pg,noop")]
    pub baselines: BaselineSet,
    /// Seconds given to `openssl speed` per operation.
    #[arg(long, default_value_t = 3)]
    pub openssl_seconds: u32,
    /// Rows written by the PostgreSQL COPY baseline.
    #[arg(long, default_value_t = 200_000)]
    pub copy_rows: usize,
    /// Duration of the noop floor phase, seconds (default: --duration).
    #[arg(long)]
    pub floor_duration: Option<f64>,
    /// Invoices submitted before measuring proofs, bundles or mix (log entries and record ids).
    #[arg(long, default_value_t = 256)]
    pub populate: usize,
    /// TSA queries without certReq (tokens then carry no certificates).
    #[arg(long)]
    pub tsa_no_cert_req: bool,
    /// Weights of the mix scenario.
    #[arg(long, default_value = "tsa=4,invoices=2,proofs=3,bundles=1")]
    pub mix: MixWeights,
    /// UBL invoice used as template (default: the CEN example 1 built into the binary).
    #[arg(long)]
    pub invoice_template: Option<PathBuf>,
    /// The admin key of the target server (not needed with --spawn).
    #[arg(long, env = "NOTARIUM_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// The server's process id, for its CPU and memory (default: found by the listening port).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The server's PostgreSQL, for the COPY baseline when not spawned (default: the embedded
    /// cluster of the server's data directory, when it can be found).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Seed of the random choices (proof indices, mix order).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// With --spawn: the server executable (default: this one).
    #[arg(long, hide = true)]
    pub server_exe: Option<PathBuf>,
}

/// What the measured requests do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// `POST /tsa` with distinct digests and nonces.
    Tsa,
    /// `GET /healthz`: the HTTP floor.
    Noop,
    /// `POST /v1/invoices`: unique signed UBL invoices.
    Invoices,
    /// `GET /v1/log/inclusion` for random indices.
    Proofs,
    /// `GET /v1/records/{id}/evidence`.
    Bundles,
    /// A weighted mix of the above (see --mix).
    Mix,
}

impl Scenario {
    /// The scenario's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Tsa => "tsa",
            Scenario::Noop => "noop",
            Scenario::Invoices => "invoices",
            Scenario::Proofs => "proofs",
            Scenario::Bundles => "bundles",
            Scenario::Mix => "mix",
        }
    }
}

/// The HTTP client of the measured requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientKind {
    /// hyper's HTTP/1.1 connection API: one connection per task, no pool.
    Hyper,
    /// reqwest (a client, so a pool, per task).
    Reqwest,
}

/// Which baselines to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BaselineSet {
    /// `openssl speed ecdsap256`.
    pub openssl: bool,
    /// PostgreSQL COPY of ledger-shaped rows.
    pub pg: bool,
    /// The server's no-op route.
    pub noop: bool,
}

impl FromStr for BaselineSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = BaselineSet::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                "none" => {}
                "openssl" => set.openssl = true,
                "pg" => set.pg = true,
                "noop" => set.noop = true,
                other => {
                    return Err(format!(
                        "unknown baseline `{other}` (openssl, pg, noop, none)"
                    ));
                }
            }
        }
        Ok(set)
    }
}

/// Relative weights of the request kinds in the mix scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixWeights {
    /// `POST /tsa`.
    pub tsa: u32,
    /// `POST /v1/invoices`.
    pub invoices: u32,
    /// `GET /v1/log/inclusion`.
    pub proofs: u32,
    /// `GET /v1/records/{id}/evidence`.
    pub bundles: u32,
}

impl MixWeights {
    /// Sum of the weights.
    pub fn total(&self) -> u64 {
        u64::from(self.tsa)
            + u64::from(self.invoices)
            + u64::from(self.proofs)
            + u64::from(self.bundles)
    }
}

impl FromStr for MixWeights {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut w = MixWeights {
            tsa: 0,
            invoices: 0,
            proofs: 0,
            bundles: 0,
        };
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: expected NAME=WEIGHT"))?;
            let value: u32 = value
                .trim()
                .parse()
                .map_err(|e| format!("`{item}`: weight: {e}"))?;
            if value > 1000 {
                return Err(format!("`{item}`: weights go up to 1000"));
            }
            match name.trim() {
                "tsa" => w.tsa = value,
                "invoices" => w.invoices = value,
                "proofs" => w.proofs = value,
                "bundles" => w.bundles = value,
                other => return Err(format!("unknown mix kind `{other}`")),
            }
        }
        if w.total() == 0 {
            return Err("the mix needs at least one positive weight".into());
        }
        Ok(w)
    }
}

/// Parses a `taskset`-style CPU list (`0`, `0,1`, `0-3`) into CPU numbers.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: usize = lo.parse().map_err(|_| format!("bad CPU `{part}`"))?;
        let hi: usize = hi.parse().map_err(|_| format!("bad CPU `{part}`"))?;
        if lo > hi || hi >= 1024 {
            return Err(format!("bad CPU range `{part}`"));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        return Err("empty CPU list".into());
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_parse() {
        let all: BaselineSet = "openssl,pg,noop".parse().unwrap();
        assert!(all.openssl && all.pg && all.noop);
        let none: BaselineSet = "none".parse().unwrap();
        assert_eq!(none, BaselineSet::default());
        let one: BaselineSet = " pg ".parse().unwrap();
        assert!(one.pg && !one.openssl && !one.noop);
        assert!("openssl,gpu".parse::<BaselineSet>().is_err());
    }

    #[test]
    fn mix_weights_parse() {
        let w: MixWeights = "tsa=4, proofs=3".parse().unwrap();
        assert_eq!((w.tsa, w.invoices, w.proofs, w.bundles), (4, 0, 3, 0));
        assert_eq!(w.total(), 7);
        assert!("tsa=0".parse::<MixWeights>().is_err());
        assert!("tsa".parse::<MixWeights>().is_err());
        assert!("tsa=-1".parse::<MixWeights>().is_err());
        assert!("tsa=5000".parse::<MixWeights>().is_err());
        assert!("pdf=1".parse::<MixWeights>().is_err());
    }

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("0,1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_list("1,0-2,2").unwrap(), vec![0, 1, 2]);
        assert!(parse_cpu_list("").is_err());
        assert!(parse_cpu_list("2-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("0-100000").is_err());
    }
}
