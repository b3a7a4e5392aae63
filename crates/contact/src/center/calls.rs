//! What calls ask of the core: a contact per call that starts in the IVR, queueing it, the
//! phone's answer to an offer and the moment caller and agent are connected, hang-ups with
//! their side and cause, callbacks, voicemails, transfers between agents, and outbound
//! calls agents place.

use serde_json::{json, Value};
use tsunagu_acd::{
    AgentId, Channel, ContactId, ContactSpec, QueueId, RouterError, SkillRequirement,
};
use tsunagu_domain::contact::{is_interruption, ContactStatus, Direction, EventKind, MadeContact};

use super::{Center, Contact, ContactError, ContactResult, EndBy};

/// An inbound call's contact, before the flow queues it (the shell has looked the caller
/// up among the customers and allocated the id).
#[derive(Clone, Debug)]
pub struct NewCall {
    pub id: i64,
    /// The number as the caller presented it.
    pub caller: String,
    pub caller_name: Option<String>,
    pub called: String,
    /// The caller's number in E.164, when it is one.
    pub customer_address: Option<String>,
    pub customer_id: Option<i64>,
}

/// How a call ended: `side` is caller, agent, supervisor or system; `cause` the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallEnd {
    pub side: String,
    pub cause: String,
}

/// Where the center has the contact of a call, for the switch to reconcile after a
/// resynchronisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveCall {
    /// In the IVR, not queued.
    Ivr,
    /// Waiting in a queue (not offered).
    Waiting,
    /// A callback request waiting in a queue: its call (if an attempt had started) is over.
    CallbackWaiting,
    /// Connected to this agent.
    Talking { agent: i64 },
}

impl Center {
    /// A call arrived: its contact starts in the IVR.
    pub fn handle_new_call(&mut self, now: i64, call: NewCall) {
        self.begin(now);
        let now = self.now;
        let id = call.id;
        self.contacts.insert(
            id,
            Contact {
                customer_id: call.customer_id,
                customer_address: call.customer_address.or(Some(call.caller.clone())),
                attributes: json!({
                    "caller": call.caller,
                    "caller_name": call.caller_name,
                    "called": call.called
                })
                .to_string(),
                ..Contact::new(
                    id,
                    Channel::Voice,
                    Direction::Inbound,
                    ContactStatus::Ivr,
                    now,
                )
            },
        );
        self.touch(id);
        self.event(
            id,
            EventKind::Created,
            None,
            None,
            json!({ "channel": "voice", "called": call.called }),
        );
    }

