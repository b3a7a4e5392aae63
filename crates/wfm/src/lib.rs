//! # tsunagu-wfm — workforce management, starting with the digital twin
//!
//! * `twin` — the center in simulated time: `tsunagu_acd::sim` makes the traffic and drives
//!   the real router; each contact's lifecycle is decided by the real contact core
//!   (`tsunagu_contact::lifecycle`) and its timeline is read by the real KPI code
//!   (`tsunagu_domain::kpi::live`). What the twin says about a staffing plan is therefore
//!   what the center would report, not a second model of it. No database, no clock.
//!
//! Forecasts, Erlang C and staffing plans will live beside it (ARCHITECTURE.md, "Where
//! what comes next goes").
//!
//! ## Drive contract
//!
//! [`twin::Twin::run_until`] advances simulated time; it polls the router's deadline and the
//! simulation's next event itself, so nothing else is to be drained. Read the figures with
//! [`twin::Twin::kpis`] at any simulated time it has reached.

pub mod twin;
