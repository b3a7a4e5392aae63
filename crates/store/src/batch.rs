//! The runtime's atomic unit of writing: everything one decision changes, in one
//! transaction. Nothing is acknowledged (to an API caller, over a WebSocket, to a phone)
//! before its batch has committed.

use tsunagu_domain::kpi::IntervalSums;

use crate::error::StoreResult;
use crate::rows::{AgentStateRow, ContactEventRow, ContactRow, NoteRow};
use crate::Store;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Inserts the contact or overwrites every column of it.
    Contact(Box<ContactRow>),
    Event(ContactEventRow),
    /// Records an agent state change and makes it the agent's current state.
    AgentState(AgentStateRow),
    Note(NoteRow),
    /// Stores a finished local day's KPI intervals [start, end) (replacing what was stored)
    /// and marks the day stored.
    KpiDay {
        tenant_id: i64,
        start: i64,
        end: i64,
        intervals: Vec<IntervalSums>,
    },
    /// Adds a difference to a finished day's stored KPI interval (a contact of that day
    /// changed): in the same transaction as the events that caused it.
    KpiCorrection {
        tenant_id: i64,
        correction: IntervalSums,
    },
}

impl Store {
    /// Applies the writes in order, in one transaction.
    pub async fn apply(&self, writes: &[Write]) -> StoreResult<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for w in writes {
            match w {
                Write::Contact(c) => {
                    sqlx::query(&format!(
                        "INSERT INTO contacts ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) \
                         ON CONFLICT (id) DO UPDATE SET status = excluded.status, queue_id = excluded.queue_id, \
                         customer_id = excluded.customer_id, agent_id = excluded.agent_id, \
                         priority = excluded.priority, subject = excluded.subject, \
                         customer_address = excluded.customer_address, attributes = excluded.attributes, \
                         requirements = excluded.requirements, queued_at = excluded.queued_at, \
                         queue_entered_at = excluded.queue_entered_at, offered_at = excluded.offered_at, \
                         answered_at = excluded.answered_at, ended_at = excluded.ended_at, \
                         acw_done_at = excluded.acw_done_at, end_reason = excluded.end_reason, \
                         disposition_code = excluded.disposition_code, updated_at = excluded.updated_at",
                        ContactRow::COLUMNS
                    ))
                    .bind(c.id)
                    .bind(c.tenant_id)
                    .bind(&c.channel)
                    .bind(&c.direction)
                    .bind(&c.status)
                    .bind(c.queue_id)
                    .bind(c.customer_id)
                    .bind(c.agent_id)
                    .bind(c.priority)
                    .bind(&c.subject)
                    .bind(&c.customer_address)
                    .bind(&c.attributes)
                    .bind(&c.requirements)
                    .bind(c.created_at)
                    .bind(c.queued_at)
                    .bind(c.queue_entered_at)
                    .bind(c.offered_at)
                    .bind(c.answered_at)
                    .bind(c.ended_at)
                    .bind(c.acw_done_at)
                    .bind(&c.end_reason)
                    .bind(&c.disposition_code)
                    .bind(c.updated_at)
                    .execute(&mut *tx)
                    .await?;
                }
                Write::Event(e) => {
                    sqlx::query(&format!(
                        "INSERT INTO contact_events ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        ContactEventRow::COLUMNS
                    ))
                    .bind(e.id)
                    .bind(e.tenant_id)
                    .bind(e.contact_id)
                    .bind(e.at)
                    .bind(&e.kind)
                    .bind(e.queue_id)
                    .bind(e.agent_id)
                    .bind(&e.data)
                    .execute(&mut *tx)
                    .await?;
                }
                Write::AgentState(s) => {
                    sqlx::query(&format!(
                        "INSERT INTO agent_state_events ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        AgentStateRow::COLUMNS
                    ))
                    .bind(s.id)
                    .bind(s.tenant_id)
                    .bind(s.agent_id)
                    .bind(s.at)
                    .bind(&s.presence)
                    .bind(&s.reason)
                    .bind(&s.status)
                    .bind(s.changed_by)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE agents SET presence = $2, reason = $3, status = $4, status_since = $5 WHERE id = $1",
                    )
                    .bind(s.agent_id)
                    .bind(&s.presence)
                    .bind(&s.reason)
                    .bind(&s.status)
                    .bind(s.at)
                    .execute(&mut *tx)
                    .await?;
                }
                Write::Note(n) => {
                    sqlx::query(&format!(
                        "INSERT INTO contact_notes ({}) VALUES ($1, $2, $3, $4, $5, $6)",
                        NoteRow::COLUMNS
                    ))
                    .bind(n.id)
                    .bind(n.tenant_id)
                    .bind(n.contact_id)
                    .bind(n.author_user_id)
                    .bind(&n.body)
                    .bind(n.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                Write::KpiDay {
                    tenant_id,
                    start,
                    end,
                    intervals,
                } => crate::kpi::store_day(&mut tx, *tenant_id, *start, *end, intervals).await?,
                Write::KpiCorrection {
                    tenant_id,
                    correction,
                } => crate::kpi::correct(&mut tx, *tenant_id, correction).await?,
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
