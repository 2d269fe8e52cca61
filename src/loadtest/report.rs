//! The report of a load test and its maths: latency percentiles from an HDR histogram,
//! throughput, CPU and memory use from two `/proc` samples, and the ratios to the baselines.
//! Rendered as text for people and as JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::LoadtestError;
use super::procstat::{GroupSample, Machine, UsageSample};

/// Highest latency the histograms hold, in microseconds (one hour); longer ones are clamped.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant digits.
pub fn new_histogram() -> Result<Histogram<u64>, LoadtestError> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .map_err(|e| LoadtestError::Internal(format!("histogram: {e}")))
}

/// Records a latency, clamped to the histogram's range.
pub fn record(h: &mut Histogram<u64>, latency: Duration) {
    let us = u64::try_from(latency.as_micros()).unwrap_or(MAX_LATENCY_US);
    h.saturating_record(us.clamp(1, MAX_LATENCY_US));
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Requests measured.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl LatencySummary {
    /// The summary of a histogram in microseconds (zeros when empty).
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self {
                count: 0,
                mean_ms: 0.0,
                p50_ms: 0.0,
                p90_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0,
            };
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Requests per second, 0 for an empty interval.
pub fn throughput(requests: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { requests as f64 / s } else { 0.0 }
}

/// `a / b`, or `None` when `b` is not a positive finite number.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b.is_finite() && b > 0.0 && a.is_finite()).then(|| a / b)
}

/// One kind of request within a phase (the mix has several).
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    /// Successful requests.
    pub requests: u64,
    /// Successful requests per second.
    pub throughput_rps: f64,
    /// Latency of the successful requests.
    pub latency: LatencySummary,
}

/// CPU and memory of a group of processes over the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GroupUsage {
    /// Processes at the end.
    pub processes: usize,
    /// CPU seconds spent in the window.
    pub cpu_seconds: f64,
    /// CPU seconds per second of wall time (1.0 = one core busy).
    pub cpu_cores: f64,
    /// Sum of resident memory at the end, MiB (shared memory counted in every process).
    pub rss_mib: f64,
    /// Sum of private resident memory at the end, MiB.
    pub rss_anon_mib: f64,
    /// Largest peak RSS of one process, MiB.
    pub peak_rss_mib: f64,
}

impl GroupUsage {
    /// The usage between two samples `wall` apart, with `ticks_per_sec` clock ticks a second.
    pub fn between(
        start: &GroupSample,
        end: &GroupSample,
        wall: Duration,
        ticks_per_sec: u64,
    ) -> Self {
        let ticks = end.ticks.saturating_sub(start.ticks);
        let cpu_seconds = ticks as f64 / ticks_per_sec.max(1) as f64;
        let mib = |kb: u64| kb as f64 / 1024.0;
        Self {
            processes: end.processes,
            cpu_seconds,
            cpu_cores: ratio(cpu_seconds, wall.as_secs_f64()).unwrap_or(0.0),
            rss_mib: mib(end.rss_kb),
            rss_anon_mib: mib(end.rss_anon_kb),
            peak_rss_mib: mib(end.peak_rss_kb),
        }
    }
}

/// The server's resource use over the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServerUsage {
    /// The server's pid.
    pub pid: u32,
    /// The server process (and its children other than the database).
    pub server: GroupUsage,
    /// The embedded PostgreSQL (postmaster and backends), when found.
    pub database: Option<GroupUsage>,
}

impl ServerUsage {
    /// The usage between two samples.
    pub fn between(
        pid: u32,
        has_database: bool,
        start: &UsageSample,
        end: &UsageSample,
        wall: Duration,
        ticks_per_sec: u64,
    ) -> Self {
        Self {
            pid,
            server: GroupUsage::between(&start.server, &end.server, wall, ticks_per_sec),
            database: has_database
                .then(|| GroupUsage::between(&start.database, &end.database, wall, ticks_per_sec)),
        }
    }
}

