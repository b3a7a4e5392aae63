//! The center whole, in process, under one fake clock: the voice switch, the tenant actor
//! (ACD router, contact lifecycle, rows in a real SQLite file) and the messages between
//! them (`tests/boundary`), with no sockets. Each test walks one contact through a whole
//! lifecycle as a contact center lives it and checks the switch, the contact's timeline,
//! the KPI reading of that timeline and the agents' states at the end.

mod boundary;

use boundary::*;
use tsunagu_acd::Presence;
use tsunagu_domain::contact::EventKind;
use tsunagu_domain::kpi::{visits_from_events, EventRecord, Outcome, QueueVisit};
use tsunagu_runtime::center::AgentCommand;
use tsunagu_voice::MonitorMode;

/// The contact's queue visits as the KPI figures read them.
async fn visits(w: &World) -> Vec<QueueVisit> {
    let events: Vec<EventRecord> = w
        .store
        .contact_events(w.tenant, w.contact.unwrap())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| {
            Some(EventRecord {
                contact: e.contact_id,
                at: e.at,
                kind: EventKind::parse(&e.kind)?,
                queue: e.queue_id,
                agent: e.agent_id,
            })
        })
        .collect();
    visits_from_events(&events)
}

fn nothing_left(w: &World) {
    assert_eq!(w.sw.call_count(), 0, "a call is left in the switch");
    assert_eq!(w.sw.leg_count(), 0, "a leg is left in the switch");
    for &leg in w.dialed.keys() {
        assert!(w.hung_up.contains(&leg), "leg {leg} was never hung up");
    }
}

/// A caller waits, the agent's phone answers, they talk; a supervisor barges in; the agent
/// transfers the caller to another queue and the caller hangs up while the transfer is on
/// its way to the switch. The first queue answered the call (and the agent is free without
/// after-call work: their part ended with the transfer); the caller gave up waiting in the
/// second; every phone is hung up.
#[tokio::test(flavor = "current_thread")]
async fn caller_hangs_up_during_a_transfer_after_a_supervisor_barged_in() {
    let t = Template::new().await;
    let mut w = World::new(&t).await;
    let (a1, user1) = w.agents[0];
    let (sv, _) = w.agents[1];
    w.presence(0, Presence::Available);
    w.settle().await;
    w.incoming("one");
    w.settle().await;
    let leg = w.ring_leg(a1).expect("a1's phone rings");
    w.advance(4_000);
    w.answer_phone(leg);
    w.settle().await;
    assert_eq!(w.bridged_to, Some(a1), "caller and agent hear each other");
    let contact = w.contact.unwrap();

    // The supervisor barges in from their phone.
    w.advance(30_000);
    w.request(|sw, now| sw.monitor(contact, sv, MonitorMode::Barge, now))
        .expect("monitoring a connected call");
    let monitor_leg = w.ring_leg(sv).expect("the supervisor's phone rings");
    w.answer_phone(monitor_leg);
    w.settle().await;

    // The agent moves the caller to `all`; the caller hangs up before the switch hears.
    w.advance(20_000);
    w.screen(AgentCommand::Transfer {
        contact_id: contact,
        agent_id: Some(a1),
        to_queue: w.queues["all"],
        note: Some("請求の件".into()),
        by_user: user1,
    });
    w.settle_center_only().await;
    w.caller_hangs_up();
    w.settle().await;

    nothing_left(&w);
    let kinds = w.event_kinds().await;
    for k in ["connected", "monitor", "transferred", "abandoned"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    let row = w.contact_row().await;
    assert_eq!(row.status, "abandoned", "{kinds:?}");
    assert_eq!(row.queue_id, Some(w.queues["all"]));
    let v = visits(&w).await;
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!((v[0].outcome, v[0].agent), (Outcome::Answered, Some(a1)));
    assert!(v[0].handled, "the transferring agent's part is handled");
    assert_eq!(v[0].talk_ms, 50_000, "talk from answer to transfer");
    assert_eq!(v[1].outcome, Outcome::Abandoned);
    assert_eq!(
        w.agent_status(0).await,
        "available",
        "no after-call work after a transfer"
    );
    assert_eq!(w.agent_status(1).await, "offline");
}

/// The whole life of an answered call: offered, answered, held, ended by the caller, after-
/// call work, wrapped up with a disposition. The figures read 4 s to answer, talk without
/// the hold, and after-call work until the wrap-up.
#[tokio::test(flavor = "current_thread")]
async fn an_answered_call_from_offer_to_wrap_up() {
    let t = Template::new().await;
    let mut w = World::new(&t).await;
    let (a1, user1) = w.agents[0];
    w.presence(0, Presence::Available);
    w.settle().await;
    w.incoming("one");
    w.settle().await;
    let leg = w.ring_leg(a1).unwrap();
    w.advance(4_000);
    w.answer_phone(leg);
    w.settle().await;
    let contact = w.contact.unwrap();
    w.advance(60_000);
    w.request(|sw, now| sw.hold(contact, true, now)).unwrap();
    w.settle().await;
    w.advance(15_000);
    w.request(|sw, now| sw.hold(contact, false, now)).unwrap();
    w.settle().await;
    w.advance(45_000);
    w.caller_hangs_up();
    w.settle().await;
    assert_eq!(w.contact_row().await.status, "wrap_up");
    assert_eq!(w.agent_status(0).await, "acw");

    w.advance(20_000);
    w.screen(AgentCommand::WrapUp {
        contact_id: contact,
        agent_id: a1,
        disposition: None,
        note: Some("住所変更を受付".into()),
        by_user: user1,
    });
    w.settle().await;
    nothing_left(&w);
    assert!(w.refused.is_empty(), "{:?}", w.refused);
    let row = w.contact_row().await;
    assert_eq!(row.status, "completed");
    assert_eq!(w.agent_status(0).await, "available");
    let v = visits(&w).await;
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].outcome, Outcome::Answered);
    assert_eq!(
        v[0].wait_ms(0),
        4_000,
        "answered when the caller was connected"
    );
    assert_eq!(
        (v[0].talk_ms, v[0].hold_ms, v[0].acw_ms),
        (105_000, 15_000, 20_000)
    );
    assert!(v[0].handled);
}

