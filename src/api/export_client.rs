//! `notarium export --url URL --key API_KEY --org ORG [--from T] [--to T] --out FILE
//! [--trust ROOTS.pem --log-key KEY --witness-policy FILE]`: the auditor's client of
//! `GET /v1/evidence`. It downloads the bulk zip to FILE with a progress bar, then verifies
//! every bundle inside offline with [`verify_bundle`] against the trust given (never the
//! server's word), and prints one line per bundle and a summary.
//!
//! Exit status: 0 when every bundle verified, 1 when one did not (tampered, or incomplete for
//! lack of trust inputs), 2 when the download or the arguments failed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::evidence::cli::{VerifyArgs, options};
use crate::evidence::{Verdict, VerifyOptions, ZipLimits, verify_bundle};

/// The `export` subcommand's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The notary's base URL, e.g. `https://notary.example`.
    #[arg(long)]
    pub url: String,
    /// The caller's API key (an auditor or court with a grant, or the organisation itself).
    #[arg(long, env = "NOTARIUM_API_KEY", hide_env_values = true)]
    pub key: String,
    /// The organisation whose records to export.
    #[arg(long)]
    pub org: Uuid,
    /// Only records notarized at or after this RFC 3339 time.
    #[arg(long)]
    pub from: Option<String>,
    /// Only records notarized at or before this RFC 3339 time.
    #[arg(long)]
    pub to: Option<String>,
    /// Where to write the zip of bundles.
    #[arg(long)]
    pub out: PathBuf,
    /// Trusted notary root certificates (PEM).
    #[arg(long)]
    pub trust: Option<PathBuf>,
    /// The log's verifier key: the key text itself, or a file holding it.
    #[arg(long)]
    pub log_key: Option<String>,
    /// Witness policy file (`threshold K` and `witness <vkey>` lines).
    #[arg(long)]
    pub witness_policy: Option<PathBuf>,
}

/// What verifying an export found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Records whose bundle verified.
    pub verified: Vec<String>,
    /// Records whose bundle did not, with the verdict and the first failing checks.
    pub failed: Vec<(String, String)>,
}

impl ExportSummary {
    /// True when there was no failure.
    pub fn all_verified(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Most bundles one export may hold (far beyond any real export; bounds the loop).
const MAX_BUNDLES: usize = 10_000_000;

/// Verifies every `<record id>.zip` member of the export at `path`.
///
/// # Errors
/// A message when the file is not a readable zip; a member that is not a bundle is reported as
/// failed, never skipped.
pub fn verify_export(path: &Path, opts: &VerifyOptions) -> Result<ExportSummary, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| format!("{}: not a readable zip: {e}", path.display()))?;
    if zip.len() > MAX_BUNDLES {
        return Err(format!("{}: too many members", path.display()));
    }
    let cap = ZipLimits::default().max_zip_bytes as u64;
    let mut summary = ExportSummary::default();
    for i in 0..zip.len() {
        let mut member = match zip.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                summary
                    .failed
                    .push((format!("member {i}"), format!("unreadable: {e}")));
                continue;
            }
        };
        let name = String::from_utf8_lossy(member.name_raw()).into_owned();
        let id = name.strip_suffix(".zip").unwrap_or(&name).to_string();
        if Uuid::parse_str(&id).is_err() {
            summary
                .failed
                .push((name, "not a `<record id>.zip` member".into()));
            continue;
        }
        let mut bytes = Vec::new();
        // The declared size may lie: read at most one byte beyond the cap.
        if let Err(e) = (&mut member).take(cap + 1).read_to_end(&mut bytes) {
            summary.failed.push((id, format!("unreadable: {e}")));
            continue;
        }
        if bytes.len() as u64 > cap {
            summary
                .failed
                .push((id, format!("larger than {cap} bytes")));
            continue;
        }
        let report = verify_bundle(&bytes, opts);
        match report.verdict() {
            Verdict::Verified => summary.verified.push(id),
            v => {
                let why: Vec<String> = report
                    .checks
                    .iter()
                    .filter(|c| c.status != crate::evidence::Status::Pass)
                    .take(3)
                    .map(|c| format!("{} {}: {}", c.status.label(), c.id, c.reason))
                    .collect();
                let verdict = match v {
                    Verdict::Tampered => "TAMPERED",
                    _ => "INCOMPLETE",
                };
                summary
                    .failed
                    .push((id, format!("{verdict}: {}", why.join("; "))));
            }
        }
    }
    Ok(summary)
}

