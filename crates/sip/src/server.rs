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

async fn incoming_loop(
    shared: Arc<Shared>,
    mut incoming: rsipstack::transaction::TransactionReceiver,
    cancel: CancellationToken,
) {
    loop {
        let tx = tokio::select! {
            tx = incoming.recv() => match tx { Some(tx) => tx, None => break },
            _ = cancel.cancelled() => break,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = handle_transaction(shared, tx).await {
                debug!("transaction: {e}");
            }
        });
    }
}

/// A request whose Content-Length does not match its body (RFC 3261 §18.3: over UDP a
/// message is cut short or padded) is refused rather than guessed at.
pub(crate) fn body_length_mismatch(req: &rsip::Request) -> bool {
    req.headers.iter().any(|h| match h {
        Header::ContentLength(l) => !l
            .value()
            .trim()
            .parse::<usize>()
            .is_ok_and(|n| n == req.body.len()),
        _ => false,
    })
}

async fn handle_transaction(shared: Arc<Shared>, mut tx: Transaction) -> rsipstack::Result<()> {
    if body_length_mismatch(&tx.original) && tx.original.method != Method::Ack {
        warn!(method = %tx.original.method, "request refused: Content-Length does not match the body");
        return tx.reply(StatusCode::BadRequest).await;
    }
    let in_dialog = tx
        .original
        .to_header()
        .ok()
        .and_then(|t| t.tag().ok().flatten())
        .is_some();
    match (&tx.original.method, in_dialog) {
        (Method::Register, _) => register(&shared, &mut tx).await,
        (Method::Invite, false) => incoming_call(shared, tx).await,
        (Method::Options, false) => {
            let mut r = tx
                .endpoint_inner
                .make_response(&tx.original, StatusCode::OK, None);
            r.headers.push(Header::Allow(
                "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, UPDATE, REGISTER".into(),
            ));
            tx.respond(r).await
        }
        (_, true) => match shared.dialogs.match_dialog(&tx) {
            Some(Dialog::Invite(mut d)) => d.handle(&mut tx).await,
            Some(_) => tx.reply(StatusCode::NotImplemented).await,
            None => tx.reply(StatusCode::CallTransactionDoesNotExist).await,
        },
        (Method::Ack, _) => Ok(()),
        _ => tx.reply(StatusCode::MethodNotAllowed).await,
    }
}

fn source_of(tx: &Transaction) -> Option<(SocketAddr, Transport)> {
    let conn = tx.connection.as_ref()?;
    let transport = match conn.transport() {
        rsip::Transport::Tcp => Transport::Tcp,
        rsip::Transport::Tls => Transport::Tls,
        _ => Transport::Udp,
    };
    // The transport layer records where the request really came from in Via received/rport.
    let via = tx.original.top_via_header().ok()?.typed().ok()?;
    let sent_by = via.sent_by().clone();
    let host = match via.received() {
        Some(Ok(ip)) => ip,
        _ => sent_by.host.to_string().parse().ok()?,
    };
    let port = via
        .rport()
        .flatten()
        .or_else(|| sent_by.port.map(|p| p.value()))
        .unwrap_or(5060);
    Some((SocketAddr::new(host, port), transport))
}

