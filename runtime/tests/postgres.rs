//! The PostgreSQL store (CAMPAIGN.md §6) against a real server: the same contract as the
//! SQLite store's tests — an attempt once per (campaign, customer, attempt), results with their
//! lets, actions, messages and hand-overs read back, the run lease, the do-not-call list,
//! recordings and their audit log, migrations applied once and a newer schema refused.
//!
//! The server: `CALLSCRIPT_TEST_POSTGRES_URL` when set (CI may start one), else a throwaway
//! cluster made with the machine's `initdb` and run as `postgres` on a loopback port (as the
//! `postgres` user when the tests run as root). Without PostgreSQL the tests skip, unless
//! `CALLSCRIPT_REQUIRE_POSTGRES` is set (`.ci/run` sets it).

use callscript_runtime::store::{
    ExportRow, Finished, LeaseHolder, NewAttempt, PostgresStore, RecordingRow, Store, StoreError, StoredAction,
    StoredLet, StoredMessage,
};

#[path = "support/postgres_server.rs"]
mod postgres_server;

use postgres_server::database;

fn attempt(customer: &'static str, n: u32) -> NewAttempt<'static> {
    NewAttempt {
        campaign: "c",
        customer_id: customer,
        phone: "+8613800000001",
        attempt: n,
        started_ms: i64::from(n),
        local_time: "2026-11-23T09:00:00+08:00".into(),
        local_date: "2026-11-23".into(),
        local_hour: 9,
        script_sha256: "x",
        allowed: "{}",
        segment: Some("overdue"),
        zone: "Asia/Shanghai",
        list: "customers.csv",
        variant: "loan_reminder",
    }
}

#[test]
fn an_attempt_is_stored_once_and_read_back_with_everything_it_did() {
    let Some(url) = database("attempts") else { return };
    let mut store = PostgresStore::connect(&url).unwrap();
    store.save_campaign("c", "x", "s", 0, "{}").unwrap();
    store.begin().unwrap();
    let id = store.begin_attempt(&attempt("c1", 1)).unwrap();
    store.commit().unwrap();
    // The unique key: the same (campaign, customer, attempt) cannot be dialled twice.
    assert!(store.begin_attempt(&attempt("c1", 1)).is_err());
    let finished = Finished {
        disposition: "answered".into(),
        outcome: Some("promised".into()),
        goal: true,
        ended_ms: 5,
        talk_ms: 30_000,
        steps: "[\"opening\"]".into(),
        tags: "[]".into(),
        objections: "[]".into(),
        unrecognised: "[\"今天天气不错\"]".into(),
        transcript: "[{\"kind\":\"prompt\",\"text\":\"您好\"}]".into(),
        lets: vec![
            StoredLet { name: "pay_amount".into(), ty: "money".into(), value: Some("3500.00".into()) },
            StoredLet { name: "id_tail".into(), ty: "text".into(), value: None },
        ],
        actions: vec![StoredAction {
            name: "lookup".into(),
            ok: false,
            latency_ms: 2000,
            cause: Some("HTTP status 503".into()),
        }],
        messages: vec![StoredMessage { text: "尾号****".into(), status: "sent".into(), cause: None }],
        handover: vec![("reason".into(), "angry".into())],
        ..Finished::default()
    };
    store.finish_attempt(id, &finished).unwrap();
    // A result that arrives twice (after a crash) is not stored twice.
    store.finish_attempt(id, &finished).unwrap();
    let rows = store.attempt_rows("c").unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.customer_id.as_str(), r.attempt, r.outcome.as_deref(), r.goal), ("c1", 1, Some("promised"), true));
    assert_eq!(
        (r.lets.clone(), r.actions.clone(), r.messages.clone()),
        (finished.lets, finished.actions, finished.messages)
    );
    assert_eq!(store.transcript("c", "c1", 1).unwrap().as_deref(), Some(finished.transcript.as_str()));
    assert_eq!(store.past_attempts("c").unwrap()[0].disposition, "answered");
    assert_eq!(store.placed_by_phone_and_date().unwrap(), [("+8613800000001".into(), "2026-11-23".into(), 1)]);
    // A live attempt after a crash becomes failed/interrupted.
    let live = store.begin_attempt(&attempt("c2", 1)).unwrap();
    assert!(live > id);
    assert_eq!(store.interrupt_live("c").unwrap(), 1);
    assert_eq!(store.attempt_rows("c").unwrap()[1].cause.as_deref(), Some("interrupted"));
}

