//! Calls: what agents and supervisors do to a call in progress (hold, consult and transfer,
//! 3-way, monitoring, recording pause, hang-up), click-to-call, and recordings. The checks
//! (tenant, role, the caller's own call) are made here; the call itself is the switch's.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use tsunagu_acd::Channel;
use tsunagu_domain::phone::normalize_phone;
use tsunagu_domain::role::Role;
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::rows::ContactRow;
use tsunagu_store::voice::RecordingRow;
use tsunagu_voice::{MonitorMode, Party};
use utoipa::ToSchema;

use super::auth::AuthUser;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use super::App;
use crate::dto::{ts, ContactView};
use tsunagu_runtime::center::{VoiceCommand, VoiceReply};
use tsunagu_runtime::telephony::{CallCommand, Telephony, TelephonyError};

use crate::dto::live::TelephonyStatsView;

impl From<TelephonyError> for ApiError {
    fn from(e: TelephonyError) -> Self {
        match e {
            TelephonyError::Call(e) => ApiError::Conflict(e.to_string()),
            e @ TelephonyError::Overloaded => ApiError::Busy(e.to_string()),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

fn telephony(app: &App) -> ApiResult<&Telephony> {
    app.telephony
        .as_ref()
        .ok_or_else(|| ApiError::Conflict("telephony is not running on this server".into()))
}

/// The call's contact, if the caller may act on it: agents only on their own call.
async fn own_call(app: &App, who: &AuthUser, id: i64) -> ApiResult<ContactRow> {
    let c = app
        .store
        .contact(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("contact {id}")))?;
    if c.channel != Channel::Voice.as_str() {
        return Err(ApiError::Conflict(format!("contact {id} is not a call")));
    }
    if !who.is_supervisor() && (who.agent_id.is_none() || c.agent_id != who.agent_id) {
        return Err(ApiError::Forbidden(
            "agents may act only on their own calls",
        ));
    }
    Ok(c)
}

async fn run(app: &App, cmd: CallCommand) -> ApiResult<StatusCode> {
    telephony(app)?.command(cmd).await?;
    Ok(StatusCode::NO_CONTENT)
}

// What cannot be carried out is refused here, before anything rings, with a 409 that says
// why; otherwise the API would answer 204 or 201 and the failure would only show later.
// What fails afterwards (a phone that declines or does not answer) is recorded as failed on
// the contact's timeline and sent live as `call_failed`.

/// Who is to be rung: the agent's own phone must be registered, and (`signed_in`) the agent
/// signed in. `whose` names them in the refusal ("agent 佐藤 花子", "your").
async fn phone_reachable(
    app: &App,
    t: &Telephony,
    tenant: i64,
    agent_id: i64,
    signed_in: bool,
    field: &str,
    own: bool,
) -> ApiResult<()> {
    let a = app
        .store
        .agent(tenant, agent_id)
        .await?
        .ok_or_else(|| ApiError::field(field, "no such agent"))?;
    let whose = if own {
        "your".to_string()
    } else {
        format!("agent {} ({})'s", a.display_name, a.username)
    };
    if signed_in && a.agent.presence == "offline" {
        return Err(ApiError::Conflict(if own {
            "you are signed out (offline)".into()
        } else {
            format!(
                "agent {} ({}) is signed out (offline)",
                a.display_name, a.username
            )
        }));
    }
    let Some(username) = &a.agent.sip_username else {
        return Err(ApiError::Conflict(format!(
            "{whose} phone cannot ring: no phone account"
        )));
    };
    if t.registrations(username).is_empty() {
        return Err(ApiError::Conflict(format!(
            "{whose} phone cannot ring: no phone is registered as {username}"
        )));
    }
    Ok(())
}

/// Outside numbers are dialed through the tenant's trunk; without one nothing can be.
fn outbound_route(t: &Telephony, tenant: i64) -> ApiResult<()> {
    if t.has_outbound_route(tenant) {
        Ok(())
    } else {
        Err(ApiError::Conflict(
            "no outbound route: this center has no trunk to call outside numbers through".into(),
        ))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldInput {
    /// true: hold (保留; the customer hears music), false: resume.
    pub on: bool,
}

/// Put the call on hold or take it off hold.
#[utoipa::path(post, path = "/api/contacts/{id}/hold", tag = "calls", params(("id" = i64, Path)), request_body = HoldInput,
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn hold(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<HoldInput>,
) -> ApiResult<StatusCode> {
    own_call(&app, &who, id).await?;
    run(
        &app,
        CallCommand::Hold {
            contact: id,
            on: input.on,
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingInput {
    /// true: pause the recording (e.g. while a card number is read out), false: resume.
    pub paused: bool,
}

/// Pause or resume the call's recording. The paused span is silence in the file.
#[utoipa::path(post, path = "/api/contacts/{id}/recording", tag = "calls", params(("id" = i64, Path)), request_body = RecordingInput,
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn pause_recording(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<RecordingInput>,
) -> ApiResult<StatusCode> {
    own_call(&app, &who, id).await?;
    run(
        &app,
        CallCommand::PauseRecording {
            contact: id,
            paused: input.paused,
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorInput {
    /// listen (モニタリング), whisper (ささやき: only the agent hears you) or barge (割り込み).
    pub mode: String,
}

/// A supervisor listens to, whispers into or barges into a call. Their phone rings; the
/// mode can be changed while it goes on.
#[utoipa::path(post, path = "/api/contacts/{id}/monitor", tag = "calls", params(("id" = i64, Path)), request_body = MonitorInput,
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn monitor(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<MonitorInput>,
) -> ApiResult<StatusCode> {
    who.require(Role::Supervisor)?;
    let mode = match input.mode.as_str() {
        "listen" => MonitorMode::Listen,
        "whisper" => MonitorMode::Whisper,
        "barge" => MonitorMode::Barge,
        _ => return Err(ApiError::field("mode", "must be listen, whisper or barge")),
    };
    let t = telephony(&app)?;
    let supervisor = who.agent_id.ok_or_else(|| {
        ApiError::Conflict("your phone cannot ring: you have no agent profile with a phone".into())
    })?;
    own_call(&app, &who, id).await?;
    phone_reachable(
        &app,
        t,
        who.tenant_id(),
        supervisor,
        false,
        "agent_id",
        true,
    )
    .await?;
    run(
        &app,
        CallCommand::Monitor {
            contact: id,
            supervisor,
            mode,
        },
    )
    .await
}

/// Stop monitoring a call (the supervisor's phone is hung up).
#[utoipa::path(delete, path = "/api/contacts/{id}/monitor", tag = "calls", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn stop_monitor(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Supervisor)?;
    let supervisor = who.agent_id.ok_or_else(|| {
        ApiError::Conflict("you are not monitoring: you have no agent profile".into())
    })?;
    own_call(&app, &who, id).await?;
    run(
        &app,
        CallCommand::StopMonitor {
            contact: id,
            supervisor,
        },
    )
    .await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PartyInput {
    /// Another agent (their phone rings)…
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// …or an external number (through the tenant's trunk).
    #[serde(default)]
    pub number: Option<String>,
}

/// The party to ring, refused up front when it cannot be rung (see [`phone_reachable`],
/// [`outbound_route`]).
async fn party(app: &App, who: &AuthUser, p: PartyInput) -> ApiResult<Party> {
    let t = telephony(app)?;
    let tenant = who.tenant_id();
    match (p.agent_id, p.number) {
        (Some(a), None) => {
            phone_reachable(app, t, tenant, a, true, "agent_id", who.agent_id == Some(a)).await?;
            Ok(Party::Agent(a))
        }
        (None, Some(n)) => {
            let region = super::region(app, tenant).await?;
            let e164 = normalize_phone(&n, &region)
                .map_err(|e| ApiError::field("number", e.to_string()))?;
            outbound_route(t, tenant)?;
            Ok(Party::Number(e164))
        }
        _ => {
            let mut e = FieldErrors::new();
            e.add("agent_id", "give either agent_id or number");
            Err(e.into())
        }
    }
}

/// Consult someone (取次ぎ): the customer waits with music while the agent talks to another
/// agent or an external number; then complete the transfer, join all three, or cancel.
#[utoipa::path(post, path = "/api/contacts/{id}/consult", tag = "calls", params(("id" = i64, Path)), request_body = PartyInput,
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn consult(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<PartyInput>,
) -> ApiResult<StatusCode> {
    own_call(&app, &who, id).await?;
    let party = party(&app, &who, input).await?;
    run(&app, CallCommand::Consult { contact: id, party }).await
}

/// Attended transfer: the consulted party takes the customer; the agent leaves the call.
#[utoipa::path(post, path = "/api/contacts/{id}/consult/complete", tag = "calls", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn consult_complete(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    own_call(&app, &who, id).await?;
    run(&app, CallCommand::ConsultComplete { contact: id }).await
}

/// Join the customer, the agent and the consulted party (三者通話).
#[utoipa::path(post, path = "/api/contacts/{id}/consult/conference", tag = "calls", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn conference(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    own_call(&app, &who, id).await?;
    run(&app, CallCommand::Conference { contact: id }).await
}

/// End the consultation and go back to the customer.
#[utoipa::path(post, path = "/api/contacts/{id}/consult/cancel", tag = "calls", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn consult_cancel(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    own_call(&app, &who, id).await?;
    run(&app, CallCommand::ConsultCancel { contact: id }).await
}

/// Blind transfer to an agent or an external number: the agent leaves at once. A target
/// that does not answer sends the call back to its queue. (To a queue: /transfer.)
#[utoipa::path(post, path = "/api/contacts/{id}/blind-transfer", tag = "calls", params(("id" = i64, Path)), request_body = PartyInput,
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn blind_transfer(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<PartyInput>,
) -> ApiResult<StatusCode> {
    own_call(&app, &who, id).await?;
    let party = party(&app, &who, input).await?;
    run(&app, CallCommand::BlindTransfer { contact: id, party }).await
}

/// Hang the call up.
#[utoipa::path(post, path = "/api/contacts/{id}/hangup", tag = "calls", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn hangup(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let c = own_call(&app, &who, id).await?;
    // The contact's reason says who ended it: its agent, or a supervisor from outside.
    let by = if who.agent_id.is_some() && c.agent_id == who.agent_id {
        tsunagu_voice::Side::Agent
    } else {
        tsunagu_voice::Side::Supervisor
    };
    run(&app, CallCommand::Hangup { contact: id, by }).await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ClickToCallInput {
    /// The customer's number, in any usual form.
    pub number: String,
    /// Link the call to this customer (default: found by the number).
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// The queue the call counts under (its wrap-up codes; default: the agent's first).
    #[serde(default)]
    pub queue_id: Option<i64>,
    /// Supervisors may place the call for an agent.
    #[serde(default)]
    pub agent_id: Option<i64>,
}

/// Click-to-call (発信): the agent's phone rings first, then the customer is dialed through
/// the tenant's trunk with its caller ID. The agent must be signed in and free, with a
/// registered phone, and the center must have an outbound trunk (409 naming what is
/// missing). A phone that then does not answer ends the contact, recorded as failed.
#[utoipa::path(post, path = "/api/calls", tag = "calls", request_body = ClickToCallInput,
    responses((status = 201, body = ContactView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn click_to_call(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(input): ApiJson<ClickToCallInput>,
) -> ApiResult<(StatusCode, Json<ContactView>)> {
    let t = telephony(&app)?;
    let tenant = who.tenant_id();
    let agent = who.acting_agent(input.agent_id)?;
    let mut e = FieldErrors::new();
    let region = super::region(&app, tenant).await?;
    let e164 = match normalize_phone(&input.number, &region) {
        Ok(n) => Some(n),
        Err(err) => {
            e.add("number", err.to_string());
            None
        }
    };
    let full = app
        .store
        .agent(tenant, agent)
        .await?
        .ok_or_else(|| ApiError::field("agent_id", "no such agent"))?;
    // The queue the call counts under, and whether its calls are recorded.
    let (queue_id, record) = match input.queue_id.or_else(|| full.queues.first().map(|q| q.0)) {
        Some(q) => match app.store.queue(tenant, q).await? {
            Some(row) => (q, row.record_calls),
            None => {
                e.add("queue_id", "no such queue");
                (0, false)
            }
        },
        None => {
            e.add("queue_id", "the agent serves no queue; name one");
            (0, false)
        }
    };
    let mut customer_id = input.customer_id;
    if let Some(c) = customer_id {
        if app.store.customer(tenant, c).await?.is_none() {
            e.add("customer_id", "no such customer");
        }
    }
    e.into_result()?;
    let e164 = e164.expect("checked");
    // The agent's phone rings first, then the number is dialed through the trunk: both
    // must be possible before a contact is made.
    outbound_route(t, tenant)?;
    phone_reachable(
        &app,
        t,
        tenant,
        agent,
        true,
        "agent_id",
        who.agent_id == Some(agent),
    )
    .await?;
    if customer_id.is_none() {
        customer_id = app.store.customer_id_by_phone(tenant, &e164).await?;
    }
    let handle = app.center.tenant(tenant).await?;
    let reply = handle
        .voice(VoiceCommand::ClickToCall {
            agent,
            number: e164.clone(),
            customer_id,
            queue_id,
            by_user: who.user.id,
        })
        .await?;
    let VoiceReply::Contact(row) = reply else {
        return Err(ApiError::Internal(format!("unexpected answer {reply:?}")));
    };
    let started = t
        .command(CallCommand::Outbound {
            tenant_id: tenant,
            contact: row.id,
            agent,
            number: e164,
            record,
        })
        .await;
    if let Err(err) = started {
        // Nothing rang: close the contact again, with the reason.
        let _ = handle
            .voice(VoiceCommand::End {
                contact: row.id,
                side: "system".into(),
                cause: format!("not_started: {err}"),
            })
            .await;
        return Err(err.into());
    }
    Ok((StatusCode::CREATED, Json(ContactView::from(&*row))))
}

#[derive(Serialize, ToSchema)]
pub struct RecordingView {
    pub id: i64,
    pub contact_id: i64,
    /// call or voicemail
    pub kind: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_secs: Option<f64>,
    /// recording, complete, failed or interrupted (by a restart)
    pub status: String,
    /// Where to download it (supervisors and admins).
    pub url: String,
}

impl From<&RecordingRow> for RecordingView {
    fn from(r: &RecordingRow) -> Self {
        RecordingView {
            id: r.id,
            contact_id: r.contact_id,
            kind: r.kind.clone(),
            started_at: ts(r.started_at),
            ended_at: r.ended_at.map(ts),
            duration_secs: r.duration_ms.map(|d| d as f64 / 1000.0),
            status: r.status.clone(),
            url: format!("/api/recordings/{}", r.id),
        }
    }
}

/// A contact's recordings (stereo WAV: customer left, agent right; voicemails mono-in-stereo).
#[utoipa::path(get, path = "/api/contacts/{id}/recordings", tag = "calls", params(("id" = i64, Path)),
    responses((status = 200, body = [RecordingView]), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_recordings(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<RecordingView>>> {
    who.require(Role::Supervisor)?;
    // An unknown contact is not one without recordings.
    app.store
        .contact(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("contact {id}")))?;
    let all = app.store.recordings(who.tenant_id(), id).await?;
    Ok(Json(all.iter().map(RecordingView::from).collect()))
}

/// Download a recording (WAV). Supervisors and admins only.
#[utoipa::path(get, path = "/api/recordings/{id}", tag = "calls", params(("id" = i64, Path)),
    responses((status = 200, content_type = "audio/wav"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn download_recording(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    who.require(Role::Supervisor)?;
    let r = app
        .store
        .recording(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("recording {id}")))?;
    if r.status == "recording" {
        return Err(ApiError::Conflict(
            "the call is still being recorded".into(),
        ));
    }
    let bytes = tokio::fs::read(&r.path)
        .await
        .map_err(|e| ApiError::Internal(format!("{}: {e}", r.path)))?;
    tracing::info!(recording = id, user = who.user.id, "recording downloaded");
    Response::builder()
        .header(header::CONTENT_TYPE, "audio/wav")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"recording-{id}.wav\""),
        )
        .body(Body::from(bytes))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Calls and legs in progress.
#[utoipa::path(get, path = "/api/telephony", tag = "calls",
    responses((status = 200, body = TelephonyStatsView)), security(("bearer" = [])))]
pub async fn stats(
    State(app): State<Arc<App>>,
    who: AuthUser,
) -> ApiResult<Json<TelephonyStatsView>> {
    who.require(Role::Supervisor)?;
    Ok(Json(TelephonyStatsView::from(
        &telephony(&app)?.stats().await?,
    )))
}
