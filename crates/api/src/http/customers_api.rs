//! Customers (CRM) and the screen-pop lookup by phone number or email.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tsunagu_domain::email::normalize_email;
use tsunagu_domain::phone::normalize_phone;
use tsunagu_domain::role::Role;
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::rows::*;
use tsunagu_store::{CustomerSearch, Store};
use utoipa::ToSchema;

use super::auth::AuthUser;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use super::input::{cursor, page_limit};
use super::{region, App};
use crate::dto::*;

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct PhoneInput {
    /// Any usual form: 03-1234-5678, 090 1234 5678, +81 3 1234 5678 (stored as E.164).
    pub number: String,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub display_name: String,
    #[serde(default)]
    pub name_kana: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub phones: Vec<PhoneInput>,
    #[serde(default)]
    pub emails: Vec<String>,
    /// Free attributes (member rank, contract number, …).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Option<Value>,
}

fn customer_full(
    id: i64,
    tenant: i64,
    now: i64,
    region: &str,
    input: CustomerInput,
) -> ApiResult<CustomerFull> {
    let mut e = FieldErrors::new();
    e.text("display_name", &input.display_name, 200);
    if let Some(k) = &input.name_kana {
        e.line("name_kana", k, 200);
    }
    if let Some(c) = &input.company {
        e.line("company", c, 200);
    }
    if input.phones.len() > 20 {
        e.add("phones", "at most 20 numbers");
    }
    if input.emails.len() > 20 {
        e.add("emails", "at most 20 addresses");
    }
    let mut phones: Vec<PhoneRow> = Vec::new();
    for (i, p) in input.phones.iter().enumerate() {
        match normalize_phone(&p.number, region) {
            Ok(n) if phones.iter().any(|x| x.e164 == n) => {
                e.add(format!("phones[{i}].number"), "is listed twice")
            }
            Ok(n) => phones.push(PhoneRow {
                e164: n,
                label: p.label.clone(),
            }),
            Err(err) => e.add(format!("phones[{i}].number"), err.to_string()),
        }
    }
    let mut emails: Vec<String> = Vec::new();
    for (i, m) in input.emails.iter().enumerate() {
        match normalize_email(m) {
            Ok(n) if emails.contains(&n) => e.add(format!("emails[{i}]"), "is listed twice"),
            Ok(n) => emails.push(n),
            Err(err) => e.add(format!("emails[{i}]"), err.to_string()),
        }
    }
    let attributes = input
        .attributes
        .unwrap_or(Value::Object(Default::default()));
    if !attributes.is_object() {
        e.add("attributes", "must be a JSON object");
    }
    e.into_result()?;
    Ok(CustomerFull {
        customer: CustomerRow {
            id,
            tenant_id: tenant,
            display_name: input.display_name.trim().into(),
            name_kana: input
                .name_kana
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            company: input
                .company
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            attributes: attributes.to_string(),
            created_at: now,
            updated_at: now,
        },
        phones,
        emails,
    })
}

