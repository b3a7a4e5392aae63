//! The media core with a fake clock: prompts, relaying, latching, DTMF, mixing, recording,
//! hold and timeouts — and arbitrary bytes never break it.

use std::net::SocketAddr;

use proptest::prelude::*;
use tsunagu_media::core::*;
use tsunagu_media::dtmf;
use tsunagu_media::g711::Law;
use tsunagu_media::prompt::Prompt;
use tsunagu_media::rtp::{self, RtpHeader};

const A: LegId = 1;
const B: LegId = 2;
const S: LegId = 3;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn params(law: Law, remote: u16) -> LegParams {
    LegParams {
        law,
        telephone_event: Some(101),
        remote: Some(addr(remote)),
        rtcp: None,
        send: true,
    }
}

fn core() -> MediaCore {
    MediaCore::new(CoreConfig {
        rtp_timeout_ms: 1000,
        seed: 1,
        comfort_noise: 0,
    })
}

fn drain(c: &mut MediaCore) -> (Vec<Transmit>, Vec<MediaEvent>) {
    let mut t = Vec::new();
    let mut e = Vec::new();
    while let Some(x) = c.poll_transmit() {
        if !x.rtcp {
            t.push(x);
        }
    }
    while let Some(x) = c.poll_event() {
        e.push(x);
    }
    (t, e)
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    rtp::build(
        &RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc,
        },
        payload,
    )
}

#[test]
fn a_prompt_plays_then_reports_done() {
    let mut c = core();
    c.add_leg(A, params(Law::Ulaw, 4000), 0);
    let tone = Prompt::tone("t", 440.0, 100, 10_000.0); // 5 frames
    c.set_source(
        A,
        Source::Prompt {
            prompt: tone,
            looped: false,
            token: 77,
        },
    );
    let mut sent = Vec::new();
    let mut events = Vec::new();
    for i in 1..=7 {
        c.handle_tick(i * 20);
        let (t, e) = drain(&mut c);
        sent.extend(t);
        events.extend(e);
    }
    assert_eq!(sent.len(), 7, "a packet every tick, prompt or silence");
    assert!(sent.iter().all(|t| t.to == addr(4000)));
    let hs: Vec<RtpHeader> = sent
        .iter()
        .map(|t| rtp::parse(&t.data).unwrap().header)
        .collect();
    for w in hs.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
        assert_eq!(w[1].timestamp, w[0].timestamp.wrapping_add(160));
        assert_eq!(w[1].ssrc, w[0].ssrc);
    }
    assert!(hs[0].marker && !hs[1].marker);
    assert_eq!(events, vec![MediaEvent::PlayDone { leg: A, token: 77 }]);
    // The tone is audible in the first packets, silence after it.
    let loud = |t: &Transmit| {
        rtp::parse(&t.data)
            .unwrap()
            .payload
            .iter()
            .map(|&b| i32::from(Law::Ulaw.decode(b)).abs())
            .max()
            .unwrap()
    };
    assert!(loud(&sent[1]) > 5000);
    assert_eq!(loud(&sent[6]), 0);
}

#[test]
fn looped_music_never_ends() {
    let mut c = core();
    c.add_leg(A, params(Law::Alaw, 4000), 0);
    c.set_source(
        A,
        Source::Prompt {
            prompt: Prompt::tone("moh", 300.0, 40, 5000.0),
            looped: true,
            token: 1,
        },
    );
    for i in 1..=50 {
        c.handle_tick(i * 20);
    }
    let (t, e) = drain(&mut c);
    assert_eq!(t.len(), 50);
    assert!(e.is_empty());
    assert_eq!(rtp::parse(&t[0].data).unwrap().header.payload_type, 8);
}

