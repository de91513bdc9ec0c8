//! Campaign reports (CAMPAIGN.md §4) computed from the store: a terminal table, JSON, the
//! `--attempts` CSV and a self-contained HTML page with inline SVG charts.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::store::AttemptRow;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FunnelStep {
    pub step: String,
    /// Answered attempts that reached the step.
    pub reached: u64,
    /// Of those, how many ended with the customer hanging up there.
    pub hung_up: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Bucket {
    pub attempts: u64,
    pub answered: u64,
    pub goals: u64,
    pub outcomes: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub campaign: String,
    pub attempts: u64,
    pub customers: u64,
    pub dispositions: BTreeMap<String, u64>,
    pub outcomes: BTreeMap<String, u64>,
    pub answered: u64,
    pub goals: u64,
    pub connect_rate: f64,
    pub conversion_rate: f64,
    pub avg_talk_seconds: f64,
    pub funnel: Vec<FunnelStep>,
    pub top_objections: Vec<(String, u64)>,
    pub unrecognised: Vec<(String, u64)>,
    pub by_hour: BTreeMap<i64, Bucket>,
    pub by_attempt: BTreeMap<u32, Bucket>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { (a as f64 / b as f64 * 10_000.0).round() / 10_000.0 }
}

fn top(counts: BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Builds the report. `steps` is the script's steps in flow order (for the funnel).
pub fn build(campaign: &str, rows: &[AttemptRow], steps: &[String]) -> Report {
    let mut dispositions = BTreeMap::new();
    let mut outcomes = BTreeMap::new();
    let mut customers = std::collections::HashSet::new();
    let mut objections = BTreeMap::new();
    let mut unrecognised = BTreeMap::new();
    let mut reached: BTreeMap<String, u64> = BTreeMap::new();
    let mut hung: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_hour: BTreeMap<i64, Bucket> = BTreeMap::new();
    let mut by_attempt: BTreeMap<u32, Bucket> = BTreeMap::new();
    let (mut answered, mut goals, mut talk) = (0u64, 0u64, 0i64);
    for r in rows {
        customers.insert(r.customer_id.as_str());
        *dispositions.entry(r.disposition.clone()).or_insert(0) += 1;
        let connected = r.disposition == "answered" || r.disposition == "customer_hangup";
        for bucket in [by_hour.entry(r.local_hour).or_default(), by_attempt.entry(r.attempt).or_default()] {
            bucket.attempts += 1;
            bucket.answered += u64::from(connected);
            bucket.goals += u64::from(r.goal);
            if let Some(o) = &r.outcome {
                *bucket.outcomes.entry(o.clone()).or_insert(0) += 1;
            }
        }
        if let Some(o) = &r.outcome {
            *outcomes.entry(o.clone()).or_insert(0) += 1;
        }
        if connected {
            answered += 1;
            talk += r.talk_ms;
            let steps: Vec<String> = serde_json::from_str(&r.steps).unwrap_or_default();
            let mut seen = std::collections::HashSet::new();
            for s in steps {
                if seen.insert(s.clone()) {
                    *reached.entry(s).or_insert(0) += 1;
                }
            }
            if r.disposition == "customer_hangup"
                && let Some(s) = &r.last_step
            {
                *hung.entry(s.clone()).or_insert(0) += 1;
            }
        }
        goals += u64::from(r.goal);
        for o in serde_json::from_str::<Vec<String>>(&r.objections).unwrap_or_default() {
            *objections.entry(o).or_insert(0) += 1;
        }
        for u in serde_json::from_str::<Vec<String>>(&r.unrecognised).unwrap_or_default() {
            *unrecognised.entry(u).or_insert(0) += 1;
        }
    }
    let funnel = steps
        .iter()
        .map(|s| FunnelStep {
            step: s.clone(),
            reached: reached.get(s).copied().unwrap_or(0),
            hung_up: hung.get(s).copied().unwrap_or(0),
        })
        .collect();
    let attempts = rows.len() as u64;
    Report {
        campaign: campaign.to_string(),
        attempts,
        customers: customers.len() as u64,
        dispositions,
        outcomes,
        answered,
        goals,
        connect_rate: ratio(answered, attempts),
        conversion_rate: ratio(goals, answered),
        avg_talk_seconds: if answered == 0 { 0.0 } else { (talk as f64 / answered as f64 / 100.0).round() / 10.0 },
        funnel,
        top_objections: top(objections, 10),
        unrecognised: top(unrecognised, 10),
        by_hour,
        by_attempt,
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// `text` followed by spaces to `width` terminal columns: a Chinese character takes two, so
/// `format!("{:<20}")` (which counts chars) would misalign a table of Chinese labels.
fn pad(text: &str, width: usize) -> String {
    let used = UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

/// The terminal table.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("  {} {v}\n", pad(k, 22)));
    out.push_str(&format!("campaign {}\n", r.campaign));
    line(&mut out, "customers", r.customers.to_string());
    line(&mut out, "attempts", r.attempts.to_string());
    line(&mut out, "answered", format!("{} (connect rate {})", r.answered, percent(r.connect_rate)));
    line(&mut out, "goal outcomes", format!("{} (conversion rate {})", r.goals, percent(r.conversion_rate)));
    line(&mut out, "average talk time", format!("{:.1} s", r.avg_talk_seconds));
    out.push_str("\n  dispositions\n");
    for (k, v) in &r.dispositions {
        out.push_str(&format!("    {} {v:>8}  {}\n", pad(k, 20), percent(ratio(*v, r.attempts))));
    }
    out.push_str("\n  outcomes\n");
    for (k, v) in &r.outcomes {
        out.push_str(&format!("    {} {v:>8}\n", pad(k, 20)));
    }
    out.push_str("\n  funnel (answered calls reaching each step; hung up there)\n");
    for f in &r.funnel {
        out.push_str(&format!("    {} {:>8} {:>8}\n", pad(&f.step, 28), f.reached, f.hung_up));
    }
    if !r.top_objections.is_empty() {
        out.push_str("\n  top objections\n");
        for (k, v) in &r.top_objections {
            out.push_str(&format!("    {} {v:>8}\n", pad(k, 20)));
        }
    }
    if !r.unrecognised.is_empty() {
        out.push_str("\n  unrecognised utterances\n");
        for (k, v) in &r.unrecognised {
            out.push_str(&format!("    {} {v:>8}\n", pad(k, 20)));
        }
    }
    out.push_str("\n  by attempt number      attempts answered    goals\n");
    for (n, b) in &r.by_attempt {
        out.push_str(&format!("    {n:<20} {:>8} {:>8} {:>8}\n", b.attempts, b.answered, b.goals));
    }
    out.push_str("\n  by local hour          attempts answered    goals\n");
    for (h, b) in &r.by_hour {
        out.push_str(&format!("    {:<20} {:>8} {:>8} {:>8}\n", format!("{h:02}:00"), b.attempts, b.answered, b.goals));
    }
    out
}

pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("a report serialises")
}

/// Every attempt as CSV (CAMPAIGN.md §4), `started_at` in UTC and `local_time` in the
/// customer's zone, both ISO 8601.
pub fn attempts_csv(rows: &[AttemptRow]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "customer_id",
        "attempt",
        "started_at",
        "local_time",
        "disposition",
        "outcome",
        "talk_seconds",
        "last_step",
        "cause",
    ];
    // Writing to memory cannot fail; a record that could not be written would be a bug here.
    out.write_record(header).expect("CSV to memory");
    for r in rows {
        let started = Timestamp::from_millisecond(r.started_ms)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        out.write_record([
            r.customer_id.as_str(),
            &r.attempt.to_string(),
            &started,
            &r.local_time,
            &r.disposition,
            r.outcome.as_deref().unwrap_or(""),
            &format!("{:.1}", r.talk_ms as f64 / 1000.0),
            r.last_step.as_deref().unwrap_or(""),
            r.cause.as_deref().unwrap_or(""),
        ])
        .expect("CSV to memory");
    }
    String::from_utf8(out.into_inner().expect("CSV to memory")).expect("CSV of UTF-8 fields is UTF-8")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal bar chart as inline SVG.
fn bars(title: &str, items: &[(String, u64)]) -> String {
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let row = 24;
    let height = items.len() * row + 8;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg role=\"img\" aria-label=\"{}\" viewBox=\"0 0 640 {height}\" width=\"640\" height=\"{height}\">",
        escape(title),
        escape(title)
    );
    for (i, (label, value)) in items.iter().enumerate() {
        let y = i * row + 4;
        let w = (*value as f64 / max as f64 * 380.0).round() as u64;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" class=\"l\">{}</text><rect x=\"200\" y=\"{y}\" width=\"{w}\" height=\"18\" class=\"b\"/><text x=\"{}\" y=\"{}\" class=\"v\">{value}</text>",
            y + 14,
            escape(label),
            205 + w,
            y + 14
        ));
    }
    if items.is_empty() {
        svg.push_str("<text x=\"0\" y=\"14\" class=\"l\">(none)</text>");
    }
    svg.push_str("</svg></figure>\n");
    svg
}

