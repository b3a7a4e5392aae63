//! The OpenAPI document held to the real API: every documented operation is called (the
//! walk below must cover them all), every answer's status is documented for it, every JSON
//! body matches the schema the document names — no undocumented field, no missing required
//! one, the right types — and so does every request body the API accepted. Schema names
//! belong to one type each. On SQLite and on PostgreSQL, with telephony running in-process.

mod common;

use std::collections::BTreeSet;

use common::schema::check;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Walk {
    doc: Value,
    base: String,
    http: reqwest::Client,
    /// (method, documented path) called so far.
    covered: BTreeSet<(String, String)>,
    problems: Vec<String>,
}

impl Walk {
    /// Calls `path` (its documented form is `template`) as `who` and checks the answer
    /// against the document. Returns the status and body.
    async fn call(
        &mut self,
        who: &Client,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = &who.token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = &body {
            r = r.json(b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.text().await.unwrap_or_default();
        let m = method.as_str().to_ascii_lowercase();
        self.covered.insert((m.clone(), template.to_string()));
        let what = format!("{} {path} → {}", method, status.as_u16());
        let op = &self.doc["paths"][template][&m];
        if op.is_null() {
            self.problems
                .push(format!("{what}: {m} {template} is not documented"));
            return (status, Value::Null);
        }
        // A body the API accepted must be one the document describes.
        if let (Some(b), true) = (&body, status.is_success()) {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() {
                self.problems
                    .push(format!("{what}: accepted a body it does not document"));
            } else {
                let mut errs = Vec::new();
                check(&self.doc, schema, b, "request", &mut errs);
                for e in errs {
                    self.problems.push(format!("{what}: {e}"));
                }
            }
        }
        let documented = &op["responses"][status.as_u16().to_string()];
        if documented.is_null() {
            self.problems
                .push(format!("{what}: status not documented ({text})"));
        }
        if status.is_client_error() || status.is_server_error() {
            // Every error is JSON, whatever the operation documents.
            if !ctype.starts_with("application/json") {
                self.problems
                    .push(format!("{what}: error body is {ctype}: {text}"));
            }
        }
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let schema = &documented["content"]["application/json"]["schema"];
        if !schema.is_null() {
            if !ctype.starts_with("application/json") {
                self.problems
                    .push(format!("{what}: documented as JSON, sent {ctype}"));
            } else {
                let mut errs = Vec::new();
                check(&self.doc, schema, &value, "$", &mut errs);
                for e in errs {
                    self.problems.push(format!("{what}: {e}"));
                }
            }
        } else if !documented.is_null()
            && documented.get("content").is_none()
            && !text.is_empty()
            && status != StatusCode::SWITCHING_PROTOCOLS
        {
            self.problems
                .push(format!("{what}: documented without a body, sent {text}"));
        }
        (status, value)
    }
}

/// Every path parameter is in its path's template and every `{name}` there is a path
/// parameter; query parameters are optional unless the handler needs them.
fn parameter_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let in_template: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut declared = BTreeSet::new();
            for p in &params {
                let name = p["name"].as_str().unwrap_or_default();
                match p["in"].as_str() {
                    Some("path") if !in_template.contains(name) => problems.push(format!(
                        "{method} {path}: `{name}` is a path parameter not in the path"
                    )),
                    Some("path") => {
                        declared.insert(name.to_string());
                    }
                    _ => {}
                }
            }
            for name in &in_template {
                if !declared.contains(*name) {
                    problems.push(format!("{method} {path}: `{{{name}}}` is not declared"));
                }
            }
        }
    }
    problems
}

