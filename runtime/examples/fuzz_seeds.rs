//! Writes the seed corpora, `corpus/<target>/`, from the inputs the project's own tests use:
//! our SDP offer and the answers the SIPp scenarios send, the responses the hostile peer of
//! tests/sip/hostile.rs sends, RTP audio and telephone events as the receiver tests build
//! them, and real recordings sealed with the fuzz key. An example of the runtime crate, so it
//! builds with the workspace (`cargo test` already compiled it) rather than as a second
//! runtime build beside the instrumented one; `fuzz-runtime/run.sh` runs it:
//! `cargo run -p callscript-runtime --example fuzz_seeds -- fuzz-runtime/corpus`.

use std::path::PathBuf;

use callscript_runtime::telephony::media::dtmf::sender_packets;
use callscript_runtime::telephony::media::g711::Codec;
use callscript_runtime::telephony::recording::{RecordingKey, RecordingMeta, RecordingWriter};

#[path = "../tests/support/scratch.rs"]
mod scratch;

/// The corpus folder, the first argument (default `corpus`).
fn corpus() -> PathBuf {
    std::env::args_os().nth(1).map_or_else(|| PathBuf::from("corpus"), PathBuf::from)
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus().join(target);
    std::fs::create_dir_all(&dir).expect("corpus folder");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

fn sdp() {
    let offer = callscript_runtime::telephony::sip::sdp::offer("127.0.0.1:40000".parse().expect("address"), 7);
    write("sdp", "offer", offer.as_bytes());
    let answers = [
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 96\r\nc=IN IP4 127.0.0.2\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\n",
        "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
        "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\nm=audio 6000 RTP/AVP 18 0\r\n",
        "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP 18 97\r\n",
    ];
    for (i, answer) in answers.iter().enumerate() {
        write("sdp", &format!("answer{i}"), answer.as_bytes());
    }
}

/// Datagrams for the `sip_response` target, NUL between them: answers to the INVITE its
/// stack (`stack::loopback(7)`) sends, then the far end's requests in the dialog.
fn sip_response() {
    use callscript_runtime::telephony::sip::stack;
    let mut line = stack::loopback(7);
    line.invite(std::time::Instant::now(), 1, "13800000001", b"v=0\r\n".to_vec()).expect("a valid callee");
    let invite = String::from_utf8(line.poll_transmit().expect("the INVITE").bytes).expect("text");
    let header = |name: &str| {
        invite.lines().find(|l| l.to_ascii_lowercase().starts_with(name)).expect("our INVITE has it").to_string()
    };
    let (via, from, to, call_id) = (header("via:"), header("from:"), header("to:"), header("call-id:"));
    let local_tag = from.rsplit_once("tag=").map(|(_, t)| t.to_string()).expect("a From tag");
    let body =
        "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP 0 101\r\n";
    let response = |status: &str, cseq: &str, extra: &str, body: &str| {
        format!(
            "SIP/2.0 {status}\r\n{via}\r\n{from}\r\n{to};tag=gw\r\n{call_id}\r\nCSeq: {cseq}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let request = |method: &str, cseq: u32, extra: &str, body: &str| {
        format!(
            "{method} sip:95555@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKgw{cseq}\r\n\
             From: <sip:13800000001@127.0.0.1>;tag=gw\r\nTo: <sip:95555@bank.example>;tag={local_tag}\r\n{call_id}\r\n\
             CSeq: {cseq} {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let contact = "Contact: <sip:gw@127.0.0.1:5060>\r\nRecord-Route: <sip:sbc@127.0.0.1;lr>\r\n";
    let ok = response("200 OK", "1 INVITE", &format!("{contact}Content-Type: application/sdp\r\n"), body);
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "answered",
            vec![response("100 Trying", "1 INVITE", "", ""), response("180 Ringing", "1 INVITE", "", ""), ok.clone()],
        ),
        ("ok_no_contact", vec![response("200 OK", "1 INVITE", "Content-Type: application/sdp\r\n", body)]),
        (
            "early_media_busy",
            vec![
                response("183 Session Progress", "1 INVITE", "Content-Type: application/sdp\r\n", body),
                response("486 Busy Here", "1 INVITE", "", ""),
            ],
        ),
        (
            "challenge",
            vec![response(
                "407 Proxy Authentication Required",
                "1 INVITE",
                "Proxy-Authenticate: Digest realm=\"gw\", nonce=\"abc\", qop=\"auth\"\r\n",
                "",
            )],
        ),
        (
            "dialog",
            vec![
                ok.clone(),
                ok.clone(),
                request("INFO", 1, "Content-Type: application/dtmf-relay\r\n", "Signal=1\r\nDuration=160\r\n"),
                request("NOTIFY", 2, "Event: refer\r\nSubscription-State: terminated\r\n", "SIP/2.0 200 OK\r\n"),
                request("INVITE", 3, "", ""),
                request("BYE", 4, "", ""),
                response("202 Accepted", "2 REFER", "", ""),
            ],
        ),
        ("malformed_status", vec![response("99 Not A Status", "1 INVITE", "", "")]),
    ];
    for (name, datagrams) in cases {
        write("sip_response", name, datagrams.join("\0").as_bytes());
    }
}

/// One RTP packet (version 2, no CSRC or extension).
fn rtp_packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend(seq.to_be_bytes());
    p.extend(ts.to_be_bytes());
    p.extend(9u32.to_be_bytes());
    p.extend(payload);
    p
}

fn rtp() {
    let mut tone = Vec::new();
    Codec::Pcmu.encode(&[6_000i16; 160], &mut tone);
    let mut input = vec![0u8];
    let mut add = |packet: Vec<u8>| {
        input.extend((packet.len() as u16).to_be_bytes());
        input.extend(packet);
    };
    for seq in [1u16, 0, 2, 4, 3, 3, 65_535] {
        add(rtp_packet(0, seq, u32::from(seq) * 160, &tone));
    }
    for p in sender_packets('7', 100).expect("a key") {
        add(rtp_packet(101, 100, 4_000, &p.payload));
    }
    // PCMA, a CSRC, padding, and an extension header.
    add(rtp_packet(8, 5, 800, &tone));
    let mut odd = rtp_packet(0, 6, 960, &tone);
    odd[0] = 0x80 | 0x20 | 0x10 | 1;
    odd.extend([0, 0, 0, 4]);
    add(odd);
    write("rtp", "call", &input);
}

fn jitter() {
    let mut steps = Vec::new();
    for seq in [0u16, 2, 1, 3, 3, 65_534, 65_535, 0, 1, 10, 4, 5] {
        steps.extend([0u8, (seq >> 8) as u8, seq as u8]);
        steps.extend([1u8, 0, 0]);
    }
    write("jitter", "reordered", &steps);
}

fn recording() {
    let key = RecordingKey::from_bytes([7; 32]);
    // The recordings are made here, then copied into the corpus (the output, which stays).
    let dir = scratch::scratch("seed");
    for (name, seconds) in [("short", 0.2), ("chunks", 2.5)] {
        let path = dir.path().join(name);
        let meta = RecordingMeta { campaign: "FUZZ".into(), attempt_id: 1, customer_id: "c1".into(), started_ms: 0 };
        let mut writer = RecordingWriter::create(&path, &key, &meta).expect("writer");
        let samples = (8_000.0 * seconds) as usize;
        let ours: Vec<i16> = (0..samples).map(|n| (n % 200) as i16 * 100).collect();
        writer.write(&ours, &ours).expect("written");
        writer.finish().expect("finished");
        write("recording", name, &std::fs::read(&path).expect("read back"));
    }
}

fn main() {
    sdp();
    sip_response();
    rtp();
    jitter();
    recording();
}
