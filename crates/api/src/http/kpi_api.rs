//! KPIs per queue and interval, and the real-time picture (wallboard). Supervisors and admins.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use tsunagu_domain::kpi::Kpis;
use tsunagu_domain::role::Role;
use tsunagu_store::rows::TenantRow;
use utoipa::ToSchema;

use super::auth::AuthUser;
use super::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use super::App;
use crate::dto::{ts, AgentStateView};
use tsunagu_domain::kpi::start_of_day;
use tsunagu_runtime::reports;

/// The KPI figures, as docs/kpi.md defines them. Rates are fractions (0.8 = 80 %); null when undefined
/// (nothing offered, nothing answered, …).
#[derive(Serialize, ToSchema)]
pub struct KpiView {
    /// 入電数: contacts that entered the queue, minus short abandons.
    pub offered: u64,
    /// 応答数
    pub answered: u64,
    /// 放棄呼 (left after the short-abandon threshold)
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub overflowed: u64,
    pub timed_out: u64,
    /// 中断: ended by the center while waiting (restart, shutdown, a supervisor's
    /// hang-up, a call lost); not the customer's doing, so not in offered or abandoned.
    pub interrupted: u64,
    /// Moved to another queue by a person while waiting; not in offered.
    pub transferred_out: u64,
    /// Entered in the interval and still waiting.
    pub in_queue: u64,
    pub answered_within_sl: u64,
    /// 応答率 = answered ÷ offered
    pub answer_rate: Option<f64>,
    /// 放棄率 = abandoned ÷ offered
    pub abandon_rate: Option<f64>,
    /// 時間内応答率 = answered within Y s ÷ offered
    pub service_level: Option<f64>,
    /// Average speed of answer, seconds (queue time of answered ÷ answered).
    pub asa_secs: Option<f64>,
    pub handled: u64,
    /// Average handle time = (talk + hold + after-call work) ÷ handled, seconds.
    pub aht_secs: Option<f64>,
    pub talk_secs: f64,
    pub hold_secs: f64,
    pub acw_secs: f64,
    pub handling_secs: f64,
    pub idle_secs: f64,
    /// 稼働率 = handling ÷ (handling + available idle) of the queue's agents.
    pub occupancy: Option<f64>,
}

