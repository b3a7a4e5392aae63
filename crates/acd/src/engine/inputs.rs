//! The engine's inputs: presence, contacts arriving, offers answered, contacts ending,
//! transfers and handovers, wrap-up and time.

use super::*;

impl<M: Matcher> Engine<M> {
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

        self.mark_connected(c, a);
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

    /// The offered agent could not be reached at all — no phone registered, or the phone's
    /// network failed — as opposed to declining ([`Engine::handle_offer_rejected`]). It
    /// counts as a miss, like an offer nobody answered: after the queue's
    /// `max_no_answers` misses in a row the agent is made not-ready
    /// ([`Action::AgentAutoNotReady`]), so an agent who is "available" without a working
    /// phone does not take every caller's first offer. The contact waits again at the
    /// front unless other offers still ring.
    pub fn handle_offer_missed(
        &mut self,
        now: UnixMillis,
        contact: ContactId,
        agent: AgentId,
    ) -> Result<(), RouterError> {
        self.advance(now);
        let (c, a) = self.offered_pair(contact, agent)?;
        self.w.contacts[c].excluded.push(agent);
        let max_misses = self.w.queues[self.w.contacts[c].queue]
            .config
            .max_no_answers;
        let requeue = self.take_back_offer(c, a);
        let ag = &mut self.w.agents[a];
        ag.missed_in_row += 1;
        if max_misses > 0 && ag.missed_in_row >= max_misses && ag.presence == Presence::Available {
            self.force_not_ready(a);
        }
        if requeue {
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
    pub(super) fn connect_slot(&mut self, c: ContactIdx, b: AgentIdx) {
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
        self.mark_connected(c, b);
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
}
