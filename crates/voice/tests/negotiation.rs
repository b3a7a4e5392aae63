//! The switch's side of SDP offer/answer, REFER outcomes, and inputs that name calls or
//! legs that are gone, driven by hand with a fake clock.

use std::net::SocketAddr;
use std::sync::Arc;

use tsunagu_flow::{load, Checks, Flow};
use tsunagu_media::core::MediaEvent;
use tsunagu_voice::*;

const T: i64 = 1_767_571_200_000;
const CUSTOMER: LegId = 1 << 48;
const CONTACT: ContactId = 77;

const FLOW: &str = r#"
name = "t"
start = "sales"
language = "ja"

[nodes.sales]
type = "queue"
queue = "sales"
"#;

fn flow() -> Arc<Flow> {
    Arc::new(load("t.toml", FLOW, &Checks::none()).unwrap())
}

fn sdp(ip: &str, port: u16, pts: &str, dir: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pts}\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na={dir}\r\n"
    )
}

struct H {
    sw: Switch,
    now: i64,
}

impl H {
    fn new() -> H {
        H {
            sw: Switch::new(SwitchConfig::default()),
            now: T,
        }
    }

    fn drain(&mut self) -> Vec<Out> {
        std::iter::from_fn(|| self.sw.poll_output()).collect()
    }

    fn sip(&mut self, ev: SipIn) -> Vec<Out> {
        self.sw.handle_sip(ev, self.now);
        self.drain()
    }

    fn center(&mut self, ev: CenterIn) -> Vec<Out> {
        self.sw.handle_center(ev, self.now);
        self.drain()
    }

    /// An inbound call with `offer` (None: no SDP), its contact created and its media
    /// ready; returns the outputs after the answer.
    fn inbound(&mut self, offer: Option<String>) -> Vec<Out> {
        let o = self.sip(SipIn::Incoming {
            leg: CUSTOMER,
            tenant_id: 1,
            caller: "0312345678".into(),
            caller_name: None,
            called: "100".into(),
            offer,
            flow: Some(flow()),
            call_id: "c".into(),
        });
        let call = o
            .iter()
            .find_map(|x| match x {
                Out::CreateContact { call, .. } => Some(*call),
                _ => None,
            })
            .expect("a call");
        self.center(CenterIn::ContactCreated {
            call,
            contact: CONTACT,
        });
        self.sw.handle_leg_ready(CUSTOMER, 20_000, self.now);
        self.drain()
    }

    /// The queued call offered to `agent`, whose phone answers; returns the agent's leg.
    fn connect(&mut self, agent: AgentId) -> LegId {
        self.center(CenterIn::Enqueued {
            contact: CONTACT,
            record: false,
        });
        let o = self.center(CenterIn::Offer {
            contact: CONTACT,
            agent,
            agent_name: "x".into(),
        });
        let leg = o
            .iter()
            .find_map(|x| match x {
                Out::Locate { leg, .. } => Some(*leg),
                _ => None,
            })
            .unwrap();
        let target = PhoneTarget {
            uri: "sip:a@10.0.0.5".into(),
            destination: SocketAddr::from(([10, 0, 0, 5], 5060)),
            tcp: false,
            tls: false,
            trunk: None,
        };
        self.sw.handle_located(leg, vec![target], self.now);
        self.sw.handle_leg_ready(leg, 20_002, self.now);
        self.drain();
        self.sip(SipIn::Answered {
            leg,
            answer: Some(sdp("10.0.0.5", 6000, "0 101", "sendrecv")),
        });
        self.center(CenterIn::AcceptResult {
            contact: CONTACT,
            agent,
            ok: true,
        });
        leg
    }
}

fn update_answer(o: &[Out]) -> Option<String> {
    o.iter().find_map(|x| match x {
        Out::SipAnswerUpdate { sdp, .. } => Some(sdp.clone()),
        _ => None,
    })
}

fn media_update(o: &[Out]) -> Option<tsunagu_media::core::LegParams> {
    o.iter().find_map(|x| match x {
        Out::MediaUpdate { params, .. } => Some(*params),
        _ => None,
    })
}

fn m_line(sdp: &str) -> &str {
    sdp.lines().find(|l| l.starts_with("m=audio")).unwrap()
}

