//! What the binary's benchmarks share: their command-line arguments and a fresh database
//! with one tenant.

#![allow(dead_code)]

use tsunagu_store::rows::TenantRow;
use tsunagu_store::testdb::TestDb;
use tsunagu_store::{DbKind, Store};

/// `--name N` from the command line, else `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// PostgreSQL with `--pg`, else SQLite.
pub fn db_kind() -> DbKind {
    if std::env::args().any(|a| a == "--pg") {
        DbKind::Postgres
    } else {
        DbKind::Sqlite
    }
}

/// A fresh database (kept while the returned `TestDb` lives) with the tenant `bench` in
/// Asia/Tokyo.
pub async fn bench_tenant(kind: DbKind) -> (TestDb, Store, TenantRow) {
    let db = TestDb::new(kind).await;
    let store = db.open().await.unwrap();
    let tenant = tsunagu::provision::create_tenant(
        &store,
        tsunagu::provision::NewTenant {
            slug: "bench",
            name: "bench",
            time_zone: "Asia/Tokyo",
            region: "JP",
        },
    )
    .await
    .unwrap();
    (db, store, tenant)
}
