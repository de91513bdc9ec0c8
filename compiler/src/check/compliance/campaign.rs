//! CS009: a campaign's call window, attempts and caps (CAMPAIGN.md §1) stay inside the
//! pack's limits for the script's purpose. It runs on the typed campaign that `run` uses
//! ([`crate::campaign`]), so what it checks is what will run; a finding points at the value.
//! In a TOML file a missing key is a finding too (the limits a reviewer signs off are written
//! down); the seed's JSON task cannot write them, so its defaults are what is checked.

use jiff::civil::Time;

use super::{CampaignLimits, Pack};
use crate::campaign::Campaign;
use crate::campaign::values::clock_text;
use crate::check::Allowed;
use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

/// Minutes after midnight of `HH:MM` (`24:00` is the end of the day), for the pack's window.
pub fn minutes(time: &str) -> Option<u32> {
    let (h, m) = time.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// A campaign time as minutes after midnight (`24:00` for the end of the day).
fn minutes_of(t: Time) -> u32 {
    if t == Time::MAX { 24 * 60 } else { t.hour() as u32 * 60 + t.minute() as u32 }
}

/// Runs CS009 on a campaign (already parsed from `text`, file `file`) for a script of
/// `purpose`, applying the campaign's own `[allow]` table.
pub fn check(
    file: SourceId,
    campaign: &Campaign,
    purpose: &str,
    pack: &Pack,
    diagnostics: &mut Vec<Diagnostic>,
    allowed: &mut Vec<Allowed>,
) {
    let Some(limits) = pack.campaign_limits(purpose) else { return };
    let mut found = Vec::new();
    findings(file, campaign, purpose, pack, limits, &mut found);

    let mut allow_used = false;
    for (code, reason) in &campaign.allow {
        let code_span = campaign.spans.key(&format!("allow.{code}"));
        let reason_span = campaign.spans.at(&format!("allow.{code}"));
        if code != "CS009" {
            diagnostics.push(
                Diagnostic::new("E501", file, code_span, format!("`{code}` cannot be allowed in a campaign file"))
                    .label("only CS009 here")
                    .with_help("a script's findings are allowed in the script, with `@allow(CODE, \"reason\")` before the statement"),
            );
            continue;
        }
        if reason.trim().is_empty() {
            diagnostics.push(
                Diagnostic::new("E500", file, reason_span, "`CS009` needs a reason")
                    .label("no reason given")
                    .with_help("say why, for the audit trail: `CS009 = \"agreed with the debtor in writing\"`"),
            );
            continue;
        }
        allow_used = true;
        if found.is_empty() {
            diagnostics.push(
                Diagnostic::new("W007", file, code_span, "this `[allow] CS009` suppresses nothing")
                    .label("the campaign is inside the pack's limits")
                    .with_help("remove it"),
            );
        }
        for d in &found {
            allowed.push(Allowed {
                code: "CS009".into(),
                file,
                span: reason_span,
                reason: reason.clone(),
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
    campaign: &Campaign,
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
    let d = |span: Span, message: String, label: String| {
        Diagnostic::new("CS009", file, span, message).label(label).with_help(format!(
            "the {j} pack's limits for {purpose} calls: window {window} (recipient's local time), at most {} attempts, {} calls a day and {} in 7 days per customer ({source})",
            limits.max_attempts, limits.per_customer_per_day, limits.per_customer_per_7_days
        ))
    };
    let spans = &campaign.spans;
    // Only a TOML file can write every limit; a JSON task's defaults are checked as values.
    let must_be_written = campaign.task.is_none();
    let written = |path: &str| spans.has(path) || !must_be_written;
    let schedule = &campaign.schedule;
    let start = clock_text(schedule.start_time);
    let end = clock_text(schedule.end_time);
    if !written("schedule.start_time") {
        out.push(d(
            spans.at("schedule.start_time"),
            "the campaign sets no `start_time`".into(),
            format!("calls must start no earlier than {from}"),
        ));
    } else if minutes_of(schedule.start_time) < from_m {
        out.push(d(
            spans.at("schedule.start_time"),
            format!("calls start at {start}, before the {j} pack's window for {purpose} calls ({window})"),
            format!("earlier than {from}"),
        ));
    }
    if !written("schedule.end_time") {
        out.push(d(
            spans.at("schedule.end_time"),
            "the campaign sets no `end_time`".into(),
            format!("calls must end no later than {to}"),
        ));
    } else if minutes_of(schedule.end_time) > to_m {
        out.push(d(
            spans.at("schedule.end_time"),
            format!("calls go on until {end}, past the {j} pack's window for {purpose} calls ({window})"),
            format!("later than {to}"),
        ));
    }
    let mut capped = |path: &str, value: u32, max: u32, what: &str| {
        let key = path.rsplit('.').next().unwrap_or(path);
        if !written(path) {
            out.push(d(
                spans.at(path),
                format!("the campaign sets no `{key}`"),
                format!("set `{key}` to at most {max}"),
            ));
        } else if value > max {
            out.push(d(
                spans.at(path),
                format!("`{key} = {value}` is more than the {j} pack allows for {purpose} calls ({max})"),
                format!("at most {max} {what}"),
            ));
        }
    };
    capped("retry.max_attempts", campaign.retry.max_attempts, limits.max_attempts, "attempts per customer");
    capped(
        "limits.per_customer_per_day",
        campaign.limits.per_customer_per_day,
        limits.per_customer_per_day,
        "calls a day",
    );
    capped(
        "limits.per_customer_per_7_days",
        campaign.limits.per_customer_per_7_days,
        limits.per_customer_per_7_days,
        "calls in 7 days",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{Shape, read};

    fn campaign(text: &str) -> Campaign {
        let read = read(SourceId(0), text, Shape::Toml);
        read.campaign.unwrap_or_else(|| panic!("{:?}", read.diagnostics))
    }

    fn codes(text: &str, purpose: &str, j: &str) -> Vec<(String, usize)> {
        let (mut diags, mut allowed) = (Vec::new(), Vec::new());
        check(SourceId(0), &campaign(text), purpose, super::super::pack(j).unwrap(), &mut diags, &mut allowed);
        diags.iter().map(|d| (d.code.to_string(), d.primary.at.span.start as usize)).collect()
    }

    const OK: &str = "task_id = \"t\"\nscript = \"a.call\"\n[schedule]\nstart_time = \"09:00\"\nend_time = \"18:00\"\n[retry]\nmax_attempts = 3\n[limits]\nper_customer_per_day = 1\nper_customer_per_7_days = 3\n";

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
        // The whole day, and 24:00, are past any pack's window.
        assert_eq!(codes(&OK.replace("09:00", "00:00").replace("18:00", "23:59"), "collection", "cn").len(), 2);
        assert_eq!(codes(&OK.replace("18:00", "24:00"), "collection", "cn").len(), 1);
        // US collection: 21:00 at the latest.
        assert_eq!(codes(&OK.replace("18:00", "21:30"), "collection", "us").len(), 1);
        assert_eq!(
            codes(&OK.replace("per_customer_per_7_days = 3", "per_customer_per_7_days = 8"), "collection", "us").len(),
            1
        );
        assert_eq!(codes(&OK.replace("max_attempts = 3", "max_attempts = 9"), "service", "cn").len(), 1);
        // Missing keys are findings in a TOML file.
        assert_eq!(codes("task_id = \"t\"\nscript = \"a.call\"\n", "service", "cn").len(), 5);
    }

    #[test]
    fn allow_in_the_campaign() {
        let text = format!("{}\n[allow]\nCS009 = \"agreed in writing\"\n", OK.replace("09:00", "07:00"));
        let (mut diags, mut allowed) = (Vec::new(), Vec::new());
        check(SourceId(0), &campaign(&text), "collection", super::super::pack("cn").unwrap(), &mut diags, &mut allowed);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(allowed.len(), 1);
        assert_eq!(allowed[0].reason, "agreed in writing");
        assert_eq!(&text[allowed[0].span.range()], "\"agreed in writing\"");
    }

    #[test]
    fn pack_windows_read() {
        assert_eq!(minutes("24:00"), Some(1440));
        assert_eq!(minutes("7:00"), None);
        assert_eq!(minutes_of(Time::MAX), 1440);
    }
}
