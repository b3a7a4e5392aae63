//! Telephony data: agents' phone accounts, call flows, numbers, recordings.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::config::not_found_if_none;
use crate::error::{StoreError, StoreResult};
use crate::rows::rows;
use crate::Store;

/// A phone account as the registrar needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipAccountRow {
    pub tenant_id: i64,
    pub agent_id: i64,
    pub ha1: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRow {
    pub tenant_id: i64,
    pub name: String,
    pub source: String,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberRow {
    pub tenant_id: i64,
    /// E.164, a national number as dialed, or "*" for any number.
    pub number: String,
    pub flow: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingRow {
    pub id: i64,
    pub tenant_id: i64,
    pub contact_id: i64,
    /// `call` or `voicemail`.
    pub kind: String,
    pub path: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub duration_ms: Option<i64>,
    /// `recording`, `complete` or `failed`.
    pub status: String,
}

const RECORDING_COLUMNS: &str =
    "id, tenant_id, contact_id, kind, path, started_at, ended_at, duration_ms, status";

fn recording_row(r: &sqlx::any::AnyRow) -> StoreResult<RecordingRow> {
    Ok(RecordingRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        contact_id: r.try_get("contact_id")?,
        kind: r.try_get("kind")?,
        path: r.try_get("path")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        duration_ms: r.try_get("duration_ms")?,
        status: r.try_get("status")?,
    })
}

impl Store {
    /// The phone account with this SIP username, unless its user is disabled.
    pub async fn sip_account(&self, username: &str) -> StoreResult<Option<SipAccountRow>> {
        let row = sqlx::query(
            "SELECT a.tenant_id, a.id, a.sip_ha1 FROM agents a JOIN users u ON u.id = a.user_id \
             WHERE a.sip_username = $1 AND u.disabled = 0 AND a.sip_ha1 IS NOT NULL",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SipAccountRow {
                tenant_id: r.try_get("tenant_id")?,
                agent_id: r.try_get("id")?,
                ha1: r.try_get("sip_ha1")?,
            })
        })
        .transpose()
    }

    /// Sets (or with None removes) an agent's phone account. `ha1` is MD5(user:realm:password).
    pub async fn set_sip_credentials(
        &self,
        tenant_id: i64,
        agent_id: i64,
        cred: Option<(&str, &str)>,
    ) -> StoreResult<()> {
        let (user, ha1) = match cred {
            Some((u, h)) => (Some(u), Some(h)),
            None => (None, None),
        };
        let done = sqlx::query(
            "UPDATE agents SET sip_username = $3, sip_ha1 = $4 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(agent_id)
        .bind(user)
        .bind(ha1)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(
                e,
                &format!("phone account {}", user.unwrap_or_default()),
            )
        })?;
        not_found_if_none(done.rows_affected(), "agent", agent_id)
    }

    pub async fn flows(&self, tenant_id: i64) -> StoreResult<Vec<FlowRow>> {
        let all = sqlx::query("SELECT tenant_id, name, source, updated_at FROM flows WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows(all, flow_row)
    }

    pub async fn flow(&self, tenant_id: i64, name: &str) -> StoreResult<Option<FlowRow>> {
        sqlx::query(
            "SELECT tenant_id, name, source, updated_at FROM flows WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(flow_row)
        .transpose()
    }

    /// Stores a flow (already checked by the caller).
    pub async fn put_flow(&self, f: &FlowRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO flows (tenant_id, name, source, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(f.tenant_id)
        .bind(&f.name)
        .bind(&f.source)
        .bind(f.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_flow(&self, tenant_id: i64, name: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM flows WHERE tenant_id = $1 AND name = $2")
            .bind(tenant_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("flow {name}")));
        }
        Ok(())
    }

    pub async fn numbers(&self, tenant_id: i64) -> StoreResult<Vec<NumberRow>> {
        let all = sqlx::query(
            "SELECT tenant_id, number, flow FROM numbers WHERE tenant_id = $1 ORDER BY number",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        rows(all, |r| {
            Ok(NumberRow {
                tenant_id: r.try_get("tenant_id")?,
                number: r.try_get("number")?,
                flow: r.try_get("flow")?,
            })
        })
    }

    pub async fn put_number(&self, n: &NumberRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO numbers (tenant_id, number, flow) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, number) DO UPDATE SET flow = excluded.flow",
        )
        .bind(n.tenant_id)
        .bind(&n.number)
        .bind(&n.flow)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_number(&self, tenant_id: i64, number: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM numbers WHERE tenant_id = $1 AND number = $2")
            .bind(tenant_id)
            .bind(number)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("number {number}")));
        }
        Ok(())
    }

    /// The flow a dialed number reaches: an exact entry (as dialed or in E.164), else "*".
    pub async fn flow_for_number(
        &self,
        tenant_id: i64,
        candidates: &[&str],
    ) -> StoreResult<Option<String>> {
        let all = self.numbers(tenant_id).await?;
        for c in candidates {
            if let Some(n) = all.iter().find(|n| n.number == *c) {
                return Ok(Some(n.flow.clone()));
            }
        }
        Ok(all.into_iter().find(|n| n.number == "*").map(|n| n.flow))
    }

    pub async fn create_recording(&self, r: &RecordingRow) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO recordings ({RECORDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(r.id)
        .bind(r.tenant_id)
        .bind(r.contact_id)
        .bind(&r.kind)
        .bind(&r.path)
        .bind(r.started_at)
        .bind(r.ended_at)
        .bind(r.duration_ms)
        .bind(&r.status)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn finish_recording(
        &self,
        id: i64,
        ended_at: i64,
        duration_ms: i64,
        status: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE recordings SET ended_at = $2, duration_ms = $3, status = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(ended_at)
        .bind(duration_ms)
        .bind(status)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives a recording to another contact of the same tenant (a voicemail to its task).
    pub async fn move_recording(&self, id: i64, contact_id: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE recordings SET contact_id = $2 WHERE id = $1 \
             AND tenant_id = (SELECT tenant_id FROM contacts WHERE id = $2)",
        )
        .bind(id)
        .bind(contact_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn recordings(
        &self,
        tenant_id: i64,
        contact_id: i64,
    ) -> StoreResult<Vec<RecordingRow>> {
        let all = sqlx::query(&format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE tenant_id = $1 AND contact_id = $2 ORDER BY id"
        ))
        .bind(tenant_id)
        .bind(contact_id)
        .fetch_all(&self.pool)
        .await?;
        rows(all, recording_row)
    }

    pub async fn recording(&self, tenant_id: i64, id: i64) -> StoreResult<Option<RecordingRow>> {
        sqlx::query(&format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(recording_row)
        .transpose()
    }

    /// Recordings left `recording` by a crash: their files end where the process died.
    pub async fn unfinished_recordings(&self) -> StoreResult<Vec<RecordingRow>> {
        let all = sqlx::query(&format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE status = 'recording'"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows(all, recording_row)
    }
}

fn flow_row(r: &sqlx::any::AnyRow) -> StoreResult<FlowRow> {
    Ok(FlowRow {
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        source: r.try_get("source")?,
        updated_at: r.try_get("updated_at")?,
    })
}
