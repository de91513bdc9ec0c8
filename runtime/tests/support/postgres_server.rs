//! A PostgreSQL server for tests: `CALLSCRIPT_TEST_POSTGRES_URL` when set (CI may start one),
//! else a throwaway cluster made with the machine's `initdb` and run as `postgres` on a
//! loopback port (as the `postgres` user when the tests run as root), stopped when the test
//! process ends. Without PostgreSQL, [`database`] is None and the tests skip, unless
//! `CALLSCRIPT_REQUIRE_POSTGRES` is set (`.ci/run` sets it). Shared by the store's tests, the
//! workers' tests and the benchmark.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A cluster started for these tests; stopped when the test process ends.
struct Server {
    url: String,
    _child: Option<Child>,
}

fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// A command run as the `postgres` user when we are root (the server refuses to run as root).
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start() -> Option<Server> {
    if let Ok(url) = std::env::var("CALLSCRIPT_TEST_POSTGRES_URL") {
        return Some(Server { url, _child: None });
    }
    let Some(bin) = bin_dir() else {
        assert!(std::env::var_os("CALLSCRIPT_REQUIRE_POSTGRES").is_none(), "PostgreSQL (initdb) is required");
        eprintln!("skipped: PostgreSQL is not installed");
        return None;
    };
    // Removed with the guard if the server cannot be started; once it runs, the shell below
    // owns the folder: the data must outlive the server, so it stops the server, then removes it.
    let scratch = tempfile::Builder::new().prefix("callscript-pg-").tempdir().unwrap();
    let dir = scratch.path().to_path_buf();
    if is_root() {
        Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap();
    }
    let data = dir.join("data");
    let init = as_server_user(&bin.join("initdb"))
        .args(["-D", data.to_str().unwrap(), "-U", "callscript", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // A shell watches this test process and stops the server (then removes its files) when
    // the process is gone: a static is never dropped, and a server must not outlive its tests.
    let run_as = if is_root() { "runuser -u postgres -- " } else { "" };
    let script = format!(
        "{run_as}{server} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off & s=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; \
         kill -INT $(head -1 {data}/postmaster.pid); wait $s; rm -rf {dir}",
        server = bin.join("postgres").display(),
        data = data.display(),
        dir = dir.display(),
        parent = std::process::id(),
    );
    let child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = scratch.keep();
    let url = format!("postgres://callscript@127.0.0.1:{port}/postgres");
    let until = Instant::now() + Duration::from_secs(30);
    while postgres::Client::connect(&url, postgres::NoTls).is_err() {
        assert!(Instant::now() < until, "PostgreSQL did not start on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Server { url, _child: Some(child) })
}

/// A fresh database on the shared server for one test.
pub fn database(name: &str) -> Option<String> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    let server = SERVER.get_or_init(start).as_ref()?;
    let mut admin = postgres::Client::connect(&server.url, postgres::NoTls).unwrap();
    let db = format!("t_{name}_{}", std::process::id());
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    let base = server.url.rsplit_once('/').map_or(server.url.as_str(), |(b, _)| b);
    Some(format!("{base}/{db}"))
}
