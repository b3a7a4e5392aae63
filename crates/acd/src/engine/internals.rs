//! Bookkeeping the inputs share: index lookups, inserting and removing contacts, offers
//! and their withdrawal, timers, and running the matcher until no pair is left.

use super::*;

impl<M: Matcher> Engine<M> {
    /// Takes an agent being reconfigured or removed out of routing: the `offers` named are
    /// withdrawn (their contacts wait again) and the agent leaves every queue's members
    /// and the matcher's indexes.
    pub(super) fn unseat_agent(&mut self, a: AgentIdx, id: AgentId, offers: Vec<ContactId>) {
        for contact in offers {
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
    }

    /// A contact is connected to agent `a` now: no offer, relax or wait timer applies any
    /// more.
    pub(super) fn mark_connected(&mut self, c: ContactIdx, a: AgentIdx) {
        let ct = &mut self.w.contacts[c];
        ct.phase = ContactPhase::Connected {
            agent: a,
            since: self.now,
        };
        ct.offer_timer = 0;
        ct.relax_timer = 0;
        ct.wait_timer = 0;
        ct.max_wait_due = false;
    }
    // ----- internals -------------------------------------------------------------------

    pub(super) fn advance(&mut self, now: UnixMillis) {
        // Time never runs backwards inside the router, whatever the caller's clock does.
        self.now = self.now.max(now);
    }

    pub(super) fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    pub(super) fn queue_idx(&self, id: QueueId) -> Result<QueueIdx, RouterError> {
        self.w
            .queue_ids
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownQueue(id))
    }

    pub(super) fn agent_idx(&self, id: AgentId) -> Result<AgentIdx, RouterError> {
        self.w
            .agent_ids
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownAgent(id))
    }

    pub(super) fn contact_idx(&self, id: ContactId) -> Result<ContactIdx, RouterError> {
        self.w
            .contact_ids
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownContact(id))
    }

    pub(super) fn offered_pair(
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

    pub(super) fn touch_contact(&mut self, c: ContactIdx) {
        let id = self.w.contacts[c].id;
        self.touched.contacts.push((c, id));
    }

    pub(super) fn touch_agent(&mut self, a: AgentIdx) {
        let id = self.w.agents[a].id;
        if !self.touched.agents.iter().any(|&(x, _)| x == a) {
            self.touched.agents.push((a, id));
        }
    }

    pub(super) fn mark_dirty(&mut self, a: AgentIdx) {
        if !self.dirty.contains(&a) {
            self.dirty.push(a);
        }
    }

    pub(super) fn insert_contact(
        &mut self,
        spec: &ContactSpec,
        phase: ContactPhase,
    ) -> Result<ContactIdx, RouterError> {
        if self.w.contact_ids.contains_key(&spec.id) {
            return Err(RouterError::DuplicateContact(spec.id));
        }
        let q = self.queue_idx(spec.queue)?;
        for r in &spec.requirements {
            r.validate()
                .map_err(|e| RouterError::InvalidConfig(e.to_string()))?;
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

    pub(super) fn remove_contact(&mut self, c: ContactIdx) {
        if let Some(contact) = self.w.contacts.remove(c) {
            self.w.contact_ids.remove(&contact.id);
            self.touched.contacts.retain(|&(x, _)| x != c);
        }
    }

    /// Recomputes requirements, rank, current levels and the relax / max-wait timers from
    /// the contact's queue. The caller brackets it with the matcher if the contact waits.
    pub(super) fn refresh_contact(&mut self, c: ContactIdx) {
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
    pub(super) fn update_levels(&mut self, c: ContactIdx) {
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
    pub(super) fn take_back_offer(&mut self, c: ContactIdx, a: AgentIdx) -> bool {
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
    pub(super) fn withdraw_offers(
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

    pub(super) fn release_offer_slot(&mut self, a: AgentIdx, contact: ContactId) {
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
    pub(super) fn release_work_slot(&mut self, a: AgentIdx, contact: ContactId) {
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

    pub(super) fn withdraw_all_offers(&mut self, a: AgentIdx, reason: WithdrawReason) {
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
    pub(super) fn requeue(&mut self, c: ContactIdx) {
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
    pub(super) fn max_wait_reached(&mut self, c: ContactIdx) {
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

    pub(super) fn force_not_ready(&mut self, a: AgentIdx) {
        self.m.agent_leaving(&self.w, a);
        self.w.agents[a].presence = Presence::NotReady;
        self.m.agent_entered(&self.w, a);
        self.mark_dirty(a);
        let agent = self.w.agents[a].id;
        self.push(Action::AgentAutoNotReady { agent });
        self.withdraw_all_offers(a, WithdrawReason::AgentUnavailable);
    }

    pub(super) fn is_live(&self, t: &Armed) -> bool {
        is_live(&self.w, t)
    }

    pub(super) fn fire(&mut self, timer: Timer) {
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

    pub(super) fn offer(&mut self, m: Match) {
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
    pub(super) fn finish(&mut self) {
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

pub(super) fn is_live(w: &World, t: &Armed) -> bool {
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

pub(super) fn validate_queue(q: &QueueConfig) -> Result<(), RouterError> {
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
