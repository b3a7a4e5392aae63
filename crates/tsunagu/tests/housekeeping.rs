//! Housekeeping while the server runs: expired and revoked browser sessions are deleted
//! (they used to stay in the database for good); live sessions and API tokens are kept.

mod common;

use std::time::Duration;

use common::*;
use tsunagu_store::rows::TokenRow;
use tsunagu_store::testdb::TestDb;
use tsunagu_store::DbKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_purged() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let store = db.open().await.unwrap();
    tsunagu::demo::seed_if_empty(&store).await.unwrap();
    let tenant = store.tenant_by_slug("demo").await.unwrap().unwrap();
    let user = store.users(tenant.id).await.unwrap()[0].clone();
    let now = tsunagu::provision::now_ms();
    let token = |n: i64, kind: &str, expires_at: Option<i64>, revoked: bool| TokenRow {
        id: store.next_id(now),
        token_hash: format!("hash-{n}"),
        tenant_id: tenant.id,
        user_id: user.id,
        kind: kind.into(),
        name: None,
        created_at: now - 86_400_000,
        expires_at,
        revoked,
    };
    let rows = [
        token(1, "session", Some(now - 1000), false), // expired
        token(2, "session", Some(now + 3_600_000), true), // revoked
        token(3, "session", Some(now + 3_600_000), false), // live
        token(4, "api", None, false),
    ];
    for t in &rows {
        store.create_token(t).await.unwrap();
    }
    let mut srv = TestServer::serve(db, store.clone()).await;
    let mut left = Vec::new();
    for _ in 0..100 {
        left = sqlx::query_scalar::<_, String>("SELECT token_hash FROM tokens WHERE user_id = $1")
            .bind(user.id)
            .fetch_all(store.pool())
            .await
            .unwrap();
        if !left.iter().any(|h| h == "hash-1" || h == "hash-2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    left.sort();
    assert_eq!(left, vec!["hash-3".to_string(), "hash-4".to_string()]);
    srv.stop().await;
}
