//! What the router's decisions make of contacts: a real router driven under a fake clock,
//! each of its actions read by `routing::routed` as the tenant actor reads them.

use std::collections::BTreeMap;

use tsunagu_acd::*;
use tsunagu_contact::routing::{self, CallOrder, Detail, Notice, Record, Routed, Seen};
use tsunagu_domain::contact::EventKind;

const S: i64 = 1000;
const T0: i64 = 1_767_571_200_000;

/// A router, the contacts the actor would hold open, and the fake clock.
struct Floor {
    router: Router,
    now: i64,
    open: BTreeMap<i64, Seen>,
}

impl Floor {
    fn new(queues: Vec<QueueConfig>) -> Floor {
        let mut router = Router::new(RouterConfig::default());
        for q in queues {
            router.upsert_queue(T0, q).unwrap();
        }
        Floor {
            router,
            now: T0,
            open: BTreeMap::new(),
        }
    }

    fn agent(&mut self, id: u64, queue: u64) -> Vec<Routed> {
        let cfg = AgentConfig {
            id: AgentId(id),
            skills: Default::default(),
            capacity: Capacity::default(),
            queues: vec![Membership {
                queue: QueueId(queue),
                position: 0,
            }],
        };
        self.router.upsert_agent(self.now, cfg).unwrap();
        self.router
            .handle_presence(self.now, AgentId(id), Presence::Available)
            .unwrap();
        self.read()
    }

    fn arrive(&mut self, id: i64, queue: u64, channel: Channel) -> Vec<Routed> {
        self.open.insert(
            id,
            Seen {
                voice: channel == Channel::Voice,
                queue: Some(queue as i64),
            },
        );
        self.router
            .handle_contact_arrived(
                self.now,
                ContactSpec {
                    id: ContactId(id as u64),
                    queue: QueueId(queue),
                    channel,
                    priority: 0,
                    requirements: vec![],
                    arrived_at: self.now,
                    queue_entered_at: self.now,
                },
            )
            .unwrap();
        self.read()
    }

    fn after(&mut self, ms: i64) -> Vec<Routed> {
        self.now += ms;
        self.router.handle_timeout(self.now);
        self.read()
    }

    /// Every action so far, read against what is open — as the actor's `drain` does.
    fn read(&mut self) -> Vec<Routed> {
        let mut out = Vec::new();
        while let Some(a) = self.router.poll_action() {
            let seen = contact_of(&a).and_then(|c| self.open.get(&c).copied());
            let r = routing::routed(&a, seen);
            // The record's change, kept as the actor keeps it on the row.
            if let (Some(c), Record::Moved { to }) = (r.contact, r.record) {
                self.open.get_mut(&c).expect("open").queue = Some(to);
            }
            if let (Some(c), Record::TimedOut { .. } | Record::Completed) = (r.contact, r.record) {
                self.open.remove(&c);
            }
            out.push(r);
        }
        out
    }
}

fn contact_of(a: &Action) -> Option<i64> {
    match a {
        Action::Offer { contact, .. }
        | Action::OfferWithdrawn { contact, .. }
        | Action::OfferTimedOut { contact, .. }
        | Action::Requeued { contact, .. }
        | Action::Overflowed { contact, .. }
        | Action::MaxWaitExceeded { contact, .. }
        | Action::WrapUpExpired { contact, .. } => Some(contact.0 as i64),
        _ => None,
    }
}

/// The routed decisions that touch a contact (agent-only status reports left out).
fn about_contacts(rs: Vec<Routed>) -> Vec<Routed> {
    rs.into_iter().filter(|r| r.contact.is_some()).collect()
}

fn queue(id: u64) -> QueueConfig {
    QueueConfig::new(QueueId(id))
}

