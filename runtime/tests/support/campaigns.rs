//! What the campaign tests share: the loan reminder's program, generated customers (some
//! sharing a phone, in several zones), a campaign from a few numbers, and every rule of
//! CAMPAIGN.md §2–§3 checked on the stored attempts. Used by `campaign.rs` (one process,
//! SQLite) and `workers.rs` (several workers, PostgreSQL).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use callscript_compiler::check::check_source;
use callscript_runtime::campaign::customers::Customer;
use callscript_runtime::campaign::list::CustomerList;
use callscript_runtime::campaign::schedule::Window;
use callscript_runtime::campaign::{Campaign, parse_toml};
use callscript_runtime::scheduler::{Plan, Variant};
use callscript_runtime::store::AttemptRow;
use callscript_runtime::vm::Executable;
use jiff::Timestamp;
use jiff::tz::TimeZone;

const SCRIPT: &str = include_str!("../../../examples/loan_reminder/loan_reminder.call");
const ZONES: &[&str] = &["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata"];

pub fn exec() -> Arc<Executable> {
    let checked = check_source("loan_reminder.call", SCRIPT);
    assert_eq!(checked.error_count(), 0);
    Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap()
}

/// The loan reminder's B script, for A/B campaigns: the same inputs, a name and an opening of
/// its own.
pub fn exec_b() -> Arc<Executable> {
    let text = SCRIPT
        .replace("script loan_reminder \"逾期还款提醒\"", "script loan_reminder_b \"逾期还款提醒(B)\"")
        .replace(" for loan_reminder {", " for loan_reminder_b {")
        .replace("您好,这里是星海银行信用卡中心,本次通话将被录音。", "您好,星海银行信用卡中心来电,本次通话将被录音。");
    let checked = check_source("loan_reminder_b.call", &text);
    assert_eq!(checked.error_count(), 0);
    Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap()
}

/// [`plan`] as an A/B campaign: `share_a` percent of the customers to the loan reminder, the
/// rest to its B script.
pub fn ab_plan(case: &Case, share_a: u32) -> Plan {
    Plan {
        variants: vec![
            Variant::shared(exec(), "loan_reminder", share_a),
            Variant::shared(exec_b(), "loan_reminder_b", 100 - share_a),
        ],
        ..plan(case)
    }
}

pub fn customers(exec: &Executable, n: usize, seed: u64) -> CustomerList {
    let mut csv = String::from("id,phone,customer_name,days_overdue,amount_due,account_tail,timezone\n");
    for i in 0..n {
        // Some customers share a phone: caps and the do-not-call list are per phone.
        let phone = 13_800_000_000u64 + (i as u64 * 7 + seed) % (n as u64 * 9 / 10 + 1);
        let zone = ZONES[(i + seed as usize) % ZONES.len()];
        csv.push_str(&format!("c{i},{phone},客户{i},{},{}.50,{:04},{zone}\n", 3 + i % 30, 100 + i, i % 10_000));
    }
    CustomerList::load_csv("c.csv", &csv, &exec.program.scripts[0], "cn").unwrap()
}

#[derive(Clone, Debug)]
pub struct Case {
    pub start: u32,
    pub end: u32,
    pub days: Vec<&'static str>,
    pub max_concurrent: u32,
    pub cps: f64,
    pub max_attempts: u32,
    pub per_day: u32,
    pub per_week: u32,
    pub customers: usize,
    pub seed: u64,
}

pub fn campaign(case: &Case) -> Campaign {
    let days = case.days.iter().map(|d| format!("\"{d}\"")).collect::<Vec<_>>().join(", ");
    let text = format!(
        "task_id = \"T\"\nscript = \"s.call\"\n[schedule]\nstart_time = \"{:02}:{:02}\"\nend_time = \"{:02}:{:02}\"\ndays = [{days}]\nholidays = [\"2026-11-25\"]\nmax_concurrent = {}\ncalls_per_second = {}\n[retry]\nmax_attempts = {}\non = [\"busy\", \"no_answer\", \"failed\"]\nbackoff = \"20m\"\n[limits]\nper_customer_per_day = {}\nper_customer_per_7_days = {}\n[sim]\nseed = {}\n",
        case.start / 60,
        case.start % 60,
        case.end / 60,
        case.end % 60,
        case.max_concurrent,
        case.cps,
        case.max_attempts,
        case.per_day,
        case.per_week,
        case.seed
    );
    parse_toml("t.toml", &text).unwrap()
}

