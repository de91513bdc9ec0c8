//! `kill -9` at 20 points of a running campaign, then a restart: the attempts export shows no
//! (customer, attempt) twice, no customer over budget or cap, no call outside the window in
//! the customer's local time, every answered call has its lets, and the JSON report agrees
//! with the export.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "support/scratch.rs"]
mod scratch;
use scratch::scratch;

const SCRIPT: &str = include_str!("../examples/loan_reminder/loan_reminder.call");
const ZONES: &[&str] = &["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Sydney"];

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_callscript")
}

fn setup(dir: &Path, customers: usize) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("loan_reminder.call"), SCRIPT).unwrap();
    let mut csv = String::from("id,phone,customer_name,days_overdue,amount_due,account_tail,timezone\n");
    for i in 0..customers {
        csv.push_str(&format!(
            "c{i},{},客户{i},{},{}.00,{:04},{}\n",
            13_900_000_000u64 + i as u64,
            3 + i % 20,
            200 + i,
            i % 10_000,
            ZONES[i % ZONES.len()]
        ));
    }
    std::fs::write(dir.join("customers.csv"), csv).unwrap();
    std::fs::write(
        dir.join("campaign.toml"),
        "task_id = \"CRASH\"\nscript = \"loan_reminder.call\"\ncustomers = \"customers.csv\"\n\
         [schedule]\nstart_time = \"09:00\"\nend_time = \"18:00\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
         max_concurrent = 20\ncalls_per_second = 5\n[retry]\nmax_attempts = 3\non = [\"busy\", \"no_answer\", \"failed\"]\nbackoff = \"30m\"\n\
         [limits]\nper_customer_per_day = 1\nper_customer_per_7_days = 3\n[store]\nurl = \"sqlite://campaign.db\"\n\
         [actions.balance_lookup]\nurl = \"http://127.0.0.1:9300/balance\"\nsim = { balance = \"900.00\", due = \"2026-11-30\" }\n\
         [sms]\nurl = \"http://127.0.0.1:9400/sms\"\n",
    )
    .unwrap();
}

