//! Live events: what the center tells screens (agents' desktops, supervisors' wallboards).
//! Published only after the change they describe has been committed. They are typed here;
//! the API crate gives them their JSON shape on the WebSocket.

use tsunagu_acd::{AgentStatus, Presence};
use tsunagu_store::rows::ContactRow;

/// Who may see an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Supervisors and admins of the tenant, plus these agents.
    Agents(Vec<i64>),
    /// Supervisors and admins only.
    Supervisors,
}

/// An agent's state as the center knows it (presence chosen, status doing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentState {
    pub agent_id: i64,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    /// What the agent chose.
    pub presence: Presence,
    /// Not-ready reason code, e.g. `break`.
    pub reason: Option<String>,
    /// What the agent is doing.
    pub status: AgentStatus,
    /// Since when (Unix ms).
    pub since_ms: i64,
}

#[derive(Clone, Debug)]
pub enum LiveEvent {
    /// A contact is offered to this agent: ring / pop it up until `expires_at_ms`.
    Offer {
        agent_id: i64,
        /// Unix ms.
        expires_at_ms: i64,
        contact: Box<ContactRow>,
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
    Contact { contact: Box<ContactRow> },
    /// An agent's presence or status changed.
    AgentState { state: AgentState },
    /// Something asked of a call did not happen after all: a consulted or monitoring
    /// phone, a transfer target or a click-to-call leg did not answer. `action` is the
    /// timeline event that records it (`consult`, `monitor`, `ringing`), `data` its details
    /// (`sip_code`, `reason`, …) as stored on the timeline.
    CallFailed {
        contact_id: i64,
        /// The agent (or supervisor) concerned.
        agent_id: Option<i64>,
        action: String,
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
                contact: Box::new(row.clone()),
            },
        }
    }
}
