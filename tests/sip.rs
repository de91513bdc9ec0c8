//! End-to-end: `callscript run` of a `kind = "sip"` campaign against SIPp UAS scenarios
//! (tests/sip/*.xml) on loopback; the attempts export must show the disposition, outcome
//! and step each scenario leads to, and SIPp must see the call go as its scenario says
//! (ACK, CANCEL, BYE, REFER answered…).
//!
//! SIPp is Debian's `sip-tester`; `.ci/run` installs it and sets CALLSCRIPT_REQUIRE_SIPP=1 so
//! a missing SIPp fails there instead of skipping.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../runtime/tests/support/generated_speech.rs"]
mod generated_speech;
#[path = "sip/hostile.rs"]
mod hostile;

const SCRIPT: &str = include_str!("sip/check.call");

fn sipp_available() -> bool {
    let found = Command::new("sipp").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        assert!(std::env::var_os("CALLSCRIPT_REQUIRE_SIPP").is_none(), "SIPp (Debian sip-tester) is required");
        eprintln!("skipped: SIPp (Debian package sip-tester) is not installed");
    }
    found
}

/// A free loopback port (UDP), released for the peer to take.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip").join(format!("{name}.xml"))
}

/// SIPp playing one UAS scenario once.
struct Sipp {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Sipp {
    fn start(name: &str, dir: &Path, transport: &str) -> Sipp {
        Sipp::start_calls(name, dir, transport, 1)
    }

    /// SIPp playing the scenario for `calls` calls.
    fn start_calls(name: &str, dir: &Path, transport: &str, calls: u32) -> Sipp {
        Sipp::start_for(name, dir, transport, calls, 40)
    }

    /// SIPp playing the scenario for `calls` calls, ending by itself after `life_secs`.
    fn start_for(name: &str, dir: &Path, transport: &str, calls: u32, life_secs: u32) -> Sipp {
        let port = free_port();
        let media_port = free_port();
        let child = Command::new("sipp")
            .args(["-sf", scenario(name).to_str().unwrap()])
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media_port.to_string()])
            .args(["-t", if transport == "tcp" { "t1" } else { "u1" }])
            .args([
                "-m",
                &calls.to_string(),
                "-timeout",
                &format!("{life_secs}s"),
                "-timeout_error",
                "-trace_err",
                "-trace_msg",
                "-nostdin",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp starts");
        // SIPp binds within a few milliseconds; give it a moment before the INVITE.
        std::thread::sleep(Duration::from_millis(300));
        Sipp { child, port, dir: dir.to_path_buf() }
    }

    /// Waits for SIPp to finish its one call; panics with its logs when the call did not go
    /// as the scenario says.
    fn finish(mut self) {
        let until = Instant::now() + Duration::from_secs(45);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if !status.success() {
                    panic!("SIPp failed ({status}):\n{}", self.logs());
                }
                return;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("SIPp did not finish:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".log") {
                out.push_str(&format!("--- {name}\n{}\n", std::fs::read_to_string(entry.path()).unwrap_or_default()));
            }
        }
        out
    }
}

fn case_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sip").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // What the far end "says": a voice-band tone between silences, as RTP.
    std::fs::write(dir.join("announcement.pcap"), rtp_pcap(&speech_like(600))).unwrap();
    std::fs::write(dir.join("speech.pcap"), rtp_pcap(&speech_like(900))).unwrap();
    dir
}

/// 300 ms of silence, `ms` of a 440 Hz + 1 kHz tone at about -12 dBFS, 900 ms of silence.
fn speech_like(ms: usize) -> Vec<i16> {
    let mut pcm = vec![0i16; 2_400];
    for n in 0..ms * 8 {
        let t = n as f64 / 8000.0;
        let v = 0.15 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
            + 0.1 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin();
        pcm.push((v * 32767.0) as i16);
    }
    pcm.extend(std::iter::repeat_n(0, 7_200));
    pcm
}

