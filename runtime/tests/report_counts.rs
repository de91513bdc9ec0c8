//! A report from the store's tallied attempts (`Store::attempt_counts`) is the report of its
//! attempts one at a time (`ReportBuilder::add`, the reference), on both stores, over attempts
//! as varied as a campaign makes them: every disposition, goals and not, failed transfers,
//! segments, zones, lists and scripts (some unknown), lets of each type (masked, unreadable, a
//! let whose type changed between scripts), actions that failed, tags, objections, empty and
//! unreadable lists, live attempts and another campaign's between them.

use callscript_runtime::report::{self, ReportBuilder};
use callscript_runtime::store::{
    Finished, NewAttempt, PostgresStore, SqliteStore, Store, StoredAction, StoredLet, StoredMessage,
};

#[path = "support/postgres_server.rs"]
mod postgres_server;
#[path = "support/scratch.rs"]
mod scratch;

#[path = "support/pick.rs"]
mod pick;
use pick::Pick;

fn text_list(pick: &mut Pick, items: &[&str], most: u64) -> String {
    let n = pick.next() % (most + 1);
    let chosen: Vec<String> = (0..n).map(|_| format!("{:?}", pick.of(items))).collect();
    format!("[{}]", chosen.join(","))
}

/// Fills `store` with `n` attempts of campaign `c` and a few of campaign `other` between them.
fn fill(store: &mut dyn Store, n: usize) {
    let mut pick = Pick(42);
    store.save_campaign("c", "x", "s", 0, "{}").unwrap();
    store.save_campaign("other", "x", "s", 0, "{}").unwrap();
    let steps = [
        "[\"opening\",\"core.remind\",\"closing.thanks\"]",
        "[\"opening\",\"core.lookup\",\"core.remind\",\"core.remind\",\"core.confirm\"]",
        "[\"opening\",\"closing.wrong_person\"]",
        "[\"opening\",\"book_callback\",\"opening\",\"core.remind\"]",
        "[\"core.remind\",\"opening\"]",
        "[]",
        "",
        "not json",
    ];
    let dispositions = ["answered", "answered", "customer_hangup", "busy", "no_answer", "failed", "invalid_number"];
    let outcomes: [Option<&str>; 7] = [
        Some("promised"),
        Some("hardship"),
        Some("refused"),
        Some("transferred"),
        Some("transfer_failed"),
        Some("wrong_person"),
        None,
    ];
    for i in 0..n {
        let campaign = if i % 17 == 5 { "other" } else { "c" };
        let customer = Box::leak(format!("cust{}", pick.next() % (n as u64 / 2 + 1)).into_boxed_str());
        let local_time = match i % 41 {
            0 => "2026-1".to_string(),
            1 => "20261124T0900".to_string(),
            _ => format!("2026-11-{:02}T{:02}:{:02}:00+08:00", 20 + pick.next() % 5, 9 + i % 4, i % 60),
        };
        let attempt = NewAttempt {
            campaign,
            customer_id: customer,
            phone: "+8613800000001",
            attempt: 1 + (i % 3) as u32,
            started_ms: i as i64,
            local_date: local_time.chars().take(10).collect(),
            local_hour: 9 + (i % 4) as i64,
            local_time,
            script_sha256: "x",
            allowed: "{}",
            segment: [None, Some("overdue"), Some("vip")][i % 3],
            zone: pick.of(&["Asia/Shanghai", "Europe/London"]),
            list: pick.of(&["customers.csv", "more.csv"]),
            variant: pick.of(&["loan_reminder", "loan_reminder_b"]),
        };
        store.begin().unwrap();
        let id = match store.begin_attempt(&attempt) {
            Ok(id) => id,
            // The same (customer, attempt) drawn twice.
            Err(_) => {
                store.commit().unwrap();
                continue;
            }
        };
        if i % 29 == 3 {
            // Live: not reported.
            store.commit().unwrap();
            continue;
        }
        let disposition = pick.of(&dispositions);
        let connected = matches!(disposition, "answered" | "customer_hangup");
        let outcome = if connected { *pick.of(&outcomes.iter().collect::<Vec<_>>()) } else { None };
        let goal = matches!(outcome, Some("promised" | "hardship"));
        let mut lets = Vec::new();
        if connected {
            let l = |name: &str, ty: &str, value: Option<String>| StoredLet { name: name.into(), ty: ty.into(), value };
            let amount = format!("{}.{:02}", pick.next() % 5000, pick.next() % 100);
            let money = match i % 23 {
                0 => "12 元".to_string(),
                1 => "92233720368547758.07".to_string(),
                _ => amount,
            };
            let date = format!("2026-12-{:02}", 1 + pick.next() % 4);
            let date = if i % 31 == 0 { "someday".to_string() } else { date };
            // Two versions of the script: the second declares its lets in another order, adds
            // one, and made `code` text.
            if i < n / 2 {
                lets.push(l("pay_amount", "money", Some(money)));
                lets.push(l("pay_date", "date", pick.chance(80).then_some(date)));
                lets.push(l("id_tail", "text", None));
                lets.push(l("code", "int", Some((pick.next() % 4).to_string())));
            } else {
                lets.push(l("channel", "text", Some(pick.of(&["app", "sms", "call"]).to_string())));
                lets.push(l("pay_date", "date", Some(date)));
                lets.push(l("pay_amount", "money", pick.chance(90).then_some(money)));
                lets.push(l("code", "text", Some(pick.of(&["a", "b"]).to_string())));
                lets.push(l("kept", "bool", Some(pick.of(&["true", "false"]).to_string())));
            }
        }
        let actions = if connected && pick.chance(60) {
            (0..1 + pick.next() % 3)
                .map(|_| {
                    let ok = pick.chance(80);
                    StoredAction {
                        name: pick.of(&["balance_lookup", "promise"]).to_string(),
                        ok,
                        latency_ms: if ok { 100 + (pick.next() % 7) as i64 * 50 } else { 2000 },
                        cause: (!ok).then(|| pick.of(&["no answer within 2000 ms", "HTTP status 503"]).to_string()),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let messages = if goal {
            vec![StoredMessage {
                text: "尾号****".into(),
                status: pick.of(&["sent", "failed", "simulated"]).to_string(),
                cause: None,
            }]
        } else {
            Vec::new()
        };
        let finished = if i % 37 == 7 {
            // A result with nothing but its disposition (empty lists, no details).
            Finished { disposition: disposition.to_string(), ..Finished::default() }
        } else {
            Finished {
                disposition: disposition.to_string(),
                cause: match outcome {
                    Some("transfer_failed") => {
                        pick.chance(80).then(|| pick.of(&["busy agents", "no agent"]).to_string())
                    }
                    _ => pick.chance(30).then(|| "sip 486".to_string()),
                },
                outcome: outcome.map(String::from),
                goal,
                ended_ms: i as i64 + 1,
                talk_ms: if connected { (pick.next() % 90_000) as i64 } else { 0 },
                last_step: pick.chance(90).then(|| pick.of(&["opening", "core.remind", "closing.thanks"]).to_string()),
                steps: if connected { pick.of(&steps).to_string() } else { "[]".into() },
                tags: text_list(&mut pick, &["hardship_plan", "partial_payment", "promised_today"], 3),
                objections: text_list(&mut pick, &["busy", "repeat", "who", "emotion angry"], 2),
                unrecognised: text_list(&mut pick, &["我在吃饭", "今天天气不错"], 2),
                transcript: "[{\"kind\":\"prompt\",\"text\":\"您好\"}]".into(),
                lets,
                actions,
                messages,
                ..Finished::default()
            }
        };
        store.finish_attempt(id, &finished).unwrap();
        store.commit().unwrap();
    }
}

/// The report both ways, as JSON: one attempt at a time, and from the grouped attempts.
fn both_ways(store: &dyn Store, campaign: &str, steps: &[String]) -> (String, String) {
    let mut one_by_one = ReportBuilder::default();
    store.each_attempt(campaign, &mut |r| one_by_one.add(&r)).unwrap();
    let mut grouped = ReportBuilder::default();
    grouped.add_counts(&store.attempt_counts(campaign).unwrap());
    (report::json(&one_by_one.finish(campaign, steps)), report::json(&grouped.finish(campaign, steps)))
}

fn same_reports(store: &dyn Store) {
    // Without the script's steps the funnel's steps come in the order calls reached them.
    for steps in [vec![], vec!["opening".to_string(), "core.remind".to_string()]] {
        for campaign in ["c", "other", "never"] {
            let (one_by_one, grouped) = both_ways(store, campaign, &steps);
            assert_eq!(one_by_one, grouped, "campaign {campaign}");
        }
    }
    // Each figure once: the halves a store reads at once are merged, not listed side by side.
    let counts = store.attempt_counts("c").unwrap();
    for (i, t) in counts.tallies.iter().enumerate() {
        let twin = counts.tallies[..i].iter().any(|u| (&u.by, &u.ending) == (&t.by, &t.ending));
        assert!(!twin, "{t:?} tallied twice");
    }
    for (i, g) in counts.groups.iter().enumerate() {
        assert!(!counts.groups[..i].iter().any(|h| h.happened == g.happened), "{g:?} grouped twice");
    }
    let (one_by_one, _) = both_ways(store, "c", &[]);
    for shown in ["transfer_failed", "busy agents", "pay_amount", "channel", "balance_lookup", "vip", "unknown"] {
        assert!(one_by_one.contains(shown), "{shown} not in\n{one_by_one}");
    }
}

#[test]
fn grouped_attempts_make_the_report_of_each_attempt_on_sqlite() {
    let dir = scratch::scratch("report-counts");
    let mut store = SqliteStore::open(&dir.path().join("campaign.db")).unwrap();
    fill(&mut store, 3_000);
    same_reports(&store);
}

#[test]
fn grouped_attempts_make_the_report_of_each_attempt_on_postgres() {
    let Some(url) = postgres_server::database("report_counts") else { return };
    let mut store = PostgresStore::connect(&url).unwrap();
    fill(&mut store, 1_000);
    same_reports(&store);
}
