//! Telephony at run time: the tokio shell around the sans-IO switch (`tsunagu-voice`), with
//! the SIP stack (`tsunagu-sip`) on one side, the media engine (`tsunagu-media`) on
//! another, and the tenant actors (`center`) on the third.
//!
//! * `shell` — the loop: SIP events, media events, directives from the center, commands
//!   from the API and timers go into the switch; its outputs become SIP commands, media
//!   commands, center commands and lookups.
//! * `center_link` — one ordered worker per tenant carrying the switch's bookkeeping to the
//!   tenant actor in batches (one transaction each) and its answers back.
//! * `recordings` — recording rows, written in order off the call path.
//! * `flows` — flows by tenant and name, checked and cached; numbers to flows.
//! * `prompts` — the prompt store (embedded set plus a directory).
//! * `directory` — phone accounts and trunks for the SIP stack.
//!
//! Architecture invariant: call decisions are made in the switch only; this module moves
//! values between it and the world.

mod center_link;
pub mod directory;
pub mod flows;
mod lookup;
pub mod prompts;
mod recordings;
mod shell;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};
use tracing::info;
use tsunagu_media::core::CoreConfig;
use tsunagu_media::engine::{EngineConfig, MediaEngine};
use tsunagu_sip::{Binding, SipConfig, TrunkAuth};
use tsunagu_store::Store;
use tsunagu_voice::{MonitorMode, Party, Switch, SwitchConfig};

use crate::center::{Center, Clock, SystemClock};
pub use flows::FlowCache;
pub use prompts::PromptStore;

/// A SIP trunk: where a tenant's calls come from and go out through. The one description
/// of a trunk: the configuration file's `[[sip.trunks]]` is validated into it (by the
/// binary's config loader), and telephony runs on it.
#[derive(Clone, PartialEq)]
pub struct TrunkConfig {
    pub name: String,
    /// The tenant's slug, as configured.
    pub tenant: String,
    /// The tenant's id: found from `tenant` before telephony starts (0 until then).
    pub tenant_id: i64,
    /// Source networks whose INVITEs are accepted for this tenant (empty: none).
    pub allow: Vec<IpNet>,
    /// The provider's address for outbound calls (None: inbound only).
    pub outbound: Option<SocketAddr>,
    /// Domain for the request URI of outbound calls (default: the address).
    pub domain: Option<String>,
    pub tcp: bool,
    /// Digest credentials the provider asks for on outbound calls.
    pub auth: Option<TrunkAuth>,
    /// Caller ID presented on outbound calls (the center's number), as its digits
    /// (`0312345678`, `+81312345678`).
    pub caller_id: Option<String>,
    /// The provider wants national numbers (0312345678) rather than E.164.
    pub national: bool,
    /// Register with the provider (needs `outbound` and `auth`), asking for this expiry (s).
    pub register: Option<u32>,
    /// OPTIONS keep-alive to `outbound` every this many seconds (0: off).
    pub qualify_secs: u32,
    /// The provider authenticates its INVITEs with digest: (username, HA1 in our realm).
    /// Only the HA1 is kept, never the password.
    pub inbound_auth: Option<(String, String)>,
}

impl std::fmt::Debug for TrunkConfig {
    // Credentials (the password, the HA1 — a password equivalent) stay out of logs and
    // error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkConfig")
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("allow", &self.allow)
            .field("outbound", &self.outbound)
            .field("tcp", &self.tcp)
            .field("register", &self.register)
            .finish_non_exhaustive()
    }
}

impl TrunkConfig {
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|n| n.contains(&ip))
    }

    /// The transport to the provider.
    pub fn transport(&self) -> tsunagu_sip::Transport {
        if self.tcp {
            tsunagu_sip::Transport::Tcp
        } else {
            tsunagu_sip::Transport::Udp
        }
    }

    /// The provider's domain for request URIs: the configured one, else its address `dest`.
    pub fn outbound_domain(&self, dest: SocketAddr) -> String {
        self.domain.clone().unwrap_or_else(|| dest.to_string())
    }
}

