//! The stack against a scripted gateway: each test feeds it the gateway's messages and reads
//! what it sends, in virtual time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsipstack::rsip::{self, HeadersExt};

use super::*;

const GATEWAY: &str = "127.0.0.1:5060";

fn config() -> Config {
    Config {
        local: "127.0.0.1:5070".parse().unwrap(),
        gateway: GATEWAY.parse().unwrap(),
        reliable: false,
        from: "sip:95555@bank.example".into(),
        contact: "sip:95555@127.0.0.1:5070".into(),
        callee_host: GATEWAY.into(),
        invite_headers: vec![],
        user_agent: "CallScript/test".into(),
        credential: None,
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        linger: Duration::from_secs(32),
    }
}

/// A stack in virtual time, and the gateway's view of it.
struct Line {
    stack: Stack,
    now: Instant,
}

impl Line {
    fn new(config: Config) -> Line {
        Line { stack: Stack::new(config), now: Instant::now() }
    }

    fn gateway() -> SocketAddr {
        GATEWAY.parse().unwrap()
    }

    /// Everything sent since the last look, parsed.
    fn sent(&mut self) -> Vec<rsip::SipMessage> {
        std::iter::from_fn(|| self.stack.poll_transmit())
            .map(|t| {
                assert_eq!(t.to, Line::gateway());
                rsip::SipMessage::try_from(t.bytes.as_slice()).expect("we send what rsip reads")
            })
            .collect()
    }

    fn requests(&mut self) -> Vec<rsip::Request> {
        self.sent()
            .into_iter()
            .map(|m| match m {
                rsip::SipMessage::Request(r) => r,
                rsip::SipMessage::Response(r) => panic!("a response: {r}"),
            })
            .collect()
    }

    fn request(&mut self) -> rsip::Request {
        let mut sent = self.requests();
        assert_eq!(sent.len(), 1, "{sent:?}");
        sent.pop().unwrap()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.stack.poll_event()).map(|(_, e)| e).collect()
    }

    fn feed(&mut self, text: &str) {
        self.stack.receive(self.now, Line::gateway(), text.as_bytes());
    }

    /// Moves virtual time on, firing every timer on the way.
    fn wait(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(at) = self.stack.poll_timeout()
            && at <= end
        {
            self.now = self.now.max(at);
            self.stack.on_time(self.now);
        }
        self.now = end;
    }
}

/// The gateway's response to one of our requests.
fn reply(request: &rsip::Request, code: u16, to_tag: Option<&str>, extra: &str, body: &str) -> String {
    let h = |name: &str| {
        request.headers.iter().map(|h| h.to_string()).find(|h| h.to_ascii_lowercase().starts_with(name)).unwrap()
    };
    let to = match to_tag {
        Some(tag) => format!("{};tag={tag}", h("to:")),
        None => h("to:"),
    };
    format!(
        "SIP/2.0 {code} Whatever\r\n{}\r\n{}\r\n{to}\r\n{}\r\n{}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        h("via:"),
        h("from:"),
        h("call-id:"),
        h("cseq:"),
        body.len()
    )
}

fn branch(m: &impl HeadersExt) -> String {
    wire::keys(m).unwrap().branch.to_string()
}

fn cseq(m: &impl HeadersExt) -> String {
    m.cseq_header().unwrap().value().to_string()
}

const CONTACT: &str = "Contact: <sip:1380@127.0.0.1:5060>\r\n";

/// A call up to its 2xx and ACK.
fn answered(line: &mut Line) -> rsip::Request {
    line.stack.invite(line.now, 7, "13800000000", b"v=0\r\n".to_vec()).unwrap();
    let invite = line.request();
    line.feed(&reply(&invite, 180, Some("far"), "", ""));
    line.feed(&reply(&invite, 200, Some("far"), CONTACT, "v=0 answer"));
    assert_eq!(line.events(), vec![Event::Ringing(180), Event::Answered(b"v=0 answer".to_vec())]);
    let ack = line.request();
    assert_eq!(ack.method, rsip::Method::Ack);
    invite
}

