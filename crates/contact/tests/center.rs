//! The contact core driven by hand under a fake clock: every lifecycle path a contact can
//! take, the orderings of events that cross (a hang-up and an answer, a late accept after
//! a withdrawal), and refusals that change nothing.

use serde_json::json;
use tsunagu_acd::*;
use tsunagu_contact::center::{
    CallEnd, Center, Contact, ContactError, Effect, EndBy, NewCall, NewContact, QueueRules,
    WrapUpBy, WrapUpDone,
};
use tsunagu_contact::routing::{CallOrder, Notice};
use tsunagu_contact::Rebuild;
use tsunagu_domain::contact::{ContactStatus, Direction, EventKind};

const S: i64 = 1000;
const T0: i64 = 1_767_571_200_000;
const Q: i64 = 1;
const OTHER_Q: i64 = 2;
const AGENT: i64 = 10;

/// A center with queues 1 and 2 (`wrap_up_secs` as given) and agent 10 serving both.
struct Floor {
    c: Center,
    now: i64,
}

impl Floor {
    fn new(wrap_up_secs: Option<i64>) -> Floor {
        let mut c = Center::new(RouterConfig::default());
        for q in [Q, OTHER_Q] {
            let mut cfg = QueueConfig::new(QueueId(q as u64));
            cfg.wrap_up_ms = wrap_up_secs.map(|s| s * S);
            c.router_mut().upsert_queue(T0, cfg).unwrap();
            c.set_queue_rules(
                q,
                Some(QueueRules {
                    record_calls: q == Q,
                    wrap_up_secs,
                }),
            );
        }
        let mut f = Floor { c, now: T0 };
        f.agent(AGENT);
        f
    }

    fn agent(&mut self, id: i64) {
        let cfg = AgentConfig {
            id: AgentId(id as u64),
            skills: Default::default(),
            capacity: Capacity::default(),
            queues: [Q, OTHER_Q]
                .into_iter()
                .map(|q| Membership {
                    queue: QueueId(q as u64),
                    position: 0,
                })
                .collect(),
        };
        self.c.router_mut().upsert_agent(self.now, cfg).unwrap();
        self.c
            .router_mut()
            .handle_presence(self.now, AgentId(id as u64), Presence::Available)
            .unwrap();
        self.c.handle_router_changed(self.now);
        self.effects();
    }

    fn after(&mut self, ms: i64) -> Vec<Effect> {
        self.now += ms;
        self.c.handle_timeout(self.now);
        self.effects()
    }

    /// Everything the core said since last asked; the touched records are taken too.
    fn effects(&mut self) -> Vec<Effect> {
        let mut out = Vec::new();
        while let Some(e) = self.c.poll_effect() {
            out.push(e);
        }
        let _ = self.c.take_touched();
        let _ = self.c.take_touched_agents();
        out
    }

    fn task(&mut self, id: i64) -> Vec<Effect> {
        self.c
            .handle_create(
                self.now,
                NewContact {
                    id,
                    channel: Channel::Task,
                    direction: Direction::Inbound,
                    queue_id: Q,
                    customer_id: None,
                    customer_address: None,
                    priority: 0,
                    subject: Some("folow up".into()),
                    attributes: json!({}),
                    requirements: vec![],
                    requirements_json: "[]".into(),
                    created_by: Some(1),
                },
            )
            .unwrap();
        self.effects()
    }

    /// An inbound call through the IVR into queue 1.
    fn call(&mut self, id: i64) -> Vec<Effect> {
        self.c.handle_new_call(
            self.now,
            NewCall {
                id,
                caller: "0312345678".into(),
                caller_name: None,
                called: "0120123456".into(),
                customer_address: Some("+81312345678".into()),
                customer_id: None,
            },
        );
        let recorded = self
            .c
            .handle_enqueue(
                self.now,
                id,
                Q,
                0,
                vec![],
                "[]".into(),
                &json!({ "ivr": "1" }),
            )
            .unwrap();
        assert!(recorded, "queue 1 records calls");
        self.effects()
    }

