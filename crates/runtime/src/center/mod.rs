//! The contact center at run time: one actor task per tenant owns that tenant's contact core
//! (the sans-IO `tsunagu_contact::center::Center`: the router and the open contacts), feeds
//! it commands one at a time, commits each step's writes in one transaction, and only then
//! answers the caller and tells the screens.
//!
//! * `actor` — the tenant actor: reads what a command needs, hands it to the core, carries
//!   out the core's effects, commits, publishes; rebuilds from the store; `actor::voice` —
//!   what calls ask of it (contacts in the IVR, queueing, answers, hang-ups, callbacks).
//! * `voice` — the vocabulary between the actor and the telephony shell.
//! * `step` — what one step accumulates (events, agent states, notes, live events).
//! * `mapping` — stored rows ↔ router configuration and the core's contacts.
//! * `events` — live events and who may see them.
//!
//! HTTP handlers talk to a tenant through [`TenantHandle`]; they never touch the router.

pub mod actor;
pub mod events;
pub mod mapping;
mod step;
pub mod voice;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, RwLock};
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::rows::{ContactRow, TenantRow};
use tsunagu_store::Store;

pub use actor::{AgentCommand, NewContact, Rebuild, Snapshot, Today};
use events::Envelope;
pub use voice::{LiveCall, VoiceCommand, VoiceDirective, VoiceReply, VoiceSink};

/// Wall-clock time for the runtime. The router never reads it; the actor does, once per step.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CenterError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("the contact center is shutting down")]
    ShuttingDown,
}

pub type CenterResult<T> = Result<T, CenterError>;
type Reply<T> = oneshot::Sender<CenterResult<T>>;

/// Requests a tenant actor serves.
pub enum Command {
    CreateContact(Box<NewContact>, Reply<ContactRow>),
    Agent(AgentCommand, Reply<ContactRowOrState>),
    Voice(VoiceCommand, Reply<VoiceReply>),
    /// Several voice commands applied in order and committed together.
    VoiceBatch(Vec<VoiceCommand>, Reply<Vec<CenterResult<VoiceReply>>>),
    QueueChanged(i64, Reply<()>),
    AgentChanged(i64, Reply<()>),
    TenantChanged(Box<TenantRow>, Reply<()>),
    Snapshot(Reply<Snapshot>),
    OffersFor(i64, Reply<Vec<(ContactRow, i64)>>),
    /// Today's 15-minute intervals so far, every queue's, kept as events commit.
    TodayIntervals(Reply<Today>),
}

/// Agent commands answer with the contact they acted on, or nothing.
pub type ContactRowOrState = Option<ContactRow>;

/// A tenant's mailbox and event feed.
#[derive(Clone)]
pub struct TenantHandle {
    tx: mpsc::Sender<Command>,
    events: broadcast::Sender<Arc<Envelope>>,
}

