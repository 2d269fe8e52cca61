//! `notarium loadtest`: a load generator for a notarium server, with the baselines that say
//! what its figures mean, measured in the same run.
//!
//! A run: (1) `openssl speed ecdsap256` on one core; (2) the server (spawned fresh with
//! `--spawn`, or `--url`); (3) set-up through the public API (an issuer org and its
//! certificate, invoices to populate the log) and every measured request prepared; (4) a COPY
//! of ledger-shaped rows into the server's PostgreSQL; (5) the no-op route as the HTTP floor;
//! (6) the scenario; (7) the report, text or JSON, with ratios to the baselines.
//!
//! Unlike the pure modules, this one does I/O by nature (HTTP, `/proc`, child processes, a
//! database connection for the COPY baseline). Its pure parts are apart and unit-tested:
//! [`report`] (percentiles, ratios), [`procstat`] parsers, [`tsa_query`], [`invoices`],
//! [`requests`], [`baseline::parse_openssl_speed`].

pub mod baseline;
pub mod client;
pub mod driver;
pub mod invoices;
pub mod issuer;
pub mod options;
pub mod procstat;
pub mod report;
pub mod requests;
pub mod spawn;
pub mod tsa_query;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub use options::{ClientKind, Options, Scenario};
pub use report::Report;

use driver::PhaseSpec;
use invoices::{DEFAULT_TEMPLATE, InvoiceTemplate};
use issuer::Issuer;
use procstat::Watched;
use report::Baselines;
use requests::{Kind, RequestSet};

/// Errors of a load test.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    /// Bad options.
    #[error("{0}")]
    Usage(String),
    /// Requests could not be prepared.
    #[error("preparing requests: {0}")]
    Prepare(String),
    /// The server could not be started or stopped.
    #[error("spawning the server: {0}")]
    Spawn(String),
    /// Set-up through the API failed (registration, certificate, population).
    #[error("set-up: {0}")]
    Setup(String),
    /// A baseline could not be measured.
    #[error("baseline: {0}")]
    Baseline(String),
    /// A bug or a resource problem in the load generator itself.
    #[error("load generator: {0}")]
    Internal(String),
}

/// Largest number of connections.
pub const MAX_CONNECTIONS: usize = 10_000;
/// Largest number of prepared requests.
pub const MAX_REQUESTS: usize = 10_000_000;

