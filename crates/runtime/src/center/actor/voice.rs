//! What calls ask of the tenant actor, handed to the contact core: a contact per call that
//! starts in the IVR, queueing it, the phone's answer to an offer, hang-ups with their side
//! and cause, callbacks, voicemails, transfers between agents, and outbound calls agents
//! place. This side reads what the core needs from the store first (the caller's customer,
//! a call's stored contact, fresh ids) and answers the caller's place in the queue.

use tsunagu_acd::ContactId;
use tsunagu_contact::center::{CallEnd, NewCall};

use super::*;
use crate::center::voice::{VoiceCommand, VoiceReply};

/// Until a queue has history, a conversation is assumed to take this long.
const DEFAULT_HANDLE_MS: f64 = 180_000.0;

impl TenantActor {
    pub(super) async fn voice_command(&mut self, cmd: VoiceCommand) -> CenterResult<VoiceReply> {
        let now = self.now;
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
            } => {
                let record = self
                    .core
                    .handle_enqueue(
                        now,
                        contact,
                        queue_id,
                        priority,
                        requirements.iter().map(Requirement::to_router).collect(),
                        serde_json::to_string(&requirements).unwrap_or_else(|_| "[]".into()),
                        &attributes,
                    )
                    .map_err(from_core)?;
                Ok(VoiceReply::Flag(record))
            }
            VoiceCommand::Event {
                contact,
                kind,
                agent,
                data,
            } => {
                self.core.handle_call_event(contact, kind, agent, data);
                Ok(VoiceReply::Done)
            }
            VoiceCommand::End {
                contact,
                side,
                cause,
            } => {
                self.learn_handle_time(contact);
                self.core
                    .handle_call_ended(now, contact, CallEnd { side, cause })
                    .map_err(from_core)?;
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Accept { contact, agent } => Ok(VoiceReply::Flag(
                self.core.handle_call_accept(now, contact, agent),
            )),
            VoiceCommand::Connected { contact, agent } => {
                self.core.handle_call_connected(now, contact, agent);
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Reject {
                contact,
                agent,
                unreachable,
            } => {
                self.core
                    .handle_call_rejected(now, contact, agent, unreachable);
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Callback {
                contact,
                queue_id,
                number,
            } => {
                let stored = self.stored_unless_open(contact).await?;
                let new_id = self.store.next_id(now);
                let id = self
                    .core
                    .handle_callback(now, contact, queue_id, number, new_id, stored)
                    .map_err(from_core)?;
                Ok(VoiceReply::Id(id))
            }
            VoiceCommand::Voicemail {
                contact,
                queue_id,
                recording,
                caller,
            } => {
                let customer = match self.core.contact(contact) {
                    Some(c) => c.customer_id,
                    None => self
                        .stored_unless_open(contact)
                        .await?
                        .and_then(|c| c.customer_id),
                };
                let new_id = self.store.next_id(now);
                let id = self
                    .core
                    .handle_voicemail(now, contact, queue_id, recording, caller, new_id, customer)
                    .map_err(from_core)?;
                Ok(VoiceReply::Id(id))
            }
            VoiceCommand::Handover { contact, from, to } => {
                if self.core.contact(contact).is_none() {
                    return Err(CenterError::Conflict(format!(
                        "contact {contact} is not open"
                    )));
                }
                if !self.agents.contains_key(&to) {
                    return Err(CenterError::NotFound(format!("agent {to}")));
                }
                self.core
                    .handle_handover(now, contact, from, to)
                    .map_err(from_core)?;
                Ok(VoiceReply::Done)
            }
            VoiceCommand::TransferToQueue {
                contact,
                agent,
                queue_id,
            } => {
                self.core
                    .handle_transfer(now, contact, Some(agent), queue_id, None, true)
                    .map_err(from_core)?;
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Requeue { contact } => {
                self.core.handle_requeue(now, contact).map_err(from_core)?;
                Ok(VoiceReply::Done)
            }
            VoiceCommand::Position { contact } => Ok(self.position(contact)),
            VoiceCommand::ClickToCall {
                agent,
                number,
                customer_id,
                queue_id,
                by_user,
            } => {
                if !self.agents.contains_key(&agent) {
                    return Err(CenterError::NotFound(format!("agent {agent}")));
                }
                let id = self.store.next_id(now);
                self.core
                    .handle_click_to_call(now, id, agent, number, customer_id, queue_id, by_user)
                    .map_err(from_core)?;
                Ok(VoiceReply::Contact(Box::new(
                    self.row(id).expect("just created"),
                )))
            }
        }
    }

    /// A call's contact as stored, when the core no longer has it open.
    async fn stored_unless_open(
        &self,
        contact: i64,
    ) -> CenterResult<Option<tsunagu_contact::center::Contact>> {
        if self.core.contact(contact).is_some() {
            return Ok(None);
        }
        Ok(self
            .store
            .contact(self.tenant.id, contact)
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))?
            .map(|r| contact_of_row(&r)))
    }

    /// A call that was talking ends: its talk time joins the queue's average handling
    /// time (exponentially weighted), for the wait estimates callers hear.
    fn learn_handle_time(&mut self, contact: i64) {
        let Some(c) = self.core.contact(contact) else {
            return;
        };
        if matches!(c.status, ContactStatus::WrapUp | ContactStatus::Completed) {
            return;
        }
        if let (Some(q), Some(answered)) = (c.queue_id, c.answered_at) {
            let talk = self.now - answered;
            let avg = self.handle_ms.entry(q).or_insert(DEFAULT_HANDLE_MS);
            *avg = 0.9 * *avg + 0.1 * talk.max(0) as f64;
        }
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
        self.core.handle_new_call(
            now,
            NewCall {
                id,
                caller,
                caller_name,
                called,
                customer_address,
                customer_id,
            },
        );
        Ok(VoiceReply::Contact(Box::new(
            self.row(id).expect("just created"),
        )))
    }

    /// The caller's place in the queue — from the router, by the rule it serves callers in
    /// — and a wait estimate: the queue's recent handling time × place ÷ agents signed in
    /// for it.
    fn position(&self, contact: i64) -> VoiceReply {
        let nowhere = VoiceReply::Position {
            position: 0,
            wait_secs: 0,
        };
        let Some(q) = self.core.contact(contact).and_then(|c| c.queue_id) else {
            return nowhere;
        };
        let Some(position) = self.core.router().queue_position(ContactId(contact as u64)) else {
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
}
