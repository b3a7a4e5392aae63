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
        ApiError::field(&field_of(&path, &message, whole), plain(&message))
    })
}

/// serde's wording for the usual mistakes, said the way a user of the API thinks of them
/// (`limit: must be a whole number`, `priority: must be a whole number (got text "high")`).
/// Other messages — unknown variants and fields, which list what is accepted — are kept;
/// where in the text the parser stopped is dropped, the field being named already.
fn plain(message: &str) -> String {
    let m = strip_position(message);
    if m.starts_with("invalid digit found in string") || m.starts_with("cannot parse integer") {
        return "must be a whole number".into();
    }
    if m.starts_with("number too large") || m.starts_with("number too small") {
        return "is out of range".into();
    }
    if m.starts_with("EOF while parsing") {
        return "ends too early: the JSON is not complete".into();
    }
    if m.starts_with("expected value") {
        return "is not valid JSON".into();
    }
    if m.starts_with("trailing characters") {
        return "has something after the JSON object".into();
    }
    if m.starts_with("invalid float literal") {
        return "must be a number".into();
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((got, want)) = m
            .strip_prefix(prefix)
            .and_then(|r| r.split_once(", expected "))
        {
            return format!("must be {} (got {})", expected(want), got_word(got));
        }
    }
    m.to_string()
}

/// `… at line 1 column 20` off the end of a parser message.
fn strip_position(m: &str) -> &str {
    match m.rfind(" at line ") {
        Some(i)
            if m[i + 9..]
                .split(" column ")
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            &m[..i]
        }
        _ => m,
    }
}

fn expected(want: &str) -> &str {
    match want {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
            "a whole number"
        }
        "f32" | "f64" => "a number",
        "a string" | "a borrowed string" => "text",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a map" | "a struct" => "an object",
        other => other,
    }
}

fn got_word(got: &str) -> String {
    if let Some(rest) = got.strip_prefix("string ") {
        format!("text {rest}")
    } else if let Some(rest) = got.strip_prefix("integer ") {
        format!("the number {rest}")
    } else if got == "sequence" {
        "a list".into()
    } else if got == "map" {
        "an object".into()
    } else {
        got.into()
    }
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
            .map_err(|e| ApiError::field("body", plain(&e.to_string())))?;
        Ok(ApiJson(value))
    }
}

/// Query parameters whose errors name the parameter (`limit: must be a whole number`). The struct should deny unknown fields, so a misspelt parameter is refused
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

/// Refuses a `queue_id` (in a body or a query) that names no queue of the tenant (422).
pub async fn known_queue(app: &super::App, tenant: i64, id: i64) -> Result<(), ApiError> {
    match app.store.queue(tenant, id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::field("queue_id", "no such queue")),
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
    use super::{field_of, plain};

    #[test]
    fn parser_wording_is_said_plainly() {
        assert_eq!(
            plain("invalid digit found in string"),
            "must be a whole number"
        );
        assert_eq!(
            plain("cannot parse integer from empty string"),
            "must be a whole number"
        );
        assert_eq!(
            plain("number too large to fit in target type"),
            "is out of range"
        );
        assert_eq!(
            plain("invalid type: string \"high\", expected i64 at line 1 column 17"),
            "must be a whole number (got text \"high\")"
        );
        assert_eq!(
            plain("invalid type: integer `3`, expected a string"),
            "must be text (got the number `3`)"
        );
        assert_eq!(
            plain("invalid type: sequence, expected a boolean"),
            "must be true or false (got a list)"
        );
        // What already lists the accepted values is kept.
        let m = "unknown variant `x`, expected one of `ring_all`, `round_robin`";
        assert_eq!(plain(m), m);
        assert_eq!(
            plain("EOF while parsing a value at line 1 column 5"),
            "ends too early: the JSON is not complete"
        );
    }

    #[test]
    fn unnamed_places_are_the_enclosing_field() {
        assert_eq!(field_of("?", "EOF while parsing an object", "body"), "body");
        assert_eq!(field_of("phones.?", "expected value", "body"), "phones");
        assert_eq!(field_of(".", "missing field `name`", "body"), "name");
        assert_eq!(field_of("a.b", "invalid type", "body"), "a.b");
    }
}
