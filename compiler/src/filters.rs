//! The prompt filters of §2 and §9.5: how `{{ value | filter }}` is read to a customer, in
//! zh-CN here and in en-US in [`en_us`], chosen by the script's `locale` ([`apply_in`]).
//!
//! Every function here is pure and total: a filter runs in the middle of a live call, so
//! it must produce some reading for any value (extreme or negative ones included) rather
//! than fail.
//!
//! # Reading rules
//!
//! * Numbers follow the usual spoken grouping by 万 and 亿 (亿亿 for the largest `int`s:
//!   `10^16` is 一亿亿). One 零 stands for any run of zeros between two spoken digits
//!   (1001 → 一千零一, 100010 → 十万零一十); trailing zeros are silent.
//! * 十 vs 一十: a number that *starts* with a 1 in the tens place drops the 一
//!   (10 → 十, 15 → 十五, 100000 → 十万); everywhere else the 一 is spoken
//!   (110 → 一百一十, 100010 → 十万零一十).
//! * 二 vs 两: `number` always says 二 (a neutral reading: 2000 → 二千). `money` says 两
//!   only for the first word of the amount when a unit follows it directly (千, 万, 亿, 元,
//!   角, 分), as people say prices: 2 → 两元整, 2000 → 两千元整, 20000000 → 两千万元整,
//!   0.2 → 两角; elsewhere 二 (12 → 十二元整, 200 → 二百元整, 1200 → 一千二百元整,
//!   12000 → 一万二千元整, 2.22 → 两元二角二分).
//! * Negative values get a 负 prefix (the checker refuses negative `money` literals, but
//!   arithmetic at runtime can go below zero).

use crate::value::{Date, Money, Time, Value};

pub mod en_us;

/// The filter names a prompt may use, in the order §2 lists them; the checker resolves
/// `{{ x | name }}` against this list.
pub const FILTERS: &[&str] = &["money", "digits", "number", "date", "mask"];

/// The locales the filters have readings for, as a script's `locale` names them; any other
/// locale is refused by the checker (E111).
pub const LOCALES: &[&str] = &["zh-CN", "en-US"];

/// A script's `locale`: which readings its prompts' values get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Locale {
    /// The readings of this module (the default locale, §9.5).
    #[default]
    ZhCn,
    /// The readings of [`en_us`].
    EnUs,
}

impl Locale {
    /// The locale a tag names, ignoring ASCII case as BCP 47 does (`en-us` is `en-US`).
    pub fn from_tag(tag: &str) -> Option<Locale> {
        [Locale::ZhCn, Locale::EnUs].into_iter().find(|l| l.tag().eq_ignore_ascii_case(tag))
    }

    /// The tag as [`LOCALES`] writes it.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::EnUs => "en-US",
        }
    }
}

/// [`apply`] in `locale`. A filter and type that en-US has no reading for (none today) would
/// fall back to zh-CN's rather than fail a live call.
pub fn apply_in(locale: Locale, name: &str, value: &Value) -> Option<String> {
    match locale {
        Locale::ZhCn => apply(name, value),
        Locale::EnUs => en_us::apply(name, value).or_else(|| apply(name, value)),
    }
}

/// `{{ value }}` without a filter in `locale` (§9.5): [`Value::render_plain`], except that
/// en-US reads a `bool` as `yes`/`no`.
pub fn plain_in(locale: Locale, value: &Value) -> String {
    match locale {
        Locale::ZhCn => value.render_plain(),
        Locale::EnUs => en_us::plain(value),
    }
}

/// Chinese digits for counting (`number`, `money`).
const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// Chinese digits for reading digit strings (`digits`), where 1 is 幺 so that it cannot be
/// heard as 七 on a phone line.
const DIGITS_YAO: [char; 10] = ['零', '幺', '二', '三', '四', '五', '六', '七', '八', '九'];

