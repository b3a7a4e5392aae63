//! The demo center: a tenant with Japanese queues (受注, サポート, クレーム, 請求, English),
//! skills, wrap-up codes, eight agents and a supervisor with known passwords, and sample
//! customers with two weeks of history. Created once in the data folder; later starts
//! reuse it.

use anyhow::Result;
use serde_json::json;
use tsunagu_domain::contact::EventKind;
use tsunagu_domain::phone::normalize_phone;
use tsunagu_domain::role::Role;
use tsunagu_store::rows::*;
use tsunagu_store::{Store, Write};

use crate::provision::{self, AgentSpec, NewTenant, NewUser};

mod data;

pub const ADMIN_PASSWORD: &str = "tsunagu-admin";
pub const SUPERVISOR_PASSWORD: &str = "tsunagu-sv";
pub const AGENT_PASSWORD: &str = "tsunagu-agent";
/// Password of every demo agent's phone account (SIP username = login name).
pub const PHONE_PASSWORD: &str = "tsunagu-phone";

/// Ids of what was created, by name.
struct Ids {
    skills: Vec<(String, i64)>,
    queues: Vec<(String, i64)>,
    agents: Vec<(String, i64)>,
}

impl Ids {
    fn skill_levels(&self, s: &[data::SkillLevel]) -> Vec<(i64, i64)> {
        s.iter().map(|x| (self.skill(&x.skill), x.level)).collect()
    }
    fn memberships(&self, q: &[data::Membership]) -> Vec<(i64, i64)> {
        q.iter()
            .map(|x| (self.queue(&x.queue), x.position))
            .collect()
    }
    fn skill(&self, n: &str) -> i64 {
        self.skills.iter().find(|s| s.0 == n).expect("demo skill").1
    }
    fn queue(&self, n: &str) -> i64 {
        self.queues.iter().find(|s| s.0 == n).expect("demo queue").1
    }
}

/// A queue's skill requirements as stored (skills by id).
fn requirements(ids: &Ids, reqs: &[data::Requirement]) -> serde_json::Value {
    reqs.iter()
        .map(|r| json!({ "skill_id": ids.skill(&r.skill), "steps": r.steps }))
        .collect()
}

