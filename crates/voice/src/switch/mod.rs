//! The switch: every call's state machine.
//!
//! An inbound call starts with the customer's leg. It is answered and runs its flow (IVR);
//! a `queue` step hands it to the ACD with music on hold and periodic announcements; each
//! offer rings an agent's phone on a new leg; the first phone that answers and is confirmed
//! by the ACD is bridged to the customer. Outbound calls (queued callbacks, click-to-call)
//! ring the agent's phone first and then dial the customer. While connected the agent may
//! hold, consult someone and then transfer or conference, transfer blind, be monitored
//! (listen, whisper, barge) and be recorded (paused and resumed from the API).
//!
//! * `call` — a call's state and the "who hears whom" rule.
//! * `inbound` — a call arriving: its offer read, call and contact created, answered.
//! * `ivr` — carrying out the flow's steps, queue music and announcements.
//! * `dial` — outgoing legs: locate, prepare media, INVITE, answer or failure.
//! * `offers` — the ACD's offers: ringing agents, confirming, connecting.
//! * `features` — commands from the API: hold, consult, transfer, conference, monitor,
//!   recording.
//! * `negotiate` — SDP offer/answer after the first: re-offers, offers we make when asked
//!   (re-INVITE or INVITE without SDP), answers read from the ACK.
//! * `refer` — transfers a phone asks for (REFER) and their outcome (NOTIFY, timeline).
//! * `timers` — arming deadlines: the flow deadlines of the calls a step touched (or, as
//!   the reference, of every call), in one deadline queue.

mod call;
mod dial;
mod features;
mod inbound;
mod ivr;
mod negotiate;
mod offers;
mod refer;
mod resync;
mod timers;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;
use std::net::IpAddr;

use serde_json::json;
use tsunagu_flow::Input as FlowInput;
use tsunagu_media::core::MediaEvent;
use tsunagu_media::g711::Law;
use tsunagu_media::sdp::{self, AudioOffer, Direction, LocalAudio};

use crate::error::CallError;
use crate::io::*;
use call::*;

#[derive(Clone, Debug)]
pub struct SwitchConfig {
    /// The address written into our SDP.
    pub media_ip: IpAddr,
    /// Our telephone-event payload type in offers.
    pub telephone_event: u8,
    /// How long an outgoing leg that is not an ACD offer may ring.
    pub ring_timeout_ms: i64,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            media_ip: IpAddr::from([127, 0, 0, 1]),
            telephone_event: 101,
            ring_timeout_ms: 30_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Flow(u64),
    Announce(u64),
    VoicemailEnd(u64),
    /// An outgoing leg rang too long.
    DialTimeout(LegId),
}

/// Maps are `FxHashMap`: no random seed, so the same inputs iterate in the same order and
/// give the same outputs, run after run (and faster than SipHash for integer keys).
pub struct Switch {
    cfg: SwitchConfig,
    now: i64,
    calls: FxHashMap<CallId, Call>,
    legs: FxHashMap<LegId, (CallId, Role)>,
    media: FxHashMap<LegId, Media>,
    dials: FxHashMap<LegId, Dialing>,
    /// Legs whose 2xx carried our offer, waiting for the answer in the ACK (`true`: the
    /// call's first offer — without an answer it has no media).
    offers: FxHashMap<LegId, bool>,
    /// Inbound calls' offers until the call is answered: the answer echoes every offered
    /// stream in its place (RFC 3264 §6).
    initial_offers: FxHashMap<LegId, AudioOffer>,
    /// Phones' REFERs being carried out: the leg that sent it → its target, until the
    /// outcome is reported.
    refers: FxHashMap<LegId, String>,
    contacts: FxHashMap<ContactId, CallId>,
    /// Outputs of calls that ended before their contact existed, by call.
    orphans: FxHashMap<CallId, Vec<Out>>,
    out: VecDeque<Out>,
    timers: BinaryHeap<Reverse<(i64, u64, CallId, Timer)>>,
    /// Calls whose flow ran in this step (their deadline may have moved).
    flow_touched: Vec<CallId>,
    /// Re-arm every call's flow deadline after each step by scanning all calls and timers,
    /// as the switch once did: the reference the benchmark and equivalence test compare
    /// the touched-calls rule against. Never set live.
    full_scan: bool,
    seq: u64,
    next_leg: LegId,
    next_call: CallId,
    next_token: u64,
    next_recording: RecordingId,
}