/// Downloads the export to `args.out`, showing progress on stderr; returns the bytes written.
async fn download(args: &ExportArgs) -> Result<u64, String> {
    let mut query = vec![("org", args.org.to_string())];
    if let Some(f) = &args.from {
        query.push(("from", f.clone()));
    }
    if let Some(t) = &args.to {
        query.push(("to", t.clone()));
    }
    let url = format!("{}/v1/evidence", args.url.trim_end_matches('/'));
    let mut resp = reqwest::Client::new()
        .get(&url)
        .query(&query)
        .bearer_auth(&args.key)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(format!(
            "{url}: {status}: {}",
            body.chars().take(500).collect::<String>()
        ));
    }
    let mut out =
        std::fs::File::create(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    // The size is unknown in advance (the server streams): a spinner with bytes and rate.
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} downloading evidence: {bytes} ({bytes_per_sec}, {elapsed})",
    ) {
        bar.set_style(style);
    }
    let mut written = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("{url}: download broke off: {e}"))?
    {
        out.write_all(&chunk)
            .map_err(|e| format!("{}: {e}", args.out.display()))?;
        written += chunk.len() as u64;
        bar.set_position(written);
    }
    out.flush()
        .map_err(|e| format!("{}: {e}", args.out.display()))?;
    bar.finish_and_clear();
    Ok(written)
}

/// Renders the summary lines.
pub fn render_summary(s: &ExportSummary) -> String {
    let mut out = String::new();
    for id in &s.verified {
        out.push_str(&format!("VERIFIED {id}\n"));
    }
    for (id, why) in &s.failed {
        out.push_str(&format!("FAILED   {id} {why}\n"));
    }
    out.push_str(&format!(
        "{} verified, {} failed\n",
        s.verified.len(),
        s.failed.len()
    ));
    if !s.failed.is_empty() {
        let ids: Vec<&str> = s.failed.iter().map(|(id, _)| id.as_str()).collect();
        out.push_str(&format!("failed: {}\n", ids.join(" ")));
    }
    out
}

/// The `notarium export` entry point: returns the process exit code.
pub async fn main(args: &ExportArgs) -> ExitCode {
    // Check the trust inputs before downloading anything.
    let verify_args = VerifyArgs {
        bundle: args.out.clone(),
        document: None,
        trust: args.trust.clone(),
        log_key: args.log_key.clone(),
        witness_policy: args.witness_policy.clone(),
        json: false,
        trust_bundle_roots: false,
    };
    let opts = match options(&verify_args, OffsetDateTime::now_utc()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let bytes = match download(args).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("downloaded {bytes} bytes to {}", args.out.display());
    let path = args.out.clone();
    let summary = match tokio::task::spawn_blocking(move || verify_export(&path, &opts)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: verification stopped: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", render_summary(&summary));
    if summary.all_verified() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in members {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn junk_members_are_failures_never_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        let path = dir.path().join("export.zip");
        std::fs::write(
            &path,
            zip_of(&[
                (&format!("{id}.zip"), b"PK\x03\x04 not a bundle"),
                ("notes.txt", b"hello"),
            ]),
        )
        .unwrap();
        let opts = VerifyOptions::new(OffsetDateTime::now_utc());
        let s = verify_export(&path, &opts).unwrap();
        assert!(s.verified.is_empty());
        assert_eq!(s.failed.len(), 2, "{s:?}");
        assert_eq!(s.failed[0].0, id.to_string());
        assert_eq!(s.failed[1].0, "notes.txt");
        assert!(!s.all_verified());
        let text = render_summary(&s);
        assert!(text.contains("0 verified, 2 failed"), "{text}");
        assert!(text.contains(&format!("failed: {id} notes.txt")), "{text}");
    }

    #[test]
    fn a_file_that_is_not_a_zip_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.zip");
        std::fs::write(&path, b"<html>proxy error</html>").unwrap();
        let opts = VerifyOptions::new(OffsetDateTime::now_utc());
        assert!(verify_export(&path, &opts).is_err());
        assert!(verify_export(&dir.path().join("missing.zip"), &opts).is_err());
    }

    #[test]
    fn an_empty_export_verifies_nothing_and_fails_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.zip");
        std::fs::write(&path, zip_of(&[])).unwrap();
        let s = verify_export(&path, &VerifyOptions::new(OffsetDateTime::now_utc())).unwrap();
        assert_eq!(s, ExportSummary::default());
        assert!(render_summary(&s).contains("0 verified, 0 failed"));
    }
}
