//! Campaign reports (CAMPAIGN.md §4) computed from the store: a terminal table, JSON, the
//! `--attempts` CSV and a self-contained HTML page with inline SVG charts. The script's lets
//! (LANGUAGE.md §11 "Results") are a column each in the CSV, and the report sums money lets
//! and counts date lets by value over the goal calls.

use std::collections::BTreeMap;

use callscript_compiler::value::{Date, Money};
use jiff::Timestamp;
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::store::{AttemptRow, StoredLet};
use crate::telephony::MASKED;

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

/// An exact sum of money in cents, wide enough that no campaign overflows it. It serialises as
/// the literal form (`"486250.00"`), like every money value the runtime writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum(i128);

impl Sum {
    fn add(&mut self, m: Money) {
        self.0 += i128::from(m.cents());
    }

    /// `486250.00`, as money literals are written.
    pub fn literal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}", self.0.unsigned_abs() / 100, self.0.unsigned_abs() % 100)
    }

    /// `486,250.00`, for people: the whole units grouped by thousands.
    pub fn grouped(self) -> String {
        let literal = self.literal();
        let (sign, rest) = literal.split_at(usize::from(self.0 < 0));
        let (units, cents) = rest.split_once('.').unwrap_or((rest, "00"));
        let mut grouped = String::new();
        for (i, digit) in units.chars().enumerate() {
            if i > 0 && (units.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        format!("{sign}{grouped}.{cents}")
    }
}

impl Serialize for Sum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.literal())
    }
}

/// What a `money` or `date` let held over a set of goal calls.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LetFigures {
    /// Goal calls whose attempt holds a value of the let.
    pub goal_calls_with_value: u64,
    /// `money`: the sum of those values, exact to the cent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<Sum>,
    /// `date`: how many of those calls hold each date (`2026-11-25`), in date order (the
    /// literal form, four-digit years, sorts as the calendar does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_value: Option<BTreeMap<String, u64>>,
}

impl LetFigures {
    fn new(ty: &str) -> LetFigures {
        LetFigures {
            goal_calls_with_value: 0,
            sum: (ty == "money").then(Sum::default),
            by_value: (ty == "date").then(BTreeMap::new),
        }
    }

    /// Counts a value of the let's type; false when it does not read as one.
    fn add(&mut self, value: &str) -> bool {
        match (&mut self.sum, &mut self.by_value) {
            (Some(sum), _) => match Money::parse(value) {
                Some(m) => sum.add(m),
                None => return false,
            },
            (_, Some(by_value)) => match Date::parse(value) {
                Some(d) => *by_value.entry(d.to_string()).or_insert(0) += 1,
                None => return false,
            },
            _ => return false,
        }
        self.goal_calls_with_value += 1;
        true
    }
}

/// A `money` or `date` let of the script over the calls that reached a goal outcome, in all and
/// per goal outcome (a script with two goals, say `promised` and `hardship`, holds a promise's
/// amount only on the first). Sensitive lets are never here: their values are not stored.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LetSummary {
    pub name: String,
    /// `money` or `date`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Over every goal call.
    #[serde(flatten)]
    pub all: LetFigures,
    /// The same per goal outcome, by name (only outcomes with a value of the let).
    pub by_outcome: BTreeMap<String, LetFigures>,
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
    /// The script's `money` and `date` lets in declaration order, over the goal calls.
    pub lets: Vec<LetSummary>,
    /// Each action the calls made (§13), by name.
    pub actions: Vec<ActionFigures>,
    /// Text messages by what became of them (`sent`, `failed`, `simulated`, `queued`).
    pub messages: BTreeMap<String, u64>,
}

/// How an action answered over the campaign (CAMPAIGN.md §5).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ActionFigures {
    pub name: String,
    pub calls: u64,
    pub ok: u64,
    pub failed: u64,
    /// Latency of every call (ok or not), nearest rank: the median and the 95th percentile.
    pub latency_p50_ms: i64,
    pub latency_p95_ms: i64,
    /// The commonest causes of failure.
    pub causes: Vec<(String, u64)>,
}

/// The `p`-th percentile of sorted values, nearest rank (0 for none).
fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// One action's calls as they are gathered: latencies, how many were ok, causes of failure.
#[derive(Default)]
struct ActionCalls {
    latencies: Vec<i64>,
    ok: u64,
    causes: BTreeMap<String, u64>,
}