impl Switch {
    pub fn new(cfg: SwitchConfig) -> Self {
        Switch {
            cfg,
            now: 0,
            calls: FxHashMap::default(),
            legs: FxHashMap::default(),
            media: FxHashMap::default(),
            dials: FxHashMap::default(),
            offers: FxHashMap::default(),
            initial_offers: FxHashMap::default(),
            refers: FxHashMap::default(),
            contacts: FxHashMap::default(),
            orphans: FxHashMap::default(),
            out: VecDeque::new(),
            timers: BinaryHeap::new(),
            flow_touched: Vec::new(),
            full_scan: false,
            seq: 0,
            next_leg: 1,
            next_call: 1,
            next_token: 1,
            next_recording: 1,
        }
    }

    /// Numbers for the legs the switch dials and for recordings start here (incoming legs
    /// are numbered by the SIP shell, above), so they stay unique across restarts.
    pub fn with_id_base(mut self, base: u64) -> Self {
        self.next_leg = base.max(1);
        self.next_recording = base.max(1);
        self
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<Out> {
        self.out.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<i64> {
        self.timers.peek().map(|t| t.0 .0)
    }

    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// The calls in progress.
    pub fn calls(&self) -> std::collections::HashSet<CallId> {
        self.calls.keys().copied().collect()
    }

    /// Ends a call the shell cannot carry on (its contact could not be stored).
    pub fn fail_call(&mut self, call: CallId, cause: &str, now: i64) {
        self.now = now.max(self.now);
        if let Some(c) = self.calls.get_mut(&call) {
            // No contact to close: the failure was creating it.
            c.contact_closed = true;
        }
        self.end_call(call, Side::System, cause, None);
        self.orphans.remove(&call);
        self.after_step();
    }

    /// The contacts of the calls in progress.
    pub fn contacts(&self) -> Vec<ContactId> {
        self.contacts.keys().copied().collect()
    }

    // ----- inputs ----------------------------------------------------------------------

    pub fn handle_sip(&mut self, ev: SipIn, now: i64) {
        self.now = now.max(self.now);
        match ev {
            SipIn::Incoming {
                leg,
                tenant_id,
                caller,
                caller_name,
                called,
                offer,
                flow,
                call_id: _,
            } => {
                self.incoming(leg, tenant_id, caller, caller_name, called, offer, flow);
            }
            SipIn::Ringing { leg } => {
                if let Some(&(call, role)) = self.legs.get(&leg) {
                    let agent = match role {
                        Role::Ring(a) | Role::Agent(a) => Some(a),
                        _ => None,
                    };
                    self.center(call, |c| Out::Event {
                        contact: c,
                        kind: "ringing",
                        agent,
                        data: json!({ "state": "ringing", "leg": role_name(role) }),
                    });
                }
            }
            SipIn::Answered { leg, answer } => self.dial_answered(leg, answer),
            SipIn::Failed { leg, code, reason } => self.dial_failed(leg, code, &reason, false),
            SipIn::Ended { leg, cause } => self.leg_ended(leg, &cause),
            SipIn::Update { leg, offer } => self.update(leg, &offer),
            SipIn::OfferWanted { leg } => self.offer_wanted(leg),
            SipIn::AckAnswer { leg, answer } => self.ack_answer(leg, answer.as_deref()),
            SipIn::Dtmf { leg, digit } => self.dtmf(leg, digit),
            SipIn::Refer {
                leg,
                target,
                attended,
            } => self.refer(leg, target, attended),
        }
        self.after_step();
    }

    pub fn handle_media(&mut self, ev: MediaEvent, now: i64) {
        self.now = now.max(self.now);
        match ev {
            MediaEvent::Dtmf { leg, digit } => self.dtmf(leg, digit),
            MediaEvent::PlayDone { leg, token } => self.play_done(leg, token),
            MediaEvent::RtpTimeout { leg } => {
                if let Some(&(call, role)) = self.legs.get(&leg) {
                    match role {
                        Role::Customer => self.end_call(call, Side::System, "rtp_timeout", None),
                        Role::Agent(_) => self.end_call(call, Side::Agent, "rtp_timeout", None),
                        _ => self.leg_ended(leg, "rtp_timeout"),
                    }
                }
            }
            MediaEvent::Latched { .. } | MediaEvent::RecordingStopped { .. } => {}
        }
        self.after_step();
    }

    pub fn handle_center(&mut self, ev: CenterIn, now: i64) {
        self.now = now.max(self.now);
        match ev {
            CenterIn::ContactCreated { call, contact } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.contact = Some(contact);
                    self.contacts.insert(contact, call);
                    for mut o in std::mem::take(&mut c.pending) {
                        set_contact(&mut o, contact);
                        self.out.push_back(o);
                    }
                } else if let Some(outs) = self.orphans.remove(&call) {
                    for mut o in outs {
                        set_contact(&mut o, contact);
                        self.out.push_back(o);
                    }
                }
            }
            CenterIn::Enqueued { contact, record } => {
                if let Some(c) = self.call_of(contact) {
                    c.record = record;
                }
            }
            CenterIn::Offer {
                contact,
                agent,
                agent_name: _,
            } => self.offer(contact, agent),
            CenterIn::OfferWithdrawn { contact, agent } => self.offer_withdrawn(contact, agent),
            CenterIn::MaxWait { contact } => {
                let Some(&call) = self.contacts.get(&contact) else {
                    return;
                };
                if let Some(c) = self.calls.get_mut(&call) {
                    if c.phase != Phase::Queued {
                        return;
                    }
                    c.contact_closed = true;
                    c.queue = None;
                    c.announce_gen += 1;
                    c.phase = Phase::Ivr;
                    if let Some(f) = c.flow.as_mut() {
                        f.handle(FlowInput::MaxWait, now);
                    }
                }
                self.drop_rings(call);
                self.run_flow(call);
            }
            CenterIn::AcceptResult { contact, agent, ok } => self.accept_result(contact, agent, ok),
            CenterIn::Position {
                contact,
                position,
                wait_secs,
            } => self.position(contact, position, wait_secs),
            CenterIn::Ended { contact } => {
                let Some(&call) = self.contacts.get(&contact) else {
                    return;
                };
                if let Some(c) = self.calls.get_mut(&call) {
                    c.contact_closed = true;
                }
                self.end_call(call, Side::System, "ended", None);
            }
            CenterIn::Transferred { contact } => self.transferred(contact),
            CenterIn::Resync { live, ours } => self.resync(live, ours),
        }
        self.after_step();
    }

