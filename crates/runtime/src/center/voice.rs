//! Between the tenant actors and the telephony shell: what calls ask of the center
//! ([`VoiceCommand`]) and what the center tells calls to do ([`VoiceDirective`]).

use serde_json::Value;
use tokio::sync::mpsc;
use tsunagu_domain::contact::EventKind;
use tsunagu_store::rows::ContactRow;

use super::mapping::Requirement;

/// Directives reach the telephony shell as (tenant id, directive), after the step that
/// produced them is committed. Bounded: a tenant actor whose directives the shell cannot
/// take yet waits before its next step (the shell itself never waits on an actor, so this
/// cannot deadlock).
pub type VoiceSink = mpsc::Sender<(i64, VoiceDirective)>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoiceDirective {
    /// Ring the agent's phone for this contact. `callback`: the contact is a callback
    /// request — ring the agent, then dial this number.
    Offer {
        contact: i64,
        agent: i64,
        agent_name: String,
        callback: Option<String>,
        record: bool,
    },
    /// The offer no longer stands (no answer in time, withdrawn, taken elsewhere).
    OfferWithdrawn { contact: i64, agent: i64 },
    /// The queue's maximum wait passed with no overflow queue; the call continues in its flow.
    MaxWait { contact: i64 },
    /// The contact was ended from a screen or the API: hang the call up.
    Ended { contact: i64 },
    /// The contact was moved to a queue from a screen or the API.
    Transferred { contact: i64 },
    /// The tenant's actor was rebuilt from the database while calls went on: these are the
    /// open contacts of calls (ordered by id) and where each stands. No offer made before
    /// stands any more. The switch ends what it no longer has, and what disagrees.
    Resync { live: Vec<(i64, LiveCall)> },
}

/// Where the center has the contact of a call, for [`VoiceDirective::Resync`].
pub use tsunagu_contact::center::LiveCall;

/// Requests from the telephony shell.
#[derive(Clone, Debug)]
pub enum VoiceCommand {
    /// A call arrived: its contact starts in the IVR.
    /// The caller is looked up among the customers by number (screen-pop).
    NewCall {
        caller: String,
        caller_name: Option<String>,
        called: String,
    },
    /// The flow put the call in a queue. Answers whether the queue records calls.
    Enqueue {
        contact: i64,
        queue_id: i64,
        priority: i64,
        requirements: Vec<Requirement>,
        attributes: Value,
    },
    /// A timeline event of the call.
    Event {
        contact: i64,
        kind: EventKind,
        agent: Option<i64>,
        data: Value,
    },
    /// The call ended: `side` is caller, agent or system; `cause` the reason.
    End {
        contact: i64,
        side: String,
        cause: String,
    },
    /// The offered agent's phone answered. Answers whether the offer still stood. For an
    /// inbound call the agent now owns the contact, but it is answered (応答) only once
    /// [`VoiceCommand::Connected`] says the caller and the agent hear each other.
    Accept { contact: i64, agent: i64 },
    /// The switch connected the caller to the agent who accepted.
    Connected { contact: i64, agent: i64 },
    /// The offered agent's phone declined, was busy or unreachable.
    /// `unreachable`: the phone could not ring at all (a miss), not the agent declining.
    Reject {
        contact: i64,
        agent: i64,
        unreachable: bool,
    },
    /// The caller asked to be called back at `number`. Answers the callback's contact id.
    Callback {
        contact: i64,
        queue_id: Option<i64>,
        number: String,
    },
    /// The caller left a message: it becomes a task in `queue_id`. Answers its contact id.
    Voicemail {
        contact: i64,
        queue_id: i64,
        recording: i64,
        caller: String,
    },
    /// Another agent took the call over (attended or blind transfer).
    Handover { contact: i64, from: i64, to: i64 },
    /// The agent's phone transferred the call to a queue (REFER).
    TransferToQueue {
        contact: i64,
        agent: i64,
        queue_id: i64,
    },
    /// A blind transfer to an agent failed: the contact waits in its queue again.
    Requeue { contact: i64 },
    /// Where the caller stands: answers (position, estimated wait in seconds).
    Position { contact: i64 },
    /// An agent places a call (click-to-call). Answers the new contact.
    ClickToCall {
        agent: i64,
        number: String,
        customer_id: Option<i64>,
        queue_id: i64,
        by_user: i64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum VoiceReply {
    Done,
    Contact(Box<ContactRow>),
    Id(i64),
    Flag(bool),
    Position { position: u32, wait_secs: u32 },
}