fn action_figures(rows: &[AttemptRow]) -> Vec<ActionFigures> {
    let mut by_name: BTreeMap<&str, ActionCalls> = BTreeMap::new();
    for a in rows.iter().flat_map(|r| &r.actions) {
        let calls = by_name.entry(a.name.as_str()).or_default();
        calls.latencies.push(a.latency_ms);
        calls.ok += u64::from(a.ok);
        if let Some(cause) = &a.cause {
            *calls.causes.entry(cause.clone()).or_insert(0) += 1;
        }
    }
    by_name
        .into_iter()
        .map(|(name, ActionCalls { mut latencies, ok, causes })| {
            latencies.sort_unstable();
            let calls = latencies.len() as u64;
            ActionFigures {
                name: name.to_string(),
                calls,
                ok,
                failed: calls - ok,
                latency_p50_ms: percentile(&latencies, 50),
                latency_p95_ms: percentile(&latencies, 95),
                causes: top(causes, 5),
            }
        })
        .collect()
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
    let lets = let_summaries(rows);
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
        lets,
        actions: action_figures(rows),
        messages: rows.iter().flat_map(|r| &r.messages).fold(BTreeMap::new(), |mut m, x| {
            *m.entry(x.status.clone()).or_insert(0) += 1;
            m
        }),
    }
}

/// Adds `list`'s items missing from `union`, each next to its neighbour in `list`: the union
/// of several scripts' lets keeps every script's declaration order.
fn merge_in_order<K: PartialEq + Clone>(union: &mut Vec<K>, list: &[K]) {
    for (i, k) in list.iter().enumerate() {
        if union.contains(k) {
            continue;
        }
        // The item before it is in the union by now; the first goes before the next known one.
        let at = match i.checked_sub(1) {
            Some(before) => union.iter().position(|u| *u == list[before]).map_or(union.len(), |p| p + 1),
            None => list[1..].iter().find_map(|n| union.iter().position(|u| u == n)).unwrap_or(union.len()),
        };
        union.insert(at, k.clone());
    }
}

/// Whether two attempts hold the same lets (names, types, which are masked), values aside.
fn same_lets(a: &[StoredLet], b: &[StoredLet]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| x.name == y.name && x.ty == y.ty && x.value.is_some() == y.value.is_some())
}

/// The lets of the stored attempts, by name, in declaration order (the union over the
/// scripts the attempts ran, when the script changed between runs).
pub fn let_names(rows: &[AttemptRow]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut last: &[StoredLet] = &[];
    for r in rows {
        // Most attempts ran the same script as the one before: nothing new to merge.
        if r.lets.is_empty() || same_lets(&r.lets, last) {
            continue;
        }
        last = &r.lets;
        let list: Vec<String> = r.lets.iter().map(|l| l.name.clone()).collect();
        merge_in_order(&mut names, &list);
    }
    names
}

