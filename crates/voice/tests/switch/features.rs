//! Hold, supervisors, consultation, conference and transfers.

use super::*;

#[test]
fn hold_from_the_api_and_from_the_phone() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.hold(CONTACT, true, h.now).unwrap();
    let o = h.drain();
    assert_eq!(
        prompts_of(&o, CUSTOMER),
        vec!["moh"],
        "the customer hears music"
    );
    assert_eq!(
        heard(&o, agent),
        Some(SourceSpec::Silence),
        "the agent hears nothing"
    );
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::Event { kind: "held", .. })));
    h.sw.hold(CONTACT, false, h.now).unwrap();
    let o = h.drain();
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(agent)));
    // The phone's own hold button: a re-INVITE with sendonly.
    let o = h.sip(SipIn::Update {
        leg: agent,
        offer: hold_sdp(6000),
    });
    let answer = o.iter().find_map(|x| match x {
        Out::SipAnswerUpdate { sdp, .. } => Some(sdp.clone()),
        _ => None,
    });
    assert!(answer.unwrap().contains("a=recvonly"));
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["moh"]);
    let o = h.sip(SipIn::Update {
        leg: agent,
        offer: offer_sdp(6000),
    });
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(agent)));
    assert!(o.iter().any(|x| matches!(
        x,
        Out::Event {
            kind: "resumed",
            ..
        }
    )));
}

#[test]
fn supervisors_listen_whisper_and_barge() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.monitor(CONTACT, 9, MonitorMode::Listen, h.now)
        .unwrap();
    let o = h.drain();
    let (sup, _) = h.complete_dial(&o, phone(9));
    let o = h.answer(sup, 7000);
    assert_eq!(
        heard(&o, sup),
        Some(SourceSpec::Mix(vec![CUSTOMER, agent])),
        "hears both"
    );
    assert_eq!(
        heard(&o, agent),
        None,
        "listening changes nothing for the agent"
    );
    h.sw.monitor(CONTACT, 9, MonitorMode::Whisper, h.now)
        .unwrap();
    let o = h.drain();
    assert_eq!(
        heard(&o, agent),
        Some(SourceSpec::Mix(vec![CUSTOMER, sup])),
        "the agent hears the coach"
    );
    assert_eq!(heard(&o, CUSTOMER), None, "the customer does not");
    h.sw.monitor(CONTACT, 9, MonitorMode::Barge, h.now).unwrap();
    let o = h.drain();
    assert_eq!(
        heard(&o, CUSTOMER),
        Some(SourceSpec::Mix(vec![agent, sup])),
        "barge: everyone"
    );
    h.sw.stop_monitor(CONTACT, 9, h.now).unwrap();
    let o = h.drain();
    assert_eq!(hangups(&o), vec![sup]);
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(agent)));
    assert_eq!(heard(&o, agent), Some(SourceSpec::Relay(CUSTOMER)));
    assert!(
        h.sw.monitor(CONTACT, 5, MonitorMode::Listen, h.now)
            .is_err(),
        "not one's own call"
    );
}

#[test]
fn consultation_then_attended_transfer_hands_the_contact_over() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.consult(CONTACT, Party::Agent(6), h.now).unwrap();
    let o = h.drain();
    assert_eq!(
        prompts_of(&o, CUSTOMER),
        vec!["moh"],
        "the customer waits with music"
    );
    let (k, _) = h.complete_dial(&o, phone(6));
    let o = h.answer(k, 6100);
    assert_eq!(heard(&o, agent), Some(SourceSpec::Relay(k)));
    assert_eq!(heard(&o, k), Some(SourceSpec::Relay(agent)));
    h.sw.consult_complete(CONTACT, h.now).unwrap();
    let o = h.drain();
    assert!(
        o.contains(&Out::Handover {
            contact: CONTACT,
            from: 5,
            to: 6
        }),
        "{o:?}"
    );
    assert_eq!(hangups(&o), vec![agent]);
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(k)));
    assert_eq!(heard(&o, k), Some(SourceSpec::Relay(CUSTOMER)));
    let starts = o
        .iter()
        .filter(|x| matches!(x, Out::RecordStart { right, .. } if *right == k))
        .count();
    assert_eq!(starts, 1, "a new recording with the new agent");
    // The new agent hangs up: the call ends on their side.
    let o = h.sip(SipIn::Ended {
        leg: k,
        cause: "bye".into(),
    });
    assert_eq!(ends(&o), vec![(CONTACT, Side::Agent, "bye".to_string())]);
}

