//! What admins configure: skills, queues, agents (with skills and queue memberships),
//! dispositions (wrap-up codes) and not-ready reasons.

use sqlx::Row;

use crate::error::{StoreError, StoreResult};
use crate::rows::*;
use crate::Store;

impl Store {
    // ----- skills ----------------------------------------------------------------------

    pub async fn create_skill(&self, s: &SkillRow) -> StoreResult<()> {
        sqlx::query("INSERT INTO skills (id, tenant_id, name, display_name, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(s.id)
            .bind(s.tenant_id)
            .bind(&s.name)
            .bind(&s.display_name)
            .bind(s.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::conflict_on_unique(e, &format!("skill {}", s.name)))?;
        Ok(())
    }

    pub async fn skills(&self, tenant_id: i64) -> StoreResult<Vec<SkillRow>> {
        let q = format!(
            "SELECT {} FROM skills WHERE tenant_id = $1 ORDER BY id",
            SkillRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?,
            SkillRow::from_row,
        )
    }

    pub async fn update_skill(&self, s: &SkillRow) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE skills SET name = $3, display_name = $4 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(s.tenant_id)
        .bind(s.id)
        .bind(&s.name)
        .bind(&s.display_name)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, &format!("skill {}", s.name)))?;
        not_found_if_none(done.rows_affected(), "skill", s.id)
    }

    /// Deletes a skill and every agent's proficiency in it. The caller checks that no
    /// queue still requires it.
    pub async fn delete_skill(&self, tenant_id: i64, id: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM agent_skills WHERE skill_id = $1 AND skill_id IN (SELECT id FROM skills WHERE tenant_id = $2)",
        )
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM skills WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        not_found_if_none(done.rows_affected(), "skill", id)?;
        tx.commit().await?;
        Ok(())
    }

    // ----- queues ----------------------------------------------------------------------

    pub async fn create_queue(&self, q: &QueueRow) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO queues ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            QueueRow::COLUMNS
        ))
        .bind(q.id)
        .bind(q.tenant_id)
        .bind(&q.name)
        .bind(&q.display_name)
        .bind(&q.strategy)
        .bind(q.priority)
        .bind(q.sl_target_pct)
        .bind(q.sl_threshold_secs)
        .bind(q.max_wait_secs)
        .bind(q.overflow_queue_id)
        .bind(q.wrap_up_secs)
        .bind(q.no_answer_timeout_secs)
        .bind(q.max_no_answers)
        .bind(&q.requirements)
        .bind(q.created_at)
        .bind(q.updated_at)
        .bind(i64::from(q.record_calls))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, &format!("queue {}", q.name)))?;
        Ok(())
    }

    pub async fn update_queue(&self, q: &QueueRow) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE queues SET name = $3, display_name = $4, strategy = $5, priority = $6, sl_target_pct = $7, \
             sl_threshold_secs = $8, max_wait_secs = $9, overflow_queue_id = $10, wrap_up_secs = $11, \
             no_answer_timeout_secs = $12, max_no_answers = $13, requirements = $14, updated_at = $15, \
             record_calls = $16 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(q.tenant_id)
        .bind(q.id)
        .bind(&q.name)
        .bind(&q.display_name)
        .bind(&q.strategy)
        .bind(q.priority)
        .bind(q.sl_target_pct)
        .bind(q.sl_threshold_secs)
        .bind(q.max_wait_secs)
        .bind(q.overflow_queue_id)
        .bind(q.wrap_up_secs)
        .bind(q.no_answer_timeout_secs)
        .bind(q.max_no_answers)
        .bind(&q.requirements)
        .bind(q.updated_at)
        .bind(i64::from(q.record_calls))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, &format!("queue {}", q.name)))?;
        not_found_if_none(done.rows_affected(), "queue", q.id)
    }

    pub async fn queues(&self, tenant_id: i64) -> StoreResult<Vec<QueueRow>> {
        let q = format!(
            "SELECT {} FROM queues WHERE tenant_id = $1 ORDER BY id",
            QueueRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?,
            QueueRow::from_row,
        )
    }

    pub async fn queue(&self, tenant_id: i64, id: i64) -> StoreResult<Option<QueueRow>> {
        let q = format!(
            "SELECT {} FROM queues WHERE tenant_id = $1 AND id = $2",
            QueueRow::COLUMNS
        );
        sqlx::query(&q)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(QueueRow::from_row)
            .transpose()
    }

    /// Is the queue referenced by any contact, membership, disposition or overflow rule?
    pub async fn queue_in_use(&self, tenant_id: i64, id: i64) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM contacts WHERE tenant_id = $1 AND queue_id = $2) \
             + (SELECT COUNT(*) FROM agent_queues WHERE queue_id = $2) \
             + (SELECT COUNT(*) FROM dispositions WHERE tenant_id = $1 AND queue_id = $2) \
             + (SELECT COUNT(*) FROM queues WHERE tenant_id = $1 AND overflow_queue_id = $2) AS n",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    pub async fn delete_queue(&self, tenant_id: i64, id: i64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM queues WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        not_found_if_none(done.rows_affected(), "queue", id)
    }

    // ----- agents ----------------------------------------------------------------------

    /// Creates a user and, optionally, their agent profile in one transaction.
    pub async fn create_user_with_agent(
        &self,
        user: &UserRow,
        agent: Option<&AgentFull>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, tenant_id, username, display_name, role, password_hash, disabled, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.id)
        .bind(user.tenant_id)
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(&user.role)
        .bind(&user.password_hash)
        .bind(i64::from(user.disabled))
        .bind(user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, &format!("user {}", user.username)))?;
        if let Some(a) = agent {
            insert_agent(&mut tx, a).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds an agent profile to an existing user.
    pub async fn create_agent(&self, a: &AgentFull) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        insert_agent(&mut tx, a).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces an agent's extension, capacities, skills and queue memberships.
    pub async fn update_agent_config(&self, a: &AgentFull) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let r = &a.agent;
        let done = sqlx::query(
            "UPDATE agents SET extension = $3, capacity_voice = $4, capacity_chat = $5, capacity_email = $6, \
             capacity_task = $7, updated_at = $8 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(r.tenant_id)
        .bind(r.id)
        .bind(&r.extension)
        .bind(r.capacity_voice)
        .bind(r.capacity_chat)
        .bind(r.capacity_email)
        .bind(r.capacity_task)
        .bind(r.updated_at)
        .execute(&mut *tx)
        .await?;
        not_found_if_none(done.rows_affected(), "agent", r.id)?;
        sqlx::query("DELETE FROM agent_skills WHERE agent_id = $1")
            .bind(r.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM agent_queues WHERE agent_id = $1")
            .bind(r.id)
            .execute(&mut *tx)
            .await?;
        insert_agent_links(&mut tx, a).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn agents(&self, tenant_id: i64) -> StoreResult<Vec<AgentFull>> {
        let q = format!(
            "SELECT {}, u.username, u.display_name FROM agents a JOIN users u ON u.id = a.user_id \
             WHERE a.tenant_id = $1 ORDER BY a.id",
            AgentRow::COLUMNS
        );
        let agent_rows = sqlx::query(&q)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        let skills = sqlx::query(
            "SELECT s.agent_id, s.skill_id, s.level FROM agent_skills s JOIN agents a ON a.id = s.agent_id \
             WHERE a.tenant_id = $1 ORDER BY s.agent_id, s.skill_id",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        let queues = sqlx::query(
            "SELECT m.agent_id, m.queue_id, m.position FROM agent_queues m JOIN agents a ON a.id = m.agent_id \
             WHERE a.tenant_id = $1 ORDER BY m.agent_id, m.queue_id",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(agent_rows.len());
        for r in &agent_rows {
            out.push(AgentFull {
                agent: AgentRow::from_row(r)?,
                username: r.try_get("username")?,
                display_name: r.try_get("display_name")?,
                skills: Vec::new(),
                queues: Vec::new(),
            });
        }
        let index: std::collections::HashMap<i64, usize> = out
            .iter()
            .enumerate()
            .map(|(i, a)| (a.agent.id, i))
            .collect();
        for r in &skills {
            if let Some(&i) = index.get(&r.try_get::<i64, _>("agent_id")?) {
                out[i]
                    .skills
                    .push((r.try_get("skill_id")?, r.try_get("level")?));
            }
        }
        for r in &queues {
            if let Some(&i) = index.get(&r.try_get::<i64, _>("agent_id")?) {
                out[i]
                    .queues
                    .push((r.try_get("queue_id")?, r.try_get("position")?));
            }
        }
        Ok(out)
    }

    pub async fn agent(&self, tenant_id: i64, id: i64) -> StoreResult<Option<AgentFull>> {
        Ok(self
            .agents(tenant_id)
            .await?
            .into_iter()
            .find(|a| a.agent.id == id))
    }

    pub async fn agent_by_user(
        &self,
        tenant_id: i64,
        user_id: i64,
    ) -> StoreResult<Option<AgentRow>> {
        let q = format!(
            "SELECT {} FROM agents a WHERE a.tenant_id = $1 AND a.user_id = $2",
            AgentRow::COLUMNS
        );
        sqlx::query(&q)
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(AgentRow::from_row)
            .transpose()
    }

    /// Status changes of the tenant's agents in [from, to), plus each agent's last change in
    /// the 24 hours before `from` (so spans that began earlier count), ordered by agent, time.
    pub async fn agent_states(
        &self,
        tenant_id: i64,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<AgentStateRow>> {
        const LOOKBACK_MS: i64 = 24 * 3600 * 1000;
        let q = format!(
            "SELECT {} FROM agent_state_events WHERE tenant_id = $1 AND at >= $2 AND at < $3 \
             ORDER BY agent_id, at, id",
            AgentStateRow::COLUMNS
        );
        let all = rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(from - LOOKBACK_MS)
                .bind(to)
                .fetch_all(&self.pool)
                .await?,
            AgentStateRow::from_row,
        )?;
        // Keep rows in range, and of the earlier ones only the last per agent.
        let mut out: Vec<AgentStateRow> = Vec::with_capacity(all.len());
        for (i, r) in all.iter().enumerate() {
            let next_same_agent_before_from = all
                .get(i + 1)
                .is_some_and(|n| n.agent_id == r.agent_id && n.at <= from);
            if r.at >= from || !next_same_agent_before_from {
                out.push(r.clone());
            }
        }
        Ok(out)
    }

    /// One agent's state changes in [from, to), newest first.
    pub async fn agent_state_history(
        &self,
        tenant_id: i64,
        agent_id: i64,
        from: i64,
        to: i64,
        limit: i64,
    ) -> StoreResult<Vec<AgentStateRow>> {
        let q = format!(
            "SELECT {} FROM agent_state_events WHERE tenant_id = $1 AND agent_id = $2 AND at >= $3 AND at < $4 \
             ORDER BY at DESC, id DESC LIMIT $5",
            AgentStateRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(agent_id)
                .bind(from)
                .bind(to)
                .bind(limit.clamp(1, 5000))
                .fetch_all(&self.pool)
                .await?,
            AgentStateRow::from_row,
        )
    }

    // ----- dispositions ------------------------------------------------------------------

    pub async fn create_disposition(&self, d: &DispositionRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO dispositions (id, tenant_id, queue_id, code, name, name_ja, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(d.id)
        .bind(d.tenant_id)
        .bind(d.queue_id)
        .bind(&d.code)
        .bind(&d.name)
        .bind(&d.name_ja)
        .bind(d.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn update_disposition(&self, d: &DispositionRow) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE dispositions SET queue_id = $3, code = $4, name = $5, name_ja = $6 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(d.tenant_id)
        .bind(d.id)
        .bind(d.queue_id)
        .bind(&d.code)
        .bind(&d.name)
        .bind(&d.name_ja)
        .execute(&self.pool)
        .await?;
        not_found_if_none(done.rows_affected(), "disposition", d.id)
    }

    pub async fn dispositions(&self, tenant_id: i64) -> StoreResult<Vec<DispositionRow>> {
        let q = format!(
            "SELECT {} FROM dispositions WHERE tenant_id = $1 ORDER BY id",
            DispositionRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?,
            DispositionRow::from_row,
        )
    }

    pub async fn delete_disposition(&self, tenant_id: i64, id: i64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM dispositions WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        not_found_if_none(done.rows_affected(), "disposition", id)
    }

    // ----- not-ready reasons -------------------------------------------------------------

    pub async fn upsert_reason(&self, r: &ReasonRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO not_ready_reasons (tenant_id, code, name, name_ja) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, code) DO UPDATE SET name = excluded.name, name_ja = excluded.name_ja",
        )
        .bind(r.tenant_id)
        .bind(&r.code)
        .bind(&r.name)
        .bind(&r.name_ja)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn reasons(&self, tenant_id: i64) -> StoreResult<Vec<ReasonRow>> {
        let all = sqlx::query("SELECT tenant_id, code, name, name_ja FROM not_ready_reasons WHERE tenant_id = $1 ORDER BY code")
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows(all, |r| {
            Ok(ReasonRow {
                tenant_id: r.try_get("tenant_id")?,
                code: r.try_get("code")?,
                name: r.try_get("name")?,
                name_ja: r.try_get("name_ja")?,
            })
        })
    }

    pub async fn delete_reason(&self, tenant_id: i64, code: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM not_ready_reasons WHERE tenant_id = $1 AND code = $2")
            .bind(tenant_id)
            .bind(code)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("reason {code}")));
        }
        Ok(())
    }
}

async fn insert_agent(tx: &mut sqlx::Transaction<'_, sqlx::Any>, a: &AgentFull) -> StoreResult<()> {
    let r = &a.agent;
    sqlx::query(&format!(
        "INSERT INTO agents ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        AgentRow::COLUMNS.replace("a.", "")
    ))
    .bind(r.id)
    .bind(r.tenant_id)
    .bind(r.user_id)
    .bind(&r.extension)
    .bind(r.capacity_voice)
    .bind(r.capacity_chat)
    .bind(r.capacity_email)
    .bind(r.capacity_task)
    .bind(&r.presence)
    .bind(&r.reason)
    .bind(&r.status)
    .bind(r.status_since)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(&r.sip_username)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::conflict_on_unique(e, "agent profile for this user"))?;
    insert_agent_links(tx, a).await
}

async fn insert_agent_links(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    a: &AgentFull,
) -> StoreResult<()> {
    for &(skill, level) in &a.skills {
        sqlx::query("INSERT INTO agent_skills (agent_id, skill_id, level) VALUES ($1, $2, $3)")
            .bind(a.agent.id)
            .bind(skill)
            .bind(level)
            .execute(&mut **tx)
            .await?;
    }
    for &(queue, position) in &a.queues {
        sqlx::query("INSERT INTO agent_queues (agent_id, queue_id, position) VALUES ($1, $2, $3)")
            .bind(a.agent.id)
            .bind(queue)
            .bind(position)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) fn not_found_if_none(affected: u64, what: &str, id: i64) -> StoreResult<()> {
    if affected == 0 {
        Err(StoreError::NotFound(format!("{what} {id}")))
    } else {
        Ok(())
    }
}
