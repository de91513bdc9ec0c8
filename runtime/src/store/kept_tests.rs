//! The SQLite store's kept tallies (`report_tallies`, schema 10) against the attempts they
//! tally: after any sequence of live, ended, recorded and interrupted attempts, batches
//! committed or lost to a crash, reopened stores and stores whose tallies predate them (an
//! older store), `attempt_counts` from the tallies is what counting every attempt gives
//! (`count_attempts`, the full scan), and its report the report of each attempt.

use proptest::prelude::*;

use super::*;
use crate::report::{ReportBuilder, json};
use crate::store::AttemptCounts;

#[path = "../../tests/support/pick.rs"]
mod pick;
use pick::Pick;

const CAMPAIGNS: [&str; 2] = ["c", "d"];

/// Where attempt `attempt` of a customer picked from `pick` was placed.
fn placed(pick: &mut Pick, campaign: &'static str, attempt: u32) -> NewAttempt<'static> {
    let customer = pick.of(&["a", "b", "c", "d", "e", "f", "g"]);
    let local_time =
        pick.of(&["2026-11-23T09:00:00+08:00", "2026-11-24T17:30:00+08:00", "2026-1", "二〇二六年十一月二十四日"]);
    NewAttempt {
        campaign,
        customer_id: customer,
        phone: "+8613800000001",
        attempt,
        started_ms: i64::from(attempt),
        local_time: local_time.into(),
        local_date: local_time.chars().take(10).collect(),
        local_hour: pick.of(&[9, 17]),
        script_sha256: "x",
        allowed: "{}",
        segment: pick.of(&[None, Some("overdue"), Some("")]),
        zone: pick.of(&["Asia/Shanghai", "Europe/London"]),
        list: "customers.csv",
        variant: pick.of(&["loan_reminder", "loan_reminder_b"]),
    }
}

/// How an attempt ended, as varied as the report reads it.
fn finished(pick: &mut Pick) -> Finished {
    let disposition = pick.of(&["answered", "customer_hangup", "busy", "no_answer", "failed"]);
    let connected = matches!(disposition, "answered" | "customer_hangup");
    let outcome =
        if connected { pick.of(&[Some("promised"), Some("refused"), Some("transfer_failed"), None]) } else { None };
    let goal = outcome == Some("promised");
    let l = |name: &str, ty: &str, value: Option<&str>| StoredLet {
        name: name.into(),
        ty: ty.into(),
        value: value.map(String::from),
    };
    let lets = if connected {
        let amount = pick.of(&["100.00", "250.50", "12 元"]);
        let date = pick.of(&[Some("2026-12-01"), Some("2026-12-02"), None]);
        match pick.next() % 3 {
            0 => vec![l("pay_amount", "money", Some(amount)), l("pay_date", "date", date), l("id_tail", "text", None)],
            1 => {
                vec![l("pay_date", "date", date), l("pay_amount", "money", Some(amount)), l("code", "text", Some("a"))]
            }
            _ => vec![l("code", "int", Some(pick.of(&["1", "2"])))],
        }
    } else {
        Vec::new()
    };
    let actions = (0..pick.next() % 3)
        .map(|_| {
            let ok = pick.chance(70);
            StoredAction {
                name: pick.of(&["balance_lookup", "promise"]).into(),
                ok,
                latency_ms: pick.of(&[100, 150, 2000]),
                cause: (!ok).then(|| "HTTP status 503".to_string()),
            }
        })
        .collect();
    let messages = (0..pick.next() % 2)
        .map(|_| StoredMessage { text: "尾号****".into(), status: pick.of(&["sent", "failed"]).into(), cause: None })
        .collect();
    Finished {
        disposition: disposition.into(),
        cause: pick.chance(50).then(|| pick.of(&["busy agents", "sip 486"]).to_string()),
        outcome: outcome.map(String::from),
        goal,
        ended_ms: 1,
        talk_ms: if connected { (pick.next() % 60_000) as i64 } else { 0 },
        last_step: pick.chance(80).then(|| pick.of(&["opening", "core.remind"]).to_string()),
        steps: pick.of(&["[\"opening\",\"core.remind\"]", "[\"core.remind\",\"opening\"]", "[]", ""]).into(),
        tags: pick.of(&["[]", "[\"hardship_plan\"]"]).into(),
        objections: pick.of(&["[]", "[\"busy\"]"]).into(),
        unrecognised: pick.of(&["[]", "[\"我在吃饭\"]"]).into(),
        transcript: "[]".into(),
        lets,
        actions,
        messages,
        ..Finished::default()
    }
}

#[derive(Clone, Debug)]
enum Step {
    Begin,
    Commit,
    /// An attempt begun (live), from a seed.
    Live(u64),
    /// A live attempt ended (or one already ended, again).
    Finish(u64),
    /// An attempt written once, ended.
    Record(u64),
    /// A resume's recovery of a campaign's live attempts.
    Interrupt(usize),
    /// The process dies (the open batch is lost) and the store is opened again.
    Crash,
    /// The store's tallies predate its attempts, as an older callscript's store has none.
    Untallied,
    /// A report.
    Report,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Begin),
        2 => Just(Step::Commit),
        3 => any::<u64>().prop_map(Step::Live),
        3 => any::<u64>().prop_map(Step::Finish),
        6 => any::<u64>().prop_map(Step::Record),
        1 => (0..2usize).prop_map(Step::Interrupt),
        1 => Just(Step::Crash),
        1 => Just(Step::Untallied),
        2 => Just(Step::Report),
    ]
}

