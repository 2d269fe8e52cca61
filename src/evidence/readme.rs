//! `README.txt`: step-by-step checks of every part of a bundle with standard tools
//! (coreutils, OpenSSL 3, Python 3). Lines starting with `  $ ` are commands, run from the
//! unzipped folder; every one exits 0 on a genuine bundle, and the tests run them all.

use time::OffsetDateTime;

use super::certificate::format_utc;
use super::manifest::names;

/// Marks a command line in the README.
pub const COMMAND_PREFIX: &str = "  $ ";

/// What the README needs to know about one entry.
#[derive(Debug, Clone)]
pub struct ReadmeEntry {
    /// Its number (folder `entries/<n>`).
    pub number: usize,
    /// Kind word.
    pub kind: String,
    /// Its document's file in the bundle, if there.
    pub document_file: Option<String>,
    /// Its document's SHA-256, hex.
    pub document_sha256: String,
    /// Whether `chain.pem` is there.
    pub has_chain: bool,
    /// The token time.
    pub token_time: OffsetDateTime,
    /// The signer certificate's serial, hex.
    pub serial_hex: String,
    /// When the CRL says the certificate was revoked, if it lists it.
    pub revoked_at: Option<OffsetDateTime>,
    /// Whether a consistency proof to the later checkpoint exists for it.
    pub has_consistency: bool,
    /// Indexes (in the policy file) of the witnesses that cosigned its checkpoint.
    pub cosigned_by: Vec<usize>,
    /// Indexes of the witnesses that cosigned the later checkpoint.
    pub later_cosigned_by: Vec<usize>,
}

/// What the README needs to know about the bundle.
#[derive(Debug, Clone)]
pub struct ReadmeFacts {
    /// Record id.
    pub record_id: String,
    /// The log's origin.
    pub origin: String,
    /// Whether `crl.der` is there.
    pub has_crl: bool,
    /// Number of witness keys in the policy.
    pub witnesses: usize,
    /// The entries.
    pub entries: Vec<ReadmeEntry>,
}

fn cmd(out: &mut String, c: &str) {
    out.push_str(COMMAND_PREFIX);
    out.push_str(c);
    out.push('\n');
}

