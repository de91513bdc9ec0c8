//! The report of CAMPAIGN.md §4 and §7 from a store of known content: per-day trend, segment,
//! zone, list and script breakdowns, tags, captured values, transfers, the funnel with
//! step-to-step conversion, titles from the script, and two reports side by side (`report A
//! B`, `report A --by variant`). The attempts are written by hand through the store, so every
//! figure of the snapshots can be checked by reading `attempts()` below.

use std::path::{Path, PathBuf};

use callscript_runtime::store::{Finished, NewAttempt, SqliteStore, Store, StoredLet};

mod support;
use support::{callscript, scratch};
use tempfile::TempDir;

/// One stored attempt: who, when (customer's local time), where from, how it ended.
struct Attempt {
    customer: &'static str,
    attempt: u32,
    local_time: &'static str,
    segment: Option<&'static str>,
    zone: &'static str,
    variant: &'static str,
    disposition: &'static str,
    outcome: Option<&'static str>,
    goal: bool,
    cause: Option<&'static str>,
    steps: &'static [&'static str],
    tags: &'static [&'static str],
    objections: &'static [&'static str],
    /// `pay_amount` and `pay_date`; the sensitive `id_tail` is stored without its value.
    lets: Option<(&'static str, &'static str)>,
}

const NOT_ANSWERED: Attempt = Attempt {
    customer: "",
    attempt: 1,
    local_time: "2026-11-24T09:10:00+08:00",
    segment: Some("overdue_30"),
    zone: "Asia/Shanghai",
    variant: "promise.call",
    disposition: "busy",
    outcome: None,
    goal: false,
    cause: None,
    steps: &[],
    tags: &[],
    objections: &[],
    lets: None,
};

const PROMISED: Attempt = Attempt {
    disposition: "answered",
    outcome: Some("promised"),
    goal: true,
    steps: &["opening", "core", "closing"],
    lets: Some(("1200.00", "2026-11-30")),
    ..NOT_ANSWERED
};

/// Twelve attempts of nine customers over two days, two segments (and customers without one),
/// two zones and two scripts.
fn attempts() -> Vec<Attempt> {
    vec![
        Attempt { customer: "c1", ..PROMISED },
        Attempt {
            customer: "c2",
            tags: &["hardship_plan"],
            outcome: Some("hardship"),
            steps: &["opening", "core"],
            lets: Some(("0", "2026-01-01")),
            ..PROMISED
        },
        Attempt { customer: "c3", ..NOT_ANSWERED },
        Attempt {
            customer: "c3",
            attempt: 2,
            local_time: "2026-11-25T10:00:00+08:00",
            tags: &["partial_payment"],
            lets: Some(("300.50", "2026-11-27")),
            ..PROMISED
        },
        Attempt { customer: "c4", disposition: "no_answer", segment: None, ..NOT_ANSWERED },
        Attempt {
            customer: "c4",
            attempt: 2,
            disposition: "invalid_number",
            segment: None,
            local_time: "2026-11-25T09:30:00+08:00",
            ..NOT_ANSWERED
        },
        Attempt {
            customer: "c5",
            outcome: Some("refused"),
            goal: false,
            steps: &["opening", "core"],
            objections: &["who"],
            lets: Some(("0", "2026-01-01")),
            zone: "Asia/Hong_Kong",
            segment: Some("overdue_60"),
            ..PROMISED
        },
        Attempt {
            customer: "c6",
            disposition: "customer_hangup",
            outcome: None,
            goal: false,
            steps: &["opening"],
            lets: Some(("0", "2026-01-01")),
            zone: "Asia/Hong_Kong",
            segment: Some("overdue_60"),
            ..PROMISED
        },
        Attempt {
            customer: "c7",
            outcome: Some("transferred"),
            goal: false,
            steps: &["opening", "core"],
            objections: &["emotion angry"],
            lets: Some(("0", "2026-01-01")),
            variant: "promise_b.call",
            ..PROMISED
        },
        Attempt {
            customer: "c8",
            outcome: Some("transfer_failed"),
            cause: Some("the agent queue did not answer (SIP 486)"),
            goal: false,
            steps: &["opening", "core"],
            objections: &["emotion angry", "who"],
            tags: &["hardship_plan"],
            lets: Some(("0", "2026-01-01")),
            variant: "promise_b.call",
            ..PROMISED
        },
        Attempt { customer: "c9", local_time: "2026-11-25T11:00:00+08:00", variant: "promise_b.call", ..PROMISED },
        Attempt {
            customer: "c10",
            disposition: "rejected",
            variant: "promise_b.call",
            local_time: "2026-11-25T11:00:00+08:00",
            ..NOT_ANSWERED
        },
    ]
}

