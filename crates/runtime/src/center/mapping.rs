//! Translation between stored rows and the router's configuration types.

use serde::{Deserialize, Serialize};
use tsunagu_acd::{
    AgentConfig, AgentId, Capacity, Membership, QueueConfig, QueueId, RelaxStep, SkillId,
    SkillRequirement, Strategy,
};
use tsunagu_store::rows::{AgentFull, QueueRow};

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