fn run_args(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["run", "campaign.toml", "--start", "2026-11-23T00:00:00Z", "-q"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn output(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn check_export(dir: &Path) -> usize {
    let csv = output(dir, &["report", "campaign.toml", "--attempts"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "customer_id,attempt,started_at,local_time,disposition,outcome,talk_seconds,last_step,cause,\
             let.balance,let.promised_date,let.promised_amount,actions,sms"
        )
    );
    let mut seen = HashSet::new();
    let mut per_customer: HashMap<String, u32> = HashMap::new();
    let mut per_day: HashMap<(String, String), u32> = HashMap::new();
    let mut dispositions: HashMap<String, u64> = HashMap::new();
    let mut rows = 0;
    for line in lines {
        rows += 1;
        let f: Vec<&str> = line.split(',').collect();
        let (id, attempt, local, disposition) = (f[0].to_string(), f[1].parse::<u32>().unwrap(), f[3], f[4]);
        assert!(seen.insert((id.clone(), attempt)), "({id}, {attempt}) twice");
        *per_customer.entry(id.clone()).or_insert(0) += 1;
        *dispositions.entry(disposition.to_string()).or_insert(0) += 1;
        // local_time is ISO 8601 with the customer's offset: check the window and the day.
        let zoned: jiff::Timestamp = local.parse().unwrap();
        let date: jiff::civil::Date = local[..10].parse().unwrap();
        let (h, m): (u32, u32) = (local[11..13].parse().unwrap(), local[14..16].parse().unwrap());
        assert!((9 * 60..18 * 60).contains(&(h * 60 + m)), "{id} #{attempt} at {local} is outside 09:00–18:00");
        assert!(date.weekday().to_monday_one_offset() <= 5, "{id} #{attempt} on a weekend: {local}");
        let _ = zoned;
        *per_day.entry((id, date.to_string())).or_insert(0) += 1;
    }
    assert!(per_customer.values().all(|n| *n <= 3), "a customer is over the retry budget");
    assert!(per_day.values().all(|n| *n <= 1), "a customer was called twice in a local day");
    let json: serde_json::Value =
        serde_json::from_str(&output(dir, &["report", "campaign.toml", "--format", "json"])).unwrap();
    assert_eq!(json["attempts"], rows as u64, "the JSON report disagrees with the export");
    // A call's lets are stored with its result, in the same commit: none is lost or half kept.
    let store = callscript_runtime::store::SqliteStore::open_existing(&dir.join("campaign.db")).unwrap();
    for r in callscript_runtime::store::Store::attempt_rows(&store, "CRASH").unwrap() {
        let connected = r.disposition == "answered" || r.disposition == "customer_hangup";
        let interrupted = r.cause.as_deref() == Some("interrupted");
        if connected || interrupted {
            let names: Vec<&str> = r.lets.iter().map(|l| l.name.as_str()).collect();
            let expected: &[&str] = if connected { &["balance", "promised_date", "promised_amount"] } else { &[] };
            assert_eq!(names, expected, "{} #{}", r.customer_id, r.attempt);
        }
    }
    for (name, count) in &dispositions {
        assert_eq!(json["dispositions"][name], *count, "disposition {name}");
    }
    rows
}

#[test]
fn kill_nine_at_twenty_points_then_resume() {
    let straight_tmp = scratch("crash-straight");
    let straight = straight_tmp.path();
    setup(straight, 1200);
    let started = std::time::Instant::now();
    let status = run_args(straight).status().unwrap();
    assert!(status.success());
    let full_run = started.elapsed();
    let straight_rows = check_export(straight);
    assert!(straight_rows >= 1200);

    // Kill points spread over the run's length (deterministic pseudo-random spread).
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for k in 0..20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = Duration::from_micros(x % (full_run.as_micros() as u64 + 1));
        let tmp = scratch(&format!("crash-kill{k}"));
        let dir = tmp.path();
        setup(dir, 1200);
        let mut child = run_args(dir).spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let resumed = run_args(dir).output().unwrap();
        assert!(resumed.status.success(), "resume after kill {k}: {}", String::from_utf8_lossy(&resumed.stderr));
        let rows = check_export(dir);
        assert!(rows >= 1200, "kill {k}: only {rows} attempts");
    }
}

/// Ctrl-C (SIGINT) stops placing calls, lets live calls finish, exits 0, and a second run
/// resumes to the end without breaking a rule.
#[test]
fn ctrl_c_stops_cleanly_and_the_campaign_resumes() {
    let tmp = scratch("crash-sigint");
    let dir = tmp.path();
    setup(dir, 300);
    // Paced virtual time, so the run is still going when the signal arrives.
    let child = Command::new(bin())
        .args(["run", "campaign.toml", "--start", "2026-11-23T00:00:00Z", "-q", "--speed", "20000"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("stopped: live calls finished"), "{text}");
    let resumed = run_args(dir).output().unwrap();
    assert!(resumed.status.success());
    assert!(check_export(dir) >= 300);
}

/// stderr with the run's own directory, process id, host and lease times replaced, for
/// snapshots.
fn redact(text: &[u8], dir: &Path) -> String {
    let mut text = String::from_utf8_lossy(text).replace(&dir.display().to_string(), "[dir]");
    let after = |text: &str, prefix: &str, stop: fn(char) -> bool| -> Option<String> {
        let rest = text.split(prefix).nth(1)?;
        Some(rest.chars().take_while(|c| !stop(*c)).collect())
    };
    if let Some(pid) = after(&text, "process ", |c| !c.is_ascii_digit()) {
        text = text.replace(&format!("process {pid} "), "process [pid] ");
    }
    if let Some(host) = after(&text, "on host ", |c| c == ' ') {
        text = text.replace(&format!("on host {host} "), "on host [host] ");
    }
    // Times such as 2026-12-03 09:10:00 UTC: 19 characters of digits and separators.
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut k = 0;
    while k < chars.len() {
        let is_time = chars.len() - k >= 23
            && chars[k..k + 19].iter().enumerate().all(|(n, c)| match n {
                4 | 7 => *c == '-',
                10 => *c == ' ',
                13 | 16 => *c == ':',
                _ => c.is_ascii_digit(),
            })
            && chars[k + 19..k + 23].iter().collect::<String>() == " UTC";
        if is_time {
            out.push_str("[time]");
            k += 23;
        } else {
            out.push(chars[k]);
            k += 1;
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A second `run` on a store another run is using is refused (exit 2), naming that process;
/// the first run is unharmed and finishes every customer. The store and its WAL are 0600.
#[test]
fn a_second_run_on_a_busy_store_is_refused_and_the_first_is_unharmed() {
    let tmp = scratch("crash-busy");
    let dir = tmp.path();
    setup(dir, 300);
    let first = Command::new(bin())
        .args(["run", "campaign.toml", "--start", "2026-11-23T00:00:00Z", "-q", "--speed", "20000"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run holds the store (its WAL exists).
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !dir.join("campaign.db-wal").exists() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let second = run_args(dir).output().unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", String::from_utf8_lossy(&second.stderr));
    let message = String::from_utf8_lossy(&second.stderr).to_string();
    assert!(message.contains(&format!("process {} ", first.id())), "{message}");
    insta::assert_snapshot!("second_run_refused", redact(&second.stderr, dir));
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(mode(&dir.join(format!("campaign.db{suffix}"))), 0o600, "campaign.db{suffix}");
    }
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "the first run was harmed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(check_export(dir) >= 300);
}

/// `report` of a campaign that never ran exits 2 and creates nothing; an empty or foreign
/// `campaign.db` is refused by `run` and `report` and left as it was.
#[test]
fn never_run_empty_and_foreign_stores_are_refused() {
    let tmp = scratch("crash-never");
    let dir = tmp.path();
    setup(dir, 3);
    let report = Command::new(bin()).args(["report", "campaign.toml"]).current_dir(dir).output().unwrap();
    assert_eq!(report.status.code(), Some(2));
    insta::assert_snapshot!("report_never_run", redact(&report.stderr, dir));
    assert!(!dir.join("campaign.db").exists(), "report created a store");

    std::fs::write(dir.join("campaign.db"), b"").unwrap();
    let run = run_args(dir).output().unwrap();
    assert_eq!(run.status.code(), Some(2));
    insta::assert_snapshot!("run_empty_store", redact(&run.stderr, dir));
    assert_eq!(std::fs::metadata(dir.join("campaign.db")).unwrap().len(), 0, "the empty file was touched");

    std::fs::write(dir.join("campaign.db"), "id,phone\nc1,+8613800000001\n").unwrap();
    let report = Command::new(bin()).args(["report", "campaign.toml"]).current_dir(dir).output().unwrap();
    assert_eq!(report.status.code(), Some(2));
    insta::assert_snapshot!("report_foreign_store", redact(&report.stderr, dir));
}

/// `report --attempts` to a full disk fails instead of passing a truncated file as success.
#[test]
fn a_report_to_a_full_disk_fails() {
    let tmp = scratch("crash-full");
    let dir = tmp.path();
    setup(dir, 20);
    assert!(run_args(dir).status().unwrap().success());
    let to_file = Command::new(bin())
        .args(["report", "campaign.toml", "--attempts", "-o", "/dev/full"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(to_file.status.code(), Some(2));
    insta::assert_snapshot!("report_to_full_file", redact(&to_file.stderr, dir));
    let to_stdout = Command::new(bin())
        .args(["report", "campaign.toml", "--attempts"])
        .current_dir(dir)
        .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(to_stdout.status.code(), Some(2));
    insta::assert_snapshot!("report_to_full_stdout", redact(&to_stdout.stderr, dir));
}
