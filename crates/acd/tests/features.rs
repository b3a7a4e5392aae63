//! Skills relaxation, multi-queue fairness, capacity, no-answer, overflow and wrap-up —
//! each with a fake clock.

mod common;
use common::*;
use tsunagu_acd::*;

const V: Channel = Channel::Voice;
const CHAT: Channel = Channel::Chat;
const SKILL: u64 = 7;

fn relaxing(skill: u64) -> SkillRequirement {
    // ≥4 for 30 s, then ≥2 until 60 s, then anyone.
    SkillRequirement {
        skill: SkillId(skill),
        steps: vec![
            RelaxStep {
                after_ms: 0,
                min_level: 4,
            },
            RelaxStep {
                after_ms: 30 * S,
                min_level: 2,
            },
            RelaxStep {
                after_ms: 60 * S,
                min_level: 0,
            },
        ],
    }
}

#[test]
fn skill_requirement_relaxes_in_steps_over_waiting_time() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.requirements = vec![relaxing(SKILL)];
    h.queue(q);
    h.agent(1, &[(1, 1)], &[(SKILL, 1)]);
    h.agent(2, &[(1, 1)], &[(SKILL, 3)]);
    h.agent(3, &[(1, 1)], &[]);
    h.ready(1);
    h.ready(2);
    h.ready(3);
    assert!(offers(&h.arrive(1, 1, V)).is_empty(), "nobody has level 4");
    assert_eq!(h.r.poll_timeout(), Some(h.now + 30 * S));
    assert!(offers(&h.advance(30 * S - 1)).is_empty());
    assert_eq!(
        offers(&h.advance(1)),
        vec![(1, 2)],
        "at 30 s level 3 is enough"
    );

    // A second contact needs ≥4 again; agent 2 is busy now.
    h.accept(1, 2);
    h.arrive(2, 1, V);
    assert!(
        offers(&h.advance(30 * S - 1)).is_empty(),
        "only level-1 and unskilled agents free"
    );
    assert!(
        offers(&h.advance(1)).is_empty(),
        "at 30 s ≥2: agent 1 has only 1"
    );
    // At 60 s anyone: both 1 and 3 qualify; longest idle (both ready at the same moment) → id 1.
    assert_eq!(offers(&h.advance(30 * S)), vec![(2, 1)]);
}

#[test]
fn contact_requirements_add_to_and_override_the_queue_requirements() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.requirements = vec![SkillRequirement::fixed(SkillId(1), 3)];
    h.queue(q);
    h.agent(1, &[(1, 1)], &[(1, 3)]);
    h.agent(2, &[(1, 1)], &[(1, 1), (2, 5)]);
    h.ready(1);
    h.ready(2);
    // Overrides skill 1 down to 1 and adds skill 2 ≥ 4: only agent 2 fits.
    let reqs = vec![
        SkillRequirement::fixed(SkillId(1), 1),
        SkillRequirement::fixed(SkillId(2), 4),
    ];
    assert_eq!(offers(&h.arrive_with(1, 1, V, 0, reqs)), vec![(1, 2)]);
}

#[test]
fn multi_queue_agent_takes_the_oldest_contact_not_the_first_queue() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    h.simple_queue(2, Strategy::LongestIdle);
    h.agent(1, &[(1, 1), (2, 1)], &[]);
    h.arrive(100, 2, V);
    h.advance(10 * S);
    h.arrive(200, 1, V);
    h.advance(10 * S);
    assert_eq!(
        offers(&h.ready(1)),
        vec![(100, 1)],
        "queue 2's contact is older"
    );
    assert_eq!(offers(&h.complete(100, 1)), vec![(200, 1)]);
}

#[test]
fn priority_weighs_as_waiting_time_across_queues() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    let mut urgent = QueueConfig::new(QueueId(2));
    urgent.priority = 1; // one point = 60 s by default
    h.queue(urgent);
    h.agent(1, &[(1, 1), (2, 1)], &[]);
    h.arrive(100, 1, V); // t = 0
    h.advance(50 * S);
    h.arrive(200, 2, V); // t = 50 s, counts as -10 s
    h.advance(20 * S);
    h.arrive(300, 1, V);
    h.arrive_with(400, 1, V, 2, vec![]); // t = 70 s, priority 2: counts as -50 s
    assert_eq!(offers(&h.ready(1)), vec![(400, 1)]);
    assert_eq!(offers(&h.complete(400, 1)), vec![(200, 1)]);
    assert_eq!(offers(&h.complete(200, 1)), vec![(100, 1)]);
    assert_eq!(offers(&h.complete(100, 1)), vec![(300, 1)]);
}