#[test]
fn a_call_is_invited_answered_acked_and_hung_up() {
    let mut line = Line::new(config());
    line.stack.invite(line.now, 7, "13800000000", b"v=0\r\n".to_vec()).unwrap();
    let invite = line.request();
    assert_eq!(invite.method, rsip::Method::Invite);
    assert_eq!(invite.uri.to_string(), "sip:13800000000@127.0.0.1:5060");
    assert_eq!(invite.body(), b"v=0\r\n");
    line.feed(&reply(&invite, 100, None, "", ""));
    line.feed(&reply(&invite, 200, Some("far"), CONTACT, "v=0 answer"));
    assert_eq!(line.events(), vec![Event::Ringing(100), Event::Answered(b"v=0 answer".to_vec())]);
    assert_eq!(invite.call_id_header().unwrap().value(), &*line.stack.call_ids().of(7), "the Call-ID is the key's");
    let ack = line.request();
    assert_eq!(ack.method, rsip::Method::Ack);
    assert_eq!(ack.uri.to_string(), "sip:1380@127.0.0.1:5060", "the ACK goes to the 2xx's Contact");
    assert_ne!(branch(&ack), branch(&invite), "a 2xx's ACK is a transaction of its own");
    assert_eq!(cseq(&ack), "1 ACK");
    assert!(ack.to_header().unwrap().value().ends_with(";tag=far"));
    // The 2xx again (our ACK lost): the same ACK again.
    line.feed(&reply(&invite, 200, Some("far"), CONTACT, "v=0 answer"));
    assert_eq!(line.request().to_string(), ack.to_string());
    assert!(line.events().is_empty());

    line.stack.bye(line.now, 7).unwrap();
    let bye = line.request();
    assert_eq!(bye.method, rsip::Method::Bye);
    assert_eq!(cseq(&bye), "2 BYE");
    line.feed(&reply(&bye, 200, Some("far"), "", ""));
    assert_eq!(line.events(), vec![Event::Done { method: rsip::Method::Bye, status: Some(200), reason: "OK".into() }]);
    line.stack.release(line.now, 7);
    line.wait(Duration::from_secs(40));
    assert_eq!(line.stack.legs(), 0, "nothing is held once everything has lingered");
    assert!(line.requests().is_empty(), "no retransmission of answered requests");
}

#[test]
fn a_second_branchs_2xx_is_acked_and_hung_up_and_the_call_keeps_the_first() {
    let mut line = Line::new(config());
    let invite = answered(&mut line);
    // A forking proxy lets another phone's 200 through: its own tag, Contact and route.
    let fork = reply(
        &invite,
        200,
        Some("other"),
        "Contact: <sip:1381@127.0.0.1:5062>\r\nRecord-Route: <sip:proxy.example;lr>\r\n",
        "v=0 other",
    );
    line.feed(&fork);
    let sent = line.requests();
    assert_eq!(sent.iter().map(|r| r.method).collect::<Vec<_>>(), [rsip::Method::Ack, rsip::Method::Bye]);
    for request in &sent {
        assert!(request.to_header().unwrap().value().ends_with(";tag=other"), "{request}");
        assert_eq!(request.uri.to_string(), "sip:1381@127.0.0.1:5062", "to the other branch's Contact");
        let route = request.headers.iter().map(|h| h.to_string()).find(|h| h.starts_with("Route"));
        assert_eq!(route.as_deref(), Some("Route: <sip:proxy.example;lr>"));
    }
    assert_eq!(cseq(&sent[0]), "1 ACK");
    assert_eq!(cseq(&sent[1]), "2 BYE");
    // Its 200 again: the ACK again, no second BYE; the BYE's answer is not the call's business.
    line.feed(&fork);
    assert_eq!(line.requests().iter().map(|r| r.method).collect::<Vec<_>>(), [rsip::Method::Ack]);
    line.feed(&reply(&sent[1], 200, Some("other"), "", ""));
    assert!(line.events().is_empty(), "the call heard nothing of the other branch");
    // The call's own dialog is untouched: its BYE goes to the first branch, with the next CSeq.
    line.stack.bye(line.now, 7).unwrap();
    let bye = line.request();
    assert!(bye.to_header().unwrap().value().ends_with(";tag=far"));
    assert_eq!(cseq(&bye), "3 BYE");
    line.feed(&reply(&bye, 200, Some("far"), "", ""));
    assert_eq!(line.events(), vec![Event::Done { method: rsip::Method::Bye, status: Some(200), reason: "OK".into() }]);
}

