//! `money`: an amount in 元, 角 (毛) and 分.

use super::date::numeric_date_at;
use super::int::{dian_decimal, in_date_or_time};
use super::number::{Decimal, Num, Shape};
use super::utterance::Utterance;
use super::{Extracted, found};
use crate::value::Money;

/// Words for 元 after an amount, longest first.
const YUAN: &[(&str, ())] = &[
    ("块钱", ()),
    ("元钱", ()),
    ("块人民币", ()),
    ("元人民币", ()),
    ("人民币", ()),
    ("块", ()),
    ("元", ()),
    ("圆", ()),
];

/// What may not follow a bare number for it to be an amount: dates, times, counts of
/// other things ("十号", "三点", "两个", "三期", "两次", "五星", "20%").
const NOT_MONEY_AFTER: &str = "号日月年天周星礼拜点點时秒个次期笔岁位张台遍倍成折级档颗条项件份种段层楼票套声把间辆本只双对口趟圈小刻度米斤克人家户栋页章节集局场%‰:-/";

/// Words after which a number is an identifier, not an amount ("尾号3936", "卡号是…").
const IDENTIFIERS: &[&str] =
    &["尾号", "号码", "卡号", "账号", "帐号", "编号", "手机", "电话", "密码", "验证码", "身份证"];

/// The first amount that is not negated: "三千五" 3500.00, "两万块钱" 20000.00, "1.5万"
/// 15000.00, "一千二百五十元五角" 1250.50, "八百多" 800.00, "五十块零五毛" 50.50,
/// "三块五" 3.50.
pub(crate) fn find_money(u: &Utterance, nums: &[Num]) -> Option<Extracted<Money>> {
    let mut k = 0;
    while k < nums.len() {
        if let Some(date) = numeric_date_at(u, nums, k) {
            k = date.last + 1;
            continue;
        }
        let index = k;
        k += 1;
        let num = &nums[index];
        let dian = dian_decimal(u, nums, index);
        if dian.is_none() && in_date_or_time(u, nums, index) {
            continue;
        }
        // 第三期; 百分之五 and 三分之一 are not amounts.
        if is_identifier(u, num.start) || matches!(u.before(num.start), '第' | '之') {
            continue;
        }
        // 三九三六 is a digit string, not an amount (3500 written in digits is one).
        if num.shape == Shape::Digits
            && num.end - num.start > 1
            && !u.chars[num.start..num.end].iter().all(|c| c.is_ascii_digit() || *c == ',')
        {
            continue;
        }
        let Some((cents, end, used)) = amount(u, nums, index, dian) else { continue };
        let start = if matches!(u.before(num.start), '¥' | '￥') { num.start - 1 } else { num.start };
        k = index + used;
        let Some(money) = i64::try_from(cents).ok().map(Money::from_cents) else { continue };
        if u.negated_before(start) || u.refused_after(end) {
            continue;
        }
        return Some(found(u, money, start, end));
    }
    None
}

/// Whether an identifier word (尾号, 卡号 …, then maybe 是/为/：) stands before `start`.
fn is_identifier(u: &Utterance, start: usize) -> bool {
    let mut at = start;
    if matches!(u.before(at), '是' | '为' | ':' | ' ') {
        at -= 1;
    }
    IDENTIFIERS.iter().any(|w| {
        let len = w.chars().count();
        at >= len && u.has(at - len, w)
    })
}

/// The amount that starts with number `k`, in cents, where it ends and how many numbers it
/// used; `None` when the number is not an amount.
fn amount(u: &Utterance, nums: &[Num], k: usize, dian: Option<(u128, u8, usize)>) -> Option<(u128, usize, usize)> {
    let num = &nums[k];
    let (value, mut at, mut used) = match dian {
        Some((mantissa, scale, end)) => (Decimal { mantissa, scale }, end, 2),
        None => (num.value?, num.end, 1),
    };
    let hundredths = value.hundredths()?;
    // A small whole number, as 角 or 分 are counted.
    let small = |n: &Num| n.small(9).filter(|_| n.shape != Shape::Decimal);
    let num_at = |at: usize| nums.binary_search_by_key(&at, |n| n.start).ok().map(|i| &nums[i]);
    // The 分 that may follow 毛 or 角 (五毛三, 五毛三分): its cents and where it ends.
    let fen_after = |at: usize| {
        let fen = num_at(at)?;
        let cents = u128::from(small(fen)?);
        Some((cents, if u.at(fen.end) == '分' { fen.end + 1 } else { fen.end }))
    };
    if let Some((len, ())) = u.first_of(at, YUAN) {
        at += len;
        let mut cents = hundredths;
        if value.scale == 0 {
            if u.at(at) == '半' {
                // 三块半
                cents = cents.saturating_add(50);
                at += 1;
            } else if let Some(next) = num_at(at).filter(|n| small(n).is_some()) {
                let d = u128::from(small(next)?);
                let after = u.at(next.end);
                used += 1;
                at = next.end;
                match after {
                    '毛' | '角' => {
                        cents = cents.saturating_add(d * 10);
                        at += 1;
                        if let Some((fen, end)) = fen_after(at) {
                            cents = cents.saturating_add(fen);
                            used += 1;
                            at = end;
                        }
                    }
                    '分' => {
                        cents = cents.saturating_add(d);
                        at += 1;
                    }
                    // 三块零五 is 3.05, 三块五 is 3.50.
                    _ if next.leading_zero(u) => cents = cents.saturating_add(d),
                    _ => cents = cents.saturating_add(d * 10),
                }
            }
        }
        if u.at(at) == '整' {
            at += 1;
        }
        if u.at(at) == '钱' {
            at += 1;
        }
        return Some((cents, at, used));
    }
    let whole_small = value.integer().filter(|&n| n <= 9 && !num.approx && dian.is_none());
    match (u.at(at), whole_small) {
        ('毛' | '角', Some(jiao)) => {
            let mut cents = jiao * 10;
            at += 1;
            if let Some((fen, end)) = fen_after(at) {
                cents = cents.saturating_add(fen);
                used += 1;
                at = end;
            }
            if u.at(at) == '钱' {
                at += 1;
            }
            Some((cents, at, used))
        }
        // 五分, 五分钱; not 五分钟, 五分之一.
        ('分', Some(fen)) if !matches!(u.at(at + 1), '钟' | '之') => {
            at += 1;
            if u.at(at) == '钱' {
                at += 1;
            }
            Some((fen, at, used))
        }
        (c, _) if NOT_MONEY_AFTER.contains(c) || c == '分' || c == '毛' || c == '角' => None,
        _ => Some((hundredths, at, used)),
    }
}
