//! Events that cross at the boundary between the call switch and the contact center, run
//! in every order. Each scenario brings a call to the point where two things happen at
//! once (a caller hangs up while an agent's phone answers; an offer times out; a phone
//! answers while its agent rejects the offer on the screen or logs off; a supervisor
//! transfers a call as the caller hangs up; two ring-all phones answer together), then
//! explores every interleaving of those events with the messages they cause — commands to
//! the center, its answers, its directives — each run from scratch under a fake clock.
//!
//! Whatever the order, the end must be one consistent state: the call is over on both
//! sides, the contact is answered (応答) exactly when the caller was connected to an agent
//! and abandoned otherwise, an agent is in after-call work only for a caller they talked
//! to, and nobody is left ringing, busy or offered.
//!
//! Regression: the caller's BYE and the agent phone's 200 OK a few microseconds apart
//! made the call "answered" and put the agent in after-call work for a caller they never
//! heard.

mod boundary;

use boundary::*;
use tsunagu_acd::Presence;
use tsunagu_domain::contact::EventKind;
use tsunagu_domain::kpi::{visits_from_events, EventRecord, Outcome};
use tsunagu_runtime::center::AgentCommand;

/// The state every order must end in (after the caller is gone and everything settled).
async fn check_consistent(w: &World, what: &str) {
    assert_eq!(w.sw.call_count(), 0, "{what}: a call is left in the switch");
    assert_eq!(w.sw.leg_count(), 0, "{what}: a leg is left in the switch");
    for &leg in w.dialed.keys() {
        assert!(
            w.hung_up.contains(&leg) || w.bridged_to.is_some(),
            "{what}: agent leg {leg} was never hung up"
        );
    }
    let row = w.contact_row().await;
    let kinds = w.event_kinds().await;
    let connected = kinds.iter().filter(|k| *k == "connected").count();
    match w.bridged_to {
        Some(agent) => {
            assert_eq!(connected, 1, "{what}: {kinds:?}");
            assert!(
                row.status == "wrap_up" || row.status == "completed",
                "{what}: talked, then {}: {kinds:?}",
                row.status
            );
            assert_eq!(row.agent_id, Some(agent), "{what}");
        }
        None => {
            assert_eq!(connected, 0, "{what}: never connected: {kinds:?}");
            assert_eq!(row.status, "abandoned", "{what}: {kinds:?}");
            assert!(
                !kinds.iter().any(|k| k == "ended"),
                "{what}: an agent's conversation ended that never was: {kinds:?}"
            );
        }
    }
    for (i, &(id, _)) in w.agents.iter().enumerate() {
        let status = w.agent_status(i).await;
        let acw_ok = w.bridged_to == Some(id);
        assert!(
            status == "available"
                || status == "offline"
                || status == "not_ready"
                || (status == "acw" && acw_ok),
            "{what}: agent {id} left {status} (bridged to {:?})",
            w.bridged_to
        );
    }
    // The KPI figures read the same story from the timeline.
    let events: Vec<EventRecord> = w
        .store
        .contact_events(w.tenant, row.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| EventRecord {
            contact: e.contact_id,
            at: e.at,
            kind: EventKind::parse(&e.kind).unwrap(),
            queue: e.queue_id,
            agent: e.agent_id,
        })
        .collect();
    let visits = visits_from_events(&events);
    let last = visits.last().expect("a queue visit");
    let want = if w.bridged_to.is_some() {
        Outcome::Answered
    } else {
        Outcome::Abandoned
    };
    assert_eq!(last.outcome, want, "{what}: {visits:?}");
}

/// A caller in `queue`, offered to `agents` (available before the call came), their phones
/// ringing.
async fn ringing(t: &Template, queue: &str, agents: &[usize]) -> World {
    let mut w = World::new(t).await;
    for &a in agents {
        w.presence(a, Presence::Available);
    }
    w.settle().await;
    w.incoming(queue);
    w.settle().await;
    for &a in agents {
        assert!(w.ring_leg(w.agents[a].0).is_some(), "agent {a} rings");
    }
    w
}

/// Runs `scenario` in every order; returns how many orders there were.
async fn every_order<F, Fut>(t: &Template, name: &str, scenario: F) -> usize
where
    F: Fn(Explorer) -> Fut,
    Fut: std::future::Future<Output = Explorer>,
{
    let mut ex = Explorer::new();
    let mut runs = 0;
    loop {
        let _ = t;
        ex = scenario(ex).await;
        runs += 1;
        if !ex.next() {
            break;
        }
        assert!(runs < 20_000, "{name}: too many orders");
    }
    eprintln!("{name}: {runs} orders");
    runs
}

/// Ends the call from the caller's side if it still goes on, then lets everything settle.
async fn caller_leaves(w: &mut World) {
    if w.sw.call_count() > 0 {
        w.caller_hangs_up();
    }
    w.settle().await;
}

#[tokio::test(flavor = "current_thread")]
async fn caller_hangs_up_as_the_agent_answers() {
    let t = Template::new().await;
    let n = every_order(&t, "hang-up vs answer", |mut ex| {
        let t = &t;
        async move {
            let mut w = ringing(t, "one", &[0]).await;
            let leg = w.ring_leg(w.agents[0].0).unwrap();
            race(
                &mut w,
                vec![
                    Event::new(|w: &mut World| w.caller_hangs_up()),
                    Event::new(move |w: &mut World| w.answer_phone(leg)),
                ],
                &mut ex,
            )
            .await;
            caller_leaves(&mut w).await;
            check_consistent(&w, &format!("hang-up vs answer {:?}", ex.trail())).await;
            ex
        }
    })
    .await;
    assert!(n >= 6, "{n} orders");
}