async fn register(shared: &Shared, tx: &mut Transaction) -> rsipstack::Result<()> {
    let now = now_ms();
    let req = tx.original.clone();
    let Some(creds) = credentials(&req, false) else {
        return send_challenge(shared, tx, &req, now, false, false).await;
    };
    let to_user = req
        .to_header()
        .ok()
        .and_then(|t| t.uri().ok())
        .and_then(|u| u.user().map(str::to_string));
    let account = shared.directory.account(&creds.username).await;
    let fresh = digest::nonce_valid(&shared.config.nonce_secret, &creds.nonce, now);
    let ok = account.as_ref().is_some_and(|a| {
        creds.realm == shared.config.realm && digest::verify(&creds, "REGISTER", &a.ha1)
    }) && to_user.as_deref().is_none_or(|u| u == creds.username);
    if !ok || !fresh {
        if ok && !fresh {
            return send_challenge(shared, tx, &req, now, false, true).await;
        }
        warn!(username = %creds.username, "REGISTER refused: bad credentials");
        return tx.reply(StatusCode::Forbidden).await;
    }
    let account = account.expect("checked");
    // Room for the event before the registrar changes: refused whole or done whole.
    let Ok(permit) = shared.events.try_reserve() else {
        return overloaded(shared, tx, "REGISTER").await;
    };
    let Some((source, transport)) = source_of(tx) else {
        return tx.reply(StatusCode::BadRequest).await;
    };
    let default_expires = expires_header(&req.headers).unwrap_or(MAX_EXPIRES);
    let user_agent = req.headers.iter().find_map(|h| match h {
        Header::UserAgent(u) => Some(u.value().to_string()),
        _ => None,
    });
    let mut bindings = shared.registrar.lookup(&creds.username, now);
    for h in req.headers.iter() {
        let Header::Contact(c) = h else { continue };
        let value = c.value().trim();
        if value == "*" {
            bindings = shared.registrar.unregister(&creds.username, None, now);
            continue;
        }
        let Ok(contact) = rsip::typed::Contact::parse(value) else {
            return tx.reply(StatusCode::BadRequest).await;
        };
        let expires = contact
            .params
            .iter()
            .find_map(|p| match p {
                rsip::Param::Expires(e) => e.value().parse::<u32>().ok(),
                _ => None,
            })
            .unwrap_or(default_expires);
        let uri = contact.uri.to_string();
        if expires == 0 {
            bindings = shared
                .registrar
                .unregister(&creds.username, Some(&uri), now);
        } else if expires < MIN_EXPIRES {
            let mut r = tx
                .endpoint_inner
                .make_response(&req, StatusCode::IntervalTooBrief, None);
            r.headers
                .push(Header::MinExpires(MIN_EXPIRES.to_string().into()));
            return tx.respond(r).await;
        } else {
            let expires = expires.min(MAX_EXPIRES);
            bindings = shared.registrar.register(
                &creds.username,
                Binding {
                    contact: uri,
                    source,
                    transport,
                    expires_at: now + i64::from(expires) * 1000,
                    user_agent: user_agent.clone(),
                },
                now,
            );
        }
    }
    let mut r = tx.endpoint_inner.make_response(&req, StatusCode::OK, None);
    for b in &bindings {
        let secs = ((b.expires_at - now) / 1000).max(0);
        r.headers.push(Header::Contact(
            format!("<{}>;expires={secs}", b.contact).into(),
        ));
    }
    permit.send(SipEvent::Registered {
        tenant_id: account.tenant_id,
        agent_id: account.agent_id,
        username: creds.username.clone(),
        bindings: bindings.len(),
    });
    tx.respond(r).await
}

/// An INVITE from no allowed address: challenge it (407) if trunks take digest, and accept
/// it for the trunk whose account answers the challenge. None: answered with 407 or 403.
async fn trunk_by_digest(
    shared: &Shared,
    tx: &mut Transaction,
    req: &rsip::Request,
    source: SocketAddr,
) -> rsipstack::Result<Option<TrunkMatch>> {
    if !shared.directory.trunk_digest() {
        warn!(%source, "INVITE refused: not from a known trunk");
        tx.reply(StatusCode::Forbidden).await?;
        return Ok(None);
    }
    let now = now_ms();
    let Some(creds) = credentials(req, true) else {
        send_challenge(shared, tx, req, now, true, false).await?;
        return Ok(None);
    };
    let account = shared.directory.trunk_account(&creds.username).await;
    let ok = account.as_ref().is_some_and(|(_, ha1)| {
        creds.realm == shared.config.realm && digest::verify(&creds, "INVITE", ha1)
    });
    let fresh = digest::nonce_valid(&shared.config.nonce_secret, &creds.nonce, now);
    match (ok, fresh) {
        (true, true) => Ok(account.map(|(t, _)| t)),
        (true, false) => {
            send_challenge(shared, tx, req, now, true, true).await?;
            Ok(None)
        }
        _ => {
            warn!(%source, username = %creds.username, "INVITE refused: bad trunk credentials");
            tx.reply(StatusCode::Forbidden).await?;
            Ok(None)
        }
    }
}

