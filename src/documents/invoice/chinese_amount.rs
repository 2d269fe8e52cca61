//! Amounts in Chinese financial capitals (大写金额): figure → capitals, and capitals → figure.
//!
//! Written after the People's Bank of China rules for filling in bills (正确填写票据和结算凭证
//! 的基本规定): 零壹贰叁肆伍陆柒捌玖, units 拾佰仟万亿, 圆 (or 元), 角, 分, 整 (or 正) when no
//! 分 follows; a negative amount is prefixed 负 (issued red-letter invoices also write （负数）).
//! Because every digit carries its unit, the value of a capital amount is unambiguous; the
//! reader therefore accepts the variants the rules allow (with or without 零 after 圆 or 万,
//! 整 after 角 or not) and refuses forms that are not (two digits in a row, units out of order,
//! colloquial 壹仟贰 for 1 200).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const MAX_YUAN: u128 = 10_000_000_000_000_000; // 10^16: beyond 亿亿 nobody invoices

/// Writes an amount in capitals, e.g. `17198.00` → 壹万柒仟壹佰玖拾捌圆整.
///
/// `None` when the amount has more than two decimals (capitals stop at 分) or is 10^16 or more.
pub fn to_capitals(amount: &Decimal) -> Option<String> {
    let cents = amount.checked_mul(Decimal::ONE_HUNDRED)?;
    if !cents.fract().is_zero() {
        return None;
    }
    let cents = cents.abs().trunc().to_u128()?;
    let (yuan, jiao, fen) = (cents / 100, (cents / 10) % 10, cents % 10);
    if yuan >= MAX_YUAN {
        return None;
    }
    let mut out = String::new();
    if amount.is_sign_negative() && cents > 0 {
        out.push('负');
    }
    if yuan > 0 {
        out.push_str(&integer(yuan));
        out.push('圆');
    }
    match (jiao, fen) {
        (0, 0) if yuan == 0 => out.push_str("零圆整"),
        (0, 0) => out.push('整'),
        (j, 0) => {
            out.push(digit(j));
            out.push_str("角整");
        }
        (0, f) => {
            if yuan > 0 {
                out.push('零');
            }
            out.push(digit(f));
            out.push('分');
        }
        (j, f) => {
            out.push(digit(j));
            out.push('角');
            out.push(digit(f));
            out.push('分');
        }
    }
    Some(out)
}

fn digit(d: u128) -> char {
    usize::try_from(d)
        .ok()
        .and_then(|i| DIGITS.get(i))
        .copied()
        .unwrap_or('零')
}

/// Capitals of a positive integer below 10^16.
fn integer(n: u128) -> String {
    const YI: u128 = 100_000_000;
    const WAN: u128 = 10_000;
    if n >= YI {
        let mut s = integer(n / YI);
        s.push('亿');
        let rest = n % YI;
        if rest > 0 {
            if rest < YI / 10 {
                s.push('零');
            }
            s.push_str(&integer(rest));
        }
        s
    } else if n >= WAN {
        let mut s = below_wan(n / WAN);
        s.push('万');
        let rest = n % WAN;
        if rest > 0 {
            if rest < WAN / 10 {
                s.push('零');
            }
            s.push_str(&below_wan(rest));
        }
        s
    } else {
        below_wan(n)
    }
}

/// Capitals of 1..=9999: one 零 per run of inner zeros, trailing zeros silent.
fn below_wan(n: u128) -> String {
    let units = [
        (1000, Some('仟')),
        (100, Some('佰')),
        (10, Some('拾')),
        (1, None),
    ];
    let mut s = String::new();
    let mut pending_zero = false;
    for (value, unit) in units {
        let d = (n / value) % 10;
        if d == 0 {
            pending_zero = !s.is_empty();
            continue;
        }
        if pending_zero {
            s.push('零');
            pending_zero = false;
        }
        s.push(digit(d));
        if let Some(u) = unit {
            s.push(u);
        }
    }
    s
}

