//! A stored open contact put back where it stands when the tenant is rebuilt (start-up
//! closes calls, a run-time resynchronisation keeps them): [`crate::recover`] decides,
//! this carries it out on the record, the router and the timeline.

use serde_json::json;
use tsunagu_acd::{
    AgentId, Assignment, ContactId, ContactSpec, QueueId, RouterError, SkillRequirement,
};
use tsunagu_domain::contact::{ContactStatus, EventKind};

use super::{Center, Contact};
use crate::recovery::{recover, Rebuild, Recovery, Stored};

impl Center {
    /// Restores `c` as stored (its requirements read for the router by the shell). Returns
    /// the router's refusal when the contact could not be restored: it is then closed as
    /// interrupted (`recovery_failed`), with the error on its timeline.
    pub fn handle_recovered(
        &mut self,
        now: i64,
        mut c: Contact,
        requirements: Vec<SkillRequirement>,
        mode: Rebuild,
    ) -> Result<(), RouterError> {
        self.begin(now);
        let now = self.now;
        let id = c.id;
        let stored = Stored {
            status: c.status,
            channel: c.channel,
            queue_known: c.queue_id.is_some_and(|q| self.has_queue(q)),
            agent: c.agent_id,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            callback: c.callback_number().is_some(),
        };
        let spec = ContactSpec {
            id: ContactId(c.id as u64),
            queue: QueueId(c.queue_id.unwrap_or(0) as u64),
            channel: c.channel,
            priority: c.priority as i32,
            requirements,
            arrived_at: c.queued_at.unwrap_or(c.created_at),
            queue_entered_at: c.queue_entered_at.or(c.queued_at).unwrap_or(c.created_at),
        };
        let was = c.status.as_str();
        let (q, a) = (c.queue_id, c.agent_id);
        let restore = |center: &mut Center, agent: Option<i64>, as_: Assignment| match agent {
            Some(agent) => {
                center
                    .router
                    .restore_assignment(now, spec.clone(), AgentId(agent as u64), as_)
            }
            None => Err(RouterError::UnknownAgent(AgentId(0))),
        };
        let result = match recover(&stored, mode, now) {
            Recovery::Unchanged => Ok(()),
            Recovery::Close { completed, reason } => {
                c.ended_at = Some(now);
                c.updated_at = now;
                let kind = if completed {
                    c.status = ContactStatus::Completed;
                    c.acw_done_at = Some(now);
                    EventKind::Ended
                } else {
                    c.status = ContactStatus::Interrupted;
                    EventKind::Interrupted
                };
                c.end_reason = Some(reason.into());
                self.contacts.insert(id, c);
                self.touch(id);
                self.event(
                    id,
                    EventKind::Recovered,
                    q,
                    a,
                    json!({ "was": was, "action": "closed" }),
                );
                self.event(id, kind, q, a, json!({ "reason": "server_restart" }));
                return Ok(());
            }
            Recovery::Wait { requeued } => {
                if requeued {
                    c.status = ContactStatus::Queued;
                    c.updated_at = now;
                    self.touch(id);
                    self.event(
                        id,
                        EventKind::Recovered,
                        q,
                        None,
                        json!({ "was": was, "action": "requeued" }),
                    );
                }
                self.router.handle_contact_arrived(now, spec.clone())
            }
            Recovery::Connected { agent, since } => {
                restore(self, agent, Assignment::Connected { since })
            }
            Recovery::WrapUp {
                agent,
                since,
                call_ended,
            } => {
                if call_ended {
                    c.status = ContactStatus::WrapUp;
                    c.ended_at = Some(now);
                    c.end_reason = Some("server_restart".into());
                    c.updated_at = now;
                    self.touch(id);
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
                restore(self, agent, Assignment::WrapUp { since })
            }
        };
        self.contacts.insert(id, c);
        if let Err(e) = &result {
            self.change(id, |c| {
                c.status = ContactStatus::Interrupted;
                c.ended_at = Some(now);
                c.end_reason = Some("recovery_failed".into());
            });
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
        result
    }
}