#[test]
fn an_offer_rings_the_agents_phone_only_for_a_call() {
    let mut f = Floor::new(vec![queue(1)]);
    f.agent(10, 1);
    let call = about_contacts(f.arrive(100, 1, Channel::Voice));
    assert_eq!(call.len(), 1);
    let r = &call[0];
    assert_eq!(r.contact, Some(100));
    assert_eq!(r.record, Record::Offered);
    let t = r.timeline.as_ref().unwrap();
    assert_eq!(
        (t.kind, t.queue, t.agent),
        (EventKind::Offered, Some(1), Some(10))
    );
    assert_eq!(t.detail, Detail::ExpiresAt(T0 + 20 * S));
    assert_eq!(
        r.notice,
        Some(Notice::Offer {
            agent: 10,
            expires_at: T0 + 20 * S
        })
    );
    assert_eq!(
        r.call,
        Some(CallOrder::Ring {
            agent: 10,
            queue: 1
        })
    );
    assert_eq!(r.agent, Some(10));

    let mut f = Floor::new(vec![queue(1)]);
    f.agent(10, 1);
    let chat = about_contacts(f.arrive(100, 1, Channel::Chat));
    assert_eq!(chat[0].record, Record::Offered);
    assert_eq!(chat[0].call, None, "a chat has no phone to ring");
}

#[test]
fn an_offer_for_a_contact_that_already_ended_is_dropped() {
    let mut f = Floor::new(vec![queue(1)]);
    f.agent(10, 1);
    f.open.insert(
        100,
        Seen {
            voice: true,
            queue: Some(1),
        },
    );
    f.router
        .handle_contact_arrived(
            f.now,
            ContactSpec {
                id: ContactId(100),
                queue: QueueId(1),
                channel: Channel::Voice,
                priority: 0,
                requirements: vec![],
                arrived_at: f.now,
                queue_entered_at: f.now,
            },
        )
        .unwrap();
    // The contact ended in the same step, before the actions were read.
    f.open.remove(&100);
    let rs = f.read();
    let offer = rs
        .iter()
        .find(|r| r.timeline.is_some() || r.notice.is_some());
    assert!(
        offer.is_none(),
        "nothing recorded for a closed contact: {rs:?}"
    );
}

#[test]
fn a_no_answer_stops_the_ringing_and_the_caller_waits_again() {
    let mut f = Floor::new(vec![queue(1)]);
    f.agent(10, 1);
    f.arrive(100, 1, Channel::Voice);
    let rs = about_contacts(f.after(20 * S));
    let timed_out = rs
        .iter()
        .find(|r| r.timeline.as_ref().unwrap().kind == EventKind::OfferTimedOut)
        .expect("a no-answer");
    assert_eq!(timed_out.record, Record::Same);
    assert_eq!(timed_out.notice, Some(Notice::OfferTimedOut { agent: 10 }));
    assert_eq!(timed_out.call, Some(CallOrder::StopRinging { agent: 10 }));
    let requeued = rs
        .iter()
        .find(|r| r.timeline.as_ref().unwrap().kind == EventKind::Requeued)
        .expect("waiting again");
    assert_eq!(requeued.record, Record::Requeued);
    assert_eq!(requeued.timeline.as_ref().unwrap().queue, Some(1));
}

#[test]
fn missed_offers_make_the_agent_not_ready() {
    let mut q = queue(1);
    q.max_no_answers = 2;
    let mut f = Floor::new(vec![q]);
    f.agent(10, 1);
    // The router does not ring the same agent again for the contact they missed: a
    // second caller brings the second miss.
    f.arrive(100, 1, Channel::Voice);
    f.after(20 * S);
    f.arrive(101, 1, Channel::Voice);
    let rs = f.after(20 * S);
    let auto: Vec<_> = rs.iter().filter(|r| r.auto_not_ready).collect();
    assert_eq!(auto.len(), 1, "{rs:?}");
    assert_eq!(auto[0].agent, Some(10));
    assert_eq!(auto[0].contact, None);
}