#[test]
fn a_second_branchs_bye_that_times_out_is_not_reported_to_the_call() {
    let mut line = Line::new(config());
    let invite = answered(&mut line);
    line.feed(&reply(&invite, 200, Some("other"), "", ""));
    assert_eq!(line.requests().len(), 2, "ACK and BYE");
    line.wait(Duration::from_secs(40));
    assert!(line.events().is_empty());
}

#[test]
fn the_slot_table_shrinks_once_a_peak_has_passed() {
    let mut line = Line::new(config());
    for key in 0..10_000 {
        line.stack.invite(line.now, key, "13800000000", b"v=0\r\n".to_vec()).unwrap();
    }
    line.sent();
    assert_eq!(line.stack.legs(), 10_000);
    let peak = line.stack.legs.capacity();
    // Every INVITE gives up (Timer B), the calls let go, and their transactions linger out.
    for key in 0..10_000 {
        line.stack.release(line.now, key);
    }
    line.wait(Duration::from_secs(80));
    line.sent();
    line.events();
    assert_eq!(line.stack.legs(), 0);
    assert!(line.stack.legs.capacity() < peak / 4, "{} slots kept of {peak}", line.stack.legs.capacity());
    assert!(line.stack.by_call_id.capacity() < 4_096 && line.stack.timers.capacity() < 16_384);
    // And calls are placed as before.
    line.stack.invite(line.now, 20_000, "13800000000", b"v=0\r\n".to_vec()).unwrap();
    assert_eq!(line.request().method, rsip::Method::Invite);
}

#[test]
fn an_unanswered_invite_is_sent_again_at_t1_doubling_then_times_out() {
    let mut line = Line::new(config());
    line.stack.invite(line.now, 1, "1", vec![]).unwrap();
    line.request();
    let start = line.now;
    let mut sent_at = vec![];
    for _ in 0..140 {
        line.wait(Duration::from_millis(250));
        for r in line.requests() {
            assert_eq!(r.method, rsip::Method::Invite);
            sent_at.push((line.now - start).as_millis());
        }
    }
    // Timer A: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s: seven INVITEs in all before Timer B (64×T1).
    assert_eq!(sent_at, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(line.events(), vec![Event::Failed(Failure::NoResponse)]);
}

#[test]
fn a_provisional_response_stops_the_invites_retransmissions() {
    let mut line = Line::new(config());
    line.stack.invite(line.now, 1, "1", vec![]).unwrap();
    let invite = line.request();
    line.feed(&reply(&invite, 100, None, "", ""));
    line.wait(Duration::from_secs(10));
    assert!(line.requests().is_empty());
}

#[test]
fn a_busy_line_is_acked_on_the_invites_branch_and_again_for_each_retransmission() {
    let mut line = Line::new(config());
    line.stack.invite(line.now, 1, "1", vec![]).unwrap();
    let invite = line.request();
    line.feed(&reply(&invite, 486, Some("b"), "", ""));
    assert_eq!(line.events(), vec![Event::Failed(Failure::Status { code: 486, reason: "Busy Here".into() })]);
    let ack = line.request();
    assert_eq!((ack.method, branch(&ack), cseq(&ack)), (rsip::Method::Ack, branch(&invite), "1 ACK".into()));
    assert!(ack.to_header().unwrap().value().ends_with(";tag=b"));
    line.feed(&reply(&invite, 486, Some("b"), "", ""));
    assert_eq!(line.request().to_string(), ack.to_string());
    assert!(line.events().is_empty(), "a retransmission is not a second failure");
    line.stack.release(line.now, 1);
    line.wait(Duration::from_secs(33));
    assert_eq!(line.stack.legs(), 0);
}

#[test]
fn a_cancel_waits_for_a_provisional_response_and_takes_the_invites_branch() {
    let mut line = Line::new(config());
    line.stack.invite(line.now, 1, "1", vec![]).unwrap();
    let invite = line.request();
    line.stack.cancel(line.now, 1).unwrap();
    assert!(line.requests().is_empty(), "no CANCEL before a provisional response (§9.1)");
    line.feed(&reply(&invite, 180, Some("t"), "", ""));
    let cancel = line.request();
    assert_eq!(
        (cancel.method, branch(&cancel), cseq(&cancel)),
        (rsip::Method::Cancel, branch(&invite), "1 CANCEL".into())
    );
    line.feed(&reply(&cancel, 200, Some("t"), "", ""));
    line.feed(&reply(&invite, 487, Some("t"), "", ""));
    assert_eq!(
        line.events(),
        vec![Event::Ringing(180), Event::Failed(Failure::Status { code: 487, reason: "Request Terminated".into() })]
    );
    assert_eq!(line.request().method, rsip::Method::Ack);
}

#[test]
fn a_gateway_that_ignores_our_cancel_is_given_up_after_64_t1() {
    let mut line = Line::new(config());
    line.stack.invite(line.now, 1, "1", vec![]).unwrap();
    let invite = line.request();
    line.feed(&reply(&invite, 183, Some("t"), "", ""));
    // Ringing past Timer B's 64×T1 is not a timeout: only the CANCEL's own timer ends it.
    line.wait(Duration::from_secs(40));
    assert_eq!(line.events(), vec![Event::Ringing(183)]);
    line.stack.cancel(line.now, 1).unwrap();
    assert_eq!(line.request().method, rsip::Method::Cancel);
    line.wait(Duration::from_secs(33));
    assert_eq!(line.events(), vec![Event::Failed(Failure::CancelUnanswered)]);
}

#[test]
fn a_2xx_after_our_cancel_is_acked_and_hung_up() {
    let mut line = Line::new(config());
    line.stack.invite(line.now, 1, "1", vec![]).unwrap();
    let invite = line.request();
    line.feed(&reply(&invite, 180, Some("t"), "", ""));
    line.stack.cancel(line.now, 1).unwrap();
    line.requests();
    line.feed(&reply(&invite, 200, Some("t"), CONTACT, ""));
    let methods: Vec<_> = line.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, vec![rsip::Method::Ack, rsip::Method::Bye]);
    assert_eq!(line.events(), vec![Event::Ringing(180), Event::Failed(Failure::AnsweredAfterCancel)]);
}

