//! # tsunagu-voice — call control
//!
//! The switch is the B2BUA's brain, written sans-IO in the manner of quinn-proto: the shell
//! feeds it SIP events ([`SipIn`]), media events, contact-center answers ([`CenterIn`]) and
//! time; it answers with [`Out`] values (SIP commands, media commands, contact-center
//! bookkeeping) and the next deadline ([`Switch::poll_timeout`]).
//!
//! * `io` — the vocabulary between the switch and its shell.
//! * `switch` — one state machine per call: IVR, queueing with music and announcements,
//!   ringing agents, bridging, hold, transfer, monitoring, recording, voicemail, callback.
//!
//! Architecture invariant: this crate knows neither sockets, nor tokio, nor SQL, nor the
//! SIP stack's types; every fact it needs comes in as a value and every effect goes out as one.

pub mod io;
pub mod switch;

pub use io::*;
pub use switch::{Switch, SwitchConfig};