async fn incoming_call(shared: Arc<Shared>, mut tx: Transaction) -> rsipstack::Result<()> {
    let req = tx.original.clone();
    let called = req.uri.user().unwrap_or_default().to_string();
    let Some((source, _)) = source_of(&tx) else {
        return tx.reply(StatusCode::BadRequest).await;
    };
    let trunk = match shared.directory.trunk(source, &called).await {
        Some(t) => t,
        None => match trunk_by_digest(&shared, &mut tx, &req, source).await? {
            Some(t) => t,
            None => return Ok(()),
        },
    };
    let from = req
        .from_header()
        .ok()
        .and_then(|f| rsip::typed::From::parse(f.value()).ok());
    // The number from From, or from P-Asserted-Identity when From is anonymous and the
    // caller did not ask for privacy (sip: or tel: URIs alike).
    let asserted: Vec<&str> = req
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::PAssertedIdentity(p) => Some(p.value()),
            _ => None,
        })
        .collect();
    let privacy = req.headers.iter().find_map(|h| match h {
        Header::Privacy(p) => Some(p.value()),
        _ => None,
    });
    let caller = req
        .from_header()
        .ok()
        .and_then(|f| crate::caller::caller_identity(f.value(), &asserted, privacy))
        .unwrap_or_else(|| "anonymous".into());
    let caller_name = from.and_then(|f| f.display_name).filter(|n| !n.is_empty());
    let call_id = req
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let offer = match sdp_of(&req.headers, &req.body) {
        Ok(offer) => offer,
        Err(e) => {
            warn!(%source, "INVITE refused: {e}");
            return tx
                .reply_with(StatusCode::UnsupportedMediaType, accept_sdp(), None)
                .await;
        }
    };
    // Admission: a new call is taken only when the shell has room for it.
    let Ok(permit) = shared.events.try_reserve() else {
        return overloaded(&shared, &mut tx, "INVITE").await;
    };
    let dialog = match shared.dialogs.get_or_create_server_invite(
        &tx,
        shared.state_sender.clone(),
        None,
        Some(shared.contact.clone()),
    ) {
        Ok(d) => d,
        Err(e) => {
            warn!("cannot create dialog: {e}");
            return tx.reply(StatusCode::ServerInternalError).await;
        }
    };
    let leg = shared.next_leg.fetch_add(1, Ordering::Relaxed);
    {
        let mut st = shared.state.lock().expect("sip state");
        st.by_dialog.insert(dialog_key(&dialog.id()), leg);
        st.legs.insert(leg, LegDialog::Server(dialog.clone()));
        if offer.is_none() {
            // No offer: ours goes in the 200, the caller's answer in the ACK (RFC 3264 §4).
            st.ack_answers.insert(leg, cseq_of(&req));
        }
    }
    permit.send(SipEvent::Incoming {
        leg,
        tenant_id: trunk.tenant_id,
        trunk: trunk.trunk,
        caller,
        caller_name,
        called,
        source,
        offer,
        call_id,
    });
    let mut d = dialog;
    d.handle(&mut tx).await
}

/// Refuses a new call or registration while the shell is behind: `503 Service Unavailable`
/// with `Retry-After` (RFC 3261 §21.5.4), so the peer tries again later or elsewhere.
async fn overloaded(
    shared: &Shared,
    tx: &mut Transaction,
    what: &'static str,
) -> rsipstack::Result<()> {
    let n = shared.refused_overload.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        warn!(
            refused = n,
            "{what} refused with 503: the call shell is behind"
        );
    }
    let mut r = tx
        .endpoint_inner
        .make_response(&tx.original, StatusCode::ServiceUnavailable, None);
    r.headers
        .push(Header::RetryAfter(RETRY_AFTER_SECS.to_string().into()));
    tx.respond(r).await
}

/// What a refused peer is told to wait before trying again, in seconds.
const RETRY_AFTER_SECS: u32 = 5;

fn leg_of(shared: &Shared, id: &rsipstack::dialog::DialogId) -> Option<LegId> {
    shared
        .state
        .lock()
        .expect("sip state")
        .by_dialog
        .get(&dialog_key(id))
        .copied()
}