#[test]
fn the_far_ends_requests_are_answered_once_and_their_retransmissions_again() {
    let mut line = Line::new(config());
    let invite = answered(&mut line);
    let local_tag = wire::param(invite.from_header().unwrap().value(), "tag").unwrap().to_string();
    let call_id = invite.call_id_header().unwrap().value().to_string();
    let request = |method: &str, cseq: u32, extra: &str, body: &str| {
        format!(
            "{method} sip:95555@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{method}{cseq}\r\n\
             From: <sip:1380@127.0.0.1>;tag=far\r\nTo: <sip:95555@bank.example>;tag={local_tag}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let answers = |line: &mut Line| -> Vec<u16> {
        line.sent()
            .into_iter()
            .map(|m| match m {
                rsip::SipMessage::Response(r) => r.status_code.code(),
                rsip::SipMessage::Request(r) => panic!("a request: {r}"),
            })
            .collect()
    };
    line.feed(&request("INFO", 2, "Content-Type: application/dtmf-relay\r\n", "Signal=5\r\nDuration=160\r\n"));
    assert_eq!(answers(&mut line), vec![200]);
    assert_eq!(
        line.events(),
        vec![Event::Info {
            content_type: "application/dtmf-relay".into(),
            body: b"Signal=5\r\nDuration=160\r\n".to_vec()
        }]
    );
    line.feed(&request("INFO", 2, "Content-Type: application/dtmf-relay\r\n", "Signal=5\r\nDuration=160\r\n"));
    assert_eq!(answers(&mut line), vec![200], "a retransmission gets the same answer");
    assert!(line.events().is_empty(), "and is not a second key");
    line.feed(&request("NOTIFY", 3, "Subscription-State: terminated;reason=noresource\r\n", "SIP/2.0 200 OK\r\n"));
    assert_eq!(answers(&mut line), vec![200]);
    assert_eq!(line.events(), vec![Event::Notify { terminated: true, body: b"SIP/2.0 200 OK\r\n".to_vec() }]);
    line.feed(&request("INVITE", 4, "", ""));
    line.feed(&request("MESSAGE", 5, "", ""));
    assert_eq!(answers(&mut line), vec![488, 501]);
    line.feed(&request("BYE", 6, "", ""));
    assert_eq!(answers(&mut line), vec![200]);
    assert_eq!(line.events(), vec![Event::HungUp]);
    assert_eq!(line.stack.bye(line.now, 7), Err(StackError::NoDialog), "no BYE after the far end's");
}

#[test]
fn requests_outside_our_dialogs_are_refused() {
    let mut line = Line::new(config());
    let request = |method: &str| {
        format!(
            "{method} sip:x@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{method}\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: stranger\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    for (method, code) in [("INVITE", 403), ("OPTIONS", 200), ("BYE", 481)] {
        line.feed(&request(method));
        match line.sent().pop() {
            Some(rsip::SipMessage::Response(r)) => {
                assert_eq!(r.status_code.code(), code, "{method}");
                assert!(wire::param(r.to_header().unwrap().value(), "tag").is_some(), "our answer has a To tag");
            }
            other => panic!("{method}: {other:?}"),
        }
    }
    line.feed("garbage\r\n\r\n");
    assert_eq!(line.stack.dropped, 1);
}

#[test]
fn a_digest_challenge_is_answered_once_with_the_next_cseq() {
    let mut config = config();
    config.credential = Some(digest::Credential { user: "bank".into(), password: "secret".into() });
    let mut line = Line::new(config);
    line.stack.invite(line.now, 1, "1", b"v=0\r\n".to_vec()).unwrap();
    let invite = line.request();
    let challenge = "Proxy-Authenticate: Digest realm=\"trunk\", nonce=\"abc\", qop=\"auth\", algorithm=MD5\r\n";
    line.feed(&reply(&invite, 407, Some("p"), challenge, ""));
    let sent = line.requests();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!((sent[0].method, branch(&sent[0])), (rsip::Method::Ack, branch(&invite)));
    let again = &sent[1];
    assert_eq!((again.method, cseq(again)), (rsip::Method::Invite, "2 INVITE".into()));
    assert_eq!(again.body(), b"v=0\r\n");
    let authorization = again.to_string();
    assert!(
        authorization.contains("Proxy-Authorization: Digest username=\"bank\", realm=\"trunk\", nonce=\"abc\""),
        "{authorization}"
    );
    assert!(line.events().is_empty());
    // Refused again: the call fails with it, no third INVITE.
    line.feed(&reply(again, 407, Some("p"), challenge, ""));
    assert_eq!(
        line.events(),
        vec![Event::Failed(Failure::Status { code: 407, reason: "Proxy Authentication Required".into() })]
    );
    assert_eq!(line.request().method, rsip::Method::Ack);
}

#[test]
fn a_register_is_sent_with_its_expiry_and_answered() {
    let mut line = Line::new(config());
    line.stack.register(line.now, 9, "sip:127.0.0.1:5060", 3600).unwrap();
    let register = line.request();
    assert_eq!(register.method, rsip::Method::Register);
    assert!(register.to_string().contains("Expires: 3600\r\n"));
    line.feed(&reply(&register, 200, Some("r"), "", ""));
    assert_eq!(
        line.events(),
        vec![Event::Done { method: rsip::Method::Register, status: Some(200), reason: "OK".into() }]
    );
}

#[test]
fn a_released_call_that_is_still_up_is_hung_up() {
    let mut line = Line::new(config());
    answered(&mut line);
    line.stack.release(line.now, 7);
    assert_eq!(line.request().method, rsip::Method::Bye);
    assert!(line.events().is_empty());
}

#[test]
fn a_callee_that_would_break_the_uri_is_refused() {
    let mut line = Line::new(config());
    assert!(matches!(line.stack.invite(line.now, 1, "138 0000", vec![]), Err(StackError::Callee(_))));
    assert!(matches!(line.stack.invite(line.now, 1, "a>b", vec![]), Err(StackError::Callee(_))));
    assert!(line.requests().is_empty());
}

/// Inputs the `sip_response` fuzz target found, replayed (`regressions/`).
#[test]
fn fuzz_findings_replay() {
    exchange(include_bytes!("regressions/crash-96eea358"));
    exchange(include_bytes!("regressions/crash-7c1b2cc6"));
}
