//! One call's state, and who hears whom.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tsunagu_flow::Run;
use tsunagu_media::core::LegParams;
use tsunagu_media::g711::Law;
use tsunagu_media::sdp::{AudioOffer, Direction};

use crate::io::*;

/// A leg's part in its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The customer (called in, or dialed for a callback or an outbound call).
    Customer,
    /// An agent's phone ringing for an ACD offer.
    Ring(AgentId),
    /// The agent in charge of the call (for outbound calls: dialed first, without an offer).
    Agent(AgentId),
    /// Someone the agent consults (attended transfer, 3-way).
    Consult,
    /// The target of a blind transfer, ringing.
    Blind,
    /// An external party the customer was transferred to.
    External,
    /// An external number the IVR forwards the caller to, ringing.
    Forward,
    Monitor(AgentId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Inbound: the customer's media is being set up; not answered yet.
    Answering,
    Ivr,
    Queued,
    /// Outbound: the agent's phone rings first.
    AgentFirst,
    /// Outbound: the agent is on the line; the customer's phone rings.
    DialingCustomer,
    Connected,
    /// A blind transfer rings its target; the customer hears music.
    Transferring,
    /// The customer talks to an external party; no agent is involved any more.
    External,
}

/// A leg's media as negotiated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Media {
    pub law: Law,
    pub te: Option<u8>,
    pub port: Option<u16>,
    pub remote: Option<SocketAddr>,
    pub peer_dir: Direction,
    pub version: u64,
}

impl Media {
    pub fn params(&self) -> LegParams {
        LegParams {
            law: self.law,
            telephone_event: self.te,
            remote: self.remote,
            // The RTP port + 1 until the SDP's a=rtcp is read.
            rtcp: None,
            send: self.peer_dir.peer_receives(),
        }
    }

    pub fn from_offer(o: &AudioOffer, law: Law) -> Media {
        let remote = (!o.rtp.ip().is_unspecified() && o.rtp.port() != 0).then_some(o.rtp);
        Media {
            law,
            te: o.telephone_event,
            port: None,
            remote,
            peer_dir: o.direction,
            version: 1,
        }
    }
}

