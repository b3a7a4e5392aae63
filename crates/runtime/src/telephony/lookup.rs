//! An `http` flow node's lookup to an external system (API連携IVR), made by the shell on
//! the switch's behalf; the answer goes back to the call's flow as an input.

use std::time::Duration;

use serde_json::Value;
use tsunagu_flow::LookupError;

/// The flow's lookup to an external system (API連携IVR). Any failure or a timeout is an
/// error the flow handles with its fallback.
pub(super) async fn http_lookup(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    body: Option<String>,
    timeout_ms: u64,
) -> Result<Value, LookupError> {
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|e| LookupError::Request(e.to_string()))?;
    let mut req = client
        .request(method, url)
        .timeout(Duration::from_millis(timeout_ms));
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            LookupError::Timeout
        } else {
            LookupError::Request(e.to_string())
        }
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(LookupError::Status(status.as_u16()));
    }
    resp.json::<Value>()
        .await
        .map_err(|e| LookupError::NotJson(e.to_string()))
}
