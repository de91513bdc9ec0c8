//! Readers for the values of a campaign file that their TOML type cannot check: times of
//! day, durations, days, dates, zones, addresses. Each returns the typed value or a message
//! for the diagnostic, in the words a script author or operations engineer would use.

use std::net::{IpAddr, SocketAddr};

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Unit};

/// `HH:MM` (`H:MM` too). `24:00` is the end of the day, only where `end_of_day` allows it:
/// it reads as the last instant of the day so that `t < end` holds all day long.
pub fn clock(text: &str, end_of_day: bool) -> Result<Time, String> {
    let bad = || format!("`{text}` is not a time of day; write it as HH:MM, e.g. \"09:00\"");
    let trimmed = text.trim();
    if trimmed == "24:00" {
        return if end_of_day { Ok(Time::MAX) } else { Err(format!("a window cannot start at `{text}`")) };
    }
    let (h, m) = trimmed.split_once(':').ok_or_else(bad)?;
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !(h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    Time::strptime("%H:%M", format!("{h:0>2}:{m}")).map_err(|_| bad())
}

/// A time of day as the file writes it (`24:00` for the end of the day).
pub fn clock_text(time: Time) -> String {
    if time == Time::MAX { "24:00".to_string() } else { time.strftime("%H:%M").to_string() }
}

/// A duration: the friendly format (`30m`, `2h 30m`, `45 seconds`, `500ms`) or ISO 8601
/// (`PT30M`), at least `min`. A day is 24 hours here (`1d`): these are waits, not dates.
pub fn duration(text: &str, min: SignedDuration) -> Result<SignedDuration, String> {
    let parsed = text.trim().parse::<SignedDuration>().or_else(|_| {
        // SignedDuration refuses calendar units; a `Span` with days reads them as 24 hours.
        text.trim()
            .parse::<jiff::Span>()
            .map_err(|_| ())
            .and_then(|span| span.to_duration(jiff::SpanRelativeTo::days_are_24_hours()).map_err(|_| ()))
    });
    match parsed {
        Ok(d) if d >= min => Ok(d),
        Ok(_) => Err(format!("`{text}` is shorter than the least allowed, {}", duration_text(min))),
        Err(()) => Err(format!("`{text}` is not a duration; write e.g. \"30s\", \"30m\", \"2h\" or \"1d\"")),
    }
}

/// A duration in the friendly format, rounded to the millisecond: `30m`, `1h 30m`, `600ms`.
pub fn duration_text(d: SignedDuration) -> String {
    match jiff::Span::try_from(d).and_then(|s| s.round(jiff::SpanRound::new().largest(Unit::Hour))) {
        Ok(span) => format!("{span:#}"),
        Err(_) => format!("{d:?}"),
    }
}

pub fn weekday(text: &str) -> Result<Weekday, String> {
    Ok(match text.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return Err(format!("`{text}` is not a day; use mon, tue, wed, thu, fri, sat, sun")),
    })
}

pub fn date(text: &str) -> Result<Date, String> {
    Date::strptime("%Y-%m-%d", text.trim()).map_err(|_| format!("`{text}` is not a date; write it as 2026-10-01"))
}

/// An IANA zone from the database built into the program (the same on every machine, so a
/// check in CI agrees with the run).
pub fn zone(text: &str) -> Result<TimeZone, String> {
    TimeZoneDatabase::bundled()
        .get(text.trim())
        .map_err(|_| format!("`{text}` is not a time zone; use an IANA name such as \"Asia/Shanghai\""))
}

/// A SIP gateway: a `sip:` URI whose host is a literal IP (DNS is the trunk operator's
/// business), port 5060 unless given; `user@` and `;parameters` are allowed.
pub fn gateway(text: &str) -> Result<SocketAddr, String> {
    let bad =
        |why: &str| format!("gateway `{text}` {why}; write a SIP URI with an IP address, e.g. \"sip:10.0.0.1:5060\"");
    let rest = text.strip_prefix("sip:").ok_or_else(|| bad("is not a sip: URI"))?;
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("holds spaces"));
    }
    let host_port = rest.split([';', '?']).next().unwrap_or("");
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("has an unclosed `[`"))?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    let ip: IpAddr = host.parse().map_err(|_| bad("has no IP address as its host"))?;
    let port = match port {
        None => 5060,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad("has a bad port"))?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// The recogniser (`[speech] asr`): the simulator's text, keys only, or a FunASR server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asr {
    Text,
    Dtmf,
    /// A FunASR WebSocket address (`ws://host:port`).
    FunAsr(String),
}

