//! The en-US readings of the prompt filters (`locale "en-US"`), written the way a speech
//! engine reads them best: numbers as grouped digits, which every engine reads as a count
//! ("1,250" → one thousand two hundred fifty), units and signs as words.
//!
//! * `number`: grouped digits, `1250` → `1,250`; an amount as a decimal without trailing
//!   zeros, `1200.50` → `1,200.5`, `3.05` → `3.05`; a negative value with `minus`.
//! * `money`: dollars and cents in words around the digits, `1250.50` → `1,250 dollars and
//!   50 cents`, `10` → `10 dollars`, `0.05` → `5 cents`, `1` → `1 dollar`, `0` → `0 dollars`,
//!   `-5` → `minus 5 dollars`. Not `$1,250.50`: espeak-ng reads that "dollar one thousand two
//!   hundred fifty point five zero", and the dollar sign has no reading at all in some engines.
//! * `digits`: one digit at a time, separated by spaces, `8831` → `8 8 3 1`; full-width digits
//!   become ASCII, other characters are kept as a word of their own (`138-0000` →
//!   `1 3 8 - 0 0 0 0`), so nothing silently disappears.
//! * `date`: month name, ordinal day and year, `2026-12-03` → `December 3rd, 2026`. The
//!   ordinal makes engines say "December third" (espeak-ng reads `December 3` as "December
//!   three"), and the text stays the usual written form in transcripts.
//! * `mask` is the same in every locale; `bool` without a filter reads `yes` or `no`.

use crate::value::{Date, Money, Value};

/// Applies the filter `name` to `value` in en-US; `None` where the type table of
/// [`super::accepts`] says no.
pub(super) fn apply(name: &str, value: &Value) -> Option<String> {
    Some(match (name, value) {
        ("money", Value::Money(m)) => money(*m),
        ("money", Value::Int(n)) => signed(*n < 0, &dollars_and_cents(n.unsigned_abs(), 0)),
        ("digits", Value::Text(s)) => digits(s),
        ("digits", Value::Int(n)) => digits(&n.to_string()),
        ("number", Value::Int(n)) => signed(*n < 0, &grouped(n.unsigned_abs())),
        ("number", Value::Money(m)) => number_of_money(*m),
        ("date", Value::Date(d)) => date(*d),
        ("mask", Value::Text(s)) => super::mask(s),
        _ => return None,
    })
}

/// `{{ value }}` without a filter: as in every locale, but a `bool` reads `yes` or `no`.
pub(super) fn plain(value: &Value) -> String {
    match value {
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Time(t) => time(*t),
        other => other.render_plain(),
    }
}

/// A `time` on the 12-hour clock: `3:30 PM`, `12:00 PM` (noon), `12:05 AM`; espeak-ng reads
/// it "three thirty P M".
pub fn time(t: crate::value::Time) -> String {
    let hour = match t.hour % 12 {
        0 => 12,
        h => h,
    };
    let half = if t.hour < 12 { "AM" } else { "PM" };
    format!("{hour}:{:02} {half}", t.minute)
}

/// `1250` → `1,250`: ASCII digits in groups of three.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn signed(negative: bool, body: &str) -> String {
    if negative { format!("minus {body}") } else { body.to_owned() }
}

/// `{{ m | money }}`: `1,250 dollars and 50 cents`.
pub fn money(m: Money) -> String {
    signed(m.is_negative(), &dollars_and_cents(m.abs_units(), m.abs_fraction_cents()))
}

fn dollars_and_cents(units: u64, cents: u8) -> String {
    let dollars = format!("{} dollar{}", grouped(units), if units == 1 { "" } else { "s" });
    let cents_text = format!("{cents} cent{}", if cents == 1 { "" } else { "s" });
    match (units, cents) {
        (_, 0) => dollars,
        (0, _) => cents_text,
        _ => format!("{dollars} and {cents_text}"),
    }
}

