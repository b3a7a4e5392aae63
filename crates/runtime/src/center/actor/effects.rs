//! Carrying out what the contact core says happened — timeline events, notices to agents'
//! screens, orders for calls, agents made not-ready — and recording agents' state changes.

use super::*;
use tsunagu_contact::routing::{CallOrder, Notice};

impl TenantActor {
    /// Drains the core's effects into the step: timeline rows, live events, directives for
    /// calls, agents to look at again.
    pub(super) fn carry_out(&mut self) {
        while let Some(effect) = self.core.poll_effect() {
            match effect {
                Effect::Event {
                    contact,
                    kind,
                    queue,
                    agent,
                    data,
                } => {
                    self.count(contact, kind, &data);
                    self.event(contact, kind, queue, agent, data);
                }
                Effect::Notice { contact, notice } => self.notice(contact, notice),
                Effect::Call { contact, order } => self.order(contact, order),
                Effect::AutoNotReady { agent } => {
                    if let Some(live) = self.agents.get_mut(&agent) {
                        live.presence = Presence::NotReady;
                        live.reason = Some(MISSED_OFFERS.into());
                    }
                    warn!(tenant = %self.tenant.slug, agent, "agent made not-ready after missed offers");
                }
            }
        }
        for a in self.core.take_touched_agents() {
            self.step.touch_agent(a);
        }
    }

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

    /// The Prometheus counters a timeline event moves.
    fn count(&self, contact: i64, kind: EventKind, data: &serde_json::Value) {
        match kind {
            EventKind::Created => {
                let channel = self
                    .core
                    .contact(contact)
                    .map_or("unknown", |c| c.channel.as_str());
                metrics::counter!("tsunagu_contacts_created_total", "channel" => channel)
                    .increment(1);
            }
            EventKind::Offered => metrics::counter!("tsunagu_offers_total").increment(1),
            EventKind::OfferTimedOut => {
                metrics::counter!("tsunagu_offer_no_answers_total").increment(1)
            }
            // A handover connects the caller to another agent: no new answer.
            EventKind::Connected if data.get("by").is_none() => {
                metrics::counter!("tsunagu_contacts_answered_total").increment(1)
            }
            EventKind::Interrupted => {
                metrics::counter!("tsunagu_contacts_interrupted_total").increment(1)
            }
            EventKind::Abandoned => {
                metrics::counter!("tsunagu_contacts_abandoned_total").increment(1)
            }
            _ => {}
        }
    }

    /// An offer's news for the agent's screen.
    fn notice(&mut self, contact: i64, notice: Notice) {
        let (agent_id, event) = match notice {
            Notice::Offer { agent, expires_at } => {
                let Some(c) = self.core.contact(contact) else {
                    return;
                };
                (
                    agent,
                    LiveEvent::Offer {
                        agent_id: agent,
                        expires_at_ms: expires_at,
                        contact: Box::new(row_of(c, self.tenant.id)),
                    },
                )
            }
            Notice::OfferWithdrawn { agent, reason } => (
                agent,
                LiveEvent::OfferWithdrawn {
                    agent_id: agent,
                    contact_id: contact,
                    reason,
                },
            ),
            Notice::OfferTimedOut { agent } => (
                agent,
                LiveEvent::OfferTimedOut {
                    agent_id: agent,
                    contact_id: contact,
                },
            ),
        };
        self.step.outbox.push(Envelope {
            audience: Audience::Agents(vec![agent_id]),
            event,
        });
    }

    /// An order for the call behind a contact, as a directive to the telephony shell.
    fn order(&mut self, contact: i64, order: CallOrder) {
        let directive = match order {
            CallOrder::Ring { agent, queue } => VoiceDirective::Offer {
                contact,
                agent,
                agent_name: self
                    .agents
                    .get(&agent)
                    .map(|x| x.display_name.clone())
                    .unwrap_or_default(),
                callback: self.core.contact(contact).and_then(|c| c.callback_number()),
                record: self.queues.get(&queue).is_some_and(|q| q.record_calls),
            },
            CallOrder::StopRinging { agent } => VoiceDirective::OfferWithdrawn { contact, agent },
            CallOrder::MaxWait => VoiceDirective::MaxWait { contact },
            CallOrder::Ended => VoiceDirective::Ended { contact },
            CallOrder::Transferred => VoiceDirective::Transferred { contact },
        };
        self.step.voice.push(directive);
    }

    /// Records each touched agent's state if presence, reason or status changed since it
    /// was last written.
    pub(super) fn flush_agents(&mut self) {
        let now = self.now;
        for id in std::mem::take(&mut self.step.agents) {
            let Some(status) = self.core.router().agent_status(AgentId(id as u64)) else {
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
