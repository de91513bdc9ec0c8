//! CS009: a campaign file's call window, attempts and caps (CAMPAIGN.md §1) stay inside the
//! pack's limits for the script's purpose. The campaign arrives as text; only the keys this
//! rule reads are parsed here (the runtime reads the rest), each with its span so that a
//! finding points at the value. A key that is missing sets no limit, which is a finding too.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{CampaignLimits, Pack};
use crate::check::Allowed;
use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

/// The keys of a campaign file that `check` reads.
#[derive(Debug, Default, Deserialize)]
pub struct CampaignFile {
    /// `file.call`, `file.call#SCRIPT` or a compiled `.callc`.
    pub script: Option<Spanned<String>>,
    pub jurisdiction: Option<Spanned<String>>,
    #[serde(default)]
    pub schedule: Option<Spanned<Schedule>>,
    #[serde(default)]
    pub retry: Option<Spanned<Retry>>,
    #[serde(default)]
    pub limits: Option<Spanned<CampaignCaps>>,
    /// `[allow] CS009 = "reason"`.
    #[serde(default)]
    pub allow: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Schedule {
    pub start_time: Option<Spanned<String>>,
    pub end_time: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Retry {
    pub max_attempts: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CampaignCaps {
    pub per_customer_per_day: Option<Spanned<u32>>,
    pub per_customer_per_7_days: Option<Spanned<u32>>,
}

/// Why a campaign file could not be read, with the byte range it points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignError {
    pub span: Option<Span>,
    pub message: String,
}

fn span_of<T>(s: &Spanned<T>) -> Span {
    let r = s.span();
    Span::new(r.start, r.end)
}

/// Minutes after midnight of `HH:MM` (`24:00` is the end of the day).
pub fn minutes(time: &str) -> Option<u32> {
    let (h, m) = time.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

impl CampaignFile {
    /// Parses the keys `check` needs; a syntax error or a value of the wrong kind is an error.
    pub fn parse(text: &str) -> Result<CampaignFile, CampaignError> {
        let file: CampaignFile = toml::from_str(text).map_err(|e| CampaignError {
            span: e.span().map(|r| Span::new(r.start, r.end)),
            message: e.message().trim().to_string(),
        })?;
        if let Some(schedule) = &file.schedule {
            for t in [&schedule.get_ref().start_time, &schedule.get_ref().end_time].into_iter().flatten() {
                if minutes(t.get_ref()).is_none() {
                    return Err(CampaignError {
                        span: Some(span_of(t)),
                        message: format!("`{}` is not a time of day; write it as HH:MM, e.g. \"09:00\"", t.get_ref()),
                    });
                }
            }
        }
        Ok(file)
    }

    /// The script path and the name after `#`, if any.
    pub fn script(&self) -> Option<(&str, Option<&str>)> {
        let s = self.script.as_ref()?.get_ref().as_str();
        Some(match s.split_once('#') {
            Some((path, name)) => (path, Some(name)),
            None => (s, None),
        })
    }
}

/// Runs CS009 on a campaign (already parsed from `text`, file `file`) for a script of
/// `purpose`, applying the campaign's own `[allow]` table.
pub fn check(
    file: SourceId,
    campaign: &CampaignFile,
    purpose: &str,
    pack: &Pack,
    diagnostics: &mut Vec<Diagnostic>,
    allowed: &mut Vec<Allowed>,
) {
    let Some(limits) = pack.campaign_limits(purpose) else { return };
    let mut found = Vec::new();
    findings(file, campaign, purpose, pack, limits, &mut found);

    let mut allow_used = false;
    for (code, reason) in campaign.allow.iter().flatten() {
        if code.get_ref() != "CS009" {
            diagnostics.push(
                Diagnostic::new("E501", file, span_of(code), format!("`{}` cannot be allowed in a campaign file", code.get_ref()))
                    .label("only CS009 here")
                    .with_help("a script's findings are allowed in the script, with `@allow(CODE, \"reason\")` before the statement"),
            );
            continue;
        }
        if reason.get_ref().trim().is_empty() {
            diagnostics.push(
                Diagnostic::new("E500", file, span_of(reason), "`CS009` needs a reason")
                    .label("no reason given")
                    .with_help("say why, for the audit trail: `CS009 = \"agreed with the debtor in writing\"`"),
            );
            continue;
        }
        allow_used = true;
        if found.is_empty() {
            diagnostics.push(
                Diagnostic::new("W007", file, span_of(code), "this `[allow] CS009` suppresses nothing")
                    .label("the campaign is inside the pack's limits")
                    .with_help("remove it"),
            );
        }
        for d in &found {
            allowed.push(Allowed {
                code: "CS009".into(),
                file,
                span: span_of(reason),
                reason: reason.get_ref().clone(),
                finding: d.clone(),
            });
        }
    }
    if !allow_used {
        diagnostics.extend(found);
    }
}

fn findings(
    file: SourceId,
    campaign: &CampaignFile,
    purpose: &str,
    pack: &Pack,
    limits: &CampaignLimits,
    out: &mut Vec<Diagnostic>,
) {
    let j = &pack.jurisdiction;
    let rules: Vec<&str> = limits
        .source
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',' || c == '/')
        .filter(|t| t.starts_with("CN-") || t.starts_with("US-"))
        .collect();
    let source = if rules.is_empty() { "a policy of the pack".to_string() } else { rules.join(", ") };
    let [from, to] = &limits.window;
    let (from_m, to_m) = (minutes(from).unwrap_or(0), minutes(to).unwrap_or(24 * 60));
    let window = format!("{from}–{to}");
    let whole = Span::new(0, 0);
    let table = |t: Option<Span>| t.unwrap_or(whole);
    let d = |span: Span, message: String, label: String| {
        Diagnostic::new("CS009", file, span, message).label(label).with_help(format!(
            "the {j} pack's limits for {purpose} calls: window {window} (recipient's local time), at most {} attempts, {} calls a day and {} in 7 days per customer ({source})",
            limits.max_attempts, limits.per_customer_per_day, limits.per_customer_per_7_days
        ))
    };

    let schedule = campaign.schedule.as_ref();
    let schedule_span = table(schedule.map(span_of));
    let start = schedule.and_then(|s| s.get_ref().start_time.as_ref());
    let end = schedule.and_then(|s| s.get_ref().end_time.as_ref());
    match start {
        Some(t) if minutes(t.get_ref()).unwrap_or(0) < from_m => out.push(d(
            span_of(t),
            format!("calls start at {}, before the {j} pack's window for {purpose} calls ({window})", t.get_ref()),
            format!("earlier than {from}"),
        )),
        Some(_) => {}
        None => out.push(d(
            schedule_span,
            "the campaign sets no `start_time`".into(),
            format!("calls must start no earlier than {from}"),
        )),
    }
    match end {
        Some(t) if minutes(t.get_ref()).unwrap_or(0) > to_m => out.push(d(
            span_of(t),
            format!("calls go on until {}, past the {j} pack's window for {purpose} calls ({window})", t.get_ref()),
            format!("later than {to}"),
        )),
        Some(_) => {}
        None => out.push(d(
            schedule_span,
            "the campaign sets no `end_time`".into(),
            format!("calls must end no later than {to}"),
        )),
    }
    let capped =
        |value: Option<&Spanned<u32>>, table_span: Span, key: &str, max: u32, what: &str, out: &mut Vec<Diagnostic>| {
            match value {
                Some(v) if *v.get_ref() > max => out.push(d(
                    span_of(v),
                    format!("`{key} = {}` is more than the {j} pack allows for {purpose} calls ({max})", v.get_ref()),
                    format!("at most {max} {what}"),
                )),
                Some(_) => {}
                None => out.push(d(
                    table_span,
                    format!("the campaign sets no `{key}`"),
                    format!("set `{key}` to at most {max}"),
                )),
            }
        };
    let retry = campaign.retry.as_ref();
    capped(
        retry.and_then(|r| r.get_ref().max_attempts.as_ref()),
        table(retry.map(span_of)),
        "max_attempts",
        limits.max_attempts,
        "attempts per customer",
        out,
    );
    let caps = campaign.limits.as_ref();
    let caps_span = table(caps.map(span_of));
    capped(
        caps.and_then(|c| c.get_ref().per_customer_per_day.as_ref()),
        caps_span,
        "per_customer_per_day",
        limits.per_customer_per_day,
        "calls a day",
        out,
    );
    capped(
        caps.and_then(|c| c.get_ref().per_customer_per_7_days.as_ref()),
        caps_span,
        "per_customer_per_7_days",
        limits.per_customer_per_7_days,
        "calls in 7 days",
        out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str, purpose: &str, j: &str) -> Vec<(String, usize)> {
        let campaign = CampaignFile::parse(text).expect("parses");
        let (mut diags, mut allowed) = (Vec::new(), Vec::new());
        check(SourceId(0), &campaign, purpose, super::super::pack(j).unwrap(), &mut diags, &mut allowed);
        diags.iter().map(|d| (d.code.to_string(), d.primary.at.span.start as usize)).collect()
    }

    const OK: &str = "script = \"a.call\"\n[schedule]\nstart_time = \"09:00\"\nend_time = \"18:00\"\n[retry]\nmax_attempts = 3\n[limits]\nper_customer_per_day = 1\nper_customer_per_7_days = 3\n";

    #[test]
    fn inside_the_limits_is_clean() {
        assert!(codes(OK, "collection", "cn").is_empty());
        assert!(codes(OK, "marketing", "us").is_empty());
    }

    #[test]
    fn outside_the_window_and_over_the_caps() {
        let late = OK.replace("18:00", "22:30");
        let found = codes(&late, "collection", "cn");
        assert_eq!(found.len(), 1);
        assert_eq!(&late[found[0].1..found[0].1 + 7], "\"22:30\"");
        // US collection: 21:00 at the latest.
        assert_eq!(codes(&OK.replace("18:00", "21:30"), "collection", "us").len(), 1);
        assert_eq!(
            codes(&OK.replace("per_customer_per_7_days = 3", "per_customer_per_7_days = 8"), "collection", "us").len(),
            1
        );
        assert_eq!(codes(&OK.replace("max_attempts = 3", "max_attempts = 9"), "service", "cn").len(), 1);
        // Missing keys set no limit.
        assert_eq!(codes("script = \"a.call\"\n", "service", "cn").len(), 5);
    }

    #[test]
    fn allow_in_the_campaign() {
        let text = format!("{}\n[allow]\nCS009 = \"agreed in writing\"\n", OK.replace("09:00", "07:00"));
        let campaign = CampaignFile::parse(&text).unwrap();
        let (mut diags, mut allowed) = (Vec::new(), Vec::new());
        check(SourceId(0), &campaign, "collection", super::super::pack("cn").unwrap(), &mut diags, &mut allowed);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(allowed.len(), 1);
        assert_eq!(allowed[0].reason, "agreed in writing");
    }

    #[test]
    fn errors_point_into_the_file() {
        let e = CampaignFile::parse("[schedule]\nstart_time = \"9am\"\n").unwrap_err();
        assert_eq!(e.span, Some(Span::new(24, 29)));
        let e = CampaignFile::parse("[retry]\nmax_attempts = -1\n").unwrap_err();
        assert!(e.span.is_some(), "{e:?}");
        assert_eq!(minutes("24:00"), Some(1440));
        assert_eq!(minutes("7:00"), None);
    }
}