/// Reads an amount in capitals; `None` if it is not a well-formed capital amount.
pub fn parse_capitals(text: &str) -> Option<Decimal> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut s = compact.as_str();
    s = s.strip_prefix("人民币").unwrap_or(s);
    let mut negative = false;
    for prefix in ["（负数）", "(负数)", "负"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            negative = true;
            s = rest;
            break;
        }
    }
    let (int_part, frac_part) = match s.find(['圆', '元']) {
        Some(i) => {
            let sep_len = '圆'.len_utf8();
            (s.get(..i)?, s.get(i + sep_len..)?)
        }
        None => ("", s),
    };
    let has_yuan = s.contains(['圆', '元']);
    let yuan = if int_part.is_empty() {
        0
    } else {
        parse_integer(int_part)?
    };
    let (jiao, fen, frac_meaningful) = parse_fraction(frac_part, has_yuan)?;
    if !has_yuan && !frac_meaningful {
        return None;
    }
    if has_yuan && int_part.is_empty() {
        return None;
    }
    let cents = yuan.checked_mul(100)?.checked_add(jiao * 10 + fen)?;
    let mut value = Decimal::from_i128_with_scale(i128::try_from(cents).ok()?, 2);
    if negative {
        value = -value;
    }
    Some(value)
}

fn digit_value(c: char) -> Option<u128> {
    DIGITS
        .iter()
        .position(|d| *d == c)
        .and_then(|p| u128::try_from(p).ok())
}

/// The integer part before 圆: sections of 仟佰拾 joined by 万 and 亿.
fn parse_integer(s: &str) -> Option<u128> {
    let mut total: u128 = 0; // completed 亿 level
    let mut wan_part: u128 = 0; // completed 万 section of the current 亿 level
    let mut section: u128 = 0; // current section below 万
    let mut pending: Option<u128> = None; // a digit waiting for its unit
    let mut last_unit: Option<u128> = None; // last unit seen (10, 100, 1000, 10^4, 10^8)
    let mut zero_since_unit = false;
    let mut seen_wan = false;
    let mut seen_yi = false;
    let mut any = false;

    // A bare digit closing a section is the ones digit only right after 拾, after 零, or
    // alone; 壹仟贰 would colloquially mean 1 200 and is refused.
    let close = |pending: &mut Option<u128>, last_unit: Option<u128>, zero: bool| -> Option<u128> {
        match pending.take() {
            None => Some(0),
            Some(d) if last_unit.is_none() || last_unit == Some(10) || zero => Some(d),
            Some(_) => None,
        }
    };

    for c in s.chars() {
        if c == '零' {
            if pending.is_some() {
                return None;
            }
            zero_since_unit = true;
            any = true;
            continue;
        }
        if let Some(d) = digit_value(c) {
            if pending.is_some() {
                return None;
            }
            pending = Some(d);
            any = true;
            continue;
        }
        let unit: u128 = match c {
            '拾' => 10,
            '佰' => 100,
            '仟' => 1000,
            '万' => 10_000,
            '亿' => 100_000_000,
            _ => return None,
        };
        if unit < 10_000 {
            let d = match pending.take() {
                Some(d) => d,
                // A leading 拾 (拾圆 for 10) is tolerated.
                None if unit == 10 && !any => 1,
                None => return None,
            };
            if last_unit.is_some_and(|u| u < 10_000 && u <= unit) {
                return None;
            }
            section += d * unit;
        } else if unit == 10_000 {
            if seen_wan {
                return None;
            }
            section += close(&mut pending, last_unit, zero_since_unit)?;
            if section == 0 {
                return None;
            }
            wan_part = section * 10_000;
            section = 0;
            seen_wan = true;
        } else {
            if seen_yi {
                return None;
            }
            section += close(&mut pending, last_unit, zero_since_unit)?;
            let level = wan_part + section;
            if level == 0 {
                return None;
            }
            total = level * 100_000_000;
            wan_part = 0;
            section = 0;
            seen_wan = false;
            seen_yi = true;
        }
        last_unit = Some(unit);
        zero_since_unit = false;
        any = true;
    }
    if !any {
        return None;
    }
    let ones = close(&mut pending, last_unit, zero_since_unit)?;
    Some(total + wan_part + section + ones)
}

