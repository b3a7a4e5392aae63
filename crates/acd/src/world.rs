//! The router's state: queues, agents with their work slots, waiting and offered contacts.
//!
//! Both routers (the indexed one and the naive reference) share this state and every rule
//! about it: who is eligible for what, how agents are ranked by a strategy, how contacts are
//! ranked by priority and age. They differ only in how they *find* the next match
//! (see `matcher`). Entities live in slabs addressed by dense `u32` indices; the public ids
//! map to them through hash maps.

use rustc_hash::FxHashMap;

use crate::types::*;

pub type AgentIdx = u32;
pub type ContactIdx = u32;
pub type QueueIdx = u32;

/// A growable arena with index reuse.
#[derive(Debug, Clone)]
pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn insert(&mut self, value: T) -> u32 {
        if let Some(i) = self.free.pop() {
            self.items[i as usize] = Some(value);
            i
        } else {
            self.items.push(Some(value));
            (self.items.len() - 1) as u32
        }
    }

    pub(crate) fn remove(&mut self, i: u32) -> Option<T> {
        let v = self.items.get_mut(i as usize)?.take();
        if v.is_some() {
            self.free.push(i);
        }
        v
    }

    pub(crate) fn get(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.items.get_mut(i as usize)?.as_mut()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i as u32, v)))
    }

    pub(crate) fn capacity_hint(&self) -> usize {
        self.items.len()
    }
}

impl<T> std::ops::Index<u32> for Slab<T> {
    type Output = T;
    fn index(&self, i: u32) -> &T {
        self.items[i as usize].as_ref().expect("live slab index")
    }
}

impl<T> std::ops::IndexMut<u32> for Slab<T> {
    fn index_mut(&mut self, i: u32) -> &mut T {
        self.items[i as usize].as_mut().expect("live slab index")
    }
}

#[derive(Debug, Clone)]
pub struct QueueState {
    pub(crate) config: QueueConfig,
    /// Strategy key of the agent offered last in this queue (round-robin continues after it).
    pub(crate) rr_cursor: Option<(u64, u64)>,
    pub(crate) members: Vec<AgentIdx>,
}

/// What an agent's slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotPhase {
    Offered,
    Connected {
        since: UnixMillis,
    },
    /// After-call work; `timer` is the sequence number of the armed wrap-up timer (0: none).
    WrapUp {
        timer: u64,
    },
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) contact: ContactId,
    pub(crate) channel: Channel,
    pub(crate) queue: QueueIdx,
    pub(crate) phase: SlotPhase,
}

#[derive(Debug, Clone)]
pub struct AgentState {
    pub(crate) id: AgentId,
    /// Sorted by skill id.
    pub(crate) skills: Vec<(SkillId, u8)>,
    pub(crate) capacity: Capacity,
    /// (queue, position) sorted by queue index.
    pub(crate) memberships: Vec<(QueueIdx, u32)>,
    pub(crate) presence: Presence,
    pub(crate) slots: Vec<Slot>,
    pub(crate) idle_since: UnixMillis,
    pub(crate) handled: u64,
    pub(crate) talk_ms: i64,
    pub(crate) missed_in_row: u32,
    /// Last status reported through `Action::AgentStatus`.
    pub(crate) reported: AgentStatus,
}

impl AgentState {
    pub(crate) fn level(&self, skill: SkillId) -> u8 {
        match self.skills.binary_search_by_key(&skill, |s| s.0) {
            Ok(i) => self.skills[i].1,
            Err(_) => 0,
        }
    }

    /// Can this agent hold one more contact on `channel` (ignoring presence)?
    pub(crate) fn has_capacity(&self, channel: Channel) -> bool {
        let cap = self.capacity.get(channel);
        if cap == 0 {
            return false;
        }
        if channel == Channel::Voice {
            return self.slots.is_empty();
        }
        let mut used = 0u8;
        for s in &self.slots {
            if s.channel == Channel::Voice {
                return false;
            }
            if s.channel == channel {
                used += 1;
            }
        }
        used < cap
    }

    /// Free for `channel`: ready and with room.
    pub(crate) fn is_free_for(&self, channel: Channel) -> bool {
        self.presence == Presence::Available && self.has_capacity(channel)
    }

    pub(crate) fn is_member(&self, q: QueueIdx) -> Option<u32> {
        self.memberships
            .binary_search_by_key(&q, |m| m.0)
            .ok()
            .map(|i| self.memberships[i].1)
    }

    pub(crate) fn status(&self) -> AgentStatus {
        let mut offered = false;
        let mut busy = false;
        let mut acw = false;
        for s in &self.slots {
            match s.phase {
                SlotPhase::Offered => offered = true,
                SlotPhase::Connected { .. } => busy = true,
                SlotPhase::WrapUp { .. } => acw = true,
            }
        }
        if offered {
            AgentStatus::Offered
        } else if busy {
            AgentStatus::Busy
        } else if acw {
            AgentStatus::AfterCallWork
        } else {
            match self.presence {
                Presence::Offline => AgentStatus::Offline,
                Presence::Available => AgentStatus::Available,
                Presence::NotReady => AgentStatus::NotReady,
            }
        }
    }

