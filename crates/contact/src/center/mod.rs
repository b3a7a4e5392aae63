//! The tenant's contact center as one sans-IO state machine: the ACD router and the open
//! contacts, moved by commands from screens, the API and calls, and by time.
//!
//! ```text
//!  shell (tenant actor)                      Center
//!  ─────────────────────────────────────     ─────────────────────────────────────────
//!  reads what a command needs (a stored  ──► handle_*(now, …)  → Ok / ContactError
//!  contact, a customer, a fresh id)          (refused: nothing changed)
//!  router deadline due                   ──► handle_timeout(now)
//!                                        ◄── poll_effect(): timeline events, notices to
//!                                            agents' screens, orders for calls, agents
//!                                            made not-ready
//!                                        ◄── take_touched(): contacts whose records changed
//!                                            take_touched_agents(): agents to look at again
//!  writes records + events in one
//!  transaction, then publishes           ──► forget_closed(ids)
//!                                        ◄── poll_timeout(): the router's next deadline
//! ```
//!
//! Every `handle_*` first asks the router and the lifecycle rules, which refuse without
//! changing anything; then changes the record and queues the effects; then carries out
//! what the router decided in consequence (offers, withdrawals, …, read by
//! [`crate::routing`]). Effects come out in the order they happened; event ids and rows
//! are the shell's business.

mod calls;
mod commands;
mod record;
mod recover;

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Value};
use tsunagu_acd::{Action, AgentId, ContactId, ContactView as RouterContact, Router, RouterConfig};
use tsunagu_domain::contact::{ContactStatus, EventKind};

use crate::lifecycle::LifecycleError;
use crate::routing::{self, CallOrder, Notice, Record};

pub use calls::{CallEnd, LiveCall, NewCall};
pub use commands::{EndBy, NewContact, WrapUpBy, WrapUpDone};
pub use record::Contact;

/// What a queue's rules mean for its contacts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueRules {
    /// Calls of this queue are recorded.
    pub record_calls: bool,
    /// After-call work time, s (`Some(0)`: none, `None`: until the agent finishes).
    pub wrap_up_secs: Option<i64>,
}

/// An output of the core, in the order things happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// A timeline event of a contact; `data` is a JSON object (`{}` for nothing more).
    Event {
        contact: i64,
        kind: EventKind,
        queue: Option<i64>,
        agent: Option<i64>,
        data: Value,
    },
    /// An agent's screen must hear of an offer (made, withdrawn, timed out).
    Notice { contact: i64, notice: Notice },
    /// The call behind a contact must do something.
    Call { contact: i64, order: CallOrder },
    /// The agent missed too many offers in a row: the router made them not-ready.
    AutoNotReady { agent: i64 },
}

/// Why a command cannot be carried out; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("contact {0} is not open")]
    NotOpen(i64),
    #[error("contact {contact} is not offered to agent {agent}")]
    NotOffered { contact: i64, agent: i64 },
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The request cannot be carried out as things stand (the router's or the core's
    /// words).
    #[error("{0}")]
    Conflict(String),
    /// A field of the request is wrong.
    #[error("{field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
}

impl ContactError {
    fn field(field: &'static str, message: impl Into<String>) -> ContactError {
        ContactError::Field {
            field,
            message: message.into(),
        }
    }
}

pub type ContactResult<T> = Result<T, ContactError>;

/// The tenant's router and open contacts. See the module docs for the drive contract.
pub struct Center {
    router: Router,
    contacts: BTreeMap<i64, Contact>,
    queues: BTreeMap<i64, QueueRules>,
    /// Contacts whose records changed since last taken, in first-touched order.
    touched: Vec<i64>,
    /// Agents whose state may have changed since last taken.
    agents: Vec<i64>,
    effects: VecDeque<Effect>,
    now: i64,
}

