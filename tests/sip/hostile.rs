//! Hostile gateways: a scripted UDP peer on loopback (a thread, a socket, a few lines of SIP
//! per behaviour) that breaks the rules a real trunk keeps. Whatever it does, `callscript run`
//! exits normally, every attempt ends with a disposition, and every 2xx is ACKed and, when
//! the call cannot go on, ended with a BYE.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{case_dir, exported, write_campaign};

/// What the peer does with one number's INVITE.
#[derive(Clone, Debug, Default)]
struct Behaviour {
    /// Garbage datagrams sent to us before every reply.
    garbage: usize,
    /// Responses with a wrong Call-ID, or without Via / CSeq, sent before the real ones.
    strays: bool,
    /// 180 Ringing sent this many times (each with a new body, so none is a retransmission).
    ringing: usize,
    /// A malformed status line (`SIP/2.0 99 …`) sent after the 180s.
    malformed_status: bool,
    /// The final response to the INVITE; None: ringing until CANCEL.
    answer: Option<Answer>,
    /// CANCEL is ignored: no 200, no 487.
    ignore_cancel: bool,
    /// After our ACK, the peer presses 1 by SIP INFO (the test script then says goodbye).
    press_1: bool,
    /// After our ACK, the peer hangs up with this many BYEs at once.
    bye_storm: usize,
}

#[derive(Clone, Debug)]
enum Answer {
    /// A final status line, e.g. "486 Busy Here".
    Status(&'static str),
    /// 200 OK.
    Ok {
        contact: bool,
        /// The SDP answer: None for none; Some(codecs) for an `m=audio` line with them.
        codecs: Option<&'static str>,
        /// Bytes of padding header, for a huge 200.
        padding: usize,
    },
}

/// Everything the peer received, as `(number, first line)`, in order.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A SIP message as text, read without any of the crate's code.
struct Message {
    first: String,
    headers: Vec<(String, String)>,
}

impl Message {
    fn parse(bytes: &[u8]) -> Option<Message> {
        let text = std::str::from_utf8(bytes).ok()?;
        let head = text.split("\r\n\r\n").next()?;
        let mut lines = head.split("\r\n");
        let first = lines.next()?.to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some(Message { first, headers })
    }

    fn header(&self, name: &str) -> String {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    fn method(&self) -> &str {
        self.first.split(' ').next().unwrap_or("")
    }

    /// The number in the To header: which behaviour this call gets (our in-dialog requests
    /// go to the gateway's Contact, but To stays the customer).
    fn number(&self) -> String {
        let to = self.header("to");
        to.split("sip:").nth(1).and_then(|r| r.split('@').next()).unwrap_or("").to_string()
    }
}

/// The scripted gateway: one socket, one thread, behaviours by number.
struct Peer {
    port: u16,
    seen: Seen,
    stop: Arc<AtomicBool>,
    done: std::thread::JoinHandle<()>,
}

impl Peer {
    fn start(behaviours: HashMap<&'static str, Behaviour>, for_secs: u64) -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let seen: Seen = Arc::default();
        let log = Arc::clone(&seen);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let done = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            let until = Instant::now() + Duration::from_secs(for_secs);
            let mut invites: HashMap<String, Message> = HashMap::new();
            while Instant::now() < until && !stopped.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                let Some(message) = Message::parse(&buf[..n]) else { continue };
                let number = message.number();
                log.lock().unwrap().push((number.clone(), message.first.clone()));
                let Some(behaviour) = behaviours.get(number.as_str()) else { continue };
                let gateway = Gateway { socket: &socket, to: from, port, behaviour };
                match message.method() {
                    "INVITE" => {
                        gateway.invite(&message);
                        invites.insert(message.header("call-id"), message);
                    }
                    "CANCEL" if !behaviour.ignore_cancel => {
                        gateway.reply(&message, "200 OK", "", "");
                        if let Some(invite) = invites.get(&message.header("call-id")) {
                            gateway.reply(invite, "487 Request Terminated", "", "");
                        }
                    }
                    "ACK" => {
                        if let Some(invite) = invites.get(&message.header("call-id")) {
                            gateway.after_ack(invite);
                        }
                    }
                    "BYE" | "INFO" | "OPTIONS" => gateway.reply(&message, "200 OK", "", ""),
                    _ => {}
                }
            }
        });
        Peer { port, seen, stop, done }
    }

    /// Stops the peer (the run it served has ended); what it received.
    fn finish(self) -> Vec<(String, String)> {
        self.stop.store(true, Ordering::Relaxed);
        self.done.join().unwrap();
        Arc::try_unwrap(self.seen).unwrap().into_inner().unwrap()
    }
}