    fn status(&self, id: i64) -> ContactStatus {
        self.c.contact(id).expect("known").status
    }

    fn agent_status(&self) -> AgentStatus {
        self.c.router().agent_status(AgentId(AGENT as u64)).unwrap()
    }
}

fn kinds(effects: &[Effect]) -> Vec<EventKind> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect()
}

fn calls(effects: &[Effect]) -> Vec<CallOrder> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Call { order, .. } => Some(*order),
            _ => None,
        })
        .collect()
}

#[test]
fn a_task_is_offered_taken_ended_and_wrapped_up() {
    let mut f = Floor::new(None);
    let e = f.task(100);
    use EventKind::*;
    assert_eq!(kinds(&e), vec![Created, Queued, Offered]);
    assert!(e.contains(&Effect::Notice {
        contact: 100,
        notice: Notice::Offer {
            agent: AGENT,
            expires_at: T0 + 20 * S
        }
    }));
    assert!(calls(&e).is_empty(), "a task rings no phone");
    assert_eq!(f.status(100), ContactStatus::Offered);

    f.now += 5 * S;
    f.c.handle_accept(f.now, 100, AGENT, true).unwrap();
    assert_eq!(kinds(&f.effects()), vec![Accepted, Connected]);
    let c = f.c.contact(100).unwrap();
    assert_eq!(
        (c.status, c.agent_id, c.answered_at),
        (ContactStatus::Connected, Some(AGENT), Some(T0 + 5 * S))
    );

    f.now += 60 * S;
    f.c.handle_end(
        f.now,
        100,
        EndBy {
            agent: Some(AGENT),
            by_user: Some(7),
            reason: None,
            hang_up_call: true,
        },
    )
    .unwrap();
    let e = f.effects();
    assert_eq!(kinds(&e), vec![Ended]);
    assert!(calls(&e).is_empty());
    assert_eq!(f.status(100), ContactStatus::WrapUp);
    assert_eq!(f.agent_status(), AgentStatus::AfterCallWork);

    let done =
        f.c.handle_wrap_up(
            f.now,
            100,
            WrapUpBy {
                agent: AGENT,
                by_user: 7,
                disposition: Some("resolved".into()),
            },
            None,
            |q, code| q == Some(Q) && code == "resolved",
        )
        .unwrap();
    assert_eq!(done, WrapUpDone::Completed);
    let e = f.effects();
    assert_eq!(kinds(&e), vec![AcwDone]);
    assert!(
        matches!(&e[0], Effect::Event { data, .. } if *data == json!({ "disposition": "resolved", "auto": false }))
    );
    assert_eq!(f.status(100), ContactStatus::Completed);
    assert_eq!(f.agent_status(), AgentStatus::Available);
    f.c.forget_closed(&[100]);
    assert!(f.c.contact(100).is_none(), "let go once stored");
}

#[test]
fn the_wrap_up_timer_completes_and_a_late_disposition_is_still_recorded() {
    let mut f = Floor::new(Some(30));
    f.task(100);
    f.c.handle_accept(f.now, 100, AGENT, true).unwrap();
    f.c.handle_end(
        f.now,
        100,
        EndBy {
            agent: Some(AGENT),
            ..EndBy::default()
        },
    )
    .unwrap();
    f.effects();
    let e = f.after(30 * S);
    assert_eq!(kinds(&e), vec![EventKind::AcwDone]);
    assert!(matches!(&e[0], Effect::Event { data, .. } if data["auto"] == json!(true)));
    let stored: Contact = f.c.contact(100).unwrap().clone();
    f.c.forget_closed(&[100]);

    // The agent's disposition comes after the timer: read from the store, recorded late.
    let done =
        f.c.handle_wrap_up(
            f.now,
            100,
            WrapUpBy {
                agent: AGENT,
                by_user: 7,
                disposition: Some("resolved".into()),
            },
            Some(stored.clone()),
            |_, _| true,
        )
        .unwrap();
    assert_eq!(done, WrapUpDone::LateDisposition);
    assert_eq!(f.c.take_touched(), vec![100]);
    assert_eq!(
        f.c.contact(100).unwrap().disposition_code.as_deref(),
        Some("resolved")
    );
    // Once given, it is not replaced.
    let mut with = stored;
    with.disposition_code = Some("resolved".into());
    f.c.forget_closed(&[100]);
    let done =
        f.c.handle_wrap_up(
            f.now,
            100,
            WrapUpBy {
                agent: AGENT,
                by_user: 7,
                disposition: None,
            },
            Some(with),
            |_, _| true,
        )
        .unwrap();
    assert_eq!(done, WrapUpDone::Nothing);
}

