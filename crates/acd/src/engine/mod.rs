//! The router: inputs (`handle_*`, configuration), outputs (`poll_action`), deadlines
//! (`poll_timeout`, `handle_timeout`). Generic over the matcher so the indexed router and
//! the naive reference share every rule but the search.
//!
//! * this file — the engine's state, its outputs, configuration and queries;
//! * `inputs` — the `handle_*` inputs;
//! * `internals` — bookkeeping shared by the inputs: indexes, offers, timers, matching.

use std::collections::VecDeque;

use crate::action::{Action, WithdrawReason};
use crate::error::RouterError;
use crate::matcher::{Match, Matcher, Touched};
use crate::timer::{Armed, Timer, TimerQueue};
use crate::types::*;
use crate::world::*;

mod inputs;
mod internals;

use internals::validate_queue;

/// Where a contact stands, as reported by [`Engine::contact`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactView {
    Waiting {
        queue: QueueId,
    },
    Offered {
        queue: QueueId,
        agents: Vec<AgentId>,
        expires_at: UnixMillis,
    },
    Connected {
        queue: QueueId,
        agent: AgentId,
        since: UnixMillis,
    },
}

/// Work an agent already had when the router was (re)built, e.g. after a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignment {
    /// Talking / working on the contact since `since`.
    Connected { since: UnixMillis },
    /// In after-call work for the contact since `since`.
    WrapUp { since: UnixMillis },
}

/// Live counts for one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    pub waiting: u32,
    pub offered: u32,
    pub connected: u32,
    /// Earliest `queue_entered_at` among waiting and offered contacts.
    pub oldest_entered_at: Option<UnixMillis>,
}

/// The ACD routing engine. Use [`crate::Router`] (indexed) in production and
/// [`crate::NaiveRouter`] as a reference.
#[derive(Debug, Clone)]
pub struct Engine<M: Matcher> {
    config: RouterConfig,
    w: World,
    m: M,
    timers: TimerQueue,
    actions: VecDeque<Action>,
    now: UnixMillis,
    touched: Touched,
    dirty: Vec<AgentIdx>,
    next_seq: u64,
}

impl<M: Matcher> Default for Engine<M> {
    fn default() -> Self {
        Self::new(RouterConfig::default())
    }
}

impl<M: Matcher> Engine<M> {
    pub fn new(config: RouterConfig) -> Self {
        Engine {
            config,
            w: World {
                seed: config.seed,
                ..World::default()
            },
            m: M::default(),
            timers: TimerQueue::default(),
            actions: VecDeque::new(),
            now: i64::MIN,
            touched: Touched::default(),
            dirty: Vec::new(),
            next_seq: 0,
        }
    }

    /// The same router state under another matcher: e.g. a simulation warmed up with the
    /// indexed router continues with the naive one from exactly the same point.
    pub fn with_matcher<M2: Matcher>(self) -> Engine<M2> {
        let mut m = M2::default();
        for (q, _) in self.w.queues.iter() {
            m.queue_added(&self.w, q);
        }
        for (a, _) in self.w.agents.iter() {
            m.agent_entered(&self.w, a);
        }
        for (c, _) in self.w.contacts.iter() {
            m.contact_entered(&self.w, c);
        }
        Engine {
            config: self.config,
            w: self.w,
            m,
            timers: self.timers,
            actions: self.actions,
            now: self.now,
            touched: self.touched,
            dirty: self.dirty,
            next_seq: self.next_seq,
        }
    }

    // ----- outputs ---------------------------------------------------------------------

