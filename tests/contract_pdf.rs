//! A contract PDF signed by two parties and then sealed by the notary, each signature a PAdES
//! B-T incremental update, judged by outside tools (qpdf, pyHanko, poppler's pdfsig) and by
//! our own verifier; then the same PDF tampered with, which every signature check must refuse.
//!
//! The tools are required: a missing one fails the test with the command that installs it.
//!   apt-get install -y qpdf poppler-utils libnss3-tools
//!   python3 -m venv target/pyhanko-venv && target/pyhanko-venv/bin/pip install pyhanko pyhanko-cli
//! (or set PYHANKO to a pyhanko executable).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use der::asn1::ObjectIdentifier;
use lopdf::content::{Content, Operation};
use lopdf::{Document, IncrementalDocument, Object, Stream, dictionary};
use notarium::documents::contract::{
    CadesSigner, ContractError, IntakeLimits, SignatureOptions, inspect_pdf, sign_pdf,
    verify_pdf_signatures,
};
use notarium::identity::pki::{NotaryPki, OrgSubject, new_key, pem_cert};
use notarium::timestamp::{
    Accuracy, HashAlgorithm, TimeStampRequest, TokenParams, TsaSigner, generate_tsa_key,
    issue_tsa_certificate,
};
use rcgen::{DistinguishedName, DnType};
use sha2::Digest;
use time::{Duration, OffsetDateTime};

const INSTALL_APT: &str = "apt-get update && apt-get install -y qpdf poppler-utils libnss3-tools";
const INSTALL_PYHANKO: &str = "python3 -m venv target/pyhanko-venv && \
     target/pyhanko-venv/bin/pip install pyhanko pyhanko-cli (or set PYHANKO)";

// ------------------------------------------------------------------------------------------
// The parties, the notary and the TSA

struct Party {
    name: &'static str,
    signer: CadesSigner,
}

struct World {
    dir: tempfile::TempDir,
    pki: NotaryPki,
    tsa: TsaSigner,
    serial: std::cell::Cell<u128>,
}

impl World {
    fn new() -> Self {
        let pki = NotaryPki::generate().unwrap();
        let tsa_key = generate_tsa_key().unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "notarium test TSA");
        let now = OffsetDateTime::now_utc();
        let tsa_cert = issue_tsa_certificate(
            dn,
            now - Duration::hours(1),
            now + Duration::days(365),
            &tsa_key,
            &pki.issuer().unwrap(),
        )
        .unwrap();
        let tsa = TsaSigner::new(
            &tsa_key.serialize_der(),
            tsa_cert.der().to_vec(),
            vec![pki.issuing.cert_der.clone()],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root.pem"), pem_cert(&pki.root.cert_der)).unwrap();
        World {
            dir,
            pki,
            tsa,
            serial: std::cell::Cell::new(1),
        }
    }

    fn party(&self, name: &'static str) -> Party {
        let key = new_key().unwrap();
        let issued = self
            .pki
            .issue_org_cert(
                &OrgSubject {
                    org_id: uuid::Uuid::new_v4(),
                    name: name.to_string(),
                    tax_id: None,
                },
                &rcgen::PublicKeyData::subject_public_key_info(&key),
                365,
                "http://127.0.0.1:9/crl",
            )
            .unwrap();
        let signer = CadesSigner::new(
            &key.serialize_der(),
            &issued.der,
            std::slice::from_ref(&self.pki.issuing.cert_der),
        )
        .unwrap();
        Party { name, signer }
    }

    /// The signature time-stamp: a token over SHA-256 of the signature value.
    fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, String> {
        let digest = sha2::Sha256::digest(signature);
        let request = TimeStampRequest::for_digest(HashAlgorithm::Sha256, &digest)
            .map_err(|e| e.to_string())?;
        let serial = self.serial.get();
        self.serial.set(serial + 1);
        let params = TokenParams {
            policy: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.2.1"),
            serial,
            gen_time: OffsetDateTime::now_utc(),
            fraction_digits: 3,
            accuracy: Some(Accuracy {
                seconds: 1,
                millis: 0,
                micros: 0,
            }),
            signing_time: false,
            tsa_name: false,
        };
        self.tsa.token(&request, &params).map_err(|e| e.to_string())
    }

