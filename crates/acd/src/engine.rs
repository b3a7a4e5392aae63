//! The router: inputs (`handle_*`, configuration), outputs (`poll_action`), deadlines
//! (`poll_timeout`, `handle_timeout`). Generic over the matcher so the indexed router and
//! the naive reference share every rule but the search.

use std::collections::VecDeque;

use crate::action::{Action, WithdrawReason};
use crate::error::RouterError;
use crate::matcher::{Match, Matcher, Touched};
use crate::timer::{Armed, Timer, TimerQueue};
use crate::types::*;
use crate::world::*;

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
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Engine::handle_timeout`] must be called next, if ever.
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
                for contact in leaving_offers {
                    let c = self.w.contact_ids[&contact];
                    self.push(Action::OfferWithdrawn {
                        contact,
                        agent: config.id,
                        reason: WithdrawReason::AgentReconfigured,
                    });
                    if self.take_back_offer(c, a) {
                        self.requeue(c);
                    }
                }
                self.m.agent_leaving(&self.w, a);
                for &(q, _) in &self.w.agents[a].memberships {
                    self.w.queues[q].members.retain(|&x| x != a);
                }
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
        for contact in offered {
            let c = self.w.contact_ids[&contact];
            self.push(Action::OfferWithdrawn {
                contact,
                agent: id,
                reason: WithdrawReason::AgentReconfigured,
            });
            if self.take_back_offer(c, a) {
                self.requeue(c);
            }
        }
        self.m.agent_leaving(&self.w, a);
        for &(q, _) in &self.w.agents[a].memberships {
            self.w.queues[q].members.retain(|&x| x != a);
        }
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

    // ----- inputs ----------------------------------------------------------------------

    /// The agent became available, not-ready or offline. Leaving "available" withdraws the
    /// offers still ringing for them (their contacts wait again, at the front).
    pub fn handle_presence(
        &mut self,
        now: UnixMillis,
        id: AgentId,
        presence: Presence,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let a = self.agent_idx(id)?;
        if self.w.agents[a].presence != presence {
            self.m.agent_leaving(&self.w, a);
            let agent = &mut self.w.agents[a];
            agent.presence = presence;
            if presence == Presence::Available {
                agent.idle_since = self.now;
                agent.missed_in_row = 0;
            }
            self.m.agent_entered(&self.w, a);
            self.mark_dirty(a);
            if presence == Presence::Available {
                self.touch_agent(a);
            } else {
                self.withdraw_all_offers(a, WithdrawReason::AgentUnavailable);
            }
        }
        self.finish();
        Ok(())
    }

    /// A contact enters the ACD (or re-enters it after a restart, with its original times).
    pub fn handle_contact_arrived(
        &mut self,
        now: UnixMillis,
        spec: ContactSpec,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let c = self.insert_contact(&spec, ContactPhase::Waiting)?;
        self.refresh_contact(c);
        self.m.contact_entered(&self.w, c);
        self.touch_contact(c);
        self.finish();
        Ok(())
    }

    /// Puts back work an agent already had (after a restart) without routing it.
    pub fn restore_assignment(
        &mut self,
        now: UnixMillis,
        spec: ContactSpec,
        agent: AgentId,
        assignment: Assignment,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let a = self.agent_idx(agent)?;
        let q = self.queue_idx(spec.queue)?;
        if self.w.agents[a].slot_of(spec.id).is_some() || self.w.contact_ids.contains_key(&spec.id)
        {
            return Err(RouterError::DuplicateContact(spec.id));
        }
        let phase = match assignment {
            Assignment::Connected { since } => {
                self.insert_contact(&spec, ContactPhase::Connected { agent: a, since })?;
                SlotPhase::Connected { since }
            }
            Assignment::WrapUp { since } => match self.w.queues[q].config.wrap_up_ms {
                Some(0) => return Ok(()),
                Some(ms) => SlotPhase::WrapUp {
                    timer: self.timers.arm(
                        since + ms,
                        Timer::WrapUp {
                            agent,
                            contact: spec.id,
                        },
                    ),
                },
                None => SlotPhase::WrapUp { timer: 0 },
            },
        };
        self.m.agent_leaving(&self.w, a);
        self.w.agents[a].slots.push(Slot {
            contact: spec.id,
            channel: spec.channel,
            queue: q,
            phase,
        });
        self.m.agent_entered(&self.w, a);
        self.mark_dirty(a);
        self.finish();
        Ok(())
    }

    /// The agent answered the offer. With ring-all the other offers are withdrawn.
    pub fn handle_offer_accepted(
        &mut self,
        now: UnixMillis,
        contact: ContactId,
        agent: AgentId,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let (c, a) = self.offered_pair(contact, agent)?;
        let ContactPhase::Offered { agents, .. } = &self.w.contacts[c].phase else {
            unreachable!()
        };
        let others: Vec<AgentIdx> = agents.iter().copied().filter(|&x| x != a).collect();

        self.m.agent_leaving(&self.w, a);
        let ag = &mut self.w.agents[a];
        let i = ag.slot_of(contact).expect("offered slot");
        ag.slots[i].phase = SlotPhase::Connected { since: self.now };
        ag.handled += 1;
        ag.missed_in_row = 0;
        self.m.agent_entered(&self.w, a);
        self.mark_dirty(a);

        let ct = &mut self.w.contacts[c];
        ct.phase = ContactPhase::Connected {
            agent: a,
            since: self.now,
        };
        ct.offer_timer = 0;
        ct.relax_timer = 0;
        ct.wait_timer = 0;
        ct.max_wait_due = false;
        self.withdraw_offers(contact, others, WithdrawReason::AcceptedElsewhere);
        self.finish();
        Ok(())
    }

    /// The agent declined the offer. The contact is not offered to that agent again while
    /// it stays in this queue; it waits again at the front unless other offers still ring.
    pub fn handle_offer_rejected(
        &mut self,
        now: UnixMillis,
        contact: ContactId,
        agent: AgentId,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let (c, a) = self.offered_pair(contact, agent)?;
        self.w.contacts[c].excluded.push(agent);
        if self.take_back_offer(c, a) {
            self.requeue(c);
        }
        self.finish();
        Ok(())
    }

    /// The contact is over: the customer hung up or abandoned, the task was closed. A
    /// connected contact puts its agent into after-call work per the queue's wrap-up time.
    pub fn handle_contact_ended(
        &mut self,
        now: UnixMillis,
        contact: ContactId,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let c = self.contact_idx(contact)?;
        match self.w.contacts[c].phase.clone() {
            ContactPhase::Waiting => self.m.contact_leaving(&self.w, c),
            ContactPhase::Offered { agents, .. } => {
                self.withdraw_offers(contact, agents, WithdrawReason::ContactEnded)
            }
            ContactPhase::Connected { agent: a, since } => {
                let q = self.w.contacts[c].queue;
                let wrap = self.w.queues[q].config.wrap_up_ms;
                let agent = self.w.agents[a].id;
                self.m.agent_leaving(&self.w, a);
                let ag = &mut self.w.agents[a];
                ag.talk_ms += (self.now - since).max(0);
                let i = ag.slot_of(contact).expect("connected slot");
                match wrap {
                    Some(0) => {
                        ag.slots.remove(i);
                        ag.idle_since = self.now;
                        self.touch_agent(a);
                    }
                    Some(ms) => {
                        let timer = self
                            .timers
                            .arm(self.now + ms, Timer::WrapUp { agent, contact });
                        self.w.agents[a].slots[i].phase = SlotPhase::WrapUp { timer };
                    }
                    None => ag.slots[i].phase = SlotPhase::WrapUp { timer: 0 },
                }
                self.m.agent_entered(&self.w, a);
                self.mark_dirty(a);
            }
        }
        self.remove_contact(c);
        self.finish();
        Ok(())
    }

    /// The contact ended before its agent and customer ever talked: the customer hung up in
    /// the instant between the agent's answer and the connection. The agent is freed at
    /// once, without after-call work, and the contact does not count as handled by them.
    pub fn handle_connect_failed(
        &mut self,
        now: UnixMillis,
        contact: ContactId,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let c = self.contact_idx(contact)?;
        let ContactPhase::Connected { agent: a, .. } = self.w.contacts[c].phase.clone() else {
            return Err(RouterError::NotConnected(contact));
        };
        // The handled count is a strategy key: change it only while the agent is out of
        // the index.
        self.m.agent_leaving(&self.w, a);
        let ag = &mut self.w.agents[a];
        ag.handled = ag.handled.saturating_sub(1);
        self.m.agent_entered(&self.w, a);
        self.release_work_slot(a, contact);
        self.remove_contact(c);
        self.finish();
        Ok(())
    }

    /// Moves the contact to another queue, keeping its original arrival time (so it is not
    /// put behind contacts that came later). A connected contact's agent is freed at once
    /// (no after-call work for the transferring agent) and is not offered it back; ringing
    /// offers are withdrawn.
    pub fn handle_transfer(
        &mut self,
        now: UnixMillis,
        contact: ContactId,
        to: QueueId,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let c = self.contact_idx(contact)?;
        let target = self.queue_idx(to)?;
        let mut handed_over_by = None;
        match self.w.contacts[c].phase.clone() {
            ContactPhase::Waiting => self.m.contact_leaving(&self.w, c),
            ContactPhase::Offered { agents, .. } => {
                self.withdraw_offers(contact, agents, WithdrawReason::Transferred)
            }
            ContactPhase::Connected { agent: a, since } => {
                // Talk time is a strategy key: change it only while the agent is out of the index.
                self.m.agent_leaving(&self.w, a);
                self.w.agents[a].talk_ms += (self.now - since).max(0);
                self.m.agent_entered(&self.w, a);
                self.release_work_slot(a, contact);
                handed_over_by = Some(self.w.agents[a].id);
            }
        }
        let ct = &mut self.w.contacts[c];
        ct.queue = target;
        ct.queue_entered_at = self.now;
        ct.phase = ContactPhase::Waiting;
        ct.excluded.clear();
        ct.excluded.extend(handed_over_by);
        ct.max_wait_due = false;
        ct.offer_timer = 0;
        self.refresh_contact(c);
        self.m.contact_entered(&self.w, c);
        self.touch_contact(c);
        self.finish();
        Ok(())
    }

    /// Hands a connected contact to another agent (a transfer the agents arranged on their
    /// phones): the first agent is freed at once, without after-call work, like any
    /// transfer; the second is connected from now. The second agent's capacity is not
    /// checked: they already have the customer on the line.
    pub fn handle_handover(
        &mut self,
        now: UnixMillis,
        contact: ContactId,
        to: AgentId,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let c = self.contact_idx(contact)?;
        let b = self.agent_idx(to)?;
        let ContactPhase::Connected { agent: a, since } = self.w.contacts[c].phase.clone() else {
            return Err(RouterError::NotConnected(contact));
        };
        if a != b {
            self.m.agent_leaving(&self.w, a);
            self.w.agents[a].talk_ms += (self.now - since).max(0);
            self.m.agent_entered(&self.w, a);
            self.release_work_slot(a, contact);
            self.connect_slot(c, b);
        }
        self.finish();
        Ok(())
    }

    /// Gives a new contact straight to an agent, connected from now, without queueing (an
    /// outbound call the agent places). The agent must be signed in (available or not
    /// ready) with room on the contact's channel.
    pub fn handle_direct_assign(
        &mut self,
        now: UnixMillis,
        spec: ContactSpec,
        agent: AgentId,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let a = self.agent_idx(agent)?;
        let ag = &self.w.agents[a];
        if ag.presence == Presence::Offline || !ag.has_capacity(spec.channel) {
            return Err(RouterError::AgentBusy(agent));
        }
        let c = self.insert_contact(&spec, ContactPhase::Waiting)?;
        self.refresh_contact(c);
        self.connect_slot(c, a);
        self.finish();
        Ok(())
    }

    /// Connects contact `c` to agent `b` in a new work slot.
    fn connect_slot(&mut self, c: ContactIdx, b: AgentIdx) {
        let (contact, channel, queue) = {
            let ct = &self.w.contacts[c];
            (ct.id, ct.channel, ct.queue)
        };
        self.m.agent_leaving(&self.w, b);
        let ag = &mut self.w.agents[b];
        ag.slots.push(Slot {
            contact,
            channel,
            queue,
            phase: SlotPhase::Connected { since: self.now },
        });
        ag.handled += 1;
        self.m.agent_entered(&self.w, b);
        self.mark_dirty(b);
        let ct = &mut self.w.contacts[c];
        ct.phase = ContactPhase::Connected {
            agent: b,
            since: self.now,
        };
        ct.offer_timer = 0;
        ct.relax_timer = 0;
        ct.wait_timer = 0;
        ct.max_wait_due = false;
    }

    /// The agent finished after-call work for the contact.
    pub fn handle_wrap_up_done(
        &mut self,
        now: UnixMillis,
        agent: AgentId,
        contact: ContactId,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let a = self.agent_idx(agent)?;
        let in_wrap_up = self.w.agents[a]
            .slot_of(contact)
            .is_some_and(|i| matches!(self.w.agents[a].slots[i].phase, SlotPhase::WrapUp { .. }));
        if !in_wrap_up {
            return Err(RouterError::NotInWrapUp { contact, agent });
        }
        self.release_work_slot(a, contact);
        self.finish();
        Ok(())
    }

    /// Fires every deadline up to `now`, each at its own time, routing after each.
    pub fn handle_timeout(&mut self, now: UnixMillis) {
        while let Some(&top) = self.timers.peek() {
            if top.at > now {
                break;
            }
            self.timers.pop();
            if !self.is_live(&top) {
                continue;
            }
            self.advance(top.at);
            self.fire(top.timer);
            self.finish();
        }
        // Stale timers are not purged eagerly: each is dropped when its own deadline comes,
        // so the heap stays bounded by arming rate × longest horizon without a latency spike.
        self.advance(now);
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

    // ----- internals -------------------------------------------------------------------

    fn advance(&mut self, now: UnixMillis) {
        // Time never runs backwards inside the router, whatever the caller's clock does.
        self.now = self.now.max(now);
    }

    fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    fn queue_idx(&self, id: QueueId) -> Result<QueueIdx, RouterError> {
        self.w
            .queue_ids
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownQueue(id))
    }

    fn agent_idx(&self, id: AgentId) -> Result<AgentIdx, RouterError> {
        self.w
            .agent_ids
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownAgent(id))
    }

    fn contact_idx(&self, id: ContactId) -> Result<ContactIdx, RouterError> {
        self.w
            .contact_ids
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownContact(id))
    }

    fn offered_pair(
        &self,
        contact: ContactId,
        agent: AgentId,
    ) -> Result<(ContactIdx, AgentIdx), RouterError> {
        let c = self.contact_idx(contact)?;
        let a = self.agent_idx(agent)?;
        match &self.w.contacts[c].phase {
            ContactPhase::Offered { agents, .. } if agents.contains(&a) => Ok((c, a)),
            _ => Err(RouterError::NotOffered { contact, agent }),
        }
    }

    fn touch_contact(&mut self, c: ContactIdx) {
        let id = self.w.contacts[c].id;
        self.touched.contacts.push((c, id));
    }

    fn touch_agent(&mut self, a: AgentIdx) {
        let id = self.w.agents[a].id;
        if !self.touched.agents.iter().any(|&(x, _)| x == a) {
            self.touched.agents.push((a, id));
        }
    }

    fn mark_dirty(&mut self, a: AgentIdx) {
        if !self.dirty.contains(&a) {
            self.dirty.push(a);
        }
    }

    fn insert_contact(
        &mut self,
        spec: &ContactSpec,
        phase: ContactPhase,
    ) -> Result<ContactIdx, RouterError> {
        if self.w.contact_ids.contains_key(&spec.id) {
            return Err(RouterError::DuplicateContact(spec.id));
        }
        let q = self.queue_idx(spec.queue)?;
        for r in &spec.requirements {
            r.validate().map_err(RouterError::InvalidConfig)?;
        }
        self.next_seq += 1;
        let c = self.w.contacts.insert(ContactState {
            id: spec.id,
            queue: q,
            channel: spec.channel,
            priority: spec.priority,
            own_requirements: spec.requirements.clone(),
            requirements: Vec::new(),
            levels: Vec::new(),
            arrived_at: spec.arrived_at,
            queue_entered_at: spec.queue_entered_at,
            rank: spec.arrived_at,
            seq: self.next_seq,
            phase,
            excluded: Vec::new(),
            max_wait_due: false,
            offer_timer: 0,
            relax_timer: 0,
            wait_timer: 0,
        });
        self.w.contact_ids.insert(spec.id, c);
        Ok(c)
    }

    fn remove_contact(&mut self, c: ContactIdx) {
        if let Some(contact) = self.w.contacts.remove(c) {
            self.w.contact_ids.remove(&contact.id);
            self.touched.contacts.retain(|&(x, _)| x != c);
        }
    }

    /// Recomputes requirements, rank, current levels and the relax / max-wait timers from
    /// the contact's queue. The caller brackets it with the matcher if the contact waits.
    fn refresh_contact(&mut self, c: ContactIdx) {
        let step = self.config.priority_step_ms;
        let contact = &self.w.contacts[c];
        let queue = &self.w.queues[contact.queue].config;
        let mut reqs = queue.requirements.clone();
        for own in &contact.own_requirements {
            match reqs.iter_mut().find(|r| r.skill == own.skill) {
                Some(r) => *r = own.clone(),
                None => reqs.push(own.clone()),
            }
        }
        reqs.sort_by_key(|r| r.skill);
        let weight = (i64::from(queue.priority) + i64::from(contact.priority)).saturating_mul(step);
        let rank = contact.arrived_at.saturating_sub(weight);
        let wait_deadline = queue.max_wait_ms.map(|ms| contact.queue_entered_at + ms);
        let id = contact.id;
        let wait_timer = match wait_deadline {
            Some(at) => self.timers.arm(at, Timer::MaxWait { contact: id }),
            None => 0,
        };
        let contact = &mut self.w.contacts[c];
        contact.requirements = reqs;
        contact.rank = rank;
        contact.wait_timer = wait_timer;
        self.update_levels(c);
    }

    /// Current minimum levels from the time waited in the queue; arms the next relaxation.
    fn update_levels(&mut self, c: ContactIdx) {
        let contact = &self.w.contacts[c];
        let waited = self.now - contact.queue_entered_at;
        let mut levels = Vec::with_capacity(contact.requirements.len());
        let mut next: Option<i64> = None;
        for r in &contact.requirements {
            let (level, next_step) = r.level_at(waited);
            if level > 0 {
                levels.push((r.skill, level));
            }
            if let Some(n) = next_step {
                next = Some(next.map_or(n, |x| x.min(n)));
            }
        }
        let entered = contact.queue_entered_at;
        let id = contact.id;
        let relax_timer = match next {
            Some(n) => self.timers.arm(entered + n, Timer::Relax { contact: id }),
            None => 0,
        };
        let contact = &mut self.w.contacts[c];
        contact.levels = levels;
        contact.relax_timer = relax_timer;
    }

    /// Takes agent `a`'s ringing offer of contact `c` back (no action emitted). Returns
    /// true if no other offer of `c` still rings.
    fn take_back_offer(&mut self, c: ContactIdx, a: AgentIdx) -> bool {
        let contact = self.w.contacts[c].id;
        self.release_offer_slot(a, contact);
        match &mut self.w.contacts[c].phase {
            ContactPhase::Offered { agents, .. } => {
                agents.retain(|&x| x != a);
                agents.is_empty()
            }
            _ => false,
        }
    }

    /// Takes the contact's ringing offers back from these agents, reporting each.
    fn withdraw_offers(
        &mut self,
        contact: ContactId,
        agents: Vec<AgentIdx>,
        reason: WithdrawReason,
    ) {
        for a in agents {
            let agent = self.w.agents[a].id;
            self.release_offer_slot(a, contact);
            self.push(Action::OfferWithdrawn {
                contact,
                agent,
                reason,
            });
        }
    }

    fn release_offer_slot(&mut self, a: AgentIdx, contact: ContactId) {
        self.m.agent_leaving(&self.w, a);
        let agent = &mut self.w.agents[a];
        if let Some(i) = agent.slot_of(contact) {
            agent.slots.remove(i);
        }
        self.m.agent_entered(&self.w, a);
        self.touch_agent(a);
        self.mark_dirty(a);
    }

    /// Frees an after-call-work slot: the agent is idle again from now.
    fn release_work_slot(&mut self, a: AgentIdx, contact: ContactId) {
        self.m.agent_leaving(&self.w, a);
        let agent = &mut self.w.agents[a];
        if let Some(i) = agent.slot_of(contact) {
            agent.slots.remove(i);
        }
        agent.idle_since = self.now;
        self.m.agent_entered(&self.w, a);
        self.touch_agent(a);
        self.mark_dirty(a);
    }

    fn withdraw_all_offers(&mut self, a: AgentIdx, reason: WithdrawReason) {
        let agent = self.w.agents[a].id;
        let offered: Vec<ContactId> = self.w.agents[a]
            .slots
            .iter()
            .filter(|s| s.phase == SlotPhase::Offered)
            .map(|s| s.contact)
            .collect();
        for contact in offered {
            let c = self.w.contact_ids[&contact];
            self.push(Action::OfferWithdrawn {
                contact,
                agent,
                reason,
            });
            if self.take_back_offer(c, a) {
                self.requeue(c);
            }
        }
    }

    /// The contact waits again (rank unchanged, so ahead of later arrivals), or overflows if
    /// its max wait passed while it was offered.
    fn requeue(&mut self, c: ContactIdx) {
        let contact = &mut self.w.contacts[c];
        contact.phase = ContactPhase::Waiting;
        contact.offer_timer = 0;
        let (id, q) = (contact.id, contact.queue);
        let due = std::mem::take(&mut contact.max_wait_due);
        self.push(Action::Requeued {
            contact: id,
            queue: self.w.queues[q].config.id,
        });
        if due {
            self.max_wait_reached(c);
        } else {
            self.m.contact_entered(&self.w, c);
            self.touch_contact(c);
        }
    }

    /// Contact `c` (not in the matcher's index) waited its queue's maximum.
    fn max_wait_reached(&mut self, c: ContactIdx) {
        let q = self.w.contacts[c].queue;
        let from = self.w.queues[q].config.id;
        let id = self.w.contacts[c].id;
        match self.w.queues[q].config.overflow {
            Some(to) => {
                let target = self.w.queue_ids[&to];
                let contact = &mut self.w.contacts[c];
                contact.queue = target;
                contact.queue_entered_at = self.now;
                contact.excluded.clear();
                contact.phase = ContactPhase::Waiting;
                self.refresh_contact(c);
                self.m.contact_entered(&self.w, c);
                self.touch_contact(c);
                self.push(Action::Overflowed {
                    contact: id,
                    from,
                    to,
                });
            }
            None => {
                self.remove_contact(c);
                self.push(Action::MaxWaitExceeded {
                    contact: id,
                    queue: from,
                });
            }
        }
    }

    fn force_not_ready(&mut self, a: AgentIdx) {
        self.m.agent_leaving(&self.w, a);
        self.w.agents[a].presence = Presence::NotReady;
        self.m.agent_entered(&self.w, a);
        self.mark_dirty(a);
        let agent = self.w.agents[a].id;
        self.push(Action::AgentAutoNotReady { agent });
        self.withdraw_all_offers(a, WithdrawReason::AgentUnavailable);
    }

    fn is_live(&self, t: &Armed) -> bool {
        is_live(&self.w, t)
    }

    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::OfferExpiry { contact } => {
                let c = self.w.contact_ids[&contact];
                let ContactPhase::Offered { agents, .. } = self.w.contacts[c].phase.clone() else {
                    return;
                };
                self.w.contacts[c].offer_timer = 0;
                let max_misses = self.w.queues[self.w.contacts[c].queue]
                    .config
                    .max_no_answers;
                for a in agents {
                    let agent = self.w.agents[a].id;
                    self.take_back_offer(c, a);
                    self.push(Action::OfferTimedOut { contact, agent });
                    self.w.contacts[c].excluded.push(agent);
                    let ag = &mut self.w.agents[a];
                    ag.missed_in_row += 1;
                    if max_misses > 0
                        && ag.missed_in_row >= max_misses
                        && ag.presence == Presence::Available
                    {
                        self.force_not_ready(a);
                    }
                }
                self.requeue(c);
            }
            Timer::Relax { contact } => {
                let c = self.w.contact_ids[&contact];
                self.update_levels(c);
                if self.w.contacts[c].is_waiting() {
                    self.touch_contact(c);
                }
            }
            Timer::MaxWait { contact } => {
                let c = self.w.contact_ids[&contact];
                self.w.contacts[c].wait_timer = 0;
                match self.w.contacts[c].phase {
                    ContactPhase::Waiting => {
                        self.m.contact_leaving(&self.w, c);
                        self.max_wait_reached(c);
                    }
                    ContactPhase::Offered { .. } => self.w.contacts[c].max_wait_due = true,
                    ContactPhase::Connected { .. } => {}
                }
            }
            Timer::WrapUp { agent, contact } => {
                let a = self.w.agent_ids[&agent];
                self.release_work_slot(a, contact);
                self.push(Action::WrapUpExpired { contact, agent });
            }
        }
    }

    fn offer(&mut self, m: Match) {
        let c = m.contact;
        let q = self.w.contacts[c].queue;
        let queue = &self.w.queues[q].config;
        let (queue_id, strategy) = (queue.id, queue.strategy);
        let expires_at = self.now + queue.no_answer_timeout_ms;
        if strategy == Strategy::RoundRobin {
            self.w.queues[q].rr_cursor = Some(self.w.strategy_key(q, m.agents[0]));
        }
        self.m.contact_leaving(&self.w, c);
        self.w.offers_made += 1;
        let contact = self.w.contacts[c].id;
        let channel = self.w.contacts[c].channel;
        let timer = self.timers.arm(expires_at, Timer::OfferExpiry { contact });
        let ct = &mut self.w.contacts[c];
        ct.offer_timer = timer;
        ct.phase = ContactPhase::Offered {
            agents: m.agents.clone(),
            expires_at,
        };
        for a in m.agents {
            self.m.agent_leaving(&self.w, a);
            let agent = &mut self.w.agents[a];
            agent.slots.push(Slot {
                contact,
                channel,
                queue: q,
                phase: SlotPhase::Offered,
            });
            let id = agent.id;
            self.m.agent_entered(&self.w, a);
            self.mark_dirty(a);
            self.push(Action::Offer {
                contact,
                agent: id,
                queue: queue_id,
                expires_at,
            });
        }
    }

    /// Routes until no eligible pair is left, then reports changed agent statuses.
    fn finish(&mut self) {
        while !self.touched.is_empty() {
            match self.m.next_match(&self.w, &self.touched) {
                Some(m) => self.offer(m),
                None => break,
            }
        }
        self.touched.clear();
        for i in 0..self.dirty.len() {
            let a = self.dirty[i];
            let Some(agent) = self.w.agents.get_mut(a) else {
                continue;
            };
            let status = agent.status();
            if status != agent.reported {
                agent.reported = status;
                let id = agent.id;
                self.actions
                    .push_back(Action::AgentStatus { agent: id, status });
            }
        }
        self.dirty.clear();
    }
}

fn is_live(w: &World, t: &Armed) -> bool {
    match t.timer {
        Timer::OfferExpiry { contact } => w
            .contact_ids
            .get(&contact)
            .is_some_and(|&c| w.contacts[c].offer_timer == t.seq),
        Timer::Relax { contact } => w
            .contact_ids
            .get(&contact)
            .is_some_and(|&c| w.contacts[c].relax_timer == t.seq),
        Timer::MaxWait { contact } => w
            .contact_ids
            .get(&contact)
            .is_some_and(|&c| w.contacts[c].wait_timer == t.seq),
        Timer::WrapUp { agent, contact } => w.agent_ids.get(&agent).is_some_and(|&a| {
            w.agents[a]
                .slots
                .iter()
                .any(|s| s.contact == contact && s.phase == SlotPhase::WrapUp { timer: t.seq })
        }),
    }
}

fn validate_queue(q: &QueueConfig) -> Result<(), RouterError> {
    let bad = |m: String| Err(RouterError::InvalidConfig(format!("queue {}: {m}", q.id)));
    if q.no_answer_timeout_ms <= 0 {
        return bad("no-answer timeout must be positive".into());
    }
    if q.max_wait_ms.is_some_and(|m| m <= 0) {
        return bad("max wait must be positive".into());
    }
    if q.wrap_up_ms.is_some_and(|m| m < 0) {
        return bad("wrap-up time cannot be negative".into());
    }
    if q.overflow.is_some() && q.max_wait_ms.is_none() {
        return bad("an overflow target needs a max wait".into());
    }
    for r in &q.requirements {
        r.validate()
            .map_err(|m| RouterError::InvalidConfig(format!("queue {}: {m}", q.id)))?;
    }
    Ok(())
}
