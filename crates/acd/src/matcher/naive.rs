//! The reference matcher: no indexes, no shortcuts. Every routing step scans every
//! (contact, agent) pair. It states the routing rule as plainly as code can, and the
//! indexed matcher is tested against it.

use super::{Match, Matcher, Touched};
use crate::types::Strategy;
use crate::world::{AgentIdx, ContactIdx, QueueIdx, World};

#[derive(Default, Debug, Clone)]
pub struct NaiveMatcher;

impl Matcher for NaiveMatcher {
    fn agent_leaving(&mut self, _: &World, _: AgentIdx) {}
    fn agent_entered(&mut self, _: &World, _: AgentIdx) {}
    fn contact_leaving(&mut self, _: &World, _: ContactIdx) {}
    fn contact_entered(&mut self, _: &World, _: ContactIdx) {}
    fn queue_added(&mut self, _: &World, _: QueueIdx) {}

    fn next_match(&mut self, w: &World, _touched: &Touched) -> Option<Match> {
        // 1. The most urgent waiting contact that at least one agent may take.
        let mut best: Option<((i64, u64), ContactIdx)> = None;
        for (c, contact) in w.contacts.iter() {
            if !contact.is_waiting() {
                continue;
            }
            let has_agent = w.agents.iter().any(|(a, _)| w.eligible(c, a));
            let key = (contact.rank, contact.seq);
            if has_agent && best.is_none_or(|(k, _)| key < k) {
                best = Some((key, c));
            }
        }
        let (_, c) = best?;

        // 2. The agent(s) the queue's strategy picks among all eligible agents.
        let q = w.contacts[c].queue;
        let queue = &w.queues[q];
        let mut eligible: Vec<((u64, u64), AgentIdx)> = w
            .agents
            .iter()
            .filter(|&(a, _)| w.eligible(c, a))
            .map(|(a, _)| match queue.config.strategy {
                Strategy::Random => (w.random_key(a), a),
                _ => (w.strategy_key(q, a), a),
            })
            .collect();
        eligible.sort();
        let agents = match queue.config.strategy {
            Strategy::RingAll => eligible.into_iter().map(|(_, a)| a).collect(),
            Strategy::RoundRobin => {
                let after_cursor = queue
                    .rr_cursor
                    .and_then(|cursor| eligible.iter().find(|(k, _)| *k > cursor))
                    .or(eligible.first());
                vec![after_cursor?.1]
            }
            _ => vec![eligible.first()?.1],
        };
        Some(Match { contact: c, agents })
    }
}
