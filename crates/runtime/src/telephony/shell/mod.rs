//! The telephony loop: one task owns the switch and feeds it everything; what it asks for
//! is done here or handed to a helper task whose answer comes back as a [`Msg`].

mod execute;
mod inputs;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use tsunagu_domain::contact::EventKind;
use tsunagu_media::core::Source;
use tsunagu_media::engine::{EngineEvent, MediaEngine, MediaHandle};
use tsunagu_sip::{DialTarget, EndCause, SipEvent, SipHandle, Transport};
use tsunagu_store::voice::RecordingRow;
use tsunagu_store::Store;
use tsunagu_voice::{
    CallKind, CenterIn, ContactId, LegId, Out, Party, PhoneTarget, SipIn, SourceSpec, Switch,
};

use super::center_link::{CenterLink, Pending, Then};
use super::recordings::RecJob;
use super::{FlowCache, Msg, PromptStore, TelephonyConfig, TelephonyStats, TrunkConfig};
use crate::center::{Center, Clock, SystemClock, VoiceCommand, VoiceDirective, VoiceReply};

fn live_call(s: crate::center::LiveCall) -> tsunagu_voice::LiveCall {
    use crate::center::LiveCall as C;
    use tsunagu_voice::LiveCall as V;
    match s {
        C::Ivr => V::Ivr,
        C::Waiting => V::Waiting,
        C::CallbackWaiting => V::CallbackWaiting,
        C::Talking { agent } => V::Talking { agent },
    }
}

/// An inbound call, with the flow its number reaches.
pub(crate) struct Incoming {
    pub leg: LegId,
    pub tenant_id: i64,
    pub caller: String,
    pub caller_name: Option<String>,
    pub called: String,
    pub offer: Option<String>,
    pub call_id: String,
    pub flow: Option<Arc<tsunagu_flow::Flow>>,
    /// Where the INVITE came from (the media engine latches a peer behind NAT only on
    /// this IP).
    pub source: SocketAddr,
}

/// What a phone's REFER target turned out to be.
pub(crate) enum ReferTarget {
    Queue(i64),
    Agent(i64),
    Number(String),
}

pub(super) struct Parts {
    pub switch: Switch,
    pub sip: SipHandle,
    pub engine: MediaEngine,
    pub prompts: Arc<PromptStore>,
    pub store: Store,
    pub center: Arc<Center>,
    pub recordings: mpsc::UnboundedSender<RecJob>,
    pub tx: mpsc::Sender<Msg>,
    pub cfg: Arc<TelephonyConfig>,
    pub trunks: Arc<Vec<TrunkConfig>>,
    pub flows: Arc<FlowCache>,
    pub regions: HashMap<i64, String>,
}

/// A recording the switch started: its row, and the contact it belongs to (the entry is
/// dropped once the contact is forgotten).
struct Recording {
    db_id: i64,
    contact: ContactId,
}

pub(super) struct Shell {
    switch: Switch,
    /// For live events the shell publishes (after the actor stored what they report).
    center: Arc<Center>,
    sip: SipHandle,
    engine: Option<MediaEngine>,
    media: MediaHandle,
    prompts: Arc<PromptStore>,
    store: Store,
    link: Option<CenterLink>,
    recordings: mpsc::UnboundedSender<RecJob>,
    tx: mpsc::Sender<Msg>,
    cfg: Arc<TelephonyConfig>,
    trunks: Arc<Vec<TrunkConfig>>,
    flows: Arc<FlowCache>,
    http: reqwest::Client,
    call_tenant: HashMap<u64, i64>,
    contact_tenant: HashMap<ContactId, i64>,
    /// The switch's recording numbers → rows.
    recs: HashMap<u64, Recording>,
    regions: HashMap<i64, String>,
    /// Contacts found finished at the last housekeeping round.
    dead_contacts: HashSet<ContactId>,
    /// Inbound legs' signalling IPs, until their media endpoint exists.
    signalling: HashMap<LegId, IpAddr>,
    /// Inbound calls admitted whose flow is still being looked up (not yet in the switch).
    admitting: usize,
    /// New calls refused since start because of `max_calls` or the center's backlog.
    refused_calls: u64,
}

/// Bookkeeping commands waiting for the tenant actors beyond which new calls are refused:
/// the center's store is not keeping up, and every new call would add to the wait.
const CENTER_BACKLOG_LIMIT: usize = 20_000;

fn now() -> i64 {
    SystemClock.now_ms()
}