/// Seeds the demo center if the database has no tenant yet. Returns true if it did.
pub async fn seed_if_empty(store: &Store) -> Result<bool> {
    if !store.tenants().await?.is_empty() {
        return Ok(false);
    }
    let d = data::center()?;
    let tenant = provision::create_tenant(
        store,
        NewTenant {
            slug: &d.tenant.slug,
            name: &d.tenant.name,
            time_zone: &d.tenant.time_zone,
            region: &d.tenant.region,
        },
    )
    .await?;
    let now = provision::now_ms();
    let t = tenant.id;

    let mut ids = Ids {
        skills: vec![],
        queues: vec![],
        agents: vec![],
    };
    for sk in &d.skills {
        let row = SkillRow {
            id: store.next_id(now),
            tenant_id: t,
            name: sk.name.clone(),
            display_name: sk.display_name.clone(),
            created_at: now,
        };
        store.create_skill(&row).await?;
        ids.skills.push((sk.name.clone(), row.id));
    }

    for q in &d.queues {
        let row = QueueRow {
            id: store.next_id(now),
            tenant_id: t,
            name: q.name.clone(),
            display_name: q.display_name.clone(),
            strategy: q.strategy.clone(),
            priority: q.priority,
            sl_target_pct: q.sl_target_pct,
            sl_threshold_secs: q.sl_threshold_secs,
            max_wait_secs: q.max_wait_secs,
            overflow_queue_id: q.overflow.as_deref().map(|o| ids.queue(o)),
            wrap_up_secs: q.wrap_up_secs,
            no_answer_timeout_secs: 20,
            max_no_answers: 3,
            requirements: requirements(&ids, &q.requirements).to_string(),
            created_at: now,
            updated_at: now,
            record_calls: q.record_calls,
        };
        store.create_queue(&row).await?;
        ids.queues.push((q.name.clone(), row.id));
    }

    for x in &d.dispositions {
        store
            .create_disposition(&DispositionRow {
                id: store.next_id(now),
                tenant_id: t,
                queue_id: x.queue.as_deref().map(|q| ids.queue(q)),
                code: x.code.clone(),
                name: x.name.clone(),
                name_ja: x.name_ja.clone(),
                created_at: now,
            })
            .await?;
    }

    provision::create_user(
        store,
        &tenant,
        NewUser {
            username: &d.admin.username,
            display_name: &d.admin.display_name,
            role: Role::Admin,
            password: ADMIN_PASSWORD,
            agent: None,
        },
    )
    .await?;
    let (_, sv_agent) = provision::create_user(
        store,
        &tenant,
        NewUser {
            username: &d.supervisor.username,
            display_name: &d.supervisor.display_name,
            role: Role::Supervisor,
            password: SUPERVISOR_PASSWORD,
            agent: Some(AgentSpec {
                extension: Some(d.supervisor.extension.clone()),
                skills: ids.skill_levels(&d.supervisor.skills),
                queues: ids.memberships(&d.supervisor.queues),
                phone_password: Some(PHONE_PASSWORD.into()),
                ..Default::default()
            }),
        },
    )
    .await?;
    ids.agents.push((
        d.supervisor.username.clone(),
        sv_agent.expect("agent").agent.id,
    ));
    for (i, a) in d.agents.iter().enumerate() {
        let (_, agent) = provision::create_user(
            store,
            &tenant,
            NewUser {
                username: &a.username,
                display_name: &a.name,
                role: Role::Agent,
                password: AGENT_PASSWORD,
                agent: Some(AgentSpec {
                    extension: Some(format!("{}", 1001 + i)),
                    chat: a.chat,
                    email: a.email,
                    skills: ids.skill_levels(&a.skills),
                    queues: ids.memberships(&a.queues),
                    phone_password: Some(PHONE_PASSWORD.into()),
                }),
            },
        )
        .await?;
        ids.agents
            .push((a.username.clone(), agent.expect("agent").agent.id));
    }

    seed_customers(store, &tenant, &ids, &d, now).await?;
    Ok(true)
}

