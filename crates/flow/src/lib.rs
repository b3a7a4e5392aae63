//! # tsunagu-flow — call flows (IVR)
//!
//! * `model` — the TOML file format: nodes (play, menu, collect, hours, set, http, branch,
//!   language, queue, callback, voicemail, hangup) and calendars.
//! * `load` — parsing and checking a file; every error carries `file:line:column`.
//! * `calendar` — business hours and holidays in the calendar's time zone.
//! * `run` — the sans-IO interpreter: [`run::Run`] turns inputs (prompt done, key, HTTP
//!   answer, max wait) and time into steps (play, enqueue, look up, hang up, log).
//!
//! ## Drive contract
//!
//! [`Run::start`] once, then [`Run::handle`] for each input, with the current time in ms.
//! After each, drain [`Run::poll_step`] until `None`; arm a timer for [`Run::poll_timeout`]
//! and call [`Run::handle_timeout`] when it passes (and drain again). A run reads no clock.

pub mod calendar;
pub mod load;
pub mod model;
pub mod run;

pub use load::{load, Checks, Flow, FlowError, FlowErrors, NumberRefused};
pub use run::{Input, LookupError, Run, Step};
