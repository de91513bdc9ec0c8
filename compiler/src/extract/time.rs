//! `time`: a clock time of day.

use super::number::{Num, Shape, is_numeral};
use super::utterance::Utterance;
use super::{Extracted, found};
use crate::value::Time;

/// A part of the day, which says how an hour is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Period {
    /// 凌晨 半夜 深夜 夜里: as said, 十二点 is 00:00.
    Night,
    /// 午夜: midnight when said alone, else like `Night`.
    Midnight,
    /// 早上 上午: as said.
    Morning,
    /// 中午: 12:00 when said alone; 一点 to 五点 are p.m.
    Noon,
    /// 下午 傍晚: one to eleven are p.m.
    Afternoon,
    /// 晚上: five to eleven are p.m., 十二点 is 00:00, one to four are at night.
    Evening,
}

/// Parts of the day, longest first. 早 and 晚 alone count only right before an hour
/// (早八点, 晚八点; 早点 and 晚一点 mean sooner and later).
const PERIODS: &[(&str, Period)] = &[
    ("凌晨", Period::Night),
    ("半夜", Period::Night),
    ("深夜", Period::Night),
    ("夜里", Period::Night),
    ("夜间", Period::Night),
    ("午夜", Period::Midnight),
    ("早上", Period::Morning),
    ("早晨", Period::Morning),
    ("清晨", Period::Morning),
    ("上午", Period::Morning),
    ("今早", Period::Morning),
    ("明早", Period::Morning),
    ("中午", Period::Noon),
    ("正午", Period::Noon),
    ("晌午", Period::Noon),
    ("下午", Period::Afternoon),
    ("午后", Period::Afternoon),
    ("傍晚", Period::Afternoon),
    ("晚上", Period::Evening),
    ("今晚", Period::Evening),
    ("明晚", Period::Evening),
    ("晚间", Period::Evening),
    ("早", Period::Morning),
    ("晚", Period::Evening),
];

/// Whether `c` may start a word of [`PERIODS`] (a test checks it against the list).
fn may_start_period(c: char) -> bool {
    matches!(
        c,
        '凌' | '半'
            | '深'
            | '夜'
            | '午'
            | '早'
            | '清'
            | '上'
            | '今'
            | '明'
            | '中'
            | '正'
            | '晌'
            | '下'
            | '傍'
            | '晚'
    )
}

/// How many characters may stand between a part of the day and its hour ("下午大概三点").
const PERIOD_GAP: usize = 4;

/// Whether a part of the day (of two characters or more) ends right before `i`.
pub(crate) fn period_before(u: &Utterance, i: usize) -> bool {
    PERIODS.iter().any(|(w, _)| {
        let len = w.chars().count();
        len >= 2 && i >= len && u.has(i - len, w)
    })
}

/// The first clock time that is not negated or refused: "下午三点" 15:00, "三点半" 15:30,
/// "晚上八点" 20:00, "下午两点一刻" 14:15, "8:30", "中午" 12:00.
pub(crate) fn find_time(u: &Utterance, nums: &[Num]) -> Option<Extracted<Time>> {
    let n = u.len();
    let mut i = 0;
    while i < n {
        let period = if may_start_period(u.chars[i]) { u.first_of(i, PERIODS) } else { None };
        let read = if let Some((len, period)) = period {
            let from = i + len;
            let last = if len == 1 { from } else { from + PERIOD_GAP };
            let mut hour = None;
            for j in from..=last.min(n) {
                if let Some(h) = hour_at(u, nums, j) {
                    hour = Some(h);
                    break;
                }
                if is_numeral(u.at(j)) {
                    break;
                }
            }
            match (hour, period) {
                (Some(h), _) => Some((clock(Some(period), h), h.end)),
                (None, Period::Noon) if len == 2 => Some((Time::new(12, 0), from)),
                (None, Period::Midnight) => Some((Time::new(0, 0), from)),
                (None, _) => {
                    i = from;
                    continue;
                }
            }
        } else {
            hour_at(u, nums, i).map(|h| (clock(None, h), h.end))
        };
        let Some((time, end)) = read else {
            i += 1;
            continue;
        };
        match time {
            Some(time) if !u.negated_before(i) && !u.refused_after(end) => return Some(found(u, time, i, end)),
            _ => i = end.max(i + 1),
        }
    }
    None
}

/// An hour as said, with its minutes.
#[derive(Clone, Copy)]
struct Said {
    hour: u8,
    minute: u8,
    end: usize,
    /// Written with a leading zero ("08:30"): a 24-hour clock, read as written.
    padded: bool,
}