    /// The media endpoint of `leg` is ready on local `port`.
    pub fn handle_leg_ready(&mut self, leg: LegId, port: u16, now: i64) {
        self.now = now.max(self.now);
        let Some(&(call, role)) = self.legs.get(&leg) else {
            return;
        };
        if let Some(m) = self.media.get_mut(&leg) {
            m.port = Some(port);
        }
        let inbound_answer = role == Role::Customer
            && self
                .calls
                .get(&call)
                .is_some_and(|c| c.kind == CallKind::Inbound && c.phase == Phase::Answering);
        if inbound_answer {
            self.answer_inbound(call, leg, now);
        } else {
            self.send_invite(leg);
        }
        self.after_step();
    }

    /// Where a party can be reached (answer to [`Out::Locate`]). Empty: nowhere.
    pub fn handle_located(&mut self, leg: LegId, targets: Vec<PhoneTarget>, now: i64) {
        self.now = now.max(self.now);
        self.located(leg, targets);
        self.after_step();
    }

    pub fn handle_http(
        &mut self,
        call: CallId,
        result: Result<serde_json::Value, tsunagu_flow::LookupError>,
        now: i64,
    ) {
        self.now = now.max(self.now);
        if let Some(f) = self.calls.get_mut(&call).and_then(|c| c.flow.as_mut()) {
            f.handle(FlowInput::HttpResult(result), now);
        }
        self.run_flow(call);
        self.after_step();
    }

