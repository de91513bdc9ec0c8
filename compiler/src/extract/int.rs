//! `int` and `digits`: a number as a count, and a digit string.

use super::date::numeric_date_at;
use super::number::{Num, Shape, is_numeral};
use super::utterance::{Utterance, is_separator};
use super::{Extracted, found};

/// Whether number `k` is part of a date or a clock time, which `int` and `money` leave to
/// their own readers: a day or a month (十号, 3日, 十二月, 2026年12月), an hour or its
/// minutes (三点, 8:30, 三点十五, 15时).
pub(crate) fn in_date_or_time(u: &Utterance, nums: &[Num], k: usize) -> bool {
    let num = &nums[k];
    let after = u.at(num.end);
    let hour = num.small(24).is_some();
    match after {
        '号' | '日' | '月' => return true,
        '点' | '點' if hour => return true,
        '时' if hour && !"候间".contains(u.at(num.end + 1)) => return true,
        ':' if hour && u.at(num.end + 1).is_ascii_digit() => return true,
        '年' => {
            // A year before a month: 2026年12月.
            if let Some(next) = nums.get(k + 1)
                && next.start == num.end + 1
                && u.at(next.end) == '月'
            {
                return true;
            }
        }
        _ => {}
    }
    let mut before = u.before(num.start);
    let mut at = num.start;
    if before == '过' && at >= 1 {
        // 十点过五分
        at -= 1;
        before = u.before(at);
    }
    let before_that = u.before(at.saturating_sub(1));
    // The minutes of 三点十五, 十点过五分, 8:30.
    ((before == '点' || before == '點') && at >= 2 && is_numeral(before_that))
        || (before == ':' && at >= 2 && before_that.is_ascii_digit())
}

/// "一千二百点五", "三点五": a whole number, 点, then digits read one by one. Returns the
/// value as a decimal (mantissa, scale) and where it ends. Not after a part of the day
/// (下午三点五十 is a time) nor before 分 or 刻 (三点零五分).
pub(crate) fn dian_decimal(u: &Utterance, nums: &[Num], k: usize) -> Option<(u128, u8, usize)> {
    let num = &nums[k];
    let whole = num.integer()?;
    if num.approx || !matches!(u.at(num.end), '点' | '點') || super::time::period_before(u, num.start) {
        return None;
    }
    let frac = nums.get(k + 1).filter(|n| n.start == num.end + 1 && n.shape == Shape::Digits)?;
    if matches!(u.at(frac.end), '分' | '刻') {
        return None;
    }
    let digits = u8::try_from(frac.end - frac.start).ok()?;
    let mantissa = whole.checked_mul(10u128.checked_pow(u32::from(digits))?)?.checked_add(frac.integer()?)?;
    Some((mantissa, digits, frac.end))
}

/// The first whole number that is neither a date nor a time nor negated: "两个" 2, "一百零三"
/// 103, "三千五" 3500, "1.5万" 15000, "八百多" 800, "负五" -5.
pub(crate) fn find_int(u: &Utterance, nums: &[Num]) -> Option<Extracted<i64>> {
    let mut k = 0;
    while k < nums.len() {
        if let Some(date) = numeric_date_at(u, nums, k) {
            k = date.last + 1;
            continue;
        }
        let index = k;
        k += 1;
        let num = &nums[index];
        if in_date_or_time(u, nums, index) {
            continue;
        }
        if dian_decimal(u, nums, index).is_some() {
            // 一千二百点五 is not a whole number, and its 五 is no number of its own.
            k += 1;
            continue;
        }
        let Some(magnitude) = num.integer() else { continue };
        let negative = u.before(num.start) == '负';
        let start = if negative { num.start - 1 } else { num.start };
        let Ok(magnitude) = i128::try_from(magnitude) else { continue };
        let Ok(value) = i64::try_from(if negative { -magnitude } else { magnitude }) else { continue };
        if u.negated_before(start) || u.refused_after(num.end) {
            continue;
        }
        return Some(found(u, value, start, num.end));
    }
    None
}

/// The first digit string whose length is in `lengths`: digits said one by one ("八八三幺"
/// 8831, "幺三八" 138, "尾号是三九三六" 3936) or written ("8831", "8 8 3 1", "138-8888"),
/// groups joined across spaces, dashes and commas; a count gives its digits ("一千三百八十八"
/// 1388). Decimals and rough numbers are not digit strings.
pub(crate) fn find_digits(
    u: &Utterance,
    nums: &[Num],
    lengths: std::ops::RangeInclusive<usize>,
) -> Option<Extracted<String>> {
    let mut k = 0;
    while k < nums.len() {
        let first = &nums[k];
        k += 1;
        if first.approx || first.shape == Shape::Decimal {
            continue;
        }
        let mut digits = String::new();
        first.write_digits(u, &mut digits);
        let mut end = first.end;
        if first.shape == Shape::Digits {
            while let Some(next) = nums.get(k) {
                let joined = next.shape == Shape::Digits
                    && !next.approx
                    && u.chars[end..next.start].iter().all(|&c| is_separator(c) && " -,、".contains(c));
                if !joined {
                    break;
                }
                next.write_digits(u, &mut digits);
                end = next.end;
                k += 1;
            }
        }
        if !lengths.contains(&digits.len()) || u.negated_before(first.start) {
            continue;
        }
        return Some(found(u, digits, first.start, end));
    }
    None
}
