//! # tsunagu-runtime — the contact center at run time, without HTTP
//!
//! Thin tokio shells around the sans-IO cores:
//!
//! * `center` — one actor task per tenant owns the ACD router (`tsunagu-acd`) and the
//!   tenant's open contacts; it turns commands and timer deadlines into router inputs,
//!   the router's actions into rows, commits each step before answering, and publishes
//!   live events (typed: the API crate gives them their JSON shape). It also rebuilds
//!   everything from the database at start (crash recovery, `tsunagu-contact`).
//! * `telephony` — the SIP server, the media engine and the voice switch (`tsunagu-voice`)
//!   driven by one shell task; flows, prompts, recordings, the phone directory.
//! * `reports` — KPI reports from stored events via `tsunagu_domain::kpi`.
//! * `housekeeping` — periodic clean-up (expired sessions).
//!
//! Architecture invariant: nothing here knows HTTP or the API's JSON shapes (no axum,
//! utoipa or DTOs); `tsunagu-api` is built on top of this crate, never the other way.

pub mod center;
pub mod housekeeping;
pub mod reports;
pub mod telephony;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide Prometheus recorder (installed once, shared by every server in the
/// process, e.g. in tests).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding program).
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
