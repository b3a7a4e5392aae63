//! The switch's inputs and outputs. Everything the switch wants done — SIP signaling, media,
//! contact-center bookkeeping, lookups — is an [`Out`]; everything it learns comes back as a
//! [`SipIn`], a media event, a [`CenterIn`] or a call to one of its `handle_*` methods.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tsunagu_flow::model::SkillStep;
use tsunagu_flow::Flow;
use tsunagu_media::core::LegParams;

pub type LegId = u64;
pub type CallId = u64;
pub type ContactId = i64;
pub type AgentId = i64;
pub type RecordingId = u64;

/// Where to reach a phone: a registered contact of an agent, or a number through a trunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneTarget {
    pub uri: String,
    pub destination: SocketAddr,
    pub tcp: bool,
    /// Over TLS (the phone registered over TLS); implies a stream transport.
    pub tls: bool,
    /// The outbound trunk for external numbers (the shell adds its credentials and
    /// caller ID); None for agents' phones.
    pub trunk: Option<String>,
}

/// Someone the switch can call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Party {
    Agent(AgentId),
    /// An external number, as dialed (the shell normalizes it and picks a trunk).
    Number(String),
}

/// Why a call exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// A customer called in.
    Inbound,
    /// A queued callback: the agent's phone rings first, then the customer is dialed.
    Callback,
    /// An agent's outbound call (click-to-call): agent's phone first, then the customer.
    ClickToCall,
}

/// SIP as the switch sees it.
#[derive(Clone, Debug)]
pub enum SipIn {
    Incoming {
        leg: LegId,
        tenant_id: i64,
        caller: String,
        caller_name: Option<String>,
        called: String,
        offer: Option<String>,
        /// The flow the dialed number reaches (None: nothing answers this number).
        flow: Option<Arc<Flow>>,
        call_id: String,
    },
    Ringing {
        leg: LegId,
    },
    Answered {
        leg: LegId,
        answer: Option<String>,
    },
    Failed {
        leg: LegId,
        code: u16,
        reason: String,
    },
    Ended {
        leg: LegId,
        cause: String,
    },
    /// A re-INVITE or UPDATE with an SDP offer: answered with [`Out::SipAnswerUpdate`] or
    /// refused with [`Out::SipRefuseUpdate`].
    Update {
        leg: LegId,
        offer: String,
    },
    /// A re-INVITE without SDP: our offer goes in the 200 ([`Out::SipAnswerUpdate`]), the
    /// peer's answer comes in the ACK ([`SipIn::AckAnswer`]).
    OfferWanted {
        leg: LegId,
    },
    /// The ACK completing an offer we made in a 2xx carried this answer (None: no body).
    AckAnswer {
        leg: LegId,
        answer: Option<String>,
    },
    Dtmf {
        leg: LegId,
        digit: char,
    },
    /// A phone asked (REFER) to transfer its call. It was answered 202; the outcome goes
    /// back as [`Out::SipReferNotify`]. `target` is the Refer-To's user part (None: the URI
    /// has none); `attended`: the Refer-To carries `Replaces` (RFC 3891).
    Refer {
        leg: LegId,
        target: Option<String>,
        attended: bool,
    },
}

/// What the contact center tells the switch about its calls' contacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CenterIn {
    /// The call's contact exists (answer to [`Out::CreateContact`]).
    ContactCreated { call: CallId, contact: ContactId },
    /// The contact entered its queue; `record` is the queue's recording policy.
    Enqueued { contact: ContactId, record: bool },
    /// The ACD offers the contact to this agent: ring their phone.
    Offer {
        contact: ContactId,
        agent: AgentId,
        agent_name: String,
    },
    /// The offer no longer stands (no answer in time, taken elsewhere, agent not ready).
    OfferWithdrawn { contact: ContactId, agent: AgentId },
    /// The queue's maximum wait passed with nowhere to overflow to.
    MaxWait { contact: ContactId },
    /// Answer to [`Out::Accept`].
    AcceptResult {
        contact: ContactId,
        agent: AgentId,
        ok: bool,
    },
    /// Answer to [`Out::AskPosition`].
    Position {
        contact: ContactId,
        position: u32,
        wait_secs: u32,
    },
    /// The contact was ended from outside (a supervisor cancelled it, the agent ended it
    /// from the screen): hang up.
    Ended { contact: ContactId },
    /// The contact was moved to another queue (from the API or a phone's REFER): the agent
    /// leaves the call and the caller waits again with music.
    Transferred { contact: ContactId },
    /// The center rebuilt a tenant's state from its database while calls went on. `live`:
    /// the open contacts of calls and where the center has them; `ours`: the contacts of
    /// this switch's calls in that tenant. No offer made before stands any more.
    Resync {
        live: Vec<(ContactId, LiveCall)>,
        ours: Vec<ContactId>,
    },
}

/// Where the center has a call's contact (see [`CenterIn::Resync`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveCall {
    /// In the IVR.
    Ivr,
    /// Waiting in a queue, not offered to anyone.
    Waiting,
    /// A callback request waiting in its queue: an attempt in progress is over.
    CallbackWaiting,
    /// Connected to this agent.
    Talking { agent: AgentId },
}

/// Who or what ended a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Caller,
    Agent,
    /// A supervisor (from the API or a screen), not on the call.
    Supervisor,
    /// The IVR or the system (flow hang-up, dead media, error).
    System,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Caller => "caller",
            Side::Agent => "agent",
            Side::Supervisor => "supervisor",
            Side::System => "system",
        }
    }
}

