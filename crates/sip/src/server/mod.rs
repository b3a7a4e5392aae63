//! The SIP shell around rsipstack: transports (UDP and TCP), the transaction and dialog
//! layers, the registrar, and the translation between dialogs and our [`SipEvent`]s and
//! [`SipHandle`] commands. Call logic lives elsewhere (sans-IO); this only does SIP.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use rsipstack::dialog::dialog::{
    Dialog, DialogState, DialogStateSender, TerminatedReason, TransactionHandle,
};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::*;
use rsipstack::sip::{self as rsip, Header, Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, TcpListenerConnection, TransportLayer};
use rsipstack::EndpointBuilder;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::body::BodyError;
use crate::digest;
use crate::info::{self, InfoBody, InfoError};
use crate::refer::{parse_refer_to, ReferTo, ReferToError};
use crate::registrar::{Binding, Registrar, Transport, MAX_EXPIRES, MIN_EXPIRES};

mod dialogs;
mod handle;
pub(crate) mod incoming;
mod trunks;

use dialogs::*;
use incoming::*;

pub type LegId = u64;

/// Incoming legs are numbered from here; the call control numbers the legs it dials below.
pub const INCOMING_LEG_BASE: LegId = 1 << 48;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// SIP over TLS (RFC 3261 §26): where to listen and the server's certificate.
#[derive(Clone)]
pub struct SipTls {
    pub listen: SocketAddr,
    /// Certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// Private key (PKCS#8 or PKCS#1), PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for SipTls {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipTls")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct SipConfig {
    /// Address for UDP and TCP.
    pub listen: SocketAddr,
    /// TLS, if configured.
    pub tls: Option<SipTls>,
    /// Digest realm.
    pub realm: String,
    /// Key for stateless nonces.
    pub nonce_secret: String,
    pub user_agent: String,
    /// How many events may wait for the shell ([`EVENT_QUEUE`] unless a test wants fewer).
    /// When it is full a new call or registration is refused with `503 Service Unavailable`
    /// and `Retry-After` — overload shows as a refusal the peer can act on, not as memory
    /// growth — while events of calls already admitted wait for room (SIP retransmits).
    pub event_queue: usize,
}

/// The default room for SIP events waiting for the shell.
pub const EVENT_QUEUE: usize = 4096;

/// A phone account (agents' SIP credentials).
#[derive(Clone, Debug)]
pub struct SipAccount {
    pub tenant_id: i64,
    pub agent_id: i64,
    /// MD5(username:realm:password)
    pub ha1: String,
}

/// An inbound call's origin: which tenant it belongs to.
#[derive(Clone, Debug)]
pub struct TrunkMatch {
    pub tenant_id: i64,
    pub trunk: String,
}

