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

pub const ADMIN_PASSWORD: &str = "tsunagu-admin";
pub const SUPERVISOR_PASSWORD: &str = "tsunagu-sv";
pub const AGENT_PASSWORD: &str = "tsunagu-agent";
/// Password of every demo agent's phone account (SIP username = login name).
pub const PHONE_PASSWORD: &str = "tsunagu-phone";

/// (username, name, skills, queues by name with position, chat, email)
type AgentDef = (
    &'static str,
    &'static str,
    &'static [(&'static str, i64)],
    &'static [(&'static str, i64)],
    i64,
    i64,
);

const AGENTS: &[AgentDef] = &[
    (
        "sato",
        "佐藤 花子",
        &[("japanese", 5), ("orders", 5), ("billing", 3)],
        &[("orders", 1), ("billing", 2)],
        0,
        0,
    ),
    (
        "suzuki",
        "鈴木 一郎",
        &[("japanese", 5), ("technical", 5), ("english", 3)],
        &[("support", 1), ("english", 2)],
        0,
        0,
    ),
    (
        "takahashi",
        "高橋 美咲",
        &[("japanese", 5), ("complaints", 5), ("orders", 3)],
        &[("complaints", 1), ("orders", 2)],
        0,
        0,
    ),
    (
        "tanaka",
        "田中 健太",
        &[("japanese", 4), ("technical", 3), ("orders", 2)],
        &[("support", 2), ("orders", 3)],
        0,
        0,
    ),
    (
        "watanabe",
        "渡辺 さくら",
        &[("japanese", 5), ("english", 5), ("technical", 2)],
        &[("english", 1), ("support", 3)],
        2,
        3,
    ),
    (
        "ito",
        "伊藤 大輔",
        &[("japanese", 5), ("billing", 5), ("complaints", 3)],
        &[("billing", 1), ("complaints", 2)],
        0,
        0,
    ),
    (
        "yamamoto",
        "山本 陽子",
        &[("japanese", 5), ("orders", 4), ("technical", 2)],
        &[("orders", 2), ("support", 4)],
        2,
        0,
    ),
    (
        "nakamura",
        "中村 翔",
        &[("japanese", 3), ("orders", 1), ("technical", 1)],
        &[("orders", 5), ("support", 5)],
        0,
        0,
    ),
];

const CUSTOMERS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "山田 太郎",
        "ヤマダ タロウ",
        "03-5555-0101",
        "taro.yamada@example.jp",
        "ゴールド",
    ),
    (
        "鈴木 美穂",
        "スズキ ミホ",
        "090-1111-0202",
        "miho.suzuki@example.jp",
        "一般",
    ),
    (
        "佐々木 健",
        "ササキ ケン",
        "06-6555-0303",
        "ken.sasaki@example.jp",
        "シルバー",
    ),
    (
        "高橋 由美",
        "タカハシ ユミ",
        "080-2222-0404",
        "yumi.t@example.jp",
        "一般",
    ),
    (
        "小林 誠",
        "コバヤシ マコト",
        "052-555-0505",
        "makoto.k@example.jp",
        "ゴールド",
    ),
    (
        "加藤 恵",
        "カトウ メグミ",
        "090-3333-0606",
        "megumi.kato@example.jp",
        "一般",
    ),
    (
        "吉田 拓也",
        "ヨシダ タクヤ",
        "011-555-0707",
        "takuya.y@example.jp",
        "シルバー",
    ),
    (
        "山口 さやか",
        "ヤマグチ サヤカ",
        "070-4444-0808",
        "sayaka.y@example.jp",
        "一般",
    ),
    (
        "松本 大樹",
        "マツモト ダイキ",
        "092-555-0909",
        "daiki.m@example.jp",
        "ゴールド",
    ),
    (
        "井上 真理",
        "イノウエ マリ",
        "090-5555-1010",
        "mari.inoue@example.jp",
        "一般",
    ),
    (
        "木村 翔太",
        "キムラ ショウタ",
        "03-5555-1111",
        "shota.kimura@example.jp",
        "シルバー",
    ),
    (
        "林 明美",
        "ハヤシ アケミ",
        "080-6666-1212",
        "akemi.h@example.jp",
        "一般",
    ),
    (
        "清水 浩二",
        "シミズ コウジ",
        "045-555-1313",
        "koji.shimizu@example.jp",
        "ゴールド",
    ),
    (
        "森 麻衣",
        "モリ マイ",
        "090-7777-1414",
        "mai.mori@example.jp",
        "一般",
    ),
    (
        "池田 修",
        "イケダ オサム",
        "075-555-1515",
        "osamu.ikeda@example.jp",
        "シルバー",
    ),
    (
        "橋本 優子",
        "ハシモト ユウコ",
        "070-8888-1616",
        "yuko.h@example.jp",
        "一般",
    ),
    (
        "阿部 隆",
        "アベ タカシ",
        "022-555-1717",
        "takashi.abe@example.jp",
        "一般",
    ),
    (
        "石川 千尋",
        "イシカワ チヒロ",
        "090-9999-1818",
        "chihiro.i@example.jp",
        "ゴールド",
    ),
    (
        "前田 裕介",
        "マエダ ユウスケ",
        "03-5555-1919",
        "yusuke.maeda@example.jp",
        "一般",
    ),
    (
        "藤田 涼子",
        "フジタ リョウコ",
        "080-1212-2020",
        "ryoko.f@example.jp",
        "シルバー",
    ),
    (
        "John Smith",
        "",
        "+1 415 555 2671",
        "john.smith@example.com",
        "一般",
    ),
    (
        "Emily Chen",
        "",
        "+44 20 7946 0958",
        "emily.chen@example.co.uk",
        "ゴールド",
    ),
];