#[test]
fn a_three_way_call_mixes_everyone_and_the_agent_can_leave_it() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.consult(CONTACT, Party::Number("09011112222".into()), h.now)
        .unwrap();
    let o = h.drain();
    let mut trunk = phone(200);
    trunk.trunk = Some("carrier".into());
    let (k, _) = h.complete_dial(&o, trunk);
    assert!(
        h.sw.conference(CONTACT, h.now).is_err(),
        "not before the other party answers"
    );
    h.answer(k, 6200);
    h.sw.conference(CONTACT, h.now).unwrap();
    let o = h.drain();
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Mix(vec![agent, k])));
    assert_eq!(heard(&o, agent), Some(SourceSpec::Mix(vec![CUSTOMER, k])));
    assert_eq!(heard(&o, k), Some(SourceSpec::Mix(vec![agent, CUSTOMER])));
    // The agent hangs up: the customer and the external party go on talking; the contact
    // is over for the center.
    let o = h.sip(SipIn::Ended {
        leg: agent,
        cause: "bye".into(),
    });
    assert_eq!(
        ends(&o),
        vec![(CONTACT, Side::Agent, "transferred_external".to_string())]
    );
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(k)));
    assert_eq!(heard(&o, k), Some(SourceSpec::Relay(CUSTOMER)));
    let o = h.sip(SipIn::Ended {
        leg: k,
        cause: "bye".into(),
    });
    assert_eq!(hangups(&o), vec![CUSTOMER]);
    assert!(ends(&o).is_empty(), "already ended");
    assert_eq!(h.sw.call_count(), 0);
}

#[test]
fn a_blind_transfer_nobody_answers_goes_back_to_the_queue() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.blind_transfer(CONTACT, Party::Agent(6), h.now)
        .unwrap();
    let o = h.drain();
    assert_eq!(
        hangups(&o),
        vec![agent],
        "the transferring agent leaves at once"
    );
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["moh"]);
    let (b, _) = h.complete_dial(&o, phone(6));
    // Nobody picks up within the ring timeout.
    let o = h.advance(30_000);
    assert_eq!(hangups(&o), vec![b]);
    assert!(o.contains(&Out::Requeue { contact: CONTACT }), "{o:?}");
    // Back in the queue: a new offer rings the next agent.
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 7,
        agent_name: "z".into(),
    });
    assert!(o.iter().any(|x| matches!(
        x,
        Out::Locate {
            party: Party::Agent(7),
            ..
        }
    )));
}

#[test]
fn a_blind_transfer_to_an_agent_who_answers() {
    let mut h = H::new();
    h.queued_call();
    h.connect(5);
    h.sw.blind_transfer(CONTACT, Party::Agent(6), h.now)
        .unwrap();
    let o = h.drain();
    let (b, _) = h.complete_dial(&o, phone(6));
    let o = h.answer(b, 6300);
    assert!(o.contains(&Out::Handover {
        contact: CONTACT,
        from: 5,
        to: 6
    }));
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(b)));
}

#[test]
fn a_transfer_to_a_queue_puts_the_caller_back_with_music() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    let o = h.sip(SipIn::Refer {
        leg: agent,
        target: Some("support".into()),
        attended: false,
    });
    assert!(o.contains(&Out::Refer {
        contact: CONTACT,
        agent: 5,
        leg: agent,
        target: "support".into()
    }));
    // The shell resolved it to a queue and the center moved the contact: the phone hears
    // the transfer was carried out, then its leg is hung up.
    let o = h.center(CenterIn::Transferred { contact: CONTACT });
    let notify = o
        .iter()
        .position(|x| matches!(x, Out::SipReferNotify { leg, code: 200, .. } if *leg == agent));
    let bye = o
        .iter()
        .position(|x| matches!(x, Out::SipHangup { leg } if *leg == agent));
    assert!(notify.is_some() && notify < bye, "{o:?}");
    assert_eq!(hangups(&o), vec![agent]);
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["moh"]);
    assert!(o.iter().any(|x| matches!(x, Out::RecordStop { .. })));
    h.connect(6);
}