#[test]
fn a_bridge_relays_both_ways_with_our_own_stream_identity() {
    let mut c = core();
    c.add_leg(A, params(Law::Ulaw, 4000), 0);
    c.add_leg(B, params(Law::Ulaw, 5000), 0);
    // B heard a prompt first: its stream continues seamlessly into the relay.
    c.handle_tick(20);
    let (before, _) = drain(&mut c);
    let last_b = before
        .iter()
        .find(|t| t.leg == B)
        .map(|t| rtp::parse(&t.data).unwrap().header)
        .unwrap();
    c.set_source(A, Source::Relay(B));
    c.set_source(B, Source::Relay(A));
    let voice = vec![Law::Ulaw.encode(1234); 160];
    c.handle_rtp(A, addr(4000), &packet(0, 10, 90_000, 0xAAAA, &voice), 40);
    c.handle_rtp(A, addr(4000), &packet(0, 11, 90_160, 0xAAAA, &voice), 60);
    c.handle_rtp(B, addr(5000), &packet(0, 500, 7, 0xBBBB, &voice), 60);
    c.handle_tick(80); // relayed legs generate nothing on ticks
    let (t, _) = drain(&mut c);
    assert_eq!(t.len(), 3);
    let to_b: Vec<_> = t.iter().filter(|x| x.leg == B).collect();
    assert_eq!(to_b.len(), 2);
    assert!(to_b.iter().all(|x| x.to == addr(5000)));
    let h1 = rtp::parse(&to_b[0].data).unwrap().header;
    let h2 = rtp::parse(&to_b[1].data).unwrap().header;
    assert_eq!(h1.ssrc, last_b.ssrc, "B keeps its SSRC");
    assert_eq!(h1.sequence, last_b.sequence.wrapping_add(1));
    assert_eq!(h1.timestamp, last_b.timestamp.wrapping_add(160));
    assert_eq!(h2.timestamp, h1.timestamp.wrapping_add(160));
    assert!(h1.marker && !h2.marker);
    assert_eq!(rtp::parse(&to_b[0].data).unwrap().payload, &voice[..]);
    assert!(t.iter().any(|x| x.leg == A && x.to == addr(4000)));
}

#[test]
fn different_laws_are_transcoded() {
    let mut c = core();
    c.add_leg(A, params(Law::Ulaw, 4000), 0);
    c.add_leg(B, params(Law::Alaw, 5000), 0);
    c.set_source(B, Source::Relay(A));
    let voice: Vec<u8> = (0..160)
        .map(|i| Law::Ulaw.encode((i * 100) as i16))
        .collect();
    c.handle_rtp(A, addr(4000), &packet(0, 1, 0, 1, &voice), 20);
    let (t, _) = drain(&mut c);
    let p = rtp::parse(&t[0].data).unwrap();
    assert_eq!(p.header.payload_type, 8);
    for (i, &b) in p.payload.iter().enumerate() {
        let back = i32::from(Law::Alaw.decode(b));
        assert!(
            (back - (i as i32 * 100)).abs() <= (i as i32 * 100) / 10 + 40,
            "{i}: {back}"
        );
    }
}

#[test]
fn dtmf_is_reported_once_and_relayed() {
    let mut c = core();
    c.add_leg(A, params(Law::Ulaw, 4000), 0);
    c.add_leg(
        B,
        LegParams {
            telephone_event: Some(96),
            ..params(Law::Ulaw, 5000)
        },
        0,
    );
    c.set_source(B, Source::Relay(A));
    for (i, end) in [false, false, true, true, true].iter().enumerate() {
        let ev = dtmf::build(&dtmf::Event {
            code: 5,
            end: *end,
            volume: 10,
            duration: 160 * (i as u16 + 1),
        });
        c.handle_rtp(
            A,
            addr(4000),
            &packet(101, 20 + i as u16, 3200, 1, &ev),
            20 + i as i64,
        );
    }
    let (t, e) = drain(&mut c);
    assert_eq!(e, vec![MediaEvent::Dtmf { leg: A, digit: '5' }]);
    assert_eq!(t.len(), 5);
    assert!(t
        .iter()
        .all(|x| rtp::parse(&x.data).unwrap().header.payload_type == 96));
}

