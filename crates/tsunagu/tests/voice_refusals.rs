//! Issue 7, fault kind 8: the API does not say something happened when it did not. Against
//! the real `tsunagu demo` (without a carrier) with baresip phones and a sipp caller:
//! what cannot be carried out — monitoring without a registered phone, consulting an agent
//! who is signed out or whose phone is not registered or is on another call, dialing out
//! without an outbound route — is refused up front with a 409 naming why, and nothing is
//! recorded; what fails later — a phone that declines — is recorded as failed on the
//! contact's timeline and sent live as `call_failed`.

mod common;
mod phone;

use std::time::Duration;

use phone::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use common::AGENT_PW;

const FLOW: &str = r#"
name = "straight"
start = "support"
language = "ja"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 0
"#;

fn conflict(r: (StatusCode, Value), why: &str) {
    assert_eq!(r.0, StatusCode::CONFLICT, "{}", r.1);
    let m = r.1["message"].as_str().unwrap_or_default();
    assert!(m.contains(why), "expected «{why}» in «{m}»");
}

/// Sends `hangup` to the phone until the timeline shows the failure it causes (the
/// INVITE may still be on its way when the first one goes).
async fn decline_until(
    demo: &Demo,
    c: &common::Client,
    id: i64,
    phone: &Phone,
    kind: &str,
) -> Value {
    for _ in 0..50 {
        phone.command("hangup", "").await;
        let v = c.ok(&format!("/api/contacts/{id}")).await;
        if let Some(e) = events(&v, kind)
            .into_iter()
            .find(|e| e["data"]["state"] == "failed")
        {
            return e.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no failed {kind}; log:\n{}", demo.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_done_is_refused_and_what_fails_is_reported() {
    let demo = Demo::start().await;
    demo.use_flow("straight", FLOW).await;
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    let tanaka = demo.login("tanaka", AGENT_PW).await;
    let p_suzuki = Phone::start(&demo, "suzuki", PHONE_PW, 1000.0, true).await;
    p_suzuki.registered(&admin, suzuki.agent_id()).await;
    suzuki.set_state("available").await;
    let mut live = sv.ws().await;

    let started = jiff::Timestamp::now().as_millisecond();
    let call = tokio::spawn({
        let sip = demo.sip.clone();
        async move {
            Caller::new("0312345678")
                .echo()
                .call_at(&sip, "100", false)
                .await
        }
    });
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    demo.wait_status(&sv, id, "connected", Duration::from_secs(15))
        .await;
    let path = |p: &str| format!("/api/contacts/{id}/{p}");

    // Monitoring by a supervisor whose phone is not registered.
    conflict(
        sv.post(&path("monitor"), json!({ "mode": "listen" })).await,
        "no phone is registered as sv",
    );
    // Consulting an agent who is signed out, then one signed in without a phone.
    let t = json!({ "agent_id": tanaka.agent_id() });
    conflict(suzuki.post(&path("consult"), t.clone()).await, "signed out");
    conflict(
        suzuki.post(&path("blind-transfer"), t.clone()).await,
        "signed out",
    );
    tanaka.set_state("not_ready").await;
    conflict(
        suzuki.post(&path("consult"), t.clone()).await,
        "no phone is registered as tanaka",
    );
    // Outside numbers, without a carrier.
    let n = json!({ "number": "03-1234-5678" });
    conflict(
        suzuki.post(&path("consult"), n.clone()).await,
        "no outbound route",
    );
    conflict(
        suzuki.post(&path("blind-transfer"), n).await,
        "no outbound route",
    );
    let contacts = sv
        .ok("/api/contacts?limit=500")
        .await
        .as_array()
        .unwrap()
        .len();
    let sato = demo.login("sato", AGENT_PW).await;
    sato.set_state("available").await;
    conflict(
        sato.post("/api/calls", json!({ "number": "03-1234-5678" }))
            .await,
        "no outbound route",
    );
    assert_eq!(
        sv.ok("/api/contacts?limit=500")
            .await
            .as_array()
            .unwrap()
            .len(),
        contacts,
        "no contact was made for a call that could not be placed"
    );
    let now = sv.ok(&format!("/api/contacts/{id}")).await;
    for k in ["monitor", "consult"] {
        assert!(events(&now, k).is_empty(), "{k} recorded: {now:#}");
    }
    assert_eq!(now["contact"]["status"], "connected", "the call goes on");

    // A supervisor's phone that declines: recorded as failed, and told live.
    let p_sv = Phone::start(&demo, "sv", PHONE_PW, 350.0, false).await;
    p_sv.registered(&admin, sv.agent_id()).await;
    let (s, b) = sv.post(&path("monitor"), json!({ "mode": "listen" })).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    // Its phone is taken while it rings: nobody may consult it meanwhile.
    sv.set_state("not_ready").await;
    conflict(
        suzuki
            .post(&path("consult"), json!({ "agent_id": sv.agent_id() }))
            .await,
        "on another call",
    );
    let failed = decline_until(&demo, &sv, id, &p_sv, "monitor").await;
    assert_eq!(failed["data"]["mode"], "listen");
    assert!(
        failed["data"]["sip_code"].as_u64().unwrap() >= 400,
        "{failed}"
    );
    let ev = live
        .next_matching(
            |v| v["type"] == "call_failed" && v["action"] == "monitor",
            Duration::from_secs(5),
        )
        .await
        .expect("call_failed for the monitoring");
    assert_eq!(ev["contact_id"], id);
    assert_eq!(ev["agent_id"], sv.agent_id());
    conflict(sv.delete(&path("monitor")).await, "not monitoring");

    // A consulted phone that declines: failed, and the agent is back with the customer.
    let p_tanaka = Phone::start(&demo, "tanaka", PHONE_PW, 450.0, false).await;
    p_tanaka.registered(&admin, tanaka.agent_id()).await;
    let (s, b) = suzuki.post(&path("consult"), t).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let failed = decline_until(&demo, &sv, id, &p_tanaka, "consult").await;
    assert!(
        failed["data"]["sip_code"].as_u64().unwrap() >= 400,
        "{failed}"
    );
    live.next_matching(
        |v| v["type"] == "call_failed" && v["action"] == "consult",
        Duration::from_secs(5),
    )
    .await
    .expect("call_failed for the consultation");
    // No consultation stands: cancelling one is refused; the call is still connected.
    let (s, _) = suzuki.post(&path("consult/cancel"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, b) = suzuki.post(&path("hangup"), json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(call.await.unwrap(), 0, "sipp: {}", demo.log());
}
