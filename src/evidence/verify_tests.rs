//! End-to-end tests of the builder and verifier on a realistic bundle: everything passes, then
//! each part is altered in turn and the verifier must fail naming that part.

use std::collections::BTreeMap;

use time::Duration;

use super::fixture::{CREDIT_NOTE, Fixture, INVOICE};
use super::manifest::Manifest;
use super::report::{Report, Status, Verdict};
use super::verify::{VerifyOptions, verify_bundle};
use super::zip_read::{ZipLimits, read_zip};
use super::zip_write::write_zip;

fn sha256_hex(d: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(d))
}

/// Unzips, lets `f` change the files, and rezips; with `fix_manifest` the manifest's digests
/// are brought up to date, as a careful forger would.
fn tamper(
    zip: &[u8],
    fix_manifest: bool,
    f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
) -> Vec<u8> {
    let mut files = read_zip(zip, &ZipLimits::default()).unwrap();
    f(&mut files);
    if fix_manifest {
        let mut m = Manifest::parse(&files["manifest.json"]).unwrap();
        for mf in &mut m.files {
            if let Some(b) = files.get(&mf.path) {
                mf.sha256 = sha256_hex(b);
            }
        }
        files.insert("manifest.json".into(), m.to_json().unwrap());
    }
    write_zip(&files.into_iter().collect::<Vec<_>>()).unwrap()
}

fn replace(files: &mut BTreeMap<String, Vec<u8>>, path: &str, from: &str, to: &str) {
    let text = String::from_utf8(files[path].clone()).unwrap();
    assert!(text.contains(from), "{path} lacks {from:?}");
    files.insert(path.into(), text.replacen(from, to, 1).into_bytes());
}

fn failed(report: &Report) -> Vec<(String, String)> {
    report
        .with_status(Status::Fail)
        .map(|c| (c.id.clone(), c.part.clone()))
        .collect()
}

/// Asserts the report failed and that a check with id `id` (of part `part`) is among the
/// failures.
fn assert_fails(report: &Report, id: &str, part: &str) {
    assert_eq!(report.verdict(), Verdict::Tampered, "{}", report.to_text());
    let f = failed(report);
    assert!(
        f.iter().any(|(i, p)| i == id && p == part),
        "expected {id} ({part}) to fail; failures: {f:?}\n{}",
        report.to_text()
    );
}

#[test]
fn genuine_bundle_verifies() {
    let fx = Fixture::new();
    let zip = fx.zip();
    let report = verify_bundle(&zip, &fx.options());
    assert_eq!(report.verdict(), Verdict::Verified, "{}", report.to_text());
    assert!(report.warnings.is_empty());
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    for id in [
        "manifest/hashes",
        "entries/0/entry",
        "entries/0/document",
        "entries/0/signature",
        "entries/0/timestamp",
        "entries/0/certificate",
        "entries/0/revocation",
        "entries/0/checkpoint",
        "entries/0/inclusion",
        "entries/0/witnesses",
        "entries/0/consistency",
        "entries/1/document",
        "entries/1/consistency",
        "document",
        "manifest/summary",
    ] {
        assert!(ids.contains(&id), "missing check {id}: {ids:?}");
    }
    // The bundle's files are where the documentation says.
    let files = read_zip(&zip, &ZipLimits::default()).unwrap();
    assert_eq!(files["document.xml"], INVOICE);
    assert_eq!(files["entries/1/document.xml"], CREDIT_NOTE);
    for f in [
        "manifest.json",
        "SHA256SUMS",
        "README.txt",
        "certificate.html",
        "roots.pem",
        "log.vkey",
        "witness-policy.txt",
        "crl.der",
        "consistency.json",
        "checkpoint-later.txt",
        "check_proof.py",
        "entries/0/entry.bin",
        "entries/0/signature.der",
        "entries/0/certificate.pem",
        "entries/0/chain.pem",
        "entries/0/timestamp.tsr",
        "entries/0/proof.tlog-proof",
    ] {
        assert!(files.contains_key(f), "{f} missing");
    }
    let m = Manifest::parse(&files["manifest.json"]).unwrap();
    assert_eq!(m.record.log_index, 5);
    assert_eq!(m.entries[1].log_index, 8);
    assert_eq!(m.record.document_sha256, sha256_hex(INVOICE));
    // The token is bare: its SHA-256 is the one the entry names (offset-free check).
    assert_eq!(m.files.len(), files.len() - 1);
    let html = String::from_utf8(files["certificate.html"].clone()).unwrap();
    assert!(html.contains("存证证书") && html.contains(&sha256_hex(INVOICE)));
    assert!(html.contains("平安财产保险 Ping An P&amp;C"));
    assert!(html.contains("w1.test ("));

    // The same bundle without a document from the caller still verifies, digest-only for the
    // invoice from the bundle's own copy.
    let mut opts = fx.options();
    opts.document = None;
    assert_eq!(verify_bundle(&zip, &opts).verdict(), Verdict::Verified);
}

