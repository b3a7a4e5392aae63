//! Property tests of the media parsing path: SDP offers mutated at random (lines dropped,
//! repeated, cut, characters changed) and RTP/RTCP packets with random header bits and
//! lengths never make a parser panic; what parses can be answered.

use proptest::prelude::*;
use tsunagu_media::sdp::{self, Direction, LocalAudio};

const OFFER: &str =
    "v=0\r\no=- 53655765 2353687637 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 49170 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

#[derive(Debug, Clone)]
enum Edit {
    Drop(usize),
    Dup(usize),
    Cut(usize),
    Char(usize, char),
    Line(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0usize..20).prop_map(Edit::Drop),
        (0usize..20).prop_map(Edit::Dup),
        (0usize..400).prop_map(Edit::Cut),
        ((0usize..400), any::<char>()).prop_map(|(i, c)| Edit::Char(i, c)),
        ((0usize..20), "[a-z]=[ -~]{0,60}").prop_map(|(i, l)| Edit::Line(i, l)),
    ]
}

fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    let mut s;
    for e in edits {
        match e {
            Edit::Drop(i) if !lines.is_empty() => {
                let k = i % lines.len();
                lines.remove(k);
            }
            Edit::Dup(i) if !lines.is_empty() => {
                let k = i % lines.len();
                let l = lines[k].clone();
                lines.insert(k, l);
            }
            Edit::Line(i, l) => {
                let k = i % (lines.len() + 1);
                lines.insert(k, l.clone());
            }
            Edit::Cut(i) => {
                s = lines.join("\r\n");
                let mut cut = (*i).min(s.len());
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                lines = s.split("\r\n").map(str::to_string).collect();
            }
            Edit::Char(i, c) => {
                s = lines.join("\r\n");
                let mut at = (*i).min(s.len());
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                s.insert(at, *c);
                lines = s.split("\r\n").map(str::to_string).collect();
            }
            _ => {}
        }
    }
    lines.join("\r\n")
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
    fn mutated_offers_never_panic(edits in proptest::collection::vec(edit(), 1..8)) {
        let text = mutate(OFFER, &edits);
        if let Ok(o) = sdp::parse(&text) {
            let _ = o.is_hold();
            if let Ok(law) = o.choose_law() {
                let answer = sdp::write(&LocalAudio {
                    address: "127.0.0.1".parse().unwrap(),
                    port: 20000,
                    laws: vec![law],
                    telephone_event: o.telephone_event,
                    direction: o.direction.reverse(),
                    session_id: 1,
                    version: 1,
                });
                // Our own answer always reads back.
                prop_assert!(sdp::parse(&answer).is_ok());
            }
        }
    }

    #[test]
    fn rtp_and_rtcp_headers_of_any_shape_never_panic(
        first in any::<u8>(), second in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut p = vec![first, second];
        p.extend(rest);
        let _ = tsunagu_media::rtp::parse(&p);
        let _ = tsunagu_media::rtcp::report_blocks(&p);
        let _ = tsunagu_media::dtmf::parse(&p);
    }
}

#[test]
fn the_offer_itself_parses() {
    let o = sdp::parse(OFFER).unwrap();
    assert_eq!(o.direction, Direction::SendRecv);
    assert_eq!(o.telephone_event, Some(101));
}
