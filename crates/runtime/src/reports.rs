//! KPI reports. Two ways to the same figures:
//!
//! * [`queue_kpis`] recomputes: loads the stored events and agent states of a range and
//!   hands them to the formulas in `tsunagu_domain::kpi` (the reference; slow over long
//!   ranges — it reads every event);
//! * [`stored_intervals`] gathers the range's 15-minute sums — finished days from the
//!   stored intervals (a past day not stored yet is recomputed once and stored), today's
//!   from the tenant actor's live figures — for `kpi::regroup` to add up.
//!
//! No HTTP here and no SQL beyond the store's reads and writes.

use std::collections::HashMap;

use tsunagu_domain::contact::EventKind;
use tsunagu_domain::kpi::{
    self, grain_start, start_of_day, AgentStatusRecord, EventRecord, IntervalKpis, IntervalSums,
    KpiQuery, QueueSpec,
};
use tsunagu_domain::AgentStatus;
use tsunagu_store::rows::{AgentStateRow, ContactEventRow, QueueRow, TenantRow};
use tsunagu_store::{Store, StoreResult};

/// A stored timeline event as the KPI formulas read it (`None`: a kind they do not know).
pub fn event_record(e: &ContactEventRow) -> Option<EventRecord> {
    Some(EventRecord {
        contact: e.contact_id,
        at: e.at,
        kind: EventKind::parse(&e.kind)?,
        queue: e.queue_id,
        agent: e.agent_id,
    })
}

/// A stored agent state as the KPI formulas read it.
pub fn status_record(s: &AgentStateRow) -> AgentStatusRecord {
    AgentStatusRecord {
        agent: s.agent_id,
        at: s.at,
        status: AgentStatus::parse(&s.status).unwrap_or(AgentStatus::Offline),
    }
}

/// What a report of the tenant asks for: [from, to) in intervals of `interval_minutes` (0:
/// the whole range), with the tenant's zone and short-abandon threshold, up to `now`.
pub fn query(tenant: &TenantRow, from: i64, to: i64, interval_minutes: u32, now: i64) -> KpiQuery {
    KpiQuery {
        from,
        to,
        interval_minutes,
        tz: jiff::tz::TimeZone::get(&tenant.time_zone).unwrap_or(jiff::tz::TimeZone::UTC),
        short_abandon_ms: tenant.short_abandon_secs * 1000,
        now,
    }
}

/// KPIs for the tenant's queues (or one) over [from, to) in intervals of `interval_minutes`
/// (0: one row per queue for the whole range), recomputed from the stored events.
pub async fn queue_kpis(
    store: &Store,
    tenant: &TenantRow,
    queues: &[QueueRow],
    from: i64,
    to: i64,
    interval_minutes: u32,
    now: i64,
) -> StoreResult<Vec<IntervalKpis>> {
    let q = query(tenant, from, to, interval_minutes, now);
    Ok(recompute(store, tenant, queues, &q)
        .await?
        .iter()
        .map(IntervalSums::finish)
        .collect())
}

/// A report: its rows (one per queue and interval) and each queue's totals over the range.
#[derive(Clone, Debug)]
pub struct Report {
    pub rows: Vec<IntervalKpis>,
    pub totals: Vec<IntervalKpis>,
}

/// Whether a report of `q` reaches up to now, so that today's part can come from the
/// tenant's live figures (`TenantHandle::today_intervals`) rather than from its events.
pub fn reaches_today(tenant: &TenantRow, q: &KpiQuery) -> bool {
    q.to >= q.now && q.to > start_of_day(q.now, &tenant.time_zone)
}

/// The report `q` of `queues`: added up from the kept 15-minute intervals
/// ([`stored_intervals`], with `today` when given), or — with `recompute`, or when `q`
/// does not start on a quarter hour — recomputed from the stored events, once for rows
/// and totals alike.
pub async fn queue_report(
    store: &Store,
    tenant: &TenantRow,
    queues: &[QueueRow],
    q: &KpiQuery,
    today: Option<&Today>,
    recompute_all: bool,
) -> StoreResult<Report> {
    let ids: Vec<i64> = queues.iter().map(|q| q.id).collect();
    let kept = if recompute_all {
        None
    } else {
        stored_intervals(store, tenant, queues, q.from, q.to, q.now, today).await?
    };
    Ok(match kept {
        Some(parts) => Report {
            rows: kpi::regroup(q, &ids, &parts),
            totals: kpi::totals(q, &ids, &parts),
        },
        None => {
            let sums = recompute(store, tenant, queues, q).await?;
            Report {
                rows: sums.iter().map(IntervalSums::finish).collect(),
                totals: kpi::totals(q, &ids, &sums),
            }
        }
    })
}

