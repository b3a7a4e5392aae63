//! Every strategy, with a fake clock.

mod common;
use common::*;
use tsunagu_acd::*;

const V: Channel = Channel::Voice;

fn three_agents(h: &mut Harness, strategy: Strategy) {
    h.simple_queue(1, strategy);
    // Positions deliberately not in id order: 30 first, then 10, then 20.
    h.agent(10, &[(1, 2)], &[]);
    h.agent(20, &[(1, 3)], &[]);
    h.agent(30, &[(1, 1)], &[]);
}

#[test]
fn longest_idle_picks_the_agent_waiting_longest() {
    let mut h = Harness::new();
    three_agents(&mut h, Strategy::LongestIdle);
    h.ready(20);
    h.advance(S);
    h.ready(10);
    h.advance(S);
    h.ready(30);
    let a = h.arrive(1, 1, V);
    assert_eq!(offered_agent(&a), Some(20));
    h.advance(S);
    h.handle(1, 20); // 20 is idle again from now: the last in line
    assert_eq!(offered_agent(&h.arrive(2, 1, V)), Some(10));
    h.advance(S);
    h.handle(2, 10);
    assert_eq!(offered_agent(&h.arrive(3, 1, V)), Some(30));
    h.advance(S);
    h.handle(3, 30);
    assert_eq!(offered_agent(&h.arrive(4, 1, V)), Some(20));
}

#[test]
fn round_robin_continues_after_the_last_offered_agent() {
    let mut h = Harness::new();
    three_agents(&mut h, Strategy::RoundRobin);
    for a in [10, 20, 30] {
        h.ready(a);
    }
    let mut order = Vec::new();
    for c in 1..=7 {
        let a = offered_agent(&h.arrive(c, 1, V)).unwrap();
        order.push(a);
        h.handle(c, a);
    }
    assert_eq!(order, vec![30, 10, 20, 30, 10, 20, 30]);

    // A busy agent is skipped, and the rotation carries on after whoever got the offer.
    h.arrive(8, 1, V); // -> 10
    h.accept(8, 10);
    assert_eq!(offered_agent(&h.arrive(9, 1, V)), Some(20));
    h.handle(9, 20);
    assert_eq!(offered_agent(&h.arrive(10, 1, V)), Some(30));
}

#[test]
fn fewest_contacts_prefers_the_least_loaded_agent() {
    let mut h = Harness::new();
    three_agents(&mut h, Strategy::FewestContacts);
    for (a, n) in [(10, 5), (20, 2), (30, 9)] {
        h.r.set_agent_stats(
            h.now,
            AgentId(a),
            AgentStats {
                handled: n,
                ..Default::default()
            },
        )
        .unwrap();
        h.ready(a);
    }
    assert_eq!(offered_agent(&h.arrive(1, 1, V)), Some(20));
    h.handle(1, 20);
    h.handle_n(2..4, 20); // 20 now has 5 handled, tied with 10: the lower id wins
    assert_eq!(offered_agent(&h.arrive(6, 1, V)), Some(10));
}

trait HandleN {
    fn handle_n(&mut self, ids: std::ops::Range<u64>, agent: u64);
}

impl HandleN for Harness {
    fn handle_n(&mut self, ids: std::ops::Range<u64>, agent: u64) {
        for c in ids {
            let got = offered_agent(&self.arrive(c, 1, V));
            assert_eq!(got, Some(agent));
            self.handle(c, agent);
        }
    }
}

#[test]
fn least_talk_time_prefers_the_agent_who_talked_least() {
    let mut h = Harness::new();
    three_agents(&mut h, Strategy::LeastTalkTime);
    for a in [10, 20, 30] {
        h.ready(a);
    }
    // Ties on zero talk time go to the lowest id.
    assert_eq!(offered_agent(&h.arrive(1, 1, V)), Some(10));
    h.accept(1, 10);
    h.advance(60 * S);
    h.end(1);
    assert_eq!(offered_agent(&h.arrive(2, 1, V)), Some(20));
    h.accept(2, 20);
    h.advance(30 * S);
    h.end(2);
    assert_eq!(offered_agent(&h.arrive(3, 1, V)), Some(30));
    h.accept(3, 30);
    h.advance(45 * S);
    h.end(3);
    // Talk: 10 = 60 s, 20 = 30 s, 30 = 45 s.
    assert_eq!(offered_agent(&h.arrive(4, 1, V)), Some(20));
}