/// What the SIP shell needs to know from the rest of the system.
pub trait Directory: Send + Sync + 'static {
    fn account(&self, username: &str) -> BoxFuture<'static, Option<SipAccount>>;
    /// Is an INVITE from `source` to `called` accepted, and for which tenant?
    fn trunk(&self, source: SocketAddr, called: &str) -> BoxFuture<'static, Option<TrunkMatch>>;
    /// A provider that authenticates its INVITEs with digest instead of (or besides) its
    /// address: the trunk of this account and the account's HA1.
    fn trunk_account(&self, _username: &str) -> BoxFuture<'static, Option<(TrunkMatch, String)>> {
        Box::pin(async { None })
    }
    /// Does any trunk take digest-authenticated INVITEs? If not, an INVITE from an unknown
    /// address is refused (403) without a challenge.
    fn trunk_digest(&self) -> bool {
        false
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndCause {
    /// The peer sent BYE.
    Bye,
    /// The caller cancelled before we answered.
    Cancel,
    /// No ACK, no response, or the transport failed.
    Timeout,
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SipEvent {
    /// A new inbound call; answer, ring or reject `leg`.
    Incoming {
        leg: LegId,
        tenant_id: i64,
        trunk: String,
        caller: String,
        caller_name: Option<String>,
        called: String,
        source: SocketAddr,
        offer: Option<String>,
        call_id: String,
    },
    /// A dialed leg rings (180/183).
    Ringing { leg: LegId },
    /// A dialed leg answered (2xx) with this SDP.
    Answered { leg: LegId, answer: Option<String> },
    /// A dialed leg failed with a final status (or 0 when it never got one).
    Failed {
        leg: LegId,
        code: u16,
        reason: String,
    },
    /// The peer ended an established (or, for incoming legs, ringing) leg.
    Ended { leg: LegId, cause: EndCause },
    /// The peer sent a re-INVITE or UPDATE with SDP (hold, resume, new codec or address):
    /// answer with [`SipHandle::answer_update`] or refuse with [`SipHandle::refuse_update`].
    Update { leg: LegId, offer: String },
    /// The peer sent a re-INVITE without SDP (RFC 3261 §14.2): it wants our offer, sent
    /// with [`SipHandle::answer_update`]; its answer comes in the ACK ([`SipEvent::AckAnswer`]).
    OfferWanted { leg: LegId },
    /// The ACK completing an offer we made in a 2xx (to an INVITE or re-INVITE without SDP)
    /// carried this answer (None: the ACK had no body).
    AckAnswer { leg: LegId, answer: Option<String> },
    /// DTMF by SIP INFO.
    Dtmf { leg: LegId, digit: char },
    /// The peer asked to transfer the call (REFER). It was answered 202 and told
    /// `SIP/2.0 100 Trying`; the outcome must be reported with [`SipHandle::refer_notify`].
    Refer { leg: LegId, refer_to: ReferTo },
    /// A phone (un)registered; `bindings` is how many contacts the account has now.
    Registered {
        tenant_id: i64,
        agent_id: i64,
        username: String,
        bindings: usize,
    },
}

/// Where to send an INVITE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialTarget {
    pub uri: String,
    pub destination: SocketAddr,
    pub transport: Transport,
    /// Digest credentials to answer a 401/407 with (a provider's trunk).
    pub auth: Option<TrunkAuth>,
}

/// A trunk account at a provider.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for TrunkAuth {
    // Passwords never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A provider the center registers with (its trunk's account), so the provider knows where
/// to send the trunk's calls.
#[derive(Clone, Debug)]
pub struct TrunkRegistration {
    /// The trunk's name (for status and logs).
    pub trunk: String,
    /// The registrar's domain: REGISTER goes to `sip:<domain>`, To/From `sip:<user>@<domain>`.
    pub domain: String,
    /// Where the REGISTERs are sent.
    pub destination: SocketAddr,
    pub transport: Transport,
    pub auth: TrunkAuth,
    /// The expiry asked for, in seconds; refreshed at 75 % of what the registrar grants.
    pub expires: u32,
}

/// How a trunk's registration stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrunkRegistrationStatus {
    pub trunk: String,
    /// "trying", "registered", "rejected" (a final non-2xx) or "unreachable".
    pub state: &'static str,
    /// The registrar's last status code (0: none).
    pub code: u16,
    /// Seconds granted by the registrar (when registered).
    pub expires: Option<u32>,
    /// When the state last changed or was confirmed (Unix ms).
    pub at: i64,
}

/// Is a trunk's provider answering? (OPTIONS sent every so often.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrunkHealth {
    pub trunk: String,
    /// "reachable" (any response) or "unreachable" (none within 5 s).
    pub state: &'static str,
    /// The status of the last answer (0: none).
    pub code: u16,
    /// Round trip of the last answer, ms.
    pub rtt_ms: Option<u64>,
    /// When last checked (Unix ms).
    pub at: i64,
}

impl DialTarget {
    pub fn from_binding(b: &Binding) -> DialTarget {
        DialTarget {
            uri: b.contact.clone(),
            destination: b.source,
            transport: b.transport,
            auth: None,
        }
    }
}

#[derive(Clone)]
enum LegDialog {
    Server(InviteDialog),
    Client {
        dialog: InviteDialog,
        answered: bool,
    },
}

#[derive(Default)]
struct State {
    legs: HashMap<LegId, LegDialog>,
    /// (Call-ID, our tag) → leg. Stable through a client dialog's early → confirmed change.
    by_dialog: HashMap<(String, String), LegId>,
    updates: HashMap<LegId, TransactionHandle>,
    /// Legs whose 2xx carried our offer: the CSeq of the INVITE whose ACK holds the answer.
    ack_answers: HashMap<LegId, u32>,
    /// The last NOTIFY of a REFER's progress sent on a leg: the next one, and a hang-up,
    /// wait for it so the phone hears the outcome before the BYE.
    refer_notifies: HashMap<LegId, tokio::task::JoinHandle<()>>,
    /// Legs we are ending ourselves: their termination is not reported back.
    closing: std::collections::HashSet<LegId>,
}

