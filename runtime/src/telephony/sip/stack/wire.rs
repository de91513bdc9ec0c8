//! SIP messages as bytes: the requests and responses the stack sends, written straight into
//! one buffer (no message tree per send), and the few fields it reads from what comes in.
//! Parsing what comes in is rsipstack's (`rsip`): hostile input is its parser's business, and
//! ours is fuzzed over it (`fuzz-runtime`, `sip_response`).

use std::fmt::Write as _;

use rsipstack::rsip::{self, Header, HeadersExt};

/// The magic cookie every RFC 3261 branch starts with.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// A request we send, by its parts.
pub struct Request<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    /// `SIP/2.0/UDP host:port` without parameters.
    pub via: &'a str,
    pub branch: &'a str,
    pub from: &'a str,
    pub from_tag: &'a str,
    /// The To URI, and the far end's tag once there is one.
    pub to: &'a str,
    pub to_tag: Option<&'a str>,
    pub call_id: &'a str,
    pub cseq: u32,
    pub route: &'a [Box<str>],
    pub contact: Option<&'a str>,
    /// Whole header lines without their CRLF (`P-Asserted-Identity: <…>`).
    pub extra: &'a [String],
    pub user_agent: &'a str,
    pub body: Option<(&'a str, &'a [u8])>,
}

impl Request<'_> {
    /// The request as it goes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = self.body.map_or(&[][..], |(_, b)| b);
        let mut text = String::with_capacity(400 + body.len());
        let _ = write!(text, "{} {} SIP/2.0\r\n", self.method, self.uri);
        let _ = write!(text, "Via: {};branch={};rport\r\n", self.via, self.branch);
        text.push_str("Max-Forwards: 70\r\n");
        let _ = write!(text, "From: <{}>;tag={}\r\n", self.from, self.from_tag);
        let _ = match self.to_tag {
            Some(tag) => write!(text, "To: <{}>;tag={tag}\r\n", self.to),
            None => write!(text, "To: <{}>\r\n", self.to),
        };
        let _ = write!(text, "Call-ID: {}\r\n", self.call_id);
        let _ = write!(text, "CSeq: {} {}\r\n", self.cseq, self.method);
        for route in self.route {
            let _ = write!(text, "Route: {route}\r\n");
        }
        if let Some(contact) = self.contact {
            let _ = write!(text, "Contact: <{contact}>\r\n");
        }
        for line in self.extra {
            text.push_str(line);
            text.push_str("\r\n");
        }
        let _ = write!(text, "User-Agent: {}\r\n", self.user_agent);
        if let Some((content_type, _)) = self.body {
            let _ = write!(text, "Content-Type: {content_type}\r\n");
        }
        let _ = write!(text, "Content-Length: {}\r\n\r\n", body.len());
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }
}

/// Our response to a request that came in: its Via, From, To (with `to_tag` added when it has
/// none), Call-ID and CSeq, no body (RFC 3261 §8.2.6.2).
pub fn response(request: &rsip::Request, code: u16, reason: &str, to_tag: &str) -> Vec<u8> {
    let mut text = String::with_capacity(320);
    let _ = write!(text, "SIP/2.0 {code} {reason}\r\n");
    for header in request.headers.iter() {
        match header {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                let _ = write!(text, "{header}\r\n");
            }
            Header::To(to) => {
                let value = to.value();
                let _ = if param(value, "tag").is_some() {
                    write!(text, "To: {value}\r\n")
                } else {
                    write!(text, "To: {value};tag={to_tag}\r\n")
                };
            }
            _ => {}
        }
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    text.into_bytes()
}

/// A header parameter's value (`tag`, `branch`), outside the `<…>` of a name-addr, the name
/// compared without case. A parameter without a value reads as "".
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = match value.rfind('>') {
        Some(end) => &value[end + 1..],
        None => value,
    };
    params.split(';').skip(1).find_map(|p| {
        let (key, found) = p.split_once('=').unwrap_or((p, ""));
        key.trim().eq_ignore_ascii_case(name).then(|| found.trim().trim_end_matches(',').trim())
    })
}

