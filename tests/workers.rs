//! `callscript worker` processes on a real PostgreSQL (CAMPAIGN.md §6), end to end.
//!
//! The chaos test: three workers share a 20,000-customer simulated campaign while a random one
//! is killed with SIGKILL every second or two and started again. Afterwards the store holds
//! no (customer, attempt) twice, every rule of §3 held (window, caps, budget, CPS, lines), no
//! customer or attempt was lost, and every call that was not interrupted is the call a single
//! process places for that (customer, attempt) — `callscript run` on SQLite of the same input —
//! so the totals match but for the interrupted calls, each of which used an attempt.
//!
//! Also: SIGTERM drains a worker (its live calls finish, exit 0), and `--metrics` serves the
//! Prometheus text while it runs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use callscript_runtime::store::queue::SharedQueue;
use callscript_runtime::store::{AttemptRow, PostgresStore, SqliteStore, Store};

#[path = "../runtime/tests/support/postgres_server.rs"]
mod postgres_server;

#[path = "../runtime/tests/support/campaigns.rs"]
#[allow(dead_code)]
mod campaigns;

#[path = "support/scratch.rs"]
mod scratch;
use scratch::scratch;
use tempfile::TempDir;

const SCRIPT: &str = include_str!("../examples/loan_reminder/loan_reminder.call");
const START: &str = "2026-11-23T00:50:00Z";
/// Virtual milliseconds per wall millisecond: a campaign day (12 hours of window) in 29 s.
const SPEED: &str = "3000";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_callscript")
}

/// A campaign folder: the loan reminder, `customers` generated customers (some sharing a
/// phone, in three zones), on the store `url`; removed with the guard.
fn campaign(name: &str, customers: usize, url: &str) -> TempDir {
    let tmp = scratch(&format!("workers-{name}"));
    let dir = tmp.path();
    std::fs::write(dir.join("loan_reminder.call"), SCRIPT).unwrap();
    let mut csv = String::from("id,phone,customer_name,days_overdue,amount_due,account_tail,timezone\n");
    let zones = ["Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong"];
    for i in 0..customers {
        // One phone in twenty is shared by two customers: caps are per phone.
        let phone = 13_800_000_000u64 + if i % 20 == 19 { i as u64 - 1 } else { i as u64 };
        csv.push_str(&format!(
            "c{i},{phone},客户{i},{},{}.50,{:04},{}\n",
            3 + i % 30,
            100 + i,
            i % 10_000,
            zones[i % 3]
        ));
    }
    std::fs::write(dir.join("customers.csv"), csv).unwrap();
    let toml = format!(
        r#"task_id = "CHAOS"
script = "loan_reminder.call"
customers = "customers.csv"
jurisdiction = "cn"

[schedule]
start_time = "09:00"
end_time = "21:00"
timezone = "Asia/Shanghai"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
max_concurrent = 120
calls_per_second = 40

[retry]
max_attempts = 2
on = ["busy", "no_answer", "failed"]
backoff = "1h"

[limits]
per_customer_per_day = 2
per_customer_per_7_days = 4

[telephony]
kind = "sim"

[transfer]
collections_senior = "sip:7001@127.0.0.1:5090"

[actions.balance_lookup]
url = "http://127.0.0.1:9/balance"
sim = {{ balance = "1200.50", due = "2026-11-30", fail_rate = 0.05 }}

[sms]
url = "http://127.0.0.1:9/sms"
sender = "95555"

[store]
url = "{url}"
lease = "3s"

[sim]
seed = 17
"#
    );
    std::fs::write(dir.join("campaign.toml"), toml).unwrap();
    tmp
}