/// The counts with their tallies in one order (a store gives them in none).
fn sorted(mut c: AttemptCounts) -> AttemptCounts {
    c.tallies.sort_by_cached_key(|t| format!("{t:?}"));
    c
}

/// The tallies kept, the attempts counted one by one, and each attempt's report agree.
fn same_counts(store: &SqliteStore) {
    for campaign in CAMPAIGNS {
        let kept = store.attempt_counts(campaign).unwrap();
        let mut scanned = Counter::default();
        store.scan(|| store.count_attempts(campaign, &mut scanned)).unwrap();
        let scanned = scanned.finish();
        let mut one_by_one = ReportBuilder::default();
        store.each_attempt(campaign, &mut |r| one_by_one.add(&r)).unwrap();
        let mut from_kept = ReportBuilder::default();
        from_kept.add_counts(&kept);
        let (kept, scanned) = (sorted(kept), sorted(scanned));
        assert_eq!(kept, scanned, "campaign {campaign}");
        assert_eq!(json(&from_kept.finish(campaign, &[])), json(&one_by_one.finish(campaign, &[])));
    }
}

fn live_ids(store: &SqliteStore) -> Vec<i64> {
    store.rows("SELECT id FROM attempts WHERE state = 'live' ORDER BY id", [], |r| r.get(0)).unwrap()
}

