//! SDP offer/answer (RFC 3264) in every form, against the real binary and raw SIP: a
//! re-INVITE without SDP is answered with an offer and the answer is read from the ACK; a
//! re-offer with other codecs is answered from what was offered, or refused (488, 400 for
//! SDP that cannot be read) leaving the call as it was; hold and resume; a call without SDP
//! is answered with an offer. The media follows each accepted SDP — the center sends to the
//! new address with the new payload type, and takes keys only from the new address (the
//! media engine's peer moved) — on the caller's leg and on an agent phone's leg.

mod common;
mod phone;

use std::net::SocketAddr;
use std::time::Duration;

use phone::raw::*;
use phone::ua::{self, Ua};
use phone::*;
use serde_json::Value;

use common::AGENT_PW;

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
timeout_secs = 20
next = "support"
on_failure = "support"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 0
"#;

const WAIT_FLOW: &str = r#"
name = "wait"
start = "support"
language = "ja"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 0
"#;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The payload types of the RTP packets `end` heard (RTCP left out).
fn payload_types(end: &RtpEnd) -> Vec<u8> {
    end.heard
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, d)| rtp_parts(d).map(|p| p.0))
        .collect()
}

/// Waits until `end` has heard an RTP packet of payload type `pt`.
async fn hears(end: &RtpEnd, pt: u8) {
    for _ in 0..100 {
        if payload_types(end).contains(&pt) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no RTP of payload type {pt}; heard {:?}",
        payload_types(end)
    );
}

