//! Calls end to end with real peers: the `tsunagu demo` binary answers sipp customers,
//! runs its IVR on their RFC 4733 digits, queues them with music, and rings agents'
//! baresip phones (registered with digest auth, answering by themselves). Audio is checked
//! on the center's recordings and on what the phones recorded; records and KPIs through
//! the API.

mod common;
mod phone;

use std::time::Duration;

use phone::*;
use serde_json::Value;

use common::AGENT_PW;

fn ms(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
        .expect("a time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_goes_through_the_ivr_and_queue_to_an_agent_phone() {
    let demo = Demo::start().await;
    let started = jiff::Timestamp::now().as_millisecond();
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    let phone = Phone::start(&demo, "suzuki", PHONE_PW, 1000.0, true).await;
    phone.registered(&admin, suzuki.agent_id()).await;

    // The demo's own flow: greeting and recording notice (~9.6 s), then the menu; key 2
    // is support. The caller then waits, speaks twice (~16 s) and hangs up.
    let caller = Caller::new("0312345678")
        .echo()
        .pause(11_000)
        .digit('2')
        .pause(6_000)
        .speak()
        .speak();
    let call = tokio::spawn({
        let sip = demo.sip.clone();
        async move { caller.call_at(&sip, "0501234567", true).await }
    });
    // Nobody is available: the caller waits in the support queue with music.
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    demo.wait_status(&sv, id, "queued", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    suzuki.set_state("available").await;
    let code = call.await.unwrap();
    demo.wait_status(&sv, id, "wrap_up", Duration::from_secs(10))
        .await;
    assert_eq!(code, 0, "sipp failed; server log:\n{}", demo.log());
    let done = demo.wait_events(&sv, id, "media", 2).await;

    // The record: the IVR path, the queue, the ring, the talk, who hung up, RTP figures.
    let k = kinds(&done);
    for want in [
        "created",
        "ivr",
        "queued",
        "offered",
        "ringing",
        "accepted",
        "connected",
        "recording",
        "hangup",
        "ended",
        "media",
    ] {
        assert!(k.iter().any(|x| x == want), "no {want} in {k:?}");
    }
    assert!(
        events(&done, "ivr")
            .iter()
            .any(|e| e["data"]["event"] == "key" && e["data"]["detail"]["key"] == "2"),
        "the digit 2 (RFC 4733) chose the menu option"
    );
    assert_eq!(
        done["contact"]["agent_id"].as_i64(),
        Some(suzuki.agent_id())
    );
    assert_eq!(done["contact"]["end_reason"], "caller:bye");
    let hangup = events(&done, "hangup")[0];
    assert_eq!(hangup["data"]["side"], "caller");
    let at = |kind: &str| ms(&events(&done, kind)[0]["at"]);
    let queued_ms = at("connected") - at("queued");
    assert!(queued_ms >= 2500, "waited {queued_ms} ms in the queue");
    let media = events(&done, "media");
    let leg = |name: &str| {
        media
            .iter()
            .find(|e| e["data"]["leg"] == name)
            .map(|e| e["data"].clone())
            .unwrap_or_else(|| panic!("no {name} figures"))
    };
    let customer = leg("customer");
    let agent = leg("agent");
    // RTP reached the caller all along — greeting, menu, music on hold while queued, the
    // agent — a packet every 20 ms.
    let call_secs = (at("hangup") - at("created")) as f64 / 1000.0;
    let sent = customer["packets_sent"].as_f64().unwrap();
    assert!(
        sent >= 0.9 * 50.0 * call_secs,
        "sent {sent} packets to the caller in {call_secs} s"
    );
    // The caller's speech (two pcaps of ~420 packets) and the echo arrived.
    assert!(
        customer["packets_received"].as_u64().unwrap() >= 800,
        "{customer}"
    );
    let talk_secs = (at("hangup") - at("connected")) as f64 / 1000.0;
    assert!(
        agent["packets_received"].as_f64().unwrap() >= 0.9 * 50.0 * talk_secs,
        "{agent}"
    );
    assert_eq!(customer["packets_lost"], 0);

    // The recording: stereo, the caller on the left, the agent on the right.
    let recs = sv.ok(&format!("/api/contacts/{id}/recordings")).await;
    assert_eq!(recs.as_array().unwrap().len(), 1, "{recs}");
    assert_eq!(recs[0]["status"], "complete");
    let secs = recs[0]["duration_secs"].as_f64().unwrap();
    assert!(
        (secs - talk_secs).abs() < 2.0,
        "recorded {secs} s of {talk_secs} s"
    );
    let rec_id = recs[0]["id"].as_i64().unwrap();
    let (status, _) = suzuki.get(&format!("/api/recordings/{rec_id}")).await;
    assert_eq!(
        status,
        reqwest::StatusCode::FORBIDDEN,
        "agents cannot download recordings"
    );
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
    assert!(
        tone(&right, 1000.0) > 0.18,
        "the agent's 1 kHz voice is on the right"
    );
    // The caller's side holds their speech and, echoed back by sipp, the agent's tone:
    // audio went both ways through the center.
    let speech = (rms(&left).powi(2) - tone(&left, 1000.0).powi(2))
        .max(0.0)
        .sqrt();
    assert!(speech > 0.05, "caller speech on the left: {speech}");
    assert!(
        tone(&left, 1000.0) > 0.08,
        "the agent reached the caller: {}",
        tone(&left, 1000.0)
    );
    // And the agent's phone heard the caller.
    let heard = channel(&phone.heard()[0], 0);
    let heard_speech = (rms(&heard).powi(2) - tone(&heard, 1000.0).powi(2))
        .max(0.0)
        .sqrt();
    assert!(
        heard_speech > 0.05,
        "the phone heard the caller: {heard_speech}"
    );

    // After-call work, then the queue's KPIs count the call.
    let (s, b) = suzuki
        .post(
            &format!("/api/contacts/{id}/wrap-up"),
            serde_json::json!({ "disposition": "fixed", "note": "ルーター再起動で解決" }),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let kpi = sv
        .ok(&format!("/api/kpi/queues?from={started}&interval=0"))
        .await;
    let support = kpi["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["queue_name"] == "support")
        .unwrap()["kpis"]
        .clone();
    assert_eq!(
        (
            support["offered"].as_u64(),
            support["answered"].as_u64(),
            support["abandoned"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{support}"
    );
    assert_eq!(support["handled"], 1);
    let asa = support["asa_secs"].as_f64().unwrap();
    assert!(
        (asa - queued_ms as f64 / 1000.0).abs() < 0.5,
        "ASA {asa} is the queue time"
    );
    assert!(support["aht_secs"].as_f64().unwrap() >= talk_secs - 1.0);
    let _ = admin;
}

/// A quick IVR for the tests that are not about the greeting: a beep, then the menu.
const FAST_FLOW: &str = r#"
name = "fast"
start = "menu"
language = "ja"

[nodes.menu]
type = "menu"
prompt = "beep"
options = { "2" = "support", "4" = "complaints" }
timeout_secs = 10
retries = 1
on_failure = "support"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 0

[nodes.complaints]
type = "queue"
queue = "complaints"
announce_secs = 0
"#;

async fn agent_phone(
    demo: &Demo,
    admin: &common::Client,
    user: &str,
    freq: f64,
    auto: bool,
) -> (common::Client, Phone) {
    let pw = if user == "sv" {
        common::SV_PW
    } else {
        AGENT_PW
    };
    let c = demo.login(user, pw).await;
    let p = Phone::start(demo, user, PHONE_PW, freq, auto).await;
    p.registered(admin, c.agent_id()).await;
    (c, p)
}

fn offered_to(contact: &Value) -> Vec<i64> {
    events(contact, "offered")
        .iter()
        .map(|e| e["agent_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_phones_abandoned_calls_and_overflow() {
    let demo = Demo::start().await;
    demo.use_flow("fast", FAST_FLOW).await;
    demo.tune_queue(
        "support",
        serde_json::json!({ "no_answer_timeout_secs": 4, "record_calls": false }),
    )
    .await;
    let support = demo.tune_queue("support", serde_json::json!({})).await;
    demo.tune_queue(
        "complaints",
        serde_json::json!({ "max_wait_secs": 3, "overflow_queue_id": support }),
    )
    .await;
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    // suzuki's phone rings but nobody picks it up; tanaka's answers.
    let (suzuki, _p1) = agent_phone(&demo, &admin, "suzuki", 1000.0, false).await;
    let (tanaka, _p2) = agent_phone(&demo, &admin, "tanaka", 450.0, true).await;
    suzuki.set_state("available").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    tanaka.set_state("available").await;

    // 1. No answer → the next agent.
    let t1 = jiff::Timestamp::now().as_millisecond();
    let code = Caller::new("0312345678")
        .pause(800)
        .digit('2')
        .pause(7_000)
        .speak()
        .call(&demo, "100", true)
        .await;
    assert_eq!(code, 0, "{}", demo.log());
    let c1 = demo.call_since(&sv, t1).await;
    let c1 = demo
        .wait_status(
            &sv,
            c1["id"].as_i64().unwrap(),
            "wrap_up",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(
        offered_to(&c1),
        vec![suzuki.agent_id(), tanaka.agent_id()],
        "suzuki first, then tanaka"
    );
    assert!(
        kinds(&c1).contains(&"offer_timed_out".to_string()),
        "{:?}",
        kinds(&c1)
    );
    assert!(events(&c1, "ringing")
        .iter()
        .any(|e| e["data"]["state"] == "stopped"
            && e["agent_id"].as_i64() == Some(suzuki.agent_id())));
    assert_eq!(c1["contact"]["agent_id"].as_i64(), Some(tanaka.agent_id()));

    // 2. Nobody free: the caller gives up after 6 s in the queue.
    suzuki.set_state("not_ready").await;
    let t2 = jiff::Timestamp::now().as_millisecond();
    let code = Caller::new("0312345678")
        .pause(800)
        .digit('2')
        .pause(6_000)
        .call(&demo, "100", true)
        .await;
    assert_eq!(code, 0);
    let c2 = demo.call_since(&sv, t2).await;
    let c2 = demo
        .wait_status(
            &sv,
            c2["id"].as_i64().unwrap(),
            "abandoned",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(c2["contact"]["end_reason"], "caller_hangup_queue");

    // 3. Complaints: nobody there; after its 3 s maximum wait the call overflows to support,
    //    where tanaka (done with the first call) takes it.
    let (s, b) = tanaka
        .post(
            &format!("/api/contacts/{}/wrap-up", c1["contact"]["id"]),
            serde_json::json!({ "disposition": "fixed" }),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let t3 = jiff::Timestamp::now().as_millisecond();
    let code = Caller::new("0312345678")
        .pause(800)
        .digit('4')
        .pause(8_000)
        .call(&demo, "100", true)
        .await;
    assert_eq!(code, 0);
    let c3 = demo.call_since(&sv, t3).await;
    let c3 = demo
        .wait_status(
            &sv,
            c3["id"].as_i64().unwrap(),
            "wrap_up",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        kinds(&c3).contains(&"overflowed".to_string()),
        "{:?}",
        kinds(&c3)
    );
    assert_eq!(c3["contact"]["agent_id"].as_i64(), Some(tanaka.agent_id()));
    assert_eq!(c3["contact"]["queue_id"].as_i64(), Some(support));

    let kpi = sv
        .ok(&format!("/api/kpi/queues?from={t1}&interval=0"))
        .await;
    let row = |name: &str| {
        kpi["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["queue_name"] == name)
            .unwrap()["kpis"]
            .clone()
    };
    let (sup, comp) = (row("support"), row("complaints"));
    assert_eq!(
        (
            sup["offered"].as_u64(),
            sup["answered"].as_u64(),
            sup["abandoned"].as_u64()
        ),
        (Some(3), Some(2), Some(1)),
        "{sup}"
    );
    assert_eq!(
        (comp["offered"].as_u64(), comp["overflowed"].as_u64()),
        (Some(1), Some(1)),
        "{comp}"
    );
}

/// Seconds of `samples` between two instants, relative to `origin` (all Unix ms), with
/// a margin on each side for signalling and jitter.
fn span(samples: &[f64], origin: i64, from: i64, to: i64) -> &[f64] {
    let w = window(
        samples,
        (from - origin) as f64 / 1000.0 + 0.8,
        (to - origin) as f64 / 1000.0 - 0.4,
    );
    // An empty window would make "nobody heard it" checks pass by themselves.
    assert!(
        w.len() >= 8000,
        "window {from}..{to} (origin {origin}) has {} samples of {}",
        w.len(),
        samples.len()
    );
    w
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_monitoring_recording_pause_and_transfers() {
    let demo = Demo::start().await;
    demo.use_flow("fast", FAST_FLOW).await;
    let admin = demo.admin().await;
    let (suzuki, p_suzuki) = agent_phone(&demo, &admin, "suzuki", 1000.0, true).await;
    let (tanaka, p_tanaka) = agent_phone(&demo, &admin, "tanaka", 450.0, true).await;
    let (sv, p_sv) = agent_phone(&demo, &admin, "sv", 350.0, true).await;
    suzuki.set_state("available").await;
    // tanaka is not ready: not offered queue calls, but reachable for a consultation.
    tanaka.set_state("not_ready").await;

    // The caller echoes what it hears, so the left channel of the recording is what
    // reached them; they stay until the center hangs up.
    let started = now_ms();
    let call = tokio::spawn({
        let sip = demo.sip.clone();
        async move {
            Caller::new("0312345678")
                .echo()
                .pause(800)
                .digit('2')
                .call_at(&sip, "100", false)
                .await
        }
    });
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    demo.wait_status(&sv, id, "connected", Duration::from_secs(15))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connected = sv.ok(&format!("/api/contacts/{id}")).await;
    let _ = &connected;
    let t_conn = ms(&events(&connected, "connected")[0]["at"]);
    let path = |p: &str| format!("/api/contacts/{id}/{p}");
    let ok = |r: (reqwest::StatusCode, Value)| assert!(r.0.is_success(), "{}", r.1);
    let pause = |secs: u64| tokio::time::sleep(Duration::from_secs(secs));

    pause(3).await;
    let hold = now_ms();
    ok(suzuki
        .post(&path("hold"), serde_json::json!({ "on": true }))
        .await);
    pause(4).await;
    let unhold = now_ms();
    ok(suzuki
        .post(&path("hold"), serde_json::json!({ "on": false }))
        .await);
    pause(2).await;
    // The supervisor's phone rings and answers; then listen → whisper → barge.
    ok(sv
        .post(&path("monitor"), serde_json::json!({ "mode": "listen" }))
        .await);
    pause(1).await;
    let listen = now_ms();
    pause(4).await;
    let whisper = now_ms();
    ok(sv
        .post(&path("monitor"), serde_json::json!({ "mode": "whisper" }))
        .await);
    pause(4).await;
    let barge = now_ms();
    ok(sv
        .post(&path("monitor"), serde_json::json!({ "mode": "barge" }))
        .await);
    pause(4).await;
    let unmonitor = now_ms();
    ok(sv.delete(&path("monitor")).await);
    pause(2).await;
    let paused = now_ms();
    ok(suzuki
        .post(&path("recording"), serde_json::json!({ "paused": true }))
        .await);
    pause(4).await;
    let resumed = now_ms();
    ok(suzuki
        .post(&path("recording"), serde_json::json!({ "paused": false }))
        .await);
    pause(2).await;
    // Consult tanaka (the caller waits with music), join all three, then hand over.
    ok(suzuki
        .post(
            &path("consult"),
            serde_json::json!({ "agent_id": tanaka.agent_id() }),
        )
        .await);
    pause(1).await;
    let consult = now_ms();
    pause(4).await;
    let conference = now_ms();
    ok(suzuki
        .post(&path("consult/conference"), serde_json::json!({}))
        .await);
    pause(4).await;
    let handover = now_ms();
    ok(suzuki
        .post(&path("consult/complete"), serde_json::json!({}))
        .await);
    pause(4).await;
    let end = now_ms();
    ok(sv.post(&path("hangup"), serde_json::json!({})).await);
    assert_eq!(call.await.unwrap(), 0, "sipp: {}", demo.log());
    let done = demo
        .wait_status(&sv, id, "wrap_up", Duration::from_secs(10))
        .await;

    // The record.
    let k = kinds(&done);
    for want in [
        "held",
        "resumed",
        "monitor",
        "consult",
        "conference",
        "transferred",
        "recording",
        "hangup",
    ] {
        assert!(k.iter().any(|x| x == want), "no {want} in {k:?}");
    }
    let modes: Vec<&str> = events(&done, "monitor")
        .iter()
        .map(|e| e["data"]["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, vec!["listen", "whisper", "barge", "stopped"]);
    assert_eq!(
        done["contact"]["agent_id"].as_i64(),
        Some(tanaka.agent_id()),
        "tanaka has the call now"
    );
    let pauses: Vec<&str> = events(&done, "recording")
        .iter()
        .map(|e| e["data"]["action"].as_str().unwrap())
        .collect();
    assert!(
        pauses.windows(2).any(|w| w == ["paused", "resumed"]),
        "{pauses:?}"
    );

    // Who heard whom. Recording 1: caller (left) and suzuki (right).
    let recs = sv.ok(&format!("/api/contacts/{id}/recordings")).await;
    let recs = recs.as_array().unwrap();
    assert_eq!(recs.len(), 2, "one recording per agent: {recs:?}");
    let fetch = |rid: i64| {
        let token = sv.token.clone().unwrap();
        let base = demo.base.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{base}/api/recordings/{rid}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    };
    let f1 = demo.dir.path().join("r1.wav");
    std::fs::write(&f1, fetch(recs[0]["id"].as_i64().unwrap()).await).unwrap();
    let r1_start = ms(&recs[0]["started_at"]);
    let (left, right) = (channel(&f1, 0), channel(&f1, 1));
    let heard_suzuki = channel(&p_suzuki.heard()[0], 0);
    let heard_sv = channel(&p_sv.heard()[0], 0);
    let heard_tanaka = channel(&p_tanaka.heard()[0], 0);
    let (suz, tan, sup) = (1000.0, 450.0, 350.0);
    let report = |name: &str, s: &[f64]| {
        format!(
            "{name}: rms {:.3} 1000 {:.3} 450 {:.3} 350 {:.3}",
            rms(s),
            tone(s, suz),
            tone(s, tan),
            tone(s, sup)
        )
    };

    // Talking: the caller hears suzuki.
    let w = span(&left, r1_start, t_conn, hold);
    assert!(tone(w, suz) > 0.08, "{}", report("talk/caller", w));
    // Hold: the caller hears music, not suzuki; suzuki hears nothing.
    let w = span(&left, r1_start, hold, unhold);
    assert!(
        tone(w, suz) < 0.02 && rms(w) > 0.03,
        "{}",
        report("hold/caller", w)
    );
    let w = span(&heard_suzuki, t_conn, hold, unhold);
    assert!(rms(w) < 0.02, "{}", report("hold/suzuki", w));
    // Listen: the supervisor hears the call; nobody hears the supervisor.
    let w = span(&left, r1_start, listen, whisper);
    assert!(tone(w, sup) < 0.02, "{}", report("listen/caller", w));
    let w = span(&heard_suzuki, t_conn, listen, whisper);
    assert!(
        tone(w, sup) < 0.02 && tone(w, suz) > 0.05,
        "{}",
        report("listen/suzuki", w)
    );
    let sv_origin = listen - 1000;
    let w = span(&heard_sv, sv_origin, listen, whisper);
    assert!(tone(w, suz) > 0.05, "{}", report("listen/sv", w));
    // Whisper: suzuki hears the supervisor; the caller does not.
    let w = span(&heard_suzuki, t_conn, whisper, barge);
    assert!(tone(w, sup) > 0.05, "{}", report("whisper/suzuki", w));
    let w = span(&left, r1_start, whisper, barge);
    assert!(tone(w, sup) < 0.02, "{}", report("whisper/caller", w));
    // Barge: the caller hears the supervisor too.
    let w = span(&left, r1_start, barge, unmonitor);
    assert!(tone(w, sup) > 0.05, "{}", report("barge/caller", w));
    // Paused recording: silence in both channels, sound again after.
    let (lw, rw) = (
        span(&left, r1_start, paused, resumed),
        span(&right, r1_start, paused, resumed),
    );
    assert!(
        rms(lw) < 0.005 && rms(rw) < 0.005,
        "{} / {}",
        report("paused/left", lw),
        report("paused/right", rw)
    );
    let rw = span(&right, r1_start, resumed, consult);
    assert!(tone(rw, suz) > 0.1, "{}", report("resumed/right", rw));
    // Consultation: the caller hears music; suzuki and tanaka hear each other.
    let w = span(&left, r1_start, consult, conference);
    assert!(
        tone(w, suz) < 0.02 && tone(w, tan) < 0.02,
        "{}",
        report("consult/caller", w)
    );
    let w = span(&heard_suzuki, t_conn, consult, conference);
    assert!(tone(w, tan) > 0.05, "{}", report("consult/suzuki", w));
    let w = span(&left, r1_start, conference, handover);
    assert!(
        tone(w, suz) > 0.04 && tone(w, tan) > 0.04,
        "{}",
        report("conference/caller", w)
    );
    // After the handover: recording 2 has the caller and tanaka.
    let f2 = demo.dir.path().join("r2.wav");
    std::fs::write(&f2, fetch(recs[1]["id"].as_i64().unwrap()).await).unwrap();
    let (l2, r2) = (channel(&f2, 0), channel(&f2, 1));
    let r2_start = ms(&recs[1]["started_at"]);
    let w = span(&l2, r2_start, handover, end);
    assert!(
        tone(w, tan) > 0.08 && tone(w, suz) < 0.02,
        "{}",
        report("after/caller", w)
    );
    assert!(tone(span(&r2, r2_start, handover, end), tan) > 0.1);
    assert!(!heard_tanaka.is_empty());

    // Hold time counts in the KPIs.
    let kpi = sv
        .ok(&format!("/api/kpi/queues?from={started}&interval=0"))
        .await;
    let support = kpi["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["queue_name"] == "support")
        .unwrap()["kpis"]
        .clone();
    let hold_secs = support["hold_secs"].as_f64().unwrap();
    assert!(
        (3.0..6.0).contains(&hold_secs),
        "hold {hold_secs} s: {support}"
    );
}
