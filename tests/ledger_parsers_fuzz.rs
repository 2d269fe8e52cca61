//! Every ledger parser of untrusted input returns an error, never panics, on random bytes and
//! on random mutations of valid inputs.

use notarium::ledger::{
    ALG_ED25519, Checkpoint, Ed25519Signer, Entry, EntryKind, Note, Signer, TlogProof,
    decode_bundle, parse_tile_path,
};
use proptest::prelude::*;

fn valid_entry() -> Vec<u8> {
    let sig = hex::decode("3046022100974e802687983a4d3d3f00ac7ff48c67052d5db7ca565cbe58d8627adaf57345022100e5a50de0d9a01c5df2580d40897264f03983ddcad287366bd1c3a6946b0c9ffa").unwrap();
    Entry {
        kind: EntryKind::InvoiceStatus,
        record_id: [1; 16],
        org_id: [2; 16],
        cert_fingerprint: [3; 32],
        document_sha256: [4; 32],
        canonical_sha256: Some([5; 32]),
        signer: Signer::Org,
        signature: sig,
        token_sha256: [6; 32],
        refers_to: Some([7; 16]),
        detail: "cancel".into(),
    }
    .encode()
    .unwrap()
}

fn valid_proof() -> Vec<u8> {
    let log = Ed25519Signer::generate("log.example", ALG_ED25519).unwrap();
    let note = Checkpoint::new("log.example", 3, [8; 32])
        .sign(&log)
        .unwrap();
    TlogProof {
        extra: Some(vec![1, 2, 3]),
        index: 1,
        proof: vec![[9; 32], [10; 32]],
        checkpoint: note.to_text(),
    }
    .to_text()
    .into_bytes()
}

fn parse_all(bytes: &[u8]) {
    let _ = Entry::decode(bytes);
    let _ = Note::parse(bytes);
    let _ = TlogProof::parse(bytes);
    let _ = decode_bundle(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = Checkpoint::parse(s);
        let _ = parse_tile_path(s);
    }
}

fn mutate(mut v: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for (at, byte, op) in edits {
        if v.is_empty() {
            v.push(*byte);
            continue;
        }
        let i = at % v.len();
        match op % 3 {
            0 => v[i] = *byte,
            1 => v.insert(i, *byte),
            _ => {
                v.truncate(i);
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        parse_all(&bytes);
    }

    #[test]
    fn mutated_valid_inputs(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
        parse_all(&mutate(valid_entry(), &edits));
        parse_all(&mutate(valid_proof(), &edits));
        parse_all(&mutate(b"tile/1/x001/x234/067.p/17".to_vec(), &edits));
    }
}
