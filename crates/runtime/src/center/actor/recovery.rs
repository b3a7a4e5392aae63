//! Recovery: each stored open contact put back where it stands (start-up closes calls,
//! a run-time resync keeps them; the decision is `tsunagu_contact::recover`), and the open
//! call contacts the telephony shell must reconcile after a resync.

use serde_json::json;
use tracing::error;
use tsunagu_acd::{
    AgentId, Assignment, Channel, ContactId, ContactSpec, QueueId, Router, RouterError,
};
use tsunagu_contact::{recover, Recovery, Stored};
use tsunagu_domain::contact::{ContactStatus, EventKind};
use tsunagu_store::rows::ContactRow;

use super::super::mapping::router_requirements;
use super::super::voice::LiveCall;
use super::{callback_number, Rebuild, TenantActor};

impl TenantActor {
    /// The open contacts of calls and where each stands, for [`VoiceDirective::Resync`].
    /// Callback requests waiting for their turn have no call and are left out.
    pub(super) fn live_calls(&self) -> Vec<(i64, LiveCall)> {
        let mut live: Vec<(i64, LiveCall)> = self
            .open
            .values()
            .filter(|c| c.channel == Channel::Voice.as_str())
            .filter_map(|c| {
                let state = match ContactStatus::parse(&c.status)? {
                    ContactStatus::Ivr => LiveCall::Ivr,
                    ContactStatus::Queued | ContactStatus::Offered => {
                        if callback_number(c).is_some() {
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
            .collect();
        live.sort_unstable_by_key(|&(id, _)| id);
        live
    }

    /// Restores one stored open contact as [`tsunagu_contact::recover`] decides, writing
    /// what changed and its timeline events.
    pub(super) fn recover_contact(&mut self, mut c: ContactRow, mode: Rebuild) {
        let now = self.now;
        let id = c.id;
        let status = ContactStatus::parse(&c.status).unwrap_or(ContactStatus::Queued);
        let channel = Channel::parse(&c.channel).unwrap_or(Channel::Task);
        let stored = Stored {
            status,
            channel,
            queue_known: c.queue_id.is_some_and(|q| self.queues.contains_key(&q)),
            agent: c.agent_id,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            callback: callback_number(&c).is_some(),
        };
        let spec = |c: &ContactRow| ContactSpec {
            id: ContactId(c.id as u64),
            queue: QueueId(c.queue_id.unwrap_or(0) as u64),
            channel,
            priority: c.priority as i32,
            requirements: router_requirements(&c.requirements).unwrap_or_default(),
            arrived_at: c.queued_at.unwrap_or(c.created_at),
            queue_entered_at: c.queue_entered_at.or(c.queued_at).unwrap_or(c.created_at),
        };
        let was = c.status.clone();
        let (q, a) = (c.queue_id, c.agent_id);
        let restore = |router: &mut Router, c: &ContactRow, agent: Option<i64>, as_: Assignment| {
            match agent {
                Some(agent) => router.restore_assignment(now, spec(c), AgentId(agent as u64), as_),
                None => Err(RouterError::UnknownAgent(AgentId(0))),
            }
        };
        let result = match recover(&stored, mode, now) {
            Recovery::Unchanged => Ok(()),
            Recovery::Close { completed, reason } => {
                c.ended_at = Some(now);
                c.updated_at = now;
                let kind = if completed {
                    c.status = ContactStatus::Completed.as_str().into();
                    c.acw_done_at = Some(now);
                    EventKind::Ended
                } else {
                    c.status = ContactStatus::Interrupted.as_str().into();
                    EventKind::Interrupted
                };
                c.end_reason = Some(reason.into());
                self.open.insert(id, c);
                self.step.touch_contact(id);
                self.event(
                    id,
                    EventKind::Recovered,
                    q,
                    a,
                    json!({ "was": was, "action": "closed" }),
                );
                self.event(id, kind, q, a, json!({ "reason": "server_restart" }));
                return;
            }
            Recovery::Wait { requeued } => {
                if requeued {
                    c.status = ContactStatus::Queued.as_str().into();
                    c.updated_at = now;
                    self.step.touch_contact(id);
                    self.event(
                        id,
                        EventKind::Recovered,
                        q,
                        None,
                        json!({ "was": was, "action": "requeued" }),
                    );
                }
                self.router.handle_contact_arrived(now, spec(&c))
            }
            Recovery::Connected { agent, since } => {
                restore(&mut self.router, &c, agent, Assignment::Connected { since })
            }
            Recovery::WrapUp {
                agent,
                since,
                call_ended,
            } => {
                if call_ended {
                    c.status = ContactStatus::WrapUp.as_str().into();
                    c.ended_at = Some(now);
                    c.end_reason = Some("server_restart".into());
                    c.updated_at = now;
                    self.step.touch_contact(id);
                    self.event(
                        id,
                        EventKind::Recovered,
                        q,
                        a,
                        json!({ "was": was, "action": "call_ended" }),
                    );
                    self.event(
                        id,
                        EventKind::Ended,
                        q,
                        a,
                        json!({ "reason": "server_restart" }),
                    );
                }
                restore(&mut self.router, &c, agent, Assignment::WrapUp { since })
            }
        };
        self.open.insert(id, c);
        if let Err(e) = result {
            error!(tenant = %self.tenant.slug, contact = id, "contact could not be restored: {e}");
            let Some(c) = self.open.get_mut(&id) else {
                return;
            };
            c.status = ContactStatus::Interrupted.as_str().into();
            c.ended_at = Some(now);
            c.end_reason = Some("recovery_failed".into());
            self.step.touch_contact(id);
            self.event(
                id,
                EventKind::Recovered,
                q,
                a,
                json!({ "was": was, "action": "closed", "error": e.to_string() }),
            );
            self.event(
                id,
                EventKind::Interrupted,
                q,
                a,
                json!({ "reason": "recovery_failed" }),
            );
        }
    }
}