/// Appends the reading of `n` (≥ 1). `leading` is true when these are the first words of
/// the number, which is the only place a tens-place 1 is dropped (十五, but 一百一十五).
fn push_count(out: &mut String, n: u64, leading: bool) {
    const YI: u64 = 100_000_000;
    const WAN: u64 = 10_000;
    if n >= YI {
        push_count(out, n / YI, leading);
        out.push('亿');
        let low = n % YI;
        if low > 0 {
            if low < YI / 10 {
                out.push('零');
            }
            push_count(out, low, false);
        }
    } else if n >= WAN {
        push_count(out, n / WAN, leading);
        out.push('万');
        let low = n % WAN;
        if low > 0 {
            if low < WAN / 10 {
                out.push('零');
            }
            push_count(out, low, false);
        }
    } else {
        push_section(out, n, leading);
    }
}

/// Appends the reading of a section 1..=9999 (千 百 十 and ones).
fn push_section(out: &mut String, n: u64, leading: bool) {
    const UNITS: [(u64, Option<char>); 4] = [(1000, Some('千')), (100, Some('百')), (10, Some('十')), (1, None)];
    let mut started = false;
    let mut zero_pending = false;
    for (place, unit) in UNITS {
        let digit = (n / place % 10) as usize;
        if digit == 0 {
            zero_pending |= started;
            continue;
        }
        if zero_pending {
            out.push('零');
            zero_pending = false;
        }
        let drop_one = place == 10 && digit == 1 && leading && !started;
        if !drop_one {
            out.push(DIGITS[digit]);
        }
        if let Some(unit) = unit {
            out.push(unit);
        }
        started = true;
    }
}

/// The reading of a non-negative integer, 零 for zero.
fn count_zh(n: u64) -> String {
    let mut out = String::new();
    if n == 0 {
        out.push('零');
    } else {
        push_count(&mut out, n, true);
    }
    out
}

/// `{{ n | number }}` for an `int`: 1001 → 一千零一, 15 → 十五, -3 → 负三.
///
/// Always 二, never 两, so that the reading does not depend on what follows the number in
/// the prompt (the author may write a measure word after it, or not).
pub fn number_zh_int(n: i64) -> String {
    let body = count_zh(n.unsigned_abs());
    if n < 0 { format!("负{body}") } else { body }
}

/// `{{ m | number }}` for `money`: a decimal reading without units, trailing zero
/// decimals dropped (1200.50 → 一千二百点五, 3.05 → 三点零五, 1200.00 → 一千二百).
pub fn number_zh_money(m: Money) -> String {
    let mut out = String::new();
    if m.is_negative() {
        out.push('负');
    }
    out.push_str(&count_zh(m.abs_units()));
    let cents = usize::from(m.abs_fraction_cents());
    if cents != 0 {
        out.push('点');
        out.push(DIGITS[cents / 10]);
        if cents % 10 != 0 {
            out.push(DIGITS[cents % 10]);
        }
    }
    out
}

/// `{{ m | money }}`: the spoken amount in 元, 角 and 分.
///
/// 1200.50 → 一千二百元五角, 10 → 十元整, 0.05 → 五分, 1200.05 → 一千二百元零五分,
/// 0 → 零元整, 20000000 → 两千万元整. 整 ends an amount without 角 and 分; 零 bridges
/// 元 to 分 when there are no 角. For 两 vs 二 see the module documentation.
pub fn money_zh(m: Money) -> String {
    let units = m.abs_units();
    let cents = m.abs_fraction_cents();
    let (jiao, fen) = (usize::from(cents / 10), usize::from(cents % 10));
    let mut body = String::new();
    if units > 0 {
        body.push_str(&count_zh(units));
        body.push('元');
    }
    if cents == 0 {
        if units == 0 {
            body.push_str("零元");
        }
        body.push('整');
    } else {
        if jiao > 0 {
            body.push(DIGITS[jiao]);
            body.push('角');
        }
        if fen > 0 {
            if jiao == 0 && units > 0 {
                body.push('零');
            }
            body.push(DIGITS[fen]);
            body.push('分');
        }
    }
    say_liang(&mut body);
    if m.is_negative() { format!("负{body}") } else { body }
}

