//! What the router asks its caller to do, drained with `poll_action`.

use crate::types::{AgentId, AgentStatus, ContactId, QueueId, UnixMillis};

/// Why an offer was taken back from an agent before they answered it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WithdrawReason {
    /// Ring-all: another agent accepted first.
    AcceptedElsewhere,
    /// The contact ended (the caller hung up, the task was cancelled).
    ContactEnded,
    /// The agent went not-ready or offline while the offer rang.
    AgentUnavailable,
    /// The agent's configuration changed so they may no longer take it.
    AgentReconfigured,
    /// The contact was moved to another queue.
    Transferred,
}

/// An output of the router. Each one is a decision already applied to the router's state;
/// the caller makes it real (rings a phone, pushes to a screen) and records it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Action {
    /// Offer the contact to the agent until `expires_at`. Ring-all produces one per agent.
    Offer {
        contact: ContactId,
        agent: AgentId,
        queue: QueueId,
        expires_at: UnixMillis,
    },
    /// The offer to this agent no longer stands.
    OfferWithdrawn {
        contact: ContactId,
        agent: AgentId,
        reason: WithdrawReason,
    },
    /// The agent did not answer in time (a no-answer).
    OfferTimedOut { contact: ContactId, agent: AgentId },
    /// The contact waits again in its queue, keeping its original arrival time (so it is
    /// ahead of everyone who came later).
    Requeued { contact: ContactId, queue: QueueId },
    /// The agent missed too many offers in a row and has been made not-ready.
    AgentAutoNotReady { agent: AgentId },
    /// The contact waited the queue's maximum and moved to the overflow queue.
    Overflowed {
        contact: ContactId,
        from: QueueId,
        to: QueueId,
    },
    /// The contact waited the queue's maximum and the queue has no overflow target: the
    /// router has let go of it; the caller applies the fallback (end it, voicemail, …).
    MaxWaitExceeded { contact: ContactId, queue: QueueId },
    /// The after-call work timer ran out; the agent's slot is free again.
    WrapUpExpired { contact: ContactId, agent: AgentId },
    /// The agent's derived status changed.
    AgentStatus { agent: AgentId, status: AgentStatus },
}