/// A pcap of PCMU RTP packets (Ethernet/IPv4/UDP), 20 ms apart, as SIPp's `play_pcap_audio` reads.
fn rtp_pcap(pcm: &[i16]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2c3d4u32.to_le_bytes().to_vec(), 2u16.to_le_bytes().to_vec(), 4u16.to_le_bytes().to_vec()] {
        out.extend(v);
    }
    out.extend(0i32.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(65_535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes()); // Ethernet
    for (i, frame) in pcm.chunks(160).enumerate() {
        let mut rtp = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
        rtp[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        rtp[4..8].copy_from_slice(&((i * 160) as u32).to_be_bytes());
        callscript_runtime::telephony::media::g711::Codec::Pcmu.encode(frame, &mut rtp);
        let udp_len = 8 + rtp.len();
        let mut packet = vec![0u8; 12];
        packet.extend([0x08, 0x00]);
        let ip_len = 20 + udp_len;
        packet.extend([
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
            127,
            0,
            0,
            1,
            127,
            0,
            0,
            1,
        ]);
        packet.extend(40_000u16.to_be_bytes());
        packet.extend(40_002u16.to_be_bytes());
        packet.extend((udp_len as u16).to_be_bytes());
        packet.extend([0, 0]);
        packet.extend(rtp);
        let usec = i as u32 * 20_000;
        out.extend((usec / 1_000_000).to_le_bytes());
        out.extend((usec % 1_000_000).to_le_bytes());
        out.extend((packet.len() as u32).to_le_bytes());
        out.extend((packet.len() as u32).to_le_bytes());
        out.extend(packet);
    }
    out
}

/// Writes the campaign (one customer) that dials SIPp at `port`; `sections` are appended.
fn write_campaign(dir: &Path, port: u16, telephony_extra: &str, sections: &str) {
    std::fs::write(dir.join("check.call"), SCRIPT).unwrap();
    std::fs::write(dir.join("customers.csv"), "id,phone\nc1,+8613800000001\n").unwrap();
    let ring_timeout = if telephony_extra.contains("ring_timeout") { "" } else { "ring_timeout = \"2s\"" };
    let local = if telephony_extra.contains("local") { "" } else { "local = \"127.0.0.1:0\"" };
    let campaign = format!(
        r#"task_id = "SIP_CHECK"
script = "check.call"
customers = "customers.csv"

[schedule]
start_time = "00:00"
end_time = "23:59"
timezone = "UTC"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
max_concurrent = 5
calls_per_second = 20

[retry]
max_attempts = 1

[limits]
per_customer_per_day = 3
per_customer_per_7_days = 3

[telephony]
kind = "sip"
gateway = "sip:127.0.0.1:{port}"
from = "sip:95555@bank.example"
asserted_identity = "sip:95555@bank.example"
{local}
{ring_timeout}
{telephony_extra}

[transfer]
agents = "sip:7001@127.0.0.1:{port}"

[allow]
CS009 = "loopback test against SIPp, at any hour"

{sections}
"#
    );
    std::fs::write(dir.join("campaign.toml"), campaign).unwrap();
}

/// The attempt as the export shows it.
#[derive(Debug)]
struct Attempt {
    disposition: String,
    outcome: String,
    last_step: String,
    cause: String,
}

fn run_campaign(dir: &Path) -> Attempt {
    let rows = run_rows(dir);
    assert_eq!(rows.len(), 1, "one attempt: {rows:?}");
    let row = &rows[0];
    Attempt {
        disposition: row["disposition"].clone(),
        outcome: row["outcome"].clone(),
        last_step: row["last_step"].clone(),
        cause: row["cause"].clone(),
    }
}

/// Runs the campaign and returns the attempts export's rows.
fn run_rows(dir: &Path) -> Vec<HashMap<String, String>> {
    let out = Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(["run", "campaign.toml", "--quiet"])
        .current_dir(dir)
        .env("CALLSCRIPT_TEST_SIP_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(out.status.success(), "run failed: {}", String::from_utf8_lossy(&out.stderr));
    exported(dir)
}

/// The attempts export of the campaign in `dir`, as rows.
fn exported(dir: &Path) -> Vec<HashMap<String, String>> {
    let export = Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(["report", "campaign.toml", "--attempts"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let mut reader = csv::Reader::from_reader(&export.stdout[..]);
    reader.deserialize().map(|r| r.unwrap()).collect()
}

/// Runs the campaign against one scenario and checks the attempt.
fn check(name: &str, telephony_extra: &str, disposition: &str, outcome: &str, last_step: &str) -> Attempt {
    check_in(&case_dir(name), name, telephony_extra, "", (disposition, outcome, last_step)).unwrap_or_else(|| Attempt {
        disposition: disposition.into(),
        outcome: outcome.into(),
        last_step: last_step.into(),
        cause: String::new(),
    })
}

/// Runs the campaign in `dir` against one scenario (None when SIPp is missing).
fn check_in(
    dir: &Path,
    name: &str,
    telephony_extra: &str,
    sections: &str,
    expected: (&str, &str, &str),
) -> Option<Attempt> {
    if !sipp_available() {
        return None;
    }
    let transport = if telephony_extra.contains("\"tcp\"") { "tcp" } else { "udp" };
    let sipp = Sipp::start(name, dir, transport);
    write_campaign(dir, sipp.port, telephony_extra, sections);
    let attempt = run_campaign(dir);
    sipp.finish();
    assert_eq!(
        (attempt.disposition.as_str(), attempt.outcome.as_str(), attempt.last_step.as_str()),
        expected,
        "{name}: {attempt:?}"
    );
    Some(attempt)
}

#[test]
fn busy_is_busy() {
    let a = check("busy", "", "busy", "", "");
    assert!(a.cause.is_empty() || a.cause.starts_with("486"), "{a:?}");
}

#[test]
fn not_found_is_an_invalid_number() {
    check("not_found", "", "invalid_number", "", "");
}

#[test]
fn other_failures_are_failed_with_their_code() {
    let a = check("unavailable", "", "failed", "", "");
    assert!(a.cause.is_empty() || a.cause == "503 Service Unavailable", "{a:?}");
}

#[test]
fn a_gateway_that_never_answers_fails_after_timer_b() {
    if !sipp_available() {
        return;
    }
    // A socket that takes INVITEs and says nothing: no provisional, so no CANCEL either.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dir = case_dir("silent_gateway");
    write_campaign(&dir, silent.local_addr().unwrap().port(), "", "");
    let a = run_campaign(&dir);
    assert_eq!((a.disposition.as_str(), a.cause.as_str()), ("failed", "no response from the gateway (Timer B)"));
}

#[test]
fn the_trunks_own_rate_spaces_the_invites() {
    if !sipp_available() {
        return;
    }
    let dir = case_dir("trunk_rate");
    let sipp = Sipp::start_calls("busy", &dir, "udp", 3);
    write_campaign(&dir, sipp.port, "calls_per_second = 2.0\nmax_concurrent = 1", "");
    std::fs::write(dir.join("customers.csv"), "id,phone\nc1,+8613800000001\nc2,+8613800000002\nc3,+8613800000003\n")
        .unwrap();
    let rows = run_rows(&dir);
    sipp.finish();
    assert_eq!(rows.len(), 3);
    let mut started: Vec<jiff::Timestamp> = rows.iter().map(|r| r["started_at"].parse().unwrap()).collect();
    started.sort();
    for pair in started.windows(2) {
        let gap = pair[1].duration_since(pair[0]).as_millis();
        assert!(gap >= 490, "INVITEs {gap} ms apart at 2 calls per second: {started:?}");
    }
    assert!(rows.iter().all(|r| r["disposition"] == "busy"), "{rows:?}");
}

#[test]
fn decline_is_rejected() {
    check("decline", "", "rejected", "", "");
}

#[test]
fn ringing_past_the_ring_timeout_is_cancelled_as_no_answer() {
    let a = check("no_answer", "", "no_answer", "", "");
    assert!(a.cause.is_empty() || a.cause.starts_with("ring timeout"), "{a:?}");
}

#[test]
fn early_media_then_404_is_an_invalid_number() {
    check("early_media_404", "", "invalid_number", "", "");
}

#[test]
fn a_key_by_sip_info_completes_the_script() {
    check("answer_info", "", "answered", "confirmed", "closing");
}

#[test]
fn a_key_by_rfc4733_events_completes_the_script() {
    // Bound to every interface: SDP and Contact carry the address the gateway is reached from.
    check("answer_rfc4733", "local = \"0.0.0.0:0\"", "answered", "confirmed", "closing");
}

#[test]
fn a_key_by_rfc4733_events_reaches_the_call_on_a_shared_rtp_port() {
    // SIPp sends its RTP from the address its answer names: the shared socket routes by it.
    let dir = case_dir("answer_rfc4733_shared");
    let expected = ("answered", "confirmed", "closing");
    check_in(&dir, "answer_rfc4733", "media_ports = \"shared\"", "", expected);
}

#[test]
fn bye_in_the_middle_of_a_prompt_is_a_customer_hangup_at_its_step() {
    check("bye_mid_prompt", "", "customer_hangup", "", "opening");
}

#[test]
fn an_accepted_refer_is_a_transfer() {
    check("refer_accepted", "", "answered", "handed_over", "opening");
}

#[test]
fn a_rejected_refer_plays_the_fallback_and_hangs_up() {
    let a = check("refer_rejected", "", "answered", "transfer_failed", "opening");
    assert!(a.cause.is_empty() || a.cause.contains("603"), "{a:?}");
}

#[test]
fn a_401_challenge_is_answered_with_digest_credentials() {
    check(
        "auth_401",
        "auth_user = \"bank\"\nauth_password_env = \"CALLSCRIPT_TEST_SIP_PASSWORD\"",
        "answered",
        "confirmed",
        "closing",
    );
}

#[test]
fn a_407_challenge_is_answered_with_digest_credentials() {
    check(
        "auth_407",
        "auth_user = \"bank\"\nauth_password_env = \"CALLSCRIPT_TEST_SIP_PASSWORD\"",
        "answered",
        "confirmed",
        "closing",
    );
}

#[test]
fn tcp_carries_the_same_call() {
    check("answer_info", "transport = \"tcp\"", "answered", "confirmed", "closing");
}

/// A FunASR server double (real WebSocket, FunASR's protocol) answering `texts` in turn.
fn mock_recogniser(
    texts: &[&str],
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<callscript_runtime::telephony::asr::testing::ReceivedSession>>>) {
    let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let (addr, server, sessions) =
                callscript_runtime::telephony::asr::testing::spawn_mock(texts).await.unwrap();
            tx.send((addr, sessions)).unwrap();
            let _ = server.await;
        });
    });
    let (addr, sessions) = rx.recv().unwrap();
    (format!("ws://{addr}"), sessions)
}

