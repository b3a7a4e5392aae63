//! Configuration resources: the tenant, skills, queues, dispositions (wrap-up codes) and
//! not-ready reasons. Reading is open to every role; changing needs admin.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tsunagu_acd::{SkillRequirement, Strategy};
use tsunagu_domain::reason::is_valid_code;
use tsunagu_domain::role::Role;
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::rows::*;
use utoipa::ToSchema;

use super::auth::AuthUser;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use super::App;
use crate::dto::*;
use tsunagu_runtime::center::mapping::Requirement;
use tsunagu_runtime::telephony::flows::{flows_naming, Named};

// ----- tenant ------------------------------------------------------------------------------

/// The caller's tenant (contact center) and its settings.
#[utoipa::path(get, path = "/api/tenant", tag = "config", responses((status = 200, body = TenantView)), security(("bearer" = [])))]
pub async fn get_tenant(State(app): State<Arc<App>>, who: AuthUser) -> ApiResult<Json<TenantView>> {
    let t = app
        .store
        .tenant(who.tenant_id())
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(TenantView::from(&t)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    pub name: String,
    /// IANA time zone, e.g. Asia/Tokyo.
    pub time_zone: String,
    /// ISO region for national phone numbers, e.g. JP.
    pub default_region: String,
    /// Abandons within this many seconds are short abandons (excluded from KPIs).
    pub short_abandon_secs: i64,
    /// How many seconds of waiting one point of priority is worth.
    pub priority_step_secs: i64,
}

/// Change the tenant's settings. Admin only.
#[utoipa::path(put, path = "/api/tenant", tag = "config", request_body = TenantInput,
    responses((status = 200, body = TenantView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_tenant(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(input): ApiJson<TenantInput>,
) -> ApiResult<Json<TenantView>> {
    who.require(Role::Admin)?;
    let mut e = FieldErrors::new();
    e.text("name", &input.name, 200);
    if jiff::tz::TimeZone::get(&input.time_zone).is_err() {
        e.add("time_zone", "is not a known IANA time zone");
    }
    if !tsunagu_domain::phone::is_known_region(&input.default_region) {
        e.add("default_region", "is not a known region code");
    }
    e.range("short_abandon_secs", input.short_abandon_secs, 0, 60);
    e.range(
        "priority_step_secs",
        input.priority_step_secs,
        1,
        86_400 * 365,
    );
    e.into_result()?;
    let mut t = app
        .store
        .tenant(who.tenant_id())
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    t.name = input.name.trim().into();
    t.time_zone = input.time_zone;
    t.default_region = input.default_region.to_ascii_uppercase();
    t.short_abandon_secs = input.short_abandon_secs;
    t.priority_step_secs = input.priority_step_secs;
    app.store.update_tenant(&t).await?;
    app.center
        .tenant(t.id)
        .await?
        .tenant_changed(t.clone())
        .await?;
    Ok(Json(TenantView::from(&t)))
}

// ----- skills ------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillInput {
    /// Machine name, e.g. `japanese`.
    pub name: String,
    /// Shown to people, e.g. 日本語.
    pub display_name: String,
}

fn check_skill(s: &SkillInput) -> ApiResult<()> {
    let mut e = FieldErrors::new();
    e.slug("name", &s.name);
    e.text("display_name", &s.display_name, 100);
    Ok(e.into_result()?)
}

#[utoipa::path(get, path = "/api/skills", tag = "config", responses((status = 200, body = [SkillView])), security(("bearer" = [])))]
pub async fn list_skills(
    State(app): State<Arc<App>>,
    who: AuthUser,
) -> ApiResult<Json<Vec<SkillView>>> {
    Ok(Json(
        app.store
            .skills(who.tenant_id())
            .await?
            .iter()
            .map(SkillView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/skills", tag = "config", request_body = SkillInput,
    responses((status = 201, body = SkillView), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_skill(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(input): ApiJson<SkillInput>,
) -> ApiResult<(StatusCode, Json<SkillView>)> {
    who.require(Role::Admin)?;
    check_skill(&input)?;
    let now = app.clock.now_ms();
    let row = SkillRow {
        id: app.store.next_id(now),
        tenant_id: who.tenant_id(),
        name: input.name,
        display_name: input.display_name.trim().into(),
        created_at: now,
    };
    app.store.create_skill(&row).await?;
    Ok((StatusCode::CREATED, Json(SkillView::from(&row))))
}

#[utoipa::path(put, path = "/api/skills/{id}", tag = "config", params(("id" = i64, Path)), request_body = SkillInput,
    responses((status = 200, body = SkillView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update_skill(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<SkillInput>,
) -> ApiResult<Json<SkillView>> {
    who.require(Role::Admin)?;
    check_skill(&input)?;
    let mut row = app
        .store
        .skills(who.tenant_id())
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::not_found(format!("skill {id}")))?;
    if row.name != input.name {
        not_named_by_flows(&app, who.tenant_id(), Named::Skill(&row.name), "renamed").await?;
    }
    row.name = input.name;
    row.display_name = input.display_name.trim().into();
    app.store.update_skill(&row).await?;
    Ok(Json(SkillView::from(&row)))
}

/// Delete a skill no queue requires (agents lose it). Admin only.
#[utoipa::path(delete, path = "/api/skills/{id}", tag = "config", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_skill(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    if let Some(s) = app
        .store
        .skills(who.tenant_id())
        .await?
        .into_iter()
        .find(|s| s.id == id)
    {
        not_named_by_flows(&app, who.tenant_id(), Named::Skill(&s.name), "deleted").await?;
    }
    let queues = app.store.queues(who.tenant_id()).await?;
    if let Some(q) = queues.iter().find(|q| {
        QueueView::from(*q)
            .requirements
            .iter()
            .any(|r| r.skill_id == id)
    }) {
        return Err(ApiError::Conflict(format!(
            "queue {} still requires skill {id}",
            q.name
        )));
    }
    let affected: Vec<i64> = app
        .store
        .agents(who.tenant_id())
        .await?
        .iter()
        .filter(|a| a.skills.iter().any(|s| s.0 == id))
        .map(|a| a.agent.id)
        .collect();
    app.store.delete_skill(who.tenant_id(), id).await?;
    let tenant = app.center.tenant(who.tenant_id()).await?;
    for a in affected {
        tenant.agent_changed(a).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ----- queues ------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct ServiceLevelInput {
    /// X: percentage of offered contacts to answer within `threshold_secs`.
    pub target_pct: i64,
    /// Y, in seconds.
    pub threshold_secs: i64,
}

fn default_strategy() -> String {
    "longest-idle".into()
}
fn default_sl() -> ServiceLevelInput {
    ServiceLevelInput {
        target_pct: 80,
        threshold_secs: 20,
    }
}
fn default_no_answer() -> i64 {
    20
}
fn default_max_no_answers() -> i64 {
    3
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueInput {
    /// Machine name, e.g. `orders`.
    pub name: String,
    /// Shown to people, e.g. 受注.
    pub display_name: String,
    /// longest-idle (default), round-robin, fewest-contacts, least-talk-time, ring-all,
    /// random or ordered.
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// Higher is more urgent; each point counts as the tenant's priority step of waiting.
    #[serde(default)]
    pub priority: i64,
    #[serde(default = "default_sl")]
    pub service_level: ServiceLevelInput,
    /// After this long waiting the contact overflows (or times out without an overflow queue).
    #[serde(default)]
    pub max_wait_secs: Option<i64>,
    #[serde(default)]
    pub overflow_queue_id: Option<i64>,
    /// After-call work time; null means until the agent finishes it; 0 means none.
    #[serde(default)]
    pub wrap_up_secs: Option<i64>,
    #[serde(default = "default_no_answer")]
    pub no_answer_timeout_secs: i64,
    /// No-answers in a row after which the agent is made not-ready; 0 never.
    #[serde(default = "default_max_no_answers")]
    pub max_no_answers: i64,
    #[serde(default)]
    #[schema(value_type = Vec<crate::dto::RequirementSchema>)]
    pub requirements: Vec<Requirement>,
    /// Record calls of this queue (stereo WAV, customer left / agent right).
    #[serde(default)]
    pub record_calls: bool,
}

/// Checks requirements against the tenant's skills and the router's own rules.
pub async fn check_requirements(
    app: &App,
    tenant_id: i64,
    field: &str,
    reqs: &[Requirement],
    e: &mut FieldErrors,
) -> ApiResult<()> {
    let skills = app.store.skills(tenant_id).await?;
    for (i, r) in reqs.iter().enumerate() {
        if !skills.iter().any(|s| s.id == r.skill_id) {
            e.add(format!("{field}[{i}].skill_id"), "no such skill");
        }
        if let Some(s) = r
            .steps
            .iter()
            .find(|s| s.after_secs < 0 || s.after_secs > 86_400)
        {
            e.add(
                format!("{field}[{i}].steps"),
                format!("after_secs {} is outside 0..=86400", s.after_secs),
            );
            continue;
        }
        let router: SkillRequirement = r.to_router();
        if let Err(m) = router.validate() {
            e.add(format!("{field}[{i}].steps"), m.to_string());
        }
    }
    if reqs
        .iter()
        .enumerate()
        .any(|(i, r)| reqs[..i].iter().any(|x| x.skill_id == r.skill_id))
    {
        e.add(field, "a skill is listed twice");
    }
    Ok(())
}

async fn queue_row(
    app: &App,
    who: &AuthUser,
    id: Option<i64>,
    input: QueueInput,
) -> ApiResult<QueueRow> {
    let mut e = FieldErrors::new();
    e.slug("name", &input.name);
    e.text("display_name", &input.display_name, 100);
    if Strategy::parse(&input.strategy).is_none() {
        let all: Vec<&str> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
        e.add("strategy", format!("must be one of {}", all.join(", ")));
    }
    e.range("priority", input.priority, -100, 100);
    e.range(
        "service_level.target_pct",
        input.service_level.target_pct,
        1,
        100,
    );
    e.range(
        "service_level.threshold_secs",
        input.service_level.threshold_secs,
        1,
        3600,
    );
    if let Some(m) = input.max_wait_secs {
        e.range("max_wait_secs", m, 1, 86_400);
    }
    if let Some(w) = input.wrap_up_secs {
        e.range("wrap_up_secs", w, 0, 3600);
    }
    e.range(
        "no_answer_timeout_secs",
        input.no_answer_timeout_secs,
        1,
        600,
    );
    e.range("max_no_answers", input.max_no_answers, 0, 100);
    if let Some(o) = input.overflow_queue_id {
        if Some(o) == id {
            e.add("overflow_queue_id", "a queue cannot overflow to itself");
        } else if app.store.queue(who.tenant_id(), o).await?.is_none() {
            e.add("overflow_queue_id", "no such queue");
        }
        if input.max_wait_secs.is_none() {
            e.add("max_wait_secs", "is needed when an overflow queue is set");
        }
    }
    check_requirements(
        app,
        who.tenant_id(),
        "requirements",
        &input.requirements,
        &mut e,
    )
    .await?;
    e.into_result()?;
    let now = app.clock.now_ms();
    Ok(QueueRow {
        id: id.unwrap_or_else(|| app.store.next_id(now)),
        tenant_id: who.tenant_id(),
        name: input.name,
        display_name: input.display_name.trim().into(),
        strategy: input.strategy,
        priority: input.priority,
        sl_target_pct: input.service_level.target_pct,
        sl_threshold_secs: input.service_level.threshold_secs,
        max_wait_secs: input.max_wait_secs,
        overflow_queue_id: input.overflow_queue_id,
        wrap_up_secs: input.wrap_up_secs,
        no_answer_timeout_secs: input.no_answer_timeout_secs,
        max_no_answers: input.max_no_answers,
        requirements: serde_json::to_string(&input.requirements)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        created_at: now,
        updated_at: now,
        record_calls: input.record_calls,
    })
}

#[utoipa::path(get, path = "/api/queues", tag = "config", responses((status = 200, body = [QueueView])), security(("bearer" = [])))]
pub async fn list_queues(
    State(app): State<Arc<App>>,
    who: AuthUser,
) -> ApiResult<Json<Vec<QueueView>>> {
    Ok(Json(
        app.store
            .queues(who.tenant_id())
            .await?
            .iter()
            .map(QueueView::from)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/queues/{id}", tag = "config", params(("id" = i64, Path)),
    responses((status = 200, body = QueueView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_queue(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<QueueView>> {
    let q = app
        .store
        .queue(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("queue {id}")))?;
    Ok(Json(QueueView::from(&q)))
}

/// Create a queue. Admin only.
#[utoipa::path(post, path = "/api/queues", tag = "config", request_body = QueueInput,
    responses((status = 201, body = QueueView), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_queue(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(input): ApiJson<QueueInput>,
) -> ApiResult<(StatusCode, Json<QueueView>)> {
    who.require(Role::Admin)?;
    let row = queue_row(&app, &who, None, input).await?;
    app.store.create_queue(&row).await?;
    app.center
        .tenant(who.tenant_id())
        .await?
        .queue_changed(row.id)
        .await?;
    Ok((StatusCode::CREATED, Json(QueueView::from(&row))))
}

/// Replace a queue's settings. Waiting contacts take the new rules at once. Admin only.
#[utoipa::path(put, path = "/api/queues/{id}", tag = "config", params(("id" = i64, Path)), request_body = QueueInput,
    responses((status = 200, body = QueueView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_queue(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<QueueInput>,
) -> ApiResult<Json<QueueView>> {
    who.require(Role::Admin)?;
    let old = app
        .store
        .queue(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("queue {id}")))?;
    let mut row = queue_row(&app, &who, Some(id), input).await?;
    if row.name != old.name {
        not_named_by_flows(&app, who.tenant_id(), Named::Queue(&old.name), "renamed").await?;
    }
    row.created_at = old.created_at;
    app.store.update_queue(&row).await?;
    app.center
        .tenant(who.tenant_id())
        .await?
        .queue_changed(row.id)
        .await?;
    Ok(Json(QueueView::from(&row)))
}

/// Delete a queue that nothing refers to (no contacts ever, no members, no overflow into
/// it, no wrap-up codes). Admin only.
#[utoipa::path(delete, path = "/api/queues/{id}", tag = "config", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_queue(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    let old = app
        .store
        .queue(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("queue {id}")))?;
    not_named_by_flows(&app, who.tenant_id(), Named::Queue(&old.name), "deleted").await?;
    if app.store.queue_in_use(who.tenant_id(), id).await? {
        return Err(ApiError::Conflict(format!(
            "queue {} ({id}) has contacts, members, wrap-up codes or overflow from other queues",
            old.name
        )));
    }
    app.store.delete_queue(who.tenant_id(), id).await?;
    app.center
        .tenant(who.tenant_id())
        .await?
        .queue_changed(id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses (409) renaming or deleting a queue or skill that stored flows name: every call
/// entering such a flow would fail at that step. The message names the flows to change first.
async fn not_named_by_flows(
    app: &App,
    tenant_id: i64,
    what: Named<'_>,
    action: &str,
) -> ApiResult<()> {
    let flows = flows_naming(&app.store, tenant_id, what).await?;
    if flows.is_empty() {
        return Ok(());
    }
    let (kind, name) = match what {
        Named::Queue(q) => ("queue", q),
        Named::Skill(s) => ("skill", s),
    };
    Err(ApiError::Conflict(format!(
        "{kind} {name} cannot be {action}: flows name it ({}); change those flows first",
        flows.join(", ")
    )))
}

// ----- dispositions ------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionInput {
    /// null: offered for every queue.
    #[serde(default)]
    pub queue_id: Option<i64>,
    pub code: String,
    pub name: String,
    pub name_ja: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DispositionFilter {
    /// Only codes usable in this queue (its own and the global ones).
    pub queue_id: Option<i64>,
}

async fn disposition_row(
    app: &App,
    who: &AuthUser,
    id: Option<i64>,
    input: DispositionInput,
) -> ApiResult<DispositionRow> {
    let mut e = FieldErrors::new();
    e.slug("code", &input.code);
    e.text("name", &input.name, 100);
    e.text("name_ja", &input.name_ja, 100);
    if let Some(q) = input.queue_id {
        if app.store.queue(who.tenant_id(), q).await?.is_none() {
            e.add("queue_id", "no such queue");
        }
    }
    let existing = app.store.dispositions(who.tenant_id()).await?;
    if existing
        .iter()
        .any(|d| d.code == input.code && d.queue_id == input.queue_id && Some(d.id) != id)
    {
        e.add("code", "is already used for this queue");
    }
    e.into_result()?;
    let now = app.clock.now_ms();
    Ok(DispositionRow {
        id: id.unwrap_or_else(|| app.store.next_id(now)),
        tenant_id: who.tenant_id(),
        queue_id: input.queue_id,
        code: input.code,
        name: input.name.trim().into(),
        name_ja: input.name_ja.trim().into(),
        created_at: now,
    })
}

#[utoipa::path(get, path = "/api/dispositions", tag = "config", params(DispositionFilter),
    responses((status = 200, body = [DispositionView]), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_dispositions(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiQuery(f): ApiQuery<DispositionFilter>,
) -> ApiResult<Json<Vec<DispositionView>>> {
    if let Some(q) = f.queue_id {
        super::input::known_queue(&app, who.tenant_id(), q).await?;
    }
    let all = app.store.dispositions(who.tenant_id()).await?;
    Ok(Json(
        all.iter()
            .filter(|d| f.queue_id.is_none() || d.queue_id.is_none() || d.queue_id == f.queue_id)
            .map(DispositionView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/dispositions", tag = "config", request_body = DispositionInput,
    responses((status = 201, body = DispositionView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_disposition(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(input): ApiJson<DispositionInput>,
) -> ApiResult<(StatusCode, Json<DispositionView>)> {
    who.require(Role::Admin)?;
    let row = disposition_row(&app, &who, None, input).await?;
    app.store.create_disposition(&row).await?;
    Ok((StatusCode::CREATED, Json(DispositionView::from(&row))))
}

#[utoipa::path(put, path = "/api/dispositions/{id}", tag = "config", params(("id" = i64, Path)), request_body = DispositionInput,
    responses((status = 200, body = DispositionView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update_disposition(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<DispositionInput>,
) -> ApiResult<Json<DispositionView>> {
    who.require(Role::Admin)?;
    let old = app
        .store
        .dispositions(who.tenant_id())
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ApiError::not_found(format!("disposition {id}")))?;
    let mut row = disposition_row(&app, &who, Some(id), input).await?;
    row.created_at = old.created_at;
    app.store.update_disposition(&row).await?;
    Ok(Json(DispositionView::from(&row)))
}

#[utoipa::path(delete, path = "/api/dispositions/{id}", tag = "config", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_disposition(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    app.store.delete_disposition(who.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- not-ready reasons ---------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    pub name: String,
    pub name_ja: String,
}

#[utoipa::path(get, path = "/api/reasons", tag = "config", responses((status = 200, body = [ReasonView])), security(("bearer" = [])))]
pub async fn list_reasons(
    State(app): State<Arc<App>>,
    who: AuthUser,
) -> ApiResult<Json<Vec<ReasonView>>> {
    Ok(Json(
        app.store
            .reasons(who.tenant_id())
            .await?
            .iter()
            .map(ReasonView::from)
            .collect(),
    ))
}

/// Create or rename a not-ready reason. Admin only.
#[utoipa::path(put, path = "/api/reasons/{code}", tag = "config", params(("code" = String, Path)), request_body = ReasonInput,
    responses((status = 200, body = ReasonView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_reason(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(code): ApiPath<String>,
    ApiJson(input): ApiJson<ReasonInput>,
) -> ApiResult<Json<ReasonView>> {
    who.require(Role::Admin)?;
    let mut e = FieldErrors::new();
    if !is_valid_code(&code) {
        e.add("code", "must be 1-32 lowercase letters, digits or '_'");
    }
    e.text("name", &input.name, 100);
    e.text("name_ja", &input.name_ja, 100);
    e.into_result()?;
    let row = ReasonRow {
        tenant_id: who.tenant_id(),
        code,
        name: input.name.trim().into(),
        name_ja: input.name_ja.trim().into(),
    };
    app.store.upsert_reason(&row).await?;
    Ok(Json(ReasonView::from(&row)))
}

#[utoipa::path(delete, path = "/api/reasons/{code}", tag = "config", params(("code" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_reason(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    if code == tsunagu_domain::reason::MISSED_OFFERS {
        return Err(ApiError::Conflict(
            "the router uses this reason; it cannot be deleted".into(),
        ));
    }
    app.store.delete_reason(who.tenant_id(), &code).await?;
    Ok(StatusCode::NO_CONTENT)
}