/// `{{ m | number }}` for money: `1,200.5`, `3.05`, `1,200`.
pub fn number_of_money(m: Money) -> String {
    let mut body = grouped(m.abs_units());
    let cents = m.abs_fraction_cents();
    if cents != 0 {
        let decimals = format!("{cents:02}");
        body.push('.');
        body.push_str(decimals.trim_end_matches('0'));
    }
    signed(m.is_negative(), &body)
}

/// `{{ s | digits }}`: `8 8 3 1`.
pub fn digits(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let digit = match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            _ => None,
        };
        if digit.is_some() || c.is_whitespace() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            words.extend(digit.map(String::from));
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words.join(" ")
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `{{ d | date }}`: `December 3rd, 2026`.
pub fn date(d: Date) -> String {
    let month = MONTHS.get(usize::from(d.month).wrapping_sub(1)).copied().unwrap_or("?");
    let suffix = match (d.day % 100, d.day % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    };
    format!("{month} {}{suffix}, {}", d.day, d.year)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money_of(text: &str) -> Money {
        Money::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn number_readings() {
        let cases: &[(i64, &str)] = &[
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (1250, "1,250"),
            (100_000, "100,000"),
            (1_000_000, "1,000,000"),
            (-1250, "minus 1,250"),
            (i64::MAX, "9,223,372,036,854,775,807"),
            (i64::MIN, "minus 9,223,372,036,854,775,808"),
        ];
        for &(n, reading) in cases {
            assert_eq!(apply("number", &Value::Int(n)).as_deref(), Some(reading), "{n}");
        }
        let amounts = [
            ("1200.50", "1,200.5"),
            ("3.05", "3.05"),
            ("1200", "1,200"),
            ("0", "0"),
            ("0.01", "0.01"),
            ("0.1", "0.1"),
            ("-0.5", "minus 0.5"),
        ];
        for (text, reading) in amounts {
            assert_eq!(number_of_money(money_of(text)), reading, "{text}");
        }
    }

    #[test]
    fn money_readings() {
        let cases = [
            ("1250.50", "1,250 dollars and 50 cents"),
            ("1200.05", "1,200 dollars and 5 cents"),
            ("10", "10 dollars"),
            ("1", "1 dollar"),
            ("1.01", "1 dollar and 1 cent"),
            ("0.05", "5 cents"),
            ("0.01", "1 cent"),
            ("0", "0 dollars"),
            ("20000000", "20,000,000 dollars"),
            ("-5", "minus 5 dollars"),
            ("-0.25", "minus 25 cents"),
        ];
        for (text, reading) in cases {
            assert_eq!(money(money_of(text)), reading, "{text}");
        }
        assert_eq!(apply("money", &Value::Int(i64::MAX)).as_deref(), Some("9,223,372,036,854,775,807 dollars"));
        assert_eq!(apply("money", &Value::Int(-1)).as_deref(), Some("minus 1 dollar"));
    }

    #[test]
    fn digits_readings() {
        let cases = [
            ("8831", "8 8 3 1"),
            ("８８３１", "8 8 3 1"),
            ("138-0000", "1 3 8 - 0 0 0 0"),
            ("138 0000", "1 3 8 0 0 0 0"),
            ("AB10", "AB 1 0"),
            ("", ""),
            ("-5", "- 5"),
        ];
        for (text, reading) in cases {
            assert_eq!(digits(text), reading, "{text}");
        }
        assert_eq!(apply("digits", &Value::Int(-42)).as_deref(), Some("- 4 2"));
    }

    #[test]
    fn date_readings() {
        let cases = [
            ("2026-12-03", "December 3rd, 2026"),
            ("2026-01-01", "January 1st, 2026"),
            ("2026-01-02", "January 2nd, 2026"),
            ("2026-11-11", "November 11th, 2026"),
            ("2026-11-12", "November 12th, 2026"),
            ("2026-11-13", "November 13th, 2026"),
            ("2026-11-21", "November 21st, 2026"),
            ("2026-11-22", "November 22nd, 2026"),
            ("2026-11-23", "November 23rd, 2026"),
            ("2026-11-24", "November 24th, 2026"),
            ("2000-02-29", "February 29th, 2000"),
            ("2026-03-31", "March 31st, 2026"),
            ("0999-12-30", "December 30th, 999"),
        ];
        for (text, reading) in cases {
            assert_eq!(date(Date::parse(text).unwrap()), reading, "{text}");
        }
    }

    #[test]
    fn plain_reads_times_on_the_12_hour_clock() {
        let at = |h, m| plain(&Value::Time(crate::value::Time::new(h, m).unwrap()));
        assert_eq!(at(15, 30), "3:30 PM");
        assert_eq!(at(12, 0), "12:00 PM");
        assert_eq!(at(0, 5), "12:05 AM");
        assert_eq!(at(9, 0), "9:00 AM");
    }

    #[test]
    fn plain_reads_bools_in_english() {
        assert_eq!(plain(&Value::Bool(true)), "yes");
        assert_eq!(plain(&Value::Bool(false)), "no");
        assert_eq!(plain(&Value::Int(1250)), "1250");
    }

    /// Reads a grouped reading back: digits without the commas, which must sit every three.
    fn read_back(text: &str) -> u64 {
        let groups: Vec<&str> = text.split(',').collect();
        assert!(groups[0].len() <= 3 && !groups[0].is_empty(), "{text}");
        assert!(groups[1..].iter().all(|g| g.len() == 3), "{text}");
        groups.concat().parse().unwrap_or_else(|_| panic!("{text}"))
    }

    proptest::proptest! {
        #[test]
        fn readings_round_trip(n in proptest::prelude::any::<i64>()) {
            let reading = apply("number", &Value::Int(n)).unwrap();
            let unsigned = reading.strip_prefix("minus ").unwrap_or(&reading);
            proptest::prop_assert_eq!(read_back(unsigned), n.unsigned_abs());
            proptest::prop_assert_eq!(reading.starts_with("minus "), n < 0);

            let m = Money::from_cents(n);
            let spoken = money(m);
            let unsigned = spoken.strip_prefix("minus ").unwrap_or(&spoken);
            let (mut units, mut cents) = (0, 0);
            for part in unsigned.split(" and ") {
                let (number, unit) = part.split_once(' ').unwrap();
                match unit {
                    "dollar" | "dollars" => units = read_back(number),
                    "cent" | "cents" => cents = number.parse().unwrap(),
                    other => proptest::prop_assert!(false, "{}: unit {}", spoken, other),
                }
                proptest::prop_assert_eq!(unit.ends_with('s'), number != "1", "{}", spoken);
            }
            proptest::prop_assert_eq!((units, cents), (m.abs_units(), u64::from(m.abs_fraction_cents())));
            proptest::prop_assert_eq!(spoken.starts_with("minus "), n < 0);

            let decimal = number_of_money(m).replace(',', "");
            let unsigned = decimal.strip_prefix("minus ").unwrap_or(&decimal);
            if let Some(abs) = n.checked_abs() {
                proptest::prop_assert_eq!(Money::parse(unsigned), Some(Money::from_cents(abs)), "{}", decimal);
            }
        }

        #[test]
        fn digits_keep_every_digit(text in "[0-9０-９a-z -]{0,16}") {
            let reading = digits(&text);
            let digit = |c: char| c.to_digit(10).or_else(|| ('０'..='９').contains(&c).then(|| c as u32 - '０' as u32));
            let wanted: String = text.chars().filter_map(digit).filter_map(|d| char::from_digit(d, 10)).collect();
            let got: String = reading.chars().filter(char::is_ascii_digit).collect();
            proptest::prop_assert_eq!(got, wanted);
            proptest::prop_assert!(!reading.contains("  ") && !reading.starts_with(' ') && !reading.ends_with(' '));
        }
    }
}
