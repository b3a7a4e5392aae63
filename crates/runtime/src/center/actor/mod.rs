//! The tenant actor.
//!
//! Every step follows the same order: read the clock once; fire the router's due timers;
//! apply the command (the router first — it refuses bad inputs without changing anything —
//! then the rows); carry out the router's actions; commit everything in one transaction;
//! only then publish live events and answer. If the commit fails, the actor rebuilds its
//! state from the database (what is durable is the truth) and answers "unavailable".

mod figures;
mod recovery;
mod voice;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tracing::{error, info, warn};
use tsunagu_acd::{
    Action, AgentId, AgentStats, AgentStatus, Channel, ContactId, ContactSpec,
    ContactView as RouterContact, Presence, QueueId, Router, RouterConfig, RouterError,
};
use tsunagu_contact::lifecycle;
pub use tsunagu_contact::Rebuild;
use tsunagu_domain::contact::{ContactStatus, EventKind};
use tsunagu_domain::kpi::{start_of_day, Kpis};
use tsunagu_domain::reason::MISSED_OFFERS;
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::rows::*;
use tsunagu_store::{Store, Write};

use super::events::{AgentState, Audience, Envelope, LiveEvent};
use super::mapping::{agent_config, queue_config, Requirement};
use super::step::Step;
use super::{CenterError, CenterResult, Clock, Command, VoiceDirective, VoiceSink};
use figures::Figures;
pub use figures::Today;
use tsunagu_domain::time::rfc3339_ms as ts;

/// A contact to create (validated by the caller: queue and customer belong to the tenant).
#[derive(Clone, Debug)]
pub struct NewContact {
    pub channel: Channel,
    pub direction: String,
    pub queue_id: i64,
    pub customer_id: Option<i64>,
    pub customer_address: Option<String>,
    pub priority: i64,
    pub subject: Option<String>,
    pub attributes: serde_json::Value,
    pub requirements: Vec<Requirement>,
    pub created_by: Option<i64>,
}

/// What agents (or supervisors on their behalf) do.
#[derive(Clone, Debug)]
pub enum AgentCommand {
    SetPresence {
        agent_id: i64,
        presence: Presence,
        reason: Option<String>,
        by_user: i64,
    },
    Accept {
        contact_id: i64,
        agent_id: i64,
    },
    Reject {
        contact_id: i64,
        agent_id: i64,
    },
    /// End a contact: the agent's conversation is over, or (before any agent took it) the
    /// contact is cancelled.
    End {
        contact_id: i64,
        agent_id: Option<i64>,
        by_user: i64,
        reason: Option<String>,
    },
    WrapUp {
        contact_id: i64,
        agent_id: i64,
        disposition: Option<String>,
        note: Option<String>,
        by_user: i64,
    },
    /// Move a contact to another queue: an agent their connected contact, a supervisor any
    /// open contact. It keeps its original arrival time.
    Transfer {
        contact_id: i64,
        agent_id: Option<i64>,
        to_queue: i64,
        note: Option<String>,
        by_user: i64,
    },
}

/// The live picture of a tenant.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub now: i64,
    /// (queue id, waiting, offered, connected, oldest entered-at)
    pub queues: Vec<(i64, u32, u32, u32, Option<i64>)>,
    pub agents: Vec<AgentState>,
    /// Today's KPIs per queue (queue id, figures from local midnight until `now`).
    pub today: Vec<(i64, Kpis)>,
}

struct AgentLive {
    user_id: i64,
    /// Queues the agent serves (for wait estimates).
    queues: Vec<i64>,
    username: String,
    display_name: String,
    presence: Presence,
    reason: Option<String>,
    status: AgentStatus,
    since: i64,
    /// The user behind the pending change (None: the router).
    changed_by: Option<i64>,
}

impl AgentLive {
    fn view(&self, agent_id: i64) -> AgentState {
        AgentState {
            agent_id,
            user_id: self.user_id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            presence: self.presence,
            reason: self.reason.clone(),
            status: self.status,
            since_ms: self.since,
        }
    }
}

pub fn parse_presence(s: &str) -> Option<Presence> {
    match s {
        "offline" => Some(Presence::Offline),
        "available" => Some(Presence::Available),
        "not_ready" => Some(Presence::NotReady),
        _ => None,
    }
}

