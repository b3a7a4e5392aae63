//! Authentication, roles and tenant isolation; bad input refused with the field named and
//! nothing written.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tsunagu::provision::{self, NewTenant, NewUser};
use tsunagu_domain::role::Role;

/// The demo tenant plus a second tenant "other" with its own agent, supervisor and customer.
async fn two_tenants(kind: tsunagu_store::DbKind) -> (TestServer, i64) {
    let srv = TestServer::demo(kind).await;
    let other = provision::create_tenant(
        &srv.store,
        NewTenant {
            slug: "other",
            name: "別会社センター",
            time_zone: "Asia/Tokyo",
            region: "JP",
        },
    )
    .await
    .unwrap();
    for (u, role) in [("omori", Role::Agent), ("osv", Role::Supervisor)] {
        provision::create_user(
            &srv.store,
            &other,
            NewUser {
                username: u,
                display_name: u,
                role,
                password: "other-password",
                agent: Some(Default::default()),
            },
        )
        .await
        .unwrap();
    }
    let osv = Client::login(&srv.base, Some("other"), "osv", "other-password").await;
    let (s, c) = osv
        .post(
            "/api/customers",
            json!({ "display_name": "他社 顧客", "phones": [{ "number": "03-9999-0000" }] }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    (srv, c["id"].as_i64().unwrap())
}

async fn tenant_isolation(kind: tsunagu_store::DbKind) {
    let (mut srv, other_customer) = two_tenants(kind).await;
    let sato = Client::login(&srv.base, Some("demo"), "sato", AGENT_PW).await;
    let sv = Client::login(&srv.base, Some("demo"), "sv", SV_PW).await;
    // Another tenant's customer does not exist for us, by id or by number.
    for c in [&sato, &sv] {
        let (s, _) = c.get(&format!("/api/customers/{other_customer}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let pop = c.ok("/api/customers/lookup?phone=03-9999-0000").await;
        assert_eq!(pop, json!([]));
        let list = c.ok("/api/customers?q=%E4%BB%96%E7%A4%BE").await;
        assert_eq!(list, json!([]));
    }
    // Nor can we change it.
    let (s, _) = sv
        .put(
            &format!("/api/customers/{other_customer}"),
            json!({ "display_name": "乗っ取り" }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Another tenant's agent cannot be driven.
    let omori = Client::login(&srv.base, Some("other"), "omori", "other-password").await;
    let (s, _) = sv
        .post(
            &format!("/api/agents/{}/state", omori.agent_id()),
            json!({ "presence": "available" }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Their queues, contacts and users are invisible.
    let theirs = omori.ok("/api/queues").await;
    assert_eq!(theirs, json!([]));
    let (s, _) = omori
        .post(
            "/api/contacts",
            json!({ "queue_id": sv.queue_id("orders").await }),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a queue of another tenant is no queue"
    );
    srv.stop().await;
}
on_both!(tenant_isolation);

async fn roles(kind: tsunagu_store::DbKind) {
    let mut srv = TestServer::demo(kind).await;
    let sato = srv.login("sato", AGENT_PW).await;
    let suzuki = srv.login("suzuki", AGENT_PW).await;
    let sv = srv.login("sv", SV_PW).await;
    let admin = srv.login("admin", ADMIN_PW).await;

    // An agent cannot change another agent's state; a supervisor can.
    let (s, body) = sato
        .post(
            &format!("/api/agents/{}/state", suzuki.agent_id()),
            json!({ "presence": "available" }),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "forbidden");
    let (s, b) = sv
        .post(
            &format!("/api/agents/{}/state", suzuki.agent_id()),
            json!({ "presence": "not_ready", "reason": "meeting" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["reason"], "meeting");

    // Agents see only their own contacts; KPIs and configuration are not theirs.
    let (s, _) = sato
        .get(&format!("/api/contacts?agent_id={}", suzuki.agent_id()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for path in [
        "/api/kpi/queues",
        "/api/kpi/realtime",
        "/api/users",
        "/api/tokens",
    ] {
        let (s, _) = sato.get(path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _) = sato
        .post("/api/queues", json!({ "name": "x", "display_name": "x" }))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = sv
        .post("/api/queues", json!({ "name": "x", "display_name": "x" }))
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "supervisors watch, admins configure"
    );
    let (s, _) = admin
        .post("/api/queues", json!({ "name": "x", "display_name": "x" }))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // A supervisor may see KPIs; an agent may not accept for someone else.
    assert!(sv.ok("/api/kpi/realtime").await["queues"].is_array());
    let (s, _) = sato
        .post(
            "/api/contacts/1/accept",
            json!({ "agent_id": suzuki.agent_id() }),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    srv.stop().await;
}
on_both!(roles);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials() {
    let mut srv = TestServer::demo(tsunagu_store::DbKind::Sqlite).await;
    let anon = Client::anonymous(&srv.base);
    // Missing and bad tokens.
    let (s, b) = anon.get("/api/queues").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["error"], "unauthorized");
    let fake = Client {
        token: Some("tsg_not-a-real-token".into()),
        ..anon.clone()
    };
    let (s, _) = fake.get("/api/queues").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Bad password, unknown user, unknown tenant: the same answer.
    for body in [
        json!({ "username": "sato", "password": "wrong-password" }),
        json!({ "username": "nobody", "password": "wrong-password" }),
        json!({ "tenant": "nope", "username": "sato", "password": AGENT_PW }),
    ] {
        let (s, b) = anon.post("/api/auth/login", body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(b["message"], "invalid credentials");
    }
    // Logout kills the token.
    let sato = srv.login("sato", AGENT_PW).await;
    let (s, _) = sato.post_empty("/api/auth/logout").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = sato.get("/api/auth/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // API tokens: created by an admin, usable as bearer, revocable.
    let admin = srv.login("admin", ADMIN_PW).await;
    let users = admin.ok("/api/users").await;
    let sv_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "sv")
        .unwrap()["id"]
        .clone();
    let (s, t) = admin
        .post(
            "/api/tokens",
            json!({ "user_id": sv_id, "name": "CRM 連携" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let api = Client {
        token: Some(t["token"].as_str().unwrap().into()),
        ..anon.clone()
    };
    assert!(api.ok("/api/kpi/realtime").await["queues"].is_array());
    let (s, _) = admin.delete(&format!("/api/tokens/{}", t["id"])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get("/api/kpi/realtime").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A disabled user's sessions stop working.
    let tanaka = srv.login("tanaka", AGENT_PW).await;
    let tanaka_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "tanaka")
        .unwrap()["id"]
        .clone();
    let (s, _) = admin.delete(&format!("/api/users/{tanaka_id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = tanaka.get("/api/auth/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_are_throttled() {
    let mut srv = TestServer::demo(tsunagu_store::DbKind::Sqlite).await;
    let anon = Client::anonymous(&srv.base);
    for _ in 0..5 {
        let (s, _) = anon
            .post(
                "/api/auth/login",
                json!({ "username": "ito", "password": "guess-guess" }),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits.
    let resp = anon
        .http
        .post(format!("{}/api/auth/login", srv.base))
        .json(&json!({ "username": "ito", "password": AGENT_PW }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    // Other accounts are not affected.
    srv.login("sato", AGENT_PW).await;
    srv.stop().await;
}

async fn bad_input_names_the_field_and_writes_nothing(kind: tsunagu_store::DbKind) {
    let mut srv = TestServer::demo(kind).await;
    let admin = srv.login("admin", ADMIN_PW).await;
    let before = admin.ok("/api/queues").await.as_array().unwrap().len();
    let cases = [
        (
            json!({ "name": "bad", "display_name": "x", "strategy": "fastest" }),
            "strategy",
        ),
        (json!({ "name": "bad name!", "display_name": "x" }), "name"),
        (
            json!({ "name": "bad", "display_name": "x", "service_level": { "target_pct": 150, "threshold_secs": 20 } }),
            "service_level.target_pct",
        ),
        (
            json!({ "name": "bad", "display_name": "x", "overflow_queue_id": 42 }),
            "overflow_queue_id",
        ),
        (
            json!({ "name": "bad", "display_name": "x", "requirements": [{ "skill_id": 1, "steps": [{ "after_secs": 0, "min_level": 2 }] }] }),
            "requirements[0].skill_id",
        ),
        (
            json!({ "name": "bad", "display_name": "x", "priority": "high" }),
            "priority",
        ),
        (
            json!({ "name": "bad", "display_name": "x", "colour": "red" }),
            "colour",
        ),
        (json!({ "display_name": "x" }), "name"),
        (
            json!({ "name": "bad", "display_name": "x", "service_level": { "target_pct": 80 } }),
            "service_level.threshold_secs",
        ),
    ];
    for (body, field) in cases {
        let (s, b) = admin.post("/api/queues", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {b}");
        assert_eq!(b["error"], "invalid");
        let fields: Vec<&str> = b["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&field),
            "{body}: expected {field}, got {fields:?} ({b})"
        );
    }
    // A relaxation that tightens later is refused with the step path.
    let skills = admin.ok("/api/skills").await;
    let skill = skills[0]["id"].clone();
    let (s, b) = admin
        .post("/api/queues", json!({ "name": "bad", "display_name": "x",
            "requirements": [{ "skill_id": skill, "steps": [{ "after_secs": 0, "min_level": 2 }, { "after_secs": 10, "min_level": 4 }] }] }))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["fields"][0]["field"], "requirements[0].steps");
    // Not JSON at all.
    let resp = admin
        .http
        .post(format!("{}/api/queues", srv.base))
        .bearer_auth(admin.token.as_ref().unwrap())
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        admin.ok("/api/queues").await.as_array().unwrap().len(),
        before,
        "nothing was written"
    );

    // Customers: each bad phone and email is named.
    let (s, b) = admin
        .post("/api/customers", json!({ "display_name": "テスト", "phones": [{ "number": "03-1234-5678" }, { "number": "12" }], "emails": ["ok@example.jp", "nope"] }))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let fields: Vec<&str> = b["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["phones[1].number", "emails[1]"]);
    assert_eq!(
        admin
            .ok("/api/customers?q=%E3%83%86%E3%82%B9%E3%83%88")
            .await,
        json!([])
    );

    // Contacts: voice is refused from the API, priority out of range, unknown customer.
    let orders = admin.queue_id("orders").await;
    let contacts_before = admin
        .ok("/api/contacts?limit=500")
        .await
        .as_array()
        .unwrap()
        .len();
    let (s, b) = admin.post("/api/contacts", json!({ "queue_id": orders, "channel": "voice", "priority": 99, "customer": { "id": 1 } })).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = b["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["channel", "priority", "customer.id"]);
    let contacts_after = admin
        .ok("/api/contacts?limit=500")
        .await
        .as_array()
        .unwrap()
        .len();
    assert_eq!(contacts_before, contacts_after, "no contact was created");

    // Agent state: unknown presence or reason.
    let sato = srv.login("sato", AGENT_PW).await;
    let (s, b) = sato
        .post(
            &format!("/api/agents/{}/state", sato.agent_id()),
            json!({ "presence": "not_ready", "reason": "nap" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["fields"][0]["field"], "reason");
    srv.stop().await;
}
on_both!(bad_input_names_the_field_and_writes_nothing);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_paths_for_tools() {
    let mut srv = TestServer::demo(tsunagu_store::DbKind::Sqlite).await;
    let anon = Client::anonymous(&srv.base);
    let health = anon.ok("/healthz").await;
    assert_eq!(health["status"], "ok");
    let sato = srv.login("sato", AGENT_PW).await;
    sato.ok("/api/queues").await;
    let (s, metrics) = anon.get("/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let text = metrics.as_str().unwrap();
    assert!(text.contains("tsunagu_http_requests_total"), "{text}");
    let doc = anon.ok("/api/openapi.json").await;
    assert_eq!(doc["info"]["title"], "Tsunagu API");
    for path in [
        "/api/auth/login",
        "/api/contacts/{id}/accept",
        "/api/customers/lookup",
        "/api/kpi/queues",
        "/api/events",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["ContactView"].is_object());
    let (s, b) = anon.get("/no/such/path").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(b["error"], "not_found");
    srv.stop().await;
}
