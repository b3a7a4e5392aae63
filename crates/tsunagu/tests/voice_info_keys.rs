//! Keys sent as SIP INFO, against the real binary and raw SIP: `application/dtmf-relay`
//! with a key or an RFC 4733 event code (`Signal=11` is `#`, not `1`) and
//! `application/dtmf` bodies are read; another content type is answered 415 with the types
//! we read in `Accept`, a body that names no key 400, and neither presses anything.

mod common;
mod phone;

use std::time::Duration;

use phone::raw::RtpEnd;
use phone::ua::{self, Dialog, Ua};
use phone::*;

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

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

async fn info(d: &mut Dialog, ua: &mut Ua, ctype: &str, body: &str) -> ua::Msg {
    d.send(ua, "INFO", "", ctype, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_keys_in_both_body_types_and_event_codes_are_read_and_the_rest_refused() {
    let demo = Demo::start().await;
    demo.use_flow("collect", COLLECT_FLOW).await;
    let sv = demo.sv().await;
    const RELAY: &str = "application/dtmf-relay";
    const DTMF: &str = "application/dtmf";

    // (content type, the keys' bodies in order, the digits stored)
    let calls: [(&str, &[&str], &str); 3] = [
        // Event codes: 11 is '#', which ends the input (a reader of the first character
        // stored "41").
        (
            RELAY,
            &[
                "Signal=4\r\nDuration=160\r\n",
                "Signal=11\r\nDuration=160\r\n",
            ],
            "4",
        ),
        (DTMF, &["5", "2", "11"], "52"),
        // The key itself, and 10 ('*') read as a key, not as "1": a collect node keeps
        // digits only, so '*' is logged as ignored and "8" stored (a reader of the first
        // character would store "81").
        (
            RELAY,
            &["Signal=8\r\n", "Signal=10\r\n", "Signal=#\r\n"],
            "8",
        ),
    ];
    for (i, (ctype, bodies, want)) in calls.into_iter().enumerate() {
        let started = now_ms();
        let mut ua = Ua::bind(&demo.sip).await;
        let rtp = RtpEnd::bind("127.0.0.1", 0x1F0 + i as u32).await;
        let offer = ua::sdp(rtp.port(), &[0, 101], "sendrecv", "127.0.0.1");
        let (mut d, ok) = ua::invite(&mut ua, &format!("031234567{i}"), "100", &offer).await;
        assert_eq!(ok.code(), Some(200), "{ok:?}");
        d.ack(&ua, ok.cseq(), "").await;
        let id = demo.call_since(&sv, started).await["id"].as_i64().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if i == 0 {
            // What is not understood is refused, and presses nothing.
            let r = info(&mut d, &mut ua, "text/plain", "5").await;
            assert_eq!(r.code(), Some(415), "{r:?}");
            let accept = r.h("accept").unwrap_or_default();
            assert!(accept.contains(RELAY) && accept.contains(DTMF), "{r:?}");
            for bad in ["Signal=16\r\n", "Duration=160\r\n", "Signal=x\r\n"] {
                let r = info(&mut d, &mut ua, RELAY, bad).await;
                assert_eq!(r.code(), Some(400), "{bad:?}: {r:?}");
            }
            let r = info(&mut d, &mut ua, DTMF, "99").await;
            assert_eq!(r.code(), Some(400), "{r:?}");
            // An INFO without a body (a keep-alive) is fine.
            let r = info(&mut d, &mut ua, "", "").await;
            assert_eq!(r.code(), Some(200), "{r:?}");
        }
        for body in bodies {
            let r = info(&mut d, &mut ua, ctype, body).await;
            assert_eq!(r.code(), Some(200), "{ctype} {body:?}: {r:?}");
        }
        let v = demo
            .wait_status(&sv, id, "queued", Duration::from_secs(20))
            .await;
        assert_eq!(
            v["contact"]["attributes"]["digits"], want,
            "{ctype} {bodies:?}: {v:#}"
        );
        let ignored: Vec<_> = events(&v, "ivr")
            .into_iter()
            .filter(|e| e["data"]["event"] == "key_ignored")
            .map(|e| e["data"]["detail"]["key"].clone())
            .collect();
        let want_ignored: Vec<serde_json::Value> = if i == 2 { vec!["*".into()] } else { vec![] };
        assert_eq!(ignored, want_ignored, "{ctype} {bodies:?}: {v:#}");
        d.send(&mut ua, "BYE", "", "", "").await;
    }
}