/// The measured phase of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// Scenario name.
    pub scenario: String,
    /// Connections.
    pub connections: usize,
    /// Measured wall time, seconds (from the end of the warm-up to the last answer).
    pub duration_secs: f64,
    /// Successful requests.
    pub requests: u64,
    /// Failed requests, all kinds.
    pub errors_total: u64,
    /// Failed requests by kind: `status NNN`, `connect`, `connection`, `timeout`, ….
    pub errors: BTreeMap<String, u64>,
    /// Successful requests per second.
    pub throughput_rps: f64,
    /// Latency of the successful requests.
    pub latency: LatencySummary,
    /// Per kind of request (for the mix).
    pub by_kind: BTreeMap<String, KindReport>,
    /// True when the prepared requests ran out before the end (scenarios that must not
    /// repeat a request).
    pub exhausted: bool,
    /// The server's CPU and memory over the window, when its process was found.
    pub server: Option<ServerUsage>,
    /// CPU of the load generator itself over the window, in cores (it shares the machine).
    pub load_generator_cpu_cores: Option<f64>,
}

impl PhaseReport {
    /// Successful requests per CPU second of the server and its database together.
    pub fn requests_per_server_cpu_second(&self) -> Option<f64> {
        let s = self.server?;
        let cpu = s.server.cpu_seconds + s.database.map_or(0.0, |d| d.cpu_seconds);
        ratio(self.requests as f64, cpu)
    }
}

/// `openssl speed ecdsap256` on one core.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OpensslSpeed {
    /// Signatures per second.
    pub sign_per_sec: f64,
    /// Verifications per second.
    pub verify_per_sec: f64,
}

/// The PostgreSQL COPY baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CopyRate {
    /// Rows written.
    pub rows: u64,
    /// Seconds, including the commit.
    pub seconds: f64,
    /// Rows per second.
    pub rows_per_sec: f64,
}

/// Baselines measured in the same run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Baselines {
    /// `openssl speed -seconds N ecdsap256`.
    pub openssl: Option<OpensslSpeed>,
    /// COPY of ledger-shaped rows into a scratch table of the server's database.
    pub pg_copy: Option<CopyRate>,
    /// The server's no-op route with the same connections.
    pub noop: Option<PhaseReport>,
}

/// A figure divided by a baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    /// Short name.
    pub name: String,
    /// The ratio.
    pub value: f64,
    /// What it compares.
    pub meaning: String,
}

/// The ratios of a result to the baselines. `server_cores` is the number of CPUs the server
/// may use (its pinning, else the machine's).
pub fn ratios(result: &PhaseReport, baselines: &Baselines, server_cores: usize) -> Vec<Ratio> {
    let mut out = Vec::new();
    let mut push = |name: &str, value: Option<f64>, meaning: String| {
        if let Some(value) = value {
            out.push(Ratio {
                name: name.into(),
                value,
                meaning,
            });
        }
    };
    let rps = result.throughput_rps;
    if let Some(noop) = &baselines.noop
        && result.scenario != "noop"
    {
        push(
            "vs_noop_floor",
            ratio(rps, noop.throughput_rps),
            format!(
                "{} req/s ÷ GET /healthz {:.0} req/s",
                result.scenario, noop.throughput_rps
            ),
        );
    }
    if let Some(o) = baselines.openssl {
        match result.scenario.as_str() {
            "tsa" => {
                push(
                    "vs_openssl_sign_1core",
                    ratio(rps, o.sign_per_sec),
                    format!(
                        "tokens/s ÷ openssl ECDSA P-256 signs/s on one core ({:.0})",
                        o.sign_per_sec
                    ),
                );
                push(
                    "vs_openssl_sign_per_core",
                    ratio(rps, o.sign_per_sec * server_cores.max(1) as f64),
                    format!(
                        "tokens/s ÷ ({:.0} signs/s × {} core(s) the server may use); target ≥ 0.40",
                        o.sign_per_sec,
                        server_cores.max(1)
                    ),
                );
                push(
                    "per_server_cpu_second_vs_openssl_sign",
                    result
                        .requests_per_server_cpu_second()
                        .and_then(|r| ratio(r, o.sign_per_sec)),
                    "tokens per CPU second of server + database ÷ openssl signs per CPU second"
                        .into(),
                );
            }
            "invoices" => push(
                "vs_openssl_verify_1core",
                ratio(rps, o.verify_per_sec),
                format!(
                    "invoices/s ÷ openssl ECDSA P-256 verifies/s on one core ({:.0})",
                    o.verify_per_sec
                ),
            ),
            _ => {}
        }
    }
    if let Some(c) = baselines.pg_copy
        && matches!(result.scenario.as_str(), "invoices" | "mix")
    {
        push(
            "vs_pg_copy",
            ratio(rps, c.rows_per_sec),
            format!(
                "requests/s ÷ PostgreSQL COPY of ledger-shaped rows ({:.0} rows/s)",
                c.rows_per_sec
            ),
        );
    }
    out
}

