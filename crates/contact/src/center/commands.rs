//! Commands from agents' screens, supervisors and the API: create a contact, accept or
//! decline an offer, end, wrap up, move to another queue.

use serde_json::{json, Value};
use tsunagu_acd::{
    AgentId, Channel, ContactId, ContactSpec, QueueId, RouterError, SkillRequirement,
};
use tsunagu_domain::contact::{ContactStatus, Direction, EventKind};

use super::{Center, Contact, ContactError, ContactResult};
use crate::lifecycle::{self, EndRequest, WrapUp};
use crate::routing::CallOrder;

/// A contact to create (the shell has checked that the customer is the tenant's and
/// allocated the id).
#[derive(Clone, Debug)]
pub struct NewContact {
    pub id: i64,
    pub channel: Channel,
    pub direction: Direction,
    pub queue_id: i64,
    pub customer_id: Option<i64>,
    pub customer_address: Option<String>,
    pub priority: i64,
    pub subject: Option<String>,
    pub attributes: Value,
    /// The contact's own requirements, for the router…
    pub requirements: Vec<SkillRequirement>,
    /// …and as stored (JSON text).
    pub requirements_json: String,
    /// The user who created it.
    pub created_by: Option<i64>,
}

/// Who ends a contact, and what becomes of the call behind it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndBy {
    /// The agent ending their own conversation.
    pub agent: Option<i64>,
    /// The person behind the request; `None` when the call itself ended.
    pub by_user: Option<i64>,
    /// `side:cause`, a flow's reason, or a person's words.
    pub reason: Option<String>,
    /// The end comes from a screen or the API: a call behind the contact is hung up.
    pub hang_up_call: bool,
}

/// Who wraps up a contact, and with which disposition (wrap-up code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrapUpBy {
    /// The agent who handled it.
    pub agent: i64,
    /// The person behind the request (the agent, or a supervisor for them).
    pub by_user: i64,
    pub disposition: Option<String>,
}

/// What a wrap-up did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapUpDone {
    /// After-call work ended now: the agent is free.
    Completed,
    /// The timer had ended it: the disposition was recorded late.
    LateDisposition,
    /// Nothing new to record.
    Nothing,
}

impl Center {
    /// A contact (a task, a chat, an email) arrives in its queue.
    ///
    /// Errors: no such queue, requirements the router cannot take (both fields), or the
    /// router's refusal.
    pub fn handle_create(&mut self, now: i64, new: NewContact) -> ContactResult<()> {
        self.begin(now);
        let now = self.now;
        if !self.has_queue(new.queue_id) {
            return Err(ContactError::field("queue_id", "no such queue"));
        }
        let spec = ContactSpec {
            id: ContactId(new.id as u64),
            queue: QueueId(new.queue_id as u64),
            channel: new.channel,
            priority: new.priority as i32,
            requirements: new.requirements,
            arrived_at: now,
            queue_entered_at: now,
        };
        self.router
            .handle_contact_arrived(now, spec)
            .map_err(|e| match e {
                RouterError::InvalidConfig(m) => ContactError::field("requirements", m),
                other => ContactError::Conflict(other.to_string()),
            })?;
        let id = new.id;
        self.contacts.insert(
            id,
            Contact {
                queue_id: Some(new.queue_id),
                customer_id: new.customer_id,
                priority: new.priority,
                subject: new.subject,
                customer_address: new.customer_address,
                attributes: new.attributes.to_string(),
                requirements: new.requirements_json,
                queued_at: Some(now),
                queue_entered_at: Some(now),
                ..Contact::new(id, new.channel, new.direction, ContactStatus::Queued, now)
            },
        );
        self.touch(id);
        self.event(
            id,
            EventKind::Created,
            None,
            None,
            json!({ "by_user": new.created_by, "channel": new.channel.as_str() }),
        );
        self.event(id, EventKind::Queued, Some(new.queue_id), None, json!({}));
        self.drain();
        Ok(())
    }