/// The part after 圆: [零] [d角|零角] [零] [d分] [整|正]. Returns (角, 分, anything-said).
fn parse_fraction(s: &str, has_yuan: bool) -> Option<(u128, u128, bool)> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut jiao = 0;
    let mut fen = 0;
    let mut said = false;
    let mut ended = false;
    while let Some(&c) = chars.get(i) {
        if ended {
            return None;
        }
        match c {
            '整' | '正' => {
                if !has_yuan && !said {
                    return None;
                }
                ended = true;
                said = true;
                i += 1;
            }
            '零' if matches!(chars.get(i + 1), Some('角')) => {
                i += 2;
            }
            '零' => {
                i += 1;
            }
            d => {
                let value = digit_value(d)?;
                match chars.get(i + 1) {
                    Some('角') if !said => jiao = value,
                    Some('分') if fen == 0 => fen = value,
                    _ => return None,
                }
                said = true;
                i += 2;
            }
        }
    }
    Some((jiao, fen, said || has_yuan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test literal")
    }

    /// Examples of the PBoC bill-filling rules, written there in both allowed forms.
    #[test]
    fn pboc_examples_read_in_every_allowed_form() {
        let cases = [
            ("1680.32", "壹仟陆佰捌拾元零叁角贰分"),
            ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
            ("107000.53", "壹拾万柒仟元零伍角叁分"),
            ("107000.53", "壹拾万零柒仟元伍角叁分"),
            ("1409.50", "壹仟肆佰零玖元伍角"),
            ("1409.50", "壹仟肆佰零玖元伍角整"),
            ("6007.14", "陆仟零柒元壹角肆分"),
            ("325.04", "叁佰贰拾伍元零肆分"),
            ("17198.00", "壹万柒仟壹佰玖拾捌圆整"),
            ("1060.00", "壹仟零陆拾元整"),
            ("-500.00", "（负数）伍佰圆整"),
            ("-500.00", "负伍佰圆整"),
            ("0.50", "伍角"),
            ("0.05", "伍分"),
            ("0.00", "零圆整"),
            ("10.00", "拾圆整"),
            ("100010000.00", "壹亿零壹万圆整"),
            ("1000100000000.00", "壹万零壹亿圆整"),
        ];
        for (figure, capitals) in cases {
            assert_eq!(parse_capitals(capitals), Some(dec(figure)), "{capitals}");
        }
    }

    #[test]
    fn writes_the_standard_form() {
        let cases = [
            ("17198.00", "壹万柒仟壹佰玖拾捌圆整"),
            ("1680.32", "壹仟陆佰捌拾圆叁角贰分"),
            ("107000.53", "壹拾万柒仟圆伍角叁分"),
            ("1409.50", "壹仟肆佰零玖圆伍角整"),
            ("6007.14", "陆仟零柒圆壹角肆分"),
            ("325.04", "叁佰贰拾伍圆零肆分"),
            ("10050", "壹万零伍拾圆整"),
            ("100000000", "壹亿圆整"),
            ("100010000", "壹亿零壹万圆整"),
            ("-500", "负伍佰圆整"),
            ("0.5", "伍角整"),
            ("0", "零圆整"),
        ];
        for (figure, capitals) in cases {
            assert_eq!(
                to_capitals(&dec(figure)).as_deref(),
                Some(capitals),
                "{figure}"
            );
        }
        assert_eq!(to_capitals(&dec("1.005")), None, "no capitals below 分");
        assert_eq!(to_capitals(&dec("10000000000000000")), None);
    }

    #[test]
    fn refuses_malformed_capitals() {
        for bad in [
            "",
            "圆整",
            "整",
            "壹仟贰圆整",
            "壹壹圆整",
            "壹佰仟圆整",
            "壹万贰圆整",
            "伍角伍角",
            "壹圆整伍角",
            "abc",
            "壹圆伍",
            "万圆整",
            "壹亿亿圆整",
            "壹万万圆整",
            "壹零圆整",
        ] {
            assert_eq!(parse_capitals(bad), None, "{bad:?} must be refused");
        }
    }

    proptest! {
        #[test]
        fn round_trip(cents in -10_000_000_000_000_000i64..10_000_000_000_000_000i64) {
            let amount = Decimal::new(cents, 2);
            let caps = to_capitals(&amount).expect("in range");
            prop_assert_eq!(parse_capitals(&caps), Some(amount), "{}", caps);
        }

        #[test]
        fn never_panics(s in "[零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整正负]{0,24}") {
            let _ = parse_capitals(&s);
        }
    }
}
