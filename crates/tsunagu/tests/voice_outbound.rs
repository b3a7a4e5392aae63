//! Calls the center places through its trunk, against the real binary with sipp as the
//! carrier: click-to-call (the agent's phone first, then the customer), a queued callback
//! (the caller leaves the queue with key 1 and is called back when an agent is free), and a
//! blind transfer to an external number. The carrier checks what a provider would see: the
//! number in national form and the center's caller ID.

mod common;
mod phone;

use std::time::Duration;

use phone::*;
use serde_json::{json, Value};

use common::AGENT_PW;

/// Queue with a callback offer, announcements every 10 s (key 1 works at any time).
const CALLBACK_FLOW: &str = r#"
name = "callback"
start = "menu"
language = "ja"

[nodes.menu]
type = "menu"
prompt = "beep"
options = { "2" = "support" }
timeout_secs = 10
retries = 1
on_failure = "support"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 10
callback = true
"#;

/// The INVITE the carrier got: its request line names `number` (national form) and its
/// From the center's caller ID.
fn assert_dialed(carrier: &Carrier, number: &str) {
    let invites = carrier.invites();
    assert_eq!(invites.len(), 1, "{}", carrier.messages());
    let (line, from) = &invites[0];
    assert!(
        line.starts_with(&format!("INVITE sip:{number}@")),
        "request line {line}"
    );
    assert!(
        from.contains(&format!("sip:{}@", tsunagu::demo::CALLER_ID)),
        "caller ID in {from}"
    );
}

