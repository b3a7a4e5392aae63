//! Reports add up stored 15-minute intervals instead of reading every event again: the
//! figures must be the recompute's (`recompute=true`, the reference) for past days stored
//! on first use, for a day the center stored as it ended, corrected when a contact of that
//! day changed after midnight, and for ranges reaching into today (live figures). On
//! SQLite and PostgreSQL.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tsunagu_domain::kpi::start_of_day;
use tsunagu_runtime::center::Clock;
use tsunagu_store::DbKind;

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The report both ways, compared row by row (`all`: agent time and occupancy too).
async fn same_as_recompute(sv: &Client, query: &str, all: bool) -> Value {
    let kept = sv.ok(&format!("/api/kpi/queues?{query}")).await;
    let again = sv
        .ok(&format!("/api/kpi/queues?{query}&recompute=true"))
        .await;
    for part in ["rows", "totals"] {
        let (a, b) = (
            kept[part].as_array().unwrap(),
            again[part].as_array().unwrap(),
        );
        assert_eq!(a.len(), b.len(), "{query}: {part}");
        for (x, y) in a.iter().zip(b) {
            assert_eq!((&x["queue_id"], &x["start"]), (&y["queue_id"], &y["start"]));
            if all {
                assert_eq!(x["kpis"], y["kpis"], "{query}: {part} {}", x["start"]);
            } else {
                for f in VISIT_FIELDS {
                    assert_eq!(
                        x["kpis"][f], y["kpis"][f],
                        "{query}: {part} {} {f}",
                        x["start"]
                    );
                }
            }
        }
    }
    kept
}

fn offered(report: &Value) -> u64 {
    report["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kpis"]["offered"].as_u64().unwrap())
        .sum()
}

/// Past days are stored by the housekeeping backfill or, if a report comes first, when the
/// report needs them; either way the report is the recompute's.
async fn past_days_are_stored_on_first_use(kind: DbKind) {
    let mut srv = TestServer::demo(kind).await;
    let sv = srv.login("sv", SV_PW).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let today = start_of_day(now, "Asia/Tokyo");
    let from = start_of_day(today - 16 * 86_400_000, "Asia/Tokyo");
    let tenant = srv.store.tenant_by_slug("demo").await.unwrap().unwrap();
    for interval in [15, 60, 0] {
        let r = same_as_recompute(
            &sv,
            &format!("interval={interval}&from={from}&to={today}"),
            true,
        )
        .await;
        assert!(offered(&r) > 0, "the demo's history has contacts: {r:#}");
    }
    let days = srv.store.kpi_days(tenant.id, from, today).await.unwrap();
    assert_eq!(
        days.len(),
        16,
        "every past day stored (by the backfill, or once read)"
    );
    // Into today: the stored days and the live figures.
    same_as_recompute(&sv, &format!("interval=30&from={from}"), false).await;
    // A range that does not start on a quarter hour is recomputed whole.
    same_as_recompute(
        &sv,
        &format!("interval=15&from={}&to={today}", from + 7 * 60_000),
        true,
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn past_days_are_stored_on_first_use_sqlite() {
    past_days_are_stored_on_first_use(DbKind::Sqlite).await;
}

#[tokio::test]
async fn past_days_are_stored_on_first_use_postgres() {
    past_days_are_stored_on_first_use(DbKind::Postgres).await;
}

/// The center stores the day as it ends, and a contact of that day that changes after
/// midnight corrects it.
async fn a_day_is_stored_at_midnight_and_corrected_after(kind: DbKind) {
    let real = jiff::Timestamp::now().as_millisecond();
    let today = start_of_day(real, "Asia/Tokyo");
    // 23:57 local: the contacts wait less than orders' maximum (5 minutes) across midnight.
    let late = today + 23 * 3_600_000 + 57 * 60_000;
    let clock = Arc::new(TestClock(AtomicI64::new(late)));
    let mut srv = TestServer::demo_with_clock(kind, clock.clone()).await;
    let sv = srv.login("sv", SV_PW).await;
    let tenant = srv.store.tenant_by_slug("demo").await.unwrap().unwrap();
    let orders = sv.queue_id("orders").await;
    // Two tasks wait in orders before midnight (nobody is signed in); one is cancelled.
    let mut ids = Vec::new();
    for subject in ["住所変更", "返品"] {
        let (s, c) = sv
            .post(
                "/api/contacts",
                json!({ "queue_id": orders, "subject": subject }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        ids.push(c["id"].as_i64().unwrap());
    }
    clock.0.fetch_add(60_000, Ordering::SeqCst);
    let (s, v) = sv
        .post(&format!("/api/contacts/{}/end", ids[1]), json!({}))
        .await;
    assert!(s.is_success(), "{v}");

    // Past midnight, the next step stores the finished day.
    let tomorrow = start_of_day(today + 25 * 3_600_000, "Asia/Tokyo");
    clock.0.store(tomorrow + 30_000, Ordering::SeqCst);
    let (s, c) = sv
        .post(
            "/api/contacts",
            json!({ "queue_id": orders, "subject": "翌日" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(
        srv.store
            .kpi_days(tenant.id, today, tomorrow)
            .await
            .unwrap(),
        vec![today],
        "stored as the day ended"
    );
    let q = format!("interval=15&from={today}&to={tomorrow}");
    let before = same_as_recompute(&sv, &q, true).await;

    // The customer of 23:57 gives up at 00:01: yesterday's abandon, corrected in place.
    clock.0.fetch_add(30_000, Ordering::SeqCst);
    let (s, v) = sv
        .post(
            &format!("/api/contacts/{}/end", ids[0]),
            json!({ "reason": "customer_left" }),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let after = same_as_recompute(&sv, &q, true).await;
    let total = |r: &Value, f: &str| -> u64 {
        r["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["queue_id"] == orders)
            .unwrap()["kpis"][f]
            .as_u64()
            .unwrap()
    };
    assert_eq!(total(&before, "in_queue"), 1, "{before:#}");
    assert_eq!(total(&after, "in_queue"), 0, "{after:#}");
    assert_eq!(total(&after, "abandoned"), total(&before, "abandoned") + 1);
    assert_eq!(total(&after, "interrupted"), 1, "the cancelled one");

    // Quiet for three days: the next step turns each day on its own.
    let day = |n: i64| start_of_day(tomorrow + n * 86_400_000 + 3_600_000, "Asia/Tokyo");
    clock.0.store(day(3) + 60_000, Ordering::SeqCst);
    let sv = srv.login("sv", SV_PW).await; // the session of three days ago has expired
    let (s, c) = sv
        .post(
            "/api/contacts",
            json!({ "queue_id": orders, "subject": "週明け" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(
        srv.store.kpi_days(tenant.id, today, day(3)).await.unwrap(),
        vec![today, day(0), day(1), day(2)],
        "one stored day each"
    );
    let q = format!("interval=60&from={today}&to={}", day(3));
    same_as_recompute(&sv, &q, true).await;
    srv.stop().await;
}

#[tokio::test]
async fn a_day_is_stored_at_midnight_and_corrected_after_sqlite() {
    a_day_is_stored_at_midnight_and_corrected_after(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_day_is_stored_at_midnight_and_corrected_after_postgres() {
    a_day_is_stored_at_midnight_and_corrected_after(DbKind::Postgres).await;
}
