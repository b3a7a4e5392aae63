//! Property tests of the parsing path every datagram takes: well-formed requests mutated at
//! random (cut short, bytes flipped, lines dropped or repeated, oversized headers, wrong
//! Content-Length) go through the SIP parser and our own readers of what it yields —
//! digest credentials, Contact headers, DTMF bodies of INFO, Refer-To, the body-length check — without a
//! panic. Bounded by PROPTEST_CASES (the test script sets it).

use proptest::prelude::*;
use rsipstack::sip::prelude::*;
use rsipstack::sip::{self as rsip, Header};

use crate::digest;

const INVITE: &str = "INVITE sip:100@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1;rport\r\n\
From: \"A\" <sip:0312345678@127.0.0.1:5080>;tag=1\r\n\
To: <sip:100@127.0.0.1:5060>\r\n\
Call-ID: abc@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:0312345678@127.0.0.1:5080>;expires=60\r\n\
Max-Forwards: 70\r\n\
Authorization: Digest username=\"a\", realm=\"tsunagu\", nonce=\"1a2.ff\", uri=\"sip:x\", response=\"00ff\", qop=auth, nc=00000001, cnonce=\"c\"\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 128\r\n\
\r\n\
v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    DropLine(usize),
    DupLine(usize),
    HugeHeader(usize),
    ContentLength(u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0usize..700).prop_map(Mutation::Truncate),
        ((0usize..700), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        ((0usize..700), proptest::collection::vec(any::<u8>(), 1..40))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (0usize..20).prop_map(Mutation::DropLine),
        (0usize..20).prop_map(Mutation::DupLine),
        (1usize..70_000).prop_map(Mutation::HugeHeader),
        any::<u32>().prop_map(Mutation::ContentLength),
    ]
}

fn apply(msg: &mut Vec<u8>, m: &Mutation) {
    let lines =
        |msg: &[u8]| -> Vec<Vec<u8>> { msg.split(|&b| b == b'\n').map(|l| l.to_vec()).collect() };
    match m {
        Mutation::Truncate(i) => msg.truncate(*i % (msg.len() + 1)),
        Mutation::Flip(i, b) if !msg.is_empty() => {
            let n = msg.len();
            msg[*i % n] = *b;
        }
        Mutation::Insert(i, v) => {
            let at = *i % (msg.len() + 1);
            msg.splice(at..at, v.iter().copied());
        }
        Mutation::DropLine(i) | Mutation::DupLine(i) => {
            let mut ls = lines(msg);
            if !ls.is_empty() {
                let k = *i % ls.len();
                if matches!(m, Mutation::DropLine(_)) {
                    ls.remove(k);
                } else {
                    let l = ls[k].clone();
                    ls.insert(k, l);
                }
            }
            *msg = ls.join(&b'\n');
        }
        Mutation::HugeHeader(n) => {
            let h = format!("X-Big: {}\r\n", "z".repeat(*n));
            let at = msg
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(0, |p| p + 2);
            msg.splice(at..at, h.bytes());
        }
        Mutation::ContentLength(n) => {
            let text = String::from_utf8_lossy(msg)
                .replace("Content-Length: 128", &format!("Content-Length: {n}"));
            *msg = text.into_bytes();
        }
        Mutation::Flip(..) => {}
    }
}

/// What our code reads from a parsed message.
fn read(msg: &rsip::SipMessage) {
    if let rsip::SipMessage::Request(req) = msg {
        let _ = crate::server::incoming::body_length_mismatch(req);
        let _ = crate::info::read_info(Some("application/dtmf-relay"), &req.body);
        let _ = crate::info::read_info(Some("application/dtmf"), &req.body);
        for h in req.headers.iter() {
            match h {
                Header::ReferTo(r) => {
                    let _ = crate::refer::parse_refer_to(r.value());
                }
                Header::Authorization(a) => {
                    if let Some(c) = digest::parse_authorization(a.value()) {
                        let _ = digest::verify(&c, "INVITE", &digest::ha1("a", "tsunagu", "pw"));
                        let _ = digest::nonce_valid("secret", &c.nonce, 0);
                    }
                }
                Header::Contact(c) => {
                    let _ = rsip::typed::Contact::parse(c.value());
                }
                _ => {}
            }
        }
        let _ = req
            .from_header()
            .ok()
            .and_then(|f| rsip::typed::From::parse(f.value()).ok());
        let _ = req.to_header().ok().and_then(|t| t.tag().ok().flatten());
        let _ = req.top_via_header().ok().and_then(|v| v.typed().ok());
        let _ = req.call_id_header().map(|c| c.value().to_string());
    }
}

fn fuzz_cases() -> u32 {
    std::env::var("TSUNAGU_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    // Bounded for CI; TSUNAGU_FUZZ_CASES raises it for a longer run.
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases()))]

    #[test]
    fn mutated_requests_never_panic(muts in proptest::collection::vec(mutation(), 1..6)) {
        let mut msg = INVITE.as_bytes().to_vec();
        for m in &muts {
            apply(&mut msg, m);
        }
        if let Ok(parsed) = rsip::SipMessage::try_from(msg.as_slice()) {
            read(&parsed);
        }
        let _ = digest::parse_authorization(&String::from_utf8_lossy(&msg));
        let text = String::from_utf8_lossy(&msg);
        let _ = crate::info::read_info(Some("application/dtmf-relay"), &msg);
        let _ = crate::refer::parse_refer_to(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        if let Ok(parsed) = rsip::SipMessage::try_from(data.as_slice()) {
            read(&parsed);
        }
        let text = String::from_utf8_lossy(&data);
        let _ = digest::parse_authorization(&text);
        let _ = crate::info::read_info(Some("application/dtmf"), &data);
        let _ = crate::refer::parse_refer_to(&text);
    }

    #[test]
    fn refer_to_values_never_panic(v in "[ -~]{0,120}") {
        let _ = crate::refer::parse_refer_to(&v);
        let _ = crate::refer::parse_refer_to(&format!("\"{v}\" <sip:{v}@h?Replaces={v}>"));
    }
}

#[test]
fn the_unmutated_request_parses_and_reads() {
    let parsed = rsip::SipMessage::try_from(INVITE.as_bytes()).expect("valid");
    let rsip::SipMessage::Request(req) = &parsed else {
        panic!()
    };
    assert!(
        !crate::server::incoming::body_length_mismatch(req),
        "body is {} bytes",
        req.body.len()
    );
    read(&parsed);
}
