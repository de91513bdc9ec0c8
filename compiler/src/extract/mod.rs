//! The zh-CN extractors of §11: values read from what a customer said (`int`, `money`,
//! `date`, `time`, `digits`, `text`), and the reading of numerals that §6's regexes use.
//!
//! Every function here is pure and total: no IO, no clock (`today` is passed in), no panic
//! on any string, and time linear in the utterance, since they run in the middle of a live
//! call. One reading of numbers (the scan of `number.rs`) serves every extractor and the
//! recogniser's regexes, so "你等一下" holds no number for a capture and no digit for a
//! regex alike.
//!
//! # Numbers
//!
//! * Chinese numerals (零〇 一幺壹 二两兩贰 … 十 百 千 万 亿, full-width and ASCII digits too)
//!   are read as counts ("一千零五十" 1050, "十五" 15, "一百零八" 108, grouping by 万 and 亿
//!   as the `number` filter writes it) or, without units, digit by digit ("幺三八八" 1388).
//! * Spoken short forms: a last digit counts the unit below ("三千五" 3500, "一万二" 12000,
//!   "两百五" 250, but "一千零五" 1005); ASCII digits mix with units ("3千5", "1万2", "35万");
//!   decimals with a unit ("1.5万" 15000, "一点五万" 15000).
//! * Rough numbers keep their lower bound, the amount the customer has committed to:
//!   "八百多" 800, "十几" 10, "十多万" 100000, "两三千" 2000, "三四天" 3.
//! * Words whose numerals are not numbers are not read: 一下 一起 一般 一定 一直 一样 一些
//!   一切 一共 一半 一会儿 万一 统一 唯一 同一 不一定 一点儿 一点点 十分 (but 十分钟) 千万
//!   (but 一千万) 百分之 and a few idioms; a numeral glued to another one still counts
//!   ("一万一" 11000, "十一下午" 11). A lone 一 is 1 only before a measure word, a unit, a
//!   particle or the end ("一个", "一块钱", "一号", "一次", "就一"); before a verb it is a word
//!   ("一发工资就还", "一到账"). 一点 is one o'clock only in a time context (下午一点, 一点半,
//!   一点十分, 一点以后); elsewhere it is "a little" (有一点, 快一点, 一点都不). The day of a
//!   weekday (周一, 星期三) is not a number.
//!
//! # Which value counts
//!
//! The first value of the type counts (§11). A value directly preceded by a negator of §6
//! (不是明天，是后天) or directly followed by a refusal (明天不行，后天吧; 今天没钱，明天还;
//! 今天还不了) does not count, so the next one is read.

use std::cell::Cell;
use std::ops::{Range, RangeInclusive};

use crate::value::{Date, Money, Time};

mod date;
mod int;
mod money;
mod number;
mod text;
mod time;
mod utterance;

pub use number::{numerals_into, numerals_to_digits};
pub(crate) use utterance::fold_width;
pub use utterance::{normalise, normalise_with};

use number::{Num, ScanBuffers, scan_into};
use utterance::Utterance;

/// Buffers kept between readings on a thread, so that reading allocates nothing once warm.
#[derive(Default)]
struct Scratch {
    chars: Vec<char>,
    nums: Vec<Num>,
    scan: ScanBuffers,
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// Prepares `text`, scans its numbers and hands both to `f`. The buffers are taken out of the
/// thread's scratch for the call and put back after it (a nested call gets fresh ones).
fn read<R>(text: &str, f: impl FnOnce(&Utterance, &[Num]) -> R) -> R {
    let mut scratch = SCRATCH.take();
    let u = Utterance::reusing(text, std::mem::take(&mut scratch.chars));
    scan_into(&u, &mut scratch.nums, &mut scratch.scan);
    let result = f(&u, &scratch.nums);
    scratch.chars = u.into_buffer();
    // One huge text (a fuzzer's, a runaway transcript) does not keep its buffers alive.
    if scratch.chars.capacity() > SCRATCH_KEEP {
        scratch = Scratch::default();
    }
    SCRATCH.set(scratch);
    result
}

/// The most characters whose buffers a thread keeps between readings.
const SCRATCH_KEEP: usize = 1 << 16;

/// A value read from an utterance, and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted<T> {
    pub value: T,
    /// The bytes of the utterance it was read from ("三千五百块钱" for 3500.00 in
    /// "我能还三千五百块钱吧").
    pub span: Range<usize>,
    /// How many of those characters normalisation keeps (no spaces or punctuation): the
    /// score of a `captured` branch (§11).
    pub chars: u32,
}

