//! Run-time configuration changes (tenant settings, a queue, an agent) applied in place:
//! every live contact, offer and call stays where it is.

use super::*;

impl TenantActor {
    /// The tenant's settings changed. Applied in place: every contact, offer and call
    /// stays where it is; waiting contacts are ranked under the new priority step.
    pub(super) fn tenant_changed(&mut self, t: TenantRow) -> CenterResult<()> {
        if t.id != self.tenant.id {
            return Err(CenterError::Conflict(format!(
                "tenant {} is not tenant {}",
                t.id, self.tenant.id
            )));
        }
        self.core
            .router_mut()
            .set_config(self.now, router_config(&t));
        self.figures.tenant_changed(&t);
        self.tenant = t;
        self.core.handle_router_changed(self.now);
        Ok(())
    }

    pub(super) async fn reload_queue(&mut self, id: i64) -> CenterResult<()> {
        let now = self.now;
        match self
            .store
            .queue(self.tenant.id, id)
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))?
        {
            Some(row) => {
                let cfg = queue_config(&row, true).map_err(|m| field("queue", &m.to_string()))?;
                self.core
                    .router_mut()
                    .upsert_queue(now, cfg)
                    .map_err(|e| field("queue", &e.to_string()))?;
                self.core.set_queue_rules(id, Some(queue_rules(&row)));
                self.queues.insert(id, row);
            }
            None => {
                if self.queues.contains_key(&id) {
                    self.core
                        .router_mut()
                        .remove_queue(now, QueueId(id as u64))
                        .map_err(|e| CenterError::Conflict(e.to_string()))?;
                    self.queues.remove(&id);
                    self.core.set_queue_rules(id, None);
                }
            }
        }
        self.figures.configure(
            &self.queues,
            self.members(),
            Some(id).filter(|q| !self.queues.contains_key(q)),
        );
        self.core.handle_router_changed(now);
        Ok(())
    }

    pub(super) async fn reload_agent(&mut self, id: i64) -> CenterResult<()> {
        let now = self.now;
        let Some(full) = self
            .store
            .agent(self.tenant.id, id)
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))?
        else {
            return Err(CenterError::NotFound(format!("agent {id}")));
        };
        let user = self
            .store
            .user(self.tenant.id, full.agent.user_id)
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))?;
        self.core
            .router_mut()
            .upsert_agent(now, agent_config(&full))
            .map_err(|e| field("agent", &e.to_string()))?;
        let live = self.agents.entry(id).or_insert_with(|| AgentLive {
            user_id: full.agent.user_id,
            queues: Vec::new(),
            username: full.username.clone(),
            display_name: full.display_name.clone(),
            presence: Presence::Offline,
            reason: None,
            status: AgentStatus::Offline,
            since: now,
            changed_by: None,
        });
        live.username = full.username.clone();
        live.display_name = full.display_name.clone();
        live.queues = full.queues.iter().map(|q| q.0).collect();
        // A disabled user is logged off.
        if user.is_none_or(|u| u.disabled) && live.presence != Presence::Offline {
            live.presence = Presence::Offline;
            live.reason = None;
            self.core
                .router_mut()
                .handle_presence(now, AgentId(id as u64), Presence::Offline)
                .ok();
        }
        self.figures.configure(&self.queues, self.members(), None);
        self.step.touch_agent(id);
        self.core.handle_router_changed(now);
        Ok(())
    }
}
