//! The C2SP tlog-witness `add-checkpoint` request body: an `old <size>` line, up to 63
//! consistency proof lines (one base64 hash each), an empty line, then the signed checkpoint
//! note. Parsed strictly and within bounds; built by the log's side with the same type.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ledger::{HASH_SIZE, Hash, MAX_NOTE_SIZE};

use super::error::WitnessError;

/// Most consistency proof lines the spec allows.
pub const MAX_PROOF_LINES: usize = 63;
/// Largest request body accepted: the note and a full proof.
pub const MAX_BODY: usize = MAX_NOTE_SIZE + 64 + MAX_PROOF_LINES * 46;

/// One `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness cosigned last.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as sent.
    pub note: Vec<u8>,
}

impl AddCheckpoint {
    /// Parses a request body.
    ///
    /// # Errors
    /// [`WitnessError::BadRequest`] for anything but the one format the spec allows.
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        let bad = |m: &str| WitnessError::BadRequest(m.to_string());
        if body.len() > MAX_BODY {
            return Err(bad("request body too large"));
        }
        // The header (old line and proof lines) never holds an empty line, so it ends at the
        // first one; the note follows.
        let split = body
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or_else(|| bad("no empty line after the old size and proof"))?;
        let (head, note) = (&body[..split], &body[split + 2..]);
        let head = std::str::from_utf8(head).map_err(|_| bad("header is not UTF-8"))?;
        let mut lines = head.split('\n');
        let old_line = lines.next().unwrap_or_default();
        let old = old_line
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("first line must be `old <size>`"))?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            proof.push(decode_hash(line).ok_or_else(|| bad("proof line is not a base64 hash"))?);
        }
        if old == 0 && !proof.is_empty() {
            return Err(bad("the proof must be empty when the old size is 0"));
        }
        if note.is_empty() {
            return Err(bad("missing checkpoint"));
        }
        Ok(Self {
            old,
            proof,
            note: note.to_vec(),
        })
    }

    /// The request body.
    pub fn to_body(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(STANDARD.encode(h).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.note);
        out
    }
}

/// Parses the body of a 409 answer: a decimal size and a newline (`text/x.tlog.size`).
pub fn parse_size_body(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body)
        .ok()?
        .strip_suffix('\n')
        .and_then(parse_decimal)
}

/// ASCII decimal without sign or leading zero (except "0"), fitting u64.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Standard padded base64 of exactly 32 bytes, in its canonical spelling only.
fn decode_hash(s: &str) -> Option<Hash> {
    let raw = STANDARD.decode(s).ok()?;
    if raw.len() != HASH_SIZE {
        return None;
    }
    let h: Hash = raw.try_into().ok()?;
    (STANDARD.encode(h) == s).then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example request body of the C2SP tlog-witness specification.
    const SPEC_EXAMPLE: &str = "old 20852014\n\
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
\n\
example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    #[test]
    fn parses_the_spec_example_and_round_trips() {
        let r = AddCheckpoint::parse(SPEC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(r.old, 20_852_014);
        assert_eq!(r.proof.len(), 4);
        // First proof hash, decoded independently: base64 -d | xxd -p
        assert_eq!(
            hex::encode(r.proof[0]),
            "3e544d0abc07a6a846aeea6e7b42fb8316e36cc88a03db5e9afb996430e991ac"
        );
        assert!(
            r.note
                .starts_with(b"example.com/behind-the-sofa\n20852163\n")
        );
        assert_eq!(r.to_body(), SPEC_EXAMPLE.as_bytes());
    }

    #[test]
    fn refuses_malformed_bodies() {
        let note = "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} o AAAA\n";
        let h = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            format!("old 1\n{note}"),
            format!("old 01\n{h}\n\n{note}"),
            format!("old -1\n\n{note}"),
            format!("Old 1\n\n{note}"),
            format!("old  1\n\n{note}"),
            format!("old 1\n{}\n\n{note}", &h[..40]),
            format!("old 1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n\n{note}"),
            format!("old 0\n{h}\n\n{note}"),
            "old 1\n\n".to_string(),
            format!("old 1\n{}\n{note}", format!("{h}\n").repeat(64)),
            format!("old 18446744073709551616\n\n{note}"),
        ] {
            assert!(AddCheckpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let ok = format!("old 1\n{}\n{note}", format!("{h}\n").repeat(63));
        assert_eq!(AddCheckpoint::parse(ok.as_bytes()).unwrap().proof.len(), 63);
        assert!(AddCheckpoint::parse(&vec![b'a'; MAX_BODY + 1]).is_err());
        assert!(AddCheckpoint::parse(b"old \xff\n\nx").is_err());
    }

    #[test]
    fn size_bodies() {
        assert_eq!(parse_size_body(b"42\n"), Some(42));
        assert_eq!(parse_size_body(b"0\n"), Some(0));
        assert_eq!(parse_size_body(b"42"), None);
        assert_eq!(parse_size_body(b"042\n"), None);
        assert_eq!(parse_size_body(b"\n"), None);
    }
}
