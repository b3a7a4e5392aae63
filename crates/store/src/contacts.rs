//! Contacts, their event timelines and notes: reads. (Writes go through `batch`.)

use sqlx::Row;

use crate::error::StoreResult;
use crate::rows::*;
use crate::Store;

/// Filters for listing contacts; newest first, `before_id` continues a page.
#[derive(Clone, Debug, Default)]
pub struct ContactFilter {
    pub status: Option<String>,
    pub agent_id: Option<i64>,
    pub queue_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Store {
    pub async fn contact(&self, tenant_id: i64, id: i64) -> StoreResult<Option<ContactRow>> {
        let q = format!(
            "SELECT {} FROM contacts WHERE tenant_id = $1 AND id = $2",
            ContactRow::COLUMNS
        );
        sqlx::query(&q)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(ContactRow::from_row)
            .transpose()
    }

    pub async fn contacts(
        &self,
        tenant_id: i64,
        f: &ContactFilter,
    ) -> StoreResult<Vec<ContactRow>> {
        let q = format!(
            "SELECT {} FROM contacts WHERE tenant_id = $1 AND id < $2 AND ($3 = '' OR status = $3) \
             AND ($4 = 0 OR agent_id = $4) AND ($5 = 0 OR queue_id = $5) AND ($6 = 0 OR customer_id = $6) \
             ORDER BY id DESC LIMIT $7",
            ContactRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(f.before_id.unwrap_or(i64::MAX))
                .bind(f.status.clone().unwrap_or_default())
                .bind(f.agent_id.unwrap_or(0))
                .bind(f.queue_id.unwrap_or(0))
                .bind(f.customer_id.unwrap_or(0))
                .bind(f.limit.clamp(1, 500))
                .fetch_all(&self.pool)
                .await?,
            ContactRow::from_row,
        )
    }

    /// The customer's contacts, newest first (the CRM timeline / screen-pop history).
    pub async fn customer_contacts(
        &self,
        tenant_id: i64,
        customer_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<ContactRow>> {
        let q = format!(
            "SELECT {} FROM contacts WHERE tenant_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
            ContactRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(customer_id)
                .bind(limit.clamp(1, 500))
                .fetch_all(&self.pool)
                .await?,
            ContactRow::from_row,
        )
    }

    /// The tenant's open contacts (to rebuild its actor), oldest first.
    pub async fn open_contacts(&self, tenant_id: i64) -> StoreResult<Vec<ContactRow>> {
        let q = format!(
            "SELECT {} FROM contacts WHERE tenant_id = $1 \
             AND status IN ('ivr', 'queued', 'offered', 'connected', 'wrap_up') \
             ORDER BY queued_at, id",
            ContactRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?,
            ContactRow::from_row,
        )
    }

    /// Every event of the tenant's open contacts (waiting, ringing, talking, wrapping up),
    /// by contact, then time: what a reading of today's figures must follow even for a
    /// contact that entered its queue days ago.
    pub async fn open_contact_events(&self, tenant_id: i64) -> StoreResult<Vec<ContactEventRow>> {
        let q = format!(
            "SELECT {} FROM contact_events WHERE tenant_id = $1 AND contact_id IN \
             (SELECT id FROM contacts WHERE tenant_id = $1 \
              AND status IN ('ivr', 'queued', 'offered', 'connected', 'wrap_up')) \
             ORDER BY contact_id, at, id",
            ContactEventRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?,
            ContactEventRow::from_row,
        )
    }

    pub async fn contact_events(
        &self,
        tenant_id: i64,
        contact_id: i64,
    ) -> StoreResult<Vec<ContactEventRow>> {
        let q = format!(
            "SELECT {} FROM contact_events WHERE tenant_id = $1 AND contact_id = $2 ORDER BY id",
            ContactEventRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(contact_id)
                .fetch_all(&self.pool)
                .await?,
            ContactEventRow::from_row,
        )
    }

    /// The inbound calls that came in during [from, to), for the IVR figures.
    pub async fn ivr_calls(
        &self,
        tenant_id: i64,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<tsunagu_domain::ivr_kpi::IvrCall>> {
        let q = "SELECT created_at, queued_at, ended_at, end_reason FROM contacts \
                 WHERE tenant_id = $1 AND channel = 'voice' AND direction = 'inbound' \
                 AND created_at >= $2 AND created_at < $3";
        rows(
            sqlx::query(q)
                .bind(tenant_id)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?,
            |r| {
                Ok(tsunagu_domain::ivr_kpi::IvrCall {
                    created_at: r.try_get("created_at")?,
                    queued_at: r.try_get("queued_at")?,
                    ended_at: r.try_get("ended_at")?,
                    end_reason: r.try_get("end_reason")?,
                })
            },
        )
    }

    /// All events of the contacts that entered a queue in [from, to), ordered by contact
    /// then time: the input of the KPI computation.
    pub async fn kpi_events(
        &self,
        tenant_id: i64,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<ContactEventRow>> {
        let q = format!(
            "SELECT {} FROM contact_events WHERE tenant_id = $1 AND contact_id IN \
             (SELECT contact_id FROM contact_events WHERE tenant_id = $1 AND at >= $2 AND at < $3 \
              AND kind IN ('queued', 'overflowed')) ORDER BY contact_id, at, id",
            ContactEventRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?,
            ContactEventRow::from_row,
        )
    }

    pub async fn contact_notes(
        &self,
        tenant_id: i64,
        contact_id: i64,
    ) -> StoreResult<Vec<NoteRow>> {
        let q = format!(
            "SELECT {} FROM contact_notes WHERE tenant_id = $1 AND contact_id = $2 ORDER BY id",
            NoteRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(contact_id)
                .fetch_all(&self.pool)
                .await?,
            NoteRow::from_row,
        )
    }

    /// Notes of several contacts at once (for timelines).
    pub async fn notes_for_contacts(
        &self,
        tenant_id: i64,
        contact_ids: &[i64],
    ) -> StoreResult<Vec<NoteRow>> {
        if contact_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are integers we produced; inlining them avoids a per-driver array binding.
        let list = contact_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let q = format!(
            "SELECT {} FROM contact_notes WHERE tenant_id = $1 AND contact_id IN ({list}) ORDER BY id",
            NoteRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?,
            NoteRow::from_row,
        )
    }

    /// Contacts answered and talk time per agent since `since` (fewest-contacts and
    /// least-talk-time restart from these).
    pub async fn agent_work_since(
        &self,
        tenant_id: i64,
        since: i64,
    ) -> StoreResult<Vec<(i64, i64, i64)>> {
        let all = sqlx::query(
            "SELECT agent_id, COUNT(*) AS n, CAST(COALESCE(SUM(COALESCE(ended_at, answered_at) - answered_at), 0) AS BIGINT) AS talk \
             FROM contacts WHERE tenant_id = $1 AND answered_at >= $2 AND agent_id IS NOT NULL GROUP BY agent_id",
        )
        .bind(tenant_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows(all, |r| {
            Ok((r.try_get("agent_id")?, r.try_get("n")?, r.try_get("talk")?))
        })
    }
}