/// The whole report of `notarium loadtest`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario.
    pub scenario: String,
    /// Target URL.
    pub url: String,
    /// HTTP client of the measured requests.
    pub client: String,
    /// Whether the loadtest started the server.
    pub spawned: bool,
    /// The server's CPU pinning (`taskset -c`), if any.
    pub server_cpus: Option<String>,
    /// The load generator's CPU pinning, if any.
    pub client_cpus: Option<String>,
    /// CPUs the server may use.
    pub server_cores: usize,
    /// Warm-up, seconds.
    pub warmup_secs: f64,
    /// Requests prepared beforehand.
    pub prepared_requests: usize,
    /// The machine.
    pub machine: Machine,
    /// The measured scenario.
    pub result: PhaseReport,
    /// Baselines of the same run.
    pub baselines: Baselines,
    /// Result ÷ baselines.
    pub ratios: Vec<Ratio>,
    /// What the reader should know (skipped baselines, exhausted requests, …).
    pub notes: Vec<String>,
}

impl Report {
    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(
            s,
            "notarium loadtest: scenario {} against {}{}",
            self.scenario,
            self.url,
            if self.spawned { " (spawned)" } else { "" }
        );
        let _ = writeln!(
            s,
            "machine: {} cores, {}, {:.1} GiB; load {:.2} {:.2} {:.2} before, {:.2} {:.2} {:.2} after",
            m.cores,
            m.cpu_model,
            m.mem_total_kb as f64 / 1024.0 / 1024.0,
            m.load_before[0],
            m.load_before[1],
            m.load_before[2],
            m.load_after[0],
            m.load_after[1],
            m.load_after[2]
        );
        let _ = writeln!(
            s,
            "server CPUs: {} ({} core(s)); client CPUs: {}; client {}; {} connections; warm-up {:.1} s; {} requests prepared",
            self.server_cpus.as_deref().unwrap_or("any"),
            self.server_cores,
            self.client_cpus.as_deref().unwrap_or("any"),
            self.client,
            self.result.connections,
            self.warmup_secs,
            self.prepared_requests
        );
        s.push('\n');
        write_phase(&mut s, &self.result);
        if let Some(noop) = &self.baselines.noop
            && self.result.scenario != "noop"
        {
            s.push('\n');
            let _ = writeln!(s, "baseline: HTTP floor");
            write_phase(&mut s, noop);
        }
        s.push('\n');
        if let Some(o) = self.baselines.openssl {
            let _ = writeln!(
                s,
                "baseline: openssl speed ecdsap256 (one core): {:.0} sign/s, {:.0} verify/s",
                o.sign_per_sec, o.verify_per_sec
            );
        }
        if let Some(c) = self.baselines.pg_copy {
            let _ = writeln!(
                s,
                "baseline: PostgreSQL COPY of {} rows (32-byte key + 300-byte body): {:.2} s, {:.0} rows/s",
                c.rows, c.seconds, c.rows_per_sec
            );
        }
        if !self.ratios.is_empty() {
            let _ = writeln!(s, "ratios:");
            for r in &self.ratios {
                let _ = writeln!(s, "  {:<40} {:>8.3}   {}", r.name, r.value, r.meaning);
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }
}

fn write_phase(s: &mut String, p: &PhaseReport) {
    let l = &p.latency;
    let _ = writeln!(
        s,
        "{}: {} ok in {:.2} s = {:.0} req/s; {} errors{}",
        p.scenario,
        p.requests,
        p.duration_secs,
        p.throughput_rps,
        p.errors_total,
        if p.exhausted {
            " (prepared requests ran out)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  mean {:.3}",
        l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.mean_ms
    );
    for (kind, n) in &p.errors {
        let _ = writeln!(s, "  error {kind}: {n}");
    }
    if p.by_kind.len() > 1 {
        for (kind, k) in &p.by_kind {
            let _ = writeln!(
                s,
                "  {kind}: {} ok, {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
                k.requests, k.throughput_rps, k.latency.p50_ms, k.latency.p99_ms
            );
        }
    }
    if let Some(u) = &p.server {
        let g = &u.server;
        let _ = writeln!(
            s,
            "  server pid {}: {:.2} CPU cores, {:.1} MiB RSS ({:.1} MiB private, peak {:.1} MiB)",
            u.pid, g.cpu_cores, g.rss_mib, g.rss_anon_mib, g.peak_rss_mib
        );
        if let Some(d) = &u.database {
            let _ = writeln!(
                s,
                "  database ({} processes): {:.2} CPU cores, {:.1} MiB RSS summed ({:.1} MiB private)",
                d.processes, d.cpu_cores, d.rss_mib, d.rss_anon_mib
            );
        }
        if let Some(r) = p.requests_per_server_cpu_second() {
            let _ = writeln!(s, "  {r:.0} requests per CPU second of server + database");
        }
    }
    if let Some(c) = p.load_generator_cpu_cores {
        let _ = writeln!(s, "  load generator: {c:.2} CPU cores");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = new_histogram().unwrap();
        for v in values {
            record(&mut h, Duration::from_micros(v));
        }
        h
    }

    #[test]
    fn percentiles_of_1_to_1000_us_are_the_nearest_ranks() {
        // Values below 2048 are exact at 3 significant digits; nearest-rank percentiles of
        // 1..=1000 are 500, 900, 990 by definition.
        let s = LatencySummary::from_histogram(&hist(1..=1000));
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50_ms, 0.5);
        assert_eq!(s.p90_ms, 0.9);
        assert_eq!(s.p99_ms, 0.99);
        assert_eq!(s.max_ms, 1.0);
        assert!((s.mean_ms - 0.5005).abs() < 1e-9);
    }

    #[test]
    fn percentiles_keep_three_significant_digits_for_large_values() {
        // 99 fast requests of 1 ms and one of 2.5 s.
        let mut values = vec![1000u64; 99];
        values.push(2_500_000);
        let s = LatencySummary::from_histogram(&hist(values));
        assert_eq!(s.p50_ms, 1.0);
        assert_eq!(s.p99_ms, 1.0);
        // hdrhistogram reports the highest value equivalent to 2.5 s at 3 digits: within 0.1%.
        assert!((s.max_ms - 2500.0).abs() / 2500.0 < 0.001, "{}", s.max_ms);
    }

    #[test]
    fn empty_and_out_of_range_latencies() {
        let s = LatencySummary::from_histogram(&new_histogram().unwrap());
        assert_eq!((s.count, s.p99_ms, s.max_ms), (0, 0.0, 0.0));
        let mut h = new_histogram().unwrap();
        record(&mut h, Duration::ZERO);
        record(&mut h, Duration::from_secs(10 * 3600));
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= MAX_LATENCY_US);
    }

