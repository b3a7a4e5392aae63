//! The router under run-time change: restored state after a restart, refused inputs,
//! configuration changed under waiting contacts, transfers and direct assignment.

mod common;
use common::*;
use tsunagu_acd::*;

const V: Channel = Channel::Voice;

#[test]
fn restored_contacts_keep_their_place_by_original_arrival() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    h.agent(1, &[(1, 1)], &[]);
    let restored = ContactSpec {
        id: ContactId(1),
        queue: QueueId(1),
        channel: V,
        priority: 0,
        requirements: vec![],
        arrived_at: h.now - 300 * S,
        queue_entered_at: h.now - 300 * S,
    };
    h.arrive(2, 1, V);
    h.r.handle_contact_arrived(h.now, restored).unwrap();
    h.drain();
    assert_eq!(offers(&h.ready(1)), vec![(1, 1)]);
}

#[test]
fn restored_work_keeps_the_agent_busy() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.wrap_up_ms = Some(30 * S);
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.agent(2, &[(1, 1)], &[]);
    let spec = |id| ContactSpec {
        id: ContactId(id),
        queue: QueueId(1),
        channel: V,
        priority: 0,
        requirements: vec![],
        arrived_at: h.now - 100 * S,
        queue_entered_at: h.now - 100 * S,
    };
    h.r.restore_assignment(
        h.now,
        spec(1),
        AgentId(1),
        Assignment::Connected {
            since: h.now - 50 * S,
        },
    )
    .unwrap();
    h.r.restore_assignment(
        h.now,
        spec(2),
        AgentId(2),
        Assignment::WrapUp {
            since: h.now - 20 * S,
        },
    )
    .unwrap();
    h.ready(1);
    h.ready(2);
    assert_eq!(h.r.agent_status(AgentId(1)), Some(AgentStatus::Busy));
    assert_eq!(
        h.r.agent_status(AgentId(2)),
        Some(AgentStatus::AfterCallWork)
    );
    h.arrive(3, 1, V);
    assert_eq!(
        offers(&h.advance(10 * S)),
        vec![(3, 2)],
        "wrap-up ends 30 s after it began"
    );
}

#[test]
fn bad_inputs_are_refused_and_change_nothing() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    h.agent(1, &[(1, 1)], &[]);
    let now = h.now;
    assert_eq!(
        h.r.handle_offer_accepted(now, ContactId(5), AgentId(1)),
        Err(RouterError::UnknownContact(ContactId(5)))
    );
    h.arrive(5, 1, V);
    assert_eq!(
        h.r.handle_offer_accepted(now, ContactId(5), AgentId(1)),
        Err(RouterError::NotOffered {
            contact: ContactId(5),
            agent: AgentId(1)
        })
    );
    let dup = ContactSpec {
        id: ContactId(5),
        queue: QueueId(1),
        channel: V,
        priority: 0,
        requirements: vec![],
        arrived_at: now,
        queue_entered_at: now,
    };
    assert_eq!(
        h.r.handle_contact_arrived(now, dup),
        Err(RouterError::DuplicateContact(ContactId(5)))
    );
    let mut bad = QueueConfig::new(QueueId(2));
    bad.overflow = Some(QueueId(1));
    assert!(matches!(
        h.r.upsert_queue(now, bad),
        Err(RouterError::InvalidConfig(_))
    ));
    let mut bad = QueueConfig::new(QueueId(2));
    bad.requirements = vec![SkillRequirement {
        skill: SkillId(1),
        steps: vec![
            RelaxStep {
                after_ms: 0,
                min_level: 2,
            },
            RelaxStep {
                after_ms: 10,
                min_level: 3,
            },
        ],
    }];
    assert!(matches!(
        h.r.upsert_queue(now, bad),
        Err(RouterError::InvalidConfig(_))
    ));
    assert_eq!(
        h.r.remove_queue(now, QueueId(1)),
        Err(RouterError::QueueInUse(QueueId(1)))
    );
    assert!(h.drain().is_empty());
    assert_eq!(h.r.contact_count(), 1);
}

