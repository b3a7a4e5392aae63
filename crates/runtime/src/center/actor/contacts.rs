//! Commands on contacts from screens and the API: create, presence, accept, reject, end,
//! wrap up, transfer, notes. The contact core decides and changes; this reads what it
//! needs first (a fresh id, a stored contact, the tenant's dispositions) and keeps notes.

use super::*;
use tsunagu_contact::center::{EndBy, NewContact as CoreContact, WrapUpBy};

impl TenantActor {
    pub(super) fn create_contact(&mut self, new: NewContact) -> CenterResult<ContactRow> {
        let now = self.now;
        let direction = tsunagu_domain::contact::Direction::parse(&new.direction)
            .ok_or_else(|| field("direction", "must be inbound or outbound"))?;
        let id = self.store.next_id(now);
        self.core
            .handle_create(
                now,
                CoreContact {
                    id,
                    channel: new.channel,
                    direction,
                    queue_id: new.queue_id,
                    customer_id: new.customer_id,
                    customer_address: new.customer_address,
                    priority: new.priority,
                    subject: new.subject,
                    attributes: new.attributes,
                    requirements: new
                        .requirements
                        .iter()
                        .map(Requirement::to_router)
                        .collect(),
                    requirements_json: serde_json::to_string(&new.requirements)
                        .unwrap_or_else(|_| "[]".into()),
                    created_by: new.created_by,
                },
            )
            .map_err(from_core)?;
        Ok(self.row(id).expect("just created"))
    }

    /// The contact's row as the core has it now (open, or closed in this step).
    pub(super) fn row(&self, id: i64) -> Option<ContactRow> {
        self.core.contact(id).map(|c| row_of(c, self.tenant.id))
    }

    pub(super) async fn agent_command(
        &mut self,
        cmd: AgentCommand,
    ) -> CenterResult<Option<ContactRow>> {
        let now = self.now;
        match cmd {
            AgentCommand::SetPresence {
                agent_id,
                presence,
                reason,
                by_user,
            } => {
                if !self.agents.contains_key(&agent_id) {
                    return Err(CenterError::NotFound(format!("agent {agent_id}")));
                }
                self.core
                    .router_mut()
                    .handle_presence(now, AgentId(agent_id as u64), presence)
                    .map_err(|e| CenterError::NotFound(e.to_string()))?;
                let live = self.agents.get_mut(&agent_id).expect("checked");
                live.presence = presence;
                live.reason = if presence == Presence::NotReady {
                    reason.or(Some("other".into()))
                } else {
                    None
                };
                live.changed_by = Some(by_user);
                self.step.touch_agent(agent_id);
                Ok(None)
            }
            AgentCommand::Accept {
                contact_id,
                agent_id,
            } => {
                let c = self.core.contact(contact_id).ok_or_else(|| {
                    CenterError::Conflict(format!("contact {contact_id} is not open"))
                })?;
                if c.is_call() {
                    return Err(CenterError::Conflict(
                        "a call is answered on the phone, not from the screen".into(),
                    ));
                }
                self.core
                    .handle_accept(now, contact_id, agent_id, true)
                    .map_err(from_core)?;
                Ok(self.row(contact_id))
            }
            AgentCommand::Reject {
                contact_id,
                agent_id,
            } => {
                self.core
                    .handle_reject(now, contact_id, agent_id, json!({}))
                    .map_err(from_core)?;
                Ok(self.row(contact_id))
            }
            AgentCommand::End {
                contact_id,
                agent_id,
                by_user,
                reason,
            } => {
                self.core
                    .handle_end(
                        now,
                        contact_id,
                        EndBy {
                            agent: agent_id,
                            by_user: Some(by_user),
                            reason,
                            hang_up_call: true,
                        },
                    )
                    .map_err(from_core)?;
                Ok(self.row(contact_id))
            }
            AgentCommand::WrapUp {
                contact_id,
                agent_id,
                disposition,
                note,
                by_user,
            } => {
                self.wrap_up(contact_id, agent_id, disposition, note, by_user)
                    .await
            }
            AgentCommand::Transfer {
                contact_id,
                agent_id,
                to_queue,
                note,
                by_user,
            } => {
                self.core
                    .handle_transfer(now, contact_id, agent_id, to_queue, Some(by_user), true)
                    .map_err(from_core)?;
                self.add_note(contact_id, by_user, note);
                Ok(self.row(contact_id))
            }
        }
    }

    /// Wrap-up: the contact as stored is read when the core no longer has it open (a
    /// disposition given after the wrap-up timer), and the tenant's dispositions when one
    /// is given.
    async fn wrap_up(
        &mut self,
        id: i64,
        agent_id: i64,
        disposition: Option<String>,
        note: Option<String>,
        by_user: i64,
    ) -> CenterResult<Option<ContactRow>> {
        let now = self.now;
        let unavailable = |e: tsunagu_store::StoreError| CenterError::Unavailable(e.to_string());
        let stored = match self.core.contact(id) {
            Some(_) => None,
            None => Some(
                self.store
                    .contact(self.tenant.id, id)
                    .await
                    .map_err(unavailable)?
                    .map(|r| contact_of_row(&r))
                    .ok_or_else(|| CenterError::NotFound(format!("contact {id}")))?,
            ),
        };
        let codes = match &disposition {
            Some(_) => self
                .store
                .dispositions(self.tenant.id)
                .await
                .map_err(unavailable)?,
            None => Vec::new(),
        };
        let known = |queue: Option<i64>, code: &str| {
            codes
                .iter()
                .any(|d| d.code == code && (d.queue_id.is_none() || d.queue_id == queue))
        };
        self.core
            .handle_wrap_up(
                now,
                id,
                WrapUpBy {
                    agent: agent_id,
                    by_user,
                    disposition,
                },
                stored,
                known,
            )
            .map_err(from_core)?;
        self.add_note(id, by_user, note);
        Ok(self.row(id))
    }

    /// Keeps a non-empty note on the contact (written with the step).
    pub(super) fn add_note(&mut self, contact: i64, author: i64, note: Option<String>) {
        if let Some(body) = note.filter(|b| !b.trim().is_empty()) {
            self.step.notes.push(NoteRow {
                id: self.store.next_id(self.now),
                tenant_id: self.tenant.id,
                contact_id: contact,
                author_user_id: author,
                body,
                created_at: self.now,
            });
        }
    }
}
