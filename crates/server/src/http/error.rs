//! API errors: every refusal is a 4xx with a JSON body that says what is wrong and, for bad
//! input, which field.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tsunagu_domain::validate::{FieldError, FieldErrors};
use tsunagu_store::StoreError;
use utoipa::ToSchema;

use crate::center::CenterError;

#[derive(Debug)]
pub enum ApiError {
    Invalid(FieldErrors),
    Unauthorized(&'static str),
    Forbidden(&'static str),
    NotFound(String),
    Conflict(String),
    TooManyRequests(u64),
    Unavailable(String),
    Internal(String),
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// invalid, unauthorized, forbidden, not_found, conflict, too_many_requests,
    /// unavailable or internal
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

/// A JSON body whose decoding errors name the field (`queue.strategy: unknown variant …`).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Requiring a JSON content type also keeps plain HTML forms on other sites from
        // posting with a user's cookie.
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::field(
                "body",
                "expected Content-Type: application/json",
            ));
        }
        let bytes = match axum::body::Bytes::from_request(req.map(|b| b), state).await {
            Ok(b) => b,
            Err(e) => return Err(ApiError::field("body", e.body_text())),
        };
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => Ok(ApiJson(v)),
            Err(e) => {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                // serde reports a missing field at its parent: name the field itself.
                let missing = message
                    .strip_prefix("missing field `")
                    .and_then(|m| m.split('`').next());
                let field = match (path.as_str(), missing) {
                    ("." | "", Some(m)) => m.to_string(),
                    (p, Some(m)) => format!("{p}.{m}"),
                    ("." | "", None) => "body".to_string(),
                    (p, None) => p.to_string(),
                };
                Err(ApiError::field(&field, message))
            }
        }
    }
}
