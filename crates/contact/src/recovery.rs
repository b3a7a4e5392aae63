//! Rebuilding a tenant's contacts from the store: at start-up (crash recovery) and at run
//! time (resynchronisation). The two differ in one thing only: whether calls survived.
//!
//! * At start-up no call survived (their media died with the process). A call a caller and
//!   an agent were talking on goes to after-call work, so the agent can still record its
//!   outcome; callers in the IVR or waiting are closed as interrupted (`server_restart`,
//!   中断 — the center's doing, not an abandon). A callback request has no call yet: it
//!   waits again like any contact.
//! * At run time every call goes on, so every contact is restored where the store has it.
//!
//! Either way, a contact whose queue is gone is closed (`queue_removed`), an offered
//! contact waits again (its offer is not in the rebuilt router), and a contact with an
//! agent keeps it, connected or in after-call work since when it was.

use tsunagu_acd::Channel;
use tsunagu_domain::contact::ContactStatus;

/// How the tenant's state is rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rebuild {
    /// Crash recovery when the process starts: no call survived it.
    Startup,
    /// Resynchronisation while the process and its calls go on (after the database
    /// refused a step, or a panic in the actor).
    Resync,
}

/// What recovery needs of a stored open contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub status: ContactStatus,
    pub channel: Channel,
    /// Its queue still exists.
    pub queue_known: bool,
    pub agent: Option<i64>,
    /// Unix ms.
    pub answered_at: Option<i64>,
    /// Unix ms.
    pub ended_at: Option<i64>,
    /// It is a callback request (it carries a number to call back).
    pub callback: bool,
}

/// What to do with one stored open contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing: it is not open.
    Unchanged,
    /// It waits in its queue again. `requeued`: it was offered, and the offer is gone
    /// (stored as queued again, with a `recovered` event, action `requeued`).
    Wait { requeued: bool },
    /// Its agent keeps it, connected since `since` (Unix ms).
    Connected { agent: Option<i64>, since: i64 },
    /// Its agent keeps it in after-call work since `since` (Unix ms). `call_ended`: it was
    /// a call being talked on when the process stopped — stored as wrap-up, ended now with
    /// `server_restart`, with `recovered` (action `call_ended`) and `ended` events.
    WrapUp {
        agent: Option<i64>,
        since: i64,
        call_ended: bool,
    },
    /// It is closed now, with `reason`: `completed` when an agent had talked to the
    /// customer (after-call work done now, an `ended` event), otherwise interrupted (an
    /// `interrupted` event). A `recovered` event (action `closed`) comes first.
    Close {
        completed: bool,
        reason: &'static str,
    },
}

/// What to do with `c` when the tenant's state is rebuilt at `now` (Unix ms).
pub fn recover(c: &Stored, mode: Rebuild, now: i64) -> Recovery {
    let calls_survived = mode == Rebuild::Resync;
    let voice = c.channel == Channel::Voice;
    let talking = c.status == ContactStatus::Connected && c.answered_at.is_some();
    // A call being talked on ends; the conversation goes to after-call work.
    if voice && !calls_survived && talking && c.queue_known && c.agent.is_some() {
        return Recovery::WrapUp {
            agent: c.agent,
            since: now,
            call_ended: true,
        };
    }
    let close_call = voice
        && !calls_survived
        && match c.status {
            ContactStatus::Ivr | ContactStatus::Connected => true,
            ContactStatus::Queued | ContactStatus::Offered => !c.callback,
            _ => false,
        };
    if !c.queue_known || close_call {
        let reason = if c.queue_known || c.status == ContactStatus::Ivr {
            "server_restart"
        } else {
            "queue_removed"
        };
        return Recovery::Close {
            completed: talking,
            reason,
        };
    }
    match c.status {
        ContactStatus::Queued => Recovery::Wait { requeued: false },
        ContactStatus::Offered => Recovery::Wait { requeued: true },
        ContactStatus::Connected => Recovery::Connected {
            agent: c.agent,
            since: c.answered_at.unwrap_or(now),
        },
        ContactStatus::WrapUp => Recovery::WrapUp {
            agent: c.agent,
            since: c.ended_at.unwrap_or(now),
            call_ended: false,
        },
        _ => Recovery::Unchanged,
    }
}
