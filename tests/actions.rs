//! Actions and text messages in campaigns (CAMPAIGN.md §5): what a script needs of its
//! campaign is checked before any call (E603 for a missing `[actions.NAME]` or `[sms]`, E604
//! for a bad `url` or a `sim` answer of the wrong type), and a simulated campaign answers the
//! script's actions from `sim` (failing at `fail_rate`), keeping each action call (latency, ok
//! or the cause), each message and each handed-over value in the attempt's stored transcript.

use std::path::Path;

use callscript_runtime::store::{SqliteStore, Store};

mod support;
use support::{callscript, scratch};
use tempfile::TempDir;

/// The campaign of `tests/actions/`, copied to a fresh folder removed with the guard.
fn copy(name: &str) -> TempDir {
    let dir = scratch(&format!("actions-{name}"));
    for f in ["remind.call", "campaign.toml", "customers.csv"] {
        std::fs::copy(Path::new("tests/actions").join(f), dir.path().join(f)).unwrap();
    }
    dir
}

/// `check` on the campaign with `edit` applied to its text: (exit code, output).
fn check_edited(name: &str, edit: impl Fn(String) -> String) -> (Option<i32>, String) {
    let dir = copy(name);
    let campaign = dir.path().join("campaign.toml");
    let text = std::fs::read_to_string(&campaign).unwrap();
    std::fs::write(&campaign, edit(text)).unwrap();
    let out = callscript(&["check", campaign.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn the_campaign_checks_clean() {
    let (code, out) = check_edited("clean", |t| t);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn what_the_script_needs_of_the_campaign_is_checked() {
    let without_action = |t: String| t.replace("[actions.balance_lookup]", "[actions.other]");
    let (code, out) = check_edited("no-action", without_action);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("E603") && out.contains("the script calls the action `balance_lookup`"), "{out}");

    let without_sms = |t: String| t.replace("[sms]\nurl = \"http://127.0.0.1:9400/sms\"\nsender = \"95555\"\n", "");
    let (code, out) = check_edited("no-sms", without_sms);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("E603") && out.contains("no `[sms]` gateway"), "{out}");

    let bad_sim = |t: String| t.replace("balance = \"1200.50\"", "balance = \"lots\"");
    let (code, out) = check_edited("bad-sim", bad_sim);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("E604") && out.contains("`lots` is not a `money`"), "{out}");

    let unanswered = |t: String| t.replace(", due = \"2026-12-01\"", "");
    let (code, out) = check_edited("unanswered", unanswered);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("E603") && out.contains("no answer for `due`"), "{out}");

    let bad_url = |t: String| t.replace("http://127.0.0.1:9300/balance", "ftp://bank/balance");
    let (code, out) = check_edited("bad-url", bad_url);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("E604") && out.contains("must start with http:// or https://"), "{out}");

    let bad_rate = |t: String| t.replace("fail_rate = 0.2", "fail_rate = 2");
    let (code, out) = check_edited("bad-rate", bad_rate);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("E604") && out.contains("fail_rate"), "{out}");
}

#[test]
fn a_simulated_campaign_answers_actions_from_sim_and_stores_them() {
    let dir = copy("run");
    let campaign = dir.path().join("campaign.toml");
    let out = callscript(&["run", campaign.to_str().unwrap(), "-q", "--start", "2026-11-24T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let store = SqliteStore::open_existing(&dir.path().join("campaign.db")).expect("the store");
    let rows = store.attempt_rows("ACTIONS_SIM").expect("attempts");
    assert_eq!(rows.len(), 40);
    let (mut ok, mut failed, mut sms, mut handed) = (0, 0, 0, 0);
    for row in &rows {
        let transcript = store.transcript("ACTIONS_SIM", &row.customer_id, row.attempt).unwrap().unwrap_or_default();
        let lines: Vec<serde_json::Value> = serde_json::from_str(&transcript).unwrap();
        let action = lines.iter().find(|l| l["kind"] == "action").expect("every answered call looks the balance up");
        assert_eq!(action["name"], "balance_lookup");
        assert_eq!(action["latency_ms"], 300, "virtual time: an action answers in 300 ms");
        if action["ok"] == true {
            ok += 1;
            assert_ne!(row.outcome.as_deref(), Some("unreachable"));
        } else {
            failed += 1;
            assert_eq!(action["cause"], "simulated failure (fail_rate)");
            assert_eq!(row.outcome.as_deref(), Some("unreachable"), "a failed lookup goes down `on failed`");
        }
        for line in &lines {
            if line["kind"] == "sms" {
                sms += 1;
                assert!(line["text"].as_str().unwrap().contains("前还款一千二百元五角"), "{line}");
                assert_eq!(row.outcome.as_deref(), Some("promised"));
            }
            if line["kind"] == "handover" && line["key"] == "amount" {
                handed += 1;
                assert_eq!(line["value"], "1200.50");
            }
        }
    }
    assert!(ok > 20 && failed > 2, "fail_rate 0.2 of 40 calls: {ok} ok, {failed} failed");
    assert!(sms > 0 && handed > 0, "{sms} messages, {handed} handovers");
    // The same calls and messages in their own tables: a simulated message is never sent.
    let stored_ok = rows.iter().flat_map(|r| &r.actions).filter(|a| a.ok).count();
    let stored_failed = rows.iter().flat_map(|r| &r.actions).filter(|a| !a.ok).count();
    assert_eq!((stored_ok, stored_failed), (ok, failed));
    let statuses: Vec<&str> = rows.iter().flat_map(|r| &r.messages).map(|m| m.status.as_str()).collect();
    assert_eq!(statuses.len(), sms);
    assert!(statuses.iter().all(|s| *s == "simulated"), "{statuses:?}");
    // The report counts them, with the causes of failure.
    let out = callscript(&["report", campaign.to_str().unwrap(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let action = &report["actions"][0];
    assert_eq!(
        (action["calls"].as_u64(), action["failed"].as_u64()),
        (Some((ok + failed) as u64), Some(failed as u64))
    );
    assert_eq!((action["latency_p50_ms"].as_u64(), action["latency_p95_ms"].as_u64()), (Some(300), Some(300)));
    assert_eq!(action["causes"][0], serde_json::json!(["simulated failure (fail_rate)", failed]));
    assert_eq!(report["messages"]["simulated"], sms);
    let table = callscript(&["report", campaign.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("balance_lookup") && table.contains("simulated"), "{table}");
}
