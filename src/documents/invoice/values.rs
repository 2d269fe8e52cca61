//! Strict reading of decimal and date values, and the overflow-safe arithmetic rules use.
//!
//! Amounts are `rust_decimal::Decimal`, never floats. The lexical form accepted is xs:decimal
//! (optional sign, digits, optional fraction; no exponent, no grouping), bounded to 18 integer
//! and 10 fraction digits so every sum and product of an invoice fits the 96-bit mantissa;
//! arithmetic is `checked_*` all the same, so no input can panic.

use rust_decimal::Decimal;
use time::{Date, Month};

/// Most integer digits accepted in a decimal value.
pub const MAX_INT_DIGITS: usize = 18;
/// Most fraction digits accepted in a decimal value.
pub const MAX_FRACTION_DIGITS: usize = 10;

/// Parses an xs:decimal lexical value (after trimming); `None` if it is not one or too long.
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, s.get(1..)?),
        b'+' => (false, s.get(1..)?),
        _ => (false, s),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return None;
    }
    let int_trimmed = int_part.trim_start_matches('0');
    if int_trimmed.len() > MAX_INT_DIGITS || frac_part.len() > MAX_FRACTION_DIGITS {
        return None;
    }
    let mantissa_digits = format!("{int_trimmed}{frac_part}");
    let mantissa: i128 = if mantissa_digits.is_empty() {
        0
    } else {
        mantissa_digits.parse().ok()?
    };
    let scale = u32::try_from(frac_part.len()).ok()?;
    let value = Decimal::try_from_i128_with_scale(mantissa, scale).ok()?;
    Some(if negative { -value } else { value })
}

/// Parses a percentage or fraction rate as Chinese invoices write it: `0.13`, `13%`.
///
/// Returns the rate as a percentage (`13`). `None` if neither form.
pub fn parse_rate_percent(s: &str) -> Option<Decimal> {
    let s = s.trim();
    match s.strip_suffix('%').or_else(|| s.strip_suffix('％')) {
        Some(p) => parse_decimal(p),
        None => parse_decimal(s)?.checked_mul(Decimal::ONE_HUNDRED),
    }
}

/// Rounds to two decimals, half towards positive infinity, as XPath `round(x*100) div 100`
/// does in the EN 16931 schematron. `None` only on overflow.
pub fn round2(x: Decimal) -> Option<Decimal> {
    let scaled = x.checked_mul(Decimal::ONE_HUNDRED)?;
    let half = Decimal::new(5, 1);
    let rounded = scaled.checked_add(half)?.floor();
    rounded.checked_div(Decimal::ONE_HUNDRED)
}

/// Rounds to an integer, half towards positive infinity (XPath `round`). `None` on overflow.
pub fn round0(x: Decimal) -> Option<Decimal> {
    Some(x.checked_add(Decimal::new(5, 1))?.floor())
}

/// Sums values, `None` on overflow.
pub fn checked_sum<'a>(values: impl IntoIterator<Item = &'a Decimal>) -> Option<Decimal> {
    values
        .into_iter()
        .try_fold(Decimal::ZERO, |acc, v| acc.checked_add(*v))
}

/// The canonical text of a decimal: trailing fraction zeros removed, no `-0`.
pub fn canonical_decimal(d: &Decimal) -> String {
    d.normalize().to_string()
}

/// Parses `YYYY-MM-DD` (xs:date without timezone).
pub fn parse_iso_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    ymd(s.get(0..4)?, s.get(5..7)?, s.get(8..10)?)
}

/// Parses `YYYYMMDD` (UN/EDIFACT date format 102, used by CII).
pub fn parse_compact_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() != 8 {
        return None;
    }
    ymd(s.get(0..4)?, s.get(4..6)?, s.get(6..8)?)
}

/// Parses the dates Chinese invoices carry: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` (date part),
/// `YYYYMMDD` or `YYYY年MM月DD日`.
pub fn parse_cn_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if let Some(rest) = s.strip_suffix('日') {
        let (y, rest) = rest.split_once('年')?;
        let (m, d) = rest.split_once('月')?;
        return ymd(y, m, d);
    }
    if s.len() == 8 {
        return parse_compact_date(s);
    }
    let date_part = match s.split_once([' ', 'T']) {
        Some((d, time)) => {
            if !valid_time(time) {
                return None;
            }
            d
        }
        None => s,
    };
    parse_iso_date(date_part)
}