#[test]
fn trust_must_come_from_the_caller_or_be_flagged() {
    let fx = Fixture::new();
    let zip = fx.zip();
    let now = fx.options().now;
    let bare = verify_bundle(&zip, &VerifyOptions::new(now));
    assert_eq!(bare.verdict(), Verdict::Incomplete, "{}", bare.to_text());
    assert_eq!(bare.verdict().exit_code(), 2);
    let cannot: Vec<&str> = bare
        .with_status(Status::CannotCheck)
        .map(|c| c.part.as_str())
        .collect();
    for part in [
        "timestamp",
        "certificate",
        "checkpoint",
        "witnesses",
        "consistency",
    ] {
        assert!(cannot.contains(&part), "{part}: {cannot:?}");
    }
    // Pure math needs no trust: the signature and the inclusion still pass.
    assert!(
        bare.checks
            .iter()
            .any(|c| c.id == "entries/0/signature" && c.status == Status::Pass)
    );

    let mut opts = VerifyOptions::new(now);
    opts.trust_bundle_roots = true;
    let r = verify_bundle(&zip, &opts);
    assert_eq!(r.verdict(), Verdict::Verified, "{}", r.to_text());
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("TRUSTING THE BUNDLE'S OWN ROOT CERTIFICATES"));
    assert!(r.to_text().starts_with("WARNING"));
    assert!(r.to_json().contains("TRUSTING"));

    // The caller's roots win over the bundle's: another notary's root fails the bundle.
    let other = crate::identity::pki::NotaryPki::generate().unwrap();
    let mut opts = fx.options();
    opts.trust_roots = Some(vec![other.root.cert_der.clone()]);
    opts.trust_bundle_roots = true;
    let r = verify_bundle(&zip, &opts);
    assert_fails(&r, "entries/0/timestamp", "timestamp");
    // And another log key fails the checkpoint.
    let mut opts = fx.options();
    opts.log_key = Some(
        crate::ledger::Ed25519Signer::generate(super::fixture::ORIGIN, crate::ledger::ALG_ED25519)
            .unwrap()
            .verifier()
            .to_vkey(),
    );
    assert_fails(
        &verify_bundle(&zip, &opts),
        "entries/0/checkpoint",
        "checkpoint",
    );
}

#[test]
fn altered_document_fails() {
    let fx = Fixture::new();
    let zip = fx.zip();
    // The caller's copy differs from the record's.
    let mut opts = fx.options();
    let mut doc = INVOICE.to_vec();
    doc[10] ^= 1;
    opts.document = Some(doc.clone());
    assert_fails(&verify_bundle(&zip, &opts), "document", "document");
    // The bundle's copy was altered (manifest brought up to date).
    let bad = tamper(&zip, true, |f| {
        f.insert("document.xml".into(), doc.clone());
    });
    let mut opts = fx.options();
    opts.document = None;
    let r = verify_bundle(&bad, &opts);
    assert_fails(&r, "entries/0/document", "document");
    // Without fixing the manifest, its hashes fail too.
    let bad = tamper(&zip, false, |f| {
        f.insert("document.xml".into(), doc);
    });
    assert_fails(&verify_bundle(&bad, &opts), "manifest/hashes", "manifest");
}