impl Center {
    pub fn new(config: RouterConfig) -> Center {
        Center {
            router: Router::new(config),
            contacts: BTreeMap::new(),
            queues: BTreeMap::new(),
            touched: Vec::new(),
            agents: Vec::new(),
            effects: VecDeque::new(),
            now: 0,
        }
    }

    // ----- configuration ----------------------------------------------------------------

    /// The router, read-only (snapshots, positions, agents' statuses).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Changes the router's configuration (queues, agents, presence, settings): call
    /// [`Center::handle_router_changed`] after, so its decisions are carried out.
    pub fn router_mut(&mut self) -> &mut Router {
        &mut self.router
    }

    /// The rules of a queue the center has (again), or none when `rules` is `None`.
    pub fn set_queue_rules(&mut self, queue: i64, rules: Option<QueueRules>) {
        match rules {
            Some(r) => self.queues.insert(queue, r),
            None => self.queues.remove(&queue),
        };
    }

    pub fn has_queue(&self, queue: i64) -> bool {
        self.queues.contains_key(&queue)
    }

    /// Carries out what the router decided after a change to its configuration.
    pub fn handle_router_changed(&mut self, now: i64) {
        self.now = now.max(self.now);
        self.drain();
    }

    /// Fires the router's due deadlines (offers unanswered, maximum waits, wrap-up timers).
    pub fn handle_timeout(&mut self, now: i64) {
        self.now = now.max(self.now);
        self.router.handle_timeout(self.now);
        self.drain();
    }

    /// When [`Center::handle_timeout`] is next needed (Unix ms).
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<i64> {
        self.router.poll_timeout()
    }

    // ----- outputs ----------------------------------------------------------------------

