//! The terminal table of a report, and of two side by side. Names are shown with their title
//! when they have one (`busy 占线`); columns line up under Chinese text (two columns a
//! character).

use unicode_width::UnicodeWidthStr;

use super::compare::{Comparison, Kind};
use super::labels::both;
use super::model::{Bucket, LetFigures, Report, ratio};

pub(super) fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// `text` followed by spaces to `width` terminal columns: a Chinese character takes two, so
/// `format!("{:<20}")` (which counts chars) would misalign a table of Chinese labels.
pub(super) fn pad(text: &str, width: usize) -> String {
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
        let name = both(k, r.titles.disposition(k));
        out.push_str(&format!("    {} {v:>8}  {}\n", pad(&name, 28), percent(ratio(*v, r.attempts))));
    }
    out.push_str("\n  outcomes (share of attempts)\n");
    for (k, v) in &r.outcomes {
        let name = both(k, r.titles.outcome(k));
        out.push_str(&format!("    {} {v:>8}  {}\n", pad(&name, 28), percent(ratio(*v, r.attempts))));
    }
    out.push_str(&format!(
        "\n  {} {:>8} {:>8} {:>8}  {}\n",
        pad("funnel (connected calls)", 28),
        "reached",
        "hung up",
        "went on",
        "from"
    ));
    for f in &r.funnel {
        out.push_str(&format!(
            "    {} {:>8} {:>8} {:>8}  {}\n",
            pad(&f.step, 26),
            f.reached,
            f.hung_up,
            percent(f.from_previous),
            f.from.as_deref().unwrap_or("(call start)")
        ));
    }
    if r.transfers.attempted > 0 {
        let t = &r.transfers;
        out.push_str(&format!(
            "\n  transfers to an agent        {:>8} (transferred {}, {}; failed {})\n",
            t.attempted,
            t.transferred,
            percent(t.success_rate),
            t.failed
        ));
        for (cause, n) in &t.causes {
            out.push_str(&format!("      {} {n:>8}\n", pad(cause, 26)));
        }
    }
    if !r.tags.is_empty() {
        out.push_str("\n  tags (share of connected calls)\n");
        for (t, n) in &r.tags {
            out.push_str(&format!("    {} {n:>8}  {}\n", pad(t, 28), percent(ratio(*n, r.answered))));
        }
    }
    if !r.top_objections.is_empty() {
        out.push_str("\n  top objections\n");
        for (k, v) in &r.top_objections {
            out.push_str(&format!("    {} {v:>8}\n", pad(&both(k, r.titles.intent(k)), 28)));
        }
    }
    if !r.unrecognised.is_empty() {
        out.push_str("\n  unrecognised utterances\n");
        for (k, v) in &r.unrecognised {
            out.push_str(&format!("    {} {v:>8}\n", pad(k, 20)));
        }
    }
    if !r.lets.is_empty() {
        out.push_str(&format!("\n  {} {:>8}\n", pad("lets over goal calls", 30), "calls"));
        let figures = |out: &mut String, indent: usize, label: &str, f: &LetFigures, dates: bool| {
            let sum = f.sum.map(|s| format!("  sum {}", s.grouped())).unwrap_or_default();
            let label = pad(label, 28 - indent);
            out.push_str(&format!("    {}{label} {:>8}{sum}\n", " ".repeat(indent), f.goal_calls_with_value));
            for (date, n) in f.by_value.iter().flatten().filter(|_| dates) {
                out.push_str(&format!("    {}{} {n:>8}\n", " ".repeat(indent + 2), pad(date, 26 - indent)));
            }
        };
        for l in &r.lets {
            // With one goal outcome its lines would repeat the total's.
            let split = l.by_outcome.len() > 1;
            figures(&mut out, 0, &format!("{} ({})", l.name, l.ty), &l.all, !split);
            for (outcome, f) in l.by_outcome.iter().filter(|_| split) {
                figures(&mut out, 2, outcome, f, true);
            }
        }
    }
    if !r.actions.is_empty() {
        out.push_str("\n  actions                     calls       ok   failed   p50 ms   p95 ms\n");
        for a in &r.actions {
            out.push_str(&format!(
                "    {} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
                pad(&a.name, 22),
                a.calls,
                a.ok,
                a.failed,
                a.latency_p50_ms,
                a.latency_p95_ms
            ));
            for (cause, n) in &a.causes {
                out.push_str(&format!("      {} {n:>8}\n", pad(cause, 20)));
            }
        }
    }
    if !r.messages.is_empty() {
        out.push_str("\n  text messages\n");
        for (status, n) in &r.messages {
            out.push_str(&format!("    {} {n:>8}\n", pad(status, 20)));
        }
    }
    if !r.captured.is_empty() {
        out.push_str("\n  captured values (connected calls)\n");
        for c in &r.captured {
            let values = if c.sensitive {
                "sensitive: values not stored".to_string()
            } else if c.ty == "money" {
                "money: summed over the goal calls above".to_string()
            } else {
                c.top_values.iter().take(5).map(|(v, n)| format!("{v} ×{n}")).collect::<Vec<_>>().join(", ")
            };
            out.push_str(&format!("    {} {:>8}  {values}\n", pad(&format!("{} ({})", c.name, c.ty), 28), c.calls));
        }
    }
    let buckets = |out: &mut String, title: &str, rows: &mut dyn Iterator<Item = (String, &Bucket)>| {
        out.push_str(&format!("\n  {}  attempts answered connect    goals convert\n", pad(title, 26)));
        for (k, b) in rows {
            out.push_str(&format!(
                "    {} {:>8} {:>8} {:>7} {:>8} {:>7}\n",
                pad(&k, 24),
                b.attempts,
                b.answered,
                percent(b.connect_rate),
                b.goals,
                percent(b.conversion_rate)
            ));
        }
    };
    buckets(&mut out, "by local date", &mut r.by_day.iter().map(|(d, b)| (d.clone(), b)));
    let by = &r.breakdowns;
    for (title, map) in
        [("by segment", &by.segment), ("by zone", &by.zone), ("by list", &by.list), ("by script", &by.variant)]
    {
        buckets(&mut out, title, &mut map.iter().map(|(k, b)| (k.clone(), b)));
    }
    buckets(&mut out, "by attempt number", &mut r.by_attempt.iter().map(|(n, b)| (n.to_string(), b)));
    buckets(&mut out, "by local hour", &mut r.by_hour.iter().map(|(h, b)| (format!("{h:02}:00"), b)));
    out
}

