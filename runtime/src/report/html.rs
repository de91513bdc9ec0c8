//! The report as one self-contained HTML page (inline CSS and SVG, no scripts, nothing
//! fetched): for a collections or marketing manager, so every heading and label is Chinese or a
//! title from the script, and every bar shows its count and its percentage.

use std::collections::BTreeMap;

use super::charts::{Bar, bars, paired_bars, percent_of, trend};
use super::compare::{Comparison, Kind};
use super::labels::key_title;
use super::model::{Bucket, LetFigures, LetSummary, Report, Sum};
use super::table::percent;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A chart with its caption.
fn figure(caption: &str, svg: &str) -> String {
    format!("<figure><figcaption>{}</figcaption>{svg}</figure>\n", escape(caption))
}

fn section(title: &str, body: &str) -> String {
    if body.is_empty() { String::new() } else { format!("<section><h2>{}</h2>\n{body}</section>\n", escape(title)) }
}

fn kpis(items: &[(String, String)]) -> String {
    let cells: String = items
        .iter()
        .map(|(k, v)| format!("<div class=\"kpi\"><span>{}</span><strong>{}</strong></div>", escape(k), escape(v)))
        .collect();
    format!("<section class=\"kpis\">{cells}</section>\n")
}

/// A text message's status in words.
fn message_title(status: &str) -> &str {
    match status {
        "sent" => "已发送",
        "failed" => "发送失败",
        "simulated" => "模拟发送",
        "queued" => "排队中",
        other => other,
    }
}

/// Per key: connected of attempts, and goals of connected.
fn rates_chart(caption: &str, rows: &mut dyn Iterator<Item = (String, &Bucket)>) -> String {
    let rows: Vec<(String, [Bar; 2])> = rows
        .map(|(k, b)| {
            let label = format!("{}（拨打 {}）", key_title(&k), b.attempts);
            (label, [Bar::new("", b.answered, b.attempts), Bar::new("", b.goals, b.answered)])
        })
        .collect();
    figure(caption, &paired_bars(["接通（占拨打）", "达成目标（占接通）"], &rows))
}