impl From<&Kpis> for KpiView {
    fn from(k: &Kpis) -> Self {
        KpiView {
            offered: k.offered,
            answered: k.answered,
            abandoned: k.abandoned,
            short_abandoned: k.short_abandoned,
            overflowed: k.overflowed,
            timed_out: k.timed_out,
            interrupted: k.interrupted,
            transferred_out: k.transferred_out,
            in_queue: k.in_queue,
            answered_within_sl: k.answered_within_sl,
            answer_rate: k.answer_rate,
            abandon_rate: k.abandon_rate,
            service_level: k.service_level,
            asa_secs: k.asa_secs,
            handled: k.handled,
            aht_secs: k.aht_secs,
            talk_secs: k.talk_secs,
            hold_secs: k.hold_secs,
            acw_secs: k.acw_secs,
            handling_secs: k.handling_secs,
            idle_secs: k.idle_secs,
            occupancy: k.occupancy,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KpiRow {
    pub queue_id: i64,
    pub queue_name: String,
    pub start: String,
    pub end: String,
    pub kpis: KpiView,
}

#[derive(Serialize, ToSchema)]
pub struct KpiReport {
    pub from: String,
    pub to: String,
    pub interval_minutes: u32,
    pub time_zone: String,
    /// Per queue and interval.
    pub rows: Vec<KpiRow>,
    /// Per queue over the whole range.
    pub totals: Vec<KpiRow>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KpiParams {
    /// Start: RFC 3339 time, a local date (2026-01-05, in the center's zone) or Unix ms.
    /// Default: today 00:00 local.
    pub from: Option<String>,
    /// End (exclusive), same forms. Default: now.
    pub to: Option<String>,
    /// 15, 30 or 60 minutes; 0 for none. Default 30.
    pub interval: Option<u32>,
    pub queue_id: Option<i64>,
    /// true: read every stored event of the range again instead of adding up the kept
    /// 15-minute intervals (slow over long ranges; the same figures — for checking).
    pub recompute: Option<bool>,
}

/// The latest time a bound may name: the end of year 9999 (Unix ms).
const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Parses a time bound: RFC 3339, a local date or date-time in the center's zone
/// (`2026-12-08`, `2026-12-08T09:30`, `2026-12-08 09:30:00`), or Unix milliseconds (from
/// 1970 to 9999).
pub fn parse_time(field: &str, s: &str, zone: &str) -> ApiResult<i64> {
    let s = s.trim();
    let ms = if let Ok(ms) = s.parse::<i64>() {
        Some(ms)
    } else if let Ok(t) = s.parse::<jiff::Timestamp>() {
        Some(t.as_millisecond())
    } else if let Ok(d) = s.parse::<jiff::civil::DateTime>() {
        // A date alone is its midnight. (Reading a date-time as a `civil::Date` dropped
        // its time: 05:00 became 00:00 without a word.)
        let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
        d.to_zoned(tz).ok().map(|z| z.timestamp().as_millisecond())
    } else {
        None
    };
    match ms {
        Some(ms) if (0..=MAX_TIME_MS).contains(&ms) => Ok(ms),
        Some(_) => Err(ApiError::field(
            field,
            "must be between 1970-01-01 and 9999-12-31",
        )),
        None => Err(ApiError::field(
            field,
            "must be an RFC 3339 time, a local date or date-time (YYYY-MM-DD, YYYY-MM-DDTHH:MM) or Unix milliseconds",
        )),
    }
}

/// A report's range from the `from`/`to` parameters: `from` defaults to local midnight,
/// `to` to `default_to`.
pub(super) fn bounds(
    from: Option<&str>,
    to: Option<&str>,
    zone: &str,
    now: i64,
    default_to: i64,
) -> ApiResult<(i64, i64)> {
    let from = match from {
        Some(s) => parse_time("from", s, zone)?,
        None => start_of_day(now, zone),
    };
    let to = match to {
        Some(s) => parse_time("to", s, zone)?,
        None => default_to,
    };
    Ok((from, to))
}

/// A report covers a non-empty range of at most 93 days. When `to` was not given (it is
/// now), the fault is `from`'s.
fn check_span(from: i64, to: i64, to_given: bool) -> ApiResult<()> {
    let (field, to_name) = if to_given {
        ("to", "")
    } else {
        ("from", " (to is now when not given)")
    };
    if to <= from {
        let message = if to_given {
            "must be after from".to_string()
        } else {
            format!("must be before to{to_name}")
        };
        return Err(ApiError::field(field, message));
    }
    if to - from > 93 * 86_400_000 {
        return Err(ApiError::field(
            field,
            format!("a report covers at most 93 days{to_name}"),
        ));
    }
    Ok(())
}

pub(super) async fn tenant(app: &App, who: &AuthUser) -> ApiResult<TenantRow> {
    app.store
        .tenant(who.tenant_id())
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))
}

/// KPIs per queue and interval: finished days from the 15-minute intervals stored as each
/// day ends, today from the center's live figures (see `docs/kpi.md`); `recompute=true`
/// reads the stored events instead.
#[utoipa::path(get, path = "/api/kpi/queues", tag = "kpi", params(KpiParams),
    responses((status = 200, body = KpiReport), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn queue_kpis(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiQuery(p): ApiQuery<KpiParams>,
) -> ApiResult<Json<KpiReport>> {
    who.require(Role::Supervisor)?;
    let t = tenant(&app, &who).await?;
    let now = app.clock.now_ms();
    let (from, to) = bounds(p.from.as_deref(), p.to.as_deref(), &t.time_zone, now, now)?;
    let interval = p.interval.unwrap_or(30);
    if ![0, 15, 30, 60].contains(&interval) {
        return Err(ApiError::field("interval", "must be 15, 30, 60 or 0"));
    }
    check_span(from, to, p.to.is_some())?;
    let mut queues = app.store.queues(t.id).await?;
    if let Some(q) = p.queue_id {
        queues.retain(|x| x.id == q);
        if queues.is_empty() {
            return Err(ApiError::field("queue_id", "no such queue"));
        }
    }
    let name = |id: i64| {
        queues
            .iter()
            .find(|q| q.id == id)
            .map(|q| q.name.clone())
            .unwrap_or_default()
    };
    let to_row = |k: &tsunagu_domain::kpi::IntervalKpis| KpiRow {
        queue_id: k.queue,
        queue_name: name(k.queue),
        start: ts(k.start),
        end: ts(k.end),
        kpis: KpiView::from(&k.kpis),
    };
    let recompute = p.recompute == Some(true);
    let q = reports::query(&t, from, to, interval, now);
    // Today from the tenant's live figures; if its actor cannot answer, today is
    // recomputed from the events instead.
    let today = if !recompute && reports::reaches_today(&t, &q) {
        match app.center.tenant(t.id).await {
            Ok(h) => h.today_intervals().await.ok(),
            Err(_) => None,
        }
    } else {
        None
    };
    let report =
        reports::queue_report(&app.store, &t, &queues, &q, today.as_ref(), recompute).await?;
    let (rows, totals) = (report.rows, report.totals);
    Ok(Json(KpiReport {
        from: ts(from),
        to: ts(to),
        interval_minutes: interval,
        time_zone: t.time_zone.clone(),
        rows: if interval == 0 {
            vec![]
        } else {
            rows.iter().map(to_row).collect()
        },
        totals: totals.iter().map(to_row).collect(),
    }))
}

/// What became of the inbound calls in the IVR (自動音声応答). Rates are fractions.
#[derive(Serialize, ToSchema)]
pub struct IvrKpiView {
    /// Inbound calls that came in during the range.
    pub calls: u64,
    /// Reached a queue (the queue KPIs say what happened next).
    pub to_queue: u64,
    /// IVR放棄: the caller hung up in the IVR.
    pub abandoned: u64,
    /// Finished by the IVR itself: self-service, closed hours, a flow hang-up.
    pub completed: u64,
    /// Forwarded to an external number by the flow (外線転送).
    pub forwarded: u64,
    /// Left a voicemail (留守番電話).
    pub voicemail: u64,
    /// Left a callback request from the IVR (コールバック予約).
    pub callback: u64,
    /// Ended otherwise before a queue (refused, failed, server restart).
    pub other: u64,
    /// Still in the IVR now.
    pub in_ivr: u64,
    /// abandoned ÷ calls that left the IVR.
    pub abandon_rate: Option<f64>,
    /// (completed + forwarded + voicemail + callback) ÷ calls that left the IVR.
    pub contained_rate: Option<f64>,
    /// Average time in the IVR, seconds (to the queue, or to the end).
    pub avg_ivr_secs: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct IvrKpiReport {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub kpis: IvrKpiView,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IvrKpiParams {
    /// Start: RFC 3339 time, a local date or Unix ms. Default: today 00:00 local.
    pub from: Option<String>,
    /// End (exclusive), same forms. Default: now.
    pub to: Option<String>,
}

/// IVR figures: how inbound calls left the IVR — to a queue, abandoned, contained.
#[utoipa::path(get, path = "/api/kpi/ivr", tag = "kpi", params(IvrKpiParams),
    responses((status = 200, body = IvrKpiReport), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn ivr_kpis(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiQuery(p): ApiQuery<IvrKpiParams>,
) -> ApiResult<Json<IvrKpiReport>> {
    who.require(Role::Supervisor)?;
    let t = tenant(&app, &who).await?;
    let now = app.clock.now_ms();
    let (from, to) = bounds(
        p.from.as_deref(),
        p.to.as_deref(),
        &t.time_zone,
        now,
        now + 1,
    )?;
    check_span(from, to, p.to.is_some())?;
    let k = reports::ivr_kpis(&app.store, &t, from, to).await?;
    Ok(Json(IvrKpiReport {
        from: ts(from),
        to: ts(to),
        time_zone: t.time_zone.clone(),
        kpis: IvrKpiView {
            calls: k.calls,
            to_queue: k.to_queue,
            abandoned: k.abandoned,
            completed: k.completed,
            forwarded: k.forwarded,
            voicemail: k.voicemail,
            callback: k.callback,
            other: k.other,
            in_ivr: k.in_ivr,
            abandon_rate: k.abandon_rate,
            contained_rate: k.contained_rate,
            avg_ivr_secs: k.avg_ivr_secs,
        },
    }))
}

#[derive(Serialize, ToSchema, Default)]
pub struct AgentCounts {
    pub available: u32,
    pub offered: u32,
    pub busy: u32,
    pub acw: u32,
    pub not_ready: u32,
    pub offline: u32,
}

#[derive(Serialize, ToSchema)]
pub struct QueueLive {
    pub queue_id: i64,
    pub name: String,
    pub display_name: String,
    /// 待ち呼: waiting now.
    pub waiting: u32,
    /// Ringing at an agent now.
    pub offered: u32,
    pub connected: u32,
    /// 最長待ち時間, seconds.
    pub longest_wait_secs: Option<f64>,
    /// The queue's agents by status.
    pub agents: AgentCounts,
    /// Since local midnight.
    pub today: KpiView,
}

#[derive(Serialize, ToSchema)]
pub struct Realtime {
    pub at: String,
    pub queues: Vec<QueueLive>,
    pub agents: Vec<AgentStateView>,
}

/// The live picture: waiting contacts, longest wait and agents per queue, with today's KPIs.
#[utoipa::path(get, path = "/api/kpi/realtime", tag = "kpi", responses((status = 200, body = Realtime)), security(("bearer" = [])))]
pub async fn realtime(State(app): State<Arc<App>>, who: AuthUser) -> ApiResult<Json<Realtime>> {
    who.require(Role::Supervisor)?;
    let t = tenant(&app, &who).await?;
    let snap = app.center.tenant(t.id).await?.snapshot().await?;
    let now = snap.now.max(app.clock.now_ms());
    let queues = app.store.queues(t.id).await?;
    let agents = app.store.agents(t.id).await?;

    let mut out = Vec::with_capacity(queues.len());
    for q in &queues {
        let live = snap.queues.iter().find(|x| x.0 == q.id);
        let mut counts = AgentCounts::default();
        for a in agents
            .iter()
            .filter(|a| a.queues.iter().any(|m| m.0 == q.id))
        {
            let status = snap
                .agents
                .iter()
                .find(|s| s.agent_id == a.agent.id)
                .map(|s| s.status.as_str())
                .unwrap_or("offline");
            match status {
                "available" => counts.available += 1,
                "offered" => counts.offered += 1,
                "busy" => counts.busy += 1,
                "acw" => counts.acw += 1,
                "not_ready" => counts.not_ready += 1,
                _ => counts.offline += 1,
            }
        }
        // Kept by the tenant's actor as events commit (the same figures as the reports).
        let k = snap
            .today
            .iter()
            .find(|k| k.0 == q.id)
            .map(|k| KpiView::from(&k.1))
            .unwrap_or_else(|| KpiView::from(&Kpis::default()));
        out.push(QueueLive {
            queue_id: q.id,
            name: q.name.clone(),
            display_name: q.display_name.clone(),
            waiting: live.map_or(0, |l| l.1),
            offered: live.map_or(0, |l| l.2),
            connected: live.map_or(0, |l| l.3),
            longest_wait_secs: live
                .and_then(|l| l.4)
                .map(|t0| (now - t0).max(0) as f64 / 1000.0),
            agents: counts,
            today: k,
        });
    }
    let mut agents_live: Vec<AgentStateView> =
        snap.agents.iter().map(AgentStateView::from).collect();
    agents_live.sort_by_key(|a| a.agent_id);
    Ok(Json(Realtime {
        at: ts(now),
        queues: out,
        agents: agents_live,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKYO: &str = "Asia/Tokyo";

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    /// Regression: a date-time without a zone was read as its date's midnight.
    #[test]
    fn a_local_date_time_keeps_its_time() {
        let t = |s| parse_time("from", s, TOKYO).unwrap();
        assert_eq!(t("2026-12-08"), ms("2026-12-07T15:00:00Z"));
        assert_eq!(t("2026-12-08T05:00:00"), ms("2026-12-07T20:00:00Z"));
        assert_eq!(t("2026-12-08T05:30"), ms("2026-12-07T20:30:00Z"));
        assert_eq!(t("2026-12-08 05:00"), ms("2026-12-07T20:00:00Z"));
        assert_eq!(t("2026-12-08T05:00:00+09:00"), ms("2026-12-07T20:00:00Z"));
        assert_eq!(t("1796635800250"), 1_796_635_800_250);
        assert!(parse_time("from", "yesterday", TOKYO).is_err());
    }

    #[test]
    fn a_span_refusal_names_the_bound_that_was_given() {
        let field = |r: ApiResult<()>| match r {
            Err(e) => format!("{e:?}"),
            Ok(()) => String::new(),
        };
        assert!(field(check_span(10, 5, true)).contains("\"to\""));
        assert!(field(check_span(10, 5, false)).contains("\"from\""));
        assert!(field(check_span(0, 94 * 86_400_000, false)).contains("\"from\""));
        assert!(check_span(0, 93 * 86_400_000, true).is_ok());
    }
}
