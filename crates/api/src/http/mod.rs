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
pub mod input;
pub mod kpi_api;
pub mod ops;
pub mod people_api;
pub mod strict;
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
use error::ApiResult;
use tsunagu_runtime::center::{Center, Clock};

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
    pub telephony: Option<tsunagu_runtime::telephony::Telephony>,
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

/// The routes being gathered, with the schemas each brings, to find two types that share a
/// schema name: utoipa keys schemas by name only, so the second would silently replace the
/// first and the document would describe one type with the other's shape.
struct Routes {
    router: OpenApiRouter<Arc<App>>,
    schemas: std::collections::BTreeMap<String, serde_json::Value>,
    clashes: std::collections::BTreeSet<String>,
}

impl Routes {
    fn new() -> Routes {
        Routes {
            router: OpenApiRouter::with_openapi(ApiDoc::openapi()),
            schemas: Default::default(),
            clashes: Default::default(),
        }
    }

    fn add(mut self, r: utoipa_axum::router::UtoipaMethodRouter<Arc<App>>) -> Routes {
        for (name, schema) in &r.0 {
            let shape = serde_json::to_value(schema).unwrap_or_default();
            match self.schemas.get(name) {
                Some(seen) if *seen != shape => {
                    self.clashes.insert(name.clone());
                }
                Some(_) => {}
                None => {
                    self.schemas.insert(name.clone(), shape);
                }
            }
        }
        self.router = self.router.routes(r);
        self
    }
}

/// The routes and the OpenAPI document describing them.
pub fn routes() -> (Router<Arc<App>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = build().router.split_for_parts();
    common_responses(&mut doc);
    (router, doc)
}

/// Documents the refusals every operation of a kind can answer, made by the extractors
/// rather than the handler: 401 for what needs a credential; 422 for what takes
/// parameters or a body (each field named); 413 and 415 for a JSON body; 503 when storage
/// is down. All with the error body.
fn common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            let secured = op.security.is_some();
            let takes_input =
                op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let has_body = op.request_body.is_some();
            let r = &mut op.responses.responses;
            let mut add = |code: &str, description: &str| {
                r.entry(code.to_string())
                    .or_insert_with(|| error(description).into());
            };
            if secured {
                add("401", "no credential, or an expired or revoked one");
                add("503", "storage is unavailable; nothing was changed");
            }
            if takes_input {
                add("422", "bad input; each field at fault is named");
            }
            if has_body {
                add("413", "the body is over the limit (1 MiB)");
                add("415", "the body is not application/json");
            }
        }
    }
}

/// Schema names that two different types of the API share (a test keeps this empty).
pub fn openapi_schema_clashes() -> Vec<String> {
    build().clashes.into_iter().collect()
}

fn build() -> Routes {
    Routes::new()
        .add(routes!(ops::healthz))
        .add(routes!(ops::metrics))
        .add(routes!(ops::openapi))
        .add(routes!(auth::login))
        .add(routes!(auth::logout))
        .add(routes!(auth::me))
        .add(routes!(auth::change_password))
        .add(routes!(auth::create_token, auth::list_tokens))
        .add(routes!(auth::revoke_token))
        .add(routes!(config_api::get_tenant, config_api::put_tenant))
        .add(routes!(config_api::list_skills, config_api::create_skill))
        .add(routes!(config_api::update_skill, config_api::delete_skill))
        .add(routes!(config_api::list_queues, config_api::create_queue))
        .add(routes!(
            config_api::get_queue,
            config_api::update_queue,
            config_api::delete_queue
        ))
        .add(routes!(
            config_api::list_dispositions,
            config_api::create_disposition
        ))
        .add(routes!(
            config_api::update_disposition,
            config_api::delete_disposition
        ))
        .add(routes!(config_api::list_reasons))
        .add(routes!(config_api::put_reason, config_api::delete_reason))
        .add(routes!(people_api::list_users, people_api::create_user))
        .add(routes!(people_api::update_user, people_api::delete_user))
        .add(routes!(people_api::list_agents, people_api::create_agent))
        .add(routes!(people_api::get_agent, people_api::update_agent))
        .add(routes!(people_api::set_state))
        .add(routes!(people_api::state_history))
        .add(routes!(
            customers_api::list_customers,
            customers_api::create_customer
        ))
        .add(routes!(customers_api::lookup))
        .add(routes!(
            customers_api::get_customer,
            customers_api::update_customer,
            customers_api::delete_customer
        ))
        .add(routes!(
            contacts_api::list_contacts,
            contacts_api::create_contact
        ))
        .add(routes!(contacts_api::get_contact))
        .add(routes!(contacts_api::accept))
        .add(routes!(contacts_api::reject))
        .add(routes!(contacts_api::end))
        .add(routes!(contacts_api::wrap_up))
        .add(routes!(contacts_api::add_note))
        .add(routes!(contacts_api::transfer))
        .add(routes!(calls_api::hold))
        .add(routes!(calls_api::pause_recording))
        .add(routes!(calls_api::monitor, calls_api::stop_monitor))
        .add(routes!(calls_api::consult))
        .add(routes!(calls_api::consult_complete))
        .add(routes!(calls_api::conference))
        .add(routes!(calls_api::consult_cancel))
        .add(routes!(calls_api::blind_transfer))
        .add(routes!(calls_api::hangup))
        .add(routes!(calls_api::click_to_call))
        .add(routes!(calls_api::list_recordings))
        .add(routes!(calls_api::download_recording))
        .add(routes!(calls_api::stats))
        .add(routes!(telephony_api::list_flows))
        .add(routes!(
            telephony_api::get_flow,
            telephony_api::put_flow,
            telephony_api::delete_flow
        ))
        .add(routes!(telephony_api::list_numbers))
        .add(routes!(
            telephony_api::put_number,
            telephony_api::delete_number
        ))
        .add(routes!(
            telephony_api::get_phone,
            telephony_api::put_phone,
            telephony_api::delete_phone
        ))
        .add(routes!(kpi_api::queue_kpis))
        .add(routes!(kpi_api::ivr_kpis))
        .add(routes!(kpi_api::realtime))
        .add(routes!(ws::events))
}

/// The largest request body, in bytes.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Adds the cross-cutting layers: request metrics, tracing, body limit, timeout, 404s, and
/// JSON bodies for the errors those layers and the framework make.
pub fn finish(router: Router<Arc<App>>, app: Arc<App>) -> Router {
    router
        .route("/", axum::routing::get(ops::index))
        .fallback(|| async { error::ApiError::not_found("this path").into_response() })
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(TraceLayer::new_for_http())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::from_fn(error::json_errors))
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

#[cfg(test)]
mod tests {
    /// Regression: `CustomerInput.phones` pointed at the phone-account schema, because two
    /// input types were both called `PhoneInput`.
    #[test]
    fn every_schema_name_belongs_to_one_type() {
        assert_eq!(super::openapi_schema_clashes(), Vec::<String>::new());
    }
}