/// The 两 rule of `money`: a first-word 2 that directly counts a unit (两千, 两万, 两元,
/// 两角 …) is read 两; `body` is an unsigned reading.
fn say_liang(body: &mut String) {
    let mut chars = body.chars();
    if let (Some('二'), Some(next)) = (chars.next(), chars.next())
        && "千万亿元角分".contains(next)
    {
        body.replace_range(..'二'.len_utf8(), "两");
    }
}

/// `{{ s | digits }}`: one Chinese digit per digit, 1 read 幺 ("8831" → 八八三幺), as
/// account and phone numbers are read. ASCII and full-width digits are both read; any
/// other character (a `-`, a letter) is kept as it is so nothing silently disappears.
pub fn digits_zh(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => DIGITS_YAO[c as usize - '0' as usize],
            '０'..='９' => DIGITS_YAO[c as usize - '０' as usize],
            other => other,
        })
        .collect()
}

/// `{{ d | date }}`: 2026年11月24日.
///
/// The numbers stay Arabic and unpadded (2026年1月5日): every zh-CN speech engine reads
/// that form as a date (二零二六年一月五日), while a Chinese-numeral year would be read
/// as a count (两千零二十六年), and the text also stays readable in transcripts.
pub fn date_zh(d: Date) -> String {
    format!("{}年{}月{}日", d.year, d.month, d.day)
}

/// A `time` as it is said (§16.1): 上午十点, 下午三点半, 晚上八点, 中午十二点, 凌晨五点十分,
/// 凌晨零点零五分, 下午三点四十五分. Half hours are 半; quarters are spoken as minutes (一刻
/// and 三刻 are regional); hours are on the 12-hour clock after the part of the day.
pub fn time_zh(t: Time) -> String {
    let (part, hour) = match t.hour {
        0..=5 => ("凌晨", t.hour),
        6..=11 => ("上午", t.hour),
        12 => ("中午", 12),
        13..=17 => ("下午", t.hour - 12),
        _ => ("晚上", t.hour - 12),
    };
    // 两点, not 二点: the clock hour is a count of strokes.
    let hour_text = if hour == 2 { "两".to_string() } else { count_zh(u64::from(hour)) };
    let minutes = match t.minute {
        0 => String::new(),
        30 => "半".to_string(),
        m if m < 10 => format!("零{}分", count_zh(u64::from(m))),
        m => format!("{}分", count_zh(u64::from(m))),
    };
    format!("{part}{hour_text}点{minutes}")
}

/// `{{ s | mask }}`: every character but the last four becomes `*`, so an account tail
/// can be confirmed without speaking the rest. Characters are Unicode scalar values;
/// text of four characters or fewer is returned unchanged.
pub fn mask(text: &str) -> String {
    let count = text.chars().count();
    if count <= 4 {
        return text.to_owned();
    }
    text.chars().enumerate().map(|(i, c)| if i < count - 4 { '*' } else { c }).collect()
}

/// Applies the filter `name` to `value` as §9.5 allows it: `money` (money, int), `digits`
/// (text, int), `number` (int, money), `date` (date), `mask` (text). `None` for an unknown
/// filter or a type the filter does not take, which the checker has already refused; the
/// runtime gets one place that agrees with the checker's table.
pub fn apply(name: &str, value: &Value) -> Option<String> {
    Some(match (name, value) {
        ("money", Value::Money(m)) => money_zh(*m),
        ("money", Value::Int(n)) => match Money::from_int(*n) {
            Some(m) => money_zh(m),
            // Too large to hold in cents, but still an exact whole number of 元.
            None => money_zh_whole(*n),
        },
        ("digits", Value::Text(s)) => digits_zh(s),
        ("digits", Value::Int(n)) => digits_zh(&n.to_string()),
        ("number", Value::Int(n)) => number_zh_int(*n),
        ("number", Value::Money(m)) => number_zh_money(*m),
        ("date", Value::Date(d)) => date_zh(*d),
        ("mask", Value::Text(s)) => mask(s),
        _ => return None,
    })
}