/// Sums each `money` let and counts each `date` let by value over the goal calls. A let is
/// summarised when some attempt holds a value of it (a sensitive let never does); values that
/// do not read as their type (a store edited by hand) are not counted.
fn let_summaries(rows: &[AttemptRow]) -> Vec<LetSummary> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut last: &[StoredLet] = &[];
    for r in rows {
        if r.lets.is_empty() || same_lets(&r.lets, last) {
            continue;
        }
        last = &r.lets;
        let list: Vec<(String, String)> = r
            .lets
            .iter()
            .filter(|l| l.value.is_some() && matches!(l.ty.as_str(), "money" | "date"))
            .map(|l| (l.name.clone(), l.ty.clone()))
            .collect();
        merge_in_order(&mut keys, &list);
    }
    let mut summaries: Vec<LetSummary> = keys
        .into_iter()
        .map(|(name, ty)| LetSummary { all: LetFigures::new(&ty), by_outcome: BTreeMap::new(), name, ty })
        .collect();
    for r in rows.iter().filter(|r| r.goal) {
        for l in &r.lets {
            let Some(value) = &l.value else { continue };
            let Some(s) = summaries.iter_mut().find(|s| s.name == l.name && s.ty == l.ty) else { continue };
            if s.all.add(value) {
                let outcome = r.outcome.clone().unwrap_or_default();
                s.by_outcome.entry(outcome).or_insert_with(|| LetFigures::new(&l.ty)).add(value);
            }
        }
    }
    summaries
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
/// customer's zone, both ISO 8601; then a `let.NAME` column per let of the script, in
/// declaration order: the value's literal form, `****` for a sensitive let, empty where the
/// attempt holds none (not answered, or another script). When any call used an action or
/// sent a text message, an `actions` column (`NAME ok|failed LATENCYms`, `; `-separated) and
/// an `sms` column (each message's status) follow.
pub fn attempts_csv(rows: &[AttemptRow]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let lets = let_names(rows);
    let mut header = vec![
        "customer_id".to_string(),
        "attempt".into(),
        "started_at".into(),
        "local_time".into(),
        "disposition".into(),
        "outcome".into(),
        "talk_seconds".into(),
        "last_step".into(),
        "cause".into(),
    ];
    header.extend(lets.iter().map(|name| format!("let.{name}")));
    // Only campaigns whose calls act or send messages have these columns.
    let acted = rows.iter().any(|r| !r.actions.is_empty());
    let messaged = rows.iter().any(|r| !r.messages.is_empty());
    if acted {
        header.push("actions".into());
    }
    if messaged {
        header.push("sms".into());
    }
    // Writing to memory cannot fail; a record that could not be written would be a bug here.
    out.write_record(&header).expect("CSV to memory");
    for r in rows {
        let started = Timestamp::from_millisecond(r.started_ms)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        let mut record = vec![
            r.customer_id.clone(),
            r.attempt.to_string(),
            started,
            r.local_time.clone(),
            r.disposition.clone(),
            r.outcome.clone().unwrap_or_default(),
            format!("{:.1}", r.talk_ms as f64 / 1000.0),
            r.last_step.clone().unwrap_or_default(),
            r.cause.clone().unwrap_or_default(),
        ];
        record.extend(lets.iter().map(|name| match r.lets.iter().find(|l| l.name == *name) {
            Some(l) => l.value.clone().unwrap_or_else(|| MASKED.to_string()),
            None => String::new(),
        }));
        if acted {
            // `balance_lookup ok 212ms; balance_lookup failed 2000ms`
            let calls: Vec<String> = r
                .actions
                .iter()
                .map(|a| format!("{} {} {}ms", a.name, if a.ok { "ok" } else { "failed" }, a.latency_ms))
                .collect();
            record.push(calls.join("; "));
        }
        if messaged {
            record.push(r.messages.iter().map(|m| m.status.as_str()).collect::<Vec<_>>().join("; "));
        }
        out.write_record(&record).expect("CSV to memory");
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

/// The lets of the goal calls: a figure with each money let's sum and a chart of each date
/// let by date, per goal outcome when there are several.
fn html_lets(lets: &[LetSummary]) -> String {
    let split = |l: &LetSummary| -> Vec<(String, LetFigures)> {
        if l.by_outcome.len() > 1 {
            l.by_outcome.iter().map(|(o, f)| (format!("{o} calls"), f.clone())).collect()
        } else {
            vec![("goal calls".to_string(), l.all.clone())]
        }
    };
    let mut out = String::new();
    let mut sums = String::new();
    for l in lets.iter().filter(|l| l.all.sum.is_some()) {
        if l.by_outcome.len() > 1 {
            sums.push_str(&kpi(&format!("{} · sum over {} goal calls", l.name, l.all.goal_calls_with_value), &l.all));
        }
        for (over, f) in split(l) {
            sums.push_str(&kpi(&format!("{} · sum over {} {over}", l.name, f.goal_calls_with_value), &f));
        }
    }
    if !sums.is_empty() {
        out.push_str(&format!("<section class=\"kpis lets\">{sums}</section>\n"));
    }
    for l in lets.iter().filter(|l| l.all.by_value.is_some()) {
        for (over, f) in split(l) {
            let items: Vec<(String, u64)> = f.by_value.iter().flatten().map(|(d, n)| (d.clone(), *n)).collect();
            out.push_str(&bars(&format!("{} of {over}, by date", l.name), &items));
        }
    }
    out
}

fn kpi(label: &str, f: &LetFigures) -> String {
    format!(
        "<div class=\"kpi\"><span>{}</span><strong>{}</strong></div>",
        escape(label),
        f.sum.map(Sum::grouped).unwrap_or_default()
    )
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
    body.push_str(&html_lets(&r.lets));
    let actions: Vec<(String, u64)> = r
        .actions
        .iter()
        .flat_map(|a| [(format!("{} ok", a.name), a.ok), (format!("{} failed", a.name), a.failed)])
        .collect();
    if !actions.is_empty() {
        body.push_str(&bars("Actions: calls to the bank's systems", &actions));
    }
    let messages: Vec<(String, u64)> = r.messages.iter().map(|(k, v)| (format!("sms {k}"), *v)).collect();
    if !messages.is_empty() {
        body.push_str(&bars("Text messages", &messages));
    }
    body.push_str(&bars("Top objections", &r.top_objections));
    body.push_str(&bars("Unrecognised utterances (grow the intents with these)", &r.unrecognised));
    format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>Campaign {}</title><style>\nbody{{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2rem;color:#1f2933}}\n.kpis{{display:flex;gap:1rem;flex-wrap:wrap}}.kpi{{border:1px solid #cbd2d9;border-radius:6px;padding:.6rem 1rem}}\n.kpi span{{display:block;font-size:.8rem;color:#52606d}}.kpi strong{{font-size:1.4rem}}.lets{{margin-top:1.5rem}}\nfigure{{margin:1.5rem 0}}figcaption{{font-weight:600;margin-bottom:.4rem}}\n.b{{fill:#2f80ed}}.l,.v{{font-size:12px;fill:#1f2933}}\n</style></head><body>\n{body}</body></html>\n",
        escape(&r.campaign)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredAction;

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
            lets: Vec::new(),
            actions: Vec::new(),
            messages: BTreeMap::new(),
        }
    }

    /// Latencies are read by nearest rank over every call; causes are counted, commonest first.
    #[test]
    fn action_figures_take_percentiles_and_count_causes() {
        let call = |ms: i64, cause: Option<&str>| StoredAction {
            name: "lookup".into(),
            ok: cause.is_none(),
            latency_ms: ms,
            cause: cause.map(str::to_string),
        };
        let mut actions: Vec<StoredAction> = (1..=18).map(|i| call(i * 10, None)).collect();
        actions.push(call(2000, Some("no answer within 2000 ms")));
        actions.push(call(40, Some("HTTP status 503")));
        actions.push(call(2000, Some("no answer within 2000 ms")));
        let rows = vec![AttemptRow { actions, ..AttemptRow::default() }];
        let figures = action_figures(&rows);
        assert_eq!(
            figures,
            [ActionFigures {
                name: "lookup".into(),
                calls: 21,
                ok: 18,
                failed: 3,
                latency_p50_ms: 100,
                latency_p95_ms: 2000,
                causes: vec![("no answer within 2000 ms".into(), 2), ("HTTP status 503".into(), 1)],
            }]
        );
        assert_eq!(percentile(&[], 95), 0);
        assert_eq!(percentile(&[7], 50), 7);
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

    /// An attempt; `goal` is its goal outcome, if it reached one.
    fn with_lets(customer: &str, goal: Option<&str>, lets: &[(&str, &str, Option<&str>)]) -> AttemptRow {
        AttemptRow {
            customer_id: customer.into(),
            disposition: if lets.is_empty() { "busy" } else { "answered" }.into(),
            goal: goal.is_some(),
            outcome: goal.map(String::from),
            lets: lets
                .iter()
                .map(|(name, ty, value)| StoredLet {
                    name: name.to_string(),
                    ty: ty.to_string(),
                    value: value.map(String::from),
                })
                .collect(),
            ..AttemptRow::default()
        }
    }

    /// Attempts of two versions of a script (the campaign resumed with `--accept-new-script`):
    /// one column per let, each script's declaration order kept, empty where an attempt has
    /// no such let, `****` for a sensitive one.
    #[test]
    fn let_columns_are_the_union_of_the_scripts_in_declaration_order() {
        let rows = [
            with_lets(
                "a",
                Some("promised"),
                &[("pay_amount", "money", Some("100.00")), ("pay_date", "date", Some("2026-11-25"))],
            ),
            with_lets("b", None, &[]),
            with_lets(
                "c",
                Some("promised"),
                &[("pay_amount", "money", Some("0.50")), ("id_tail", "text", None), ("note", "text", Some("a,b"))],
            ),
            with_lets("d", None, &[("channel", "text", Some("app")), ("pay_amount", "money", Some("7.00"))]),
        ];
        assert_eq!(let_names(&rows), ["channel", "pay_amount", "id_tail", "note", "pay_date"]);
        let csv = attempts_csv(&rows);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().skip(9).map(String::from).collect();
        assert_eq!(header, ["let.channel", "let.pay_amount", "let.id_tail", "let.note", "let.pay_date"]);
        let lets: Vec<Vec<String>> =
            reader.records().map(|r| r.unwrap().iter().skip(9).map(String::from).collect()).collect();
        assert_eq!(
            lets,
            [
                ["", "100.00", "", "", "2026-11-25"],
                ["", "", "", "", ""],
                ["", "0.50", MASKED, "a,b", ""],
                ["app", "7.00", "", "", ""],
            ]
        );
    }

    /// Money lets are summed to the cent and date lets counted by date over the goal calls
    /// only; masked, unreadable and other lets are not aggregated.
    #[test]
    fn money_lets_are_summed_and_date_lets_counted_over_goal_calls() {
        let rows = [
            with_lets(
                "a",
                Some("promised"),
                &[("pay_amount", "money", Some("0.10")), ("pay_date", "date", Some("2026-12-01"))],
            ),
            with_lets(
                "b",
                Some("hardship"),
                &[("pay_amount", "money", Some("0.20")), ("pay_date", "date", Some("2026-11-25"))],
            ),
            with_lets("c", None, &[("pay_amount", "money", Some("1000.00")), ("pay_date", "date", Some("2026-11-25"))]),
            with_lets(
                "d",
                Some("promised"),
                &[("pay_amount", "money", Some("12 元")), ("pay_date", "date", Some("2026-11-25"))],
            ),
            with_lets("e", Some("promised"), &[("pay_amount", "money", Some("92233720368547758.07"))]),
            with_lets(
                "f",
                Some("promised"),
                &[("pay_amount", "money", Some("92233720368547758.07")), ("secret", "money", None)],
            ),
            with_lets("g", Some("promised"), &[("tries", "int", Some("3"))]),
        ];
        let report = build("t", &rows, &[]);
        let json = serde_json::to_value(&report.lets).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                { "name": "pay_amount", "type": "money", "goal_calls_with_value": 4, "sum": "184467440737095516.44",
                  "by_outcome": {
                    "hardship": { "goal_calls_with_value": 1, "sum": "0.20" },
                    "promised": { "goal_calls_with_value": 3, "sum": "184467440737095516.24" } } },
                { "name": "pay_date", "type": "date", "goal_calls_with_value": 3,
                  "by_value": { "2026-11-25": 2, "2026-12-01": 1 },
                  "by_outcome": {
                    "hardship": { "goal_calls_with_value": 1, "by_value": { "2026-11-25": 1 } },
                    "promised": { "goal_calls_with_value": 2, "by_value": { "2026-11-25": 1, "2026-12-01": 1 } } } },
            ])
        );
        assert_eq!(report.lets[0].all.sum.unwrap().grouped(), "184,467,440,737,095,516.44");
        let table = table(&report);
        for line in [
            "    pay_amount (money)                  4  sum 184,467,440,737,095,516.44\n",
            "      hardship                          1  sum 0.20\n",
            "      promised                          2\n        2026-11-25                      1\n",
        ] {
            assert!(table.contains(line), "{line}\n{table}");
        }
    }

    #[test]
    fn sums_read_like_money() {
        let sum = |cents: i128| Sum(cents);
        assert_eq!(sum(0).literal(), "0.00");
        assert_eq!(sum(5).grouped(), "0.05");
        assert_eq!(sum(48_625_000).grouped(), "486,250.00");
        assert_eq!(sum(99_999_999).grouped(), "999,999.99");
        assert_eq!(sum(100_000_000).grouped(), "1,000,000.00");
        assert_eq!(sum(-123_456).literal(), "-1234.56");
        assert_eq!(sum(-123_456).grouped(), "-1,234.56");
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