    pub(crate) fn slot_of(&self, contact: ContactId) -> Option<usize> {
        self.slots.iter().position(|s| s.contact == contact)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ContactPhase {
    Waiting,
    Offered {
        agents: Vec<AgentIdx>,
        expires_at: UnixMillis,
    },
    Connected {
        agent: AgentIdx,
        since: UnixMillis,
    },
}

#[derive(Debug, Clone)]
pub struct ContactState {
    pub(crate) id: ContactId,
    pub(crate) queue: QueueIdx,
    pub(crate) channel: Channel,
    pub(crate) priority: i32,
    /// The contact's own requirements (kept across overflow).
    pub(crate) own_requirements: Vec<SkillRequirement>,
    /// Queue requirements merged with the contact's own.
    pub(crate) requirements: Vec<SkillRequirement>,
    /// Current minimum levels (only those above 0), sorted by skill.
    pub(crate) levels: Vec<(SkillId, u8)>,
    pub(crate) arrived_at: UnixMillis,
    pub(crate) queue_entered_at: UnixMillis,
    /// Priority-weighted arrival: lower is more urgent.
    pub(crate) rank: i64,
    /// Arrival order in the router; breaks rank ties.
    pub(crate) seq: u64,
    pub(crate) phase: ContactPhase,
    /// Agents who rejected or missed this contact in its current queue: not offered again.
    pub(crate) excluded: Vec<AgentId>,
    /// Max wait passed while an offer was ringing: overflow when it comes back.
    pub(crate) max_wait_due: bool,
    /// Sequence numbers of the armed timers (0: none).
    pub(crate) offer_timer: u64,
    pub(crate) relax_timer: u64,
    pub(crate) wait_timer: u64,
}

impl ContactState {
    pub(crate) fn is_waiting(&self) -> bool {
        matches!(self.phase, ContactPhase::Waiting)
    }
}

/// Everything the router knows.
#[derive(Debug, Default, Clone)]
pub struct World {
    pub(crate) queues: Slab<QueueState>,
    pub(crate) agents: Slab<AgentState>,
    pub(crate) contacts: Slab<ContactState>,
    pub(crate) queue_ids: FxHashMap<QueueId, QueueIdx>,
    pub(crate) agent_ids: FxHashMap<AgentId, AgentIdx>,
    pub(crate) contact_ids: FxHashMap<ContactId, ContactIdx>,
    /// Seed of the random strategy, and a counter of offers made so that each random
    /// choice draws afresh.
    pub(crate) seed: u64,
    pub(crate) offers_made: u64,
}

/// Order-preserving map of a signed value into unsigned key space.
pub(crate) fn ord_i64(x: i64) -> u64 {
    (x as u64) ^ (1 << 63)
}

/// splitmix64: a tiny, well-distributed mixer for the random strategy's tickets.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl World {
    /// The key by which `queue`'s strategy orders agent `a` (smaller first); the agent id is
    /// the tie-breaker. Ring-all and random order by id only here: random draws its own key
    /// per decision ([`World::random_key`]).
    pub(crate) fn strategy_key(&self, q: QueueIdx, a: AgentIdx) -> (u64, u64) {
        let agent = &self.agents[a];
        let primary = match self.queues[q].config.strategy {
            Strategy::LongestIdle => ord_i64(agent.idle_since),
            Strategy::RoundRobin | Strategy::Ordered => {
                u64::from(agent.is_member(q).unwrap_or(u32::MAX))
            }
            Strategy::FewestContacts => agent.handled,
            Strategy::LeastTalkTime => ord_i64(agent.talk_ms),
            Strategy::Random | Strategy::RingAll => 0,
        };
        (primary, agent.id.0)
    }

    /// A fresh pseudo-random key for agent `a` in the next decision: the random strategy
    /// picks the eligible agent with the smallest one, so every eligible agent is equally
    /// likely each time.
    pub(crate) fn random_key(&self, a: AgentIdx) -> (u64, u64) {
        let id = self.agents[a].id.0;
        (mix64(self.seed ^ mix64(id ^ mix64(self.offers_made))), id)
    }

    /// Skills and exclusions: the parts of eligibility that depend on the pair.
    pub(crate) fn pair_fits(&self, c: &ContactState, a: &AgentState) -> bool {
        c.levels.iter().all(|&(skill, min)| a.level(skill) >= min) && !c.excluded.contains(&a.id)
    }

    /// The full eligibility rule: may contact `c` be offered to agent `a` right now?
    pub(crate) fn eligible(&self, c: ContactIdx, a: AgentIdx) -> bool {
        let contact = &self.contacts[c];
        let agent = &self.agents[a];
        contact.is_waiting()
            && agent.is_free_for(contact.channel)
            && agent.is_member(contact.queue).is_some()
            && self.pair_fits(contact, agent)
    }

    pub(crate) fn contact_key(&self, c: ContactIdx) -> (i64, u64) {
        let contact = &self.contacts[c];
        (contact.rank, contact.seq)
    }
}
