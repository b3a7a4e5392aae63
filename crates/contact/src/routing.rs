//! What the router's decisions make of contacts. The ACD router (`tsunagu_acd::Router`)
//! decides who is offered what and when time runs out; each of its [`Action`]s means
//! something for the contact it names — its record, its timeline, the agent's screen, the
//! call behind it. [`routed`] says what, as values; the tenant actor carries it out.
//!
//! ```text
//!  Offer            ─► offered (offered_at now)   timeline offered {expires_at}   ring the phone
//!  OfferWithdrawn   ─► (as it is)                 timeline offer_withdrawn {reason} stop ringing
//!  OfferTimedOut    ─► (as it is)                 timeline offer_timed_out        stop ringing
//!  Requeued         ─► queued                     timeline requeued
//!  Overflowed       ─► queued in the target queue, timeline overflowed {from}
//!  MaxWaitExceeded  ─► timed_out (max_wait)       timeline max_wait_reached      the flow goes on
//!  WrapUpExpired    ─► completed by the timer
//! ```

use tsunagu_acd::{Action, WithdrawReason};
use tsunagu_domain::contact::EventKind;

/// The reason stored on a contact whose queue's maximum wait passed with nowhere to go.
pub const MAX_WAIT: &str = "max_wait";

/// What the decision needs to know of the contact an action names; `None` when it is not
/// open (it ended earlier in the same step, or never was the tenant's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// A call: the switch must hear of offers and maximum waits.
    pub voice: bool,
    /// The queue it is in.
    pub queue: Option<i64>,
}

/// What becomes of the contact's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Unchanged (or not open).
    Same,
    /// Ringing an agent: status `offered`, `offered_at` now.
    Offered,
    /// Waiting again in its queue: status `queued`.
    Requeued,
    /// Waiting in another queue, keeping its arrival: that queue, `queue_entered_at` now,
    /// status `queued`.
    Moved { to: i64 },
    /// Over, with nowhere to go: status `timed_out`, ended now, this reason.
    TimedOut { reason: &'static str },
    /// After-call work over by the wrap-up timer: completed now, no disposition.
    Completed,
}

/// What the timeline event records beside its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    Nothing,
    /// Until when the offer rings (Unix ms).
    ExpiresAt(i64),
    /// Why an offer was withdrawn (the router's reason, as written on the timeline).
    Reason(String),
    /// The queue an overflow came from.
    FromQueue(i64),
}

/// One timeline event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    pub kind: EventKind,
    pub queue: Option<i64>,
    pub agent: Option<i64>,
    pub detail: Detail,
}

/// What an agent's screen is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A contact is offered to the agent until `expires_at` (Unix ms).
    Offer {
        agent: i64,
        expires_at: i64,
    },
    OfferWithdrawn {
        agent: i64,
        reason: String,
    },
    OfferTimedOut {
        agent: i64,
    },
}

/// What the call behind a voice contact must do (the router's decisions give the first
/// three; the core's commands the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOrder {
    /// Ring the agent's phone for a call of this queue.
    Ring { agent: i64, queue: i64 },
    /// The agent's phone stops ringing for this contact.
    StopRinging { agent: i64 },
    /// The queue's maximum wait passed: the caller's flow goes on.
    MaxWait,
    /// The contact was ended from a screen or the API: hang the call up.
    Ended,
    /// The contact was moved to a queue from a screen or the API: the caller waits there.
    Transferred,
}

/// Everything one router action means, for the actor to carry out in this order: the
/// record, the timeline, the screen, the call; then the agent's state is looked at again.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Routed {
    /// The contact the action names (`None` for actions about an agent only).
    pub contact: Option<i64>,
    pub record: Record,
    pub timeline: Option<Timeline>,
    pub notice: Option<Notice>,
    pub call: Option<CallOrder>,
    /// An agent whose state may have changed.
    pub agent: Option<i64>,
    /// The agent missed too many offers in a row: made not-ready by the center.
    pub auto_not_ready: bool,
}

impl Routed {
    fn about(contact: Option<i64>, agent: Option<i64>) -> Routed {
        Routed {
            contact,
            record: Record::Same,
            timeline: None,
            notice: None,
            call: None,
            agent,
            auto_not_ready: false,
        }
    }
}

