//! SDP (RFC 4566) offer/answer (RFC 3264) for one audio stream: G.711 µ-law/A-law and
//! RFC 4733 telephone events.

use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use crate::g711::Law;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("no audio stream in the SDP")]
    NoAudio,
    #[error("no connection address for the audio stream")]
    NoAddress,
    #[error("line {line}: {message}")]
    Malformed { line: usize, message: String },
    #[error("no common codec (we speak PCMU and PCMA)")]
    NoCommonCodec,
}

/// Media direction attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction to answer with.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Does the peer that declared this direction want to receive media from us?
    pub fn peer_receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// What a peer's SDP says about its audio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioOffer {
    /// Where to send RTP (0.0.0.0 or port 0 means hold / no media).
    pub rtp: SocketAddr,
    /// Payload types in the peer's order of preference.
    pub payload_types: Vec<u8>,
    /// The payload type mapped to telephone-event/8000, if any.
    pub telephone_event: Option<u8>,
    pub direction: Direction,
}

impl AudioOffer {
    /// Is this a hold (RFC 3264 §8.4): sendonly/inactive or a null address?
    pub fn is_hold(&self) -> bool {
        !self.direction.peer_receives() || self.rtp.ip().is_unspecified() || self.rtp.port() == 0
    }

    /// The first G.711 law the peer offered.
    pub fn choose_law(&self) -> Result<Law, SdpError> {
        self.payload_types
            .iter()
            .find_map(|&pt| Law::from_payload_type(pt))
            .ok_or(SdpError::NoCommonCodec)
    }
}

