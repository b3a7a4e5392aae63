//! Storage tests, each run against SQLite and against PostgreSQL (a fresh database each).

use tsunagu_store::rows::*;
use tsunagu_store::testdb::TestDb;
use tsunagu_store::{ContactFilter, CustomerSearch, DbKind, Store, StoreError, Write};

const T: i64 = 1_767_571_200_000;

macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let db = TestDb::new(DbKind::Sqlite).await;
                super::$name(db.open().await.unwrap()).await;
            }
            #[tokio::test]
            async fn postgres() {
                let db = TestDb::new(DbKind::Postgres).await;
                super::$name(db.open().await.unwrap()).await;
            }
        }
    };
}

async fn tenant(s: &Store) -> TenantRow {
    let t = TenantRow {
        id: s.next_id(T),
        slug: "acme".into(),
        name: "ACME コールセンター".into(),
        time_zone: "Asia/Tokyo".into(),
        default_region: "JP".into(),
        short_abandon_secs: 5,
        priority_step_secs: 60,
        created_at: T,
    };
    s.create_tenant(&t).await.unwrap();
    t
}

async fn user(s: &Store, t: &TenantRow, name: &str, role: &str) -> UserRow {
    let u = UserRow {
        id: s.next_id(T),
        tenant_id: t.id,
        username: name.into(),
        display_name: format!("{name} さん"),
        role: role.into(),
        password_hash: "$argon2id$fake".into(),
        disabled: false,
        created_at: T,
    };
    s.create_user(&u).await.unwrap();
    u
}

fn queue_row(s: &Store, t: &TenantRow, name: &str) -> QueueRow {
    QueueRow {
        id: s.next_id(T),
        tenant_id: t.id,
        name: name.into(),
        display_name: "受注".into(),
        strategy: "longest-idle".into(),
        priority: 0,
        sl_target_pct: 80,
        sl_threshold_secs: 20,
        max_wait_secs: Some(300),
        overflow_queue_id: None,
        wrap_up_secs: Some(30),
        no_answer_timeout_secs: 20,
        max_no_answers: 3,
        requirements: "[]".into(),
        record_calls: false,
        created_at: T,
        updated_at: T,
    }
}

fn contact_row(s: &Store, t: &TenantRow, q: i64, status: &str) -> ContactRow {
    ContactRow {
        id: s.next_id(T),
        tenant_id: t.id,
        channel: "task".into(),
        direction: "inbound".into(),
        status: status.into(),
        queue_id: Some(q),
        customer_id: None,
        agent_id: None,
        priority: 0,
        subject: Some("折り返し依頼".into()),
        customer_address: None,
        attributes: "{}".into(),
        requirements: "[]".into(),
        created_at: T,
        queued_at: Some(T),
        queue_entered_at: Some(T),
        offered_at: None,
        answered_at: None,
        ended_at: None,
        acw_done_at: None,
        end_reason: None,
        disposition_code: None,
        updated_at: T,
    }
}

async fn migrations_are_idempotent_and_ids_survive_reopen(s: Store) {
    assert_eq!(s.migrate().await.unwrap(), 0, "second run applies nothing");
    let t = tenant(&s).await;
    assert!(s.next_id(T) > t.id);
    s.ping().await.unwrap();
}
on_both!(migrations_are_idempotent_and_ids_survive_reopen);

