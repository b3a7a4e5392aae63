//! What the API asks of a connected call — monitoring, consultation, transfer — is recorded
//! as done only once it is (the phone answered), recorded as failed when the phone does
//! not answer, and refused at once when the phone is taken by another call. A fake clock.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tsunagu_flow::{load, Checks};
use tsunagu_voice::*;

const T: i64 = 1_767_571_200_000;
const CUSTOMER: LegId = 1 << 48;
const CONTACT: ContactId = 77;

const FLOW: &str = r#"
name = "t"
start = "sales"
language = "ja"

[nodes.sales]
type = "queue"
queue = "sales"
"#;

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

fn phone(n: u16) -> PhoneTarget {
    PhoneTarget {
        uri: format!("sip:agent{n}@10.0.0.{n}:5060"),
        destination: SocketAddr::from(([10, 0, 0, n as u8], 5060)),
        tcp: false,
        tls: false,
        trunk: None,
    }
}

struct H {
    sw: Switch,
    now: i64,
    port: u16,
}

impl H {
    /// A call from the queue connected to agent 5; returns the harness and the agent's leg.
    fn connected() -> (H, LegId) {
        let mut h = H {
            sw: Switch::new(SwitchConfig::default()),
            now: T,
            port: 20_000,
        };
        let flow = Arc::new(load("t.toml", FLOW, &Checks::none()).unwrap());
        h.sw.handle_sip(
            SipIn::Incoming {
                leg: CUSTOMER,
                tenant_id: 1,
                caller: "0312345678".into(),
                caller_name: None,
                called: "0501234567".into(),
                offer: Some(sdp(4000)),
                flow: Some(flow),
                call_id: "c1".into(),
            },
            h.now,
        );
        let call = h
            .drain()
            .iter()
            .find_map(|x| match x {
                Out::CreateContact { call, .. } => Some(*call),
                _ => None,
            })
            .unwrap();
        h.sw.handle_center(
            CenterIn::ContactCreated {
                call,
                contact: CONTACT,
            },
            h.now,
        );
        h.sw.handle_leg_ready(CUSTOMER, 20_000, h.now);
        h.drain();
        h.sw.handle_center(
            CenterIn::Enqueued {
                contact: CONTACT,
                record: false,
            },
            h.now,
        );
        h.drain();
        h.sw.handle_center(
            CenterIn::Offer {
                contact: CONTACT,
                agent: 5,
                agent_name: "x".into(),
            },
            h.now,
        );
        let o = h.drain();
        let leg = h.complete_dial(&o, phone(5));
        h.answer(leg);
        h.sw.handle_center(
            CenterIn::AcceptResult {
                contact: CONTACT,
                agent: 5,
                ok: true,
            },
            h.now,
        );
        h.drain();
        (h, leg)
    }

    fn drain(&mut self) -> Vec<Out> {
        std::iter::from_fn(|| self.sw.poll_output()).collect()
    }

    /// Carries a dial through to the INVITE; returns its leg.
    fn complete_dial(&mut self, outs: &[Out], target: PhoneTarget) -> LegId {
        let leg = outs
            .iter()
            .find_map(|o| match o {
                Out::Locate { leg, .. } => Some(*leg),
                _ => None,
            })
            .expect("a Locate");
        self.sw.handle_located(leg, vec![target], self.now);
        self.drain();
        self.port += 2;
        self.sw.handle_leg_ready(leg, self.port, self.now);
        let o = self.drain();
        assert!(o
            .iter()
            .any(|x| matches!(x, Out::SipDial { leg: l, .. } if *l == leg)));
        leg
    }

    fn answer(&mut self, leg: LegId) -> Vec<Out> {
        self.port += 2;
        self.sw.handle_sip(
            SipIn::Answered {
                leg,
                answer: Some(sdp(self.port)),
            },
            self.now,
        );
        self.drain()
    }

    fn fail(&mut self, leg: LegId, code: u16, reason: &str) -> Vec<Out> {
        self.sw.handle_sip(
            SipIn::Failed {
                leg,
                code,
                reason: reason.into(),
            },
            self.now,
        );
        self.drain()
    }
}