/// Presses `digits` (RFC 4733) from `end`'s socket towards `to`.
async fn press(end: &mut RtpEnd, to: SocketAddr, digits: &str) {
    for d in digits.chars() {
        end.ts = end.ts.wrapping_add(800);
        let ts = end.ts;
        for p in end.key(d, ts) {
            end.send(&p, to).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn digits_of(demo: &Demo, sv: &common::Client, id: i64) -> Value {
    let v = demo
        .wait_status(sv, id, "queued", Duration::from_secs(20))
        .await;
    v["contact"]["attributes"]["digits"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_reoffers_in_every_form_move_the_media_or_change_nothing() {
    let demo = Demo::start().await;
    demo.use_flow("collect", COLLECT_FLOW).await;
    let sv = demo.sv().await;
    let started = now_ms();
    let mut ua = Ua::bind(&demo.sip).await;
    let mut old = RtpEnd::bind("127.0.0.1", 0x5D_0001).await;
    let (mut d, ok) = ua::invite(
        &mut ua,
        "0312345678",
        "100",
        &ua::sdp(old.port(), &[0, 101], "sendrecv", "127.0.0.1"),
    )
    .await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    let invite_cseq = ok.cseq();
    d.ack(&ua, invite_cseq, "").await;
    let media = ok.sdp_addr().expect("the answer names our media");
    let id = demo.call_since(&sv, started).await["id"].as_i64().unwrap();
    hears(&old, 0).await;

    // A re-INVITE without SDP: the 200 carries an offer of every law we speak.
    let reoffer = d.send(&mut ua, "INVITE", "", "", "").await;
    assert_eq!(reoffer.code(), Some(200), "{reoffer:?}");
    assert_eq!(reoffer.h("content-type"), Some("application/sdp"));
    let pts = reoffer.sdp_pts();
    assert!(
        pts.contains(&0) && pts.contains(&8) && pts.contains(&101),
        "{pts:?}"
    );
    assert_eq!(reoffer.sdp_addr(), Some(media));
    // The answer in the ACK moves the media to a new port and to PCMA.
    let mut new = RtpEnd::bind("127.0.0.1", 0x5D_0002).await;
    d.ack(
        &ua,
        reoffer.cseq(),
        &ua::sdp(new.port(), &[8, 101], "sendrecv", "127.0.0.1"),
    )
    .await;
    hears(&new, 8).await;
    assert!(
        payload_types(&new).iter().all(|&pt| pt == 8),
        "only PCMA goes to the answer's address: {:?}",
        payload_types(&new)
    );
    // Keys count from the new address only: the old one is no peer any more.
    press(&mut old, media, "9").await;
    press(&mut new, media, "4#").await;
    assert_eq!(digits_of(&demo, &sv, id).await, "4", "{}", demo.log());

    // A re-offer of a codec we do not speak is refused, and so is SDP we cannot read.
    let g729 = d
        .send(
            &mut ua,
            "INVITE",
            "",
            "application/sdp",
            &ua::sdp(new.port(), &[18], "sendrecv", "127.0.0.1"),
        )
        .await;
    assert_eq!(g729.code(), Some(488), "{g729:?}");
    d.ack_of(&ua, &g729, "").await;
    let garbage = d
        .send(
            &mut ua,
            "INVITE",
            "",
            "application/sdp",
            "v=0\r\nthis is not SDP\r\n",
        )
        .await;
    assert_eq!(garbage.code(), Some(400), "{garbage:?}");
    d.ack_of(&ua, &garbage, "").await;

    // The call goes on as it was; a re-offer of PCMU is answered with PCMU only.
    let pcmu = d
        .send(
            &mut ua,
            "INVITE",
            "",
            "application/sdp",
            &ua::sdp(new.port(), &[0, 8, 101], "sendrecv", "127.0.0.1"),
        )
        .await;
    assert_eq!(pcmu.code(), Some(200), "{pcmu:?}");
    assert_eq!(
        pcmu.sdp_pts(),
        vec![0, 101],
        "answered from what was offered"
    );
    d.ack(&ua, pcmu.cseq(), "").await;
    hears(&new, 0).await;

    // Hold (sendonly, then the old null address) and resume.
    for (offer, want) in [
        (
            ua::sdp(new.port(), &[0, 101], "sendonly", "127.0.0.1"),
            "a=recvonly",
        ),
        (
            ua::sdp(new.port(), &[0, 101], "sendrecv", "0.0.0.0"),
            "a=recvonly",
        ),
        (
            ua::sdp(new.port(), &[0, 101], "inactive", "127.0.0.1"),
            "a=inactive",
        ),
        (
            ua::sdp(new.port(), &[0, 101], "sendrecv", "127.0.0.1"),
            "a=sendrecv",
        ),
    ] {
        let r = d
            .send(&mut ua, "INVITE", "", "application/sdp", &offer)
            .await;
        assert_eq!(r.code(), Some(200), "{r:?}");
        assert!(r.body.contains(want), "{offer} answered {}", r.body);
        d.ack(&ua, r.cseq(), "").await;
    }
    let bye = d.send(&mut ua, "BYE", "", "", "").await;
    assert_eq!(bye.code(), Some(200));
    let v = demo
        .wait_status(&sv, id, "abandoned", Duration::from_secs(10))
        .await;
    assert_eq!(v["contact"]["end_reason"], "caller_hangup_queue", "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_sdp_is_answered_with_an_offer_and_takes_the_answer_from_the_ack() {
    let demo = Demo::start().await;
    demo.use_flow("collect", COLLECT_FLOW).await;
    let sv = demo.sv().await;

    // The ACK brings the answer: PCMA at the caller's port, and keys from there count.
    let started = now_ms();
    let mut ua = Ua::bind(&demo.sip).await;
    let (mut d, ok) = ua::invite(&mut ua, "0312345679", "100", "").await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    let pts = ok.sdp_pts();
    assert!(
        pts.contains(&0) && pts.contains(&8) && pts.contains(&101),
        "{pts:?}"
    );
    let media = ok.sdp_addr().unwrap();
    let mut end = RtpEnd::bind("127.0.0.1", 0x5D_0003).await;
    d.ack(
        &ua,
        ok.cseq(),
        &ua::sdp(end.port(), &[8, 101], "sendrecv", "127.0.0.1"),
    )
    .await;
    let id = demo.call_since(&sv, started).await["id"].as_i64().unwrap();
    hears(&end, 8).await;
    assert!(payload_types(&end).iter().all(|&pt| pt == 8));
    press(&mut end, media, "7#").await;
    assert_eq!(digits_of(&demo, &sv, id).await, "7");
    d.send(&mut ua, "BYE", "", "", "").await;

    // An ACK without an answer leaves a call without media: it is ended (BYE).
    let mut ua = Ua::bind(&demo.sip).await;
    let (mut d, ok) = ua::invite(&mut ua, "0312345670", "100", "").await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    d.ack(&ua, ok.cseq(), "").await;
    let bye = ua
        .wait(Duration::from_secs(5), |m| m.method() == Some("BYE"))
        .await
        .expect("the center hangs up a call it has no media for");
    ua.ok(&bye).await;
}

/// Regression: offers were read in one shape only. A video phone's audio+video offer got a
/// one-line answer (RFC 3264 §6 wants every stream answered in its place); a SIP-I
/// carrier's multipart body (SDP beside ISUP) was read whole as SDP and refused; a body of
/// another type was parsed for an address; an SRTP-only offer was answered as plain RTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_of_every_shape_are_answered_stream_by_stream_or_refused() {
    let demo = Demo::start().await;
    demo.use_flow("wait", WAIT_FLOW).await;
    let m_lines = |m: &ua::Msg| -> Vec<String> {
        m.body
            .lines()
            .filter(|l| l.starts_with("m="))
            .map(|l| {
                // "m=audio <our port> RTP/AVP …": the port is ours to choose.
                let mut f: Vec<&str> = l.split(' ').collect();
                if f[1] != "0" {
                    f[1] = "P";
                }
                f.join(" ")
            })
            .collect()
    };

    // Video first, then audio: both answered, video refused with port 0; audio flows.
    let mut ua = Ua::bind(&demo.sip).await;
    let end = RtpEnd::bind("127.0.0.1", 0x5D_0010).await;
    let offer = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
         m=audio {} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
        end.port() + 2,
        end.port()
    );
    let (mut d, ok) = ua::invite(&mut ua, "0312345611", "100", &offer).await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    assert_eq!(
        m_lines(&ok),
        ["m=video 0 RTP/AVP 96", "m=audio P RTP/AVP 0 101"],
        "{}",
        ok.body
    );
    d.ack(&ua, ok.cseq(), "").await;
    hears(&end, 0).await;
    d.send(&mut ua, "BYE", "", "", "").await;

    // SIP-I: the SDP part of a multipart body is the offer.
    let mut ua = Ua::bind(&demo.sip).await;
    let end = RtpEnd::bind("127.0.0.1", 0x5D_0011).await;
    let body = format!(
        "--sipi\r\nContent-Type: application/sdp\r\n\r\n{}--sipi\r\n\
         Content-Type: application/isup; version=itu-t92+\r\n\r\nIAM\r\n--sipi--\r\n",
        ua::sdp(end.port(), &[8, 101], "sendrecv", "127.0.0.1")
    );
    let (mut d, ok) = ua::invite_typed(
        &mut ua,
        "0312345612",
        "100",
        "multipart/mixed; boundary=sipi",
        &body,
    )
    .await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    assert_eq!(m_lines(&ok), ["m=audio P RTP/AVP 8 101"], "{}", ok.body);
    d.ack(&ua, ok.cseq(), "").await;
    hears(&end, 8).await;
    d.send(&mut ua, "BYE", "", "", "").await;

    // A body that is no session description: 415 naming what we read.
    let mut ua = Ua::bind(&demo.sip).await;
    let sdp = ua::sdp(40_000, &[0], "sendrecv", "127.0.0.1");
    let (_, r) = ua::invite_typed(&mut ua, "0312345613", "100", "text/plain", &sdp).await;
    assert_eq!(r.code(), Some(415), "{r:?}");
    assert_eq!(r.h("accept"), Some("application/sdp"), "{r:?}");

    // Audio over SRTP only: refused (488), not answered as plain RTP.
    let mut ua = Ua::bind(&demo.sip).await;
    let srtp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 40002 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";
    let (_, r) = ua::invite(&mut ua, "0312345614", "100", srtp).await;
    assert_eq!(r.code(), Some(488), "{r:?}");
    // Nothing of the refused calls reached the center.
    let sv = demo.sv().await;
    let calls = sv.ok("/api/contacts?limit=50").await;
    let callers: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["attributes"]["caller"].as_str())
        .collect();
    assert_eq!(callers.len(), 2, "the two answered calls: {callers:?}");
    assert!(
        !callers
            .iter()
            .any(|c| ["0312345613", "0312345614"].contains(c)),
        "{callers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_phones_reoffers_are_answered_and_the_media_follows() {
    let demo = Demo::start().await;
    demo.use_flow("wait", WAIT_FLOW).await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    suzuki.set_state("not_ready").await;
    let mut phone = Ua::bind(&demo.sip).await;
    ua::register(&mut phone, "suzuki", PHONE_PW).await;

    let started = now_ms();
    let caller_rtp = RtpEnd::bind("127.0.0.1", 0x5D_0004).await;
    let mut call = RawCall::dial(
        &demo.sip,
        "0312345671",
        "100",
        "127.0.0.1",
        caller_rtp.port(),
    )
    .await;
    let id = demo.call_since(&sv, started).await["id"].as_i64().unwrap();
    demo.wait_status(&sv, id, "queued", Duration::from_secs(10))
        .await;
    suzuki.set_state("available").await;
    let invite = phone
        .wait(Duration::from_secs(10), |m| m.method() == Some("INVITE"))
        .await
        .expect("the agent's phone rings");
    let first = RtpEnd::bind("127.0.0.1", 0x5D_0005).await;
    let mut d = ua::answer(
        &mut phone,
        &invite,
        &ua::sdp(first.port(), &[0, 101], "sendrecv", "127.0.0.1"),
    )
    .await;
    demo.wait_status(&sv, id, "connected", Duration::from_secs(10))
        .await;
    // The caller talks; the agent's phone hears it relayed.
    let talking = tokio::spawn({
        let media = call.media;
        let mut caller_rtp = caller_rtp;
        async move {
            for _ in 0..400 {
                let p = caller_rtp.tone(700.0, 0.5);
                caller_rtp.send(&p, media).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    hears(&first, 0).await;

    // The phone's re-INVITE without SDP (a leg the center dialed): an offer in the 200,
    // the answer in the ACK moves the leg to a new port and PCMA.
    let reoffer = d.send(&mut phone, "INVITE", "", "", "").await;
    assert_eq!(reoffer.code(), Some(200), "{reoffer:?}");
    assert!(reoffer.sdp_pts().contains(&8), "{reoffer:?}");
    let second = RtpEnd::bind("127.0.0.1", 0x5D_0006).await;
    d.ack(
        &phone,
        reoffer.cseq(),
        &ua::sdp(second.port(), &[8, 101], "sendrecv", "127.0.0.1"),
    )
    .await;
    hears(&second, 8).await;
    assert!(payload_types(&second).iter().all(|&pt| pt == 8));

    // A re-offer of nothing we speak is refused and the call goes on.
    let g729 = d
        .send(
            &mut phone,
            "INVITE",
            "",
            "application/sdp",
            &ua::sdp(second.port(), &[18], "sendrecv", "127.0.0.1"),
        )
        .await;
    assert_eq!(g729.code(), Some(488), "{g729:?}");
    d.ack_of(&phone, &g729, "").await;
    let v = sv.ok(&format!("/api/contacts/{id}")).await;
    assert_eq!(v["contact"]["status"], "connected", "{v:#}");
    let before = second.heard_count();
    for _ in 0..50 {
        if second.heard_count() > before + 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        second.heard_count() > before + 5,
        "the media goes on after the 488"
    );

    talking.abort();
    call.bye("0312345671").await;
    let bye = phone
        .wait(Duration::from_secs(5), |m| m.method() == Some("BYE"))
        .await
        .expect("the agent's leg ends with the call");
    phone.ok(&bye).await;
}