    fn sign(&self, pdf: &[u8], party: &Party, field: &str) -> Vec<u8> {
        let mut options = SignatureOptions::new(field, party.name);
        options.reason = Some("I agree to the terms of this contract".into());
        options.location = Some("Hangzhou".into());
        options.signing_time = Some(OffsetDateTime::now_utc());
        sign_pdf(pdf, &party.signer, &options, |s| self.timestamp(s)).unwrap()
    }

    fn roots(&self) -> Vec<Vec<u8>> {
        vec![self.pki.root.cert_der.clone()]
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

// ------------------------------------------------------------------------------------------
// A contract PDF made here

/// A PDF of `pages` pages of text, with an Info dictionary; a classic xref table, or
/// object streams and an xref stream.
fn contract_pdf(pages: usize, modern: bool) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for n in 1..=pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 14.into()]),
                Operation::new("Td", vec![72.into(), 760.into()]),
                Operation::new(
                    "Tj",
                    vec![Object::string_literal(format!(
                        "Service contract No. 2026-042, page {n}: the price is 1000 EUR."
                    ))],
                ),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => pages as i64,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::string_literal("Service contract 2026-042"),
        "Author" => Object::string_literal("Acme Insurance"),
        "Producer" => Object::string_literal("notarium tests"),
        "CreationDate" => Object::string_literal("D:20260504030201+08'00'"),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    doc.trailer.set(
        "ID",
        vec![
            Object::String(vec![7; 16], lopdf::StringFormat::Hexadecimal),
            Object::String(vec![7; 16], lopdf::StringFormat::Hexadecimal),
        ],
    );
    doc.compress();
    let mut out = Vec::new();
    if modern {
        doc.save_modern(&mut out).unwrap();
    } else {
        doc.save_to(&mut out).unwrap();
    }
    out
}

// ------------------------------------------------------------------------------------------
// The outside judges

fn run(cmd: &mut Command, install: &str) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run {:?} ({e}); install it: {install}",
            cmd.get_program()
        ),
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn qpdf_check(file: &Path) -> (bool, String) {
    let o = run(Command::new("qpdf").arg("--check").arg(file), INSTALL_APT);
    let t = text(&o);
    (
        o.status.code() == Some(0) && t.contains("No syntax or stream encoding errors"),
        t,
    )
}

