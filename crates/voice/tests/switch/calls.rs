//! Calls in and out of the IVR and queue, ringing agents, hang-ups.

use super::*;

#[test]
fn inbound_call_goes_through_the_ivr_and_queue_to_an_agent() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.now += 60_000;
    let o = h.sip(SipIn::Ended {
        leg: CUSTOMER,
        cause: "bye".into(),
    });
    assert!(o.iter().any(|x| matches!(x, Out::RecordStop { .. })));
    assert_eq!(
        hangups(&o),
        vec![agent],
        "only the agent's leg is hung up by us"
    );
    assert_eq!(ends(&o), vec![(CONTACT, Side::Caller, "bye".to_string())]);
    assert!(
        o.contains(&Out::MediaRemove { leg: CUSTOMER })
            && o.contains(&Out::MediaRemove { leg: agent })
    );
    assert_eq!(
        (h.sw.call_count(), h.sw.leg_count()),
        (0, 0),
        "nothing left behind"
    );
}

#[test]
fn an_agent_hanging_up_ends_the_call_for_the_caller() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    let o = h.sip(SipIn::Ended {
        leg: agent,
        cause: "bye".into(),
    });
    assert_eq!(hangups(&o), vec![CUSTOMER]);
    assert_eq!(ends(&o), vec![(CONTACT, Side::Agent, "bye".to_string())]);
}

#[test]
fn withdrawn_offers_stop_ringing_and_busy_phones_reject() {
    let mut h = H::new();
    h.queued_call();
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 5,
        agent_name: "x".into(),
    });
    let (leg5, _) = h.complete_dial(&o, phone(5));
    // The queue's no-answer timer ran out: the ACD withdraws the offer.
    let o = h.center(CenterIn::OfferWithdrawn {
        contact: CONTACT,
        agent: 5,
    });
    assert_eq!(hangups(&o), vec![leg5], "CANCEL the ringing phone");
    assert!(o.contains(&Out::MediaRemove { leg: leg5 }));
    // The next agent's phone is busy.
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 6,
        agent_name: "y".into(),
    });
    let (leg6, _) = h.complete_dial(&o, phone(6));
    let o = h.sip(SipIn::Failed {
        leg: leg6,
        code: 486,
        reason: "Busy Here".into(),
    });
    assert!(
        o.contains(&Out::Reject {
            contact: CONTACT,
            agent: 6,
            unreachable: false
        }),
        "{o:?}"
    );
    // An agent without a registered phone cannot take calls.
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 7,
        agent_name: "z".into(),
    });
    let leg7 = o
        .iter()
        .find_map(|x| match x {
            Out::Locate { leg, .. } => Some(*leg),
            _ => None,
        })
        .unwrap();
    h.sw.handle_located(leg7, vec![], h.now);
    assert!(
        h.drain().contains(&Out::Reject {
            contact: CONTACT,
            agent: 7,
            unreachable: true
        }),
        "no phone registered is a miss, not the agent declining"
    );
    // Still queued with music; a fourth agent takes it.
    h.connect(8);
}

#[test]
fn a_phone_answering_after_another_took_the_call_is_hung_up() {
    let mut h = H::new();
    h.queued_call();
    // Ring-all: two phones ring.
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 5,
        agent_name: "x".into(),
    });
    let (leg5, _) = h.complete_dial(&o, phone(5));
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 6,
        agent_name: "y".into(),
    });
    let (leg6, _) = h.complete_dial(&o, phone(6));
    h.answer(leg5, 6000);
    let o = h.center(CenterIn::AcceptResult {
        contact: CONTACT,
        agent: 5,
        ok: true,
    });
    assert_eq!(hangups(&o), vec![leg6], "the other phone stops ringing");
    // It answers anyway, a moment too late.
    let o = h.answer(leg6, 6002);
    assert_eq!(hangups(&o), vec![leg6]);
}