fn run(steps: &[Step]) {
    let dir = crate::scratch::scratch("store-kept");
    let path = dir.path().join("campaign.db");
    let mut store = SqliteStore::open(&path).unwrap();
    for campaign in CAMPAIGNS {
        store.save_campaign(campaign, "x", "s", 0, "{}").unwrap();
    }
    let mut live: Vec<i64> = Vec::new();
    // Attempt numbers never repeat, so no (customer, attempt) is drawn twice.
    let mut attempt = 0u32;
    for step in steps {
        match step {
            Step::Begin => store.begin().unwrap(),
            Step::Commit => store.commit().unwrap(),
            Step::Live(seed) => {
                let mut pick = Pick(*seed);
                attempt += 1;
                let campaign = pick.of(&CAMPAIGNS);
                live.push(store.begin_attempt(&placed(&mut pick, campaign, attempt)).unwrap());
            }
            Step::Finish(seed) => {
                let mut pick = Pick(*seed);
                let Some(&id) = live.get((pick.next() % (live.len() as u64 + 1)) as usize).or(live.first()) else {
                    continue;
                };
                store.finish_attempt(id, &finished(&mut pick)).unwrap();
                // Kept in the list now and then: a result that arrives twice is stored once.
                if pick.chance(80) {
                    live.retain(|l| *l != id);
                }
            }
            Step::Record(seed) => {
                let mut pick = Pick(*seed);
                attempt += 1;
                let campaign = pick.of(&CAMPAIGNS);
                store.record_attempt(&placed(&mut pick, campaign, attempt), &finished(&mut pick)).unwrap();
            }
            Step::Interrupt(c) => _ = store.interrupt_live(CAMPAIGNS[*c]).unwrap(),
            Step::Crash => {
                drop(store);
                store = SqliteStore::open(&path).unwrap();
                live = live_ids(&store);
            }
            Step::Untallied => store.conn.execute_batch("DELETE FROM report_tallied").unwrap(),
            Step::Report => same_counts(&store),
        }
    }
    same_counts(&store);
    store.commit().unwrap();
    drop(store);
    same_counts(&SqliteStore::open(&path).unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn kept_tallies_count_what_the_attempts_do(steps in prop::collection::vec(step(), 1..48)) {
        run(&steps);
    }
}

/// A store of schema 9 (before kept tallies) with ended, live and unknown attempts: its first
/// report counts the attempts and keeps their tallies, which later attempts add to.
#[test]
fn an_older_stores_tallies_are_kept_by_its_first_report() {
    let dir = crate::scratch::scratch("store-kept-old");
    let path = dir.path().join("campaign.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        for (i, sql) in MIGRATIONS[..9].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1)).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO campaigns VALUES ('c', 'x', 's', 0, 0, '{}');
             INSERT INTO attempts (id, campaign, customer_id, phone, attempt, started_ms, local_time, local_date,
             local_hour, state, disposition, outcome, goal, ended_ms, talk_ms, script_sha256, zone, variant)
             VALUES (1, 'c', 'a', '+8613800000001', 1, 1, '2026-11-23T09:00:00+08:00', '2026-11-23', 9,
             'ended', 'answered', 'promised', 1, 2, 30000, 'x', 'Asia/Shanghai', 'v'),
             (2, 'c', 'b', '+8613800000002', 1, 1, '2026-11-23T09:00:00+08:00', '2026-11-23', 9,
             'live', NULL, NULL, 0, NULL, 0, 'x', NULL, NULL),
             (3, 'c', 'c', '+8613800000003', 1, 1, '2026-11-24T10:00:00+08:00', '2026-11-24', 10,
             'archived', 'busy', NULL, 0, 2, 0, 'x', NULL, NULL);
             INSERT INTO attempt_details VALUES (1, '[\"opening\"]', '[]', '[]', '[]', '[]');
             INSERT INTO attempt_lets VALUES (1, 0, 'pay_amount', 'money', '100.00');",
        )
        .unwrap();
    }
    let mut store = SqliteStore::open(&path).unwrap();
    let tallied = |store: &SqliteStore| -> i64 {
        store.conn.query_row("SELECT COUNT(*) FROM report_tallied WHERE campaign = 'c'", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(tallied(&store), 0);
    same_counts(&store);
    assert_eq!(tallied(&store), 1, "the first report kept the tallies");
    assert_eq!(store.attempt_counts("c").unwrap().unknown_states, 1);
    store.finish_attempt(2, &finished(&mut Pick(7))).unwrap();
    store.record_attempt(&placed(&mut Pick(8), "c", 2), &finished(&mut Pick(9))).unwrap();
    same_counts(&store);
}

/// A report of a store whose tallies are not kept yet, while a run holds the write lock: it
/// counts the attempts at once (it does not wait for the lock) and keeps nothing.
#[test]
fn a_report_does_not_wait_for_a_run_to_keep_tallies() {
    let dir = crate::scratch::scratch("store-kept-busy");
    let path = dir.path().join("campaign.db");
    let mut run = SqliteStore::open(&path).unwrap();
    run.record_attempt(&placed(&mut Pick(1), "c", 1), &finished(&mut Pick(2))).unwrap();
    run.begin().unwrap();
    run.record_attempt(&placed(&mut Pick(3), "c", 2), &finished(&mut Pick(4))).unwrap();
    let report = SqliteStore::open(&path).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(report.attempt_counts("c").unwrap().groups.iter().map(|g| g.attempts).sum::<u64>(), 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    run.commit().unwrap();
    let tallied: i64 = report.conn.query_row("SELECT COUNT(*) FROM report_tallied", [], |r| r.get(0)).unwrap();
    assert_eq!(tallied, 0);
    same_counts(&report);
    let tallied: i64 = report.conn.query_row("SELECT COUNT(*) FROM report_tallied", [], |r| r.get(0)).unwrap();
    assert_eq!(tallied, 1, "kept once the run let go");
}
