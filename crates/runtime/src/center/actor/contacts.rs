//! Commands on contacts: create, accept, reject, end, wrap up, transfer, notes. Each asks
//! the router and the lifecycle rules first (they refuse without changing anything), then
//! changes the rows and the timeline.

use super::*;

impl TenantActor {
    pub(super) fn create_contact(&mut self, new: NewContact) -> CenterResult<ContactRow> {
        let now = self.now;
        if !self.queues.contains_key(&new.queue_id) {
            return Err(field("queue_id", "no such queue"));
        }
        let id = self.store.next_id(now);
        let spec = ContactSpec {
            id: ContactId(id as u64),
            queue: QueueId(new.queue_id as u64),
            channel: new.channel,
            priority: new.priority as i32,
            requirements: new
                .requirements
                .iter()
                .map(Requirement::to_router)
                .collect(),
            arrived_at: now,
            queue_entered_at: now,
        };
        self.router
            .handle_contact_arrived(now, spec)
            .map_err(|e| match e {
                RouterError::InvalidConfig(m) => field("requirements", &m),
                other => CenterError::Conflict(other.to_string()),
            })?;
        let row = ContactRow {
            queue_id: Some(new.queue_id),
            customer_id: new.customer_id,
            priority: new.priority,
            subject: new.subject,
            customer_address: new.customer_address,
            attributes: new.attributes.to_string(),
            requirements: serde_json::to_string(&new.requirements).unwrap_or_else(|_| "[]".into()),
            queued_at: Some(now),
            queue_entered_at: Some(now),
            ..ContactRow::new(
                id,
                self.tenant.id,
                new.channel.as_str(),
                &new.direction,
                ContactStatus::Queued.as_str(),
                now,
            )
        };
        self.open.insert(id, row);
        self.step.touch_contact(id);
        self.event(
            id,
            EventKind::Created,
            None,
            None,
            json!({ "by_user": new.created_by, "channel": new.channel }),
        );
        self.event(id, EventKind::Queued, Some(new.queue_id), None, json!({}));
        metrics::counter!("tsunagu_contacts_created_total", "channel" => new.channel.as_str())
            .increment(1);
        self.drain();
        Ok(self.open[&id].clone())
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
                let agent = self
                    .agents
                    .get(&agent_id)
                    .ok_or_else(|| CenterError::NotFound(format!("agent {agent_id}")))?;
                let _ = agent;
                self.router
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
                if self.open_contact(contact_id)?.channel == Channel::Voice.as_str() {
                    return Err(CenterError::Conflict(
                        "a call is answered on the phone, not from the screen".into(),
                    ));
                }
                self.accept(contact_id, agent_id, true)?;
                Ok(Some(self.open[&contact_id].clone()))
            }
            AgentCommand::Reject {
                contact_id,
                agent_id,
            } => {
                self.reject(contact_id, agent_id, json!({}))?;
                Ok(self.open.get(&contact_id).cloned())
            }
            AgentCommand::End {
                contact_id,
                agent_id,
                by_user,
                reason,
            } => {
                self.end_contact(contact_id, agent_id, Some(by_user), reason, true)?;
                Ok(self.open.get(&contact_id).cloned())
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
                self.transfer(contact_id, agent_id, to_queue, note, Some(by_user))?;
                Ok(self.open.get(&contact_id).cloned())
            }
        }
    }

    /// The offered agent turns the offer down (from the screen, or busy on the phone);
    /// `data` goes on the timeline.
    pub(super) fn reject(
        &mut self,
        contact_id: i64,
        agent_id: i64,
        data: Value,
    ) -> CenterResult<()> {
        self.open_contact(contact_id)?;
        self.router
            .handle_offer_rejected(
                self.now,
                ContactId(contact_id as u64),
                AgentId(agent_id as u64),
            )
            .map_err(|_| {
                CenterError::Conflict(format!(
                    "contact {contact_id} is not offered to agent {agent_id}"
                ))
            })?;
        let queue = self.open[&contact_id].queue_id;
        self.step.touch_agent(agent_id);
        self.event(contact_id, EventKind::Rejected, queue, Some(agent_id), data);
        self.drain();
        Ok(())
    }

    /// The offered agent's phone could not ring at all: a miss (see
    /// `Router::handle_offer_missed`), on the timeline as `rejected` by `phone_unreachable`.
    pub(super) fn missed(&mut self, contact_id: i64, agent_id: i64) -> CenterResult<()> {
        self.open_contact(contact_id)?;
        self.router
            .handle_offer_missed(
                self.now,
                ContactId(contact_id as u64),
                AgentId(agent_id as u64),
            )
            .map_err(|_| {
                CenterError::Conflict(format!(
                    "contact {contact_id} is not offered to agent {agent_id}"
                ))
            })?;
        let queue = self.open[&contact_id].queue_id;
        self.step.touch_agent(agent_id);
        self.event(
            contact_id,
            EventKind::Rejected,
            queue,
            Some(agent_id),
            json!({ "by": "phone_unreachable" }),
        );
        self.drain();
        Ok(())
    }

    /// The offered agent takes the contact. `connected`: the customer and the agent are in
    /// touch from now (a task, a chat); false for an inbound call, which is answered when
    /// the switch connects the caller
    /// ([`VoiceCommand::Connected`](super::VoiceCommand::Connected)).
    pub(super) fn accept(
        &mut self,
        contact_id: i64,
        agent_id: i64,
        connected: bool,
    ) -> CenterResult<()> {
        let now = self.now;
        self.open_contact(contact_id)?;
        self.router
            .handle_offer_accepted(now, ContactId(contact_id as u64), AgentId(agent_id as u64))
            .map_err(|_| {
                CenterError::Conflict(format!(
                    "contact {contact_id} is not offered to agent {agent_id}"
                ))
            })?;
        let queue = self.open[&contact_id].queue_id;
        let row = self.open.get_mut(&contact_id).expect("open");
        row.status = ContactStatus::Connected.as_str().into();
        row.agent_id = Some(agent_id);
        if connected {
            row.answered_at = Some(now);
        }
        row.updated_at = now;
        self.step.touch_contact(contact_id);
        self.step.touch_agent(agent_id);
        self.event(
            contact_id,
            EventKind::Accepted,
            queue,
            Some(agent_id),
            json!({}),
        );
        if connected {
            self.event(
                contact_id,
                EventKind::Connected,
                queue,
                Some(agent_id),
                json!({}),
            );
            metrics::counter!("tsunagu_contacts_answered_total").increment(1);
        }
        self.drain();
        Ok(())
    }

    pub(super) fn open_contact(&self, id: i64) -> CenterResult<&ContactRow> {
        self.open
            .get(&id)
            .ok_or_else(|| CenterError::Conflict(format!("contact {id} is not open")))
    }

    /// An open contact that has not ended yet; if `agent_id` is given, connected to that
    /// agent (agents act only on their own conversation).
    pub(super) fn still_going(
        &self,
        id: i64,
        agent_id: Option<i64>,
    ) -> CenterResult<(&ContactRow, ContactStatus)> {
        let row = self.open_contact(id)?;
        let status = lifecycle::still_going(&current(row), agent_id).map_err(conflict)?;
        Ok((row, status))
    }

    /// Ends a contact. `notify_call`: the end comes from a screen or the API, so a call
    /// behind the contact must be hung up too.
    pub(super) fn end_contact(
        &mut self,
        id: i64,
        agent_id: Option<i64>,
        by_user: Option<i64>,
        reason: Option<String>,
        notify_call: bool,
    ) -> CenterResult<()> {
        let now = self.now;
        let row = self.open_contact(id)?;
        let (queue, handler) = (row.queue_id, row.agent_id);
        let is_call = row.channel == Channel::Voice.as_str();
        let request = lifecycle::EndRequest {
            agent: agent_id,
            by_user,
            reason: reason.clone(),
            no_wrap_up: queue
                .and_then(|q| self.queues.get(&q))
                .is_some_and(|q| q.wrap_up_secs == Some(0)),
        };
        // Decide first; then the router, the row, the timeline.
        let ending = lifecycle::end(&current(row), &request).map_err(conflict)?;
        let offered_to = self.offered_agents(id);
        if ending.leave_router {
            self.router
                .handle_contact_ended(now, ContactId(id as u64))
                .map_err(|e| CenterError::Conflict(e.to_string()))?;
        }
        let row = self.open.get_mut(&id).expect("open");
        row.ended_at = Some(now);
        row.updated_at = now;
        row.status = ending.status.as_str().into();
        if ending.end_reason.is_some() {
            row.end_reason = ending.end_reason.clone();
        }
        self.step.touch_contact(id);
        let data = json!({ "by_user": by_user, "reason": reason });
        self.event(id, ending.event, queue, ending.event_agent, data);
        match ending.status {
            ContactStatus::WrapUp => {
                if ending.complete_now {
                    self.complete(id, None, true);
                }
                if let Some(a) = handler {
                    self.step.touch_agent(a);
                }
            }
            ContactStatus::Interrupted => {
                metrics::counter!("tsunagu_contacts_interrupted_total").increment(1)
            }
            ContactStatus::Abandoned => {
                metrics::counter!("tsunagu_contacts_abandoned_total").increment(1)
            }
            _ => {}
        }
        for a in offered_to {
            self.step.touch_agent(a);
        }
        if notify_call && is_call {
            self.step.voice.push(VoiceDirective::Ended { contact: id });
        }
        self.drain();
        Ok(())
    }

    /// Marks the contact completed (after-call work over).
    pub(super) fn complete(&mut self, id: i64, disposition: Option<String>, auto: bool) {
        let now = self.now;
        let Some(row) = self.open.get_mut(&id) else {
            return;
        };
        row.status = ContactStatus::Completed.as_str().into();
        row.acw_done_at = Some(now);
        if disposition.is_some() {
            row.disposition_code = disposition.clone();
        }
        row.updated_at = now;
        let (queue, agent) = (row.queue_id, row.agent_id);
        self.step.touch_contact(id);
        self.event(
            id,
            EventKind::AcwDone,
            queue,
            agent,
            json!({ "disposition": disposition, "auto": auto }),
        );
    }

    pub(super) async fn wrap_up(
        &mut self,
        id: i64,
        agent_id: i64,
        disposition: Option<String>,
        note: Option<String>,
        by_user: i64,
    ) -> CenterResult<Option<ContactRow>> {
        let now = self.now;
        // Still talking: end and wrap up in one go.
        if self
            .open
            .get(&id)
            .is_some_and(|c| c.status == ContactStatus::Connected.as_str())
        {
            self.end_contact(id, Some(agent_id), Some(by_user), None, true)?;
        }
        let row = match self.open.get(&id) {
            Some(r) => r.clone(),
            None => self
                .store
                .contact(self.tenant.id, id)
                .await
                .map_err(|e| CenterError::Unavailable(e.to_string()))?
                .ok_or_else(|| CenterError::NotFound(format!("contact {id}")))?,
        };
        lifecycle::handled_by(&current(&row), agent_id).map_err(conflict)?;
        if let Some(code) = &disposition {
            self.check_disposition(row.queue_id, code).await?;
        }
        match lifecycle::wrap_up(&current(&row), agent_id, disposition.is_some())
            .map_err(conflict)?
        {
            lifecycle::WrapUp::Complete => {
                self.router
                    .handle_wrap_up_done(now, AgentId(agent_id as u64), ContactId(id as u64))
                    .map_err(|e| CenterError::Conflict(e.to_string()))?;
                self.complete(id, disposition, false);
                self.step.touch_agent(agent_id);
            }
            // The wrap-up timer already ended after-call work: record the disposition late.
            lifecycle::WrapUp::LateDisposition => {
                let mut row = row.clone();
                row.disposition_code = disposition.clone();
                row.updated_at = now;
                self.open.insert(id, row);
                self.step.touch_contact(id);
            }
            lifecycle::WrapUp::Nothing => {}
        }
        self.add_note(id, by_user, note);
        self.drain();
        Ok(self.open.get(&id).cloned())
    }

    pub(super) fn transfer(
        &mut self,
        id: i64,
        agent_id: Option<i64>,
        to: i64,
        note: Option<String>,
        by_user: Option<i64>,
    ) -> CenterResult<()> {
        let now = self.now;
        let (row, status) = self.still_going(id, agent_id)?;
        let is_call = row.channel == Channel::Voice.as_str();
        if !self.queues.contains_key(&to) {
            return Err(field("queue_id", "no such queue"));
        }
        let (from, handler) = (
            row.queue_id,
            row.agent_id.filter(|_| status == ContactStatus::Connected),
        );
        let offered_to = self.offered_agents(id);
        self.router
            .handle_transfer(now, ContactId(id as u64), QueueId(to as u64))
            .map_err(|e| CenterError::Conflict(e.to_string()))?;
        let row = self.open.get_mut(&id).expect("open");
        row.queue_id = Some(to);
        row.queue_entered_at = Some(now);
        row.status = ContactStatus::Queued.as_str().into();
        row.agent_id = None;
        row.updated_at = now;
        self.step.touch_contact(id);
        self.event(
            id,
            EventKind::Transferred,
            from,
            handler,
            json!({ "to_queue_id": to, "by_user": by_user }),
        );
        self.event(id, EventKind::Queued, Some(to), None, json!({}));
        if let Some(author) = by_user {
            self.add_note(id, author, note);
        }
        for a in handler.into_iter().chain(offered_to) {
            self.step.touch_agent(a);
        }
        if is_call {
            self.step
                .voice
                .push(VoiceDirective::Transferred { contact: id });
        }
        self.drain();
        Ok(())
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

    pub(super) async fn check_disposition(
        &self,
        queue: Option<i64>,
        code: &str,
    ) -> CenterResult<()> {
        let all = self
            .store
            .dispositions(self.tenant.id)
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))?;
        if all
            .iter()
            .any(|d| d.code == code && (d.queue_id.is_none() || d.queue_id == queue))
        {
            Ok(())
        } else {
            Err(field(
                "disposition",
                "is not a wrap-up code of this contact's queue",
            ))
        }
    }
}
