//! Transfers an agent's phone asks for with REFER, against the real binary: an agent's
//! phone of raw SIP answers a caller, then REFERs. A REFER without Refer-To is refused
//! (400) and nothing changes; every other one is answered 202 and followed by NOTIFYs
//! (`Event: refer`, `message/sipfrag`): `SIP/2.0 100 Trying`, then the outcome — `200 OK`
//! before the phone's leg is hung up when the transfer is carried out, an error when it
//! cannot be (a target that names nobody, an attended transfer we do not do), which also
//! goes on the contact's timeline while the call stays as it was. Refer-To is read in its
//! legal forms (compact header, quoted display name, URI parameters). The agent's phone's
//! keys by INFO are answered too.

mod common;
mod phone;

use std::time::Duration;

use phone::raw::*;
use phone::ua::{self, Dialog, Msg, Ua};
use phone::*;
use serde_json::Value;

use common::AGENT_PW;

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

/// The next NOTIFY of a REFER on the phone, answered 200.
async fn notify(phone: &mut Ua) -> Msg {
    let n = phone
        .wait(Duration::from_secs(5), |m| m.method() == Some("NOTIFY"))
        .await
        .expect("a NOTIFY");
    phone.ok(&n).await;
    assert_eq!(n.h("event"), Some("refer"), "{n:?}");
    assert!(
        n.h("content-type")
            .is_some_and(|c| c.starts_with("message/sipfrag")),
        "{n:?}"
    );
    n
}

/// The status line of a NOTIFY's sipfrag.
fn sipfrag(n: &Msg) -> &str {
    n.body.lines().next().unwrap_or_default().trim()
}

/// A REFER from the phone: its answer, and (when 202) the NOTIFYs up to the final one.
async fn refer(d: &mut Dialog, phone: &mut Ua, refer_to: &str) -> (Msg, Vec<Msg>) {
    let r = d.send(phone, "REFER", refer_to, "", "").await;
    let mut notifies = Vec::new();
    if r.code() == Some(202) {
        loop {
            let n = notify(phone).await;
            // A NOTIFY resent over UDP before our 200 reached it is the same one.
            if notifies.iter().any(|x: &Msg| x.cseq() == n.cseq()) {
                continue;
            }
            let done = n
                .h("subscription-state")
                .is_some_and(|s| s.starts_with("terminated"));
            notifies.push(n);
            if done {
                break;
            }
        }
    }
    (r, notifies)
}