#[test]
fn ties_between_equal_contacts_go_by_arrival_order() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    h.simple_queue(2, Strategy::LongestIdle);
    h.agent(1, &[(1, 1), (2, 1)], &[]);
    h.arrive(9, 2, V);
    h.arrive(5, 1, V); // same instant, later arrival
    assert_eq!(offers(&h.ready(1)), vec![(9, 1)]);
}

#[test]
fn chat_capacity_allows_several_contacts_and_voice_is_exclusive() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    let cap = Capacity {
        voice: 1,
        chat: 2,
        email: 0,
        task: 1,
    };
    h.agent_cap(1, &[(1, 1)], &[], cap);
    h.ready(1);
    assert_eq!(offers(&h.arrive(1, 1, CHAT)), vec![(1, 1)]);
    assert_eq!(
        offers(&h.arrive(2, 1, CHAT)),
        vec![(2, 1)],
        "second chat slot"
    );
    assert!(
        offers(&h.arrive(3, 1, CHAT)).is_empty(),
        "chat capacity is 2"
    );
    assert!(
        offers(&h.arrive(4, 1, V)).is_empty(),
        "no call while chatting"
    );
    assert!(
        offers(&h.arrive(5, 1, Channel::Email)).is_empty(),
        "email capacity 0"
    );
    h.accept(1, 1);
    h.accept(2, 1);
    assert_eq!(h.r.agent_status(AgentId(1)), Some(AgentStatus::Busy));
    assert_eq!(
        offers(&h.end(1)),
        vec![(3, 1)],
        "a chat slot freed: the waiting chat"
    );
    h.accept(3, 1);
    assert!(offers(&h.end(2)).is_empty(), "one chat still open: no call");
    assert_eq!(offers(&h.end(3)), vec![(4, 1)], "all chats over: the call");
    // An agent on a call is offered no chat.
    let mut h2 = Harness::new();
    h2.simple_queue(1, Strategy::LongestIdle);
    h2.agent_cap(1, &[(1, 1)], &[], cap);
    h2.arrive(4, 1, V);
    assert_eq!(offers(&h2.ready(1)), vec![(4, 1)]);
    assert!(
        offers(&h2.arrive(6, 1, CHAT)).is_empty(),
        "no chat while on a call"
    );
}

#[test]
fn call_waits_for_all_chats_to_finish() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    let cap = Capacity {
        voice: 1,
        chat: 2,
        email: 0,
        task: 1,
    };
    h.agent_cap(1, &[(1, 1)], &[], cap);
    h.ready(1);
    h.arrive(1, 1, CHAT);
    h.accept(1, 1);
    assert!(offers(&h.arrive(2, 1, V)).is_empty());
    assert_eq!(offers(&h.end(1)), vec![(2, 1)]);
}

#[test]
fn no_answer_requeues_at_the_front_and_tries_the_next_agent() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.no_answer_timeout_ms = 20 * S;
    q.max_no_answers = 3;
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.agent(2, &[(1, 1)], &[]);
    h.ready(1);
    h.advance(S);
    h.ready(2);
    assert_eq!(offers(&h.arrive(1, 1, V)), vec![(1, 1)]);
    h.advance(S);
    h.arrive(2, 1, V); // goes to agent 2
    h.accept(2, 2);
    h.arrive(3, 1, V); // waits behind contact 1? No: contact 1 is ringing; 3 waits.
    let a = h.advance(19 * S);
    assert_eq!(
        a[..3],
        [
            Action::OfferTimedOut {
                contact: ContactId(1),
                agent: AgentId(1)
            },
            Action::Requeued {
                contact: ContactId(1),
                queue: QueueId(1)
            },
            // Agent 1 is free again but missed contact 1: it gets contact 3 instead.
            Action::Offer {
                contact: ContactId(3),
                agent: AgentId(1),
                queue: QueueId(1),
                expires_at: h.now + 20 * S
            },
        ]
    );
    // Contact 1 is at the front: the next free agent (2) gets it before contact 3 would.
    assert_eq!(offers(&h.end(2)), vec![(1, 2)]);
}