async fn openapi_document_matches_the_api(kind: tsunagu_store::DbKind) {
    assert_eq!(
        tsunagu_api::http::openapi_schema_clashes(),
        Vec::<String>::new(),
        "two types share a schema name"
    );
    let mut srv = TestServer::demo_with_telephony(kind).await;
    let admin = srv.login("admin", ADMIN_PW).await;
    let sv = srv.login("sv", SV_PW).await;
    let sato = srv.login("sato", AGENT_PW).await;
    let anon = Client::anonymous(&srv.base);
    let doc = anon.ok("/api/openapi.json").await;
    // Regression: query parameters (limit, from, interval, phone…) were documented as
    // required path parameters, so clients generated from the document built wrong URLs.
    assert_eq!(parameter_problems(&doc), Vec::<String>::new());
    let mut w = Walk {
        doc: doc.clone(),
        base: srv.base.clone(),
        http: reqwest::Client::new(),
        covered: BTreeSet::new(),
        problems: Vec::new(),
    };
    use Method as M;

    // Operations, in an order that builds what later ones need.
    w.call(&anon, M::GET, "/healthz", "/healthz", None).await;
    w.call(
        &anon,
        M::GET,
        "/api/openapi.json",
        "/api/openapi.json",
        None,
    )
    .await;
    w.call(&anon, M::GET, "/metrics", "/metrics", None).await;
    w.call(
        &anon,
        M::POST,
        "/api/auth/login",
        "/api/auth/login",
        Some(json!({ "username": "ito", "password": AGENT_PW })),
    )
    .await;
    w.call(
        &anon,
        M::POST,
        "/api/auth/login",
        "/api/auth/login",
        Some(json!({ "username": "ito", "password": "wrong" })),
    )
    .await;
    w.call(&sato, M::GET, "/api/auth/me", "/api/auth/me", None)
        .await;
    w.call(&anon, M::GET, "/api/auth/me", "/api/auth/me", None)
        .await;

    // Configuration.
    w.call(&admin, M::GET, "/api/tenant", "/api/tenant", None)
        .await;
    let (_, tenant) = w
        .call(&admin, M::GET, "/api/tenant", "/api/tenant", None)
        .await;
    w.call(
        &admin,
        M::PUT,
        "/api/tenant",
        "/api/tenant",
        Some(json!({ "name": tenant["name"], "time_zone": tenant["time_zone"],
            "default_region": tenant["default_region"], "short_abandon_secs": 5, "priority_step_secs": 60 })),
    )
    .await;
    w.call(&admin, M::GET, "/api/skills", "/api/skills", None)
        .await;
    let (_, skill) = w
        .call(
            &admin,
            M::POST,
            "/api/skills",
            "/api/skills",
            Some(json!({ "name": "walk", "display_name": "歩く" })),
        )
        .await;
    let skill_id = skill["id"].as_i64().unwrap();
    w.call(
        &admin,
        M::PUT,
        "/api/skills/{id}",
        &format!("/api/skills/{skill_id}"),
        Some(json!({ "name": "walk", "display_name": "歩く2" })),
    )
    .await;
    w.call(&sv, M::GET, "/api/queues", "/api/queues", None)
        .await;
    let (_, q) = w
        .call(
            &admin,
            M::POST,
            "/api/queues",
            "/api/queues",
            Some(json!({ "name": "walk", "display_name": "歩く" })),
        )
        .await;
    let qid = q["id"].as_i64().unwrap();
    w.call(
        &sv,
        M::GET,
        "/api/queues/{id}",
        &format!("/api/queues/{qid}"),
        None,
    )
    .await;
    w.call(
        &sv,
        M::GET,
        "/api/queues/{id}",
        "/api/queues/{id}".replace("{id}", "999").as_str(),
        None,
    )
    .await;
    w.call(
        &admin,
        M::PUT,
        "/api/queues/{id}",
        &format!("/api/queues/{qid}"),
        Some(json!({ "name": "walk", "display_name": "歩く2" })),
    )
    .await;
    w.call(&sv, M::GET, "/api/dispositions", "/api/dispositions", None)
        .await;
    let (_, d) = w
        .call(
            &admin,
            M::POST,
            "/api/dispositions",
            "/api/dispositions",
            Some(
                json!({ "queue_id": qid, "code": "walked", "name": "Walked", "name_ja": "歩いた" }),
            ),
        )
        .await;
    let did = d["id"].as_i64().unwrap();
    w.call(
        &admin,
        M::PUT,
        "/api/dispositions/{id}",
        &format!("/api/dispositions/{did}"),
        Some(json!({ "queue_id": qid, "code": "walked", "name": "Walked", "name_ja": "歩いた2" })),
    )
    .await;
    w.call(&sato, M::GET, "/api/reasons", "/api/reasons", None)
        .await;
    w.call(
        &admin,
        M::PUT,
        "/api/reasons/{code}",
        "/api/reasons/walking",
        Some(json!({ "name": "Walking", "name_ja": "散歩" })),
    )
    .await;

    // People.
    w.call(&admin, M::GET, "/api/users", "/api/users", None)
        .await;
    let (_, u) = w
        .call(
            &admin,
            M::POST,
            "/api/users",
            "/api/users",
            Some(json!({ "username": "walker", "display_name": "歩く人", "role": "supervisor", "password": "walking-pass-1" })),
        )
        .await;
    let uid = u["id"].as_i64().unwrap();
    w.call(
        &admin,
        M::PUT,
        "/api/users/{id}",
        &format!("/api/users/{uid}"),
        Some(json!({ "display_name": "歩く人2", "role": "supervisor" })),
    )
    .await;
    w.call(&sv, M::GET, "/api/agents", "/api/agents", None)
        .await;
    let (_, a) = w
        .call(
            &admin,
            M::POST,
            "/api/agents",
            "/api/agents",
            Some(json!({ "username": "walker2", "display_name": "歩く人3", "password": "walking-pass-2",
                "capacity": { "voice": 1, "chat": 2, "email": 2, "task": 2 },
                "skills": [{ "skill_id": skill_id, "level": 3 }], "queues": [{ "queue_id": qid, "position": 1 }] })),
        )
        .await;
    let aid = a["id"].as_i64().unwrap();
    w.call(
        &sv,
        M::GET,
        "/api/agents/{id}",
        &format!("/api/agents/{aid}"),
        None,
    )
    .await;
    w.call(
        &admin,
        M::PUT,
        "/api/agents/{id}",
        &format!("/api/agents/{aid}"),
        Some(
            json!({ "capacity": { "voice": 1, "chat": 1, "email": 1, "task": 1 },
            "skills": [], "queues": [{ "queue_id": qid, "position": 1 }] }),
        ),
    )
    .await;
    let sato_id = sato.agent_id();
    w.call(
        &sato,
        M::POST,
        "/api/agents/{id}/state",
        &format!("/api/agents/{sato_id}/state"),
        Some(json!({ "presence": "available" })),
    )
    .await;
    w.call(
        &sato,
        M::GET,
        "/api/agents/{id}/states",
        &format!("/api/agents/{sato_id}/states"),
        None,
    )
    .await;
    w.call(
        &sato,
        M::GET,
        "/api/agents/{id}/states",
        &format!("/api/agents/{sato_id}/states?limit=0"),
        None,
    )
    .await;
    w.call(
        &sato,
        M::GET,
        "/api/agents/{id}/phone",
        &format!("/api/agents/{sato_id}/phone"),
        None,
    )
    .await;
    w.call(
        &admin,
        M::PUT,
        "/api/agents/{id}/phone",
        &format!("/api/agents/{aid}/phone"),
        Some(json!({ "password": "phone-pass-1" })),
    )
    .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/agents/{id}/phone",
        &format!("/api/agents/{aid}/phone"),
        None,
    )
    .await;

    // Customers and contacts.
    let (_, c) = w
        .call(
            &sato,
            M::POST,
            "/api/customers",
            "/api/customers",
            Some(json!({ "display_name": "歩く客", "phones": [{ "number": "03-9999-0001", "label": "会社" }],
                "emails": ["walk@example.jp"], "attributes": { "rank": "gold" } })),
        )
        .await;
    let cid = c["id"].as_i64().unwrap();
    w.call(
        &sato,
        M::POST,
        "/api/customers",
        "/api/customers",
        Some(json!({ "display_name": "x", "phones": [{ "number": "03-1234-567a" }] })),
    )
    .await;
    w.call(
        &sato,
        M::GET,
        "/api/customers",
        "/api/customers?q=%E6%AD%A9",
        None,
    )
    .await;
    w.call(
        &sato,
        M::GET,
        "/api/customers/lookup",
        "/api/customers/lookup?phone=0399990001",
        None,
    )
    .await;
    w.call(
        &sato,
        M::GET,
        "/api/customers/{id}",
        &format!("/api/customers/{cid}"),
        None,
    )
    .await;
    w.call(
        &sato,
        M::PUT,
        "/api/customers/{id}",
        &format!("/api/customers/{cid}"),
        Some(json!({ "display_name": "歩く客2", "phones": [{ "number": "+81 3 9999 0001" }] })),
    )
    .await;
    let orders = sv.queue_id("orders").await;
    let (_, ct) = w
        .call(
            &sv,
            M::POST,
            "/api/contacts",
            "/api/contacts",
            Some(json!({ "queue_id": orders, "subject": "歩く", "customer": { "id": cid } })),
        )
        .await;
    let ctid = ct["id"].as_i64().unwrap();
    w.call(&sv, M::GET, "/api/contacts", "/api/contacts?limit=5", None)
        .await;
    w.call(
        &sv,
        M::GET,
        "/api/contacts/{id}",
        &format!("/api/contacts/{ctid}"),
        None,
    )
    .await;
    w.call(
        &sato,
        M::POST,
        "/api/contacts/{id}/accept",
        &format!("/api/contacts/{ctid}/accept"),
        None,
    )
    .await;
    w.call(
        &sato,
        M::POST,
        "/api/contacts/{id}/notes",
        &format!("/api/contacts/{ctid}/notes"),
        Some(json!({ "body": "一行目\n二行目" })),
    )
    .await;
    // In-call commands on a task: refused, as JSON.
    for (m, p, body) in [
        (M::POST, "hold", Some(json!({ "on": true }))),
        (M::POST, "recording", Some(json!({ "paused": true }))),
        (M::POST, "consult", Some(json!({ "agent_id": aid }))),
        (M::POST, "consult/complete", None),
        (M::POST, "consult/conference", None),
        (M::POST, "consult/cancel", None),
        (
            M::POST,
            "blind-transfer",
            Some(json!({ "number": "0312345678" })),
        ),
        (M::POST, "hangup", None),
    ] {
        w.call(
            &sato,
            m,
            &format!("/api/contacts/{{id}}/{p}"),
            &format!("/api/contacts/{ctid}/{p}"),
            body,
        )
        .await;
    }
    w.call(
        &sv,
        M::POST,
        "/api/contacts/{id}/monitor",
        &format!("/api/contacts/{ctid}/monitor"),
        Some(json!({ "mode": "listen" })),
    )
    .await;
    w.call(
        &sv,
        M::DELETE,
        "/api/contacts/{id}/monitor",
        &format!("/api/contacts/{ctid}/monitor"),
        None,
    )
    .await;
    w.call(
        &sv,
        M::GET,
        "/api/contacts/{id}/recordings",
        &format!("/api/contacts/{ctid}/recordings"),
        None,
    )
    .await;
    w.call(
        &sv,
        M::GET,
        "/api/recordings/{id}",
        "/api/recordings/1",
        None,
    )
    .await;
    w.call(
        &sato,
        M::POST,
        "/api/calls",
        "/api/calls",
        Some(json!({ "number": "03-1234-5678" })),
    )
    .await;
    w.call(
        &sato,
        M::POST,
        "/api/contacts/{id}/transfer",
        &format!("/api/contacts/{ctid}/transfer"),
        Some(json!({ "queue_id": qid, "note": "歩いて" })),
    )
    .await;
    let (_, ct2) = w
        .call(
            &sv,
            M::POST,
            "/api/contacts",
            "/api/contacts",
            Some(json!({ "queue_id": orders })),
        )
        .await;
    let ct2 = ct2["id"].as_i64().unwrap();
    w.call(
        &sato,
        M::POST,
        "/api/contacts/{id}/reject",
        &format!("/api/contacts/{ct2}/reject"),
        None,
    )
    .await;
    w.call(
        &sv,
        M::POST,
        "/api/contacts/{id}/end",
        &format!("/api/contacts/{ct2}/end"),
        Some(json!({ "reason": "歩き終えた" })),
    )
    .await;
    w.call(
        &sato,
        M::POST,
        "/api/contacts/{id}/wrap-up",
        &format!("/api/contacts/{ct2}/wrap-up"),
        Some(json!({ "disposition": "walked" })),
    )
    .await;

    // Reports and telephony.
    w.call(
        &sv,
        M::GET,
        "/api/kpi/queues",
        "/api/kpi/queues?interval=60",
        None,
    )
    .await;
    w.call(
        &sv,
        M::GET,
        "/api/kpi/queues",
        "/api/kpi/queues?interval=7",
        None,
    )
    .await;
    w.call(&sv, M::GET, "/api/kpi/ivr", "/api/kpi/ivr", None)
        .await;
    w.call(&sv, M::GET, "/api/kpi/realtime", "/api/kpi/realtime", None)
        .await;
    w.call(&sv, M::GET, "/api/telephony", "/api/telephony", None)
        .await;
    w.call(&sv, M::GET, "/api/flows", "/api/flows", None).await;
    w.call(&sv, M::GET, "/api/flows/{name}", "/api/flows/main", None)
        .await;
    let flow = "name = \"walk\"\nstart = \"q\"\n\n[nodes.q]\ntype = \"queue\"\nqueue = \"walk\"\n";
    w.call(
        &admin,
        M::PUT,
        "/api/flows/{name}",
        "/api/flows/walk",
        Some(json!({ "source": flow })),
    )
    .await;
    w.call(
        &admin,
        M::PUT,
        "/api/flows/{name}",
        "/api/flows/walk",
        Some(json!({ "source": "name = \"walk\"\nstart = \"t\"\n\n[nodes.t]\ntype = \"transfer\"\nnumber = \"03-1234-567a\"\n" })),
    )
    .await;
    w.call(&sv, M::GET, "/api/numbers", "/api/numbers", None)
        .await;
    w.call(
        &admin,
        M::PUT,
        "/api/numbers/{number}",
        "/api/numbers/03-9999-0002",
        Some(json!({ "flow": "walk" })),
    )
    .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/numbers/{number}",
        "/api/numbers/0399990002",
        None,
    )
    .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/flows/{name}",
        "/api/flows/walk",
        None,
    )
    .await;

    // Tokens, then the deletions, then the session's end.
    w.call(&admin, M::GET, "/api/tokens", "/api/tokens", None)
        .await;
    let (_, t) = w
        .call(
            &admin,
            M::POST,
            "/api/tokens",
            "/api/tokens",
            Some(json!({ "user_id": uid, "name": "walk", "expires_in_days": 1 })),
        )
        .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/tokens/{id}",
        &format!("/api/tokens/{}", t["id"]),
        None,
    )
    .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/customers/{id}",
        &format!("/api/customers/{cid}"),
        None,
    )
    .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/dispositions/{id}",
        &format!("/api/dispositions/{did}"),
        None,
    )
    .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/reasons/{code}",
        "/api/reasons/walking",
        None,
    )
    .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/skills/{id}",
        &format!("/api/skills/{skill_id}"),
        None,
    )
    .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/queues/{id}",
        &format!("/api/queues/{qid}"),
        None,
    )
    .await;
    w.call(
        &admin,
        M::DELETE,
        "/api/users/{id}",
        &format!("/api/users/{uid}"),
        None,
    )
    .await;
    w.call(&sato, M::GET, "/api/events", "/api/events", None)
        .await;
    let ito = srv.login("ito", AGENT_PW).await;
    w.call(
        &ito,
        M::POST,
        "/api/auth/password",
        "/api/auth/password",
        Some(json!({ "current_password": AGENT_PW, "new_password": "a-new-password-1" })),
    )
    .await;
    w.call(&sato, M::POST, "/api/auth/logout", "/api/auth/logout", None)
        .await;

    // Every documented operation was called.
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys() {
            if !w.covered.contains(&(m.clone(), path.clone())) {
                missing.push(format!("{m} {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "not walked: {missing:?}");
    assert!(w.problems.is_empty(), "{}", w.problems.join("\n"));
    srv.stop().await;
}
on_both!(openapi_document_matches_the_api);
