//! What the API shows: resources as JSON, separate from how they are stored. Times are
//! RFC 3339 UTC strings; JSON stored as text is shown as JSON.

use serde::Serialize;
use serde_json::Value;
use tsunagu_domain::contact::{ContactStatus, EventKind};
use tsunagu_store::rows::*;
use utoipa::ToSchema;

use tsunagu_runtime::center::mapping::{parse_requirements, Requirement};

pub mod live;

/// Unix milliseconds as RFC 3339 (UTC, millisecond precision).
pub use tsunagu_domain::time::rfc3339_ms as ts;

/// How the OpenAPI document describes a skill requirement. Bodies are read into the
/// runtime's `Requirement` (the stored format, which has exactly these fields).
#[derive(ToSchema)]
#[schema(as = Requirement)]
#[allow(dead_code)] // a description only: never built
pub struct RequirementSchema {
    pub skill_id: i64,
    /// e.g. `[{"after_secs":0,"min_level":4},{"after_secs":30,"min_level":2},{"after_secs":60,"min_level":0}]`
    pub steps: Vec<StepSchema>,
}

#[derive(ToSchema)]
#[schema(as = Step)]
#[allow(dead_code)] // a description only: never built
pub struct StepSchema {
    pub after_secs: i64,
    /// 0 = the skill is no longer required.
    pub min_level: u8,
}

fn ots(ms: Option<i64>) -> Option<String> {
    ms.map(ts)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub id: i64,
    /// voice, chat, email or task
    pub channel: String,
    /// inbound or outbound
    pub direction: String,
    /// queued, offered, connected, wrap_up, completed, abandoned, timed_out
    pub status: String,
    /// The status in Japanese (待ち呼, 対応中, …).
    pub status_ja: String,
    pub queue_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub priority: i64,
    pub subject: Option<String>,
    pub customer_address: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: Value,
    #[schema(value_type = Vec<RequirementSchema>)]
    pub requirements: Vec<Requirement>,
    pub created_at: String,
    pub queued_at: Option<String>,
    pub queue_entered_at: Option<String>,
    pub offered_at: Option<String>,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub acw_done_at: Option<String>,
    pub end_reason: Option<String>,
    pub disposition_code: Option<String>,
}

