//! # tsunagu-contact — the contact lifecycle, sans-IO
//!
//! What becomes of each contact — created, queued, offered, connected, wrapped up, ended,
//! recovered — decided from values and the time, with no database, runtime or clock. The
//! tenant actor in `crates/runtime` is its shell: it reads what a decision needs from the
//! store, asks this crate, writes the result in one transaction and publishes it.
//!
//! The lifecycle moves here piece by piece, each with its own tests (see the plan in
//! ARCHITECTURE.md, "Where what comes next goes"). Today:
//!
//! * `recovery` — crash recovery and run-time resynchronisation as one pure function:
//!   a stored contact and the kind of rebuild in, what to do with it out.
//! * `routing` — what each decision of the ACD router (offer, withdrawal, no-answer,
//!   requeue, overflow, maximum wait, wrap-up timer) makes of its contact: the record, the
//!   timeline, the agent's screen, the call.
//! * `lifecycle` — the rules of ending and wrapping up a contact: which request a contact
//!   in a given state may take, and its next status, timeline event and reason.
//!
//! ## Drive contract
//!
//! Pure functions so far: call [`recovery::recover`] for each open contact the store holds
//! when the tenant's state is rebuilt, with the rebuild's kind and the current time (ms),
//! and carry out the [`recovery::Recovery`] it returns; call [`lifecycle::end`],
//! [`lifecycle::handled_by`] and [`lifecycle::wrap_up`] before changing a contact for such
//! a request, and carry out the answer (or refuse the request with its error); call
//! [`routing::routed`] for each action the router's `poll_action` gives, and carry out the
//! [`routing::Routed`] in its field order (record, timeline, screen, call, agent). It keeps no state between calls;
//! when the lifecycle's state machine lands here it will take `handle_*` inputs and give
//! `poll_*` outputs like the other cores.

pub mod lifecycle;
pub mod recovery;
pub mod routing;

pub use recovery::{recover, Rebuild, Recovery, Stored};
