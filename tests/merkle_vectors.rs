//! Known-answer tests: the transparency-dev/merkle proof vectors (tests/data/merkle, Apache-2.0,
//! see its README). Every happy path must verify and every `wantErr` case must be rejected.
//!
//! Our verifiers take typed 32-byte hashes. A leaf hash or proof hash of another length cannot
//! be expressed, so such a vector counts as rejected at decoding, as the HTTP edge would reject
//! it. Some vectors use short placeholder roots ("don't care 1") where only their equality
//! matters; those map to their SHA-256, which keeps equal placeholders equal and unequal ones
//! unequal.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use notarium::ledger::{
    Hash, verify_consistency, verify_inclusion, verify_subtree_consistency,
    verify_subtree_inclusion,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read vector dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    STANDARD
        .decode(v[key].as_str().unwrap_or(""))
        .expect("base64")
}

/// A hash that must be 32 bytes; `None` means the vector is refused at decoding.
fn exact(raw: Vec<u8>) -> Option<Hash> {
    raw.try_into().ok()
}

/// A root: placeholders of other lengths map to their SHA-256.
fn root(v: &Value, key: &str) -> Hash {
    let raw = bytes(v, key);
    match raw.clone().try_into() {
        Ok(h) => h,
        Err(_) => Sha256::digest(&raw).into(),
    }
}

fn proof(v: &Value) -> Option<Vec<Hash>> {
    match &v["proof"] {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| exact(STANDARD.decode(i.as_str().unwrap_or("")).expect("base64")))
            .collect(),
        other => panic!("unexpected proof {other}"),
    }
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing"))
}

/// Runs one vector; `true` when our verifier accepted it.
fn accepted(kind: &str, v: &Value) -> bool {
    let Some(proof) = proof(v) else { return false };
    match kind {
        "inclusion" => {
            let Some(leaf) = exact(bytes(v, "leafHash")) else {
                return false;
            };
            verify_inclusion(
                num(v, "leafIdx"),
                num(v, "treeSize"),
                &leaf,
                &proof,
                &root(v, "root"),
            )
            .is_ok()
        }
        "consistency" => verify_consistency(
            num(v, "size1"),
            num(v, "size2"),
            &proof,
            &root(v, "root1"),
            &root(v, "root2"),
        )
        .is_ok(),
        "subtreeinclusion" => {
            let Some(leaf) = exact(bytes(v, "leafHash")) else {
                return false;
            };
            verify_subtree_inclusion(
                num(v, "leafIdx"),
                num(v, "start"),
                num(v, "end"),
                &leaf,
                &proof,
                &root(v, "root"),
            )
            .is_ok()
        }
        "subtreeconsistency" => verify_subtree_consistency(
            num(v, "start"),
            num(v, "end"),
            num(v, "size"),
            &proof,
            &root(v, "root1"),
            &root(v, "root2"),
        )
        .is_ok(),
        other => panic!("unknown vector kind {other}"),
    }
}

#[test]
fn transparency_dev_vectors() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/merkle");
    let mut all = Vec::new();
    files(&base, &mut all);
    all.sort();
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::<(String, bool), usize>::new();
    for path in &all {
        let rel = path.strip_prefix(&base).expect("under base");
        let kind = rel
            .components()
            .next()
            .expect("kind")
            .as_os_str()
            .to_string_lossy()
            .to_string();
        let v: Value = serde_json::from_slice(&fs::read(path).expect("read")).expect("json");
        let want_err = v["wantErr"].as_bool().unwrap_or(false);
        *counts.entry((kind.clone(), want_err)).or_default() += 1;
        if accepted(&kind, &v) == want_err {
            failures.push(format!("{} (wantErr={want_err})", rel.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} vectors disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(all.len(), 518, "vector files");
    for kind in [
        "inclusion",
        "consistency",
        "subtreeinclusion",
        "subtreeconsistency",
    ] {
        for want_err in [false, true] {
            let n = counts
                .get(&(kind.to_string(), want_err))
                .copied()
                .unwrap_or(0);
            assert!(n > 0, "no {kind} vectors with wantErr={want_err}");
        }
    }
}