    /// The offered agent takes the contact. `connected`: the customer and the agent are in
    /// touch from now (a task, a chat, a callback's agent leg); false for an inbound call,
    /// answered only when the switch connects the caller ([`Center::handle_call_connected`]).
    pub fn handle_accept(
        &mut self,
        now: i64,
        contact: i64,
        agent: i64,
        connected: bool,
    ) -> ContactResult<()> {
        self.begin(now);
        let now = self.now;
        let queue = self.open(contact)?.queue_id;
        self.router
            .handle_offer_accepted(now, ContactId(contact as u64), AgentId(agent as u64))
            .map_err(|_| ContactError::NotOffered { contact, agent })?;
        self.change(contact, |row| {
            row.status = ContactStatus::Connected;
            row.agent_id = Some(agent);
            if connected {
                row.answered_at = Some(now);
            }
        });
        self.touch_agent(agent);
        self.event(contact, EventKind::Accepted, queue, Some(agent), json!({}));
        if connected {
            self.event(contact, EventKind::Connected, queue, Some(agent), json!({}));
        }
        self.drain();
        Ok(())
    }

    /// The offered agent turns the offer down (from the screen, or busy on the phone);
    /// `data` goes on the timeline.
    pub fn handle_reject(
        &mut self,
        now: i64,
        contact: i64,
        agent: i64,
        data: Value,
    ) -> ContactResult<()> {
        self.begin(now);
        let queue = self.open(contact)?.queue_id;
        self.router
            .handle_offer_rejected(self.now, ContactId(contact as u64), AgentId(agent as u64))
            .map_err(|_| ContactError::NotOffered { contact, agent })?;
        self.touch_agent(agent);
        self.event(contact, EventKind::Rejected, queue, Some(agent), data);
        self.drain();
        Ok(())
    }

    /// The offered agent's phone could not ring at all: a miss (it counts toward making
    /// the agent not-ready), on the timeline as `rejected` by `phone_unreachable`.
    pub fn handle_missed(&mut self, now: i64, contact: i64, agent: i64) -> ContactResult<()> {
        self.begin(now);
        let queue = self.open(contact)?.queue_id;
        self.router
            .handle_offer_missed(self.now, ContactId(contact as u64), AgentId(agent as u64))
            .map_err(|_| ContactError::NotOffered { contact, agent })?;
        self.touch_agent(agent);
        self.event(
            contact,
            EventKind::Rejected,
            queue,
            Some(agent),
            json!({ "by": "phone_unreachable" }),
        );
        self.drain();
        Ok(())
    }

    /// Ends a contact as [`lifecycle::end`] rules: a conversation goes to after-call work
    /// (or completes at once when its queue has none), a waiting contact is abandoned or
    /// interrupted, the IVR's own endings complete.
    pub fn handle_end(&mut self, now: i64, id: i64, by: EndBy) -> ContactResult<()> {
        self.begin(now);
        let now = self.now;
        let row = self.open(id)?;
        let (queue, handler, is_call) = (row.queue_id, row.agent_id, row.is_call());
        let request = EndRequest {
            agent: by.agent,
            by_user: by.by_user,
            reason: by.reason.clone(),
            no_wrap_up: queue
                .and_then(|q| self.queues.get(&q))
                .is_some_and(|q| q.wrap_up_secs == Some(0)),
        };
        let ending = lifecycle::end(&row.current(), &request)?;
        let offered_to = self.offered_agents(id);
        if ending.leave_router {
            self.router
                .handle_contact_ended(now, ContactId(id as u64))
                .map_err(|e| ContactError::Conflict(e.to_string()))?;
        }
        let end_reason = ending.end_reason.clone();
        self.change(id, |row| {
            row.ended_at = Some(now);
            row.status = ending.status;
            if end_reason.is_some() {
                row.end_reason = end_reason;
            }
        });
        let data = json!({ "by_user": by.by_user, "reason": by.reason });
        self.event(id, ending.event, queue, ending.event_agent, data);
        if ending.status == ContactStatus::WrapUp {
            if ending.complete_now {
                self.complete(id, None, true);
            }
            if let Some(a) = handler {
                self.touch_agent(a);
            }
        }
        for a in offered_to {
            self.touch_agent(a);
        }
        if by.hang_up_call && is_call {
            self.call(id, CallOrder::Ended);
        }
        self.drain();
        Ok(())
    }