#[test]
fn a_reoffer_is_answered_from_what_was_offered_and_the_media_follows() {
    let mut h = H::new();
    h.inbound(Some(sdp("10.0.0.1", 4000, "0 8 101", "sendrecv")));
    // Only PCMA now, at a new address.
    let o = h.sip(SipIn::Update {
        leg: CUSTOMER,
        offer: sdp("10.0.0.9", 4100, "8 101", "sendrecv"),
    });
    assert_eq!(
        m_line(&update_answer(&o).unwrap()),
        "m=audio 20000 RTP/AVP 8 101"
    );
    let p = media_update(&o).expect("the media follows");
    assert_eq!(p.law, tsunagu_media::g711::Law::Alaw);
    assert_eq!(p.remote, Some("10.0.0.9:4100".parse().unwrap()));
    // The first offered law we speak, whatever else is offered first.
    let o = h.sip(SipIn::Update {
        leg: CUSTOMER,
        offer: sdp("10.0.0.9", 4100, "18 9 0 8 101", "sendrecv"),
    });
    assert_eq!(
        m_line(&update_answer(&o).unwrap()),
        "m=audio 20000 RTP/AVP 0 101"
    );
}

#[test]
fn unusable_reoffers_are_refused_and_change_nothing() {
    let mut h = H::new();
    h.inbound(Some(sdp("10.0.0.1", 4000, "0 101", "sendrecv")));
    for (offer, code) in [
        (sdp("10.0.0.1", 4000, "18", "sendrecv"), 488),
        (
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 5 RTP/AVP 96\r\n".to_string(),
            488,
        ),
        ("v=0\r\nnot sdp\r\n".to_string(), 400),
        ("v=0\r\nm=audio 5 RTP/AVP 0\r\n".to_string(), 400),
        // SRTP only: answering plain RTP would play ciphertext as sound.
        (
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:k\r\n"
                .to_string(),
            488,
        ),
        // An address our (IPv4) media engine cannot send to.
        (
            "v=0\r\nc=IN IP6 2001:db8::1\r\nm=audio 5 RTP/AVP 0\r\n".to_string(),
            488,
        ),
    ] {
        let o = h.sip(SipIn::Update {
            leg: CUSTOMER,
            offer: offer.clone(),
        });
        assert_eq!(
            o,
            vec![Out::SipRefuseUpdate {
                leg: CUSTOMER,
                code
            }],
            "{offer}"
        );
    }
}

fn m_lines(sdp: &str) -> Vec<&str> {
    sdp.lines().filter(|l| l.starts_with("m=")).collect()
}

/// Regression: a video phone's offer (video and audio) was answered with one m= line, which
/// RFC 3264 §6 forbids and such phones refuse; the answer now has every offered stream in
/// its place, the others refused with port 0, on the first answer and on a re-offer.
#[test]
fn offers_with_several_streams_are_answered_stream_by_stream() {
    let mut h = H::new();
    let video_first = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
        m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let o = h.inbound(Some(video_first.to_string()));
    let answer = o
        .iter()
        .find_map(|x| match x {
            Out::SipAnswer { sdp, .. } => Some(sdp.clone()),
            _ => None,
        })
        .expect("answered");
    assert_eq!(
        m_lines(&answer),
        ["m=video 0 RTP/AVP 96", "m=audio 20000 RTP/AVP 8 101"]
    );
    // A re-offer adding an SRTP audio stream before a plain one: the plain one is taken.
    let reoffer = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=audio 4100 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:k\r\n\
        m=audio 4200 RTP/AVP 0 101\r\nc=IN IP4 10.0.0.7\r\na=rtpmap:101 telephone-event/8000\r\n\
        m=video 4002 RTP/AVP 96\r\n";
    let o = h.sip(SipIn::Update {
        leg: CUSTOMER,
        offer: reoffer.to_string(),
    });
    assert_eq!(
        m_lines(&update_answer(&o).unwrap()),
        [
            "m=audio 0 RTP/SAVP 0",
            "m=audio 20000 RTP/AVP 0 101",
            "m=video 0 RTP/AVP 96"
        ]
    );
    let p = media_update(&o).expect("the media follows the plain stream");
    assert_eq!(p.remote, Some("10.0.0.7:4200".parse().unwrap()));
    assert_eq!(p.law, tsunagu_media::g711::Law::Ulaw);
}

