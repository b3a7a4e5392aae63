//! # tsunagu-sip — SIP for Tsunagu
//!
//! The SIP stack is [rsipstack](https://crates.io/crates/rsipstack) (pinned): transports,
//! RFC 3261 transactions and dialogs. This crate wraps it behind Tsunagu's own interface so
//! the call logic never sees SIP types: it receives [`SipEvent`]s (a call arrives, a leg
//! rings, answers, ends, sends new SDP, DTMF or a REFER) and gives commands through
//! [`SipHandle`] (answer, reject, dial, hang up, answer an update).
//!
//! * `server` — the shell: endpoint, incoming requests, dialog state, commands.
//! * `registrar` — phones' registrations (in memory, with expiry, several per account).
//! * `digest` — server-side digest authentication with stateless nonces.

/// The digest realm of phone accounts. Stored credentials are HA1 hashes that include the
/// realm, so it is fixed: changing it would invalidate every phone password.
pub const REALM: &str = "tsunagu";

pub mod digest;
pub mod registrar;
pub mod server;

#[cfg(test)]
mod parse_fuzz;

pub use registrar::{Binding, Registrar, Transport};
pub use server::{
    start, DialTarget, Directory, EndCause, LegId, SipAccount, SipConfig, SipEvent, SipHandle,
    SipTls, TrunkAuth, TrunkHealth, TrunkMatch, TrunkRegistration, TrunkRegistrationStatus,
    INCOMING_LEG_BASE,
};
