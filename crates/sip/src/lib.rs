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
//! * `info` — keys sent as SIP INFO bodies (`application/dtmf-relay`, `application/dtmf`).
//! * `refer` — the `Refer-To` of a REFER, in every legal form.
//! * `body` — the SDP of a message body: bare `application/sdp` or a multipart part.

/// The digest realm of phone accounts. Stored credentials are HA1 hashes that include the
/// realm, so it is fixed: changing it would invalidate every phone password.
pub const REALM: &str = "tsunagu";

pub mod body;
pub mod caller;
pub mod digest;
pub mod info;
pub mod refer;
pub mod registrar;
pub mod server;

#[cfg(test)]
mod parse_fuzz;

pub use refer::{ReferTo, ReferToError};
pub use registrar::{Binding, Registrar, Transport};
pub use server::{
    start, DialTarget, Directory, EndCause, LegId, SipAccount, SipConfig, SipEvent, SipHandle,
    SipTls, TrunkAuth, TrunkHealth, TrunkMatch, TrunkRegistration, TrunkRegistrationStatus,
    EVENT_QUEUE, INCOMING_LEG_BASE,
};
