//! `callscript serve` end to end (CAMPAIGN.md §7): a simulated campaign's store served over
//! loopback; the wallboard's numbers follow a call's end within 2 s; transcripts and
//! recordings need the token; no page shows a sensitive value or a whole phone number; and,
//! in headless Chromium through chromedriver, a user searches the call list, opens a call and
//! plays its recording to the end.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use callscript_runtime::store::{Finished, NewAttempt, RecordingRow, SqliteStore, Store};
use callscript_runtime::telephony::recording::{RecordingKey, RecordingMeta, RecordingWriter};

#[path = "support/scratch.rs"]
mod scratch;
#[path = "support/webdriver.rs"]
mod webdriver;

use scratch::scratch;
use tempfile::TempDir;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const CUSTOMERS: usize = 60;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_callscript")
}

/// The account tail of customer `i`: distinctive, so a page that shows one is caught.
fn tail(i: usize) -> String {
    format!("7{i:03}")
}

/// The loan reminder with `CUSTOMERS` customers, run to its end on SQLite, with recordings
/// on (the simulator records nothing; the test writes one), in a folder removed with the guard.
fn campaign(name: &str) -> TempDir {
    let tmp = scratch(&format!("serve-{name}"));
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/loan_reminder");
    std::fs::copy(example.join("loan_reminder.call"), dir.join("loan_reminder.call")).unwrap();
    let toml = std::fs::read_to_string(example.join("campaign.toml")).unwrap();
    std::fs::write(dir.join("campaign.toml"), toml).unwrap();
    let mut csv = String::from("id,phone,customer_name,days_overdue,amount_due,account_tail,timezone\n");
    for i in 0..CUSTOMERS {
        csv.push_str(&format!(
            "L{i:05},1380000{i:04},客户{i},{},{}.50,{},Asia/Shanghai\n",
            3 + i % 20,
            500 + i,
            tail(i)
        ));
    }
    std::fs::write(dir.join("customers.csv"), csv).unwrap();
    let keygen =
        Command::new(bin()).args(["recording", "keygen", "keys/recording.key"]).current_dir(dir).output().unwrap();
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let run = Command::new(bin())
        .args(["run", "campaign.toml", "--start", "2026-11-24T00:00:00Z", "-q"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    tmp
}

/// Records two seconds of tone for the first answered call, as a SIP call would have.
fn record_one(dir: &Path) -> (String, u32) {
    let mut store = SqliteStore::open(&dir.join("campaign.db")).unwrap();
    let rows = store.attempt_rows("LOAN_REMIND_20261124").unwrap();
    let row = rows.iter().find(|r| r.disposition == "answered").expect("an answered call");
    let key = RecordingKey::load(&dir.join("keys/recording.key")).unwrap();
    let path = dir.join("recordings").join(format!("call-{}.csrec", row.id));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let meta = RecordingMeta {
        campaign: "LOAN_REMIND_20261124".into(),
        attempt_id: row.id,
        customer_id: row.customer_id.clone(),
        started_ms: row.started_ms,
    };
    let mut writer = RecordingWriter::create(&path, &key, &meta).unwrap();
    let tone: Vec<i16> = (0..16_000).map(|n| ((n as f64 * 0.07).sin() * 8_000.0) as i16).collect();
    writer.write(&tone, &vec![0; tone.len()]).unwrap();
    let bytes = writer.finish().unwrap();
    store
        .add_recording(&RecordingRow {
            attempt_id: row.id,
            campaign: "LOAN_REMIND_20261124".into(),
            path: path.display().to_string(),
            created_ms: row.ended_ms,
            bytes: bytes as i64,
        })
        .unwrap();
    (row.customer_id.clone(), row.attempt)
}

/// `callscript serve` on a free port; its address from the line it prints.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Served {
    let mut child = Command::new(bin())
        .args(["serve", "campaign.toml", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("CALLSCRIPT_SERVE_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut first).unwrap();
    // Drained for as long as it runs: a closed pipe would end it at its next line.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let addr = first.split("http://").nth(1).and_then(|a| a.split('/').next()).unwrap_or_default().to_string();
    assert!(!addr.is_empty(), "serve said: {first}");
    Served { child, addr }
}

/// A GET: (status, headers, body).
fn get(addr: &str, path: &str, extra: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n").unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn bearer() -> String {
    format!("Authorization: Bearer {TOKEN}\r\n")
}

/// No page shows an account tail (a sensitive input) or a whole phone number.
fn assert_nothing_sensitive(what: &str, body: &str) {
    for i in 0..CUSTOMERS {
        assert!(!body.contains(&tail(i)), "{what} shows customer {i}'s account tail");
        assert!(!body.contains(&format!("1380000{i:04}")), "{what} shows customer {i}'s whole phone number");
    }
}

#[test]
fn the_console_serves_the_wallboard_report_and_calls_behind_the_token() {
    let tmp = campaign("http");
    let dir = tmp.path();
    let (customer, attempt) = record_one(dir);
    let served = serve(dir);
    let addr = &served.addr;

    // Open: the wallboard, its numbers, the report, health.
    let (status, _, wallboard) = get(addr, "/", "");
    assert_eq!(status, 200);
    assert!(wallboard.contains("实时看板"), "{wallboard}");
    let (status, _, live) = get(addr, "/api/live", "");
    assert_eq!(status, 200);
    let live: serde_json::Value = serde_json::from_str(&live).unwrap();
    let store = SqliteStore::open_existing(&dir.join("campaign.db")).unwrap();
    let rows = store.attempt_rows("LOAN_REMIND_20261124").unwrap();
    assert_eq!(live["attempts"], rows.len());
    assert_eq!(live["live"], 0);
    let (status, _, report) = get(addr, "/report", "");
    assert_eq!(status, 200);
    assert_nothing_sensitive("the report", &report);
    assert_eq!(get(addr, "/healthz", "").0, 200);
    assert_eq!(get(addr, "/readyz", "").0, 200);

    // Behind the token: the list, a call, its recording.
    assert_eq!(get(addr, "/calls", "").0, 401);
    assert_eq!(get(addr, "/calls", "Authorization: Bearer wrong-token-wrong-token\r\n").0, 403);
    let (status, head, _) = get(addr, &format!("/calls?token={TOKEN}&disposition=answered"), "");
    assert_eq!(status, 303, "the token leaves the address bar");
    assert!(head.contains("callscript_token=") && head.contains("HttpOnly"), "{head}");
    assert!(head.contains("location: /calls?disposition=answered"), "{head}");
    let (status, _, list) = get(addr, "/calls?disposition=busy", &bearer());
    assert_eq!(status, 200);
    let busy = rows.iter().filter(|r| r.disposition == "busy").count();
    assert!(list.contains(&format!("{busy} calls")), "{list}");
    assert_nothing_sensitive("the call list", &list);
    let cookie = format!("Cookie: callscript_token={TOKEN}\r\n");
    for r in rows.iter().filter(|r| r.disposition == "answered").take(10) {
        let (status, _, page) = get(addr, &format!("/calls/{}/{}", r.customer_id, r.attempt), &cookie);
        assert_eq!(status, 200);
        assert!(page.contains("对话 Transcript"), "{page}");
        assert_nothing_sensitive("a call's page", &page);
    }
    assert_eq!(get(addr, "/calls/nobody/1", &cookie).0, 404);
    let wav_path = format!("/calls/{customer}/{attempt}/recording.wav");
    assert_eq!(get(addr, &wav_path, "").0, 401);
    let (status, head, wav) = get(addr, &wav_path, &cookie);
    assert_eq!(status, 200);
    assert!(head.contains("audio/wav"), "{head}");
    assert!(wav.starts_with("RIFF"));
    // Played, audited, and never written in plaintext next to the recording.
    let audited = store.exports().unwrap();
    assert!(audited.iter().any(|e| e.ok && e.destination.contains("web console")), "{audited:?}");
    let files: Vec<_> = std::fs::read_dir(dir.join("recordings")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(files.len(), 1, "{files:?}");

    // The wallboard follows a call's end within 2 s.
    let mut writer = SqliteStore::open(&dir.join("campaign.db")).unwrap();
    let row = writer
        .begin_attempt(&NewAttempt {
            campaign: "LOAN_REMIND_20261124",
            customer_id: "L00000",
            phone: "+8613800000000",
            attempt: 99,
            started_ms: rows.last().unwrap().ended_ms + 1,
            local_time: "2026-11-30T10:00:00+08:00".into(),
            local_date: "2026-11-30".into(),
            local_hour: 10,
            script_sha256: "x",
            allowed: "{}",
            segment: None,
            zone: "Asia/Shanghai",
            list: "customers.csv",
            variant: "loan_reminder",
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(1_100));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&get(addr, "/api/live", "").2).unwrap()["live"], 1);
    writer
        .finish_attempt(row, &Finished { disposition: "answered".into(), ended_ms: 1, ..Finished::default() })
        .unwrap();
    let ended = Instant::now();
    loop {
        let live: serde_json::Value = serde_json::from_str(&get(addr, "/api/live", "").2).unwrap();
        if live["attempts"] == rows.len() + 1 && live["live"] == 0 {
            break;
        }
        assert!(ended.elapsed() < Duration::from_secs(2), "the wallboard did not show the call's end within 2 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn in_a_browser_a_user_finds_a_call_and_plays_its_recording() {
    if Command::new("chromedriver").arg("--version").output().is_err() {
        assert!(std::env::var_os("CALLSCRIPT_REQUIRE_CHROMEDRIVER").is_none(), "chromedriver is required");
        eprintln!("skipped: chromedriver is not installed");
        return;
    }
    let tmp = campaign("browser");
    let dir = tmp.path();
    let (customer, attempt) = record_one(dir);
    let served = serve(dir);
    let base = format!("http://{}", served.addr);
    let browser = webdriver::Browser::start().unwrap();
    // The link `serve` prints: the token becomes a cookie and leaves the address bar.
    browser.go(&format!("{base}/calls?token={TOKEN}")).unwrap();
    assert_eq!(browser.url().unwrap(), format!("{base}/calls"));
    browser.type_into("input[name=q]", &customer).unwrap();
    browser.click("#search").unwrap();
    browser.wait_until("return location.search.includes('q=') && document.readyState === 'complete';").unwrap();
    let found =
        browser.run("return [...document.querySelectorAll('#calls tbody a')].map(a => a.textContent);").unwrap();
    assert!(found.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|c| c == customer.as_str())), "{found}");
    browser.click(&format!("#calls tbody a[href='/calls/{customer}/{attempt}']")).unwrap();
    assert!(browser.url().unwrap().ends_with(&format!("/calls/{customer}/{attempt}")));
    let ended = browser
        .run_async(
            "const done = arguments[arguments.length - 1];
             const a = document.getElementById('recording');
             a.addEventListener('ended', () => done('ended'));
             a.addEventListener('error', () => done('error ' + (a.error && a.error.code)));
             a.play().catch(e => done('play: ' + e));",
        )
        .unwrap();
    assert_eq!(ended, "ended");
    assert_nothing_sensitive("the call's page in the browser", &browser.text().unwrap());
    // The wallboard fills in from its numbers.
    browser.go(&format!("{base}/")).unwrap();
    let attempts = browser
        .run_async(
            "const done = arguments[arguments.length - 1];
             const t = setInterval(() => { if (document.body.dataset.updated) { clearInterval(t); done(document.getElementById('attempts').textContent); } }, 50);",
        )
        .unwrap();
    assert!(attempts.as_str().is_some_and(|a| a.parse::<u32>().is_ok_and(|n| n > 0)), "{attempts}");
}
