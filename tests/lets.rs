//! A script's lets as call results (LANGUAGE.md §11 "Results"): kept with each attempt,
//! a `let.NAME` column of `report --attempts`, and summed (money) or counted by value (date)
//! over the goal calls in the report. `tests/lets/` holds a small collections campaign whose
//! script sets a money and a date let on the way to its goal outcome.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use callscript_compiler::bytecode::{AskId, Program};
use callscript_compiler::check::{MemoryFiles, check};
use callscript_compiler::source::Source;
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::{Date, Money, Value};
use callscript_runtime::call::CallDriver;
use callscript_runtime::call::virtual_time::{self, Customer, Turn};
use callscript_runtime::campaign::list::CustomerList;
use callscript_runtime::campaign::parse_toml;
use callscript_runtime::report;
use callscript_runtime::scheduler::{Plan, RunOptions, Variant, VirtualClock, run};
use callscript_runtime::store::{SqliteStore, Store};
use callscript_runtime::telephony::sim::SimTelephony;
use callscript_runtime::telephony::{LetResult, MASKED};
use callscript_runtime::vm::{CallContext, Executable, Session};

mod support;
use support::{callscript, scratch};
use tempfile::TempDir;

const SCRIPT: &str = include_str!("lets/promise.call");
const CUSTOMERS: &str = include_str!("lets/customers.csv");

