//! The JSON shapes of the live event stream (`GET /api/events`) and of the runtime's typed
//! pictures (agent states, telephony figures). The runtime publishes typed values; this is
//! the one place that decides how they look on the wire.

use serde::Serialize;
use tsunagu_runtime::center::events::{AgentState, LiveEvent};
use tsunagu_runtime::telephony::{TelephonyStats, TrunkHealth, TrunkStatus};
use utoipa::ToSchema;

use super::{ts, AgentStateView, ContactView};

impl From<&AgentState> for AgentStateView {
    fn from(a: &AgentState) -> Self {
        AgentStateView {
            agent_id: a.agent_id,
            user_id: a.user_id,
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            presence: a.presence.as_str().into(),
            reason: a.reason.clone(),
            status: a.status.as_str().into(),
            since: ts(a.since_ms),
        }
    }
}

/// One message of the live stream; `type` tells which.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEventView {
    /// A contact is offered to this agent: ring / pop it up until `expires_at`.
    Offer {
        agent_id: i64,
        /// RFC 3339.
        expires_at: String,
        contact: ContactView,
    },
    /// The offer no longer stands (taken elsewhere, contact ended, agent went not-ready).
    OfferWithdrawn {
        agent_id: i64,
        contact_id: i64,
        reason: String,
    },
    /// The agent did not answer in time.
    OfferTimedOut { agent_id: i64, contact_id: i64 },
    /// A contact changed (status, queue, agent, times).
    Contact { contact: ContactView },
    /// An agent's presence or status changed.
    AgentState { state: AgentStateView },
    /// Something asked of a call did not happen after all (see the runtime's `LiveEvent`).
    CallFailed {
        contact_id: i64,
        agent_id: Option<i64>,
        action: String,
        data: serde_json::Value,
    },
}

impl From<&LiveEvent> for LiveEventView {
    fn from(e: &LiveEvent) -> Self {
        match e {
            LiveEvent::Offer {
                agent_id,
                expires_at_ms,
                contact,
            } => LiveEventView::Offer {
                agent_id: *agent_id,
                expires_at: ts(*expires_at_ms),
                contact: ContactView::from(&**contact),
            },
            LiveEvent::OfferWithdrawn {
                agent_id,
                contact_id,
                reason,
            } => LiveEventView::OfferWithdrawn {
                agent_id: *agent_id,
                contact_id: *contact_id,
                reason: reason.clone(),
            },
            LiveEvent::OfferTimedOut {
                agent_id,
                contact_id,
            } => LiveEventView::OfferTimedOut {
                agent_id: *agent_id,
                contact_id: *contact_id,
            },
            LiveEvent::Contact { contact } => LiveEventView::Contact {
                contact: ContactView::from(&**contact),
            },
            LiveEvent::AgentState { state } => LiveEventView::AgentState {
                state: AgentStateView::from(state),
            },
            LiveEvent::CallFailed {
                contact_id,
                agent_id,
                action,
                data,
            } => LiveEventView::CallFailed {
                contact_id: *contact_id,
                agent_id: *agent_id,
                action: action.clone(),
                data: data.clone(),
            },
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = TelephonyStats)]
pub struct TelephonyStatsView {
    pub calls: usize,
    pub legs: usize,
    /// New calls and registrations refused with 503 since start: at `max_calls`, the
    /// center's bookkeeping behind, or SIP events waiting for the shell at their limit.
    pub refused_calls: u64,
    /// Registrations with providers, per trunk that registers.
    pub trunks: Vec<TrunkStatusView>,
    /// Whether each trunk's provider answers OPTIONS.
    pub trunk_health: Vec<TrunkHealthView>,
}

/// Whether a trunk's provider answers (OPTIONS keep-alive).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrunkHealthView {
    pub trunk: String,
    /// reachable or unreachable.
    pub state: String,
    /// The last answer's status (0: none).
    pub code: u16,
    pub rtt_ms: Option<u64>,
    /// When last checked (RFC 3339).
    pub at: String,
}

/// How a trunk's registration with its provider stands.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = TrunkStatus)]
pub struct TrunkStatusView {
    pub trunk: String,
    /// trying, registered, rejected or unreachable.
    pub state: String,
    /// The provider's last status code (0: none yet).
    pub code: u16,
    /// Seconds granted (when registered).
    pub expires: Option<u32>,
    /// When this was last confirmed or changed (RFC 3339).
    pub at: String,
}

impl From<&TelephonyStats> for TelephonyStatsView {
    fn from(s: &TelephonyStats) -> Self {
        TelephonyStatsView {
            calls: s.calls,
            legs: s.legs,
            refused_calls: s.refused_calls,
            trunks: s.trunks.iter().map(TrunkStatusView::from).collect(),
            trunk_health: s.trunk_health.iter().map(TrunkHealthView::from).collect(),
        }
    }
}

impl From<&TrunkStatus> for TrunkStatusView {
    fn from(t: &TrunkStatus) -> Self {
        TrunkStatusView {
            trunk: t.trunk.clone(),
            state: t.state.clone(),
            code: t.code,
            expires: t.expires,
            at: ts(t.at_ms),
        }
    }
}

impl From<&TrunkHealth> for TrunkHealthView {
    fn from(h: &TrunkHealth) -> Self {
        TrunkHealthView {
            trunk: h.trunk.clone(),
            state: h.state.clone(),
            code: h.code,
            rtt_ms: h.rtt_ms,
            at: ts(h.at_ms),
        }
    }
}