/// Two reports side by side: each figure of A and B and the change from A to B (percentage
/// points for rates).
pub fn table_comparison(c: &Comparison) -> String {
    let mut out = format!("A {}\nB {}\n\n", c.a.campaign, c.b.campaign);
    out.push_str(&format!("  {} {:>10} {:>10} {:>10}\n", pad("", 40), "A", "B", "change"));
    for d in &c.differences {
        let (a, b, change) = match d.kind {
            Kind::Count => (format!("{}", d.a), format!("{}", d.b), format!("{:+}", d.change)),
            Kind::Rate => (percent(d.a), percent(d.b), format!("{:+.1} pp", d.change * 100.0)),
            Kind::Seconds => (format!("{:.1} s", d.a), format!("{:.1} s", d.b), format!("{:+.1} s", d.change)),
        };
        out.push_str(&format!("  {} {a:>10} {b:>10} {change:>10}\n", pad(&metric_name(c, &d.metric), 40)));
    }
    out
}

/// `dispositions.busy` as `busy 占线 (of attempts)`.
fn metric_name(c: &Comparison, metric: &str) -> String {
    let Some((kind, name)) = metric.split_once('.') else { return metric.replace('_', " ") };
    let title = |pick: &dyn Fn(&super::labels::Titles) -> String| {
        let t = pick(&c.a.titles);
        if t == name { pick(&c.b.titles) } else { t }
    };
    match kind {
        "dispositions" => format!("{} (of attempts)", both(name, &title(&|t| t.disposition(name).to_string()))),
        "outcomes" => format!("{} (of attempts)", both(name, &title(&|t| t.outcome(name).to_string()))),
        "funnel" => format!("step {name} (of connected)"),
        "tags" => format!("tag {name} (of connected)"),
        "transfers" => "transfer success rate".to_string(),
        _ => metric.replace('_', " "),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn report_with_unrecognised(utterances: &[(&str, u64)]) -> Report {
        Report {
            unrecognised: utterances.iter().map(|(u, n)| (u.to_string(), *n)).collect(),
            ..crate::report::build("t", &[], &[])
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
}
