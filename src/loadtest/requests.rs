//! Requests prepared before a run (so the load generator only sends bytes): their kinds, the
//! status each expects, and the builders of every scenario's list, including the weighted,
//! seeded interleaving of the mix.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, Method, header};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::LoadtestError;
use super::options::MixWeights;

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `GET /healthz`.
    Noop,
    /// `POST /tsa`.
    Tsa,
    /// `POST /v1/invoices`.
    Invoice,
    /// `GET /v1/log/inclusion`.
    Proof,
    /// `GET /v1/records/{id}/evidence`.
    Bundle,
}

impl Kind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Noop => "noop",
            Kind::Tsa => "tsa",
            Kind::Invoice => "invoices",
            Kind::Proof => "proofs",
            Kind::Bundle => "bundles",
        }
    }

    /// The HTTP status of a success.
    pub fn expected_status(self) -> u16 {
        match self {
            Kind::Invoice => 201,
            _ => 200,
        }
    }
}

/// One request, ready to send.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// What it does.
    pub kind: Kind,
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Headers besides `host` and `content-length`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body.
    pub body: Bytes,
}

/// The requests of a run.
#[derive(Debug, Clone)]
pub struct RequestSet {
    /// In sending order.
    pub requests: Vec<PreparedRequest>,
    /// True when no request may be sent twice (an invoice sent twice is a duplicate, 409):
    /// the run then ends when they are used up, instead of cycling.
    pub unique: bool,
}

impl RequestSet {
    /// A set that may be cycled.
    pub fn cycled(requests: Vec<PreparedRequest>) -> Self {
        Self {
            requests,
            unique: false,
        }
    }
}

fn get(kind: Kind, path: String, headers: Vec<(HeaderName, HeaderValue)>) -> PreparedRequest {
    PreparedRequest {
        kind,
        method: Method::GET,
        path,
        headers,
        body: Bytes::new(),
    }
}

/// `Authorization: Bearer <key>`.
pub fn bearer(key: &str) -> Result<(HeaderName, HeaderValue), LoadtestError> {
    let v = HeaderValue::from_str(&format!("Bearer {key}"))
        .map_err(|_| LoadtestError::Prepare("API key is not a valid header value".into()))?;
    Ok((header::AUTHORIZATION, v))
}

/// `GET /healthz`.
pub fn noop() -> PreparedRequest {
    get(Kind::Noop, "/healthz".into(), Vec::new())
}

/// `POST /tsa` with each DER query.
pub fn tsa(queries: Vec<Vec<u8>>) -> Vec<PreparedRequest> {
    let ctype = HeaderValue::from_static("application/timestamp-query");
    queries
        .into_iter()
        .map(|q| PreparedRequest {
            kind: Kind::Tsa,
            method: Method::POST,
            path: "/tsa".into(),
            headers: vec![(header::CONTENT_TYPE, ctype.clone())],
            body: Bytes::from(q),
        })
        .collect()
}

/// `POST /v1/invoices` with each (body, X-Signature), as the org whose key is `api_key`.
pub fn invoices(
    signed: Vec<(Vec<u8>, String)>,
    api_key: &str,
) -> Result<Vec<PreparedRequest>, LoadtestError> {
    let auth = bearer(api_key)?;
    let ctype = HeaderValue::from_static("application/xml");
    let x_signature = HeaderName::from_static("x-signature");
    signed
        .into_iter()
        .map(|(body, sig)| {
            let sig = HeaderValue::from_str(&sig)
                .map_err(|_| LoadtestError::Prepare("signature header value".into()))?;
            Ok(PreparedRequest {
                kind: Kind::Invoice,
                method: Method::POST,
                path: "/v1/invoices".into(),
                headers: vec![
                    (header::CONTENT_TYPE, ctype.clone()),
                    auth.clone(),
                    (x_signature.clone(), sig),
                ],
                body: Bytes::from(body),
            })
        })
        .collect()
}