struct Gateway<'a> {
    socket: &'a UdpSocket,
    to: SocketAddr,
    port: u16,
    behaviour: &'a Behaviour,
}

const TAG: &str = ";tag=hostile1";

impl Gateway<'_> {
    fn send(&self, text: &str) {
        for n in 0..self.behaviour.garbage {
            let junk: Vec<u8> = (0..(n * 37) % 1400).map(|i| (i * 131 + n) as u8).collect();
            let _ = self.socket.send_to(&junk, self.to);
            let _ = self.socket.send_to(b"SIP/2.0 200\r\n\r\n", self.to);
        }
        let _ = self.socket.send_to(text.as_bytes(), self.to);
    }

    /// A response to `request` with its Via, From, To (tagged), Call-ID and CSeq.
    fn reply(&self, request: &Message, status: &str, extra: &str, body: &str) {
        self.send(&self.response(request, status, extra, body, &request.header("call-id")));
    }

    fn response(&self, request: &Message, status: &str, extra: &str, body: &str, call_id: &str) -> String {
        let to = request.header("to");
        let to = if to.contains("tag=") { to } else { format!("{to}{TAG}") };
        format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            request.header("via"),
            request.header("from"),
            request.header("cseq"),
            body.len()
        )
    }

    fn invite(&self, invite: &Message) {
        let b = self.behaviour;
        if b.strays {
            // Someone else's call, a response with no Via, one with no CSeq, a 200 to nothing.
            let _ =
                self.socket.send_to(self.response(invite, "200 OK", "", "", "not-ours@nowhere").as_bytes(), self.to);
            let no_via = self.response(invite, "180 Ringing", "", "", &invite.header("call-id"));
            let no_via: String =
                no_via.split("\r\n").filter(|l| !l.starts_with("Via:")).collect::<Vec<_>>().join("\r\n");
            let _ = self.socket.send_to(no_via.as_bytes(), self.to);
            let no_cseq = self.response(invite, "486 Busy Here", "", "", &invite.header("call-id"));
            let no_cseq: String =
                no_cseq.split("\r\n").filter(|l| !l.starts_with("CSeq:")).collect::<Vec<_>>().join("\r\n");
            let _ = self.socket.send_to(no_cseq.as_bytes(), self.to);
        }
        self.reply(invite, "100 Trying", "", "");
        for n in 0..b.ringing {
            // A different body each time: a new provisional, not a retransmission.
            self.reply(invite, "180 Ringing", "Content-Type: text/plain\r\n", &format!("ring {n}"));
        }
        if b.malformed_status {
            self.reply(invite, "99 Not A Status", "", "");
        }
        match &b.answer {
            None => {}
            Some(Answer::Status(status)) => self.reply(invite, status, "", ""),
            Some(Answer::Ok { contact, codecs, padding }) => {
                let mut extra = String::new();
                if *contact {
                    extra.push_str(&format!("Contact: <sip:gw@127.0.0.1:{}>\r\n", self.port));
                }
                if *padding > 0 {
                    extra.push_str(&format!("X-Padding: {}\r\n", "x".repeat(*padding)));
                }
                let body = match codecs {
                    None => String::new(),
                    Some(codecs) => {
                        extra.push_str("Content-Type: application/sdp\r\n");
                        format!(
                            "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP {codecs}\r\n"
                        )
                    }
                };
                self.reply(invite, "200 OK", &extra, &body);
            }
        }
    }

    /// In-dialog requests from the gateway's side, to the address our INVITE came from.
    fn request(&self, invite: &Message, method: &str, cseq: u32, content_type: &str, body: &str) {
        let from = invite.header("to");
        let from = if from.contains("tag=") { from } else { format!("{from}{TAG}") };
        let target = invite.header("contact");
        let target = target.trim_start_matches('<').split('>').next().unwrap_or("");
        let text = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-{method}-{cseq}\r\nFrom: {from}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
            self.port,
            invite.header("from"),
            invite.header("call-id"),
            body.len()
        );
        let _ = self.socket.send_to(text.as_bytes(), self.to);
    }

    fn after_ack(&self, invite: &Message) {
        if self.behaviour.press_1 {
            std::thread::sleep(Duration::from_millis(300));
            self.request(invite, "INFO", 1, "Content-Type: application/dtmf-relay\r\n", "Signal=1\r\nDuration=160\r\n");
        }
        if self.behaviour.bye_storm > 0 {
            // A moment after the ACK, as a hanging-up phone would: a BYE that races our ACK
            // can reach the stack before it has filed the dialog, and is answered 481.
            std::thread::sleep(Duration::from_millis(200));
        }
        for n in 0..self.behaviour.bye_storm {
            // The same BYE retransmitted, and new ones with their own CSeq.
            self.request(invite, "BYE", 2 + (n as u32 % 3), "", "");
        }
    }
}