fn seconds(name: &str, v: f64, min: f64, max: f64) -> Result<Duration, LoadtestError> {
    if !(v.is_finite() && v >= min && v <= max) {
        return Err(LoadtestError::Usage(format!(
            "--{name} must be between {min} and {max} seconds"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

/// The checked durations of a run.
struct Timing {
    warmup: Duration,
    duration: Duration,
    floor: Duration,
    timeout: Duration,
}

fn check(opts: &Options) -> Result<Timing, LoadtestError> {
    if opts.connections == 0 || opts.connections > MAX_CONNECTIONS {
        return Err(LoadtestError::Usage(format!(
            "--connections must be 1 to {MAX_CONNECTIONS}"
        )));
    }
    if opts.requests.is_some_and(|n| n == 0 || n > MAX_REQUESTS) {
        return Err(LoadtestError::Usage(format!(
            "--requests must be 1 to {MAX_REQUESTS}"
        )));
    }
    if opts.cpus.is_some() && !opts.spawn {
        return Err(LoadtestError::Usage(
            "--cpus pins a spawned server: add --spawn".into(),
        ));
    }
    if let Some(c) = &opts.cpus {
        options::parse_cpu_list(c).map_err(|e| LoadtestError::Usage(format!("--cpus: {e}")))?;
    }
    let duration = seconds("duration", opts.duration, 0.1, 3600.0)?;
    Ok(Timing {
        warmup: seconds("warmup", opts.warmup, 0.0, 600.0)?,
        duration,
        floor: match opts.floor_duration {
            Some(f) => seconds("floor-duration", f, 0.1, 3600.0)?,
            None => duration,
        },
        timeout: seconds("timeout", opts.timeout, 0.001, 3600.0)?,
    })
}

/// Runs a load test as the options say and returns its report.
pub async fn run(opts: &Options) -> Result<Report, LoadtestError> {
    let timing = check(opts)?;
    if let Some(c) = &opts.client_cpus {
        let cpus = options::parse_cpu_list(c)
            .map_err(|e| LoadtestError::Usage(format!("--client-cpus: {e}")))?;
        procstat::pin_this_process(&cpus)
            .map_err(|e| LoadtestError::Usage(format!("--client-cpus {c}: {e}")))?;
    }
    let mut machine = procstat::machine();
    let mut notes = Vec::new();
    let mut baselines = Baselines::default();
    // First, while our own server is not running yet.
    if opts.baselines.openssl {
        match baseline::openssl_speed(opts.openssl_seconds).await {
            Ok(s) => baselines.openssl = Some(s),
            Err(e) => notes.push(format!("{e}")),
        }
    }
    let mut spawned = None;
    if opts.spawn {
        let exe = match &opts.server_exe {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .map_err(|e| LoadtestError::Spawn(format!("this executable: {e}")))?,
        };
        spawned = Some(spawn::spawn(&exe, opts.cpus.as_deref()).await?);
    }
    let result = measure(opts, &timing, spawned.as_ref(), &mut baselines, &mut notes).await;
    if let Some(mut s) = spawned {
        s.stop().await;
    }
    let (result, target_url, prepared) = result?;
    machine.load_after = procstat::loadavg();
    let server_cores = match &opts.cpus {
        Some(c) => options::parse_cpu_list(c).map_or(machine.cores, |v| v.len()),
        None => machine.cores,
    };
    if result.exhausted {
        notes.push(format!(
            "the {prepared} prepared requests ran out before the end; raise --requests"
        ));
    }
    if result.server.is_none() {
        notes.push("server process not found: no CPU / memory figures (use --server-pid)".into());
    }
    let ratios = report::ratios(&result, &baselines, server_cores);
    Ok(Report {
        scenario: opts.scenario.name().into(),
        url: target_url,
        client: format!("{:?}", opts.client).to_lowercase(),
        spawned: opts.spawn,
        server_cpus: opts.cpus.clone(),
        client_cpus: opts.client_cpus.clone(),
        server_cores,
        warmup_secs: timing.warmup.as_secs_f64(),
        prepared_requests: prepared,
        machine,
        result,
        baselines,
        ratios,
        notes,
    })
}

/// Everything between starting the server and stopping it.
async fn measure(
    opts: &Options,
    timing: &Timing,
    spawned: Option<&spawn::SpawnedServer>,
    baselines: &mut Baselines,
    notes: &mut Vec<String>,
) -> Result<(report::PhaseReport, String, usize), LoadtestError> {
    let url = spawned.map_or(opts.url.clone(), |s| s.url.clone());
    let target = Arc::new(client::Target::resolve(&url).await?);
    let admin_key = spawned
        .map(|s| s.admin_key.clone())
        .or_else(|| opts.admin_key.clone());

    // The server's processes, and its data directory (for the embedded PostgreSQL).
    let server_pid = match (spawned, opts.server_pid) {
        (Some(s), _) => Some(s.pid),
        (None, Some(p)) => Some(p),
        (None, None) if target.addr.ip().is_loopback() => {
            procstat::find_listener(target.addr.port())
        }
        _ => None,
    };
    let data_dir: Option<PathBuf> = match (spawned, server_pid) {
        (Some(s), _) => Some(s.data_dir.clone()),
        (None, Some(pid)) => procstat::server_data_dir(pid),
        _ => None,
    };
    let watched = server_pid.map(|server| Watched {
        server,
        postmaster: data_dir.as_deref().and_then(procstat::embedded_postmaster),
    });

    let set = prepare(opts, &target.base, admin_key.as_deref()).await?;
    let prepared = set.requests.len();

    if opts.baselines.pg {
        let conn_str = match (&opts.database_url, &data_dir) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(d)) => crate::store::embedded::EmbeddedCluster::new(d)
                .ok()
                .map(|c| c.connection_string(crate::store::embedded::EMBEDDED_USER)),
            _ => None,
        };
        match conn_str {
            Some(c) => match baseline::pg_copy(&c, opts.copy_rows).await {
                Ok(r) => baselines.pg_copy = Some(r),
                Err(e) => notes.push(e.to_string()),
            },
            None => notes.push(
                "PostgreSQL COPY baseline skipped: the server's database is unknown (--database-url)"
                    .into(),
            ),
        }
    }

    let spec = |name: &str, duration: Duration| PhaseSpec {
        name: name.into(),
        connections: opts.connections,
        warmup: timing.warmup,
        duration,
        timeout: timing.timeout,
        client: opts.client,
    };
    if opts.baselines.noop && opts.scenario != Scenario::Noop {
        let floor = Arc::new(RequestSet::cycled(vec![requests::noop()]));
        baselines.noop = Some(
            driver::run_phase(
                &spec("noop", timing.floor),
                target.clone(),
                floor,
                watched.as_ref(),
            )
            .await?,
        );
    }
    let mut result = driver::run_phase(
        &spec(opts.scenario.name(), timing.duration),
        target.clone(),
        Arc::new(set),
        watched.as_ref(),
    )
    .await?;
    if opts.baselines.noop && opts.scenario == Scenario::Noop {
        baselines.noop = Some(result.clone());
    }
    result.scenario = opts.scenario.name().into();
    Ok((result, target.base.clone(), prepared))
}

/// A short random tag that keeps invoice numbers of different runs apart.
fn run_tag() -> String {
    format!("{:08x}", rand::random::<u32>())
}

fn template(opts: &Options) -> Result<InvoiceTemplate, LoadtestError> {
    match &opts.invoice_template {
        Some(p) => {
            let meta = std::fs::metadata(p)
                .map_err(|e| LoadtestError::Usage(format!("{}: {e}", p.display())))?;
            if meta.len() > invoices::MAX_TEMPLATE_LEN as u64 {
                return Err(LoadtestError::Usage(format!("{}: too large", p.display())));
            }
            let text = std::fs::read_to_string(p)
                .map_err(|e| LoadtestError::Usage(format!("{}: {e}", p.display())))?;
            InvoiceTemplate::parse(&text)
        }
        None => InvoiceTemplate::parse(DEFAULT_TEMPLATE),
    }
}

/// The seller's VAT id of the template, so the issuer is registered as the invoices' seller.
fn template_seller_vat(opts: &Options) -> Option<String> {
    let t = template(opts).ok()?;
    let body = t.render("LT-probe").ok()?;
    let parsed = crate::documents::invoice::parse_invoice(Some("application/xml"), &body).ok()?;
    parsed.invoice.seller.id("vat").map(str::to_string)
}

/// Registers the run's issuer (admin key needed).
async fn issuer(
    opts: &Options,
    http: &reqwest::Client,
    base: &str,
    admin_key: Option<&str>,
    tag: &str,
) -> Result<Issuer, LoadtestError> {
    let admin = admin_key.ok_or_else(|| {
        LoadtestError::Usage(format!(
            "scenario {} registers an issuer: give --admin-key (or NOTARIUM_ADMIN_KEY)",
            opts.scenario.name()
        ))
    })?;
    let vat = template_seller_vat(opts);
    issuer::register_issuer(
        http,
        base,
        admin,
        &format!("loadtest issuer {tag}"),
        vat.as_deref(),
    )
    .await
}

/// Prepares every measured request of the scenario (and does the set-up it needs).
async fn prepare(
    opts: &Options,
    base: &str,
    admin_key: Option<&str>,
) -> Result<RequestSet, LoadtestError> {
    let default_n = if opts.scenario == Scenario::Invoices {
        20_000
    } else {
        100_000
    };
    let n = opts.requests.unwrap_or(default_n);
    let tag = run_tag();
    let http = reqwest::Client::new();
    let needs = |k: u32| k > 0;
    let (want_tsa, want_inv, want_proofs, want_bundles) = match opts.scenario {
        Scenario::Noop => return Ok(RequestSet::cycled(vec![requests::noop()])),
        Scenario::Tsa => (true, false, false, false),
        Scenario::Invoices => (false, true, false, false),
        Scenario::Proofs => (false, false, true, false),
        Scenario::Bundles => (false, false, false, true),
        Scenario::Mix => (
            needs(opts.mix.tsa),
            needs(opts.mix.invoices),
            needs(opts.mix.proofs),
            needs(opts.mix.bundles),
        ),
    };
    let counts = if opts.scenario == Scenario::Mix {
        requests::mix_counts(&opts.mix, n)
    } else {
        let k = match opts.scenario {
            Scenario::Tsa => Kind::Tsa,
            Scenario::Invoices => Kind::Invoice,
            Scenario::Proofs => Kind::Proof,
            _ => Kind::Bundle,
        };
        BTreeMap::from([(k, n)])
    };
    let count = |k: Kind| counts.get(&k).copied().unwrap_or(0);

    // Set-up through the API: an issuer, and records in the log when reads need them.
    let needs_issuer = want_inv || want_bundles || (want_proofs && opts.populate > 0);
    let issuer = if needs_issuer {
        Some(issuer(opts, &http, base, admin_key, &tag).await?)
    } else {
        None
    };
    let tpl = template(opts)?;
    let mut record_ids = Vec::new();
    if let Some(iss) = &issuer
        && (want_proofs || want_bundles)
    {
        if opts.populate == 0 && want_bundles {
            return Err(LoadtestError::Usage(
                "bundles need records: --populate 1 or more".into(),
            ));
        }
        // Numbered after the measured invoices so the two never collide.
        record_ids =
            issuer::populate(&http, base, iss, &tpl, &tag, MAX_REQUESTS, opts.populate).await?;
    }

    let mut lists: BTreeMap<Kind, Vec<requests::PreparedRequest>> = BTreeMap::new();
    if want_tsa {
        lists.insert(
            Kind::Tsa,
            requests::tsa(tsa_query::queries(
                count(Kind::Tsa),
                opts.seed,
                !opts.tsa_no_cert_req,
            )?),
        );
    }
    if want_inv && let Some(iss) = &issuer {
        let signed = invoices::signed_invoices(&tpl, &iss.signer, &tag, 0, count(Kind::Invoice))?;
        lists.insert(Kind::Invoice, requests::invoices(signed, &iss.api_key)?);
    }
    if want_proofs {
        let size = issuer::tree_size(&http, base).await?;
        lists.insert(
            Kind::Proof,
            requests::proofs(size, count(Kind::Proof), opts.seed)?,
        );
    }
    if want_bundles && let Some(iss) = &issuer {
        let all = requests::bundles(&record_ids, &iss.api_key)?;
        let list = all
            .iter()
            .cycle()
            .take(count(Kind::Bundle))
            .cloned()
            .collect();
        lists.insert(Kind::Bundle, list);
    }
    let unique = lists.contains_key(&Kind::Invoice);
    let requests = if lists.len() == 1 {
        lists.into_values().next().unwrap_or_default()
    } else {
        requests::interleave(lists, opts.seed)
    };
    Ok(RequestSet { requests, unique })
}

/// `notarium loadtest`: runs, prints the report; fails when no request succeeded.
pub async fn main(opts: Options) -> Result<ExitCode, LoadtestError> {
    let report = run(&opts).await?;
    if opts.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| LoadtestError::Internal(format!("JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.result.requests > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
