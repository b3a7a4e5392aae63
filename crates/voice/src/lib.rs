//! # tsunagu-voice — call control
//!
//! The switch is the B2BUA's brain, written sans-IO in the manner of quinn-proto: the shell
//! feeds it SIP events ([`SipIn`]), media events, contact-center answers ([`CenterIn`]) and
//! time; it answers with [`Out`] values (SIP commands, media commands, contact-center
//! bookkeeping) and the next deadline ([`Switch::poll_timeout`]).
//!
//! * `io` — the vocabulary between the switch and its shell.
//! * `error` — [`CallError`], why a request on a call is refused.
//! * `sim` — a synthetic call load for the switch alone (benchmark, equivalence test).
//! * `switch` — one state machine per call: IVR, queueing with music and announcements,
//!   ringing agents, bridging, hold, transfer, monitoring, recording, voicemail, callback.
//!
//! ## Drive contract
//!
//! * Inputs, each with the current time in ms: [`Switch::handle_sip`], [`Switch::handle_media`],
//!   [`Switch::handle_center`], [`Switch::handle_leg_ready`], [`Switch::handle_located`],
//!   [`Switch::handle_http`], [`Switch::handle_offer`], [`Switch::start_outbound`].
//! * After every input, drain [`Switch::poll_output`] until it returns `None` and carry the
//!   outputs out in order; then ask [`Switch::poll_timeout`] for the next deadline and call
//!   [`Switch::handle_timeout`] once it has passed (and drain again).
//! * Time never goes backwards between inputs; the switch reads no clock of its own.
//!
//! Architecture invariant: this crate knows neither sockets, nor tokio, nor SQL, nor the
//! SIP stack's types; every fact it needs comes in as a value and every effect goes out as one.

pub mod error;
pub mod io;
pub mod sim;
pub mod switch;

pub use error::CallError;
pub use io::*;
pub use switch::{Switch, SwitchConfig};