#[derive(Clone, Debug)]
pub struct TelephonyConfig {
    /// SIP over UDP and TCP.
    pub sip_listen: SocketAddr,
    /// SIP over TLS (listen address, certificate and key), if configured.
    pub sip_tls: Option<tsunagu_sip::SipTls>,
    /// Address RTP binds to and SDP announces.
    pub media_ip: IpAddr,
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    pub trunks: Vec<TrunkConfig>,
    /// Where recordings are written (`<dir>/<yyyy-mm-dd>/<contact>-<id>.wav`).
    pub recordings_dir: PathBuf,
    /// Extra or replacement prompts (`<dir>/<lang>/<name>.wav`).
    pub prompts_dir: Option<PathBuf>,
    /// Secret for stateless digest nonces.
    pub nonce_secret: String,
    /// How long an outgoing leg that is not an ACD offer may ring.
    pub ring_timeout_secs: u32,
    /// A leg silent this long (no RTP) is hung up.
    pub rtp_timeout_secs: u32,
    /// Calls at once. A new inbound call beyond is answered `503 Service Unavailable`; a
    /// new outbound call (click-to-call) is refused with [`TelephonyError::Overloaded`].
    pub max_calls: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TelephonyError {
    #[error("SIP cannot listen on {addr}: {message}")]
    Sip { addr: SocketAddr, message: String },
    #[error("media engine: {0}")]
    Media(String),
    #[error("prompts: {0}")]
    Prompts(#[from] prompts::PromptsError),
    #[error("{0}")]
    Call(#[from] tsunagu_voice::CallError),
    #[error("telephony has stopped")]
    Stopped,
    /// The call shell has [`SHELL_QUEUE`] messages waiting: refused, nothing was done.
    #[error("the call shell is overloaded; nothing was done, try again")]
    Overloaded,
}

/// Room for messages waiting for the call shell (SIP and media events, the center's
/// directives, API commands). Commands from the API are refused when it is full
/// ([`TelephonyError::Overloaded`], HTTP 503); the other producers wait for room, which
/// holds back their own bounded inputs in turn — overload shows as refusals at the edges
/// (SIP 503, HTTP 503), never as memory growth.
pub const SHELL_QUEUE: usize = 8192;

/// Room for the center's call directives waiting to be forwarded to the shell: a tenant
/// actor that finds it full waits before its next step.
pub const DIRECTIVE_QUEUE: usize = 4096;

/// Room for media events (keys, prompt ends, silence timeouts, recordings) waiting for the
/// shell: the media thread waits for room rather than dropping one.
pub const MEDIA_EVENT_QUEUE: usize = 4096;

/// In-call commands from the API (the caller has checked role and tenant).
#[derive(Clone, Debug)]
pub enum CallCommand {
    Hold {
        contact: i64,
        on: bool,
    },
    PauseRecording {
        contact: i64,
        paused: bool,
    },
    Monitor {
        contact: i64,
        supervisor: i64,
        mode: MonitorMode,
    },
    StopMonitor {
        contact: i64,
        supervisor: i64,
    },
    Consult {
        contact: i64,
        party: Party,
    },
    ConsultComplete {
        contact: i64,
    },
    Conference {
        contact: i64,
    },
    ConsultCancel {
        contact: i64,
    },
    BlindTransfer {
        contact: i64,
        party: Party,
    },
    /// Hang up from outside the call: `by` is the agent's screen or a supervisor.
    Hangup {
        contact: i64,
        by: tsunagu_voice::Side,
    },
    /// Start the call of an outbound contact the center created (click-to-call).
    Outbound {
        tenant_id: i64,
        contact: i64,
        agent: i64,
        number: String,
        record: bool,
    },
}

impl CallCommand {
    fn apply(self, sw: &mut Switch, now: i64) -> Result<(), tsunagu_voice::CallError> {
        match self {
            CallCommand::Hold { contact, on } => sw.hold(contact, on, now),
            CallCommand::PauseRecording { contact, paused } => {
                sw.pause_recording(contact, paused, now)
            }
            CallCommand::Monitor {
                contact,
                supervisor,
                mode,
            } => sw.monitor(contact, supervisor, mode, now),
            CallCommand::StopMonitor {
                contact,
                supervisor,
            } => sw.stop_monitor(contact, supervisor, now),
            CallCommand::Consult { contact, party } => sw.consult(contact, party, now),
            CallCommand::ConsultComplete { contact } => sw.consult_complete(contact, now),
            CallCommand::Conference { contact } => sw.conference(contact, now),
            CallCommand::ConsultCancel { contact } => sw.consult_cancel(contact, now),
            CallCommand::BlindTransfer { contact, party } => sw.blind_transfer(contact, party, now),
            CallCommand::Hangup { contact, by } => sw.hangup(contact, by, now),
            // The shell starts outbound calls itself (it must note the call's tenant).
            CallCommand::Outbound { .. } => Err(tsunagu_voice::CallError::Misrouted(
                "outbound calls start in the shell",
            )),
        }
    }
}

/// An API request the shell's queue did not take: refused while full, or it has stopped.
fn refused<T>(e: mpsc::error::TrySendError<T>) -> TelephonyError {
    match e {
        mpsc::error::TrySendError::Full(_) => TelephonyError::Overloaded,
        mpsc::error::TrySendError::Closed(_) => TelephonyError::Stopped,
    }
}

/// What the shell's loop takes in.
pub(crate) enum Msg {
    Sip(tsunagu_sip::SipEvent),
    Engine(tsunagu_media::engine::EngineEvent),
    Directive(i64, crate::center::VoiceDirective),
    Command(CallCommand, oneshot::Sender<Result<(), TelephonyError>>),
    /// An inbound call with its flow looked up.
    Incoming(Box<shell::Incoming>),
    Center(tsunagu_voice::CenterIn),
    /// The contact of an inbound call was written (the center's answer).
    ContactCreated {
        tenant: i64,
        call: u64,
        contact: i64,
    },
    /// A call's contact could not be created: drop the call.
    CallFailed {
        call: u64,
        cause: String,
    },
    Located {
        leg: u64,
        targets: Vec<tsunagu_voice::PhoneTarget>,
    },
    Http {
        call: u64,
        result: Result<serde_json::Value, tsunagu_flow::LookupError>,
    },
    /// A phone's REFER target, resolved, or why it cannot be used (the NOTIFY's status and
    /// reason).
    Refer {
        contact: i64,
        agent: i64,
        leg: u64,
        target: Result<shell::ReferTarget, (u16, String)>,
    },
    /// A phone's REFER could not be carried out by the center.
    ReferFailed {
        leg: u64,
        code: u16,
        reason: String,
    },
    Region {
        tenant: i64,
        region: String,
    },
    /// A live event about a call, to publish once its timeline event is stored.
    Publish {
        tenant: i64,
        envelope: Box<crate::center::events::Envelope>,
    },
    /// A leg's final RTP figures, for the contact's timeline.
    MediaStats {
        contact: i64,
        role: &'static str,
        stats: tsunagu_media::core::LegStats,
    },
    Stats(oneshot::Sender<TelephonyStats>),
    Shutdown(oneshot::Sender<()>),
}

#[derive(Clone, Debug, Default)]
pub struct TelephonyStats {
    pub calls: usize,
    pub legs: usize,
    /// New calls and registrations refused with 503 since start: at `max_calls`, the
    /// center's bookkeeping behind, or SIP events waiting for the shell at their limit.
    pub refused_calls: u64,
    /// Registrations with providers, per trunk that registers.
    pub trunks: Vec<TrunkStatus>,
    /// Whether each trunk's provider answers OPTIONS.
    pub trunk_health: Vec<TrunkHealth>,
}

/// Whether a trunk's provider answers (OPTIONS keep-alive).
#[derive(Clone, Debug)]
pub struct TrunkHealth {
    pub trunk: String,
    /// reachable or unreachable.
    pub state: String,
    /// The last answer's status (0: none).
    pub code: u16,
    pub rtt_ms: Option<u64>,
    /// When last checked (Unix ms).
    pub at_ms: i64,
}

/// How a trunk's registration with its provider stands.
#[derive(Clone, Debug)]
pub struct TrunkStatus {
    pub trunk: String,
    /// trying, registered, rejected or unreachable.
    pub state: String,
    /// The provider's last status code (0: none yet).
    pub code: u16,
    /// Seconds granted (when registered).
    pub expires: Option<u32>,
    /// When this was last confirmed or changed (Unix ms).
    pub at_ms: i64,
}

/// A handle to the running telephony. Cheap to clone.
#[derive(Clone)]
pub struct Telephony {
    tx: mpsc::Sender<Msg>,
    pub sip_addr: SocketAddr,
    pub flows: Arc<FlowCache>,
    sip: tsunagu_sip::SipHandle,
    trunks: Arc<Vec<TrunkConfig>>,
}

impl Telephony {
    /// Starts SIP, the media engine and the shell, and makes the center send its call
    /// directives here. Call before the center's tenants start.
    pub async fn start(
        cfg: TelephonyConfig,
        store: Store,
        center: Arc<Center>,
    ) -> Result<Telephony, TelephonyError> {
        let prompts = Arc::new(PromptStore::load(cfg.prompts_dir.as_deref())?);
        let trunks = Arc::new(cfg.trunks.clone());
        let directory = Arc::new(directory::StoreDirectory {
            store: store.clone(),
            trunks: trunks.clone(),
        });
        let sip_cfg = SipConfig {
            listen: cfg.sip_listen,
            tls: cfg.sip_tls.clone(),
            realm: tsunagu_sip::REALM.into(),
            nonce_secret: cfg.nonce_secret.clone(),
            user_agent: format!("Tsunagu/{}", env!("CARGO_PKG_VERSION")),
            event_queue: tsunagu_sip::EVENT_QUEUE,
        };
        let (sip, sip_rx) =
            tsunagu_sip::start(sip_cfg, directory)
                .await
                .map_err(|e| TelephonyError::Sip {
                    addr: cfg.sip_listen,
                    message: e.to_string(),
                })?;
        for t in cfg.trunks.iter() {
            if let (Some(dest), true) = (t.outbound, t.qualify_secs > 0) {
                sip.qualify_trunk(
                    &t.name,
                    &t.outbound_domain(dest),
                    dest,
                    t.transport(),
                    std::time::Duration::from_secs(u64::from(t.qualify_secs)),
                );
            }
            if let (Some(expires), Some(dest), Some(auth)) = (t.register, t.outbound, &t.auth) {
                sip.register_trunk(tsunagu_sip::TrunkRegistration {
                    trunk: t.name.clone(),
                    domain: t.outbound_domain(dest),
                    destination: dest,
                    transport: t.transport(),
                    auth: auth.clone(),
                    expires,
                });
            }
        }
        let (engine_tx, engine_rx) = mpsc::channel(MEDIA_EVENT_QUEUE);
        let engine = MediaEngine::start(
            EngineConfig {
                bind_ip: cfg.media_ip,
                port_min: cfg.rtp_port_min,
                port_max: cfg.rtp_port_max,
                core: CoreConfig {
                    rtp_timeout_ms: i64::from(cfg.rtp_timeout_secs) * 1000,
                    ..CoreConfig::default()
                },
            },
            engine_tx,
        )
        .map_err(|e| TelephonyError::Media(e.to_string()))?;
        let (tx, rx) = mpsc::channel(SHELL_QUEUE);
        let (dir_tx, mut dir_rx) = mpsc::channel(DIRECTIVE_QUEUE);
        center.set_voice_sink(dir_tx);
        let fwd = tx.clone();
        tokio::spawn(async move {
            while let Some((t, d)) = dir_rx.recv().await {
                if fwd.send(Msg::Directive(t, d)).await.is_err() {
                    break;
                }
            }
        });
        let flows = Arc::new(FlowCache::new(store.clone(), prompts.clone()));
        let now = SystemClock.now_ms();
        let regions = store
            .tenants()
            .await
            .map(|ts| ts.into_iter().map(|t| (t.id, t.default_region)).collect())
            .unwrap_or_default();
        let switch = Switch::new(SwitchConfig {
            media_ip: cfg.media_ip,
            telephone_event: 101,
            ring_timeout_ms: i64::from(cfg.ring_timeout_secs) * 1000,
        });
        let recordings = recordings::start(store.clone(), now).await;
        let sip_addr = sip.local_addr();
        let shell = shell::Shell::new(shell::Parts {
            switch,
            sip: sip.clone(),
            engine,
            prompts,
            store: store.clone(),
            center,
            recordings,
            tx: tx.clone(),
            cfg: Arc::new(cfg),
            trunks: trunks.clone(),
            flows: flows.clone(),
            regions,
        });
        tokio::spawn(shell.run(rx, sip_rx, engine_rx));
        info!(%sip_addr, "telephony started");
        Ok(Telephony {
            tx,
            sip_addr,
            flows,
            sip,
            trunks,
        })
    }

    pub async fn command(&self, cmd: CallCommand) -> Result<(), TelephonyError> {
        let (tx, rx) = oneshot::channel();
        self.tx.try_send(Msg::Command(cmd, tx)).map_err(refused)?;
        rx.await.map_err(|_| TelephonyError::Stopped)?
    }

    pub async fn stats(&self) -> Result<TelephonyStats, TelephonyError> {
        let (tx, rx) = oneshot::channel();
        self.tx.try_send(Msg::Stats(tx)).map_err(refused)?;
        rx.await.map_err(|_| TelephonyError::Stopped)
    }

    /// A phone account's current registrations.
    pub fn registrations(&self, username: &str) -> Vec<Binding> {
        self.sip.registrar().lookup(username, SystemClock.now_ms())
    }

    /// Whether the tenant can call outside numbers: it has a trunk with an outbound
    /// address (the shell dials through the first such trunk).
    pub fn has_outbound_route(&self, tenant_id: i64) -> bool {
        self.trunks
            .iter()
            .any(|t| t.tenant_id == tenant_id && t.outbound.is_some())
    }

    /// Hangs up every call (closing their contacts with the cause), lets the bookkeeping
    /// reach the center, then stops SIP and media.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}
