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
        let demo_sip = demo.sip.clone();
        let base = demo.base.clone();
        async move {
            let d = DemoRef {
                sip: demo_sip,
                base,
            };
            d.call(caller, "0501234567").await
        }
    });
    // Nobody is available: the caller waits in the support queue with music.
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    demo.wait_status(&sv, id, "queued", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    suzuki.set_state("available").await;
    let code = call.await.unwrap();
    let done = demo
        .wait_status(&sv, id, "wrap_up", Duration::from_secs(10))
        .await;
    assert_eq!(code, 0, "sipp failed; server log:\n{}", demo.log());

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

/// What a spawned task needs to place a call (the demo itself stays with the test).
struct DemoRef {
    sip: String,
    base: String,
}

impl DemoRef {
    async fn call(&self, caller: Caller, number: &str) -> i32 {
        caller.call_at(&self.sip, number, true).await
    }
}
