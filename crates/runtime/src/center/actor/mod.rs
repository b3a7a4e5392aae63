//! The tenant actor: the IO shell of the tenant's contact core.
//!
//! Every step follows the same order: read the clock once; fire the core's due timers; read
//! what the command needs from the store; hand the command to the core (it refuses bad
//! inputs without changing anything); carry out the core's effects; commit the touched
//! records with the step's events in one transaction; only then publish live events and
//! answer. If the commit fails, the actor rebuilds its state from the database (what is
//! durable is the truth) and answers "unavailable".

mod config;
mod contacts;
mod effects;
mod figures;
mod recovery;
mod views;
mod voice;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tracing::{error, info, warn};
use tsunagu_acd::{AgentId, AgentStats, AgentStatus, Channel, Presence, QueueId, RouterConfig};
use tsunagu_contact::center::{Center, ContactError, Effect};
pub use tsunagu_contact::Rebuild;
use tsunagu_domain::contact::{ContactStatus, EventKind};
use tsunagu_domain::kpi::{start_of_day, Kpis};
use tsunagu_domain::reason::MISSED_OFFERS;
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::rows::*;
use tsunagu_store::{Store, Write};

use super::events::{AgentState, Audience, Envelope, LiveEvent};
use super::mapping::{
    agent_config, contact_of_row, queue_config, queue_rules, row_of, Requirement,
};
use super::step::Step;
use super::{CenterError, CenterResult, Clock, Command, VoiceDirective, VoiceSink};
use figures::Figures;
pub use figures::Today;

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
    /// The router and the open contacts: the sans-IO contact core this actor drives.
    core: Center,
    queues: HashMap<i64, QueueRow>,
    agents: HashMap<i64, AgentLive>,
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
            core: Center::new(router_config(&tenant)),
            tenant,
            store,
            clock,
            queues: HashMap::new(),
            agents: HashMap::new(),
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
            let deadline = self.core.poll_timeout();
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
        self.core.poll_timeout()
    }

    // ----- steps -------------------------------------------------------------------------

    /// Starts a step: reads the clock and fires due timers.
    fn begin(&mut self) {
        self.now = self.clock.now_ms().max(self.now);
        self.figures.turn_day(self.now);
        self.core.handle_timeout(self.now);
        self.carry_out();
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
        self.core.handle_router_changed(self.now);
        self.carry_out();
        self.flush_agents();
        let touched = self.core.take_touched();
        let rows = self.touched_rows(&touched, true);
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
        self.core.forget_closed(&touched);
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

    /// The rows of the contacts a step touched (those still known to the core), each with
    /// its live event when `publish`.
    fn touched_rows(&mut self, touched: &[i64], publish: bool) -> Vec<Write> {
        let mut rows = Vec::with_capacity(touched.len());
        for &id in touched {
            if let Some(c) = self.core.contact(id) {
                let row = row_of(c, self.tenant.id);
                if publish {
                    let offered_to = self.core.offered_agents(id);
                    self.step.outbox.push(Envelope::contact(&row, &offered_to));
                }
                rows.push(Write::Contact(Box::new(row)));
            }
        }
        rows
    }

    /// Queue and agent gauges for Prometheus, refreshed at most once a second.
    fn update_gauges(&mut self) {
        if self.now - self.gauges_at < 1000 {
            return;
        }
        self.gauges_at = self.now;
        let tenant = self.tenant.slug.clone();
        for (q, s) in self.core.router().queue_snapshots() {
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
}

/// The longest pause between two attempts to store a step or to resynchronise.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// The core's refusal as the center's: a field's mistake, or a conflict with how things
/// stand (its words, which the API passes on).
fn from_core(e: ContactError) -> CenterError {
    match e {
        ContactError::Field {
            field: name,
            message,
        } => field(name, &message),
        other => CenterError::Conflict(other.to_string()),
    }
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