/// Waits until the contact's `leg` answered.
async fn answered(demo: &Demo, sv: &common::Client, id: i64, leg: &str) {
    for _ in 0..200 {
        let v = sv.ok(&format!("/api/contacts/{id}")).await;
        if events(&v, "ringing")
            .iter()
            .any(|e| e["data"]["leg"] == leg && e["data"]["state"] == "answered")
        {
            return;
        }
        if v["contact"]["ended_at"].is_string() {
            panic!(
                "contact {id} ended before its {leg} answered: {v:#}\n{}",
                demo.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("contact {id}: the {leg} never answered\n{}", demo.log());
}

/// The RTP figures of one leg of a finished call.
fn leg(contact: &Value, name: &str) -> Value {
    events(contact, "media")
        .iter()
        .find(|e| e["data"]["leg"] == name)
        .map(|e| e["data"].clone())
        .unwrap_or_else(|| panic!("no {name} figures: {contact:#}"))
}

/// What the phone heard on its last call, minus its own echoed tone: (its tone, the rest).
fn heard_tone(phone: &Phone, freq: f64) -> f64 {
    let files = phone.heard();
    let heard = channel(files.last().expect("the phone recorded a call"), 0);
    tone(&heard, freq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_to_call_rings_the_agent_then_dials_the_customer() {
    let mut carrier = Carrier::start(1);
    let demo = Demo::start_with(DemoOptions {
        carrier: Some(carrier.port),
        ..Default::default()
    })
    .await;
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    let phone = Phone::start(&demo, "suzuki", PHONE_PW, 1000.0, true).await;
    phone.registered(&admin, suzuki.agent_id()).await;

    // Bad input first: nothing rings, nothing is written.
    let (s, b) = suzuki
        .post("/api/calls", json!({ "number": "not a number" }))
        .await;
    assert_eq!(s, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b.to_string().contains("number"), "{b}");
    let (s, b) = suzuki
        .post(
            "/api/calls",
            json!({ "number": "03-5555-0199", "queue_id": 999999 }),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b.to_string().contains("queue_id"), "{b}");

    // Click-to-call: suzuki's phone rings and answers, then the carrier is dialed.
    suzuki.set_state("available").await;
    let (s, c) = suzuki
        .post("/api/calls", json!({ "number": "03-5555-0199" }))
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["direction"], "outbound");
    // The contact is the agent's at once; the call is up when the customer answers.
    answered(&demo, &sv, id, "customer").await;
    // Talk a little (the carrier echoes suzuki's tone back to the phone).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (s, b) = suzuki
        .post_empty(&format!("/api/contacts/{id}/hangup"))
        .await;
    assert!(
        s.is_success(),
        "{b}\n{:#}\n{}\n{}",
        sv.ok(&format!("/api/contacts/{id}")).await,
        carrier.messages(),
        demo.log()
    );
    assert_eq!(
        carrier.finish(Duration::from_secs(20)).await,
        0,
        "the carrier's call went through: {}",
        carrier.messages()
    );
    assert_dialed(&carrier, "0355550199");
    let done = demo.wait_events(&sv, id, "media", 2).await;
    assert_eq!(done["contact"]["status"], "wrap_up", "{done:#}");
    // Answered when the customer answered, not when the call was placed (regression: the
    // contact was answered at once, so ringing counted as talk time).
    let connected = events(&done, "connected");
    assert_eq!(connected.len(), 1, "{done:#}");
    let customer_answered = events(&done, "ringing")
        .into_iter()
        .find(|e| e["data"]["leg"] == "customer" && e["data"]["state"] == "answered")
        .expect("the customer answered");
    assert!(
        connected[0]["id"].as_i64() > customer_answered["id"].as_i64(),
        "{done:#}"
    );
    assert_eq!(
        done["contact"]["answered_at"], connected[0]["at"],
        "{done:#}"
    );
    // The agent's own hang-up from the screen is recorded as the agent's (it was
    // "system:hangup").
    assert_eq!(done["contact"]["end_reason"], "agent:hangup", "{done:#}");
    assert_eq!(events(&done, "hangup")[0]["data"]["side"], "agent");
    assert_eq!(
        done["contact"]["agent_id"].as_i64(),
        Some(suzuki.agent_id())
    );
    let customer = leg(&done, "customer");
    assert!(
        customer["packets_received"].as_u64().unwrap() >= 100,
        "the carrier's side sent audio: {customer}"
    );
    assert!(
        customer["packets_sent"].as_u64().unwrap() >= 100,
        "{customer}"
    );
    let echoed = heard_tone(&phone, 1000.0);
    assert!(
        echoed > 0.05,
        "suzuki's voice went out and came back through the carrier: {echoed}"
    );
    let (s, b) = suzuki
        .post(
            &format!("/api/contacts/{id}/wrap-up"),
            json!({ "disposition": "fixed" }),
        )
        .await;
    assert!(s.is_success(), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_transfer_to_an_external_number_through_the_carrier() {
    let mut carrier = Carrier::start(1);
    let demo = Demo::start_with(DemoOptions {
        carrier: Some(carrier.port),
        ..Default::default()
    })
    .await;
    demo.use_flow("callback", CALLBACK_FLOW).await;
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    let phone = Phone::start(&demo, "suzuki", PHONE_PW, 1000.0, true).await;
    phone.registered(&admin, suzuki.agent_id()).await;
    suzuki.set_state("available").await;
    let started = jiff::Timestamp::now().as_millisecond();
    let call = tokio::spawn({
        let sip = demo.sip.clone();
        async move {
            Caller::new("09011112222")
                .pause(800)
                .digit('2')
                .speak()
                .speak()
                .call_at(&sip, "100", true)
                .await
        }
    });
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    demo.wait_status(&sv, id, "connected", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s, b) = suzuki
        .post(
            &format!("/api/contacts/{id}/blind-transfer"),
            json!({ "number": "0120-444-555" }),
        )
        .await;
    assert!(s.is_success(), "{b}");
    assert_eq!(call.await.unwrap(), 0, "the caller's script went through");
    assert_eq!(
        carrier.finish(Duration::from_secs(20)).await,
        0,
        "the carrier got the transferred call and its BYE: {}",
        carrier.messages()
    );
    assert_dialed(&carrier, "0120444555");
    let done = demo.wait_events(&sv, id, "media", 3).await;
    let k = kinds(&done);
    assert!(
        k.iter().any(|x| x == "external_transfer"),
        "the timeline shows the transfer: {k:?}"
    );
    // The agent is out of the call and wraps up; the caller talked to the carrier.
    assert_eq!(done["contact"]["status"], "wrap_up", "{done:#}");
    let external = leg(&done, "external");
    assert!(
        external["packets_received"].as_u64().unwrap() >= 100,
        "the carrier's side sent audio: {external}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_leaves_a_callback_request_and_is_called_back() {
    let mut carrier = Carrier::start(1);
    let demo = Demo::start_with(DemoOptions {
        carrier: Some(carrier.port),
        ..Default::default()
    })
    .await;
    demo.use_flow("callback", CALLBACK_FLOW).await;
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    let phone = Phone::start(&demo, "suzuki", PHONE_PW, 1000.0, true).await;
    phone.registered(&admin, suzuki.agent_id()).await;

    // No agent is free: the caller waits, hears the offer, presses 1 and is let go.
    let started = jiff::Timestamp::now().as_millisecond();
    let code = Caller::new("09011112222")
        .pause(800)
        .digit('2')
        .pause(3000)
        .digit('1')
        .call(&demo, "100", false)
        .await;
    assert_eq!(code, 0, "the center said goodbye and hung up");
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    let waiting = demo
        .wait_status(&sv, id, "queued", Duration::from_secs(10))
        .await;
    assert!(
        events(&waiting, "ivr")
            .iter()
            .any(|e| e["data"]["event"] == "callback_requested"),
        "{waiting:#}"
    );

    // An agent comes free: the callback is offered, the phone rings, the customer is dialed.
    suzuki.set_state("available").await;
    answered(&demo, &sv, id, "customer").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s, b) = suzuki
        .post_empty(&format!("/api/contacts/{id}/hangup"))
        .await;
    assert!(s.is_success(), "{b}");
    assert_eq!(
        carrier.finish(Duration::from_secs(20)).await,
        0,
        "{}",
        carrier.messages()
    );
    assert_dialed(&carrier, "09011112222");
    let done = demo
        .wait_status(&sv, id, "wrap_up", Duration::from_secs(10))
        .await;
    assert_eq!(
        done["contact"]["agent_id"].as_i64(),
        Some(suzuki.agent_id())
    );
    assert!(
        heard_tone(&phone, 1000.0) > 0.05,
        "the call back was bridged both ways"
    );
    // One contact from the first call to the call back: the customer's place was kept.
    let queued = events(&done, "queued");
    assert!(!queued.is_empty(), "{done:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ivr_forwards_a_caller_to_an_external_number() {
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
    let started = jiff::Timestamp::now().as_millisecond();
    let code = Caller::new("0312345678")
        .speak()
        .call(&demo, "100", true)
        .await;
    assert_eq!(code, 0, "{}", demo.log());
    assert_eq!(
        carrier.finish(Duration::from_secs(20)).await,
        0,
        "{}",
        carrier.messages()
    );
    assert_dialed(&carrier, "09033334444");
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    let done = demo.wait_events(&sv, id, "media", 2).await;
    assert_eq!(
        done["contact"]["end_reason"], "system:forwarded_external",
        "{done:#}"
    );
    let ext = leg(&done, "external");
    // The caller's speech went out and the carrier's echo of it came back.
    assert!(ext["packets_sent"].as_u64().unwrap() >= 200, "{ext}");
    assert!(ext["packets_received"].as_u64().unwrap() >= 200, "{ext}");
}

/// Regression: a `callback` node without `queue`, reached at the queue's max wait, used to
/// create no request (the center had closed the contact and forgot its queue) while the
/// caller heard the confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_node_after_max_wait_takes_the_queue_waited_in() {
    let demo = Demo::start().await;
    demo.use_flow(
        "maxwait",
        "name = \"maxwait\"\nstart = \"q\"\nlanguage = \"ja\"\n\n[nodes.q]\ntype = \"queue\"\nqueue = \"support\"\nannounce_secs = 0\non_max_wait = \"cb\"\n\n[nodes.cb]\ntype = \"callback\"\n",
    )
    .await;
    let support = demo
        .tune_queue(
            "support",
            json!({ "max_wait_secs": 10, "overflow_queue_id": null }),
        )
        .await;
    let sv = demo.sv().await;
    let started = jiff::Timestamp::now().as_millisecond();
    let code = Caller::new("09055556666").call(&demo, "100", false).await;
    assert_eq!(code, 0, "the center hung up after its confirmation");
    let list = sv.ok("/api/contacts?limit=50").await;
    let callback = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["direction"] == "outbound"
                && c["created_at"]
                    .as_str()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .is_some_and(|t| t.as_millisecond() >= started)
        })
        .unwrap_or_else(|| panic!("no callback contact: {list:#}\n{}", demo.log()))
        .clone();
    assert_eq!(callback["queue_id"].as_i64(), Some(support), "{callback:#}");
    assert_eq!(callback["status"], "queued", "{callback:#}");
}

/// The IVR figures count every inbound call by how it left the IVR: hung up in the menu
/// (IVR abandon), forwarded, or on to a queue (where hanging up is a queue abandon).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ivr_figures_count_abandons_forwards_and_queued_calls() {
    let mut carrier = Carrier::start(1);
    let demo = Demo::start_with(DemoOptions {
        carrier: Some(carrier.port),
        ..Default::default()
    })
    .await;
    demo.use_flow(
        "figures",
        r#"
name = "figures"
start = "menu"
language = "ja"

[nodes.menu]
type = "menu"
prompt = "beep"
options = { "1" = "out", "2" = "support" }
timeout_secs = 10
retries = 0
on_failure = "support"

[nodes.out]
type = "transfer"
number = "03-5555-7777"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 0
"#,
    )
    .await;
    let sv = demo.sv().await;
    let started = jiff::Timestamp::now().as_millisecond();
    let sip = demo.sip.clone();
    assert_eq!(
        Caller::new("0311110001")
            .pause(700)
            .call_at(&sip, "100", true)
            .await,
        0
    );
    assert_eq!(
        Caller::new("0311110002")
            .pause(500)
            .digit('1')
            .pause(2000)
            .call_at(&sip, "100", true)
            .await,
        0
    );
    assert_eq!(carrier.finish(Duration::from_secs(20)).await, 0);
    assert_eq!(
        Caller::new("0311110003")
            .pause(500)
            .digit('2')
            .pause(1500)
            .call_at(&sip, "100", true)
            .await,
        0
    );
    let mut k = Value::Null;
    for _ in 0..50 {
        let r = sv.ok(&format!("/api/kpi/ivr?from={started}")).await;
        k = r["kpis"].clone();
        if k["in_ivr"] == 0 && k["calls"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(k["calls"], 3, "{k:#}");
    assert_eq!(k["abandoned"], 1, "{k:#}");
    assert_eq!(k["forwarded"], 1, "{k:#}");
    assert_eq!(k["to_queue"], 1, "{k:#}");
    assert_eq!(k["in_ivr"], 0, "{k:#}");
    assert!(
        (k["abandon_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9,
        "{k:#}"
    );
    // The queue's own figures count the third call as a queue abandon.
    let q = sv
        .ok(&format!("/api/kpi/queues?from={started}&interval=0"))
        .await;
    let support = q["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["queue_name"] == "support")
        .unwrap()
        .clone();
    assert_eq!(
        support["kpis"]["abandoned"].as_u64().unwrap()
            + support["kpis"]["short_abandoned"].as_u64().unwrap(),
        1,
        "{support:#}"
    );
    // Bad input names the field.
    let (s, b) = sv.get("/api/kpi/ivr?from=yesterday-ish").await;
    assert_eq!(s, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b.to_string().contains("from"), "{b}");
}

/// A transfer started on the agent's phone (SIP REFER from baresip) sends the caller to an
/// external number through the carrier, like the API's blind transfer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_from_the_phone_refer_reaches_the_carrier() {
    let mut carrier = Carrier::start(1);
    let demo = Demo::start_with(DemoOptions {
        carrier: Some(carrier.port),
        ..Default::default()
    })
    .await;
    demo.use_flow("callback", CALLBACK_FLOW).await;
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    let phone = Phone::start(&demo, "suzuki", PHONE_PW, 1000.0, true).await;
    phone.registered(&admin, suzuki.agent_id()).await;
    suzuki.set_state("available").await;
    let started = jiff::Timestamp::now().as_millisecond();
    let call = tokio::spawn({
        let sip = demo.sip.clone();
        async move {
            Caller::new("09011112222")
                .pause(800)
                .digit('2')
                .speak()
                .speak()
                .call_at(&sip, "100", true)
                .await
        }
    });
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    demo.wait_status(&sv, id, "connected", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    phone
        .command("transfer", &format!("sip:0120444555@{}", demo.sip))
        .await;
    assert_eq!(call.await.unwrap(), 0, "the caller's script went through");
    assert_eq!(
        carrier.finish(Duration::from_secs(20)).await,
        0,
        "{}\n{}",
        carrier.messages(),
        phone.log()
    );
    assert_dialed(&carrier, "0120444555");
    let done = demo.wait_events(&sv, id, "media", 3).await;
    assert!(
        kinds(&done).iter().any(|x| x == "external_transfer"),
        "{done:#}"
    );
    assert_eq!(done["contact"]["status"], "wrap_up", "{done:#}");
}
