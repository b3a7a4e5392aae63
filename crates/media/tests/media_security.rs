//! Media from addresses in no SDP (the "RTP bleed" class, CVE-2017-14114), with a fake
//! clock: a stranger's packets before, during and after the peer's stream are never played,
//! relayed, mixed, recorded or read for keys, never take the leg over and never keep it
//! alive; a peer behind NAT is latched once, under strict rules, and only a new
//! offer/answer moves it.

use std::net::{IpAddr, SocketAddr};

use tsunagu_media::core::*;
use tsunagu_media::dtmf;
use tsunagu_media::g711::Law;
use tsunagu_media::peer::{StrangerNotice, LATCH_WINDOW_MS, NOTICE_INTERVAL_MS};
use tsunagu_media::rtp::{self, RtpHeader};

const CALLER: LegId = 1;
const AGENT: LegId = 2;
const SUPERVISOR: LegId = 3;

fn at(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

const LO: [u8; 4] = [127, 0, 0, 1];

fn params(remote: Option<SocketAddr>) -> LegParams {
    LegParams {
        law: Law::Ulaw,
        telephone_event: Some(101),
        remote,
        rtcp: None,
        send: true,
    }
}

fn core() -> MediaCore {
    MediaCore::new(CoreConfig {
        rtp_timeout_ms: 1000,
        seed: 7,
        comfort_noise: 0,
    })
}

/// A packet source: its own SSRC, sequence and timestamp.
struct Sender {
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Sender {
    fn new(ssrc: u32) -> Sender {
        Sender {
            ssrc,
            seq: 1000,
            ts: 50_000,
        }
    }

    fn packet(&mut self, pt: u8, ts: u32, payload: &[u8]) -> Vec<u8> {
        let p = rtp::build(
            &RtpHeader {
                marker: false,
                payload_type: pt,
                sequence: self.seq,
                timestamp: ts,
                ssrc: self.ssrc,
            },
            payload,
        );
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// 20 ms of a loud tone's worth of samples (a constant level is enough here).
    fn audio(&mut self, level: i16) -> Vec<u8> {
        self.ts = self.ts.wrapping_add(160);
        let ts = self.ts;
        self.packet(0, ts, &[Law::Ulaw.encode(level); 160])
    }

    /// One key press: three updates and an end packet, one timestamp.
    fn key(&mut self, digit: char) -> Vec<Vec<u8>> {
        let code = dtmf::digit_event(digit).unwrap();
        self.ts = self.ts.wrapping_add(160);
        let ts = self.ts;
        (1..=4u16)
            .map(|i| {
                let ev = dtmf::build(&dtmf::Event {
                    code,
                    end: i == 4,
                    volume: 10,
                    duration: 160 * i,
                });
                self.packet(101, ts, &ev)
            })
            .collect()
    }
}

#[derive(Default)]
struct Seen {
    transmits: Vec<Transmit>,
    events: Vec<MediaEvent>,
    notices: Vec<StrangerNotice>,
    recorded: Vec<i16>,
}

fn drain(c: &mut MediaCore, seen: &mut Seen) {
    while let Some(t) = c.poll_transmit() {
        seen.transmits.push(t);
    }
    while let Some(e) = c.poll_event() {
        seen.events.push(e);
    }
    while let Some(n) = c.poll_notice() {
        seen.notices.push(n);
    }
    while let Some(r) = c.poll_record() {
        seen.recorded.extend(r.samples);
    }
}

fn digits(seen: &Seen) -> String {
    seen.events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect()
}

/// The loudest sample of the audio (not the key events) sent to `leg`.
fn loudest_to(seen: &Seen, leg: LegId) -> i32 {
    seen.transmits
        .iter()
        .filter(|t| t.leg == leg && !t.rtcp)
        .map(|t| rtp::parse(&t.data).unwrap())
        .filter(|p| p.header.payload_type == 0)
        .flat_map(|p| p.payload.to_vec())
        .map(|b| i32::from(Law::Ulaw.decode(b)).abs())
        .max()
        .unwrap_or(0)
}

/// A bridged call (caller ↔ agent), a supervisor listening to both, a recording of both;
/// every leg's SDP names its peer on loopback.
fn call() -> MediaCore {
    let mut c = core();
    c.add_leg(CALLER, params(Some(at(LO, 4000))), 0);
    c.add_leg(AGENT, params(Some(at(LO, 5000))), 0);
    c.add_leg(SUPERVISOR, params(Some(at(LO, 6000))), 0);
    for (leg, ip) in [(CALLER, LO), (AGENT, LO), (SUPERVISOR, LO)] {
        c.set_signalling(leg, IpAddr::from(ip));
    }
    c.set_source(CALLER, Source::Relay(AGENT));
    c.set_source(AGENT, Source::Relay(CALLER));
    c.set_source(SUPERVISOR, Source::Mix(vec![CALLER, AGENT]));
    c.start_recording(1, CALLER, AGENT);
    c
}

#[test]
fn a_stranger_is_never_heard_before_during_or_after_the_peer() {
    let mut c = call();
    let mut seen = Seen::default();
    let stranger = at(LO, 4444); // same IP as the caller, another port
    let mut evil = Sender::new(0x0BAD_C0DE);
    let mut caller = Sender::new(0xCA11);
    let mut t = 0;
    // Before the caller's first packet: loud audio and keys.
    for _ in 0..5 {
        t += 20;
        c.handle_rtp(CALLER, stranger, &evil.audio(20_000), t);
        c.handle_tick(t);
    }
    for p in evil.key('6') {
        t += 20;
        c.handle_rtp(CALLER, stranger, &p, t);
        c.handle_tick(t);
    }
    // During: the caller speaks quietly, the stranger shouts and presses keys.
    for i in 0..50 {
        t += 20;
        c.handle_rtp(CALLER, at(LO, 4000), &caller.audio(100), t);
        c.handle_rtp(CALLER, stranger, &evil.audio(20_000), t);
        if i == 10 {
            for p in evil.key('#') {
                c.handle_rtp(CALLER, stranger, &p, t);
            }
        }
        c.handle_tick(t);
    }
    // The caller's own key press is read.
    for p in caller.key('1') {
        t += 20;
        c.handle_rtp(CALLER, at(LO, 4000), &p, t);
        c.handle_tick(t);
    }
    // After: the caller went silent for longer than the old re-latch delay.
    t += 3000;
    for _ in 0..40 {
        t += 20;
        c.handle_rtp(CALLER, stranger, &evil.audio(20_000), t);
        c.handle_tick(t);
    }
    c.stop_recording(1);
    drain(&mut c, &mut seen);

    assert_eq!(digits(&seen), "1", "only the caller's key is read");
    assert_eq!(c.remote(CALLER), Some(at(LO, 4000)), "the leg is not taken");
    assert!(
        seen.transmits.iter().all(|x| x.to != stranger),
        "nothing is sent to the stranger"
    );
    assert!(
        !seen
            .events
            .iter()
            .any(|e| matches!(e, MediaEvent::Latched { .. })),
        "no latch on a leg whose SDP names a reachable address"
    );
    let relayed = loudest_to(&seen, AGENT);
    assert!(relayed < 200, "the agent hears the caller only: {relayed}");
    let mixed = loudest_to(&seen, SUPERVISOR);
    assert!(mixed < 200, "the supervisor hears the caller only: {mixed}");
    let left = seen
        .recorded
        .iter()
        .step_by(2)
        .map(|&s| i32::from(s).abs())
        .max();
    assert!(left.unwrap() < 200, "the recording has the caller only");
    assert!(
        seen.events
            .contains(&MediaEvent::RtpTimeout { leg: CALLER }),
        "the stranger does not keep a dead leg alive"
    );
    let s = c.stats(CALLER).unwrap();
    assert_eq!(s.received, 50);
    assert_eq!(s.dtmf, 4);
    assert_eq!(s.rejected, 5 + 4 + 50 + 4 + 40);
    // Reported at a limited rate: at once, then once per interval.
    let span = t - 20;
    let most = (span / NOTICE_INTERVAL_MS + 1) as usize;
    assert!(!seen.notices.is_empty() && seen.notices.len() <= most);
    assert_eq!(seen.notices[0].from, stranger);
    assert_eq!(seen.notices[0].dropped, 1);
    let reported: u64 = seen.notices.iter().map(|n| n.dropped).sum();
    assert!(reported <= s.rejected);
}

#[test]
fn strangers_on_every_leg_are_dropped() {
    // Each leg of the call (caller, agent's phone, supervisor) takes only its own peer.
    let mut c = call();
    let mut seen = Seen::default();
    let mut evil = Sender::new(9);
    for (i, leg) in [CALLER, AGENT, SUPERVISOR].into_iter().enumerate() {
        for p in evil.key('9') {
            c.handle_rtp(leg, at([127, 0, 0, 9], 7000), &p, 20 * i as i64);
        }
        c.handle_rtp(leg, at([127, 0, 0, 9], 7000), &evil.audio(20_000), 20);
        assert_eq!(c.stats(leg).unwrap().rejected, 5, "leg {leg}");
        assert_eq!(c.stats(leg).unwrap().received, 0, "leg {leg}");
    }
    c.handle_tick(40);
    drain(&mut c, &mut seen);
    assert_eq!(digits(&seen), "");
    assert_eq!(loudest_to(&seen, AGENT), 0);
    assert_eq!(seen.notices.len(), 3, "one notice per leg");
}

#[test]
fn a_leg_without_an_address_yet_takes_nothing() {
    // A leg we dial has no SDP address until the answer: nobody can talk into it.
    let mut c = core();
    c.add_leg(AGENT, params(None), 0);
    c.set_signalling(AGENT, IpAddr::from(LO));
    let mut evil = Sender::new(1);
    let p = evil.audio(1000);
    c.handle_rtp(AGENT, at(LO, 5000), &p, 20);
    assert_eq!(c.remote(AGENT), None);
    assert_eq!(c.stats(AGENT).unwrap().rejected, 1);
    // The answer names the phone: from now on it, and only it.
    c.update_leg(AGENT, params(Some(at(LO, 5000))), 100);
    let mut phone = Sender::new(2);
    c.handle_rtp(AGENT, at(LO, 5000), &phone.audio(1000), 120);
    c.handle_rtp(AGENT, at(LO, 5002), &evil.audio(1000), 120);
    let s = c.stats(AGENT).unwrap();
    assert_eq!((s.received, s.rejected), (1, 2));
}

#[test]
fn a_new_offer_answer_moves_the_peer() {
    // A re-INVITE with a new address (sets the remote): the old address becomes a stranger.
    let mut c = core();
    c.add_leg(CALLER, params(Some(at(LO, 4000))), 0);
    let mut peer = Sender::new(3);
    c.handle_rtp(CALLER, at(LO, 4000), &peer.audio(100), 20);
    c.update_leg(CALLER, params(Some(at(LO, 4100))), 40);
    c.handle_rtp(CALLER, at(LO, 4000), &peer.audio(100), 60);
    c.handle_rtp(CALLER, at(LO, 4100), &peer.audio(100), 60);
    assert_eq!(c.remote(CALLER), Some(at(LO, 4100)));
    let s = c.stats(CALLER).unwrap();
    assert_eq!((s.received, s.rejected), (2, 1));
}

// ----- peers behind NAT

/// The SDP names a private address; the signalling comes from a public one.
const PRIVATE: [u8; 4] = [192, 168, 1, 10];
const PUBLIC: [u8; 4] = [203, 0, 113, 5];

fn nat_leg(c: &mut MediaCore, now: i64) {
    c.add_leg(CALLER, params(Some(at(PRIVATE, 4000))), now);
    c.set_signalling(CALLER, IpAddr::from(PUBLIC));
}

fn latched(seen: &Seen) -> Vec<SocketAddr> {
    seen.events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Latched { addr, .. } => Some(*addr),
            _ => None,
        })
        .collect()
}

#[test]
fn a_peer_behind_nat_is_latched_once_on_the_signalling_ip() {
    let mut c = core();
    let mut seen = Seen::default();
    nat_leg(&mut c, 0);
    let real = at(PUBLIC, 31_000);
    let mut phone = Sender::new(0xF00D);
    let mut evil = Sender::new(0xBAD);
    // Another IP is never latched, however well it sends.
    for i in 0..5 {
        c.handle_rtp(
            CALLER,
            at([198, 51, 100, 7], 4000),
            &evil.audio(20_000),
            20 + i,
        );
    }
    // One stray packet from the signalling IP is on probation, not latched.
    c.handle_rtp(CALLER, at(PUBLIC, 40_000), &evil.audio(20_000), 40);
    // A payload type the SDP did not negotiate is not a candidate.
    let odd = evil.packet(18, 0, &[0; 20]);
    c.handle_rtp(CALLER, at(PUBLIC, 40_000), &odd, 45);
    assert_eq!(c.remote(CALLER), Some(at(PRIVATE, 4000)));
    // The phone: two packets in sequence latch it (the first one is counted, not played).
    c.handle_rtp(CALLER, real, &phone.audio(100), 60);
    c.handle_rtp(CALLER, real, &phone.audio(100), 80);
    drain(&mut c, &mut seen);
    assert_eq!(latched(&seen), vec![real]);
    assert_eq!(c.remote(CALLER), Some(real));
    // After that nobody else, not even on the same IP.
    for p in evil.key('5') {
        c.handle_rtp(CALLER, at(PUBLIC, 40_000), &p, 100);
    }
    c.handle_rtp(CALLER, at(PUBLIC, 40_000), &evil.audio(1), 100);
    c.handle_rtp(CALLER, at(PUBLIC, 40_000), &evil.audio(1), 120);
    c.handle_tick(140);
    drain(&mut c, &mut seen);
    assert_eq!(latched(&seen), vec![real], "never re-latched");
    assert_eq!(digits(&seen), "");
    let rtp_out: Vec<&Transmit> = seen.transmits.iter().filter(|t| !t.rtcp).collect();
    assert!(rtp_out
        .iter()
        .all(|t| t.to == at(PRIVATE, 4000) || t.to == real));
    let s = c.stats(CALLER).unwrap();
    assert_eq!(s.received, 2, "both of the phone's packets");
    assert_eq!(s.rejected, 5 + 1 + 1 + 4 + 2);
}

#[test]
fn the_nat_window_closes_and_a_new_offer_answer_opens_it() {
    let mut c = core();
    nat_leg(&mut c, 0);
    let late = at(PUBLIC, 31_000);
    let mut phone = Sender::new(1);
    let t = LATCH_WINDOW_MS + 20;
    c.handle_rtp(CALLER, late, &phone.audio(100), t);
    c.handle_rtp(CALLER, late, &phone.audio(100), t + 20);
    assert_eq!(c.remote(CALLER), Some(at(PRIVATE, 4000)), "too late");
    // A re-INVITE (same SDP) opens the window again.
    c.update_leg(CALLER, params(Some(at(PRIVATE, 4000))), t + 40);
    c.handle_rtp(CALLER, late, &phone.audio(100), t + 60);
    c.handle_rtp(CALLER, late, &phone.audio(100), t + 80);
    assert_eq!(c.remote(CALLER), Some(late));
    // Another re-INVITE with the same SDP keeps the latched peer (no gap), and allows one
    // more latch: the phone's NAT may have moved it.
    c.update_leg(CALLER, params(Some(at(PRIVATE, 4000))), t + 100);
    assert_eq!(c.remote(CALLER), Some(late));
    let moved = at(PUBLIC, 32_000);
    c.handle_rtp(CALLER, moved, &phone.audio(100), t + 120);
    c.handle_rtp(CALLER, moved, &phone.audio(100), t + 140);
    assert_eq!(c.remote(CALLER), Some(moved));
    c.handle_rtp(CALLER, late, &phone.audio(100), t + 160);
    c.handle_rtp(CALLER, late, &phone.audio(100), t + 180);
    assert_eq!(c.remote(CALLER), Some(moved), "once per offer/answer");
}

#[test]
fn the_sdp_address_itself_closes_the_nat_window() {
    // The SDP's private address does send (we are on its network): nothing is latched.
    let mut c = core();
    nat_leg(&mut c, 0);
    let mut phone = Sender::new(1);
    c.handle_rtp(CALLER, at(PRIVATE, 4000), &phone.audio(100), 20);
    let mut evil = Sender::new(2);
    c.handle_rtp(CALLER, at(PUBLIC, 31_000), &evil.audio(100), 40);
    c.handle_rtp(CALLER, at(PUBLIC, 31_000), &evil.audio(100), 60);
    assert_eq!(c.remote(CALLER), Some(at(PRIVATE, 4000)));
}

#[test]
fn without_the_signalling_ip_only_the_sdp_address_is_taken() {
    let mut c = core();
    c.add_leg(CALLER, params(Some(at(PRIVATE, 4000))), 0);
    let mut phone = Sender::new(1);
    c.handle_rtp(CALLER, at(PUBLIC, 31_000), &phone.audio(100), 20);
    c.handle_rtp(CALLER, at(PUBLIC, 31_000), &phone.audio(100), 40);
    assert_eq!(c.remote(CALLER), Some(at(PRIVATE, 4000)));
    assert_eq!(c.stats(CALLER).unwrap().rejected, 2);
}

// ----- RTCP

fn receiver_report(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

#[test]
fn rtcp_is_taken_from_the_peer_only() {
    let mut c = core();
    c.add_leg(CALLER, params(Some(at(LO, 4000))), 0);
    c.set_signalling(CALLER, IpAddr::from(LO));
    // On the RTCP port: the SDP's RTCP address (RTP + 1) is the peer's, others are not.
    c.handle_rtcp(CALLER, at(LO, 4001), &receiver_report(1), 20);
    c.handle_rtcp(CALLER, at(LO, 4445), &receiver_report(2), 20);
    // Multiplexed on the RTP port: from the RTP peer only.
    c.handle_rtp(CALLER, at(LO, 4000), &receiver_report(1), 20);
    c.handle_rtp(CALLER, at(LO, 4444), &receiver_report(2), 20);
    assert_eq!(c.stats(CALLER).unwrap().rejected, 2);
    // Our reports go to the SDP's RTCP address, a=rtcp when it has one.
    let mut seen = Seen::default();
    c.handle_tick(6000);
    drain(&mut c, &mut seen);
    let sr: Vec<&Transmit> = seen.transmits.iter().filter(|t| t.rtcp).collect();
    assert_eq!(sr.len(), 1);
    assert_eq!(sr[0].to, at(LO, 4001));
    c.update_leg(
        CALLER,
        LegParams {
            rtcp: Some(at(LO, 4999)),
            ..params(Some(at(LO, 4000)))
        },
        6000,
    );
    c.handle_rtcp(CALLER, at(LO, 4001), &receiver_report(1), 6020);
    assert_eq!(
        c.stats(CALLER).unwrap().rejected,
        3,
        "the old RTCP port is a stranger now"
    );
    c.handle_tick(12_000);
    drain(&mut c, &mut seen);
    assert_eq!(
        seen.transmits.iter().rfind(|t| t.rtcp).unwrap().to,
        at(LO, 4999)
    );
}

#[test]
fn rtcp_behind_nat_latches_once_on_the_signalling_ip() {
    let mut c = core();
    nat_leg(&mut c, 0);
    let mut phone = Sender::new(1);
    let real = at(PUBLIC, 31_000);
    c.handle_rtp(CALLER, real, &phone.audio(100), 20);
    c.handle_rtp(CALLER, real, &phone.audio(100), 40);
    // Before its own RTCP arrives, ours goes beside the latched RTP.
    let mut seen = Seen::default();
    c.handle_tick(6000);
    drain(&mut c, &mut seen);
    assert_eq!(
        seen.transmits.iter().find(|t| t.rtcp).unwrap().to,
        at(PUBLIC, 31_001)
    );
    c.handle_rtcp(CALLER, at([198, 51, 100, 7], 9), &receiver_report(9), 6010);
    c.handle_rtcp(CALLER, at(PUBLIC, 31_555), &[0x80, 201, 0, 9], 6015); // not valid RTCP
    c.handle_rtcp(CALLER, at(PUBLIC, 31_007), &receiver_report(1), 6020);
    c.handle_rtcp(CALLER, at(PUBLIC, 40_000), &receiver_report(9), 6040);
    assert_eq!(c.stats(CALLER).unwrap().rejected, 3);
    c.handle_tick(12_000);
    drain(&mut c, &mut seen);
    assert_eq!(
        seen.transmits.iter().rfind(|t| t.rtcp).unwrap().to,
        at(PUBLIC, 31_007)
    );
}
