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
        let port = free_port();
        let media_port = free_port();
        let child = Command::new("sipp")
            .args(["-sf", scenario(name).to_str().unwrap()])
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media_port.to_string()])
            .args(["-t", if transport == "tcp" { "t1" } else { "u1" }])
            .args(["-m", "1", "-timeout", "40s", "-timeout_error", "-trace_err", "-trace_msg", "-nostdin"])
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
    // What the far end "says": 1.2 s of a voice-band tone between silences, as RTP.
    std::fs::write(dir.join("announcement.pcap"), rtp_pcap(&speech_like(1_200))).unwrap();
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
        callscript_runtime::media::g711::Codec::Pcmu.encode(frame, &mut rtp);
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

/// Writes the campaign (one customer) that dials SIPp at `port`.
fn write_campaign(dir: &Path, port: u16, telephony_extra: &str) {
    std::fs::write(dir.join("check.call"), SCRIPT).unwrap();
    std::fs::write(dir.join("customers.csv"), "id,phone\nc1,+8613800000001\n").unwrap();
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
local = "127.0.0.1:0"
ring_timeout = "2s"
{telephony_extra}

[transfer]
agents = "sip:7001@127.0.0.1:{port}"

[allow]
CS009 = "loopback test against SIPp, at any hour"
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
    let out = Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(["run", "campaign.toml", "--quiet"])
        .current_dir(dir)
        .env("CALLSCRIPT_TEST_SIP_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(out.status.success(), "run failed: {}", String::from_utf8_lossy(&out.stderr));
    let export = Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(["report", "campaign.toml", "--attempts"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let mut reader = csv::Reader::from_reader(&export.stdout[..]);
    let rows: Vec<HashMap<String, String>> = reader.deserialize().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1, "one attempt: {rows:?}");
    let row = &rows[0];
    Attempt {
        disposition: row["disposition"].clone(),
        outcome: row["outcome"].clone(),
        last_step: row["last_step"].clone(),
        cause: row["cause"].clone(),
    }
}

/// Runs the campaign against one scenario and checks the attempt.
fn check(name: &str, telephony_extra: &str, disposition: &str, outcome: &str, last_step: &str) -> Attempt {
    if !sipp_available() {
        return Attempt {
            disposition: disposition.into(),
            outcome: outcome.into(),
            last_step: last_step.into(),
            cause: String::new(),
        };
    }
    let dir = case_dir(name);
    let transport = if telephony_extra.contains("\"tcp\"") { "tcp" } else { "udp" };
    let sipp = Sipp::start(name, &dir, transport);
    write_campaign(&dir, sipp.port, telephony_extra);
    let attempt = run_campaign(&dir);
    sipp.finish();
    assert_eq!(
        (attempt.disposition.as_str(), attempt.outcome.as_str(), attempt.last_step.as_str()),
        (disposition, outcome, last_step),
        "{name}: {attempt:?}"
    );
    attempt
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
    check("answer_rfc4733", "", "answered", "confirmed", "closing");
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