    pub fn handle_timeout(&mut self, now: i64) {
        self.now = now.max(self.now);
        while let Some(Reverse((at, _, call, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(c) = self.calls.get_mut(&call) else {
                continue;
            };
            match timer {
                Timer::Flow(g) if g == c.flow_gen => {
                    c.flow_armed = None;
                    if let Some(f) = c.flow.as_mut() {
                        f.handle_timeout(at);
                    }
                    self.run_flow(call);
                }
                Timer::Announce(g) if g == c.announce_gen && c.phase == Phase::Queued => {
                    if let (Some(q), Some(contact)) = (c.queue.as_mut(), c.contact) {
                        if q.announcing.is_none() {
                            q.awaiting_position = true;
                            self.out.push_back(Out::AskPosition { contact });
                        }
                    }
                }
                Timer::VoicemailEnd(g) if g == c.voicemail_gen => self.finish_voicemail(call),
                Timer::DialTimeout(leg) if self.dials.contains_key(&leg) => {
                    self.dial_failed(leg, 408, "no answer", true);
                }
                _ => {}
            }
        }
        self.after_step();
    }

    // ----- outbound calls ----------------------------------------------------------------

    /// The ACD offers `contact` to `agent`. A caller on the line — waiting, or back in the
    /// queue after a transfer, even on a contact that began as a callback request — rings
    /// the agent's phone. A callback request with nobody on the line starts a callback
    /// attempt (the agent's phone first, then `callback` is dialed); its new call is
    /// returned.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_offer(
        &mut self,
        contact: ContactId,
        agent: AgentId,
        agent_name: String,
        callback: Option<&str>,
        record: bool,
        now: i64,
    ) -> Result<Option<CallId>, CallError> {
        match callback {
            Some(number) if !self.contacts.contains_key(&contact) => self
                .start_outbound(
                    CallKind::Callback,
                    contact,
                    agent,
                    number,
                    None,
                    record,
                    now,
                )
                .map(Some),
            _ => {
                self.handle_center(
                    CenterIn::Offer {
                        contact,
                        agent,
                        agent_name,
                    },
                    now,
                );
                Ok(None)
            }
        }
    }

    /// Starts an outbound call for an existing contact: `agent`'s phone rings first, then
    /// `number` is dialed. For a callback, the agent's answer is confirmed with the ACD
    /// ([`Out::Accept`]); for click-to-call the agent already owns the contact.
    #[allow(clippy::too_many_arguments)]
    pub fn start_outbound(
        &mut self,
        kind: CallKind,
        contact: ContactId,
        agent: AgentId,
        number: &str,
        name: Option<String>,
        record: bool,
        now: i64,
    ) -> Result<CallId, CallError> {
        self.now = now.max(self.now);
        if kind == CallKind::Inbound {
            return Err(CallError::InboundStart);
        }
        if self.contacts.contains_key(&contact) {
            return Err(CallError::AlreadyHasCall);
        }
        let id = self.next_call;
        self.next_call += 1;
        let customer = self.alloc_leg();
        let mut c = Call::new(id, kind, customer, number.to_string(), name);
        c.contact = Some(contact);
        c.record = record;
        c.phase = Phase::AgentFirst;
        self.calls.insert(id, c);
        self.contacts.insert(contact, id);
        let role = match kind {
            CallKind::Callback => Role::Ring(agent),
            _ => Role::Agent(agent),
        };
        let leg = self.dial(id, role, Party::Agent(agent));
        // `dial` only adds a leg: the call is still there.
        let Some(c) = self.calls.get_mut(&id) else {
            return Err(CallError::EndedWhilePlacing);
        };
        match kind {
            CallKind::Callback => c.rings.push(Ring {
                agent,
                leg,
                answered: false,
                started: now,
            }),
            _ => c.agent = Some((agent, leg)),
        }
        if kind == CallKind::ClickToCall {
            self.arm(now + self.cfg.ring_timeout_ms, id, Timer::DialTimeout(leg));
        }
        self.after_step();
        Ok(id)
    }

    // ----- internals -------------------------------------------------------------------

    fn alloc_leg(&mut self) -> LegId {
        let leg = self.next_leg;
        self.next_leg += 1;
        leg
    }

    fn call_of(&mut self, contact: ContactId) -> Option<&mut Call> {
        let call = *self.contacts.get(&contact)?;
        self.calls.get_mut(&call)
    }

    /// Sends a center output now, or once the contact exists.
    fn center(&mut self, call: CallId, make: impl FnOnce(ContactId) -> Out) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match c.contact {
            Some(ct) => self.out.push_back(make(ct)),
            None => c.pending.push(make(0)),
        }
    }

