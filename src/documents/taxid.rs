//! Chinese Unified Social Credit Codes (统一社会信用代码, USCC) per GB 32100-2015.
//!
//! An USCC is 18 characters from the 31-character set `0-9 A-Z` without I, O, Z, S, V:
//! registration authority (1), organisation type (1), administrative division (6 digits),
//! organisation code (9), check character (1). The check character is
//! `31 − (Σ value(cᵢ)·3^(i−1) mod 31) mod 31` over the first 17 characters. Used for the
//! taxpayer ids on Chinese invoices and for organisations' tax ids.

/// The GB 32100-2015 character set, in value order.
const CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights 3^(i−1) mod 31 for positions 1..=17.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a string is not a valid USCC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxIdError {
    /// Not 18 characters long.
    #[error("a unified social credit code has 18 characters, not {0}")]
    Length(usize),
    /// A character outside the GB 32100-2015 set (lower case, I, O, Z, S, V, other).
    #[error(
        "character {ch:?} at position {position} is not allowed in a unified social credit code"
    )]
    Character {
        /// 1-based position.
        position: usize,
        /// The offending character.
        ch: char,
    },
    /// The administrative division code (positions 3–8) is not six digits.
    #[error("positions 3-8 (administrative division code) must be digits")]
    Division,
    /// The 18th character does not match the computed check character.
    #[error("check character is {found:?}, expected {expected:?}")]
    CheckCharacter {
        /// Computed from the first 17 characters.
        expected: char,
        /// As written.
        found: char,
    },
}

fn value_of(position: usize, ch: char) -> Result<u32, TaxIdError> {
    CHARSET
        .find(ch)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or(TaxIdError::Character { position, ch })
}

/// Computes the check character of the first 17 characters of an USCC.
pub fn uscc_check_character(first17: &str) -> Result<char, TaxIdError> {
    let chars: Vec<char> = first17.chars().collect();
    if chars.len() != 17 {
        return Err(TaxIdError::Length(chars.len() + 1));
    }
    let mut sum = 0u32;
    for (i, (&ch, w)) in chars.iter().zip(WEIGHTS).enumerate() {
        sum += value_of(i + 1, ch)? * w;
    }
    let check = (31 - sum % 31) % 31;
    CHARSET
        .chars()
        .nth(usize::try_from(check).unwrap_or(0))
        .ok_or(TaxIdError::Length(17))
}

/// Checks an USCC: length, character set, division digits, check character.
pub fn validate_uscc(id: &str) -> Result<(), TaxIdError> {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() != 18 {
        return Err(TaxIdError::Length(chars.len()));
    }
    for (i, &ch) in chars.iter().enumerate() {
        value_of(i + 1, ch)?;
    }
    if !chars
        .get(2..8)
        .is_some_and(|d| d.iter().all(char::is_ascii_digit))
    {
        return Err(TaxIdError::Division);
    }
    let first17: String = chars.iter().take(17).collect();
    let expected = uscc_check_character(&first17)?;
    let found = chars.get(17).copied().unwrap_or(' ');
    if expected != found {
        return Err(TaxIdError::CheckCharacter { expected, found });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1u32;
        for expected in WEIGHTS {
            assert_eq!(w, expected);
            w = w * 3 % 31;
        }
    }

    /// Ids from the constructed 数电票 sample, whose check characters its README states valid
    /// (also recomputed with an independent Python one-liner while writing this module).
    #[test]
    fn valid_codes_pass() {
        assert_eq!(validate_uscc("91110000600037341L"), Ok(()));
        assert_eq!(validate_uscc("91310115MA1K3BTP2B"), Ok(()));
        assert_eq!(uscc_check_character("91110000600037341"), Ok('L'));
    }

    #[test]
    fn broken_codes_fail_with_the_reason() {
        assert_eq!(
            validate_uscc("91110000600037341M"),
            Err(TaxIdError::CheckCharacter {
                expected: 'L',
                found: 'M'
            })
        );
        assert_eq!(
            validate_uscc("9111000060003734"),
            Err(TaxIdError::Length(16))
        );
        assert_eq!(
            validate_uscc("91110000600037341I"),
            Err(TaxIdError::Character {
                position: 18,
                ch: 'I'
            })
        );
        assert_eq!(
            validate_uscc("91110000600037341l"),
            Err(TaxIdError::Character {
                position: 18,
                ch: 'l'
            })
        );
        assert_eq!(
            validate_uscc("91A10000600037341L"),
            Err(TaxIdError::Division)
        );
        assert_eq!(
            validate_uscc("统一社会信用代码统一社会信用代码统一"),
            Err(TaxIdError::Character {
                position: 1,
                ch: '统'
            })
        );
    }

    #[test]
    fn every_single_character_change_is_caught() {
        // The check is mod 31 with weights coprime to 31, so any one substitution changes it.
        let id: Vec<char> = "91310115MA1K3BTP2B".chars().collect();
        for pos in 0..17 {
            for ch in CHARSET.chars().filter(|c| *c != id[pos]) {
                let mut m = id.clone();
                m[pos] = ch;
                let s: String = m.into_iter().collect();
                if (2..8).contains(&pos) && !ch.is_ascii_digit() {
                    continue;
                }
                assert!(validate_uscc(&s).is_err(), "{s} must fail");
            }
        }
    }
}

/// A warning for an organisation's tax id that looks like a USCC (18 alphanumerics) but fails
/// GB 32100-2015; `None` when it passes or is another kind of id (a VAT id, an older id).
pub fn tax_id_warning(tax_id: &str) -> Option<String> {
    let t = tax_id.trim();
    if t.len() != 18 || !t.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    validate_uscc(t).err().map(|e| {
        format!("{t} looks like a Unified Social Credit Code but fails GB 32100-2015: {e}")
    })
}

#[cfg(test)]
mod warning_tests {
    use super::tax_id_warning;

    #[test]
    fn warnings_only_for_uscc_shaped_ids() {
        assert!(tax_id_warning("91350100M000100Y44").is_some());
        assert!(tax_id_warning("91350100M000100Y43").is_none());
        assert!(tax_id_warning("DE123456789").is_none());
    }
}
