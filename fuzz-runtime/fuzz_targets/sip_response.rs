//! Whatever a gateway sends on our SIP socket: parsed as the stack parses it, then screened
//! as our endpoint screens it (`sip::screen`) and read the way the user agent reads a response
//! (status class, To, Contact, CSeq). Never a panic; the screen only ever adds a Contact, to a
//! 2xx that lacks one, and the result is one the stack can type.
#![no_main]

use callscript_runtime::telephony::sip::screen::with_contact;
use libfuzzer_sys::fuzz_target;
use rsipstack::rsip::{HeadersExt, SipMessage};
use rsipstack::transport::SipAddr;

fuzz_target!(|data: &[u8]| {
    let Ok(SipMessage::Response(response)) = SipMessage::try_from(data) else { return };
    let code = response.status_code.code();
    // The patched parser: anything else is malformed and dropped.
    assert!((100..=699).contains(&code), "status {code}");
    let from = SipAddr {
        r#type: Some(rsipstack::rsip::transport::Transport::Udp),
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 5060)).into(),
    };
    let before = response.headers.len();
    let had_contact = !response.contact_headers().is_empty();
    let screened = with_contact(response, Some(&from));
    let added = screened.headers.len() - before;
    assert!(added <= 1);
    if added == 1 {
        assert!(!had_contact && (200..300).contains(&code));
        assert_eq!(screened.typed_contact_headers().map(|c| c.len()).ok(), Some(1));
    }
    let _ = screened.cseq_header().and_then(|c| c.method());
    let _ = screened.to_header().and_then(|t| t.tag());
    let _ = screened.typed_contact_headers();
});