#[test]
fn speech_goes_to_the_recogniser_and_its_text_to_the_intents() {
    let (url, sessions) = mock_recogniser(&["不是"]);
    let dir = case_dir("answer_speech_asr");
    let Some(a) = check_in(
        &dir,
        "answer_speech",
        "",
        &format!("[speech]\nasr = \"{url}\"\n"),
        ("answered", "declined", "opening"),
    ) else {
        return;
    };
    assert!(a.cause.is_empty(), "{a:?}");
    let sessions = sessions.lock().unwrap();
    assert_eq!(sessions.len(), 1, "one utterance");
    let heard = &sessions[0];
    assert!(heard.problems.is_empty(), "{:?}", heard.problems);
    // About 0.9 s of speech plus the VAD's pre-roll and hangover, as 16-bit PCM at 8 kHz.
    assert!((14_000..40_000).contains(&heard.audio_bytes), "{} bytes", heard.audio_bytes);
    assert!(heard.hotwords.iter().any(|(w, _)| w == "不是"), "hot words: {:?}", heard.hotwords);
    // The customer spoke over the question: the transcript says it was cut, and what they said.
    let store = callscript_runtime::store::SqliteStore::open(&dir.join("campaign.db")).unwrap();
    let transcript = callscript_runtime::store::Store::transcript(&store, "SIP_CHECK", "c1", 1).unwrap().unwrap();
    let lines: Vec<serde_json::Value> = serde_json::from_str(&transcript).unwrap();
    assert_eq!(lines[0]["cut"], serde_json::Value::Null, "the recording notice is never cut: {transcript}");
    assert_eq!(lines[1]["cut"], "interrupted", "{transcript}");
    assert_eq!(lines[2]["text"], "不是", "{transcript}");
}

