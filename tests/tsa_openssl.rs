//! The RFC 3161 core against the real `openssl` CLI: OpenSSL writes the queries, notarium
//! answers them, and `openssl ts -verify` (plus notarium's own verifier, and PyPI
//! `rfc3161-client` where installed) judges the replies. A throwaway PKI (root CA → issuing
//! CA → TSA) is made with rcgen in each test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use der::asn1::ObjectIdentifier;
use notarium::timestamp::{
    Accuracy, FailureInfo, HashAlgorithm, TimestampError, TokenParams, TrustStore, TsaSigner,
    generate_tsa_key, issue_tsa_certificate, parse_request, rejection_response, verify_response,
    verify_response_for_request,
};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use time::macros::datetime;

const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.2.1");

/// A root CA, an issuing CA and a TSA, with their PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    root_der: Vec<u8>,
    issuing_der: Vec<u8>,
    signer: TsaSigner,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "notarium test");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = datetime!(2020-01-01 0:00 UTC);
    p.not_after = datetime!(2040-01-01 0:00 UTC);
    p
}

fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

impl Pki {
    fn new(root_cn: &str) -> Self {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root_params = ca_params(root_cn);
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::from_params(&root_params, &root_key);

        let issuing_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut issuing_params = ca_params("notarium test issuing CA");
        issuing_params.use_authority_key_identifier_extension = true;
        let issuing = issuing_params
            .signed_by(&issuing_key, &root_issuer)
            .unwrap();
        let issuer = Issuer::from_params(&issuing_params, &issuing_key);

        let tsa_key = generate_tsa_key().unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "notarium test TSA");
        dn.push(DnType::OrganizationName, "notarium test");
        let tsa = issue_tsa_certificate(
            dn,
            datetime!(2024-01-01 0:00 UTC),
            datetime!(2036-01-01 0:00 UTC),
            &tsa_key,
            &issuer,
        )
        .unwrap();

