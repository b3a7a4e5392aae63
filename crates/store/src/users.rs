//! Users (people who log in) and their tokens (browser sessions and API tokens).

use crate::error::{StoreError, StoreResult};
use crate::rows::{rows, TokenRow, UserRow};
use crate::Store;

impl Store {
    pub async fn create_user(&self, u: &UserRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, tenant_id, username, display_name, role, password_hash, disabled, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(u.id)
        .bind(u.tenant_id)
        .bind(&u.username)
        .bind(&u.display_name)
        .bind(&u.role)
        .bind(&u.password_hash)
        .bind(i64::from(u.disabled))
        .bind(u.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, &format!("user {}", u.username)))?;
        Ok(())
    }

    pub async fn user(&self, tenant_id: i64, id: i64) -> StoreResult<Option<UserRow>> {
        let q = format!(
            "SELECT {} FROM users WHERE tenant_id = $1 AND id = $2",
            UserRow::COLUMNS
        );
        sqlx::query(&q)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(UserRow::from_row)
            .transpose()
    }

    pub async fn user_by_name(
        &self,
        tenant_id: i64,
        username: &str,
    ) -> StoreResult<Option<UserRow>> {
        let q = format!(
            "SELECT {} FROM users WHERE tenant_id = $1 AND username = $2",
            UserRow::COLUMNS
        );
        sqlx::query(&q)
            .bind(tenant_id)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(UserRow::from_row)
            .transpose()
    }

    pub async fn users(&self, tenant_id: i64) -> StoreResult<Vec<UserRow>> {
        let q = format!(
            "SELECT {} FROM users WHERE tenant_id = $1 ORDER BY id",
            UserRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?,
            UserRow::from_row,
        )
    }

    /// Updates name, role, password hash and disabled flag.
    pub async fn update_user(&self, u: &UserRow) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE users SET display_name = $3, role = $4, password_hash = $5, disabled = $6 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(u.tenant_id)
        .bind(u.id)
        .bind(&u.display_name)
        .bind(&u.role)
        .bind(&u.password_hash)
        .bind(i64::from(u.disabled))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {}", u.id)));
        }
        if u.disabled {
            self.revoke_user_tokens(u.id).await?;
        }
        Ok(())
    }

    pub async fn create_token(&self, t: &TokenRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tokens (id, token_hash, tenant_id, user_id, kind, name, created_at, expires_at, \
             revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(t.id)
        .bind(&t.token_hash)
        .bind(t.tenant_id)
        .bind(t.user_id)
        .bind(&t.kind)
        .bind(&t.name)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(i64::from(t.revoked))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live token by its hash, with its user: not revoked, not expired, user enabled.
    pub async fn token_user(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<(TokenRow, UserRow)>> {
        let q = format!(
            "SELECT {} FROM tokens WHERE token_hash = $1",
            TokenRow::COLUMNS
        );
        let Some(row) = sqlx::query(&q)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let token = TokenRow::from_row(&row)?;
        if token.revoked || token.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        let Some(user) = self.user(token.tenant_id, token.user_id).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        Ok(Some((token, user)))
    }

    pub async fn tokens(&self, tenant_id: i64, user_id: Option<i64>) -> StoreResult<Vec<TokenRow>> {
        let q = format!(
            "SELECT {} FROM tokens WHERE tenant_id = $1 AND kind = 'api' AND ($2 = 0 OR user_id = $2) ORDER BY id",
            TokenRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(user_id.unwrap_or(0))
                .fetch_all(&self.pool)
                .await?,
            TokenRow::from_row,
        )
    }

    pub async fn revoke_token(&self, tenant_id: i64, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE tokens SET revoked = 1 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn revoke_token_by_hash(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE tokens SET revoked = 1 WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn revoke_user_tokens(&self, user_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE tokens SET revoked = 1 WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops expired browser sessions (housekeeping).
    pub async fn purge_expired_sessions(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM tokens WHERE kind = 'session' AND (expires_at <= $1 OR revoked = 1)",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