/// The customer with their newest contacts and notes.
pub async fn with_timeline(
    store: &Store,
    c: &CustomerFull,
    limit: i64,
) -> ApiResult<CustomerWithTimeline> {
    let contacts = store
        .customer_contacts(c.customer.tenant_id, c.customer.id, limit)
        .await?;
    let ids: Vec<i64> = contacts.iter().map(|x| x.id).collect();
    let notes = store.notes_for_contacts(c.customer.tenant_id, &ids).await?;
    Ok(CustomerWithTimeline {
        customer: CustomerView::from(c),
        timeline: contacts
            .iter()
            .map(|ct| TimelineEntry {
                contact: ContactView::from(ct),
                notes: notes
                    .iter()
                    .filter(|n| n.contact_id == ct.id)
                    .map(NoteView::from)
                    .collect(),
            })
            .collect(),
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// Part of the name, kana or company.
    pub q: Option<String>,
    /// Continue after this id (pages go newest first).
    pub before: Option<i64>,
    /// 1-500, default 50.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, body = [CustomerSummary])), security(("bearer" = [])))]
pub async fn list_customers(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiQuery(q): ApiQuery<CustomerQuery>,
) -> ApiResult<Json<Vec<CustomerSummary>>> {
    if q.q.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::field("q", "must be at most 200 characters"));
    }
    let search = CustomerSearch {
        text: q.q.filter(|s| !s.trim().is_empty()),
        before_id: cursor(q.before)?,
        limit: page_limit(q.limit, 50, 500)?,
    };
    Ok(Json(
        app.store
            .customers(who.tenant_id(), &search)
            .await?
            .iter()
            .map(CustomerSummary::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/customers", tag = "customers", request_body = CustomerInput,
    responses((status = 201, body = CustomerView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_customer(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiJson(input): ApiJson<CustomerInput>,
) -> ApiResult<(StatusCode, Json<CustomerView>)> {
    let now = app.clock.now_ms();
    let region = region(&app, who.tenant_id()).await?;
    let c = customer_full(app.store.next_id(now), who.tenant_id(), now, &region, input)?;
    app.store.create_customer(&c).await?;
    Ok((StatusCode::CREATED, Json(CustomerView::from(&c))))
}

/// A customer with their history (newest 50 contacts, with notes).
#[utoipa::path(get, path = "/api/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = CustomerWithTimeline), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_customer(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CustomerWithTimeline>> {
    let c = app
        .store
        .customer(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("customer {id}")))?;
    Ok(Json(with_timeline(&app.store, &c, 50).await?))
}

#[utoipa::path(put, path = "/api/customers/{id}", tag = "customers", params(("id" = i64, Path)), request_body = CustomerInput,
    responses((status = 200, body = CustomerView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_customer(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<CustomerInput>,
) -> ApiResult<Json<CustomerView>> {
    let old = app
        .store
        .customer(who.tenant_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("customer {id}")))?;
    let now = app.clock.now_ms();
    let region = region(&app, who.tenant_id()).await?;
    let mut c = customer_full(id, who.tenant_id(), now, &region, input)?;
    c.customer.created_at = old.customer.created_at;
    app.store.update_customer(&c).await?;
    Ok(Json(CustomerView::from(&c)))
}

/// Delete a customer (e.g. on a deletion request). Their contacts stay, unlinked.
/// Supervisor or admin.
#[utoipa::path(delete, path = "/api/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_customer(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Supervisor)?;
    app.store.delete_customer(who.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    /// A phone number in any usual form.
    pub phone: Option<String>,
    pub email: Option<String>,
    /// How many past contacts to include per customer: 0-200, default 20.
    pub history: Option<i64>,
}

/// Screen-pop: who is calling (or writing), with their history. Matches on the normalized
/// number or address; an empty list means an unknown customer.
#[utoipa::path(get, path = "/api/customers/lookup", tag = "customers", params(LookupQuery),
    responses((status = 200, body = [CustomerWithTimeline]), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn lookup(
    State(app): State<Arc<App>>,
    who: AuthUser,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> ApiResult<Json<Vec<CustomerWithTimeline>>> {
    let tenant = who.tenant_id();
    let history = q.history.unwrap_or(20);
    if !(0..=200).contains(&history) {
        return Err(ApiError::field("history", "must be between 0 and 200"));
    }
    let found = match (&q.phone, &q.email) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field("email", "give phone or email, not both"))
        }
        (Some(p), _) => {
            let region = region(&app, tenant).await?;
            let n =
                normalize_phone(p, &region).map_err(|e| ApiError::field("phone", e.to_string()))?;
            app.store.customers_by_phone(tenant, &n).await?
        }
        (None, Some(m)) => {
            let n = normalize_email(m).map_err(|e| ApiError::field("email", e.to_string()))?;
            app.store.customers_by_email(tenant, &n).await?
        }
        (None, None) => return Err(ApiError::field("phone", "give phone or email")),
    };
    let mut out = Vec::with_capacity(found.len());
    for c in &found {
        if history == 0 {
            out.push(CustomerWithTimeline {
                customer: CustomerView::from(c),
                timeline: vec![],
            });
        } else {
            out.push(with_timeline(&app.store, c, history).await?);
        }
    }
    Ok(Json(out))
}
