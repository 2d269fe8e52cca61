//! Runs every command of a bundle's README.txt with the real tools (`sha256sum`, `openssl`,
//! `python3`) in the unzipped bundle: all must succeed on the genuine bundle, and the commands
//! that check a part must fail once that part is altered.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::fixture::Fixture;
use super::readme::commands;
use super::zip_read::{ZipLimits, read_zip};

/// Unzips `files` into a fresh directory.
fn unzip(files: &BTreeMap<String, Vec<u8>>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

/// Runs one README command with `sh -c` in `dir`; returns whether it succeeded and its output.
fn run(dir: &Path, cmd: &str) -> (bool, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs every command in order; returns the ones that failed.
fn failures(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let readme = String::from_utf8(files["README.txt"].clone()).unwrap();
    let dir = unzip(files);
    commands(&readme)
        .into_iter()
        .filter(|c| !run(dir.path(), c).0)
        .map(str::to_owned)
        .collect()
}

/// The unzipped bundle: path to contents.
type Files = BTreeMap<String, Vec<u8>>;

fn files_of(fx: &Fixture) -> BTreeMap<String, Vec<u8>> {
    read_zip(&fx.zip(), &ZipLimits::default()).unwrap()
}

#[test]
fn every_readme_command_succeeds_on_a_genuine_bundle() {
    let fx = Fixture::new();
    let files = files_of(&fx);
    let readme = String::from_utf8(files["README.txt"].clone()).unwrap();
    let cmds = commands(&readme);
    // Every promised tool is exercised, for both entries.
    for needle in [
        "sha256sum -c SHA256SUMS",
        "openssl ts -verify -in entries/0/timestamp.tsr -token_in -data document.xml",
        "openssl ts -verify -in entries/1/timestamp.tsr -token_in -data entries/1/document.xml",
        "openssl verify -attime",
        "openssl dgst -sha256 -verify entries/0/public-key.pem",
        "openssl pkeyutl -verify -pubin -inkey entries/0/log-key.pem",
        "checkpoint-witness-1.msg",
        "later.msg",
        "python3 check_proof.py entries/1/entry.bin",
        "openssl crl -inform DER -in crl.der -noout -CAfile",
    ] {
        assert!(
            cmds.iter().any(|c| c.contains(needle)),
            "no command with {needle:?}"
        );
    }
    let dir = unzip(&files);
    for c in &cmds {
        let (ok, out) = run(dir.path(), c);
        assert!(ok, "README command failed: {c}\n{out}");
    }
    // The time-stamp text shows the token's time.
    let ts = std::fs::read_to_string(dir.path().join("entries/0/timestamp.txt")).unwrap();
    assert!(ts.contains("Time stamp:"), "{ts}");
}

#[test]
fn readme_commands_for_a_bundle_without_the_document_and_with_a_later_revocation() {
    let mut fx = Fixture::with_revocation(Some(time::Duration::hours(2)));
    fx.input.document = None;
    fx.input.entries[1].document = None;
    let files = files_of(&fx);
    let readme = String::from_utf8(files["README.txt"].clone()).unwrap();
    assert!(readme.contains("AFTER the time-stamp"));
    assert!(readme.contains("-digest "));
    assert_eq!(failures(&files), Vec::<String>::new());
}

#[test]
fn readme_commands_fail_on_altered_parts() {
    let fx = Fixture::new();
    let genuine = files_of(&fx);
    let check = |what: &str, f: &dyn Fn(&mut Files), must_fail: &[&str]| {
        let mut files = genuine.clone();
        f(&mut files);
        let failed = failures(&files);
        for m in must_fail {
            assert!(
                failed.iter().any(|c| c.contains(m)),
                "{what}: expected a failing command with {m:?}; failed: {failed:#?}"
            );
        }
    };
    let flip = |path: &'static str, at: usize| {
        move |files: &mut BTreeMap<String, Vec<u8>>| {
            let b = files.get_mut(path).unwrap();
            let i = at % b.len();
            b[i] ^= 0x01;
        }
    };
    check(
        "document",
        &flip("document.xml", 12),
        &[
            "sha256sum -c",
            "python3 check_proof.py entries/0/",
            "openssl ts -verify -in entries/0/",
            "openssl dgst -sha256 -verify entries/0/",
        ],
    );
    // The token's time-stamped digest (inside the signed TSTInfo).
    let token = |files: &mut BTreeMap<String, Vec<u8>>| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&files["document.xml"]).to_vec();
        let t = files.get_mut("entries/0/timestamp.tsr").unwrap();
        let at = t.windows(32).position(|w| w == digest.as_slice()).unwrap();
        t[at] ^= 0x01;
    };
    check(
        "token",
        &token,
        &[
            "sha256sum -c",
            "python3 check_proof.py entries/0/",
            "openssl ts -verify -in entries/0/",
        ],
    );
    check(
        "signature",
        &flip("entries/0/signature.der", 60),
        &[
            "python3 check_proof.py entries/0/",
            "openssl dgst -sha256 -verify entries/0/",
        ],
    );
    check(
        "entry",
        &flip("entries/0/entry.bin", 200),
        &["sha256sum -c", "python3 check_proof.py entries/0/"],
    );
    // A proof hash, with SHA256SUMS rewritten by a careful forger: the inclusion still fails.
    let proof_hash = |files: &mut BTreeMap<String, Vec<u8>>| {
        let text = String::from_utf8(files["entries/0/proof.tlog-proof"].clone()).unwrap();
        let line = text.lines().nth(2).unwrap().to_owned();
        let forged = format!(
            "{}{}",
            if line.starts_with('A') { "B" } else { "A" },
            &line[1..]
        );
        let text = text.replacen(&line, &forged, 1);
        files.insert("entries/0/proof.tlog-proof".into(), text.into_bytes());
        files.remove("SHA256SUMS");
        files.insert("SHA256SUMS".into(), Vec::new());
    };
    check(
        "proof hash",
        &proof_hash,
        &["python3 check_proof.py entries/0/"],
    );
    // A witness cosignature: its openssl check fails.
    let cosig = |files: &mut BTreeMap<String, Vec<u8>>| {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let text = String::from_utf8(files["entries/0/proof.tlog-proof"].clone()).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains(" w2.test "))
            .unwrap()
            .to_owned();
        let (head, sig) = line.rsplit_once(' ').unwrap();
        let mut raw = b64.decode(sig).unwrap();
        raw[20] ^= 1;
        let text = text.replacen(&line, &format!("{head} {}", b64.encode(&raw)), 1);
        files.insert("entries/0/proof.tlog-proof".into(), text.into_bytes());
    };
    check("cosignature", &cosig, &["checkpoint-witness-1.sig"]);
    // The certificate swapped for the notary's issuing CA certificate: openssl verify and the
    // entry binding fail.
    let cert = |files: &mut BTreeMap<String, Vec<u8>>| {
        let issuing = crate::identity::pki::pem_cert(&fx.pki.issuing.cert_der);
        files.insert("entries/0/certificate.pem".into(), issuing.into_bytes());
    };
    check(
        "certificate",
        &cert,
        &[
            "python3 check_proof.py entries/0/",
            "openssl dgst -sha256 -verify entries/0/",
        ],
    );
    // A certificate from another notary: openssl verify refuses the chain.
    let other = crate::identity::pki::NotaryPki::generate().unwrap();
    let foreign = |files: &mut BTreeMap<String, Vec<u8>>| {
        let pem = crate::identity::pki::pem_cert(&other.issuing.cert_der);
        files.insert("entries/0/chain.pem".into(), pem.into_bytes());
    };
    check("chain", &foreign, &["openssl verify -attime"]);
    // A CRL from another CA: its signature check fails.
    let crl = |files: &mut BTreeMap<String, Vec<u8>>| {
        files.insert("crl.der".into(), other.crl(1, &[]).unwrap());
    };
    check(
        "crl",
        &crl,
        &["openssl crl -inform DER -in crl.der -noout -CAfile entries/0/"],
    );
}

