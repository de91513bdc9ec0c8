//! `date`: a day, absolute or relative to `today`.

use super::number::{Num, Shape, Sym, sym};
use super::utterance::Utterance;
use super::{Extracted, found};
use crate::value::Date;

/// A date written with numbers: 2026-12-01, 2026/12/1, 2026.12.01, 2026年12月1日.
pub(crate) struct NumericDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    /// The index of its last number.
    pub last: usize,
    /// Where it ends (after 日 or 号 when said).
    pub end: usize,
}

/// The numeric date that starts with number `k`, if any (not checked against the calendar).
pub(crate) fn numeric_date_at(u: &Utterance, nums: &[Num], k: usize) -> Option<NumericDate> {
    let year = &nums[k];
    let (month, day) = (nums.get(k + 1)?, nums.get(k + 2)?);
    let sep = u.at(year.end);
    let said = sep == '年';
    let written = matches!(sep, '-' | '/' | '.');
    if !(said || written) || month.start != year.end + 1 {
        return None;
    }
    let year_chars = year.end - year.start;
    // A written date has a four-digit year; a said one any year of up to four digits.
    if year.shape != Shape::Digits || !(if written { year_chars == 4 } else { year_chars <= 4 }) {
        return None;
    }
    let month_sep = if said { '月' } else { sep };
    if u.at(month.end) != month_sep || day.start != month.end + 1 {
        return None;
    }
    let mut end = day.end;
    if said && matches!(u.at(end), '日' | '号') {
        end += 1;
    } else if said {
        return None;
    }
    let mut year_value = i32::try_from(year.integer()?).ok()?;
    if said && year_chars == 2 {
        // 二六年, 26年: this century.
        year_value += 2000;
    }
    Some(NumericDate {
        year: year_value,
        month: u8::try_from(month.small(12)?).ok()?,
        day: u8::try_from(day.small(31)?).ok()?,
        last: k + 2,
        end,
    })
}

/// Days said relative to today.
const DAY_WORDS: &[(&str, i64)] = &[
    ("大后天", 3),
    ("大前天", -3),
    ("后天", 2),
    ("前天", -2),
    ("明天", 1),
    ("明日", 1),
    ("明儿", 1),
    ("明早", 1),
    ("明晚", 1),
    ("今天", 0),
    ("今日", 0),
    ("今儿", 0),
    ("今早", 0),
    ("今晚", 0),
    ("昨天", -1),
    ("昨日", -1),
];

/// Which week: 下周 (1), 这周 (0), 上周 (-1); none is "the next such day".
const WEEK_PREFIXES: &[(&str, i64)] = &[
    ("下下个", 2),
    ("下下", 2),
    ("下个", 1),
    ("下", 1),
    ("这个", 0),
    ("这", 0),
    ("本", 0),
    ("上上个", -2),
    ("上个", -1),
    ("上", -1),
];

const WEEK_WORDS: &[(&str, ())] = &[("星期", ()), ("礼拜", ()), ("禮拜", ()), ("周", ()), ("週", ())];

/// Which month: 下个月 (1), 这个月 (0), 上个月 (-1).
const MONTH_PREFIXES: &[(&str, i64)] = &[
    ("下下个月", 2),
    ("下个月", 1),
    ("下月", 1),
    ("这个月", 0),
    ("这月", 0),
    ("本月", 0),
    ("上个月", -1),
    ("上月", -1),
];

/// A point of a month: 底 (its last day), 初 (the 1st), 中 (the 15th).
#[derive(Clone, Copy)]
enum MonthPart {
    End,
    Start,
    Middle,
}

const MONTH_PARTS: &[(&str, MonthPart)] = &[
    ("月底", MonthPart::End),
    ("月末", MonthPart::End),
    ("月初", MonthPart::Start),
    ("月中", MonthPart::Middle),
    ("中旬", MonthPart::Middle),
    ("底", MonthPart::End),
    ("末", MonthPart::End),
    ("初", MonthPart::Start),
    ("中", MonthPart::Middle),
];

const YEAR_WORDS: &[(&str, i32)] = &[("今年", 0), ("明年", 1), ("去年", -1), ("后年", 2)];

/// After a number of days, weeks or months: 以后 (later) or 以内 (within), both the day it
/// names.
const LATER: &[(&str, ())] =
    &[("以后", ()), ("之后", ()), ("过后", ()), ("以内", ()), ("之内", ()), ("后", ()), ("内", ())];

/// The first date that is not negated or refused; see the module documentation of
/// [`super`] for the forms.
pub(crate) fn find_date(u: &Utterance, nums: &[Num], today: Date) -> Option<Extracted<Date>> {
    let mut i = 0;
    while i < u.len() {
        let read = match nums.binary_search_by_key(&i, |n| n.start) {
            Ok(k) => by_number(u, nums, k, today),
            Err(_) => None,
        }
        .or_else(|| by_word(u, nums, i, today));
        let Some((date, end)) = read else {
            i += 1;
            continue;
        };
        match date {
            Some(date) if !u.negated_before(i) && !u.refused_after(end) => return Some(found(u, date, i, end)),
            _ => i = end.max(i + 1),
        }
    }
    None
}