/// The lets of the goal calls: each money let's sum, and each date let by date, per goal
/// outcome when there are several.
fn lets(lets: &[LetSummary]) -> String {
    let split = |l: &LetSummary| -> Vec<(String, LetFigures)> {
        if l.by_outcome.len() > 1 {
            l.by_outcome.iter().map(|(o, f)| (format!("{o} 通话"), f.clone())).collect()
        } else {
            vec![("达成目标的通话".to_string(), l.all.clone())]
        }
    };
    let kpi = |label: String, f: &LetFigures| (label, f.sum.map(Sum::grouped).unwrap_or_default());
    let mut sums = Vec::new();
    for l in lets.iter().filter(|l| l.all.sum.is_some()) {
        if l.by_outcome.len() > 1 {
            sums.push(kpi(format!("{} · 达成目标的通话 {} 笔合计", l.name, l.all.goal_calls_with_value), &l.all));
        }
        for (over, f) in split(l) {
            sums.push(kpi(format!("{} · {over} {} 笔合计", l.name, f.goal_calls_with_value), &f));
        }
    }
    let mut out = if sums.is_empty() { String::new() } else { kpis(&sums) };
    for l in lets.iter().filter(|l| l.all.by_value.is_some()) {
        for (over, f) in split(l) {
            let items: Vec<Bar> =
                f.by_value.iter().flatten().map(|(d, n)| Bar::new(d.clone(), *n, f.goal_calls_with_value)).collect();
            out.push_str(&figure(&format!("{}（{over}）按日期", l.name), &bars(&items)));
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title><style>\nbody{{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2rem;color:#1f2933;max-width:800px}}\nh2{{border-bottom:1px solid #cbd2d9;padding-bottom:.3rem;margin-top:2rem}}\n.kpis{{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}}.kpi{{border:1px solid #cbd2d9;border-radius:6px;padding:.6rem 1rem}}\n.kpi span{{display:block;font-size:.8rem;color:#52606d}}.kpi strong{{font-size:1.4rem}}\nfigure{{margin:1.5rem 0}}figcaption{{font-weight:600;margin-bottom:.4rem}}svg text{{font-family:system-ui,'Noto Sans CJK SC',sans-serif}}svg{{max-width:100%;height:auto}}\ntable{{border-collapse:collapse}}td,th{{padding:.2rem .8rem;text-align:right}}td:first-child,th:first-child{{text-align:left}}tr:nth-child(even){{background:#f5f7fa}}\n</style></head><body>\n{body}</body></html>\n",
        escape(title)
    )
}

/// The page of one report.
pub fn html(r: &Report) -> String {
    let t = &r.titles;
    let mut body = format!("<h1>外呼活动报告 {}</h1>\n", escape(&r.campaign));
    body.push_str(&kpis(&[
        ("客户数".into(), r.customers.to_string()),
        ("拨打次数".into(), r.attempts.to_string()),
        ("接通率".into(), percent(r.connect_rate)),
        ("转化率（目标/接通）".into(), percent(r.conversion_rate)),
        ("平均通话时长".into(), format!("{:.1} 秒", r.avg_talk_seconds)),
    ]));

    let days: Vec<String> = r.by_day.keys().map(|d| key_title(d).to_string()).collect();
    let series = |pick: fn(&Bucket) -> u64| r.by_day.values().map(pick).collect::<Vec<u64>>();
    let mut trends = figure(
        "每日趋势：拨打、接通、达成目标",
        &trend(
            &days,
            &[
                ("拨打".into(), series(|b| b.attempts)),
                ("接通".into(), series(|b| b.answered)),
                ("达成目标".into(), series(|b| b.goals)),
            ],
        ),
    );
    trends.push_str(&rates_chart(
        "每日接通率与转化率（按客户当地日期）",
        &mut r.by_day.iter().map(|(d, b)| (d.clone(), b)),
    ));
    body.push_str(&section("趋势", &trends));

    let mut results = String::new();
    let dispositions: Vec<Bar> =
        r.dispositions.iter().map(|(k, v)| Bar::new(t.disposition(k), *v, r.attempts)).collect();
    results.push_str(&figure("呼叫结果（占拨打次数）", &bars(&dispositions)));
    let outcomes: Vec<Bar> = r.outcomes.iter().map(|(k, v)| Bar::new(t.outcome(k), *v, r.attempts)).collect();
    results.push_str(&figure("通话结果（占拨打次数）", &bars(&outcomes)));
    body.push_str(&section("结果", &results));

    let mut funnel = String::new();
    let steps: Vec<Bar> = r
        .funnel
        .iter()
        .map(|f| {
            let (from, base) = match &f.from {
                Some(from) => {
                    (format!("{from} → "), r.funnel.iter().find(|x| x.step == *from).map_or(f.went_on, |x| x.reached))
                }
                None => ("开始 → ".to_string(), r.answered),
            };
            Bar::new(format!("{from}{}", f.step), f.went_on, base)
        })
        .collect();
    funnel.push_str(&figure("步骤间转化：从上一步进入该步骤的通话（占上一步）", &bars(&steps)));
    let reached: Vec<Bar> =
        r.funnel.iter().map(|f| Bar::new(format!("步骤 {}", f.step), f.reached, r.answered)).collect();
    funnel.push_str(&figure("转化漏斗：到达各步骤的接通通话（占接通）", &bars(&reached)));
    let hung: Vec<Bar> = r
        .funnel
        .iter()
        .filter(|f| f.hung_up > 0)
        .map(|f| Bar::new(format!("步骤 {}", f.step), f.hung_up, f.reached))
        .collect();
    funnel.push_str(&figure("客户在哪一步挂断（占到达该步骤）", &bars(&hung)));
    body.push_str(&section("漏斗", &funnel));

    let tr = &r.transfers;
    if tr.attempted > 0 {
        let mut items =
            vec![Bar::new("已转人工", tr.transferred, tr.attempted), Bar::new("转人工失败", tr.failed, tr.attempted)];
        items.extend(tr.causes.iter().map(|(c, n)| Bar::new(format!("失败原因：{c}"), *n, tr.failed)));
        body.push_str(&section("转人工", &figure("转人工及其结果（占转人工次数）", &bars(&items))));
    }

    let tags: Vec<Bar> = r.tags.iter().map(|(k, v)| Bar::new(k.clone(), *v, r.answered)).collect();
    if !tags.is_empty() {
        body.push_str(&section("标签", &figure("标签（占接通通话）", &bars(&tags))));
    }

    let by = &r.breakdowns;
    let mut breakdowns = String::new();
    for (caption, map) in
        [("按客户分群", &by.segment), ("按时区", &by.zone), ("按客户名单", &by.list), ("按话术版本", &by.variant)]
    {
        breakdowns.push_str(&rates_chart(caption, &mut map.iter().map(|(k, b)| (k.clone(), b))));
    }
    breakdowns.push_str(&rates_chart("按第几次拨打", &mut r.by_attempt.iter().map(|(n, b)| (format!("第 {n} 次"), b))));
    breakdowns.push_str(&rates_chart("按客户当地时段", &mut r.by_hour.iter().map(|(h, b)| (format!("{h:02}:00"), b))));
    body.push_str(&section("分组", &breakdowns));

    let mut captured = String::new();
    for c in &r.captured {
        if c.sensitive {
            captured.push_str(&format!(
                "<p>{}（{}）：{} 通接通通话，敏感信息，不保存其值。</p>\n",
                escape(&c.name),
                escape(&c.ty),
                c.calls
            ));
        } else if !c.top_values.is_empty() {
            let items: Vec<Bar> = c.top_values.iter().map(|(v, n)| Bar::new(v.clone(), *n, c.calls)).collect();
            captured.push_str(&figure(
                &format!("{}（{}）的取值（占 {} 通接通通话）", c.name, c.ty, c.calls),
                &bars(&items),
            ));
        }
    }
    captured.push_str(&lets(&r.lets));
    body.push_str(&section("采集的信息", &captured));

    let mut systems = String::new();
    let actions: Vec<Bar> = r
        .actions
        .iter()
        .flat_map(|a| {
            [
                Bar::new(format!("{} 成功", a.name), a.ok, a.calls),
                Bar::new(format!("{} 失败", a.name), a.failed, a.calls),
            ]
        })
        .collect();
    if !actions.is_empty() {
        systems.push_str(&figure("调用银行系统（动作）", &bars(&actions)));
    }
    let total: u64 = r.messages.values().sum();
    let messages: Vec<Bar> = r.messages.iter().map(|(k, v)| Bar::new(message_title(k), *v, total)).collect();
    if !messages.is_empty() {
        systems.push_str(&figure("短信", &bars(&messages)));
    }
    body.push_str(&section("动作与短信", &systems));

    let mut words = String::new();
    let objections: Vec<Bar> = r.top_objections.iter().map(|(k, v)| Bar::new(t.intent(k), *v, r.answered)).collect();
    words.push_str(&figure("客户异议（占接通通话）", &bars(&objections)));
    let unrecognised: Vec<Bar> = r.unrecognised.iter().map(|(k, v)| Bar::new(k.clone(), *v, r.answered)).collect();
    words.push_str(&figure("未识别的回复（用来扩充意图）", &bars(&unrecognised)));
    body.push_str(&section("客户怎么说", &words));
    page(&format!("外呼活动报告 {}", r.campaign), &body)
}

/// A difference as a manager reads it.
fn shown(kind: Kind, x: f64) -> String {
    match kind {
        Kind::Count => format!("{x}"),
        Kind::Rate => percent(x),
        Kind::Seconds => format!("{x:.1} 秒"),
    }
}

fn change(kind: Kind, x: f64) -> String {
    match kind {
        Kind::Count => format!("{x:+}"),
        Kind::Rate => format!("{:+.1} 个百分点", x * 100.0),
        Kind::Seconds => format!("{x:+.1} 秒"),
    }
}

/// The page of two reports side by side.
pub fn html_comparison(c: &Comparison) -> String {
    let (a, b) = (&c.a, &c.b);
    let names = ["A", "B"];
    let mut body = format!("<h1>对比：A {} · B {}</h1>\n", escape(&a.campaign), escape(&b.campaign));
    let metric = |m: &str| -> String {
        match m.split_once('.') {
            Some(("dispositions", d)) => format!("呼叫结果 {}（占拨打）", a.titles.disposition(d)),
            Some(("outcomes", o)) => format!("通话结果 {}（占拨打）", a.titles.outcome(o)),
            Some(("funnel", s)) => format!("到达步骤 {s}（占接通）"),
            Some(("tags", t)) => format!("标签 {t}（占接通）"),
            Some(("transfers", _)) => "转人工成功率".into(),
            _ => match m {
                "customers" => "客户数",
                "attempts" => "拨打次数",
                "answered" => "接通次数",
                "goals" => "达成目标",
                "connect_rate" => "接通率",
                "conversion_rate" => "转化率（目标/接通）",
                "avg_talk_seconds" => "平均通话时长",
                other => other,
            }
            .to_string(),
        }
    };
    let rows: String = c
        .differences
        .iter()
        .map(|d| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&metric(&d.metric)),
                shown(d.kind, d.a),
                shown(d.kind, d.b),
                change(d.kind, d.change)
            )
        })
        .collect();
    body.push_str(&section(
        "关键指标",
        &format!("<table><thead><tr><th>指标</th><th>A</th><th>B</th><th>变化（B − A）</th></tr></thead><tbody>{rows}</tbody></table>\n"),
    ));
    let pair = |x: (&str, u64, u64), y: (&str, u64, u64)| [Bar::new(x.0, x.1, x.2), Bar::new(y.0, y.1, y.2)];
    let keyed = |ma: &BTreeMap<String, u64>, mb: &BTreeMap<String, u64>, label: &dyn Fn(&str) -> String| {
        let keys: std::collections::BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
        keys.into_iter()
            .map(|k| {
                let get = |m: &BTreeMap<String, u64>| m.get(k).copied().unwrap_or(0);
                (label(k), pair(("", get(ma), a.attempts), ("", get(mb), b.attempts)))
            })
            .collect::<Vec<_>>()
    };
    let mut charts = String::new();
    let dispositions = keyed(&a.dispositions, &b.dispositions, &|d| a.titles.disposition(d).to_string());
    charts.push_str(&figure("呼叫结果（占各自拨打次数）", &paired_bars(names, &dispositions)));
    let outcomes = keyed(&a.outcomes, &b.outcomes, &|o| a.titles.outcome(o).to_string());
    charts.push_str(&figure("通话结果（占各自拨打次数）", &paired_bars(names, &outcomes)));
    let funnel: Vec<(String, [Bar; 2])> = c
        .differences
        .iter()
        .filter_map(|d| d.metric.strip_prefix("funnel.").map(|s| (s, d)))
        .map(|(s, _)| {
            let reached = |r: &Report| r.funnel.iter().find(|f| f.step == s).map_or(0, |f| f.reached);
            (format!("步骤 {s}"), pair(("", reached(a), a.answered), ("", reached(b), b.answered)))
        })
        .collect();
    charts.push_str(&figure("转化漏斗（占各自接通通话）", &paired_bars(names, &funnel)));
    let tags: BTreeMap<String, u64> = a.tags.iter().cloned().collect();
    let tags_b: BTreeMap<String, u64> = b.tags.iter().cloned().collect();
    let tag_rows: Vec<(String, [Bar; 2])> = tags
        .keys()
        .chain(tags_b.keys().filter(|k| !tags.contains_key(*k)))
        .map(|k| {
            let get = |m: &BTreeMap<String, u64>| m.get(k).copied().unwrap_or(0);
            (k.clone(), pair(("", get(&tags), a.answered), ("", get(&tags_b), b.answered)))
        })
        .collect();
    if !tag_rows.is_empty() {
        charts.push_str(&figure("标签（占各自接通通话）", &paired_bars(names, &tag_rows)));
    }
    body.push_str(&section("对比图", &charts));
    let mut trends = String::new();
    for (side, r) in [("A", a), ("B", b)] {
        let days: Vec<String> = r.by_day.keys().map(|d| key_title(d).to_string()).collect();
        let connect: Vec<Bar> = r
            .by_day
            .iter()
            .map(|(d, x)| Bar::new(format!("{side} {}", key_title(d)), x.answered, x.attempts))
            .collect();
        let series = |pick: fn(&Bucket) -> u64| r.by_day.values().map(pick).collect::<Vec<u64>>();
        trends.push_str(&figure(
            &format!("{side} 每日趋势：拨打、接通、达成目标"),
            &trend(
                &days,
                &[
                    ("拨打".into(), series(|x| x.attempts)),
                    ("接通".into(), series(|x| x.answered)),
                    ("达成目标".into(), series(|x| x.goals)),
                ],
            ),
        ));
        trends.push_str(&figure(&format!("{side} 每日接通（占当日拨打）"), &bars(&connect)));
    }
    body.push_str(&section("每日趋势", &trends));
    body.push_str(&format!(
        "<p>A 的转化率 {}，B 的转化率 {}。</p>\n",
        percent_of(a.goals, a.answered),
        percent_of(b.goals, b.answered)
    ));
    page(&format!("对比 {} · {}", a.campaign, b.campaign), &body)
}