#[test]
fn changing_a_queue_applies_to_contacts_already_waiting() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.requirements = vec![SkillRequirement::fixed(SkillId(1), 5)];
    h.queue(q.clone());
    h.agent(1, &[(1, 1)], &[(1, 2)]);
    h.ready(1);
    assert!(offers(&h.arrive(1, 1, V)).is_empty());
    q.requirements = vec![SkillRequirement::fixed(SkillId(1), 2)];
    h.r.upsert_queue(h.now, q).unwrap();
    assert_eq!(offers(&h.drain()), vec![(1, 1)]);
}

/// A run-time change of the router-wide settings keeps every contact where it is (an offer
/// keeps ringing, a connected contact stays with its agent) and ranks the waiting ones again.
#[test]
fn changing_the_priority_step_keeps_contacts_and_reranks_the_waiting() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    for a in 1..=3 {
        h.agent(a, &[(1, 1)], &[]);
    }
    h.ready(1);
    assert_eq!(offers(&h.arrive(10, 1, V)), vec![(10, 1)]);
    h.accept(10, 1);
    h.arrive(100, 1, V); // t = 0, priority 0: rank 0
    h.advance(30 * S);
    h.arrive_with(200, 1, V, 1, vec![]); // rank 30 s − 1 × step
    h.arrive_with(400, 1, V, 2, vec![]); // rank 30 s − 2 × step
    assert_eq!(offers(&h.ready(2)), vec![(400, 2)], "-90 s at 60 s a point");
    let mut cfg = h.r.config();
    cfg.priority_step_ms = 10 * S; // 200 now ranks +20 s: behind 100
    h.r.set_config(h.now, cfg);
    let actions = h.drain();
    assert!(
        actions
            .iter()
            .all(|a| !matches!(a, Action::OfferWithdrawn { .. } | Action::Requeued { .. })),
        "the ringing offer stands: {actions:?}"
    );
    assert!(matches!(
        h.r.contact(ContactId(400)),
        Some(ContactView::Offered { .. })
    ));
    assert!(matches!(
        h.r.contact(ContactId(10)),
        Some(ContactView::Connected { .. })
    ));
    assert_eq!(offers(&h.ready(3)), vec![(100, 3)]);
}

