//! Issue 7, fault kind 11 (robustness): overload shows as a refusal, not as memory growth.
//! Against the real `tsunagu demo --max-calls 2`: with two calls up, a third caller is
//! answered `503 Service Unavailable` and a click-to-call is refused with HTTP 503 `busy`
//! (its contact closed, nothing rings); the refusals are counted in `/api/telephony`; once a
//! call ends, new calls are taken again. (The SIP layer's own bounded event queue has its
//! test in `crates/sip/tests/sipp.rs`.)

mod common;
mod phone;

use std::time::Duration;

use phone::raw::{RawCall, RtpEnd};
use phone::*;
use reqwest::StatusCode;
use serde_json::json;

use common::AGENT_PW;

const FLOW: &str = r#"
name = "wait"
start = "support"
language = "ja"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_limit_are_refused_with_503_and_taken_again_after() {
    let mut carrier = Carrier::start(1);
    let demo = Demo::start_with(DemoOptions {
        carrier: Some(carrier.port),
        max_calls: Some(2),
        ..Default::default()
    })
    .await;
    demo.use_flow("wait", FLOW).await;
    let admin = demo.admin().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    // A registered phone, so that click-to-call is refused for the limit and nothing else.
    let phone = Phone::start(&demo, "suzuki", PHONE_PW, 1000.0, true).await;
    phone.registered(&admin, suzuki.agent_id()).await;

    // Two callers wait in the queue (nobody is available).
    let rtp: Vec<RtpEnd> = vec![
        RtpEnd::bind("127.0.0.1", 1).await,
        RtpEnd::bind("127.0.0.1", 2).await,
        RtpEnd::bind("127.0.0.1", 3).await,
        RtpEnd::bind("127.0.0.1", 4).await,
    ];
    let mut first = RawCall::dial(&demo.sip, "0311110001", "100", "127.0.0.1", rtp[0].port()).await;
    let _second = RawCall::dial(&demo.sip, "0311110002", "100", "127.0.0.1", rtp[1].port()).await;

    // The third is refused at the door, and never becomes a contact.
    let refused =
        RawCall::try_dial(&demo.sip, "0311110003", "100", "127.0.0.1", rtp[2].port()).await;
    let answer = refused.err().expect("the third call is refused");
    assert!(answer.starts_with("SIP/2.0 503"), "{answer}");

    // Click-to-call at the limit: 503 busy, the agent's phone does not ring. (Signed in
    // but not ready, so that the waiting callers are not offered to her.)
    suzuki.set_state("not_ready").await;
    let (s, b) = suzuki
        .post("/api/calls", json!({ "number": "03-5555-0199" }))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(b["error"], "busy", "{b}");
    assert!(b["message"].as_str().unwrap().contains("overloaded"), "{b}");
    assert!(carrier.invites().is_empty(), "nothing was dialed");

    let t = admin.ok("/api/telephony").await;
    assert_eq!(t["calls"], 2, "{t}");
    assert_eq!(
        t["refused_calls"], 2,
        "the caller and the click-to-call: {t}"
    );
    let contacts = admin.ok("/api/contacts?limit=50").await;
    let items = contacts.as_array().unwrap();
    let from_refused = items
        .iter()
        .filter(|c| c["customer_address"] == "0311110003")
        .count();
    assert_eq!(
        from_refused, 0,
        "a refused call makes no contact: {contacts}"
    );
    let c2c: Vec<_> = items
        .iter()
        .filter(|c| c["direction"] == "outbound")
        .collect();
    assert!(
        c2c.iter()
            .all(|c| c["status"] != "connected" && c["status"] != "ringing"),
        "the refused click-to-call's contact is closed: {c2c:?}"
    );

    // One call ends: room again for a new caller.
    first.bye("0311110001").await;
    let mut again = None;
    for _ in 0..50 {
        let t = admin.ok("/api/telephony").await;
        if t["calls"] == 1 {
            again = Some(
                RawCall::try_dial(&demo.sip, "0311110004", "100", "127.0.0.1", rtp[3].port()).await,
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = again.expect("the first call ended");
    assert!(
        again.is_ok(),
        "taken again after a call ended: {:?}",
        again.err()
    );
    drop(phone);
    let _ = carrier.finish(Duration::from_secs(1)).await;
}
