//! Users and agents: accounts (admin), agent profiles (skills, capacity, queues) and agent
//! state (ready / not ready), which agents set for themselves and supervisors for anyone.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tsunagu_domain::role::Role;
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::rows::*;
use utoipa::ToSchema;

use super::auth::AuthUser;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use super::App;
use crate::auth::password;
use crate::dto::*;
use tsunagu_runtime::center::actor::parse_presence;
use tsunagu_runtime::center::AgentCommand;

async fn hash(pw: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn check_password(e: &mut FieldErrors, field: &str, pw: &str) {
    if pw.chars().count() < password::MIN_LEN {
        e.add(
            field,
            format!("must be at least {} characters", password::MIN_LEN),
        );
    }
    if pw.len() > 1024 {
        e.add(field, "is too long");
    }
}

fn parse_role(e: &mut FieldErrors, role: &str) -> Role {
    Role::parse(role).unwrap_or_else(|| {
        e.add("role", "must be agent, supervisor or admin");
        Role::Agent
    })
}

// ----- users ---------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub username: String,
    pub display_name: String,
    /// agent, supervisor or admin
    pub role: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub display_name: String,
    pub role: String,
    /// Leave out to keep the password.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

async fn agent_ids(app: &App, tenant: i64) -> ApiResult<HashMap<i64, i64>> {
    Ok(app
        .store
        .agents(tenant)
        .await?
        .into_iter()
        .map(|a| (a.agent.user_id, a.agent.id))
        .collect())
}

/// The tenant's users. Admin only.
#[utoipa::path(get, path = "/api/users", tag = "people", responses((status = 200, body = [UserView])), security(("bearer" = [])))]
pub async fn list_users(
    State(app): State<Arc<App>>,
    who: AuthUser,
) -> ApiResult<Json<Vec<UserView>>> {
    who.require(Role::Admin)?;
    let agents = agent_ids(&app, who.tenant_id()).await?;
    Ok(Json(
        app.store
            .users(who.tenant_id())
            .await?
            .iter()
            .map(|u| UserView::new(u, agents.get(&u.id).copied()))
            .collect(),
    ))
}

/// Create a user (without an agent profile; see POST /api/agents for agents). Admin only.
#[utoipa::path(post, path = "/api/users", tag = "people", request_body = UserInput,
    responses((status = 201, body = UserView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_user(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(input): ApiJson<UserInput>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    who.require(Role::Admin)?;
    let mut e = FieldErrors::new();
    e.slug("username", &input.username);
    e.text("display_name", &input.display_name, 100);
    let role = parse_role(&mut e, &input.role);
    check_password(&mut e, "password", &input.password);
    e.into_result()?;
    let now = app.clock.now_ms();
    let user = UserRow {
        id: app.store.next_id(now),
        tenant_id: who.tenant_id(),
        username: input.username,
        display_name: input.display_name.trim().into(),
        role: role.as_str().into(),
        password_hash: hash(input.password).await?,
        disabled: false,
        created_at: now,
    };
    app.store.create_user(&user).await?;
    Ok((StatusCode::CREATED, Json(UserView::new(&user, None))))
}

/// Change a user's name, role, password or disable them (disabling logs them off and
/// revokes their tokens). Admin only; admins cannot demote or disable themselves.
#[utoipa::path(put, path = "/api/users/{id}", tag = "people", params(("id" = i64, Path)), request_body = UserUpdate,
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_user(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<UserUpdate>,
) -> ApiResult<Json<UserView>> {
    who.require(Role::Admin)?;
    let mut user = app
        .store
        .user(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {id}")))?;
    let mut e = FieldErrors::new();
    e.text("display_name", &input.display_name, 100);
    let role = parse_role(&mut e, &input.role);
    if let Some(pw) = &input.password {
        check_password(&mut e, "password", pw);
    }
    if id == who.user.id && (role != Role::Admin || input.disabled) {
        e.add("role", "you cannot demote or disable yourself");
    }
    e.into_result()?;
    user.display_name = input.display_name.trim().into();
    user.role = role.as_str().into();
    user.disabled = input.disabled;
    if let Some(pw) = input.password {
        user.password_hash = hash(pw).await?;
    }
    app.store.update_user(&user).await?;
    let agent = app.store.agent_by_user(who.tenant_id(), id).await?;
    if let Some(a) = &agent {
        app.center
            .tenant(who.tenant_id())
            .await?
            .agent_changed(a.id)
            .await?;
    }
    Ok(Json(UserView::new(&user, agent.map(|a| a.id))))
}

/// Disable a user (users are never erased: their history stays attributed). Admin only.
#[utoipa::path(delete, path = "/api/users/{id}", tag = "people", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_user(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    if id == who.user.id {
        return Err(ApiError::Conflict("you cannot disable yourself".into()));
    }
    let mut user = app
        .store
        .user(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {id}")))?;
    user.disabled = true;
    app.store.update_user(&user).await?;
    if let Some(a) = app.store.agent_by_user(who.tenant_id(), id).await? {
        app.center
            .tenant(who.tenant_id())
            .await?
            .agent_changed(a.id)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ----- agents --------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct CapacityInput {
    #[serde(default = "one")]
    pub voice: i64,
    #[serde(default)]
    pub chat: i64,
    #[serde(default)]
    pub email: i64,
    #[serde(default = "one")]
    pub task: i64,
}

fn one() -> i64 {
    1
}

impl Default for CapacityInput {
    fn default() -> Self {
        CapacityInput {
            voice: 1,
            chat: 0,
            email: 0,
            task: 1,
        }
    }
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct SkillLevelInput {
    pub skill_id: i64,
    /// Proficiency 1 (novice) to 5 (expert).
    pub level: i64,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct MembershipInput {
    pub queue_id: i64,
    /// Order for the ordered and round-robin strategies (lower first).
    #[serde(default)]
    pub position: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentProfileInput {
    #[serde(default)]
    pub extension: Option<String>,
    #[serde(default)]
    pub capacity: CapacityInput,
    #[serde(default)]
    pub skills: Vec<SkillLevelInput>,
    #[serde(default)]
    pub queues: Vec<MembershipInput>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    /// Give the agent profile to this existing user, or create a user with the fields below.
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// For a new user: agent (default), supervisor or admin.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(flatten)]
    pub profile: AgentProfileInput,
}

async fn check_profile(
    app: &App,
    tenant: i64,
    p: &AgentProfileInput,
    e: &mut FieldErrors,
) -> ApiResult<()> {
    let c = &p.capacity;
    e.range("capacity.voice", c.voice, 0, 1);
    e.range("capacity.chat", c.chat, 0, 20);
    e.range("capacity.email", c.email, 0, 50);
    e.range("capacity.task", c.task, 0, 50);
    if let Some(x) = &p.extension {
        if x.is_empty()
            || x.len() > 32
            || !x
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '*' || ch == '#')
        {
            e.add("extension", "must be 1-32 digits or letters");
        }
    }
    let skills = app.store.skills(tenant).await?;
    for (i, s) in p.skills.iter().enumerate() {
        if !skills.iter().any(|k| k.id == s.skill_id) {
            e.add(format!("skills[{i}].skill_id"), "no such skill");
        }
        e.range(&format!("skills[{i}].level"), s.level, 1, 5);
        if p.skills[..i].iter().any(|x| x.skill_id == s.skill_id) {
            e.add(format!("skills[{i}].skill_id"), "listed twice");
        }
    }
    let queues = app.store.queues(tenant).await?;
    for (i, m) in p.queues.iter().enumerate() {
        if !queues.iter().any(|q| q.id == m.queue_id) {
            e.add(format!("queues[{i}].queue_id"), "no such queue");
        }
        e.range(&format!("queues[{i}].position"), m.position, 0, 1_000_000);
        if p.queues[..i].iter().any(|x| x.queue_id == m.queue_id) {
            e.add(format!("queues[{i}].queue_id"), "listed twice");
        }
    }
    Ok(())
}

fn full(agent: AgentRow, user: &UserRow, p: &AgentProfileInput) -> AgentFull {
    AgentFull {
        agent,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        skills: p.skills.iter().map(|s| (s.skill_id, s.level)).collect(),
        queues: p.queues.iter().map(|m| (m.queue_id, m.position)).collect(),
    }
}

/// All agents with their current state. Every role may read (agents see colleagues for
/// transfers).
#[utoipa::path(get, path = "/api/agents", tag = "people", responses((status = 200, body = [AgentView])), security(("bearer" = [])))]
pub async fn list_agents(
    State(app): State<Arc<App>>,
    who: AuthUser,
) -> ApiResult<Json<Vec<AgentView>>> {
    Ok(Json(
        app.store
            .agents(who.tenant_id())
            .await?
            .iter()
            .map(AgentView::from)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/agents/{id}", tag = "people", params(("id" = i64, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_agent(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AgentView>> {
    let a = app
        .store
        .agent(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agent {id}")))?;
    Ok(Json(AgentView::from(&a)))
}

/// Create an agent: a new user with an agent profile, or a profile for an existing user.
/// Admin only.
#[utoipa::path(post, path = "/api/agents", tag = "people", request_body = NewAgent,
    responses((status = 201, body = AgentView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_agent(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(input): ApiJson<NewAgent>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    who.require(Role::Admin)?;
    let tenant = who.tenant_id();
    let mut e = FieldErrors::new();
    check_profile(&app, tenant, &input.profile, &mut e).await?;
    let now = app.clock.now_ms();
    let (user, new_user) = match input.user_id {
        Some(uid) => {
            let u = app.store.user(tenant, uid).await?;
            if u.is_none() {
                e.add("user_id", "no such user");
            }
            (u, false)
        }
        None => {
            let username = input.username.clone().unwrap_or_default();
            let display = input.display_name.clone().unwrap_or_default();
            e.slug("username", &username);
            e.text("display_name", &display, 100);
            let role = parse_role(&mut e, input.role.as_deref().unwrap_or("agent"));
            let pw = input.password.clone().unwrap_or_default();
            check_password(&mut e, "password", &pw);
            let u = if e.is_empty() {
                Some(UserRow {
                    id: app.store.next_id(now),
                    tenant_id: tenant,
                    username,
                    display_name: display.trim().into(),
                    role: role.as_str().into(),
                    password_hash: hash(pw).await?,
                    disabled: false,
                    created_at: now,
                })
            } else {
                None
            };
            (u, true)
        }
    };
    e.into_result()?;
    let user = user.expect("validated");
    let p = &input.profile;
    let agent = full(
        AgentRow {
            id: app.store.next_id(now),
            tenant_id: tenant,
            user_id: user.id,
            extension: p.extension.clone(),
            capacity_voice: p.capacity.voice,
            capacity_chat: p.capacity.chat,
            capacity_email: p.capacity.email,
            capacity_task: p.capacity.task,
            presence: "offline".into(),
            reason: None,
            status: "offline".into(),
            status_since: now,
            created_at: now,
            updated_at: now,
            sip_username: None,
        },
        &user,
        p,
    );
    if new_user {
        app.store
            .create_user_with_agent(&user, Some(&agent))
            .await?;
    } else {
        app.store.create_agent(&agent).await?;
    }
    app.center
        .tenant(tenant)
        .await?
        .agent_changed(agent.agent.id)
        .await?;
    Ok((StatusCode::CREATED, Json(AgentView::from(&agent))))
}

/// Replace an agent's extension, capacity, skills and queues. Offers from queues the agent
/// leaves are withdrawn. Admin only.
#[utoipa::path(put, path = "/api/agents/{id}", tag = "people", params(("id" = i64, Path)), request_body = AgentProfileInput,
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_agent(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<AgentProfileInput>,
) -> ApiResult<Json<AgentView>> {
    who.require(Role::Admin)?;
    let tenant = who.tenant_id();
    let old = app
        .store
        .agent(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agent {id}")))?;
    let mut e = FieldErrors::new();
    check_profile(&app, tenant, &input, &mut e).await?;
    e.into_result()?;
    let user = app
        .store
        .user(tenant, old.agent.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let mut row = old.agent.clone();
    row.extension = input.extension.clone();
    row.capacity_voice = input.capacity.voice;
    row.capacity_chat = input.capacity.chat;
    row.capacity_email = input.capacity.email;
    row.capacity_task = input.capacity.task;
    row.updated_at = app.clock.now_ms();
    let agent = full(row, &user, &input);
    app.store.update_agent_config(&agent).await?;
    app.center.tenant(tenant).await?.agent_changed(id).await?;
    let fresh = app
        .store
        .agent(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    Ok(Json(AgentView::from(&fresh)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateInput {
    /// available (受付可), not_ready (離席) or offline (ログオフ)
    pub presence: String,
    /// For not_ready: a reason code from /api/reasons (break, meeting, training, …).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Set an agent's presence. Agents may set their own; supervisors anyone's. Going
/// not-ready while an offer rings withdraws it; work in progress continues.
#[utoipa::path(post, path = "/api/agents/{id}/state", tag = "people", params(("id" = i64, Path)), request_body = StateInput,
    responses((status = 200, body = AgentView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_state(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<StateInput>,
) -> ApiResult<Json<AgentView>> {
    let agent_id = who.acting_agent(Some(id))?;
    let tenant = who.tenant_id();
    app.store
        .agent(tenant, agent_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agent {agent_id}")))?;
    let mut e = FieldErrors::new();
    let presence = parse_presence(&input.presence);
    if presence.is_none() {
        e.add("presence", "must be available, not_ready or offline");
    }
    if let Some(r) = &input.reason {
        if presence != Some(tsunagu_acd::Presence::NotReady) {
            e.add("reason", "is only for not_ready");
        } else if !app
            .store
            .reasons(tenant)
            .await?
            .iter()
            .any(|x| &x.code == r)
        {
            e.add(
                "reason",
                "is not a not-ready reason of this center (see /api/reasons)",
            );
        }
    }
    e.into_result()?;
    app.center
        .tenant(tenant)
        .await?
        .agent(AgentCommand::SetPresence {
            agent_id,
            presence: presence.expect("validated"),
            reason: input.reason,
            by_user: who.user.id,
        })
        .await?;
    let fresh = app
        .store
        .agent(tenant, agent_id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    Ok(Json(AgentView::from(&fresh)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// RFC 3339, local date or Unix ms; default: today 00:00 in the center's zone.
    pub from: Option<String>,
    /// Default: now.
    pub to: Option<String>,
    /// 1-5000, default 500.
    pub limit: Option<i64>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct AgentStateChange {
    pub at: String,
    pub presence: String,
    pub reason: Option<String>,
    pub status: String,
    /// Who made the change; null when the router did (offers, work, missed offers).
    pub changed_by: Option<i64>,
}

/// An agent's state changes, newest first (for adherence and coaching). The agent
/// themself, or a supervisor.
#[utoipa::path(get, path = "/api/agents/{id}/states", tag = "people", params(("id" = i64, Path), HistoryParams),
    responses((status = 200, body = [AgentStateChange]), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn state_history(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(p): ApiQuery<HistoryParams>,
) -> ApiResult<Json<Vec<AgentStateChange>>> {
    let limit = super::input::page_limit(p.limit, 500, 5000)?;
    let agent_id = who.acting_agent(Some(id))?;
    let tenant = super::kpi_api::tenant(&app, &who).await?;
    app.store
        .agent(tenant.id, agent_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agent {agent_id}")))?;
    let now = app.clock.now_ms();
    let (from, to) = super::kpi_api::bounds(
        p.from.as_deref(),
        p.to.as_deref(),
        &tenant.time_zone,
        now,
        now + 1,
    )?;
    if to <= from {
        return Err(ApiError::field("to", "must be after from"));
    }
    let rows = app
        .store
        .agent_state_history(tenant.id, agent_id, from, to, limit)
        .await?;
    Ok(Json(
        rows.iter()
            .map(|r| AgentStateChange {
                at: ts(r.at),
                presence: r.presence.clone(),
                reason: r.reason.clone(),
                status: r.status.clone(),
                changed_by: r.changed_by,
            })
            .collect(),
    ))
}
