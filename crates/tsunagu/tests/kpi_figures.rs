//! KPI figures checked against a hand count, where they used to be wrong: the demo's history
//! (talk time but no handling time or occupancy), and a contact a supervisor moves out of a
//! queue while it waits (counted there as an overflow with service level 0). On SQLite and
//! PostgreSQL.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tsunagu_store::DbKind;

fn total<'a>(report: &'a Value, queue: i64) -> &'a Value {
    report["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["queue_id"] == queue)
        .map(|r| &r["kpis"])
        .unwrap_or_else(|| panic!("no totals for {queue}: {report:#}"))
}

async fn demo_history_has_handling_time_and_occupancy(kind: DbKind) {
    let mut srv = TestServer::demo(kind).await;
    let sv = srv.login("sv", SV_PW).await;
    let now = jiff::Timestamp::now();
    let from = now - jiff::SignedDuration::from_hours(16 * 24);
    let report = sv
        .ok(&format!(
            "/api/kpi/queues?interval=0&from={}&to={}",
            from.as_millisecond(),
            now.as_millisecond()
        ))
        .await;
    let mut checked = 0;
    for name in ["orders", "support", "billing", "complaints"] {
        let q = sv.queue_id(name).await;
        let k = total(&report, q);
        if k["answered"].as_u64().unwrap_or(0) == 0 {
            continue;
        }
        let talk = k["talk_secs"].as_f64().unwrap();
        let acw = k["acw_secs"].as_f64().unwrap();
        let handling = k["handling_secs"].as_f64().unwrap();
        assert!(talk > 0.0, "{name}: {k}");
        // The queue's agents were busy or in after-call work at least as long as this
        // queue's own contacts took (they may serve other queues too).
        assert!(handling >= talk + acw - 1.0, "{name}: {k}");
        let occ = k["occupancy"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: no occupancy: {k}"));
        assert!(occ > 0.0 && occ < 1.0, "{name}: {k}");
        checked += 1;
    }
    assert!(checked >= 3, "{report:#}");
    srv.stop().await;
}

#[tokio::test]
async fn demo_history_has_handling_time_and_occupancy_sqlite() {
    demo_history_has_handling_time_and_occupancy(DbKind::Sqlite).await;
}

#[tokio::test]
async fn demo_history_has_handling_time_and_occupancy_postgres() {
    demo_history_has_handling_time_and_occupancy(DbKind::Postgres).await;
}

async fn transferred_while_waiting_is_its_own_outcome(kind: DbKind) {
    let mut srv = TestServer::demo(kind).await;
    let sv = srv.login("sv", SV_PW).await;
    let orders = sv.queue_id("orders").await;
    let support = sv.queue_id("support").await;
    let today = |report: &Value, q| total(report, q).clone();
    let before = sv.ok("/api/kpi/queues?interval=0").await;

    // Nobody is signed in: the task waits in orders until a supervisor moves it.
    let (s, c) = sv
        .post(
            "/api/contacts",
            json!({ "queue_id": orders, "subject": "住所変更" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    let (s, b) = sv
        .post(
            &format!("/api/contacts/{id}/transfer"),
            json!({ "queue_id": support }),
        )
        .await;
    assert!(s.is_success(), "{b}");

    let after = sv.ok("/api/kpi/queues?interval=0").await;
    let d = |q: i64, k: &str| {
        today(&after, q)[k].as_i64().unwrap() - today(&before, q)[k].as_i64().unwrap()
    };
    assert_eq!(d(orders, "transferred_out"), 1, "{after:#}");
    assert_eq!(d(orders, "overflowed"), 0, "not an overflow: {after:#}");
    assert_eq!(
        d(orders, "offered"),
        0,
        "not the queue's to answer: {after:#}"
    );
    assert_eq!(
        today(&after, orders)["service_level"],
        today(&before, orders)["service_level"],
        "service level untouched"
    );
    assert_eq!(d(support, "offered"), 1, "{after:#}");
    assert_eq!(d(support, "in_queue"), 1, "{after:#}");
    srv.stop().await;
}

#[tokio::test]
async fn transferred_while_waiting_is_its_own_outcome_sqlite() {
    transferred_while_waiting_is_its_own_outcome(DbKind::Sqlite).await;
}

#[tokio::test]
async fn transferred_while_waiting_is_its_own_outcome_postgres() {
    transferred_while_waiting_is_its_own_outcome(DbKind::Postgres).await;
}
