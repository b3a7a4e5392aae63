//! Translation between stored rows and the router's configuration types.

use serde::{Deserialize, Serialize};
use tsunagu_acd::{
    AgentConfig, AgentId, Capacity, Membership, QueueConfig, QueueId, RelaxStep, SkillId,
    SkillRequirement, Strategy,
};
use tsunagu_contact::center::{Contact, QueueRules};
use tsunagu_domain::contact::{ContactStatus, Direction};
use tsunagu_store::rows::{AgentFull, ContactRow, QueueRow};

/// A required skill as the database stores it (the API's body has the same fields): the minimum level relaxes in
/// steps over waiting time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub skill_id: i64,
    /// e.g. `[{"after_secs":0,"min_level":4},{"after_secs":30,"min_level":2},{"after_secs":60,"min_level":0}]`
    pub steps: Vec<Step>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub after_secs: i64,
    /// 0 = the skill is no longer required.
    pub min_level: u8,
}

impl Requirement {
    pub fn to_router(&self) -> SkillRequirement {
        SkillRequirement {
            skill: SkillId(self.skill_id as u64),
            steps: self
                .steps
                .iter()
                .map(|s| RelaxStep {
                    after_ms: s.after_secs * 1000,
                    min_level: s.min_level,
                })
                .collect(),
        }
    }
}

/// A stored row the router cannot take.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("stored requirements are unreadable: {0}")]
    Requirements(#[from] serde_json::Error),
    #[error("queue {queue}: unknown strategy {strategy}")]
    Strategy { queue: i64, strategy: String },
}

pub fn parse_requirements(json: &str) -> Result<Vec<Requirement>, MappingError> {
    Ok(serde_json::from_str(json)?)
}

pub fn router_requirements(json: &str) -> Result<Vec<SkillRequirement>, MappingError> {
    Ok(parse_requirements(json)?
        .iter()
        .map(Requirement::to_router)
        .collect())
}

/// A queue row as router configuration. `with_overflow: false` leaves the overflow target
/// out, so queues can be created before the queues they overflow into.
pub fn queue_config(row: &QueueRow, with_overflow: bool) -> Result<QueueConfig, MappingError> {
    let strategy = Strategy::parse(&row.strategy).ok_or_else(|| MappingError::Strategy {
        queue: row.id,
        strategy: row.strategy.clone(),
    })?;
    Ok(QueueConfig {
        id: QueueId(row.id as u64),
        strategy,
        priority: row.priority as i32,
        max_wait_ms: row.max_wait_secs.map(|s| s * 1000),
        overflow: if with_overflow {
            row.overflow_queue_id.map(|q| QueueId(q as u64))
        } else {
            None
        },
        wrap_up_ms: row.wrap_up_secs.map(|s| s * 1000),
        no_answer_timeout_ms: row.no_answer_timeout_secs * 1000,
        max_no_answers: row.max_no_answers as u32,
        requirements: router_requirements(&row.requirements)?,
    })
}

pub fn agent_config(a: &AgentFull) -> AgentConfig {
    let cap = |v: i64| v.clamp(0, 255) as u8;
    AgentConfig {
        id: AgentId(a.agent.id as u64),
        skills: a
            .skills
            .iter()
            .map(|&(s, l)| (SkillId(s as u64), l.clamp(1, 5) as u8))
            .collect(),
        capacity: Capacity {
            voice: cap(a.agent.capacity_voice),
            chat: cap(a.agent.capacity_chat),
            email: cap(a.agent.capacity_email),
            task: cap(a.agent.capacity_task),
        },
        queues: a
            .queues
            .iter()
            .map(|&(q, p)| Membership {
                queue: QueueId(q as u64),
                position: p.clamp(0, u32::MAX as i64) as u32,
            })
            .collect(),
    }
}

/// What a queue's row means for its contacts, for the contact core.
pub fn queue_rules(row: &QueueRow) -> QueueRules {
    QueueRules {
        record_calls: row.record_calls,
        wrap_up_secs: row.wrap_up_secs,
    }
}

/// A stored contact as the contact core keeps it. What no longer parses (a status or
/// channel written by a newer version) is read as a waiting task: recovery then decides.
pub fn contact_of_row(r: &ContactRow) -> Contact {
    Contact {
        id: r.id,
        channel: tsunagu_acd::Channel::parse(&r.channel).unwrap_or(tsunagu_acd::Channel::Task),
        direction: Direction::parse(&r.direction).unwrap_or(Direction::Inbound),
        status: ContactStatus::parse(&r.status).unwrap_or(ContactStatus::Queued),
        queue_id: r.queue_id,
        customer_id: r.customer_id,
        agent_id: r.agent_id,
        priority: r.priority,
        subject: r.subject.clone(),
        customer_address: r.customer_address.clone(),
        attributes: r.attributes.clone(),
        requirements: r.requirements.clone(),
        created_at: r.created_at,
        queued_at: r.queued_at,
        queue_entered_at: r.queue_entered_at,
        offered_at: r.offered_at,
        answered_at: r.answered_at,
        ended_at: r.ended_at,
        acw_done_at: r.acw_done_at,
        end_reason: r.end_reason.clone(),
        disposition_code: r.disposition_code.clone(),
        updated_at: r.updated_at,
    }
}

/// The contact core's contact as the tenant's stored row.
pub fn row_of(c: &Contact, tenant_id: i64) -> ContactRow {
    ContactRow {
        id: c.id,
        tenant_id,
        channel: c.channel.as_str().into(),
        direction: c.direction.as_str().into(),
        status: c.status.as_str().into(),
        queue_id: c.queue_id,
        customer_id: c.customer_id,
        agent_id: c.agent_id,
        priority: c.priority,
        subject: c.subject.clone(),
        customer_address: c.customer_address.clone(),
        attributes: c.attributes.clone(),
        requirements: c.requirements.clone(),
        created_at: c.created_at,
        queued_at: c.queued_at,
        queue_entered_at: c.queue_entered_at,
        offered_at: c.offered_at,
        answered_at: c.answered_at,
        ended_at: c.ended_at,
        acw_done_at: c.acw_done_at,
        end_reason: c.end_reason.clone(),
        disposition_code: c.disposition_code.clone(),
        updated_at: c.updated_at,
    }
}
