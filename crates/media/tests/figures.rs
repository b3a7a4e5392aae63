//! A leg's RTP figures against a hand count, with a fake clock: a known sequence of audio,
//! a key press (its end packet repeated as RFC 4733 asks), one packet lost, one duplicated,
//! two swapped, malformed datagrams and a stranger's packets. Every figure is checked, and
//! the jitter against RFC 3550 §6.4.1 computed here over the audio packets.

use std::net::SocketAddr;

use tsunagu_media::core::*;
use tsunagu_media::dtmf;
use tsunagu_media::g711::Law;
use tsunagu_media::rtp::{self, RtpHeader};

const CALLER: LegId = 1;
const AGENT: LegId = 2;

fn at(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn params(port: u16) -> LegParams {
    LegParams {
        law: Law::Ulaw,
        telephone_event: Some(101),
        remote: Some(at(port)),
        rtcp: None,
        send: true,
    }
}

fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    rtp::build(
        &RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: 0x5151,
        },
        payload,
    )
}

/// Arrival wobble of each slot, in ms (a network that is not perfectly even).
fn wobble(slot: u32) -> i64 {
    [0, 3, -2, 5, 0, 1, -4][(slot % 7) as usize]
}

#[test]
fn every_leg_figure_matches_a_hand_count() {
    let mut c = MediaCore::new(CoreConfig {
        rtp_timeout_ms: 0,
        seed: 3,
        comfort_noise: 0,
    });
    c.add_leg(CALLER, params(4000), 0);
    c.add_leg(AGENT, params(5000), 0);
    c.set_source(AGENT, Source::Relay(CALLER));

    // Slots of 20 ms: audio in every slot but 71..=74, where a key press is sent instead.
    // Each slot has the next sequence number and the timestamp of its time.
    const SLOTS: u32 = 104;
    let base_seq: u16 = 65_500; // the sequence wraps during the call
    let ts0: u32 = u32::MAX - 3000; // and so does the timestamp
    let key = 71..=74u32;
    let lost = 30;
    let duplicated = 40;
    let swapped = (50, 51);
    // (arrival ms, datagram, source) in order of arrival.
    let mut wire: Vec<(i64, Vec<u8>, SocketAddr)> = Vec::new();
    let mut audio_arrivals: Vec<(i64, u32)> = Vec::new(); // for the hand-computed jitter
    for slot in 0..SLOTS {
        let seq = base_seq.wrapping_add(slot as u16);
        let arrival = 20 * i64::from(slot) + 20 + wobble(slot);
        if key.contains(&slot) {
            let n = slot - key.start() + 1;
            let ev = dtmf::build(&dtmf::Event {
                code: 5,
                end: slot == *key.end(),
                volume: 10,
                duration: 160 * n as u16,
            });
            let p = packet(101, seq, ts0.wrapping_add(160 * key.start()), &ev);
            wire.push((arrival, p.clone(), at(4000)));
            if slot == *key.end() {
                // RFC 4733 §2.5.1.4: the end packet again, same sequence number.
                wire.push((arrival + 1, p.clone(), at(4000)));
                wire.push((arrival + 2, p, at(4000)));
            }
            continue;
        }
        if slot == lost {
            continue;
        }
        let ts = ts0.wrapping_add(160 * slot);
        let p = packet(0, seq, ts, &[Law::Ulaw.encode(500); 160]);
        wire.push((arrival, p.clone(), at(4000)));
        audio_arrivals.push((arrival, ts));
        if slot == duplicated {
            wire.push((arrival + 1, p, at(4000)));
        }
    }
    // Swap the arrival of two packets (the later one arrives first).
    let i50 = wire
        .iter()
        .position(|(_, p, _)| {
            rtp::parse(p).unwrap().header.sequence == base_seq.wrapping_add(swapped.0)
        })
        .unwrap();
    let (t50, t51) = (wire[i50].0, wire[i50 + 1].0);
    wire.swap(i50, i50 + 1);
    wire[i50].0 = t50;
    wire[i50 + 1].0 = t51;
    let j50 = audio_arrivals.iter().position(|&(t, _)| t == t50).unwrap();
    audio_arrivals.swap(j50, j50 + 1);
    audio_arrivals[j50].0 = t50;
    audio_arrivals[j50 + 1].0 = t51;
    // Three malformed datagrams from the peer, seven packets from a stranger.
    for (k, junk) in [vec![0x80, 0, 1], vec![0x40; 20], vec![0x8F; 12]]
        .into_iter()
        .enumerate()
    {
        wire.push((500 + k as i64, junk, at(4000)));
    }
    for k in 0..7u16 {
        wire.push((
            600 + i64::from(k),
            packet(0, 7 + k, 99, &[Law::Ulaw.encode(20_000); 160]),
            at(4444),
        ));
    }
    wire.sort_by_key(|(t, _, _)| *t);

    // Play it with a tick every 20 ms.
    let mut next_tick = 20;
    let mut ticks = 0u64;
    let end = 20 * i64::from(SLOTS) + 40;
    for (t, data, from) in &wire {
        while next_tick <= *t {
            c.handle_tick(next_tick);
            ticks += 1;
            next_tick += 20;
        }
        c.handle_rtp(CALLER, *from, data, *t);
    }
    while next_tick <= end {
        c.handle_tick(next_tick);
        ticks += 1;
        next_tick += 20;
    }
    let mut dtmf_events = 0;
    while let Some(e) = c.poll_event() {
        if matches!(e, MediaEvent::Dtmf { digit: '5', .. }) {
            dtmf_events += 1;
        }
    }

    // RFC 3550 §6.4.1 by hand, over the audio in order of arrival (8 kHz units).
    let mut jitter = 0.0f64;
    for w in audio_arrivals.windows(2) {
        let (r0, s0) = w[0];
        let (r1, s1) = w[1];
        let d = (r1 - r0) as f64 * 8.0 - f64::from(s1.wrapping_sub(s0) as i32);
        jitter += (d.abs() - jitter) / 16.0;
    }
    let jitter_ms = jitter / 8.0;

    let s = c.stats(CALLER).unwrap();
    assert_eq!(dtmf_events, 1, "one key press");
    assert_eq!(
        s.received,
        u64::from(SLOTS) - 4 - 1,
        "audio packets, duplicate left out"
    );
    assert_eq!(
        s.dtmf, 4,
        "four event packets; the repeated end packet counts once"
    );
    assert_eq!(s.lost, 1);
    assert_eq!(s.duplicates, 1);
    assert_eq!(s.out_of_order, 1);
    assert_eq!(s.malformed, 3);
    assert_eq!(s.rejected, 7);
    assert_eq!(s.sent, ticks, "one packet of silence every tick");
    assert!(
        (s.jitter_ms - jitter_ms).abs() < 0.25,
        "jitter {} ms, by hand {jitter_ms} ms",
        s.jitter_ms
    );
    assert!(jitter_ms > 1.0, "the wobble shows");
    // The agent's leg relays what the caller said: the audio once each, every event packet
    // (repeats included), nothing of the stranger's.
    let a = c.stats(AGENT).unwrap();
    assert_eq!(a.sent, s.received + 4 + 2);
    assert_eq!(a.received, 0);
}

#[test]
fn key_presses_do_not_make_jitter() {
    // A caller whose key presses are sent with the stream's timestamp at the call's start
    // (some senders do): counted in, every one of them looked minutes late.
    let mut c = MediaCore::new(CoreConfig::default());
    c.add_leg(CALLER, params(4000), 0);
    let mut seq = 0u16;
    let mut t = 0i64;
    for round in 0..5 {
        for _ in 0..100 {
            t += 20;
            c.handle_rtp(
                CALLER,
                at(4000),
                &packet(0, seq, (t * 8) as u32, &[0xFF; 160]),
                t,
            );
            seq += 1;
        }
        for i in 0..6 {
            t += 20;
            let ev = dtmf::build(&dtmf::Event {
                code: round,
                end: i >= 3,
                volume: 10,
                duration: 160 * (i + 1),
            });
            c.handle_rtp(CALLER, at(4000), &packet(101, seq, 0, &ev), t);
            seq += 1;
        }
    }
    let s = c.stats(CALLER).unwrap();
    assert_eq!((s.received, s.dtmf, s.lost), (500, 30, 0));
    assert!(s.jitter_ms < 0.5, "{} ms", s.jitter_ms);
}
