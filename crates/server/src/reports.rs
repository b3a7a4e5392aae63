//! KPI reports: loads the stored events and agent states of a range and hands them to the
//! formulas in `tsunagu_domain::kpi`. No HTTP here and no SQL beyond the store's reads.

use std::collections::HashMap;

use tsunagu_domain::contact::EventKind;
use tsunagu_domain::kpi::{
    self, AgentStatusRecord, EventRecord, IntervalKpis, KpiQuery, QueueSpec,
};
use tsunagu_domain::AgentStatus;
use tsunagu_store::rows::{QueueRow, TenantRow};
use tsunagu_store::{Store, StoreResult};

fn status(s: &str) -> AgentStatus {
    match s {
        "available" => AgentStatus::Available,
        "not_ready" => AgentStatus::NotReady,
        "offered" => AgentStatus::Offered,
        "busy" => AgentStatus::Busy,
        "acw" => AgentStatus::AfterCallWork,
        _ => AgentStatus::Offline,
    }
}

/// KPIs for the tenant's queues (or one) over [from, to) in intervals of `interval_minutes`
/// (0: one row per queue for the whole range).
pub async fn queue_kpis(
    store: &Store,
    tenant: &TenantRow,
    queues: &[QueueRow],
    from: i64,
    to: i64,
    interval_minutes: u32,
    now: i64,
) -> StoreResult<Vec<IntervalKpis>> {
    let events: Vec<EventRecord> = store
        .kpi_events(tenant.id, from, to)
        .await?
        .into_iter()
        .filter_map(|e| {
            Some(EventRecord {
                contact: e.contact_id,
                at: e.at,
                kind: EventKind::parse(&e.kind)?,
                queue: e.queue_id,
                agent: e.agent_id,
            })
        })
        .collect();
    let visits = kpi::visits_from_events(&events);
    let statuses: Vec<AgentStatusRecord> = store
        .agent_states(tenant.id, from, to)
        .await?
        .into_iter()
        .map(|s| AgentStatusRecord {
            agent: s.agent_id,
            at: s.at,
            status: status(&s.status),
        })
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
    let query = KpiQuery {
        from,
        to,
        interval_minutes,
        tz: jiff::tz::TimeZone::get(&tenant.time_zone).unwrap_or(jiff::tz::TimeZone::UTC),
        short_abandon_ms: tenant.short_abandon_secs * 1000,
        now,
    };
    Ok(kpi::queue_kpis(&query, &specs, &visits, &statuses))
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
