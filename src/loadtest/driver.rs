//! The closed-loop driver: N tasks, each with its own keep-alive connection, send prepared
//! requests back to back for a warm-up and then a measured window; latencies of successful
//! requests go to per-task HDR histograms merged at the end, failures are counted by kind.
//!
//! Closed loop: a slow answer delays that connection's next request, so latency percentiles
//! describe the answered requests at the offered concurrency (no coordinated-omission
//! correction); throughput is what N connections obtain.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::LoadtestError;
use super::client::{Connection, Failure, Target};
use super::options::ClientKind;
use super::procstat::{UsageSample, Watched, clock_ticks_per_sec, read_stat};
use super::report::{
    KindReport, LatencySummary, PhaseReport, ServerUsage, new_histogram, ratio, record, throughput,
};
use super::requests::{Kind, RequestSet};
use super::tsa_query::reply_granted;

/// How one phase runs.
#[derive(Debug, Clone)]
pub struct PhaseSpec {
    /// Name in the report (the scenario).
    pub name: String,
    /// Concurrent connections.
    pub connections: usize,
    /// Requests sent but not counted before measuring.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// HTTP client.
    pub client: ClientKind,
}

/// What one task saw.
struct TaskResult {
    by_kind: BTreeMap<Kind, Histogram<u64>>,
    errors: BTreeMap<String, u64>,
    last_done: Option<Instant>,
}

/// Whether an answer is a success for its kind; the error name otherwise.
pub fn classify(kind: Kind, status: u16, body: &[u8]) -> Result<(), String> {
    if status != kind.expected_status() {
        return Err(format!("status {status}"));
    }
    // A TSA answers refusals with HTTP 200 and a rejection PKIStatus (RFC 3161 section 3.4).
    if kind == Kind::Tsa && !reply_granted(body) {
        return Err("tsa-not-granted".into());
    }
    Ok(())
}

/// Runs one phase and reports it. `watched` is sampled at the start and end of the window.
pub async fn run_phase(
    spec: &PhaseSpec,
    target: Arc<Target>,
    set: Arc<RequestSet>,
    watched: Option<&Watched>,
) -> Result<PhaseReport, LoadtestError> {
    if set.requests.is_empty() {
        return Err(LoadtestError::Prepare("no request prepared".into()));
    }
    let start = Instant::now();
    let measure_start = start + spec.warmup;
    let end = measure_start + spec.duration;
    let next = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicBool::new(false));

    let mut handles = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections {
        let conn = Connection::new(spec.client)?;
        let (target, set, next, exhausted) =
            (target.clone(), set.clone(), next.clone(), exhausted.clone());
        let timeout = spec.timeout;
        handles.push(tokio::spawn(async move {
            task(
                conn,
                &target,
                &set,
                &next,
                &exhausted,
                measure_start,
                end,
                timeout,
            )
            .await
        }));
    }
    let all = futures::future::join_all(handles);
    tokio::pin!(all);

    // Sample the server when the window opens and when it closes (or when every task ended
    // early because the prepared requests ran out).
    let mut joined = None;
    let mut window: Option<(Instant, UsageSample)> = None;
    let mut own_start: Option<(Instant, u64)> = None;
    tokio::select! {
        r = &mut all => joined = Some(r),
        _ = tokio::time::sleep_until(measure_start) => {}
    }
    if joined.is_none() {
        window = watched.map(|w| (Instant::now(), w.sample()));
        own_start = Some((Instant::now(), own_ticks()));
        tokio::select! {
            r = &mut all => joined = Some(r),
            _ = tokio::time::sleep_until(end) => {}
        }
    }
    let closing = watched.map(|w| (Instant::now(), w.sample()));
    let own_end = (Instant::now(), own_ticks());
    let joined = match joined {
        Some(j) => j,
        None => all.await,
    };

    let mut by_kind: BTreeMap<Kind, Histogram<u64>> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_done: Option<Instant> = None;
    for r in joined {
        let r = r.map_err(|e| LoadtestError::Internal(format!("load task: {e}")))??;
        for (k, h) in r.by_kind {
            match by_kind.get_mut(&k) {
                Some(acc) => acc
                    .add(&h)
                    .map_err(|e| LoadtestError::Internal(format!("histogram merge: {e}")))?,
                None => {
                    by_kind.insert(k, h);
                }
            }
        }
        for (e, n) in r.errors {
            *errors.entry(e).or_default() += n;
        }
        last_done = last_done.max(r.last_done);
    }

    let elapsed = last_done
        .map(|d| d.saturating_duration_since(measure_start))
        .filter(|d| !d.is_zero())
        .unwrap_or(spec.duration);
    let mut all_hist = new_histogram()?;
    for h in by_kind.values() {
        all_hist
            .add(h)
            .map_err(|e| LoadtestError::Internal(format!("histogram merge: {e}")))?;
    }
    let requests = all_hist.len();
    let server = match (watched, window, closing) {
        (Some(w), Some((t0, s0)), Some((t1, s1))) => Some(ServerUsage::between(
            w.server,
            w.postmaster.is_some(),
            &s0,
            &s1,
            t1.saturating_duration_since(t0),
            clock_ticks_per_sec(),
        )),
        _ => None,
    };
    Ok(PhaseReport {
        scenario: spec.name.clone(),
        connections: spec.connections,
        duration_secs: elapsed.as_secs_f64(),
        requests,
        errors_total: errors.values().sum(),
        errors,
        throughput_rps: throughput(requests, elapsed),
        latency: LatencySummary::from_histogram(&all_hist),
        by_kind: by_kind
            .iter()
            .map(|(k, h)| {
                (
                    k.name().to_string(),
                    KindReport {
                        requests: h.len(),
                        throughput_rps: throughput(h.len(), elapsed),
                        latency: LatencySummary::from_histogram(h),
                    },
                )
            })
            .collect(),
        exhausted: exhausted.load(Ordering::Relaxed),
        server,
        load_generator_cpu_cores: own_start.and_then(|(t0, k0)| {
            let secs = own_end.1.saturating_sub(k0) as f64 / clock_ticks_per_sec() as f64;
            ratio(secs, own_end.0.saturating_duration_since(t0).as_secs_f64())
        }),
    })
}