#[test]
fn an_early_media_announcement_decides_the_disposition() {
    let (url, _sessions) = mock_recogniser(&["您拨打的号码是空号,请查证后再拨"]);
    let dir = case_dir("early_media_announcement");
    let Some(a) = check_in(
        &dir,
        "early_media_announcement",
        "",
        &format!("[speech]\nasr = \"{url}\"\n"),
        ("invalid_number", "", ""),
    ) else {
        return;
    };
    assert!(a.cause.starts_with("carrier announcement: 您拨打的号码是空号"), "{a:?}");
}

#[test]
fn answered_calls_are_recorded_encrypted_and_export_with_the_key() {
    let dir = case_dir("recorded");
    let key = dir.join("recording.key");
    std::fs::write(&key, "7d1c2f7a9b3e4d5c6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let sections = "[recording]\nenabled = true\nkey_file = \"recording.key\"\ndir = \"recordings\"\n";
    let Some(_) = check_in(&dir, "answer_speech", "", sections, ("answered", "unreachable", "opening")) else {
        return;
    };
    let files: Vec<PathBuf> = std::fs::read_dir(dir.join("recordings")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let sealed = std::fs::read(&files[0]).unwrap();
    // Our side is silence (tts = "text"): in plaintext it would be long runs of zero bytes.
    assert!(!sealed.windows(64).any(|w| w.iter().all(|b| *b == 0)), "plaintext silence on disk");
    let wav = dir.join("out.wav");
    let export = Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(["recording", "export", "campaign.toml", "--attempt", "1", "-o"])
        .arg(&wav)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let bytes = std::fs::read(&wav).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 2, "stereo");
    let samples: Vec<i16> = bytes[44..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let (ours, theirs): (Vec<i16>, Vec<i16>) = samples.chunks_exact(2).map(|f| (f[0], f[1])).unzip();
    // Several seconds of call; our prompts are silence, the customer's tone is on the right.
    assert!(ours.len() > 8_000 * 5, "{} frames", ours.len());
    assert!(ours.iter().all(|s| *s == 0));
    let loud = theirs.iter().filter(|s| s.unsigned_abs() > 2_000).count();
    assert!(loud > 8_000 / 2, "the customer's 0.9 s tone is in the right channel ({loud} loud samples)");
}

/// baresip (a real SIP phone) auto-answers, hears our espeak-ng prompts, and presses 1 when
/// the call is up; the script reaches its goal. baresip is driven over its ctrl_tcp socket.
#[test]
fn a_real_phone_answers_presses_1_and_the_script_reaches_its_goal() {
    let present = Command::new("baresip").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    let espeak = Command::new("espeak-ng").arg("--version").stdout(Stdio::null()).status().is_ok();
    if !present || !espeak {
        assert!(std::env::var_os("CALLSCRIPT_REQUIRE_BARESIP").is_none(), "baresip and espeak-ng are required");
        eprintln!("skipped: baresip or espeak-ng is not installed");
        return;
    }
    let dir = case_dir("baresip");
    let phone = dir.join("phone");
    std::fs::create_dir_all(&phone).unwrap();
    let (sip_port, control_port) = (free_port(), free_tcp_port());
    // The phone's microphone: a quiet tone; its speaker: a WAV file we read afterwards.
    let mic: Vec<i16> = (0..8000 * 30)
        .map(|n| (0.03 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 8000.0).sin() * 32767.0) as i16)
        .collect();
    std::fs::write(phone.join("mic.wav"), callscript_runtime::telephony::speech::wav::mono_wav(8000, &mic)).unwrap();
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule aufile.so\nmodule sndfile.so\nsnd_path {dump}\nmodule_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
         ctrl_tcp_listen 127.0.0.1:{control_port}\naudio_player aufile,{heard}\naudio_source aufile,{mic}\n\
         audio_alert aufile,/dev/null\n",
        heard = phone.join("heard.wav").display(),
        dump = phone.display(),
        mic = phone.join("mic.wav").display()
    );
    std::fs::write(phone.join("config"), config).unwrap();
    std::fs::write(phone.join("accounts"), "<sip:+8613800000001@127.0.0.1>;regint=0;answermode=auto\n").unwrap();
    std::fs::write(phone.join("contacts"), "").unwrap();
    let mut baresip = Command::new("baresip")
        .arg("-f")
        .arg(&phone)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Presses 1 once the call is established (baresip sends it as RFC 4733 events).
    let presser = std::thread::spawn(move || -> Result<bool, String> {
        use std::io::{Read, Write};
        let until = Instant::now() + Duration::from_secs(10);
        let mut control = loop {
            match std::net::TcpStream::connect(("127.0.0.1", control_port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(format!("baresip's control port: {e}")),
            }
        };
        control.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = control.read(&mut buf).map_err(|e| format!("reading baresip's events: {e}"))?;
            if n == 0 {
                return Ok(false);
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("CALL_ESTABLISHED") {
                let command = r#"{"command":"sndcode","params":"1","token":"press"}"#;
                control.write_all(format!("{}:{},", command.len(), command).as_bytes()).map_err(|e| e.to_string())?;
                return Ok(true);
            }
        }
    });
    write_campaign(&dir, sip_port, "ring_timeout = \"10s\"", "[speech]\ntts = \"espeak\"\n");
    let attempt = run_campaign(&dir);
    let _ = baresip.kill();
    let _ = baresip.wait();
    assert_eq!(presser.join().unwrap(), Ok(true), "baresip reported the call established");
    assert_eq!(
        (attempt.disposition.as_str(), attempt.outcome.as_str(), attempt.last_step.as_str()),
        ("answered", "confirmed", "closing")
    );
    // The phone heard our voice: espeak-ng's prompts, not silence (sndfile dumps what it decoded).
    let dump = std::fs::read_dir(&phone)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"));
    let heard = dump.map(|p| std::fs::read(p).unwrap()).unwrap_or_default();
    let loud = heard
        .get(44..)
        .unwrap_or_default()
        .chunks_exact(2)
        .filter(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs() > 1_000)
        .count();
    assert!(loud > 8_000, "the phone heard {loud} loud samples");
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `register = true`: the user agent registers with the gateway before its first INVITE. The
/// gateway here is a few lines of UDP that answer REGISTER 200 and INVITE 486.
#[test]
fn register_comes_before_the_first_invite() {
    if !sipp_available() {
        return;
    }
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let gateway = std::thread::spawn(move || {
        let mut methods = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let method = text.split(' ').next().unwrap_or("").to_string();
            let header = |name: &str| {
                text.lines()
                    .find(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
                    .unwrap_or("")
                    .to_string()
            };
            let status = match method.as_str() {
                "REGISTER" => "200 OK",
                "INVITE" => "486 Busy Here",
                _ => {
                    methods.push(method);
                    if methods.iter().filter(|m| *m == "ACK").count() == 1 {
                        break;
                    }
                    continue;
                }
            };
            methods.push(method.clone());
            let to = header("To");
            let to = if to.contains("tag=") { to } else { format!("{to};tag=gw1") };
            let reply = format!(
                "SIP/2.0 {status}\r\n{}\r\n{}\r\n{to}\r\n{}\r\n{}\r\nContact: <sip:gw@127.0.0.1:{port}>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
                header("Via"),
                header("From"),
                header("Call-ID"),
                header("CSeq")
            );
            socket.send_to(reply.as_bytes(), from).unwrap();
        }
        methods
    });
    let dir = case_dir("register");
    write_campaign(&dir, port, "register = true", "");
    let a = run_campaign(&dir);
    let methods = gateway.join().unwrap();
    assert_eq!(methods.first().map(String::as_str), Some("REGISTER"), "{methods:?}");
    assert!(methods.contains(&"INVITE".to_string()), "{methods:?}");
    assert_eq!(a.disposition, "busy");
}

/// What an operator reads when a SIP campaign cannot start: the setting, where it is, the fix.
#[test]
fn sip_setting_errors_name_the_file_the_line_and_the_fix() {
    let dir = case_dir("bad_settings");
    write_campaign(&dir, 5060, "transport = \"sctp\"\nauth_user = \"bank\"", "");
    let run = |dir: &Path, status: i32| {
        let out = Command::new(env!("CARGO_BIN_EXE_callscript"))
            .args(["run", "campaign.toml", "--quiet"])
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env_remove("CALLSCRIPT_SIP_PASSWORD")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(status));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    // Settings that mean nothing are the campaign's findings (exit 1), as `check` reports them.
    insta::assert_snapshot!("sip_bad_settings", run(&dir, 1));
    // Settings that are right but cannot work here: the password's variable is not set (exit 2).
    write_campaign(&dir, 5060, "auth_user = \"bank\"\nauth_password_env = \"CALLSCRIPT_SIP_PASSWORD\"", "");
    insta::assert_snapshot!("sip_password_missing", run(&dir, 2));
}

/// The Call-IDs of the requests of one method SIPp received, per customer number (the user
/// part of To), from its message log.
fn sipp_requests(dir: &Path, method: &str) -> HashMap<String, std::collections::HashSet<String>> {
    let mut by_phone: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if !entry.file_name().to_string_lossy().ends_with("_messages.log") {
            continue;
        }
        let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for message in log.split("message received").skip(1) {
            let mut lines = message.lines().map(str::trim).skip_while(|l| !l.is_empty()).skip(1);
            if !lines.next().is_some_and(|l| l.starts_with(&format!("{method} "))) {
                continue;
            }
            let header = |name: &str| {
                message.lines().map(str::trim).find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            let (Some(to), Some(call_id)) = (header("To:"), header("Call-ID:")) else { continue };
            let phone = to.split("sip:").nth(1).and_then(|u| u.split('@').next()).unwrap_or("").to_string();
            by_phone.entry(phone).or_default().insert(call_id);
        }
    }
    by_phone
}

/// A SIP campaign killed with -9 at several random points and restarted each time: results
/// are committed when each call ends, so an answered call seen in the store before a kill is
/// still answered after it; no customer is dialled without an attempt row, none is dialled
/// again after answering, and every customer ends answered.
#[test]
fn kill_nine_during_a_sip_campaign_loses_no_answer_and_dials_no_one_twice() {
    if !sipp_available() {
        return;
    }
    let dir = case_dir("kill9");
    let sipp = Sipp::start_for("answer_info", &dir, "udp", 10_000, 120);
    write_campaign(&dir, sipp.port, "", "");
    let phones: Vec<String> = (1..=12).map(|i| format!("+86138000000{i:02}")).collect();
    let mut csv = String::from("id,phone\n");
    for (i, p) in phones.iter().enumerate() {
        csv.push_str(&format!("c{i},{p}\n"));
    }
    std::fs::write(dir.join("customers.csv"), csv).unwrap();
    let toml = std::fs::read_to_string(dir.join("campaign.toml")).unwrap();
    let toml = toml
        .replace("max_attempts = 1", "max_attempts = 40\non = [\"failed\"]\nbackoff = \"1s\"")
        .replace(
            "per_customer_per_day = 3\nper_customer_per_7_days = 3",
            "per_customer_per_day = 40\nper_customer_per_7_days = 40",
        )
        .replace("max_concurrent = 5", "max_concurrent = 3");
    std::fs::write(dir.join("campaign.toml"), toml).unwrap();
    let export = || -> Vec<HashMap<String, String>> {
        let out = Command::new(env!("CARGO_BIN_EXE_callscript"))
            .args(["report", "campaign.toml", "--attempts"])
            .current_dir(&dir)
            .output()
            .unwrap();
        if !out.status.success() {
            return Vec::new(); // not run yet
        }
        csv::Reader::from_reader(&out.stdout[..]).deserialize().map(|r| r.unwrap()).collect()
    };
    let answered_key = |r: &HashMap<String, String>| (r["customer_id"].clone(), r["attempt"].clone());
    // Twenty deterministic pseudo-random kill points, 0.3–2.8 s into each run (within SIPp's
    // 120 s life, with time left for the last run to finish every customer). A retry budget
    // of 40 outlasts the attempts the kills interrupt.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for k in 0..20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut child = Command::new(env!("CARGO_BIN_EXE_callscript"))
            .args(["run", "campaign.toml", "--quiet"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300 + x % 2_500));
        // What the store shows as answered just before the kill stays answered after it.
        let before: Vec<_> =
            export().into_iter().filter(|r| r["disposition"] == "answered").map(|r| answered_key(&r)).collect();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let after: std::collections::HashSet<_> =
            export().into_iter().filter(|r| r["disposition"] == "answered").map(|r| answered_key(&r)).collect();
        for key in before {
            assert!(after.contains(&key), "kill {k}: the answered attempt {key:?} was lost");
        }
    }
    let rows = run_rows(&dir);
    let invites = sipp_requests(&dir, "INVITE");
    let byes = sipp_requests(&dir, "BYE");
    let _ = Command::new("kill").arg(sipp.child.id().to_string()).status();
    for (i, phone) in phones.iter().enumerate() {
        let id = format!("c{i}");
        let mine: Vec<&HashMap<String, String>> = rows.iter().filter(|r| r["customer_id"] == id).collect();
        let answered: Vec<u32> =
            mine.iter().filter(|r| r["disposition"] == "answered").map(|r| r["attempt"].parse().unwrap()).collect();
        assert_eq!(answered.len(), 1, "{id} answered exactly once: {mine:?}");
        let last = mine.iter().map(|r| r["attempt"].parse::<u32>().unwrap()).max().unwrap();
        assert_eq!(last, answered[0], "{id} was dialled again after answering: {mine:?}");
        let dialled = invites.get(phone.as_str()).map_or(0, |c| c.len());
        assert!(dialled <= mine.len(), "{id}: {dialled} INVITEs for {} attempts", mine.len());
        // A call we hung up after the script finished (our BYE reached SIPp) is the answer.
        let hung_up = byes.get(phone.as_str()).map_or(0, |c| c.len());
        assert!(hung_up <= 1, "{id}: {hung_up} calls completed, the customer confirmed more than once");
    }
}

/// A bank system double on loopback (HTTP/1.1): answers every request with `status` and `body`
/// and keeps each request's body; it stops accepting after a minute.
struct HttpPeer {
    url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl HttpPeer {
    fn start(path: &str, status: u16, body: &'static str) -> HttpPeer {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = std::sync::Arc::clone(&bodies);
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            while Instant::now() < until {
                let Ok((mut socket, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                socket.set_nonblocking(false).unwrap();
                socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                let body_at = loop {
                    let n = socket.read(&mut buf).unwrap_or(0);
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length || n == 0 {
                            break end + 4;
                        }
                    } else if n == 0 {
                        break request.len();
                    }
                };
                if let Ok(json) = serde_json::from_slice(&request[body_at..]) {
                    kept.lock().unwrap().push(json);
                }
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes());
            }
        });
        HttpPeer { url, bodies }
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// A call of tests/sip/act.call against SIPp's `scenario`, with the balance lookup answered
/// by `action` and texts sent to `sms`: the attempt's export row and the JSON report.
fn act_case(
    name: &str,
    scenario: &str,
    action: &HttpPeer,
    sms: &HttpPeer,
) -> Option<(HashMap<String, String>, serde_json::Value, PathBuf)> {
    if !sipp_available() {
        return None;
    }
    let dir = case_dir(name);
    let sipp = Sipp::start(scenario, &dir, "udp");
    let sections = format!(
        "[actions.balance_lookup]\nurl = \"{}\"\ntimeout = \"2s\"\n\n[sms]\nurl = \"{}\"\nsender = \"95555\"\n",
        action.url, sms.url
    );
    write_campaign(&dir, sipp.port, "", &sections);
    std::fs::write(dir.join("check.call"), include_str!("sip/act.call")).unwrap();
    std::fs::write(dir.join("customers.csv"), "id,phone,account_tail,customer_ref\nc1,+8613800000001,8831,LN-0001\n")
        .unwrap();
    let rows = run_rows(&dir);
    sipp.finish();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let report = Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(["report", "campaign.toml", "--format", "json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    Some((rows.into_iter().next().unwrap(), report, dir))
}

#[test]
fn a_sip_call_looks_the_balance_up_and_texts_it_through_loopback_servers() {
    let action = HttpPeer::start("/balance", 200, r#"{"balance": "1200.50"}"#);
    let sms = HttpPeer::start("/sms", 200, r#"{"id": "m1"}"#);
    let Some((row, report, _)) = act_case("act_ok", "answer_info", &action, &sms) else { return };
    assert_eq!((row["disposition"].as_str(), row["outcome"].as_str()), ("answered", "confirmed"), "{row:?}");
    assert!(row["actions"].starts_with("balance_lookup ok "), "{row:?}");
    assert_eq!(row["sms"], "sent", "{row:?}");
    // The request of CAMPAIGN.md §5.
    let requests = action.bodies();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(
        (r["action"].as_str(), r["campaign"].as_str(), r["customer_id"].as_str()),
        (Some("balance_lookup"), Some("SIP_CHECK"), Some("c1"))
    );
    assert_eq!((r["attempt"].as_u64(), r["input"]["customer_ref"].as_str()), (Some(1), Some("LN-0001")));
    assert!(r["call_id"].as_str().is_some_and(|c| !c.is_empty()), "{r}");
    // The customer gets the whole text; the store and the report only ever the masked one.
    let texts = sms.bodies();
    assert_eq!(texts.len(), 1, "{texts:?}");
    let t = &texts[0];
    assert_eq!(
        (t["to"].as_str(), t["sender"].as_str(), t["attempt"].as_u64()),
        (Some("+8613800000001"), Some("95555"), Some(1))
    );
    assert!(
        t["text"].as_str().unwrap().contains("一千二百元五角") && t["text"].as_str().unwrap().contains("8831"),
        "{t}"
    );
    assert_eq!(report["actions"][0]["name"], "balance_lookup");
    assert_eq!((report["actions"][0]["ok"].as_u64(), report["actions"][0]["failed"].as_u64()), (Some(1), Some(0)));
    assert_eq!(report["messages"]["sent"], 1, "{report}");
}

#[test]
fn a_failing_action_server_sends_the_call_down_failed_and_the_cause_is_stored() {
    let action = HttpPeer::start("/balance", 503, r#"{"error": "down"}"#);
    let sms = HttpPeer::start("/sms", 200, "{}");
    let Some((row, report, dir)) = act_case("act_failed", "answer_info", &action, &sms) else { return };
    assert_eq!((row["disposition"].as_str(), row["outcome"].as_str()), ("answered", "unreachable"), "{row:?}");
    assert!(row["actions"].starts_with("balance_lookup failed "), "{row:?}");
    assert_eq!(report["actions"][0]["causes"][0][0], "HTTP status 503", "{report}");
    assert!(sms.bodies().is_empty(), "no text after a failed lookup");
    let store = callscript_runtime::store::SqliteStore::open(&dir.join("campaign.db")).unwrap();
    let transcript = callscript_runtime::store::Store::transcript(&store, "SIP_CHECK", "c1", 1).unwrap().unwrap();
    assert!(transcript.contains("\"cause\":\"HTTP status 503\""), "{transcript}");
}

#[test]
fn transfer_data_rides_on_the_refer_target_and_is_stored_masked() {
    let action = HttpPeer::start("/balance", 200, r#"{"balance": "1200.50"}"#);
    let sms = HttpPeer::start("/sms", 200, "{}");
    // SIPp checks the Refer-To's X-CallScript- headers (tests/sip/refer_with_data.xml).
    let Some((row, _, dir)) = act_case("act_refer", "refer_with_data", &action, &sms) else { return };
    assert_eq!((row["disposition"].as_str(), row["outcome"].as_str()), ("answered", "handed_over"), "{row:?}");
    let store = callscript_runtime::store::SqliteStore::open(&dir.join("campaign.db")).unwrap();
    let transcript = callscript_runtime::store::Store::transcript(&store, "SIP_CHECK", "c1", 1).unwrap().unwrap();
    assert!(transcript.contains(r#"{"kind":"handover","key":"tail","value":"****"}"#), "{transcript}");
    assert!(!transcript.contains("8831"), "{transcript}");
}

/// LANGUAGE.md §15 on a real call: the customer answers calmly, then loud and high-pitched;
/// the recogniser's words are neutral both times, so the voice alone takes the ask's
/// `emotion angry` branch (a transfer), and the stored transcript says why.
#[test]
fn a_loud_high_voice_after_a_calm_one_reaches_the_angry_branch() {
    if !sipp_available() || !generated_speech::tools_available() {
        return;
    }
    let dir = case_dir("answer_emotion");
    let calm = generated_speech::generated_speech(&dir, "calm", "喂你好请问哪位", generated_speech::CALM);
    let angry = generated_speech::generated_speech(&dir, "angry", "我现在没空你们晚点再打吧", generated_speech::ANGRY);
    let mut pcm = vec![0i16; 2_400];
    pcm.extend(calm);
    pcm.extend(vec![0i16; 9_600]);
    pcm.extend(angry);
    pcm.extend(vec![0i16; 8_000]);
    std::fs::write(dir.join("emotion.pcap"), rtp_pcap(&pcm)).unwrap();
    let (url, sessions) = mock_recogniser(&["喂你好请问哪位", "我现在没空你们晚点再打吧"]);
    let sipp = Sipp::start("answer_emotion", &dir, "udp");
    write_campaign(&dir, sipp.port, "", &format!("[speech]\nasr = \"{url}\"\n"));
    std::fs::write(dir.join("check.call"), include_str!("sip/emotion.call")).unwrap();
    let attempt = run_campaign(&dir);
    let store = callscript_runtime::store::SqliteStore::open(&dir.join("campaign.db")).unwrap();
    let transcript = callscript_runtime::store::Store::transcript(&store, "SIP_CHECK", "c1", 1).unwrap().unwrap();
    assert_eq!(
        (attempt.disposition.as_str(), attempt.outcome.as_str()),
        ("answered", "escalated"),
        "{attempt:?}\n{transcript}"
    );
    sipp.finish();
    assert_eq!(sessions.lock().unwrap().len(), 2, "two utterances: {transcript}");
    let lines: Vec<serde_json::Value> = serde_json::from_str(&transcript).unwrap();
    let replies: Vec<&serde_json::Value> = lines.iter().filter(|l| l["kind"] == "reply").collect();
    assert_eq!(replies.len(), 2, "{transcript}");
    assert_eq!(replies[0]["emotion"], serde_json::Value::Null, "the first answer sets the baseline: {transcript}");
    assert_eq!(replies[1]["emotion"], "angry", "{transcript}");
    let why = replies[1]["emotion_why"].as_str().unwrap_or_default();
    assert!(why.starts_with("voice +") && why.ends_with("over the first utterance"), "{transcript}");
}
