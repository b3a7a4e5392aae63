//! Contacts: create (tasks and other non-voice work from integrations), read with the
//! whole timeline, and the agent's actions — accept, reject, end, wrap up, add a note.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tsunagu_acd::Channel;
use tsunagu_domain::email::normalize_email;
use tsunagu_domain::phone::normalize_phone;
use tsunagu_domain::role::Role;
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::rows::{ContactRow, NoteRow};
use tsunagu_store::{ContactFilter, Write};
use utoipa::ToSchema;

use super::auth::AuthUser;
use super::config_api::check_requirements;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use super::input::{cursor, page_limit};
use super::App;
use crate::dto::*;
use tsunagu_runtime::center::mapping::Requirement;
use tsunagu_runtime::center::{AgentCommand, NewContact};

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CustomerRef {
    /// Link to this customer…
    #[serde(default)]
    pub id: Option<i64>,
    /// …or to the customer with this number (any usual form)…
    #[serde(default)]
    pub phone: Option<String>,
    /// …or with this email address.
    #[serde(default)]
    pub email: Option<String>,
}

fn default_channel() -> String {
    "task".into()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContactInput {
    pub queue_id: i64,
    /// task (default), email or chat. Calls come from telephony, not from here.
    #[serde(default = "default_channel")]
    pub channel: String,
    #[serde(default)]
    pub subject: Option<String>,
    /// 0-10, higher is more urgent.
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub customer: Option<CustomerRef>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Option<Value>,
    /// Extra skill requirements for this contact (added to, or overriding, the queue's).
    #[serde(default)]
    #[schema(value_type = Vec<crate::dto::RequirementSchema>)]
    pub requirements: Vec<Requirement>,
}

/// Create a contact (a task, an email, a chat) in a queue. It is stored before this
/// returns and routed at once; the answer shows where it stands (queued or offered).
#[utoipa::path(post, path = "/api/contacts", tag = "contacts", request_body = NewContactInput,
    responses((status = 201, body = ContactView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_contact(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(input): ApiJson<NewContactInput>,
) -> ApiResult<(StatusCode, Json<ContactView>)> {
    let tenant = who.tenant_id();
    let mut e = FieldErrors::new();
    let channel = match Channel::parse(&input.channel) {
        Some(Channel::Voice) => {
            e.add(
                "channel",
                "calls are created by telephony; use task, email or chat",
            );
            Channel::Task
        }
        Some(c) => c,
        None => {
            e.add("channel", "must be task, email or chat");
            Channel::Task
        }
    };
    if app.store.queue(tenant, input.queue_id).await?.is_none() {
        e.add("queue_id", "no such queue");
    }
    e.range("priority", input.priority, 0, 10);
    if let Some(s) = &input.subject {
        e.line("subject", s, 500);
    }
    let attributes = input
        .attributes
        .unwrap_or(Value::Object(Default::default()));
    if !attributes.is_object() {
        e.add("attributes", "must be a JSON object");
    } else if attributes.to_string().len() > 64 * 1024 {
        e.add("attributes", "must be at most 64 KiB");
    }
    check_requirements(&app, tenant, "requirements", &input.requirements, &mut e).await?;

    let mut customer_id = None;
    let mut address = None;
    if let Some(CustomerRef { id, phone, email }) = input.customer {
        if let Some(id) = id {
            if app.store.customer(tenant, id).await?.is_none() {
                e.add("customer.id", "no such customer");
            }
            customer_id = Some(id);
        }
        let region = super::region(&app, tenant).await?;
        if let Some(p) = phone {
            match normalize_phone(&p, &region) {
                Ok(n) => {
                    if customer_id.is_none() {
                        customer_id = app.store.customer_id_by_phone(tenant, &n).await?;
                    }
                    address = Some(n);
                }
                Err(err) => e.add("customer.phone", err.to_string()),
            }
        } else if let Some(m) = email {
            match normalize_email(&m) {
                Ok(n) => {
                    if customer_id.is_none() {
                        customer_id = app
                            .store
                            .customers_by_email(tenant, &n)
                            .await?
                            .first()
                            .map(|c| c.customer.id);
                    }
                    address = Some(n);
                }
                Err(err) => e.add("customer.email", err.to_string()),
            }
        }
    }
    e.into_result()?;
    let row = app
        .center
        .tenant(tenant)
        .await?
        .create_contact(NewContact {
            channel,
            direction: "inbound".into(),
            queue_id: input.queue_id,
            customer_id,
            customer_address: address,
            priority: input.priority,
            subject: input
                .subject
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            attributes,
            requirements: input.requirements,
            created_by: Some(who.user.id),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(ContactView::from(&row))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    /// ivr, queued, offered, connected, wrap_up, completed, abandoned, timed_out or
    /// interrupted
    pub status: Option<String>,
    pub agent_id: Option<i64>,
    pub queue_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// Continue after this id (newest first).
    pub before: Option<i64>,
    /// 1-500, default 50.
    pub limit: Option<i64>,
}

/// Contacts, newest first. Agents see only contacts they handled.
#[utoipa::path(get, path = "/api/contacts", tag = "contacts", params(ContactQuery),
    responses((status = 200, body = [ContactView])), security(("bearer" = [])))]
pub async fn list_contacts(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> ApiResult<Json<Vec<ContactView>>> {
    let agent_id = if who.is_supervisor() {
        q.agent_id
    } else {
        let own = who
            .agent_id
            .ok_or(ApiError::Forbidden("you have no agent profile"))?;
        if q.agent_id.is_some_and(|a| a != own) {
            return Err(ApiError::Forbidden("agents see only their own contacts"));
        }
        Some(own)
    };
    if let Some(s) = &q.status {
        if tsunagu_domain::contact::ContactStatus::parse(s).is_none() {
            return Err(ApiError::field(
                "status",
                "is not a contact status (ivr, queued, offered, connected, wrap_up, completed, \
                 abandoned, timed_out, interrupted)",
            ));
        }
    }
    // A filter naming what the tenant does not have is a mistake, not an empty answer.
    let tenant = who.tenant_id();
    if let Some(id) = q.queue_id {
        super::input::known_queue(&app, tenant, id).await?;
    }
    if let (Some(id), true) = (q.agent_id, who.is_supervisor()) {
        if app.store.agent(tenant, id).await?.is_none() {
            return Err(ApiError::field("agent_id", "no such agent"));
        }
    }
    if let Some(id) = q.customer_id {
        if app.store.customer(tenant, id).await?.is_none() {
            return Err(ApiError::field("customer_id", "no such customer"));
        }
    }
    let f = ContactFilter {
        status: q.status,
        agent_id,
        queue_id: q.queue_id,
        customer_id: q.customer_id,
        before_id: cursor(q.before)?,
        limit: page_limit(q.limit, 50, 500)?,
    };
    Ok(Json(
        app.store
            .contacts(who.tenant_id(), &f)
            .await?
            .iter()
            .map(ContactView::from)
            .collect(),
    ))
}

/// Loads a contact the caller may see: supervisors any in the tenant, agents those they
/// handle or were offered.
async fn visible_contact(
    app: &App,
    who: &AuthUser,
    id: i64,
) -> ApiResult<(ContactRow, Vec<tsunagu_store::rows::ContactEventRow>)> {
    let tenant = who.tenant_id();
    let c = app
        .store
        .contact(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("contact {id}")))?;
    let events = app.store.contact_events(tenant, id).await?;
    if !who.is_supervisor() {
        let own = who.agent_id;
        let involved =
            own.is_some() && (c.agent_id == own || events.iter().any(|e| e.agent_id == own));
        if !involved {
            // Not "forbidden": whether the contact exists is not the agent's business.
            return Err(ApiError::not_found(format!("contact {id}")));
        }
    }
    Ok((c, events))
}

/// A contact with its whole timeline and notes.
#[utoipa::path(get, path = "/api/contacts/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = ContactDetail), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_contact(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ContactDetail>> {
    let (c, events) = visible_contact(&app, &who, id).await?;
    let notes = app.store.contact_notes(who.tenant_id(), id).await?;
    Ok(Json(ContactDetail {
        contact: ContactView::from(&c),
        events: events.iter().map(ContactEventView::from).collect(),
        notes: notes.iter().map(NoteView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AgentAction {
    /// Supervisors act for this agent; agents leave it out.
    #[serde(default)]
    pub agent_id: Option<i64>,
}

async fn body_or_default<T: Default + serde::de::DeserializeOwned>(
    req: axum::extract::Request,
    app: &Arc<App>,
) -> ApiResult<T> {
    use axum::extract::FromRequest;
    let empty = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .is_none_or(|v| v == "0")
        && req
            .headers()
            .get(axum::http::header::TRANSFER_ENCODING)
            .is_none();
    if empty {
        return Ok(T::default());
    }
    Ok(ApiJson::<T>::from_request(req, app).await?.0)
}

/// The contact as the actor left it, or (once it has closed) as stored.
async fn current(
    app: &App,
    tenant: i64,
    id: i64,
    row: Option<ContactRow>,
) -> ApiResult<Json<ContactView>> {
    let row = match row {
        Some(r) => r,
        None => app
            .store
            .contact(tenant, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("contact {id}")))?,
    };
    Ok(Json(ContactView::from(&row)))
}

/// 404 for a contact the tenant never had, before the actor is asked (and after the
/// caller's right to act was checked): the actor answers 409 for one that is not open
/// (any more), which is another thing.
async fn known_contact(app: &App, tenant: i64, id: i64) -> ApiResult<()> {
    match app.store.contact(tenant, id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("contact {id}"))),
    }
}

fn contact_result(row: Option<ContactRow>) -> ApiResult<Json<ContactView>> {
    row.map(|r| Json(ContactView::from(&r)))
        .ok_or_else(|| ApiError::Conflict("the contact is no longer open".into()))
}

/// Accept an offer: the agent starts working on the contact. 409 if it is not (or no
/// longer) offered to the agent.
#[utoipa::path(post, path = "/api/contacts/{id}/accept", tag = "contacts", params(("id" = i64, Path)),
    request_body(content = AgentAction, description = "optional"),
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn accept(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    req: axum::extract::Request,
) -> ApiResult<Json<ContactView>> {
    let body: AgentAction = body_or_default(req, &app).await?;
    let agent_id = who.acting_agent(body.agent_id)?;
    known_contact(&app, who.tenant_id(), id).await?;
    let row = app
        .center
        .tenant(who.tenant_id())
        .await?
        .agent(AgentCommand::Accept {
            contact_id: id,
            agent_id,
        })
        .await?;
    contact_result(row)
}

/// Decline an offer: the contact goes to someone else (not back to this agent).
#[utoipa::path(post, path = "/api/contacts/{id}/reject", tag = "contacts", params(("id" = i64, Path)),
    request_body(content = AgentAction, description = "optional"),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn reject(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    req: axum::extract::Request,
) -> ApiResult<StatusCode> {
    let body: AgentAction = body_or_default(req, &app).await?;
    let agent_id = who.acting_agent(body.agent_id)?;
    known_contact(&app, who.tenant_id(), id).await?;
    app.center
        .tenant(who.tenant_id())
        .await?
        .agent(AgentCommand::Reject {
            contact_id: id,
            agent_id,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EndInput {
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// Why, when cancelling a contact no agent took (e.g. "resolved elsewhere"; stored as
    /// its end reason). `customer_left` says the customer gave up: an abandon, not an
    /// interruption.
    #[serde(default)]
    pub reason: Option<String>,
}

/// End a contact. An agent ends their conversation (after-call work starts); a supervisor
/// may end any open contact, and cancels one no agent has taken yet — counted as
/// interrupted (中断: the center's doing, in no rate), or as the customer's abandon (放棄)
/// when `reason` is `customer_left`.
#[utoipa::path(post, path = "/api/contacts/{id}/end", tag = "contacts", params(("id" = i64, Path)),
    request_body(content = EndInput, description = "optional"),
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn end(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    req: axum::extract::Request,
) -> ApiResult<Json<ContactView>> {
    let body: EndInput = body_or_default(req, &app).await?;
    if let Some(r) = &body.reason {
        let mut e = FieldErrors::new();
        e.line("reason", r, 200);
        e.into_result()?;
    }
    let agent_id = if who.is_supervisor() && body.agent_id.is_none() {
        None
    } else {
        Some(who.acting_agent(body.agent_id)?)
    };
    let tenant = who.tenant_id();
    known_contact(&app, tenant, id).await?;
    let row = app
        .center
        .tenant(tenant)
        .await?
        .agent(AgentCommand::End {
            contact_id: id,
            agent_id,
            by_user: who.user.id,
            reason: body.reason,
        })
        .await?;
    current(&app, tenant, id, row).await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WrapUpInput {
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// A wrap-up code of the contact's queue (see /api/dispositions?queue_id=…).
    #[serde(default)]
    pub disposition: Option<String>,
    /// 対応メモ: kept on the contact and shown in the customer's history.
    #[serde(default)]
    pub note: Option<String>,
}

/// Finish after-call work with a disposition and a note; the agent is free again. If the
/// conversation is still going it is ended first; if the wrap-up timer already ran out the
/// disposition is recorded late.
#[utoipa::path(post, path = "/api/contacts/{id}/wrap-up", tag = "contacts", params(("id" = i64, Path)),
    request_body = WrapUpInput,
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn wrap_up(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    req: axum::extract::Request,
) -> ApiResult<Json<ContactView>> {
    let body: WrapUpInput = body_or_default(req, &app).await?;
    if body
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > 10_000)
    {
        return Err(ApiError::field("note", "must be at most 10000 characters"));
    }
    let agent_id = who.acting_agent(body.agent_id)?;
    let tenant = who.tenant_id();
    known_contact(&app, tenant, id).await?;
    let row = app
        .center
        .tenant(tenant)
        .await?
        .agent(AgentCommand::WrapUp {
            contact_id: id,
            agent_id,
            disposition: body.disposition,
            note: body.note,
            by_user: who.user.id,
        })
        .await?;
    current(&app, tenant, id, row).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub body: String,
}

/// Add a note to a contact the caller may see.
#[utoipa::path(post, path = "/api/contacts/{id}/notes", tag = "contacts", params(("id" = i64, Path)), request_body = NoteInput,
    responses((status = 201, body = NoteView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_note(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<NoteInput>,
) -> ApiResult<(StatusCode, Json<NoteView>)> {
    who.require(Role::Agent)?;
    let mut e = FieldErrors::new();
    e.multiline("body", &input.body, 10_000);
    e.into_result()?;
    visible_contact(&app, &who, id).await?;
    let now = app.clock.now_ms();
    let note = NoteRow {
        id: app.store.next_id(now),
        tenant_id: who.tenant_id(),
        contact_id: id,
        author_user_id: who.user.id,
        body: input.body,
        created_at: now,
    };
    app.store.apply(&[Write::Note(note.clone())]).await?;
    Ok((StatusCode::CREATED, Json(NoteView::from(&note))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    /// The queue the contact moves to.
    pub queue_id: i64,
    /// Supervisors act for this agent (or leave it out to move any open contact).
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// Handover note for whoever takes it next (取り次ぎメモ).
    #[serde(default)]
    pub note: Option<String>,
}

/// Transfer a contact to another queue (取り次ぎ). It keeps its original arrival time, so it
/// does not wait behind contacts that came later. The transferring agent is free at once.
#[utoipa::path(post, path = "/api/contacts/{id}/transfer", tag = "contacts", params(("id" = i64, Path)),
    request_body = TransferInput,
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn transfer(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<TransferInput>,
) -> ApiResult<Json<ContactView>> {
    if input
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > 10_000)
    {
        return Err(ApiError::field("note", "must be at most 10000 characters"));
    }
    let tenant = who.tenant_id();
    super::input::known_queue(&app, tenant, input.queue_id).await?;
    let agent_id = if who.is_supervisor() && input.agent_id.is_none() {
        None
    } else {
        Some(who.acting_agent(input.agent_id)?)
    };
    known_contact(&app, tenant, id).await?;
    let row = app
        .center
        .tenant(tenant)
        .await?
        .agent(AgentCommand::Transfer {
            contact_id: id,
            agent_id,
            to_queue: input.queue_id,
            note: input.note,
            by_user: who.user.id,
        })
        .await?;
    current(&app, tenant, id, row).await
}
