//! Who is calling: the `AuthUser` extractor (bearer token or session cookie), login with
//! throttling, logout, the caller's profile, password change and integration tokens.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use tsunagu_domain::role::Role;
use tsunagu_store::rows::{TokenRow, UserRow};
use utoipa::ToSchema;

use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::App;
use crate::auth::{password, token};
use crate::dto::{ts, TenantView, UserView};

pub const SESSION_COOKIE: &str = "tsunagu_session";

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user: UserRow,
    pub role: Role,
    /// The caller's agent profile, if any.
    pub agent_id: Option<i64>,
    /// Hash of the credential used, so long-lived connections can re-check it.
    pub token_hash: String,
}

impl AuthUser {
    pub fn tenant_id(&self) -> i64 {
        self.user.tenant_id
    }

    /// Refuses callers below `role`.
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.role.at_least(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(match role {
                Role::Admin => "this needs the admin role",
                Role::Supervisor => "this needs the supervisor role",
                Role::Agent => "this needs the agent role",
            }))
        }
    }

    pub fn is_supervisor(&self) -> bool {
        self.role.at_least(Role::Supervisor)
    }

    /// The agent an agent-role caller acts as; supervisors may name any agent.
    pub fn acting_agent(&self, requested: Option<i64>) -> ApiResult<i64> {
        match (requested, self.agent_id) {
            (Some(a), _) if self.is_supervisor() => Ok(a),
            (Some(a), Some(own)) if a == own => Ok(a),
            (Some(_), _) => Err(ApiError::Forbidden("agents may act only for themselves")),
            (None, Some(own)) => Ok(own),
            (None, None) => Err(ApiError::field(
                "agent_id",
                "you have no agent profile; name the agent",
            )),
        }
    }
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

impl FromRequestParts<Arc<App>> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)
            .or_else(|| {
                CookieJar::from_headers(&parts.headers)
                    .get(SESSION_COOKIE)
                    .map(|c| c.value().to_string())
            })
            .ok_or(ApiError::Unauthorized(
                "missing credentials: send a bearer token or log in",
            ))?;
        let now = app.clock.now_ms();
        let token_hash = token::hash_token(&token);
        let (_, user) = app
            .store
            .token_user(&token_hash, now)
            .await?
            .ok_or(ApiError::Unauthorized("invalid or expired credentials"))?;
        let role = Role::parse(&user.role).ok_or_else(|| {
            ApiError::Internal(format!("user {} has role {}", user.id, user.role))
        })?;
        let agent_id = app
            .store
            .agent_by_user(user.tenant_id, user.id)
            .await?
            .map(|a| a.id);
        Ok(AuthUser {
            user,
            role,
            agent_id,
            token_hash,
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Tenant slug; may be left out when the server has a single tenant (422 naming this
    /// field otherwise).
    pub tenant: Option<String>,
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for this session (also set as an HttpOnly cookie).
    pub token: String,
    pub expires_at: String,
    pub user: UserView,
    pub tenant: TenantView,
}

/// Log in. Repeated failures for an account or from an address are refused for a while
/// (429 with Retry-After).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<(CookieJar, Json<LoginResponse>)> {
    let now = app.clock.now_ms();
    let ip_key = format!("ip:{}", addr.ip());
    let user_key = format!(
        "user:{}/{}",
        req.tenant.as_deref().unwrap_or(""),
        req.username
    );
    app.throttle
        .check(&ip_key, now)
        .map_err(ApiError::TooManyRequests)?;
    app.throttle
        .check(&user_key, now)
        .map_err(ApiError::TooManyRequests)?;

    let tenant = match &req.tenant {
        Some(slug) => app.store.tenant_by_slug(slug).await?,
        None => {
            let all = app.store.tenants().await?;
            if all.len() > 1 {
                // Not a wrong password: the request lacks what would say whose it is.
                return Err(ApiError::field(
                    "tenant",
                    "this server has several tenants: give your tenant's slug",
                ));
            }
            all.into_iter().next()
        }
    };
    let user = match &tenant {
        Some(t) => app
            .store
            .user_by_name(t.id, &req.username)
            .await?
            .filter(|u| !u.disabled),
        None => None,
    };
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::decoy().to_string());
    let given = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&stored, &given))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (Some(tenant), Some(user), true) = (tenant, user, ok) else {
        app.throttle
            .failure(&ip_key, now, app.config.login_max_failures_per_ip);
        app.throttle
            .failure(&user_key, now, app.config.login_max_failures);
        metrics::counter!("tsunagu_login_failures_total").increment(1);
        warn!(username = %req.username, client = %addr.ip(), "failed login");
        return Err(ApiError::Unauthorized("invalid credentials"));
    };
    app.throttle.success(&user_key);

    let secret = token::new_token();
    let expires_at = now + app.config.session_ttl_secs * 1000;
    app.store
        .create_token(&TokenRow {
            id: app.store.next_id(now),
            token_hash: token::hash_token(&secret),
            tenant_id: tenant.id,
            user_id: user.id,
            kind: "session".into(),
            name: None,
            created_at: now,
            expires_at: Some(expires_at),
            revoked: false,
        })
        .await?;
    info!(tenant = %tenant.slug, username = %user.username, "login");
    let cookie = Cookie::build((SESSION_COOKIE, secret.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(app.config.secure_cookies)
        .path("/")
        .max_age(time_duration(app.config.session_ttl_secs))
        .build();
    let agent_id = app
        .store
        .agent_by_user(tenant.id, user.id)
        .await?
        .map(|a| a.id);
    Ok((
        jar.add(cookie),
        Json(LoginResponse {
            token: secret,
            expires_at: ts(expires_at),
            user: UserView::new(&user, agent_id),
            tenant: TenantView::from(&tenant),
        }),
    ))
}

fn time_duration(secs: i64) -> time::Duration {
    time::Duration::seconds(secs)
}

/// Log out: the session token stops working at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(
    State(app): State<Arc<App>>,
    _who: AuthUser,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
) -> ApiResult<(CookieJar, StatusCode)> {
    let token = bearer(&headers).or_else(|| jar.get(SESSION_COOKIE).map(|c| c.value().to_string()));
    if let Some(t) = token {
        app.store
            .revoke_token_by_hash(&token::hash_token(&t))
            .await?;
    }
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        StatusCode::NO_CONTENT,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserView,
    pub tenant: TenantView,
    /// The role in Japanese, for the UI.
    pub role_ja: String,
}