async fn users_and_tokens(s: Store) {
    let t = tenant(&s).await;
    let u = user(&s, &t, "sato", "agent").await;
    assert!(matches!(
        s.create_user(&UserRow {
            id: s.next_id(T),
            ..u.clone()
        })
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.user_by_name(t.id, "sato").await.unwrap().unwrap(), u);
    let token = TokenRow {
        id: s.next_id(T),
        token_hash: "h1".into(),
        tenant_id: t.id,
        user_id: u.id,
        kind: "session".into(),
        name: None,
        created_at: T,
        expires_at: Some(T + 1000),
        revoked: false,
    };
    s.create_token(&token).await.unwrap();
    assert!(s.token_user("h1", T).await.unwrap().is_some());
    assert!(
        s.token_user("h1", T + 1000).await.unwrap().is_none(),
        "expired"
    );
    assert!(s.token_user("nope", T).await.unwrap().is_none());
    let mut disabled = u.clone();
    disabled.disabled = true;
    s.update_user(&disabled).await.unwrap();
    assert!(
        s.token_user("h1", T).await.unwrap().is_none(),
        "disabling revokes"
    );
}
on_both!(users_and_tokens);

async fn queues_and_agents(s: Store) {
    let t = tenant(&s).await;
    let skill = SkillRow {
        id: s.next_id(T),
        tenant_id: t.id,
        name: "japanese".into(),
        display_name: "日本語".into(),
        created_at: T,
    };
    s.create_skill(&skill).await.unwrap();
    let q1 = queue_row(&s, &t, "orders");
    s.create_queue(&q1).await.unwrap();
    let mut q2 = queue_row(&s, &t, "support");
    q2.overflow_queue_id = Some(q1.id);
    s.create_queue(&q2).await.unwrap();
    assert!(matches!(
        s.create_queue(&QueueRow {
            id: s.next_id(T),
            ..q1.clone()
        })
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        s.queue_in_use(t.id, q1.id).await.unwrap(),
        "overflow target"
    );
    assert!(!s.queue_in_use(t.id, q2.id).await.unwrap());

    let u = user(&s, &t, "tanaka", "agent").await;
    let agent = AgentFull {
        agent: AgentRow {
            id: s.next_id(T),
            tenant_id: t.id,
            user_id: u.id,
            extension: Some("1001".into()),
            capacity_voice: 1,
            capacity_chat: 2,
            capacity_email: 3,
            capacity_task: 1,
            presence: "offline".into(),
            reason: None,
            status: "offline".into(),
            status_since: T,
            created_at: T,
            updated_at: T,
            sip_username: None,
        },
        username: "tanaka".into(),
        display_name: "tanaka さん".into(),
        skills: vec![(skill.id, 4)],
        queues: vec![(q1.id, 1), (q2.id, 2)],
    };
    s.create_agent(&agent).await.unwrap();
    let got = s.agents(t.id).await.unwrap();
    assert_eq!(got, vec![agent.clone()]);
    let mut changed = agent.clone();
    changed.skills = vec![];
    changed.queues = vec![(q2.id, 5)];
    s.update_agent_config(&changed).await.unwrap();
    assert_eq!(
        s.agent(t.id, agent.agent.id).await.unwrap().unwrap().queues,
        vec![(q2.id, 5)]
    );
    assert_eq!(
        s.agent_by_user(t.id, u.id).await.unwrap().unwrap().id,
        agent.agent.id
    );
    s.delete_skill(t.id, skill.id).await.unwrap();
    assert!(s.skills(t.id).await.unwrap().is_empty());
}
on_both!(queues_and_agents);

async fn customers_and_lookup(s: Store) {
    let t = tenant(&s).await;
    let c = CustomerFull {
        customer: CustomerRow {
            id: s.next_id(T),
            tenant_id: t.id,
            display_name: "山田 太郎".into(),
            name_kana: Some("ヤマダ タロウ".into()),
            company: Some("山田商店".into()),
            attributes: r#"{"会員ランク":"ゴールド"}"#.into(),
            created_at: T,
            updated_at: T,
        },
        phones: vec![PhoneRow {
            e164: "+81312345678".into(),
            label: Some("自宅".into()),
        }],
        emails: vec!["taro@example.jp".into()],
    };
    s.create_customer(&c).await.unwrap();
    assert_eq!(
        s.customers_by_phone(t.id, "+81312345678").await.unwrap(),
        vec![c.clone()]
    );
    assert_eq!(
        s.customers_by_email(t.id, "taro@example.jp").await.unwrap(),
        vec![c.clone()]
    );
    assert!(s
        .customers_by_phone(t.id, "+81399999999")
        .await
        .unwrap()
        .is_empty());
    let found = s
        .customers(
            t.id,
            &CustomerSearch {
                text: Some("山田".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let none = s
        .customers(
            t.id,
            &CustomerSearch {
                text: Some("100%".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty());

    let mut c2 = c.clone();
    c2.phones.push(PhoneRow {
        e164: "+819012345678".into(),
        label: None,
    });
    c2.emails.clear();
    s.update_customer(&c2).await.unwrap();
    assert_eq!(
        s.customer(t.id, c.customer.id)
            .await
            .unwrap()
            .unwrap()
            .phones
            .len(),
        2
    );
    assert!(s
        .customers_by_email(t.id, "taro@example.jp")
        .await
        .unwrap()
        .is_empty());

    // Deleting keeps contacts, unlinked.
    let q = queue_row(&s, &t, "orders");
    s.create_queue(&q).await.unwrap();
    let mut contact = contact_row(&s, &t, q.id, "completed");
    contact.customer_id = Some(c.customer.id);
    s.apply(&[Write::Contact(Box::new(contact.clone()))])
        .await
        .unwrap();
    assert_eq!(
        s.customer_contacts(t.id, c.customer.id, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    s.delete_customer(t.id, c.customer.id).await.unwrap();
    assert!(s.customer(t.id, c.customer.id).await.unwrap().is_none());
    assert_eq!(
        s.contact(t.id, contact.id)
            .await
            .unwrap()
            .unwrap()
            .customer_id,
        None
    );
}
on_both!(customers_and_lookup);

async fn batches_are_atomic(s: Store) {
    let t = tenant(&s).await;
    let q = queue_row(&s, &t, "orders");
    s.create_queue(&q).await.unwrap();
    let c = contact_row(&s, &t, q.id, "queued");
    let ev = |s: &Store, kind: &str, at: i64| ContactEventRow {
        id: s.next_id(T),
        tenant_id: t.id,
        contact_id: c.id,
        at,
        kind: kind.into(),
        queue_id: Some(q.id),
        agent_id: None,
        data: None,
    };
    s.apply(&[
        Write::Contact(Box::new(c.clone())),
        Write::Event(ev(&s, "created", T)),
        Write::Event(ev(&s, "queued", T)),
    ])
    .await
    .unwrap();
    assert_eq!(s.open_contacts(t.id).await.unwrap(), vec![c.clone()]);
    assert!(
        s.open_contacts(t.id + 1).await.unwrap().is_empty(),
        "open contacts are read per tenant"
    );

    // A batch whose last write fails (unknown agent) leaves nothing behind.
    let mut offered = c.clone();
    offered.status = "offered".into();
    let bad_state = AgentStateRow {
        id: s.next_id(T),
        tenant_id: t.id,
        agent_id: 424242,
        at: T,
        presence: "available".into(),
        reason: None,
        status: "offered".into(),
        changed_by: None,
    };
    let refused = s
        .apply(&[
            Write::Contact(Box::new(offered)),
            Write::Event(ev(&s, "offered", T + 1)),
            Write::AgentState(bad_state),
        ])
        .await
        .unwrap_err();
    assert!(
        !refused.is_transient(),
        "a broken constraint fails the same way every time: {refused}"
    );
    assert_eq!(
        s.contact(t.id, c.id).await.unwrap().unwrap().status,
        "queued"
    );
    assert_eq!(s.contact_events(t.id, c.id).await.unwrap().len(), 2);

    let mut done = c.clone();
    done.status = "abandoned".into();
    done.ended_at = Some(T + 30_000);
    s.apply(&[
        Write::Contact(Box::new(done)),
        Write::Event(ev(&s, "abandoned", T + 30_000)),
    ])
    .await
    .unwrap();
    assert!(s.open_contacts(t.id).await.unwrap().is_empty());
    assert_eq!(
        s.kpi_events(t.id, T, T + 1).await.unwrap().len(),
        3,
        "whole timeline of contacts queued in range"
    );
    assert!(s
        .kpi_events(t.id, T + 1, T + 60_000)
        .await
        .unwrap()
        .is_empty());
    let listed = s
        .contacts(
            t.id,
            &ContactFilter {
                status: Some("abandoned".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}
on_both!(batches_are_atomic);

async fn agent_state_history(s: Store) {
    let t = tenant(&s).await;
    let u = user(&s, &t, "ito", "agent").await;
    let a = AgentRow {
        id: s.next_id(T),
        tenant_id: t.id,
        user_id: u.id,
        extension: None,
        capacity_voice: 1,
        capacity_chat: 0,
        capacity_email: 0,
        capacity_task: 1,
        presence: "offline".into(),
        reason: None,
        status: "offline".into(),
        status_since: T,
        created_at: T,
        updated_at: T,
        sip_username: None,
    };
    s.create_agent(&AgentFull {
        agent: a.clone(),
        username: "ito".into(),
        display_name: "ito".into(),
        skills: vec![],
        queues: vec![],
    })
    .await
    .unwrap();
    let st = |s: &Store, at: i64, status: &str| {
        Write::AgentState(AgentStateRow {
            id: s.next_id(T),
            tenant_id: t.id,
            agent_id: a.id,
            at,
            presence: "available".into(),
            reason: None,
            status: status.into(),
            changed_by: None,
        })
    };
    s.apply(&[
        st(&s, T - 7_200_000, "available"),
        st(&s, T - 3_600_000, "busy"),
        st(&s, T + 60_000, "acw"),
    ])
    .await
    .unwrap();
    let rows = s.agent_states(t.id, T, T + 3_600_000).await.unwrap();
    let statuses: Vec<&str> = rows.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(
        statuses,
        vec!["busy", "acw"],
        "the state in force at the start, then changes"
    );
    let history = s
        .agent_state_history(t.id, a.id, T - 86_400_000, T + 86_400_000, 10)
        .await
        .unwrap();
    assert_eq!(
        history
            .iter()
            .map(|r| r.status.as_str())
            .collect::<Vec<_>>(),
        vec!["acw", "busy", "available"]
    );
    let a2 = s.agent(t.id, a.id).await.unwrap().unwrap();
    assert_eq!(
        (a2.agent.status.as_str(), a2.agent.status_since),
        ("acw", T + 60_000)
    );
}
on_both!(agent_state_history);

async fn phone_accounts_flows_numbers_recordings(s: Store) {
    let t = tenant(&s).await;
    let u = user(&s, &t, "kato", "agent").await;
    let a = AgentRow {
        id: s.next_id(T),
        tenant_id: t.id,
        user_id: u.id,
        extension: None,
        capacity_voice: 1,
        capacity_chat: 0,
        capacity_email: 0,
        capacity_task: 1,
        presence: "offline".into(),
        reason: None,
        status: "offline".into(),
        status_since: T,
        created_at: T,
        updated_at: T,
        sip_username: None,
    };
    s.create_agent(&AgentFull {
        agent: a.clone(),
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        skills: vec![],
        queues: vec![],
    })
    .await
    .unwrap();
    assert_eq!(s.sip_account("kato").await.unwrap(), None);
    s.set_sip_credentials(t.id, a.id, Some(("kato", "0123abcd")))
        .await
        .unwrap();
    let acc = s.sip_account("kato").await.unwrap().expect("account");
    assert_eq!(
        (acc.tenant_id, acc.agent_id, acc.ha1.as_str()),
        (t.id, a.id, "0123abcd")
    );
    // Another agent cannot take the same SIP username.
    let u2 = user(&s, &t, "mori", "agent").await;
    let a2 = AgentRow {
        id: s.next_id(T),
        user_id: u2.id,
        ..a.clone()
    };
    s.create_agent(&AgentFull {
        agent: a2.clone(),
        username: u2.username.clone(),
        display_name: u2.display_name.clone(),
        skills: vec![],
        queues: vec![],
    })
    .await
    .unwrap();
    let clash = s
        .set_sip_credentials(t.id, a2.id, Some(("kato", "ffff")))
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    // Removing the account refuses registrations.
    s.set_sip_credentials(t.id, a.id, None).await.unwrap();
    assert_eq!(s.sip_account("kato").await.unwrap(), None);
    assert!(matches!(
        s.set_sip_credentials(t.id, 42, None).await,
        Err(StoreError::NotFound(_))
    ));

    // Flows and numbers.
    let f = tsunagu_store::voice::FlowRow {
        tenant_id: t.id,
        name: "main".into(),
        source: "[flow]".into(),
        updated_at: T,
    };
    s.put_flow(&f).await.unwrap();
    s.put_flow(&tsunagu_store::voice::FlowRow {
        source: "[flow] # v2".into(),
        ..f.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        s.flow(t.id, "main").await.unwrap().unwrap().source,
        "[flow] # v2"
    );
    for (n, flow) in [("*", "main"), ("+81312345678", "sales")] {
        s.put_number(&tsunagu_store::voice::NumberRow {
            tenant_id: t.id,
            number: n.into(),
            flow: flow.into(),
        })
        .await
        .unwrap();
    }
    assert_eq!(
        s.flow_for_number(t.id, &["0312345678", "+81312345678"])
            .await
            .unwrap()
            .as_deref(),
        Some("sales")
    );
    assert_eq!(
        s.flow_for_number(t.id, &["0399999999"])
            .await
            .unwrap()
            .as_deref(),
        Some("main")
    );
    s.delete_number(t.id, "*").await.unwrap();
    assert_eq!(
        s.flow_for_number(t.id, &["0399999999"]).await.unwrap(),
        None
    );
    assert!(matches!(
        s.delete_flow(t.id, "nope").await,
        Err(StoreError::NotFound(_))
    ));

    // Recordings: unfinished ones are found after a crash, finished ones are not.
    let c = ContactRow {
        queue_id: None,
        ..contact_row(&s, &t, 0, "ivr")
    };
    s.apply(&[Write::Contact(Box::new(c.clone()))])
        .await
        .unwrap();
    let r = tsunagu_store::voice::RecordingRow {
        id: s.next_id(T),
        tenant_id: t.id,
        contact_id: c.id,
        kind: "call".into(),
        path: "recordings/1.wav".into(),
        started_at: T,
        ended_at: None,
        duration_ms: None,
        status: "recording".into(),
    };
    s.create_recording(&r).await.unwrap();
    assert_eq!(s.unfinished_recordings().await.unwrap().len(), 1);
    s.finish_recording(r.id, T + 5000, 5000, "complete")
        .await
        .unwrap();
    assert!(s.unfinished_recordings().await.unwrap().is_empty());
    let got = s.recordings(t.id, c.id).await.unwrap();
    assert_eq!((got.len(), got[0].duration_ms), (1, Some(5000)));
    assert_eq!(
        s.recording(t.id + 1, r.id).await.unwrap(),
        None,
        "other tenants do not see it"
    );
}
on_both!(phone_accounts_flows_numbers_recordings);