#[test]
fn hold_by_direction_or_null_address_stops_sending_and_resume_starts_again() {
    let mut h = H::new();
    h.inbound(Some(sdp("10.0.0.1", 4000, "0 101", "sendrecv")));
    for (offer, answer_dir, send) in [
        (
            sdp("10.0.0.1", 4000, "0 101", "sendonly"),
            "a=recvonly",
            false,
        ),
        (
            sdp("0.0.0.0", 4000, "0 101", "sendrecv"),
            "a=recvonly",
            false,
        ),
        (
            sdp("10.0.0.1", 4000, "0 101", "inactive"),
            "a=inactive",
            false,
        ),
        (
            sdp("10.0.0.1", 4000, "0 101", "sendrecv"),
            "a=sendrecv",
            true,
        ),
    ] {
        let o = h.sip(SipIn::Update {
            leg: CUSTOMER,
            offer: offer.clone(),
        });
        assert!(update_answer(&o).unwrap().contains(answer_dir), "{offer}");
        let p = media_update(&o).unwrap();
        assert_eq!(p.send, send, "{offer}");
        assert_eq!(
            p.remote,
            Some("10.0.0.1:4000".parse().unwrap()),
            "a null address keeps the peer"
        );
    }
}

#[test]
fn a_reinvite_without_sdp_gets_our_offer_and_the_ack_brings_the_answer() {
    let mut h = H::new();
    h.inbound(Some(sdp("10.0.0.1", 4000, "0 101", "sendrecv")));
    let o = h.sip(SipIn::OfferWanted { leg: CUSTOMER });
    let offer = update_answer(&o).expect("an offer in the 200");
    assert_eq!(m_line(&offer), "m=audio 20000 RTP/AVP 0 8 101");
    assert!(
        media_update(&o).is_none(),
        "nothing changes before the answer"
    );
    let o = h.sip(SipIn::AckAnswer {
        leg: CUSTOMER,
        answer: Some(sdp("10.0.0.2", 4200, "8 101", "sendrecv")),
    });
    let p = media_update(&o).expect("the answer is applied");
    assert_eq!(p.law, tsunagu_media::g711::Law::Alaw);
    assert_eq!(p.remote, Some("10.0.0.2:4200".parse().unwrap()));
    // An ACK nobody waited for an answer in changes nothing.
    assert!(h
        .sip(SipIn::AckAnswer {
            leg: CUSTOMER,
            answer: Some(sdp("10.0.0.3", 4300, "0", "sendrecv")),
        })
        .is_empty());
    // An unusable answer to a re-INVITE's offer leaves the session as it was.
    h.sip(SipIn::OfferWanted { leg: CUSTOMER });
    let o = h.sip(SipIn::AckAnswer {
        leg: CUSTOMER,
        answer: None,
    });
    assert!(o.is_empty(), "{o:?}");
}

#[test]
fn a_call_without_sdp_is_answered_with_an_offer_and_ended_without_an_answer() {
    let mut h = H::new();
    let o = h.inbound(None);
    let answer = o
        .iter()
        .find_map(|x| match x {
            Out::SipAnswer { sdp, .. } => Some(sdp.clone()),
            _ => None,
        })
        .expect("answered");
    assert_eq!(m_line(&answer), "m=audio 20000 RTP/AVP 0 8 101");
    assert!(answer.contains("a=sendrecv"));
    let o = h.sip(SipIn::AckAnswer {
        leg: CUSTOMER,
        answer: Some(sdp("10.0.0.1", 4000, "8 101", "sendrecv")),
    });
    assert_eq!(
        media_update(&o).unwrap().remote,
        Some("10.0.0.1:4000".parse().unwrap())
    );

    let mut h = H::new();
    h.inbound(None);
    let o = h.sip(SipIn::AckAnswer {
        leg: CUSTOMER,
        answer: None,
    });
    assert!(o.contains(&Out::SipHangup { leg: CUSTOMER }), "{o:?}");
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::EndContact { cause, .. } if cause == "no_sdp_answer")));
}