/// A self-contained HTML page (no scripts, no external files) with the report's charts.
pub fn html(r: &Report) -> String {
    let mut body = String::new();
    body.push_str(&format!("<h1>Campaign {}</h1>\n<section class=\"kpis\">", escape(&r.campaign)));
    for (k, v) in [
        ("customers", r.customers.to_string()),
        ("attempts", r.attempts.to_string()),
        ("connect rate", percent(r.connect_rate)),
        ("conversion rate", percent(r.conversion_rate)),
        ("average talk", format!("{:.1} s", r.avg_talk_seconds)),
    ] {
        body.push_str(&format!("<div class=\"kpi\"><span>{k}</span><strong>{v}</strong></div>"));
    }
    body.push_str("</section>\n");
    let dispositions: Vec<(String, u64)> = r.dispositions.iter().map(|(k, v)| (k.clone(), *v)).collect();
    body.push_str(&bars("Dispositions", &dispositions));
    let funnel: Vec<(String, u64)> = r.funnel.iter().map(|f| (f.step.clone(), f.reached)).collect();
    body.push_str(&bars("Funnel: answered calls reaching each step", &funnel));
    let hung: Vec<(String, u64)> =
        r.funnel.iter().filter(|f| f.hung_up > 0).map(|f| (f.step.clone(), f.hung_up)).collect();
    body.push_str(&bars("Where customers hung up", &hung));
    let by_attempt: Vec<(String, u64)> =
        r.by_attempt.iter().map(|(n, b)| (format!("attempt {n}: goals"), b.goals)).collect();
    body.push_str(&bars("Goal outcomes by attempt number", &by_attempt));
    let by_hour: Vec<(String, u64)> =
        r.by_hour.iter().map(|(h, b)| (format!("{h:02}:00 answered"), b.answered)).collect();
    body.push_str(&bars("Answered calls by local hour", &by_hour));
    let outcomes: Vec<(String, u64)> = r.outcomes.iter().map(|(k, v)| (k.clone(), *v)).collect();
    body.push_str(&bars("Outcomes", &outcomes));
    body.push_str(&bars("Top objections", &r.top_objections));
    body.push_str(&bars("Unrecognised utterances (grow the intents with these)", &r.unrecognised));
    format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>Campaign {}</title><style>\nbody{{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2rem;color:#1f2933}}\n.kpis{{display:flex;gap:1rem;flex-wrap:wrap}}.kpi{{border:1px solid #cbd2d9;border-radius:6px;padding:.6rem 1rem}}\n.kpi span{{display:block;font-size:.8rem;color:#52606d}}.kpi strong{{font-size:1.4rem}}\nfigure{{margin:1.5rem 0}}figcaption{{font-weight:600;margin-bottom:.4rem}}\n.b{{fill:#2f80ed}}.l,.v{{font-size:12px;fill:#1f2933}}\n</style></head><body>\n{body}</body></html>\n",
        escape(&r.campaign)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_with_unrecognised(utterances: &[(&str, u64)]) -> Report {
        Report {
            campaign: "t".into(),
            attempts: 0,
            customers: 0,
            dispositions: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            answered: 0,
            goals: 0,
            connect_rate: 0.0,
            conversion_rate: 0.0,
            avg_talk_seconds: 0.0,
            funnel: Vec::new(),
            top_objections: Vec::new(),
            unrecognised: utterances.iter().map(|(u, n)| (u.to_string(), *n)).collect(),
            by_hour: BTreeMap::new(),
            by_attempt: BTreeMap::new(),
        }
    }

    #[test]
    fn counts_line_up_under_chinese_and_latin_labels() {
        let report = report_with_unrecognised(&[("你们是哪里", 3), ("what", 2), ("嗯嗯好的吧", 1)]);
        let table = table(&report);
        let rows: Vec<&str> = table
            .lines()
            .skip_while(|l| !l.contains("unrecognised utterances"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(rows.len(), 3, "{table}");
        let widths: Vec<usize> = rows.iter().map(|l| UnicodeWidthStr::width(*l)).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "columns misaligned: {widths:?}\n{table}");
    }

    #[test]
    fn attempts_csv_quotes_what_needs_quoting() {
        let row = AttemptRow {
            customer_id: "c,1".into(),
            attempt: 1,
            started_ms: 0,
            local_time: "1970-01-01T08:00:00+08:00".into(),
            disposition: "answered".into(),
            outcome: Some("说 \"好\"".into()),
            talk_ms: 1500,
            last_step: Some("line\nbreak".into()),
            cause: None,
            ..AttemptRow::default()
        };
        let csv = attempts_csv(&[row]);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[0], "c,1");
        assert_eq!(&record[5], "说 \"好\"");
        assert_eq!(&record[6], "1.5");
        assert_eq!(&record[7], "line\nbreak");
        assert_eq!(&record[8], "");
    }
}
