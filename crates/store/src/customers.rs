//! Customers (CRM): profile, phone numbers (E.164) and emails, and the screen-pop lookups.

use sqlx::Row;

use crate::config::not_found_if_none;
use crate::error::{StoreError, StoreResult};
use crate::rows::*;
use crate::Store;

/// Paged listing: newest first, `before_id` continues a page.
#[derive(Clone, Debug, Default)]
pub struct CustomerSearch {
    /// Substring of name, kana or company.
    pub text: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Creates a customer with phones and emails (already normalized) atomically.
    pub async fn create_customer(&self, c: &CustomerFull) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        insert_customer(&mut tx, c).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Many customers in few transactions (imports, benchmarks).
    pub async fn create_customers(&self, all: &[CustomerFull]) -> StoreResult<()> {
        for chunk in all.chunks(1000) {
            let mut tx = self.pool.begin().await?;
            for c in chunk {
                insert_customer(&mut tx, c).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Replaces profile, phones and emails.
    pub async fn update_customer(&self, c: &CustomerFull) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let r = &c.customer;
        let done = sqlx::query(
            "UPDATE customers SET display_name = $3, name_kana = $4, company = $5, attributes = $6, updated_at = $7 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(r.tenant_id)
        .bind(r.id)
        .bind(&r.display_name)
        .bind(&r.name_kana)
        .bind(&r.company)
        .bind(&r.attributes)
        .bind(r.updated_at)
        .execute(&mut *tx)
        .await?;
        not_found_if_none(done.rows_affected(), "customer", r.id)?;
        sqlx::query("DELETE FROM customer_phones WHERE customer_id = $1")
            .bind(r.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM customer_emails WHERE customer_id = $1")
            .bind(r.id)
            .execute(&mut *tx)
            .await?;
        insert_addresses(&mut tx, c).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a customer (e.g. on a deletion request). Their contacts stay, unlinked.
    pub async fn delete_customer(&self, tenant_id: i64, id: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE contacts SET customer_id = NULL WHERE tenant_id = $1 AND customer_id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM customer_phones WHERE tenant_id = $1 AND customer_id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM customer_emails WHERE tenant_id = $1 AND customer_id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM customers WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        not_found_if_none(done.rows_affected(), "customer", id)?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn customer(&self, tenant_id: i64, id: i64) -> StoreResult<Option<CustomerFull>> {
        let q = format!(
            "SELECT {} FROM customers c WHERE c.tenant_id = $1 AND c.id = $2",
            CustomerRow::COLUMNS
        );
        let Some(row) = sqlx::query(&q)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let customer = CustomerRow::from_row(&row)?;
        Ok(Some(self.with_addresses(customer).await?))
    }

    async fn with_addresses(&self, customer: CustomerRow) -> StoreResult<CustomerFull> {
        let phones = sqlx::query(
            "SELECT e164, label FROM customer_phones WHERE customer_id = $1 ORDER BY e164",
        )
        .bind(customer.id)
        .fetch_all(&self.pool)
        .await?;
        let emails =
            sqlx::query("SELECT email FROM customer_emails WHERE customer_id = $1 ORDER BY email")
                .bind(customer.id)
                .fetch_all(&self.pool)
                .await?;
        Ok(CustomerFull {
            customer,
            phones: rows(phones, |r| {
                Ok(PhoneRow {
                    e164: r.try_get("e164")?,
                    label: r.try_get("label")?,
                })
            })?,
            emails: rows(emails, |r| Ok(r.try_get("email")?))?,
        })
    }

    /// Screen-pop: customers with this E.164 number (usually one).
    pub async fn customers_by_phone(
        &self,
        tenant_id: i64,
        e164: &str,
    ) -> StoreResult<Vec<CustomerFull>> {
        let q = format!(
            "SELECT {} FROM customer_phones p JOIN customers c ON c.id = p.customer_id \
             WHERE p.tenant_id = $1 AND p.e164 = $2 ORDER BY c.id LIMIT 20",
            CustomerRow::COLUMNS
        );
        let found = rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(e164)
                .fetch_all(&self.pool)
                .await?,
            CustomerRow::from_row,
        )?;
        let mut out = Vec::with_capacity(found.len());
        for c in found {
            out.push(self.with_addresses(c).await?);
        }
        Ok(out)
    }

    /// The first customer (lowest id) with this E.164 number, for linking a contact to
    /// its customer without loading the customer.
    pub async fn customer_id_by_phone(
        &self,
        tenant_id: i64,
        e164: &str,
    ) -> StoreResult<Option<i64>> {
        let row = sqlx::query(
            "SELECT c.id FROM customer_phones p JOIN customers c ON c.id = p.customer_id \
             WHERE p.tenant_id = $1 AND p.e164 = $2 ORDER BY c.id LIMIT 1",
        )
        .bind(tenant_id)
        .bind(e164)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("id")?),
            None => None,
        })
    }

    /// Screen-pop by email (normalized).
    pub async fn customers_by_email(
        &self,
        tenant_id: i64,
        email: &str,
    ) -> StoreResult<Vec<CustomerFull>> {
        let q = format!(
            "SELECT {} FROM customer_emails e JOIN customers c ON c.id = e.customer_id \
             WHERE e.tenant_id = $1 AND e.email = $2 ORDER BY c.id LIMIT 20",
            CustomerRow::COLUMNS
        );
        let found = rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(email)
                .fetch_all(&self.pool)
                .await?,
            CustomerRow::from_row,
        )?;
        let mut out = Vec::with_capacity(found.len());
        for c in found {
            out.push(self.with_addresses(c).await?);
        }
        Ok(out)
    }

    pub async fn customers(
        &self,
        tenant_id: i64,
        s: &CustomerSearch,
    ) -> StoreResult<Vec<CustomerRow>> {
        let pattern = s.text.as_ref().map(|t| {
            format!(
                "%{}%",
                t.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        let q = format!(
            "SELECT {} FROM customers c WHERE c.tenant_id = $1 AND c.id < $2 AND ($3 = '' OR c.display_name LIKE $3 ESCAPE '\\' \
             OR c.name_kana LIKE $3 ESCAPE '\\' OR c.company LIKE $3 ESCAPE '\\') ORDER BY c.id DESC LIMIT $4",
            CustomerRow::COLUMNS
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(s.before_id.unwrap_or(i64::MAX))
                .bind(pattern.unwrap_or_default())
                .bind(s.limit.clamp(1, 500))
                .fetch_all(&self.pool)
                .await?,
            CustomerRow::from_row,
        )
    }

    pub async fn customer_count(&self, tenant_id: i64) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM customers WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

async fn insert_customer(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    c: &CustomerFull,
) -> StoreResult<()> {
    let r = &c.customer;
    sqlx::query(
        "INSERT INTO customers (id, tenant_id, display_name, name_kana, company, attributes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(r.id)
    .bind(r.tenant_id)
    .bind(&r.display_name)
    .bind(&r.name_kana)
    .bind(&r.company)
    .bind(&r.attributes)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut **tx)
    .await?;
    insert_addresses(tx, c).await
}

async fn insert_addresses(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    c: &CustomerFull,
) -> StoreResult<()> {
    for p in &c.phones {
        sqlx::query("INSERT INTO customer_phones (tenant_id, e164, customer_id, label) VALUES ($1, $2, $3, $4)")
            .bind(c.customer.tenant_id)
            .bind(&p.e164)
            .bind(c.customer.id)
            .bind(&p.label)
            .execute(&mut **tx)
            .await
            .map_err(|e| StoreError::conflict_on_unique(e, &format!("phone {} on this customer", p.e164)))?;
    }
    for e in &c.emails {
        sqlx::query(
            "INSERT INTO customer_emails (tenant_id, email, customer_id) VALUES ($1, $2, $3)",
        )
        .bind(c.customer.tenant_id)
        .bind(e)
        .bind(c.customer.id)
        .execute(&mut **tx)
        .await
        .map_err(|err| {
            StoreError::conflict_on_unique(err, &format!("email {e} on this customer"))
        })?;
    }
    Ok(())
}