#[test]
fn repeated_no_answers_make_the_agent_not_ready() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.no_answer_timeout_ms = 10 * S;
    q.max_no_answers = 2;
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    h.arrive(2, 1, V);
    h.advance(10 * S); // misses 1, is offered 2
    let a = h.advance(10 * S); // misses 2: second in a row
    assert!(a.contains(&Action::AgentAutoNotReady { agent: AgentId(1) }));
    assert_eq!(h.r.agent_presence(AgentId(1)), Some(Presence::NotReady));
    assert_eq!(h.r.agent_status(AgentId(1)), Some(AgentStatus::NotReady));
    assert!(matches!(
        h.r.contact(ContactId(2)),
        Some(ContactView::Waiting { .. })
    ));
}

/// Regression: an agent "available" without a working phone declined every offer at once
/// (the phone could not ring) and stayed available, taking each caller's first offer. A
/// phone that cannot ring is a miss, and misses in a row make the agent not-ready; a
/// decline is not a miss.
#[test]
fn offers_whose_phone_cannot_ring_are_misses() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.no_answer_timeout_ms = 10 * S;
    q.max_no_answers = 2;
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.agent(2, &[(1, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    h.arrive(2, 1, V);
    // Declines do not count.
    h.reject(1, 1);
    h.reject(2, 1);
    assert_eq!(h.r.agent_presence(AgentId(1)), Some(Presence::Available));
    h.arrive(3, 1, V);
    let now = h.now;
    h.r.handle_offer_missed(now, ContactId(3), AgentId(1))
        .unwrap();
    assert_eq!(h.r.agent_presence(AgentId(1)), Some(Presence::Available));
    h.arrive(4, 1, V);
    h.r.handle_offer_missed(now, ContactId(4), AgentId(1))
        .unwrap();
    let a = h.drain();
    assert!(
        a.contains(&Action::AgentAutoNotReady { agent: AgentId(1) }),
        "{a:?}"
    );
    assert_eq!(h.r.agent_presence(AgentId(1)), Some(Presence::NotReady));
    // The callers wait on and go to the agent who can take them.
    assert_eq!(offers(&h.ready(2)), vec![(1, 2)]);
}

#[test]
fn an_answer_resets_the_no_answer_count() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.no_answer_timeout_ms = 10 * S;
    q.max_no_answers = 2;
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    h.advance(10 * S); // miss 1
    h.arrive(2, 1, V);
    h.handle(2, 1); // answered: count back to 0
    h.arrive(3, 1, V);
    let a = h.advance(10 * S); // miss 1 again
    assert!(!a
        .iter()
        .any(|x| matches!(x, Action::AgentAutoNotReady { .. })));
}

#[test]
fn max_wait_overflows_to_the_target_queue_keeping_age() {
    let mut h = Harness::new();
    h.simple_queue(2, Strategy::LongestIdle);
    let mut q = QueueConfig::new(QueueId(1));
    q.max_wait_ms = Some(60 * S);
    q.overflow = Some(QueueId(2));
    h.queue(q);
    h.agent(9, &[(2, 1)], &[]); // serves only the overflow queue
    h.agent(8, &[(2, 1)], &[]);
    h.ready(9);
    h.advance(S);
    h.ready(8);
    h.arrive(50, 2, V); // goes to 9 immediately (idle longest)
    h.accept(50, 9);
    h.arrive(1, 1, V);
    h.advance(10 * S);
    h.arrive(51, 2, V); // goes to 8
    h.accept(51, 8);
    h.arrive(52, 2, V); // waits in queue 2
    let a = h.advance(50 * S);
    assert_eq!(
        a,
        vec![Action::Overflowed {
            contact: ContactId(1),
            from: QueueId(1),
            to: QueueId(2)
        }]
    );
    // Contact 1 arrived before 52, so it is ahead of it in queue 2.
    assert_eq!(offers(&h.end(50)), vec![(1, 9)]);
}

#[test]
fn max_wait_without_overflow_reports_and_lets_go() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.max_wait_ms = Some(30 * S);
    h.queue(q);
    h.arrive(1, 1, V);
    let a = h.advance(30 * S);
    assert_eq!(
        a,
        vec![Action::MaxWaitExceeded {
            contact: ContactId(1),
            queue: QueueId(1)
        }]
    );
    assert_eq!(h.r.contact(ContactId(1)), None);
    assert_eq!(h.r.poll_timeout(), None);
}

