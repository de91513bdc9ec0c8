//! Whatever a gateway sends on our SIP socket, fed to our stack (`sip::stack`) while it has a
//! call ringing: up to eight datagrams (split at a NUL byte), a second of virtual time after
//! each, then the end of every timer. Never a panic, and everything the stack sends in return
//! is a message rsip reads. The seeds (`fuzz_seeds`) answer the target's own INVITE: the
//! stack's ids follow from a fixed seed, so responses reach the transaction and the dialog.
#![no_main]

use std::time::{Duration, Instant};

use callscript_runtime::telephony::sip::stack;
use libfuzzer_sys::fuzz_target;
use rsipstack::rsip::SipMessage;

fuzz_target!(|data: &[u8]| {
    let mut stack = stack::loopback(7);
    let mut now = Instant::now();
    stack.invite(now, 1, "13800000001", b"v=0\r\n".to_vec()).expect("a valid callee");
    let mut sent = 0;
    let mut check = |stack: &mut stack::Stack| {
        while let Some(transmit) = stack.poll_transmit() {
            sent += 1;
            assert!(SipMessage::try_from(transmit.bytes.as_slice()).is_ok(), "we sent what rsip cannot read");
        }
        while stack.poll_event().is_some() {}
    };
    check(&mut stack);
    for datagram in data.split(|b| *b == 0).take(8) {
        stack.receive(now, "127.0.0.1:5060".parse().unwrap(), datagram);
        // What a call does with what it heard: hang up an answered call, refer it, cancel.
        let _ = stack.refer(now, 1, "sip:queue@127.0.0.1", "sip:callscript@localhost");
        let _ = stack.bye(now, 1);
        check(&mut stack);
        now += Duration::from_secs(1);
        stack.on_time(now);
        check(&mut stack);
    }
    let _ = stack.cancel(now, 1);
    stack.release(now, 1);
    now += Duration::from_secs(120);
    stack.on_time(now);
    check(&mut stack);
    assert_eq!(stack.legs(), 0, "everything is let go once its timers have run");
    let _ = sent;
});