#[tokio::test(flavor = "current_thread")]
async fn caller_hangs_up_as_the_offer_times_out() {
    let t = Template::new().await;
    every_order(&t, "hang-up vs offer timeout", |mut ex| {
        let t = &t;
        async move {
            let mut w = ringing(t, "one", &[0]).await;
            race(
                &mut w,
                vec![
                    Event::new(|w: &mut World| w.caller_hangs_up()),
                    Event::Timer,
                ],
                &mut ex,
            )
            .await;
            caller_leaves(&mut w).await;
            let what = format!("hang-up vs offer timeout {:?}", ex.trail());
            check_consistent(&w, &what).await;
            assert_eq!(w.bridged_to, None, "{what}");
            ex
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_phone_answers_as_its_agent_rejects_on_the_screen() {
    let t = Template::new().await;
    every_order(&t, "reject vs accept", |mut ex| {
        let t = &t;
        async move {
            let mut w = ringing(t, "one", &[0]).await;
            let (agent, _) = w.agents[0];
            let leg = w.ring_leg(agent).unwrap();
            let contact = w.contact.unwrap();
            race(
                &mut w,
                vec![
                    Event::new(move |w: &mut World| w.answer_phone(leg)),
                    Event::new(move |w: &mut World| {
                        w.screen(AgentCommand::Reject {
                            contact_id: contact,
                            agent_id: agent,
                        })
                    }),
                ],
                &mut ex,
            )
            .await;
            let what = format!("reject vs accept {:?}", ex.trail());
            // Either the answer won (connected) or the rejection did (the caller waits on,
            // the phone is hung up).
            let row = w.contact_row().await;
            match w.bridged_to {
                Some(_) => assert_eq!(row.status, "connected", "{what}"),
                None => {
                    assert!(w.hung_up.contains(&leg), "{what}");
                    assert_eq!(row.status, "queued", "{what}");
                }
            }
            caller_leaves(&mut w).await;
            check_consistent(&w, &what).await;
            ex
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_phone_answers_as_its_agent_logs_off() {
    let t = Template::new().await;
    every_order(&t, "logout vs answer", |mut ex| {
        let t = &t;
        async move {
            let mut w = ringing(t, "one", &[0]).await;
            let leg = w.ring_leg(w.agents[0].0).unwrap();
            race(
                &mut w,
                vec![
                    Event::new(move |w: &mut World| w.answer_phone(leg)),
                    Event::new(|w: &mut World| w.presence(0, Presence::Offline)),
                ],
                &mut ex,
            )
            .await;
            let what = format!("logout vs answer {:?}", ex.trail());
            let row = w.contact_row().await;
            if w.bridged_to.is_none() {
                assert!(w.hung_up.contains(&leg), "{what}");
                assert_eq!(row.status, "queued", "{what}: the caller waits on");
            } else {
                assert_eq!(row.status, "connected", "{what}");
            }
            caller_leaves(&mut w).await;
            check_consistent(&w, &what).await;
            ex
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn two_ring_all_phones_answer_together() {
    let t = Template::new().await;
    every_order(&t, "answer vs answer", |mut ex| {
        let t = &t;
        async move {
            let mut w = ringing(t, "all", &[0, 1]).await;
            let l1 = w.ring_leg(w.agents[0].0).unwrap();
            let l2 = w.ring_leg(w.agents[1].0).unwrap();
            race(
                &mut w,
                vec![
                    Event::new(move |w: &mut World| w.answer_phone(l1)),
                    Event::new(move |w: &mut World| w.answer_phone(l2)),
                ],
                &mut ex,
            )
            .await;
            let what = format!("answer vs answer {:?}", ex.trail());
            let winner = w.bridged_to.expect("one of them is connected");
            let loser = if winner == w.agents[0].0 { l2 } else { l1 };
            assert!(w.hung_up.contains(&loser), "{what}");
            caller_leaves(&mut w).await;
            check_consistent(&w, &what).await;
            ex
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_supervisor_transfers_the_call_as_the_caller_hangs_up() {
    let t = Template::new().await;
    every_order(&t, "transfer vs hang-up", |mut ex| {
        let t = &t;
        async move {
            let mut w = ringing(t, "one", &[0]).await;
            let leg = w.ring_leg(w.agents[0].0).unwrap();
            w.answer_phone(leg);
            w.settle().await;
            assert_eq!(w.bridged_to, Some(w.agents[0].0));
            // Someone free in the target queue, whose phone would ring for a dead call.
            w.presence(1, Presence::Available);
            w.settle().await;
            let contact = w.contact.unwrap();
            let to_queue = w.queues["all"];
            let by_user = w.agents[1].1;
            race(
                &mut w,
                vec![
                    Event::new(|w: &mut World| w.caller_hangs_up()),
                    Event::new(move |w: &mut World| {
                        w.screen(AgentCommand::Transfer {
                            contact_id: contact,
                            agent_id: None,
                            to_queue,
                            note: None,
                            by_user,
                        })
                    }),
                ],
                &mut ex,
            )
            .await;
            caller_leaves(&mut w).await;
            let what = format!("transfer vs hang-up {:?}", ex.trail());
            assert_eq!(w.sw.call_count(), 0, "{what}");
            let row = w.contact_row().await;
            assert!(
                !matches!(row.status.as_str(), "queued" | "offered" | "connected"),
                "{what}: left {} with no call",
                row.status
            );
            for i in 0..2 {
                let s = w.agent_status(i).await;
                assert!(s != "busy" && s != "offered", "{what}: agent {i} {s}");
            }
            ex
        }
    })
    .await;
}
