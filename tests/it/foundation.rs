//! The foundation, as its users meet it: an operator registers organisations, they get
//! certificates, keys rotate and get revoked, and the server survives restarts.

use std::process::Command;

use crate::harness::{TestApp, run, shared_tempdir, test_config};
use serde_json::{Value, json};

async fn problem(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status(), status);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json");
    let v: Value = resp.json().await.expect("problem body");
    assert_eq!(v["status"], status);
    assert!(
        v["type"]
            .as_str()
            .unwrap_or("")
            .starts_with("urn:notarium:problem:")
    );
    v
}

#[tokio::test]
async fn org_keys_authenticate_and_bad_keys_get_401() {
    let app = TestApp::start().await;
    let (id, key) = app.register("Insurer A", "issuer").await;
    let me = app.url(&format!("/v1/orgs/{id}"));
    let r = app.http.get(&me).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["org"]["name"], "Insurer A");

    // Missing and wrong keys.
    problem(app.http.get(&me).send().await.unwrap(), 401).await;
    problem(
        app.http
            .get(&me)
            .bearer_auth("nk_wrong")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    // Rotated out: the old key stops, the new one works.
    let r = app
        .http
        .post(app.url(&format!("/v1/orgs/{id}/keys")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let new_key = r.json::<Value>().await.unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    problem(
        app.http.get(&me).bearer_auth(&key).send().await.unwrap(),
        401,
    )
    .await;
    assert_eq!(
        app.http
            .get(&me)
            .bearer_auth(&new_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Revoked.
    let r = app
        .http
        .post(app.url(&format!("/v1/orgs/{id}/revoke")))
        .bearer_auth(&app.admin_key)
        .json(&json!({"keys": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    problem(
        app.http
            .get(&me)
            .bearer_auth(&new_key)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    // Another org cannot see this one (404, not 403).
    let (_, other) = app.register("Insurer B", "issuer").await;
    problem(
        app.http.get(&me).bearer_auth(&other).send().await.unwrap(),
        404,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn only_the_admin_registers_and_bad_input_is_refused() {
    let app = TestApp::start().await;
    let (_, key) = app.register("Court", "court").await;
    let r = app
        .http
        .post(app.url("/v1/orgs"))
        .bearer_auth(&key)
        .json(&json!({"name": "X", "role": "issuer"}))
        .send()
        .await
        .unwrap();
    problem(r, 403).await;
    let r = app
        .http
        .post(app.url("/v1/orgs"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"name": "X", "role": "emperor"}))
        .send()
        .await
        .unwrap();
    let v = problem(r, 400).await;
    assert!(v["detail"].as_str().unwrap().contains("emperor"), "{v}");
    // A USCC with a wrong check character is kept, with a warning.
    let r = app
        .http
        .post(app.url("/v1/orgs"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"name": "Y", "role": "issuer", "tax_id": "91350100M000100Y44"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["org"]["tax_id_warning"]
            .as_str()
            .unwrap()
            .contains("check character")
    );
    app.stop().await;
}

#[tokio::test]
async fn edge_errors_are_problem_json() {
    let app = TestApp::start_with(|c| c.body_limit = 1024).await;
    problem(app.http.get(app.url("/nope")).send().await.unwrap(), 404).await;
    problem(
        app.http.delete(app.url("/healthz")).send().await.unwrap(),
        405,
    )
    .await;
    let r = app
        .http
        .post(app.url("/v1/orgs"))
        .bearer_auth(&app.admin_key)
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    problem(r, 413).await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert!(r.headers().get("x-request-id").is_some());
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "notarium_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("notarium_db_pool_size"));
    assert!(metrics.contains("notarium_http_request_duration_seconds_bucket"));
    let ready: Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], true);
    app.stop().await;
}

fn openssl(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    run(Command::new("openssl").current_dir(dir).args(args))
}

#[tokio::test]
async fn certificates_from_csrs_verify_with_openssl_and_revocation_reaches_the_crl() {
    let app = TestApp::start().await;
    let (id, key) = app.register("Shipper", "issuer").await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        openssl(
            d,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "k256.pem"
            ]
        )
        .0
    );
    assert!(
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                "k256.pem",
                "-subj",
                "/CN=ignored",
                "-out",
                "c256.pem"
            ]
        )
        .0
    );
    assert!(
        openssl(
            d,
            &[
                "ecparam",
                "-name",
                "secp384r1",
                "-genkey",
                "-noout",
                "-out",
                "k384.pem"
            ]
        )
        .0
    );
    assert!(
        openssl(
            d,
            &[
                "req", "-new", "-key", "k384.pem", "-subj", "/CN=x", "-out", "c384.pem"
            ]
        )
        .0
    );
    let certs = app.url(&format!("/v1/orgs/{id}/certificates"));

    // P-384: refused, saying why.
    let csr384 = std::fs::read_to_string(d.join("c384.pem")).unwrap();
    let r = app
        .http
        .post(&certs)
        .bearer_auth(&key)
        .json(&json!({"csr": csr384}))
        .send()
        .await
        .unwrap();
    let v = problem(r, 422).await;
    assert!(v["detail"].as_str().unwrap().contains("P-256"), "{v}");

    // A broken signature: flip a byte inside the signature of the DER CSR.
    assert!(
        openssl(
            d,
            &[
                "req", "-in", "c256.pem", "-outform", "DER", "-out", "c256.der"
            ]
        )
        .0
    );
    let mut der = std::fs::read(d.join("c256.der")).unwrap();
    let n = der.len();
    der[n - 3] ^= 0x40;
    let r = app
        .http
        .post(&certs)
        .bearer_auth(&key)
        .header("content-type", "application/pkcs10")
        .body(der)
        .send()
        .await
        .unwrap();
    let v = problem(r, 422).await;
    assert!(
        v["detail"].as_str().unwrap().contains("signature")
            || v["detail"].as_str().unwrap().contains("PKCS#10"),
        "{v}"
    );

    // A good CSR: the certificate verifies with OpenSSL against our roots, subject from the org.
    let csr = std::fs::read_to_string(d.join("c256.pem")).unwrap();
    let r = app
        .http
        .post(&certs)
        .bearer_auth(&key)
        .json(&json!({"csr": csr}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    std::fs::write(d.join("cert.pem"), v["certificate"].as_str().unwrap()).unwrap();
    let ca = app
        .http
        .get(app.url("/v1/ca"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(d.join("ca.pem"), &ca).unwrap();
    let (ok, out) = openssl(d, &["verify", "-CAfile", "ca.pem", "cert.pem"]);
    assert!(ok, "{out}");
    let (_, subject) = openssl(d, &["x509", "-in", "cert.pem", "-noout", "-subject"]);
    assert!(
        subject.contains("Shipper") && !subject.contains("ignored"),
        "{subject}"
    );
    // A certificate from another CA does not verify against our roots.
    assert!(
        openssl(
            d,
            &[
                "req", "-x509", "-key", "k256.pem", "-subj", "/CN=self", "-out", "self.pem"
            ]
        )
        .0
    );
    assert!(!openssl(d, &["verify", "-CAfile", "ca.pem", "self.pem"]).0);

    // Our own chain check agrees.
    let der = pem::parse(v["certificate"].as_str().unwrap())
        .unwrap()
        .into_contents();
    let checked = notarium::identity::certcheck::check_certificate(
        &der,
        std::slice::from_ref(&app.state.pki.issuing.cert_der),
        std::slice::from_ref(&app.state.pki.root.cert_der),
        time::OffsetDateTime::now_utc(),
        &Default::default(),
    )
    .unwrap();
    assert!(checked.subject.contains("Shipper"));

    // Revoke: the serial appears in a CRL that OpenSSL verifies with our CA.
    let r = app
        .http
        .post(app.url(&format!("/v1/orgs/{id}/revoke")))
        .bearer_auth(&app.admin_key)
        .json(&json!({"reason": "key compromise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["revoked_certificates"], 1);
    let crl = app
        .http
        .get(app.url("/v1/crl"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(d.join("crl.der"), &crl).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "ca.pem", "-noout", "-text",
        ],
    );
    assert!(ok && out.contains("verify OK"), "{out}");
    let serial = v["serial"].as_str().unwrap().to_uppercase();
    assert!(out.contains(&serial), "serial {serial} not in CRL:\n{out}");
    app.stop().await;
}

#[tokio::test]
async fn restart_keeps_ca_orgs_and_keys_and_a_wrong_master_key_changes_nothing() {
    let app = TestApp::start().await;
    let (id, key) = app.register("Carrier", "issuer").await;
    let r = app
        .http
        .post(app.url(&format!("/v1/orgs/{id}/certificates")))
        .bearer_auth(&key)
        .json(&json!({"custodial": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let root_before = app.state.pki.root.cert_der.clone();
    let url = app.database_url.clone();
    let data_dir = app.data_dir.path().to_path_buf();
    let keep = shared_tempdir("notarium-keep-");
    std::fs::copy(data_dir.join("admin.key").as_path(), keep.path().join("x")).ok();
    app.stop().await;

    // A wrong master key: a clear error, and the stored CA is untouched.
    let mut bad = test_config(&url, &data_dir);
    bad.master_key = Some("13".repeat(32));
    let err = notarium::app::open(bad).await.unwrap_err().to_string();
    assert!(err.contains("master key"), "{err}");

    // The right key: same CA, the org's key works, the custodial key opens.
    let app2 = TestApp::start_on(
        test_config(&url, &data_dir),
        url.clone(),
        shared_tempdir("unused-"),
    )
    .await;
    assert_eq!(app2.state.pki.root.cert_der, root_before);
    let me = app2.url(&format!("/v1/orgs/{id}"));
    assert_eq!(
        app2.http
            .get(&me)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let conn = app2.state.store.conn().await.unwrap();
    let org_id: uuid::Uuid = id.parse().unwrap();
    let cert = notarium::store::orgs::current_certificate(&**conn, org_id)
        .await
        .unwrap()
        .unwrap();
    let label = notarium::api::orgs::custodial_label(&cert.serial);
    let pkcs8 = app2
        .state
        .master_key
        .open(&label, cert.sealed_key.as_ref().unwrap())
        .unwrap();
    assert!(notarium::identity::pki::key_from_pkcs8(&pkcs8, "custodial").is_ok());
    drop(conn);
    app2.stop().await;
}

#[tokio::test]
async fn migrations_apply_once_and_a_changed_one_is_refused() {
    use notarium::store::migrate::{MIGRATIONS, Migration, apply};
    let url = crate::harness::fresh_database().await;
    let cfg: tokio_postgres::Config = url.parse().unwrap();
    let (mut client, conn) = cfg.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    // The template already ran them: nothing to apply now.
    assert!(apply(&mut client, MIGRATIONS).await.unwrap().is_empty());
    let n: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n as usize, MIGRATIONS.len());
    // The first file, changed after it was applied.
    let tampered = [Migration {
        name: MIGRATIONS[0].name,
        sql: "CREATE TABLE sneaky (x int);",
    }];
    let err = apply(&mut client, &tampered).await.unwrap_err().to_string();
    assert!(
        err.contains(MIGRATIONS[0].name) && err.contains("must never change"),
        "{err}"
    );
    let sneaky = client
        .query_opt("SELECT 1 FROM pg_tables WHERE tablename = 'sneaky'", &[])
        .await
        .unwrap();
    assert!(sneaky.is_none());
}

/// `notarium serve` with nothing configured but the data directory: it initialises and starts
/// its own PostgreSQL, answers /healthz, stops it on SIGTERM, and reuses it next time, also
/// after a crash left a stale pid file.
#[test]
fn the_binary_runs_its_own_postgres_and_stops_it() {
    let dir = shared_tempdir("notarium-bin-");
    let data = dir.path().join("var");
    let port = free_port();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_notarium"))
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env("NOTARIUM_DATA_DIR", &data)
            .env("NOTARIUM_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path().join("serve.log"))
                    .expect("log file"),
            )
            .spawn()
            .expect("spawn notarium")
    };
    let pidfile = data.join("pg/data/postmaster.pid");

    let log = dir.path().join("serve.log");
    let wait_healthy = |port| wait_healthy(port, &log);
    let mut child = start();
    wait_healthy(port);
    assert!(data.join("pg/data/PG_VERSION").exists());
    assert!(data.join("admin.key").exists() && data.join("master.key").exists());
    assert!(pidfile.exists());
    terminate(&mut child);
    assert!(!pidfile.exists(), "PostgreSQL must be stopped on SIGTERM");

    // Crash: kill -9 notarium and the postmaster; the next start copes with the stale pid file.
    let mut child = start();
    wait_healthy(port);
    let pg_pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let _ = child.kill();
    let _ = child.wait();
    let _ = Command::new("kill").args(["-9", &pg_pid]).status();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(pidfile.exists(), "a crash leaves the pid file behind");
    let mut child = start();
    wait_healthy(port);
    terminate(&mut child);
    assert!(!pidfile.exists());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_healthy(port: u16, log: &std::path::Path) {
    use std::io::{Read, Write};
    for _ in 0..300 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "server on port {port} did not become healthy:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn terminate(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "notarium exits cleanly on SIGTERM: {status}"
    );
}

/// `notarium demo --exit` on an empty data directory tells the whole story and exits 0; a
/// second run on the same directory works too.
#[test]
fn the_demo_runs_twice_on_its_own_postgres() {
    let dir = shared_tempdir("notarium-demo-");
    for _ in 0..2 {
        let port = free_port();
        let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_notarium"))
            .args(["demo", "--exit"])
            .env_remove("DATABASE_URL")
            .env("NOTARIUM_DATA_DIR", dir.path().join("var"))
            .env("NOTARIUM_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn"));
        assert!(ok && out.contains("every step passed"), "{out}");
        assert!(
            out.contains("refused with 409")
                && out.contains("inclusion proof to the signed checkpoint: ok"),
            "{out}"
        );
    }
    assert!(
        !dir.path().join("var/pg/data/postmaster.pid").exists(),
        "PostgreSQL stopped"
    );
}
