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
use super::*;

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

impl TenantActor {
    /// (Re)builds the router and the open contacts from the database. Contacts that were
    /// waiting or ringing wait again with their original arrival time (an offer that was
    /// ringing is made again); work in progress stays with its agent. What happens to calls
    /// depends on `mode`: see [`Rebuild`].
    pub async fn rebuild(&mut self, mode: Rebuild) -> CenterResult<()> {
        let unavailable = |e: tsunagu_store::StoreError| CenterError::Unavailable(e.to_string());
        self.now = self.clock.now_ms().max(self.now);
        let now = self.now;
        self.router = Router::new(router_config(&self.tenant));
        self.step = Step::default();
        self.queues.clear();
        self.agents.clear();
        self.open.clear();
        self.persisted.clear();

        let queues = self
            .store
            .queues(self.tenant.id)
            .await
            .map_err(unavailable)?;
        for pass in [false, true] {
            for q in &queues {
                match queue_config(q, pass) {
                    Ok(cfg) => {
                        if let Err(e) = self.router.upsert_queue(now, cfg) {
                            error!(tenant = %self.tenant.slug, queue = q.id, "queue not loaded: {e}");
                        }
                    }
                    Err(e) => {
                        error!(tenant = %self.tenant.slug, queue = q.id, "queue not loaded: {e}")
                    }
                }
            }
        }
        self.queues = queues.into_iter().map(|q| (q.id, q)).collect();

        let day_start = start_of_day(now, &self.tenant.time_zone);
        let work: HashMap<i64, (i64, i64)> = self
            .store
            .agent_work_since(self.tenant.id, day_start)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|(a, n, t)| (a, (n, t)))
            .collect();
        let users: HashMap<i64, UserRow> = self
            .store
            .users(self.tenant.id)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        for a in self
            .store
            .agents(self.tenant.id)
            .await
            .map_err(unavailable)?
        {
            let id = a.agent.id;
            if let Err(e) = self.router.upsert_agent(now, agent_config(&a)) {
                error!(tenant = %self.tenant.slug, agent = id, "agent not loaded: {e}");
                continue;
            }
            let (handled, talk) = work.get(&id).copied().unwrap_or((0, 0));
            let _ = self.router.set_agent_stats(
                now,
                AgentId(id as u64),
                AgentStats {
                    handled: handled as u64,
                    talk_ms: talk,
                    idle_since: Some(a.agent.status_since),
                },
            );
            let disabled = users.get(&a.agent.user_id).is_none_or(|u| u.disabled);
            let presence = if disabled {
                Presence::Offline
            } else {
                parse_presence(&a.agent.presence).unwrap_or(Presence::Offline)
            };
            self.persisted.insert(
                id,
                (
                    a.agent.presence.clone(),
                    a.agent.reason.clone(),
                    a.agent.status.clone(),
                ),
            );
            self.agents.insert(
                id,
                AgentLive {
                    user_id: a.agent.user_id,
                    queues: a.queues.iter().map(|q| q.0).collect(),
                    username: a.username.clone(),
                    display_name: a.display_name.clone(),
                    presence,
                    reason: a.agent.reason.clone(),
                    status: AgentStatus::parse(&a.agent.status).unwrap_or(AgentStatus::Offline),
                    since: a.agent.status_since,
                    changed_by: None,
                },
            );
        }

        let open: Vec<ContactRow> = self
            .store
            .open_contacts(self.tenant.id)
            .await
            .map_err(unavailable)?;
        let recovered = open.len();
        for c in open {
            self.recover_contact(c, mode);
        }
        // Presence last, so restored work is in place before anyone can be offered more.
        let presences: Vec<(i64, Presence)> = self
            .agents
            .iter()
            .map(|(&id, a)| (id, a.presence))
            .collect();
        for (id, p) in presences {
            if p != Presence::Offline {
                let _ = self.router.handle_presence(now, AgentId(id as u64), p);
            }
            self.step.touch_agent(id);
        }
        if mode == Rebuild::Resync {
            // Before any new offer: the calls learn which contacts the center still has
            // open, and that no offer made before stands any more.
            let live = self.live_calls();
            self.step.voice.push(VoiceDirective::Resync { live });
        }
        self.drain();
        info!(tenant = %self.tenant.slug, ?mode, contacts = recovered, agents = self.agents.len(), "tenant state rebuilt");
        // What is stored so far; the rebuild's own writes are added as they commit.
        self.load_figures().await;
        self.commit_rebuild().await
    }

    /// Commits the rebuild's own writes (recovery events, new offers) like any step, but a
    /// refusal is reported to the caller instead of starting another rebuild.
    pub(super) async fn commit_rebuild(&mut self) -> CenterResult<()> {
        self.flush_agents();
        let touched = std::mem::take(&mut self.step.contacts);
        let rows: Vec<Write> = touched
            .iter()
            .filter_map(|id| self.open.get(id))
            .map(|r| Write::Contact(Box::new(r.clone())))
            .collect();
        self.store_step(rows, touched)
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))
    }
}
