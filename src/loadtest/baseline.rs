//! Baselines measured in the same run as the load: OpenSSL's single-core ECDSA P-256 speed
//! (what one signature per token costs at best) and PostgreSQL's COPY rate of ledger-shaped
//! rows into a scratch table of the server's database (what durable storage allows at best).

use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::LoadtestError;
use super::report::{CopyRate, OpensslSpeed, ratio};

/// Bytes of the body column of the COPY baseline (a ledger entry is about this size).
pub const COPY_BODY_LEN: usize = 300;

/// Largest row count of the COPY baseline.
pub const MAX_COPY_ROWS: usize = 10_000_000;

/// Parses the summary line of `openssl speed ecdsap256`:
/// ` 256 bits ecdsa (nistp256)   0.0000s   0.0001s  51234.0  15678.0` (sign/s, verify/s last).
pub fn parse_openssl_speed(stdout: &str) -> Option<OpensslSpeed> {
    stdout.lines().find_map(|line| {
        if !line.contains("ecdsa (nistp256)") {
            return None;
        }
        let nums: Vec<f64> = line
            .split_whitespace()
            .rev()
            .take(2)
            .map(|v| v.parse::<f64>().ok())
            .collect::<Option<Vec<_>>>()?;
        let (verify, sign) = (*nums.first()?, *nums.get(1)?);
        (sign > 0.0 && verify > 0.0).then_some(OpensslSpeed {
            sign_per_sec: sign,
            verify_per_sec: verify,
        })
    })
}

/// Runs `openssl speed -seconds N ecdsap256` (one process, so one core).
pub async fn openssl_speed(seconds: u32) -> Result<OpensslSpeed, LoadtestError> {
    let out = tokio::process::Command::new("openssl")
        .args([
            "speed",
            "-seconds",
            &seconds.clamp(1, 60).to_string(),
            "ecdsap256",
        ])
        .output()
        .await
        .map_err(|e| LoadtestError::Baseline(format!("openssl speed: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_openssl_speed(&stdout).ok_or_else(|| {
        LoadtestError::Baseline(format!(
            "openssl speed: no `ecdsa (nistp256)` line in its output (exit {})",
            out.status
        ))
    })
}

/// The `i`-th row of the COPY baseline: SHA-256(i) and a 300-byte body derived from it.
pub fn copy_row(i: u64) -> ([u8; 32], Vec<u8>) {
    let hash: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
    let body = hash.iter().cycle().take(COPY_BODY_LEN).copied().collect();
    (hash, body)
}

/// COPYs `rows` rows (32-byte primary key + 300-byte body) in one committed transaction into
/// a scratch table of the database at `conn_str`, dropped afterwards. The timing covers the
/// COPY and the commit (durable, as the server's own writes are), not the row preparation.
pub async fn pg_copy(conn_str: &str, rows: usize) -> Result<CopyRate, LoadtestError> {
    let rows = rows.clamp(1, MAX_COPY_ROWS);
    let cfg: tokio_postgres::Config = conn_str
        .parse()
        .map_err(|e| LoadtestError::Baseline(format!("database URL: {e}")))?;
    let (mut client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(pg("connect"))?;
    let conn_task = tokio::spawn(conn);
    let table = format!("loadtest_copy_{:08x}", rand::random::<u32>());
    let result = async {
        client
            .batch_execute(&format!(
                "CREATE TABLE {table} (hash bytea PRIMARY KEY, body bytea NOT NULL)"
            ))
            .await
            .map_err(pg("create the scratch table"))?;
        let data: Vec<([u8; 32], Vec<u8>)> = (0..rows as u64).map(copy_row).collect();
        let started = Instant::now();
        let tx = client.transaction().await.map_err(pg("begin"))?;
        let sink = tx
            .copy_in(&format!(
                "COPY {table} (hash, body) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(pg("copy"))?;
        let writer = BinaryCopyInWriter::new(sink, &[Type::BYTEA, Type::BYTEA]);
        tokio::pin!(writer);
        for (hash, body) in &data {
            let h: &[u8] = hash;
            let b: &[u8] = body;
            let row: [&(dyn ToSql + Sync); 2] = [&h, &b];
            writer.as_mut().write(&row).await.map_err(pg("copy row"))?;
        }
        let written = writer.finish().await.map_err(pg("copy finish"))?;
        tx.commit().await.map_err(pg("commit"))?;
        let seconds = started.elapsed().as_secs_f64();
        Ok::<_, LoadtestError>(CopyRate {
            rows: written,
            seconds,
            rows_per_sec: ratio(written as f64, seconds).unwrap_or(0.0),
        })
    }
    .await;
    // Dropped whatever happened, so a failed run leaves no scratch table behind.
    let _ = client
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
        .await;
    drop(client);
    let _ = conn_task.await;
    result
}

fn pg(what: &'static str) -> impl Fn(tokio_postgres::Error) -> LoadtestError {
    move |e| LoadtestError::Baseline(format!("PostgreSQL COPY baseline, {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output of `openssl speed -seconds 1 ecdsap256` with OpenSSL 3.0.19 on this machine.
    const OPENSSL_3_0: &str = "version: 3.0.19\nbuilt on: Tue Jan 27 2026 UTC\noptions: bn(64,64)\n\
        compiler: gcc -fPIC -pthread -m64\nCPUINFO: OPENSSL_ia32cap=0xfff83203078bffff:0x209c01ab\n\
        \x20                             sign    verify    sign/s verify/s\n\
        \x20256 bits ecdsa (nistp256)   0.0001s   0.0001s  19548.0   6941.0\n";

    #[test]
    fn parses_openssl_3_speed_output() {
        let s = parse_openssl_speed(OPENSSL_3_0).unwrap();
        assert_eq!(s.sign_per_sec, 19548.0);
        assert_eq!(s.verify_per_sec, 6941.0);
    }

    #[test]
    fn refuses_output_without_the_line_or_numbers() {
        assert_eq!(parse_openssl_speed(""), None);
        assert_eq!(
            parse_openssl_speed("256 bits ecdsa (nistp384) 0.1s 0.1s 10.0 5.0\n"),
            None
        );
        assert_eq!(
            parse_openssl_speed(" 256 bits ecdsa (nistp256) 0.1s 0.1s x y\n"),
            None
        );
        assert_eq!(
            parse_openssl_speed(" 256 bits ecdsa (nistp256) 0.1s 0.1s 0.0 0.0\n"),
            None
        );
    }

    #[test]
    fn copy_rows_have_the_ledger_shape() {
        let (h, b) = copy_row(0);
        // SHA-256 of eight zero bytes, computed with Python's hashlib.
        assert_eq!(
            hex::encode(h),
            "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc"
        );
        assert_eq!(b.len(), COPY_BODY_LEN);
        assert_eq!(&b[..32], &h);
        assert_ne!(copy_row(1).0, h);
    }
}