/// Sample customers, and for most of them a few past contacts with dispositions and notes.
async fn seed_customers(
    store: &Store,
    tenant: &TenantRow,
    ids: &Ids,
    d: &data::DemoCenter,
    now: i64,
) -> Result<()> {
    let notes = &d.notes.texts;
    let plan = &d.history;
    let agent_users: std::collections::HashMap<i64, i64> = store
        .agents(tenant.id)
        .await?
        .iter()
        .map(|a| (a.agent.id, a.agent.user_id))
        .collect();
    let mut writes: Vec<Write> = Vec::new();
    // Each history contact's (offered, answered, ended, after-call work done) per agent: the
    // agents' state history is made from them below, so handling time and occupancy (稼働率)
    // have something to count, like the talk time has.
    let mut work: std::collections::BTreeMap<i64, Vec<[i64; 4]>> = Default::default();
    for (i, cu) in d.customers.iter().enumerate() {
        let c = CustomerFull {
            customer: CustomerRow {
                id: store.next_id(now),
                tenant_id: tenant.id,
                display_name: cu.name.clone(),
                name_kana: cu.kana.clone(),
                company: None,
                attributes:
                    json!({ "会員ランク": cu.rank, "契約番号": format!("C-{:06}", 100_000 + i * 37) })
                        .to_string(),
                created_at: now - 90 * 86_400_000,
                updated_at: now,
            },
            phones: vec![PhoneRow {
                e164: normalize_phone(&cu.phone, &tenant.default_region)?,
                label: Some("主".into()),
            }],
            emails: vec![cu.email.clone()],
        };
        store.create_customer(&c).await?;
        // History: i % 4 contacts, spread over the last two weeks.
        for k in 0..(i % 4) {
            let past = &plan[(i + k) % plan.len()];
            let (queue, agent, disposition, channel) = (
                past.queue.as_str(),
                past.agent.as_str(),
                past.disposition.as_str(),
                past.channel.as_str(),
            );
            let agent_id = ids
                .agents
                .iter()
                .find(|a| a.0 == agent)
                .expect("demo agent")
                .1;
            let queue_id = ids.queue(queue);
            let day = (i * 3 + k * 5) % 14 + 1;
            let start =
                now - day as i64 * 86_400_000 - ((i * 7919 + k * 104_729) % 28_800_000) as i64;
            let wait = ((i * 13 + k * 7) % 45) as i64 * 1000 + 2000;
            let talk = ((i * 31 + k * 17) % 420) as i64 * 1000 + 60_000;
            let acw = 30_000;
            let id = store.next_id(now);
            let row = ContactRow {
                id,
                tenant_id: tenant.id,
                channel: channel.into(),
                direction: "inbound".into(),
                status: "completed".into(),
                queue_id: Some(queue_id),
                customer_id: Some(c.customer.id),
                agent_id: Some(agent_id),
                priority: 0,
                subject: None,
                customer_address: Some(c.phones[0].e164.clone()),
                attributes: "{}".into(),
                requirements: "[]".into(),
                created_at: start,
                queued_at: Some(start),
                queue_entered_at: Some(start),
                offered_at: Some(start + wait - 3000),
                answered_at: Some(start + wait),
                ended_at: Some(start + wait + talk),
                acw_done_at: Some(start + wait + talk + acw),
                end_reason: None,
                disposition_code: Some(disposition.into()),
                updated_at: start + wait + talk + acw,
            };
            writes.push(Write::Contact(Box::new(row)));
            work.entry(agent_id).or_default().push([
                start + wait - 3000,
                start + wait,
                start + wait + talk,
                start + wait + talk + acw,
            ]);
            let mut ev = |at: i64, kind: EventKind, agent: Option<i64>, data: Option<String>| {
                writes.push(Write::Event(ContactEventRow {
                    id: store.next_id(now),
                    tenant_id: tenant.id,
                    contact_id: id,
                    at,
                    kind: kind.as_str().into(),
                    queue_id: Some(queue_id),
                    agent_id: agent,
                    data,
                }))
            };
            ev(start, EventKind::Created, None, None);
            ev(start, EventKind::Queued, None, None);
            ev(
                start + wait - 3000,
                EventKind::Offered,
                Some(agent_id),
                None,
            );
            ev(start + wait, EventKind::Accepted, Some(agent_id), None);
            ev(start + wait, EventKind::Connected, Some(agent_id), None);
            ev(start + wait + talk, EventKind::Ended, Some(agent_id), None);
            ev(
                start + wait + talk + acw,
                EventKind::AcwDone,
                Some(agent_id),
                Some(json!({ "disposition": disposition }).to_string()),
            );
            writes.push(Write::Note(NoteRow {
                id: store.next_id(now),
                tenant_id: tenant.id,
                contact_id: id,
                author_user_id: agent_users[&agent_id],
                body: notes[(i + k) % notes.len()].clone(),
                created_at: start + wait + talk + acw,
            }));
        }
    }
    for (agent, mut spans) in work {
        spans.sort_unstable();
        writes.extend(
            agent_history(&spans)
                .into_iter()
                .map(|(at, presence, status)| {
                    Write::AgentState(AgentStateRow {
                        id: store.next_id(now),
                        tenant_id: tenant.id,
                        agent_id: agent,
                        at,
                        presence: presence.into(),
                        reason: None,
                        status: status.into(),
                        changed_by: None,
                    })
                }),
        );
    }
    store.apply(&writes).await?;
    Ok(())
}

