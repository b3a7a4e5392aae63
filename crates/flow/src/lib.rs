//! # tsunagu-flow — call flows (IVR)
//!
//! * `model` — the TOML file format: nodes (play, menu, collect, hours, set, http, branch,
//!   language, queue, callback, voicemail, hangup) and calendars.
//! * `load` — parsing and checking a file; every error carries `file:line:column`.
//! * `calendar` — business hours and holidays in the calendar's time zone.
//! * `run` — the sans-IO interpreter: [`run::Run`] turns inputs (prompt done, key, HTTP
//!   answer, max wait) and time into steps (play, enqueue, look up, hang up, log).

pub mod calendar;
pub mod load;
pub mod model;
pub mod run;

pub use load::{load, Checks, Flow, FlowError, FlowErrors};
pub use run::{Input, Run, Step};