pub fn asr(text: &str) -> Result<Asr, String> {
    let setting = text.trim();
    match setting {
        "text" => return Ok(Asr::Text),
        "dtmf" => return Ok(Asr::Dtmf),
        _ => {}
    }
    if setting.starts_with("wss://") {
        return Err(format!(
            "asr = \"{setting}\": wss:// is not supported yet; start the FunASR server with `--certfile 0` and use ws://"
        ));
    }
    let Some(rest) = setting.strip_prefix("ws://") else {
        return Err(format!(
            "asr = \"{setting}\": expected \"text\", \"dtmf\" or a FunASR server address such as \"ws://127.0.0.1:10095\""
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.starts_with(':') {
        return Err(format!("asr = \"{setting}\": the address has no host (e.g. \"ws://127.0.0.1:10095\")"));
    }
    // The port, if any: after `]` for an IPv6 host, else after the last `:`.
    let port = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, "")) => Ok(None),
            Some((_, after)) => after.strip_prefix(':').map(Some).ok_or(()),
            None => Err(()),
        },
        None => Ok(authority.rsplit_once(':').map(|(_, p)| p)),
    };
    let port_ok = port.is_ok_and(|p| p.is_none_or(|p| p.parse::<u16>().is_ok()));
    let chars_ok = rest.chars().all(|c| c.is_ascii_graphic());
    if !port_ok || !chars_ok {
        return Err(format!("asr = \"{setting}\": not a valid address (e.g. \"ws://127.0.0.1:10095\")"));
    }
    Ok(Asr::FunAsr(setting.to_string()))
}

/// A campaign's id: it names the campaign in the store, reports and the generated script, so
/// it holds letters, digits, `_`, `-` and `.` only.
/// An `http://` or `https://` URL with a host (actions and the SMS gateway, CAMPAIGN.md §5).
pub fn http_url(text: &str) -> Result<(), String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("`{text}` must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) || text.contains(char::is_whitespace) {
        return Err(format!("`{text}` names no host"));
    }
    Ok(())
}

pub fn task_id(text: &str) -> Result<String, String> {
    if text.is_empty() || text.chars().count() > 128 {
        return Err("a task_id is 1 to 128 characters long".into());
    }
    match text.chars().find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        Some(c) => Err(format!("task_id `{text}` holds {c:?}; use letters, digits, `_`, `-` and `.`")),
        None => Ok(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks() {
        assert_eq!(clock("09:30", false), Ok(Time::constant(9, 30, 0, 0)));
        assert_eq!(clock("9:30", false), Ok(Time::constant(9, 30, 0, 0)));
        assert_eq!(clock("24:00", true), Ok(Time::MAX));
        assert!(clock("24:00", false).is_err());
        for bad in ["9am", "12:60", "25:00", "", ":", "09:5", "+9:00", "09:00:00", "٠٩:٠٠"] {
            assert!(clock(bad, true).is_err(), "{bad}");
        }
        assert_eq!(clock_text(Time::MAX), "24:00");
        assert_eq!(clock_text(Time::constant(8, 5, 0, 0)), "08:05");
    }

    #[test]
    fn durations() {
        let zero = SignedDuration::ZERO;
        assert_eq!(duration("30m", zero), Ok(SignedDuration::from_mins(30)));
        assert_eq!(duration("2h", zero), Ok(SignedDuration::from_hours(2)));
        assert_eq!(duration("500ms", zero), Ok(SignedDuration::from_millis(500)));
        assert_eq!(duration("1d", zero), Ok(SignedDuration::from_hours(24)));
        assert_eq!(duration("30 minutes", zero), Ok(SignedDuration::from_mins(30)));
        assert_eq!(duration("PT45S", zero), Ok(SignedDuration::from_secs(45)));
        for bad in ["5", "5x", "", "soon", "-5m"] {
            assert!(duration(bad, zero).is_err(), "{bad}");
        }
        assert!(duration("0s", SignedDuration::from_secs(1)).unwrap_err().contains("shorter"));
        assert_eq!(duration_text(SignedDuration::from_mins(90)), "1h 30m");
        assert_eq!(duration_text(SignedDuration::from_millis(600)), "600ms");
    }

    #[test]
    fn gateways() {
        for (text, addr) in [
            ("sip:127.0.0.1:5090", "127.0.0.1:5090"),
            ("sip:10.0.0.1", "10.0.0.1:5060"),
            ("sip:trunk@10.0.0.1:5060;transport=tcp", "10.0.0.1:5060"),
            ("sip:[::1]:5060", "[::1]:5060"),
            ("sip:[::1]", "[::1]:5060"),
        ] {
            assert_eq!(gateway(text), Ok(addr.parse().unwrap()), "{text}");
        }
        for bad in [
            "sip:carrier.example.com",
            "10.0.0.1:5060",
            "sips:10.0.0.1",
            "sip:10.0.0.1:99999",
            "sip:[::1",
            "sip:1.2.3.4 x",
            "sip:",
        ] {
            assert!(gateway(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn recognisers() {
        assert_eq!(asr("text"), Ok(Asr::Text));
        assert_eq!(asr("dtmf"), Ok(Asr::Dtmf));
        assert_eq!(asr("ws://127.0.0.1:10095"), Ok(Asr::FunAsr("ws://127.0.0.1:10095".into())));
        for bad in ["wss://a:1", "http://a", "ws://", "ws://:10095", "ws://a:port", "ws://a b"] {
            assert!(asr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn task_ids() {
        assert!(task_id("LOAN_REMIND_20231101").is_ok());
        assert!(task_id("催收-2026.12").is_ok());
        for bad in ["", "a\"b", "a b", "x{y}", "a\nb"] {
            assert!(task_id(bad).is_err(), "{bad:?}");
        }
    }
}
