//! Media from addresses in no SDP (the "RTP bleed" class, CVE-2017-14114) and the per-leg
//! RTP figures, against the real binary: a caller of raw sockets whose every packet the test
//! writes, strangers sending RTP and RTCP to the center's ports before, during and after the
//! real stream — in the IVR, queued, connected to an agent's phone, monitored by a supervisor,
//! forwarded through the carrier — and the figures written after the call checked against a
//! hand count.

mod common;
mod phone;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use phone::raw::*;
use phone::*;
use serde_json::{json, Value};

use common::AGENT_PW;

/// The caller waits in the support queue (with music) until someone takes the call.
const QUEUE_FLOW: &str = r#"
name = "wait"
start = "support"
language = "ja"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 0
"#;

/// Digits ended by # into the attribute `digits`, then the support queue.
const COLLECT_FLOW: &str = r#"
name = "collect"
start = "digits"
language = "ja"

[nodes.digits]
type = "collect"
prompt = "beep"
attribute = "digits"
min_digits = 1
max_digits = 12
timeout_secs = 8
next = "support"
on_failure = "support"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 0
"#;

const CALLER_NUMBER: &str = "0312345678";

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A leg's RTP figures from the contact's timeline.
fn figures(contact: &Value, leg: &str) -> Value {
    events(contact, "media")
        .iter()
        .find(|e| e["data"]["leg"] == leg)
        .map(|e| e["data"].clone())
        .unwrap_or_else(|| panic!("no {leg} figures: {contact:#}"))
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

/// The server's log lines about dropped media, without terminal colours.
fn stranger_lines(demo: &Demo) -> Vec<String> {
    demo.log()
        .lines()
        .filter(|l| l.contains("media from an address in no SDP dropped"))
        .map(|l| {
            let mut out = String::new();
            let mut chars = l.chars();
            while let Some(c) = chars.next() {
                if c == '\u{1b}' {
                    // ESC [ … m
                    for c in chars.by_ref() {
                        if c == 'm' {
                            break;
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_figures_match_a_hand_count_and_a_stranger_is_never_taken() {
    let demo = Demo::start().await;
    demo.use_flow("wait", QUEUE_FLOW).await;
    let sv = demo.sv().await;
    let started = now_ms();
    let mut caller = RtpEnd::bind("127.0.0.1", 0xCA11_0001).await;
    // The stranger is on the caller's own IP, on another port, and in no SDP.
    let mut stranger = RtpEnd::bind("127.0.0.1", 0x0BAD_C0DE).await;
    let mut call = RawCall::dial(&demo.sip, CALLER_NUMBER, "100", "127.0.0.1", caller.port()).await;
    let to = call.media;
    let to_rtcp = SocketAddr::new(to.ip(), to.port() + 1);
    let mut rejected = 0u64;

    // Before the caller's first packet (the packet that used to take the call's audio).
    for _ in 0..5 {
        let p = stranger.tone(1900.0, 0.9);
        stranger.send(&p, to).await;
        rejected += 1;
    }
    // The caller: 150 packets of audio, one every 20 ms; packet 30 never sent, 40 sent
    // twice, 61 before 60, a key press late in the call with the stream's first timestamp
    // (some phones do that: counted as audio, it made seconds of jitter), three malformed
    // datagrams, an RTCP report. The stranger talks, presses keys and reports in between.
    let first_ts = caller.ts;
    let (mut audio, mut keys) = (0u64, 0u64);
    let mut held = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..150 {
        tick.tick().await;
        let p = caller.tone(700.0, 0.3);
        match i {
            30 => {}
            40 => {
                caller.send(&p, to).await;
                caller.send(&p, to).await;
                audio += 1;
            }
            60 => held = Some(p),
            61 => {
                caller.send(&p, to).await;
                caller.send(&held.take().unwrap(), to).await;
                audio += 2;
            }
            _ => {
                caller.send(&p, to).await;
                audio += 1;
            }
        }
        if i == 145 {
            for k in caller.key('5', first_ts) {
                caller.send(&k, to).await;
            }
            keys += 4; // the end packet's repeats share its sequence number
        }
        if i == 120 {
            for junk in [vec![0x80, 0, 1], vec![0x40; 20], vec![0x8F; 12]] {
                caller.send(&junk, to).await;
            }
        }
        if i == 70 {
            let rr = [0x80u8, 201, 0, 1, 0xCA, 0x11, 0, 1];
            caller.rtcp.send_to(&rr, to_rtcp).await.unwrap();
            stranger.rtcp.send_to(&rr, to_rtcp).await.unwrap();
            rejected += 1;
        }
        if i % 10 == 5 {
            let p = stranger.tone(1900.0, 0.9);
            stranger.send(&p, to).await;
            let ts = stranger.ts;
            for k in stranger.key('9', ts) {
                stranger.send(&k, to).await;
            }
            rejected += 7;
        }
    }
    // After the caller's last packet, before it hangs up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let p = stranger.tone(1900.0, 0.9);
        stranger.send(&p, to).await;
        rejected += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.bye(CALLER_NUMBER).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    let done = demo.wait_events(&sv, id, "media", 1).await;
    let f = figures(&done, "customer");
    assert_eq!(stranger.heard_count(), 0, "the stranger got nothing: {f}");
    let heard = caller.heard_from(to) as u64;
    assert!(heard > 100, "the caller heard the queue's music: {heard}");
    assert_eq!(n(&f, "packets_sent"), heard, "{f}");
    assert_eq!(n(&f, "packets_received"), audio, "audio only: {f}");
    assert_eq!(n(&f, "dtmf_packets"), keys, "{f}");
    assert_eq!(n(&f, "packets_lost"), 1, "{f}");
    assert_eq!(n(&f, "duplicate_packets"), 1, "{f}");
    assert_eq!(n(&f, "out_of_order_packets"), 1, "{f}");
    assert_eq!(n(&f, "malformed"), 3, "{f}");
    assert_eq!(n(&f, "rejected_packets"), rejected, "{f}");
    // Loopback at 50 packets a second: a few ms at most. The key press, counted in, made
    // it hundreds of ms (seconds with longer calls).
    let jitter = f["jitter_ms"].as_f64().unwrap();
    assert!(jitter < 100.0, "jitter of the audio: {f}");
    // The stranger is logged, at a limited rate.
    let lines = stranger_lines(&demo).len();
    assert!(
        (1..=2).contains(&lines),
        "{lines} log lines:\n{}",
        demo.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_behind_nat_is_latched_once() {
    let demo = Demo::start().await;
    demo.use_flow("wait", QUEUE_FLOW).await;
    let sv = demo.sv().await;
    let started = now_ms();
    let mut caller = RtpEnd::bind("127.0.0.1", 0xCA11_0002).await;
    let mut outsider = RtpEnd::bind("127.0.0.3", 0x0BAD_0003).await;
    let mut neighbour = RtpEnd::bind("127.0.0.1", 0x0BAD_0001).await;
    // The SDP names 127.0.0.2 (the phone's own address behind its NAT); the INVITE and the
    // media come from 127.0.0.1.
    let mut call = RawCall::dial(&demo.sip, CALLER_NUMBER, "100", "127.0.0.2", caller.port()).await;
    let to = call.media;
    for _ in 0..5 {
        let p = outsider.tone(1900.0, 0.9);
        outsider.send(&p, to).await;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..100 {
        tick.tick().await;
        let p = caller.tone(700.0, 0.3);
        caller.send(&p, to).await;
        if (20..30).contains(&i) {
            // Another source on the signalling IP, once the caller is latched: refused.
            let p = neighbour.tone(1900.0, 0.9);
            neighbour.send(&p, to).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.bye(CALLER_NUMBER).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    let done = demo.wait_events(&sv, id, "media", 1).await;
    let f = figures(&done, "customer");
    assert!(
        caller.heard_from(to) > 50,
        "media follows the caller to where it really is: {f}"
    );
    assert_eq!(outsider.heard_count() + neighbour.heard_count(), 0, "{f}");
    assert_eq!(n(&f, "packets_received"), 100, "{f}");
    assert_eq!(n(&f, "rejected_packets"), 15, "{f}");
}

/// The caller's side: a tone every 20 ms until stopped, and `digits` pressed (RFC 4733)
/// from 1.5 s on. Returns the endpoint and how many audio and key packets it sent.
fn talk(
    mut end: RtpEnd,
    to: SocketAddr,
    freq: f64,
    digits: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(RtpEnd, u64, u64)> {
    tokio::spawn(async move {
        let (mut audio, mut keys) = (0u64, 0u64);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let p = end.tone(freq, 0.3);
            end.send(&p, to).await;
            audio += 1;
            if i >= 75 && (i - 75).is_multiple_of(25) {
                if let Some(d) = digits.chars().nth(((i - 75) / 25) as usize) {
                    let ts = end.ts;
                    for k in end.key(d, ts) {
                        end.send(&k, to).await;
                    }
                    keys += 4;
                }
            }
            i += 1;
        }
        (end, audio, keys)
    })
}

/// The amplitude of `freq` in a WAV channel or the audio a peer heard.
fn level(samples: &[f64], freq: f64) -> f64 {
    tone(samples, freq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_spraying_every_port_is_never_heard_in_ivr_queue_call_or_monitoring() {
    let demo = Demo::start().await;
    demo.use_flow("collect", COLLECT_FLOW).await;
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    let p_suzuki = Phone::start(&demo, "suzuki", PHONE_PW, 1000.0, true).await;
    p_suzuki.registered(&admin, suzuki.agent_id()).await;
    let p_sv = Phone::start(&demo, "sv", PHONE_PW, 350.0, true).await;
    p_sv.registered(&admin, sv.agent_id()).await;
    suzuki.set_state("not_ready").await;

    // The stranger: a loud 1.9 kHz tone and the key 7 to every RTP port of the center,
    // and RTCP to every RTCP port, from before the call until after it.
    let (spray_task, sprayed) = spray("127.0.0.1", demo.rtp_ports, 1900.0, '7').await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = now_ms();
    let caller = RtpEnd::bind("127.0.0.1", 0xCA11_0003).await;
    let mut call = RawCall::dial(&demo.sip, CALLER_NUMBER, "100", "127.0.0.1", caller.port()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let talking = talk(caller, call.media, 700.0, "12#", stop.clone());

    // The IVR reads the caller's keys, none of the stranger's; then the caller waits.
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    demo.wait_status(&sv, id, "queued", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Connected to the agent's phone, then the supervisor's phone barges in (its leg is
    // heard by both, so a stranger taken on it would be too).
    suzuki.set_state("available").await;
    demo.wait_status(&sv, id, "connected", Duration::from_secs(15))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let path = format!("/api/contacts/{id}/monitor");
    let (s, b) = sv.post(&path, json!({ "mode": "barge" })).await;
    assert!(s.is_success(), "{b}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (s, b) = sv.delete(&path).await;
    assert!(s.is_success(), "{b}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let (caller, audio, keys) = talking.await.unwrap();
    call.bye(CALLER_NUMBER).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    spray_task.abort();
    assert!(*sprayed.lock().unwrap() > 10_000);

    let done = demo.wait_events(&sv, id, "media", 2).await;
    assert_eq!(
        done["contact"]["attributes"]["digits"], "12",
        "only the caller's keys: {:#}",
        done["contact"]
    );
    let customer = figures(&done, "customer");
    assert_eq!(n(&customer, "packets_received"), audio, "{customer}");
    assert_eq!(n(&customer, "dtmf_packets"), keys, "{customer}");
    for leg in ["customer", "agent"] {
        let f = figures(&done, leg);
        assert!(n(&f, "rejected_packets") > 0, "{leg}: {f}");
        assert!(n(&f, "packets_received") > 0, "{leg}: {f}");
    }
    // The supervisor's leg has no figures on the record; the log names every leg the
    // stranger was refused on: the caller's, the agent's phone's and the supervisor's.
    let legs: std::collections::HashSet<String> = stranger_lines(&demo)
        .iter()
        .filter_map(|l| l.split("leg=").nth(1)?.split(' ').next().map(String::from))
        .collect();
    assert!(legs.len() >= 3, "{legs:?}");

    // Nobody heard the stranger; everybody heard whom they should.
    let recs = sv.ok(&format!("/api/contacts/{id}/recordings")).await;
    let rec_id = recs[0]["id"].as_i64().expect("the call was recorded");
    let wav = reqwest::Client::new()
        .get(format!("{}/api/recordings/{rec_id}", demo.base))
        .bearer_auth(sv.token.as_ref().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let path = demo.dir.path().join("rec.wav");
    std::fs::write(&path, &wav).unwrap();
    let (left, right) = (channel(&path, 0), channel(&path, 1));
    let heard_suzuki = channel(&p_suzuki.heard()[0], 0);
    let heard_sv = channel(&p_sv.heard()[0], 0);
    let heard_caller = caller.audio();
    let report = format!(
        "1.9 kHz: left {:.3} right {:.3} suzuki {:.3} sv {:.3} caller {:.3}; \
         700 Hz: left {:.3} suzuki {:.3} sv {:.3}; 1 kHz: right {:.3} caller {:.3}; \
         350 Hz: suzuki {:.3} caller {:.3}",
        level(&left, 1900.0),
        level(&right, 1900.0),
        level(&heard_suzuki, 1900.0),
        level(&heard_sv, 1900.0),
        level(&heard_caller, 1900.0),
        level(&left, 700.0),
        level(&heard_suzuki, 700.0),
        level(&heard_sv, 700.0),
        level(&right, 1000.0),
        level(&heard_caller, 1000.0),
        level(&heard_suzuki, 350.0),
        level(&heard_caller, 350.0),
    );
    // On failure, what the server says about the legs' peers helps tell a port clash in the
    // test rig from a stranger taken as a peer.
    let report = format!(
        "{report}\nserver log on peers:\n{}",
        demo.log()
            .lines()
            .filter(|l| l.contains("latched") || l.contains("no SDP"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    for s in [&left, &right, &heard_suzuki, &heard_sv, &heard_caller] {
        assert!(level(s, 1900.0) < 0.01, "{report}");
    }
    assert!(level(&left, 700.0) > 0.05, "{report}");
    assert!(level(&heard_suzuki, 700.0) > 0.05, "{report}");
    assert!(level(&heard_sv, 700.0) > 0.02, "{report}");
    assert!(level(&right, 1000.0) > 0.05, "{report}");
    assert!(level(&heard_caller, 1000.0) > 0.02, "{report}");
    assert!(level(&heard_suzuki, 350.0) > 0.01, "{report}");
    assert!(level(&heard_caller, 350.0) > 0.01, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_never_heard_on_a_call_forwarded_through_the_carrier() {
    let mut carrier = Carrier::start(1);
    let demo = Demo::start_with(DemoOptions {
        carrier: Some(carrier.port),
        ..Default::default()
    })
    .await;
    demo.use_flow(
        "forward",
        "name = \"forward\"\nstart = \"out\"\nlanguage = \"ja\"\n\n[nodes.out]\ntype = \"transfer\"\nnumber = \"+81 90-3333-4444\"\n",
    )
    .await;
    let sv = demo.sv().await;
    let (spray_task, _) = spray("127.0.0.1", demo.rtp_ports, 1900.0, '7').await;
    let started = now_ms();
    let caller = RtpEnd::bind("127.0.0.1", 0xCA11_0004).await;
    let mut call = RawCall::dial(&demo.sip, CALLER_NUMBER, "100", "127.0.0.1", caller.port()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let talking = talk(caller, call.media, 700.0, "", stop.clone());
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    let (caller, _, _) = talking.await.unwrap();
    call.bye(CALLER_NUMBER).await;
    spray_task.abort();
    assert_eq!(
        carrier.finish(Duration::from_secs(20)).await,
        0,
        "{}",
        carrier.messages()
    );
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    let done = demo.wait_events(&sv, id, "media", 2).await;
    for leg in ["customer", "external"] {
        let f = figures(&done, leg);
        assert!(n(&f, "rejected_packets") > 0, "{leg}: {f}");
        assert!(n(&f, "packets_received") > 100, "{leg}: {f}");
    }
    // The carrier echoes what reaches it: the caller hears itself, never the stranger.
    let heard = caller.audio();
    assert!(level(&heard, 700.0) > 0.05, "{}", level(&heard, 700.0));
    assert!(level(&heard, 1900.0) < 0.01, "{}", level(&heard, 1900.0));
}