fn found<T>(u: &Utterance, value: T, start: usize, end: usize) -> Extracted<T> {
    Extracted { value, span: u.span(start, end), chars: u.kept(start, end) }
}

/// An `int`: "5" 5, "十五" 15, "两个" 2, "一百零三" 103, "三千五" 3500, "一万二" 12000,
/// "负五" -5. Dates and times are not ints ("十号", "三点" are skipped), nor decimals.
pub fn find_int(utterance: &str) -> Option<Extracted<i64>> {
    read(utterance, int::find_int)
}

/// [`find_int`]'s value.
pub fn int(utterance: &str) -> Option<i64> {
    find_int(utterance).map(|e| e.value)
}

/// A `money` amount: "三千五" 3500.00, "3500块", "两万块钱" 20000.00, "1.5万" 15000.00,
/// "一千二百五十元五角" 1250.50, "八百多" 800.00, "五十块零五毛" 50.50, "三块五" 3.50.
///
/// A bare number counts unless a measure word shows it counts something else ("十号",
/// "两个", "三期"), an identifier precedes it ("尾号3936"), or it is a digit string said one
/// by one ("三九三六").
pub fn find_money(utterance: &str) -> Option<Extracted<Money>> {
    read(utterance, money::find_money)
}

/// [`find_money`]'s value.
pub fn money(utterance: &str) -> Option<Money> {
    find_money(utterance).map(|e| e.value)
}

/// A `date`, relative to `today` (the customer's local date):
///
/// * days: 今天 明天 后天 大后天 昨天 前天 (今晚 明早 …), 过两天, 三天后, 两周以后,
///   一个月内, 半个月后;
/// * weeks (Monday to Sunday): 周五 / 星期五 / 礼拜五 the next such day on or after today,
///   这周六 that day of this week (even when it has passed), 下周一 / 下个星期一 that day of
///   next week, 周末 Saturday;
/// * months: 30号 / 3日 the next such day on or after today (said on the day, today), 下个月
///   10号 (a day the month lacks is its last day), 月底 / 下个月底, 月初, 月中;
/// * dates: 12月5日 (this year, or next year once it has passed), 明年3月1号, 2026-12-01,
///   2026/12/1, 2026年12月1日, 二零二六年十二月一号; 年底.
///
/// A named date that is not on the calendar (2月30日) reads nothing.
pub fn find_date(utterance: &str, today: Date) -> Option<Extracted<Date>> {
    read(utterance, |u, nums| date::find_date(u, nums, today))
}

/// [`find_date`]'s value.
pub fn date(utterance: &str, today: Date) -> Option<Date> {
    find_date(utterance, today).map(|e| e.value)
}

/// A clock `time`: "下午三点" 15:00, "三点半" 15:30, "上午十点" 10:00, "晚上八点" 20:00,
/// "下午两点一刻" 14:15, "15:30", "中午" 12:00. A bare hour 1–7 is p.m., 8–12 a.m.
/// (§16.1); "08:30" written with a leading zero is as written.
pub fn find_time(utterance: &str) -> Option<Extracted<Time>> {
    read(utterance, time::find_time)
}

/// [`find_time`]'s value.
pub fn time(utterance: &str) -> Option<Time> {
    find_time(utterance).map(|e| e.value)
}

/// The first digit string whose length is in `lengths` (for `digits N` and `digits M..N`):
/// "八八三幺" "8831", "8 8 3 1" "8831", "幺三八" "138", "尾号是三九三六" "3936".
pub fn find_digits(utterance: &str, lengths: RangeInclusive<usize>) -> Option<Extracted<String>> {
    read(utterance, |u, nums| int::find_digits(u, nums, lengths))
}

/// The first digit string of any length.
pub fn digits(utterance: &str) -> Option<String> {
    find_digits(utterance, 1..=usize::MAX).map(|e| e.value)
}

/// A `text`: the utterance normalised as §6 does, fillers (嗯 啊 呃 那个 这个 …) trimmed
/// from both ends; `None` when nothing else was said.
pub fn text(utterance: &str) -> Option<String> {
    text::text(utterance)
}

#[cfg(test)]
mod tests;