    /// The agent wraps up (a disposition, late if the timer already did). A conversation
    /// still going is ended first. `stored`: the contact as stored, which the shell reads
    /// when it is no longer open here; `known_code(queue, code)` says whether a
    /// disposition is one of the contact's queue (a field error when not).
    pub fn handle_wrap_up(
        &mut self,
        now: i64,
        id: i64,
        by: WrapUpBy,
        stored: Option<Contact>,
        known_code: impl FnOnce(Option<i64>, &str) -> bool,
    ) -> ContactResult<WrapUpDone> {
        let WrapUpBy {
            agent,
            by_user,
            disposition,
        } = by;
        self.begin(now);
        let now = self.now;
        // Everything that can refuse the request is checked before anything changes: the
        // conversation must be the agent's, the disposition one of its queue.
        let row = match self.contacts.get(&id) {
            Some(r) => r.clone(),
            None => stored.ok_or(ContactError::NotOpen(id))?,
        };
        let talking = row.status == ContactStatus::Connected;
        if talking {
            lifecycle::still_going(&row.current(), Some(agent))?;
        } else {
            lifecycle::handled_by(&row.current(), agent)?;
        }
        if let Some(code) = &disposition {
            if !known_code(row.queue_id, code) {
                return Err(ContactError::field(
                    "disposition",
                    "is not a wrap-up code of this contact's queue",
                ));
            }
        }
        // Still talking: end and wrap up in one go.
        let row = if talking {
            self.handle_end(
                now,
                id,
                EndBy {
                    agent: Some(agent),
                    by_user: Some(by_user),
                    reason: None,
                    hang_up_call: true,
                },
            )?;
            self.contacts
                .get(&id)
                .cloned()
                .ok_or(ContactError::NotOpen(id))?
        } else {
            row
        };
        let done = match lifecycle::wrap_up(&row.current(), agent, disposition.is_some())? {
            WrapUp::Complete => {
                self.router
                    .handle_wrap_up_done(now, AgentId(agent as u64), ContactId(id as u64))
                    .map_err(|e| ContactError::Conflict(e.to_string()))?;
                self.complete(id, disposition, false);
                self.touch_agent(agent);
                WrapUpDone::Completed
            }
            // The wrap-up timer already ended after-call work: record the disposition late.
            WrapUp::LateDisposition => {
                let mut row = row;
                row.disposition_code = disposition;
                row.updated_at = now;
                self.contacts.insert(id, row);
                self.touch(id);
                WrapUpDone::LateDisposition
            }
            WrapUp::Nothing => WrapUpDone::Nothing,
        };
        self.drain();
        Ok(done)
    }

    /// Moves a contact to another queue, keeping its original arrival: an agent their
    /// connected contact (`agent`), a supervisor any open one. `tell_call`: the call behind
    /// it hears of it (not when the call asked for it itself).
    pub fn handle_transfer(
        &mut self,
        now: i64,
        id: i64,
        agent: Option<i64>,
        to: i64,
        by_user: Option<i64>,
        tell_call: bool,
    ) -> ContactResult<()> {
        self.begin(now);
        let now = self.now;
        let row = self.open(id)?;
        let status = lifecycle::still_going(&row.current(), agent)?;
        if !self.has_queue(to) {
            return Err(ContactError::field("queue_id", "no such queue"));
        }
        let is_call = row.is_call();
        let (from, handler) = (
            row.queue_id,
            row.agent_id.filter(|_| status == ContactStatus::Connected),
        );
        let offered_to = self.offered_agents(id);
        self.router
            .handle_transfer(now, ContactId(id as u64), QueueId(to as u64))
            .map_err(|e| ContactError::Conflict(e.to_string()))?;
        self.change(id, |row| {
            row.queue_id = Some(to);
            row.queue_entered_at = Some(now);
            row.status = ContactStatus::Queued;
            row.agent_id = None;
        });
        self.event(
            id,
            EventKind::Transferred,
            from,
            handler,
            json!({ "to_queue_id": to, "by_user": by_user }),
        );
        self.event(id, EventKind::Queued, Some(to), None, json!({}));
        for a in handler.into_iter().chain(offered_to) {
            self.touch_agent(a);
        }
        if is_call && tell_call {
            self.call(id, CallOrder::Transferred);
        }
        self.drain();
        Ok(())
    }
}