struct Shared {
    config: SipConfig,
    directory: Arc<dyn Directory>,
    registrar: Arc<Registrar>,
    dialogs: Arc<DialogLayer>,
    state_sender: DialogStateSender,
    state: Mutex<State>,
    events: mpsc::Sender<SipEvent>,
    /// New calls and registrations refused with 503 because `events` was full.
    refused_overload: AtomicU64,
    next_leg: AtomicU64,
    local: SipAddr,
    contact: rsip::Uri,
    endpoint: rsipstack::transaction::endpoint::EndpointInnerRef,
    /// By trunk name (sorted: the snapshots list trunks in name order).
    trunk_status: Mutex<BTreeMap<String, TrunkRegistrationStatus>>,
    trunk_health: Mutex<BTreeMap<String, TrunkHealth>>,
}

/// Commands to the SIP shell. Cheap to clone.
#[derive(Clone)]
pub struct SipHandle {
    shared: Arc<Shared>,
    cancel: CancellationToken,
}

fn dialog_key(id: &rsipstack::dialog::DialogId) -> (String, String) {
    (id.call_id.clone(), id.local_tag.clone())
}

fn sdp_headers() -> Vec<Header> {
    vec![Header::ContentType("application/sdp".into())]
}

/// A message's Content-Type value, if it has one.
fn content_type(headers: &rsip::Headers) -> Option<String> {
    headers.iter().find_map(|h| match h {
        Header::ContentType(c) => Some(c.value().to_string()),
        _ => None,
    })
}

/// The session description of a request or response (see [`crate::body`]).
fn sdp_of(headers: &rsip::Headers, body: &[u8]) -> Result<Option<String>, BodyError> {
    crate::body::session_description(content_type(headers).as_deref(), body)
}

/// The session description of an ACK or a 2xx, which cannot be refused: one that is not
/// SDP is no answer (the switch then treats the session as having none).
fn answer_of(headers: &rsip::Headers, body: &[u8], what: &str) -> Option<String> {
    sdp_of(headers, body).unwrap_or_else(|e| {
        warn!("{what} body ignored: {e}");
        None
    })
}

/// The `415 Unsupported Media Type` headers: the body type we read (RFC 3261 §21.4.16).
fn accept_sdp() -> Vec<Header> {
    vec![Header::Accept(crate::body::ACCEPTED.into())]
}

/// Where a request goes, in rsipstack's terms.
fn sip_addr(dest: SocketAddr, t: Transport) -> SipAddr {
    SipAddr {
        r#type: Some(match t {
            Transport::Udp => rsip::Transport::Udp,
            Transport::Tcp => rsip::Transport::Tcp,
            Transport::Tls => rsip::Transport::Tls,
        }),
        addr: dest.into(),
    }
}

/// A trunk account as rsipstack's client credentials.
fn credential(a: &TrunkAuth) -> rsipstack::dialog::authenticate::Credential {
    rsipstack::dialog::authenticate::Credential {
        username: a.username.clone(),
        password: a.password.clone(),
        ..Default::default()
    }
}

/// Our Contact URI with `user` as its user part.
fn contact_as(shared: &Shared, user: &str) -> rsip::Uri {
    let mut uri = shared.contact.clone();
    uri.auth = Some(rsip::Auth {
        user: user.to_string(),
        password: None,
    });
    uri
}

/// The value of the first readable `Expires` header.
fn expires_header(headers: &rsip::Headers) -> Option<u32> {
    headers.iter().find_map(|h| match h {
        Header::Expires(e) => e.value().trim().parse::<u32>().ok(),
        _ => None,
    })
}

/// The digest credentials a request carries: `Authorization` (for a registrar), or
/// `Proxy-Authorization` when `proxy`.
fn credentials(req: &rsip::Request, proxy: bool) -> Option<digest::Credentials> {
    req.headers.iter().find_map(|h| match h {
        Header::Authorization(a) if !proxy => digest::parse_authorization(a.value()),
        Header::ProxyAuthorization(a) if proxy => digest::parse_authorization(a.value()),
        _ => None,
    })
}