        let tsa_key_pem = tsa_key.serialize_pem();
        let signer = TsaSigner::new(
            &tsa_key.serialize_der(),
            tsa.der().to_vec(),
            vec![issuing.der().to_vec()],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("roots.pem"), pem(root.der())).unwrap();
        std::fs::write(dir.path().join("tsa.pem"), pem(tsa.der())).unwrap();
        std::fs::write(dir.path().join("tsa.key"), tsa_key_pem).unwrap();
        std::fs::write(dir.path().join("chain.pem"), pem(issuing.der())).unwrap();
        std::fs::write(
            dir.path().join("chain_and_tsa.pem"),
            pem(issuing.der()) + &pem(tsa.der()),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("doc.txt"),
            "Invoice 2026-0001, total 1 234.56 EUR\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("other.txt"),
            "Invoice 2026-0001, total 9 234.56 EUR\n",
        )
        .unwrap();
        Pki {
            dir,
            root_der: root.der().to_vec(),
            issuing_der: issuing.der().to_vec(),
            signer,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Our verifier's trust: the root, plus the issuing CA (and the TSA certificate when the
    /// token carries none), as `-CAfile` / `-untrusted` give OpenSSL.
    fn trust(&self, root_der: &[u8], with_tsa: bool) -> TrustStore {
        let mut t = TrustStore::new();
        t.add_root_der(root_der.to_vec()).unwrap();
        t.add_intermediate_der(self.issuing_der.clone()).unwrap();
        if with_tsa {
            t.add_intermediate_der(self.signer.certificate_der().to_vec())
                .unwrap();
        }
        t
    }
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI must be installed")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn params(serial: u128) -> TokenParams {
    TokenParams {
        policy: POLICY,
        serial,
        gen_time: datetime!(2026-03-14 09:26:53.589 UTC),
        fraction_digits: 3,
        accuracy: Some(Accuracy {
            seconds: 1,
            millis: 500,
            micros: 0,
        }),
        signing_time: true,
        tsa_name: true,
    }
}

/// `openssl ts -verify`, returning whether OpenSSL printed "Verification: OK" and exited 0.
fn openssl_verifies(pki: &Pki, subject: &[&str], reply: &str, ca: &str, untrusted: &str) -> bool {
    let mut args = vec!["ts", "-verify"];
    args.extend_from_slice(subject);
    args.extend_from_slice(&["-in", reply, "-CAfile", ca, "-untrusted", untrusted]);
    let o = openssl(pki.dir.path(), &args);
    let ok = o.status.success() && text(&o).contains("Verification: OK");
    eprintln!("openssl {} -> {ok}\n{}", args.join(" "), text(&o));
    ok
}

/// The PyPI `rfc3161-client` verdict, or `None` when the module is not installed.
fn rfc3161_client_verifies(pki: &Pki, reply: &str, data: &str, with_tsa: bool) -> Option<bool> {
    const SCRIPT: &str = r#"
import sys
try:
    import rfc3161_client
    from cryptography import x509
except ImportError:
    print("UNAVAILABLE"); sys.exit(3)
reply, data, roots, chain, tsa = sys.argv[1:6]
resp = rfc3161_client.decode_timestamp_response(open(reply, "rb").read())
b = rfc3161_client.VerifierBuilder()
for c in x509.load_pem_x509_certificates(open(roots, "rb").read()):
    b = b.add_root_certificate(c)
for c in x509.load_pem_x509_certificates(open(chain, "rb").read()):
    b = b.add_intermediate_certificate(c)
if tsa != "-":
    b = b.tsa_certificate(x509.load_pem_x509_certificates(open(tsa, "rb").read())[-1])
try:
    b.build().verify_message(resp, open(data, "rb").read())
    print("OK")
except Exception as e:
    print("FAIL", type(e).__name__, e); sys.exit(1)
"#;
    let tsa = if with_tsa { "chain_and_tsa.pem" } else { "-" };
    let o = Command::new("python3")
        .args(["-c", SCRIPT, reply, data, "roots.pem", "chain.pem", tsa])
        .current_dir(pki.dir.path())
        .output()
        .ok()?;
    let out = text(&o);
    eprintln!("rfc3161-client {reply} {data}: {out}");
    if o.status.code() == Some(3) || out.contains("UNAVAILABLE") {
        eprintln!("rfc3161-client not installed: second verifier skipped");
        return None;
    }
    Some(o.status.success() && out.contains("OK"))
}

/// One round: OpenSSL queries, we answer, OpenSSL, our verifier and rfc3161-client judge.
fn round_trip(pki: &Pki, digest: &str, cert: bool, serial: u128) {
    let tag = format!("{}{}", digest, if cert { "-cert" } else { "" });
    let (q, r) = (format!("q-{tag}.tsq"), format!("r-{tag}.tsr"));
    let mut args = vec!["ts", "-query", "-data", "doc.txt", "-out", &q];
    let flag = format!("-{digest}");
    args.push(&flag);
    if cert {
        args.push("-cert");
    }
    let o = openssl(pki.dir.path(), &args);
    assert!(o.status.success(), "{}", text(&o));

    let req = parse_request(&pki.read(&q), &[POLICY]).unwrap();
    assert_eq!(req.cert_req, cert);
    assert!(req.nonce.is_some(), "openssl sends a nonce by default");
    let resp = pki.signer.grant(&req, &params(serial)).unwrap();
    std::fs::write(pki.path(&r), &resp).unwrap();

    // Without certReq the token carries no certificate: the TSA's must be supplied.
    let untrusted = if cert {
        "chain.pem"
    } else {
        "chain_and_tsa.pem"
    };
    assert!(openssl_verifies(
        pki,
        &["-data", "doc.txt"],
        &r,
        "roots.pem",
        untrusted
    ));
    assert!(openssl_verifies(
        pki,
        &["-queryfile", &q],
        &r,
        "roots.pem",
        untrusted
    ));
    assert!(!openssl_verifies(
        pki,
        &["-data", "other.txt"],
        &r,
        "roots.pem",
        untrusted
    ));

    let alg = match digest {
        "sha256" => HashAlgorithm::Sha256,
        "sha384" => HashAlgorithm::Sha384,
        _ => HashAlgorithm::Sha512,
    };
    let trust = pki.trust(&pki.root_der, !cert);
    let doc = alg.digest(&pki.read("doc.txt"));
    let v = verify_response(&resp, alg, &doc, &trust).unwrap();
    assert_eq!(v.hash_algorithm, alg);
    assert_eq!(v.policy, POLICY);
    assert_eq!(v.gen_time, datetime!(2026-03-14 09:26:53.589 UTC));
    assert_eq!(v.signer_subject, "CN=notarium test TSA, O=notarium test");
    verify_response_for_request(&resp, &req, &trust).unwrap();
    let other = alg.digest(&pki.read("other.txt"));
    assert_eq!(
        verify_response(&resp, alg, &other, &trust).unwrap_err(),
        TimestampError::ImprintMismatch
    );
    // Without the TSA certificate, a certReq=false token cannot be checked by either side.
    if !cert {
        assert!(!openssl_verifies(
            pki,
            &["-data", "doc.txt"],
            &r,
            "roots.pem",
            "chain.pem"
        ));
        assert_eq!(
            verify_response(&resp, alg, &doc, &pki.trust(&pki.root_der, false)).unwrap_err(),
            TimestampError::SignerCertificateNotFound
        );
    }

    match rfc3161_client_verifies(pki, &r, "doc.txt", !cert) {
        Some(ok) => assert!(ok, "rfc3161-client rejected {r}"),
        None => eprintln!("skipped: rfc3161-client unavailable"),
    }
    if let Some(ok) = rfc3161_client_verifies(pki, &r, "other.txt", !cert) {
        assert!(!ok, "rfc3161-client accepted a changed document");
    }
}

#[test]
fn openssl_verifies_our_replies_for_each_digest_with_and_without_cert() {
    let pki = Pki::new("notarium test root CA");
    for (i, digest) in ["sha256", "sha384", "sha512"].into_iter().enumerate() {
        round_trip(&pki, digest, true, 1000 + i as u128);
        round_trip(&pki, digest, false, 2000 + i as u128);
    }
}

#[test]
fn a_wrong_root_fails_in_openssl_and_in_our_verifier() {
    let pki = Pki::new("notarium test root CA");
    let stranger = Pki::new("notarium test root CA"); // same name, other key
    std::fs::write(pki.path("wrong.pem"), pem(&stranger.root_der)).unwrap();
    let o = openssl(
        pki.dir.path(),
        &[
            "ts", "-query", "-data", "doc.txt", "-sha256", "-cert", "-out", "q.tsq",
        ],
    );
    assert!(o.status.success());
    let req = parse_request(&pki.read("q.tsq"), &[]).unwrap();
    let resp = pki.signer.grant(&req, &params(7)).unwrap();
    std::fs::write(pki.path("r.tsr"), &resp).unwrap();

    assert!(openssl_verifies(
        &pki,
        &["-data", "doc.txt"],
        "r.tsr",
        "roots.pem",
        "chain.pem"
    ));
    assert!(!openssl_verifies(
        &pki,
        &["-data", "doc.txt"],
        "r.tsr",
        "wrong.pem",
        "chain.pem"
    ));
    let doc = HashAlgorithm::Sha256.digest(&pki.read("doc.txt"));
    let err = verify_response(
        &resp,
        HashAlgorithm::Sha256,
        &doc,
        &pki.trust(&stranger.root_der, false),
    )
    .unwrap_err();
    assert!(matches!(err, TimestampError::UntrustedChain(_)), "{err}");
}

#[test]
fn openssl_reads_back_the_fields_we_set() {
    let pki = Pki::new("notarium test root CA");
    let o = openssl(
        pki.dir.path(),
        &[
            "ts", "-query", "-data", "doc.txt", "-sha256", "-cert", "-out", "q.tsq",
        ],
    );
    assert!(o.status.success());
    let req = parse_request(&pki.read("q.tsq"), &[]).unwrap();
    let serial = 0x0123_4567_89ab_cdef_u128;
    std::fs::write(
        pki.path("r.tsr"),
        pki.signer.grant(&req, &params(serial)).unwrap(),
    )
    .unwrap();
    let o = openssl(pki.dir.path(), &["ts", "-reply", "-in", "r.tsr", "-text"]);
    let out = text(&o);
    eprintln!("{out}");
    assert!(o.status.success());
    assert!(out.contains("Status: Granted."), "{out}");
    assert!(out.contains("Policy OID: 1.3.6.1.4.1.57264.2.1"), "{out}");
    assert!(out.contains("Hash Algorithm: sha256"), "{out}");
    assert!(out.contains("Serial number: 0x0123456789ABCDEF"), "{out}");
    assert!(
        out.contains("Time stamp: Mar 14 09:26:53.589 2026 GMT"),
        "{out}"
    );
    assert!(
        out.contains("Accuracy: 0x01 seconds, 0x01F4 millis, unspecified micros"),
        "{out}"
    );
    assert!(out.contains("Ordering: no"), "{out}");
    // OpenSSL prints the value; the DER content has a 0x00 sign byte when the top bit is set.
    let nonce = req.nonce_bytes().unwrap();
    let nonce = hex::encode_upper(nonce.strip_prefix(&[0u8][..]).unwrap_or(nonce));
    assert!(out.contains(&format!("Nonce: 0x{nonce}")), "{out}");
    assert!(
        out.contains("TSA: DirName:/CN=notarium test TSA/O=notarium test"),
        "{out}"
    );
    // The imprint is what `openssl dgst` computes for doc.txt, in OpenSSL's hexdump rows.
    let o = openssl(pki.dir.path(), &["dgst", "-sha256", "-r", "doc.txt"]);
    let digest = hex::decode(text(&o).split_whitespace().next().unwrap()).unwrap();
    for (row, chunk) in digest.chunks(16).enumerate() {
        let bytes: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let line = format!(
            "{:04x} - {}-{}",
            row * 16,
            bytes[..8].join(" "),
            bytes[8..].join(" ")
        );
        assert!(out.contains(&line), "{line}\n{out}");
    }
}

#[test]
fn malformed_queries_get_the_right_rejection_which_openssl_reads() {
    let pki = Pki::new("notarium test root CA");
    let o = openssl(
        pki.dir.path(),
        &[
            "ts", "-query", "-data", "doc.txt", "-sha256", "-cert", "-out", "q.tsq",
        ],
    );
    assert!(o.status.success());
    let good = pki.read("q.tsq");
    // OpenSSL's SHA-1 query: an algorithm we refuse.
    let o = openssl(
        pki.dir.path(),
        &[
            "ts", "-query", "-data", "doc.txt", "-sha1", "-out", "q1.tsq",
        ],
    );
    assert!(o.status.success());
    // An unassigned hash OID: the last arc of SHA-256 (…02 01) turned into …02 63.
    let mut unknown = good.clone();
    let pos = unknown.windows(3).position(|w| w == [4, 2, 1]).unwrap();
    unknown[pos + 2] = 0x63;
    let mut random = vec![0u8; 300];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).unwrap();
    random[0] = 0x30; // looks like a SEQUENCE, is not a request
    let cases: Vec<(&str, Vec<u8>, FailureInfo, &str)> = vec![
        (
            "truncated",
            good[..good.len() - 5].to_vec(),
            FailureInfo::BadDataFormat,
            "the data submitted has the wrong format",
        ),
        (
            "random",
            random,
            FailureInfo::BadDataFormat,
            "the data submitted has the wrong format",
        ),
        (
            "1MiB",
            vec![0x30; 1 << 20],
            FailureInfo::BadDataFormat,
            "the data submitted has the wrong format",
        ),
        (
            "sha1",
            pki.read("q1.tsq"),
            FailureInfo::BadAlg,
            "unrecognized or unsupported algorithm identifier",
        ),
        (
            "unknown-oid",
            unknown,
            FailureInfo::BadAlg,
            "unrecognized or unsupported algorithm identifier",
        ),
    ];
    for (name, query, want, openssl_text) in cases {
        let err = parse_request(&query, &[POLICY]).unwrap_err();
        assert_eq!(err.failure_info(), want, "{name}: {err}");
        let reply = rejection_response(err.failure_info(), &err.to_string()).unwrap();
        let file = format!("rej-{name}.tsr");
        std::fs::write(pki.path(&file), &reply).unwrap();
        let o = openssl(pki.dir.path(), &["ts", "-reply", "-in", &file, "-text"]);
        let out = text(&o);
        assert!(out.contains("Status: Rejected."), "{name}: {out}");
        assert!(out.contains(openssl_text), "{name}: {out}");
        assert!(out.contains(&err.to_string()), "{name}: {out}");
        let verdict = verify_response(
            &reply,
            HashAlgorithm::Sha256,
            &[0; 32],
            &pki.trust(&pki.root_der, false),
        );
        assert!(
            matches!(verdict, Err(TimestampError::NotGranted { status: 2, .. })),
            "{verdict:?}"
        );
    }
}