fn para(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

/// The README text.
pub fn readme_text(f: &ReadmeFacts) -> String {
    let mut o = String::new();
    para(
        &mut o,
        &format!("notarium evidence bundle — record {}", f.record_id),
    );
    para(&mut o, &"=".repeat(70));
    para(
        &mut o,
        "This bundle shows that the document(s) below were signed by an organisation's \
certified key,\ntime-stamped (RFC 3161) and committed to the append-only log \
(RFC 6962 / C2SP tlog) of\nthe notary. It can be checked offline in two ways:\n\n\
  a) notarium verify bundle.zip --trust ROOTS.pem --log-key LOG.vkey --witness-policy FILE\n\
  b) by hand, with coreutils, OpenSSL 3 and Python 3, as below.\n\n\
Unzip the bundle and run each line that starts with \"$\" in the unzipped folder (a POSIX\n\
shell). Every one must succeed (exit status 0); any failure means that part does not hold.\n\n\
TRUST: roots.pem, log.vkey and witness-policy.txt are copies for convenience. Obtain the\n\
notary's root certificate, log key and the witnesses' keys independently (the notary's\n\
website, GET /v1/ca, the witnesses themselves) and compare them with these files first;\n\
the checks below prove nothing more than those keys do.\n\n\
manifest.json describes every file; the record's ledger entry (entries/0/entry.bin) is the\n\
anchor: it names the SHA-256 of the document, of the time-stamp token and of the signer\n\
certificate, and carries the signature. docs/ledger-format.md of notarium gives its layout.",
    );
    para(&mut o, "");
    para(
        &mut o,
        "Step 1. Every file is intact (digests also listed in manifest.json):",
    );
    cmd(&mut o, &format!("sha256sum -c {}", names::SUMS));
    for e in &f.entries {
        readme_entry(&mut o, f, e);
    }
    para(&mut o, "");
    para(
        &mut o,
        "If every command above succeeded, each entry is signed with a certificate of the notary's \
PKI that\nwas valid and unrevoked at the time-stamp, the time-stamp covers the document, and the \
entry is\nin the log under a checkpoint the log signed and the witnesses cosigned.",
    );
    o
}

fn readme_entry(o: &mut String, f: &ReadmeFacts, e: &ReadmeEntry) {
    let d = format!("entries/{}", e.number);
    let untrusted = if e.has_chain {
        format!(" -untrusted {d}/{}", names::CHAIN)
    } else {
        String::new()
    };
    para(o, "");
    para(o, &format!("Entry {} ({}) — folder {d}/", e.number, e.kind));
    para(o, &"-".repeat(70));
    para(
        o,
        &format!(
            "Document SHA-256: {}{}",
            e.document_sha256,
            match &e.document_file {
                Some(p) => format!(" (file {p})"),
                None => " (the document is not in this bundle: use your copy)".into(),
            }
        ),
    );
    para(o, &format!("Time-stamp: {}", format_utc(e.token_time)));
    para(o, "");
    para(
        o,
        "Step 2. The entry names this document, token, certificate and signature, and it is in \
the log\n(inclusion proof up to the checkpoint's root, RFC 9162; only Python's hashlib). It also \
writes\nthe checkpoint's signed message and the log key for step 3:",
    );
    let mut py = format!(
        "python3 {} {d}/{} {d}/{} --token {d}/{} --certificate {d}/{} --signature {d}/{} \
--log-key {} --witness-policy {}",
        names::CHECK_PROOF,
        names::ENTRY,
        names::PROOF,
        names::TOKEN,
        names::SIGNER_CERT,
        names::SIGNATURE,
        names::LOG_KEY,
        names::WITNESS_POLICY
    );
    if let Some(doc) = &e.document_file {
        py.push_str(&format!(" --document {doc}"));
    }
    if e.has_consistency {
        py.push_str(&format!(
            " --consistency {} --later {} --entry-number {}",
            names::CONSISTENCY,
            names::LATER_CHECKPOINT,
            e.number
        ));
    }
    cmd(o, &py);
    para(
        o,
        &format!(
            "Step 3. The log ({}) signed that checkpoint (Ed25519):",
            f.origin
        ),
    );
    cmd(
        o,
        &format!(
            "openssl pkeyutl -verify -pubin -inkey {d}/log-key.pem -rawin -in {d}/checkpoint.msg \
-sigfile {d}/checkpoint.sig"
        ),
    );
    if f.witnesses > 0 {
        para(
            o,
            "   and the witnesses cosigned it (cosignature/v1; keys in witness-policy.txt, in order):",
        );
        for w in &e.cosigned_by {
            cmd(
                o,
                &format!(
                    "openssl pkeyutl -verify -pubin -inkey {d}/witness-{w}-key.pem -rawin \
-in {d}/checkpoint-witness-{w}.msg -sigfile {d}/checkpoint-witness-{w}.sig"
                ),
            );
        }
    }
    if e.has_consistency {
        para(
            o,
            "   The later checkpoint (checkpoint-later.txt), to which step 2 proved consistency, is \
signed too:",
        );
        cmd(
            o,
            &format!(
                "openssl pkeyutl -verify -pubin -inkey {d}/log-key.pem -rawin -in {d}/later.msg \
-sigfile {d}/later.sig"
            ),
        );
        for w in &e.later_cosigned_by {
            cmd(
                o,
                &format!(
                    "openssl pkeyutl -verify -pubin -inkey {d}/witness-{w}-key.pem -rawin \
-in {d}/later-witness-{w}.msg -sigfile {d}/later-witness-{w}.sig"
                ),
            );
        }
    }
    para(
        o,
        "Step 4. The time-stamp token (a bare TimeStampToken) covers the document's SHA-256:",
    );
    let data = match &e.document_file {
        Some(doc) => format!("-data {doc}"),
        None => format!("-digest {}", e.document_sha256),
    };
    cmd(
        o,
        &format!(
            "openssl ts -verify -in {d}/{} -token_in {data} -CAfile {}{untrusted}",
            names::TOKEN,
            names::ROOTS
        ),
    );
    cmd(
        o,
        &format!(
            "openssl ts -reply -in {d}/{} -token_in -text -out {d}/timestamp.txt",
            names::TOKEN
        ),
    );
    para(
        o,
        &format!(
            "   ({d}/timestamp.txt shows the time: {})",
            format_utc(e.token_time)
        ),
    );
    para(
        o,
        "Step 5. The signer's certificate chains to the notary root and was valid at the time-stamp:",
    );
    cmd(
        o,
        &format!(
            "openssl verify -attime {} -CAfile {}{untrusted} {d}/{}",
            e.token_time.unix_timestamp(),
            names::ROOTS,
            names::SIGNER_CERT
        ),
    );
    if f.has_crl && e.has_chain {
        para(
            o,
            "   The CRL is signed by the issuing CA of that chain (OpenSSL 3.0's `crl` exits 0 even \
on a\n   bad signature, so the command looks for its \"verify OK\"):",
        );
        cmd(
            o,
            &format!(
                "openssl crl -inform DER -in {} -noout -CAfile {d}/{} 2>&1 | grep -qx \"verify OK\"",
                names::CRL,
                names::CHAIN
            ),
        );
        let serial = e.serial_hex.to_ascii_uppercase();
        match e.revoked_at {
            None => {
                para(
                    o,
                    "   and does not list the certificate (serial number below):",
                );
                cmd(
                    o,
                    &format!(
                        "! (openssl crl -inform DER -in {} -noout -text | grep -qi \"Serial Number: {serial}\")",
                        names::CRL
                    ),
                );
            }
            Some(at) => {
                let verdict = if at > e.token_time {
                    "AFTER the time-stamp: the signature was made while the certificate was valid"
                } else {
                    "AT OR BEFORE the time-stamp: the signature is NOT valid"
                };
                para(
                    o,
                    &format!(
                        "   The CRL lists the certificate as revoked on {}, {verdict}.\n   \
                         (openssl verify -crl_check would refuse it whatever the time, so look \
                         at the date):",
                        format_utc(at)
                    ),
                );
                cmd(
                    o,
                    &format!(
                        "openssl crl -inform DER -in {} -noout -text | grep -i -A1 \"Serial Number: {serial}\"",
                        names::CRL
                    ),
                );
            }
        }
    }
    para(
        o,
        "Step 6. The organisation's signature (DER ECDSA P-256 over the document's SHA-256):",
    );
    cmd(
        o,
        &format!(
            "openssl x509 -in {d}/{} -noout -pubkey -out {d}/public-key.pem",
            names::SIGNER_CERT
        ),
    );
    match &e.document_file {
        Some(doc) => cmd(
            o,
            &format!(
                "openssl dgst -sha256 -verify {d}/public-key.pem -signature {d}/{} {doc}",
                names::SIGNATURE
            ),
        ),
        None => {
            cmd(
                o,
                &format!(
                    "python3 -c \"import sys; sys.stdout.buffer.write(bytes.fromhex('{}'))\" > {d}/document.sha256",
                    e.document_sha256
                ),
            );
            cmd(
                o,
                &format!(
                    "openssl pkeyutl -verify -pubin -inkey {d}/public-key.pem -sigfile {d}/{} -in {d}/document.sha256",
                    names::SIGNATURE
                ),
            );
        }
    }
}

/// The command lines of a README, without their prefix.
#[cfg(test)]
pub fn commands(readme: &str) -> Vec<&str> {
    readme
        .lines()
        .filter_map(|l| l.strip_prefix(COMMAND_PREFIX))
        .collect()
}