    /// The flow puts the call in a queue. Returns whether the queue records calls.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_enqueue(
        &mut self,
        now: i64,
        contact: i64,
        queue_id: i64,
        priority: i64,
        requirements: Vec<SkillRequirement>,
        requirements_json: String,
        attributes: &Value,
    ) -> ContactResult<bool> {
        self.begin(now);
        let now = self.now;
        if self.open(contact)?.status != ContactStatus::Ivr {
            return Err(ContactError::Conflict(format!(
                "contact {contact} is not in the IVR"
            )));
        }
        let Some(rules) = self.queues.get(&queue_id).copied() else {
            return Err(ContactError::field("queue", "no such queue"));
        };
        let spec = ContactSpec {
            id: ContactId(contact as u64),
            queue: QueueId(queue_id as u64),
            channel: Channel::Voice,
            priority: priority as i32,
            requirements,
            arrived_at: now,
            queue_entered_at: now,
        };
        self.router
            .handle_contact_arrived(now, spec)
            .map_err(|e| match e {
                RouterError::InvalidConfig(m) => ContactError::field("requirements", m),
                other => ContactError::Conflict(other.to_string()),
            })?;
        self.change(contact, |row| {
            row.status = ContactStatus::Queued;
            row.queue_id = Some(queue_id);
            row.priority = priority;
            row.queued_at = Some(now);
            row.queue_entered_at = Some(now);
            row.requirements = requirements_json;
            row.merge_attributes(attributes);
        });
        self.event(contact, EventKind::Queued, Some(queue_id), None, json!({}));
        self.drain();
        Ok(rules.record_calls)
    }

    /// A timeline event of the call (keys, prompts, recordings, …).
    pub fn handle_call_event(
        &mut self,
        contact: i64,
        kind: EventKind,
        agent: Option<i64>,
        data: Value,
    ) {
        let queue = self.contacts.get(&contact).and_then(|c| c.queue_id);
        self.event(contact, kind, queue, agent, data);
    }

    /// The call ended. A contact already over (maximum wait, ended from a screen, moved
    /// out) is left alone; an inbound call whose agent answered but who was never
    /// connected to the caller was never answered ([`Center::handle_connect_failed`]).
    pub fn handle_call_ended(&mut self, now: i64, contact: i64, end: CallEnd) -> ContactResult<()> {
        self.begin(now);
        let Some(row) = self.contacts.get(&contact) else {
            return Ok(());
        };
        if matches!(row.status, ContactStatus::WrapUp | ContactStatus::Completed) {
            return Ok(());
        }
        let reason = if end.cause.starts_with("caller_") {
            end.cause
        } else {
            format!("{}:{}", end.side, end.cause)
        };
        if row.status == ContactStatus::Connected
            && row.answered_at.is_none()
            && row.direction == Direction::Inbound
        {
            return self.handle_connect_failed(now, contact, reason);
        }
        self.handle_end(
            now,
            contact,
            EndBy {
                reason: Some(reason),
                ..EndBy::default()
            },
        )
    }

    /// The agent's phone answered an offer. A callback's agent is on the line from the
    /// answer on (the customer is dialed next); an inbound caller only once the switch
    /// connects them. False: the offer no longer stands.
    pub fn handle_call_accept(&mut self, now: i64, contact: i64, agent: i64) -> bool {
        let deferred = self
            .contacts
            .get(&contact)
            .is_some_and(|c| c.callback_number().is_none());
        self.handle_accept(now, contact, agent, !deferred).is_ok()
    }

    /// The switch connected the caller to the agent who accepted: the call is answered now.
    pub fn handle_call_connected(&mut self, now: i64, contact: i64, agent: i64) {
        self.begin(now);
        let now = self.now;
        let Some(row) = self.contacts.get(&contact) else {
            return;
        };
        if row.status != ContactStatus::Connected
            || row.agent_id != Some(agent)
            || row.answered_at.is_some()
        {
            return;
        }
        let queue = row.queue_id;
        self.change(contact, |row| row.answered_at = Some(now));
        self.event(contact, EventKind::Connected, queue, Some(agent), json!({}));
    }

    /// The caller hung up between the agent's answer and the connection: the contact was
    /// never answered. It ends as abandoned in its queue (interrupted when the system
    /// ended it), and the agent, who never talked to the caller, is free again at once.
    pub fn handle_connect_failed(
        &mut self,
        now: i64,
        contact: i64,
        reason: String,
    ) -> ContactResult<()> {
        self.begin(now);
        let now = self.now;
        self.router
            .handle_connect_failed(now, ContactId(contact as u64))
            .map_err(|e| ContactError::Conflict(e.to_string()))?;
        let (status, kind) = if is_interruption(&reason) {
            (ContactStatus::Interrupted, EventKind::Interrupted)
        } else {
            (ContactStatus::Abandoned, EventKind::Abandoned)
        };
        let row = self.open(contact)?;
        let (queue, agent) = (row.queue_id, row.agent_id);
        let stored_reason = reason.clone();
        self.change(contact, |row| {
            row.agent_id = None;
            row.status = status;
            row.ended_at = Some(now);
            row.end_reason = Some(stored_reason);
        });
        if let Some(a) = agent {
            self.touch_agent(a);
        }
        self.event(
            contact,
            kind,
            queue,
            None,
            json!({ "reason": reason, "answered_by_agent": agent, "connected": false }),
        );
        self.drain();
        Ok(())
    }

    /// The agent's phone declined the offer (busy), or could not ring at all
    /// (`unreachable`: a miss). The offer may already be gone (timed out meanwhile).
    pub fn handle_call_rejected(&mut self, now: i64, contact: i64, agent: i64, unreachable: bool) {
        let _ = if unreachable {
            self.handle_missed(now, contact, agent)
        } else {
            self.handle_reject(now, contact, agent, json!({ "by": "phone" }))
        };
    }

    /// The caller asked to be called back on `number`. A waiting contact keeps its place
    /// and becomes a callback; a caller in the IVR, or whose wait is over, gets a new
    /// contact (`new_id`) at the original place in the queue. `stored`: the contact as
    /// stored when it is no longer open here. Returns the callback's contact.
    pub fn handle_callback(
        &mut self,
        now: i64,
        contact: i64,
        queue_id: Option<i64>,
        number: String,
        new_id: i64,
        stored: Option<Contact>,
    ) -> ContactResult<i64> {
        self.begin(now);
        let now = self.now;
        let open = self.contacts.get(&contact).cloned();
        let status = open.as_ref().map(|c| c.status);
        let target = queue_id.or(open.as_ref().and_then(|c| c.queue_id));
        match status {
            // Waiting: the same contact keeps its place and becomes a callback.
            Some(ContactStatus::Queued | ContactStatus::Offered) => {
                let queue = open.as_ref().and_then(|c| c.queue_id);
                self.change(contact, |row| {
                    row.merge_attributes(&json!({ "callback_number": number }))
                });
                self.event(
                    contact,
                    EventKind::CallbackRequested,
                    queue,
                    None,
                    json!({ "number": number }),
                );
                if status == Some(ContactStatus::Offered) {
                    // Its phones stopped ringing: offer it afresh, as a callback.
                    let q = queue.expect("a waiting contact is in a queue");
                    self.router
                        .handle_transfer(now, ContactId(contact as u64), QueueId(q as u64))
                        .map_err(|e| ContactError::Conflict(e.to_string()))?;
                    self.drain();
                }
                Ok(contact)
            }
            // In the IVR or already closed (max wait): a new contact, at the original place.
            _ => {
                let original = open.or(stored);
                // Closed at its max wait: the queue it waited in, from the stored row.
                let target = target.or(original.as_ref().and_then(|c| c.queue_id));
                let Some(q) = target.filter(|q| self.has_queue(*q)) else {
                    return Err(ContactError::field("queue", "a callback needs a queue"));
                };
                let arrived = original.as_ref().and_then(|c| c.queued_at).unwrap_or(now);
                if status == Some(ContactStatus::Ivr) {
                    self.handle_end(
                        now,
                        contact,
                        EndBy {
                            reason: Some("callback_requested".into()),
                            ..EndBy::default()
                        },
                    )?;
                }
                let priority = original.as_ref().map_or(0, |c| c.priority);
                let spec = ContactSpec {
                    id: ContactId(new_id as u64),
                    queue: QueueId(q as u64),
                    channel: Channel::Voice,
                    priority: priority as i32,
                    requirements: vec![],
                    arrived_at: arrived,
                    queue_entered_at: now,
                };
                self.router
                    .handle_contact_arrived(now, spec)
                    .map_err(|e| ContactError::Conflict(e.to_string()))?;
                self.contacts.insert(
                    new_id,
                    Contact {
                        queue_id: Some(q),
                        customer_id: original.as_ref().and_then(|c| c.customer_id),
                        priority,
                        subject: Some(MadeContact::Callback.subject(&number)),
                        customer_address: Some(number.clone()),
                        attributes: json!({ "callback_number": number, "callback_of": contact })
                            .to_string(),
                        queued_at: Some(arrived),
                        queue_entered_at: Some(now),
                        ..Contact::new(
                            new_id,
                            Channel::Voice,
                            Direction::Outbound,
                            ContactStatus::Queued,
                            now,
                        )
                    },
                );
                self.touch(new_id);
                self.event(
                    new_id,
                    EventKind::Created,
                    None,
                    None,
                    json!({ "channel": "voice", "callback_of": contact }),
                );
                self.event(
                    new_id,
                    EventKind::CallbackRequested,
                    Some(q),
                    None,
                    json!({ "number": number }),
                );
                self.event(new_id, EventKind::Queued, Some(q), None, json!({}));
                self.event(
                    contact,
                    EventKind::CallbackRequested,
                    None,
                    None,
                    json!({ "number": number, "callback_contact": new_id }),
                );
                self.drain();
                Ok(new_id)
            }
        }
    }

    /// The caller left a message: a task (`new_id`) in `queue_id` to listen and call back.
    /// `customer`: the caller's customer, from the call's contact (open or stored).
    #[allow(clippy::too_many_arguments)]
    pub fn handle_voicemail(
        &mut self,
        now: i64,
        contact: i64,
        queue_id: i64,
        recording: i64,
        caller: String,
        new_id: i64,
        customer: Option<i64>,
    ) -> ContactResult<i64> {
        self.begin(now);
        let now = self.now;
        if !self.has_queue(queue_id) {
            return Err(ContactError::field("queue", "no such queue"));
        }
        let spec = ContactSpec {
            id: ContactId(new_id as u64),
            queue: QueueId(queue_id as u64),
            channel: Channel::Task,
            priority: 0,
            requirements: vec![],
            arrived_at: now,
            queue_entered_at: now,
        };
        self.router
            .handle_contact_arrived(now, spec)
            .map_err(|e| ContactError::Conflict(e.to_string()))?;
        self.contacts.insert(
            new_id,
            Contact {
                queue_id: Some(queue_id),
                customer_id: customer,
                subject: Some(MadeContact::Voicemail.subject(&caller)),
                customer_address: Some(caller.clone()),
                attributes: json!({
                    "voicemail_recording": recording,
                    "caller": caller,
                    "voicemail_of": contact
                })
                .to_string(),
                queued_at: Some(now),
                queue_entered_at: Some(now),
                ..Contact::new(
                    new_id,
                    Channel::Task,
                    Direction::Inbound,
                    ContactStatus::Queued,
                    now,
                )
            },
        );
        self.touch(new_id);
        self.event(
            new_id,
            EventKind::Created,
            None,
            None,
            json!({ "channel": "task", "voicemail_of": contact }),
        );
        self.event(
            new_id,
            EventKind::Voicemail,
            Some(queue_id),
            None,
            json!({ "recording": recording }),
        );
        self.event(new_id, EventKind::Queued, Some(queue_id), None, json!({}));
        self.event(
            contact,
            EventKind::Voicemail,
            None,
            None,
            json!({ "recording": recording, "task_contact": new_id }),
        );
        self.drain();
        Ok(new_id)
    }

    /// The agent handed the caller over to another agent, who answered (an attended or
    /// blind transfer between agents).
    pub fn handle_handover(
        &mut self,
        now: i64,
        contact: i64,
        from: i64,
        to: i64,
    ) -> ContactResult<()> {
        self.begin(now);
        let queue = self.open(contact)?.queue_id;
        self.router
            .handle_handover(self.now, ContactId(contact as u64), AgentId(to as u64))
            .map_err(|e| ContactError::Conflict(e.to_string()))?;
        self.change(contact, |row| row.agent_id = Some(to));
        self.touch_agent(from);
        self.touch_agent(to);
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
        Ok(())
    }

    /// The call asks to wait again in its queue (a forward nobody answered, a callback's
    /// customer who did not pick up): it already hears music, so the call is not told.
    pub fn handle_requeue(&mut self, now: i64, contact: i64) -> ContactResult<()> {
        let queue = self
            .open(contact)?
            .queue_id
            .ok_or_else(|| ContactError::field("contact", "is in no queue"))?;
        self.handle_transfer(now, contact, None, queue, None, false)
    }

    /// An agent places a call (click-to-call): a contact of `queue_id` connected to the
    /// agent from the start (`new_id`); answered when the customer answers.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_click_to_call(
        &mut self,
        now: i64,
        new_id: i64,
        agent: i64,
        number: String,
        customer_id: Option<i64>,
        queue_id: i64,
        by_user: i64,
    ) -> ContactResult<()> {
        self.begin(now);
        let now = self.now;
        if !self.has_queue(queue_id) {
            return Err(ContactError::field("queue_id", "no such queue"));
        }
        let spec = ContactSpec {
            id: ContactId(new_id as u64),
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
                RouterError::AgentBusy(_) => ContactError::Conflict(
                    "the agent must be signed in and free of other calls to place one".into(),
                ),
                other => ContactError::Conflict(other.to_string()),
            })?;
        self.contacts.insert(
            new_id,
            Contact {
                queue_id: Some(queue_id),
                customer_id,
                agent_id: Some(agent),
                subject: Some(MadeContact::Outbound.subject(&number)),
                customer_address: Some(number.clone()),
                attributes: json!({ "number": number }).to_string(),
                // `answered_at` stays unset: answered when the customer answers
                // (`handle_call_connected`), not now.
                ..Contact::new(
                    new_id,
                    Channel::Voice,
                    Direction::Outbound,
                    ContactStatus::Connected,
                    now,
                )
            },
        );
        self.touch(new_id);
        self.touch_agent(agent);
        self.event(
            new_id,
            EventKind::Created,
            None,
            Some(agent),
            json!({ "channel": "voice", "by_user": by_user, "direction": "outbound", "dialing": number }),
        );
        self.drain();
        Ok(())
    }

    /// The open contacts of calls and where each stands, ordered by id. Callback requests
    /// waiting for their turn have no call and are left out.
    pub fn live_calls(&self) -> Vec<(i64, LiveCall)> {
        self.contacts
            .values()
            .filter(|c| c.is_call())
            .filter_map(|c| {
                let state = match c.status {
                    ContactStatus::Ivr => LiveCall::Ivr,
                    ContactStatus::Queued | ContactStatus::Offered => {
                        if c.callback_number().is_some() {
                            LiveCall::CallbackWaiting
                        } else {
                            LiveCall::Waiting
                        }
                    }
                    ContactStatus::Connected => LiveCall::Talking { agent: c.agent_id? },
                    _ => return None,
                };
                Some((c.id, state))
            })
            .collect()
    }
}
