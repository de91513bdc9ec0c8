//! `kill -9` at 20 points of a running campaign, then a restart: the attempts export shows no
//! (customer, attempt) twice, no customer over budget or cap, no call outside the window in
//! the customer's local time, and the JSON report agrees with the export.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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
         [limits]\nper_customer_per_day = 1\nper_customer_per_7_days = 3\n[store]\nurl = \"sqlite://campaign.db\"\n",
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
        Some("customer_id,attempt,started_at,local_time,disposition,outcome,talk_seconds,last_step,cause")
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
    for (name, count) in &dispositions {
        assert_eq!(json["dispositions"][name], *count, "disposition {name}");
    }
    rows
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("callscript-crash-{name}-{}", std::process::id()))
}

#[test]
fn kill_nine_at_twenty_points_then_resume() {
    let straight = temp("straight");
    setup(&straight, 1200);
    let started = std::time::Instant::now();
    let status = run_args(&straight).status().unwrap();
    assert!(status.success());
    let full_run = started.elapsed();
    let straight_rows = check_export(&straight);
    assert!(straight_rows >= 1200);

    // Kill points spread over the run's length (deterministic pseudo-random spread).
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for k in 0..20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = Duration::from_micros(x % (full_run.as_micros() as u64 + 1));
        let dir = temp(&format!("kill{k}"));
        let _ = std::fs::remove_dir_all(&dir);
        setup(&dir, 1200);
        let mut child = run_args(&dir).spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let resumed = run_args(&dir).output().unwrap();
        assert!(resumed.status.success(), "resume after kill {k}: {}", String::from_utf8_lossy(&resumed.stderr));
        let rows = check_export(&dir);
        assert!(rows >= 1200, "kill {k}: only {rows} attempts");
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&straight);
}

/// Ctrl-C (SIGINT) stops placing calls, lets live calls finish, exits 0, and a second run
/// resumes to the end without breaking a rule.
#[test]
fn ctrl_c_stops_cleanly_and_the_campaign_resumes() {
    let dir = temp("sigint");
    let _ = std::fs::remove_dir_all(&dir);
    setup(&dir, 300);
    // Paced virtual time, so the run is still going when the signal arrives.
    let child = Command::new(bin())
        .args(["run", "campaign.toml", "--start", "2026-11-23T00:00:00Z", "-q", "--speed", "20000"])
        .current_dir(&dir)
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
    let resumed = run_args(&dir).output().unwrap();
    assert!(resumed.status.success());
    assert!(check_export(&dir) >= 300);
    let _ = std::fs::remove_dir_all(&dir);
}