/// Every rule, checked on the stored attempts.
pub fn check_rules(plan: &Plan, rows: &[AttemptRow]) {
    let c = &plan.settings;
    let window = Window::from_schedule(&c.schedule);
    let all: Vec<Customer> = plan.customers.customers().collect();
    let by_id: HashMap<&str, &Customer> = all.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut seen = HashSet::new();
    let mut per_customer: HashMap<&str, u32> = HashMap::new();
    let mut per_phone_day: HashMap<(&str, String), u32> = HashMap::new();
    let mut starts: Vec<i64> = Vec::new();
    let mut intervals: Vec<(i64, i64)> = Vec::new();
    for r in rows {
        assert!(seen.insert((r.customer_id.as_str(), r.attempt)), "({}, {}) twice", r.customer_id, r.attempt);
        *per_customer.entry(&r.customer_id).or_insert(0) += 1;
        let cust = by_id[r.customer_id.as_str()];
        let tz = TimeZone::get(cust.timezone.as_deref().unwrap_or("Asia/Shanghai")).unwrap();
        let local = Timestamp::from_millisecond(r.started_ms).unwrap().to_zoned_datetime(tz);
        assert!(window.allows(&local), "{} attempt {} at {local} is outside the window", r.customer_id, r.attempt);
        *per_phone_day.entry((r.phone.as_str(), local.date().to_string())).or_insert(0) += 1;
        starts.push(r.started_ms);
    }
    for (id, n) in &per_customer {
        assert!(*n <= c.retry.max_attempts, "{id} has {n} attempts");
    }
    for ((phone, day), n) in &per_phone_day {
        assert!(*n <= c.limits.per_customer_per_day, "{phone} called {n} times on {day}");
    }
    // Rolling 7 local days per phone.
    let mut days_of: HashMap<&str, Vec<(jiff::civil::Date, u32)>> = HashMap::new();
    for ((phone, day), n) in &per_phone_day {
        days_of.entry(phone).or_default().push((day.parse().unwrap(), *n));
    }
    for (phone, days) in &days_of {
        for (d, _) in days {
            let from = d.checked_sub(jiff::Span::new().days(6)).unwrap();
            let total: u32 = days.iter().filter(|(x, _)| *x >= from && x <= d).map(|(_, n)| n).sum();
            assert!(total <= c.limits.per_customer_per_7_days, "{phone}: {total} calls in the 7 days to {d}");
        }
    }
    // calls_per_second: consecutive placements are at least one interval apart.
    starts.sort_unstable();
    let interval = (1000.0 / c.schedule.calls_per_second).ceil() as i64;
    for w in starts.windows(2) {
        assert!(w[1] - w[0] >= interval, "two calls {} ms apart", w[1] - w[0]);
    }
    // max_concurrent: sweep over starts and ends (an end frees its line before a start at the
    // same instant).
    for r in rows {
        intervals.push((r.started_ms, 1));
        intervals.push((r.ended_ms, -1));
    }
    intervals.sort_unstable();
    let mut live = 0i64;
    for (_, delta) in &intervals {
        live += delta;
        assert!(live <= c.schedule.max_concurrent as i64, "{live} calls live at once");
    }
}

/// A plan of `case` for the loan reminder.
pub fn plan(case: &Case) -> Plan {
    let exec = exec();
    Plan {
        campaign_id: "T".into(),
        customers: customers(&exec, case.customers, case.seed),
        settings: campaign(case),
        variants: vec![Variant::only(exec, "loan_reminder")],
        allowed: "{}".into(),
        list: "customers.csv".into(),
    }
}