/// Answers `req` with a digest challenge (a fresh nonce issued at `now`): 401 with
/// `WWW-Authenticate`, or 407 with `Proxy-Authenticate` when `proxy`.
async fn send_challenge(
    shared: &Shared,
    tx: &mut Transaction,
    req: &rsip::Request,
    now: i64,
    proxy: bool,
    stale: bool,
) -> rsipstack::Result<()> {
    let nonce = digest::make_nonce(&shared.config.nonce_secret, now);
    let challenge = digest::challenge(&shared.config.realm, &nonce, stale);
    let (code, header) = if proxy {
        (
            StatusCode::ProxyAuthenticationRequired,
            Header::ProxyAuthenticate(challenge.into()),
        )
    } else {
        (
            StatusCode::Unauthorized,
            Header::WwwAuthenticate(challenge.into()),
        )
    };
    let mut r = tx.endpoint_inner.make_response(req, code, None);
    r.headers.push(header);
    tx.respond(r).await
}

/// Starts the SIP server; events arrive on the returned receiver.
pub async fn start(
    config: SipConfig,
    directory: Arc<dyn Directory>,
) -> Result<(SipHandle, mpsc::Receiver<SipEvent>), rsipstack::Error> {
    let cancel = CancellationToken::new();
    let transport = TransportLayer::new(cancel.child_token());
    let udp =
        UdpConnection::create_connection(config.listen, None, Some(cancel.child_token())).await?;
    let local = udp.get_addr().clone();
    transport.add_transport(udp.into());
    let tcp = TcpListenerConnection::new(config.listen, None).await?;
    transport.inner.add_listener(tcp.into());
    if let Some(tls) = &config.tls {
        // The PEM files were checked when the configuration was loaded; rsipstack parses
        // them when the listener starts serving.
        rsipstack::transport::tls::TlsListenerConnection::new(
            tls.listen,
            None,
            rsipstack::transport::TlsConfig {
                cert: Some(tls.cert_pem.clone()),
                key: Some(tls.key_pem.clone()),
                ..Default::default()
            },
        )
        .await
        .map(|l| transport.inner.add_listener(l.into()))?;
    }
    let endpoint = EndpointBuilder::new()
        .with_cancel_token(cancel.clone())
        .with_transport_layer(transport)
        .with_user_agent(&config.user_agent)
        .build();
    let incoming = endpoint.incoming_transactions()?;
    let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
    let (state_sender, state_receiver) = dialogs.new_dialog_state_channel();
    let (events, events_rx) = mpsc::channel(config.event_queue.max(1));
    let contact = rsip::Uri {
        scheme: Some(rsip::Scheme::Sip),
        auth: None,
        host_with_port: local.addr.clone(),
        params: vec![],
        headers: vec![],
    };
    let shared = Arc::new(Shared {
        config,
        directory,
        registrar: Arc::new(Registrar::default()),
        dialogs,
        state_sender,
        state: Mutex::new(State::default()),
        events,
        refused_overload: AtomicU64::new(0),
        next_leg: AtomicU64::new(INCOMING_LEG_BASE),
        local,
        contact,
        endpoint: endpoint.inner.clone(),
        trunk_status: Mutex::new(BTreeMap::new()),
        trunk_health: Mutex::new(BTreeMap::new()),
    });
    info!(listen = %shared.config.listen, "SIP listening (UDP and TCP)");
    if let Some(tls) = &shared.config.tls {
        info!(listen = %tls.listen, "SIP listening (TLS)");
    }
    let ep = cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = endpoint.serve() => {}
            _ = ep.cancelled() => {}
        }
    });
    tokio::spawn(incoming_loop(shared.clone(), incoming, cancel.clone()));
    tokio::spawn(state_loop(shared.clone(), state_receiver, cancel.clone()));
    let housekeeping = shared.clone();
    let hk_cancel = cancel.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = tick.tick() => housekeeping.registrar.purge(now_ms()),
                _ = hk_cancel.cancelled() => break,
            }
        }
    });
    Ok((SipHandle { shared, cancel }, events_rx))
}

/// What a refused peer is told to wait before trying again, in seconds.
const RETRY_AFTER_SECS: u32 = 5;