#[test]
fn altered_entry_fails() {
    let fx = Fixture::new();
    let zip = fx.zip();
    // Change the detail text: still a valid entry, but not the one in the log.
    let bad = tamper(&zip, true, |f| {
        let e = f.get_mut("entries/0/entry.bin").unwrap();
        let n = e.len();
        e[n - 1] ^= 0x01;
    });
    let r = verify_bundle(&bad, &fx.options());
    assert_fails(&r, "entries/0/inclusion", "inclusion");
    // Garbage: does not decode.
    let bad = tamper(&zip, true, |f| {
        f.insert("entries/0/entry.bin".into(), vec![9, 9, 9]);
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/entry",
        "entry",
    );
}

#[test]
fn altered_token_fails() {
    let fx = Fixture::new();
    let zip = fx.zip();
    let bad = tamper(&zip, true, |f| {
        let t = f.get_mut("entries/0/timestamp.tsr").unwrap();
        let n = t.len();
        t[n / 2] ^= 0x01;
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/timestamp",
        "timestamp",
    );
    // Swapping in the credit note's (valid) token is caught too.
    let bad = tamper(&zip, true, |f| {
        let other = f["entries/1/timestamp.tsr"].clone();
        f.insert("entries/0/timestamp.tsr".into(), other);
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/timestamp",
        "timestamp",
    );
}

#[test]
fn altered_proof_checkpoint_and_cosignature_fail() {
    let fx = Fixture::new();
    let zip = fx.zip();
    let files = read_zip(&zip, &ZipLimits::default()).unwrap();
    let proof_text = String::from_utf8(files["entries/0/proof.tlog-proof"].clone()).unwrap();
    let proof = crate::ledger::TlogProof::parse(proof_text.as_bytes()).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;

    // A proof hash.
    let h = b64.encode(proof.proof[1]);
    let mut other = proof.proof[1];
    other[0] ^= 1;
    let bad = tamper(&zip, true, |f| {
        replace(f, "entries/0/proof.tlog-proof", &h, &b64.encode(other));
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/inclusion",
        "inclusion",
    );

    // The checkpoint's root: the log's signature no longer holds.
    let (_, cp_body) = proof_text.split_once("\n\n").unwrap();
    let root_line = cp_body.lines().nth(2).unwrap().to_owned();
    let mut root = b64.decode(&root_line).unwrap();
    root[0] ^= 1;
    let bad = tamper(&zip, true, |f| {
        replace(
            f,
            "entries/0/proof.tlog-proof",
            &root_line,
            &b64.encode(&root),
        );
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/checkpoint",
        "checkpoint",
    );

    // A witness cosignature line.
    let sig_line = cp_body
        .lines()
        .find(|l| l.starts_with("\u{2014} w1.test "))
        .unwrap()
        .to_owned();
    let (prefix, sig) = sig_line.rsplit_once(' ').unwrap();
    let mut raw = b64.decode(sig).unwrap();
    let n = raw.len();
    raw[n - 1] ^= 1;
    let forged = format!("{prefix} {}", b64.encode(&raw));
    let bad = tamper(&zip, true, |f| {
        replace(f, "entries/0/proof.tlog-proof", &sig_line, &forged);
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/witnesses",
        "witnesses",
    );

    // The later checkpoint: consistency fails.
    let bad = tamper(&zip, true, |f| {
        let later = String::from_utf8(f["checkpoint-later.txt"].clone()).unwrap();
        let line = later.lines().nth(1).unwrap().to_owned();
        replace(f, "checkpoint-later.txt", &format!("\n{line}\n"), "\n12\n");
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/consistency",
        "consistency",
    );
    // A consistency hash.
    let bad = tamper(&zip, true, |f| {
        let json = String::from_utf8(f["consistency.json"].clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let h = v["proofs"][0]["hashes"][0].as_str().unwrap().to_owned();
        let mut raw = b64.decode(&h).unwrap();
        raw[0] ^= 1;
        replace(f, "consistency.json", &h, &b64.encode(&raw));
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/consistency",
        "consistency",
    );
}

#[test]
fn altered_certificate_and_signature_fail() {
    let fx = Fixture::new();
    let zip = fx.zip();
    // Another organisation's genuine certificate from the same notary.
    let key = crate::identity::pki::new_key().unwrap();
    let other = fx
        .pki
        .issue_org_cert(
            &crate::identity::pki::OrgSubject {
                org_id: uuid::Uuid::new_v4(),
                name: "Other".into(),
                tax_id: None,
            },
            &rcgen::PublicKeyData::subject_public_key_info(&key),
            30,
            "http://x/crl",
        )
        .unwrap();
    let bad = tamper(&zip, true, |f| {
        f.insert(
            "entries/0/certificate.pem".into(),
            crate::identity::pki::pem_cert(&other.der).into_bytes(),
        );
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/certificate",
        "certificate",
    );

    let bad = tamper(&zip, true, |f| {
        let s = f.get_mut("entries/0/signature.der").unwrap();
        let n = s.len();
        s[n - 1] ^= 1;
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/signature",
        "signature",
    );

    // The chain file replaced by a forged issuing CA of the same name.
    let forged = crate::identity::pki::NotaryPki::generate().unwrap();
    let bad = tamper(&zip, true, |f| {
        f.insert(
            "entries/0/chain.pem".into(),
            crate::identity::pki::pem_cert(&forged.issuing.cert_der).into_bytes(),
        );
    });
    let r = verify_bundle(&bad, &fx.options());
    assert_fails(&r, "entries/0/certificate", "certificate");
}

#[test]
fn altered_manifest_fails() {
    let fx = Fixture::new();
    let zip = fx.zip();
    let bad = tamper(&zip, false, |f| {
        replace(f, "manifest.json", "\"log_index\": 5", "\"log_index\": 6");
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "manifest/summary",
        "manifest",
    );
    let bad = tamper(&zip, false, |f| {
        let m = Manifest::parse(&f["manifest.json"]).unwrap();
        let sums = m.digest_of("SHA256SUMS").unwrap().to_owned();
        replace(f, "manifest.json", &sums, &"0".repeat(64));
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "manifest/hashes",
        "manifest",
    );
    // An extra file the manifest does not list.
    let bad = tamper(&zip, false, |f| {
        f.insert("extra.txt".into(), b"hi".to_vec());
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "manifest/hashes",
        "manifest",
    );
    // No manifest: not a bundle, cannot check.
    let bad = tamper(&zip, false, |f| {
        f.remove("manifest.json");
    });
    let r = verify_bundle(&bad, &fx.options());
    assert_eq!(r.verdict(), Verdict::Incomplete);
}

#[test]
fn revocation_counts_from_its_time() {
    // Revoked an hour after the time-stamp: the record still verifies.
    let fx = Fixture::with_revocation(Some(Duration::hours(1)));
    let r = verify_bundle(&fx.zip(), &fx.options());
    assert_eq!(r.verdict(), Verdict::Verified, "{}", r.to_text());
    let rev = r
        .checks
        .iter()
        .find(|c| c.id == "entries/0/revocation")
        .unwrap();
    assert!(
        rev.reason.contains("after the time-stamp"),
        "{}",
        rev.reason
    );
    // Revoked a minute before it: the signature is not valid.
    let fx = Fixture::with_revocation(Some(-Duration::minutes(1)));
    let r = verify_bundle(&fx.zip(), &fx.options());
    assert_fails(&r, "entries/0/revocation", "revocation");
    // A CRL signed by someone else is refused.
    let fx = Fixture::new();
    let other = crate::identity::pki::NotaryPki::generate().unwrap();
    let bad = tamper(&fx.zip(), true, |f| {
        f.insert("crl.der".into(), other.crl(1, &[]).unwrap());
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/revocation",
        "revocation",
    );
}

#[test]
fn unreadable_bundles_cannot_be_checked() {
    let fx = Fixture::new();
    for bytes in [Vec::new(), b"PK\x03\x04garbage".to_vec(), vec![0u8; 100]] {
        let r = verify_bundle(&bytes, &fx.options());
        assert_eq!(r.verdict(), Verdict::Incomplete);
        assert_eq!(r.checks[0].part, "bundle");
    }
    // A path traversal name inside an otherwise genuine bundle.
    let mut files: Vec<(String, Vec<u8>)> = read_zip(&fx.zip(), &ZipLimits::default())
        .unwrap()
        .into_iter()
        .collect();
    files.push(("x".into(), vec![]));
    let mut zip = write_zip(&files).unwrap();
    // Rename "x" to "/" in both headers: same length, so offsets hold.
    let pos: Vec<usize> = zip
        .windows(1)
        .enumerate()
        .filter(|(_, w)| w[0] == b'x')
        .map(|(i, _)| i)
        .collect();
    for p in pos.iter().rev().take(2) {
        zip[*p] = b'/';
    }
    let r = verify_bundle(&zip, &fx.options());
    assert_eq!(r.verdict(), Verdict::Incomplete, "{}", r.to_text());
}

#[test]
fn builder_refuses_inconsistent_input() {
    let fx = Fixture::new();
    let mut input = fx.input.clone();
    input.entries[0].token_der = input.entries[1].token_der.clone();
    assert!(super::build_bundle(&input).is_err());
    let mut input = fx.input.clone();
    input.document.as_mut().unwrap().bytes.push(b' ');
    assert!(super::build_bundle(&input).is_err());
    let mut input = fx.input.clone();
    input.entries.swap(0, 1);
    assert!(super::build_bundle(&input).is_err());
    let mut input = fx.input.clone();
    input.document.as_mut().unwrap().extension = "../x".into();
    assert!(super::build_bundle(&input).is_err());
    let mut input = fx.input.clone();
    input.entries.clear();
    assert!(super::build_bundle(&input).is_err());
}

mod fuzz {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;

    /// One genuine bundle and its options, made once for all cases.
    fn genuine() -> &'static (Vec<u8>, VerifyOptions) {
        static G: OnceLock<(Vec<u8>, VerifyOptions)> = OnceLock::new();
        G.get_or_init(|| {
            let fx = Fixture::new();
            (fx.zip(), fx.options())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random byte flips and truncation of the zip itself: never a panic, never "verified".
        #[test]
        fn mutated_zip_never_panics(
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..6),
            cut in 0usize..64,
        ) {
            let (zip, opts) = genuine();
            let mut z = zip.clone();
            for (at, v) in flips {
                let n = z.len();
                z[at % n] ^= v;
            }
            let keep = z.len() - cut.min(z.len());
            z.truncate(keep);
            let r = verify_bundle(&z, opts);
            // A flip may land in unused bytes (e.g. a zip comment or a timestamp) and change
            // nothing the verifier reads; what it must never do is panic or pass a changed
            // member.
            prop_assert!(r.verdict() != Verdict::Verified || read_zip(&z, &ZipLimits::default())
                .map(|f| f == read_zip(zip, &ZipLimits::default()).unwrap())
                .unwrap_or(false));
        }

        /// Random changes inside one member (manifest fixed up): never a panic, never
        /// "verified".
        #[test]
        fn mutated_member_is_never_verified(
            member in 0usize..64,
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
            cut in 0usize..8,
        ) {
            let (zip, opts) = genuine();
            let mut chosen = String::new();
            let bad = tamper(zip, true, |f| {
                let names: Vec<String> = f
                    .keys()
                    .filter(|k| {
                        // Files the verifier does not use: README, page, checker, SHA256SUMS,
                        // and the trust copies (not trusted without --trust-bundle-roots).
                        ![
                            "README.txt", "certificate.html", "check_proof.py", "SHA256SUMS",
                            "manifest.json", "roots.pem", "log.vkey", "witness-policy.txt",
                        ]
                        .contains(&k.as_str())
                    })
                    .cloned()
                    .collect();
                chosen = names[member % names.len()].clone();
                let b = f.get_mut(&chosen).unwrap();
                for (at, v) in &flips {
                    if !b.is_empty() {
                        let n = b.len();
                        b[at % n] ^= v;
                    }
                }
                let keep = b.len() - cut.min(b.len());
                b.truncate(keep);
            });
            let r = verify_bundle(&bad, opts);
            if r.verdict() == Verdict::Verified {
                // Only a change that means the same may pass: JSON whitespace, PEM line breaks.
                let before = &read_zip(zip, &ZipLimits::default()).unwrap()[&chosen];
                let after = &read_zip(&bad, &ZipLimits::default()).unwrap()[&chosen];
                let same = if chosen.ends_with(".json") {
                    serde_json::from_slice::<serde_json::Value>(before).ok()
                        == serde_json::from_slice::<serde_json::Value>(after).ok()
                } else if chosen.ends_with(".pem") {
                    pem::parse_many(before).ok() == pem::parse_many(after).ok()
                } else {
                    false
                };
                prop_assert!(same, "{} altered, yet verified:\n{}", chosen, r.to_text());
            }
        }
    }
}

#[test]
fn altered_document_copy_fails_even_when_the_caller_has_the_right_one() {
    let fx = Fixture::new();
    let zip = fx.zip();
    // A forger alters the bundle's copy and drops it from the manifest's entry summary.
    let bad = tamper(&zip, true, |f| {
        let d = f.get_mut("entries/1/document.xml").unwrap();
        d[3] ^= 1;
        replace(
            f,
            "manifest.json",
            "\"document_file\": \"entries/1/document.xml\"",
            "\"document_file\": null",
        );
    });
    let r = verify_bundle(&bad, &fx.options());
    assert_fails(&r, "entries/1/document", "document");
    let bad = tamper(&zip, true, |f| {
        f.get_mut("document.xml").unwrap()[3] ^= 1;
    });
    assert_fails(
        &verify_bundle(&bad, &fx.options()),
        "entries/0/document",
        "document",
    );
}
