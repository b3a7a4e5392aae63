//! Telephony configuration: call flows (IVR) and the numbers that reach them, and agents'
//! phone accounts. Admins change them; a flow is checked before it is stored, so a broken
//! flow never replaces a working one.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tsunagu_domain::role::Role;
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::{FlowRow, NumberRow};
use utoipa::ToSchema;

use super::auth::AuthUser;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use super::App;
use crate::dto::ts;
use tsunagu_runtime::telephony::flows::FlowLoadError;
use tsunagu_runtime::telephony::FlowCache;

#[derive(Serialize, ToSchema)]
pub struct FlowView {
    pub name: String,
    /// The flow file (TOML), as stored.
    pub source: String,
    pub updated_at: String,
    /// Nodes no path reaches (the flow still works).
    pub warnings: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowInput {
    /// The flow file (TOML); see docs/flows.md for the format.
    pub source: String,
}

fn flows(app: &App) -> ApiResult<&Arc<FlowCache>> {
    app.telephony
        .as_ref()
        .map(|t| &t.flows)
        .ok_or_else(|| ApiError::Conflict("telephony is not running on this server".into()))
}

fn check_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::field("name", "use 1-64 letters, digits, _ or -"))
    }
}

/// The tenant's call flows.
#[utoipa::path(get, path = "/api/flows", tag = "telephony", responses((status = 200, body = [FlowView])), security(("bearer" = [])))]
pub async fn list_flows(
    State(app): State<Arc<App>>,
    who: AuthUser,
) -> ApiResult<Json<Vec<FlowView>>> {
    who.require(Role::Supervisor)?;
    let rows = app.store.flows(who.tenant_id()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|f| FlowView {
                name: f.name,
                source: f.source,
                updated_at: ts(f.updated_at),
                warnings: vec![],
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/flows/{name}", tag = "telephony", params(("name" = String, Path)),
    responses((status = 200, body = FlowView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_flow(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<FlowView>> {
    who.require(Role::Supervisor)?;
    let f = app
        .store
        .flow(who.tenant_id(), &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("flow {name}")))?;
    Ok(Json(FlowView {
        name: f.name,
        source: f.source,
        updated_at: ts(f.updated_at),
        warnings: vec![],
    }))
}

/// Create or replace a flow. It is checked first (syntax, every node and prompt, the
/// queues and skills it names); with any error nothing changes — calls keep the flow they
/// have — and each error comes back as `source` with its line and column.
#[utoipa::path(put, path = "/api/flows/{name}", tag = "telephony", params(("name" = String, Path)), request_body = FlowInput,
    responses((status = 200, body = FlowView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_flow(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<FlowInput>,
) -> ApiResult<Json<FlowView>> {
    who.require(Role::Admin)?;
    check_name(&name)?;
    if input.source.len() > 256 * 1024 {
        return Err(ApiError::field("source", "must be at most 256 KiB"));
    }
    let cache = flows(&app)?;
    let tenant = who.tenant_id();
    let flow = match cache
        .check(tenant, &format!("{name}.toml"), &input.source)
        .await
    {
        Ok(f) => f,
        Err(FlowLoadError::Invalid(errors)) => {
            let mut e = FieldErrors::new();
            for err in errors.0 {
                e.add("source", err.to_string());
            }
            return Err(e.into());
        }
        Err(FlowLoadError::Store(m)) => return Err(ApiError::Unavailable(m)),
    };
    let now = app.clock.now_ms();
    app.store
        .put_flow(&FlowRow {
            tenant_id: tenant,
            name: name.clone(),
            source: input.source.clone(),
            updated_at: now,
        })
        .await?;
    cache.invalidate(tenant);
    tracing::info!(tenant, flow = %name, user = who.user.id, "flow stored");
    Ok(Json(FlowView {
        name,
        source: input.source,
        updated_at: ts(now),
        warnings: flow.warnings.clone(),
    }))
}

#[utoipa::path(delete, path = "/api/flows/{name}", tag = "telephony", params(("name" = String, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_flow(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    let tenant = who.tenant_id();
    if app
        .store
        .numbers(tenant)
        .await?
        .iter()
        .any(|n| n.flow == name)
    {
        return Err(ApiError::Conflict(format!(
            "numbers still lead to flow {name}"
        )));
    }
    app.store.delete_flow(tenant, &name).await?;
    if let Ok(c) = flows(&app) {
        c.invalidate(tenant);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct NumberView {
    /// A dialed number (as the carrier sends it, or E.164), or "*" for any other.
    pub number: String,
    pub flow: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberInput {
    pub flow: String,
}

/// Dialed numbers (DIDs) and the flows they reach.
#[utoipa::path(get, path = "/api/numbers", tag = "telephony", responses((status = 200, body = [NumberView])), security(("bearer" = [])))]
pub async fn list_numbers(
    State(app): State<Arc<App>>,
    who: AuthUser,
) -> ApiResult<Json<Vec<NumberView>>> {
    who.require(Role::Supervisor)?;
    let rows = app.store.numbers(who.tenant_id()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|n| NumberView {
                number: n.number,
                flow: n.flow,
            })
            .collect(),
    ))
}

/// A dialed number as it is stored: `*`, a full number in E.164, or a short number (an
/// extension behind a PBX) as its digits — the phone-number rule of every other entry point.
async fn stored_number(app: &App, tenant: i64, number: &str) -> ApiResult<String> {
    if number == "*" {
        return Ok(number.to_string());
    }
    let region = super::region(app, tenant).await?;
    tsunagu_domain::phone::dial_string(number, &region, false)
        .map_err(|e| ApiError::field("number", e.to_string()))
}

/// Make a dialed number reach a flow. Full numbers are stored in E.164 (a call matches
/// whether the carrier sends them national or international), short ones as their digits.
#[utoipa::path(put, path = "/api/numbers/{number}", tag = "telephony", params(("number" = String, Path)), request_body = NumberInput,
    responses((status = 200, body = NumberView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_number(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(number): ApiPath<String>,
    ApiJson(input): ApiJson<NumberInput>,
) -> ApiResult<Json<NumberView>> {
    who.require(Role::Admin)?;
    let tenant = who.tenant_id();
    let number = stored_number(&app, tenant, &number).await?;
    if app.store.flow(tenant, &input.flow).await?.is_none() {
        return Err(ApiError::field("flow", "no such flow"));
    }
    app.store
        .put_number(&NumberRow {
            tenant_id: tenant,
            number: number.clone(),
            flow: input.flow.clone(),
        })
        .await?;
    Ok(Json(NumberView {
        number,
        flow: input.flow,
    }))
}

#[utoipa::path(delete, path = "/api/numbers/{number}", tag = "telephony", params(("number" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_number(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    let tenant = who.tenant_id();
    let stored = stored_number(&app, tenant, &number).await?;
    match app.store.delete_number(tenant, &stored).await {
        // A number stored before numbers were normalized is found as written.
        Err(tsunagu_store::StoreError::NotFound(_)) if stored != number => {
            app.store.delete_number(tenant, &number).await?
        }
        r => r?,
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct PhoneAccountView {
    /// The SIP username the phone registers with (realm "tsunagu").
    pub username: Option<String>,
    pub registrations: Vec<RegistrationView>,
}

#[derive(Serialize, ToSchema)]
pub struct RegistrationView {
    pub contact: String,
    pub source: String,
    pub transport: String,
    pub expires_at: String,
    pub user_agent: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneAccountInput {
    /// SIP username (default: the agent's login name).
    #[serde(default)]
    pub username: Option<String>,
    /// The phone's password (8-128 characters). Only its digest hash is stored.
    pub password: String,
}

/// An agent's phone account and where the phone is registered now.
#[utoipa::path(get, path = "/api/agents/{id}/phone", tag = "telephony", params(("id" = i64, Path)),
    responses((status = 200, body = PhoneAccountView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_phone(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PhoneAccountView>> {
    if !who.is_supervisor() && who.agent_id != Some(id) {
        return Err(ApiError::Forbidden("agents see only their own phone"));
    }
    let a = app
        .store
        .agent(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agent {id}")))?;
    let registrations = match (&a.agent.sip_username, &app.telephony) {
        (Some(u), Some(t)) => t
            .registrations(u)
            .into_iter()
            .map(|b| RegistrationView {
                contact: b.contact,
                source: b.source.to_string(),
                transport: b.transport.as_str().to_string(),
                expires_at: ts(b.expires_at),
                user_agent: b.user_agent,
            })
            .collect(),
        _ => vec![],
    };
    Ok(Json(PhoneAccountView {
        username: a.agent.sip_username,
        registrations,
    }))
}

/// Set an agent's phone account (SIP digest credentials).
#[utoipa::path(put, path = "/api/agents/{id}/phone", tag = "telephony", params(("id" = i64, Path)), request_body = PhoneAccountInput,
    responses((status = 200, body = PhoneAccountView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_phone(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<PhoneAccountInput>,
) -> ApiResult<Json<PhoneAccountView>> {
    who.require(Role::Admin)?;
    let tenant = who.tenant_id();
    let a = app
        .store
        .agent(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("agent {id}")))?;
    let username = input.username.unwrap_or_else(|| a.username.clone());
    let mut e = FieldErrors::new();
    if username.is_empty()
        || username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        e.add("username", "use 1-64 letters, digits, '.', '_' or '-'");
    }
    let n = input.password.chars().count();
    if !(8..=128).contains(&n) {
        e.add("password", "must be 8-128 characters");
    }
    e.into_result()?;
    let ha1 = tsunagu_sip::digest::ha1(&username, tsunagu_sip::REALM, &input.password);
    app.store
        .set_sip_credentials(tenant, id, Some((&username, &ha1)))
        .await?;
    tracing::info!(tenant, agent = id, %username, "phone account set");
    Ok(Json(PhoneAccountView {
        username: Some(username),
        registrations: vec![],
    }))
}

/// Remove an agent's phone account (the phone can no longer register).
#[utoipa::path(delete, path = "/api/agents/{id}/phone", tag = "telephony", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_phone(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    app.store
        .set_sip_credentials(who.tenant_id(), id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
