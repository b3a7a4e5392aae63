//! Tenants: each contact center on the server, fully isolated from the others.

use crate::error::{StoreError, StoreResult};
use crate::rows::{rows, TenantRow};
use crate::Store;

impl Store {
    pub async fn create_tenant(&self, t: &TenantRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, time_zone, default_region, short_abandon_secs, \
             priority_step_secs, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(t.id)
        .bind(&t.slug)
        .bind(&t.name)
        .bind(&t.time_zone)
        .bind(&t.default_region)
        .bind(t.short_abandon_secs)
        .bind(t.priority_step_secs)
        .bind(t.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, &format!("tenant {}", t.slug)))?;
        Ok(())
    }

    pub async fn tenants(&self) -> StoreResult<Vec<TenantRow>> {
        let q = format!("SELECT {} FROM tenants ORDER BY id", TenantRow::COLUMNS);
        rows(
            sqlx::query(&q).fetch_all(&self.pool).await?,
            TenantRow::from_row,
        )
    }

    pub async fn tenant(&self, id: i64) -> StoreResult<Option<TenantRow>> {
        let q = format!("SELECT {} FROM tenants WHERE id = $1", TenantRow::COLUMNS);
        sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(TenantRow::from_row)
            .transpose()
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<TenantRow>> {
        let q = format!("SELECT {} FROM tenants WHERE slug = $1", TenantRow::COLUMNS);
        sqlx::query(&q)
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(TenantRow::from_row)
            .transpose()
    }

    pub async fn update_tenant(&self, t: &TenantRow) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE tenants SET name = $2, time_zone = $3, default_region = $4, \
             short_abandon_secs = $5, priority_step_secs = $6 WHERE id = $1",
        )
        .bind(t.id)
        .bind(&t.name)
        .bind(&t.time_zone)
        .bind(&t.default_region)
        .bind(t.short_abandon_secs)
        .bind(t.priority_step_secs)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {}", t.id)));
        }
        Ok(())
    }
}