#[test]
fn the_run_lease_keeps_a_second_run_out() {
    let Some(url) = database("lease") else { return };
    let mut first = PostgresStore::connect(&url).unwrap();
    let mut second = PostgresStore::connect(&url).unwrap();
    let me = LeaseHolder::this_process("c", 1_000, 30_000);
    first.acquire_lease(&me).unwrap();
    let other = LeaseHolder { token: "elsewhere:1:0".into(), host: "elsewhere".into(), ..me.clone() };
    assert!(matches!(second.acquire_lease(&other), Err(StoreError::LeasedDatabase { .. })));
    first.renew_lease(&me, 2_000, 40_000).unwrap();
    assert!(matches!(second.renew_lease(&other, 2_000, 40_000), Err(StoreError::LeaseLostDatabase { .. })));
    first.release_lease(&me).unwrap();
    second.acquire_lease(&other).unwrap();
}

#[test]
fn dnc_recordings_and_the_export_log() {
    let Some(url) = database("misc") else { return };
    let mut store = PostgresStore::connect(&url).unwrap();
    assert!(store.dnc_add("+8613800000001", "import", 1).unwrap());
    assert!(!store.dnc_add("+8613800000001", "import", 2).unwrap(), "once");
    assert!(store.dnc().unwrap().contains("+8613800000001"));
    // `dnc list`, `export` and `remove` (CAMPAIGN.md §7) read and change the same table.
    assert!(store.dnc_add("+8613800000000", "import", 0).unwrap());
    let entries: Vec<(String, String, i64)> =
        store.dnc_entries().unwrap().into_iter().map(|e| (e.phone, e.source, e.added_ms)).collect();
    assert_eq!(entries, [("+8613800000000".into(), "import".into(), 0), ("+8613800000001".into(), "import".into(), 1)]);
    assert!(store.dnc_remove("+8613800000000").unwrap());
    assert!(!store.dnc_remove("+8613800000000").unwrap(), "no longer on the list");
    assert!(!store.dnc().unwrap().contains("+8613800000000"));
    let rec =
        RecordingRow { attempt_id: 3, campaign: "c".into(), path: "/r/c-3.csrec".into(), created_ms: 5, bytes: 99 };
    store.add_recording(&rec).unwrap();
    assert_eq!(store.recordings("c").unwrap(), vec![rec]);
    let export = ExportRow {
        id: 0,
        path: "/r/c-3.csrec".into(),
        attempt_id: Some(3),
        exported_ms: 7,
        exported_by: "ops".into(),
        destination: "/tmp/x.wav".into(),
        ok: true,
        error: None,
    };
    let id = store.log_export(&export).unwrap();
    assert_eq!(store.exports().unwrap(), vec![ExportRow { id, ..export }]);
    assert_eq!(store.campaign_ids().unwrap(), Vec::<String>::new());
}

#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let Some(url) = database("schema") else { return };
    // Two workers starting at once: each migration is applied once, and both connect.
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::connect(&url).map(|_| ()))
        })
        .collect();
    for r in racers {
        r.join().unwrap().unwrap();
    }
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let version: i64 = admin.query_one("SELECT version FROM callscript_schema", &[]).unwrap().get(0);
    assert_eq!(version, callscript_runtime::store::SCHEMA_VERSION);
    admin.batch_execute("UPDATE callscript_schema SET version = 99").unwrap();
    assert!(matches!(PostgresStore::connect(&url), Err(StoreError::NewerDatabase { found: 99, .. })));
}