/// The hour (and minutes) said from `j`: H点[钟|整|半|一刻|三刻|M[分]|多], H时[M分], H:MM.
fn hour_at(u: &Utterance, nums: &[Num], j: usize) -> Option<Said> {
    let (hour, after, padded) = match nums.binary_search_by_key(&j, |n| n.start) {
        Ok(k) => {
            let num = &nums[k];
            if num.shape == Shape::Decimal {
                return None;
            }
            let hour = num.integer().filter(|&h| h <= 24)? as u8;
            (hour, num.end, num.leading_zero(u))
        }
        // 一点 that the number scan left as "a little": one o'clock here unless it is one.
        Err(_) if u.at(j) == '一' && matches!(u.at(j + 1), '点' | '點') && !is_numeral(u.before(j)) => {
            if little(u, j) {
                return None;
            }
            (1, j + 1, false)
        }
        Err(_) => return None,
    };
    let minutes_at = |at: usize| nums.binary_search_by_key(&at, |n| n.start).ok().map(|k| &nums[k]);
    let said = |minute: u8, end: usize| Some(Said { hour, minute, end, padded });
    match u.at(after) {
        '点' | '點' => {
            let at = after + 1;
            if u.has(at, "钟整") {
                return said(0, at + 2);
            }
            match u.at(at) {
                '钟' | '整' | '多' => return said(0, at + 1),
                '半' => return said(30, at + 1),
                _ => {}
            }
            if u.has(at, "一刻") {
                return said(15, at + 2);
            }
            if u.has(at, "三刻") {
                return said(45, at + 2);
            }
            // 十点过五分
            let at = if u.at(at) == '过' && minutes_at(at + 1).is_some() { at + 1 } else { at };
            match minutes_at(at) {
                Some(m) if m.shape != Shape::Decimal => {
                    // 三点五元, 三点五万 are amounts.
                    if "元块万倍%".contains(u.at(m.end)) {
                        return None;
                    }
                    let minute = m.integer().filter(|&m| m < 60)? as u8;
                    let end = if u.at(m.end) == '分' { m.end + 1 } else { m.end };
                    said(minute, end)
                }
                _ => said(0, at),
            }
        }
        '时' if !"候间".contains(u.at(after + 1)) => {
            let at = after + 1;
            match minutes_at(at) {
                Some(m) if u.at(m.end) == '分' => said(m.integer().filter(|&m| m < 60)? as u8, m.end + 1),
                _ => said(0, at),
            }
        }
        ':' => {
            let m = minutes_at(after + 1)?;
            if m.shape != Shape::Digits || !(1..=2).contains(&(m.end - m.start)) {
                return None;
            }
            said(m.integer().filter(|&m| m < 60)? as u8, m.end)
        }
        _ => None,
    }
}

/// Whether 一点 at `j` means "a little" (or "a point"): 一点儿, 一点点, 一点都不, or after a
/// word it measures (有一点, 快一点, 晚一点, 差一点) or 第 — but not after a part of the day
/// (下午一点).
fn little(u: &Utterance, j: usize) -> bool {
    if "儿兒点都也".contains(u.at(j + 2)) {
        return true;
    }
    !period_before(u, j) && "有差快慢早晚多少好大小高低宜贵轻重近远长短久稍再些提第".contains(u.before(j))
}

/// The clock time of an hour said in a part of the day (or none: a bare hour 1–7 is p.m.,
/// 8–12 a.m.; §16.1).
fn clock(period: Option<Period>, said: Said) -> Option<Time> {
    let Said { hour, minute, padded, .. } = said;
    if hour == 24 {
        return if minute == 0 { Time::new(0, 0) } else { None };
    }
    let hour = match period {
        None if padded => hour,
        None => match hour {
            1..=7 => hour + 12,
            _ => hour,
        },
        Some(Period::Night | Period::Midnight) => {
            if hour == 12 {
                0
            } else {
                hour
            }
        }
        Some(Period::Morning) => hour,
        Some(Period::Noon) => match hour {
            1..=5 => hour + 12,
            _ => hour,
        },
        Some(Period::Afternoon) => match hour {
            1..=11 => hour + 12,
            _ => hour,
        },
        Some(Period::Evening) => match hour {
            5..=11 => hour + 12,
            12 => 0,
            _ => hour,
        },
    };
    Time::new(hour, minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_period_passes_the_first_character_filter() {
        for (word, _) in PERIODS {
            assert!(may_start_period(word.chars().next().unwrap()), "{word}");
        }
    }
}
