//! What the gateway sends, screened before the stack acts on it. rsipstack (patched in
//! vendor/rsipstack: whole 64 KB datagrams, status codes outside 100–699 dropped as malformed)
//! still cannot ACK a 2xx without a Contact header, so such a call was never ACKed nor BYEd
//! and the gateway kept the line up. Here a 2xx to an INVITE without a Contact is given one:
//! the customer's URI (To) at the address the response came from, which on a trunk is the
//! gateway, where every in-dialog request goes anyway. The call then goes on and ends with
//! our BYE like any other.

use rsipstack::rsip::prelude::ToTypedHeader;
use rsipstack::rsip::{self, HeadersExt, SipMessage, StatusCodeKind};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;

/// The endpoint's inspector: repairs what it can, passes everything else as it is.
pub struct Screen;

impl MessageInspector for Screen {
    fn before_send(&self, msg: SipMessage, _dest: Option<&SipAddr>) -> SipMessage {
        msg
    }

    fn after_received(&self, msg: SipMessage, from: Option<&SipAddr>) -> SipMessage {
        match msg {
            SipMessage::Response(response) => SipMessage::Response(with_contact(response, from)),
            request => request,
        }
    }
}

/// A 2xx to an INVITE without Contact gets one (see the module's comment); any other
/// response comes back unchanged.
pub fn with_contact(mut response: rsip::Response, from: Option<&SipAddr>) -> rsip::Response {
    if response.status_code.kind() != StatusCodeKind::Successful || !response.contact_headers().is_empty() {
        return response;
    }
    let invite = response.cseq_header().and_then(|c| c.method()).is_ok_and(|m| m == rsip::Method::Invite);
    if !invite {
        return response;
    }
    let Some(target) = remote_target(&response, from) else { return response };
    let contact = rsip::headers::Contact::from(format!("<{target}>"));
    // A hostile To can make a URI that reads back as several contacts (a comma in it, say):
    // add only a Contact the stack will read as the one we meant.
    if rsip::typed::Contact::parse_header_list(contact.value()).map(|c| c.len()).ok() != Some(1) {
        tracing::warn!(%target, "a 2xx to our INVITE has no Contact, and its To makes no usable one");
        return response;
    }
    tracing::warn!(call_id = ?response.call_id_header().map(|c| c.value().to_string()).ok(), %target,
        "a 2xx to our INVITE has no Contact (RFC 3261 §12.1.2): using the customer's URI at the response's source");
    response.headers.push(rsip::Header::Contact(contact));
    response
}

/// The customer's URI (To, without its tag) at the address the response came from.
fn remote_target(response: &rsip::Response, from: Option<&SipAddr>) -> Option<rsip::Uri> {
    let mut uri = response.to_header().ok()?.typed().ok()?.uri;
    if let Some(from) = from {
        uri.host_with_port = from.addr.clone();
        if from.r#type == Some(rsip::transport::Transport::Tcp) {
            uri.params.retain(|p| !matches!(p, rsip::Param::Transport(_)));
            uri.params.push(rsip::Param::Transport(rsip::transport::Transport::Tcp));
        }
    }
    Some(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: &str, cseq: &str, contact: &str) -> rsip::Response {
        let text = format!(
            "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\nFrom: <sip:95555@bank.example>;tag=a\r\nTo: <sip:+8613800000001@127.0.0.1:5060>;tag=b\r\nCall-ID: x@callscript\r\nCSeq: {cseq}\r\n{contact}Content-Length: 0\r\n\r\n"
        );
        match SipMessage::try_from(text.as_str()).unwrap() {
            SipMessage::Response(r) => r,
            _ => unreachable!("a response"),
        }
    }

    fn contact(r: &rsip::Response) -> Option<String> {
        r.contact_header().ok().map(|c| c.value().to_string())
    }

    #[test]
    fn a_2xx_to_invite_without_contact_gets_the_customer_at_the_source() {
        let from = SipAddr {
            r#type: Some(rsip::transport::Transport::Udp),
            addr: "127.0.0.9:5099".parse::<std::net::SocketAddr>().unwrap().into(),
        };
        let repaired = with_contact(response("200 OK", "1 INVITE", ""), Some(&from));
        assert_eq!(contact(&repaired).as_deref(), Some("<sip:+8613800000001@127.0.0.9:5099>"));
        // The stack can now type it, as its ACK and dialog need.
        assert_eq!(repaired.typed_contact_headers().unwrap().len(), 1);
    }

    /// Found by fuzz-runtime's `sip_response` target: a To whose URI holds a comma made the
    /// added Contact read back as two.
    #[test]
    fn a_to_that_makes_no_single_contact_gets_none() {
        let text = b"SIP/2.0 200 OK\r\nVia: SIP/ple>;g=a\r\nTo: :5070;Ynza>;t0=;receilnd=127.0.@callscript,\0\0\0\0\0\0\0\r\nCSeq: 1 INVITE\r\nCsip@bank.\x82examp*\0\0\0\0\0\0\0le>;tag=a\r\nTo: \x80\0ip:+860\r\n\r\n";
        let Ok(SipMessage::Response(response)) = SipMessage::try_from(&text[..]) else { return };
        let from = SipAddr {
            r#type: Some(rsip::transport::Transport::Udp),
            addr: "127.0.0.1:5060".parse::<std::net::SocketAddr>().unwrap().into(),
        };
        let before = response.headers.len();
        let screened = with_contact(response, Some(&from));
        match screened.headers.len() - before {
            0 => {}
            1 => assert_eq!(screened.typed_contact_headers().map(|c| c.len()).ok(), Some(1)),
            n => panic!("{n} headers added"),
        }
    }

    #[test]
    fn everything_else_passes_unchanged() {
        let from = None;
        for (status, cseq, header) in [
            ("200 OK", "1 INVITE", "Contact: <sip:gw@10.0.0.1>\r\n"),
            ("200 OK", "2 BYE", ""),
            ("180 Ringing", "1 INVITE", ""),
            ("486 Busy Here", "1 INVITE", ""),
        ] {
            let before = response(status, cseq, header);
            assert_eq!(with_contact(before.clone(), from), before, "{status} {cseq}");
        }
    }
}
