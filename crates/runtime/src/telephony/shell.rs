//! The telephony loop: one task owns the switch and feeds it everything; what it asks for
//! is done here or handed to a helper task whose answer comes back as a [`Msg`].

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

    fn handle(&mut self, m: Msg) {
        let t = now();
        match m {
            Msg::Sip(ev) => self.sip_event(ev),
            Msg::Engine(EngineEvent::Media(ev)) => {
                if let tsunagu_media::core::MediaEvent::Latched { leg, addr } = &ev {
                    // Media now goes to an address no SDP names: worth a line when auditing.
                    info!(leg, %addr, "peer behind NAT latched: media follows its source");
                }
                self.switch.handle_media(ev, t)
            }
            Msg::Engine(EngineEvent::RecordingFinished {
                recording,
                duration_ms,
                ..
            }) => {
                let _ = self.recordings.send(RecJob::Finish {
                    id: recording as i64,
                    ended_at: t,
                    duration_ms: duration_ms as i64,
                    status: "complete",
                });
            }
            Msg::Engine(EngineEvent::RecordingFailed { recording, message }) => {
                warn!(recording, "recording failed: {message}");
                let _ = self.recordings.send(RecJob::Finish {
                    id: recording as i64,
                    ended_at: t,
                    duration_ms: 0,
                    status: "failed",
                });
            }
            Msg::Directive(tenant, d) => self.directive(tenant, d),
            Msg::Command(cmd, reply) => {
                let r = match cmd {
                    super::CallCommand::Outbound { contact, .. } if !self.room_for_a_call() => {
                        self.count_refusal();
                        warn!(
                            contact,
                            "click-to-call refused: at the limit of calls or the center is behind"
                        );
                        Err(super::TelephonyError::Overloaded)
                    }
                    super::CallCommand::Outbound {
                        tenant_id,
                        contact,
                        agent,
                        number,
                        record,
                    } => self
                        .start_outbound(
                            tenant_id,
                            CallKind::ClickToCall,
                            contact,
                            agent,
                            &number,
                            record,
                            t,
                        )
                        .map(|_| ())
                        .map_err(super::TelephonyError::Call),
                    other => other
                        .apply(&mut self.switch, t)
                        .map_err(super::TelephonyError::Call),
                };
                let _ = reply.send(r);
            }
            Msg::Incoming(i) => {
                let i = *i;
                self.admitting -= 1;
                self.signalling.insert(i.leg, i.source.ip());
                self.switch.handle_sip(
                    SipIn::Incoming {
                        leg: i.leg,
                        tenant_id: i.tenant_id,
                        caller: i.caller,
                        caller_name: i.caller_name,
                        called: i.called,
                        offer: i.offer,
                        flow: i.flow,
                        call_id: i.call_id,
                    },
                    t,
                );
            }
            Msg::ContactCreated {
                tenant,
                call,
                contact,
            } => {
                // The tenant comes with the message: the call may be over already (the
                // caller hung up while the contact was being written), and its contact
                // must still be closed in the right tenant.
                self.contact_tenant.insert(contact, tenant);
                self.switch
                    .handle_center(CenterIn::ContactCreated { call, contact }, t);
            }
            Msg::Center(ev) => {
                self.switch.handle_center(ev, t);
            }
            Msg::CallFailed { call, cause } => {
                warn!(call, "call dropped: {cause}");
                self.switch.fail_call(call, &cause, t);
            }
            Msg::Located { leg, targets } => self.switch.handle_located(leg, targets, t),
            Msg::Http { call, result } => self.switch.handle_http(call, result, t),
            Msg::Refer {
                contact,
                agent,
                leg,
                target,
            } => match target {
                Err((code, why)) => self.switch.refer_failed(leg, code, &why, t),
                Ok(ReferTarget::Queue(queue_id)) => match self.contact_tenant.get(&contact) {
                    Some(&tenant) => {
                        // Carried out when the center moves the contact (the switch then
                        // tells the phone); refused, it is reported as failed.
                        let then: Then = Some(Box::new(move |r| match r {
                            Ok(_) => None,
                            Err(e) => Some(Msg::ReferFailed {
                                leg,
                                code: 503,
                                reason: e.to_string(),
                            }),
                        }));
                        self.center(
                            tenant,
                            Pending::Ready(VoiceCommand::TransferToQueue {
                                contact,
                                agent,
                                queue_id,
                            }),
                            then,
                        );
                    }
                    None => self
                        .switch
                        .refer_failed(leg, 503, "no tenant for the contact", t),
                },
                Ok(ReferTarget::Agent(a)) => self.switch.refer_transfer(leg, Party::Agent(a), t),
                Ok(ReferTarget::Number(n)) => self.switch.refer_transfer(leg, Party::Number(n), t),
            },
            Msg::ReferFailed { leg, code, reason } => {
                warn!(leg, "transfer from the phone refused: {reason}");
                self.switch.refer_failed(leg, code, &reason, t);
            }
            Msg::MediaStats {
                contact,
                role,
                stats,
            } => {
                // No warning when the tenant is gone: the call's figures may come late.
                if let Some(tenant) = self.contact_tenant.get(&contact).copied() {
                    let data = serde_json::json!({
                        "leg": role,
                        "packets_sent": stats.sent,
                        // Audio only: key presses are dtmf_packets.
                        "packets_received": stats.received,
                        "dtmf_packets": stats.dtmf,
                        "packets_lost": stats.lost,
                        "duplicate_packets": stats.duplicates,
                        "out_of_order_packets": stats.out_of_order,
                        // Of the audio only.
                        "jitter_ms": (stats.jitter_ms * 10.0).round() / 10.0,
                        "malformed": stats.malformed,
                        // From addresses in no SDP, dropped.
                        "rejected_packets": stats.rejected,
                    });
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Event {
                            contact,
                            kind: EventKind::Media,
                            agent: None,
                            data,
                        }),
                        None,
                    );
                }
            }
            Msg::Publish { tenant, envelope } => {
                let center = self.center.clone();
                tokio::spawn(async move {
                    if let Ok(h) = center.tenant(tenant).await {
                        h.publish(*envelope);
                    }
                });
            }
            Msg::Region { tenant, region } => {
                self.regions.insert(tenant, region);
            }
            Msg::Stats(reply) => {
                let trunks = self
                    .sip
                    .trunk_registrations()
                    .into_iter()
                    .map(|s| super::TrunkStatus {
                        trunk: s.trunk,
                        state: s.state.into(),
                        code: s.code,
                        expires: s.expires,
                        at_ms: s.at,
                    })
                    .collect();
                let trunk_health = self
                    .sip
                    .trunk_health()
                    .into_iter()
                    .map(|h| super::TrunkHealth {
                        trunk: h.trunk,
                        state: h.state.into(),
                        code: h.code,
                        rtt_ms: h.rtt_ms,
                        at_ms: h.at,
                    })
                    .collect();
                let _ = reply.send(TelephonyStats {
                    calls: self.switch.call_count(),
                    legs: self.switch.leg_count(),
                    refused_calls: self.refused_calls + self.sip.refused_overload(),
                    trunks,
                    trunk_health,
                });
            }
            Msg::Shutdown(_) => {}
        }
    }

    fn sip_event(&mut self, ev: SipEvent) {
        let t = now();
        let sip = match ev {
            SipEvent::Incoming {
                leg,
                tenant_id,
                trunk,
                caller,
                caller_name,
                called,
                source,
                offer,
                call_id,
            } => {
                if !self.room_for_a_call() {
                    self.count_refusal();
                    warn!(leg, tenant_id, %trunk, calls = self.switch.call_count(),
                        backlog = self.link.as_ref().map_or(0, CenterLink::backlog),
                        "incoming call refused with 503: at the limit of calls or the center is behind");
                    self.sip.reject(leg, 503);
                    return;
                }
                self.admitting += 1;
                info!(leg, tenant_id, %trunk, %source, %caller, %called, "incoming call");
                // The caller's number without SIP user parameters (`;cpc=ordinary`); a
                // caller presenting no number is `anonymous`, never digits made of letters.
                let caller = tsunagu_domain::phone::sip_caller(&caller)
                    .unwrap_or_else(|| "anonymous".into());
                let flows = self.flows.clone();
                let tx = self.tx.clone();
                let region = self.region(tenant_id);
                tokio::spawn(async move {
                    let flow = match flows.for_number(tenant_id, &called, &region).await {
                        Ok(f) => f,
                        Err(e) => {
                            warn!(tenant_id, %called, "no usable flow: {e}");
                            None
                        }
                    };
                    let _ = tx
                        .send(Msg::Incoming(Box::new(Incoming {
                            leg,
                            tenant_id,
                            caller,
                            caller_name,
                            called,
                            offer,
                            call_id,
                            flow,
                            source,
                        })))
                        .await;
                });
                return;
            }
            SipEvent::Ringing { leg } => SipIn::Ringing { leg },
            SipEvent::Answered { leg, answer } => SipIn::Answered { leg, answer },
            SipEvent::Failed { leg, code, reason } => SipIn::Failed { leg, code, reason },
            SipEvent::Ended { leg, cause } => {
                self.signalling.remove(&leg);
                let cause = match cause {
                    EndCause::Bye => "bye".to_string(),
                    EndCause::Cancel => "cancel".to_string(),
                    EndCause::Timeout => "timeout".to_string(),
                    EndCause::Other(s) => s,
                };
                SipIn::Ended { leg, cause }
            }
            SipEvent::Update { leg, offer } => SipIn::Update { leg, offer },
            SipEvent::OfferWanted { leg } => SipIn::OfferWanted { leg },
            SipEvent::AckAnswer { leg, answer } => SipIn::AckAnswer { leg, answer },
            SipEvent::Dtmf { leg, digit } => SipIn::Dtmf { leg, digit },
            SipEvent::Refer { leg, refer_to } => {
                info!(leg, uri = %refer_to.uri, "REFER from a phone");
                SipIn::Refer {
                    leg,
                    target: refer_to.user,
                    attended: refer_to.replaces.is_some(),
                }
            }
            SipEvent::Registered {
                tenant_id,
                agent_id,
                username,
                bindings,
            } => {
                info!(tenant_id, agent_id, %username, bindings, "phone registration");
                return;
            }
        };
        self.switch.handle_sip(sip, t);
    }

    fn directive(&mut self, tenant: i64, d: VoiceDirective) {
        let t = now();
        match d {
            VoiceDirective::Offer {
                contact,
                agent,
                agent_name,
                callback,
                record,
            } => {
                // The tenant must be known before the call's first output (a callback
                // attempt looks up the agent's phone in the tenant's directory).
                self.contact_tenant.insert(contact, tenant);
                match self.switch.handle_offer(
                    contact,
                    agent,
                    agent_name,
                    callback.as_deref(),
                    record,
                    t,
                ) {
                    Ok(Some(call)) => {
                        self.call_tenant.insert(call, tenant);
                    }
                    Ok(None) => {}
                    Err(e) => debug!(contact, "callback not started: {e}"),
                }
            }
            VoiceDirective::OfferWithdrawn { contact, agent } => self
                .switch
                .handle_center(CenterIn::OfferWithdrawn { contact, agent }, t),
            VoiceDirective::MaxWait { contact } => {
                self.switch.handle_center(CenterIn::MaxWait { contact }, t)
            }
            VoiceDirective::Ended { contact } => {
                self.switch.handle_center(CenterIn::Ended { contact }, t)
            }
            VoiceDirective::Transferred { contact } => self
                .switch
                .handle_center(CenterIn::Transferred { contact }, t),
            VoiceDirective::Resync { live } => {
                let ours = self
                    .switch
                    .contacts()
                    .into_iter()
                    .filter(|c| self.contact_tenant.get(c) == Some(&tenant))
                    .collect();
                let live = live
                    .into_iter()
                    .map(|(contact, state)| (contact, live_call(state)))
                    .collect();
                info!(tenant, "the center resynchronised: checking its calls");
                self.switch
                    .handle_center(CenterIn::Resync { live, ours }, t)
            }
        }
    }

    /// Starts the call of an outbound contact (click-to-call, or a callback offered to an
    /// agent). The call's tenant must be known before its first output (the agent's phone
    /// is looked up in the tenant's directory).
    #[allow(clippy::too_many_arguments)]
    fn start_outbound(
        &mut self,
        tenant: i64,
        kind: CallKind,
        contact: ContactId,
        agent: i64,
        number: &str,
        record: bool,
        t: i64,
    ) -> Result<u64, tsunagu_voice::CallError> {
        self.contact_tenant.insert(contact, tenant);
        let call = self
            .switch
            .start_outbound(kind, contact, agent, number, None, record, t)?;
        self.call_tenant.insert(call, tenant);
        Ok(call)
    }

    fn execute_all(&mut self) {
        while let Some(o) = self.switch.poll_output() {
            self.execute(o);
        }
    }

    fn center(&mut self, tenant: i64, cmd: Pending, then: Then) {
        if let Some(link) = self.link.as_mut() {
            link.send(tenant, cmd, then);
        }
    }

    fn tenant_of(&self, contact: ContactId) -> Option<i64> {
        let t = self.contact_tenant.get(&contact).copied();
        if t.is_none() {
            warn!(contact, "no tenant known for the contact");
        }
        t
    }

    /// The tenant's default region for reading and dialing numbers.
    fn region(&mut self, tenant: i64) -> String {
        if let Some(r) = self.regions.get(&tenant) {
            return r.clone();
        }
        // A tenant created since start: look it up off the loop; Japan until then.
        let store = self.store.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Ok(Some(t)) = store.tenant(tenant).await {
                let _ = tx
                    .send(Msg::Region {
                        tenant,
                        region: t.default_region,
                    })
                    .await;
            }
        });
        "JP".into()
    }

    fn execute(&mut self, o: Out) {
        let t = now();
        match o {
            // ----- SIP
            Out::SipAnswer { leg, sdp } => self.sip.answer(leg, sdp),
            Out::SipRinging { leg } => self.sip.ringing(leg),
            Out::SipReject { leg, code } => {
                self.signalling.remove(&leg);
                self.sip.reject(leg, code)
            }
            Out::SipHangup { leg } => self.sip.hangup(leg),
            Out::SipAnswerUpdate { leg, sdp } => self.sip.answer_update(leg, sdp),
            Out::SipRefuseUpdate { leg, code } => self.sip.refuse_update(leg, code),
            Out::SipReferNotify { leg, code, reason } => self.sip.refer_notify(leg, code, &reason),
            Out::SipDial {
                leg,
                target,
                from_user,
                from_name,
                sdp,
            } => {
                let trunk = target
                    .trunk
                    .as_ref()
                    .and_then(|n| self.trunks.iter().find(|t| &t.name == n));
                let (from_user, auth) = match trunk {
                    Some(tr) => (tr.caller_id.clone().unwrap_or(from_user), tr.auth.clone()),
                    None => (from_user, None),
                };
                let transport = transport_of(&target);
                // Media is taken from the SDP's address, or (behind NAT) latched on the IP
                // the call's signalling goes to.
                self.media.set_signalling(leg, target.destination.ip());
                let dial = DialTarget {
                    uri: target.uri,
                    destination: target.destination,
                    transport,
                    auth,
                };
                self.sip
                    .dial(leg, dial, &from_user, from_name.as_deref(), sdp);
            }
            // ----- media
            Out::MediaCreate { leg, params } => match self.media.add_leg(leg, params) {
                Ok(port) => {
                    if let Some(ip) = self.signalling.remove(&leg) {
                        self.media.set_signalling(leg, ip);
                    }
                    self.switch.handle_leg_ready(leg, port, t)
                }
                Err(e) => {
                    warn!(leg, "no media for the leg: {e}");
                    self.switch.handle_sip(
                        SipIn::Failed {
                            leg,
                            code: 503,
                            reason: e.to_string(),
                        },
                        t,
                    );
                    self.sip.reject(leg, 503);
                }
            },
            Out::MediaUpdate { leg, params } => self.media.update_leg(leg, params),
            Out::MediaSource { leg, source } => {
                let s = match source {
                    SourceSpec::Silence => Source::Silence,
                    SourceSpec::Prompts {
                        prompts,
                        looped,
                        token,
                    } => Source::Prompt {
                        prompt: self.prompts.sequence(&prompts),
                        looped,
                        token,
                    },
                    SourceSpec::Relay(l) => Source::Relay(l),
                    SourceSpec::Mix(v) => Source::Mix(v),
                };
                self.media.set_source(leg, s);
            }
            Out::MediaRemove { leg } => self.media.remove_leg(leg),
            Out::MediaStats { contact, leg, role } => {
                // Asked now, so the engine answers before it removes the leg.
                let Some(answer) = self.media.request_stats(leg) else {
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if let Ok(Some(stats)) = answer.await {
                        let _ = tx
                            .send(Msg::MediaStats {
                                contact,
                                role,
                                stats,
                            })
                            .await;
                    }
                });
            }
            Out::RecordStart {
                recording,
                contact,
                left,
                right,
                voicemail,
            } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let db_id = self.store.next_id(t);
                // The media engine's writer creates the directory (and reports a recording
                // it cannot open as failed).
                let path = self.recording_path(t, contact, db_id);
                let _ = self.recordings.send(RecJob::Create(RecordingRow {
                    id: db_id,
                    tenant_id: tenant,
                    contact_id: contact,
                    kind: if voicemail { "voicemail" } else { "call" }.into(),
                    path: path.display().to_string(),
                    started_at: t,
                    ended_at: None,
                    duration_ms: None,
                    status: "recording".into(),
                }));
                self.recs.insert(recording, Recording { db_id, contact });
                self.media.start_recording(db_id as u64, left, right, path);
            }
            Out::RecordPause { recording, paused } => {
                if let Some(r) = self.recs.get(&recording) {
                    self.media.pause_recording(r.db_id as u64, paused);
                }
            }
            Out::RecordStop { recording } => {
                if let Some(r) = self.recs.get(&recording) {
                    self.media.stop_recording(r.db_id as u64);
                }
            }
            // ----- contact center
            Out::CreateContact {
                call,
                tenant_id,
                caller,
                caller_name,
                called,
            } => {
                self.call_tenant.insert(call, tenant_id);
                let then: Then = Some(Box::new(move |r| match r {
                    Ok(VoiceReply::Contact(row)) => Some(Msg::ContactCreated {
                        tenant: tenant_id,
                        call,
                        contact: row.id,
                    }),
                    Ok(other) => Some(Msg::CallFailed {
                        call,
                        cause: format!("unexpected answer {other:?}"),
                    }),
                    Err(e) => Some(Msg::CallFailed {
                        call,
                        cause: e.to_string(),
                    }),
                }));
                self.center(
                    tenant_id,
                    Pending::Ready(VoiceCommand::NewCall {
                        caller,
                        caller_name,
                        called,
                    }),
                    then,
                );
            }
            Out::Enqueue {
                contact,
                queue,
                priority,
                requirements,
                attributes,
            } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let then: Then = Some(Box::new(move |r| match r {
                    Ok(VoiceReply::Flag(record)) => {
                        Some(Msg::Center(CenterIn::Enqueued { contact, record }))
                    }
                    // The queue is gone (the flow named it when it was checked): end the call.
                    _ => Some(Msg::Center(CenterIn::Ended { contact })),
                }));
                self.center(
                    tenant,
                    Pending::Enqueue {
                        contact,
                        queue,
                        priority,
                        requirements,
                        attributes,
                    },
                    then,
                );
            }
            Out::Accept { contact, agent } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let then: Then = Some(Box::new(move |r| {
                    let ok = matches!(r, Ok(VoiceReply::Flag(true)));
                    Some(Msg::Center(CenterIn::AcceptResult { contact, agent, ok }))
                }));
                self.center(
                    tenant,
                    Pending::Ready(VoiceCommand::Accept { contact, agent }),
                    then,
                );
            }
            Out::Connected { contact, agent } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Connected { contact, agent }),
                        None,
                    );
                }
            }
            Out::Reject {
                contact,
                agent,
                unreachable,
            } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Reject {
                            contact,
                            agent,
                            unreachable,
                        }),
                        None,
                    );
                }
            }
            Out::EndContact {
                contact,
                side,
                cause,
            } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    let cmd = VoiceCommand::End {
                        contact,
                        side: side.as_str().into(),
                        cause,
                    };
                    self.center(tenant, Pending::Ready(cmd), None);
                }
            }
            Out::Event {
                contact,
                kind,
                agent,
                mut data,
            } => {
                // The timeline names recordings by their stored id.
                if let Some(r) = data
                    .get("recording")
                    .and_then(|v| v.as_u64())
                    .and_then(|r| self.recs.get(&r))
                {
                    data["recording"] = r.db_id.into();
                }
                let Some(kind) = EventKind::parse(kind) else {
                    warn!(kind, "unknown event kind from the switch");
                    return;
                };
                if let Some(tenant) = self.tenant_of(contact) {
                    let then = failure_report(tenant, contact, kind, agent, &data);
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Event {
                            contact,
                            kind,
                            agent,
                            data,
                        }),
                        then,
                    );
                }
            }
            Out::AskPosition { contact } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let then: Then = Some(Box::new(move |r| match r {
                    Ok(VoiceReply::Position {
                        position,
                        wait_secs,
                    }) => Some(Msg::Center(CenterIn::Position {
                        contact,
                        position,
                        wait_secs,
                    })),
                    _ => None,
                }));
                self.center(
                    tenant,
                    Pending::Ready(VoiceCommand::Position { contact }),
                    then,
                );
            }
            Out::Callback {
                contact,
                queue,
                number,
            } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Callback {
                            contact,
                            queue,
                            number,
                        },
                        None,
                    );
                }
            }
            Out::Voicemail {
                contact,
                queue,
                recording,
                caller,
            } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let Some(db_id) = self.recs.get(&recording).map(|r| r.db_id) else {
                    return;
                };
                let recs = self.recordings.clone();
                let then: Then = Some(Box::new(move |r| {
                    if let Ok(VoiceReply::Id(task)) = r {
                        let _ = recs.send(RecJob::Move {
                            id: db_id,
                            contact: task,
                        });
                    }
                    None
                }));
                self.center(
                    tenant,
                    Pending::Voicemail {
                        contact,
                        queue,
                        recording: db_id,
                        caller,
                    },
                    then,
                );
            }
            Out::Refer {
                contact,
                agent,
                leg,
                target,
            } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    self.switch
                        .refer_failed(leg, 503, "no tenant for the contact", t);
                    return;
                };
                let store = self.store.clone();
                let tx = self.tx.clone();
                let sip = self.sip.clone();
                let outbound = self
                    .trunks
                    .iter()
                    .any(|t| t.tenant_id == tenant && t.outbound.is_some());
                tokio::spawn(async move {
                    let resolved = resolve_refer(&store, &sip, outbound, tenant, &target).await;
                    if let Err((code, why)) = &resolved {
                        warn!(contact, %target, code, "transfer refused: {why}");
                    }
                    let _ = tx
                        .send(Msg::Refer {
                            contact,
                            agent,
                            leg,
                            target: resolved,
                        })
                        .await;
                });
            }
            Out::Handover { contact, from, to } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Handover { contact, from, to }),
                        None,
                    );
                }
            }
            Out::Requeue { contact } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Requeue { contact }),
                        None,
                    );
                }
            }
            // ----- lookups
            Out::Locate { call, leg, party } => {
                let Some(&tenant) = self.call_tenant.get(&call) else {
                    self.switch.handle_located(leg, vec![], t);
                    return;
                };
                match party {
                    Party::Agent(agent) => {
                        let store = self.store.clone();
                        let sip = self.sip.clone();
                        let tx = self.tx.clone();
                        tokio::spawn(async move {
                            let username = store
                                .agent(tenant, agent)
                                .await
                                .ok()
                                .flatten()
                                .and_then(|a| a.agent.sip_username);
                            let targets = match username {
                                Some(u) => sip
                                    .registrar()
                                    .lookup(&u, now())
                                    .iter()
                                    .map(|b| PhoneTarget {
                                        uri: b.contact.clone(),
                                        destination: b.source,
                                        tcp: b.transport == Transport::Tcp,
                                        tls: b.transport == Transport::Tls,
                                        trunk: None,
                                    })
                                    .collect(),
                                None => vec![],
                            };
                            let _ = tx.send(Msg::Located { leg, targets }).await;
                        });
                    }
                    Party::Number(number) => {
                        let region = self.region(tenant);
                        let targets = self
                            .trunk_target(tenant, &number, &region)
                            .into_iter()
                            .collect();
                        self.switch.handle_located(leg, targets, t);
                    }
                }
            }
            Out::Http {
                call,
                url,
                method,
                body,
                timeout_ms,
            } => {
                let client = self.http.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result =
                        super::lookup::http_lookup(&client, &url, &method, body, timeout_ms).await;
                    let _ = tx.send(Msg::Http { call, result }).await;
                });
            }
        }
    }

    /// How to reach an external number: the tenant's first trunk with an outbound route.
    fn trunk_target(&self, tenant: i64, number: &str, region: &str) -> Option<PhoneTarget> {
        let trunk = self
            .trunks
            .iter()
            .find(|t| t.tenant_id == tenant && t.outbound.is_some())?;
        let dest = trunk.outbound?;
        // What is not a number is never dialed (the API and the flow checker refuse it
        // already; a callback's number comes from what a caller presented).
        let dial = match tsunagu_domain::phone::dial_string(number, region, trunk.national) {
            Ok(d) => d,
            Err(e) => {
                warn!(tenant, %number, "not dialed: {e}");
                return None;
            }
        };
        let domain = trunk.outbound_domain(dest);
        Some(PhoneTarget {
            uri: format!("sip:{dial}@{domain}"),
            destination: dest,
            tcp: trunk.tcp,
            tls: false,
            trunk: Some(trunk.name.clone()),
        })
    }

    fn recording_path(&self, t: i64, contact: i64, id: i64) -> PathBuf {
        let day = jiff::Timestamp::from_millisecond(t)
            .map(|ts| ts.strftime("%Y-%m-%d").to_string())
            .unwrap_or_else(|_| "unknown".into());
        self.cfg
            .recordings_dir
            .join(day)
            .join(format!("{contact}-{id}.wav"))
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

/// A timeline event that records a failure (`state: failed` — a phone that did not answer a
/// consultation, monitoring or click-to-call — or a blind transfer that failed) is also told
/// live, once stored: the API answered the request before the failure was known.
fn failure_report(
    tenant: i64,
    contact: ContactId,
    kind: EventKind,
    agent: Option<i64>,
    data: &Value,
) -> Then {
    let failed = matches!(
        data.get("state").and_then(Value::as_str),
        Some("failed" | "transfer_failed")
    );
    if !failed {
        return None;
    }
    let envelope = Box::new(crate::center::events::Envelope {
        audience: crate::center::events::Audience::Agents(agent.into_iter().collect()),
        event: crate::center::events::LiveEvent::CallFailed {
            contact_id: contact,
            agent_id: agent,
            action: kind.as_str().to_string(),
            data: data.clone(),
        },
    });
    Some(Box::new(move |r| {
        r.is_ok().then_some(Msg::Publish { tenant, envelope })
    }))
}

/// The transport to reach a phone or a trunk by.
fn transport_of(t: &PhoneTarget) -> Transport {
    if t.tls {
        Transport::Tls
    } else if t.tcp {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

/// What a phone's REFER names — a queue, an agent (username, extension or phone account)
/// or a number — checked the way the API checks a blind transfer, so that what cannot be
/// carried out is refused at once (the phone is told with the NOTIFY's status, RFC 3515)
/// rather than accepted and failing later: an agent signed out or without a registered
/// phone (480), a number when the tenant has no outbound route (503), a name that is none
/// of these (404). A number follows the one phone-number rule (separators, full-width
/// digits, `+`).
async fn resolve_refer(
    store: &Store,
    sip: &SipHandle,
    outbound: bool,
    tenant: i64,
    target: &str,
) -> Result<ReferTarget, (u16, String)> {
    let unavailable = |e: tsunagu_store::StoreError| (503, format!("storage: {e}"));
    let queues = store.queues(tenant).await.map_err(unavailable)?;
    if let Some(q) = queues.iter().find(|q| q.name == target) {
        return Ok(ReferTarget::Queue(q.id));
    }
    let agents = store.agents(tenant).await.map_err(unavailable)?;
    if let Some(a) = agents.iter().find(|a| {
        a.username == target
            || a.agent.extension.as_deref() == Some(target)
            || a.agent.sip_username.as_deref() == Some(target)
    }) {
        let who = format!("agent {} ({})", a.display_name, a.username);
        if a.agent.presence == "offline" {
            return Err((480, format!("{who} is signed out (offline)")));
        }
        let registered = a
            .agent
            .sip_username
            .as_deref()
            .is_some_and(|u| !sip.registrar().lookup(u, now()).is_empty());
        if !registered {
            return Err((
                480,
                format!("{who}'s phone cannot ring: none is registered"),
            ));
        }
        return Ok(ReferTarget::Agent(a.agent.id));
    }
    match tsunagu_domain::phone::digits(target) {
        Ok(number) if !number.trim_start_matches('+').is_empty() => {
            if outbound {
                Ok(ReferTarget::Number(number))
            } else {
                Err((
                    503,
                    "no outbound route: no trunk to call outside numbers through".into(),
                ))
            }
        }
        _ => Err((
            404,
            format!("no queue, agent or number is named {target:?}"),
        )),
    }
}
