//! Carrying out the router's decisions (offers, timeouts, overflow, wrap-up timers) on the
//! rows, the timeline and the live events; and recording agents' state changes.

use super::*;
use tsunagu_contact::routing;

impl TenantActor {
    pub(super) fn event(
        &mut self,
        contact: i64,
        kind: EventKind,
        queue: Option<i64>,
        agent: Option<i64>,
        data: serde_json::Value,
    ) {
        let data = match data {
            serde_json::Value::Object(m) if m.is_empty() => None,
            v => Some(v.to_string()),
        };
        self.step.events.push(ContactEventRow {
            id: self.store.next_id(self.now),
            tenant_id: self.tenant.id,
            contact_id: contact,
            at: self.now,
            kind: kind.as_str().into(),
            queue_id: queue,
            agent_id: agent,
            data,
        });
    }

    /// Carries out the router's decisions as `tsunagu_contact::routing` reads them: the
    /// contact's row, its timeline, the agent's screen, the call; then the agent's state.
    pub(super) fn drain(&mut self) {
        while let Some(action) = self.router.poll_action() {
            let seen = contact_of(&action).and_then(|c| {
                self.open.get(&c).map(|row| routing::Seen {
                    voice: row.channel == Channel::Voice.as_str(),
                    queue: row.queue_id,
                })
            });
            let routed = routing::routed(&action, seen);
            self.carry_out(routed);
        }
    }

    fn carry_out(&mut self, r: routing::Routed) {
        if let Some(c) = r.contact {
            self.apply_record(c, r.record);
            if let Some(t) = r.timeline {
                let data = match t.detail {
                    routing::Detail::Nothing => json!({}),
                    routing::Detail::ExpiresAt(at) => json!({ "expires_at": ts(at) }),
                    routing::Detail::Reason(reason) => json!({ "reason": reason }),
                    routing::Detail::FromQueue(q) => json!({ "from_queue_id": q }),
                };
                self.event(c, t.kind, t.queue, t.agent, data);
            }
            if let Some(n) = r.notice {
                let event = match n {
                    routing::Notice::Offer { agent, expires_at } => {
                        metrics::counter!("tsunagu_offers_total").increment(1);
                        let Some(row) = self.open.get(&c) else { return };
                        LiveEvent::Offer {
                            agent_id: agent,
                            expires_at_ms: expires_at,
                            contact: Box::new(row.clone()),
                        }
                    }
                    routing::Notice::OfferWithdrawn { agent, reason } => {
                        LiveEvent::OfferWithdrawn {
                            agent_id: agent,
                            contact_id: c,
                            reason,
                        }
                    }
                    routing::Notice::OfferTimedOut { agent } => {
                        metrics::counter!("tsunagu_offer_no_answers_total").increment(1);
                        LiveEvent::OfferTimedOut {
                            agent_id: agent,
                            contact_id: c,
                        }
                    }
                };
                let agent = event_agent(&event);
                self.step.outbox.push(Envelope {
                    audience: Audience::Agents(vec![agent]),
                    event,
                });
            }
            if let Some(order) = r.call {
                let directive = match order {
                    routing::CallOrder::Ring { agent, queue } => VoiceDirective::Offer {
                        contact: c,
                        agent,
                        agent_name: self
                            .agents
                            .get(&agent)
                            .map(|x| x.display_name.clone())
                            .unwrap_or_default(),
                        callback: self.open.get(&c).and_then(callback_number),
                        record: self.queues.get(&queue).is_some_and(|q| q.record_calls),
                    },
                    routing::CallOrder::StopRinging { agent } => {
                        VoiceDirective::OfferWithdrawn { contact: c, agent }
                    }
                    routing::CallOrder::MaxWait => VoiceDirective::MaxWait { contact: c },
                };
                self.step.voice.push(directive);
            }
        }
        if let Some(a) = r.agent {
            if r.auto_not_ready {
                if let Some(live) = self.agents.get_mut(&a) {
                    live.presence = Presence::NotReady;
                    live.reason = Some(MISSED_OFFERS.into());
                }
                warn!(tenant = %self.tenant.slug, agent = a, "agent made not-ready after missed offers");
            }
            self.step.touch_agent(a);
        }
    }

    /// The row's part of a router decision.
    fn apply_record(&mut self, c: i64, record: routing::Record) {
        let now = self.now;
        if record == routing::Record::Completed {
            self.complete(c, None, true);
            return;
        }
        if record != routing::Record::Same {
            let Some(row) = self.open.get_mut(&c) else {
                return;
            };
            match record {
                routing::Record::Offered => {
                    row.status = ContactStatus::Offered.as_str().into();
                    row.offered_at = Some(now);
                }
                routing::Record::Requeued => row.status = ContactStatus::Queued.as_str().into(),
                routing::Record::Moved { to } => {
                    row.queue_id = Some(to);
                    row.queue_entered_at = Some(now);
                    row.status = ContactStatus::Queued.as_str().into();
                }
                routing::Record::TimedOut { reason } => {
                    row.status = ContactStatus::TimedOut.as_str().into();
                    row.ended_at = Some(now);
                    row.end_reason = Some(reason.into());
                }
                routing::Record::Same | routing::Record::Completed => {}
            }
            row.updated_at = now;
            self.step.touch_contact(c);
        }
    }

    /// Records each touched agent's state if presence, reason or status changed since it
    /// was last written.
    pub(super) fn flush_agents(&mut self) {
        let now = self.now;
        for id in std::mem::take(&mut self.step.agents) {
            let Some(status) = self.router.agent_status(AgentId(id as u64)) else {
                continue;
            };
            let Some(live) = self.agents.get_mut(&id) else {
                continue;
            };
            let key = (
                live.presence.as_str().to_string(),
                live.reason.clone(),
                status.as_str().to_string(),
            );
            if self.persisted.get(&id) == Some(&key) {
                continue;
            }
            if live.status != status {
                live.since = now;
            }
            live.status = status;
            let changed_by = live.changed_by.take();
            let view = live.view(id);
            self.step.agent_states.push(AgentStateRow {
                id: self.store.next_id(now),
                tenant_id: self.tenant.id,
                agent_id: id,
                at: now,
                presence: key.0.clone(),
                reason: key.1.clone(),
                status: key.2.clone(),
                changed_by,
            });
            self.persisted.insert(id, key);
            self.step.outbox.push(Envelope {
                audience: Audience::Agents(vec![id]),
                event: LiveEvent::AgentState { state: view },
            });
        }
    }
}

/// The contact an action of the router names.
fn contact_of(action: &Action) -> Option<i64> {
    match action {
        Action::Offer { contact, .. }
        | Action::OfferWithdrawn { contact, .. }
        | Action::OfferTimedOut { contact, .. }
        | Action::Requeued { contact, .. }
        | Action::Overflowed { contact, .. }
        | Action::MaxWaitExceeded { contact, .. }
        | Action::WrapUpExpired { contact, .. } => Some(contact.0 as i64),
        Action::AgentAutoNotReady { .. } | Action::AgentStatus { .. } => None,
    }
}

fn event_agent(e: &LiveEvent) -> i64 {
    match e {
        LiveEvent::Offer { agent_id, .. }
        | LiveEvent::OfferWithdrawn { agent_id, .. }
        | LiveEvent::OfferTimedOut { agent_id, .. } => *agent_id,
        _ => unreachable!("only offers' notices reach an agent here"),
    }
}
