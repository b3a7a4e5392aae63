//! What calls ask of the tenant actor: a contact per call that starts in the IVR, queueing
//! it, the phone's answer to an offer, hang-ups with their side and cause, callbacks,
//! voicemails, transfers between agents, the caller's place in the queue, and outbound
//! calls agents place.

use serde_json::json;
use tsunagu_acd::{AgentId, Channel, ContactId, ContactSpec, Presence, QueueId, RouterError};
use tsunagu_domain::contact::{ContactStatus, EventKind, MadeContact};
use tsunagu_store::rows::ContactRow;

use super::{field, TenantActor};
use crate::center::voice::{VoiceCommand, VoiceDirective, VoiceReply};
use crate::center::{CenterError, CenterResult};

/// Until a queue has history, a conversation is assumed to take this long.
const DEFAULT_HANDLE_MS: f64 = 180_000.0;

impl TenantActor {
    pub(super) async fn voice_command(&mut self, cmd: VoiceCommand) -> CenterResult<VoiceReply> {
        match cmd {
            VoiceCommand::NewCall {
                caller,
                caller_name,
                called,
            } => self.new_call(caller, caller_name, called).await,
            VoiceCommand::Enqueue {
                contact,
                queue_id,
                priority,
                requirements,
                attributes,
            } => self.enqueue_call(contact, queue_id, priority, requirements, attributes),
            VoiceCommand::Event {
                contact,
                kind,
                agent,
                data,
            } => {
                let queue = self.open.get(&contact).and_then(|c| c.queue_id);
                self.event(contact, kind, queue, agent, data);
                Ok(VoiceReply::Done)
            }
            VoiceCommand::End {
                contact,
                side,
                cause,
            } => {
                match self
                    .open
                    .get(&contact)
                    .and_then(|c| ContactStatus::parse(&c.status))
                {
                    // Already over (max wait, ended from a screen, a transfer out).
                    None | Some(ContactStatus::WrapUp | ContactStatus::Completed) => {
                        return Ok(VoiceReply::Done)
                    }
                    _ => {}
                }
                let reason = if cause.starts_with("caller_") {
                    cause
                } else {
                    format!("{side}:{cause}")
                };
                if let Some((q, talk)) = self
                    .open
                    .get(&contact)
                    .and_then(|c| Some((c.queue_id?, self.now - c.answered_at?)))
                {
                    let avg = self.handle_ms.entry(q).or_insert(DEFAULT_HANDLE_MS);
                    *avg = 0.9 * *avg + 0.1 * talk.max(0) as f64;
                }
                if self.open.get(&contact).is_some_and(|c| {
                    c.status == ContactStatus::Connected.as_str()
                        && c.answered_at.is_none()
                        && c.direction == "inbound"
                }) {
                    // The agent answered, but the call ended before the two were
                    // connected: never answered.
                    return self.connect_failed(contact, reason);
                }
                self.end_contact(contact, None, None, Some(reason), false)?;
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Accept { contact, agent } => {
                // A callback's agent is on the line from the answer on (the customer is
                // dialed next); an inbound caller only once the switch connects them.
                let deferred = self
                    .open
                    .get(&contact)
                    .is_some_and(|c| super::callback_number(c).is_none());
                Ok(VoiceReply::Flag(
                    self.accept(contact, agent, !deferred).is_ok(),
                ))
            }
            VoiceCommand::Connected { contact, agent } => {
                self.call_connected(contact, agent);
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Reject {
                contact,
                agent,
                unreachable,
            } => {
                // The offer may already be gone (timed out while the phone answered busy).
                let _ = if unreachable {
                    self.missed(contact, agent)
                } else {
                    self.reject(contact, agent, json!({ "by": "phone" }))
                };
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Callback {
                contact,
                queue_id,
                number,
            } => self.callback(contact, queue_id, number).await,
            VoiceCommand::Voicemail {
                contact,
                queue_id,
                recording,
                caller,
            } => self.voicemail(contact, queue_id, recording, caller).await,
            VoiceCommand::Handover { contact, from, to } => {
                let queue = self.open_contact(contact)?.queue_id;
                if !self.agents.contains_key(&to) {
                    return Err(CenterError::NotFound(format!("agent {to}")));
                }
                self.router
                    .handle_handover(self.now, ContactId(contact as u64), AgentId(to as u64))
                    .map_err(|e| CenterError::Conflict(e.to_string()))?;
                let now = self.now;
                let row = self.open.get_mut(&contact).expect("open");
                row.agent_id = Some(to);
                row.updated_at = now;
                self.step.touch_contact(contact);
                self.step.touch_agent(from);
                self.step.touch_agent(to);
                self.event(
                    contact,
                    EventKind::Transferred,
                    queue,
                    Some(from),
                    json!({ "to_agent_id": to }),
                );
                self.event(
                    contact,
                    EventKind::Connected,
                    queue,
                    Some(to),
                    json!({ "by": "transfer" }),
                );
                self.drain();
                Ok(VoiceReply::Done)
            }
            VoiceCommand::TransferToQueue {
                contact,
                agent,
                queue_id,
            } => {
                self.transfer(contact, Some(agent), queue_id, None, None)?;
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Requeue { contact } => {
                let queue = self
                    .open_contact(contact)?
                    .queue_id
                    .ok_or_else(|| field("contact", "is in no queue"))?;
                self.transfer(contact, None, queue, None, None)?;
                // The call already waits with music.
                self.step
                    .voice
                    .retain(|d| *d != VoiceDirective::Transferred { contact });
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Position { contact } => Ok(self.position(contact)),
            VoiceCommand::ClickToCall {
                agent,
                number,
                customer_id,
                queue_id,
                by_user,
            } => self.click_to_call(agent, number, customer_id, queue_id, by_user),
        }
    }

    /// The switch connected the caller to the agent who accepted: the call is answered now.
    fn call_connected(&mut self, contact: i64, agent: i64) {
        let now = self.now;
        let Some(row) = self.open.get_mut(&contact) else {
            return;
        };
        if row.status != ContactStatus::Connected.as_str()
            || row.agent_id != Some(agent)
            || row.answered_at.is_some()
        {
            return;
        }
        row.answered_at = Some(now);
        row.updated_at = now;
        let queue = row.queue_id;
        self.step.touch_contact(contact);
        self.event(contact, EventKind::Connected, queue, Some(agent), json!({}));
        metrics::counter!("tsunagu_contacts_answered_total").increment(1);
    }

    /// The caller hung up between the agent's answer and the connection: the contact was
    /// never answered. It ends as abandoned in its queue, and the agent, who never talked
    /// to the caller, is free again at once (no after-call work).
    fn connect_failed(&mut self, contact: i64, reason: String) -> CenterResult<VoiceReply> {
        let now = self.now;
        self.router
            .handle_connect_failed(now, ContactId(contact as u64))
            .map_err(|e| CenterError::Conflict(e.to_string()))?;
        // The caller's leaving is an abandon; the system's doing is an interruption.
        let (status, kind) = if tsunagu_domain::contact::is_interruption(&reason) {
            (ContactStatus::Interrupted, EventKind::Interrupted)
        } else {
            (ContactStatus::Abandoned, EventKind::Abandoned)
        };
        let row = self.open.get_mut(&contact).expect("open");
        let (queue, agent) = (row.queue_id, row.agent_id.take());
        row.status = status.as_str().into();
        row.ended_at = Some(now);
        row.end_reason = Some(reason.clone());
        row.updated_at = now;
        self.step.touch_contact(contact);
        if let Some(a) = agent {
            self.step.touch_agent(a);
        }
        self.event(
            contact,
            kind,
            queue,
            None,
            json!({ "reason": reason, "answered_by_agent": agent, "connected": false }),
        );
        self.drain();
        Ok(VoiceReply::Done)
    }

    async fn new_call(
        &mut self,
        caller: String,
        caller_name: Option<String>,
        called: String,
    ) -> CenterResult<VoiceReply> {
        let now = self.now;
        // Screen-pop: the caller's number in E.164 and the customer it belongs to.
        let customer_address =
            tsunagu_domain::phone::caller_e164(&caller, &self.tenant.default_region);
        let customer_id = match &customer_address {
            Some(e164) => self
                .store
                .customer_id_by_phone(self.tenant.id, e164)
                .await
                .map_err(|e| CenterError::Unavailable(e.to_string()))?,
            None => None,
        };
        let id = self.store.next_id(now);
        let row = ContactRow {
            customer_id,
            customer_address: customer_address.or(Some(caller.clone())),
            attributes: json!({ "caller": caller, "caller_name": caller_name, "called": called })
                .to_string(),
            ..ContactRow::new(
                id,
                self.tenant.id,
                Channel::Voice.as_str(),
                "inbound",
                ContactStatus::Ivr.as_str(),
                now,
            )
        };
        self.open.insert(id, row);
        self.step.touch_contact(id);
        self.event(
            id,
            EventKind::Created,
            None,
            None,
            json!({ "channel": "voice", "called": called }),
        );
        metrics::counter!("tsunagu_contacts_created_total", "channel" => "voice").increment(1);
        Ok(VoiceReply::Contact(Box::new(self.open[&id].clone())))
    }

    fn enqueue_call(
        &mut self,
        contact: i64,
        queue_id: i64,
        priority: i64,
        requirements: Vec<crate::center::mapping::Requirement>,
        attributes: serde_json::Value,
    ) -> CenterResult<VoiceReply> {
        let now = self.now;
        let row = self.open_contact(contact)?;
        if row.status != ContactStatus::Ivr.as_str() {
            return Err(CenterError::Conflict(format!(
                "contact {contact} is not in the IVR"
            )));
        }
        let Some(queue) = self.queues.get(&queue_id) else {
            return Err(field("queue", "no such queue"));
        };
        let record = queue.record_calls;
        let spec = ContactSpec {
            id: ContactId(contact as u64),
            queue: QueueId(queue_id as u64),
            channel: Channel::Voice,
            priority: priority as i32,
            requirements: requirements.iter().map(|r| r.to_router()).collect(),
            arrived_at: now,
            queue_entered_at: now,
        };
        self.router
            .handle_contact_arrived(now, spec)
            .map_err(|e| match e {
                RouterError::InvalidConfig(m) => field("requirements", &m),
                other => CenterError::Conflict(other.to_string()),
            })?;
        let row = self.open.get_mut(&contact).expect("open");
        row.status = ContactStatus::Queued.as_str().into();
        row.queue_id = Some(queue_id);
        row.priority = priority;
        row.queued_at = Some(now);
        row.queue_entered_at = Some(now);
        row.requirements = serde_json::to_string(&requirements).unwrap_or_else(|_| "[]".into());
        merge_attributes(row, &attributes);
        row.updated_at = now;
        self.step.touch_contact(contact);
        self.event(contact, EventKind::Queued, Some(queue_id), None, json!({}));
        self.drain();
        Ok(VoiceReply::Flag(record))
    }

    async fn callback(
        &mut self,
        contact: i64,
        queue_id: Option<i64>,
        number: String,
    ) -> CenterResult<VoiceReply> {
        let now = self.now;
        let open = self.open.get(&contact).cloned();
        let status = open.as_ref().and_then(|c| ContactStatus::parse(&c.status));
        let target = queue_id.or(open.as_ref().and_then(|c| c.queue_id));
        match status {
            // Waiting: the same contact keeps its place and becomes a callback.
            Some(ContactStatus::Queued | ContactStatus::Offered) => {
                let row = self.open.get_mut(&contact).expect("open");
                merge_attributes(row, &json!({ "callback_number": number }));
                row.updated_at = now;
                let queue = row.queue_id;
                self.step.touch_contact(contact);
                self.event(
                    contact,
                    EventKind::CallbackRequested,
                    queue,
                    None,
                    json!({ "number": number }),
                );
                if status == Some(ContactStatus::Offered) {
                    // Its phones stopped ringing: offer it afresh, as a callback.
                    let q = queue.expect("queued");
                    self.router
                        .handle_transfer(now, ContactId(contact as u64), QueueId(q as u64))
                        .map_err(|e| CenterError::Conflict(e.to_string()))?;
                    self.drain();
                }
                Ok(VoiceReply::Id(contact))
            }
            // In the IVR or already closed (max wait): a new contact, at the original place.
            _ => {
                let original = match open {
                    Some(c) => Some(c),
                    None => self
                        .store
                        .contact(self.tenant.id, contact)
                        .await
                        .map_err(|e| CenterError::Unavailable(e.to_string()))?,
                };
                // Closed at its max wait: the queue it waited in, from the stored row.
                let target = target.or(original.as_ref().and_then(|c| c.queue_id));
                let Some(q) = target.filter(|q| self.queues.contains_key(q)) else {
                    return Err(field("queue", "a callback needs a queue"));
                };
                let arrived = original.as_ref().and_then(|c| c.queued_at).unwrap_or(now);
                if status == Some(ContactStatus::Ivr) {
                    self.end_contact(
                        contact,
                        None,
                        None,
                        Some("callback_requested".into()),
                        false,
                    )?;
                }
                let id = self.store.next_id(now);
                let spec = ContactSpec {
                    id: ContactId(id as u64),
                    queue: QueueId(q as u64),
                    channel: Channel::Voice,
                    priority: original.as_ref().map_or(0, |c| c.priority) as i32,
                    requirements: vec![],
                    arrived_at: arrived,
                    queue_entered_at: now,
                };
                self.router
                    .handle_contact_arrived(now, spec)
                    .map_err(|e| CenterError::Conflict(e.to_string()))?;
                let row = ContactRow {
                    queue_id: Some(q),
                    customer_id: original.as_ref().and_then(|c| c.customer_id),
                    priority: original.as_ref().map_or(0, |c| c.priority),
                    subject: Some(MadeContact::Callback.subject(&number)),
                    customer_address: Some(number.clone()),
                    attributes: json!({ "callback_number": number, "callback_of": contact })
                        .to_string(),
                    queued_at: Some(arrived),
                    queue_entered_at: Some(now),
                    ..ContactRow::new(
                        id,
                        self.tenant.id,
                        Channel::Voice.as_str(),
                        "outbound",
                        ContactStatus::Queued.as_str(),
                        now,
                    )
                };
                self.open.insert(id, row);
                self.step.touch_contact(id);
                self.event(
                    id,
                    EventKind::Created,
                    None,
                    None,
                    json!({ "channel": "voice", "callback_of": contact }),
                );
                self.event(
                    id,
                    EventKind::CallbackRequested,
                    Some(q),
                    None,
                    json!({ "number": number }),
                );
                self.event(id, EventKind::Queued, Some(q), None, json!({}));
                self.event(
                    contact,
                    EventKind::CallbackRequested,
                    None,
                    None,
                    json!({ "number": number, "callback_contact": id }),
                );
                self.drain();
                Ok(VoiceReply::Id(id))
            }
        }
    }

    async fn voicemail(
        &mut self,
        contact: i64,
        queue_id: i64,
        recording: i64,
        caller: String,
    ) -> CenterResult<VoiceReply> {
        let now = self.now;
        if !self.queues.contains_key(&queue_id) {
            return Err(field("queue", "no such queue"));
        }
        let customer = match self.open.get(&contact) {
            Some(c) => c.customer_id,
            None => self
                .store
                .contact(self.tenant.id, contact)
                .await
                .map_err(|e| CenterError::Unavailable(e.to_string()))?
                .and_then(|c| c.customer_id),
        };
        let id = self.store.next_id(now);
        let spec = ContactSpec {
            id: ContactId(id as u64),
            queue: QueueId(queue_id as u64),
            channel: Channel::Task,
            priority: 0,
            requirements: vec![],
            arrived_at: now,
            queue_entered_at: now,
        };
        self.router
            .handle_contact_arrived(now, spec)
            .map_err(|e| CenterError::Conflict(e.to_string()))?;
        let row = ContactRow {
            queue_id: Some(queue_id),
            customer_id: customer,
            subject: Some(MadeContact::Voicemail.subject(&caller)),
            customer_address: Some(caller.clone()),
            attributes: json!({ "voicemail_recording": recording, "caller": caller, "voicemail_of": contact }).to_string(),
            queued_at: Some(now),
            queue_entered_at: Some(now),
            ..ContactRow::new(id, self.tenant.id, Channel::Task.as_str(), "inbound", ContactStatus::Queued.as_str(), now)
        };
        self.open.insert(id, row);
        self.step.touch_contact(id);
        self.event(
            id,
            EventKind::Created,
            None,
            None,
            json!({ "channel": "task", "voicemail_of": contact }),
        );
        self.event(
            id,
            EventKind::Voicemail,
            Some(queue_id),
            None,
            json!({ "recording": recording }),
        );
        self.event(id, EventKind::Queued, Some(queue_id), None, json!({}));
        self.event(
            contact,
            EventKind::Voicemail,
            None,
            None,
            json!({ "recording": recording, "task_contact": id }),
        );
        self.drain();
        Ok(VoiceReply::Id(id))
    }

    /// The caller's place in the queue — from the router, by the rule it serves callers in
    /// — and a wait estimate: the queue's recent handling time × place ÷ agents signed in
    /// for it.
    fn position(&self, contact: i64) -> VoiceReply {
        let nowhere = VoiceReply::Position {
            position: 0,
            wait_secs: 0,
        };
        let Some(q) = self.open.get(&contact).and_then(|row| row.queue_id) else {
            return nowhere;
        };
        let Some(position) = self.router.queue_position(ContactId(contact as u64)) else {
            return nowhere;
        };
        let staffed = self
            .agents
            .values()
            .filter(|a| a.presence != Presence::Offline && a.queues.contains(&q))
            .count()
            .max(1) as f64;
        let handle = self.handle_ms.get(&q).copied().unwrap_or(DEFAULT_HANDLE_MS);
        let wait_secs = (handle * f64::from(position) / staffed / 1000.0).round() as u32;
        VoiceReply::Position {
            position,
            wait_secs,
        }
    }

    fn click_to_call(
        &mut self,
        agent: i64,
        number: String,
        customer_id: Option<i64>,
        queue_id: i64,
        by_user: i64,
    ) -> CenterResult<VoiceReply> {
        let now = self.now;
        if !self.agents.contains_key(&agent) {
            return Err(CenterError::NotFound(format!("agent {agent}")));
        }
        if !self.queues.contains_key(&queue_id) {
            return Err(field("queue_id", "no such queue"));
        }
        let id = self.store.next_id(now);
        let spec = ContactSpec {
            id: ContactId(id as u64),
            queue: QueueId(queue_id as u64),
            channel: Channel::Voice,
            priority: 0,
            requirements: vec![],
            arrived_at: now,
            queue_entered_at: now,
        };
        self.router
            .handle_direct_assign(now, spec, AgentId(agent as u64))
            .map_err(|e| match e {
                RouterError::AgentBusy(_) => CenterError::Conflict(
                    "the agent must be signed in and free of other calls to place one".into(),
                ),
                other => CenterError::Conflict(other.to_string()),
            })?;
        let row = ContactRow {
            queue_id: Some(queue_id),
            customer_id,
            agent_id: Some(agent),
            subject: Some(MadeContact::Outbound.subject(&number)),
            customer_address: Some(number.clone()),
            attributes: json!({ "number": number }).to_string(),
            // `answered_at` stays unset: answered when the customer answers
            // (`VoiceCommand::Connected`), not now.
            ..ContactRow::new(
                id,
                self.tenant.id,
                Channel::Voice.as_str(),
                "outbound",
                ContactStatus::Connected.as_str(),
                now,
            )
        };
        self.open.insert(id, row);
        self.step.touch_contact(id);
        self.step.touch_agent(agent);
        self.event(
            id,
            EventKind::Created,
            None,
            Some(agent),
            json!({ "channel": "voice", "by_user": by_user, "direction": "outbound", "dialing": number }),
        );
        self.drain();
        Ok(VoiceReply::Contact(Box::new(self.open[&id].clone())))
    }
}

/// Adds `extra`'s keys to the contact's attributes.
fn merge_attributes(row: &mut ContactRow, extra: &serde_json::Value) {
    let mut attrs: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row.attributes).unwrap_or_default();
    if let Some(m) = extra.as_object() {
        for (k, v) in m {
            attrs.insert(k.clone(), v.clone());
        }
    }
    row.attributes = serde_json::Value::Object(attrs).to_string();
}

#[cfg(test)]
mod tests {
    use super::super::callback_number;
    use super::*;

    #[test]
    fn attributes_merge_over_existing_keys() {
        let mut row = ContactRow {
            id: 1,
            tenant_id: 1,
            channel: "voice".into(),
            direction: "inbound".into(),
            status: "ivr".into(),
            queue_id: None,
            customer_id: None,
            agent_id: None,
            priority: 0,
            subject: None,
            customer_address: None,
            attributes: r#"{"caller":"1","x":"old"}"#.into(),
            requirements: "[]".into(),
            created_at: 0,
            queued_at: None,
            queue_entered_at: None,
            offered_at: None,
            answered_at: None,
            ended_at: None,
            acw_done_at: None,
            end_reason: None,
            disposition_code: None,
            updated_at: 0,
        };
        merge_attributes(&mut row, &json!({ "x": "new", "order_no": "123" }));
        let v: serde_json::Value = serde_json::from_str(&row.attributes).unwrap();
        assert_eq!(v, json!({ "caller": "1", "x": "new", "order_no": "123" }));
        assert_eq!(callback_number(&row), None);
    }
}