/// A date that starts with number `k`: (the date, or `None` for one not on the calendar;
/// where it ends).
fn by_number(u: &Utterance, nums: &[Num], k: usize, today: Date) -> Option<(Option<Date>, usize)> {
    if let Some(d) = numeric_date_at(u, nums, k) {
        return Some((Date::new(d.year, d.month, d.day), d.end));
    }
    let num = &nums[k];
    let after = num.end;
    // M月D日, M月底
    if u.at(after) == '月' && !num.approx {
        let month = u8::try_from(num.small(12).filter(|&m| m > 0)?).ok()?;
        if let Some(day) = nums.get(k + 1).filter(|n| n.start == after + 1)
            && let Some(d) = day.small(31).filter(|&d| d > 0)
        {
            let end = if matches!(u.at(day.end), '日' | '号') { day.end + 1 } else { day.end };
            return Some((next_yearly(today, month, d as u8), end));
        }
        if let Some((len, part)) = u.first_of(after + 1, &MONTH_PARTS[4..]) {
            // 12月底: this year's, or next year's once it has passed.
            let date = (0..=1).find_map(|years| {
                let first = Date::new(today.year.checked_add(years)?, month, 1)?;
                month_part(first, 0, part).filter(|&d| d >= today)
            });
            return Some((date, after + 1 + len));
        }
        return None;
    }
    let n = num.integer().filter(|&n| n <= 3650)? as i64;
    // N天后, N周以后, N个月内
    let (unit_len, days_per_unit, months) = if matches!(u.at(after), '天' | '日') {
        (1, 1, false)
    } else if let Some((len, ())) =
        u.first_of(after, &[("个星期", ()), ("个礼拜", ()), ("个周", ()), ("星期", ()), ("礼拜", ()), ("周", ())])
    {
        (len, 7, false)
    } else if u.has(after, "个月") {
        (2, 0, true)
    } else {
        (0, 0, false)
    };
    if unit_len > 0
        && let Some((len, ())) = u.first_of(after + unit_len, LATER)
    {
        let end = after + unit_len + len;
        let date = if months { today.in_month(n, today.day) } else { today.add_days(n * days_per_unit) };
        return Some((date, end));
    }
    // D号, D日
    if matches!(u.at(after), '号' | '日') && !num.approx {
        let day = num.small(31).filter(|&d| d > 0)?;
        return Some((next_monthly(today, day as u8), after + 1));
    }
    None
}

/// Whether `c` may start a word of [`by_word`] (a test checks it against the lists): most
/// characters start none, and are passed over at once.
fn may_start_word(c: char) -> bool {
    matches!(
        c,
        '大' | '后'
            | '前'
            | '明'
            | '今'
            | '昨'
            | '去'
            | '过'
            | '半'
            | '下'
            | '这'
            | '本'
            | '上'
            | '星'
            | '礼'
            | '禮'
            | '周'
            | '週'
            | '月'
            | '年'
    )
}

/// A date that starts with a word at `i`.
fn by_word(u: &Utterance, nums: &[Num], i: usize, today: Date) -> Option<(Option<Date>, usize)> {
    if !may_start_word(u.at(i)) {
        return None;
    }
    if let Some((len, offset)) = u.first_of(i, DAY_WORDS) {
        return Some((today.add_days(offset), i + len));
    }
    // 过两天
    if u.at(i) == '过'
        && let Ok(k) = nums.binary_search_by_key(&(i + 1), |n| n.start)
        && u.at(nums[k].end) == '天'
        && let Some(n) = nums[k].integer().filter(|&n| n <= 3650)
    {
        return Some((today.add_days(n as i64), nums[k].end + 1));
    }
    if u.has(i, "半个月")
        && let Some((len, ())) = u.first_of(i + 3, LATER)
    {
        return Some((today.add_days(15), i + 3 + len));
    }
    if let Some(read) = week(u, i, today) {
        return Some(read);
    }
    if let Some(read) = month(u, nums, i, today) {
        return Some(read);
    }
    if u.has(i, "年底") || u.has(i, "年末") {
        return Some((Date::new(today.year, 12, 31), i + 2));
    }
    // 明年3月5号
    if let Some((len, offset)) = u.first_of(i, YEAR_WORDS)
        && let Ok(k) = nums.binary_search_by_key(&(i + len), |n| n.start)
        && u.at(nums[k].end) == '月'
        && let Some(day) = nums.get(k + 1).filter(|n| n.start == nums[k].end + 1)
    {
        let month = nums[k].small(12)? as u8;
        let d = day.small(31)? as u8;
        let end = if matches!(u.at(day.end), '日' | '号') { day.end + 1 } else { day.end };
        return Some((Date::new(today.year.checked_add(offset)?, month, d), end));
    }
    None
}