#[test]
fn media_latches_to_where_a_peer_behind_nat_really_is() {
    let mut c = core();
    // The SDP says 10.0.0.7:4000, the INVITE came from 127.0.0.1: the phone is behind NAT,
    // and its media comes from 127.0.0.1:4444.
    c.add_leg(
        A,
        LegParams {
            remote: Some("10.0.0.7:4000".parse().unwrap()),
            ..params(Law::Ulaw, 4000)
        },
        0,
    );
    c.set_signalling(A, addr(0).ip());
    c.handle_rtp(A, addr(4444), &packet(0, 1, 0, 1, &[0xFF; 160]), 20);
    c.handle_rtp(A, addr(4444), &packet(0, 2, 160, 1, &[0xFF; 160]), 40);
    c.handle_tick(40);
    let (t, e) = drain(&mut c);
    assert_eq!(
        e,
        vec![MediaEvent::Latched {
            leg: A,
            addr: addr(4444)
        }]
    );
    assert!(t.iter().all(|x| x.to == addr(4444)));
    // A stray packet from elsewhere does not steal the stream while the peer talks…
    c.handle_rtp(A, addr(9999), &packet(0, 3, 320, 1, &[0xFF; 160]), 60);
    assert_eq!(c.remote(A), Some(addr(4444)));
    // …nor after a silence: only a new offer/answer moves a latched leg.
    c.handle_rtp(A, addr(5555), &packet(0, 3, 320, 1, &[0xFF; 160]), 3060);
    c.handle_rtp(A, addr(5555), &packet(0, 4, 480, 1, &[0xFF; 160]), 3080);
    assert_eq!(c.remote(A), Some(addr(4444)));
}

fn tone_frames(c: &mut MediaCore, leg: LegId, amplitude: i16, n: u16, t0: i64) {
    let payload: Vec<u8> = (0..160).map(|_| Law::Ulaw.encode(amplitude)).collect();
    for i in 0..n {
        c.handle_rtp(
            leg,
            addr(4000 + leg as u16),
            &packet(0, i, u32::from(i) * 160, leg as u32, &payload),
            t0 + i64::from(i) * 20,
        );
    }
}

#[test]
fn a_mix_sums_its_inputs() {
    let mut c = core();
    for (leg, port) in [(A, 4001), (B, 4002), (S, 4003)] {
        c.add_leg(leg, params(Law::Ulaw, port), 0);
    }
    c.set_source(S, Source::Mix(vec![A, B])); // the supervisor listens to both
    tone_frames(&mut c, A, 1000, 1, 10);
    tone_frames(&mut c, B, 2000, 1, 10);
    c.handle_tick(20);
    let (t, _) = drain(&mut c);
    let to_s = t.iter().find(|x| x.leg == S).unwrap();
    let p = rtp::parse(&to_s.data).unwrap();
    let v = i32::from(Law::Ulaw.decode(p.payload[0]));
    assert!((v - 3000).abs() < 200, "{v}");
}

#[test]
fn recording_is_stereo_and_pauses_to_silence() {
    let mut c = core();
    c.add_leg(A, params(Law::Ulaw, 4001), 0);
    c.add_leg(B, params(Law::Ulaw, 4002), 0);
    c.start_recording(9, A, B);
    let mut chunks = Vec::new();
    for tick in 0..100i64 {
        if tick == 50 {
            c.pause_recording(9, true);
        }
        tone_frames(&mut c, A, 3000, 1, tick * 20);
        c.handle_tick(tick * 20 + 10);
        while let Some(ch) = c.poll_record() {
            chunks.push(ch);
        }
    }
    c.stop_recording(9);
    while let Some(ch) = c.poll_record() {
        chunks.push(ch);
    }
    let (_, e) = drain(&mut c);
    assert!(e.contains(&MediaEvent::RecordingStopped { recording: 9 }));
    let all: Vec<i16> = chunks.into_iter().flat_map(|c| c.samples).collect();
    assert_eq!(all.len(), 2 * 160 * 100);
    let left_first: i32 = all[..2 * 160 * 50]
        .iter()
        .step_by(2)
        .map(|&s| i32::from(s).abs())
        .max()
        .unwrap();
    let right_first: i32 = all[1..2 * 160 * 50]
        .iter()
        .step_by(2)
        .map(|&s| i32::from(s).abs())
        .max()
        .unwrap();
    let paused: i32 = all[2 * 160 * 50..]
        .iter()
        .map(|&s| i32::from(s).abs())
        .max()
        .unwrap();
    assert!(left_first > 2500, "the customer's side is on the left");
    assert_eq!(right_first, 0, "the agent said nothing");
    assert_eq!(paused, 0, "the paused span is silent");
}

