//! The contact's lifecycle rules: which request a contact in a given state may take, and
//! what it becomes — its next status, the timeline event that records it, what it says
//! about the customer and the queue. Values in, values out; the tenant actor carries the
//! answer out on its rows, the router and the switch.
//!
//! ```text
//!  ivr ──► queued ◄──► offered ──► connected ──► wrap_up ──► completed
//!   │        │  ▲         │            │   (end)       (done / timer)
//!   │        │  └ transfer┴────────────┘
//!   │        ├──► abandoned      the customer left (or `customer_left`)
//!   │        ├──► interrupted    the center or a person ended it (中断)
//!   │        └──► timed_out      the queue's maximum wait, nowhere to go
//!   └──► completed               the IVR finished the call itself
//! ```
//!
//! Sources: the statuses and outcomes of `docs/kpi.md` (abandon vs interruption), and
//! `tsunagu_domain::contact::is_interruption` for the causes that are the center's doing.

use tsunagu_domain::contact::{is_interruption, ContactStatus, EventKind, CUSTOMER_LEFT};

/// Why a request cannot be carried out on the contact as it stands (HTTP 409 upstream).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("contact {contact} is not connected to agent {agent}")]
    NotConnectedTo { contact: i64, agent: i64 },
    #[error("contact {contact} has already ended")]
    AlreadyEnded { contact: i64 },
    #[error("contact {contact} was not handled by agent {agent}")]
    NotHandledBy { contact: i64, agent: i64 },
    #[error("contact {contact} is not in after-call work")]
    NotInWrapUp { contact: i64 },
}

/// What the rules need to know of a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Current {
    pub id: i64,
    pub status: ContactStatus,
    /// The agent it is (or was last) with.
    pub agent: Option<i64>,
    /// A disposition is already recorded.
    pub has_disposition: bool,
}

/// Checks that a contact has not ended and, when an agent acts, that it is that agent's
/// conversation (agents act only on their own). Returns the status it is in.
pub fn still_going(c: &Current, agent: Option<i64>) -> Result<ContactStatus, LifecycleError> {
    if let Some(a) = agent {
        if c.agent != Some(a) || c.status != ContactStatus::Connected {
            return Err(LifecycleError::NotConnectedTo {
                contact: c.id,
                agent: a,
            });
        }
    }
    if c.status == ContactStatus::WrapUp {
        return Err(LifecycleError::AlreadyEnded { contact: c.id });
    }
    Ok(c.status)
}

/// Who ends a contact, and why.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EndRequest {
    /// The agent ending their own conversation.
    pub agent: Option<i64>,
    /// The person (agent, supervisor, integrator's user) behind the request; None when
    /// the call itself ended (the customer hung up, the system lost it).
    pub by_user: Option<i64>,
    /// `side:cause` (`customer:hangup`, `system:call_lost`, …), a flow's reason, or text.
    pub reason: Option<String>,
    /// The queue wraps up with no after-call work (`wrap_up_secs = 0`).
    pub no_wrap_up: bool,
}

/// What ending a contact makes of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    pub status: ContactStatus,
    /// The timeline event that records it.
    pub event: EventKind,
    /// The agent the event names (the handler of a conversation).
    pub event_agent: Option<i64>,
    /// The reason to store (`None`: keep what is stored).
    pub end_reason: Option<String>,
    /// The contact was in a queue or with an agent: the router lets it go.
    pub leave_router: bool,
    /// After-call work is over at once (the queue has none): complete now.
    pub complete_now: bool,
}

/// Ending a contact, by whoever and for whatever reason:
///
/// * a conversation (connected) goes to after-call work (後処理), or completes at once
///   when its queue has none;
/// * a contact nobody took is *interrupted* (中断) when the center ended it (a cause of
///   [`is_interruption`]) or a person cancelled it — unless the person says the customer
///   left (`customer_left`), which is the customer's abandon;
/// * a call the IVR finished itself (self-service, closed hours, a flow's hang-up) is
///   completed;
/// * anything else is the customer's abandon (放棄).
pub fn end(c: &Current, req: &EndRequest) -> Result<Ending, LifecycleError> {
    let status = still_going(c, req.agent)?;
    let reason = req.reason.as_deref();
    let leave_router = status != ContactStatus::Ivr;
    let ending = if status == ContactStatus::Connected {
        Ending {
            status: ContactStatus::WrapUp,
            event: EventKind::Ended,
            event_agent: c.agent,
            end_reason: req.reason.clone(),
            leave_router,
            complete_now: req.no_wrap_up,
        }
    } else if reason.is_some_and(is_interruption)
        || (req.by_user.is_some() && reason != Some(CUSTOMER_LEFT))
    {
        Ending {
            status: ContactStatus::Interrupted,
            event: EventKind::Interrupted,
            event_agent: None,
            end_reason: Some(reason.unwrap_or("cancelled").into()),
            leave_router,
            complete_now: false,
        }
    } else if status == ContactStatus::Ivr && !matches!(reason, Some("caller_hangup_ivr") | None) {
        Ending {
            status: ContactStatus::Completed,
            event: EventKind::Ended,
            event_agent: None,
            end_reason: req.reason.clone(),
            leave_router,
            complete_now: false,
        }
    } else {
        Ending {
            status: ContactStatus::Abandoned,
            event: EventKind::Abandoned,
            event_agent: None,
            end_reason: Some(reason.unwrap_or("cancelled").into()),
            leave_router,
            complete_now: false,
        }
    };
    Ok(ending)
}

/// What an agent's wrap-up (disposition, note) does to a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapUp {
    /// After-call work ends now: the router frees the agent, the contact completes.
    Complete,
    /// The wrap-up timer already completed it: the disposition is recorded late.
    LateDisposition,
    /// Completed already, and nothing new to record.
    Nothing,
}

/// Only the agent who handled a contact wraps it up.
pub fn handled_by(c: &Current, agent: i64) -> Result<(), LifecycleError> {
    if c.agent == Some(agent) {
        Ok(())
    } else {
        Err(LifecycleError::NotHandledBy {
            contact: c.id,
            agent,
        })
    }
}

/// An agent wraps up a contact (still talking: the caller ends it first, see [`end`]).
/// `disposition`: the agent gives one now.
pub fn wrap_up(c: &Current, agent: i64, disposition: bool) -> Result<WrapUp, LifecycleError> {
    handled_by(c, agent)?;
    match c.status {
        ContactStatus::WrapUp => Ok(WrapUp::Complete),
        // A disposition given once is not replaced by a late one.
        ContactStatus::Completed if !c.has_disposition && disposition => {
            Ok(WrapUp::LateDisposition)
        }
        ContactStatus::Completed if !disposition => Ok(WrapUp::Nothing),
        _ => Err(LifecycleError::NotInWrapUp { contact: c.id }),
    }
}
