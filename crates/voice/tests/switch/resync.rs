//! The center resynchronised while calls go on.

use super::*;

/// After the center rebuilt its state from the database (a refused step, a panic), it tells
/// the switch which calls' contacts are open. No offer stands any more: a phone still
/// ringing stops, even one that answered and waits for the center's confirmation.
#[test]
fn a_resync_stops_stale_rings_and_keeps_the_caller_waiting() {
    let mut h = H::new();
    h.queued_call();
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 5,
        agent_name: "x".into(),
    });
    let (ring, _) = h.complete_dial(&o, phone(5));
    let o = h.answer(ring, 6000);
    assert!(o.contains(&Out::Accept {
        contact: CONTACT,
        agent: 5
    }));
    let o = h.center(CenterIn::Resync {
        live: vec![(CONTACT, LiveCall::Waiting)],
        ours: vec![CONTACT],
    });
    assert_eq!(hangups(&o), vec![ring], "{o:?}");
    assert!(ends(&o).is_empty(), "the caller waits on: {o:?}");
    // A late confirmation of the old offer connects nothing.
    let o = h.center(CenterIn::AcceptResult {
        contact: CONTACT,
        agent: 5,
        ok: true,
    });
    assert_eq!(heard(&o, CUSTOMER), None, "{o:?}");
    // The ACD offers the caller again, and the call connects as usual.
    h.connect(6);
}

#[test]
fn a_resync_ends_what_the_other_side_no_longer_has() {
    let mut h = H::new();
    h.queued_call();
    // The center has a contact open whose call is gone, and does not list this call's.
    let o = h.center(CenterIn::Resync {
        live: vec![
            (9_999, LiveCall::Waiting),
            (4_444, LiveCall::CallbackWaiting),
        ],
        ours: vec![CONTACT],
    });
    let e = ends(&o);
    assert!(
        e.contains(&(9_999, Side::System, "call_lost".into())),
        "{o:?}"
    );
    assert!(
        !e.iter().any(|x| x.0 == 4_444),
        "a waiting callback request has no call"
    );
    assert!(
        !e.iter().any(|x| x.0 == CONTACT),
        "the center closed it: not ended twice"
    );
    assert!(hangups(&o).contains(&CUSTOMER), "the call ends: {o:?}");
    assert_eq!(h.sw.call_count(), 0);
}

#[test]
fn a_resync_that_agrees_with_a_connected_call_changes_nothing() {
    let mut h = H::new();
    h.queued_call();
    h.connect(5);
    let o = h.center(CenterIn::Resync {
        live: vec![(CONTACT, LiveCall::Talking { agent: 5 })],
        ours: vec![CONTACT],
    });
    assert!(o.is_empty(), "{o:?}");
    // A call the center has somewhere the switch cannot follow ends, with a cause.
    let o = h.center(CenterIn::Resync {
        live: vec![(CONTACT, LiveCall::Talking { agent: 7 })],
        ours: vec![CONTACT],
    });
    assert_eq!(
        ends(&o),
        vec![(CONTACT, Side::System, "resync".to_string())]
    );
}
