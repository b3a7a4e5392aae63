//! A fresh, empty database per test, on SQLite or PostgreSQL.
//!
//! PostgreSQL tests use the server at `TSUNAGU_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, the one the test script starts) and create
//! a database named `tsunagu_t_<unix seconds>_<random>` for each test. It is dropped when the
//! [`TestDb`] is dropped; databases left behind by killed runs are dropped once they are
//! two hours old.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use sqlx::{Connection, Row};

use crate::{DbKind, Store, StoreResult};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn pg_admin_url() -> String {
    std::env::var("TSUNAGU_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

pub struct TestDb {
    pub url: String,
    pub kind: DbKind,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(kind: DbKind) -> TestDb {
        match kind {
            DbKind::Sqlite => TestDb::sqlite(),
            DbKind::Postgres => TestDb::postgres().await,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("tsunagu.db").display());
        TestDb {
            url,
            kind: DbKind::Sqlite,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        sqlx::any::install_default_drivers();
        let admin = pg_admin_url();
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL for tests is not reachable at {admin}: {e}. Run ./scripts/test, which starts it."));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let name = format!("tsunagu_t_{now}_{:08x}", rand::thread_rng().gen::<u32>());
        // Leftovers of killed runs.
        if let Ok(old) =
            sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'tsunagu_t_%'")
                .fetch_all(&mut conn)
                .await
        {
            for row in old {
                let n: String = row.try_get("datname").unwrap_or_default();
                let secs: u64 = n
                    .split('_')
                    .nth(2)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(u64::MAX);
                if secs + 7200 < now {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            }
        }
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let url = match admin.rfind('/') {
            Some(i) if admin[..i].contains("://") && admin[i + 1..].chars().all(|c| c != '@') => {
                let rest = &admin[i + 1..];
                let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
                format!("{}/{name}{query}", &admin[..i])
            }
            _ => format!("{admin}/{name}"),
        };
        TestDb {
            url,
            kind: DbKind::Postgres,
            pg_name: Some(name),
            _dir: None,
        }
    }

    /// Opens (and migrates) the store.
    pub async fn open(&self) -> StoreResult<Store> {
        Store::open(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let admin = pg_admin_url();
        // Drop runs inside async tests: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