/// The timeline events of `kind` among the outputs: (agent, data).
fn events(outs: &[Out], want: &str) -> Vec<(Option<AgentId>, Value)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Event {
                kind, agent, data, ..
            } if *kind == want => Some((*agent, data.clone())),
            _ => None,
        })
        .collect()
}

fn heard(outs: &[Out], leg: LegId) -> Option<SourceSpec> {
    outs.iter().rev().find_map(|o| match o {
        Out::MediaSource { leg: l, source } if *l == leg => Some(source.clone()),
        _ => None,
    })
}

/// Regression: the timeline said "monitor listen" when the request was made, whether the
/// supervisor's phone ever answered or not; a phone that declined left no trace.
#[test]
fn monitoring_is_recorded_when_the_phone_answers_or_as_failed() {
    let (mut h, agent) = H::connected();
    h.sw.monitor(CONTACT, 9, MonitorMode::Listen, h.now)
        .unwrap();
    let o = h.drain();
    assert!(events(&o, "monitor").is_empty(), "only ringing yet: {o:?}");
    let sup = h.complete_dial(&o, phone(9));
    // A mode change while it rings is kept for the answer, not recorded.
    h.sw.monitor(CONTACT, 9, MonitorMode::Whisper, h.now)
        .unwrap();
    assert!(events(&h.drain(), "monitor").is_empty());
    let o = h.fail(sup, 486, "Busy Here");
    let failed = events(&o, "monitor");
    assert_eq!(failed.len(), 1, "{o:?}");
    assert_eq!(failed[0].0, Some(9));
    assert_eq!(failed[0].1["state"], "failed");
    assert_eq!(failed[0].1["mode"], "whisper");
    assert_eq!(failed[0].1["sip_code"], 486);
    assert!(
        h.sw.stop_monitor(CONTACT, 9, h.now).is_err(),
        "nobody is monitoring"
    );

    // Once the phone answers, the monitoring is recorded, with its mode.
    h.sw.monitor(CONTACT, 9, MonitorMode::Listen, h.now)
        .unwrap();
    let o = h.drain();
    let sup = h.complete_dial(&o, phone(9));
    let o = h.answer(sup);
    let started = events(&o, "monitor");
    assert_eq!(started.len(), 1, "{o:?}");
    assert_eq!(started[0].1, serde_json::json!({ "mode": "listen" }));
    assert_eq!(heard(&o, sup), Some(SourceSpec::Mix(vec![CUSTOMER, agent])));
    h.sw.monitor(CONTACT, 9, MonitorMode::Barge, h.now).unwrap();
    assert_eq!(events(&h.drain(), "monitor")[0].1["mode"], "barge");
    h.sw.stop_monitor(CONTACT, 9, h.now).unwrap();
    assert_eq!(events(&h.drain(), "monitor")[0].1["mode"], "stopped");
}

/// Stopping a monitoring whose phone still rings records nothing: it never began.
#[test]
fn a_monitoring_stopped_before_the_answer_leaves_nothing_on_the_timeline() {
    let (mut h, _) = H::connected();
    h.sw.monitor(CONTACT, 9, MonitorMode::Listen, h.now)
        .unwrap();
    let o = h.drain();
    h.complete_dial(&o, phone(9));
    h.sw.stop_monitor(CONTACT, 9, h.now).unwrap();
    assert!(events(&h.drain(), "monitor").is_empty());
}

/// Regression: a consultation whose phone did not answer was recorded as `ended`, like one
/// that took place.
#[test]
fn a_consultation_nobody_answers_is_recorded_as_failed() {
    let (mut h, agent) = H::connected();
    h.sw.consult(CONTACT, Party::Agent(6), h.now).unwrap();
    let o = h.drain();
    let k = h.complete_dial(&o, phone(6));
    let o = h.fail(k, 480, "Temporarily Unavailable");
    let consult: Vec<Value> = events(&o, "consult").into_iter().map(|e| e.1).collect();
    assert_eq!(consult.len(), 1, "{o:?}");
    assert_eq!(consult[0]["state"], "failed");
    assert_eq!(consult[0]["sip_code"], 480);
    assert_eq!(
        heard(&o, CUSTOMER),
        Some(SourceSpec::Relay(agent)),
        "back with the agent"
    );
}

