//! # tsunagu-store — durable storage on SQLite or PostgreSQL
//!
//! One schema (`migrations/`), one code path: queries go through sqlx's `Any` driver and
//! use only what both databases understand. The database is chosen by URL:
//! `sqlite:///path/to/tsunagu.db` (the embedded default, WAL, `synchronous=FULL` so a commit
//! is on disk before it is acknowledged) or `postgres://user@host/db`.
//!
//! Layout:
//! * `rows` — the row types, one per table, as the rest of the system sees them.
//! * `tenants`, `users` (users and tokens), `config` (skills, queues, agents, dispositions,
//!   not-ready reasons), `customers`, `contacts` (contacts, events, notes) — reads and
//!   single-purpose writes per table group.
//! * `batch` — [`Write`]: the atomic unit the contact center's runtime commits after each
//!   decision (contact rows, timeline events, agent state changes, notes).
//! * `testdb` — a fresh database per test, on either engine.
//!
//! The store decides nothing: it validates nothing beyond what constraints enforce, routes
//! nothing, knows no HTTP.

mod batch;
mod config;
mod contacts;
mod customers;
mod error;
mod kpi;
pub mod rows;
mod tenants;
pub mod testdb;
mod users;
pub mod voice;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};
use tsunagu_domain::ids::IdGen;

pub use batch::Write;
pub use contacts::ContactFilter;
pub use customers::CustomerSearch;
pub use error::{StoreError, StoreResult};
pub use voice::{FlowRow, NumberRow, RecordingRow, SipAccountRow};

/// Which engine is behind the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// A connection pool plus the id generator. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    kind: DbKind,
    ids: std::sync::Arc<IdGen>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects (creating an SQLite file if missing), without migrating.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            DbKind::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "database URL must start with sqlite: or postgres:, got {}",
                redact_url(url)
            )));
        };
        let url = match kind {
            DbKind::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == DbKind::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL lets readers run beside the writer; FULL makes each commit
                        // durable before we acknowledge it; the busy timeout serializes
                        // writers instead of failing them.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let store = Store {
            pool,
            kind,
            ids: std::sync::Arc::new(IdGen::new(0)),
        };
        Ok(store)
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let mut store = Store::connect(url).await?;
        store.migrate().await?;
        store.ids = std::sync::Arc::new(IdGen::new(store.max_id().await?));
        Ok(store)
    }

    /// Applies pending migrations. Returns how many were applied.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let before = self.applied_migrations().await.unwrap_or(0);
        MIGRATOR.run(&self.pool).await?;
        let after = self.applied_migrations().await?;
        Ok(after.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> StoreResult<usize> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? as usize)
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A new id, unique and time-ordered (see `tsunagu_domain::ids`).
    pub fn next_id(&self, now_ms: i64) -> i64 {
        self.ids.next(now_ms)
    }

    /// The largest id in use, so the generator starts above it after a restart.
    async fn max_id(&self) -> StoreResult<i64> {
        let mut max = 0;
        for table in [
            "tenants",
            "users",
            "tokens",
            "skills",
            "queues",
            "agents",
            "agent_state_events",
            "customers",
            "dispositions",
            "contacts",
            "contact_events",
            "contact_notes",
            "recordings",
        ] {
            let row = sqlx::query(&format!("SELECT COALESCE(MAX(id), 0) AS m FROM {table}"))
                .fetch_one(&self.pool)
                .await?;
            max = max.max(row.try_get::<i64, _>("m")?);
        }
        Ok(max)
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Waits for in-flight queries and closes the pool (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A URL with any password replaced, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
