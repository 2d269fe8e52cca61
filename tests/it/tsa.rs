//! The TSA as a court's clerk would use it: OpenSSL makes the query, the running server answers,
//! OpenSSL (and our own verifier) check the reply against the notary root.

use std::path::Path;
use std::process::Command;

use crate::harness::{TestApp, run};

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    run(Command::new("openssl").current_dir(dir).args(args))
}

async fn post_query(app: &TestApp, body: Vec<u8>) -> reqwest::Response {
    app.http
        .post(app.url("/tsa"))
        .header("content-type", "application/timestamp-query")
        .body(body)
        .send()
        .await
        .expect("POST /tsa")
}

/// The PKIStatus of a reply, as OpenSSL reads it.
fn reply_status(dir: &Path, reply: &[u8]) -> String {
    std::fs::write(dir.join("status.tsr"), reply).unwrap();
    let (_, text) = openssl(dir, &["ts", "-reply", "-in", "status.tsr", "-text"]);
    text
}

#[tokio::test]
async fn openssl_tokens_verify_for_each_hash_and_tampering_fails() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("doc.xml"), b"<Invoice>42</Invoice>").unwrap();
    std::fs::write(d.join("other.xml"), b"<Invoice>43</Invoice>").unwrap();
    let root = notarium::identity::pki::pem_cert(&app.state.pki.root.cert_der);
    std::fs::write(d.join("root.pem"), &root).unwrap();
    let other = notarium::identity::pki::NotaryPki::generate().unwrap();
    std::fs::write(
        d.join("other-root.pem"),
        notarium::identity::pki::pem_cert(&other.root.cert_der),
    )
    .unwrap();
    let mut trust = notarium::timestamp::TrustStore::new();
    trust.add_roots_pem(root.as_bytes()).unwrap();

    for (flag, alg) in [
        ("-sha256", notarium::timestamp::HashAlgorithm::Sha256),
        ("-sha384", notarium::timestamp::HashAlgorithm::Sha384),
        ("-sha512", notarium::timestamp::HashAlgorithm::Sha512),
    ] {
        let (ok, out) = openssl(
            d,
            &[
                "ts", "-query", "-data", "doc.xml", flag, "-cert", "-out", "q.tsq",
            ],
        );
        assert!(ok, "{out}");
        let r = post_query(&app, std::fs::read(d.join("q.tsq")).unwrap()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/timestamp-reply");
        let reply = r.bytes().await.unwrap().to_vec();
        std::fs::write(d.join("r.tsr"), &reply).unwrap();

        let (ok, out) = openssl(
            d,
            &[
                "ts", "-verify", "-data", "doc.xml", "-in", "r.tsr", "-CAfile", "root.pem",
            ],
        );
        assert!(ok && out.contains("Verification: OK"), "{flag}: {out}");
        let (ok, out) = openssl(
            d,
            &[
                "ts",
                "-verify",
                "-queryfile",
                "q.tsq",
                "-in",
                "r.tsr",
                "-CAfile",
                "root.pem",
            ],
        );
        assert!(ok, "{flag} with nonce: {out}");
        let (ok, _) = openssl(
            d,
            &[
                "ts",
                "-verify",
                "-data",
                "other.xml",
                "-in",
                "r.tsr",
                "-CAfile",
                "root.pem",
            ],
        );
        assert!(!ok, "{flag}: a changed file must fail");
        let (ok, _) = openssl(
            d,
            &[
                "ts",
                "-verify",
                "-data",
                "doc.xml",
                "-in",
                "r.tsr",
                "-CAfile",
                "other-root.pem",
            ],
        );
        assert!(!ok, "{flag}: a wrong CA must fail");

        // Our verifier agrees with OpenSSL.
        let data = std::fs::read(d.join("doc.xml")).unwrap();
        let digest = match alg {
            notarium::timestamp::HashAlgorithm::Sha256 => sha2::Sha256::digest(&data).to_vec(),
            notarium::timestamp::HashAlgorithm::Sha384 => sha2::Sha384::digest(&data).to_vec(),
            notarium::timestamp::HashAlgorithm::Sha512 => sha2::Sha512::digest(&data).to_vec(),
        };
        let v = notarium::timestamp::verify_response(&reply, alg, &digest, &trust).unwrap();
        assert!(v.signer_subject.contains("Time-Stamping"));
        let mut wrong = digest.clone();
        wrong[0] ^= 1;
        assert!(notarium::timestamp::verify_response(&reply, alg, &wrong, &trust).is_err());
        let mut other_trust = notarium::timestamp::TrustStore::new();
        other_trust
            .add_roots_pem(notarium::identity::pki::pem_cert(&other.root.cert_der).as_bytes())
            .unwrap();
        assert!(notarium::timestamp::verify_response(&reply, alg, &digest, &other_trust).is_err());
    }

    // Without -cert, the TSA certificate from /v1/tsa/certificate completes the check.
    let (ok, _) = openssl(
        d,
        &[
            "ts", "-query", "-data", "doc.xml", "-sha256", "-out", "nc.tsq",
        ],
    );
    assert!(ok);
    let reply = post_query(&app, std::fs::read(d.join("nc.tsq")).unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    std::fs::write(d.join("nc.tsr"), &reply).unwrap();
    let chain = app
        .http
        .get(app.url("/v1/tsa/certificate"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(d.join("tsa-chain.pem"), chain).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "doc.xml",
            "-in",
            "nc.tsr",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa-chain.pem",
        ],
    );
    assert!(ok, "{out}");

    // Serials are unique across tokens.
    let (_, a) = openssl(d, &["ts", "-reply", "-in", "r.tsr", "-text"]);
    let (_, b) = openssl(d, &["ts", "-reply", "-in", "nc.tsr", "-text"]);
    let serial = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("Serial number"))
            .map(str::to_string)
    };
    assert!(serial(&a).is_some());
    assert_ne!(serial(&a), serial(&b));
    app.stop().await;
}

