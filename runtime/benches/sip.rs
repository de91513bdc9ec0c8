//! Real telephony on loopback, each figure against a baseline measured in the same run:
//!
//! - `signalling`: calls per second through our user agent (INVITE, 200, ACK, a VM session
//!   per call, BYE from us) against a SIPp UAS, and SIPp's own UAC against the same kind of
//!   UAS as the baseline.
//! - `media`: two-way G.711 calls on the media plane (a worker per core sends, reads, plays
//!   out through the jitter buffer, decodes and runs the VAD), with a peer thread playing the
//!   far ends from a socket each; p50/p99 packet lateness, frames decoded, and CPU, with a
//!   socket per call against shared sockets in the same run.
//! - `memory`: RSS growth per answered-and-confirmed dialog held open against a SIPp UAS,
//!   and the bytes of a VM session.
//!
//! `cargo bench -p callscript-runtime --bench sip` runs all three, each in a process of its
//! own; `-- signalling`, `-- media` or `-- memory` runs one (`-- ours` and `-- stack` run one
//! side of `signalling`, for a profiler). Every part stops by itself within about a minute.
//! Needs SIPp (Debian `sip-tester`) for `signalling` and `memory`. Knobs (environment):
//! `CALLSCRIPT_BENCH_CALLS` (30000), `CALLSCRIPT_BENCH_WINDOW` (1000 calls in progress),
//! `CALLSCRIPT_BENCH_DIALOGS` (10000), `CALLSCRIPT_BENCH_MEDIA_N` (1000,2000,2500),
//! `CALLSCRIPT_BENCH_WORKERS` (2), `CALLSCRIPT_BENCH_MEDIA_WORKERS` (one per core),
//! `CALLSCRIPT_BENCH_MEDIA_PORTS` (per_call or shared: one kind only), `CALLSCRIPT_BENCH_TALK`
//! (turns, or continuous). Results and how to read them: docs/architecture.md,
//! "Measured: real telephony".

use std::alloc::GlobalAlloc;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use callscript_compiler::check::check_source;
use callscript_runtime::telephony::media::FRAME_SAMPLES;
use callscript_runtime::telephony::media::g711::Codec;
use callscript_runtime::telephony::media::vad::VadConfig;
use callscript_runtime::telephony::sip::SipConfig;
use callscript_runtime::telephony::sip::call::{self, Services, Speech};
use callscript_runtime::telephony::sip::rtp::{MediaPlane, MediaPorts};
use callscript_runtime::telephony::sip::{sdp, stack, ua::UserAgent};
use callscript_runtime::telephony::{DialRequest, Disposition};
use callscript_runtime::vm::{CallContext, Executable, Session};

#[path = "../tests/support/scratch.rs"]
mod scratch;

// The allocator of the `callscript` binary (src/main.rs): with glibc's, malloc and free were a
// fifth of our side's profile, a cost the product does not pay. It counts the bytes in use, for
// `memory` (one relaxed atomic add per allocation, everywhere).
#[global_allocator]
static ALLOCATOR: Counting = Counting;

static HEAP_IN_USE: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: every call is mimalloc's; the counter only adds and subtracts the sizes asked for.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        HEAP_IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        HEAP_IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        HEAP_IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        HEAP_IN_USE.fetch_add(new_size, Ordering::Relaxed);
        HEAP_IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// The benchmark's script: the call is answered, the script hangs up at once (BYE from us).
/// A session still starts and steps per call; no prompt is voiced.
const HANGUP_SCRIPT: &str = r#"
script bench_hangup "压测" {
  purpose service
  outcomes { done }
  opening {
    hangup done
  }
}
"#;

/// The SIP end-to-end script, for the session's size.
const CHECK_SCRIPT: &str = include_str!("../../tests/sip/check.call");
const LOAN_SCRIPT: &str = include_str!("../../examples/loan_reminder/loan_reminder.call");

const BUFFER: &str = "4194304";