/// CPU ticks of this process (the load generator) so far.
fn own_ticks() -> u64 {
    read_stat(std::process::id()).map_or(0, |s| s.utime.saturating_add(s.stime))
}

#[allow(clippy::too_many_arguments)]
async fn task(
    mut conn: Connection,
    target: &Target,
    set: &RequestSet,
    next: &AtomicUsize,
    exhausted: &AtomicBool,
    measure_start: Instant,
    end: Instant,
    timeout: Duration,
) -> Result<TaskResult, LoadtestError> {
    let mut out = TaskResult {
        by_kind: BTreeMap::new(),
        errors: BTreeMap::new(),
        last_done: None,
    };
    let len = set.requests.len();
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let index = if set.unique {
            if i >= len {
                exhausted.store(true, Ordering::Relaxed);
                break;
            }
            i
        } else {
            i % len.max(1)
        };
        let Some(req) = set.requests.get(index) else {
            break;
        };
        let answer = conn.send(target, req, timeout).await;
        let done = Instant::now();
        let counted = sent >= measure_start;
        let outcome = match &answer {
            Ok((status, body)) => classify(req.kind, *status, body),
            Err(f) => Err(f.name().to_string()),
        };
        if counted {
            match outcome {
                Ok(()) => {
                    let h = match out.by_kind.get_mut(&req.kind) {
                        Some(h) => h,
                        None => out.by_kind.entry(req.kind).or_insert(new_histogram()?),
                    };
                    record(h, done.saturating_duration_since(sent));
                    out.last_done = Some(done);
                }
                Err(e) => *out.errors.entry(e).or_default() += 1,
            }
        }
        if matches!(answer, Err(Failure::Connect)) {
            // The server is not accepting: do not spin.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_by_kind_and_status() {
        assert_eq!(classify(Kind::Noop, 200, b"ok"), Ok(()));
        assert_eq!(classify(Kind::Noop, 503, b""), Err("status 503".into()));
        assert_eq!(classify(Kind::Invoice, 201, b"{}"), Ok(()));
        assert_eq!(
            classify(Kind::Invoice, 200, b"{}"),
            Err("status 200".into())
        );
        assert_eq!(
            classify(Kind::Invoice, 409, b"{}"),
            Err("status 409".into())
        );
        let granted = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00];
        let rejected = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
        assert_eq!(classify(Kind::Tsa, 200, &granted), Ok(()));
        assert_eq!(
            classify(Kind::Tsa, 200, &rejected),
            Err("tsa-not-granted".into())
        );
        assert_eq!(
            classify(Kind::Tsa, 200, b"<html>"),
            Err("tsa-not-granted".into())
        );
        assert_eq!(classify(Kind::Tsa, 429, &granted), Err("status 429".into()));
    }
}