impl From<&ContactRow> for ContactView {
    fn from(c: &ContactRow) -> Self {
        ContactView {
            id: c.id,
            channel: c.channel.clone(),
            direction: c.direction.clone(),
            status: c.status.clone(),
            status_ja: ContactStatus::parse(&c.status)
                .map(|s| s.label_ja())
                .unwrap_or("")
                .to_string(),
            queue_id: c.queue_id,
            customer_id: c.customer_id,
            agent_id: c.agent_id,
            priority: c.priority,
            subject: c.subject.clone(),
            customer_address: c.customer_address.clone(),
            attributes: json(&c.attributes),
            requirements: parse_requirements(&c.requirements).unwrap_or_default(),
            created_at: ts(c.created_at),
            queued_at: ots(c.queued_at),
            queue_entered_at: ots(c.queue_entered_at),
            offered_at: ots(c.offered_at),
            answered_at: ots(c.answered_at),
            ended_at: ots(c.ended_at),
            acw_done_at: ots(c.acw_done_at),
            end_reason: c.end_reason.clone(),
            disposition_code: c.disposition_code.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContactEventView {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub label_ja: String,
    pub queue_id: Option<i64>,
    pub agent_id: Option<i64>,
    /// What happened, by kind (null for events that carry nothing).
    #[schema(value_type = Option<Object>)]
    pub data: Value,
}

impl From<&ContactEventRow> for ContactEventView {
    fn from(e: &ContactEventRow) -> Self {
        ContactEventView {
            id: e.id,
            at: ts(e.at),
            kind: e.kind.clone(),
            label_ja: EventKind::parse(&e.kind)
                .map(|k| k.label_ja())
                .unwrap_or("")
                .to_string(),
            queue_id: e.queue_id,
            agent_id: e.agent_id,
            data: e.data.as_deref().map(json).unwrap_or(Value::Null),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NoteView {
    pub id: i64,
    pub contact_id: i64,
    pub author_user_id: i64,
    pub body: String,
    pub created_at: String,
}

impl From<&NoteRow> for NoteView {
    fn from(n: &NoteRow) -> Self {
        NoteView {
            id: n.id,
            contact_id: n.contact_id,
            author_user_id: n.author_user_id,
            body: n.body.clone(),
            created_at: ts(n.created_at),
        }
    }
}

/// A contact with its whole timeline and notes.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContactDetail {
    pub contact: ContactView,
    pub events: Vec<ContactEventView>,
    pub notes: Vec<NoteView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AgentStateView {
    pub agent_id: i64,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    /// offline, available or not_ready (what the agent chose)
    pub presence: String,
    /// Not-ready reason code, e.g. `break`.
    pub reason: Option<String>,
    /// offline, available, not_ready, offered, busy or acw (what the agent is doing)
    pub status: String,
    pub since: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CapacityView {
    pub voice: i64,
    pub chat: i64,
    pub email: i64,
    pub task: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SkillLevel {
    pub skill_id: i64,
    pub level: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QueueMembership {
    pub queue_id: i64,
    pub position: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub extension: Option<String>,
    pub capacity: CapacityView,
    pub skills: Vec<SkillLevel>,
    pub queues: Vec<QueueMembership>,
    pub presence: String,
    pub reason: Option<String>,
    pub status: String,
    pub status_since: String,
    /// The agent's phone account (SIP username) if one is set.
    pub phone_username: Option<String>,
}

impl From<&AgentFull> for AgentView {
    fn from(a: &AgentFull) -> Self {
        AgentView {
            id: a.agent.id,
            user_id: a.agent.user_id,
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            extension: a.agent.extension.clone(),
            capacity: CapacityView {
                voice: a.agent.capacity_voice,
                chat: a.agent.capacity_chat,
                email: a.agent.capacity_email,
                task: a.agent.capacity_task,
            },
            skills: a
                .skills
                .iter()
                .map(|&(skill_id, level)| SkillLevel { skill_id, level })
                .collect(),
            queues: a
                .queues
                .iter()
                .map(|&(queue_id, position)| QueueMembership { queue_id, position })
                .collect(),
            presence: a.agent.presence.clone(),
            reason: a.agent.reason.clone(),
            status: a.agent.status.clone(),
            status_since: ts(a.agent.status_since),
            phone_username: a.agent.sip_username.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ServiceLevelView {
    /// X: the percentage to reach.
    pub target_pct: i64,
    /// Y: answered within this many seconds.
    pub threshold_secs: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QueueView {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub strategy: String,
    pub priority: i64,
    pub service_level: ServiceLevelView,
    pub max_wait_secs: Option<i64>,
    pub overflow_queue_id: Option<i64>,
    /// null: after-call work lasts until the agent finishes it.
    pub wrap_up_secs: Option<i64>,
    pub no_answer_timeout_secs: i64,
    pub max_no_answers: i64,
    #[schema(value_type = Vec<RequirementSchema>)]
    pub requirements: Vec<Requirement>,
    /// Calls of this queue are recorded.
    pub record_calls: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&QueueRow> for QueueView {
    fn from(q: &QueueRow) -> Self {
        QueueView {
            id: q.id,
            name: q.name.clone(),
            display_name: q.display_name.clone(),
            strategy: q.strategy.clone(),
            priority: q.priority,
            service_level: ServiceLevelView {
                target_pct: q.sl_target_pct,
                threshold_secs: q.sl_threshold_secs,
            },
            max_wait_secs: q.max_wait_secs,
            overflow_queue_id: q.overflow_queue_id,
            wrap_up_secs: q.wrap_up_secs,
            no_answer_timeout_secs: q.no_answer_timeout_secs,
            max_no_answers: q.max_no_answers,
            requirements: parse_requirements(&q.requirements).unwrap_or_default(),
            record_calls: q.record_calls,
            created_at: ts(q.created_at),
            updated_at: ts(q.updated_at),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SkillView {
    pub id: i64,
    pub name: String,
    pub display_name: String,
}

impl From<&SkillRow> for SkillView {
    fn from(s: &SkillRow) -> Self {
        SkillView {
            id: s.id,
            name: s.name.clone(),
            display_name: s.display_name.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: String,
    /// The user's agent profile, if they take contacts.
    pub agent_id: Option<i64>,
}

impl UserView {
    pub fn new(u: &UserRow, agent_id: Option<i64>) -> Self {
        UserView {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role.clone(),
            disabled: u.disabled,
            created_at: ts(u.created_at),
            agent_id,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DispositionView {
    pub id: i64,
    /// null: for every queue.
    pub queue_id: Option<i64>,
    pub code: String,
    pub name: String,
    pub name_ja: String,
}

impl From<&DispositionRow> for DispositionView {
    fn from(d: &DispositionRow) -> Self {
        DispositionView {
            id: d.id,
            queue_id: d.queue_id,
            code: d.code.clone(),
            name: d.name.clone(),
            name_ja: d.name_ja.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReasonView {
    pub code: String,
    pub name: String,
    pub name_ja: String,
}

impl From<&ReasonRow> for ReasonView {
    fn from(r: &ReasonRow) -> Self {
        ReasonView {
            code: r.code.clone(),
            name: r.name.clone(),
            name_ja: r.name_ja.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PhoneView {
    /// E.164, e.g. +81312345678
    pub number: String,
    pub label: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: i64,
    pub display_name: String,
    pub name_kana: Option<String>,
    pub company: Option<String>,
    pub phones: Vec<PhoneView>,
    pub emails: Vec<String>,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&CustomerFull> for CustomerView {
    fn from(c: &CustomerFull) -> Self {
        CustomerView {
            id: c.customer.id,
            display_name: c.customer.display_name.clone(),
            name_kana: c.customer.name_kana.clone(),
            company: c.customer.company.clone(),
            phones: c
                .phones
                .iter()
                .map(|p| PhoneView {
                    number: p.e164.clone(),
                    label: p.label.clone(),
                })
                .collect(),
            emails: c.emails.clone(),
            attributes: json(&c.customer.attributes),
            created_at: ts(c.customer.created_at),
            updated_at: ts(c.customer.updated_at),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CustomerSummary {
    pub id: i64,
    pub display_name: String,
    pub name_kana: Option<String>,
    pub company: Option<String>,
    pub created_at: String,
}

impl From<&CustomerRow> for CustomerSummary {
    fn from(c: &CustomerRow) -> Self {
        CustomerSummary {
            id: c.id,
            display_name: c.display_name.clone(),
            name_kana: c.name_kana.clone(),
            company: c.company.clone(),
            created_at: ts(c.created_at),
        }
    }
}

/// One entry of a customer's history: a contact with its notes.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub contact: ContactView,
    pub notes: Vec<NoteView>,
}

/// The screen-pop: who this is and what happened before.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CustomerWithTimeline {
    pub customer: CustomerView,
    /// Newest first.
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub default_region: String,
    pub short_abandon_secs: i64,
    pub priority_step_secs: i64,
}

impl From<&TenantRow> for TenantView {
    fn from(t: &TenantRow) -> Self {
        TenantView {
            id: t.id,
            slug: t.slug.clone(),
            name: t.name.clone(),
            time_zone: t.time_zone.clone(),
            default_region: t.default_region.clone(),
            short_abandon_secs: t.short_abandon_secs,
            priority_step_secs: t.priority_step_secs,
        }
    }
}