async fn state_loop(
    shared: Arc<Shared>,
    mut rx: rsipstack::dialog::dialog::DialogStateReceiver,
    cancel: CancellationToken,
) {
    loop {
        let state = tokio::select! {
            s = rx.recv() => match s { Some(s) => s, None => break },
            _ = cancel.cancelled() => break,
        };
        match state {
            DialogState::Early(id, resp) => {
                // Only dialed legs report ringing; our own 180 on an inbound leg is not news.
                let dialed = leg_of(&shared, &id).filter(|leg| {
                    matches!(
                        shared.state.lock().expect("sip state").legs.get(leg),
                        Some(LegDialog::Client { .. })
                    )
                });
                if let Some(leg) = dialed {
                    if resp.status_code.code() == 180 || resp.status_code.code() == 183 {
                        let _ = shared.events.send(SipEvent::Ringing { leg }).await;
                    }
                }
            }
            DialogState::Updated(id, req, handle) => {
                let Some(leg) = leg_of(&shared, &id) else {
                    let _ = handle.reply(StatusCode::CallTransactionDoesNotExist).await;
                    continue;
                };
                let offer = match sdp_of(&req.headers, &req.body) {
                    Ok(offer) => offer,
                    Err(e) => {
                        warn!(leg, "{} refused: {e}", req.method);
                        let _ = handle
                            .respond(StatusCode::UnsupportedMediaType, Some(accept_sdp()), None)
                            .await;
                        continue;
                    }
                };
                match (offer, &req.method) {
                    (Some(offer), _) => {
                        shared
                            .state
                            .lock()
                            .expect("sip state")
                            .updates
                            .insert(leg, handle);
                        let _ = shared.events.send(SipEvent::Update { leg, offer }).await;
                    }
                    (None, Method::Invite) => {
                        // A re-INVITE without SDP asks for our offer (RFC 3261 §14.2).
                        {
                            let mut st = shared.state.lock().expect("sip state");
                            st.updates.insert(leg, handle);
                            st.ack_answers.insert(leg, cseq_of(&req));
                        }
                        let _ = shared.events.send(SipEvent::OfferWanted { leg }).await;
                    }
                    (None, _) => {
                        // An UPDATE without SDP (a session refresh) changes nothing.
                        let _ = handle.reply(StatusCode::OK).await;
                    }
                }
            }
            DialogState::Confirmed(id, _) => {
                // An ACK arrived. If it completes an offer we made in a 2xx, its body is
                // the answer (the dialog keeps the last ACK; its CSeq says which INVITE).
                let Some(leg) = leg_of(&shared, &id) else {
                    continue;
                };
                let answer = {
                    let mut st = shared.state.lock().expect("sip state");
                    let Some(&cseq) = st.ack_answers.get(&leg) else {
                        continue;
                    };
                    let dialog = match st.legs.get(&leg) {
                        Some(LegDialog::Server(d)) | Some(LegDialog::Client { dialog: d, .. }) => {
                            d.clone()
                        }
                        None => continue,
                    };
                    let Some(ack) = dialog.last_remote_ack().filter(|a| cseq_of(a) == cseq) else {
                        continue;
                    };
                    st.ack_answers.remove(&leg);
                    answer_of(&ack.headers, &ack.body, "ACK")
                };
                let _ = shared
                    .events
                    .send(SipEvent::AckAnswer { leg, answer })
                    .await;
            }
            DialogState::Info(id, req, handle) => {
                let Some(leg) = leg_of(&shared, &id) else {
                    let _ = handle.reply(StatusCode::CallTransactionDoesNotExist).await;
                    continue;
                };
                match info::read_info(content_type(&req.headers).as_deref(), &req.body) {
                    Ok(InfoBody::Key(digit)) => {
                        let _ = handle.reply(StatusCode::OK).await;
                        let _ = shared.events.send(SipEvent::Dtmf { leg, digit }).await;
                    }
                    Ok(InfoBody::Empty) => {
                        let _ = handle.reply(StatusCode::OK).await;
                    }
                    Err(e @ InfoError::UnsupportedType(_)) => {
                        debug!(leg, "INFO refused: {e}");
                        let accept = Header::Accept(info::ACCEPTED.into());
                        let _ = handle
                            .respond(StatusCode::UnsupportedMediaType, Some(vec![accept]), None)
                            .await;
                    }
                    Err(e @ InfoError::Malformed { .. }) => {
                        warn!(leg, "INFO refused: {e}");
                        let _ = handle.reply(StatusCode::BadRequest).await;
                    }
                }
            }
            DialogState::Refer(id, req, handle) => {
                let Some(leg) = leg_of(&shared, &id) else {
                    let _ = handle.reply(StatusCode::CallTransactionDoesNotExist).await;
                    continue;
                };
                match refer_to(&req) {
                    Ok(refer_to) => {
                        let _ = handle.reply(StatusCode::Accepted).await;
                        // RFC 3515 §2.4.5: the implicit subscription's first NOTIFY.
                        send_refer_notify(&shared, leg, 100, "Trying");
                        let _ = shared.events.send(SipEvent::Refer { leg, refer_to }).await;
                    }
                    Err(e) => {
                        warn!(leg, "REFER refused: {e}");
                        let code = match e {
                            ReferToError::UnsupportedScheme(_) => StatusCode::UnsupportedUriScheme,
                            _ => StatusCode::BadRequest,
                        };
                        let _ = handle.reply(code).await;
                    }
                }
            }
            DialogState::Options(_, _, handle)
            | DialogState::Notify(_, _, handle)
            | DialogState::Message(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::NotImplemented).await;
            }
            DialogState::Terminated(id, reason) => {
                shared.dialogs.remove_dialog(&id);
                let Some(leg) = leg_of(&shared, &id) else {
                    continue;
                };
                let (known, closing) = {
                    let mut st = shared.state.lock().expect("sip state");
                    st.by_dialog.remove(&dialog_key(&id));
                    st.updates.remove(&leg);
                    st.ack_answers.remove(&leg);
                    st.refer_notifies.remove(&leg);
                    let known = st.legs.remove(&leg);
                    (known, st.closing.remove(&leg))
                };
                if closing {
                    continue;
                }
                let cause = match reason {
                    TerminatedReason::UacBye | TerminatedReason::UasBye => EndCause::Bye,
                    TerminatedReason::UacCancel => EndCause::Cancel,
                    TerminatedReason::Timeout => EndCause::Timeout,
                    other => EndCause::Other(format!("{other:?}")),
                };
                // A dialed leg that never answered reports its failure from `dial`.
                if let Some(LegDialog::Client {
                    answered: false, ..
                }) = known
                {
                    continue;
                }
                let _ = shared.events.send(SipEvent::Ended { leg, cause }).await;
            }
            DialogState::Calling(_) | DialogState::Trying(_) | DialogState::WaitAck(_, _) => {}
        }
    }
}