fn pyhanko() -> PathBuf {
    if let Some(p) = std::env::var_os("PYHANKO") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let venv = target.join("pyhanko-venv/bin/pyhanko");
    if venv.exists() {
        return venv;
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyhanko-venv/bin/pyhanko");
    if local.exists() {
        return local;
    }
    PathBuf::from("pyhanko")
}

/// pyHanko's judgement of every signature: (exit code 0, its output).
fn pyhanko_validate(world: &World, file: &Path) -> (bool, String) {
    let o = run(
        Command::new(pyhanko())
            .args(["sign", "validate", "--no-revocation-check", "--trust"])
            .arg(world.path("root.pem"))
            .arg("--trust-replace")
            .arg("--pretty-print")
            .arg(file),
        INSTALL_PYHANKO,
    );
    (o.status.success(), text(&o))
}

/// An NSS database trusting the root, for pdfsig.
fn nss_db(world: &World) -> PathBuf {
    let db = world.path("nss");
    if db.exists() {
        return db;
    }
    std::fs::create_dir_all(&db).unwrap();
    let sql = format!("sql:{}", db.display());
    let o = run(
        Command::new("certutil").args(["-N", "-d", &sql, "--empty-password"]),
        INSTALL_APT,
    );
    assert!(o.status.success(), "certutil -N: {}", text(&o));
    let o = run(
        Command::new("certutil")
            .args(["-A", "-d", &sql, "-n", "root", "-t", "CT,C,C", "-i"])
            .arg(world.path("root.pem")),
        INSTALL_APT,
    );
    assert!(o.status.success(), "certutil -A: {}", text(&o));
    db
}

/// pdfsig's report, split per signature: each block from "Signature #n:" on.
fn pdfsig(world: &World, file: &Path) -> Vec<String> {
    let db = nss_db(world);
    let o = run(
        Command::new("pdfsig")
            .arg("-nssdir")
            .arg(format!("sql:{}", db.display()))
            // not -no-ocsp: poppler 22.12 then fails every certificate ("Unknown issue");
            // our certificates name no OCSP responder, so nothing is fetched either way
            .arg(file),
        INSTALL_APT,
    );
    let t = text(&o);
    t.split("Signature #").skip(1).map(str::to_string).collect()
}

fn pdfsig_block_valid(block: &str) -> bool {
    block.contains("Signature Validation: Signature is Valid.")
        && block.contains("Certificate Validation: Certificate is Trusted.")
}

// ------------------------------------------------------------------------------------------
// The story

fn signed_three_times(world: &World, modern: bool) -> Vec<u8> {
    let original = contract_pdf(3, modern);
    let a = world.party("Acme Insurance Co.");
    let b = world.party("Beta Trading Ltd.");
    let notary = world.party("notarium Notary Seal");
    let one = world.sign(&original, &a, "party-1");
    let two = world.sign(&one, &b, "party-2");
    let three = world.sign(&two, &notary, "notary-seal");
    // each signature is an update: earlier revisions are prefixes
    assert!(one.starts_with(&original) && two.starts_with(&one) && three.starts_with(&two));
    three
}

fn assert_all_tools_accept(world: &World, signed: &[u8], name: &str) {
    let file = world.write(name, signed);
    if let Some(keep) = std::env::var_os("KEEP_PDF_DIR") {
        std::fs::copy(&file, Path::new(&keep).join(name)).unwrap();
        std::fs::copy(world.path("root.pem"), Path::new(&keep).join("root.pem")).unwrap();
    }

    let (ok, out) = qpdf_check(&file);
    assert!(ok, "qpdf --check refused {name}:\n{out}");

    let (ok, out) = pyhanko_validate(world, &file);
    assert!(ok, "pyhanko refused {name}:\n{out}");
    for field in ["party-1", "party-2", "notary-seal"] {
        assert!(
            out.contains(field),
            "pyhanko did not report {field}:\n{out}"
        );
    }
    assert!(
        !out.contains("INVALID") && !out.contains("UNTRUSTED"),
        "pyhanko found a problem in {name}:\n{out}"
    );
    assert_eq!(
        out.matches("The signature is cryptographically sound.")
            .count(),
        3,
        "pyhanko: every signature must be sound:\n{out}"
    );
    for verdict in [
        "The signature is judged VALID.",
        "The timestamp token is cryptographically sound.",
        "The TSA certificate is trusted.",
    ] {
        assert_eq!(
            out.matches(verdict).count(),
            3,
            "pyhanko: every signature must say {verdict:?}:\n{out}"
        );
    }
    // the signature time-stamp pyHanko reads from each signature
    let times: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Signature timestamp token: "))
        .collect();
    assert_eq!(
        times.len(),
        3,
        "pyhanko: three signature time-stamps:\n{out}"
    );
    eprintln!("pyhanko signature time-stamps in {name}: {times:?}");

    let blocks = pdfsig(world, &file);
    assert_eq!(
        blocks.len(),
        3,
        "pdfsig must list three signatures: {blocks:?}"
    );
    for b in &blocks {
        assert!(
            pdfsig_block_valid(b),
            "pdfsig: signature not valid in {name}:\n{b}"
        );
        assert!(
            b.contains("ETSI.CAdES.detached"),
            "pdfsig: wrong type:\n{b}"
        );
    }
    let last = blocks.last().unwrap();
    assert!(
        last.contains("Total document signed"),
        "pdfsig: the notary seal must cover the whole document:\n{last}"
    );

    let report = verify_pdf_signatures(signed, &world.roots()).unwrap();
    assert!(
        report.is_valid(),
        "our verifier refused {name}: {report:#?}"
    );
    let names: Vec<&str> = report
        .signatures
        .iter()
        .map(|s| s.field_name.as_str())
        .collect();
    assert_eq!(names, ["party-1", "party-2", "notary-seal"]);
    for s in &report.signatures {
        let t = s
            .timestamp
            .as_ref()
            .expect("a verified signature time-stamp");
        assert!((OffsetDateTime::now_utc() - t.gen_time).abs() < Duration::minutes(5));
        assert!(t.tsa_subject.contains("notarium test TSA"));
        assert!(s.signer_subject.as_deref().unwrap_or("").contains("CN="));
    }
    assert_eq!(report.unsigned_tail, 0);
}

#[test]
fn two_parties_and_a_notary_seal_pass_qpdf_pyhanko_pdfsig_and_our_verifier() {
    let world = World::new();
    let signed = signed_three_times(&world, false);
    assert_all_tools_accept(&world, &signed, "signed-classic.pdf");

    // intake sees the three signatures
    let info = inspect_pdf(&signed, &IntakeLimits::default()).unwrap();
    assert_eq!(info.page_count, 3);
    assert!(info.has_signatures());
    assert_eq!(info.sig_flags, 3);
    let fields: Vec<(&str, bool)> = info
        .signature_fields
        .iter()
        .map(|f| (f.name.as_str(), f.signed))
        .collect();
    assert_eq!(
        fields,
        [("party-1", true), ("party-2", true), ("notary-seal", true)]
    );
}

#[test]
fn signing_a_pdf_with_object_and_xref_streams_keeps_its_kind_and_passes() {
    let world = World::new();
    let signed = signed_three_times(&world, true);
    // the updates use xref streams like the original: no classic "xref" keyword anywhere
    assert!(
        !signed.windows(5).any(|w| w == b"\nxref"),
        "a classic xref table was written"
    );
    assert_all_tools_accept(&world, &signed, "signed-modern.pdf");
}

// ------------------------------------------------------------------------------------------
// Tampering

/// Every outside judge and our verifier refuse `bad`; `why` names the change.
fn assert_all_signature_checks_refuse(world: &World, bad: &[u8], name: &str, why: &str) {
    let file = world.write(name, bad);

    let (ok, out) = pyhanko_validate(world, &file);
    assert!(!ok, "pyhanko accepted {why}:\n{out}");

    let blocks = pdfsig(world, &file);
    let all_valid_and_total = !blocks.is_empty()
        && blocks.iter().all(|b| pdfsig_block_valid(b))
        && blocks
            .last()
            .is_some_and(|b| b.contains("Total document signed"));
    assert!(!all_valid_and_total, "pdfsig accepted {why}: {blocks:#?}");

    // an unreadable PDF (Err) is a refusal too
    if let Ok(report) = verify_pdf_signatures(bad, &world.roots()) {
        assert!(
            !report.is_valid(),
            "our verifier accepted {why}: {report:#?}"
        );
    }
}

#[test]
fn a_byte_changed_in_the_signed_range_fails_every_signature_check() {
    let world = World::new();
    let signed = signed_three_times(&world, false);
    // the contract number in the (uncompressed) Info dictionary, covered by all three
    let at = signed
        .windows(8)
        .position(|w| w == b"2026-042")
        .expect("the title is in the file");
    let mut bad = signed.clone();
    bad[at + 7] = b'3';
    assert_all_signature_checks_refuse(&world, &bad, "flipped.pdf", "a flipped byte");

    // pdfsig says why, for each of the three signatures
    let blocks = pdfsig(&world, &world.path("flipped.pdf"));
    assert_eq!(blocks.len(), 3);
    for b in &blocks {
        assert!(b.contains("Digest Mismatch"), "pdfsig: {b}");
    }
    let report = verify_pdf_signatures(&bad, &world.roots()).unwrap();
    assert_eq!(report.signatures.len(), 3);
    for s in &report.signatures {
        assert!(
            s.problems
                .iter()
                .any(|p| p.contains("messageDigest does not match")),
            "{s:#?}"
        );
    }
    // qpdf judges structure only: the tampered file is still a well-formed PDF
    assert!(qpdf_check(&world.path("flipped.pdf")).0);
}

#[test]
fn an_update_appended_after_the_seal_that_changes_a_page_fails_every_signature_check() {
    let world = World::new();
    let signed = signed_three_times(&world, false);
    let mut inc: IncrementalDocument = signed.as_slice().try_into().unwrap();
    let page_id = *inc.get_prev_documents().get_pages().get(&1).unwrap();
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 14.into()]),
            Operation::new("Td", vec![72.into(), 760.into()]),
            Operation::new("Tj", vec![Object::string_literal("the price is 9000 EUR")]),
            Operation::new("ET", vec![]),
        ],
    };
    inc.opt_clone_object_to_new_document(page_id).unwrap();
    let doc = &mut inc.new_document;
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
    doc.get_object_mut(page_id)
        .unwrap()
        .as_dict_mut()
        .unwrap()
        .set("Contents", content_id);
    let mut bad = Vec::new();
    inc.save_to(&mut bad).unwrap();
    assert!(bad.starts_with(&signed));
    assert!(
        qpdf_check(&world.write("appended.pdf", &bad)).0,
        "a well-formed update"
    );

    assert_all_signature_checks_refuse(&world, &bad, "appended.pdf", "an appended page change");
    let report = verify_pdf_signatures(&bad, &world.roots()).unwrap();
    // each signature still verifies over its own revision; the change is what follows them
    assert!(report.signatures.iter().all(|s| s.is_valid()));
    assert!(report.unsigned_tail > 0);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("covered by no signature"))
    );
}