    #[test]
    fn throughput_and_ratio_guards() {
        assert_eq!(throughput(1000, Duration::from_millis(500)), 2000.0);
        assert_eq!(throughput(1000, Duration::ZERO), 0.0);
        assert_eq!(ratio(10.0, 4.0), Some(2.5));
        assert_eq!(ratio(10.0, 0.0), None);
        assert_eq!(ratio(10.0, f64::NAN), None);
        assert_eq!(ratio(f64::INFINITY, 1.0), None);
    }

    #[test]
    fn group_usage_from_two_samples() {
        let start = GroupSample {
            processes: 1,
            ticks: 1000,
            rss_kb: 1024,
            rss_anon_kb: 512,
            peak_rss_kb: 2048,
        };
        let end = GroupSample {
            processes: 3,
            ticks: 1150,
            rss_kb: 4096,
            rss_anon_kb: 1024,
            peak_rss_kb: 8192,
        };
        // 150 ticks at 100/s = 1.5 CPU seconds over 2 s of wall time = 0.75 cores.
        let u = GroupUsage::between(&start, &end, Duration::from_secs(2), 100);
        assert_eq!(u.cpu_seconds, 1.5);
        assert_eq!(u.cpu_cores, 0.75);
        assert_eq!((u.rss_mib, u.rss_anon_mib, u.peak_rss_mib), (4.0, 1.0, 8.0));
        assert_eq!(u.processes, 3);
        // A group that lost time (a process vanished unreaped) never goes negative.
        let back = GroupUsage::between(&end, &start, Duration::from_secs(2), 100);
        assert_eq!(back.cpu_seconds, 0.0);
    }

    fn phase(scenario: &str, requests: u64, secs: f64) -> PhaseReport {
        PhaseReport {
            scenario: scenario.into(),
            connections: 8,
            duration_secs: secs,
            requests,
            errors_total: 0,
            errors: BTreeMap::new(),
            throughput_rps: throughput(requests, Duration::from_secs_f64(secs)),
            latency: LatencySummary::from_histogram(&new_histogram().unwrap()),
            by_kind: BTreeMap::new(),
            exhausted: false,
            server: None,
            load_generator_cpu_cores: None,
        }
    }