/// The CSeq number of a request (0 when unreadable; the transaction layer refuses those).
fn cseq_of(req: &rsip::Request) -> u32 {
    req.cseq_header().and_then(|c| c.seq()).unwrap_or(0)
}

/// The one `Refer-To` of a REFER (RFC 3515 §2.4.1: exactly one), read.
fn refer_to(req: &rsip::Request) -> Result<ReferTo, ReferToError> {
    let mut values = req.headers.iter().filter_map(|h| match h {
        Header::ReferTo(r) => Some(r.value()),
        _ => None,
    });
    let value = values.next().ok_or(ReferToError::Empty)?;
    if values.next().is_some() {
        return Err(ReferToError::Malformed("more than one Refer-To".into()));
    }
    parse_refer_to(value)
}

/// The reason phrase of a status code we report in a sipfrag (RFC 3261 §21).
fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        200 => "OK",
        202 => "Accepted",
        403 => "Forbidden",
        404 => "Not Found",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Sends a NOTIFY of a REFER's progress on `leg` (RFC 3515 §2.4.4): `Event: refer`, a
/// `message/sipfrag` body with the status line; a final status ends the subscription. It
/// goes after the previous NOTIFY of the leg, and a hang-up of the leg waits for it.
fn send_refer_notify(shared: &Arc<Shared>, leg: LegId, code: u16, reason: &str) {
    let mut st = shared.state.lock().expect("sip state");
    let Some(dialog) = st.legs.get(&leg).map(|d| match d {
        LegDialog::Server(d) | LegDialog::Client { dialog: d, .. } => d.clone(),
    }) else {
        return;
    };
    let previous = st.refer_notifies.remove(&leg);
    let phrase = if reason.is_empty() {
        reason_phrase(code)
    } else {
        reason
    };
    let body = format!("SIP/2.0 {code} {phrase}\r\n").into_bytes();
    let state = if code < 200 {
        "active;expires=60".to_string()
    } else {
        "terminated;reason=noresource".to_string()
    };
    let task = tokio::spawn(async move {
        if let Some(p) = previous {
            let _ = p.await;
        }
        let headers = vec![
            Header::Event("refer".into()),
            Header::SubscriptionState(state.into()),
            Header::ContentType("message/sipfrag;version=2.0".into()),
        ];
        let sent = tokio::time::timeout(
            std::time::Duration::from_secs(4),
            dialog.notify(Some(headers), Some(body)),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            debug!(leg, code, "REFER NOTIFY not answered");
        }
    });
    st.refer_notifies.insert(leg, task);
}

impl SipHandle {
    pub fn registrar(&self) -> &Registrar {
        &self.shared.registrar
    }