/// Parses the first audio stream of an SDP body.
pub fn parse(sdp: &str) -> Result<AudioOffer, SdpError> {
    let mut session_ip: Option<IpAddr> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    let mut port = 0u16;
    let mut pts: Vec<u8> = Vec::new();
    // The first rtpmap of the audio stream naming telephone-event/8000 (any case).
    let mut telephone_event: Option<u8> = None;
    let mut session_dir = Direction::SendRecv;
    let mut media_dir: Option<Direction> = None;
    for (i, raw) in sdp.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let bad = |m: &str| SdpError::Malformed {
            line: i + 1,
            message: m.to_string(),
        };
        let (kind, value) = line
            .split_once('=')
            .ok_or_else(|| bad("expected type=value"))?;
        match kind {
            "m" => {
                if seen_audio && in_audio {
                    in_audio = false; // a later stream: ignore it
                    continue;
                }
                let mut parts = value.split_whitespace();
                let media = parts.next().ok_or_else(|| bad("empty m= line"))?;
                if media == "audio" && !seen_audio {
                    in_audio = true;
                    seen_audio = true;
                    port = parts
                        .next()
                        .and_then(|p| p.split('/').next()?.parse().ok())
                        .ok_or_else(|| bad("bad port"))?;
                    let _proto = parts.next().ok_or_else(|| bad("missing protocol"))?;
                    pts = parts.filter_map(|p| p.parse().ok()).collect();
                } else {
                    in_audio = false;
                }
            }
            "c" => {
                let ip = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next())
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| bad("bad connection address"))?;
                if in_audio {
                    media_ip = Some(ip);
                } else if !seen_audio {
                    session_ip = Some(ip);
                }
            }
            "a" => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                let dir = match name {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(d) = dir {
                    if in_audio {
                        media_dir = Some(d);
                    } else if !seen_audio {
                        session_dir = d;
                    }
                } else if in_audio && name == "rtpmap" && telephone_event.is_none() {
                    let mut it = arg.split_whitespace();
                    if let (Some(pt), Some(enc)) =
                        (it.next().and_then(|p| p.parse::<u8>().ok()), it.next())
                    {
                        if starts_with_ignore_ascii_case(enc, TELEPHONE_EVENT) {
                            telephone_event = Some(pt);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !seen_audio {
        return Err(SdpError::NoAudio);
    }
    let ip = media_ip.or(session_ip).ok_or(SdpError::NoAddress)?;
    Ok(AudioOffer {
        rtp: SocketAddr::new(ip, port),
        payload_types: pts,
        telephone_event,
        direction: media_dir.unwrap_or(session_dir),
    })
}

/// The rtpmap encoding (name/clock rate) of RFC 4733 events at 8 kHz, in lower case.
const TELEPHONE_EVENT: &str = "telephone-event/8000";

/// Does `s` begin with `prefix`, ignoring ASCII case?
fn starts_with_ignore_ascii_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Our side of a session: what we write into an offer or an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAudio {
    pub address: IpAddr,
    pub port: u16,
    /// Laws in our order of preference (an answer has exactly one).
    pub laws: Vec<Law>,
    /// Our telephone-event payload type (in an answer: the offerer's).
    pub telephone_event: Option<u8>,
    pub direction: Direction,
    pub session_id: u64,
    pub version: u64,
}

/// Writes our SDP.
pub fn write(l: &LocalAudio) -> String {
    let family = if l.address.is_ipv4() { "IP4" } else { "IP6" };
    let mut pts: Vec<String> = l
        .laws
        .iter()
        .map(|law| law.payload_type().to_string())
        .collect();
    if let Some(te) = l.telephone_event {
        pts.push(te.to_string());
    }
    let mut s = format!(
        "v=0\r\no=tsunagu {} {} IN {family} {}\r\ns=tsunagu\r\nc=IN {family} {}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n",
        l.session_id,
        l.version,
        l.address,
        l.address,
        l.port,
        pts.join(" ")
    );
    for law in &l.laws {
        s.push_str(&format!(
            "a=rtpmap:{} {}/8000\r\n",
            law.payload_type(),
            law.name()
        ));
    }
    if let Some(te) = l.telephone_event {
        s.push_str(&format!(
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        ));
    }
    s.push_str("a=ptime:20\r\n");
    s.push_str(&format!("a={}\r\n", l.direction.attribute()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARESIP: &str =
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 10000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n\
        m=video 10002 RTP/AVP 96\r\na=sendonly\r\n";

    #[test]
    fn parses_a_typical_offer() {
        let o = parse(BARESIP).unwrap();
        assert_eq!(o.rtp, "127.0.0.1:10000".parse().unwrap());
        assert_eq!(o.payload_types, vec![0, 8, 101]);
        assert_eq!(o.telephone_event, Some(101));
        assert_eq!(
            o.direction,
            Direction::SendRecv,
            "the video stream's attribute is not ours"
        );
        assert_eq!(o.choose_law(), Ok(Law::Ulaw));
        assert!(!o.is_hold());
    }

    #[test]
    fn hold_offers() {
        let held = BARESIP.replace("a=sendrecv", "a=sendonly");
        assert!(parse(&held).unwrap().is_hold());
        let zeroed = BARESIP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert!(parse(&zeroed).unwrap().is_hold());
    }

    #[test]
    fn our_sdp_parses_back() {
        let l = LocalAudio {
            address: "127.0.0.1".parse().unwrap(),
            port: 20000,
            laws: vec![Law::Alaw, Law::Ulaw],
            telephone_event: Some(101),
            direction: Direction::SendRecv,
            session_id: 7,
            version: 1,
        };
        let o = parse(&write(&l)).unwrap();
        assert_eq!(o.payload_types, vec![8, 0, 101]);
        assert_eq!(o.choose_law(), Ok(Law::Alaw));
        assert_eq!(o.telephone_event, Some(101));
    }

    #[test]
    fn bad_sdp() {
        assert_eq!(parse("v=0\r\n"), Err(SdpError::NoAudio));
        assert!(matches!(
            parse("v=0\r\ngarbage\r\n"),
            Err(SdpError::Malformed { line: 2, .. })
        ));
        assert_eq!(
            parse("v=0\r\nm=audio 1 RTP/AVP 18\r\n"),
            Err(SdpError::NoAddress)
        );
        let g729 = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 18\r\n";
        assert_eq!(
            parse(g729).unwrap().choose_law(),
            Err(SdpError::NoCommonCodec)
        );
    }
}
