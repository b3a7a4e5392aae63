//! SDP (RFC 4566) offer/answer (RFC 3264) for one audio stream: G.711 µ-law/A-law and
//! RFC 4733 telephone events.
//!
//! An offer may carry several media streams (audio and video from a video phone, a second
//! audio line, an SRTP stream beside a plain one). [`parse`] reads them all, keeps their
//! shape in [`AudioOffer::streams`] and picks the first usable audio stream: plain RTP
//! (`RTP/AVP`, `RTP/AVPF`) with a port. [`write_answer`] answers every offered m= line in
//! order (RFC 3264 §6): ours for that stream, port 0 for the others.

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
    /// Every audio stream asks for a transport we do not speak (SRTP, DTLS): answering
    /// plain RTP to it would play ciphertext as sound.
    #[error("audio only over {0}, which we do not speak (we speak RTP/AVP)")]
    Transport(String),
    /// The peer's media address is of another family than ours (IPv6 to an IPv4 engine).
    #[error("media address {0} is of an address family our media does not use")]
    AddressFamily(IpAddr),
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

    fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// One m= line as offered: what an answer must echo, in the same place (RFC 3264 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// `audio`, `video`, `application`…
    pub media: String,
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`…
    pub proto: String,
    /// The format list as written (payload types for RTP).
    pub formats: Vec<String>,
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
    /// Every m= line of the SDP, in order.
    pub streams: Vec<Stream>,
    /// Which of `streams` is the audio stream described above.
    pub audio: usize,
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

/// Can we carry audio over this m= line's transport? Plain RTP only: a secure profile
/// (SAVP, SAVPF, DTLS) needs keys we do not have.
fn plain_rtp(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/AVP") || proto.eq_ignore_ascii_case("RTP/AVPF")
}

/// One m= section while it is read.
#[derive(Default)]
struct Section {
    stream: Option<Stream>,
    ip: Option<IpAddr>,
    direction: Option<Direction>,
    telephone_event: Option<u8>,
}

/// Parses an SDP body and picks its first usable audio stream: plain RTP with a port, or,
/// when every plain audio stream has port 0 (a stream turned off), the first of those.
pub fn parse(sdp: &str) -> Result<AudioOffer, SdpError> {
    let mut session_ip: Option<IpAddr> = None;
    let mut session_dir = Direction::SendRecv;
    let mut sections: Vec<Section> = Vec::new();
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
                let mut parts = value.split_whitespace();
                let media = parts.next().ok_or_else(|| bad("empty m= line"))?;
                let port = parts
                    .next()
                    .and_then(|p| p.split('/').next()?.parse().ok())
                    .ok_or_else(|| bad("bad port"))?;
                let proto = parts.next().ok_or_else(|| bad("missing protocol"))?;
                sections.push(Section {
                    stream: Some(Stream {
                        media: media.to_string(),
                        port,
                        proto: proto.to_string(),
                        formats: parts.map(str::to_string).collect(),
                    }),
                    ..Section::default()
                });
            }
            "c" => {
                let ip = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next())
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| bad("bad connection address"))?;
                match sections.last_mut() {
                    Some(s) => s.ip = Some(ip),
                    None => session_ip = Some(ip),
                }
            }
            "a" => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                if let Some(d) = Direction::from_attribute(name) {
                    match sections.last_mut() {
                        Some(s) => s.direction = Some(d),
                        None => session_dir = d,
                    }
                } else if name == "rtpmap" {
                    // The first rtpmap of the stream naming telephone-event/8000 (any case).
                    let Some(s) = sections.last_mut() else {
                        continue;
                    };
                    let mut it = arg.split_whitespace();
                    if let (None, Some(pt), Some(enc)) = (
                        s.telephone_event,
                        it.next().and_then(|p| p.parse::<u8>().ok()),
                        it.next(),
                    ) {
                        if starts_with_ignore_ascii_case(enc, TELEPHONE_EVENT) {
                            s.telephone_event = Some(pt);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let streams: Vec<Stream> = sections.iter().filter_map(|s| s.stream.clone()).collect();
    let audio = |s: &Stream| s.media == "audio";
    let chosen = streams
        .iter()
        .position(|s| audio(s) && plain_rtp(&s.proto) && s.port != 0)
        .or_else(|| streams.iter().position(|s| audio(s) && plain_rtp(&s.proto)));
    let Some(index) = chosen else {
        return Err(match streams.iter().find(|s| audio(s)) {
            Some(s) => SdpError::Transport(s.proto.clone()),
            None => SdpError::NoAudio,
        });
    };
    let section = &sections[index];
    let stream = &streams[index];
    let ip = section.ip.or(session_ip).ok_or(SdpError::NoAddress)?;
    Ok(AudioOffer {
        rtp: SocketAddr::new(ip, stream.port),
        payload_types: stream
            .formats
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect(),
        telephone_event: section.telephone_event,
        direction: section.direction.unwrap_or(session_dir),
        streams,
        audio: index,
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

/// Writes our answer to `offer`: one m= line per offered stream, in the offer's order
/// (RFC 3264 §6) — ours for the audio stream we took, port 0 (refused) for every other.
/// An audio stream offered with port 0 is answered with port 0 too (§8.2: a stream the
/// offerer turned off stays off).
pub fn write_answer(l: &LocalAudio, offer: &AudioOffer) -> String {
    let mut ours = l.clone();
    if offer.streams.get(offer.audio).is_some_and(|s| s.port == 0) {
        ours.port = 0;
    }
    let written = write(&ours);
    let Some(split) = written.find("m=audio") else {
        return written;
    };
    let (session, audio) = written.split_at(split);
    let mut out = session.to_string();
    for (i, s) in offer.streams.iter().enumerate() {
        if i == offer.audio {
            out.push_str(audio);
        } else {
            // A refused stream keeps its media and transport and names one format (§6).
            let format = s.formats.first().map_or("0", String::as_str);
            out.push_str(&format!("m={} 0 {} {}\r\n", s.media, s.proto, format));
        }
    }
    out
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

    fn ours(port: u16) -> LocalAudio {
        LocalAudio {
            address: "127.0.0.1".parse().unwrap(),
            port,
            laws: vec![Law::Ulaw],
            telephone_event: Some(101),
            direction: Direction::SendRecv,
            session_id: 1,
            version: 1,
        }
    }

    fn m_lines(sdp: &str) -> Vec<&str> {
        sdp.lines().filter(|l| l.starts_with("m=")).collect()
    }

    /// Regression: an answer had one m= line whatever was offered, so a video phone's offer
    /// (audio + video) got an answer RFC 3264 §6 forbids.
    #[test]
    fn every_offered_stream_is_answered_in_its_place() {
        let o = parse(BARESIP).unwrap();
        assert_eq!((o.streams.len(), o.audio), (2, 0));
        let a = write_answer(&ours(20000), &o);
        assert_eq!(
            m_lines(&a),
            ["m=audio 20000 RTP/AVP 0 101", "m=video 0 RTP/AVP 96"]
        );
        // Video first: the audio answer is second, with the audio stream's own address.
        let video_first = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=video 4000 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\na=sendonly\r\n\
            m=audio 4002 RTP/AVP 8\r\nc=IN IP4 10.0.0.2\r\n";
        let o = parse(video_first).unwrap();
        assert_eq!(o.audio, 1);
        assert_eq!(o.rtp, "10.0.0.2:4002".parse().unwrap());
        assert_eq!(
            o.direction,
            Direction::SendRecv,
            "video's sendonly is not ours"
        );
        let a = write_answer(&ours(20000), &o);
        assert_eq!(
            m_lines(&a),
            ["m=video 0 RTP/AVP 96", "m=audio 20000 RTP/AVP 0 101"]
        );
        assert!(parse(&a).is_ok());
    }

    /// Regression: an SRTP stream was answered as plain RTP (its ciphertext played as
    /// sound); a turned-off first audio stream hid a usable second one.
    #[test]
    fn the_first_usable_audio_stream_is_taken() {
        let srtp_and_plain = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
            m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n\
            m=audio 5002 RTP/AVP 0\r\n";
        let o = parse(srtp_and_plain).unwrap();
        assert_eq!((o.audio, o.rtp.port()), (1, 5002));
        assert_eq!(
            m_lines(&write_answer(&ours(20000), &o)),
            ["m=audio 0 RTP/SAVP 0", "m=audio 20000 RTP/AVP 0 101"]
        );
        let srtp_only = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/SAVP 0 8\r\n";
        assert_eq!(
            parse(srtp_only),
            Err(SdpError::Transport("RTP/SAVP".into()))
        );
        let webrtc = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n";
        assert!(matches!(parse(webrtc), Err(SdpError::Transport(_))));
        let off_then_on = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
            m=audio 0 RTP/AVP 0\r\nm=audio 5002 RTP/AVPF 8\r\n";
        let o = parse(off_then_on).unwrap();
        assert_eq!((o.audio, o.choose_law()), (1, Ok(Law::Alaw)));
    }

    /// An audio stream offered with port 0 is off: the answer keeps it off (RFC 3264 §8.2).
    #[test]
    fn a_stream_turned_off_is_answered_off() {
        let off = BARESIP.replace("m=audio 10000", "m=audio 0");
        let o = parse(&off).unwrap();
        assert!(o.is_hold());
        assert_eq!(
            m_lines(&write_answer(&ours(20000), &o)),
            ["m=audio 0 RTP/AVP 0 101", "m=video 0 RTP/AVP 96"]
        );
    }
}