/// A copy of `tests/lets/`'s campaign (task `PROMISE_LETS`) whose store holds `attempts`, in a
/// folder removed with the guard.
fn campaign_with(name: &str, attempts: &[Attempt]) -> (TempDir, PathBuf) {
    let tmp = scratch(&format!("report-v2-{name}"));
    let dir = tmp.path();
    for f in ["promise.call", "campaign.toml", "customers.csv"] {
        std::fs::copy(Path::new("tests/lets").join(f), dir.join(f)).unwrap();
    }
    let mut store = SqliteStore::open(&dir.join("campaign.db")).unwrap();
    store.save_campaign("PROMISE_LETS", "0", "", 0, "{}").unwrap();
    let json = |items: &[&str]| serde_json::to_string(items).unwrap();
    for (i, a) in attempts.iter().enumerate() {
        let started_ms = 1_795_000_000_000 + i as i64 * 60_000;
        let phone = format!("+86138000000{i:02}");
        let id = store
            .begin_attempt(&NewAttempt {
                campaign: "PROMISE_LETS",
                customer_id: a.customer,
                phone: &phone,
                attempt: a.attempt,
                started_ms,
                local_time: a.local_time.into(),
                local_date: a.local_time[..10].into(),
                local_hour: a.local_time[11..13].parse().unwrap(),
                script_sha256: "0",
                allowed: "{}",
                segment: a.segment,
                zone: a.zone,
                list: "customers.csv",
                variant: a.variant,
            })
            .unwrap();
        let connected = matches!(a.disposition, "answered" | "customer_hangup");
        let lets = a.lets.map_or_else(Vec::new, |(amount, date)| {
            vec![
                StoredLet { name: "pay_amount".into(), ty: "money".into(), value: Some(amount.into()) },
                StoredLet { name: "pay_date".into(), ty: "date".into(), value: Some(date.into()) },
                StoredLet { name: "id_tail".into(), ty: "text".into(), value: None },
            ]
        });
        store
            .finish_attempt(
                id,
                &Finished {
                    disposition: a.disposition.into(),
                    cause: a.cause.map(String::from),
                    outcome: a.outcome.map(String::from),
                    goal: a.goal,
                    ended_ms: started_ms + 30_000,
                    talk_ms: if connected { 20_000 } else { 0 },
                    last_step: a.steps.last().map(|s| s.to_string()),
                    steps: json(a.steps),
                    tags: json(a.tags),
                    objections: json(a.objections),
                    unrecognised: "[]".into(),
                    transcript: "[]".into(),
                    lets,
                    ..Finished::default()
                },
            )
            .unwrap();
    }
    let campaign = dir.join("campaign.toml");
    (tmp, campaign)
}

