//! SIP over TLS: an agent's phone (baresip) registers over TLS with the demo's certificate
//! and takes a customer's call there, against the real binary.

mod common;
mod phone;

use std::time::Duration;

use phone::*;

use common::AGENT_PW;

const FLOW: &str = r#"
name = "tls"
start = "support"
language = "ja"

[nodes.support]
type = "queue"
queue = "support"
announce_secs = 0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_registered_over_tls_takes_a_call() {
    let demo = Demo::start_with(DemoOptions {
        tls: true,
        ..Default::default()
    })
    .await;
    demo.use_flow("tls", FLOW).await;
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    let phone = Phone::start_tls(&demo, "suzuki", PHONE_PW, 1000.0).await;
    phone.registered(&admin, suzuki.agent_id()).await;
    let reg = admin
        .ok(&format!("/api/agents/{}/phone", suzuki.agent_id()))
        .await;
    assert_eq!(reg["registrations"][0]["transport"], "tls", "{reg:#}");
    suzuki.set_state("available").await;

    let started = jiff::Timestamp::now().as_millisecond();
    let code = Caller::new("0312345678")
        .pause(1000)
        .speak()
        .call(&demo, "100", true)
        .await;
    assert_eq!(code, 0, "{}\n{}", demo.log(), phone.log());
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    let done = demo
        .wait_status(&sv, id, "wrap_up", Duration::from_secs(10))
        .await;
    assert_eq!(
        done["contact"]["agent_id"].as_i64(),
        Some(suzuki.agent_id())
    );
    let heard = channel(&phone.heard()[0], 0);
    let speech = (rms(&heard).powi(2) - tone(&heard, 1000.0).powi(2))
        .max(0.0)
        .sqrt();
    assert!(
        speech > 0.05,
        "the phone heard the caller over the TLS-signalled call: {speech}"
    );
}