/// `money` of an `int` too large for cents: whole 元, with the same 两 rule.
fn money_zh_whole(n: i64) -> String {
    let mut body = count_zh(n.unsigned_abs());
    body.push_str("元整");
    say_liang(&mut body);
    if n < 0 { format!("负{body}") } else { body }
}

/// True when `filter` accepts a value of the type named `type_name` (`text int money bool
/// date`), for the checker's "this filter cannot read a …" diagnostic.
pub fn accepts(filter: &str, type_name: &str) -> bool {
    matches!(
        (filter, type_name),
        ("money", "money" | "int")
            | ("digits", "text" | "int")
            | ("number", "int" | "money")
            | ("date", "date")
            | ("mask", "text")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        let read = |h, m| time_zh(Time::new(h, m).expect("a time"));
        assert_eq!(read(10, 0), "上午十点");
        assert_eq!(read(15, 30), "下午三点半");
        assert_eq!(read(20, 0), "晚上八点");
        assert_eq!(read(12, 0), "中午十二点");
        assert_eq!(read(15, 45), "下午三点四十五分");
        assert_eq!(read(14, 5), "下午两点零五分");
        assert_eq!(read(0, 5), "凌晨零点零五分");
        assert_eq!(read(8, 15), "上午八点十五分");
    }

    fn money(text: &str) -> Money {
        Money::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn number_readings() {
        let cases: &[(i64, &str)] = &[
            (0, "零"),
            (1, "一"),
            (2, "二"),
            (9, "九"),
            (10, "十"),
            (11, "十一"),
            (15, "十五"),
            (19, "十九"),
            (20, "二十"),
            (21, "二十一"),
            (99, "九十九"),
            (100, "一百"),
            (101, "一百零一"),
            (105, "一百零五"),
            (110, "一百一十"),
            (111, "一百一十一"),
            (120, "一百二十"),
            (200, "二百"),
            (999, "九百九十九"),
            (1000, "一千"),
            (1001, "一千零一"),
            (1010, "一千零一十"),
            (1100, "一千一百"),
            (1200, "一千二百"),
            (1234, "一千二百三十四"),
            (2000, "二千"),
            (2020, "二千零二十"),
            (9999, "九千九百九十九"),
            (10_000, "一万"),
            (10_001, "一万零一"),
            (10_010, "一万零一十"),
            (10_100, "一万零一百"),
            (11_000, "一万一千"),
            (12_000, "一万二千"),
            (100_000, "十万"),
            (100_010, "十万零一十"),
            (110_000, "十一万"),
            (150_000, "十五万"),
            (1_000_000, "一百万"),
            (1_000_100, "一百万零一百"),
            (1_010_000, "一百零一万"),
            (10_000_000, "一千万"),
            (10_000_001, "一千万零一"),
            (20_000_000, "二千万"),
            (100_000_000, "一亿"),
            (100_000_001, "一亿零一"),
            (100_010_000, "一亿零一万"),
            (100_100_000, "一亿零一十万"),
            (110_000_000, "一亿一千万"),
            (1_000_000_000, "十亿"),
            (1_500_000_000, "十五亿"),
            (10_000_000_000, "一百亿"),
            (123_456_789, "一亿二千三百四十五万六千七百八十九"),
            (1_000_000_000_000, "一万亿"),
            (1_000_000_010_000, "一万亿零一万"),
            (10_001_000_000_000, "十万零一十亿"),
            (10_000_000_000_000_000, "一亿亿"),
            (-1, "负一"),
            (-10, "负十"),
            (-1001, "负一千零一"),
        ];
        for &(n, reading) in cases {
            assert_eq!(number_zh_int(n), reading, "{n}");
        }
    }

    #[test]
    fn number_extremes_do_not_panic() {
        assert_eq!(number_zh_int(i64::MAX), "九百二十二亿三千三百七十二万零三百六十八亿五千四百七十七万五千八百零七");
        assert_eq!(number_zh_int(i64::MIN), "负九百二十二亿三千三百七十二万零三百六十八亿五千四百七十七万五千八百零八");
    }

    #[test]
    fn number_of_money_reads_decimals() {
        let cases = [
            ("1200.50", "一千二百点五"),
            ("1200.5", "一千二百点五"),
            ("3.05", "三点零五"),
            ("3.15", "三点一五"),
            ("1200", "一千二百"),
            ("0", "零"),
            ("0.01", "零点零一"),
            ("0.1", "零点一"),
            ("10.10", "十点一"),
            ("-0.5", "负零点五"),
            ("-1001.25", "负一千零一点二五"),
        ];
        for (text, reading) in cases {
            assert_eq!(number_zh_money(money(text)), reading, "{text}");
        }
        assert_eq!(
            number_zh_money(Money::from_cents(i64::MIN)),
            "负九亿二千二百三十三万七千二百零三亿六千八百五十四万七千七百五十八点零八"
        );
    }

    #[test]
    fn money_readings() {
        let cases = [
            ("1200.50", "一千二百元五角"),
            ("10", "十元整"),
            ("0.05", "五分"),
            ("100000", "十万元整"),
            ("20000000.00", "两千万元整"),
            ("1200.55", "一千二百元五角五分"),
            ("1200.05", "一千二百元零五分"),
            ("0", "零元整"),
            ("0.00", "零元整"),
            ("101", "一百零一元整"),
            ("1.5", "一元五角"),
            ("1", "一元整"),
            ("15", "十五元整"),
            ("110", "一百一十元整"),
            ("1001.01", "一千零一元零一分"),
            ("0.50", "五角"),
            ("0.55", "五角五分"),
            ("0.01", "一分"),
            ("10.10", "十元一角"),
            ("100010", "十万零一十元整"),
            ("123456789.12", "一亿二千三百四十五万六千七百八十九元一角二分"),
            ("1000000000", "十亿元整"),
            ("-5.00", "负五元整"),
            ("-0.05", "负五分"),
            ("-20000", "负两万元整"),
        ];
        for (text, reading) in cases {
            assert_eq!(money_zh(money(text)), reading, "{text}");
        }
    }

    #[test]
    fn money_says_liang_only_for_a_leading_two_before_a_unit() {
        let cases = [
            ("2", "两元整"),
            ("2.50", "两元五角"),
            ("2.22", "两元二角二分"),
            ("0.2", "两角"),
            ("0.02", "两分"),
            ("0.22", "两角二分"),
            ("20", "二十元整"),
            ("12", "十二元整"),
            ("22", "二十二元整"),
            ("200", "二百元整"),
            ("2000", "两千元整"),
            ("2200", "两千二百元整"),
            ("2222", "两千二百二十二元整"),
            ("12000", "一万二千元整"),
            ("1002", "一千零二元整"),
            ("20000", "两万元整"),
            ("22000", "两万二千元整"),
            ("200000", "二十万元整"),
            ("2000000", "二百万元整"),
            ("20000000", "两千万元整"),
            ("200000000", "两亿元整"),
            ("2200000000", "二十二亿元整"),
            ("1.02", "一元零二分"),
        ];
        for (text, reading) in cases {
            assert_eq!(money_zh(money(text)), reading, "{text}");
        }
    }

    #[test]
    fn money_extremes_do_not_panic() {
        assert_eq!(
            money_zh(Money::from_cents(i64::MAX)),
            "九亿二千二百三十三万七千二百零三亿六千八百五十四万七千七百五十八元零七分"
        );
        assert!(money_zh(Money::from_cents(i64::MIN)).starts_with('负'));
    }

    #[test]
    fn digits_readings() {
        let cases = [
            ("8831", "八八三幺"),
            ("0123456789", "零幺二三四五六七八九"),
            ("８８３１", "八八三幺"),
            ("138-0000", "幺三八-零零零零"),
            ("尾号12", "尾号幺二"),
            ("AB10", "AB幺零"),
            ("", ""),
            ("-5", "-五"),
        ];
        for (text, reading) in cases {
            assert_eq!(digits_zh(text), reading, "{text}");
        }
    }

    #[test]
    fn date_readings() {
        let cases = [
            ("2026-11-24", "2026年11月24日"),
            ("2026-01-05", "2026年1月5日"),
            ("2000-02-29", "2000年2月29日"),
            ("0999-12-31", "999年12月31日"),
        ];
        for (text, reading) in cases {
            assert_eq!(date_zh(Date::parse(text).unwrap()), reading, "{text}");
        }
    }

    #[test]
    fn mask_keeps_the_last_four_characters() {
        let cases = [
            ("", ""),
            ("1", "1"),
            ("8831", "8831"),
            ("88310", "*8310"),
            ("6222021234568831", "************8831"),
            ("张三丰", "张三丰"),
            ("星海银行信用卡", "***行信用卡"),
            ("ab😀cde", "**😀cde"),
        ];
        for (text, masked) in cases {
            assert_eq!(mask(text), masked, "{text}");
        }
    }

    #[test]
    fn apply_follows_the_type_table() {
        let m = Value::Money(money("1200.50"));
        assert_eq!(apply("money", &m).as_deref(), Some("一千二百元五角"));
        assert_eq!(apply("money", &Value::Int(10)).as_deref(), Some("十元整"));
        assert_eq!(apply("money", &Value::Int(2)).as_deref(), Some("两元整"));
        assert_eq!(
            apply("money", &Value::Int(i64::MAX)).as_deref(),
            Some("九百二十二亿三千三百七十二万零三百六十八亿五千四百七十七万五千八百零七元整")
        );
        assert_eq!(apply("money", &Value::Int(-200_000_000_000_000_000)).as_deref(), Some("负二十亿亿元整"));
        assert_eq!(apply("money", &Value::Int(i64::MIN)).map(|s| s.starts_with('负')), Some(true));
        assert_eq!(apply("digits", &Value::Text("8831".into())).as_deref(), Some("八八三幺"));
        assert_eq!(apply("digits", &Value::Int(8831)).as_deref(), Some("八八三幺"));
        assert_eq!(apply("number", &Value::Int(1001)).as_deref(), Some("一千零一"));
        assert_eq!(apply("number", &m).as_deref(), Some("一千二百点五"));
        let d = Value::Date(Date::parse("2026-11-24").unwrap());
        assert_eq!(apply("date", &d).as_deref(), Some("2026年11月24日"));
        assert_eq!(apply("mask", &Value::Text("123456".into())).as_deref(), Some("**3456"));
        assert_eq!(apply("mask", &Value::Int(123_456)), None);
        assert_eq!(apply("date", &Value::Text("2026-11-24".into())), None);
        assert_eq!(apply("number", &Value::Bool(true)), None);
        assert_eq!(apply("upper", &Value::Text("x".into())), None);
    }

    /// A value of every type, for the tests that hold the type table against the readings.
    fn samples() -> [Value; 6] {
        [
            Value::Text("12345".into()),
            Value::Int(7),
            Value::Money(money("1.5")),
            Value::Bool(true),
            Value::Date(Date::parse("2026-11-24").unwrap()),
            Value::Time(Time::new(15, 30).unwrap()),
        ]
    }

    #[test]
    fn accepts_matches_apply() {
        let samples = samples();
        for filter in FILTERS.iter().chain(&["nope"]) {
            for value in &samples {
                assert_eq!(
                    accepts(filter, value.type_name()),
                    apply(filter, value).is_some(),
                    "{filter} on {}",
                    value.type_name()
                );
            }
        }
    }

    #[test]
    fn every_locale_follows_the_type_table() {
        let samples = samples();
        for tag in LOCALES {
            let locale = Locale::from_tag(tag).expect("a listed locale");
            assert_eq!(locale.tag(), *tag);
            for filter in FILTERS {
                for value in &samples {
                    let reading =
                        if locale == Locale::EnUs { en_us::apply(filter, value) } else { apply(filter, value) };
                    assert_eq!(accepts(filter, value.type_name()), reading.is_some(), "{tag}: {filter} on {value:?}");
                }
            }
        }
        assert_eq!(Locale::from_tag("en-us"), Some(Locale::EnUs));
        assert_eq!(Locale::from_tag("ZH-cn"), Some(Locale::ZhCn));
        assert_eq!(Locale::from_tag("fr-FR"), None);
        assert_eq!(Locale::from_tag("en"), None);
        assert_eq!(Locale::default(), Locale::ZhCn);
    }

    /// Reads a Chinese numeral back, to check readings of arbitrary numbers by round trip.
    fn read_back(s: &str) -> u64 {
        if let Some(i) = s.rfind('亿') {
            return read_back(&s[..i]) * 100_000_000 + read_back(&s[i + '亿'.len_utf8()..]);
        }
        if let Some(i) = s.rfind('万') {
            return read_back(&s[..i]) * 10_000 + read_back(&s[i + '万'.len_utf8()..]);
        }
        let (mut total, mut digit) = (0, 0);
        for c in s.chars() {
            let unit = match c {
                '十' => 10,
                '百' => 100,
                '千' => 1000,
                '两' => {
                    digit = 2;
                    continue;
                }
                _ => {
                    digit = DIGITS.iter().position(|&d| d == c).expect("a digit") as u64;
                    continue;
                }
            };
            total += digit.max(1) * unit;
            digit = 0;
        }
        total + digit
    }

    #[test]
    fn read_back_reads_the_table() {
        assert_eq!(read_back("一千零一"), 1001);
        assert_eq!(read_back("十万零一十"), 100_010);
        assert_eq!(read_back("两千万"), 20_000_000);
    }

    proptest::proptest! {
        #[test]
        fn readings_round_trip(n in proptest::prelude::any::<i64>()) {
            let reading = number_zh_int(n);
            let unsigned = reading.strip_prefix('负').unwrap_or(&reading);
            proptest::prop_assert_eq!(read_back(unsigned), n.unsigned_abs(), "{}", reading);
            proptest::prop_assert_eq!(reading.starts_with('负'), n < 0);
            let m = Money::from_cents(n);
            let spoken = money_zh(m);
            let spoken = spoken.strip_prefix('负').unwrap_or(&spoken);
            if let Some((units, _)) = spoken.split_once('元') {
                proptest::prop_assert_eq!(read_back(units), m.abs_units(), "{}", spoken);
            } else {
                proptest::prop_assert_eq!(m.abs_units(), 0);
            }
        }

        #[test]
        fn small_readings_round_trip(n in -100_000_000i64..100_000_000) {
            let reading = number_zh_int(n);
            let unsigned = reading.strip_prefix('负').unwrap_or(&reading);
            proptest::prop_assert_eq!(read_back(unsigned), n.unsigned_abs(), "{}", reading);
            proptest::prop_assert!(reading == "零" || !reading.ends_with('零'), "{}", reading);
        }

        #[test]
        fn readings_never_panic(n in proptest::prelude::any::<i64>()) {
            let reading = number_zh_int(n);
            proptest::prop_assert!(!reading.is_empty());
            proptest::prop_assert!(reading.chars().all(|c| "负零一二三四五六七八九十百千万亿".contains(c)));
            proptest::prop_assert!(!reading.contains("零零"));
            let m = Money::from_cents(n);
            proptest::prop_assert!(money_zh(m).ends_with(['整', '角', '分']));
            proptest::prop_assert!(!number_zh_money(m).is_empty());
            proptest::prop_assert!(apply("money", &Value::Int(n)).is_some());
        }

        #[test]
        fn mask_keeps_length(text in "\\PC{0,20}") {
            let masked = mask(&text);
            proptest::prop_assert_eq!(masked.chars().count(), text.chars().count());
            let tail: String = text.chars().rev().take(4).collect();
            let masked_tail: String = masked.chars().rev().take(4).collect();
            proptest::prop_assert_eq!(tail, masked_tail);
        }
    }
}