/// The campaign of `tests/lets/`, copied to a fresh folder (removed with the guard) and run
/// in virtual time.
fn ran_campaign(name: &str) -> (TempDir, PathBuf) {
    let tmp = scratch(&format!("lets-{name}"));
    let dir = tmp.path();
    for f in ["promise.call", "campaign.toml", "customers.csv"] {
        std::fs::copy(Path::new("tests/lets").join(f), dir.join(f)).unwrap();
    }
    let campaign = dir.join("campaign.toml");
    let out = callscript(&["run", campaign.to_str().unwrap(), "-q", "--start", "2026-11-24T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    (tmp, campaign)
}

fn report(campaign: &Path, args: &[&str]) -> String {
    let mut all = vec!["report", campaign.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = callscript(&all);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The customers' amounts and due dates, read from the list the campaign dialled.
fn promises_due() -> HashMap<String, (Money, Date)> {
    let mut reader = csv::Reader::from_reader(CUSTOMERS.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), (Money::parse(&r[3]).unwrap(), Date::parse(&r[4]).unwrap()))
        })
        .collect()
}

/// `report --attempts` has a `let.` column per let in declaration order; the goal calls hold
/// what the script set on their way there (a `hardship` call the starting values), unanswered
/// calls nothing. The JSON report's sums and counts by date, in all and per goal outcome, are
/// exactly those of the customers' own amounts and due dates.
#[test]
fn lets_are_columns_of_the_export_and_summed_in_the_report() {
    let (_dir, campaign) = ran_campaign("e2e");
    let csv = report(&campaign, &["--attempts"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[9..], ["let.pay_amount", "let.pay_date"], "{header:?}");
    let due = promises_due();
    // Per goal outcome: calls, the sum in cents, calls per date.
    let mut goals: BTreeMap<&str, (u64, i64, BTreeMap<String, u64>)> = BTreeMap::new();
    let mut unanswered = 0;
    for record in reader.records() {
        let r = record.unwrap();
        let (amount, date) = due[&r[0]];
        let held = match (&r[4], &r[5]) {
            (_, "promised") => (amount, date),
            (_, "hardship") => (Money::ZERO, Date::parse("2026-01-01").unwrap()),
            ("answered" | "customer_hangup", _) => {
                // No goal: the lets keep their starting values (or what was set before a hang-up).
                assert!(["0.00", amount.to_string().as_str()].contains(&&r[9]), "{r:?}");
                continue;
            }
            _ => {
                assert_eq!((&r[9], &r[10]), ("", ""), "an unanswered attempt has no lets: {r:?}");
                unanswered += 1;
                continue;
            }
        };
        assert_eq!((&r[9], &r[10]), (held.0.to_string().as_str(), held.1.to_string().as_str()), "{r:?}");
        let outcome = if &r[5] == "promised" { "promised" } else { "hardship" };
        let (calls, cents, dates) = goals.entry(outcome).or_default();
        *calls += 1;
        *cents += held.0.cents();
        *dates.entry(held.1.to_string()).or_default() += 1;
    }
    assert!(unanswered >= 1 && goals.len() == 2, "the fixture exercises too little: {goals:?}");
    assert!(goals["promised"].0 >= 5 && goals["promised"].2.len() >= 2, "{goals:?}");

    let json: serde_json::Value = serde_json::from_str(&report(&campaign, &["--format", "json"])).unwrap();
    let calls: u64 = goals.values().map(|g| g.0).sum();
    let cents: i64 = goals.values().map(|g| g.1).sum();
    let mut dates: BTreeMap<String, u64> = BTreeMap::new();
    for (date, n) in goals.values().flat_map(|g| &g.2) {
        *dates.entry(date.clone()).or_default() += n;
    }
    assert_eq!(json["goals"], calls);
    let money = |calls: u64, cents: i64| serde_json::json!({ "goal_calls_with_value": calls, "sum": Money::from_cents(cents).to_string() });
    let dated = |calls: u64, dates: &BTreeMap<String, u64>| serde_json::json!({ "goal_calls_with_value": calls, "by_value": dates });
    let mut amount = money(calls, cents);
    amount["by_outcome"] = goals.iter().map(|(o, g)| (o.to_string(), money(g.0, g.1))).collect();
    let mut date = dated(calls, &dates);
    date["by_outcome"] = goals.iter().map(|(o, g)| (o.to_string(), dated(g.0, &g.2))).collect();
    for (value, name, ty) in [(&mut amount, "pay_amount", "money"), (&mut date, "pay_date", "date")] {
        value["name"] = name.into();
        value["type"] = ty.into();
    }
    assert_eq!(json["lets"], serde_json::json!([amount, date]));
}

/// The report in its three forms, as a collections manager reads it.
#[test]
fn the_report_shows_the_lets_of_goal_calls() {
    let (_dir, campaign) = ran_campaign("forms");
    let table = report(&campaign, &[]);
    assert!(table.contains("pay_amount (money)"), "{table}");
    insta::assert_snapshot!("lets_report_table", table);
    insta::assert_snapshot!("lets_report_json", report(&campaign, &["--format", "json"]));
    let html = report(&campaign, &["--format", "html"]);
    for part in
        ["pay_amount · 达成目标的通话 10 笔合计", "promised 通话 6 笔合计</span>", "pay_date（promised 通话）按日期"]
    {
        assert!(html.contains(part), "{part}");
    }
    insta::assert_snapshot!("lets_report_html", html);
}

fn compile(text: &str) -> Program {
    let checked = check(vec![Source::new("promise.call", text)], &mut MemoryFiles::default());
    assert_eq!(checked.error_count(), 0, "{:?}", checked.diagnostics);
    callscript_compiler::lower::lower(&checked, checked.files[0].id)
}

fn program() -> Program {
    compile(SCRIPT)
}

/// The script with its amount let declared `sensitive`.
fn sensitive_amount() -> Program {
    let declared = "let pay_amount: money = 0";
    assert!(SCRIPT.contains(declared));
    let program = compile(&SCRIPT.replace(declared, "let pay_amount: money sensitive = 0"));
    assert!(program.scripts[0].slots.iter().any(|s| s.name == "pay_amount" && s.sensitive));
    program
}

/// Says yes to every question.
struct Agreeable;

impl Customer for Agreeable {
    fn answer(&mut self, _: &CallDriver, _: AskId, _: u64) -> Turn {
        Turn::Say { text: "是的".into(), emotion: None }
    }
}

fn agreeable_call(program: Program) -> Vec<LetResult> {
    let exec = Executable::new(program).unwrap();
    let inputs = vec![
        ("customer_name".to_string(), Value::Text("张伟".into())),
        ("amount_due".to_string(), Value::Money(Money::parse("3500.00").unwrap())),
        ("due_date".to_string(), Value::Date(Date::parse("2026-11-25").unwrap())),
    ];
    let session = Session::start(exec, "promise", inputs, CallContext::default()).unwrap();
    let mut driver = CallDriver::new(session, None);
    virtual_time::converse(&mut driver, &mut Agreeable);
    let result = driver.result();
    assert_eq!(result.outcome.as_deref(), Some("promised"));
    result.lets
}

/// The call driver's result holds the lets (not the inputs) as the call left them, and a
/// sensitive let's value not at all.
#[test]
fn a_call_ends_with_its_lets_and_a_sensitive_one_is_masked() {
    let lets = agreeable_call(program());
    let plain = |name: &str, ty, value: &str| LetResult { name: name.into(), ty, value: Some(value.into()) };
    assert_eq!(lets, [plain("pay_amount", Type::Money, "3500.00"), plain("pay_date", Type::Date, "2026-11-25")]);
    let lets = agreeable_call(sensitive_amount());
    assert_eq!(lets[0], LetResult { name: "pay_amount".into(), ty: Type::Money, value: None });
    assert_eq!(lets[0].shown(), MASKED);
    assert_eq!(lets[1], plain("pay_date", Type::Date, "2026-11-25"));
}

/// A whole campaign with a sensitive money let: its values reach neither the store file nor
/// the export (`****`) nor the report (not aggregated); the other let is reported as usual.
#[test]
fn a_sensitive_let_is_kept_nowhere() {
    let dir = scratch("lets-sensitive");
    let db = dir.path().join("campaign.db");
    let exec = Executable::new(sensitive_amount()).unwrap();
    let settings = parse_toml("campaign.toml", include_str!("lets/campaign.toml")).unwrap();
    let list = CustomerList::load_csv("customers.csv", CUSTOMERS, &exec.program.scripts[0], "cn").unwrap();
    let plan = Plan {
        campaign_id: "PROMISE_LETS".into(),
        customers: list,
        variants: vec![Variant::only(exec, "promise")],
        allowed: "{}".into(),
        list: "customers.csv".into(),
        settings,
    };
    let mut store = SqliteStore::open(&db).unwrap();
    let mut telephony = SimTelephony::new(plan.settings.sim.clone(), 30_000);
    let start = "2026-11-24T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond();
    let mut clock = VirtualClock::new(start);
    let options = RunOptions { clock: &mut clock, stop: Arc::new(AtomicBool::new(false)), on_progress: None };
    run(&plan, &mut store, &mut telephony, false, options).unwrap();
    let rows = store.attempt_rows("PROMISE_LETS").unwrap();
    drop(store);

    let due = promises_due();
    let goals = rows.iter().filter(|r| r.goal).count() as u64;
    assert!(goals >= 5, "the fixture exercises too little");
    let mut stored = Vec::new();
    for suffix in ["", "-wal"] {
        stored.extend(std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);
    for r in rows.iter().filter(|r| r.goal) {
        let amount = due[&r.customer_id].0.to_string();
        assert!(!stored.contains(&amount), "{amount} of {} is in the store", r.customer_id);
    }

    let csv = report::attempts_csv(&rows);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    for record in reader.records() {
        let r = record.unwrap();
        let answered = matches!(&r[4], "answered" | "customer_hangup");
        assert_eq!(&r[9], if answered { MASKED } else { "" }, "{r:?}");
    }
    let summary = report::build("PROMISE_LETS", &rows, &[]);
    let names: Vec<&str> = summary.lets.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["pay_date"], "only the lets that are not sensitive are aggregated");
    assert_eq!(summary.lets[0].all.goal_calls_with_value, goals);
}

/// A let computed from a sensitive input is sensitive too (§9.5): its value is not kept with
/// the call, and the transcript masks it where it is spoken.
#[test]
fn a_let_computed_from_a_sensitive_input_is_masked() {
    let text = r#"use std.zh.common
script tail_check {
  purpose service
  input { account_tail: text sensitive }
  let said_tail: text = ""
  outcomes { done goal }
  opening {
    say "您好,本次通话将被录音。"
    ask "请问您是本人吗?" {
      on yes => { verify; set said_tail = "尾号" + account_tail; say "您的账户{{said_tail}}。"; hangup done }
      on _ => hangup done
    }
  }
  objection { on emotion angry, complaint => transfer "senior" }
}
"#;
    let checked = check(vec![Source::new("t.call", text)], &mut MemoryFiles::default());
    assert_eq!(checked.error_count(), 0, "{:?}", checked.diagnostics);
    let exec = Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap();
    let inputs = vec![("account_tail".to_string(), Value::Text("8831".into()))];
    let session = Session::start(exec, "tail_check", inputs, CallContext::default()).unwrap();
    let mut driver = CallDriver::new(session, None);
    virtual_time::converse(&mut driver, &mut Agreeable);
    let result = driver.result();
    assert_eq!(result.lets, [LetResult { name: "said_tail".into(), ty: Type::Text, value: None }]);
    let transcript = serde_json::to_string(&result.transcript).unwrap();
    assert!(!transcript.contains("8831") && transcript.contains("您的账户*"), "{transcript}");
}