    #[must_use]
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Contacts whose records changed, in first-touched order; the shell writes each one
    /// still in [`Center::contact`].
    #[must_use]
    pub fn take_touched(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.touched)
    }

    /// Agents whose state may have changed.
    #[must_use]
    pub fn take_touched_agents(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.agents)
    }

    /// After the shell stored them: contacts among `ids` that are over are let go.
    pub fn forget_closed(&mut self, ids: &[i64]) {
        for id in ids {
            if self.contacts.get(id).is_some_and(|c| !c.status.is_open()) {
                self.contacts.remove(id);
            }
        }
    }

    /// Starts again with no contacts (a rebuild from the store follows).
    pub fn reset(&mut self, config: RouterConfig) {
        *self = Center::new(config);
    }

    // ----- views ------------------------------------------------------------------------

    /// An open contact (or one that closed in this step, until forgotten).
    pub fn contact(&self, id: i64) -> Option<&Contact> {
        self.contacts.get(&id)
    }

    pub fn contacts(&self) -> impl Iterator<Item = &Contact> {
        self.contacts.values()
    }

    /// The offers ringing for `agent`: each contact with the offer's deadline (Unix ms).
    pub fn offers_for(&self, agent: i64) -> Vec<(&Contact, i64)> {
        self.contacts
            .values()
            .filter_map(|c| match self.router.contact(ContactId(c.id as u64)) {
                Some(RouterContact::Offered {
                    agents, expires_at, ..
                }) if agents.contains(&AgentId(agent as u64)) => Some((c, expires_at)),
                _ => None,
            })
            .collect()
    }

    /// The agents a contact is ringing for.
    pub fn offered_agents(&self, contact: i64) -> Vec<i64> {
        match self.router.contact(ContactId(contact as u64)) {
            Some(RouterContact::Offered { agents, .. }) => {
                agents.iter().map(|a| a.0 as i64).collect()
            }
            _ => Vec::new(),
        }
    }

    // ----- inside -----------------------------------------------------------------------

    fn open(&self, id: i64) -> ContactResult<&Contact> {
        self.contacts.get(&id).ok_or(ContactError::NotOpen(id))
    }

    /// The open contact `id`, changed by `f` at the core's time (`updated_at`), and
    /// touched.
    fn change(&mut self, id: i64, f: impl FnOnce(&mut Contact)) {
        let now = self.now;
        if let Some(c) = self.contacts.get_mut(&id) {
            f(c);
            c.updated_at = now;
            self.touch(id);
        }
    }

    fn touch(&mut self, id: i64) {
        if !self.touched.contains(&id) {
            self.touched.push(id);
        }
    }

    fn touch_agent(&mut self, id: i64) {
        if !self.agents.contains(&id) {
            self.agents.push(id);
        }
    }

    fn event(
        &mut self,
        contact: i64,
        kind: EventKind,
        queue: Option<i64>,
        agent: Option<i64>,
        data: Value,
    ) {
        self.effects.push_back(Effect::Event {
            contact,
            kind,
            queue,
            agent,
            data,
        });
    }

    fn call(&mut self, contact: i64, order: CallOrder) {
        self.effects.push_back(Effect::Call { contact, order });
    }

    /// Carries out the router's decisions as [`routing::routed`] reads them.
    fn drain(&mut self) {
        while let Some(action) = self.router.poll_action() {
            let seen = contact_of(&action).and_then(|c| {
                self.contacts.get(&c).map(|row| routing::Seen {
                    voice: row.is_call(),
                    queue: row.queue_id,
                })
            });
            let r = routing::routed(&action, seen);
            if let Some(c) = r.contact {
                self.apply_record(c, r.record);
                if let Some(t) = r.timeline {
                    let data = match t.detail {
                        routing::Detail::Nothing => json!({}),
                        routing::Detail::ExpiresAt(at) => {
                            json!({ "expires_at": tsunagu_domain::time::rfc3339_ms(at) })
                        }
                        routing::Detail::Reason(reason) => json!({ "reason": reason }),
                        routing::Detail::FromQueue(q) => json!({ "from_queue_id": q }),
                    };
                    self.event(c, t.kind, t.queue, t.agent, data);
                }
                if let Some(notice) = r.notice {
                    self.effects
                        .push_back(Effect::Notice { contact: c, notice });
                }
                if let Some(order) = r.call {
                    self.call(c, order);
                }
            }
            if let Some(a) = r.agent {
                if r.auto_not_ready {
                    self.effects.push_back(Effect::AutoNotReady { agent: a });
                }
                self.touch_agent(a);
            }
        }
    }

    /// The record's part of a router decision.
    fn apply_record(&mut self, c: i64, record: Record) {
        let now = self.now;
        match record {
            Record::Same => {}
            Record::Completed => self.complete(c, None, true),
            Record::Offered => self.change(c, |row| {
                row.status = ContactStatus::Offered;
                row.offered_at = Some(now);
            }),
            Record::Requeued => self.change(c, |row| row.status = ContactStatus::Queued),
            Record::Moved { to } => self.change(c, |row| {
                row.queue_id = Some(to);
                row.queue_entered_at = Some(now);
                row.status = ContactStatus::Queued;
            }),
            Record::TimedOut { reason } => self.change(c, |row| {
                row.status = ContactStatus::TimedOut;
                row.ended_at = Some(now);
                row.end_reason = Some(reason.into());
            }),
        }
    }

    /// After-call work over: the contact is completed (`auto`: by the wrap-up timer).
    fn complete(&mut self, id: i64, disposition: Option<String>, auto: bool) {
        let now = self.now;
        let Some(row) = self.contacts.get(&id) else {
            return;
        };
        let (queue, agent) = (row.queue_id, row.agent_id);
        self.change(id, |row| {
            row.status = ContactStatus::Completed;
            row.acw_done_at = Some(now);
            if disposition.is_some() {
                row.disposition_code = disposition.clone();
            }
        });
        self.event(
            id,
            EventKind::AcwDone,
            queue,
            agent,
            json!({ "disposition": disposition, "auto": auto }),
        );
    }

    fn begin(&mut self, now: i64) {
        self.now = now.max(self.now);
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