/// Who am I?
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", responses((status = 200, body = MeResponse)), security(("bearer" = [])))]
pub async fn me(State(app): State<Arc<App>>, who: AuthUser) -> ApiResult<Json<MeResponse>> {
    let tenant = app
        .store
        .tenant(who.tenant_id())
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(MeResponse {
        user: UserView::new(&who.user, who.agent_id),
        tenant: TenantView::from(&tenant),
        role_ja: who.role.label_ja().into(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Change one's own password. Other sessions and tokens of the user are revoked.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn change_password(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    if req.new_password.chars().count() < password::MIN_LEN {
        return Err(ApiError::field(
            "new_password",
            format!("must be at least {} characters", password::MIN_LEN),
        ));
    }
    let stored = who.user.password_hash.clone();
    let current = req.current_password.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&stored, &current))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if !ok {
        return Err(ApiError::field("current_password", "is not correct"));
    }
    let new = req.new_password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&new))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut user = who.user.clone();
    user.password_hash = hash;
    app.store.update_user(&user).await?;
    app.store.revoke_user_tokens(user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// The user the integration acts as (its role applies).
    pub user_id: i64,
    /// What the token is for, e.g. "CRM sync".
    pub name: String,
    /// Omit for a token that lasts until revoked.
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ApiTokenView {
    pub id: i64,
    pub user_id: i64,
    pub name: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked: bool,
}

impl From<&TokenRow> for ApiTokenView {
    fn from(t: &TokenRow) -> Self {
        ApiTokenView {
            id: t.id,
            user_id: t.user_id,
            name: t.name.clone(),
            created_at: ts(t.created_at),
            expires_at: t.expires_at.map(ts),
            revoked: t.revoked,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiToken {
    /// Shown once; only a hash is stored.
    pub token: String,
    #[serde(flatten)]
    pub info: ApiTokenView,
}

/// Create an integration (API) token for a user of the tenant. Admin only.
#[utoipa::path(post, path = "/api/tokens", tag = "auth", request_body = NewApiToken,
    responses((status = 201, body = CreatedApiToken)), security(("bearer" = [])))]
pub async fn create_token(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(req): ApiJson<NewApiToken>,
) -> ApiResult<(StatusCode, Json<CreatedApiToken>)> {
    who.require(Role::Admin)?;
    let mut errors = tsunagu_domain::validate::FieldErrors::new();
    errors.text("name", &req.name, 100);
    if let Some(d) = req.expires_in_days {
        errors.range("expires_in_days", d, 1, 3650);
    }
    errors.into_result()?;
    let user = app
        .store
        .user(who.tenant_id(), req.user_id)
        .await?
        .ok_or_else(|| ApiError::field("user_id", "no such user in this tenant"))?;
    let now = app.clock.now_ms();
    let secret = token::new_token();
    let row = TokenRow {
        id: app.store.next_id(now),
        token_hash: token::hash_token(&secret),
        tenant_id: who.tenant_id(),
        user_id: user.id,
        kind: "api".into(),
        name: Some(req.name.trim().to_string()),
        created_at: now,
        expires_at: req.expires_in_days.map(|d| now + d * 86_400_000),
        revoked: false,
    };
    app.store.create_token(&row).await?;
    info!(user = user.id, token = row.id, "API token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiToken {
            token: secret,
            info: ApiTokenView::from(&row),
        }),
    ))
}

/// List the tenant's integration tokens (never the secrets). Admin only.
#[utoipa::path(get, path = "/api/tokens", tag = "auth", responses((status = 200, body = [ApiTokenView])), security(("bearer" = [])))]
pub async fn list_tokens(
    State(app): State<Arc<App>>,
    who: AuthUser,
) -> ApiResult<Json<Vec<ApiTokenView>>> {
    who.require(Role::Admin)?;
    Ok(Json(
        app.store
            .tokens(who.tenant_id(), None)
            .await?
            .iter()
            .map(ApiTokenView::from)
            .collect(),
    ))
}

/// Revoke an integration token. Admin only.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "auth", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_token(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    if app.store.revoke_token(who.tenant_id(), id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("token {id}")))
    }
}