fn failures(v: &Value) -> Vec<Value> {
    events(v, "consult")
        .into_iter()
        .filter(|e| e["data"]["state"] == "transfer_failed")
        .map(|e| e["data"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phones_refer_ends_in_a_notify_of_its_outcome_and_failures_reach_the_timeline() {
    let demo = Demo::start().await;
    demo.use_flow("wait", WAIT_FLOW).await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    suzuki.set_state("not_ready").await;
    let mut phone = Ua::bind(&demo.sip).await;
    ua::register(&mut phone, "suzuki", PHONE_PW).await;

    let started = now_ms();
    let caller_rtp = RtpEnd::bind("127.0.0.1", 0x4EF_0001).await;
    let mut call = RawCall::dial(
        &demo.sip,
        "0312345672",
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
    let agent_rtp = RtpEnd::bind("127.0.0.1", 0x4EF_0002).await;
    let mut d = ua::answer(
        &mut phone,
        &invite,
        &ua::sdp(agent_rtp.port(), &[0, 101], "sendrecv", "127.0.0.1"),
    )
    .await;
    demo.wait_status(&sv, id, "connected", Duration::from_secs(10))
        .await;
    let host = &demo.sip;

    // The agent's keys by INFO are understood on this leg too.
    let r = d
        .send(
            &mut phone,
            "INFO",
            "",
            "application/dtmf-relay",
            "Signal=11\r\nDuration=100\r\n",
        )
        .await;
    assert_eq!(r.code(), Some(200), "{r:?}");

    // No Refer-To: refused, nothing changes, no NOTIFY.
    let (r, notifies) = refer(&mut d, &mut phone, "").await;
    assert_eq!(r.code(), Some(400), "{r:?}");
    assert!(notifies.is_empty());
    // A scheme nothing can be transferred to.
    let (r, _) = refer(&mut d, &mut phone, "Refer-To: <http://example.com/>\r\n").await;
    assert_eq!(r.code(), Some(416), "{r:?}");

    // A target that names nobody: 202, Trying, then 404 — and the call goes on.
    let (r, notifies) = refer(
        &mut d,
        &mut phone,
        &format!("Refer-To: \"Nobody\" <sip:nobody@{host}>\r\n"),
    )
    .await;
    assert_eq!(r.code(), Some(202), "{r:?}");
    let lines: Vec<&str> = notifies.iter().map(sipfrag).collect();
    assert_eq!(
        lines,
        ["SIP/2.0 100 Trying", "SIP/2.0 404 Not Found"],
        "{notifies:?}"
    );
    assert!(notifies[0]
        .h("subscription-state")
        .unwrap()
        .starts_with("active"));

    // An attended transfer (Replaces) is refused clearly: 501.
    let (r, notifies) = refer(
        &mut d,
        &mut phone,
        &format!("Refer-To: <sip:tanaka@{host}?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n"),
    )
    .await;
    assert_eq!(r.code(), Some(202), "{r:?}");
    assert_eq!(
        sipfrag(notifies.last().unwrap()),
        "SIP/2.0 501 Not Implemented"
    );

    // Regression: what the API refuses up front was accepted by REFER and reported to the
    // phone as done (NOTIFY 200) before failing — an agent whose phone cannot ring, a
    // number with no route out. Now the NOTIFY says so, and the call stays.
    let tanaka = demo.login("tanaka", AGENT_PW).await;
    tanaka.set_state("available").await; // signed in, but no phone registered
    let (r, notifies) = refer(
        &mut d,
        &mut phone,
        &format!("Refer-To: <sip:tanaka@{host}>\r\n"),
    )
    .await;
    assert_eq!(r.code(), Some(202), "{r:?}");
    assert_eq!(
        sipfrag(notifies.last().unwrap()),
        "SIP/2.0 480 Temporarily Unavailable",
        "{notifies:?}"
    );
    // A number written with separators is a number (it was "names nobody", 404); this demo
    // has no carrier, so it cannot be dialed: 503.
    let (r, notifies) = refer(&mut d, &mut phone, "Refer-To: <tel:+81-3-1234-5678>\r\n").await;
    assert_eq!(r.code(), Some(202), "{r:?}");
    assert_eq!(
        sipfrag(notifies.last().unwrap()),
        "SIP/2.0 503 Service Unavailable",
        "{notifies:?}"
    );

    // (The timeline is written after the NOTIFY goes out.)
    let v = demo.wait_events(&sv, id, "consult", 4).await;
    assert_eq!(v["contact"]["status"], "connected", "{v:#}");
    let failed = failures(&v);
    assert_eq!(failed.len(), 4, "{v:#}");
    assert_eq!(failed[0]["sip_code"], 404);
    assert_eq!(failed[0]["to"], "nobody");
    assert_eq!(failed[1]["sip_code"], 501);
    assert_eq!(failed[2]["sip_code"], 480);
    assert!(
        failed[2]["reason"]
            .as_str()
            .unwrap()
            .contains("phone cannot ring"),
        "{v:#}"
    );
    assert_eq!(failed[3]["sip_code"], 503);
    assert!(
        phone.inbox.iter().all(|m| m.method() != Some("BYE")),
        "the agent is still on the call"
    );

    // The compact header with a quoted display name and URI parameters, to the billing
    // queue: Trying, 200 OK, and only then the BYE of the phone's leg.
    let (r, notifies) = refer(
        &mut d,
        &mut phone,
        &format!("r: \"Billing\" <sip:billing@{host};user=phone>;x=1\r\nReferred-By: <sip:suzuki@{host}>\r\n"),
    )
    .await;
    assert_eq!(r.code(), Some(202), "{r:?}");
    let lines: Vec<&str> = notifies.iter().map(sipfrag).collect();
    assert_eq!(
        lines,
        ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"],
        "{notifies:?}"
    );
    assert!(
        phone.inbox.iter().all(|m| m.method() != Some("BYE")),
        "the outcome reaches the phone before its BYE"
    );
    let bye = phone
        .wait(Duration::from_secs(5), |m| m.method() == Some("BYE"))
        .await
        .expect("the phone's leg ends after the transfer");
    phone.ok(&bye).await;
    let billing = sv.queue_id("billing").await;
    let v = demo
        .wait_status(&sv, id, "queued", Duration::from_secs(10))
        .await;
    assert_eq!(v["contact"]["queue_id"], billing, "{v:#}");
    assert_eq!(failures(&v).len(), 4, "{v:#}");

    call.bye("0312345672").await;
}

/// Regression: a caller identified by a `tel:` URI, or anonymous in From with the network's
/// P-Asserted-Identity, was unknown (no screen-pop); one who withholds the number (Privacy:
/// id) must stay anonymous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_known_by_tel_uris_and_asserted_identities_unless_withheld() {
    let demo = Demo::start().await;
    demo.use_flow("wait", WAIT_FLOW).await;
    let sv = demo.sv().await;
    let found = sv
        .ok("/api/customers/lookup?phone=03-5555-0101&history=0")
        .await;
    let yamada = found[0]["customer"]["id"]
        .as_i64()
        .expect("the demo's customer 山田");
    let cases = [
        ("<tel:+81-3-5555-0101>", "", Some(yamada)),
        ("<tel:03-5555-0101;phone-context=+81>", "", Some(yamada)),
        (
            "<sip:anonymous@anonymous.invalid>",
            "P-Asserted-Identity: <tel:+81355550101>\r\n",
            Some(yamada),
        ),
        (
            "<sip:anonymous@anonymous.invalid>",
            "P-Asserted-Identity: <tel:+81355550101>\r\nPrivacy: id\r\n",
            None,
        ),
    ];
    for (i, (from, headers, customer)) in cases.into_iter().enumerate() {
        let started = now_ms();
        let mut ua = Ua::bind(&demo.sip).await;
        let rtp = RtpEnd::bind("127.0.0.1", 0x7E1_0000 + i as u32).await;
        let server = demo.sip.parse().unwrap();
        let mut d = Dialog {
            call_id: format!("tel{i}-{}@ua", std::process::id()),
            local: from.to_string(),
            local_tag: format!("tel{i}"),
            remote: format!("<sip:100@{server}>"),
            remote_tag: String::new(),
            target: format!("sip:100@{server}"),
            cseq: 0,
            dest: server,
            branch: String::new(),
        };
        let offer = ua::sdp(rtp.port(), &[0, 101], "sendrecv", "127.0.0.1");
        let r = d
            .send(&mut ua, "INVITE", headers, "application/sdp", &offer)
            .await;
        assert_eq!(r.code(), Some(200), "{from}: {r:?}");
        d.remote_tag = r.tag("to").expect("a To tag");
        if let Some(c) = r.contact_uri() {
            d.target = c;
        }
        d.ack_of(&ua, &r, "").await;
        let c = demo.call_since(&sv, started).await;
        assert_eq!(
            c["customer_id"].as_i64(),
            customer,
            "{from} {headers}: {c:#}"
        );
        if customer.is_none() {
            assert!(
                c["customer_address"].is_null() || c["customer_address"] == "anonymous",
                "{c:#}"
            );
        }
        let r = d.send(&mut ua, "BYE", "", "", "").await;
        assert_eq!(r.code(), Some(200), "{r:?}");
    }
}