#[test]
fn ring_all_offers_everyone_and_the_first_accept_wins() {
    let mut h = Harness::new();
    three_agents(&mut h, Strategy::RingAll);
    for a in [10, 20, 30] {
        h.ready(a);
    }
    let a = h.arrive(1, 1, V);
    assert_eq!(offers(&a), vec![(1, 10), (1, 20), (1, 30)]);
    let a = h.accept(1, 20);
    let withdrawn: Vec<_> = a
        .iter()
        .filter_map(|x| match x {
            Action::OfferWithdrawn {
                agent,
                reason: WithdrawReason::AcceptedElsewhere,
                ..
            } => Some(agent.0),
            _ => None,
        })
        .collect();
    assert_eq!(withdrawn, vec![10, 30]);
    assert_eq!(h.r.agent_status(AgentId(20)), Some(AgentStatus::Busy));
    assert_eq!(h.r.agent_status(AgentId(10)), Some(AgentStatus::Available));
    // The next contact rings the two who are still free.
    assert_eq!(offers(&h.arrive(2, 1, V)), vec![(2, 10), (2, 30)]);
}

#[test]
fn ring_all_contact_requeues_only_when_every_offer_failed() {
    let mut h = Harness::new();
    three_agents(&mut h, Strategy::RingAll);
    h.ready(10);
    h.ready(20);
    h.arrive(1, 1, V);
    let a = h.reject(1, 10);
    assert!(!a.iter().any(|x| matches!(x, Action::Requeued { .. })));
    let a = h.reject(1, 20);
    assert!(a.iter().any(|x| matches!(x, Action::Requeued { .. })));
    // Both declined: only a new agent can take it.
    assert_eq!(offers(&h.ready(30)), vec![(1, 30)]);
}

#[test]
fn random_is_deterministic_and_spreads_the_load() {
    let run = |seed: u64| {
        let mut h = Harness::new();
        h.r = Router::new(RouterConfig {
            seed,
            ..RouterConfig::default()
        });
        three_agents(&mut h, Strategy::Random);
        for a in [10, 20, 30] {
            h.ready(a);
        }
        let mut got = Vec::new();
        for c in 1..=300 {
            let a = offered_agent(&h.arrive(c, 1, V)).unwrap();
            got.push(a);
            h.handle(c, a);
        }
        got
    };
    let a = run(7);
    assert_eq!(a, run(7), "same seed, same choices");
    assert_ne!(a, run(8), "another seed, other choices");
    for agent in [10, 20, 30] {
        let n = a.iter().filter(|&&x| x == agent).count();
        assert!((60..=140).contains(&n), "agent {agent} got {n} of 300");
    }
}

#[test]
fn ordered_takes_the_first_free_agent_in_queue_order() {
    let mut h = Harness::new();
    three_agents(&mut h, Strategy::Ordered);
    for a in [10, 20, 30] {
        h.ready(a);
    }
    assert_eq!(offered_agent(&h.arrive(1, 1, V)), Some(30));
    h.handle(1, 30);
    assert_eq!(
        offered_agent(&h.arrive(2, 1, V)),
        Some(30),
        "top-down: 30 again"
    );
    h.accept(2, 30);
    assert_eq!(offered_agent(&h.arrive(3, 1, V)), Some(10));
    h.accept(3, 10);
    assert_eq!(offered_agent(&h.arrive(4, 1, V)), Some(20));
}

#[test]
fn every_strategy_routes_when_an_agent_frees_up() {
    for strategy in Strategy::ALL {
        let mut h = Harness::new();
        three_agents(&mut h, strategy);
        assert!(
            offers(&h.arrive(1, 1, V)).is_empty(),
            "{strategy}: nobody is ready"
        );
        assert_eq!(offers(&h.ready(20)), vec![(1, 20)], "{strategy}");
    }
}