fn notify(o: &[Out]) -> Option<(LegId, u16)> {
    o.iter().find_map(|x| match x {
        Out::SipReferNotify { leg, code, .. } => Some((*leg, *code)),
        _ => None,
    })
}

fn transfer_failed(o: &[Out]) -> Option<serde_json::Value> {
    o.iter().find_map(|x| match x {
        Out::Event {
            kind: "consult",
            data,
            ..
        } if data["state"] == "transfer_failed" => Some(data.clone()),
        _ => None,
    })
}

#[test]
fn every_refer_ends_in_one_final_notify() {
    let mut h = H::new();
    h.inbound(Some(sdp("10.0.0.1", 4000, "0 101", "sendrecv")));
    // From the caller's leg: not theirs to transfer.
    let o = h.sip(SipIn::Refer {
        leg: CUSTOMER,
        target: Some("billing".into()),
        attended: false,
    });
    assert_eq!(notify(&o), Some((CUSTOMER, 403)));
    assert_eq!(transfer_failed(&o).unwrap()["sip_code"], 403);
    // From a leg nobody knows.
    let o = h.sip(SipIn::Refer {
        leg: 4242,
        target: Some("billing".into()),
        attended: false,
    });
    assert_eq!(
        o,
        vec![Out::SipReferNotify {
            leg: 4242,
            code: 481,
            reason: String::new()
        }]
    );

    let agent = h.connect(5);
    for (target, attended, code) in [(None, false, 404), (Some("x".to_string()), true, 501)] {
        let o = h.sip(SipIn::Refer {
            leg: agent,
            target,
            attended,
        });
        assert_eq!(notify(&o), Some((agent, code)));
        assert!(transfer_failed(&o).is_some());
        assert!(
            !o.contains(&Out::SipHangup { leg: agent }),
            "the call goes on"
        );
    }
    // The shell finds no such target.
    let o = h.sip(SipIn::Refer {
        leg: agent,
        target: Some("nobody".into()),
        attended: false,
    });
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::Refer { leg, .. } if *leg == agent)));
    // A second REFER while the first is under way.
    let o = h.sip(SipIn::Refer {
        leg: agent,
        target: Some("other".into()),
        attended: false,
    });
    assert_eq!(notify(&o), Some((agent, 491)));
    h.sw.refer_failed(agent, 404, "no such target", h.now);
    let o = h.drain();
    assert_eq!(notify(&o), Some((agent, 404)));
    assert_eq!(transfer_failed(&o).unwrap()["to"], "nobody");
    // Reported once: a late second report changes nothing.
    h.sw.refer_failed(agent, 503, "late", h.now);
    assert!(h.drain().is_empty());

    // To a number: a blind transfer; the phone hears 200 before its BYE.
    h.sip(SipIn::Refer {
        leg: agent,
        target: Some("0312345678".into()),
        attended: false,
    });
    h.sw.refer_transfer(agent, Party::Number("0312345678".into()), h.now);
    let o = h.drain();
    let n = o
        .iter()
        .position(|x| matches!(x, Out::SipReferNotify { code: 200, .. }));
    let bye = o.iter().position(|x| *x == Out::SipHangup { leg: agent });
    assert!(n.is_some() && n < bye, "{o:?}");
}

#[test]
fn a_refer_under_way_when_the_call_ends_is_reported_terminated() {
    let mut h = H::new();
    h.inbound(Some(sdp("10.0.0.1", 4000, "0 101", "sendrecv")));
    let agent = h.connect(5);
    h.sip(SipIn::Refer {
        leg: agent,
        target: Some("billing".into()),
        attended: false,
    });
    let o = h.sip(SipIn::Ended {
        leg: CUSTOMER,
        cause: "bye".into(),
    });
    let n = o
        .iter()
        .position(|x| matches!(x, Out::SipReferNotify { code: 487, .. }));
    let bye = o.iter().position(|x| *x == Out::SipHangup { leg: agent });
    assert!(n.is_some() && n < bye, "{o:?}");
    // The shell's late answer finds nothing to do.
    h.sw.refer_transfer(agent, Party::Number("1".into()), h.now);
    h.sw.refer_failed(agent, 404, "x", h.now);
    assert!(h.drain().is_empty());
}