// ------------------------------------------------------------------------------------------
// Encrypted input

#[test]
fn encrypted_pdfs_are_refused_or_flagged_and_never_signed() {
    let world = World::new();
    let plain = world.write("plain.pdf", &contract_pdf(2, false));
    let locked = world.path("locked.pdf");
    let open = world.path("owner-only.pdf");
    for (user, out) in [("secret", &locked), ("", &open)] {
        let o = run(
            Command::new("qpdf")
                .args(["--encrypt", user, "owner-pw", "256", "--"])
                .arg(&plain)
                .arg(out),
            INSTALL_APT,
        );
        assert!(o.status.success(), "qpdf --encrypt: {}", text(&o));
    }
    let limits = IntakeLimits::default();
    let locked = std::fs::read(locked).unwrap();
    assert_eq!(inspect_pdf(&locked, &limits), Err(ContractError::Encrypted));

    let open = std::fs::read(open).unwrap();
    let info = inspect_pdf(&open, &limits).unwrap();
    assert!(info.encrypted);
    assert_eq!(info.page_count, 2);

    let party = world.party("Acme Insurance Co.");
    for bytes in [&locked, &open] {
        let result = sign_pdf(
            bytes,
            &party.signer,
            &SignatureOptions::new("party-1", party.name),
            |s| world.timestamp(s),
        );
        match result {
            Ok(_) => panic!("an encrypted PDF was signed"),
            Err(e) => assert!(matches!(e, ContractError::Unsignable(_)), "{e}"),
        }
    }
}