    /// Our SIP address (for Contact and SDP).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared
            .local
            .get_socketaddr()
            .unwrap_or(self.shared.config.listen)
    }

    fn leg(&self, leg: LegId) -> Option<LegDialog> {
        self.shared
            .state
            .lock()
            .expect("sip state")
            .legs
            .get(&leg)
            .cloned()
    }

    pub fn ringing(&self, leg: LegId) {
        if let Some(LegDialog::Server(d)) = self.leg(leg) {
            let _ = d.ringing(None, None);
        }
    }

    pub fn answer(&self, leg: LegId, sdp: String) {
        if let Some(LegDialog::Server(d)) = self.leg(leg) {
            if let Err(e) = d.accept(Some(sdp_headers()), Some(sdp.into_bytes())) {
                warn!(leg, "answer failed: {e}");
            }
        }
    }

    pub fn reject(&self, leg: LegId, code: u16) {
        let dialog = {
            let mut st = self.shared.state.lock().expect("sip state");
            st.closing.insert(leg);
            st.legs.get(&leg).cloned()
        };
        if let Some(LegDialog::Server(d)) = dialog {
            let _ = d.reject(Some(StatusCode::from(code)), None);
        }
    }

    /// Answers a re-INVITE / UPDATE with our SDP.
    pub fn answer_update(&self, leg: LegId, sdp: String) {
        let handle = self
            .shared
            .state
            .lock()
            .expect("sip state")
            .updates
            .remove(&leg);
        if let Some(h) = handle {
            tokio::spawn(async move {
                let _ = h
                    .respond(StatusCode::OK, Some(sdp_headers()), Some(sdp.into_bytes()))
                    .await;
            });
        }
    }

    /// Refuses a re-INVITE / UPDATE (488: nothing acceptable in the offer; 400: unreadable;
    /// 481: no such call). The session stays as it was.
    pub fn refuse_update(&self, leg: LegId, code: u16) {
        let handle = {
            let mut st = self.shared.state.lock().expect("sip state");
            st.ack_answers.remove(&leg);
            st.updates.remove(&leg)
        };
        if let Some(h) = handle {
            tokio::spawn(async move {
                let _ = h.reply(StatusCode::from(code)).await;
            });
        }
    }

    /// Reports how a REFER of `leg` ended (a final status: `200` when the transfer was
    /// carried out, `404`, `503`… when it was not), as the last NOTIFY of its subscription.
    /// `reason` replaces the standard reason phrase when not empty.
    pub fn refer_notify(&self, leg: LegId, code: u16, reason: &str) {
        send_refer_notify(&self.shared, leg, code.max(200), reason);
    }

    /// Ends a leg in whatever way fits its state: BYE, CANCEL or a final response.
    pub fn hangup(&self, leg: LegId) {
        let dialog = {
            let mut st = self.shared.state.lock().expect("sip state");
            let dialog = st.legs.get(&leg).cloned();
            if dialog.is_some() {
                st.closing.insert(leg);
            } else {
                // Nothing to end: the leg is not (or no longer) being closed by us.
                st.closing.remove(&leg);
            }
            dialog
        };
        let Some(d) = dialog else {
            return;
        };
        let notify = self
            .shared
            .state
            .lock()
            .expect("sip state")
            .refer_notifies
            .remove(&leg);
        tokio::spawn(async move {
            // A transfer's outcome reaches the phone before its BYE.
            if let Some(n) = notify {
                let _ = n.await;
            }
            let r = match d {
                LegDialog::Server(d) => match d.state() {
                    DialogState::Confirmed(..) | DialogState::WaitAck(..) => d.bye().await,
                    _ => d.reject(Some(StatusCode::TemporarilyUnavailable), None),
                },
                LegDialog::Client {
                    dialog,
                    answered: true,
                } => dialog.bye().await,
                LegDialog::Client {
                    dialog,
                    answered: false,
                } => dialog.cancel().await,
            };
            if let Err(e) = r {
                debug!(leg, "hangup: {e}");
            }
        });
    }

    /// Places an outgoing INVITE as leg `leg` (numbered by the caller, below
    /// [`INCOMING_LEG_BASE`]). Progress comes back as Ringing / Answered / Failed.
    pub fn dial(
        &self,
        leg: LegId,
        target: DialTarget,
        from_user: &str,
        from_name: Option<&str>,
        sdp: String,
    ) {
        let shared = self.shared.clone();
        let from_user = from_user.to_string();
        let from_name = from_name.map(str::to_string);
        tokio::spawn(async move {
            let events = shared.events.clone();
            let fail = move |code: u16, reason: String| {
                let events = events.clone();
                async move {
                    let _ = events.send(SipEvent::Failed { leg, code, reason }).await;
                }
            };
            let callee = match rsip::Uri::try_from(target.uri.as_str()) {
                Ok(u) => u,
                Err(e) => return fail(0, format!("bad target {}: {e}", target.uri)).await,
            };
            let opt = InviteOption {
                caller_display_name: from_name,
                caller: contact_as(&shared, &from_user),
                callee,
                destination: Some(sip_addr(target.destination, target.transport)),
                content_type: Some("application/sdp".into()),
                offer: Some(sdp.into_bytes()),
                contact: shared.contact.clone(),
                credential: target.auth.as_ref().map(credential),
                ..Default::default()
            };
            let (dialog, join) = match shared
                .dialogs
                .do_invite_async(opt, shared.state_sender.clone())
            {
                Ok(x) => x,
                Err(e) => return fail(0, e.to_string()).await,
            };
            {
                let mut st = shared.state.lock().expect("sip state");
                st.by_dialog.insert(dialog_key(&dialog.id()), leg);
                st.legs.insert(
                    leg,
                    LegDialog::Client {
                        dialog: dialog.clone(),
                        answered: false,
                    },
                );
            }
            let result = join.await;
            let cancelled = shared
                .state
                .lock()
                .expect("sip state")
                .closing
                .contains(&leg);
            match result {
                Ok(Ok((_, Some(resp))))
                    if resp.status_code.kind() == rsip::StatusCodeKind::Successful =>
                {
                    if cancelled {
                        // Answered just as we gave up: end it at once.
                        let _ = dialog.bye().await;
                        return;
                    }
                    {
                        let mut st = shared.state.lock().expect("sip state");
                        st.legs.insert(
                            leg,
                            LegDialog::Client {
                                dialog: dialog.clone(),
                                answered: true,
                            },
                        );
                        let id = dialog.id();
                        st.by_dialog.insert(dialog_key(&id), leg);
                    }
                    let _ = shared
                        .events
                        .send(SipEvent::Answered {
                            leg,
                            answer: answer_of(&resp.headers, &resp.body, "2xx"),
                        })
                        .await;
                }
                Ok(Ok((_, resp))) => {
                    let code = resp.as_ref().map_or(0, |r| r.status_code.code());
                    let reason = resp
                        .as_ref()
                        .and_then(|r| r.reason_phrase().map(str::to_string))
                        .unwrap_or_default();
                    cleanup(&shared, leg);
                    if !cancelled {
                        fail(code, reason).await;
                    }
                }
                Ok(Err(e)) => {
                    cleanup(&shared, leg);
                    if !cancelled {
                        fail(0, e.to_string()).await;
                    }
                }
                Err(e) => {
                    cleanup(&shared, leg);
                    fail(0, e.to_string()).await;
                }
            }
        });
    }

    /// Legs (dialogs) still open, including those being hung up.
    /// New calls and registrations refused with 503 since start because the shell was behind.
    pub fn refused_overload(&self) -> u64 {
        self.shared.refused_overload.load(Ordering::Relaxed)
    }

    pub fn open_legs(&self) -> usize {
        self.shared.state.lock().expect("sip state").legs.len()
    }

    /// Registers with a provider and keeps the registration fresh until shutdown (refresh at
    /// 75 % of the granted expiry; after a failure, retry after 1 s doubling to 60 s).
    pub fn register_trunk(&self, r: TrunkRegistration) {
        let shared = self.shared.clone();
        let cancel = self.cancel.child_token();
        set_trunk_status(&shared, &r.trunk, "trying", 0, None);
        tokio::spawn(async move {
            let transport = match r.transport {
                Transport::Tcp => ";transport=tcp",
                Transport::Tls => ";transport=tls",
                Transport::Udp => "",
            };
            let server = match rsip::Uri::try_from(format!("sip:{}{transport}", r.domain).as_str())
            {
                Ok(u) => u,
                Err(e) => {
                    warn!(trunk = %r.trunk, "registrar domain {}: {e}", r.domain);
                    set_trunk_status(&shared, &r.trunk, "unreachable", 0, None);
                    return;
                }
            };
            let mut reg = rsipstack::dialog::registration::Registration::new(
                shared.endpoint.clone(),
                Some(credential(&r.auth)),
            );
            reg.outbound_proxy = Some(r.destination);
            reg.contact = Some(rsip::typed::Contact {
                display_name: None,
                uri: contact_as(&shared, &r.auth.username),
                params: vec![],
            });
            let trunk = r.trunk.clone();
            reg.keep_alive(server, r.expires, cancel, |outcome| {
                use rsipstack::dialog::registration::RefreshOutcome;
                match outcome {
                    RefreshOutcome::Registered(resp) => {
                        let granted = expires_header(&resp.headers).or(Some(r.expires));
                        debug!(trunk = %trunk, "registered with the provider");
                        set_trunk_status(&shared, &trunk, "registered", resp.status_code.code(), granted);
                    }
                    RefreshOutcome::Rejected(resp) => {
                        warn!(trunk = %trunk, code = resp.status_code.code(), "the provider refused the registration");
                        set_trunk_status(&shared, &trunk, "rejected", resp.status_code.code(), None);
                    }
                    RefreshOutcome::Failed(e) => {
                        warn!(trunk = %trunk, "registration failed: {e}");
                        set_trunk_status(&shared, &trunk, "unreachable", 0, None);
                    }
                }
            })
            .await;
        });
    }

    /// Sends OPTIONS to a trunk's provider every `every` (keep-alive and health check: NAT
    /// bindings stay open, and the state shows whether the provider answers).
    pub fn qualify_trunk(
        &self,
        trunk: &str,
        domain: &str,
        destination: SocketAddr,
        transport: Transport,
        every: std::time::Duration,
    ) {
        let shared = self.shared.clone();
        let cancel = self.cancel.child_token();
        let (trunk, domain) = (trunk.to_string(), domain.to_string());
        tokio::spawn(async move {
            let mut seq = 0u32;
            loop {
                seq += 1;
                let started = std::time::Instant::now();
                let answer = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    send_options(&shared, &domain, destination, transport, seq),
                )
                .await;
                let (state, code, rtt_ms) = match answer {
                    Ok(Some(code)) => (
                        "reachable",
                        code,
                        Some(started.elapsed().as_millis() as u64),
                    ),
                    _ => ("unreachable", 0, None),
                };
                if state == "unreachable" {
                    debug!(trunk = %trunk, "no answer to OPTIONS");
                }
                shared.trunk_health.lock().expect("trunk health").insert(
                    trunk.clone(),
                    TrunkHealth {
                        trunk: trunk.clone(),
                        state,
                        code,
                        rtt_ms,
                        at: now_ms(),
                    },
                );
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = cancel.cancelled() => return,
                }
            }
        });
    }

    /// Whether each qualified trunk's provider answers, by trunk name.
    pub fn trunk_health(&self) -> Vec<TrunkHealth> {
        self.shared
            .trunk_health
            .lock()
            .expect("trunk health")
            .values()
            .cloned()
            .collect()
    }

    /// How each trunk's registration with its provider stands, by trunk name.
    pub fn trunk_registrations(&self) -> Vec<TrunkRegistrationStatus> {
        self.shared
            .trunk_status
            .lock()
            .expect("trunk status")
            .values()
            .cloned()
            .collect()
    }

    /// Stops the server (transports, transactions, dialogs).
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

