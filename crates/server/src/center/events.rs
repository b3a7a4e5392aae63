//! Live events: what the center tells screens (agents' desktops, supervisors' wallboards)
//! over the WebSocket. Published only after the change they describe has been committed.

use serde::Serialize;
use tsunagu_store::rows::ContactRow;

use crate::dto::{AgentStateView, ContactView};

/// Who may see an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Supervisors and admins of the tenant, plus these agents.
    Agents(Vec<i64>),
    /// Supervisors and admins only.
    Supervisors,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
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
    /// Something asked of a call did not happen after all: a consulted or monitoring
    /// phone, a transfer target or a click-to-call leg did not answer. `action` is the
    /// timeline event that records it (`consult`, `monitor`, `ringing`), `data` its details
    /// (`sip_code`, `reason`, …).
    CallFailed {
        contact_id: i64,
        /// The agent (or supervisor) concerned.
        agent_id: Option<i64>,
        action: String,
        #[schema(value_type = Object)]
        data: serde_json::Value,
    },
}

#[derive(Clone, Debug)]
pub struct Envelope {
    pub audience: Audience,
    pub event: LiveEvent,
}

impl Envelope {
    pub fn visible_to(&self, agent_id: Option<i64>, supervisor: bool) -> bool {
        supervisor
            || match (&self.audience, agent_id) {
                (Audience::Agents(list), Some(a)) => list.contains(&a),
                _ => false,
            }
    }

    pub fn contact(row: &ContactRow, extra_agents: &[i64]) -> Envelope {
        let mut agents: Vec<i64> = row.agent_id.into_iter().collect();
        for &a in extra_agents {
            if !agents.contains(&a) {
                agents.push(a);
            }
        }
        Envelope {
            audience: Audience::Agents(agents),
            event: LiveEvent::Contact {
                contact: ContactView::from(row),
            },
        }
    }
}
