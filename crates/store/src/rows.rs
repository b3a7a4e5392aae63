//! Row types: what is stored, in the shapes the rest of the system uses.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::StoreResult;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// IANA zone, e.g. `Asia/Tokyo`: intervals and "today" are in this zone.
    pub time_zone: String,
    /// Region for national phone numbers, e.g. `JP`.
    pub default_region: String,
    pub short_abandon_secs: i64,
    pub priority_step_secs: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i64,
    pub tenant_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: i64,
    #[serde(skip_serializing)]
    pub token_hash: String,
    pub tenant_id: i64,
    pub user_id: i64,
    /// `session` (browser login) or `api` (integration token).
    pub kind: String,
    pub name: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillRow {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub display_name: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRow {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub display_name: String,
    pub strategy: String,
    pub priority: i64,
    pub sl_target_pct: i64,
    pub sl_threshold_secs: i64,
    pub max_wait_secs: Option<i64>,
    pub overflow_queue_id: Option<i64>,
    /// None: after-call work lasts until the agent ends it.
    pub wrap_up_secs: Option<i64>,
    pub no_answer_timeout_secs: i64,
    pub max_no_answers: i64,
    /// JSON: `[{"skill_id": 1, "steps": [{"after_secs": 0, "min_level": 4}, …]}]`
    pub requirements: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Record this queue's calls (stereo, customer left / agent right).
    pub record_calls: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRow {
    pub id: i64,
    pub tenant_id: i64,
    pub user_id: i64,
    pub extension: Option<String>,
    pub capacity_voice: i64,
    pub capacity_chat: i64,
    pub capacity_email: i64,
    pub capacity_task: i64,
    pub presence: String,
    pub reason: Option<String>,
    pub status: String,
    pub status_since: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The agent's phone account (SIP username), if they have one.
    pub sip_username: Option<String>,
}

/// An agent with everything routing needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFull {
    pub agent: AgentRow,
    pub username: String,
    pub display_name: String,
    /// (skill id, level)
    pub skills: Vec<(i64, i64)>,
    /// (queue id, position)
    pub queues: Vec<(i64, i64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStateRow {
    pub id: i64,
    pub tenant_id: i64,
    pub agent_id: i64,
    pub at: i64,
    pub presence: String,
    pub reason: Option<String>,
    pub status: String,
    /// Who made the change; None when the router did (offers, work, auto not-ready).
    pub changed_by: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonRow {
    pub tenant_id: i64,
    pub code: String,
    pub name: String,
    pub name_ja: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRow {
    pub id: i64,
    pub tenant_id: i64,
    pub display_name: String,
    pub name_kana: Option<String>,
    pub company: Option<String>,
    /// JSON object of free attributes.
    pub attributes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneRow {
    pub e164: String,
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFull {
    pub customer: CustomerRow,
    pub phones: Vec<PhoneRow>,
    pub emails: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispositionRow {
    pub id: i64,
    pub tenant_id: i64,
    /// None: offered for every queue.
    pub queue_id: Option<i64>,
    pub code: String,
    pub name: String,
    pub name_ja: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRow {
    pub id: i64,
    pub tenant_id: i64,
    pub channel: String,
    pub direction: String,
    pub status: String,
    pub queue_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub priority: i64,
    pub subject: Option<String>,
    /// The phone number or email the customer used, as normalized.
    pub customer_address: Option<String>,
    /// JSON object.
    pub attributes: String,
    /// JSON: the contact's own skill requirements.
    pub requirements: String,
    pub created_at: i64,
    /// First entered the ACD.
    pub queued_at: Option<i64>,
    /// Entered its current queue.
    pub queue_entered_at: Option<i64>,
    pub offered_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub acw_done_at: Option<i64>,
    pub end_reason: Option<String>,
    pub disposition_code: Option<String>,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactEventRow {
    pub id: i64,
    pub tenant_id: i64,
    pub contact_id: i64,
    pub at: i64,
    pub kind: String,
    pub queue_id: Option<i64>,
    pub agent_id: Option<i64>,
    /// JSON with details (reason, disposition, …).
    pub data: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteRow {
    pub id: i64,
    pub tenant_id: i64,
    pub contact_id: i64,
    pub author_user_id: i64,
    pub body: String,
    pub created_at: i64,
}

// ----- decoding -------------------------------------------------------------------------

pub(crate) fn flag(row: &AnyRow, col: &str) -> StoreResult<bool> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

impl TenantRow {
    pub(crate) const COLUMNS: &'static str =
        "id, slug, name, time_zone, default_region, short_abandon_secs, priority_step_secs, created_at";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(TenantRow {
            id: r.try_get("id")?,
            slug: r.try_get("slug")?,
            name: r.try_get("name")?,
            time_zone: r.try_get("time_zone")?,
            default_region: r.try_get("default_region")?,
            short_abandon_secs: r.try_get("short_abandon_secs")?,
            priority_step_secs: r.try_get("priority_step_secs")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl UserRow {
    pub(crate) const COLUMNS: &'static str =
        "id, tenant_id, username, display_name, role, password_hash, disabled, created_at";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(UserRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            username: r.try_get("username")?,
            display_name: r.try_get("display_name")?,
            role: r.try_get("role")?,
            password_hash: r.try_get("password_hash")?,
            disabled: flag(r, "disabled")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl TokenRow {
    pub(crate) const COLUMNS: &'static str =
        "id, token_hash, tenant_id, user_id, kind, name, created_at, expires_at, revoked";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(TokenRow {
            id: r.try_get("id")?,
            token_hash: r.try_get("token_hash")?,
            tenant_id: r.try_get("tenant_id")?,
            user_id: r.try_get("user_id")?,
            kind: r.try_get("kind")?,
            name: r.try_get("name")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            revoked: flag(r, "revoked")?,
        })
    }
}

impl SkillRow {
    pub(crate) const COLUMNS: &'static str = "id, tenant_id, name, display_name, created_at";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(SkillRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            name: r.try_get("name")?,
            display_name: r.try_get("display_name")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl QueueRow {
    pub(crate) const COLUMNS: &'static str =
        "id, tenant_id, name, display_name, strategy, priority, \
        sl_target_pct, sl_threshold_secs, max_wait_secs, overflow_queue_id, wrap_up_secs, \
        no_answer_timeout_secs, max_no_answers, requirements, created_at, updated_at, record_calls";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(QueueRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            name: r.try_get("name")?,
            display_name: r.try_get("display_name")?,
            strategy: r.try_get("strategy")?,
            priority: r.try_get("priority")?,
            sl_target_pct: r.try_get("sl_target_pct")?,
            sl_threshold_secs: r.try_get("sl_threshold_secs")?,
            max_wait_secs: r.try_get("max_wait_secs")?,
            overflow_queue_id: r.try_get("overflow_queue_id")?,
            wrap_up_secs: r.try_get("wrap_up_secs")?,
            no_answer_timeout_secs: r.try_get("no_answer_timeout_secs")?,
            max_no_answers: r.try_get("max_no_answers")?,
            requirements: r.try_get("requirements")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            record_calls: flag(r, "record_calls")?,
        })
    }
}

impl AgentRow {
    pub(crate) const COLUMNS: &'static str =
        "a.id, a.tenant_id, a.user_id, a.extension, a.capacity_voice, \
        a.capacity_chat, a.capacity_email, a.capacity_task, a.presence, a.reason, a.status, \
        a.status_since, a.created_at, a.updated_at, a.sip_username";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(AgentRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            user_id: r.try_get("user_id")?,
            extension: r.try_get("extension")?,
            capacity_voice: r.try_get("capacity_voice")?,
            capacity_chat: r.try_get("capacity_chat")?,
            capacity_email: r.try_get("capacity_email")?,
            capacity_task: r.try_get("capacity_task")?,
            presence: r.try_get("presence")?,
            reason: r.try_get("reason")?,
            status: r.try_get("status")?,
            status_since: r.try_get("status_since")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            sip_username: r.try_get("sip_username")?,
        })
    }
}

impl AgentStateRow {
    pub(crate) const COLUMNS: &'static str =
        "id, tenant_id, agent_id, at, presence, reason, status, changed_by";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(AgentStateRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            agent_id: r.try_get("agent_id")?,
            at: r.try_get("at")?,
            presence: r.try_get("presence")?,
            reason: r.try_get("reason")?,
            status: r.try_get("status")?,
            changed_by: r.try_get("changed_by")?,
        })
    }
}

impl CustomerRow {
    pub(crate) const COLUMNS: &'static str =
        "c.id, c.tenant_id, c.display_name, c.name_kana, c.company, c.attributes, c.created_at, c.updated_at";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(CustomerRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            display_name: r.try_get("display_name")?,
            name_kana: r.try_get("name_kana")?,
            company: r.try_get("company")?,
            attributes: r.try_get("attributes")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

impl DispositionRow {
    pub(crate) const COLUMNS: &'static str =
        "id, tenant_id, queue_id, code, name, name_ja, created_at";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(DispositionRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            queue_id: r.try_get("queue_id")?,
            code: r.try_get("code")?,
            name: r.try_get("name")?,
            name_ja: r.try_get("name_ja")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl ContactRow {
    pub(crate) const COLUMNS: &'static str =
        "id, tenant_id, channel, direction, status, queue_id, \
        customer_id, agent_id, priority, subject, customer_address, attributes, requirements, \
        created_at, queued_at, queue_entered_at, offered_at, answered_at, ended_at, acw_done_at, \
        end_reason, disposition_code, updated_at";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(ContactRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            channel: r.try_get("channel")?,
            direction: r.try_get("direction")?,
            status: r.try_get("status")?,
            queue_id: r.try_get("queue_id")?,
            customer_id: r.try_get("customer_id")?,
            agent_id: r.try_get("agent_id")?,
            priority: r.try_get("priority")?,
            subject: r.try_get("subject")?,
            customer_address: r.try_get("customer_address")?,
            attributes: r.try_get("attributes")?,
            requirements: r.try_get("requirements")?,
            created_at: r.try_get("created_at")?,
            queued_at: r.try_get("queued_at")?,
            queue_entered_at: r.try_get("queue_entered_at")?,
            offered_at: r.try_get("offered_at")?,
            answered_at: r.try_get("answered_at")?,
            ended_at: r.try_get("ended_at")?,
            acw_done_at: r.try_get("acw_done_at")?,
            end_reason: r.try_get("end_reason")?,
            disposition_code: r.try_get("disposition_code")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

impl ContactEventRow {
    pub(crate) const COLUMNS: &'static str =
        "id, tenant_id, contact_id, at, kind, queue_id, agent_id, data";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(ContactEventRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            contact_id: r.try_get("contact_id")?,
            at: r.try_get("at")?,
            kind: r.try_get("kind")?,
            queue_id: r.try_get("queue_id")?,
            agent_id: r.try_get("agent_id")?,
            data: r.try_get("data")?,
        })
    }
}

impl NoteRow {
    pub(crate) const COLUMNS: &'static str =
        "id, tenant_id, contact_id, author_user_id, body, created_at";

    pub(crate) fn from_row(r: &AnyRow) -> StoreResult<Self> {
        Ok(NoteRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            contact_id: r.try_get("contact_id")?,
            author_user_id: r.try_get("author_user_id")?,
            body: r.try_get("body")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

pub(crate) fn rows<T>(
    rows: Vec<AnyRow>,
    f: impl Fn(&AnyRow) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}