#[test]
fn a_withdrawn_offer_says_why_and_stops_the_ringing() {
    let mut f = Floor::new(vec![queue(1)]);
    f.agent(10, 1);
    f.arrive(100, 1, Channel::Voice);
    f.router
        .handle_presence(f.now, AgentId(10), Presence::NotReady)
        .unwrap();
    let rs = about_contacts(f.read());
    let w = rs
        .iter()
        .find(|r| r.timeline.as_ref().unwrap().kind == EventKind::OfferWithdrawn)
        .expect("withdrawn");
    assert_eq!(
        w.timeline.as_ref().unwrap().detail,
        Detail::Reason("AgentUnavailable".into())
    );
    assert_eq!(
        w.notice,
        Some(Notice::OfferWithdrawn {
            agent: 10,
            reason: "AgentUnavailable".into()
        })
    );
    assert_eq!(w.call, Some(CallOrder::StopRinging { agent: 10 }));
}

#[test]
fn the_maximum_wait_overflows_or_ends_the_wait() {
    let mut first = queue(1);
    first.max_wait_ms = Some(60 * S);
    first.overflow = Some(QueueId(2));
    let mut second = queue(2);
    second.max_wait_ms = Some(30 * S);
    // The overflow target first: a queue may only name a queue that exists.
    let mut f = Floor::new(vec![second, first]);
    f.arrive(100, 1, Channel::Voice);

    let rs = about_contacts(f.after(60 * S));
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert_eq!(rs[0].record, Record::Moved { to: 2 });
    let t = rs[0].timeline.as_ref().unwrap();
    assert_eq!(
        (t.kind, t.queue, t.detail.clone()),
        (EventKind::Overflowed, Some(2), Detail::FromQueue(1))
    );
    assert_eq!(rs[0].call, None, "the caller keeps waiting, now in queue 2");

    let rs = about_contacts(f.after(30 * S));
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert_eq!(
        rs[0].record,
        Record::TimedOut {
            reason: routing::MAX_WAIT
        }
    );
    assert_eq!(
        rs[0].timeline.as_ref().unwrap().kind,
        EventKind::MaxWaitReached
    );
    assert_eq!(rs[0].call, Some(CallOrder::MaxWait));
}

#[test]
fn the_wrap_up_timer_completes_an_open_contact_only() {
    let mut q = queue(1);
    q.wrap_up_ms = Some(30 * S);
    let mut f = Floor::new(vec![q]);
    f.agent(10, 1);
    f.arrive(100, 1, Channel::Chat);
    f.router
        .handle_offer_accepted(f.now, ContactId(100), AgentId(10))
        .unwrap();
    f.now += 60 * S;
    f.router
        .handle_contact_ended(f.now, ContactId(100))
        .unwrap();
    f.read();
    let rs = about_contacts(f.after(30 * S));
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert_eq!(rs[0].record, Record::Completed);
    assert_eq!(rs[0].agent, Some(10));

    // The same timer for a contact no longer open (wrapped up by hand in the same step):
    // the agent is looked at again, the contact left alone.
    let a = Action::WrapUpExpired {
        contact: ContactId(100),
        agent: AgentId(10),
    };
    let r = routing::routed(&a, None);
    assert_eq!(
        (r.contact, r.record, r.agent),
        (None, Record::Same, Some(10))
    );
}

#[test]
fn withdrawals_are_recorded_even_for_a_contact_no_longer_open() {
    // The screen must hear that the offer is over whatever became of the contact.
    let a = Action::OfferWithdrawn {
        contact: ContactId(100),
        agent: AgentId(10),
        reason: WithdrawReason::ContactEnded,
    };
    let r = routing::routed(&a, None);
    assert_eq!(r.contact, Some(100));
    assert_eq!(r.record, Record::Same);
    assert_eq!(r.timeline.as_ref().unwrap().queue, None);
    assert!(r.notice.is_some());
    assert_eq!(r.call, None, "no call is known: nothing to stop");
}