use sha2::Digest;

#[tokio::test]
async fn malformed_requests_get_rejections_or_4xx_and_the_server_stays_up() {
    let app = TestApp::start_with(|c| c.body_limit = 2 * 1024 * 1024).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("doc"), b"x").unwrap();
    assert!(
        openssl(
            d,
            &["ts", "-query", "-data", "doc", "-sha256", "-out", "q.tsq"]
        )
        .0
    );
    let good = std::fs::read(d.join("q.tsq")).unwrap();

    // Wrong content type: 415 problem+json.
    let r = app
        .http
        .post(app.url("/tsa"))
        .header("content-type", "application/json")
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    let mut random = vec![0u8; 300];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i * 97 % 251) as u8;
    }
    // A SHA-1 query: a known but refused algorithm.
    assert!(
        openssl(
            d,
            &["ts", "-query", "-data", "doc", "-sha1", "-out", "sha1.tsq"]
        )
        .0
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // OpenSSL's wording of badDataFormat and badAlg.
        ("truncated", good[..good.len() / 2].to_vec(), "wrong format"),
        ("random", random, "wrong format"),
        ("1 MiB", vec![0x30; 1024 * 1024], "Failure info"),
        (
            "sha1",
            std::fs::read(d.join("sha1.tsq")).unwrap(),
            "unsupported algorithm",
        ),
    ];
    for (name, body, want) in cases {
        let r = post_query(&app, body).await;
        assert_eq!(r.status(), 200, "{name}");
        let text = reply_status(d, &r.bytes().await.unwrap());
        assert!(text.contains("Status: Rejected"), "{name}: {text}");
        assert!(text.contains(want), "{name}: wanted {want} in {text}");
    }
    // Still serving.
    let r = post_query(&app, good).await;
    assert!(reply_status(d, &r.bytes().await.unwrap()).contains("Status: Granted"));
    app.stop().await;
}