    fn find<'a>(r: &'a [Ratio], name: &str) -> Option<&'a Ratio> {
        r.iter().find(|x| x.name == name)
    }

    #[test]
    fn tsa_ratios() {
        let mut tsa = phase("tsa", 100_000, 10.0); // 10,000 tokens/s
        let cpu = GroupUsage {
            processes: 1,
            cpu_seconds: 16.0,
            cpu_cores: 1.6,
            rss_mib: 1.0,
            rss_anon_mib: 1.0,
            peak_rss_mib: 1.0,
        };
        tsa.server = Some(ServerUsage {
            pid: 1,
            server: cpu,
            database: Some(GroupUsage {
                cpu_seconds: 4.0,
                ..cpu
            }),
        });
        let b = Baselines {
            openssl: Some(OpensslSpeed {
                sign_per_sec: 50_000.0,
                verify_per_sec: 16_000.0,
            }),
            pg_copy: Some(CopyRate {
                rows: 1,
                seconds: 1.0,
                rows_per_sec: 1.0,
            }),
            noop: Some(phase("noop", 400_000, 10.0)), // 40,000 req/s
        };
        let r = ratios(&tsa, &b, 2);
        assert_eq!(find(&r, "vs_noop_floor").unwrap().value, 0.25);
        assert_eq!(find(&r, "vs_openssl_sign_1core").unwrap().value, 0.2);
        assert_eq!(find(&r, "vs_openssl_sign_per_core").unwrap().value, 0.1);
        // 100,000 tokens / 20 CPU s = 5,000 per CPU s = 0.1 of 50,000.
        assert_eq!(
            find(&r, "per_server_cpu_second_vs_openssl_sign")
                .unwrap()
                .value,
            0.1
        );
        assert!(find(&r, "vs_pg_copy").is_none());
        assert!(find(&r, "vs_openssl_verify_1core").is_none());
    }

    #[test]
    fn invoice_and_noop_ratios() {
        let inv = phase("invoices", 20_000, 10.0); // 2,000/s
        let b = Baselines {
            openssl: Some(OpensslSpeed {
                sign_per_sec: 50_000.0,
                verify_per_sec: 16_000.0,
            }),
            pg_copy: Some(CopyRate {
                rows: 200_000,
                seconds: 1.25,
                rows_per_sec: 160_000.0,
            }),
            noop: None,
        };
        let r = ratios(&inv, &b, 1);
        assert_eq!(find(&r, "vs_openssl_verify_1core").unwrap().value, 0.125);
        assert_eq!(find(&r, "vs_pg_copy").unwrap().value, 0.0125);
        assert!(find(&r, "vs_noop_floor").is_none());
        // The floor is not compared with itself.
        let noop = phase("noop", 10, 1.0);
        let b = Baselines {
            noop: Some(noop.clone()),
            ..Baselines::default()
        };
        assert!(ratios(&noop, &b, 1).is_empty());
    }

    #[test]
    fn text_and_json_carry_the_figures() {
        let mut result = phase("tsa", 5000, 2.0);
        result.errors.insert("status 503".into(), 3);
        result.errors_total = 3;
        let report = Report {
            scenario: "tsa".into(),
            url: "http://127.0.0.1:1".into(),
            client: "hyper".into(),
            spawned: true,
            server_cpus: Some("0".into()),
            client_cpus: None,
            server_cores: 1,
            warmup_secs: 1.0,
            prepared_requests: 100,
            machine: crate::loadtest::procstat::machine(),
            result,
            baselines: Baselines::default(),
            ratios: vec![Ratio {
                name: "vs_x".into(),
                value: 0.5,
                meaning: "m".into(),
            }],
            notes: vec!["a note".into()],
        };
        let text = report.to_text();
        assert!(
            text.contains("tsa: 5000 ok in 2.00 s = 2500 req/s; 3 errors"),
            "{text}"
        );
        assert!(text.contains("error status 503: 3"));
        assert!(text.contains("vs_x"));
        assert!(text.contains("note: a note"));
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["result"]["throughput_rps"], 2500.0);
        assert_eq!(v["result"]["errors"]["status 503"], 3);
        assert_eq!(v["ratios"][0]["value"], 0.5);
        assert!(v["machine"]["cores"].as_u64().unwrap() >= 1);
        assert!(v["result"]["latency"]["p99_ms"].is_number());
    }
}