fn valid_time(t: &str) -> bool {
    let parts: Vec<&str> = t.split(':').collect();
    let bounds = [23u32, 59, 60];
    (2..=3).contains(&parts.len())
        && parts.iter().zip(bounds).all(|(p, max)| {
            p.len() == 2
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|v| v <= max)
        })
}

fn ymd(y: &str, m: &str, d: &str) -> Option<Date> {
    let digits = |p: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(y, 4..=4) || !digits(m, 1..=2) || !digits(d, 1..=2) {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// Formats a date as `YYYY-MM-DD`.
pub fn iso_date(d: &Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test literal")
    }

    #[test]
    fn decimals_strict_lexical_form() {
        assert_eq!(parse_decimal(" 720.81 "), Some(dec("720.81")));
        assert_eq!(parse_decimal("-0.01"), Some(dec("-0.01")));
        assert_eq!(parse_decimal("+5"), Some(dec("5")));
        assert_eq!(parse_decimal(".5"), Some(dec("0.5")));
        assert_eq!(parse_decimal("5."), Some(dec("5")));
        assert_eq!(
            parse_decimal("000000000000000000000001.5"),
            Some(dec("1.5"))
        );
        for bad in [
            "", "-", ".", "1e5", "1_000", "1,5", "0x10", "1.2.3", "--1", "NaN", " - 1",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?} must be refused");
        }
        assert_eq!(
            parse_decimal(&"9".repeat(19)),
            None,
            "too many integer digits"
        );
        assert_eq!(
            parse_decimal("0.12345678901"),
            None,
            "too many fraction digits"
        );
        assert!(parse_decimal(&format!("{}.{}", "9".repeat(18), "9".repeat(10))).is_some());
    }

    #[test]
    fn rates_as_fraction_or_percent() {
        assert_eq!(parse_rate_percent("0.13"), Some(dec("13")));
        assert_eq!(parse_rate_percent("0.130000"), Some(dec("13")));
        assert_eq!(parse_rate_percent("6%"), Some(dec("6")));
        assert_eq!(parse_rate_percent("免税"), None);
    }

    #[test]
    fn round2_is_half_up_like_xpath() {
        assert_eq!(round2(dec("2.345")), Some(dec("2.35")));
        assert_eq!(round2(dec("2.344")), Some(dec("2.34")));
        // XPath round() goes half towards positive infinity, also for negatives.
        assert_eq!(round2(dec("-2.345")), Some(dec("-2.34")));
        assert_eq!(round2(dec("-2.346")), Some(dec("-2.35")));
        assert_eq!(round0(dec("0.5")), Some(dec("1")), "not banker's rounding");
        assert_eq!(round0(dec("-0.5")), Some(dec("0")));
        assert_eq!(round0(dec("2.49")), Some(dec("2")));
    }

    #[test]
    fn decimal_sum_is_exact_where_floats_are_not() {
        // The en16931-cii-rounding-issue.xml lines: floats give 1.1368683772161603e-13.
        let lines = [dec("720.81"), dec("0.01"), dec("-720.81"), dec("-0.01")];
        assert_eq!(checked_sum(&lines), Some(Decimal::ZERO));
        let float: f64 = [720.81f64, 0.01, -720.81, -0.01].iter().sum();
        assert_ne!(
            float, 0.0,
            "the file exists because float sums are not zero"
        );
        assert_eq!(checked_sum(&[Decimal::MAX, Decimal::ONE]), None);
    }

    #[test]
    fn canonical_decimals() {
        assert_eq!(canonical_decimal(&dec("17198.00")), "17198");
        assert_eq!(canonical_decimal(&dec("0.060")), "0.06");
        assert_eq!(canonical_decimal(&dec("-0.00")), "0");
    }

    #[test]
    fn dates() {
        let d = Date::from_calendar_date(2026, Month::November, 20).expect("valid");
        assert_eq!(parse_iso_date("2026-11-20"), Some(d));
        assert_eq!(parse_compact_date("20261120"), Some(d));
        assert_eq!(parse_cn_date("2026-11-20 10:15:00"), Some(d));
        assert_eq!(parse_cn_date("2026年11月20日"), Some(d));
        assert_eq!(parse_cn_date("20261120"), Some(d));
        assert_eq!(iso_date(&d), "2026-11-20");
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-11-20",
            "2026-11-20 25:00:00",
            "2026/11/20",
            "２０２６-11-20",
        ] {
            assert_eq!(parse_cn_date(bad), None, "{bad:?} must be refused");
        }
        assert_eq!(parse_iso_date("2026-1-20"), None);
    }
}