fn report(args: &[&str]) -> (i32, String, String) {
    let out = callscript(args);
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = report(args);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// The table and the JSON of the fixed store, as a collections manager reads them.
#[test]
fn report_table_and_json() {
    let (_dir, campaign) = campaign_with("one", &attempts());
    let path = campaign.to_str().unwrap();
    insta::assert_snapshot!("report_v2_table", ok(&["report", path]));
    let json = ok(&["report", path, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    // CAMPAIGN.md §4's fields stay.
    for key in [
        "attempts",
        "customers",
        "dispositions",
        "outcomes",
        "connect_rate",
        "conversion_rate",
        "avg_talk_seconds",
        "funnel",
        "top_objections",
        "unrecognised",
    ] {
        assert!(value.get(key).is_some(), "no `{key}`");
    }
    assert_eq!(value["tags"][0], serde_json::json!(["hardship_plan", 2]));
    assert_eq!(value["titles"]["intents"]["cannot_pay"], serde_json::Value::Null, "only names the report shows");
    insta::assert_snapshot!("report_v2_json", json);
}

/// The visible text of a page: tags dropped (with their attributes).
fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in html[html.find("<body>").unwrap()..].chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The HTML page: every section, charts drawn as SVG (no script, nothing fetched), titles for
/// the dispositions and the script's intents, a percentage on every bar.
#[test]
fn report_html_has_every_section_in_chinese() {
    let (_dir, campaign) = campaign_with("html", &attempts());
    let html = ok(&["report", campaign.to_str().unwrap(), "--format", "html"]);
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "self-contained");
    for h in ["趋势", "结果", "漏斗", "转人工", "标签", "分组", "采集的信息", "客户怎么说"] {
        assert!(html.contains(&format!("<h2>{h}</h2>")), "no section {h}");
    }
    let text = visible(&html);
    for word in [
        "接通",
        "占线",
        "无人接听",
        "空号",
        "拒接",
        "客户挂断",
        "已转人工",
        "转人工失败",
        "询问身份",
        "情绪：愤怒",
        "hardship_plan",
        "overdue_60",
        "未知",
        "Asia/Hong_Kong",
        "promise_b.call",
        "2026-11-25",
    ] {
        assert!(text.contains(word), "no `{word}` on the page");
    }
    for id in ["answered", "busy", "no_answer", "invalid_number", "rejected", "customer_hangup", "transferred"] {
        assert!(!text.split_whitespace().any(|w| w == id), "`{id}` is shown bare");
    }
    // Bars carry their share: a disposition of the twelve attempts, a tag of the eight connected.
    assert!(text.contains("1 · 8.3%") && text.contains("2 · 25.0%"), "{text}");
}

/// `report A B`: two campaigns side by side, with their differences.
#[test]
fn two_campaigns_side_by_side() {
    let all = attempts();
    let (_a_dir, a) = campaign_with("a", &all);
    let (_b_dir, b) = campaign_with("b", &all[..6]);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let table = ok(&["report", a, b]).replace(a, "A/campaign.toml").replace(b, "B/campaign.toml");
    insta::assert_snapshot!("report_v2_compare_table", table);
    let json: serde_json::Value = serde_json::from_str(&ok(&["report", a, b, "--format", "json"])).unwrap();
    assert_eq!(json["a"]["attempts"], 12);
    assert_eq!(json["b"]["attempts"], 6);
    let connect = json["differences"].as_array().unwrap().iter().find(|d| d["metric"] == "connect_rate").unwrap();
    assert_eq!((&connect["a"], &connect["b"], &connect["change"]), (&0.6667.into(), &0.5.into(), &(-0.1667).into()));
    let html = ok(&["report", a, b, "--format", "html"]);
    assert!(html.contains("<h2>关键指标</h2>") && html.contains("变化（B − A）"), "{html}");
}

/// `report A --by variant`: the two scripts of one A/B campaign; a campaign that ran one
/// script has nothing to compare.
#[test]
fn two_scripts_of_one_campaign_side_by_side() {
    let (_dir, campaign) = campaign_with("ab", &attempts());
    let path = campaign.to_str().unwrap();
    insta::assert_snapshot!("report_v2_by_variant", ok(&["report", path, "--by", "variant"]));
    let (_single_dir, single) = campaign_with("single", &attempts()[..3]);
    let (code, _, stderr) = report(&["report", single.to_str().unwrap(), "--by", "variant"]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(
        "report_v2_by_variant_one_script",
        stderr.replace(single.to_str().unwrap(), "campaign.toml")
    );
    let (code, _, stderr) = report(&["report", path, "--attempts", "--by", "variant"]);
    assert_eq!(code, 2, "{stderr}");
}