impl TenantHandle {
    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> CenterResult<T> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| CenterError::ShuttingDown)?;
        rx.await.map_err(|_| CenterError::ShuttingDown)?
    }

    pub async fn create_contact(&self, c: NewContact) -> CenterResult<ContactRow> {
        self.call(|r| Command::CreateContact(Box::new(c), r)).await
    }

    pub async fn agent(&self, cmd: AgentCommand) -> CenterResult<Option<ContactRow>> {
        self.call(|r| Command::Agent(cmd, r)).await
    }

    /// What the telephony shell asks for its calls.
    pub async fn voice(&self, cmd: VoiceCommand) -> CenterResult<VoiceReply> {
        self.call(|r| Command::Voice(cmd, r)).await
    }

    /// Applies the commands in order in one step (one transaction); each has its answer.
    pub async fn voice_batch(
        &self,
        cmds: Vec<VoiceCommand>,
    ) -> CenterResult<Vec<CenterResult<VoiceReply>>> {
        self.call(|r| Command::VoiceBatch(cmds, r)).await
    }

    /// The queue's stored row changed (or it was created or deleted): reload it.
    pub async fn queue_changed(&self, id: i64) -> CenterResult<()> {
        self.call(|r| Command::QueueChanged(id, r)).await
    }

    /// The agent's stored configuration or user changed: reload it.
    pub async fn agent_changed(&self, id: i64) -> CenterResult<()> {
        self.call(|r| Command::AgentChanged(id, r)).await
    }

    pub async fn tenant_changed(&self, t: TenantRow) -> CenterResult<()> {
        self.call(|r| Command::TenantChanged(Box::new(t), r)).await
    }

    pub async fn snapshot(&self) -> CenterResult<Snapshot> {
        self.call(Command::Snapshot).await
    }

    /// Today's 15-minute intervals so far (every queue's sums, kept as events commit), for
    /// reports that reach today.
    pub async fn today_intervals(&self) -> CenterResult<Today> {
        self.call(Command::TodayIntervals).await
    }

    /// Contacts currently ringing for the agent, with their offer expiry.
    pub async fn offers_for(&self, agent_id: i64) -> CenterResult<Vec<(ContactRow, i64)>> {
        self.call(|r| Command::OffersFor(agent_id, r)).await
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.events.subscribe()
    }

    /// Publishes a live event made outside the actor. Only for what a committed step
    /// already holds (the telephony shell, once the actor has stored the timeline event
    /// the live event reports).
    pub fn publish(&self, env: Envelope) {
        let _ = self.events.send(Arc::new(env));
    }
}

/// All tenants' actors. Actors start when the server starts (recovering every tenant) or on
/// first use of a tenant created later.
pub struct Center {
    store: Store,
    clock: Arc<dyn Clock>,
    tenants: RwLock<HashMap<i64, TenantHandle>>,
    tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    voice: std::sync::Mutex<Option<VoiceSink>>,
}

impl Center {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Arc<Center> {
        Arc::new(Center {
            store,
            clock,
            tenants: RwLock::new(HashMap::new()),
            tasks: tokio::sync::Mutex::new(Vec::new()),
            voice: std::sync::Mutex::new(None),
        })
    }

    /// Sends the directives for calls (offers to ring, withdrawals, hang-ups) to `sink`.
    /// Must be set before tenants start.
    pub fn set_voice_sink(&self, sink: VoiceSink) {
        *self.voice.lock().expect("voice sink") = Some(sink);
    }

    /// Starts (recovers) every tenant in the database.
    pub async fn start_all(&self) -> CenterResult<()> {
        let tenants = self
            .store
            .tenants()
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))?;
        for t in tenants {
            self.tenant(t.id).await?;
        }
        Ok(())
    }

    /// The tenant's handle, starting its actor if needed.
    pub async fn tenant(&self, tenant_id: i64) -> CenterResult<TenantHandle> {
        if let Some(h) = self.tenants.read().await.get(&tenant_id) {
            return Ok(h.clone());
        }
        let mut map = self.tenants.write().await;
        if let Some(h) = map.get(&tenant_id) {
            return Ok(h.clone());
        }
        let tenant = self
            .store
            .tenant(tenant_id)
            .await
            .map_err(|e| CenterError::Unavailable(e.to_string()))?
            .ok_or_else(|| CenterError::NotFound(format!("tenant {tenant_id}")))?;
        let (tx, rx) = mpsc::channel(1024);
        let (events, _) = broadcast::channel(4096);
        let mut actor = actor::TenantActor::new(
            tenant,
            self.store.clone(),
            self.clock.clone(),
            events.clone(),
        )
        .with_voice(self.voice.lock().expect("voice sink").clone());
        actor.rebuild(actor::Rebuild::Startup).await?;
        let task = tokio::spawn(actor.run(rx));
        self.tasks.lock().await.push(task);
        let handle = TenantHandle { tx, events };
        map.insert(tenant_id, handle.clone());
        Ok(handle)
    }

    /// Graceful shutdown: stop taking commands, let each actor finish what it has queued
    /// (and commit it), then return.
    pub async fn shutdown(&self) {
        self.tenants.write().await.clear();
        let tasks = std::mem::take(&mut *self.tasks.lock().await);
        for t in tasks {
            let _ = t.await;
        }
    }
}