#[test]
fn agent_leaving_a_queue_loses_its_offers_from_there() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    h.simple_queue(2, Strategy::LongestIdle);
    h.agent(1, &[(1, 1), (2, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    let cfg = AgentConfig {
        id: AgentId(1),
        skills: vec![],
        capacity: Capacity::default(),
        queues: vec![Membership {
            queue: QueueId(2),
            position: 1,
        }],
    };
    h.r.upsert_agent(h.now, cfg).unwrap();
    let a = h.drain();
    assert!(a.contains(&Action::OfferWithdrawn {
        contact: ContactId(1),
        agent: AgentId(1),
        reason: WithdrawReason::AgentReconfigured
    }));
    assert!(matches!(
        h.r.contact(ContactId(1)),
        Some(ContactView::Waiting { .. })
    ));
    assert_eq!(offers(&h.arrive(2, 2, V)), vec![(2, 1)]);
}

#[test]
fn agent_status_changes_are_reported_in_order() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.wrap_up_ms = Some(5 * S);
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    h.accept(1, 1);
    h.end(1);
    h.advance(5 * S);
    let statuses: Vec<AgentStatus> = h
        .log
        .iter()
        .filter_map(|a| match a {
            Action::AgentStatus { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    use AgentStatus::*;
    assert_eq!(
        statuses,
        vec![Available, Offered, Busy, AfterCallWork, Available]
    );
}

#[test]
fn transfer_moves_the_contact_keeping_its_age_and_frees_the_agent() {
    let mut h = Harness::new();
    let mut q1 = QueueConfig::new(QueueId(1));
    q1.wrap_up_ms = Some(60 * S);
    h.queue(q1);
    h.simple_queue(2, Strategy::LongestIdle);
    h.agent(1, &[(1, 1)], &[]);
    h.agent(2, &[(2, 1)], &[]);
    h.agent(3, &[(2, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    h.accept(1, 1);
    h.ready(2);
    h.advance(10 * S);
    h.arrive(2, 2, V); // to agent 2
    h.accept(2, 2);
    h.arrive(3, 2, V); // waits: arrived after contact 1
    h.r.handle_transfer(h.now, ContactId(1), QueueId(2))
        .unwrap();
    h.drain();
    assert_eq!(
        h.r.agent_status(AgentId(1)),
        Some(AgentStatus::Available),
        "no after-call work on transfer"
    );
    assert!(matches!(
        h.r.contact(ContactId(1)),
        Some(ContactView::Waiting { queue: QueueId(2) })
    ));
    // Contact 1 is older than contact 3: the next agent of queue 2 takes it first; the
    // agent who handed it over does not get it back, even when serving queue 2.
    let cfg = AgentConfig {
        id: AgentId(1),
        skills: vec![],
        capacity: Capacity::default(),
        queues: vec![
            Membership {
                queue: QueueId(1),
                position: 1,
            },
            Membership {
                queue: QueueId(2),
                position: 1,
            },
        ],
    };
    h.r.upsert_agent(h.now, cfg).unwrap();
    assert_eq!(offers(&h.drain()), vec![(3, 1)]);
    assert_eq!(offers(&h.ready(3)), vec![(1, 3)]);
    h.accept(3, 1);
    assert_eq!(
        h.r.handle_transfer(h.now, ContactId(9), QueueId(2)),
        Err(RouterError::UnknownContact(ContactId(9)))
    );
}

#[test]
fn handover_moves_a_connected_contact_to_the_agent_who_took_the_call() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.wrap_up_ms = Some(60 * S);
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.agent(2, &[(1, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    h.accept(1, 1);
    h.ready(2);
    h.r.handle_handover(h.now, ContactId(1), AgentId(2))
        .unwrap();
    h.drain();
    assert_eq!(
        h.r.agent_status(AgentId(1)),
        Some(AgentStatus::Available),
        "freed without wrap-up"
    );
    assert_eq!(h.r.agent_status(AgentId(2)), Some(AgentStatus::Busy));
    assert!(matches!(
        h.r.contact(ContactId(1)),
        Some(ContactView::Connected {
            agent: AgentId(2),
            ..
        })
    ));
    // The new agent ends it and gets the queue's wrap-up.
    h.end(1);
    assert_eq!(
        h.r.agent_status(AgentId(2)),
        Some(AgentStatus::AfterCallWork)
    );
    // Only a connected contact can be handed over.
    h.arrive(2, 1, V);
    assert_eq!(
        h.r.handle_handover(h.now, ContactId(2), AgentId(2)),
        Err(RouterError::NotConnected(ContactId(2)))
    );
}

#[test]
fn direct_assignment_needs_a_signed_in_agent_with_room() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    h.agent(1, &[(1, 1)], &[]);
    let now = h.now;
    let spec = |id: u64| ContactSpec {
        id: ContactId(id),
        queue: QueueId(1),
        channel: V,
        priority: 0,
        requirements: vec![],
        arrived_at: now,
        queue_entered_at: now,
    };
    let s1 = spec(1);
    assert_eq!(
        h.r.handle_direct_assign(h.now, s1.clone(), AgentId(1)),
        Err(RouterError::AgentBusy(AgentId(1))),
        "offline"
    );
    h.not_ready(1);
    h.r.handle_direct_assign(h.now, s1, AgentId(1)).unwrap();
    h.drain();
    assert_eq!(
        h.r.agent_status(AgentId(1)),
        Some(AgentStatus::Busy),
        "an outbound call while not ready"
    );
    assert_eq!(
        h.r.handle_direct_assign(h.now, spec(2), AgentId(1)),
        Err(RouterError::AgentBusy(AgentId(1))),
        "one call at a time"
    );
    // Incoming work waits meanwhile.
    h.ready(1);
    assert!(offers(&h.arrive(3, 1, V)).is_empty());
    assert_eq!(offers(&h.end(1)), vec![(3, 1)]);
}