/// An agent's state changes around their history contacts ([offered, answered, ended, after-call
/// work done], sorted): signed in an hour before the first contact of a stretch of work and
/// out an hour after its last, available between contacts. Contacts that overlap an earlier
/// one are left out of the states (the sample contacts are spread at random). Ends signed out,
/// as the agents are when the demo starts.
fn agent_history(spans: &[[i64; 4]]) -> Vec<(i64, &'static str, &'static str)> {
    const HOUR: i64 = 3_600_000;
    let mut out = Vec::new();
    let mut free_from: Option<i64> = None;
    for &[offered, answered, ended, done] in spans {
        match free_from {
            Some(f) if offered <= f => continue,
            Some(f) if offered - f > 2 * HOUR => {
                out.push((f + HOUR, "offline", "offline"));
                out.push((offered - HOUR, "available", "available"));
            }
            Some(_) => {}
            None => out.push((offered - HOUR, "available", "available")),
        }
        out.push((offered, "available", "offered"));
        out.push((answered, "available", "busy"));
        out.push((ended, "available", "acw"));
        out.push((done, "available", "available"));
        free_from = Some(done);
    }
    if let Some(f) = free_from {
        out.push((f + HOUR, "offline", "offline"));
    }
    out
}

/// The demo's call flow (Japanese/English IVR into the queues).
pub const MAIN_FLOW: &str = include_str!("../../../assets/flows/main.toml");
/// The number the demo presents on outbound calls.
pub const CALLER_ID: &str = "0312345678";

/// Gives the demo its call flow and routes every dialed number to it (also for demo data
/// created by an older version).
pub async fn ensure_voice(store: &Store) -> Result<()> {
    let Some(tenant) = store.tenant_by_slug("demo").await? else {
        return Ok(());
    };
    if store.flow(tenant.id, "main").await?.is_none() {
        store
            .put_flow(&tsunagu_store::FlowRow {
                tenant_id: tenant.id,
                name: "main".into(),
                source: MAIN_FLOW.into(),
                updated_at: provision::now_ms(),
            })
            .await?;
    }
    if store.numbers(tenant.id).await?.is_empty() {
        store
            .put_number(&tsunagu_store::NumberRow {
                tenant_id: tenant.id,
                number: "*".into(),
                flow: "main".into(),
            })
            .await?;
    }
    Ok(())
}

/// What to print when the demo starts.
pub fn banner(http: &str, sip: Option<std::net::SocketAddr>, data_dir: &str) -> String {
    let agents: Vec<String> = data::center()
        .map(|d| {
            d.agents
                .iter()
                .map(|a| format!("{} ({})", a.username, a.name))
                .collect()
        })
        .unwrap_or_default();
    let phone = match sip {
        Some(sip) => format!(
            "\n  SIP:       {sip} (UDP and TCP) — any number dialed here reaches the IVR\n\
             \x20   call:      baresip -f caller -e '/dial sip:100@{sip}'   (1 受注, 2 サポート, 3 請求, 4 クレーム, 9 English)\n\
             \x20              (caller/: a baresip folder listening on another port — README, \"Calling the demo\")\n\
             \x20   phones:    register as <login>@{sip}, password {PHONE_PASSWORD} (e.g. sato, suzuki, sv)\n"
        ),
        None => "\n  SIP:       off (--no-sip)\n".into(),
    };
    format!(
        "\n  Tsunagu つなぐ — demo center「つなぐ デモセンター」 (tenant: demo)\n\
         \n  HTTP:      http://{http}/   API: http://{http}/api/openapi.json\n\
         {phone}\
         \n  Data:      {data_dir}\n\
         \n  Logins (demo passwords — change them for anything real):\n\
         \x20   admin       / {ADMIN_PASSWORD}     管理者\n\
         \x20   sv          / {SUPERVISOR_PASSWORD}        スーパーバイザー\n\
         \x20   agents      / {AGENT_PASSWORD}     {}\n\
         \n  Try:\n\
         \x20   curl -s -X POST http://{http}/api/auth/login -H 'content-type: application/json' \\\n\
         \x20        -d '{{\"username\":\"sato\",\"password\":\"{AGENT_PASSWORD}\"}}'\n",
        agents.join(", ")
    )
}