/// One OPTIONS request to `destination`; the final status of its answer.
async fn send_options(
    shared: &Shared,
    domain: &str,
    destination: SocketAddr,
    transport: Transport,
    seq: u32,
) -> Option<u16> {
    use rsipstack::transaction::key::{TransactionKey, TransactionRole};
    let uri = rsip::Uri::try_from(format!("sip:{domain}").as_str()).ok()?;
    let target = sip_addr(destination, transport);
    let ep = &shared.endpoint;
    let via = match ep.transport_layer.lookup(&target, None).await {
        Ok((conn, _)) => ep.get_via(Some(conn.get_addr().clone()), None).ok()?,
        Err(_) => ep.get_via(None, None).ok()?,
    };
    let from = rsip::typed::From {
        display_name: None,
        uri: shared.contact.clone(),
        params: vec![],
    }
    .with_tag(rsipstack::transaction::make_tag());
    let to = rsip::typed::To {
        display_name: None,
        uri: uri.clone(),
        params: vec![],
    };
    let request = ep.make_request(Method::Options, uri, via, from, to, seq, None);
    let key = TransactionKey::from_request(&request, TransactionRole::Client).ok()?;
    let mut tx = Transaction::new_client(key, request, ep.clone(), None);
    tx.destination = Some(target);
    tx.send().await.ok()?;
    while let Some(msg) = tx.receive().await {
        if let rsip::SipMessage::Response(r) = msg {
            let code = r.status_code.code();
            if code >= 200 {
                return Some(code);
            }
        }
    }
    None
}

fn set_trunk_status(
    shared: &Shared,
    trunk: &str,
    state: &'static str,
    code: u16,
    expires: Option<u32>,
) {
    shared.trunk_status.lock().expect("trunk status").insert(
        trunk.to_string(),
        TrunkRegistrationStatus {
            trunk: trunk.to_string(),
            state,
            code,
            expires,
            at: now_ms(),
        },
    );
}

fn cleanup(shared: &Shared, leg: LegId) {
    let mut st = shared.state.lock().expect("sip state");
    st.legs.remove(&leg);
    st.by_dialog.retain(|_, l| *l != leg);
    st.closing.remove(&leg);
    st.ack_answers.remove(&leg);
    st.refer_notifies.remove(&leg);
}
