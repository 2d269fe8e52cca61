//! Taxpayer identifiers: the Chinese Unified Social Credit Code (USCC, GB 32100-2015) check
//! character. A failed check is a warning, never a rejection: older identifiers exist.

/// The 31 characters a USCC uses, in value order (no I, O, S, V, Z).
const USCC_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1 to 17 (3^i mod 31).
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Whether `code` is an 18-character USCC with a correct check character.
pub fn uscc_valid(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let mut sum = 0u32;
    for (i, w) in USCC_WEIGHTS.iter().enumerate() {
        let Some(v) = USCC_CHARS.iter().position(|&c| c == b[i]) else {
            return false;
        };
        sum += v as u32 * w;
    }
    let check = (31 - sum % 31) % 31;
    USCC_CHARS[check as usize] == b[17]
}

/// A warning for a tax id that looks like a USCC but fails its check; `None` when it passes
/// or is not a USCC-shaped id (a VAT id, an older 15-digit id).
pub fn tax_id_warning(tax_id: &str) -> Option<String> {
    let t = tax_id.trim();
    if t.len() == 18 && t.bytes().all(|c| c.is_ascii_alphanumeric()) && !uscc_valid(t) {
        Some(format!(
            "{t} looks like a Unified Social Credit Code but its check character is wrong (GB 32100-2015)"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes() {
        // Public registrations (check characters verified by hand with the GB 32100 weights).
        assert!(uscc_valid("91350100M000100Y43"));
        assert!(uscc_valid("91440300100012316L"));
        assert!(!uscc_valid("91350100M000100Y44"));
        assert!(!uscc_valid("91350100M000100Y4"));
        assert!(!uscc_valid("9135010OM000100Y43"));
    }

    #[test]
    fn warnings_only_for_uscc_shaped_ids() {
        assert!(tax_id_warning("91350100M000100Y44").is_some());
        assert!(tax_id_warning("91350100M000100Y43").is_none());
        assert!(tax_id_warning("DE123456789").is_none());
    }
}
