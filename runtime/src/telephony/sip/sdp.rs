//! SDP offer/answer for one audio stream (RFC 3264): we offer PCMU, PCMA and
//! telephone-event/8000 and take the first codec the answer accepts.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use sdp::description::common::{Address, Attribute, ConnectionInformation};
use sdp::description::media::{MediaDescription, MediaName, RangedPort};
use sdp::description::session::{Origin, SessionDescription, TimeDescription, Timing};

use super::SdpError;

/// The payload type we offer for RFC 4733 telephone events.
pub const OFFERED_EVENT_PT: u8 = 101;

/// What both sides agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Where the customer's side wants our RTP.
    pub remote: SocketAddr,
    /// 0 (PCMU) or 8 (PCMA).
    pub payload_type: u8,
    /// The answer's telephone-event payload type, if it accepted DTMF events.
    pub event_payload_type: Option<u8>,
}

/// Our offer: one sendrecv audio stream at `rtp`.
pub fn offer(rtp: SocketAddr, session_id: u64) -> String {
    let ip = rtp.ip().to_string();
    let address_type = if rtp.is_ipv6() { "IP6" } else { "IP4" };
    let connection = ConnectionInformation {
        network_type: "IN".into(),
        address_type: address_type.into(),
        address: Some(Address { address: ip.clone(), ttl: None, range: None }),
    };
    let rtpmap = |pt: u8, name: &str| Attribute { key: "rtpmap".into(), value: Some(format!("{pt} {name}")) };
    let media = MediaDescription {
        media_name: MediaName {
            media: "audio".into(),
            port: RangedPort { value: rtp.port() as isize, range: None },
            protos: vec!["RTP".into(), "AVP".into()],
            formats: vec!["0".into(), "8".into(), OFFERED_EVENT_PT.to_string()],
        },
        media_title: None,
        connection_information: None,
        bandwidth: Vec::new(),
        encryption_key: None,
        attributes: vec![
            rtpmap(0, "PCMU/8000"),
            rtpmap(8, "PCMA/8000"),
            rtpmap(OFFERED_EVENT_PT, "telephone-event/8000"),
            Attribute { key: "fmtp".into(), value: Some(format!("{OFFERED_EVENT_PT} 0-16")) },
            Attribute { key: "ptime".into(), value: Some("20".into()) },
            Attribute { key: "sendrecv".into(), value: None },
        ],
    };
    let description = SessionDescription {
        version: 0,
        origin: Origin {
            username: "callscript".into(),
            session_id,
            session_version: session_id,
            network_type: "IN".into(),
            address_type: address_type.into(),
            unicast_address: ip,
        },
        session_name: "callscript".into(),
        connection_information: Some(connection),
        time_descriptions: vec![TimeDescription {
            timing: Timing { start_time: 0, stop_time: 0 },
            repeat_times: vec![],
        }],
        media_descriptions: vec![media],
        ..SessionDescription::default()
    };
    description.marshal()
}

/// Reads the answer (or early-media SDP of a 183): the address and the codec chosen.
pub fn answer(body: &[u8]) -> Result<Negotiated, SdpError> {
    if body.is_empty() {
        return Err(SdpError::NoBody);
    }
    let description =
        SessionDescription::unmarshal(&mut Cursor::new(body)).map_err(|e| SdpError::Malformed(e.to_string()))?;
    let media = description
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio" && m.media_name.port.value > 0)
        .ok_or(SdpError::NoAudio)?;
    let host = media
        .connection_information
        .as_ref()
        .or(description.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .map(|a| a.address.clone())
        .ok_or(SdpError::NoAddress)?;
    let ip: IpAddr = host.parse().map_err(|_| SdpError::AddressNotIp(host.clone()))?;
    let port = u16::try_from(media.media_name.port.value).map_err(|_| SdpError::PortOutOfRange)?;
    let payload_type = media
        .media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find(|pt| *pt == 0 || *pt == 8)
        .ok_or(SdpError::NoCodec)?;
    let event_payload_type = media.attributes.iter().find_map(|a| {
        let value = a.value.as_deref()?;
        let (pt, name) = value.split_once(' ')?;
        (a.key == "rtpmap" && name.to_ascii_lowercase().starts_with("telephone-event/8000")).then(|| pt.parse().ok())?
    });
    Ok(Negotiated { remote: SocketAddr::new(ip, port), payload_type, event_payload_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_lists_pcmu_pcma_and_events() {
        let sdp = offer("127.0.0.1:40000".parse().unwrap(), 7);
        assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"), "{sdp}");
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        // Our own offer parses as an answer too.
        let n = answer(sdp.as_bytes()).unwrap();
        assert_eq!(
            n,
            Negotiated { remote: "127.0.0.1:40000".parse().unwrap(), payload_type: 0, event_payload_type: Some(101) }
        );
    }

    #[test]
    fn answer_takes_media_level_address_and_first_g711() {
        let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 96\r\nc=IN IP4 127.0.0.2\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\n";
        let n = answer(body.as_bytes()).unwrap();
        assert_eq!(n.remote, "127.0.0.2:6000".parse().unwrap());
        assert_eq!(n.payload_type, 8);
        assert_eq!(n.event_payload_type, Some(96));
    }

    #[test]
    fn answer_errors_are_clear() {
        assert_eq!(answer(b"").unwrap_err(), SdpError::NoBody);
        let no_g711 =
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18\r\n";
        assert_eq!(answer(no_g711.as_bytes()).unwrap_err(), SdpError::NoCodec);
        assert_eq!(SdpError::NoCodec.to_string(), "the answer accepts neither PCMU nor PCMA");
        assert!(matches!(answer(b"garbage").unwrap_err(), SdpError::Malformed(_)));
    }
}