/// The sums behind [`queue_kpis`]: every event of the range read and counted.
async fn recompute(
    store: &Store,
    tenant: &TenantRow,
    queues: &[QueueRow],
    q: &KpiQuery,
) -> StoreResult<Vec<IntervalSums>> {
    let (from, to) = (q.from, q.to);
    let events: Vec<EventRecord> = store
        .kpi_events(tenant.id, from, to)
        .await?
        .iter()
        .filter_map(event_record)
        .collect();
    let visits = kpi::visits_from_events(&events);
    let statuses: Vec<AgentStatusRecord> = store
        .agent_states(tenant.id, from, to)
        .await?
        .iter()
        .map(status_record)
        .collect();
    let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
    for a in store.agents(tenant.id).await? {
        for &(q, _) in &a.queues {
            members.entry(q).or_default().push(a.agent.id);
        }
    }
    let specs: Vec<QueueSpec> = queues
        .iter()
        .map(|q| QueueSpec {
            queue: q.id,
            sl_threshold_ms: q.sl_threshold_secs * 1000,
            agents: members.remove(&q.id).unwrap_or_default(),
        })
        .collect();
    Ok(kpi::queue_sums(q, &specs, &visits, &statuses))
}

/// Today's 15-minute sums kept by the tenant's actor (`TenantHandle::today_intervals`).
pub use crate::center::Today;

/// The 15-minute sums of [from, to) for `kpi::regroup`: whole finished days from the stored
/// intervals (a day not stored yet is recomputed now and stored, so the next report reads
/// it), the part of today up to now from `today` when given, and any other part of a day
/// recomputed from its events. `None` when `from` is not on a quarter hour of the local
/// clock: such a report is recomputed whole (its first interval starts before `from`).
pub async fn stored_intervals(
    store: &Store,
    tenant: &TenantRow,
    queues: &[QueueRow],
    from: i64,
    to: i64,
    now: i64,
    today: Option<&Today>,
) -> StoreResult<Option<Vec<IntervalSums>>> {
    if grain_start(from, start_of_day(from, &tenant.time_zone)) != from {
        return Ok(None);
    }
    let today_start = start_of_day(now, &tenant.time_zone);
    let mut day = start_of_day(from, &tenant.time_zone);
    let stored_days = store.kpi_days(tenant.id, day, to).await?;
    let mut parts = Vec::new();
    while day < to {
        let next = start_of_day(day + 25 * 3_600_000, &tenant.time_zone);
        let (seg_from, seg_to) = (from.max(day), to.min(next));
        let whole_past_day = seg_from == day && seg_to == next && next <= today_start;
        if whole_past_day {
            if !stored_days.contains(&day) {
                store_day(store, tenant, day, next, now).await?;
            }
            parts.extend(store.kpi_intervals(tenant.id, day, next).await?);
        } else if let Some(t) =
            today.filter(|t| day == today_start && t.day_start == day && to >= now)
        {
            parts.extend(t.intervals.iter().filter(|g| g.start >= seg_from).cloned());
        } else {
            let part = query(tenant, seg_from, seg_to, 15, now);
            parts.extend(recompute(store, tenant, queues, &part).await?);
        }
        day = next;
    }
    Ok(Some(parts))
}

/// Computes a finished local day's intervals from its events and stores them — every
/// queue's, so that a report of one queue does not store a day short.
pub(crate) async fn store_day(
    store: &Store,
    tenant: &TenantRow,
    day: i64,
    next: i64,
    now: i64,
) -> StoreResult<()> {
    let all = store.queues(tenant.id).await?;
    let sums = recompute(store, tenant, &all, &query(tenant, day, next, 15, now)).await?;
    store.store_kpi_day(tenant.id, day, next, &sums).await
}

/// Stores the tenant's missing KPI days among the `days` before the day before yesterday
/// (yesterday is stored by the tenant's actor as it ends). Returns how many it stored.
pub async fn store_missing_days(
    store: &Store,
    tenant: &TenantRow,
    now: i64,
    days: i64,
) -> StoreResult<usize> {
    let zone = &tenant.time_zone;
    let yesterday = start_of_day(start_of_day(now, zone) - 1, zone);
    let mut day = yesterday;
    let mut want = Vec::new();
    for _ in 0..days {
        let prev = start_of_day(day - 1, zone);
        want.push((prev, day));
        day = prev;
    }
    let stored = store.kpi_days(tenant.id, day, yesterday).await?;
    let mut n = 0;
    for (start, end) in want {
        if !stored.contains(&start) {
            store_day(store, tenant, start, end, now).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// What became of the inbound calls that came in during [from, to) in the IVR.
pub async fn ivr_kpis(
    store: &Store,
    tenant: &TenantRow,
    from: i64,
    to: i64,
) -> StoreResult<tsunagu_domain::ivr_kpi::IvrKpis> {
    let calls = store.ivr_calls(tenant.id, from, to).await?;
    Ok(tsunagu_domain::ivr_kpi::ivr_kpis(&calls))
}
