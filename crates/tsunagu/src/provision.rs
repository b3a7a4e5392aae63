//! Creating tenants and users from the command line (and for the demo). The same rules as
//! the API: names checked, passwords hashed with argon2, defaults filled in.

use anyhow::{bail, Context, Result};
use tsunagu_api::auth::{password, token};
use tsunagu_domain::reason::DEFAULT_REASONS;
use tsunagu_domain::role::Role;
use tsunagu_domain::validate::FieldErrors;
use tsunagu_store::rows::*;
use tsunagu_store::Store;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub struct NewTenant<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub time_zone: &'a str,
    pub region: &'a str,
}

pub async fn create_tenant(store: &Store, t: NewTenant<'_>) -> Result<TenantRow> {
    let mut e = FieldErrors::new();
    e.slug("slug", t.slug);
    e.text("name", t.name, 200);
    if jiff::tz::TimeZone::get(t.time_zone).is_err() {
        e.add("time-zone", "is not a known IANA time zone");
    }
    if !tsunagu_domain::phone::is_known_region(t.region) {
        e.add("region", "is not a known region code");
    }
    if !e.is_empty() {
        bail!("{e}");
    }
    let now = now_ms();
    let row = TenantRow {
        id: store.next_id(now),
        slug: t.slug.into(),
        name: t.name.into(),
        time_zone: t.time_zone.into(),
        default_region: t.region.to_ascii_uppercase(),
        short_abandon_secs: 5,
        priority_step_secs: 60,
        created_at: now,
    };
    store.create_tenant(&row).await?;
    for (code, en, ja) in DEFAULT_REASONS {
        store
            .upsert_reason(&ReasonRow {
                tenant_id: row.id,
                code: (*code).into(),
                name: (*en).into(),
                name_ja: (*ja).into(),
            })
            .await?;
    }
    Ok(row)
}

pub async fn tenant(store: &Store, slug: Option<&str>) -> Result<TenantRow> {
    match slug {
        Some(s) => store
            .tenant_by_slug(s)
            .await?
            .with_context(|| format!("no tenant {s:?} (see `tsunagu tenant list`)")),
        None => {
            let all = store.tenants().await?;
            match all.len() {
                1 => Ok(all.into_iter().next().expect("one")),
                0 => bail!("there is no tenant yet: create one with `tsunagu tenant add`"),
                _ => bail!("there are several tenants: name one with --tenant"),
            }
        }
    }
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password: &'a str,
    /// Give the user an agent profile (capacity voice 1, task 1; chat and email as given).
    pub agent: Option<AgentSpec>,
}

#[derive(Clone, Default)]
pub struct AgentSpec {
    pub extension: Option<String>,
    pub chat: i64,
    pub email: i64,
    /// (skill id, level)
    pub skills: Vec<(i64, i64)>,
    /// (queue id, position)
    pub queues: Vec<(i64, i64)>,
    /// Give the agent a phone account (SIP username = login name) with this password.
    pub phone_password: Option<String>,
}

pub async fn create_user(
    store: &Store,
    tenant: &TenantRow,
    u: NewUser<'_>,
) -> Result<(UserRow, Option<AgentFull>)> {
    let mut e = FieldErrors::new();
    e.slug("username", u.username);
    e.text("display-name", u.display_name, 100);
    if u.password.chars().count() < password::MIN_LEN {
        e.add(
            "password",
            format!("must be at least {} characters", password::MIN_LEN),
        );
    }
    if !e.is_empty() {
        bail!("{e}");
    }
    let now = now_ms();
    let user = UserRow {
        id: store.next_id(now),
        tenant_id: tenant.id,
        username: u.username.into(),
        display_name: u.display_name.into(),
        role: u.role.as_str().into(),
        password_hash: password::hash(u.password),
        disabled: false,
        created_at: now,
    };
    let phone_password = u.agent.as_ref().and_then(|s| s.phone_password.clone());
    let agent = u.agent.map(|spec| AgentFull {
        agent: AgentRow {
            id: store.next_id(now),
            tenant_id: tenant.id,
            user_id: user.id,
            extension: spec.extension,
            capacity_voice: 1,
            capacity_chat: spec.chat,
            capacity_email: spec.email,
            capacity_task: 1,
            presence: "offline".into(),
            reason: None,
            status: "offline".into(),
            status_since: now,
            created_at: now,
            updated_at: now,
            sip_username: None,
        },
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        skills: spec.skills,
        queues: spec.queues,
    });
    store.create_user_with_agent(&user, agent.as_ref()).await?;
    let mut agent = agent;
    if let (Some(a), Some(pw)) = (agent.as_mut(), phone_password) {
        let ha1 = tsunagu_sip::digest::ha1(&user.username, tsunagu_sip::REALM, &pw);
        store
            .set_sip_credentials(tenant.id, a.agent.id, Some((&user.username, &ha1)))
            .await?;
        a.agent.sip_username = Some(user.username.clone());
    }
    Ok((user, agent))
}

/// Creates an integration token for a user and returns the secret (shown once).
pub async fn create_api_token(store: &Store, user: &UserRow, name: &str) -> Result<String> {
    let now = now_ms();
    let secret = token::new_token();
    store
        .create_token(&TokenRow {
            id: store.next_id(now),
            token_hash: token::hash_token(&secret),
            tenant_id: user.tenant_id,
            user_id: user.id,
            kind: "api".into(),
            name: Some(name.into()),
            created_at: now,
            expires_at: None,
            revoked: false,
        })
        .await?;
    Ok(secret)
}