/// Regression (a newcomer's try): the refusal came after the conversation had been ended,
/// so a refused wrap-up still hung up the call and started after-call work.
#[test]
fn an_unknown_disposition_is_refused_before_the_conversation_is_ended() {
    let mut f = Floor::new(None);
    f.call(200);
    assert!(f.c.handle_call_accept(f.now, 200, AGENT));
    f.c.handle_call_connected(f.now, 200, AGENT);
    f.effects();
    let before = f.c.contact(200).cloned();
    let r = f.c.handle_wrap_up(
        f.now,
        200,
        WrapUpBy {
            agent: AGENT,
            by_user: 7,
            disposition: Some("nope".into()),
        },
        None,
        |_, _| false,
    );
    assert!(
        matches!(
            r,
            Err(ContactError::Field {
                field: "disposition",
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(f.c.contact(200).cloned(), before, "still talking");
    assert!(f.c.poll_effect().is_none(), "no hang-up, no event");
    assert!(f.c.take_touched().is_empty());
    assert_eq!(f.agent_status(), AgentStatus::Busy);
    // Another agent's conversation is refused as before, also without change.
    let r = f.c.handle_wrap_up(
        f.now,
        200,
        WrapUpBy {
            agent: 99,
            by_user: 7,
            disposition: None,
        },
        None,
        |_, _| true,
    );
    assert_eq!(
        r,
        Err(ContactError::Lifecycle(
            tsunagu_contact::lifecycle::LifecycleError::NotConnectedTo {
                contact: 200,
                agent: 99
            }
        ))
    );
    assert!(f.c.poll_effect().is_none());
}

#[test]
fn an_unknown_disposition_is_refused_naming_the_field() {
    let mut f = Floor::new(None);
    f.task(100);
    f.c.handle_accept(f.now, 100, AGENT, true).unwrap();
    f.effects();
    let r = f.c.handle_wrap_up(
        f.now,
        100,
        WrapUpBy {
            agent: AGENT,
            by_user: 7,
            disposition: Some("nope".into()),
        },
        None,
        |_, _| false,
    );
    assert!(
        matches!(
            r,
            Err(ContactError::Field {
                field: "disposition",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn a_call_is_answered_when_caller_and_agent_are_connected() {
    let mut f = Floor::new(None);
    let e = f.call(200);
    assert_eq!(
        kinds(&e),
        vec![EventKind::Created, EventKind::Queued, EventKind::Offered]
    );
    assert_eq!(
        calls(&e),
        vec![CallOrder::Ring {
            agent: AGENT,
            queue: Q
        }]
    );
    let attrs: serde_json::Value =
        serde_json::from_str(&f.c.contact(200).unwrap().attributes).unwrap();
    assert_eq!(attrs["ivr"], "1", "the flow's attributes are kept");

    f.now += 4 * S;
    assert!(f.c.handle_call_accept(f.now, 200, AGENT));
    assert_eq!(kinds(&f.effects()), vec![EventKind::Accepted]);
    let c = f.c.contact(200).unwrap();
    assert_eq!((c.status, c.answered_at), (ContactStatus::Connected, None));

    f.now += S;
    f.c.handle_call_connected(f.now, 200, AGENT);
    assert_eq!(kinds(&f.effects()), vec![EventKind::Connected]);
    assert_eq!(f.c.contact(200).unwrap().answered_at, Some(T0 + 5 * S));
    // Said twice, counted once.
    f.c.handle_call_connected(f.now + S, 200, AGENT);
    assert!(f.effects().is_empty());

    f.now += 100 * S;
    f.c.handle_call_ended(
        f.now,
        200,
        CallEnd {
            side: "caller".into(),
            cause: "hangup".into(),
        },
    )
    .unwrap();
    let e = f.effects();
    assert_eq!(kinds(&e), vec![EventKind::Ended]);
    assert!(
        calls(&e).is_empty(),
        "the call ended itself: nothing to hang up"
    );
    let c = f.c.contact(200).unwrap();
    assert_eq!(
        (c.status, c.end_reason.as_deref()),
        (ContactStatus::WrapUp, Some("caller:hangup"))
    );
}

#[test]
fn a_caller_gone_between_the_answer_and_the_connection_is_an_abandon_and_frees_the_agent() {
    let mut f = Floor::new(Some(30));
    f.call(200);
    assert!(f.c.handle_call_accept(f.now, 200, AGENT));
    f.effects();
    f.c.handle_call_ended(
        f.now,
        200,
        CallEnd {
            side: "caller".into(),
            cause: "hangup".into(),
        },
    )
    .unwrap();
    let e = f.effects();
    assert_eq!(kinds(&e), vec![EventKind::Abandoned]);
    assert!(
        matches!(&e[0], Effect::Event { data, agent: None, .. } if data["connected"] == json!(false) && data["answered_by_agent"] == json!(AGENT))
    );
    let c = f.c.contact(200).unwrap();
    assert_eq!((c.status, c.agent_id), (ContactStatus::Abandoned, None));
    assert_eq!(
        f.agent_status(),
        AgentStatus::Available,
        "no after-call work for a call never held"
    );
    // The connection that comes too late changes nothing.
    f.c.handle_call_connected(f.now, 200, AGENT);
    assert!(f.effects().is_empty());
}

#[test]
fn a_caller_gone_while_the_phone_rings_stops_it_and_a_late_answer_is_refused() {
    let mut f = Floor::new(None);
    f.call(200);
    f.c.handle_call_ended(
        f.now,
        200,
        CallEnd {
            side: "caller".into(),
            cause: "hangup".into(),
        },
    )
    .unwrap();
    let e = f.effects();
    assert!(e.contains(&Effect::Notice {
        contact: 200,
        notice: Notice::OfferWithdrawn {
            agent: AGENT,
            reason: "ContactEnded".into()
        }
    }));
    assert!(calls(&e).contains(&CallOrder::StopRinging { agent: AGENT }));
    assert!(kinds(&e).contains(&EventKind::Abandoned));
    assert!(
        !f.c.handle_call_accept(f.now, 200, AGENT),
        "the offer no longer stands"
    );
    assert!(f.effects().is_empty());
    assert_eq!(f.agent_status(), AgentStatus::Available);
}

#[test]
fn a_decline_and_an_unreachable_phone_send_the_caller_on() {
    let mut f = Floor::new(None);
    f.agent(11);
    f.call(200);
    let first = match f.c.offered_agents(200).as_slice() {
        [a] => *a,
        other => panic!("one offer: {other:?}"),
    };
    f.c.handle_call_rejected(f.now, 200, first, false);
    let e = f.effects();
    assert!(
        matches!(&e[0], Effect::Event { kind: EventKind::Rejected, data, .. } if data["by"] == "phone")
    );
    let second = f.c.offered_agents(200);
    assert_eq!(second.len(), 1);
    assert_ne!(second[0], first, "not back to who declined");
    f.c.handle_call_rejected(f.now, 200, second[0], true);
    let e = f.effects();
    assert!(
        matches!(&e[0], Effect::Event { kind: EventKind::Rejected, data, .. } if data["by"] == "phone_unreachable")
    );
    // A second answer from a phone whose offer is gone is ignored.
    f.c.handle_call_rejected(f.now, 200, second[0], false);
    assert!(f.effects().is_empty());
}

#[test]
fn a_transfer_moves_the_contact_keeping_its_arrival_and_frees_the_agent() {
    let mut f = Floor::new(None);
    f.agent(11);
    f.call(200);
    let agent = f.c.offered_agents(200)[0];
    assert!(f.c.handle_call_accept(f.now, 200, agent));
    f.c.handle_call_connected(f.now, 200, agent);
    f.effects();
    f.now += 30 * S;
    f.c.handle_transfer(f.now, 200, Some(agent), OTHER_Q, Some(7), true)
        .unwrap();
    let e = f.effects();
    assert_eq!(kinds(&e)[..2], [EventKind::Transferred, EventKind::Queued]);
    assert!(calls(&e).contains(&CallOrder::Transferred));
    let c = f.c.contact(200).unwrap();
    assert_eq!(c.queue_id, Some(OTHER_Q));
    assert_eq!(c.queued_at, Some(T0), "the original arrival");
    // The other agent is offered it at once; the transferring agent is not.
    assert_eq!(c.status, ContactStatus::Offered);
    assert!(!f.c.offered_agents(200).contains(&agent));

    // Asked by the call itself (a forward nobody answered): the call is not told.
    let mut g = Floor::new(None);
    g.call(300);
    g.c.handle_requeue(g.now, 300).unwrap();
    assert!(!calls(&g.effects()).contains(&CallOrder::Transferred));
}

#[test]
fn a_callback_keeps_the_place_of_a_waiting_caller_and_is_a_new_contact_from_the_ivr() {
    let mut f = Floor::new(None);
    f.c.router_mut()
        .handle_presence(f.now, AgentId(AGENT as u64), Presence::NotReady)
        .unwrap();
    f.c.handle_router_changed(f.now);
    f.call(200);
    let id =
        f.c.handle_callback(f.now, 200, None, "+81312345678".into(), 999, None)
            .unwrap();
    assert_eq!(id, 200, "a waiting caller keeps its contact and place");
    assert_eq!(kinds(&f.effects()), vec![EventKind::CallbackRequested]);
    assert_eq!(
        f.c.contact(200).unwrap().callback_number().as_deref(),
        Some("+81312345678")
    );

    // From the IVR: the call's contact ends and a callback contact waits in the queue.
    f.now += 10 * S;
    f.c.handle_new_call(
        f.now,
        NewCall {
            id: 300,
            caller: "0312345679".into(),
            caller_name: None,
            called: "0120123456".into(),
            customer_address: None,
            customer_id: Some(5),
        },
    );
    f.effects();
    let id =
        f.c.handle_callback(f.now, 300, Some(Q), "+81312345679".into(), 301, None)
            .unwrap();
    assert_eq!(id, 301);
    let e = f.effects();
    assert!(kinds(&e).contains(&EventKind::Ended));
    let cb = f.c.contact(301).unwrap();
    assert_eq!(
        (cb.status, cb.direction, cb.customer_id, cb.queue_id),
        (ContactStatus::Queued, Direction::Outbound, Some(5), Some(Q))
    );
    assert_eq!(f.status(300), ContactStatus::Completed);
    assert_eq!(
        f.c.handle_callback(f.now, 400, None, "1".into(), 401, None),
        Err(ContactError::Field {
            field: "queue",
            message: "a callback needs a queue".into()
        }),
        "a caller of whom nothing is known"
    );
}

#[test]
fn a_voicemail_is_a_task_waiting_in_its_queue() {
    let mut f = Floor::new(None);
    f.c.router_mut()
        .handle_presence(f.now, AgentId(AGENT as u64), Presence::NotReady)
        .unwrap();
    f.c.handle_router_changed(f.now);
    let id =
        f.c.handle_voicemail(f.now, 200, Q, 77, "0312345678".into(), 201, Some(5))
            .unwrap();
    assert_eq!(id, 201);
    let e = f.effects();
    assert_eq!(
        kinds(&e),
        vec![
            EventKind::Created,
            EventKind::Voicemail,
            EventKind::Queued,
            EventKind::Voicemail
        ]
    );
    let t = f.c.contact(201).unwrap();
    assert_eq!(
        (t.channel, t.status, t.customer_id),
        (Channel::Task, ContactStatus::Queued, Some(5))
    );
}

#[test]
fn click_to_call_connects_the_agent_first_and_is_answered_by_the_customer() {
    let mut f = Floor::new(None);
    f.c.handle_click_to_call(f.now, 500, AGENT, "0312345678".into(), None, Q, 7)
        .unwrap();
    let c = f.c.contact(500).unwrap();
    assert_eq!(
        (c.status, c.agent_id, c.answered_at),
        (ContactStatus::Connected, Some(AGENT), None)
    );
    assert_eq!(f.agent_status(), AgentStatus::Busy);
    // The agent's phone is busy with it: a second one is refused.
    assert!(matches!(
        f.c.handle_click_to_call(f.now, 501, AGENT, "0312345679".into(), None, Q, 7),
        Err(ContactError::Conflict(_))
    ));
}

#[test]
fn refusals_change_nothing() {
    let mut f = Floor::new(None);
    f.task(100);
    let before = f.c.contact(100).cloned();
    for r in [
        f.c.handle_accept(f.now, 100, 99, true),
        f.c.handle_reject(f.now, 100, 99, json!({})),
        f.c.handle_end(f.now, 555, EndBy::default()),
        f.c.handle_transfer(f.now, 100, None, 42, None, true),
        f.c.handle_end(
            f.now,
            100,
            EndBy {
                agent: Some(99),
                ..EndBy::default()
            },
        ),
    ] {
        assert!(r.is_err());
    }
    assert_eq!(f.c.contact(100).cloned(), before);
    assert!(f.c.poll_effect().is_none(), "no effect from a refusal");
    assert!(f.c.take_touched().is_empty());
    assert_eq!(
        f.c.handle_end(f.now, 555, EndBy::default()),
        Err(ContactError::NotOpen(555))
    );
    assert_eq!(
        f.c.handle_accept(f.now, 100, 99, true),
        Err(ContactError::NotOffered {
            contact: 100,
            agent: 99
        })
    );
}

#[test]
fn start_up_closes_calls_and_a_resync_keeps_them() {
    // A call connected to the agent, as the store has it.
    let stored = Contact {
        queue_id: Some(Q),
        agent_id: Some(AGENT),
        queued_at: Some(T0 - 60 * S),
        answered_at: Some(T0 - 30 * S),
        ..Contact::new(
            200,
            Channel::Voice,
            Direction::Inbound,
            ContactStatus::Connected,
            T0 - 90 * S,
        )
    };
    let mut resync = Floor::new(None);
    resync
        .c
        .handle_recovered(resync.now, stored.clone(), vec![], Rebuild::Resync)
        .unwrap();
    assert_eq!(
        resync.status(200),
        ContactStatus::Connected,
        "the call goes on"
    );
    assert!(resync.effects().is_empty());
    assert_eq!(resync.agent_status(), AgentStatus::Busy);

    let mut startup = Floor::new(None);
    startup
        .c
        .handle_recovered(startup.now, stored, vec![], Rebuild::Startup)
        .unwrap();
    let e = startup.effects();
    assert_eq!(kinds(&e), vec![EventKind::Recovered, EventKind::Ended]);
    let c = startup.c.contact(200).unwrap();
    assert_eq!(
        (c.status, c.end_reason.as_deref()),
        (ContactStatus::WrapUp, Some("server_restart"))
    );
    assert_eq!(startup.agent_status(), AgentStatus::AfterCallWork);
}
