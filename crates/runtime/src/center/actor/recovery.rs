//! Rebuilding the tenant from the store: queues, agents and each stored open contact put
//! back where it stands (start-up closes calls, a run-time resync keeps them; the contact
//! core decides, `tsunagu_contact::recover`), and the open call contacts the telephony
//! shell must reconcile after a resync.

use tracing::error;

use super::super::mapping::router_requirements;
use super::*;

impl TenantActor {
    /// (Re)builds the router and the open contacts from the database. Contacts that were
    /// waiting or ringing wait again with their original arrival time (an offer that was
    /// ringing is made again); work in progress stays with its agent. What happens to calls
    /// depends on `mode`: see [`Rebuild`].
    pub async fn rebuild(&mut self, mode: Rebuild) -> CenterResult<()> {
        let unavailable = |e: tsunagu_store::StoreError| CenterError::Unavailable(e.to_string());
        self.now = self.clock.now_ms().max(self.now);
        let now = self.now;
        self.core.reset(router_config(&self.tenant));
        self.step = Step::default();
        self.queues.clear();
        self.agents.clear();
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
                        if let Err(e) = self.core.router_mut().upsert_queue(now, cfg) {
                            error!(tenant = %self.tenant.slug, queue = q.id, "queue not loaded: {e}");
                        }
                    }
                    Err(e) => {
                        error!(tenant = %self.tenant.slug, queue = q.id, "queue not loaded: {e}")
                    }
                }
            }
        }
        for q in &queues {
            self.core.set_queue_rules(q.id, Some(queue_rules(q)));
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
            if let Err(e) = self.core.router_mut().upsert_agent(now, agent_config(&a)) {
                error!(tenant = %self.tenant.slug, agent = id, "agent not loaded: {e}");
                continue;
            }
            let (handled, talk) = work.get(&id).copied().unwrap_or((0, 0));
            let _ = self.core.router_mut().set_agent_stats(
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
        for row in open {
            let requirements = router_requirements(&row.requirements).unwrap_or_default();
            if let Err(e) =
                self.core
                    .handle_recovered(now, contact_of_row(&row), requirements, mode)
            {
                error!(tenant = %self.tenant.slug, contact = row.id, "contact could not be restored: {e}");
            }
        }
        // Presence last, so restored work is in place before anyone can be offered more.
        let presences: Vec<(i64, Presence)> = self
            .agents
            .iter()
            .map(|(&id, a)| (id, a.presence))
            .collect();
        for (id, p) in presences {
            if p != Presence::Offline {
                let _ = self
                    .core
                    .router_mut()
                    .handle_presence(now, AgentId(id as u64), p);
            }
            self.step.touch_agent(id);
        }
        if mode == Rebuild::Resync {
            // Before any new offer: the calls learn which contacts the center still has
            // open, and that no offer made before stands any more.
            let live = self.core.live_calls();
            self.step.voice.push(VoiceDirective::Resync { live });
        }
        self.core.handle_router_changed(now);
        self.carry_out();
        info!(tenant = %self.tenant.slug, ?mode, contacts = recovered, agents = self.agents.len(), "tenant state rebuilt");
        // What is stored so far; the rebuild's own writes are added as they commit.
        self.load_figures().await;
        self.commit_rebuild().await
    }

    /// Commits the rebuild's own writes (recovery events, new offers) like any step, but a
    /// refusal is reported to the caller instead of starting another rebuild.
    pub(super) async fn commit_rebuild(&mut self) -> CenterResult<()> {
        self.carry_out();
        self.flush_agents();
        let touched = self.core.take_touched();
        let rows = self.touched_rows(&touched, false);
        self.store_step(rows, touched)
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))
    }
}