/// An `openssl ts -reply` configuration using our TSA certificate and key.
fn openssl_tsa_config(ess_alg: &str) -> String {
    format!(
        "[ tsa ]\n\
         default_tsa = tsa_config1\n\
         [ tsa_config1 ]\n\
         serial = ./tsaserial\n\
         crypto_device = builtin\n\
         signer_cert = ./tsa.pem\n\
         certs = ./chain.pem\n\
         signer_key = ./tsa.key\n\
         signer_digest = sha256\n\
         default_policy = 1.3.6.1.4.1.57264.2.9\n\
         digests = sha256, sha384, sha512\n\
         accuracy = secs:1, millisecs:500, microsecs:100\n\
         clock_precision_digits = 3\n\
         ordering = yes\n\
         tsa_name = yes\n\
         ess_cert_id_chain = no\n\
         ess_cert_id_alg = {ess_alg}\n"
    )
}

#[test]
fn our_verifier_agrees_with_openssl_on_tokens_openssl_issues() {
    let pki = Pki::new("notarium test root CA");
    let stranger = Pki::new("notarium test root CA");
    std::fs::write(pki.path("wrong.pem"), pem(&stranger.root_der)).unwrap();
    std::fs::write(pki.path("tsaserial"), "0A\n").unwrap();
    // sha1 makes OpenSSL write signingCertificate (ESSCertID), sha256 signingCertificateV2
    for ess in ["sha1", "sha256"] {
        for digest in ["sha256", "sha512"] {
            let cnf = format!("tsa-{ess}.cnf");
            std::fs::write(pki.path(&cnf), openssl_tsa_config(ess)).unwrap();
            let (q, r) = (
                format!("oq-{ess}-{digest}.tsq"),
                format!("or-{ess}-{digest}.tsr"),
            );
            let flag = format!("-{digest}");
            let o = openssl(
                pki.dir.path(),
                &[
                    "ts", "-query", "-data", "doc.txt", &flag, "-cert", "-out", &q,
                ],
            );
            assert!(o.status.success(), "{}", text(&o));
            let o = openssl(
                pki.dir.path(),
                &[
                    "ts",
                    "-reply",
                    "-config",
                    &cnf,
                    "-queryfile",
                    &q,
                    "-out",
                    &r,
                ],
            );
            assert!(o.status.success(), "{}", text(&o));
            let resp = pki.read(&r);

            assert!(openssl_verifies(
                &pki,
                &["-queryfile", &q],
                &r,
                "roots.pem",
                "chain.pem"
            ));
            let req = parse_request(&pki.read(&q), &[]).unwrap();
            let trust = pki.trust(&pki.root_der, false);
            let v = verify_response_for_request(&resp, &req, &trust)
                .unwrap_or_else(|e| panic!("{ess} {digest}: {e}"));
            assert_eq!(v.policy.to_string(), "1.3.6.1.4.1.57264.2.9");
            assert_eq!(
                v.accuracy,
                Some(Accuracy {
                    seconds: 1,
                    millis: 500,
                    micros: 100
                })
            );
            assert_eq!(v.signer_certificate, pki.signer.certificate_der());
            let age = time::OffsetDateTime::now_utc() - v.gen_time;
            assert!(age.whole_seconds().abs() < 600, "genTime {}", v.gen_time);

            // a changed document and a wrong root fail in both
            let alg = req.hash_algorithm;
            let other = alg.digest(&pki.read("other.txt"));
            assert!(!openssl_verifies(
                &pki,
                &["-data", "other.txt"],
                &r,
                "roots.pem",
                "chain.pem"
            ));
            assert_eq!(
                verify_response(&resp, alg, &other, &trust).unwrap_err(),
                TimestampError::ImprintMismatch
            );
            assert!(!openssl_verifies(
                &pki,
                &["-queryfile", &q],
                &r,
                "wrong.pem",
                "chain.pem"
            ));
            let wrong = pki.trust(&stranger.root_der, false);
            assert!(matches!(
                verify_response_for_request(&resp, &req, &wrong).unwrap_err(),
                TimestampError::UntrustedChain(_)
            ));
        }
    }
}