impl Shell {
    pub fn new(p: Parts) -> Shell {
        let media = p.engine.handle();
        Shell {
            switch: p.switch.with_id_base(1),
            sip: p.sip,
            engine: Some(p.engine),
            media,
            prompts: p.prompts,
            link: Some(CenterLink::new(
                p.center.clone(),
                p.store.clone(),
                p.tx.clone(),
            )),
            center: p.center,
            store: p.store,
            recordings: p.recordings,
            tx: p.tx,
            cfg: p.cfg,
            trunks: p.trunks,
            flows: p.flows,
            http: reqwest::Client::new(),
            call_tenant: HashMap::new(),
            contact_tenant: HashMap::new(),
            recs: HashMap::new(),
            regions: p.regions,
            dead_contacts: HashSet::new(),
            signalling: HashMap::new(),
            admitting: 0,
            refused_calls: 0,
        }
    }

    fn count_refusal(&mut self) {
        self.refused_calls += 1;
        metrics::counter!("tsunagu_calls_refused_total").increment(1);
    }

    /// Admission control: whether a new call may start — under `max_calls` (counting calls
    /// admitted but not yet in the switch) and with the center keeping up. Every queue
    /// between SIP, the shell and the center holds work of admitted calls only, so this
    /// keeps them bounded.
    fn room_for_a_call(&self) -> bool {
        self.switch.call_count() + self.admitting < self.cfg.max_calls
            && self
                .link
                .as_ref()
                .is_some_and(|l| l.backlog() < CENTER_BACKLOG_LIMIT)
    }

    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Msg>,
        mut sip_rx: mpsc::Receiver<SipEvent>,
        mut engine_rx: mpsc::Receiver<EngineEvent>,
    ) {
        let fwd = self.tx.clone();
        tokio::spawn(async move {
            while let Some(e) = sip_rx.recv().await {
                if fwd.send(Msg::Sip(e)).await.is_err() {
                    break;
                }
            }
        });
        let fwd = self.tx.clone();
        tokio::spawn(async move {
            while let Some(e) = engine_rx.recv().await {
                if fwd.send(Msg::Engine(e)).await.is_err() {
                    break;
                }
            }
        });
        let mut housekeeping = tokio::time::interval(Duration::from_secs(10));
        loop {
            let sleep = self
                .switch
                .poll_timeout()
                .map(|t| Duration::from_millis((t - now()).max(0) as u64));
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Shutdown(done)) => {
                        self.shutdown(&mut rx).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(m) => self.handle(m),
                    None => return,
                },
                _ = tokio::time::sleep(sleep.unwrap_or(Duration::from_secs(3600))), if sleep.is_some() => {
                    self.switch.handle_timeout(now());
                }
                _ = housekeeping.tick() => self.forget_finished(),
            }
            self.execute_all();
        }
    }

    /// Drops bookkeeping of calls that are over — one round late, so answers still on
    /// their way (the last RTP figures) find their tenant.
    fn forget_finished(&mut self) {
        let live: HashSet<ContactId> = self.switch.contacts().into_iter().collect();
        let dead: HashSet<ContactId> = self
            .contact_tenant
            .keys()
            .filter(|c| !live.contains(c))
            .copied()
            .collect();
        let before = std::mem::take(&mut self.dead_contacts);
        self.contact_tenant
            .retain(|c, _| !(dead.contains(c) && before.contains(c)));
        self.dead_contacts = dead;
        // A recording's number is used only while its call lasts, and the call is over
        // before its contact is forgotten.
        let tenants = &self.contact_tenant;
        self.recs.retain(|_, r| tenants.contains_key(&r.contact));
        let calls = self.switch.calls();
        self.call_tenant.retain(|c, _| calls.contains(c));
    }

    /// Hangs up every call and lets the bookkeeping reach the center. What arrives for the
    /// loop meanwhile is read and dropped, as the loop has stopped: the producers — SIP
    /// answers to our BYEs, the center link's workers — must not wait on a full queue
    /// while we wait on them.
    async fn shutdown(&mut self, rx: &mut mpsc::Receiver<Msg>) {
        let t = now();
        info!(
            calls = self.switch.call_count(),
            "telephony stopping: hanging up calls"
        );
        self.switch.end_all("shutdown", t);
        self.execute_all();
        // Let the BYEs and CANCELs go out and be answered before the transports close.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while self.sip.open_legs() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            while rx.try_recv().is_ok() {}
        }
        if let Some(link) = self.link.take() {
            let close = link.close();
            tokio::pin!(close);
            loop {
                tokio::select! {
                    _ = &mut close => break,
                    m = rx.recv() => if m.is_none() { close.await; break; },
                }
            }
        }
        self.sip.shutdown();
        if let Some(engine) = self.engine.take() {
            tokio::task::spawn_blocking(move || engine.shutdown())
                .await
                .ok();
        }
    }
}
