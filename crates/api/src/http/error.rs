//! API errors: every refusal is a 4xx with a JSON body that says what is wrong and, for bad
//! input, which field.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tsunagu_domain::validate::{FieldError, FieldErrors};
use tsunagu_store::StoreError;
use utoipa::ToSchema;

pub use super::input::{ApiJson, ApiPath, ApiQuery};
use tsunagu_runtime::center::CenterError;

/// What a client refused with `busy` is told to wait, in seconds.
const BUSY_RETRY_SECS: u64 = 2;

#[derive(Debug)]
pub enum ApiError {
    Invalid(FieldErrors),
    Unauthorized(&'static str),
    Forbidden(&'static str),
    NotFound(String),
    Conflict(String),
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// The body is over the limit (413).
    TooLarge,
    TooManyRequests(u64),
    /// The call shell is behind: refused now, nothing changed; try again (503, `busy`).
    Busy(String),
    Unavailable(String),
    Internal(String),
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// invalid, bad_request, unauthorized, forbidden, not_found, method_not_allowed,
    /// timeout, conflict, payload_too_large, unsupported_media_type, too_many_requests,
    /// busy, unavailable or internal
    pub error: &'static str,
    pub message: String,
    /// For `invalid`: each offending field and what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldErrorBody>,
}

#[derive(Serialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub message: String,
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        let mut e = FieldErrors::new();
        e.add(field, message);
        ApiError::Invalid(e)
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::NotFound(what.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, message, fields) = match self {
            ApiError::Invalid(f) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                f.to_string(),
                f.0.into_iter()
                    .map(|FieldError { field, message }| FieldErrorBody { field, message })
                    .collect(),
            ),
            ApiError::Unauthorized(m) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                m.to_string(),
                vec![],
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.to_string(), vec![]),
            ApiError::NotFound(m) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{m} not found"),
                vec![],
            ),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, vec![]),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json".into(),
                vec![FieldErrorBody {
                    field: "content-type".into(),
                    message: "must be application/json".into(),
                }],
            ),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is over {} bytes", super::BODY_LIMIT),
                vec![FieldErrorBody {
                    field: "body".into(),
                    message: format!("must be at most {} bytes", super::BODY_LIMIT),
                }],
            ),
            ApiError::TooManyRequests(secs) => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(ErrorBody {
                        error: "too_many_requests",
                        message: format!("too many failed attempts; try again in {secs} s"),
                        fields: vec![],
                    }),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                return r;
            }
            ApiError::Busy(m) => {
                tracing::warn!("refused while overloaded: {m}");
                let mut r = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(ErrorBody {
                        error: "busy",
                        message: m,
                        fields: vec![],
                    }),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_SECS));
                return r;
            }
            ApiError::Unavailable(m) => {
                tracing::error!("unavailable: {m}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "storage is unavailable; nothing was changed".into(),
                    vec![],
                )
            }
            ApiError::Internal(m) => {
                tracing::error!("internal error: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".into(),
                    vec![],
                )
            }
        };
        (
            status,
            axum::Json(ErrorBody {
                error,
                message,
                fields,
            }),
        )
            .into_response()
    }
}

impl From<CenterError> for ApiError {
    fn from(e: CenterError) -> Self {
        match e {
            CenterError::NotFound(m) => ApiError::NotFound(m),
            CenterError::Conflict(m) => ApiError::Conflict(m),
            CenterError::Invalid(f) => ApiError::Invalid(f),
            CenterError::Unavailable(m) => ApiError::Unavailable(m),
            CenterError::ShuttingDown => ApiError::Unavailable("shutting down".into()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::Conflict(format!("{m} already exists")),
            StoreError::NotFound(m) => ApiError::NotFound(m),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError::Invalid(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The error body for a refusal made outside the handlers — by axum (405, a rejected
/// WebSocket upgrade), the body limit (413) or the timeout (408) — whose own body is plain
/// text or empty.
fn replacement(status: StatusCode, text: &str) -> Response {
    let (error, message, fields) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => return ApiError::TooLarge.into_response(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            return ApiError::UnsupportedMediaType.into_response()
        }
        StatusCode::NOT_FOUND => ("not_found", "this path not found".to_string(), vec![]),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this method is not allowed on this path".to_string(),
            vec![],
        ),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long".to_string(), vec![]),
        s if s.is_server_error() => ("internal", "internal error".to_string(), vec![]),
        _ => (
            "bad_request",
            if text.trim().is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("bad request")
                    .to_string()
            } else {
                text.trim().to_string()
            },
            vec![],
        ),
    };
    (
        status,
        axum::Json(ErrorBody {
            error,
            message,
            fields,
        }),
    )
        .into_response()
}

/// Middleware: every error response is JSON ([`ErrorBody`]). Handlers' errors already are;
/// this rewrites the ones made by the framework and the layers around the handlers, keeping
/// the status and the headers that matter (`Allow`, `Retry-After`).
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    // Framework rejections are short; what cannot be read is not worth repeating.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut out = replacement(status, &text);
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}
