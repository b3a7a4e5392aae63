//! The live event stream: a WebSocket per screen. Agents receive their own offers, their
//! contacts' changes and their own state; supervisors and admins receive everything of the
//! tenant. The first message (`hello`) carries the offers already ringing, so a screen that
//! reconnects misses nothing that still stands.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::auth::AuthUser;
use super::error::ApiResult;
use super::App;
use crate::dto::live::LiveEventView;
use crate::dto::{ContactView, UserView};

/// Open the live event stream (WebSocket). Authenticate with the session cookie or a
/// bearer token. Messages are JSON objects with a `type`: hello, offer, offer_withdrawn,
/// offer_timed_out, contact, agent_state, call_failed, or resync (events were dropped:
/// re-read state).
#[utoipa::path(get, path = "/api/events", tag = "live", responses((status = 101, description = "switching to WebSocket"),
        (status = 400, body = super::error::ErrorBody, description = "not a WebSocket upgrade request")),
    security(("bearer" = [])))]
pub async fn events(
    State(app): State<Arc<App>>,
    who: AuthUser,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let tenant = app.center.tenant(who.tenant_id()).await?;
    // Subscribe before reading the current offers so nothing falls between the two.
    let rx = tenant.subscribe();
    let offers = match who.agent_id {
        Some(a) => tenant.offers_for(a).await?,
        None => Vec::new(),
    };
    Ok(upgrade.on_upgrade(move |socket| session(socket, app, who, rx, offers)))
}

async fn session(
    mut socket: WebSocket,
    app: Arc<App>,
    who: AuthUser,
    mut rx: tokio::sync::broadcast::Receiver<Arc<tsunagu_runtime::center::events::Envelope>>,
    offers: Vec<(tsunagu_store::rows::ContactRow, i64)>,
) {
    let mut shutdown = app.shutdown.clone();
    // Re-check the credential now and then: a logout, a revoked token or a disabled user
    // ends the live connection too.
    let every = std::time::Duration::from_millis(app.config.ws_recheck_ms.max(100));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let supervisor = who.is_supervisor();
    let hello = json!({
        "type": "hello",
        "user": UserView::new(&who.user, who.agent_id),
        "offers": offers.iter().map(|(c, exp)| LiveEventView::Offer {
            agent_id: who.agent_id.unwrap_or_default(),
            expires_at: crate::dto::ts(*exp),
            contact: ContactView::from(c),
        }).collect::<Vec<_>>(),
    });
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    metrics::gauge!("tsunagu_websocket_sessions").increment(1.0);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(env) => {
                    if !env.visible_to(who.agent_id, supervisor) {
                        continue;
                    }
                    let Ok(text) = serde_json::to_string(&LiveEventView::from(&env.event)) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let msg = json!({ "type": "resync", "dropped": n });
                    if socket.send(Message::Text(msg.to_string().into())).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Closed) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Ping(p))) => { let _ = socket.send(Message::Pong(p)).await; }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = recheck.tick() => {
                let valid = app.store.token_user(&who.token_hash, app.clock.now_ms()).await.is_ok_and(|t| t.is_some());
                if !valid {
                    let _ = socket.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 4001,
                        reason: "session ended".into(),
                    }))).await;
                    break;
                }
            }
            _ = shutdown.changed() => {
                let _ = socket.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: 1001,
                    reason: "server shutting down".into(),
                }))).await;
                break;
            }
        }
    }
    metrics::gauge!("tsunagu_websocket_sessions").decrement(1.0);
}
