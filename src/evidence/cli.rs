//! `notarium verify BUNDLE.zip [--document FILE] [--trust ROOTS.pem] [--log-key KEY]
//! [--witness-policy FILE] [--json] [--trust-bundle-roots]`: offline, no network. Prints one
//! line per check (or the report as JSON); exit 0 only when every check passes, 1 when one
//! failed (tampered or invalid), 2 when something could not be checked (missing inputs,
//! unreadable bundle or arguments).

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::policy::parse_policy;
use super::report::{Report, Status, Verdict};
use super::verify::{VerifyOptions, verify_bundle};
use super::zip_read::ZipLimits;

/// The `verify` subcommand's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The evidence bundle (zip).
    pub bundle: PathBuf,
    /// The document, to check it is the one notarized.
    #[arg(long)]
    pub document: Option<PathBuf>,
    /// Trusted notary root certificates (PEM).
    #[arg(long)]
    pub trust: Option<PathBuf>,
    /// The log's verifier key: the key text itself, or a file holding it.
    #[arg(long)]
    pub log_key: Option<String>,
    /// Witness policy file (`threshold K` and `witness <vkey>` lines).
    #[arg(long)]
    pub witness_policy: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Trust the roots, log key and witness policy inside the bundle for what is not given.
    #[arg(long)]
    pub trust_bundle_roots: bool,
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > cap {
        return Err(format!("{}: larger than {cap} bytes", path.display()));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Turns the arguments into verifier options.
pub fn options(args: &VerifyArgs, now: OffsetDateTime) -> Result<VerifyOptions, String> {
    let mut opts = VerifyOptions::new(now);
    opts.trust_bundle_roots = args.trust_bundle_roots;
    if let Some(p) = &args.document {
        opts.document = Some(read_capped(p, ZipLimits::default().max_member_bytes)?);
    }
    if let Some(p) = &args.trust {
        let pem = read_capped(p, 1024 * 1024)?;
        let mut roots = Vec::new();
        for block in pem::parse_many(&pem).map_err(|e| format!("{}: {e}", p.display()))? {
            if block.tag() == "CERTIFICATE" {
                roots.push(block.into_contents());
            }
        }
        if roots.is_empty() {
            return Err(format!("{}: no CERTIFICATE in it", p.display()));
        }
        opts.trust_roots = Some(roots);
    }
    if let Some(k) = &args.log_key {
        // A key text has two '+'; anything else is taken as a file name.
        let text = if k.matches('+').count() >= 2 && !Path::new(k).exists() {
            k.clone()
        } else {
            String::from_utf8(read_capped(Path::new(k), 64 * 1024)?)
                .map_err(|_| format!("{k}: not text"))?
        };
        opts.log_key = Some(text.trim().to_owned());
    }
    if let Some(p) = &args.witness_policy {
        let text = read_capped(p, 64 * 1024)?;
        opts.witness_policy =
            Some(parse_policy(&text).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    Ok(opts)
}

/// Runs the verification and renders the output; returns `(output, exit code)`.
pub fn run_verify(args: &VerifyArgs, now: OffsetDateTime) -> (String, u8) {
    let report = match options(args, now).and_then(|opts| {
        let zip = read_capped(&args.bundle, ZipLimits::default().max_zip_bytes as u64)?;
        Ok(verify_bundle(&zip, &opts))
    }) {
        Ok(r) => r,
        Err(e) => {
            let mut r = Report::default();
            r.push("arguments", "bundle", None, Status::CannotCheck, e);
            r
        }
    };
    let out = if args.json {
        format!("{}\n", report.to_json())
    } else {
        report.to_text()
    };
    let code = report.verdict().exit_code();
    debug_assert!(code != 0 || report.verdict() == Verdict::Verified);
    (out, code)
}

/// The `notarium verify` entry point: prints the report and returns the process exit code.
pub fn main(args: &VerifyArgs) -> std::process::ExitCode {
    let (out, code) = run_verify(args, OffsetDateTime::now_utc());
    print!("{out}");
    std::process::ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fixture::{Fixture, INVOICE};
    use crate::evidence::policy::policy_text;
    use crate::identity::pki::pem_cert;

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let p = self.dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        }
    }

    fn args(bundle: PathBuf) -> VerifyArgs {
        VerifyArgs {
            bundle,
            document: None,
            trust: None,
            log_key: None,
            witness_policy: None,
            json: false,
            trust_bundle_roots: false,
        }
    }

    #[test]
    fn exit_codes_and_output() {
        let fx = Fixture::new();
        let f = Files {
            dir: tempfile::tempdir().unwrap(),
        };
        let bundle = f.write("bundle.zip", &fx.zip());
        let now = fx.options().now;
        let mut full = args(bundle.clone());
        full.document = Some(f.write("invoice.xml", INVOICE));
        full.trust = Some(f.write("roots.pem", pem_cert(&fx.pki.root.cert_der).as_bytes()));
        full.log_key = Some(fx.log.verifier().to_vkey());
        let keys: Vec<String> = fx
            .witnesses
            .iter()
            .map(|w| w.verifier().to_vkey())
            .collect();
        full.witness_policy = Some(f.write("policy.txt", policy_text(2, &keys).as_bytes()));

        let (out, code) = run_verify(&full, now);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("PASS") && l.contains("entries/0/timestamp"))
        );
        assert!(out.contains("VERIFIED"));

        // The log key from a file works the same.
        let mut from_file = full.clone();
        from_file.log_key = Some(
            f.write(
                "log.vkey",
                format!("{}\n", fx.log.verifier().to_vkey()).as_bytes(),
            )
            .display()
            .to_string(),
        );
        assert_eq!(run_verify(&from_file, now).1, 0);

        // JSON.
        let mut json = full.clone();
        json.json = true;
        let (out, code) = run_verify(&json, now);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["verdict"], "verified");
        assert!(v["checks"].as_array().unwrap().len() > 20);

        // Another document: tampered, exit 1.
        let mut wrong = full.clone();
        wrong.document = Some(f.write("other.xml", b"<Invoice/>"));
        let (out, code) = run_verify(&wrong, now);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("FAIL") && l.contains("document"))
        );

        // Nothing trusted: cannot check, exit 2.
        let (out, code) = run_verify(&args(bundle.clone()), now);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("CANNOT-CHECK"));

        // Trusting the bundle: verified, with the warning first and last.
        let mut own = args(bundle.clone());
        own.trust_bundle_roots = true;
        let (out, code) = run_verify(&own, now);
        assert_eq!(code, 0, "{out}");
        assert!(out.starts_with("WARNING  TRUSTING THE BUNDLE'S OWN"));
        assert!(
            out.trim_end()
                .lines()
                .last()
                .unwrap()
                .starts_with("WARNING")
        );

        // Unreadable bundle and missing files: exit 2.
        let junk = f.write("junk.zip", b"not a zip");
        assert_eq!(run_verify(&args(junk), now).1, 2);
        assert_eq!(
            run_verify(&args(f.dir.path().join("missing.zip")), now).1,
            2
        );
        let mut bad_policy = full.clone();
        bad_policy.witness_policy = Some(f.write("bad.txt", b"threshold x\n"));
        assert_eq!(run_verify(&bad_policy, now).1, 2);
    }
}