pub struct TenantActor {
    tenant: TenantRow,
    store: Store,
    clock: Arc<dyn Clock>,
    router: Router,
    queues: HashMap<i64, QueueRow>,
    agents: HashMap<i64, AgentLive>,
    /// Open contacts (queued, offered, connected, wrap-up). Rows that close during a step
    /// stay here until the step is written.
    open: HashMap<i64, ContactRow>,
    events: broadcast::Sender<Arc<Envelope>>,
    /// Last written (presence, reason, status) per agent.
    persisted: HashMap<i64, (String, Option<String>, String)>,
    /// When the Prometheus gauges were last refreshed.
    gauges_at: i64,
    step: Step,
    now: i64,
    /// Where directives for calls go (the telephony shell), if telephony runs.
    voice: Option<VoiceSink>,
    /// Average handling time per queue (exponentially weighted), for wait estimates.
    handle_ms: HashMap<i64, f64>,
    /// Today's KPI figures per queue, kept as steps commit.
    figures: Figures,
}

impl TenantActor {
    pub fn new(
        tenant: TenantRow,
        store: Store,
        clock: Arc<dyn Clock>,
        events: broadcast::Sender<Arc<Envelope>>,
    ) -> Self {
        TenantActor {
            router: Router::new(router_config(&tenant)),
            tenant,
            store,
            clock,
            queues: HashMap::new(),
            agents: HashMap::new(),
            open: HashMap::new(),
            events,
            persisted: HashMap::new(),
            gauges_at: 0,
            step: Step::default(),
            now: 0,
            voice: None,
            handle_ms: HashMap::new(),
            figures: Figures::empty(),
        }
    }

    /// Calls' contacts are reported to the telephony shell through `sink`.
    pub fn with_voice(mut self, sink: Option<VoiceSink>) -> Self {
        self.voice = sink;
        self
    }