/// The URI of a name-addr or addr-spec (`"Bob" <sip:b@h>;tag=1` → `sip:b@h`).
pub fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// A comma-separated header value split into its entries, commas inside `<…>` or quotes kept.
pub fn entries(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0u32, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|e| !e.is_empty());
    out
}

/// What may stand in a tag or a header value we copy into our requests: RFC 3261's token
/// characters. Anything else from a peer is not copied (it could break our message).
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// A response's To tag, when it is a token.
pub fn to_tag(response: &rsip::Response) -> Option<&str> {
    response.to_header().ok().and_then(|t| param(t.value(), "tag")).filter(|t| is_token(t))
}

/// A URI we can put in a request line or a Route: rsip reads it, and it has no whitespace,
/// angle brackets or quotes of its own.
fn usable_uri(uri: &str) -> bool {
    !uri.is_empty()
        && !uri.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"<>\"".contains(&b))
        && rsip::Uri::try_from(uri).is_ok()
}

/// The 2xx's Contact URI, the dialog's remote target, when usable.
pub fn remote_target(response: &rsip::Response) -> Option<String> {
    let contact = response.contact_header().ok()?;
    let uri = uri_of(entries(contact.value()).first()?);
    usable_uri(uri).then(|| uri.to_string())
}

/// The 2xx's Record-Route, reversed into our Route set (§12.1.2), each entry as `<uri>` with
/// its parameters when they are tokens; an entry we cannot copy safely is left out.
pub fn route_set(response: &rsip::Response) -> Box<[Box<str>]> {
    let mut route: Vec<Box<str>> = Vec::new();
    for header in response.record_route_headers() {
        for entry in entries(header.value()) {
            let uri = uri_of(entry);
            let params = entry.rfind('>').map_or("", |end| &entry[end + 1..]);
            let params_ok = params.split(';').skip(1).all(|p| {
                let (key, value) = p.split_once('=').unwrap_or((p, "x"));
                is_token(key.trim()) && is_token(value.trim())
            });
            if usable_uri(uri) && params_ok {
                route.push(format!("<{uri}>{}", params.trim()).into());
            }
        }
    }
    route.reverse();
    route.into_boxed_slice()
}

/// The fields every message that comes in is matched by.
pub struct Keys<'a> {
    pub call_id: &'a str,
    pub branch: &'a str,
    pub cseq: u32,
    pub method: rsip::Method,
}

/// Call-ID, the top Via's branch and the CSeq of a message; None when one is missing or
/// unreadable (the message is dropped, RFC 3261 §8.1.3.1 / §8.2).
pub fn keys<M: HeadersExt>(message: &M) -> Option<Keys<'_>> {
    let call_id = message.call_id_header().ok()?.value();
    let via = message.via_header().ok()?.value();
    let branch = param(entries(via).first()?, "branch")?;
    let (seq, method) = message.cseq_header().ok()?.value().trim().split_once(char::is_whitespace)?;
    Some(Keys { call_id: call_id.trim(), branch, cseq: seq.trim().parse().ok()?, method: method.trim().parse().ok()? })
}

/// The value of the first header of that name (compared without case), whichever of rsip's
/// variants holds it. For the rare requests that need one (INFO, NOTIFY).
pub fn header(headers: &rsip::Headers, name: &str) -> Option<String> {
    headers.iter().find_map(|h| match h {
        Header::Other(key, value) => key.eq_ignore_ascii_case(name).then(|| value.clone()),
        typed => {
            let text = typed.to_string();
            let (key, value) = text.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        }
    })
}

/// The most a stream's message may hold before its body: past it the stream is not SIP.
const MAX_HEADERS: usize = 64 * 1024;