/// An outgoing leg on its way: located, media prepared, INVITE sent.
#[derive(Clone, Debug)]
pub(crate) struct Dialing {
    pub party: Party,
    pub target: Option<PhoneTarget>,
    /// The INVITE went out (a CANCEL or BYE is needed to stop it).
    pub sent: bool,
    pub started: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct QueueState {
    pub moh: String,
    pub announce_secs: u32,
    pub callback: bool,
    /// Token of the announcement playing, if one is.
    pub announcing: Option<u64>,
    pub awaiting_position: bool,
}

impl QueueState {
    pub fn plain() -> QueueState {
        QueueState {
            moh: "moh".into(),
            announce_secs: 45,
            callback: false,
            announcing: None,
            awaiting_position: false,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Ring {
    pub agent: AgentId,
    pub leg: LegId,
    /// The phone answered; the ACD is asked to confirm the offer still stands.
    pub answered: bool,
    pub started: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct Consult {
    pub party: Party,
    pub leg: LegId,
    pub up: bool,
    pub conference: bool,
    /// Was the customer on hold before the consultation put them there?
    pub held_before: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Monitor {
    pub supervisor: AgentId,
    pub leg: LegId,
    pub mode: MonitorMode,
    pub up: bool,
}

pub(crate) struct Call {
    pub id: CallId,
    pub kind: CallKind,
    pub contact: Option<ContactId>,
    /// Center outputs waiting for the contact id (inbound calls, before it exists).
    pub pending: Vec<Out>,
    /// The customer's number and name.
    pub customer_number: String,
    pub customer_name: Option<String>,
    pub customer: LegId,
    pub phase: Phase,
    pub flow: Option<Run>,
    pub play_token: Option<u64>,
    pub queue: Option<QueueState>,
    pub rings: Vec<Ring>,
    pub agent: Option<(AgentId, LegId)>,
    pub consult: Option<Consult>,
    /// A blind transfer's target, its leg, and the agent who transferred.
    pub blind: Option<(Party, LegId, AgentId)>,
    /// The external party after a transfer out.
    pub external: Option<LegId>,
    /// The number the IVR forwards the caller to, ringing.
    pub forward: Option<LegId>,
    pub held: bool,
    pub record: bool,
    pub recording: Option<RecordingId>,
    pub voicemail: Option<(RecordingId, String)>,
    /// The caller left a message: hanging up afterwards is not an abandon.
    pub left_voicemail: bool,
    /// The caller left a callback request: the contact lives on without this call.
    pub callback_requested: bool,
    /// The contact was closed by the center (max wait, cancelled, transferred out): do not
    /// end it again.
    pub contact_closed: bool,
    pub monitors: Vec<Monitor>,
    pub sources: BTreeMap<LegId, SourceSpec>,
    /// Generation of each kind of timer; a fired timer of an older generation is stale.
    pub flow_gen: u64,
    /// The flow deadline armed under the current `flow_gen` (None: none armed).
    pub flow_armed: Option<i64>,
    pub announce_gen: u64,
    pub voicemail_gen: u64,
}

impl Call {
    pub fn new(
        id: CallId,
        kind: CallKind,
        customer: LegId,
        number: String,
        name: Option<String>,
    ) -> Call {
        Call {
            id,
            kind,
            contact: None,
            pending: Vec::new(),
            customer_number: number,
            customer_name: name,
            customer,
            phase: Phase::Answering,
            flow: None,
            play_token: None,
            queue: None,
            rings: Vec::new(),
            agent: None,
            consult: None,
            blind: None,
            forward: None,
            left_voicemail: false,
            external: None,
            held: false,
            record: false,
            recording: None,
            voicemail: None,
            callback_requested: false,
            contact_closed: false,
            monitors: Vec::new(),
            sources: BTreeMap::new(),
            flow_gen: 0,
            flow_armed: None,
            announce_gen: 0,
            voicemail_gen: 0,
        }
    }

    pub fn language(&self) -> String {
        self.flow
            .as_ref()
            .map(|f| f.language().to_string())
            .unwrap_or_else(|| "ja".into())
    }

    pub fn agent_id(&self) -> Option<AgentId> {
        self.agent.map(|a| a.0)
    }

    /// A callback attempt still ringing the agent (before the customer is dialed).
    pub fn callback_ringing_agent(&self) -> bool {
        self.kind == CallKind::Callback && self.phase == Phase::AgentFirst
    }

    /// Every leg the call owns.
    pub fn legs(&self) -> Vec<LegId> {
        let mut v = vec![self.customer];
        v.extend(self.rings.iter().map(|r| r.leg));
        v.extend(self.agent.map(|a| a.1));
        v.extend(self.consult.as_ref().map(|c| c.leg));
        v.extend(self.blind.as_ref().map(|b| b.1));
        v.extend(self.external);
        v.extend(self.forward);
        v.extend(self.monitors.iter().map(|m| m.leg));
        v
    }

    /// What each leg of a talking call hears. Legs not listed keep what they have.
    pub fn hearing(&self, moh: SourceSpec) -> Vec<(LegId, SourceSpec)> {
        let cust = self.customer;
        let mut out = Vec::new();
        match self.phase {
            Phase::External => {
                if let Some(x) = self.external {
                    out.push((cust, SourceSpec::Relay(x)));
                    out.push((x, SourceSpec::Relay(cust)));
                }
                return out;
            }
            Phase::Transferring => {
                out.push((cust, moh));
                return out;
            }
            Phase::DialingCustomer => {
                if let Some((_, a)) = self.agent {
                    out.push((a, SourceSpec::Silence));
                }
                return out;
            }
            Phase::Connected => {}
            _ => return out,
        }
        let Some((_, agent)) = self.agent else {
            return out;
        };
        let consult = self.consult.as_ref().filter(|c| c.up);
        let conference = consult.is_some_and(|c| c.conference);
        let mut cust_hears: Vec<LegId> = Vec::new();
        let mut agent_hears: Vec<LegId> = Vec::new();
        let mut consult_hears: Vec<LegId> = Vec::new();
        // Consulting (even while the other phone still rings) holds the customer.
        let customer_held = self.held || (self.consult.is_some() && !conference);
        if !customer_held {
            cust_hears.push(agent);
            agent_hears.push(cust);
        }
        if let Some(k) = consult {
            agent_hears.push(k.leg);
            consult_hears.push(agent);
            if conference && !self.held {
                cust_hears.push(k.leg);
                consult_hears.push(cust);
            }
        }
        let mut talkers = vec![cust, agent];
        talkers.extend(consult.filter(|_| conference).map(|k| k.leg));
        let monitors: Vec<&Monitor> = self.monitors.iter().filter(|m| m.up).collect();
        for m in &monitors {
            if matches!(m.mode, MonitorMode::Whisper | MonitorMode::Barge) {
                agent_hears.push(m.leg);
            }
            if m.mode == MonitorMode::Barge && !customer_held {
                cust_hears.push(m.leg);
            }
        }
        let pick = |v: Vec<LegId>| match v.len() {
            0 => SourceSpec::Silence,
            1 => SourceSpec::Relay(v[0]),
            _ => SourceSpec::Mix(v),
        };
        out.push((cust, if customer_held { moh } else { pick(cust_hears) }));
        out.push((agent, pick(agent_hears)));
        if let Some(k) = consult {
            out.push((k.leg, pick(consult_hears)));
        }
        for m in monitors {
            out.push((m.leg, SourceSpec::Mix(talkers.clone())));
        }
        out
    }
}