/// Runs the campaign for `customers` (id, phone) against the peer; the export's rows by
/// customer, and how long the run took. A run that outlives `limit` is killed and fails.
fn run_against(
    name: &str,
    customers: &[(&str, &str)],
    peer: &Peer,
    extra: &str,
    limit: Duration,
) -> (HashMap<String, HashMap<String, String>>, Duration) {
    let dir = case_dir(name);
    write_campaign(&dir, peer.port, extra, "");
    let mut csv = String::from("id,phone\n");
    for (id, phone) in customers {
        csv.push_str(&format!("{id},{phone}\n"));
    }
    std::fs::write(dir.join("customers.csv"), csv).unwrap();
    let started = Instant::now();
    // Run once under a watchdog, so a hang fails the test instead of stalling it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(["run", "campaign.toml", "--quiet"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "run failed: {status}");
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("`run` against {name} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed();
    let rows = exported(&dir);
    (rows.into_iter().map(|r| (r["customer_id"].clone(), r)).collect(), took)
}

/// The first lines the peer received for one number.
fn received(seen: &[(String, String)], number: &str) -> Vec<String> {
    seen.iter().filter(|(n, _)| n == number).map(|(_, l)| l.split(' ').next().unwrap_or("").to_string()).collect()
}

fn ok(contact: bool, codecs: Option<&'static str>, padding: usize) -> Option<Answer> {
    Some(Answer::Ok { contact, codecs, padding })
}

#[test]
fn a_gateway_that_ignores_cancel_is_given_up_on_soon_after_the_ring_timeout() {
    let behaviour = Behaviour { ringing: 1, ignore_cancel: true, ..Behaviour::default() };
    let peer = Peer::start(HashMap::from([("+8613900000100", behaviour)]), 20);
    // ring_timeout 2 s; the CANCEL's own timer is 64×T1 (t1x64, 4 s here): the attempt ends
    // within both and some slack, not at Timer C's 180 s.
    let (rows, took) = run_against("ignores_cancel", &[("c1", "+8613900000100")], &peer, "", Duration::from_secs(30));
    let row = &rows["c1"];
    assert_eq!(row["disposition"], "no_answer", "{row:?}");
    assert!(row["cause"].contains("CANCEL"), "{row:?}");
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let seen = peer.finish();
    assert!(received(&seen, "+8613900000100").contains(&"CANCEL".to_string()), "{seen:?}");
}

#[test]
fn a_2xx_without_contact_is_acked_and_the_call_goes_on_to_its_bye() {
    let behaviour =
        Behaviour { ringing: 1, answer: ok(false, Some("0 101"), 0), press_1: true, ..Behaviour::default() };
    let peer = Peer::start(HashMap::from([("+8613900000200", behaviour)]), 25);
    let (rows, _) = run_against("no_contact", &[("c1", "+8613900000200")], &peer, "", Duration::from_secs(40));
    let row = &rows["c1"];
    assert_eq!((row["disposition"].as_str(), row["outcome"].as_str()), ("answered", "confirmed"), "{row:?}");
    let methods = received(&peer.finish(), "+8613900000200");
    assert!(methods.contains(&"ACK".to_string()), "{methods:?}");
    assert!(methods.contains(&"BYE".to_string()), "{methods:?}");
}

#[test]
fn a_60_kb_200_is_acked_and_byed() {
    let behaviour =
        Behaviour { ringing: 1, answer: ok(true, Some("0 101"), 60_000), press_1: true, ..Behaviour::default() };
    let peer = Peer::start(HashMap::from([("+8613900000300", behaviour)]), 25);
    let (rows, _) = run_against("huge_200", &[("c1", "+8613900000300")], &peer, "", Duration::from_secs(40));
    let row = &rows["c1"];
    assert_eq!((row["disposition"].as_str(), row["outcome"].as_str()), ("answered", "confirmed"), "{row:?}");
    let methods = received(&peer.finish(), "+8613900000300");
    assert!(methods.contains(&"ACK".to_string()), "{methods:?}");
    assert!(methods.contains(&"BYE".to_string()), "{methods:?}");
}

#[test]
fn a_status_out_of_range_is_ignored_not_taken_as_final() {
    let behaviour = Behaviour {
        ringing: 1,
        malformed_status: true,
        answer: Some(Answer::Status("486 Busy Here")),
        ..Behaviour::default()
    };
    let peer = Peer::start(HashMap::from([("+8613900000400", behaviour)]), 15);
    let (rows, _) = run_against("status_99", &[("c1", "+8613900000400")], &peer, "", Duration::from_secs(30));
    assert_eq!(rows["c1"]["disposition"], "busy", "{:?}", rows["c1"]);
    peer.finish();
}

/// One campaign, one hostile gateway, a different misbehaviour per number: the run ends by
/// itself and every customer has an attempt with a disposition.
#[test]
fn a_hostile_gateway_never_brings_the_run_down() {
    let behaviours = HashMap::from([
        // Garbage datagrams and stray responses around a busy.
        (
            "+8613900000501",
            Behaviour { garbage: 5, strays: true, answer: Some(Answer::Status("486 Busy Here")), ..Default::default() },
        ),
        // A flood of provisionals, then a decline.
        (
            "+8613900000502",
            Behaviour { ringing: 300, answer: Some(Answer::Status("603 Decline")), ..Default::default() },
        ),
        // 200 without SDP: ACKed, then BYE.
        ("+8613900000503", Behaviour { ringing: 1, answer: ok(true, None, 0), ..Default::default() }),
        // 200 with codecs we do not speak (G.729, iLBC): ACKed, then BYE.
        ("+8613900000504", Behaviour { ringing: 1, answer: ok(true, Some("18 97"), 0), ..Default::default() }),
        // Answered, then a storm of BYEs.
        (
            "+8613900000505",
            Behaviour { ringing: 1, answer: ok(true, Some("0"), 0), bye_storm: 40, ..Default::default() },
        ),
        // A malformed status, then silence, then our CANCEL ignored.
        ("+8613900000506", Behaviour { ringing: 2, malformed_status: true, ignore_cancel: true, ..Default::default() }),
    ]);
    let peer = Peer::start(behaviours, 30);
    let customers = [
        ("c1", "+8613900000501"),
        ("c2", "+8613900000502"),
        ("c3", "+8613900000503"),
        ("c4", "+8613900000504"),
        ("c5", "+8613900000505"),
        ("c6", "+8613900000506"),
    ];
    let (rows, _) = run_against("hostile", &customers, &peer, "", Duration::from_secs(45));
    let disposition = |id: &str| rows.get(id).map(|r| r["disposition"].clone()).unwrap_or_default();
    assert_eq!(disposition("c1"), "busy", "{rows:?}");
    assert_eq!(disposition("c2"), "rejected", "{rows:?}");
    assert_eq!(disposition("c3"), "failed", "{rows:?}");
    assert!(rows["c3"]["cause"].contains("no SDP"), "{rows:?}");
    assert_eq!(disposition("c4"), "failed", "{rows:?}");
    assert!(rows["c4"]["cause"].contains("neither PCMU nor PCMA"), "{rows:?}");
    assert_eq!(disposition("c5"), "customer_hangup", "{rows:?}");
    assert_eq!(disposition("c6"), "no_answer", "{rows:?}");
    let seen = peer.finish();
    for number in ["+8613900000503", "+8613900000504"] {
        let methods = received(&seen, number);
        assert!(methods.contains(&"ACK".to_string()) && methods.contains(&"BYE".to_string()), "{number}: {methods:?}");
    }
}