    /// Serves commands until the channel closes. A panic while serving one does not end
    /// the tenant: it is logged, the actor resynchronises from the database (keeping every
    /// live contact and call, see [`Rebuild::Resync`]) and goes on with the next command.
    /// The panicking command's caller gets no answer (its reply channel is dropped).
    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            match AssertUnwindSafe(self.serve(&mut rx)).catch_unwind().await {
                Ok(()) => break,
                Err(panic) => {
                    error!(
                        tenant = %self.tenant.slug,
                        "tenant actor panicked: {}; resynchronising from the database",
                        panic_message(&panic)
                    );
                    metrics::counter!("tsunagu_actor_panics_total").increment(1);
                    self.resync_until_done().await;
                }
            }
        }
        info!(tenant = %self.tenant.slug, "tenant actor stopped");
    }

    async fn serve(&mut self, rx: &mut mpsc::Receiver<Command>) {
        loop {
            let deadline = self.router.poll_timeout();
            let sleep =
                deadline.map(|d| Duration::from_millis((d - self.clock.now_ms()).max(0) as u64));
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => return,
                },
                _ = tokio::time::sleep(sleep.unwrap_or(Duration::from_secs(3600))), if sleep.is_some() => {
                    self.begin();
                    if let Err(e) = self.commit().await {
                        error!(tenant = %self.tenant.slug, "timer step not committed: {e}");
                    }
                }
            }
        }
    }

    /// Rebuilds from the database after a panic, trying again (the panic may have come
    /// from the database being unreachable) until it works.
    async fn resync_until_done(&mut self) {
        let mut delay = Duration::from_millis(50);
        loop {
            match AssertUnwindSafe(self.rebuild(Rebuild::Resync))
                .catch_unwind()
                .await
            {
                Ok(Ok(())) => return,
                Ok(Err(e)) => error!(tenant = %self.tenant.slug, "resynchronisation failed: {e}"),
                Err(p) => error!(
                    tenant = %self.tenant.slug,
                    "resynchronisation panicked: {}",
                    panic_message(&p)
                ),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RETRY_DELAY);
        }
    }

    // ----- driving the actor by hand (tests, simulations) --------------------------------

    /// One step for `cmd`, exactly as the actor's task runs it: its answer is sent on the
    /// command's reply channel once the step is committed.
    pub async fn handle(&mut self, cmd: Command) {
        self.command(cmd).await
    }

    /// One step for the router's deadlines that are due at the clock's time (see
    /// [`TenantActor::poll_timeout`]).
    pub async fn handle_timeout(&mut self) -> CenterResult<()> {
        self.begin();
        self.commit().await
    }

    /// When the router next needs [`TenantActor::handle_timeout`], in Unix ms.
    pub fn poll_timeout(&mut self) -> Option<i64> {
        self.router.poll_timeout()
    }

    // ----- steps -------------------------------------------------------------------------

    /// Starts a step: reads the clock and fires due timers.
    fn begin(&mut self) {
        self.now = self.clock.now_ms().max(self.now);
        self.figures.turn_day(self.now);
        self.router.handle_timeout(self.now);
        self.drain();
    }

    async fn command(&mut self, cmd: Command) {
        self.begin();
        if self.figures.stale() {
            self.load_figures().await;
        }
        match cmd {
            Command::CreateContact(new, reply) => {
                let r = self.create_contact(*new);
                self.finish(reply, r).await;
            }
            Command::Agent(cmd, reply) => {
                let r = self.agent_command(cmd).await;
                self.finish(reply, r).await;
            }
            Command::Voice(cmd, reply) => {
                let r = self.voice_command(cmd).await;
                self.finish(reply, r).await;
            }
            Command::VoiceBatch(cmds, reply) => {
                let mut results = Vec::with_capacity(cmds.len());
                for cmd in cmds {
                    results.push(self.voice_command(cmd).await);
                }
                self.finish(reply, Ok(results)).await;
            }
            Command::QueueChanged(id, reply) => {
                let r = self.reload_queue(id).await;
                self.finish(reply, r).await;
            }
            Command::AgentChanged(id, reply) => {
                let r = self.reload_agent(id).await;
                self.finish(reply, r).await;
            }
            Command::TenantChanged(t, reply) => {
                let r = self.tenant_changed(*t);
                self.finish(reply, r).await;
            }
            Command::Snapshot(reply) => {
                let r = Ok(self.snapshot());
                self.finish(reply, r).await;
            }
            Command::OffersFor(agent, reply) => {
                let r = Ok(self.offers_for(agent));
                self.finish(reply, r).await;
            }
            Command::TodayIntervals(reply) => {
                let r = Ok(self.figures.today_intervals(self.now));
                self.finish(reply, r).await;
            }
        }
    }

    /// Commits the step, then answers. The answer is computed before the commit but only
    /// sent after it succeeded.
    async fn finish<T>(
        &mut self,
        reply: tokio::sync::oneshot::Sender<CenterResult<T>>,
        result: CenterResult<T>,
    ) {
        let result = match self.commit().await {
            Ok(()) => result,
            Err(e) => Err(e),
        };
        let _ = reply.send(result);
    }

    /// Writes the step in one transaction, then publishes its live events and sends its
    /// call directives. While the database is unreachable or busy the same batch is tried
    /// again (nothing is answered or published meanwhile, and every contact stays where it
    /// is). A batch the database refuses outright is dropped: the actor resynchronises
    /// from what is stored ([`Rebuild::Resync`]) and answers "unavailable".
    async fn commit(&mut self) -> CenterResult<()> {
        self.drain();
        self.flush_agents();
        let mut rows = Vec::with_capacity(self.step.contacts.len());
        let touched = std::mem::take(&mut self.step.contacts);
        for id in &touched {
            if let Some(row) = self.open.get(id) {
                rows.push(Write::Contact(Box::new(row.clone())));
                let offered_to = self.offered_agents(*id);
                self.step.outbox.push(Envelope::contact(row, &offered_to));
            }
        }
        if let Err(e) = self.store_step(rows, touched).await {
            error!(tenant = %self.tenant.slug, "step refused by the database, resynchronising: {e}");
            if let Err(e2) = self.rebuild(Rebuild::Resync).await {
                error!(tenant = %self.tenant.slug, "resynchronisation failed: {e2}");
            }
            return Err(CenterError::Unavailable(e.to_string()));
        }
        self.update_gauges();
        Ok(())
    }

    /// Writes the step — its rows, events, states and notes, with the figures' own writes —
    /// in one transaction ([`TenantActor::store_durably`]); once stored, lets go of the
    /// contacts that closed, publishes the live events and sends the call directives.
    async fn store_step(
        &mut self,
        rows: Vec<Write>,
        touched: Vec<i64>,
    ) -> Result<(), tsunagu_store::StoreError> {
        let mut writes = self.step.writes(rows);
        let figures = self.figures.step(&writes, self.tenant.id);
        writes.extend(figures);
        let outbox = std::mem::take(&mut self.step.outbox);
        let voice_directives = std::mem::take(&mut self.step.voice);
        self.step = Step::default();
        self.store_durably(&writes).await?;
        for id in touched {
            if self.open.get(&id).is_some_and(|c| !is_open(&c.status)) {
                self.open.remove(&id);
            }
        }
        for env in outbox {
            let _ = self.events.send(Arc::new(env));
        }
        if let Some(sink) = &self.voice {
            for d in voice_directives {
                let _ = sink.send((self.tenant.id, d)).await;
            }
        }
        Ok(())
    }

    /// Applies a batch, trying again with growing pauses (up to [`MAX_RETRY_DELAY`]) for
    /// as long as the failure is transient. Returns the first error that is not.
    async fn store_durably(&self, writes: &[Write]) -> Result<(), tsunagu_store::StoreError> {
        let mut delay = Duration::from_millis(20);
        let mut failures = 0u32;
        loop {
            match self.store.apply(writes).await {
                Ok(()) => {
                    if failures > 0 {
                        info!(tenant = %self.tenant.slug, failures, "step stored after the database came back");
                    }
                    return Ok(());
                }
                Err(e) if e.is_transient() => {
                    failures += 1;
                    metrics::counter!("tsunagu_commit_retries_total").increment(1);
                    if failures == 1 || failures.is_multiple_of(30) {
                        warn!(tenant = %self.tenant.slug, failures, "step not stored yet, trying again: {e}");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Queue and agent gauges for Prometheus, refreshed at most once a second.
    fn update_gauges(&mut self) {
        if self.now - self.gauges_at < 1000 {
            return;
        }
        self.gauges_at = self.now;
        let tenant = self.tenant.slug.clone();
        for (q, s) in self.router.queue_snapshots() {
            let queue = self
                .queues
                .get(&(q.0 as i64))
                .map(|r| r.name.clone())
                .unwrap_or_default();
            let labels = [("tenant", tenant.clone()), ("queue", queue)];
            metrics::gauge!("tsunagu_queue_waiting", &labels).set(f64::from(s.waiting));
            let oldest = s
                .oldest_entered_at
                .map_or(0.0, |t| (self.now - t).max(0) as f64 / 1000.0);
            metrics::gauge!("tsunagu_queue_oldest_wait_seconds", &labels).set(oldest);
        }
        let mut counts: HashMap<&'static str, u32> = HashMap::new();
        for a in self.agents.values() {
            *counts.entry(a.status.as_str()).or_default() += 1;
        }
        for status in [
            "offline",
            "available",
            "not_ready",
            "offered",
            "busy",
            "acw",
        ] {
            let n = counts.get(status).copied().unwrap_or(0);
            metrics::gauge!("tsunagu_agents", "tenant" => tenant.clone(), "status" => status)
                .set(f64::from(n));
        }
    }

    // ----- commands ----------------------------------------------------------------------

    fn create_contact(&mut self, new: NewContact) -> CenterResult<ContactRow> {
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
            id,
            tenant_id: self.tenant.id,
            channel: new.channel.as_str().into(),
            direction: new.direction,
            status: ContactStatus::Queued.as_str().into(),
            queue_id: Some(new.queue_id),
            customer_id: new.customer_id,
            agent_id: None,
            priority: new.priority,
            subject: new.subject,
            customer_address: new.customer_address,
            attributes: new.attributes.to_string(),
            requirements: serde_json::to_string(&new.requirements).unwrap_or_else(|_| "[]".into()),
            created_at: now,
            queued_at: Some(now),
            queue_entered_at: Some(now),
            offered_at: None,
            answered_at: None,
            ended_at: None,
            acw_done_at: None,
            end_reason: None,
            disposition_code: None,
            updated_at: now,
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

    async fn agent_command(&mut self, cmd: AgentCommand) -> CenterResult<Option<ContactRow>> {
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
    fn reject(&mut self, contact_id: i64, agent_id: i64, data: Value) -> CenterResult<()> {
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
    fn missed(&mut self, contact_id: i64, agent_id: i64) -> CenterResult<()> {
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
    fn accept(&mut self, contact_id: i64, agent_id: i64, connected: bool) -> CenterResult<()> {
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

    fn open_contact(&self, id: i64) -> CenterResult<&ContactRow> {
        self.open
            .get(&id)
            .ok_or_else(|| CenterError::Conflict(format!("contact {id} is not open")))
    }

    /// An open contact that has not ended yet; if `agent_id` is given, connected to that
    /// agent (agents act only on their own conversation).
    fn still_going(
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
    fn end_contact(
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
    fn complete(&mut self, id: i64, disposition: Option<String>, auto: bool) {
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

    async fn wrap_up(
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

    fn transfer(
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
    fn add_note(&mut self, contact: i64, author: i64, note: Option<String>) {
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

    async fn check_disposition(&self, queue: Option<i64>, code: &str) -> CenterResult<()> {
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

    /// The tenant's settings changed. Applied in place: every contact, offer and call
    /// stays where it is; waiting contacts are ranked under the new priority step.
    fn tenant_changed(&mut self, t: TenantRow) -> CenterResult<()> {
        if t.id != self.tenant.id {
            return Err(CenterError::Conflict(format!(
                "tenant {} is not tenant {}",
                t.id, self.tenant.id
            )));
        }
        self.router.set_config(self.now, router_config(&t));
        self.figures.tenant_changed(&t);
        self.tenant = t;
        self.drain();
        Ok(())
    }

    async fn reload_queue(&mut self, id: i64) -> CenterResult<()> {
        let now = self.now;
        match self
            .store
            .queue(self.tenant.id, id)
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))?
        {
            Some(row) => {
                let cfg = queue_config(&row, true).map_err(|m| field("queue", &m.to_string()))?;
                self.router
                    .upsert_queue(now, cfg)
                    .map_err(|e| field("queue", &e.to_string()))?;
                self.queues.insert(id, row);
            }
            None => {
                if self.queues.remove(&id).is_some() {
                    self.router
                        .remove_queue(now, QueueId(id as u64))
                        .map_err(|e| CenterError::Conflict(e.to_string()))?;
                }
            }
        }
        self.figures.configure(
            &self.queues,
            self.members(),
            Some(id).filter(|q| !self.queues.contains_key(q)),
        );
        self.drain();
        Ok(())
    }

    async fn reload_agent(&mut self, id: i64) -> CenterResult<()> {
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
        self.router
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
            self.router
                .handle_presence(now, AgentId(id as u64), Presence::Offline)
                .ok();
        }
        self.figures.configure(&self.queues, self.members(), None);
        self.step.touch_agent(id);
        self.drain();
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            now: self.now,
            queues: self
                .router
                .queue_snapshots()
                .into_iter()
                .map(|(q, s)| {
                    (
                        q.0 as i64,
                        s.waiting,
                        s.offered,
                        s.connected,
                        s.oldest_entered_at,
                    )
                })
                .collect(),
            agents: self.agents.iter().map(|(&id, a)| a.view(id)).collect(),
            today: self.figures.today(self.queues.keys().copied(), self.now),
        }
    }

    fn offers_for(&self, agent: i64) -> Vec<(ContactRow, i64)> {
        self.open
            .values()
            .filter_map(|c| match self.router.contact(ContactId(c.id as u64)) {
                Some(RouterContact::Offered {
                    agents, expires_at, ..
                }) if agents.contains(&AgentId(agent as u64)) => Some((c.clone(), expires_at)),
                _ => None,
            })
            .collect()
    }

    fn offered_agents(&self, contact: i64) -> Vec<i64> {
        match self.router.contact(ContactId(contact as u64)) {
            Some(RouterContact::Offered { agents, .. }) => {
                agents.iter().map(|a| a.0 as i64).collect()
            }
            _ => Vec::new(),
        }
    }

    // ----- router actions ----------------------------------------------------------------

    fn event(
        &mut self,
        contact: i64,
        kind: EventKind,
        queue: Option<i64>,
        agent: Option<i64>,
        data: serde_json::Value,
    ) {
        let data = match data {
            serde_json::Value::Object(m) if m.is_empty() => None,
            v => Some(v.to_string()),
        };
        self.step.events.push(ContactEventRow {
            id: self.store.next_id(self.now),
            tenant_id: self.tenant.id,
            contact_id: contact,
            at: self.now,
            kind: kind.as_str().into(),
            queue_id: queue,
            agent_id: agent,
            data,
        });
    }

    /// Carries out the router's decisions: rows, timeline events and live events.
    fn drain(&mut self) {
        let now = self.now;
        while let Some(action) = self.router.poll_action() {
            match action {
                Action::Offer {
                    contact,
                    agent,
                    queue,
                    expires_at,
                } => {
                    let (c, a, q) = (contact.0 as i64, agent.0 as i64, queue.0 as i64);
                    let Some(row) = self.open.get_mut(&c) else {
                        continue;
                    };
                    row.status = ContactStatus::Offered.as_str().into();
                    row.offered_at = Some(now);
                    row.updated_at = now;
                    let view = Box::new(row.clone());
                    if row.channel == Channel::Voice.as_str() {
                        let callback = callback_number(row);
                        let record = self.queues.get(&q).is_some_and(|q| q.record_calls);
                        let agent_name = self
                            .agents
                            .get(&a)
                            .map(|x| x.display_name.clone())
                            .unwrap_or_default();
                        self.step.voice.push(VoiceDirective::Offer {
                            contact: c,
                            agent: a,
                            agent_name,
                            callback,
                            record,
                        });
                    }
                    self.step.touch_contact(c);
                    self.step.touch_agent(a);
                    self.event(
                        c,
                        EventKind::Offered,
                        Some(q),
                        Some(a),
                        json!({ "expires_at": ts(expires_at) }),
                    );
                    self.step.outbox.push(Envelope {
                        audience: Audience::Agents(vec![a]),
                        event: LiveEvent::Offer {
                            agent_id: a,
                            expires_at_ms: expires_at,
                            contact: view,
                        },
                    });
                    metrics::counter!("tsunagu_offers_total").increment(1);
                }
                Action::OfferWithdrawn {
                    contact,
                    agent,
                    reason,
                } => {
                    let (c, a) = (contact.0 as i64, agent.0 as i64);
                    self.voice_offer_gone(c, a);
                    let reason = format!("{reason:?}");
                    let queue = self.open.get(&c).and_then(|r| r.queue_id);
                    self.step.touch_agent(a);
                    self.event(
                        c,
                        EventKind::OfferWithdrawn,
                        queue,
                        Some(a),
                        json!({ "reason": reason }),
                    );
                    self.step.outbox.push(Envelope {
                        audience: Audience::Agents(vec![a]),
                        event: LiveEvent::OfferWithdrawn {
                            agent_id: a,
                            contact_id: c,
                            reason,
                        },
                    });
                }
                Action::OfferTimedOut { contact, agent } => {
                    let (c, a) = (contact.0 as i64, agent.0 as i64);
                    self.voice_offer_gone(c, a);
                    let queue = self.open.get(&c).and_then(|r| r.queue_id);
                    self.step.touch_agent(a);
                    self.event(c, EventKind::OfferTimedOut, queue, Some(a), json!({}));
                    self.step.outbox.push(Envelope {
                        audience: Audience::Agents(vec![a]),
                        event: LiveEvent::OfferTimedOut {
                            agent_id: a,
                            contact_id: c,
                        },
                    });
                    metrics::counter!("tsunagu_offer_no_answers_total").increment(1);
                }
                Action::Requeued { contact, queue } => {
                    let c = contact.0 as i64;
                    if let Some(row) = self.open.get_mut(&c) {
                        row.status = ContactStatus::Queued.as_str().into();
                        row.updated_at = now;
                    }
                    self.step.touch_contact(c);
                    self.event(
                        c,
                        EventKind::Requeued,
                        Some(queue.0 as i64),
                        None,
                        json!({}),
                    );
                }
                Action::AgentAutoNotReady { agent } => {
                    let a = agent.0 as i64;
                    if let Some(live) = self.agents.get_mut(&a) {
                        live.presence = Presence::NotReady;
                        live.reason = Some(MISSED_OFFERS.into());
                    }
                    self.step.touch_agent(a);
                    warn!(tenant = %self.tenant.slug, agent = a, "agent made not-ready after missed offers");
                }
                Action::Overflowed { contact, from, to } => {
                    let c = contact.0 as i64;
                    if let Some(row) = self.open.get_mut(&c) {
                        row.queue_id = Some(to.0 as i64);
                        row.queue_entered_at = Some(now);
                        row.status = ContactStatus::Queued.as_str().into();
                        row.updated_at = now;
                    }
                    self.step.touch_contact(c);
                    self.event(
                        c,
                        EventKind::Overflowed,
                        Some(to.0 as i64),
                        None,
                        json!({ "from_queue_id": from.0 }),
                    );
                }
                Action::MaxWaitExceeded { contact, queue } => {
                    let c = contact.0 as i64;
                    if self
                        .open
                        .get(&c)
                        .is_some_and(|r| r.channel == Channel::Voice.as_str())
                    {
                        self.step.voice.push(VoiceDirective::MaxWait { contact: c });
                    }
                    if let Some(row) = self.open.get_mut(&c) {
                        row.status = ContactStatus::TimedOut.as_str().into();
                        row.ended_at = Some(now);
                        row.end_reason = Some("max_wait".into());
                        row.updated_at = now;
                    }
                    self.step.touch_contact(c);
                    self.event(
                        c,
                        EventKind::MaxWaitReached,
                        Some(queue.0 as i64),
                        None,
                        json!({}),
                    );
                }
                Action::WrapUpExpired { contact, agent } => {
                    let c = contact.0 as i64;
                    self.step.touch_agent(agent.0 as i64);
                    if !self.open.contains_key(&c) {
                        continue;
                    }
                    self.complete(c, None, true);
                }
                Action::AgentStatus { agent, .. } => self.step.touch_agent(agent.0 as i64),
            }
        }
    }

    /// Records each touched agent's state if presence, reason or status changed since it
    /// was last written.
    fn flush_agents(&mut self) {
        let now = self.now;
        for id in std::mem::take(&mut self.step.agents) {
            let Some(status) = self.router.agent_status(AgentId(id as u64)) else {
                continue;
            };
            let Some(live) = self.agents.get_mut(&id) else {
                continue;
            };
            let key = (
                live.presence.as_str().to_string(),
                live.reason.clone(),
                status.as_str().to_string(),
            );
            if self.persisted.get(&id) == Some(&key) {
                continue;
            }
            if live.status != status {
                live.since = now;
            }
            live.status = status;
            let changed_by = live.changed_by.take();
            let view = live.view(id);
            self.step.agent_states.push(AgentStateRow {
                id: self.store.next_id(now),
                tenant_id: self.tenant.id,
                agent_id: id,
                at: now,
                presence: key.0.clone(),
                reason: key.1.clone(),
                status: key.2.clone(),
                changed_by,
            });
            self.persisted.insert(id, key);
            self.step.outbox.push(Envelope {
                audience: Audience::Agents(vec![id]),
                event: LiveEvent::AgentState { state: view },
            });
        }
    }

    // ----- recovery ----------------------------------------------------------------------

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
    async fn commit_rebuild(&mut self) -> CenterResult<()> {
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

/// The number to call back, if the contact is a callback request.
/// What the lifecycle rules need of a stored contact.
fn current(row: &ContactRow) -> lifecycle::Current {
    lifecycle::Current {
        id: row.id,
        status: ContactStatus::parse(&row.status).unwrap_or(ContactStatus::Queued),
        agent: row.agent_id,
        has_disposition: row.disposition_code.is_some(),
    }
}

fn conflict(e: lifecycle::LifecycleError) -> CenterError {
    CenterError::Conflict(e.to_string())
}

fn callback_number(row: &ContactRow) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(&row.attributes)
        .ok()?
        .get("callback_number")?
        .as_str()
        .map(str::to_string)
}

fn is_open(status: &str) -> bool {
    ContactStatus::parse(status).is_some_and(ContactStatus::is_open)
}

/// The longest pause between two attempts to store a step or to resynchronise.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn field(name: &str, message: &str) -> CenterError {
    let mut e = FieldErrors::new();
    e.add(name, message);
    CenterError::Invalid(e)
}

fn router_config(t: &TenantRow) -> RouterConfig {
    RouterConfig {
        priority_step_ms: t.priority_step_secs.max(1) * 1000,
        seed: t.id as u64,
    }
}
