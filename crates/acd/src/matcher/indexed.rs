//! The production matcher: ordered indexes per queue and channel.
//!
//! For each queue and channel it keeps
//! * `free`: agents who are ready, members of the queue and have room on the channel,
//!   ordered by the queue's strategy key;
//! * `waiting`: contacts waiting in the queue on the channel, ordered by rank then arrival.
//!
//! A routing pass only looks at what changed: a touched contact walks its queue's free
//! agents in strategy order; a touched agent walks the heads of the waiting sets of the
//! queues it serves, stopping as soon as nothing better than the best so far can follow.
//! Skills and exclusions are checked during the walk.

use std::collections::BTreeSet;
use std::ops::Bound;

use super::{Match, Matcher, Touched};
use crate::types::{Channel, Strategy};
use crate::world::{AgentIdx, ContactIdx, QueueIdx, World};

type AgentEntry = (u64, u64, AgentIdx);
type ContactEntry = (i64, u64, ContactIdx);

#[derive(Default, Debug, Clone)]
struct QueueIndex {
    free: [BTreeSet<AgentEntry>; 4],
    waiting: [BTreeSet<ContactEntry>; 4],
}

#[derive(Default, Debug, Clone)]
pub struct IndexedMatcher {
    queues: Vec<QueueIndex>,
}

impl IndexedMatcher {
    fn queue(&mut self, q: QueueIdx) -> &mut QueueIndex {
        let i = q as usize;
        if self.queues.len() <= i {
            self.queues.resize_with(i + 1, QueueIndex::default);
        }
        &mut self.queues[i]
    }

    /// Free agents of the queue in strategy order (round-robin starts after the cursor and
    /// wraps around).
    fn free_in_order<'a>(
        &'a self,
        w: &World,
        q: QueueIdx,
        channel: Channel,
    ) -> Box<dyn Iterator<Item = &'a AgentEntry> + 'a> {
        let set = &self.queues[q as usize].free[channel.index()];
        let queue = &w.queues[q];
        match (queue.config.strategy, queue.rr_cursor) {
            (Strategy::RoundRobin, Some((p, id))) => {
                let after = (Bound::Excluded((p, id, AgentIdx::MAX)), Bound::Unbounded);
                let upto = (Bound::Unbounded, Bound::Included((p, id, AgentIdx::MAX)));
                Box::new(set.range(after).chain(set.range(upto)))
            }
            _ => Box::new(set.iter()),
        }
    }

    /// The first agent in strategy order who may take contact `c`. Random has no stored
    /// order: it draws a key for each eligible agent.
    fn first_agent(&self, w: &World, c: ContactIdx) -> Option<AgentIdx> {
        let contact = &w.contacts[c];
        let mut eligible = self
            .free_in_order(w, contact.queue, contact.channel)
            .map(|e| e.2)
            .filter(|&a| w.pair_fits(contact, &w.agents[a]));
        if w.queues[contact.queue].config.strategy == Strategy::Random {
            eligible.min_by_key(|&a| w.random_key(a))
        } else {
            eligible.next()
        }
    }

    /// Every agent who may take contact `c` (ring-all), in id order.
    fn all_agents(&self, w: &World, c: ContactIdx) -> Vec<AgentIdx> {
        let contact = &w.contacts[c];
        self.queues[contact.queue as usize].free[contact.channel.index()]
            .iter()
            .map(|e| e.2)
            .filter(|&a| w.pair_fits(contact, &w.agents[a]))
            .collect()
    }

    /// The most urgent waiting contact agent `a` may take, if it beats `bound`.
    fn best_contact_for(
        &self,
        w: &World,
        a: AgentIdx,
        mut bound: Option<ContactEntry>,
    ) -> Option<ContactEntry> {
        let agent = &w.agents[a];
        let mut found = None;
        for &(q, _) in &agent.memberships {
            let qi = &self.queues[q as usize];
            for ch in Channel::ALL {
                let set = &qi.waiting[ch.index()];
                if set.is_empty() || !agent.has_capacity(ch) {
                    continue;
                }
                for &entry in set {
                    if bound.is_some_and(|b| (entry.0, entry.1) >= (b.0, b.1)) {
                        break;
                    }
                    if w.pair_fits(&w.contacts[entry.2], agent) {
                        bound = Some(entry);
                        found = Some(entry);
                        break;
                    }
                }
            }
        }
        found
    }
}

impl IndexedMatcher {
    /// Visits every free-agent set agent `a` belongs to in its current state, with its key.
    /// Called before a change (to remove) and after (to insert), so both see the same sets.
    fn agent_sets(
        &mut self,
        w: &World,
        a: AgentIdx,
        mut f: impl FnMut(&mut BTreeSet<AgentEntry>, AgentEntry),
    ) {
        let agent = &w.agents[a];
        if agent.presence != crate::types::Presence::Available {
            return;
        }
        for &(q, _) in &agent.memberships {
            let key = w.strategy_key(q, a);
            for ch in Channel::ALL {
                if agent.has_capacity(ch) {
                    f(&mut self.queue(q).free[ch.index()], (key.0, key.1, a));
                }
            }
        }
    }
}

impl Matcher for IndexedMatcher {
    fn agent_leaving(&mut self, w: &World, a: AgentIdx) {
        self.agent_sets(w, a, |set, e| {
            set.remove(&e);
        });
    }

    fn agent_entered(&mut self, w: &World, a: AgentIdx) {
        self.agent_sets(w, a, |set, e| {
            set.insert(e);
        });
    }

    fn contact_leaving(&mut self, w: &World, c: ContactIdx) {
        let contact = &w.contacts[c];
        if contact.is_waiting() {
            let (rank, seq) = w.contact_key(c);
            self.queue(contact.queue).waiting[contact.channel.index()].remove(&(rank, seq, c));
        }
    }

    fn contact_entered(&mut self, w: &World, c: ContactIdx) {
        let contact = &w.contacts[c];
        if contact.is_waiting() {
            let (rank, seq) = w.contact_key(c);
            self.queue(contact.queue).waiting[contact.channel.index()].insert((rank, seq, c));
        }
    }

    fn queue_added(&mut self, _w: &World, q: QueueIdx) {
        *self.queue(q) = QueueIndex::default();
    }

    fn next_match(&mut self, w: &World, touched: &Touched) -> Option<Match> {
        // (rank, seq, contact) of the best candidate, and its first agent if already known.
        let mut best: Option<ContactEntry> = None;
        let mut best_agent: Option<AgentIdx> = None;
        for &(c, id) in &touched.contacts {
            let Some(contact) = w.contacts.get(c) else {
                continue;
            };
            if contact.id != id || !contact.is_waiting() {
                continue;
            }
            let key = (contact.rank, contact.seq, c);
            if best.is_some_and(|b| (b.0, b.1) <= (key.0, key.1)) {
                continue;
            }
            if let Some(a) = self.first_agent(w, c) {
                best = Some(key);
                best_agent = Some(a);
            }
        }
        for &(a, id) in &touched.agents {
            let Some(agent) = w.agents.get(a) else {
                continue;
            };
            if agent.id != id || agent.presence != crate::types::Presence::Available {
                continue;
            }
            if let Some(entry) = self.best_contact_for(w, a, best) {
                best = Some(entry);
                best_agent = None;
            }
        }
        let (_, _, c) = best?;
        let contact = &w.contacts[c];
        let agents = if w.queues[contact.queue].config.strategy == Strategy::RingAll {
            self.all_agents(w, c)
        } else {
            vec![best_agent.or_else(|| self.first_agent(w, c))?]
        };
        Some(Match { contact: c, agents })
    }
}