#[test]
fn hold_stops_sending_and_timeouts_are_reported() {
    let mut c = core();
    c.add_leg(
        A,
        LegParams {
            send: false,
            ..params(Law::Ulaw, 4000)
        },
        0,
    );
    c.add_leg(B, params(Law::Ulaw, 5000), 0);
    c.handle_tick(20);
    let (t, _) = drain(&mut c);
    assert!(
        t.iter().all(|x| x.leg == B),
        "nothing to a peer that holds us"
    );
    for i in 2..=60 {
        c.handle_tick(i * 20);
    }
    let (_, e) = drain(&mut c);
    assert_eq!(
        e,
        vec![MediaEvent::RtpTimeout { leg: B }],
        "only a leg that expects media times out"
    );
}

#[test]
fn removing_a_leg_silences_its_listeners() {
    let mut c = core();
    c.add_leg(A, params(Law::Ulaw, 4000), 0);
    c.add_leg(B, params(Law::Ulaw, 5000), 0);
    c.set_source(B, Source::Relay(A));
    c.start_recording(1, A, B);
    c.remove_leg(A);
    c.handle_tick(20);
    let (t, e) = drain(&mut c);
    assert_eq!(t.len(), 1, "B hears silence now");
    assert!(e.contains(&MediaEvent::RecordingStopped { recording: 1 }));
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_break_the_core(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut c = core();
        c.add_leg(A, params(Law::Ulaw, 4000), 0);
        c.add_leg(B, params(Law::Alaw, 5000), 0);
        c.set_source(B, Source::Relay(A));
        c.start_recording(1, A, B);
        c.handle_rtp(A, addr(4000), &data, 10);
        c.handle_rtp(A, addr(4444), &data, 10); // a stranger's
        c.handle_rtcp(A, addr(4001), &data, 10);
        c.handle_rtcp(A, addr(4445), &data, 10);
        c.handle_tick(20);
        let _ = rtp::parse(&data);
        let _ = tsunagu_media::rtcp::report_blocks(&data);
        let _ = dtmf::parse(&data);
        let _ = tsunagu_media::sdp::parse(&String::from_utf8_lossy(&data));
        drain(&mut c);
    }
}

#[test]
fn leg_figures_cover_every_stream_of_the_peer() {
    // A peer that changes SSRC mid-call (a new media source) keeps its earlier packets in
    // the leg's counts.
    let mut core = MediaCore::new(CoreConfig::default());
    let peer: std::net::SocketAddr = "10.0.0.1:4000".parse().unwrap();
    core.add_leg(
        1,
        LegParams {
            law: Law::Ulaw,
            telephone_event: None,
            remote: Some(peer),
            rtcp: None,
            send: true,
        },
        0,
    );
    let pkt = |ssrc: u32, seq: u16| {
        let mut d = Vec::new();
        tsunagu_media::rtp::write_header(
            &tsunagu_media::rtp::RtpHeader {
                marker: false,
                payload_type: 0,
                sequence: seq,
                timestamp: u32::from(seq) * 160,
                ssrc,
            },
            &mut d,
        );
        d.extend_from_slice(&[0xff; 160]);
        d
    };
    for s in 0..10 {
        core.handle_rtp(1, peer, &pkt(1, s), i64::from(s) * 20);
    }
    for s in 100..105 {
        core.handle_rtp(1, peer, &pkt(2, s), 200 + i64::from(s) * 20);
    }
    assert_eq!(core.stats(1).unwrap().received, 15);
}