/// What a leg hears, by prompt name (the shell turns names into audio).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    Silence,
    /// (language, prompt) in order; `looped` for music on hold.
    Prompts {
        prompts: Vec<(String, String)>,
        looped: bool,
        token: u64,
    },
    Relay(LegId),
    Mix(Vec<LegId>),
}

/// Supervisor monitoring modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorMode {
    /// Hears both; nobody hears them.
    Listen,
    /// Hears both; only the agent hears them.
    Whisper,
    /// Hears both; both hear them.
    Barge,
}

impl MonitorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorMode::Listen => "listen",
            MonitorMode::Whisper => "whisper",
            MonitorMode::Barge => "barge",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    // ----- SIP
    SipAnswer {
        leg: LegId,
        sdp: String,
    },
    SipRinging {
        leg: LegId,
    },
    SipReject {
        leg: LegId,
        code: u16,
    },
    SipDial {
        leg: LegId,
        target: PhoneTarget,
        from_user: String,
        from_name: Option<String>,
        sdp: String,
    },
    SipHangup {
        leg: LegId,
    },
    /// Answers a re-INVITE / UPDATE: with our answer, or (to a re-INVITE without SDP) our
    /// offer.
    SipAnswerUpdate {
        leg: LegId,
        sdp: String,
    },
    /// Refuses a re-INVITE / UPDATE (400 unreadable SDP, 488 nothing acceptable, 481 no
    /// such call); the session stays as it was.
    SipRefuseUpdate {
        leg: LegId,
        code: u16,
    },
    /// Reports the outcome of a phone's REFER (RFC 3515 NOTIFY, final): 200 when the
    /// transfer was carried out, an error status when it was not.
    SipReferNotify {
        leg: LegId,
        code: u16,
        reason: String,
    },
    // ----- media
    /// Create the leg's media endpoint; answer with [`crate::Switch::handle_leg_ready`].
    MediaCreate {
        leg: LegId,
        params: LegParams,
    },
    MediaUpdate {
        leg: LegId,
        params: LegParams,
    },
    MediaSource {
        leg: LegId,
        source: SourceSpec,
    },
    MediaRemove {
        leg: LegId,
    },
    /// Report the leg's RTP figures on the contact's timeline (sent before its removal).
    MediaStats {
        contact: ContactId,
        leg: LegId,
        role: &'static str,
    },
    RecordStart {
        recording: RecordingId,
        contact: ContactId,
        left: LegId,
        right: LegId,
        voicemail: bool,
    },
    RecordPause {
        recording: RecordingId,
        paused: bool,
    },
    RecordStop {
        recording: RecordingId,
    },
    // ----- contact center
    CreateContact {
        call: CallId,
        tenant_id: i64,
        caller: String,
        caller_name: Option<String>,
        called: String,
    },
    Enqueue {
        contact: ContactId,
        queue: String,
        priority: i64,
        requirements: Vec<SkillStep>,
        attributes: Value,
    },
    /// The offered agent's phone answered: does the offer still stand? (answered with
    /// [`CenterIn::AcceptResult`]; the caller is not connected before it comes).
    Accept {
        contact: ContactId,
        agent: AgentId,
    },
    /// The caller and the agent whose offer was confirmed now hear each other: the
    /// conversation starts (an inbound call is answered at this moment, not when the phone
    /// picked up — a caller who leaves in between was never answered).
    Connected {
        contact: ContactId,
        agent: AgentId,
    },
    /// The offered agent's phone did not take the call. `unreachable`: it could not ring
    /// at all (no phone registered, a network or server failure) — a miss the ACD counts —
    /// rather than the agent declining (busy, decline).
    Reject {
        contact: ContactId,
        agent: AgentId,
        unreachable: bool,
    },
    EndContact {
        contact: ContactId,
        side: Side,
        cause: String,
    },
    /// A timeline event (kind as in `tsunagu_domain::contact::EventKind`).
    Event {
        contact: ContactId,
        kind: &'static str,
        agent: Option<AgentId>,
        data: Value,
    },
    AskPosition {
        contact: ContactId,
    },
    Callback {
        contact: ContactId,
        queue: Option<String>,
        number: String,
    },
    Voicemail {
        contact: ContactId,
        queue: String,
        recording: RecordingId,
        caller: String,
    },
    /// A phone (`leg`, the agent's) asked (REFER) to transfer its call to `target` (a
    /// queue, an agent or a number). The shell resolves it and carries it out through
    /// [`crate::Switch::refer_transfer`] or the center; a target it cannot use is reported
    /// with [`crate::Switch::refer_failed`].
    Refer {
        contact: ContactId,
        agent: AgentId,
        leg: LegId,
        target: String,
    },
    /// An attended or blind transfer to another agent completed: the contact is theirs now.
    Handover {
        contact: ContactId,
        from: AgentId,
        to: AgentId,
    },
    /// A blind transfer to an agent failed: the contact waits in its queue again.
    Requeue {
        contact: ContactId,
    },
    // ----- lookups
    /// Where can `party` be reached? Answer with [`crate::Switch::handle_located`].
    Locate {
        call: CallId,
        leg: LegId,
        party: Party,
    },
    Http {
        call: CallId,
        url: String,
        method: String,
        body: Option<String>,
        timeout_ms: u64,
    },
}
