//! The console's HTML (maud: every value escaped; a customer's words are text, never markup).
//! Self-contained pages: inline style and script, nothing fetched from elsewhere, so the
//! console works offline.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Filters;
use crate::report::labels::ScriptTitles;
use crate::store::AttemptRow;

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif;margin:0;background:#f4f6f8;color:#1d2733}
header{background:#17324d;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:baseline}
header a{color:#cfe3ff;text-decoration:none}main{padding:16px 20px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:12px}
.tile{background:#fff;border-radius:6px;padding:12px;box-shadow:0 1px 2px #0002}.tile b{display:block;font-size:28px}
table{border-collapse:collapse;background:#fff;width:100%}td,th{padding:5px 8px;border-bottom:1px solid #e3e7eb;text-align:left;font-size:14px}
form{margin:0 0 12px;display:flex;flex-wrap:wrap;gap:8px}input,select{padding:4px}
.prompt{color:#17324d}.reply{color:#7a3b00}.meta{color:#667;font-size:13px}.muted{color:#889}";

fn page(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "CallScript" }
                    a href="/" { "实时看板 Wallboard" }
                    a href="/report" { "报表 Report" }
                    a href="/calls" { "通话 Calls" }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

pub fn error_page(message: &str) -> String {
    page("CallScript", html! { p { (message) } })
}

/// The wallboard: tiles and hours filled in from `/api/live` every second.
pub fn wallboard(campaign: &str) -> String {
    let script = r##"
const pct = x => (100 * x).toFixed(1) + '%';
async function tick() {
  try {
    const b = await (await fetch('/api/live', {cache: 'no-store'})).json();
    const set = (id, v) => document.getElementById(id).textContent = v;
    set('live', b.live); set('lines', b.live + ' / ' + b.lines + ' (' + pct(b.lines_used) + ')');
    set('cps', b.calls_per_second.toFixed(1)); set('attempts', b.attempts); set('answered', b.answered);
    set('connect', pct(b.connect_rate)); set('conversion', pct(b.conversion_rate)); set('goals', b.goals);
    set('clock', b.clock_ms ? new Date(b.clock_ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '—');
    const max = Math.max(1, ...b.by_hour.map(h => h.attempts));
    document.getElementById('hours').innerHTML = b.by_hour.map(h =>
      `<tr><td>${String(h.hour).padStart(2, '0')}:00</td><td>${h.attempts}</td><td>${h.answered} (${pct(h.connect_rate)})</td><td>${h.goals}</td>` +
      `<td><svg width="240" height="12"><rect width="${240 * h.attempts / max}" height="12" fill="#4a7fb5"/>` +
      `<rect width="${240 * h.answered / max}" height="12" fill="#2e9d63"/></svg></td></tr>`).join('');
    document.body.dataset.updated = Date.now();
  } catch (e) { document.getElementById('clock').textContent = '—'; }
}
tick(); setInterval(tick, 1000);
"##;
    let tile = |id: &str, label: &str| html! { div.tile { span { (label) } b id=(id) { "…" } } };
    page(
        &format!("{campaign} · 实时看板"),
        html! {
            h1 { (campaign) " · 实时看板" }
            div.tiles {
                (tile("live", "通话中 Calls now"))
                (tile("lines", "线路占用 Lines used"))
                (tile("cps", "每秒呼叫 CPS"))
                (tile("attempts", "已结束 Attempts"))
                (tile("answered", "接通 Answered"))
                (tile("connect", "接通率 Connect rate"))
                (tile("goals", "成功 Goals"))
                (tile("conversion", "转化率 Conversion"))
            }
            p.meta { "时钟 Clock: " span id="clock" { "…" } }
            h2 { "按小时 By hour" }
            table {
                thead { tr { th { "时 Hour" } th { "呼叫 Attempts" } th { "接通 Answered" } th { "成功 Goals" } th {} } }
                tbody id="hours" {}
            }
            script { (PreEscaped(script)) }
        },
    )
}

/// `/calls` with these filters (the token left out).
pub fn list_link(f: &Filters) -> String {
    let pairs = [
        ("q", &f.q),
        ("disposition", &f.disposition),
        ("outcome", &f.outcome),
        ("tag", &f.tag),
        ("date", &f.date),
        ("segment", &f.segment),
    ];
    let query: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}", encode(v))))
        .collect();
    if query.is_empty() { "/calls".into() } else { format!("/calls?{}", query.join("&")) }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A phone number with its middle digits hidden (手机号脱敏): `+86138****0001`.
pub fn masked_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let keep_end = 4;
    let keep_start = chars.len() - keep_end - 4;
    format!(
        "{}****{}",
        chars[..keep_start].iter().collect::<String>(),
        chars[chars.len() - keep_end..].iter().collect::<String>()
    )
}

fn tags_of(row: &AttemptRow) -> Vec<String> {
    serde_json::from_str(&row.tags).unwrap_or_default()
}

/// A disposition with its Chinese title (the report's).
fn disposition(id: &str) -> String {
    crate::report::labels::disposition_title(id).map_or_else(|| id.to_string(), |t| format!("{t} {id}"))
}

/// An outcome with its title (the script's, or the runtime's for a built-in one).
fn outcome(id: &str, titles: &ScriptTitles) -> String {
    titles.outcome(id).map_or_else(|| id.to_string(), |t| format!("{t} {id}"))
}

/// A filter's value, when one is given.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|v| !v.is_empty())
}

/// Whether a row passes the list's filters.
pub fn matches(row: &AttemptRow, f: &Filters) -> bool {
    if let Some(q) = given(&f.q)
        && !row.customer_id.contains(q)
        && !row.phone.ends_with(q)
    {
        return false;
    }
    if given(&f.disposition).is_some_and(|d| d != row.disposition) {
        return false;
    }
    if given(&f.outcome).is_some_and(|o| Some(o) != row.outcome.as_deref()) {
        return false;
    }
    if given(&f.tag).is_some_and(|t| !tags_of(row).iter().any(|x| x == t)) {
        return false;
    }
    if given(&f.date).is_some_and(|d| !row.local_time.starts_with(d)) {
        return false;
    }
    if given(&f.segment).is_some_and(|s| Some(s) != row.segment.as_deref()) {
        return false;
    }
    true
}

/// Rows per page of the call list.
const PAGE: usize = 100;

/// The call list gathered as the attempts stream from the store (oldest first): the filters'
/// choices, how many calls match, and only the newest matches up to the page shown.
pub struct CallList {
    dispositions: std::collections::BTreeSet<String>,
    outcomes: std::collections::BTreeSet<String>,
    tags: std::collections::BTreeSet<String>,
    segments: std::collections::BTreeSet<String>,
    found: usize,
    /// The newest matches, at most up to the end of the page shown.
    newest: std::collections::VecDeque<AttemptRow>,
    keep: usize,
}

impl CallList {
    pub fn new(f: &Filters) -> CallList {
        CallList {
            dispositions: Default::default(),
            outcomes: Default::default(),
            tags: Default::default(),
            segments: Default::default(),
            found: 0,
            newest: Default::default(),
            keep: (f.page.unwrap_or(0) + 1).saturating_mul(PAGE),
        }
    }

    pub fn add_matching(&mut self, r: AttemptRow, f: &Filters) {
        self.choices(&r);
        if matches(&r, f) {
            self.found += 1;
            if self.newest.len() == self.keep {
                self.newest.pop_front();
            }
            self.newest.push_back(r);
        }
    }

    fn choices(&mut self, r: &AttemptRow) {
        insert(&mut self.dispositions, &r.disposition);
        if let Some(o) = &r.outcome {
            insert(&mut self.outcomes, o);
        }
        for t in tags_of(r) {
            self.tags.insert(t);
        }
        if let Some(s) = &r.segment {
            insert(&mut self.segments, s);
        }
    }

    pub fn page(self, campaign: &str, f: &Filters, titles: &ScriptTitles) -> String {
        let page_no = f.page.unwrap_or(0);
        let found = self.found;
        let shown = self.newest.iter().rev().skip(page_no * PAGE).take(PAGE);
        let dispositions: Vec<String> = self.dispositions.into_iter().collect();
        let outcomes: Vec<String> = self.outcomes.into_iter().collect();
        let tags: Vec<String> = self.tags.into_iter().collect();
        let segments: Vec<String> = self.segments.into_iter().collect();
        let select = |name: &str, label: &str, options: &[String], chosen: &Option<String>| {
            html! {
                select name=(name) aria-label=(label) {
                    option value="" { (label) }
                    @for o in options {
                        option value=(o) selected[chosen.as_deref() == Some(o.as_str())] { (o) }
                    }
                }
            }
        };
        page(
            &format!("{campaign} · 通话"),
            html! {
                h1 { (campaign) " · 通话 Calls" }
                form method="get" action="/calls" {
                    input type="search" name="q" placeholder="客户号或手机尾号 Customer or phone ending" value=[f.q.as_deref()];
                    (select("disposition", "结果 Disposition", &dispositions, &f.disposition))
                    (select("outcome", "结局 Outcome", &outcomes, &f.outcome))
                    (select("tag", "标签 Tag", &tags, &f.tag))
                    (select("segment", "分群 Segment", &segments, &f.segment))
                    input type="date" name="date" value=[f.date.as_deref()];
                    button type="submit" id="search" { "搜索 Search" }
                }
                p.meta { (found) " calls" }
                table id="calls" {
                    thead { tr { th { "时间 Local time" } th { "客户 Customer" } th { "手机 Phone" } th { "次 Attempt" } th { "结果 Disposition" } th { "结局 Outcome" } th { "标签 Tags" } th { "通话 Talk" } } }
                    tbody {
                        @for r in shown {
                            tr {
                                td { (r.local_time) }
                                td { a href=(format!("/calls/{}/{}", encode(&r.customer_id), r.attempt)) { (r.customer_id) } }
                                td { (masked_phone(&r.phone)) }
                                td { (r.attempt) }
                                td { (disposition(&r.disposition)) }
                                td { (r.outcome.as_deref().map(|o| outcome(o, titles)).unwrap_or_default()) }
                                td { (tags_of(r).join(", ")) }
                                td { (format!("{:.0} s", r.talk_ms as f64 / 1000.0)) }
                            }
                        }
                    }
                }
                @if found > (page_no + 1) * PAGE {
                    p { a href=(format!("{}{}page={}", list_link(f), if list_link(f).contains('?') { "&" } else { "?" }, page_no + 1)) { "下一页 Next" } }
                }
            },
        )
    }
}

/// Adds a value to a set, copying it only when it is new.
fn insert(set: &mut std::collections::BTreeSet<String>, value: &str) {
    if !set.contains(value) {
        set.insert(value.to_string());
    }
}

/// One line of a stored transcript, as the page shows it.
fn transcript_line(line: &serde_json::Value) -> Markup {
    let text = |k: &str| line.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    match line.get("kind").and_then(|k| k.as_str()).unwrap_or("") {
        "prompt" => {
            html! { li.prompt { span.meta { "机器人 " } (text("text")) @if let Some(cut) = line.get("cut").and_then(|c| c.as_str()) { span.meta { " (" (cut) ")" } } } }
        }
        "reply" => {
            let silence = line.get("silence").and_then(|s| s.as_bool()).unwrap_or(false);
            html! {
                li.reply {
                    span.meta { "客户 " } @if silence { span.muted { "(沉默 silence)" } } @else { (text("text")) }
                    @if let Some(intent) = line.get("intent").and_then(|i| i.as_str()) {
                        span.meta { " → " (intent) @if let Some(by) = line.get("by").and_then(|b| b.as_str()) { " (" (by) ")" } }
                    }
                    @if let Some(e) = line.get("emotion").and_then(|e| e.as_str()) { span.meta { " [" (e) "]" } }
                }
            }
        }
        "captured" => html! { li.meta { "采集 " (text("name")) " = " (text("value")) } },
        "action" => {
            html! { li.meta { "调用 " (text("name")) " " (if line.get("ok").and_then(|o| o.as_bool()).unwrap_or(false) { "ok" } else { "failed" }) } }
        }
        "sms" => html! { li.meta { "短信 " (text("text")) } },
        "handover" => html! { li.meta { "转人工 " (text("key")) " = " (text("value")) } },
        _ => html! {},
    }
}

pub fn call_page(row: &AttemptRow, transcript: &str, playable: bool, titles: &ScriptTitles) -> String {
    let lines: Vec<serde_json::Value> = serde_json::from_str(transcript).unwrap_or_default();
    let steps: Vec<String> = serde_json::from_str(&row.steps).unwrap_or_default();
    let title = format!("{} · 第 {} 次", row.customer_id, row.attempt);
    page(
        &title,
        html! {
            h1 { (title) }
            p.meta {
                (row.local_time) " · " (masked_phone(&row.phone)) " · " (disposition(&row.disposition))
                @if let Some(o) = &row.outcome { " · " (outcome(o, titles)) }
                @if let Some(c) = &row.cause { " · " (c) }
                " · " (format!("{:.0} s", row.talk_ms as f64 / 1000.0))
            }
            @if playable {
                h2 { "录音 Recording" }
                audio id="recording" controls preload="none" src=(format!("/calls/{}/{}/recording.wav", encode(&row.customer_id), row.attempt)) {}
            }
            h2 { "对话 Transcript" }
            ol id="transcript" { @for l in &lines { (transcript_line(l)) } }
            h2 { "步骤 Steps" }
            p { (steps.join(" → ")) }
            h2 { "采集 Captured values" }
            table id="captured" {
                @for l in &row.lets {
                    tr { td { (l.name) } td { (l.ty) } td { (l.value.as_deref().unwrap_or("****")) } }
                }
            }
            h2 { "标签 Tags" }
            p { @match tags_of(row).as_slice() { [] => "无 None", tags => (tags.join(", ")) } }
            @if !row.actions.is_empty() {
                h2 { "系统调用 Actions" }
                table {
                    @for a in &row.actions {
                        tr { td { (a.name) } td { (if a.ok { "ok" } else { "failed" }) } td { (a.latency_ms) " ms" } td { (a.cause.as_deref().unwrap_or("")) } }
                    }
                }
            }
            @if !row.messages.is_empty() {
                h2 { "短信 Messages" }
                table {
                    @for m in &row.messages {
                        tr { td { (m.text) } td { (m.status) } td { (m.cause.as_deref().unwrap_or("")) } }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 250 matching calls streamed oldest first: each page shows the next hundred, newest
    /// first, and only pages with more after them link on.
    #[test]
    fn the_call_list_pages_newest_first_from_a_stream() {
        let row = |i: usize| AttemptRow {
            customer_id: format!("C{i:03}"),
            disposition: if i.is_multiple_of(2) { "answered" } else { "busy" }.into(),
            tags: "[]".into(),
            ..AttemptRow::default()
        };
        let page = |n: usize, disposition: Option<&str>| {
            let f = Filters { page: Some(n), disposition: disposition.map(String::from), ..Filters::default() };
            let mut list = CallList::new(&f);
            (0..500).for_each(|i| list.add_matching(row(i), &f));
            let shown: Vec<usize> = list
                .newest
                .iter()
                .rev()
                .skip(n * PAGE)
                .take(PAGE)
                .map(|r| r.customer_id[1..].parse().unwrap())
                .collect();
            (list.found, shown, list.page("T", &f, &ScriptTitles::default()))
        };
        let (found, shown, html) = page(0, Some("answered"));
        assert_eq!((found, shown.first(), shown.last(), shown.len()), (250, Some(&498), Some(&300), 100));
        assert!(html.contains("page=1") && html.contains("250 calls"));
        let (_, shown, html) = page(2, Some("answered"));
        assert_eq!((shown.first(), shown.last(), shown.len()), (Some(&98), Some(&0), 50));
        assert!(!html.contains("page=3"));
        // Every call counts in the filters' choices, matching or not.
        assert!(html.contains("value=\"busy\""));
        let (found, _, _) = page(0, None);
        assert_eq!(found, 500);
    }
}
