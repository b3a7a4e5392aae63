//! Stored KPI intervals: each queue's sums per finished 15-minute interval, and which local
//! days are stored whole. The formulas and when to write are decided elsewhere
//! (`tsunagu_domain::kpi`, the runtime); this reads and writes rows.

use sqlx::Row;
use tsunagu_domain::kpi::{IntervalSums, Sums};

use crate::error::StoreResult;
use crate::rows::rows;
use crate::Store;

/// The sums' columns, in `Sums` field order.
const SUMS: [&str; 17] = [
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "overflowed",
    "timed_out",
    "interrupted",
    "transferred_out",
    "in_queue",
    "within_sl",
    "queue_ms_answered",
    "handled",
    "talk_ms",
    "hold_ms",
    "acw_ms",
    "handling_ms",
    "idle_ms",
];

fn sums_values(s: &Sums) -> [i64; 17] {
    [
        s.offered,
        s.answered,
        s.abandoned,
        s.short_abandoned,
        s.overflowed,
        s.timed_out,
        s.interrupted,
        s.transferred_out,
        s.in_queue,
        s.within_sl,
        s.queue_ms_answered,
        s.handled,
        s.talk_ms,
        s.hold_ms,
        s.acw_ms,
        s.handling_ms,
        s.idle_ms,
    ]
}

fn interval_row(r: &sqlx::any::AnyRow) -> StoreResult<IntervalSums> {
    let v = |c: &str| -> StoreResult<i64> { Ok(r.try_get(c)?) };
    Ok(IntervalSums {
        queue: v("queue_id")?,
        start: v("start_at")?,
        end: v("end_at")?,
        sums: Sums {
            offered: v("offered")?,
            answered: v("answered")?,
            abandoned: v("abandoned")?,
            short_abandoned: v("short_abandoned")?,
            overflowed: v("overflowed")?,
            timed_out: v("timed_out")?,
            interrupted: v("interrupted")?,
            transferred_out: v("transferred_out")?,
            in_queue: v("in_queue")?,
            within_sl: v("within_sl")?,
            queue_ms_answered: v("queue_ms_answered")?,
            handled: v("handled")?,
            talk_ms: v("talk_ms")?,
            hold_ms: v("hold_ms")?,
            acw_ms: v("acw_ms")?,
            handling_ms: v("handling_ms")?,
            idle_ms: v("idle_ms")?,
        },
    })
}

/// `INSERT … ON CONFLICT` for one interval: `add` adds to a stored row (a correction),
/// otherwise the row is replaced.
fn upsert(add: bool) -> String {
    let cols = SUMS.join(", ");
    let params: Vec<String> = (5..5 + SUMS.len()).map(|i| format!("${i}")).collect();
    let set: Vec<String> = SUMS
        .iter()
        .map(|c| {
            if add {
                format!("{c} = kpi_intervals.{c} + excluded.{c}")
            } else {
                format!("{c} = excluded.{c}")
            }
        })
        .collect();
    format!(
        "INSERT INTO kpi_intervals (tenant_id, queue_id, start_at, end_at, {cols}) VALUES ($1, $2, $3, $4, {}) \
         ON CONFLICT (tenant_id, queue_id, start_at) DO UPDATE SET {}",
        params.join(", "),
        set.join(", ")
    )
}

impl Store {
    /// Stored intervals starting in [from, to), by start then queue.
    pub async fn kpi_intervals(
        &self,
        tenant_id: i64,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<IntervalSums>> {
        let q = format!(
            "SELECT queue_id, start_at, end_at, {} FROM kpi_intervals \
             WHERE tenant_id = $1 AND start_at >= $2 AND start_at < $3 ORDER BY start_at, queue_id",
            SUMS.join(", ")
        );
        rows(
            sqlx::query(&q)
                .bind(tenant_id)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?,
            interval_row,
        )
    }

    /// Starts of the local days stored whole that start in [from, to).
    pub async fn kpi_days(&self, tenant_id: i64, from: i64, to: i64) -> StoreResult<Vec<i64>> {
        let found = sqlx::query(
            "SELECT day_start FROM kpi_days WHERE tenant_id = $1 AND day_start >= $2 AND day_start < $3 \
             ORDER BY day_start",
        )
        .bind(tenant_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows(found, |r| Ok(r.try_get::<i64, _>("day_start")?))
    }

    /// Stores a finished local day [day_start, day_end): its intervals replace whatever
    /// was stored for it (empty ones are not kept), and the day is marked stored. One
    /// transaction.
    pub async fn store_kpi_day(
        &self,
        tenant_id: i64,
        day_start: i64,
        day_end: i64,
        intervals: &[IntervalSums],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        store_day(&mut tx, tenant_id, day_start, day_end, intervals).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Stores a finished day on `conn` (see [`Store::store_kpi_day`]; in a batch:
/// `Write::KpiDay`, before the corrections of the same step).
pub(crate) async fn store_day(
    conn: &mut sqlx::AnyConnection,
    tenant_id: i64,
    day_start: i64,
    day_end: i64,
    intervals: &[IntervalSums],
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM kpi_intervals WHERE tenant_id = $1 AND start_at >= $2 AND start_at < $3",
    )
    .bind(tenant_id)
    .bind(day_start)
    .bind(day_end)
    .execute(&mut *conn)
    .await?;
    let insert = upsert(false);
    for i in intervals.iter().filter(|i| !i.sums.is_empty()) {
        let mut q = sqlx::query(&insert)
            .bind(tenant_id)
            .bind(i.queue)
            .bind(i.start)
            .bind(i.end);
        for v in sums_values(&i.sums) {
            q = q.bind(v);
        }
        q.execute(&mut *conn).await?;
    }
    sqlx::query(
        "INSERT INTO kpi_days (tenant_id, day_start, day_end) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, day_start) DO UPDATE SET day_end = excluded.day_end",
    )
    .bind(tenant_id)
    .bind(day_start)
    .bind(day_end)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds a correction (a difference) to a stored interval, creating it if need be, on `conn`
/// (the transaction of the step whose events caused it: `Write::KpiCorrection`).
pub(crate) async fn correct(
    conn: &mut sqlx::AnyConnection,
    tenant_id: i64,
    c: &IntervalSums,
) -> StoreResult<()> {
    let add = upsert(true);
    let mut q = sqlx::query(&add)
        .bind(tenant_id)
        .bind(c.queue)
        .bind(c.start)
        .bind(c.end);
    for v in sums_values(&c.sums) {
        q = q.bind(v);
    }
    q.execute(conn).await?;
    Ok(())
}