/// 周五, 星期五, 礼拜天, 下周一, 这周六, 下个星期三, 周末.
fn week(u: &Utterance, i: usize, today: Date) -> Option<(Option<Date>, usize)> {
    let (prefix_len, weeks) = match u.first_of(i, WEEK_PREFIXES) {
        // 早上周五 is not 上周五, nor 等一下周五 下周五.
        Some((_, offset)) if (offset < 0 && "早晚马".contains(u.before(i))) || (offset > 0 && u.before(i) == '一') =>
        {
            return None;
        }
        Some((len, offset)) => (len, Some(offset)),
        None => (0, None),
    };
    let (word_len, ()) = u.first_of(i + prefix_len, WEEK_WORDS)?;
    let at = i + prefix_len + word_len;
    let c = u.at(at);
    let day: i64 = match (c, sym(c)) {
        ('日' | '天' | '七', _) => 7,
        ('末', _) => 6,
        (_, Some(Sym::Digit { value: d @ 1..=7, .. })) => i64::from(d),
        _ => return None,
    };
    // 周五千 is an amount, 周一次 a frequency.
    if matches!(sym(u.at(at + 1)), Some(Sym::Unit(_))) || "次遍回趟".contains(u.at(at + 1)) {
        return None;
    }
    let weekday = i64::from(today.weekday());
    let date = match weeks {
        // 周末 said on a Sunday is today.
        None if c == '末' && weekday == 7 => Some(today),
        None => today.add_days((day - weekday).rem_euclid(7)),
        Some(weeks) => today.add_days(weeks * 7 + day - weekday),
    };
    Some((date, at + 1))
}

/// 下个月10号, 这个月底, 下月初, and the bare 月底, 月初, 月中.
fn month(u: &Utterance, nums: &[Num], i: usize, today: Date) -> Option<(Option<Date>, usize)> {
    if let Some((len, offset)) = u.first_of(i, MONTH_PREFIXES) {
        if offset < 0 && "早晚马".contains(u.before(i)) {
            return None;
        }
        let at = i + len;
        if let Ok(k) = nums.binary_search_by_key(&at, |n| n.start) {
            let num = &nums[k];
            let day = num.small(31).filter(|&d| d > 0)?;
            let end = if matches!(u.at(num.end), '号' | '日') { num.end + 1 } else { num.end };
            return Some((today.in_month(offset, day as u8), end));
        }
        let (part_len, part) = u.first_of(at, MONTH_PARTS)?;
        return Some((month_part(today, offset, part), at + part_len));
    }
    let (len, part) = u.first_of(i, &MONTH_PARTS[..4])?;
    let date = match part {
        MonthPart::End => Some(today.month_end()),
        MonthPart::Start => next_monthly(today, 1),
        MonthPart::Middle => next_monthly(today, 15),
    };
    Some((date, i + len))
}

/// The part of the month `months` after `date`'s.
fn month_part(date: Date, months: i64, part: MonthPart) -> Option<Date> {
    let first = date.in_month(months, 1)?;
    Some(match part {
        MonthPart::End => first.month_end(),
        MonthPart::Start => first,
        MonthPart::Middle => first.in_month(0, 15)?,
    })
}

/// The first day numbered `day` on or after `today` (3号 said on 11-24 is 12-03; 24号 is
/// today; 31号 skips the months without one).
fn next_monthly(today: Date, day: u8) -> Option<Date> {
    (0..=12).find_map(|months| {
        let first = today.in_month(months, 1)?;
        Date::new(first.year, first.month, day).filter(|&d| d >= today)
    })
}

/// The first `month`/`day` on or after `today` (this year, or the next one it exists in).
fn next_yearly(today: Date, month: u8, day: u8) -> Option<Date> {
    (0..=8).find_map(|years| Date::new(today.year.checked_add(years)?, month, day).filter(|&d| d >= today))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_passes_the_first_character_filter() {
        let firsts = DAY_WORDS
            .iter()
            .map(|w| w.0)
            .chain(WEEK_PREFIXES.iter().map(|w| w.0))
            .chain(WEEK_WORDS.iter().map(|w| w.0))
            .chain(MONTH_PREFIXES.iter().map(|w| w.0))
            .chain(MONTH_PARTS[..4].iter().map(|w| w.0))
            .chain(YEAR_WORDS.iter().map(|w| w.0))
            .chain(["过", "半个月", "年底", "年末"]);
        for word in firsts {
            assert!(may_start_word(word.chars().next().unwrap()), "{word}");
        }
    }
}
