//! Request inputs — JSON bodies, query strings, path parameters — read so that every refusal
//! is a JSON [`ApiError`] naming the field, and through [`Strict`] so that a struct comes
//! from an object only and no text holds control characters.

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::strict::{forbidden_control, Strict};

/// The field name for what serde reports at `path` with `message`: serde reports a
/// missing field at its parent, so the field itself is named.
fn field_of(path: &str, message: &str, whole: &str) -> String {
    // serde_path_to_error writes `?` for a place it could not name (the input ended, or is
    // no JSON there): the error is then about what encloses it.
    let path = path.strip_suffix(".?").unwrap_or(path);
    let path = if path == "?" { "" } else { path };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next());
    match (path, missing) {
        ("." | "", Some(m)) => m.to_string(),
        (p, Some(m)) => format!("{p}.{m}"),
        ("." | "", None) => whole.to_string(),
        (p, None) => p.to_string(),
    }
}

/// Deserializes `T` through [`Strict`], naming the field of any error (`whole` when the
/// error concerns the input as a whole).
fn read<'de, D, T>(de: D, whole: &str) -> Result<T, ApiError>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde_path_to_error::deserialize(Strict(de)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        ApiError::field(&field_of(&path, &message, whole), message)
    })
}

/// A JSON object body whose errors name the field (`queue.strategy: unknown variant …`).
/// Refused: another content type (415), a body over the limit (413), anything but an object
/// at the top or where the schema has an object (422), control characters in text (422).
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
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::TooLarge)
            }
            Err(e) => return Err(ApiError::field("body", e.body_text())),
        };
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = read(&mut *de, "body")?;
        // Nothing may follow the object.
        de.end()
            .map_err(|e| ApiError::field("body", e.to_string()))?;
        Ok(ApiJson(value))
    }
}

/// Query parameters whose errors name the parameter (`limit: invalid digit found in
/// string`). The struct should deny unknown fields, so a misspelt parameter is refused
/// rather than ignored.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        read(de, "query").map(ApiQuery)
    }
}

/// A path parameter's type: how it is read, and what to say when it cannot be.
pub trait PathParam: Sized {
    fn parse(s: &str) -> Result<Self, &'static str>;
}

impl PathParam for i64 {
    fn parse(s: &str) -> Result<Self, &'static str> {
        s.parse().map_err(|_| "must be a whole number (an id)")
    }
}

impl PathParam for String {
    fn parse(s: &str) -> Result<Self, &'static str> {
        if s.chars().any(forbidden_control) {
            return Err("must not contain control characters");
        }
        Ok(s.to_string())
    }
}

/// The route's one path parameter (`/api/contacts/{id}`), its errors naming it:
/// `/api/contacts/abc` → 422 `id: must be a whole number (an id)`.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: PathParam,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::field("path", e.body_text()))?;
        let mut it = params.iter();
        let (Some((key, value)), None) = (it.next(), it.next()) else {
            return Err(ApiError::Internal(
                "ApiPath is for routes with exactly one parameter".into(),
            ));
        };
        T::parse(value)
            .map(ApiPath)
            .map_err(|m| ApiError::field(key, m))
    }
}

/// A page size from the query: `default` when absent, else 1 to `max`.
pub fn page_limit(value: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field(
            "limit",
            format!("must be between 1 and {max}"),
        )),
    }
}

/// A `before` cursor (an id) from the query: positive when given.
pub fn cursor(value: Option<i64>) -> Result<Option<i64>, ApiError> {
    match value {
        Some(n) if n < 1 => Err(ApiError::field("before", "must be an id (1 or more)")),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn unnamed_places_are_the_enclosing_field() {
        assert_eq!(field_of("?", "EOF while parsing an object", "body"), "body");
        assert_eq!(field_of("phones.?", "expected value", "body"), "phones");
        assert_eq!(field_of(".", "missing field `name`", "body"), "name");
        assert_eq!(field_of("a.b", "invalid type", "body"), "a.b");
    }
}
