//! # tsunagu-contact — the contact lifecycle, sans-IO
//!
//! What becomes of each contact — created, queued, offered, connected, wrapped up, ended,
//! recovered — decided from values and the time, with no database, runtime or clock. The
//! tenant actor in `crates/runtime` is its shell: it reads what a decision needs from the
//! store, asks this crate, writes the result in one transaction and publishes it.
//!
//! Layout:
//!
//! * `center` — the state machine: [`center::Center`] owns the tenant's ACD router and its
//!   open contacts ([`center::Contact`]) and takes every command that moves a contact —
//!   from screens and the API (create, accept, reject, end, wrap up, transfer), from calls
//!   (a call's contact in the IVR, queued, answered, connected, hung up; callbacks,
//!   voicemails, handovers, click-to-call), from time (offers unanswered, maximum waits,
//!   wrap-up timers) and from a rebuild (stored contacts put back).
//! * `lifecycle` — the rules of ending and wrapping up a contact: which request a contact
//!   in a given state may take, and its next status, timeline event and reason.
//! * `routing` — what each decision of the ACD router (offer, withdrawal, no-answer,
//!   requeue, overflow, maximum wait, wrap-up timer) makes of its contact.
//! * `recovery` — crash recovery and run-time resynchronisation as one pure function:
//!   a stored contact and the kind of rebuild in, what to do with it out.
//!
//! ## Drive contract
//!
//! The shell (the tenant actor in `crates/runtime`) owns one [`center::Center`] per
//! tenant. For each command: read what the command needs from storage (a fresh id, a
//! contact no longer open, the tenant's dispositions), call the `handle_*` method with the
//! current time (Unix ms); a refusal ([`center::ContactError`]) changed nothing. Then drain
//! [`center::Center::poll_effect`] (timeline events, notices for agents' screens, orders
//! for calls, agents made not-ready), take [`center::Center::take_touched`] (records to
//! write) and [`center::Center::take_touched_agents`], write them in one transaction, and
//! only then publish and call [`center::Center::forget_closed`]. Call
//! [`center::Center::handle_timeout`] when [`center::Center::poll_timeout`] is due, and
//! [`center::Center::handle_router_changed`] after changing the router's configuration
//! through [`center::Center::router_mut`]. Time is only ever an argument.

pub mod center;
pub mod lifecycle;
pub mod recovery;
pub mod routing;

pub use recovery::{recover, Rebuild, Recovery, Stored};