fn main() {
    let parts: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if parts.is_empty() {
        // Each part in a process of its own: RSS and allocator state must not leak across.
        let me = std::env::current_exe().expect("own path");
        for part in ["signalling", "media", "memory"] {
            let status = Command::new(&me).arg(part).status().expect("runs itself");
            assert!(status.success(), "{part} failed");
        }
        return;
    }
    for part in &parts {
        match part.as_str() {
            "signalling" => signalling(),
            // One side alone, for a profiler.
            "stack" => {
                let calls = std::env::var("CALLSCRIPT_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(30_000);
                let r = stack_calls(&executable("bench_hangup.call", HANGUP_SCRIPT), calls, 1_000);
                println!(
                    "stack: {:.0} calls/s, {} ok, {} failed, {:.1} µs CPU per call",
                    r.rate(),
                    r.ok,
                    r.failed,
                    r.cpu_s * 1e6 / r.ok.max(1) as f64
                );
            }
            "ours" => {
                let calls = std::env::var("CALLSCRIPT_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(30_000);
                let r = our_calls(&executable("bench_hangup.call", HANGUP_SCRIPT), calls, 1_000);
                println!(
                    "ours: {:.0} calls/s, {} ok, {} failed, {:.1} µs CPU per call",
                    r.rate(),
                    r.ok,
                    r.failed,
                    r.cpu_s * 1e6 / r.ok.max(1) as f64
                );
            }
            "media" => media(),
            "memory" => memory(),
            other => eprintln!("unknown part `{other}` (signalling, media, memory)"),
        }
    }
}

fn sipp_available() -> bool {
    let found = Command::new("sipp").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        eprintln!("skipped: SIPp (Debian package sip-tester) is not installed");
    }
    found
}

fn free_port() -> u16 {
    StdUdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// SIPp's working folder, removed with the guard: declare it before the `Uas` that runs in it,
/// so the UAS is stopped first.
fn work_dir(name: &str) -> tempfile::TempDir {
    scratch::scratch(&format!("bench-sip-{name}"))
}

/// SIPp's built-in UAS (180, 200 with SDP, waits for ACK and our BYE), 4 MB buffers. It stops
/// by itself after `lifetime`.
struct Uas {
    child: Child,
    port: u16,
}

impl Uas {
    fn start(dir: &Path, lifetime: &str) -> Uas {
        let port = free_port();
        let media = free_port();
        let child = Command::new("sipp")
            .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media.to_string()])
            .args(["-buff_size", BUFFER, "-max_socket", "65000", "-nostdin", "-timeout", lifetime])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp starts");
        std::thread::sleep(Duration::from_millis(300));
        Uas { child, port }
    }

    fn cpu_s(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Uas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU of a process, from /proc/PID/stat.
fn cpu_seconds(stat: &str) -> f64 {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // After the command: state is field 3, utime 14, stime 15 (1-based) → 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Bytes the program has allocated and not freed.
fn heap_in_use() -> usize {
    HEAP_IN_USE.load(Ordering::Relaxed)
}

/// Resident memory (with the allocator's cached pages).
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn executable(name: &str, source: &str) -> Arc<Executable> {
    let checked = check_source(name, source);
    Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap()
}

fn config(port: u16) -> SipConfig {
    SipConfig {
        gateway: format!("sip:127.0.0.1:{port}"),
        from: "sip:95555@bank.example".into(),
        asserted_identity: None,
        local: "127.0.0.1:0".into(),
        transport: "udp".into(),
        ring_timeout: Duration::from_secs(10),
        auth_user: None,
        auth_password: None,
        register: false,
        register_expires: 3600,
        calls_per_second: None,
        max_concurrent: None,
        t1x64: Duration::from_secs(4),
        transfer: Default::default(),
        // SIPp's UAS answers every call with its one media port: only ports of our own tell
        // its calls apart.
        media_ports: MediaPorts::PerCall,
    }
}

/// The runtime calls run on in production: SipTelephony's (two workers).
/// `CALLSCRIPT_BENCH_WORKERS=1` tries a runtime of one worker instead.
fn sip_runtime() -> tokio::runtime::Runtime {
    let workers = std::env::var("CALLSCRIPT_BENCH_WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap()
}

// ---------------------------------------------------------------------------------------
// Signalling throughput

struct Run {
    ok: u64,
    failed: u64,
    seconds: f64,
    cpu_s: f64,
    peer_cpu_s: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

/// `calls` calls through our user agent, at most `window` at once, against a fresh UAS.
fn our_calls(exec: &Arc<Executable>, calls: u64, window: usize) -> Run {
    let dir = work_dir("ours");
    let uas = Uas::start(dir.path(), "60s");
    let rt = sip_runtime();
    let ua = rt.block_on(UserAgent::start(config(uas.port))).unwrap();
    let services = Arc::new(Services {
        speech: Arc::new(Speech::default()),
        recorder: None,
        backends: Default::default(),
        metrics: None,
    });
    let run = |n: u64, first: u64| {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let stop = Instant::now() + Duration::from_secs(50);
        let started = Instant::now();
        rt.block_on(async {
            let lines = Arc::new(tokio::sync::Semaphore::new(window));
            let mut tasks = Vec::new();
            for i in 0..n {
                if Instant::now() > stop {
                    break;
                }
                let permit = Arc::clone(&lines).acquire_owned().await.unwrap();
                let session =
                    Session::start(Arc::clone(exec), "bench_hangup", Vec::new(), CallContext::default()).unwrap();
                let request = DialRequest {
                    phone: format!("1380{:07}", first + i),
                    attempt_row: (first + i) as i64,
                    customer_id: String::new(),
                    attempt: 1,
                    session,
                    max_duration_ms: None,
                };
                let (ua, services, ok, failed) = (Arc::clone(&ua), Arc::clone(&services), ok.clone(), failed.clone());
                tasks.push(tokio::spawn(async move {
                    let result = call::run(ua, services, first + i, request).await;
                    if result.disposition == Disposition::Answered && result.outcome.as_deref() == Some("done") {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("failed call: {:?} {:?}", result.disposition, result.cause);
                        }
                    }
                    drop(permit);
                }));
                if tasks.len() >= 4096 {
                    tasks.retain(|t| !t.is_finished());
                }
            }
            for t in tasks {
                let _ = tokio::time::timeout_at(stop.into(), t).await;
            }
        });
        (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed), started.elapsed().as_secs_f64())
    };
    // Warm up: sockets, allocator, the UAS's tables.
    run(2_000, 10_000_000);
    let cpu0 = cpu_seconds("/proc/self/stat");
    let peer0 = uas.cpu_s();
    let (ok, failed, seconds) = run(calls, 0);
    let cpu_s = cpu_seconds("/proc/self/stat") - cpu0;
    let peer_cpu_s = uas.cpu_s() - peer0;
    drop(ua);
    rt.shutdown_timeout(Duration::from_secs(1));
    Run { ok, failed: failed + (calls - ok - failed), seconds, cpu_s, peer_cpu_s }
}

/// Our own sans-IO stack (`sip::stack`) over its driver, with a VM session per call as in
/// `our_calls` (started when answered, stepped until it hangs up): no RTP socket or media.
fn stack_calls(exec: &Arc<Executable>, calls: u64, window: usize) -> Run {
    use callscript_runtime::call::{CallDriver, Command as CallCommand};
    use callscript_runtime::telephony::sip::stack::{self, Event, Stack};
    let dir = work_dir("stack");
    let uas = Uas::start(dir.path(), "60s");
    let rt = sip_runtime();
    let gateway: SocketAddr = format!("127.0.0.1:{}", uas.port).parse().unwrap();
    let handle = rt.block_on(async {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        let _ = socket.set_recv_buffer_size(4 << 20);
        let _ = socket.set_send_buffer_size(4 << 20);
        socket.set_nonblocking(true).unwrap();
        socket.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
        let socket = tokio::net::UdpSocket::from_std(socket.into()).unwrap();
        let local = socket.local_addr().unwrap();
        let (t1, t2, linger) = stack::Config::timers(Duration::from_secs(4));
        let config = stack::Config {
            local,
            gateway,
            reliable: false,
            from: "sip:95555@bank.example".into(),
            contact: format!("sip:95555@{local}"),
            callee_host: gateway.to_string(),
            invite_headers: vec![],
            user_agent: "CallScript/bench".into(),
            credential: None,
            t1,
            t2,
            linger,
        };
        stack::driver::start(stack::driver::Wire::udp(socket), Stack::new(config))
    });
    let offer_addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let run = |n: u64, first: u64| {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let stop = Instant::now() + Duration::from_secs(50);
        rt.block_on(async {
            let lines = Arc::new(tokio::sync::Semaphore::new(window));
            for i in 0..n {
                if Instant::now() > stop {
                    break;
                }
                let permit = Arc::clone(&lines).acquire_owned().await.unwrap();
                let session =
                    Session::start(Arc::clone(exec), "bench_hangup", Vec::new(), CallContext::default()).unwrap();
                let (handle, ok, failed) = (handle.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    let key = first + i;
                    let offer = sdp::offer(offer_addr, key).into_bytes();
                    let mut events = handle.invite(key, &format!("1380{key:07}"), offer).unwrap();
                    let mut driver = CallDriver::new(session, None);
                    let mut done = false;
                    while let Some(event) = events.recv().await {
                        match *event {
                            Event::Answered(_) => {
                                driver.start(0);
                                while let Some(command) = driver.poll_command() {
                                    if command == CallCommand::Hangup {
                                        handle.bye(key);
                                    }
                                }
                            }
                            Event::Done { status, .. } => {
                                done = status == Some(200) && driver.is_over();
                                break;
                            }
                            Event::Failed(f) => {
                                if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                                    eprintln!("failed call: {f:?}");
                                }
                                break;
                            }
                            _ => {}
                        }
                    }
                    handle.release(key);
                    if done && driver.result().outcome.as_deref() == Some("done") {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(permit);
                });
            }
            let _ = tokio::time::timeout_at(stop.into(), lines.acquire_many(window as u32)).await;
        });
        (ok.load(Ordering::Relaxed), started.elapsed().as_secs_f64())
    };
    run(2_000, 10_000_000);
    let cpu0 = cpu_seconds("/proc/self/stat");
    let peer0 = uas.cpu_s();
    let (ok, seconds) = run(calls, 0);
    let cpu_s = cpu_seconds("/proc/self/stat") - cpu0;
    let peer_cpu_s = uas.cpu_s() - peer0;
    drop(handle);
    rt.shutdown_timeout(Duration::from_secs(1));
    Run { ok, failed: calls - ok, seconds, cpu_s, peer_cpu_s }
}

/// The baseline: SIPp's UAC (INVITE, ACK, BYE at once) against a fresh UAS, same window.
fn sipp_calls(calls: u64, window: usize) -> Run {
    let dir = work_dir("sipp");
    let uas = Uas::start(dir.path(), "60s");
    let peer0 = uas.cpu_s();
    let port = free_port();
    let media = free_port();
    let started = Instant::now();
    let child = Command::new("sipp")
        .args(["-sn", "uac", &format!("127.0.0.1:{}", uas.port), "-i", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-mp", &media.to_string()])
        .args(["-m", &calls.to_string(), "-r", "1000000", "-rp", "1000", "-l", &window.to_string(), "-d", "0"])
        .args(["-buff_size", BUFFER, "-max_socket", "65000", "-nostdin", "-timeout", "50s"])
        .args(["-trace_stat", "-stf", "stat.csv", "-fd", "1"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp starts");
    let pid = child.id();
    // Its CPU is read just before it exits: wait by polling.
    let mut child = child;
    let mut cpu_s = 0.0;
    loop {
        let c = cpu_seconds(&format!("/proc/{pid}/stat"));
        if let Some(_status) = child.try_wait().unwrap() {
            break;
        }
        cpu_s = c;
        std::thread::sleep(Duration::from_millis(5));
    }
    let seconds = started.elapsed().as_secs_f64();
    let peer_cpu_s = uas.cpu_s() - peer0;
    let stat = std::fs::read_to_string(dir.path().join("stat.csv")).unwrap_or_default();
    let mut lines = stat.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(';').collect();
    let last: Vec<&str> = lines.last().unwrap_or("").split(';').collect();
    let field = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ok = field("SuccessfulCall(C)");
    let failed = field("FailedCall(C)");
    Run { ok, failed: failed.max(calls - ok.min(calls)), seconds, cpu_s, peer_cpu_s }
}

fn signalling() {
    if !sipp_available() {
        return;
    }
    let exec = executable("bench_hangup.call", HANGUP_SCRIPT);
    let calls: u64 = std::env::var("CALLSCRIPT_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(30_000);
    let window = std::env::var("CALLSCRIPT_BENCH_WINDOW").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    println!("signalling: {calls} calls, at most {window} in progress, SIPp UAS (`-sn uas`, 4 MB buffers)");
    let base = sipp_calls(calls, window);
    let ours = our_calls(&exec, calls, window);
    let own = stack_calls(&exec, calls, window);
    let base2 = sipp_calls(calls, window);
    let show = |name: &str, r: &Run| {
        println!(
            "  {name:<34} {:>8.0} calls/s  ok {:>6}  failed {:>4}  {:>6.2} s  caller CPU {:>5.1} µs/call  UAS CPU {:>5.1} µs/call",
            r.rate(),
            r.ok,
            r.failed,
            r.seconds,
            r.cpu_s * 1e6 / r.ok.max(1) as f64,
            r.peer_cpu_s * 1e6 / r.ok.max(1) as f64,
        );
    };
    show("SIPp UAC (baseline, before)", &base);
    show("CallScript UA + VM session per call", &ours);
    show("the stack alone + VM session per call", &own);
    show("SIPp UAC (baseline, after)", &base2);
    let baseline = (base.rate() + base2.rate()) / 2.0;
    println!(
        "  ratio ours / SIPp: {:.2}; the stack alone / SIPp: {:.2} (CPU per call {:.2}×)",
        ours.rate() / baseline,
        own.rate() / baseline,
        (own.cpu_s / own.ok.max(1) as f64) / ((base.cpu_s + base2.cpu_s) / (base.ok + base2.ok).max(1) as f64)
    );
}

// ---------------------------------------------------------------------------------------
// Media

const MEDIA_SECONDS: u64 = 10;

/// How the far ends talk: in turns (each speaks 2 s in every 5, starting at a moment of its
/// own, as customers in calls placed over time do), or all at once without pause (every call
/// an utterance cut at the VAD's 15 s limit, all in step: the worst case for the VAD's memory).
#[derive(Clone, Copy, PartialEq)]
enum Talk {
    Turns,
    Continuous,
}

impl Talk {
    fn from_env() -> Talk {
        match std::env::var("CALLSCRIPT_BENCH_TALK").as_deref() {
            Ok("continuous") => Talk::Continuous,
            _ => Talk::Turns,
        }
    }

    /// Whether far end `i` speaks in its packet `round` (20 ms each).
    fn speaks(self, i: usize, round: u64) -> bool {
        match self {
            Talk::Continuous => true,
            Talk::Turns => (round * 20 + (i as u64 * 7_919) % 5_000) % 5_000 < 2_000,
        }
    }
}

/// The far ends: one thread, a socket per call (as a gateway gives each call its own media
/// address), sending each call's 20 ms packet in its phase of the period and reading what our
/// side sent it.
fn peer(
    far_ends: Vec<(StdUdpSocket, SocketAddr)>,
    talk: Talk,
    stop: Arc<AtomicBool>,
    measure: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, u64, f64)> {
    std::thread::spawn(move || {
        let mut cpu_from = None;
        // A voice-band tone at about -34 dBFS (over the VAD's -35), so the VAD has work to do,
        // and silence.
        let tone: Vec<i16> = (0..FRAME_SAMPLES).map(|n| ((n as f64 * 0.35).sin() * 900.0) as i16).collect();
        let packet = |pcm: &[i16]| {
            let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            Codec::Pcmu.encode(pcm, &mut packet);
            packet
        };
        let (mut speech, mut silence) = (packet(&tone), packet(&[0; FRAME_SAMPLES]));
        let start = Instant::now();
        let mut tick = 0u64;
        let (mut sent, mut received) = (0u64, 0u64);
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if cpu_from.is_none() && measure.load(Ordering::Relaxed) {
                cpu_from = Some(cpu_seconds("/proc/thread-self/stat"));
            }
            tick += 1;
            let due = start + Duration::from_millis(tick);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let round = tick / 20;
            for (i, (socket, target)) in far_ends.iter().enumerate().skip((tick % 20) as usize).step_by(20) {
                let payload = if talk.speaks(i, round) { &mut speech } else { &mut silence };
                payload[2..4].copy_from_slice(&(round as u16).to_be_bytes());
                payload[4..8].copy_from_slice(&((round * FRAME_SAMPLES as u64) as u32).to_be_bytes());
                payload[8..12].copy_from_slice(&(i as u32).to_be_bytes());
                if socket.send_to(payload, target).is_ok() {
                    sent += 1;
                }
                // One packet of ours a period: one read a period keeps up (a second waiting one
                // is read next time), without a system call that finds nothing.
                if socket.recv(&mut buf).is_ok() {
                    received += 1;
                }
            }
        }
        let cpu = cpu_seconds("/proc/thread-self/stat") - cpu_from.unwrap_or(0.0);
        (sent, received, cpu)
    })
}

struct MediaRun {
    p50: f64,
    p99: f64,
    packets: u64,
    delivered: u64,
    frames: u64,
    cpu_s: f64,
    peer_cpu_s: f64,
    /// Heap of the streams as opened, and while running.
    heap_streams: usize,
    heap_running: usize,
}

/// `n` two-way calls for `seconds` on the media plane with `ports`.
fn media_run(n: usize, seconds: u64, ports: MediaPorts) -> MediaRun {
    let rt = sip_runtime();
    let workers = std::env::var("CALLSCRIPT_BENCH_MEDIA_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(MediaPlane::default_workers);
    let plane = MediaPlane::start(std::net::Ipv4Addr::LOCALHOST.into(), ports, workers).unwrap();
    let mut streams = Vec::new();
    let mut far_ends = Vec::new();
    let mut events = Vec::new();
    let heap_before = heap_in_use();
    for i in 0..n {
        let far = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        far.set_nonblocking(true).unwrap();
        let stream = plane.open(i as u32).unwrap();
        stream.connect(far.local_addr().unwrap(), Codec::Pcmu, None).unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        stream.hear(VadConfig::default(), tx);
        stream.send();
        events.push(rx);
        far_ends.push((far, stream.local_addr()));
        streams.push(stream);
    }
    // The media state of each call (stream, its channel of events to the call): the far ends'
    // list and the benchmark's own vectors are counted too, a few dozen bytes a call.
    let heap_streams = heap_in_use().saturating_sub(heap_before);
    for mut rx in events {
        // The call's task: it hears of speech and utterances only.
        rt.spawn(async move { while rx.recv().await.is_some() {} });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let measure = Arc::new(AtomicBool::new(false));
    let far = peer(far_ends, Talk::from_env(), Arc::clone(&stop), Arc::clone(&measure));
    // One second to settle (jitter buffers fill), then measure from fresh statistics.
    std::thread::sleep(Duration::from_secs(1));
    plane.stats.lateness.lock().unwrap().iter_mut().for_each(|b| *b = 0);
    plane.stats.packets.store(0, Ordering::Relaxed);
    let frames0 = plane.stats.frames_decoded.load(Ordering::Relaxed);
    let cpu0 = cpu_seconds("/proc/self/stat");
    measure.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu_s = cpu_seconds("/proc/self/stat") - cpu0;
    // Everything since, call tasks included: jitter buffers, the VAD's pre-roll and the
    // utterances being heard.
    let heap_running = heap_in_use().saturating_sub(heap_before);
    let (p50, p99) = (plane.stats.quantile_ms(0.50), plane.stats.quantile_ms(0.99));
    let packets = plane.stats.packets.load(Ordering::Relaxed);
    let frames = plane.stats.frames_decoded.load(Ordering::Relaxed) - frames0;
    stop.store(true, Ordering::Relaxed);
    let (_peer_sent, delivered, peer_cpu_s) = far.join().unwrap();
    drop(streams);
    drop(plane);
    rt.shutdown_timeout(Duration::from_secs(1));
    MediaRun { p50, p99, packets, delivered, frames, cpu_s, peer_cpu_s, heap_streams, heap_running }
}

fn media() {
    println!(
        "media: two-way PCMU calls on the media plane ({} workers: send, receive, jitter buffer, decode, VAD), \
         a peer thread with a socket per far end talking {}; {MEDIA_SECONDS} s per N",
        MediaPlane::default_workers(),
        if Talk::from_env() == Talk::Turns { "in turns" } else { "continuously" }
    );
    // CALLSCRIPT_BENCH_MEDIA_N=1500,1750 measures other counts.
    let counts: Vec<usize> = std::env::var("CALLSCRIPT_BENCH_MEDIA_N")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 2_000, 2_500]);
    for n in counts {
        // CALLSCRIPT_BENCH_MEDIA_PORTS=shared (or per_call) runs one kind, for a profiler.
        let only = std::env::var("CALLSCRIPT_BENCH_MEDIA_PORTS").ok();
        for ports in [MediaPorts::PerCall, MediaPorts::Shared] {
            let name = if ports == MediaPorts::Shared { "shared" } else { "per_call" };
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let r = media_run(n, MEDIA_SECONDS, ports);
            let expected = n as f64 * 50.0 * MEDIA_SECONDS as f64;
            println!(
                "  N={n:>5} {:<8} p50 {:>4.1} ms  p99 {:>4.1} ms  sent {:>5.1}%  received {:>5.1}%  decoded {:>5.1}%  CPU ours {:>4.2} + peer {:>4.2} cores  heap/call {:>5} B opened, {:>6} B running",
                name,
                r.p50,
                r.p99,
                100.0 * r.packets as f64 / expected,
                // Over the whole run including the settle second, of what should have been sent.
                100.0 * r.delivered as f64 / (n as f64 * 50.0 * (MEDIA_SECONDS + 1) as f64),
                100.0 * r.frames as f64 / expected,
                (r.cpu_s - r.peer_cpu_s) / MEDIA_SECONDS as f64,
                r.peer_cpu_s / MEDIA_SECONDS as f64,
                r.heap_streams / n,
                r.heap_running / n,
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Memory per live dialog

fn memory() {
    if !sipp_available() {
        return;
    }
    let k: usize = std::env::var("CALLSCRIPT_BENCH_DIALOGS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = work_dir("memory");
    let uas = Uas::start(dir.path(), "90s");
    let rt = sip_runtime();
    let ua = rt.block_on(UserAgent::start(config(uas.port))).unwrap();
    let offer_addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let t1x64 = ua.config.t1x64;
    // Opens `count` dialogs (INVITE, 200, ACK), 5,000 a second; returns them answered, each
    // as its call task would hold it (the leg and its events).
    let open = |count: usize, first: usize| {
        rt.block_on(async {
            let mut held = Vec::with_capacity(count);
            let mut ticker = tokio::time::interval(Duration::from_millis(1));
            for i in 0..count {
                if i % 5 == 0 {
                    ticker.tick().await;
                }
                let key = (first + i) as u64;
                held.push(ua.invite(key, &format!("1390{key:07}"), sdp::offer(offer_addr, key)).unwrap());
            }
            let mut answered = 0;
            for leg in held.iter_mut() {
                let leg: &mut callscript_runtime::telephony::sip::ua::CallLeg = leg;
                while let Some(event) = leg.events.recv().await {
                    match *event {
                        stack::Event::Answered(_) => {
                            answered += 1;
                            break;
                        }
                        stack::Event::Failed(_) => break,
                        _ => {}
                    }
                }
            }
            (held, answered)
        })
    };
    // Dropping a leg hangs it up (BYE): 5,000 a second.
    let close = |held: Vec<callscript_runtime::telephony::sip::ua::CallLeg>| {
        rt.block_on(async move {
            let mut held = held.into_iter();
            loop {
                let batch: Vec<_> = held.by_ref().take(5).collect();
                if batch.is_empty() {
                    break;
                }
                drop(batch);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    // The INVITE's ACK is kept 64×T1 for retransmitted 2xx, a BYE's transaction as long.
    let settle = || std::thread::sleep(t1x64 + Duration::from_secs(1));
    let state = |when: &str| {
        println!("  {when:<8} heap in use {:>8} kB  RSS {:>7} kB", heap_in_use() / 1024, rss_kb());
    };
    println!("memory: {k} dialogs against a SIPp UAS (answers, waits for BYE); heap counted by the bench's allocator");
    state("start");
    // Warm up with the same number of dialogs, so allocator pages and tables have grown once.
    let (held, _) = open(k, 1_000_000);
    state("warm");
    close(held);
    settle();
    state("closed");
    let heap_before = heap_in_use();
    let (held, answered) = open(k, 0);
    let heap_fresh = heap_in_use();
    state("answered");
    settle();
    let heap_holding = heap_in_use();
    state("holding");
    close(held);
    settle();
    state("closed");
    drop(uas);
    let per = |heap: usize| heap.saturating_sub(heap_before) as f64 / answered.max(1) as f64;
    println!("  {answered} of {k} answered and confirmed");
    println!(
        "  per dialog, just answered (with its ACK, kept 64×T1 = {} s): {:.0} bytes",
        t1x64.as_secs(),
        per(heap_fresh)
    );
    println!(
        "  signalling per live dialog (leg in the stack, the call's events channel): {:.0} bytes of heap (goal ≤ 4096)",
        per(heap_holding)
    );
    for (name, source, script, inputs) in [
        ("bench_hangup.call", HANGUP_SCRIPT, "bench_hangup", vec![]),
        ("check.call", CHECK_SCRIPT, "sip_check", vec![]),
        (
            "loan_reminder.call",
            LOAN_SCRIPT,
            "loan_reminder",
            vec![
                ("customer_name".to_string(), callscript_compiler::value::Value::Text("张三".into())),
                ("days_overdue".to_string(), callscript_compiler::value::Value::Int(12)),
                ("amount_due".to_string(), callscript_compiler::value::Value::Int(3_560)),
                ("account_tail".to_string(), callscript_compiler::value::Value::Text("1234".into())),
            ],
        ),
    ] {
        let exec = executable(name, source);
        let session = Session::start(exec, script, inputs, CallContext::default()).unwrap();
        println!("  VM session ({script}): {} bytes owned (program shared)", session.owned_bytes());
    }
    drop(ua);
    rt.shutdown_timeout(Duration::from_secs(1));
}