    fn event(
        &mut self,
        call: CallId,
        kind: &'static str,
        agent: Option<AgentId>,
        data: serde_json::Value,
    ) {
        self.center(call, |c| Out::Event {
            contact: c,
            kind,
            agent,
            data,
        });
    }

    fn set_source(&mut self, call: CallId, leg: LegId, source: SourceSpec) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.sources.get(&leg) != Some(&source) {
            c.sources.insert(leg, source.clone());
            self.out.push_back(Out::MediaSource { leg, source });
        }
    }

    fn moh(&self, call: CallId) -> SourceSpec {
        let c = self.calls.get(&call);
        let name = c
            .and_then(|c| c.queue.as_ref())
            .map(|q| q.moh.clone())
            .unwrap_or_else(|| "moh".into());
        let language = c.map_or_else(|| "ja".into(), Call::language);
        SourceSpec::Prompts {
            prompts: vec![(language, name)],
            looped: true,
            token: 0,
        }
    }

    /// Applies the "who hears whom" rule to every leg of a talking call.
    fn refresh_sources(&mut self, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let hearing = c.hearing(self.moh(call));
        for (leg, source) in hearing {
            self.set_source(call, leg, source);
        }
    }

    fn dtmf(&mut self, leg: LegId, d: char) {
        let Some(&(call, Role::Customer)) = self.legs.get(&leg) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.voicemail.is_some() {
            if d == '#' {
                self.finish_voicemail(call);
            }
            return;
        }
        if !matches!(c.phase, Phase::Ivr | Phase::Queued) {
            return;
        }
        if let Some(f) = c.flow.as_mut() {
            f.handle(FlowInput::Digit(d), self.now);
        }
        self.run_flow(call);
    }

    /// A leg ended from its side (BYE, CANCEL, dead media).
    fn leg_ended(&mut self, leg: LegId, cause: &str) {
        let Some(&(call, role)) = self.legs.get(&leg) else {
            return;
        };
        if self.dials.contains_key(&leg) {
            // Not answered yet: a failure of the dial.
            self.dial_failed(leg, 0, cause, false);
            return;
        }
        match role {
            Role::Customer => self.end_call(call, Side::Caller, cause, Some(leg)),
            Role::Agent(_) => self.agent_left(call, leg, cause),
            Role::Consult => self.consult_gone(call, leg, cause),
            Role::External => self.end_call(call, Side::System, cause, Some(leg)),
            // An offer, a blind transfer or a forward that has not taken over yet: the same
            // as a failed dial (no SIP code).
            Role::Ring(_) | Role::Blind | Role::Forward => self.dial_failed(leg, 0, cause, false),
            Role::Monitor(s) => self.stop_monitor_leg(call, s, false),
        }
    }

    /// Removes a leg: hangs it up (unless its peer already did) and frees its media.
    fn forget_leg(&mut self, leg: LegId, hang_up: bool) {
        let Some((call, role)) = self.legs.remove(&leg) else {
            return;
        };
        let dial = self.dials.remove(&leg);
        let established = dial.is_none();
        self.offers.remove(&leg);
        self.initial_offers.remove(&leg);
        if self.refers.remove(&leg).is_some() && hang_up && established {
            // A transfer the phone asked for never happened: say so before the BYE.
            self.out.push_back(Out::SipReferNotify {
                leg,
                code: 487,
                reason: "Request Terminated".into(),
            });
        }
        if hang_up && (dial.is_some_and(|d| d.sent) || established) {
            self.out.push_back(Out::SipHangup { leg });
        }
        if self.media.remove(&leg).is_some() {
            // The call-quality figures of legs that talked go on the contact's record.
            let talked = established && !matches!(role, Role::Ring(_) | Role::Monitor(_));
            if let Some(contact) = self
                .calls
                .get(&call)
                .and_then(|c| c.contact)
                .filter(|_| talked)
            {
                self.out.push_back(Out::MediaStats {
                    contact,
                    leg,
                    role: role_name(role),
                });
            }
            self.out.push_back(Out::MediaRemove { leg });
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.sources.remove(&leg);
        }
    }

    /// Ends a call: every leg, the recording, the contact. `gone` is the leg whose peer
    /// already hung up.
    fn end_call(&mut self, call: CallId, side: Side, cause: &str, gone: Option<LegId>) {
        self.stop_voicemail(call);
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let legs = c.legs();
        if let Some(rec) = c.recording {
            self.out.push_back(Out::RecordStop { recording: rec });
        }
        for leg in legs {
            self.forget_leg(leg, Some(leg) != gone);
        }
        let Some(mut c) = self.calls.remove(&call) else {
            return;
        };
        let talked = matches!(c.phase, Phase::Connected | Phase::Transferring);
        let mut cause = cause.to_string();
        if c.left_voicemail && side == Side::Caller {
            cause = "caller_left_voicemail".into();
        } else if c.phase == Phase::Ivr && side == Side::Caller {
            cause = "caller_hangup_ivr".into();
        } else if c.phase == Phase::Queued && side == Side::Caller {
            cause = "caller_hangup_queue".into();
        }
        let keep = c.contact_closed || c.callback_requested || c.phase == Phase::External;
        match c.contact {
            Some(contact) => {
                self.contacts.remove(&contact);
                if !keep {
                    let agent = c.agent_id();
                    self.out.push_back(Out::Event {
                        contact,
                        kind: "hangup",
                        agent,
                        data: json!({ "side": side.as_str(), "cause": cause, "talked": talked }),
                    });
                    self.out.push_back(Out::EndContact {
                        contact,
                        side,
                        cause,
                    });
                }
            }
            None => {
                // Ended before the contact existed: finish it when it is created.
                if !keep {
                    c.pending.push(Out::Event {
                        contact: 0,
                        kind: "hangup",
                        agent: None,
                        data: json!({ "side": side.as_str(), "cause": cause }),
                    });
                    c.pending.push(Out::EndContact {
                        contact: 0,
                        side,
                        cause,
                    });
                }
                self.orphans.insert(call, std::mem::take(&mut c.pending));
            }
        }
    }

    fn local_sdp(
        &self,
        leg: LegId,
        m: &Media,
        laws: Vec<Law>,
        te: Option<u8>,
        dir: Direction,
    ) -> String {
        sdp::write(&self.local_audio(leg, m, laws, te, dir))
    }

    /// Our side of a leg's session, for an offer or an answer.
    fn local_audio(
        &self,
        leg: LegId,
        m: &Media,
        laws: Vec<Law>,
        te: Option<u8>,
        dir: Direction,
    ) -> LocalAudio {
        LocalAudio {
            address: self.cfg.media_ip,
            port: m.port.unwrap_or(0),
            laws,
            telephone_event: te,
            direction: dir,
            session_id: leg,
            version: m.version,
        }
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Customer => "customer",
        Role::Ring(_) => "offer",
        Role::Agent(_) => "agent",
        Role::Consult => "consult",
        Role::Blind => "transfer",
        Role::External | Role::Forward => "external",
        Role::Monitor(_) => "monitor",
    }
}

fn set_contact(o: &mut Out, contact: ContactId) {
    match o {
        Out::Enqueue { contact: c, .. }
        | Out::Accept { contact: c, .. }
        | Out::Connected { contact: c, .. }
        | Out::Reject { contact: c, .. }
        | Out::EndContact { contact: c, .. }
        | Out::Event { contact: c, .. }
        | Out::AskPosition { contact: c }
        | Out::Callback { contact: c, .. }
        | Out::Voicemail { contact: c, .. }
        | Out::Refer { contact: c, .. }
        | Out::Handover { contact: c, .. }
        | Out::Requeue { contact: c }
        | Out::RecordStart { contact: c, .. } => *c = contact,
        _ => {}
    }
}