/// The length of the first whole message in a stream's bytes (RFC 3261 §18.3: the headers, an
/// empty line, then Content-Length bytes), None until it has all arrived. `Err(n)`: the first
/// `n` bytes are not a message (keep-alive CRLFs, or headers too long or without a readable
/// Content-Length) and are skipped.
pub fn frame(bytes: &[u8]) -> Option<Result<usize, usize>> {
    let blank = bytes.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    if blank > 0 {
        return Some(Err(blank));
    }
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (bytes.len() > MAX_HEADERS).then_some(Err(bytes.len()));
    };
    let head = std::str::from_utf8(&bytes[..end]).ok();
    let length = head.and_then(|head| {
        head.split("\r\n").skip(1).find_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim();
            (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
                .then(|| value.trim().parse::<usize>().ok())?
        })
    });
    match length {
        // Over a stream Content-Length is required (§20.14).
        None => Some(Err(end + 4)),
        Some(length) if length > MAX_HEADERS * 16 => Some(Err(end + 4)),
        Some(length) => (bytes.len() >= end + 4 + length).then_some(Ok(end + 4 + length)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_read_outside_the_uri() {
        assert_eq!(param("<sip:a@h;tag=no>;tag=abc", "tag"), Some("abc"));
        assert_eq!(param("<sip:a@h;tag=no>", "tag"), None);
        assert_eq!(param("SIP/2.0/UDP 1.2.3.4:5060;rport;Branch=z9hG4bK1", "branch"), Some("z9hG4bK1"));
        assert_eq!(param("SIP/2.0/UDP h;rport", "rport"), Some(""));
        assert_eq!(param("sip:a@h;tag=x", "tag"), Some("x"));
    }

    #[test]
    fn entries_keep_commas_inside_angle_brackets_and_quotes() {
        assert_eq!(entries("<sip:a@h;lr>, <sip:b@h,x>"), vec!["<sip:a@h;lr>", "<sip:b@h,x>"]);
        assert_eq!(entries("\"a, b\" <sip:c@h>"), vec!["\"a, b\" <sip:c@h>"]);
        assert_eq!(uri_of("\"Bob\" <sip:b@h:5060>;tag=1"), "sip:b@h:5060");
        assert_eq!(uri_of("sip:b@h;transport=tcp"), "sip:b@h");
    }

    #[test]
    fn a_stream_is_cut_into_messages_by_their_content_length() {
        let one = b"SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(one);
        stream.extend_from_slice(b"SIP/2.0 180 Ringing\r\nl: 0\r\n\r\nSIP/2.0");
        assert_eq!(frame(&stream), Some(Err(4)), "keep-alive CRLFs are skipped");
        stream.drain(..4);
        assert_eq!(frame(&stream), Some(Ok(one.len())));
        stream.drain(..one.len());
        let ringing = "SIP/2.0 180 Ringing\r\nl: 0\r\n\r\n".len();
        assert_eq!(frame(&stream), Some(Ok(ringing)), "the compact form counts");
        stream.drain(..ringing);
        assert_eq!(frame(&stream), None, "a message not yet whole waits");
        assert_eq!(frame(b"SIP/2.0 200 OK\r\nContent-Length: 9\r\n\r\nabc"), None);
        assert_eq!(frame(b"SIP/2.0 200 OK\r\nTo: x\r\n\r\n"), Some(Err(25)), "no length: not a message");
    }

    #[test]
    fn a_request_is_written_as_rfc_3261_lays_it_out() {
        let request = Request {
            method: "INVITE",
            uri: "sip:1380@10.0.0.1:5060",
            via: "SIP/2.0/UDP 10.0.0.2:5070",
            branch: "z9hG4bKx1",
            from: "sip:95555@bank.example",
            from_tag: "ft",
            to: "sip:1380@10.0.0.1:5060",
            to_tag: None,
            call_id: "c1@callscript",
            cseq: 1,
            route: &[],
            contact: Some("sip:95555@10.0.0.2:5070"),
            extra: &["P-Asserted-Identity: <sip:95555@bank.example>".into()],
            user_agent: "CallScript/test",
            body: Some(("application/sdp", b"v=0\r\n")),
        };
        let text = String::from_utf8(request.to_bytes()).unwrap();
        insta::assert_snapshot!(text.replace("\r\n", "⏎\n"));
        let parsed = rsip::Request::try_from(text.as_bytes()).expect("rsip reads what we write");
        assert_eq!(parsed.body(), b"v=0\r\n");
        let keys = keys(&parsed).unwrap();
        assert_eq!((keys.call_id, keys.branch, keys.cseq), ("c1@callscript", "z9hG4bKx1", 1));
    }
}