/// Every input that names a call, a contact or a leg, after that call is gone (or for one
/// that never was): no panic, and nothing is done to the other call still up.
#[test]
fn inputs_naming_a_vanished_call_do_not_panic() {
    let mut h = H::new();
    h.inbound(Some(sdp("10.0.0.1", 4000, "0 101", "sendrecv")));
    let agent = h.connect(5);
    h.sip(SipIn::Ended {
        leg: CUSTOMER,
        cause: "bye".into(),
    });
    assert_eq!(h.sw.call_count(), 0);
    let (gone_call, gone_leg) = (1, agent);
    let now = h.now;
    for leg in [gone_leg, CUSTOMER, 999] {
        for ev in [
            SipIn::Ringing { leg },
            SipIn::Answered {
                leg,
                answer: Some(sdp("10.0.0.1", 1, "0", "sendrecv")),
            },
            SipIn::Failed {
                leg,
                code: 486,
                reason: "busy".into(),
            },
            SipIn::Ended {
                leg,
                cause: "bye".into(),
            },
            SipIn::Update {
                leg,
                offer: sdp("10.0.0.1", 1, "0", "sendrecv"),
            },
            SipIn::OfferWanted { leg },
            SipIn::AckAnswer { leg, answer: None },
            SipIn::Dtmf { leg, digit: '1' },
            SipIn::Refer {
                leg,
                target: Some("x".into()),
                attended: false,
            },
        ] {
            h.sw.handle_sip(ev, now);
        }
        h.sw.handle_media(MediaEvent::Dtmf { leg, digit: '1' }, now);
        h.sw.handle_media(MediaEvent::PlayDone { leg, token: 1 }, now);
        h.sw.handle_media(MediaEvent::RtpTimeout { leg }, now);
        h.sw.handle_leg_ready(leg, 1, now);
        h.sw.handle_located(leg, vec![], now);
        h.sw.refer_failed(leg, 404, "x", now);
        h.sw.refer_transfer(leg, Party::Agent(6), now);
    }
    h.sw.handle_http(gone_call, Ok(serde_json::json!({})), now);
    h.sw.fail_call(gone_call, "x", now);
    for ev in [
        CenterIn::ContactCreated {
            call: gone_call,
            contact: CONTACT,
        },
        CenterIn::Enqueued {
            contact: CONTACT,
            record: true,
        },
        CenterIn::Offer {
            contact: CONTACT,
            agent: 6,
            agent_name: "y".into(),
        },
        CenterIn::OfferWithdrawn {
            contact: CONTACT,
            agent: 6,
        },
        CenterIn::MaxWait { contact: CONTACT },
        CenterIn::AcceptResult {
            contact: CONTACT,
            agent: 6,
            ok: true,
        },
        CenterIn::Position {
            contact: CONTACT,
            position: 1,
            wait_secs: 1,
        },
        CenterIn::Ended { contact: CONTACT },
        CenterIn::Transferred { contact: CONTACT },
    ] {
        h.sw.handle_center(ev, now);
    }
    let party = || Party::Agent(6);
    assert!(h.sw.hold(CONTACT, true, now).is_err());
    assert!(h.sw.pause_recording(CONTACT, true, now).is_err());
    assert!(h.sw.monitor(CONTACT, 6, MonitorMode::Listen, now).is_err());
    assert!(h.sw.stop_monitor(CONTACT, 6, now).is_err());
    assert!(h.sw.consult(CONTACT, party(), now).is_err());
    assert!(h.sw.consult_cancel(CONTACT, now).is_err());
    assert!(h.sw.conference(CONTACT, now).is_err());
    assert!(h.sw.consult_complete(CONTACT, now).is_err());
    assert!(h.sw.blind_transfer(CONTACT, party(), now).is_err());
    assert!(h.sw.hangup(CONTACT, Side::Agent, now).is_err());
    h.sw.handle_timeout(now + 3_600_000);
    h.sw.end_all("shutdown", now);
    h.drain();
    assert_eq!(h.sw.call_count(), 0);
}