/// What `action` makes of its contact, seen as `contact` (`None`: not open).
///
/// Offers and completions need an open contact (an offer for a contact that ended in the
/// same step is dropped); withdrawals and time-outs are recorded whatever the contact's
/// state, so the agent's screen and the timeline always hear that an offer is over.
pub fn routed(action: &Action, contact: Option<Seen>) -> Routed {
    let voice = contact.is_some_and(|c| c.voice);
    match *action {
        Action::Offer {
            contact: c,
            agent,
            queue,
            expires_at,
        } => {
            let (c, a) = (c.0 as i64, agent.0 as i64);
            if contact.is_none() {
                return Routed::about(None, None);
            }
            Routed {
                record: Record::Offered,
                timeline: Some(Timeline {
                    kind: EventKind::Offered,
                    queue: Some(queue.0 as i64),
                    agent: Some(a),
                    detail: Detail::ExpiresAt(expires_at),
                }),
                notice: Some(Notice::Offer {
                    agent: a,
                    expires_at,
                }),
                call: voice.then_some(CallOrder::Ring {
                    agent: a,
                    queue: queue.0 as i64,
                }),
                ..Routed::about(Some(c), Some(a))
            }
        }
        Action::OfferWithdrawn {
            contact: c,
            agent,
            reason,
        } => {
            let (c, a) = (c.0 as i64, agent.0 as i64);
            let reason = withdraw_reason(reason);
            Routed {
                timeline: Some(Timeline {
                    kind: EventKind::OfferWithdrawn,
                    queue: contact.and_then(|s| s.queue),
                    agent: Some(a),
                    detail: Detail::Reason(reason.clone()),
                }),
                notice: Some(Notice::OfferWithdrawn { agent: a, reason }),
                call: voice.then_some(CallOrder::StopRinging { agent: a }),
                ..Routed::about(Some(c), Some(a))
            }
        }
        Action::OfferTimedOut { contact: c, agent } => {
            let (c, a) = (c.0 as i64, agent.0 as i64);
            Routed {
                timeline: Some(Timeline {
                    kind: EventKind::OfferTimedOut,
                    queue: contact.and_then(|s| s.queue),
                    agent: Some(a),
                    detail: Detail::Nothing,
                }),
                notice: Some(Notice::OfferTimedOut { agent: a }),
                call: voice.then_some(CallOrder::StopRinging { agent: a }),
                ..Routed::about(Some(c), Some(a))
            }
        }
        Action::Requeued { contact: c, queue } => Routed {
            record: open_only(contact, Record::Requeued),
            timeline: Some(Timeline {
                kind: EventKind::Requeued,
                queue: Some(queue.0 as i64),
                agent: None,
                detail: Detail::Nothing,
            }),
            ..Routed::about(Some(c.0 as i64), None)
        },
        Action::Overflowed {
            contact: c,
            from,
            to,
        } => Routed {
            record: open_only(contact, Record::Moved { to: to.0 as i64 }),
            timeline: Some(Timeline {
                kind: EventKind::Overflowed,
                queue: Some(to.0 as i64),
                agent: None,
                detail: Detail::FromQueue(from.0 as i64),
            }),
            ..Routed::about(Some(c.0 as i64), None)
        },
        Action::MaxWaitExceeded { contact: c, queue } => Routed {
            record: open_only(contact, Record::TimedOut { reason: MAX_WAIT }),
            timeline: Some(Timeline {
                kind: EventKind::MaxWaitReached,
                queue: Some(queue.0 as i64),
                agent: None,
                detail: Detail::Nothing,
            }),
            call: voice.then_some(CallOrder::MaxWait),
            ..Routed::about(Some(c.0 as i64), None)
        },
        Action::WrapUpExpired { contact: c, agent } => Routed {
            record: open_only(contact, Record::Completed),
            ..Routed::about(
                contact.is_some().then_some(c.0 as i64),
                Some(agent.0 as i64),
            )
        },
        Action::AgentAutoNotReady { agent } => Routed {
            auto_not_ready: true,
            ..Routed::about(None, Some(agent.0 as i64))
        },
        Action::AgentStatus { agent, .. } => Routed::about(None, Some(agent.0 as i64)),
    }
}

fn open_only(contact: Option<Seen>, record: Record) -> Record {
    if contact.is_some() {
        record
    } else {
        Record::Same
    }
}

/// The withdrawal's reason as the timeline has always written it (the variant's name).
fn withdraw_reason(r: WithdrawReason) -> String {
    format!("{r:?}")
}