#[test]
fn max_wait_during_an_offer_overflows_if_the_offer_fails() {
    let mut h = Harness::new();
    h.simple_queue(2, Strategy::LongestIdle);
    let mut q = QueueConfig::new(QueueId(1));
    q.max_wait_ms = Some(30 * S);
    q.overflow = Some(QueueId(2));
    q.no_answer_timeout_ms = 20 * S;
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.agent(2, &[(2, 1)], &[]);
    h.advance(15 * S);
    h.arrive(1, 1, V);
    h.advance(15 * S);
    h.ready(1); // offered at 15 s of waiting
    let a = h.advance(20 * S); // max wait at 30 s passes while ringing; no answer at 35 s
    assert!(a.contains(&Action::Overflowed {
        contact: ContactId(1),
        from: QueueId(1),
        to: QueueId(2)
    }));
    assert_eq!(offers(&h.ready(2)), vec![(1, 2)]);
}

#[test]
fn wrap_up_timer_holds_the_agent_then_frees_them() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.wrap_up_ms = Some(15 * S);
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    h.accept(1, 1);
    h.advance(60 * S);
    h.end(1);
    assert_eq!(
        h.r.agent_status(AgentId(1)),
        Some(AgentStatus::AfterCallWork)
    );
    assert!(
        offers(&h.arrive(2, 1, V)).is_empty(),
        "no offer during after-call work"
    );
    let a = h.advance(15 * S);
    assert!(a.contains(&Action::WrapUpExpired {
        contact: ContactId(1),
        agent: AgentId(1)
    }));
    assert_eq!(offers(&a), vec![(2, 1)]);
}

#[test]
fn manual_wrap_up_lasts_until_the_agent_finishes_it() {
    let mut h = Harness::new();
    let mut q = QueueConfig::new(QueueId(1));
    q.wrap_up_ms = None;
    h.queue(q);
    h.agent(1, &[(1, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    h.handle(1, 1);
    h.arrive(2, 1, V);
    assert!(offers(&h.advance(3600 * S)).is_empty());
    assert!(h
        .r
        .handle_wrap_up_done(h.now, AgentId(1), ContactId(2))
        .is_err());
    assert_eq!(offers(&h.wrap_up_done(1, 1)), vec![(2, 1)]);
}

#[test]
fn going_not_ready_withdraws_a_ringing_offer() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    h.agent(1, &[(1, 1)], &[]);
    h.agent(2, &[(1, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    let a = h.not_ready(1);
    assert!(a.contains(&Action::OfferWithdrawn {
        contact: ContactId(1),
        agent: AgentId(1),
        reason: WithdrawReason::AgentUnavailable
    }));
    assert_eq!(offers(&h.ready(2)), vec![(1, 2)]);
    // Going not-ready is not a rejection: agent 1 may get contact 1 later.
    h.reject(1, 2);
    assert_eq!(offers(&h.ready(1)), vec![(1, 1)]);
}

#[test]
fn an_abandon_while_ringing_withdraws_the_offer() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    h.agent(1, &[(1, 1)], &[]);
    h.ready(1);
    h.arrive(1, 1, V);
    let a = h.end(1);
    assert!(a.contains(&Action::OfferWithdrawn {
        contact: ContactId(1),
        agent: AgentId(1),
        reason: WithdrawReason::ContactEnded
    }));
    assert_eq!(h.r.agent_status(AgentId(1)), Some(AgentStatus::Available));
    assert_eq!(h.r.poll_timeout(), None, "the offer timer is gone");
}