    /// The next decision to carry out.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Engine::handle_timeout`] must be called next, if ever.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<UnixMillis> {
        loop {
            let top = *self.timers.peek()?;
            if self.is_live(&top) {
                return Some(top.at);
            }
            self.timers.pop();
        }
    }

    // ----- configuration ---------------------------------------------------------------

    /// Changes the router-wide settings at run time. Every contact keeps its place in the
    /// router (waiting, ringing, connected, in after-call work); waiting and ringing ones
    /// are ranked again under the new priority step, and routing runs at once. The random
    /// strategy's seed is only read at creation and is not changed.
    pub fn set_config(&mut self, now: UnixMillis, config: RouterConfig) {
        self.advance(now);
        if config.priority_step_ms == self.config.priority_step_ms {
            return;
        }
        let contacts: Vec<ContactIdx> = self.w.contacts.iter().map(|(i, _)| i).collect();
        for &c in &contacts {
            self.m.contact_leaving(&self.w, c);
        }
        self.config.priority_step_ms = config.priority_step_ms;
        for &c in &contacts {
            if !matches!(self.w.contacts[c].phase, ContactPhase::Connected { .. }) {
                self.refresh_contact(c);
            }
            self.m.contact_entered(&self.w, c);
            self.touch_contact(c);
        }
        self.finish();
    }

    /// The router-wide settings in force.
    pub fn config(&self) -> RouterConfig {
        self.config
    }

    /// Adds a queue or changes one. Waiting contacts of a changed queue take the new
    /// requirements, priority and max wait at once.
    pub fn upsert_queue(
        &mut self,
        now: UnixMillis,
        config: QueueConfig,
    ) -> Result<(), RouterError> {
        self.advance(now);
        validate_queue(&config)?;
        if let Some(to) = config.overflow {
            if to == config.id {
                return Err(RouterError::InvalidConfig(format!(
                    "queue {} cannot overflow to itself",
                    config.id
                )));
            }
            if !self.w.queue_ids.contains_key(&to) {
                return Err(RouterError::UnknownQueue(to));
            }
        }
        match self.w.queue_ids.get(&config.id) {
            None => {
                let id = config.id;
                let q = self.w.queues.insert(QueueState {
                    config,
                    rr_cursor: None,
                    members: Vec::new(),
                });
                self.w.queue_ids.insert(id, q);
                self.m.queue_added(&self.w, q);
            }
            Some(&q) => {
                let members = self.w.queues[q].members.clone();
                for &a in &members {
                    self.m.agent_leaving(&self.w, a);
                }
                let contacts: Vec<ContactIdx> = self
                    .w
                    .contacts
                    .iter()
                    .filter(|(_, c)| c.queue == q)
                    .map(|(i, _)| i)
                    .collect();
                for &c in &contacts {
                    self.m.contact_leaving(&self.w, c);
                }
                let queue = &mut self.w.queues[q];
                if queue.config.strategy != config.strategy {
                    queue.rr_cursor = None;
                }
                queue.config = config;
                for &c in &contacts {
                    if !matches!(self.w.contacts[c].phase, ContactPhase::Connected { .. }) {
                        self.refresh_contact(c);
                    }
                    self.m.contact_entered(&self.w, c);
                    self.touch_contact(c);
                }
                for &a in &members {
                    self.m.agent_entered(&self.w, a);
                }
            }
        }
        self.finish();
        Ok(())
    }

    /// Removes a queue that has no members, no contacts and is nobody's overflow target.
    pub fn remove_queue(&mut self, now: UnixMillis, id: QueueId) -> Result<(), RouterError> {
        self.advance(now);
        let q = self.queue_idx(id)?;
        let in_use = !self.w.queues[q].members.is_empty()
            || self.w.contacts.iter().any(|(_, c)| c.queue == q)
            || self
                .w
                .agents
                .iter()
                .any(|(_, a)| a.slots.iter().any(|s| s.queue == q))
            || self
                .w
                .queues
                .iter()
                .any(|(_, other)| other.config.overflow == Some(id));
        if in_use {
            return Err(RouterError::QueueInUse(id));
        }
        self.w.queues.remove(q);
        self.w.queue_ids.remove(&id);
        Ok(())
    }

    /// Adds an agent (offline) or changes one's skills, capacity and queues. Offers from
    /// queues the agent no longer serves are withdrawn.
    pub fn upsert_agent(
        &mut self,
        now: UnixMillis,
        config: AgentConfig,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let mut skills = config.skills.clone();
        skills.sort_by_key(|s| s.0);
        for w in skills.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(RouterError::InvalidConfig(format!(
                    "skill {} listed twice",
                    w[0].0
                )));
            }
        }
        if let Some(&(s, l)) = skills.iter().find(|s| s.1 == 0 || s.1 > MAX_PROFICIENCY) {
            return Err(RouterError::InvalidConfig(format!(
                "skill {s}: proficiency {l} is outside 1..={MAX_PROFICIENCY}"
            )));
        }
        let mut memberships = Vec::with_capacity(config.queues.len());
        for m in &config.queues {
            memberships.push((self.queue_idx(m.queue)?, m.position));
        }
        memberships.sort_by_key(|m| m.0);
        for w in memberships.windows(2) {
            if w[0].0 == w[1].0 {
                let id = self.w.queues[w[0].0].config.id;
                return Err(RouterError::InvalidConfig(format!(
                    "queue {id} listed twice"
                )));
            }
        }

        let a = match self.w.agent_ids.get(&config.id) {
            Some(&a) => {
                // Offers from queues the agent leaves are taken back first.
                let leaving_offers: Vec<ContactId> = self.w.agents[a]
                    .slots
                    .iter()
                    .filter(|s| s.phase == SlotPhase::Offered)
                    .filter(|s| memberships.binary_search_by_key(&s.queue, |m| m.0).is_err())
                    .map(|s| s.contact)
                    .collect();
                self.unseat_agent(a, config.id, leaving_offers);
                let agent = &mut self.w.agents[a];
                agent.skills = skills;
                agent.capacity = config.capacity;
                agent.memberships = memberships;
                a
            }
            None => {
                let a = self.w.agents.insert(AgentState {
                    id: config.id,
                    skills,
                    capacity: config.capacity,
                    memberships,
                    presence: Presence::Offline,
                    slots: Vec::new(),
                    idle_since: self.now,
                    handled: 0,
                    talk_ms: 0,
                    missed_in_row: 0,
                    reported: AgentStatus::Offline,
                });
                self.w.agent_ids.insert(config.id, a);
                a
            }
        };
        for i in 0..self.w.agents[a].memberships.len() {
            let q = self.w.agents[a].memberships[i].0;
            self.w.queues[q].members.push(a);
        }
        self.m.agent_entered(&self.w, a);
        self.touch_agent(a);
        self.mark_dirty(a);
        self.finish();
        Ok(())
    }

    /// Removes an agent who holds no connected contact or after-call work. Ringing offers
    /// are withdrawn and their contacts requeued.
    pub fn remove_agent(&mut self, now: UnixMillis, id: AgentId) -> Result<(), RouterError> {
        self.advance(now);
        let a = self.agent_idx(id)?;
        if self.w.agents[a]
            .slots
            .iter()
            .any(|s| s.phase != SlotPhase::Offered)
        {
            return Err(RouterError::AgentBusy(id));
        }
        let offered: Vec<ContactId> = self.w.agents[a].slots.iter().map(|s| s.contact).collect();
        self.unseat_agent(a, id, offered);
        self.w.agents.remove(a);
        self.w.agent_ids.remove(&id);
        self.dirty.retain(|&x| x != a);
        self.touched.agents.retain(|&(x, _)| x != a);
        self.finish();
        Ok(())
    }

    /// Restores the counters strategies rank by (after a restart).
    pub fn set_agent_stats(
        &mut self,
        now: UnixMillis,
        id: AgentId,
        stats: AgentStats,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let a = self.agent_idx(id)?;
        self.m.agent_leaving(&self.w, a);
        let agent = &mut self.w.agents[a];
        agent.handled = stats.handled;
        agent.talk_ms = stats.talk_ms;
        if let Some(t) = stats.idle_since {
            agent.idle_since = t;
        }
        self.m.agent_entered(&self.w, a);
        Ok(())
    }

    // ----- queries ---------------------------------------------------------------------

    pub fn agent_status(&self, id: AgentId) -> Option<AgentStatus> {
        self.w
            .agent_ids
            .get(&id)
            .map(|&a| self.w.agents[a].status())
    }

    pub fn agent_presence(&self, id: AgentId) -> Option<Presence> {
        self.w
            .agent_ids
            .get(&id)
            .map(|&a| self.w.agents[a].presence)
    }

    pub fn contact(&self, id: ContactId) -> Option<ContactView> {
        let c = &self.w.contacts[*self.w.contact_ids.get(&id)?];
        let queue = self.w.queues[c.queue].config.id;
        Some(match &c.phase {
            ContactPhase::Waiting => ContactView::Waiting { queue },
            ContactPhase::Offered { agents, expires_at } => ContactView::Offered {
                queue,
                agents: agents.iter().map(|&a| self.w.agents[a].id).collect(),
                expires_at: *expires_at,
            },
            ContactPhase::Connected { agent, since } => ContactView::Connected {
                queue,
                agent: self.w.agents[*agent].id,
                since: *since,
            },
        })
    }

    /// Live counts per queue (one pass over the contacts in the router).
    pub fn queue_snapshots(&self) -> Vec<(QueueId, QueueSnapshot)> {
        let mut out: Vec<QueueSnapshot> =
            vec![QueueSnapshot::default(); self.w.queues.capacity_hint()];
        for (_, c) in self.w.contacts.iter() {
            let s = &mut out[c.queue as usize];
            match c.phase {
                ContactPhase::Waiting => s.waiting += 1,
                ContactPhase::Offered { .. } => s.offered += 1,
                ContactPhase::Connected { .. } => {
                    s.connected += 1;
                    continue;
                }
            }
            s.oldest_entered_at = Some(
                s.oldest_entered_at
                    .map_or(c.queue_entered_at, |t| t.min(c.queue_entered_at)),
            );
        }
        self.w
            .queues
            .iter()
            .map(|(q, queue)| (queue.config.id, out[q as usize]))
            .collect()
    }

    /// A waiting or offered contact's place in its queue by the routing rule itself: 1 +
    /// the contacts of the same queue, waiting or offered, that rank before it
    /// (priority-weighted arrival, then arrival order). None when the router does not have
    /// it waiting or offered. O(contacts in the router).
    pub fn queue_position(&self, id: ContactId) -> Option<u32> {
        let &c = self.w.contact_ids.get(&id)?;
        let me = &self.w.contacts[c];
        if matches!(me.phase, ContactPhase::Connected { .. }) {
            return None;
        }
        let key = self.w.contact_key(c);
        let ahead = self
            .w
            .contacts
            .iter()
            .filter(|(i, x)| {
                x.queue == me.queue
                    && !matches!(x.phase, ContactPhase::Connected { .. })
                    && self.w.contact_key(*i) < key
            })
            .count();
        Some(ahead as u32 + 1)
    }

    pub fn contact_count(&self) -> usize {
        self.w.contact_ids.len()
    }

    pub fn agent_count(&self) -> usize {
        self.w.agent_ids.len()
    }

    /// True if some waiting contact could be offered to some free agent right now. After
    /// every input this is false; tests use it to check that nothing was left unrouted.
    pub fn has_eligible_pair(&self) -> bool {
        self.w
            .contacts
            .iter()
            .any(|(c, _)| self.w.agents.iter().any(|(a, _)| self.w.eligible(c, a)))
    }
}