/// Nobody answers: the first agent's phone rings until the queue's no-answer timeout, the
/// call goes to the next agent, who answers. The first agent's miss is recorded and the
/// call is answered once.
#[tokio::test(flavor = "current_thread")]
async fn an_offer_nobody_answers_goes_to_the_next_agent() {
    let t = Template::new().await;
    let mut w = World::new(&t).await;
    let (a1, _) = w.agents[0];
    let (a2, _) = w.agents[1];
    w.presence(0, Presence::Available);
    w.settle().await;
    w.advance(1_000);
    w.presence(1, Presence::Available);
    w.settle().await;
    w.incoming("one");
    w.settle().await;
    // The longest idle agent rings first.
    let first = w.ring_leg(a1).expect("a1 rings first");
    assert!(w.ring_leg(a2).is_none());
    while w.ring_leg(a2).is_none() {
        assert!(w.fire_next_timer().await, "a deadline is pending");
        w.settle().await;
    }
    assert!(w.hung_up.contains(&first), "the first phone stops ringing");
    let second = w.ring_leg(a2).unwrap();
    w.answer_phone(second);
    w.settle().await;
    assert_eq!(w.bridged_to, Some(a2));
    let kinds = w.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "offer_timed_out"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "connected").count(), 1);
    w.caller_hangs_up();
    w.settle().await;
    nothing_left(&w);
    assert_eq!(w.contact_row().await.agent_id, Some(a2));
}

/// A caller waits with nobody signed in and hangs up: an abandon, no agent touched.
#[tokio::test(flavor = "current_thread")]
async fn a_caller_who_waits_for_nobody_abandons() {
    let t = Template::new().await;
    let mut w = World::new(&t).await;
    w.incoming("one");
    w.settle().await;
    w.advance(25_000);
    w.caller_hangs_up();
    w.settle().await;
    nothing_left(&w);
    assert!(w.dialed.is_empty(), "no phone rang");
    let row = w.contact_row().await;
    assert_eq!(row.status, "abandoned");
    let v = visits(&w).await;
    assert_eq!(
        (v[0].outcome, v[0].wait_ms(0)),
        (Outcome::Abandoned, 25_000)
    );
}