fn worker(dir: &Path, extra: &[&str]) -> Child {
    Command::new(bin())
        .args(["worker", "campaign.toml", "--speed", SPEED, "--start", START, "-q"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills the workers left when a test fails half way.
struct Workers(Vec<Option<Child>>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in self.0.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A small reproducible generator for the kills.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn calls(rows: &[AttemptRow]) -> BTreeMap<(String, u32), (String, Option<String>)> {
    rows.iter().map(|r| ((r.customer_id.clone(), r.attempt), (r.disposition.clone(), r.outcome.clone()))).collect()
}

#[test]
fn three_workers_killed_at_random_lose_nothing_and_keep_every_rule() {
    let Some(url) = postgres_server::database("chaos") else { return };
    let customers = 20_000;
    let tmp = campaign("chaos", customers, &url);
    let dir = tmp.path();
    let mut workers = Workers((0..3).map(|_| Some(worker(dir, &[]))).collect());
    let mut dice = Dice(0x5EED);
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut next_kill = Instant::now() + Duration::from_millis(1_500);
    // Kill until the campaign is nearly done; then let the workers finish it.
    let mut store = PostgresStore::connect(&url).unwrap();
    loop {
        assert!(Instant::now() < deadline, "the campaign did not finish in 10 minutes");
        let mut running = 0;
        for slot in workers.0.iter_mut() {
            let Some(child) = slot else { continue };
            match child.try_wait().unwrap() {
                None => running += 1,
                Some(status) => {
                    let mut err = String::new();
                    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                    assert!(status.success(), "a worker failed on its own ({status}): {err}");
                    *slot = None;
                }
            }
        }
        if running == 0 {
            break;
        }
        let state = store.queue_state("CHAOS").unwrap();
        if Instant::now() >= next_kill && state.open > 500 {
            let i = dice.below(3) as usize;
            if let Some(mut child) = workers.0[i].take() {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                workers.0[i] = Some(worker(dir, &[]));
            }
            next_kill = Instant::now() + Duration::from_millis(1_000 + dice.below(1_500));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(kills >= 5, "only {kills} kills: the campaign ended too soon to test anything");

    // Nothing lost: every customer is in the queue and done, no attempt is left live.
    let state = store.queue_state("CHAOS").unwrap();
    assert_eq!((state.open, state.live), (0, 0), "{state:?}");
    let rows = store.attempt_rows("CHAOS").unwrap();
    assert!(rows.iter().all(|r| r.state == "ended"));
    let called: HashSet<&str> = rows.iter().map(|r| r.customer_id.as_str()).collect();

    // Every rule, on the attempts of all workers (at most once per (customer, attempt) first).
    let (plan, _) = callscript::campaign::plan(&dir.join("campaign.toml"), None, None).unwrap();
    campaigns::check_rules(&plan, &rows);

    // The same input in one process.
    let single_tmp = campaign("single", customers, "sqlite://campaign.db");
    let single = single_tmp.path();
    let out = Command::new(bin())
        .args(["run", "campaign.toml", "--start", START, "-q"])
        .current_dir(single)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let alone = SqliteStore::open_existing(&single.join("campaign.db")).unwrap().attempt_rows("CHAOS").unwrap();
    let alone_called: HashSet<&str> = alone.iter().map(|r| r.customer_id.as_str()).collect();
    assert_eq!(called, alone_called, "the same customers were called");
    let interrupted: Vec<&AttemptRow> = rows.iter().filter(|r| r.cause.as_deref() == Some("interrupted")).collect();
    assert!(!interrupted.is_empty(), "{kills} kills interrupted no call");
    let touched: HashSet<&str> = interrupted.iter().map(|r| r.customer_id.as_str()).collect();
    let cut: HashSet<(&str, u32)> = interrupted.iter().map(|r| (r.customer_id.as_str(), r.attempt)).collect();
    let (ours, theirs) = (calls(&rows), calls(&alone));
    for (key, call) in &ours {
        if cut.contains(&(key.0.as_str(), key.1)) {
            continue;
        }
        // After an interrupted attempt a customer may have attempts one process never needed.
        match theirs.get(key) {
            Some(theirs) => assert_eq!(call, theirs, "{key:?}: not the call one process placed"),
            None => assert!(touched.contains(key.0.as_str()), "{key:?}: a call one process never placed"),
        }
    }
    // Customers no kill touched have exactly the attempts of the single run.
    let count = |rows: &BTreeMap<(String, u32), _>| {
        let mut n: HashMap<String, u32> = HashMap::new();
        for (id, _) in rows.keys() {
            *n.entry(id.clone()).or_default() += 1;
        }
        n
    };
    let (n_ours, n_theirs) = (count(&ours), count(&theirs));
    for (id, n) in &n_theirs {
        if !touched.contains(id.as_str()) {
            assert_eq!(n_ours.get(id), Some(n), "{id}");
        }
    }
    let goals = |rows: &[AttemptRow]| rows.iter().filter(|r| r.goal).count();
    eprintln!(
        "chaos: {kills} kills, {} attempts ({} interrupted, {} customers touched) vs {} alone; goals {} vs {}",
        rows.len(),
        interrupted.len(),
        touched.len(),
        alone.len(),
        goals(&rows),
        goals(&alone)
    );
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

#[test]
fn sigterm_drains_a_worker_that_serves_its_metrics_meanwhile() {
    let Some(url) = postgres_server::database("drain") else { return };
    let tmp = campaign("drain", 2_000, &url);
    let dir = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut workers = Workers(vec![Some(worker(dir, &["--metrics", &addr]))]);
    let until = Instant::now() + Duration::from_secs(30);
    let body = loop {
        assert!(Instant::now() < until, "no calls placed within 30 s");
        if std::net::TcpStream::connect(&addr).is_ok() {
            let (status, body) = get(&addr, "/metrics");
            if status == 200 && !body.contains("callscript_calls_placed_total{campaign=\"CHAOS\"} 0") {
                break body;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.contains("callscript_calls_live{campaign=\"CHAOS\"}"), "{body}");
    assert_eq!(get(&addr, "/healthz").0, 200);
    assert_eq!(get(&addr, "/readyz").0, 200);
    let mut child = workers.0[0].take().unwrap();
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "{status}: {out}");
    assert!(out.contains("drained: this worker leaves"), "{out}");
    // Drained: nothing left live, the campaign open for the next worker.
    let mut store = PostgresStore::connect(&url).unwrap();
    let state = store.queue_state("CHAOS").unwrap();
    assert_eq!(state.live, 0, "{state:?}");
    assert!(state.open > 0, "{state:?}");
    assert!(store.attempt_rows("CHAOS").unwrap().iter().all(|r| r.cause.as_deref() != Some("interrupted")));
}

/// What a user reads when a worker cannot start.
#[test]
fn a_worker_without_a_shared_store_or_a_fixed_speed_is_refused() {
    let run = |dir: &Path, args: &[&str]| {
        let out = Command::new(bin()).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap();
        format!("exit {}\n{}", out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr))
    };
    let sqlite_tmp = campaign("refused-sqlite", 3, "sqlite://campaign.db");
    let sqlite = sqlite_tmp.path();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap().to_string();
    let shared_tmp = campaign("refused-speed", 3, "postgres://callscript@127.0.0.1:9/none");
    let shared = shared_tmp.path();
    insta::assert_snapshot!(
        "worker_refusals",
        [
            run(sqlite, &["worker", "campaign.toml", "--speed", "60"]),
            run(shared, &["worker", "campaign.toml"]),
            run(shared, &["run", "campaign.toml"]),
            run(shared, &["worker", "campaign.toml", "--speed", "60"]),
            run(shared, &["worker", "campaign.toml", "--speed", "60", "--metrics", &taken]).replace(&taken, "ADDR"),
        ]
        .join("\n")
    );
    assert!(!sqlite.join("campaign.db").exists(), "a refused worker creates no store");
}