/// `count` inclusion-proof requests for uniformly random indices of a tree of `size` leaves.
pub fn proofs(size: u64, count: usize, seed: u64) -> Result<Vec<PreparedRequest>, LoadtestError> {
    if size == 0 {
        return Err(LoadtestError::Prepare(
            "the log is empty: no inclusion proof to ask for (submit invoices first, --populate)"
                .into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    Ok((0..count)
        .map(|_| {
            let index = rng.gen_range(0..size);
            get(
                Kind::Proof,
                format!("/v1/log/inclusion?index={index}&size={size}"),
                Vec::new(),
            )
        })
        .collect())
}

/// `GET /v1/records/{id}/evidence` for each record, as its owner.
pub fn bundles(
    record_ids: &[String],
    api_key: &str,
) -> Result<Vec<PreparedRequest>, LoadtestError> {
    if record_ids.is_empty() {
        return Err(LoadtestError::Prepare(
            "no record to fetch a bundle of".into(),
        ));
    }
    let auth = bearer(api_key)?;
    record_ids
        .iter()
        .map(|id| {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(LoadtestError::Prepare(format!(
                    "record id `{id}` is not a plain id"
                )));
            }
            Ok(get(
                Kind::Bundle,
                format!("/v1/records/{id}/evidence"),
                vec![auth.clone()],
            ))
        })
        .collect()
}

/// How many requests of each kind a mix of `total` holds (floor of the weighted share, the
/// rest going to the heaviest kinds first).
pub fn mix_counts(weights: &MixWeights, total: usize) -> BTreeMap<Kind, usize> {
    let w = [
        (Kind::Tsa, weights.tsa),
        (Kind::Invoice, weights.invoices),
        (Kind::Proof, weights.proofs),
        (Kind::Bundle, weights.bundles),
    ];
    let sum = weights.total().max(1);
    let mut counts: BTreeMap<Kind, usize> = w
        .iter()
        .filter(|(_, x)| *x > 0)
        .map(|(k, x)| {
            (
                *k,
                (total as u128 * u128::from(*x) / u128::from(sum)) as usize,
            )
        })
        .collect();
    // Each floor loses less than one request, so fewer remain than there are kinds.
    let rest = total.saturating_sub(counts.values().sum());
    let mut by_weight: Vec<(Kind, u32)> = w.iter().copied().filter(|(_, x)| *x > 0).collect();
    by_weight.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (k, _) in by_weight.iter().take(rest) {
        if let Some(c) = counts.get_mut(k) {
            *c += 1;
        }
    }
    counts
}

/// Interleaves per-kind lists in a seeded random order; each list keeps its own order.
pub fn interleave(lists: BTreeMap<Kind, Vec<PreparedRequest>>, seed: u64) -> Vec<PreparedRequest> {
    let mut order: Vec<Kind> = lists
        .iter()
        .flat_map(|(k, v)| std::iter::repeat_n(*k, v.len()))
        .collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut iters: BTreeMap<Kind, std::vec::IntoIter<PreparedRequest>> =
        lists.into_iter().map(|(k, v)| (k, v.into_iter())).collect();
    order
        .into_iter()
        .filter_map(|k| iters.get_mut(&k)?.next())
        .collect()
}

/// The tree size of a C2SP tlog-checkpoint (its second line).
pub fn checkpoint_size(note: &str) -> Option<u64> {
    note.lines().nth(1)?.trim().parse().ok()
}

/// The record id in an invoice receipt (`record_id`, else `id`).
pub fn receipt_record_id(receipt: &serde_json::Value) -> Option<String> {
    let v = receipt.get("record_id").or_else(|| receipt.get("id"))?;
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_stay_inside_the_tree_and_repeat_with_the_seed() {
        let a = proofs(10, 500, 3).unwrap();
        let b = proofs(10, 500, 3).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.path, y.path);
            let q = x.path.strip_prefix("/v1/log/inclusion?index=").unwrap();
            let (i, s) = q.split_once("&size=").unwrap();
            let i: u64 = i.parse().unwrap();
            assert!(i < 10);
            assert_eq!(s, "10");
            seen.insert(i);
        }
        assert_eq!(seen.len(), 10, "500 draws cover 10 indices");
        assert!(proofs(0, 1, 1).is_err());
    }

    #[test]
    fn mix_counts_follow_the_weights_and_sum_to_the_total() {
        let w: MixWeights = "tsa=4,invoices=2,proofs=3,bundles=1".parse().unwrap();
        let c = mix_counts(&w, 1000);
        assert_eq!(c[&Kind::Tsa], 400);
        assert_eq!(c[&Kind::Invoice], 200);
        assert_eq!(c[&Kind::Proof], 300);
        assert_eq!(c[&Kind::Bundle], 100);
        let c = mix_counts(&w, 7);
        assert_eq!(c.values().sum::<usize>(), 7);
        let w: MixWeights = "tsa=1,proofs=1".parse().unwrap();
        let c = mix_counts(&w, 3);
        assert_eq!(c.values().sum::<usize>(), 3);
        assert!(!c.contains_key(&Kind::Invoice));
    }

    #[test]
    fn interleave_keeps_each_kinds_order_and_mixes_kinds() {
        let mut lists = BTreeMap::new();
        lists.insert(
            Kind::Tsa,
            (0..50)
                .map(|i| get(Kind::Tsa, format!("/t{i}"), vec![]))
                .collect::<Vec<_>>(),
        );
        lists.insert(
            Kind::Proof,
            (0..50)
                .map(|i| get(Kind::Proof, format!("/p{i}"), vec![]))
                .collect::<Vec<_>>(),
        );
        let out = interleave(lists, 9);
        assert_eq!(out.len(), 100);
        let tsa: Vec<&str> = out
            .iter()
            .filter(|r| r.kind == Kind::Tsa)
            .map(|r| r.path.as_str())
            .collect();
        let want: Vec<String> = (0..50).map(|i| format!("/t{i}")).collect();
        assert_eq!(tsa, want.iter().map(String::as_str).collect::<Vec<_>>());
        // Not all of one kind first.
        assert!(out[..50].iter().any(|r| r.kind == Kind::Proof));
    }

    #[test]
    fn invoice_and_bundle_requests_carry_their_headers() {
        let r = invoices(vec![(b"<Invoice/>".to_vec(), "c2ln".into())], "k1").unwrap();
        assert_eq!(r[0].method, Method::POST);
        assert_eq!(r[0].path, "/v1/invoices");
        let h: BTreeMap<&str, &str> = r[0]
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(h["content-type"], "application/xml");
        assert_eq!(h["authorization"], "Bearer k1");
        assert_eq!(h["x-signature"], "c2ln");
        assert_eq!(r[0].kind.expected_status(), 201);
        let b = bundles(&["0b5e-1".into()], "k2").unwrap();
        assert_eq!(b[0].path, "/v1/records/0b5e-1/evidence");
        assert!(bundles(&["../x".into()], "k").is_err());
        assert!(bundles(&[], "k").is_err());
        assert!(bearer("bad\nkey").is_err());
    }

    #[test]
    fn checkpoint_and_receipt_fields() {
        let note = "notarium.example/log\n1234\nq6s=\n\n— notarium.example/log abc=\n";
        assert_eq!(checkpoint_size(note), Some(1234));
        assert_eq!(checkpoint_size("origin\n"), None);
        let r = serde_json::json!({"record_id": "r-1", "id": "other"});
        assert_eq!(receipt_record_id(&r).as_deref(), Some("r-1"));
        let r = serde_json::json!({"id": 42});
        assert_eq!(receipt_record_id(&r).as_deref(), Some("42"));
        assert_eq!(receipt_record_id(&serde_json::json!({})), None);
    }
}
