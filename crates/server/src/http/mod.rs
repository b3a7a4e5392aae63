//! The HTTP API (axum) and its OpenAPI document.
//!
//! Handlers validate input (naming the field at fault), check the caller's role and tenant,
//! then either read through the store or hand the change to the tenant's actor. They never
//! decide routing and never write rows the actor owns.

pub mod auth;
pub mod calls_api;
pub mod config_api;
pub mod contacts_api;
pub mod customers_api;
pub mod error;
pub mod kpi_api;
pub mod ops;
pub mod people_api;
pub mod telephony_api;
pub mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tsunagu_store::Store;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::throttle::LoginThrottle;
use crate::center::{Center, Clock};
use error::ApiResult;

/// HTTP settings.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub session_ttl_secs: i64,
    /// Mark the session cookie `Secure` (serve behind TLS).
    pub secure_cookies: bool,
    pub login_max_failures: u32,
    pub login_max_failures_per_ip: u32,
    /// How often a WebSocket re-checks its credential.
    pub ws_recheck_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            session_ttl_secs: 12 * 3600,
            secure_cookies: false,
            login_max_failures: 5,
            login_max_failures_per_ip: 30,
            ws_recheck_ms: 30_000,
        }
    }
}

/// What every handler can reach.
pub struct App {
    pub store: Store,
    pub center: Arc<Center>,
    pub throttle: LoginThrottle,
    pub config: HttpConfig,
    pub metrics: PrometheusHandle,
    pub clock: Arc<dyn Clock>,
    pub openapi_json: String,
    pub started_at: Instant,
    /// Flips to true when the server shuts down (closes WebSockets).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Calls, when telephony runs.
    pub telephony: Option<crate::telephony::Telephony>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tsunagu API",
        description = "Tsunagu (つなぐ) contact center: queues, agents, contacts, customers, KPIs.\n\n\
            Authenticate with `POST /api/auth/login` (session cookie and bearer token) or an API token \
            (`Authorization: Bearer tsg_…`). Every call is limited to the caller's tenant and role \
            (agent < supervisor < admin). Errors are JSON: `{error, message, fields[]}`; bad input \
            gets 422 naming each field. Times are RFC 3339 UTC."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login, sessions, API tokens"),
        (name = "config", description = "Tenant, skills, queues, wrap-up codes, not-ready reasons"),
        (name = "people", description = "Users, agents and agent state"),
        (name = "contacts", description = "Contacts and agent actions"),
        (name = "customers", description = "CRM and screen-pop"),
        (name = "kpi", description = "KPIs and the real-time picture"),
        (name = "calls", description = "Calls in progress: hold, transfer, 3-way, monitoring, recording; click-to-call; recordings"),
        (name = "telephony", description = "Call flows (IVR), numbers, agents' phone accounts"),
        (name = "live", description = "WebSocket event stream"),
        (name = "ops", description = "Health, metrics, this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes and the OpenAPI document describing them.
pub fn routes() -> (Router<Arc<App>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::create_token, auth::list_tokens))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(config_api::get_tenant, config_api::put_tenant))
        .routes(routes!(config_api::list_skills, config_api::create_skill))
        .routes(routes!(config_api::update_skill, config_api::delete_skill))
        .routes(routes!(config_api::list_queues, config_api::create_queue))
        .routes(routes!(
            config_api::get_queue,
            config_api::update_queue,
            config_api::delete_queue
        ))
        .routes(routes!(
            config_api::list_dispositions,
            config_api::create_disposition
        ))
        .routes(routes!(
            config_api::update_disposition,
            config_api::delete_disposition
        ))
        .routes(routes!(config_api::list_reasons))
        .routes(routes!(config_api::put_reason, config_api::delete_reason))
        .routes(routes!(people_api::list_users, people_api::create_user))
        .routes(routes!(people_api::update_user, people_api::delete_user))
        .routes(routes!(people_api::list_agents, people_api::create_agent))
        .routes(routes!(people_api::get_agent, people_api::update_agent))
        .routes(routes!(people_api::set_state))
        .routes(routes!(people_api::state_history))
        .routes(routes!(
            customers_api::list_customers,
            customers_api::create_customer
        ))
        .routes(routes!(customers_api::lookup))
        .routes(routes!(
            customers_api::get_customer,
            customers_api::update_customer,
            customers_api::delete_customer
        ))
        .routes(routes!(
            contacts_api::list_contacts,
            contacts_api::create_contact
        ))
        .routes(routes!(contacts_api::get_contact))
        .routes(routes!(contacts_api::accept))
        .routes(routes!(contacts_api::reject))
        .routes(routes!(contacts_api::end))
        .routes(routes!(contacts_api::wrap_up))
        .routes(routes!(contacts_api::add_note))
        .routes(routes!(contacts_api::transfer))
        .routes(routes!(calls_api::hold))
        .routes(routes!(calls_api::pause_recording))
        .routes(routes!(calls_api::monitor, calls_api::stop_monitor))
        .routes(routes!(calls_api::consult))
        .routes(routes!(calls_api::consult_complete))
        .routes(routes!(calls_api::conference))
        .routes(routes!(calls_api::consult_cancel))
        .routes(routes!(calls_api::blind_transfer))
        .routes(routes!(calls_api::hangup))
        .routes(routes!(calls_api::click_to_call))
        .routes(routes!(calls_api::list_recordings))
        .routes(routes!(calls_api::download_recording))
        .routes(routes!(calls_api::stats))
        .routes(routes!(telephony_api::list_flows))
        .routes(routes!(
            telephony_api::get_flow,
            telephony_api::put_flow,
            telephony_api::delete_flow
        ))
        .routes(routes!(telephony_api::list_numbers))
        .routes(routes!(
            telephony_api::put_number,
            telephony_api::delete_number
        ))
        .routes(routes!(
            telephony_api::get_phone,
            telephony_api::put_phone,
            telephony_api::delete_phone
        ))
        .routes(routes!(kpi_api::queue_kpis))
        .routes(routes!(kpi_api::ivr_kpis))
        .routes(routes!(kpi_api::realtime))
        .routes(routes!(ws::events))
        .split_for_parts()
}

/// Adds the cross-cutting layers: request metrics, tracing, body limit, timeout, 404s.
pub fn finish(router: Router<Arc<App>>, app: Arc<App>) -> Router {
    router
        .route("/", axum::routing::get(ops::index))
        .fallback(|| async { error::ApiError::not_found("this path").into_response() })
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(TraceLayer::new_for_http())
        .layer(RequestBodyLimitLayer::new(1024 * 1024))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(app)
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("tsunagu_http_requests_total", "method" => method.clone(), "path" => path.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("tsunagu_http_request_seconds", "method" => method, "path" => path)
        .record(start.elapsed().as_secs_f64());
    res
}

/// The tenant's default region for phone numbers (JP when the tenant is gone).
async fn region(app: &App, tenant: i64) -> ApiResult<String> {
    Ok(app
        .store
        .tenant(tenant)
        .await?
        .map(|t| t.default_region)
        .unwrap_or_else(|| "JP".into()))
}
