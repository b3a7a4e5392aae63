//! Calls the center places: callbacks, click-to-call; recording controls.

use super::*;

#[test]
fn a_callback_rings_the_agent_first_then_dials_the_customer() {
    let mut h = H::new();
    h.sw.start_outbound(CallKind::Callback, 88, 5, "0312345678", None, true, h.now)
        .unwrap();
    let o = h.drain();
    let (agent, o) = h.complete_dial(&o, phone(5));
    let name = o.iter().find_map(|x| match x {
        Out::SipDial { from_name, .. } => from_name.clone(),
        _ => None,
    });
    assert_eq!(name.as_deref(), Some("コールバック 0312345678"));
    let o = h.answer(agent, 6000);
    assert!(o.contains(&Out::Accept {
        contact: 88,
        agent: 5
    }));
    let o = h.center(CenterIn::AcceptResult {
        contact: 88,
        agent: 5,
        ok: true,
    });
    assert!(
        o.iter()
            .any(|x| matches!(x, Out::Locate { party: Party::Number(n), .. } if n == "0312345678")),
        "{o:?}"
    );
    let mut trunk = phone(200);
    trunk.trunk = Some("carrier".into());
    let (cust, _) = h.complete_dial(&o, trunk);
    let o = h.answer(cust, 4000);
    assert_eq!(heard(&o, cust), Some(SourceSpec::Relay(agent)));
    assert_eq!(heard(&o, agent), Some(SourceSpec::Relay(cust)));
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::RecordStart { contact: 88, .. })));
    let o = h.sip(SipIn::Ended {
        leg: cust,
        cause: "bye".into(),
    });
    assert_eq!(ends(&o), vec![(88, Side::Caller, "bye".to_string())]);
}

#[test]
fn a_callback_offer_withdrawn_drops_the_attempt_but_not_the_contact() {
    let mut h = H::new();
    h.sw.start_outbound(CallKind::Callback, 88, 5, "0312345678", None, false, h.now)
        .unwrap();
    let o = h.drain();
    let (agent, _) = h.complete_dial(&o, phone(5));
    let o = h.center(CenterIn::OfferWithdrawn {
        contact: 88,
        agent: 5,
    });
    assert_eq!(hangups(&o), vec![agent]);
    assert!(ends(&o).is_empty());
    assert_eq!(h.sw.call_count(), 0);
    // The next offer of the same callback starts a new attempt.
    assert!(h
        .sw
        .start_outbound(CallKind::Callback, 88, 6, "0312345678", None, false, h.now)
        .is_ok());
}

#[test]
fn click_to_call_to_a_busy_customer_ends_the_contact() {
    let mut h = H::new();
    h.sw.start_outbound(
        CallKind::ClickToCall,
        99,
        5,
        "0612345678",
        None,
        false,
        h.now,
    )
    .unwrap();
    let o = h.drain();
    let (agent, _) = h.complete_dial(&o, phone(5));
    let o = h.answer(agent, 6000);
    assert!(
        !o.iter().any(|x| matches!(x, Out::Accept { .. })),
        "no ACD offer to confirm"
    );
    let mut trunk = phone(200);
    trunk.trunk = Some("carrier".into());
    let (cust, _) = h.complete_dial(&o, trunk);
    let o = h.sip(SipIn::Failed {
        leg: cust,
        code: 486,
        reason: "Busy Here".into(),
    });
    assert_eq!(hangups(&o), vec![agent]);
    assert_eq!(
        ends(&o),
        vec![(99, Side::System, "customer_busy:486".to_string())]
    );
}

#[test]
fn an_agent_who_does_not_pick_up_their_own_outbound_call_ends_it() {
    let mut h = H::new();
    h.sw.start_outbound(
        CallKind::ClickToCall,
        99,
        5,
        "0612345678",
        None,
        false,
        h.now,
    )
    .unwrap();
    let o = h.drain();
    let (agent, _) = h.complete_dial(&o, phone(5));
    let o = h.advance(30_000);
    assert_eq!(hangups(&o), vec![agent]);
    assert_eq!(
        ends(&o),
        vec![(99, Side::Agent, "agent_unreachable:408".to_string())]
    );
}

#[test]
fn recording_pause_and_resume() {
    let mut h = H::new();
    h.queued_call();
    h.connect(5);
    h.sw.pause_recording(CONTACT, true, h.now).unwrap();
    let o = h.drain();
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::RecordPause { paused: true, .. })));
    h.sw.pause_recording(CONTACT, false, h.now).unwrap();
    let o = h.drain();
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::RecordPause { paused: false, .. })));
    assert!(h.sw.pause_recording(12345, true, h.now).is_err());
}
