//! The witness policy file (`witness-policy.txt` in a bundle, `--witness-policy FILE` for
//! `notarium verify`): a `threshold K` line and one `witness <vkey>` line per witness;
//! blank lines and `#` comments are ignored.

use crate::ledger::{CosignatureVerifier, WitnessPolicy};

use super::error::EvidenceError;

/// Largest policy file accepted.
pub const MAX_POLICY_LEN: usize = 64 * 1024;

/// Writes a policy file.
pub fn policy_text(threshold: usize, witness_vkeys: &[String]) -> String {
    let mut out = String::from(
        "# notarium witness policy: a checkpoint is trusted when the log signed it and at least\n\
         # `threshold` of these witnesses cosigned it (C2SP tlog-cosignature, cosignature/v1).\n",
    );
    out.push_str(&format!("threshold {threshold}\n"));
    for k in witness_vkeys {
        out.push_str(&format!("witness {k}\n"));
    }
    out
}

/// Parses a policy file.
///
/// # Errors
/// [`EvidenceError::WitnessPolicy`] for a malformed line, a bad key, a missing threshold or
/// one above the number of witnesses.
pub fn parse_policy(text: &[u8]) -> Result<WitnessPolicy, EvidenceError> {
    let bad = |m: String| EvidenceError::WitnessPolicy(m);
    if text.len() > MAX_POLICY_LEN {
        return Err(bad("file too large".into()));
    }
    let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8".into()))?;
    let mut threshold = None;
    let mut witnesses = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(' ') {
            Some(("threshold", k)) if threshold.is_none() => {
                threshold = Some(
                    k.trim()
                        .parse::<usize>()
                        .map_err(|_| bad(format!("line {}: bad threshold", n + 1)))?,
                );
            }
            Some(("witness", key)) => witnesses.push(
                CosignatureVerifier::from_vkey(key.trim())
                    .map_err(|e| bad(format!("line {}: {e}", n + 1)))?,
            ),
            _ => {
                return Err(bad(format!(
                    "line {}: expected `threshold K` or `witness KEY`",
                    n + 1
                )));
            }
        }
    }
    let threshold = threshold.ok_or_else(|| bad("no `threshold` line".into()))?;
    WitnessPolicy::new(threshold, witnesses).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{ALG_COSIGNATURE_V1, Ed25519Signer};

    #[test]
    fn round_trip_and_errors() {
        let w1 = Ed25519Signer::generate("w1.example", ALG_COSIGNATURE_V1).unwrap();
        let w2 = Ed25519Signer::generate("w2.example", ALG_COSIGNATURE_V1).unwrap();
        let keys = vec![w1.verifier().to_vkey(), w2.verifier().to_vkey()];
        let p = parse_policy(policy_text(2, &keys).as_bytes()).unwrap();
        assert_eq!(p.threshold(), 2);
        assert!(parse_policy(policy_text(3, &keys).as_bytes()).is_err());
        assert!(parse_policy(b"witness x\n").is_err());
        assert!(parse_policy(b"threshold 0\nthreshold 1\n").is_err());
        assert!(parse_policy(b"threshold one\n").is_err());
        assert!(parse_policy(b"threshold 0\nfoo bar\n").is_err());
        // A log key (type 0x01) is no witness key.
        let log = Ed25519Signer::generate("log.example", crate::ledger::ALG_ED25519).unwrap();
        let text = format!("threshold 1\nwitness {}\n", log.verifier().to_vkey());
        assert!(parse_policy(text.as_bytes()).is_err());
        assert_eq!(
            parse_policy(b"# none\nthreshold 0\n").unwrap().threshold(),
            0
        );
    }
}