struct Ids {
    skills: Vec<(&'static str, i64)>,
    queues: Vec<(&'static str, i64)>,
    agents: Vec<(&'static str, i64)>,
}

impl Ids {
    fn skill(&self, n: &str) -> i64 {
        self.skills.iter().find(|s| s.0 == n).expect("demo skill").1
    }
    fn queue(&self, n: &str) -> i64 {
        self.queues.iter().find(|s| s.0 == n).expect("demo queue").1
    }
}

fn req(skill: i64, steps: &[(i64, u8)]) -> serde_json::Value {
    json!({ "skill_id": skill, "steps": steps.iter().map(|&(a, l)| json!({"after_secs": a, "min_level": l})).collect::<Vec<_>>() })
}

/// Seeds the demo center if the database has no tenant yet. Returns true if it did.
pub async fn seed_if_empty(store: &Store) -> Result<bool> {
    if !store.tenants().await?.is_empty() {
        return Ok(false);
    }
    let tenant = provision::create_tenant(
        store,
        NewTenant {
            slug: "demo",
            name: "つなぐ デモセンター",
            time_zone: "Asia/Tokyo",
            region: "JP",
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
    for (name, display) in [
        ("japanese", "日本語"),
        ("english", "英語"),
        ("orders", "受注"),
        ("billing", "請求・お支払い"),
        ("technical", "技術サポート"),
        ("complaints", "クレーム対応"),
    ] {
        let row = SkillRow {
            id: store.next_id(now),
            tenant_id: t,
            name: name.into(),
            display_name: display.into(),
            created_at: now,
        };
        store.create_skill(&row).await?;
        ids.skills.push((name, row.id));
    }

    // (name, display, strategy, priority, sl%, sl secs, max wait, overflow, wrap-up, requirements)
    type QueueDef<'a> = (
        &'a str,
        &'a str,
        &'a str,
        i64,
        i64,
        i64,
        Option<i64>,
        Option<&'a str>,
        Option<i64>,
        serde_json::Value,
    );
    let queue_defs: Vec<QueueDef> = vec![
        (
            "support",
            "サポート",
            "longest-idle",
            0,
            80,
            30,
            Some(600),
            None,
            Some(60),
            json!([req(ids.skill("technical"), &[(0, 3), (30, 1), (90, 0)])]),
        ),
        (
            "orders",
            "受注",
            "longest-idle",
            0,
            80,
            20,
            Some(300),
            None,
            Some(30),
            json!([req(ids.skill("orders"), &[(0, 3), (20, 1), (60, 0)])]),
        ),
        (
            "complaints",
            "クレーム",
            "ordered",
            2,
            90,
            15,
            Some(120),
            Some("support"),
            None,
            json!([req(ids.skill("complaints"), &[(0, 4), (60, 3)])]),
        ),
        (
            "billing",
            "請求・お支払い",
            "fewest-contacts",
            0,
            80,
            30,
            Some(600),
            None,
            Some(45),
            json!([req(ids.skill("billing"), &[(0, 1)])]),
        ),
        (
            "english",
            "English support",
            "round-robin",
            0,
            80,
            30,
            Some(300),
            Some("support"),
            Some(30),
            json!([req(ids.skill("english"), &[(0, 2)])]),
        ),
    ];
    for (name, display, strategy, priority, sl_pct, sl_secs, max_wait, overflow, wrap, reqs) in
        queue_defs
    {
        let row = QueueRow {
            id: store.next_id(now),
            tenant_id: t,
            name: name.into(),
            display_name: display.into(),
            strategy: strategy.into(),
            priority,
            sl_target_pct: sl_pct,
            sl_threshold_secs: sl_secs,
            max_wait_secs: max_wait,
            overflow_queue_id: overflow.map(|o| ids.queue(o)),
            wrap_up_secs: wrap,
            no_answer_timeout_secs: 20,
            max_no_answers: 3,
            requirements: reqs.to_string(),
            created_at: now,
            updated_at: now,
            record_calls: matches!(name, "orders" | "support" | "complaints"),
        };
        store.create_queue(&row).await?;
        ids.queues.push((name, row.id));
    }

    let dispositions: &[(Option<&str>, &str, &str, &str)] = &[
        (None, "resolved", "Resolved", "解決"),
        (None, "callback", "Callback promised", "折り返し約束"),
        (None, "escalated", "Escalated", "エスカレーション"),
        (Some("orders"), "order_placed", "Order placed", "注文受付"),
        (Some("orders"), "order_changed", "Order changed", "注文変更"),
        (
            Some("orders"),
            "order_cancelled",
            "Order cancelled",
            "注文キャンセル",
        ),
        (Some("support"), "fixed", "Fixed on the call", "解決済み"),
        (Some("support"), "repair", "Repair booked", "修理受付"),
        (Some("support"), "faq", "Pointed to FAQ", "FAQ案内"),
        (Some("complaints"), "apology", "Apology", "お詫び対応"),
        (Some("complaints"), "refund", "Refund", "返金対応"),
        (
            Some("complaints"),
            "product_issue",
            "Product issue reported",
            "製品不具合報告",
        ),
        (
            Some("billing"),
            "payment_confirmed",
            "Payment confirmed",
            "入金確認",
        ),
        (
            Some("billing"),
            "invoice_resent",
            "Invoice re-sent",
            "請求書再発行",
        ),
    ];
    for &(queue, code, name, name_ja) in dispositions {
        store
            .create_disposition(&DispositionRow {
                id: store.next_id(now),
                tenant_id: t,
                queue_id: queue.map(|q| ids.queue(q)),
                code: code.into(),
                name: name.into(),
                name_ja: name_ja.into(),
                created_at: now,
            })
            .await?;
    }

    provision::create_user(
        store,
        &tenant,
        NewUser {
            username: "admin",
            display_name: "管理者",
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
            username: "sv",
            display_name: "主任 佐々木 恵子",
            role: Role::Supervisor,
            password: SUPERVISOR_PASSWORD,
            agent: Some(AgentSpec {
                extension: Some("2000".into()),
                skills: vec![(ids.skill("japanese"), 5), (ids.skill("complaints"), 5)],
                queues: vec![(ids.queue("complaints"), 9)],
                phone_password: Some(PHONE_PASSWORD.into()),
                ..Default::default()
            }),
        },
    )
    .await?;
    ids.agents.push(("sv", sv_agent.expect("agent").agent.id));
    for (i, &(username, name, skills, queues, chat, email)) in AGENTS.iter().enumerate() {
        let (_, agent) = provision::create_user(
            store,
            &tenant,
            NewUser {
                username,
                display_name: name,
                role: Role::Agent,
                password: AGENT_PASSWORD,
                agent: Some(AgentSpec {
                    extension: Some(format!("{}", 1001 + i)),
                    chat,
                    email,
                    skills: skills.iter().map(|&(s, l)| (ids.skill(s), l)).collect(),
                    queues: queues.iter().map(|&(q, p)| (ids.queue(q), p)).collect(),
                    phone_password: Some(PHONE_PASSWORD.into()),
                }),
            },
        )
        .await?;
        ids.agents.push((username, agent.expect("agent").agent.id));
    }

    seed_customers(store, &tenant, &ids, now).await?;
    Ok(true)
}

/// Sample customers, and for most of them a few past contacts with dispositions and notes.
async fn seed_customers(store: &Store, tenant: &TenantRow, ids: &Ids, now: i64) -> Result<()> {
    let notes = [
        "配送日の変更をご希望。来週火曜に変更済み。",
        "ルーターの再起動で復旧。再発時は修理受付へ。",
        "請求額についてのお問い合わせ。明細を再送付。",
        "商品の破損について強いご不満。お詫びし交換手配。",
        "定期便の数量変更（2箱→3箱）。",
        "Asked about international shipping; sent the rate table.",
    ];
    let plan: &[(&str, &str, &str, &str)] = &[
        ("orders", "sato", "order_changed", "voice"),
        ("support", "suzuki", "fixed", "voice"),
        ("billing", "ito", "invoice_resent", "email"),
        ("complaints", "takahashi", "apology", "voice"),
        ("orders", "yamamoto", "order_placed", "voice"),
        ("english", "watanabe", "resolved", "chat"),
    ];
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
    for (i, &(name, kana, phone, email, rank)) in CUSTOMERS.iter().enumerate() {
        let c = CustomerFull {
            customer: CustomerRow {
                id: store.next_id(now),
                tenant_id: tenant.id,
                display_name: name.into(),
                name_kana: (!kana.is_empty()).then(|| kana.to_string()),
                company: None,
                attributes:
                    json!({ "会員ランク": rank, "契約番号": format!("C-{:06}", 100_000 + i * 37) })
                        .to_string(),
                created_at: now - 90 * 86_400_000,
                updated_at: now,
            },
            phones: vec![PhoneRow {
                e164: normalize_phone(phone, &tenant.default_region)?,
                label: Some("主".into()),
            }],
            emails: vec![email.into()],
        };
        store.create_customer(&c).await?;
        // History: i % 4 contacts, spread over the last two weeks.
        for k in 0..(i % 4) {
            let (queue, agent, disposition, channel) = plan[(i + k) % plan.len()];
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
                body: notes[(i + k) % notes.len()].into(),
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
    let agents: Vec<String> = AGENTS
        .iter()
        .map(|a| format!("{} ({})", a.0, a.1))
        .collect();
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
