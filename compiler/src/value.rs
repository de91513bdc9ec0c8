//! Runtime values of the language (§9.5): what an input, a `let` or an expression holds.
//!
//! Money is an exact count of cents so that no amount a bank speaks to a customer is ever
//! rounded by floating point; dates are plain calendar dates without a time zone, because a
//! script only ever speaks or compares them.

use std::fmt;

/// An amount of money, exact to 0.01, kept as a whole number of cents.
///
/// Arithmetic is checked: an overflow is a runtime error for the caller to report, never a
/// silently wrong amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money(i64);

impl Money {
    /// Zero, the default of a `money` value.
    pub const ZERO: Money = Money(0);

    /// Builds an amount from cents, the unit the runtime stores.
    pub const fn from_cents(cents: i64) -> Money {
        Money(cents)
    }

    /// The amount in cents, for serialising and for exact comparisons.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Widens an `int` to `money` (§9.5); `None` when the amount does not fit in cents.
    pub fn from_int(units: i64) -> Option<Money> {
        units.checked_mul(100).map(Money)
    }

    /// Reads a decimal literal as the language writes it: `1200`, `1200.5`, `1200.50`, `-5.00`.
    ///
    /// Refuses more than two decimals (money is exact to 0.01, so rounding would change
    /// the amount), a bare `.`, a leading `+`, exponents, spaces, and amounts that overflow.
    pub fn parse(text: &str) -> Option<Money> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = match rest.split_once('.') {
            Some((whole, frac)) => (whole, Some(frac)),
            None => (rest, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frac_cents: i128 = match frac {
            None => 0,
            Some(f) if (1..=2).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
                let digits: i128 = f.bytes().fold(0, |acc, b| acc * 10 + i128::from(b - b'0'));
                if f.len() == 1 { digits * 10 } else { digits }
            }
            Some(_) => return None,
        };
        let mut units: i128 = 0;
        for b in whole.bytes() {
            units = units.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
            // Anything past i64's range in cents overflows anyway; stop early on long input.
            if units > i128::from(i64::MAX) {
                return None;
            }
        }
        let magnitude = units * 100 + frac_cents;
        let cents = if negative { -magnitude } else { magnitude };
        i64::try_from(cents).ok().map(Money)
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self - other`, `None` on overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// `money * int` (money × money is a type error, §9.5); `None` on overflow.
    pub fn checked_mul_int(self, factor: i64) -> Option<Money> {
        self.0.checked_mul(factor).map(Money)
    }

    /// `money / int`, truncating toward zero to the cent like `int / int` truncates;
    /// `None` when dividing by zero (the runtime ends the call with `failed`) or on overflow.
    pub fn checked_div_int(self, divisor: i64) -> Option<Money> {
        self.0.checked_div(divisor).map(Money)
    }

    /// `money % int` on cents, with the sign of the dividend like Rust's `%`;
    /// `None` for a zero divisor.
    pub fn checked_rem_int(self, divisor: i64) -> Option<Money> {
        self.0.checked_rem(divisor).map(Money)
    }

    /// `-self`, `None` for the one amount whose negation overflows.
    pub fn checked_neg(self) -> Option<Money> {
        self.0.checked_neg().map(Money)
    }

    /// True when the amount is below zero; the checker refuses negative money literals,
    /// but arithmetic at runtime can produce one.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Whole units (元) of the absolute amount, for filters that read the amount aloud.
    pub const fn abs_units(self) -> u64 {
        self.0.unsigned_abs() / 100
    }

    /// Cents below one unit (0..=99) of the absolute amount.
    pub const fn abs_fraction_cents(self) -> u8 {
        (self.0.unsigned_abs() % 100) as u8
    }
}

impl fmt::Display for Money {
    /// ASCII digits with exactly two decimals (`1200.50`, `-5.00`): the unfiltered rendering
    /// of §9.5 and the form a test literal is written in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.is_negative() { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", self.abs_units(), self.abs_fraction_cents())
    }
}

/// A calendar date (proleptic Gregorian, no time zone), as written in `2026-11-24`.
///
/// Fields are ordered year, month, day so the derived ordering is chronological.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Date {
    /// Year, 0..=9999 when built by [`Date::new`] or [`Date::parse`].
    pub year: i32,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31 depending on the month.
    pub day: u8,
}

impl Date {
    /// Builds a date only if it exists on the calendar, so a script never speaks 2月30日.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(0..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Reads exactly `YYYY-MM-DD` (four, two and two ASCII digits), the literal form of §9.5.
    pub fn parse(text: &str) -> Option<Date> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<u32> {
            b[range].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
        };
        let year = i32::try_from(num(0..4)?).ok()?;
        let month = u8::try_from(num(5..7)?).ok()?;
        let day = u8::try_from(num(8..10)?).ok()?;
        Date::new(year, month, day)
    }
}

impl Date {
    /// Days since 1970-01-01 (negative before it), for date arithmetic.
    pub fn days(self) -> i64 {
        // Howard Hinnant's days_from_civil, on a year that starts in March.
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The date `days` days after 1970-01-01; `None` outside the years 0..=9999.
    pub fn from_days(days: i64) -> Option<Date> {
        let z = days.checked_add(719_468)?;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Date::new(i32::try_from(year).ok()?, u8::try_from(month).ok()?, u8::try_from(day).ok()?)
    }

    /// `self + days` (`date + int` of §11); `None` outside the years 0..=9999.
    pub fn add_days(self, days: i64) -> Option<Date> {
        Date::from_days(self.days().checked_add(days)?)
    }

    /// The day of the week, 1 = Monday … 7 = Sunday (§11's `weekday`).
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday.
        (self.days() + 3).rem_euclid(7) as u8 + 1
    }

    /// The last day of this date's month.
    pub fn month_end(self) -> Date {
        Date { day: days_in_month(self.year, self.month), ..self }
    }

    /// Day `day` of the month `months` after this date's (before it when negative), moved back
    /// to that month's last day when the month is shorter (下个月31号 in January is 2月28日).
    /// `None` outside the years 0..=9999 or for a day outside 1..=31.
    pub fn in_month(self, months: i64, day: u8) -> Option<Date> {
        if !(1..=31).contains(&day) {
            return None;
        }
        let index =
            i64::from(self.year).checked_mul(12)?.checked_add(i64::from(self.month) - 1)?.checked_add(months)?;
        let year = i32::try_from(index.div_euclid(12)).ok()?;
        let month = index.rem_euclid(12) as u8 + 1;
        Date::new(year, month, day.min(days_in_month(year, month)))
    }
}

impl fmt::Display for Date {
    /// `2026-11-24`: the unfiltered rendering of §9.5.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A clock time of day (§11's `time`), to the minute, without a date or a zone.
///
/// Fields are ordered hour, minute so the derived ordering is chronological.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Time {
    /// Hour, 0..=23 when built by [`Time::new`] or [`Time::parse`].
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
}

impl Time {
    /// Builds a time only if it exists on the clock (00:00 to 23:59).
    pub fn new(hour: u8, minute: u8) -> Option<Time> {
        (hour < 24 && minute < 60).then_some(Time { hour, minute })
    }

    /// Reads a `time` literal: `15:30`, `08:05` or `8:05` (one or two ASCII digits, a colon,
    /// exactly two).
    pub fn parse(text: &str) -> Option<Time> {
        let (hour, minute) = text.split_once(':')?;
        let digits = |s: &str| -> Option<u8> {
            s.bytes().try_fold(0u8, |acc, b| b.is_ascii_digit().then(|| acc * 10 + (b - b'0')))
        };
        if !(1..=2).contains(&hour.len()) || minute.len() != 2 {
            return None;
        }
        Time::new(digits(hour)?, digits(minute)?)
    }
}

impl fmt::Display for Time {
    /// `15:30`, `08:05`: two digits each, the form a literal and a test are written in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// Gregorian leap-year rule; public so the runtime's `date` arithmetic agrees with parsing.
pub const fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`; 0 for a month that does not exist.
pub const fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A value of one of the types of §3 and §11 (`text int money bool date time`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Value {
    /// `text`
    Text(String),
    /// `int`
    Int(i64),
    /// `money`
    Money(Money),
    /// `bool`
    Bool(bool),
    /// `date`
    Date(Date),
    /// `time` (§11)
    Time(Time),
}

impl Value {
    /// The type's name as a script writes it, for messages such as "expected money, found text".
    pub const fn type_name(&self) -> &'static str {
        match self {
            Value::Text(_) => "text",
            Value::Int(_) => "int",
            Value::Money(_) => "money",
            Value::Bool(_) => "bool",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
        }
    }

    /// The value as its literal is written in a script or a test, unquoted: `5`, `1200.50`,
    /// `true`, `2026-11-24`, `15:30`, text as it is. Stores, report columns and test
    /// messages use this form, which does not depend on the script's locale.
    /// Reads the literal form of a value of type `ty` (`1200.50`, `2026-12-01`, `15:30`, `5`,
    /// `true`; text as it is): campaign `sim` answers, stored results.
    pub fn read_literal(ty: crate::syntax::ast::Type, text: &str) -> Option<Value> {
        use crate::syntax::ast::Type;
        Some(match ty {
            Type::Text => Value::Text(text.to_string()),
            Type::Int => Value::Int(text.trim().parse().ok()?),
            Type::Money => Value::Money(Money::parse(text.trim())?),
            Type::Bool => Value::Bool(text.trim().parse().ok()?),
            Type::Date => Value::Date(Date::parse(text.trim())?),
            Type::Time => Value::Time(Time::parse(text.trim())?),
        })
    }

    pub fn literal_text(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Money(m) => m.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => d.to_string(),
            Value::Time(t) => t.to_string(),
        }
    }

    /// How `{{ value }}` without a filter appears in a prompt (§9.5): numbers as ASCII digits
    /// (`5`, `1200.50`), booleans as 是/否, dates as `2026-11-24`, text as it is; a time is
    /// read as people say it (下午三点半, §16.1), since a clock face is not read aloud well.
    pub fn render_plain(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Money(m) => m.to_string(),
            Value::Bool(true) => "是".to_owned(),
            Value::Bool(false) => "否".to_owned(),
            Value::Date(d) => d.to_string(),
            Value::Time(t) => crate::filters::time_zh(*t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Money {
        Money::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn money_parses_language_literals() {
        let cases = [
            ("0", 0),
            ("1200", 120_000),
            ("1200.5", 120_050),
            ("1200.50", 120_050),
            ("1200.05", 120_005),
            ("0.05", 5),
            ("-5.00", -500),
            ("-0.01", -1),
            ("-0", 0),
            ("007", 700),
            ("92233720368547758.07", i64::MAX),
            ("-92233720368547758.08", i64::MIN),
        ];
        for (text, cents) in cases {
            assert_eq!(Money::parse(text), Some(Money::from_cents(cents)), "{text}");
        }
    }

    #[test]
    fn money_refuses_junk_precision_and_overflow() {
        for text in [
            "",
            "-",
            ".",
            ".5",
            "5.",
            "1.234",
            "1.2.3",
            "+5",
            "1e3",
            " 5",
            "5 ",
            "1,200",
            "1_200",
            "--5",
            "-.5",
            "五",
            "１２",
            "0x10",
            "92233720368547758.08",
            "-92233720368547758.09",
            "99999999999999999999999999999999999999999",
        ] {
            assert_eq!(Money::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn money_displays_two_decimals() {
        let cases = [
            (120_050, "1200.50"),
            (1_000, "10.00"),
            (5, "0.05"),
            (0, "0.00"),
            (-500, "-5.00"),
            (-1, "-0.01"),
            (i64::MAX, "92233720368547758.07"),
            (i64::MIN, "-92233720368547758.08"),
        ];
        for (cents, text) in cases {
            assert_eq!(Money::from_cents(cents).to_string(), text);
        }
    }

    #[test]
    fn money_display_round_trips_through_parse() {
        for cents in [0, 1, 9, 10, 99, 100, 101, 120_050, -120_050, i64::MAX, i64::MIN] {
            let money = Money::from_cents(cents);
            assert_eq!(Money::parse(&money.to_string()), Some(money));
        }
    }

    #[test]
    fn money_arithmetic_is_checked() {
        assert_eq!(m("1.10").checked_add(m("2.25")), Some(m("3.35")));
        assert_eq!(m("1.10").checked_sub(m("2.25")), Some(m("-1.15")));
        assert_eq!(Money::from_cents(i64::MAX).checked_add(m("0.01")), None);
        assert_eq!(Money::from_cents(i64::MIN).checked_sub(m("0.01")), None);
        assert_eq!(m("12.34").checked_mul_int(3), Some(m("37.02")));
        assert_eq!(m("12.34").checked_mul_int(-1), Some(m("-12.34")));
        assert_eq!(Money::from_cents(i64::MAX).checked_mul_int(2), None);
        assert_eq!(Money::from_cents(i64::MIN).checked_neg(), None);
        assert_eq!(m("5").checked_neg(), Some(m("-5")));
    }

    #[test]
    fn money_division_truncates_toward_zero() {
        assert_eq!(m("10.00").checked_div_int(3), Some(m("3.33")));
        assert_eq!(m("-10.00").checked_div_int(3), Some(m("-3.33")));
        assert_eq!(m("0.05").checked_div_int(2), Some(m("0.02")));
        assert_eq!(m("-0.05").checked_div_int(2), Some(m("-0.02")));
        assert_eq!(m("10.00").checked_div_int(-4), Some(m("-2.50")));
        assert_eq!(m("10.00").checked_div_int(0), None);
        assert_eq!(Money::from_cents(i64::MIN).checked_div_int(-1), None);
        assert_eq!(m("10.00").checked_rem_int(3), Some(Money::from_cents(1)));
        assert_eq!(m("10.00").checked_rem_int(0), None);
    }

    #[test]
    fn money_from_int_widens_exactly() {
        assert_eq!(Money::from_int(5), Some(m("5.00")));
        assert_eq!(Money::from_int(-5), Some(m("-5")));
        assert_eq!(Money::from_int(0), Some(Money::ZERO));
        assert_eq!(Money::from_int(i64::MAX), None);
        assert_eq!(Money::from_int(i64::MIN), None);
        assert_eq!(Money::from_int(92_233_720_368_547_758), Some(m("92233720368547758")));
    }

    #[test]
    fn money_orders_by_amount() {
        assert!(m("-1") < m("0") && m("0") < m("0.01") && m("0.01") < m("1200.5"));
        assert_eq!(m("1200.5"), m("1200.50"));
    }

    #[test]
    fn money_parts_for_reading() {
        let money = m("-1200.05");
        assert!(money.is_negative());
        assert_eq!(money.abs_units(), 1200);
        assert_eq!(money.abs_fraction_cents(), 5);
        let extreme = Money::from_cents(i64::MIN);
        assert_eq!(extreme.abs_units(), 92_233_720_368_547_758);
        assert_eq!(extreme.abs_fraction_cents(), 8);
    }

    #[test]
    fn date_parses_real_calendar_dates() {
        assert_eq!(Date::parse("2026-11-24"), Some(Date { year: 2026, month: 11, day: 24 }));
        for ok in [
            "2024-02-29",
            "2000-02-29",
            "2026-01-31",
            "2026-04-30",
            "2026-12-31",
            "0000-01-01",
            "9999-12-31",
            "1600-02-29",
        ] {
            assert!(Date::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "2026-02-29",
            "1900-02-29",
            "2100-02-29",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "2026-01-32",
            "2026-1-05",
            "26-11-24",
            "2026/11/24",
            "2026-11-24 ",
            "20261124",
            "２０２６-11-24",
            "+026-11-24",
            "2026-+1-24",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn date_new_validates() {
        assert!(Date::new(2026, 2, 28).is_some());
        assert!(Date::new(2026, 2, 29).is_none());
        assert!(Date::new(-1, 1, 1).is_none());
        assert!(Date::new(10_000, 1, 1).is_none());
        assert!(Date::new(2026, 6, 31).is_none());
    }

    #[test]
    fn date_displays_and_orders() {
        let d = Date::parse("2026-01-05").unwrap();
        assert_eq!(d.to_string(), "2026-01-05");
        assert_eq!(Date::parse("0007-03-09").unwrap().to_string(), "0007-03-09");
        let mut dates: Vec<Date> =
            ["2026-11-24", "2025-12-31", "2026-02-01", "2026-11-03"].iter().map(|s| Date::parse(s).unwrap()).collect();
        dates.sort();
        let shown: Vec<String> = dates.iter().map(Date::to_string).collect();
        assert_eq!(shown, ["2025-12-31", "2026-02-01", "2026-11-03", "2026-11-24"]);
    }

    #[test]
    fn date_arithmetic() {
        let d = |s: &str| Date::parse(s).unwrap();
        assert_eq!(d("1970-01-01").days(), 0);
        assert_eq!(d("2026-11-24").weekday(), 2, "a Tuesday");
        assert_eq!(d("2026-01-05").weekday(), 1, "a Monday");
        assert_eq!(d("2026-11-29").weekday(), 7);
        assert_eq!(d("2026-11-24").add_days(7), Some(d("2026-12-01")));
        assert_eq!(d("2026-12-31").add_days(1), Some(d("2027-01-01")));
        assert_eq!(d("2024-03-01").add_days(-1), Some(d("2024-02-29")));
        assert_eq!(d("9999-12-31").add_days(1), None);
        assert_eq!(d("0000-01-01").add_days(-1), None);
        assert_eq!(d("2026-11-24").add_days(i64::MAX), None);
        assert_eq!(d("2026-11-24").month_end(), d("2026-11-30"));
        assert_eq!(d("2024-02-03").month_end(), d("2024-02-29"));
        assert_eq!(d("2026-01-31").in_month(1, 31), Some(d("2026-02-28")));
        assert_eq!(d("2026-11-24").in_month(1, 10), Some(d("2026-12-10")));
        assert_eq!(d("2026-11-24").in_month(2, 10), Some(d("2027-01-10")));
        assert_eq!(d("2026-01-24").in_month(-1, 31), Some(d("2025-12-31")));
        assert_eq!(d("2026-01-24").in_month(0, 0), None);
        assert_eq!(d("9999-12-01").in_month(1, 1), None);
        assert_eq!(d("2026-01-24").in_month(i64::MAX, 1), None);
    }

    #[test]
    fn times_parse_display_and_order() {
        assert_eq!(Time::parse("15:30"), Some(Time { hour: 15, minute: 30 }));
        assert_eq!(Time::parse("8:05"), Time::new(8, 5));
        assert_eq!(Time::parse("00:00"), Time::new(0, 0));
        for bad in ["24:00", "12:60", "1530", "15:3", "15:300", ":30", "+1:30", "１５:30", "", "123:00"] {
            assert_eq!(Time::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Time::new(8, 5).unwrap().to_string(), "08:05");
        assert!(Time::new(9, 59) < Time::new(10, 0));
        assert_eq!(Time::new(24, 0), None);
    }

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2024) && is_leap_year(2000) && is_leap_year(0));
        assert!(!is_leap_year(2026) && !is_leap_year(1900) && !is_leap_year(2100));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2026, 2), 28);
        assert_eq!(days_in_month(2026, 13), 0);
    }

    #[test]
    fn values_render_plainly() {
        let cases = [
            (Value::Text("张三".into()), "张三"),
            (Value::Int(5), "5"),
            (Value::Int(-42), "-42"),
            (Value::Money(m("1200.5")), "1200.50"),
            (Value::Money(m("10")), "10.00"),
            (Value::Bool(true), "是"),
            (Value::Bool(false), "否"),
            (Value::Date(Date::parse("2026-11-24").unwrap()), "2026-11-24"),
        ];
        for (value, text) in cases {
            assert_eq!(value.render_plain(), text, "{value:?}");
        }
    }

    #[test]
    fn values_serialise_compactly() {
        insta::assert_compact_json_snapshot!(
            [
                Value::Text("张三".into()),
                Value::Int(5),
                Value::Money(m("1200.50")),
                Value::Bool(true),
                Value::Date(Date::parse("2026-11-24").unwrap()),
            ],
            @r#"[{"text": "张三"}, {"int": 5}, {"money": 120050}, {"bool": true}, {"date": {"year": 2026, "month": 11, "day": 24}}]"#
        );
    }

    #[test]
    fn value_type_names() {
        assert_eq!(Value::Text(String::new()).type_name(), "text");
        assert_eq!(Value::Int(0).type_name(), "int");
        assert_eq!(Value::Money(Money::ZERO).type_name(), "money");
        assert_eq!(Value::Bool(true).type_name(), "bool");
        assert_eq!(Value::Date(Date::new(2026, 1, 1).unwrap()).type_name(), "date");
    }

    proptest::proptest! {
        #[test]
        fn any_amount_round_trips(cents in proptest::prelude::any::<i64>()) {
            let money = Money::from_cents(cents);
            proptest::prop_assert_eq!(Money::parse(&money.to_string()), Some(money));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,30}") {
            let _ = Money::parse(&text);
            let _ = Date::parse(&text);
        }

        #[test]
        fn days_round_trip(days in -719_528i64..=2_932_896) {
            let date = Date::from_days(days).unwrap();
            proptest::prop_assert_eq!(date.days(), days);
            proptest::prop_assert_eq!(date.add_days(1).map(Date::days), Date::from_days(days + 1).map(Date::days));
        }

        #[test]
        fn times_round_trip(hour in 0u8..24, minute in 0u8..60) {
            let time = Time::new(hour, minute).unwrap();
            proptest::prop_assert_eq!(Time::parse(&time.to_string()), Some(time));
        }

        #[test]
        fn dates_round_trip(year in 0i32..=9999, month in 1u8..=12, day in 1u8..=31) {
            if let Some(date) = Date::new(year, month, day) {
                proptest::prop_assert_eq!(Date::parse(&date.to_string()), Some(date));
            } else {
                proptest::prop_assert!(day > days_in_month(year, month));
            }
        }
    }
}