/// Regression: a phone already on a call was dialed for a consultation or a transfer (it
/// rang busy, after the API had answered 204).
#[test]
fn a_phone_on_another_call_is_not_dialed() {
    let (mut h, _) = H::connected();
    h.sw.monitor(CONTACT, 9, MonitorMode::Listen, h.now)
        .unwrap();
    let o = h.drain();
    h.complete_dial(&o, phone(9));
    assert!(h.sw.agent_on_a_call(9) && h.sw.agent_on_a_call(5));
    assert!(!h.sw.agent_on_a_call(6));
    let e = h.sw.consult(CONTACT, Party::Agent(9), h.now).unwrap_err();
    assert_eq!(e, CallError::AgentBusy(9));
    assert_eq!(e.to_string(), "agent 9 is on another call");
    let e =
        h.sw.blind_transfer(CONTACT, Party::Agent(9), h.now)
            .unwrap_err();
    assert_eq!(e, CallError::AgentBusy(9));
    assert!(
        h.drain().iter().all(|o| !matches!(o, Out::Locate { .. })),
        "nothing was dialed"
    );
    // The call is unchanged: a consultation with a free agent still works.
    h.sw.consult(CONTACT, Party::Agent(6), h.now).unwrap();
}

/// Regression: a blind transfer to a number was recorded as done (`external_transfer`, the
/// contact closed) before the number answered, and when it did not, the caller was hung
/// up. Now it is recorded when the number answers, and a number that does not answer
/// sends the caller back to the queue, like an agent who does not.
#[test]
fn a_blind_transfer_out_is_recorded_when_answered_and_a_failed_one_keeps_the_caller() {
    let mut trunk = phone(200);
    trunk.trunk = Some("carrier".into());
    let (mut h, _) = H::connected();
    h.sw.blind_transfer(CONTACT, Party::Number("+81120444555".into()), h.now)
        .unwrap();
    let o = h.drain();
    assert!(events(&o, "external_transfer").is_empty(), "not yet: {o:?}");
    assert!(!o.iter().any(|x| matches!(x, Out::EndContact { .. })));
    let leg = h.complete_dial(&o, trunk.clone());
    let o = h.fail(leg, 486, "Busy Here");
    assert!(o.contains(&Out::Requeue { contact: CONTACT }), "{o:?}");
    assert!(!o
        .iter()
        .any(|x| matches!(x, Out::EndContact { .. } | Out::SipHangup { leg: CUSTOMER })));
    let failed = events(&o, "consult");
    assert_eq!(failed[0].1["state"], "transfer_failed");
    assert_eq!(failed[0].1["to"]["number"], "+81120444555");
    assert_eq!(failed[0].0, Some(5), "the transferring agent is told");

    // Offered again, answered, transferred again: this time the number answers.
    h.sw.handle_center(
        CenterIn::Offer {
            contact: CONTACT,
            agent: 6,
            agent_name: "y".into(),
        },
        h.now,
    );
    let o = h.drain();
    let agent = h.complete_dial(&o, phone(6));
    h.answer(agent);
    h.sw.handle_center(
        CenterIn::AcceptResult {
            contact: CONTACT,
            agent: 6,
            ok: true,
        },
        h.now,
    );
    h.drain();
    h.sw.blind_transfer(CONTACT, Party::Number("+81120444555".into()), h.now)
        .unwrap();
    let o = h.drain();
    let leg = h.complete_dial(&o, trunk);
    let o = h.answer(leg);
    assert_eq!(events(&o, "external_transfer").len(), 1, "{o:?}");
    assert!(o.iter().any(|x| matches!(
        x,
        Out::EndContact { cause, .. } if cause == "transferred_external"
    )));
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(leg)));
}