#[test]
fn readme_for_a_revocation_before_the_time_stamp_says_so() {
    let fx = Fixture::with_revocation(Some(-time::Duration::minutes(1)));
    let files = files_of(&fx);
    let readme = String::from_utf8(files["README.txt"].clone()).unwrap();
    assert!(readme.contains("AT OR BEFORE the time-stamp: the signature is NOT valid"));
}

/// The bundle's Python checker agrees with the transparency-dev Merkle vectors (inclusion and
/// consistency, valid and invalid), independently of the Rust implementation.
#[test]
fn python_checker_agrees_with_merkle_vectors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let harness = r#"
import base64, glob, json, os, sys
sys.path.insert(0, sys.argv[1])
import check_proof as c
b = lambda s: base64.b64decode(s) if s else b""
n = bad = 0
for path in glob.glob(os.path.join(sys.argv[2], "inclusion", "*", "*.json")):
    v = json.load(open(path))
    try:
        ok = c.root_from_inclusion(v["leafIdx"], v["treeSize"], b(v["leafHash"]),
                                   [b(h) for h in v["proof"] or []]) == b(v["root"])
    except SystemExit:
        ok = False
    n += 1
    if ok == v["wantErr"]:
        bad += 1; print("MISMATCH", path)
for path in glob.glob(os.path.join(sys.argv[2], "consistency", "*", "*.json")):
    v = json.load(open(path))
    ok = c.check_consistency(v["size1"], v["size2"], b(v["root1"]), b(v["root2"]),
                             [b(h) for h in v["proof"] or []])
    n += 1
    if ok == v["wantErr"]:
        bad += 1; print("MISMATCH", path)
print("VECTORS", n, "MISMATCHES", bad)
sys.exit(1 if bad or n < 150 else 0)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(harness)
        .arg(root.join("templates"))
        .arg(root.join("tests/data/merkle"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("MISMATCHES 0"), "{text}");
}
