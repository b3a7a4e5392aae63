//! The scripted walk: supervisor and agent log in, the agent goes available, a task is
//! created, the agent is offered it over the WebSocket, accepts, ends, wraps up with a
//! disposition and a note; the customer's timeline shows it and the queue's KPIs count it.
//! On SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn scripted_walk(kind: tsunagu_store::DbKind) {
    let mut srv = TestServer::demo(kind).await;
    let sv = srv.login("sv", SV_PW).await;
    assert_eq!(sv.me["user"]["role"], "supervisor");
    let agent = srv.login("sato", AGENT_PW).await;
    let me = agent.ok("/api/auth/me").await;
    assert_eq!(me["role_ja"], "オペレーター");

    let mut ws = agent.ws().await;
    let state = agent.set_state("available").await;
    assert_eq!(state["status"], "available");
    let st = ws.next_of("agent_state", Duration::from_secs(5)).await;
    assert_eq!(st["state"]["status"], "available");

    let orders = sv.queue_id("orders").await;
    let (s, created) = sv
        .post(
            "/api/contacts",
            json!({ "queue_id": orders, "subject": "配送日の変更", "customer": { "phone": "03-5555-0101" },
                    "attributes": { "order_no": "A-1001" } }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let contact = created["id"].as_i64().unwrap();
    assert_eq!(created["customer_address"], "+81355550101");
    assert!(
        created["customer_id"].is_i64(),
        "linked to 山田 太郎 by phone"
    );

    // The offer arrives over the WebSocket.
    let offer = ws.next_of("offer", Duration::from_secs(5)).await;
    assert_eq!(offer["contact"]["id"], contact);
    assert_eq!(offer["agent_id"], agent.agent_id());
    assert_eq!(offer["contact"]["subject"], "配送日の変更");

    let (s, acc) = agent
        .post_empty(&format!("/api/contacts/{contact}/accept"))
        .await;
    assert_eq!(s, StatusCode::OK, "{acc}");
    assert_eq!(acc["status"], "connected");
    assert_eq!(acc["agent_id"], agent.agent_id());
    // Accepting twice is refused.
    let (s, _) = agent
        .post_empty(&format!("/api/contacts/{contact}/accept"))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, ended) = agent
        .post_empty(&format!("/api/contacts/{contact}/end"))
        .await;
    assert_eq!(s, StatusCode::OK, "{ended}");
    assert_eq!(
        ended["status"], "wrap_up",
        "orders has 30 s of after-call work"
    );

    // A code of another queue is refused and changes nothing.
    let (s, bad) = agent
        .post(
            &format!("/api/contacts/{contact}/wrap-up"),
            json!({ "disposition": "refund" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["fields"][0]["field"], "disposition");

    let (s, done) = agent
        .post(
            &format!("/api/contacts/{contact}/wrap-up"),
            json!({ "disposition": "order_changed", "note": "来週火曜に配送変更" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["disposition_code"], "order_changed");

    // Agent states seen live: offered → busy → acw → available.
    ws.next_matching(
        |v| v["type"] == "agent_state" && v["state"]["status"] == "available",
        Duration::from_secs(5),
    )
    .await
    .expect("available again");
    let statuses: Vec<String> = ws
        .seen
        .iter()
        .filter(|v| v["type"] == "agent_state")
        .map(|v| v["state"]["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        vec!["available", "offered", "busy", "acw", "available"]
    );

    // The timeline of the contact.
    let detail = agent.ok(&format!("/api/contacts/{contact}")).await;
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "created",
            "queued",
            "offered",
            "accepted",
            "connected",
            "ended",
            "acw_done"
        ]
    );
    assert_eq!(detail["notes"][0]["body"], "来週火曜に配送変更");

    // The customer's timeline (screen-pop) shows it first, with the note.
    let pop = agent
        .ok("/api/customers/lookup?phone=%2B81%203-5555-0101")
        .await;
    assert_eq!(pop.as_array().unwrap().len(), 1);
    assert_eq!(pop[0]["customer"]["display_name"], "山田 太郎");
    let first = &pop[0]["timeline"][0];
    assert_eq!(first["contact"]["id"], contact);
    assert_eq!(first["contact"]["disposition_code"], "order_changed");
    assert_eq!(first["notes"][0]["body"], "来週火曜に配送変更");

    // The queue's KPIs for today count it: offered, answered within the SL, handled.
    let kpi = sv
        .ok(&format!("/api/kpi/queues?interval=15&queue_id={orders}"))
        .await;
    let total = &kpi["totals"][0]["kpis"];
    assert_eq!(total["offered"], 1, "{kpi}");
    assert_eq!(total["answered"], 1);
    assert_eq!(total["answered_within_sl"], 1);
    assert_eq!(total["handled"], 1);
    assert_eq!(total["answer_rate"], 1.0);
    assert_eq!(total["service_level"], 1.0);
    assert!(total["aht_secs"].as_f64().unwrap() > 0.2);
    assert!(total["occupancy"].as_f64().unwrap() > 0.0);
    let interval_rows: Vec<_> = kpi["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kpis"]["offered"].as_u64() == Some(1))
        .collect();
    assert_eq!(
        interval_rows.len(),
        1,
        "counted in exactly one 15-minute interval"
    );

    // The real-time picture.
    let live = sv.ok("/api/kpi/realtime").await;
    let q = live["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue_id"] == orders)
        .unwrap();
    assert_eq!(q["waiting"], 0);
    assert_eq!(q["today"]["answered"], 1);
    assert!(q["agents"]["available"].as_u64().unwrap() >= 1);

    ws.close().await;
    srv.stop().await;
}
on_both!(scripted_walk);

async fn multi_agent_routing_through_the_api(kind: tsunagu_store::DbKind) {
    let mut srv = TestServer::demo(kind).await;
    let sv = srv.login("sv", SV_PW).await;
    let support = sv.queue_id("support").await;
    // suzuki (technical 5) and nakamura (technical 1) both serve support; the queue needs ≥3
    // at first, so suzuki gets it although nakamura became ready first.
    let nakamura = srv.login("nakamura", AGENT_PW).await;
    let suzuki = srv.login("suzuki", AGENT_PW).await;
    nakamura.set_state("available").await;
    suzuki.set_state("available").await;
    let mut ws_n = nakamura.ws().await;
    let (s, c) = sv
        .post(
            "/api/contacts",
            json!({ "queue_id": support, "subject": "ルーターが繋がらない" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(c["status"], "offered");
    let detail = sv.ok(&format!("/api/contacts/{}", c["id"])).await;
    let offered_to = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "offered")
        .unwrap()["agent_id"]
        .clone();
    assert_eq!(offered_to, suzuki.agent_id());

    // suzuki declines: it goes to nobody else who qualifies yet (nakamura has level 1).
    let (s, _) = suzuki
        .post_empty(&format!("/api/contacts/{}/reject", c["id"]))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let after = sv.ok(&format!("/api/contacts/{}", c["id"])).await;
    assert_eq!(after["contact"]["status"], "queued");
    // An agent cannot see a contact they were never offered.
    let (s, _) = nakamura.get(&format!("/api/contacts/{}", c["id"])).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A supervisor cancels it.
    let (s, cancelled) = sv
        .post(
            &format!("/api/contacts/{}/end", c["id"]),
            json!({ "reason": "解決済み（別経路）" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    // The center's doing, not the customer's: interrupted (中断), in no rate.
    assert_eq!(cancelled["status"], "interrupted");
    assert!(ws_n
        .next_matching(|v| v["type"] == "offer", Duration::from_millis(300))
        .await
        .is_none());
    srv.stop().await;
}
on_both!(multi_agent_routing_through_the_api);

async fn no_answer_goes_to_the_next_agent_and_makes_the_agent_not_ready(
    kind: tsunagu_store::DbKind,
) {
    let mut srv = TestServer::demo(kind).await;
    let admin = srv.login("admin", ADMIN_PW).await;
    // A quick queue: 1 s no-answer, not-ready after 1 miss.
    let (s, q) = admin
        .post(
            "/api/queues",
            json!({ "name": "quick", "display_name": "テスト", "no_answer_timeout_secs": 1, "max_no_answers": 1, "wrap_up_secs": 0 }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let qid = q["id"].as_i64().unwrap();
    let agents = admin.ok("/api/agents").await;
    let id_of = |name: &str| {
        agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["username"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    for (name, pos) in [("tanaka", 1), ("ito", 2)] {
        let a = admin.ok(&format!("/api/agents/{}", id_of(name))).await;
        let mut queues: Vec<serde_json::Value> = a["queues"].as_array().unwrap().clone();
        queues.push(json!({ "queue_id": qid, "position": pos }));
        let (s, b) = admin
            .put(
                &format!("/api/agents/{}", id_of(name)),
                json!({ "capacity": a["capacity"], "skills": a["skills"], "queues": queues }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, _) = admin
        .put(
            &format!("/api/queues/{qid}"),
            json!({ "name": "quick", "display_name": "テスト", "strategy": "ordered",
        "no_answer_timeout_secs": 1, "max_no_answers": 1, "wrap_up_secs": 0 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let tanaka = srv.login("tanaka", AGENT_PW).await;
    let ito = srv.login("ito", AGENT_PW).await;
    tanaka.set_state("available").await;
    ito.set_state("available").await;
    let mut ws_ito = ito.ws().await;
    let (s, c) = admin
        .post("/api/contacts", json!({ "queue_id": qid }))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // tanaka (position 1) does not answer; after 1 s ito gets it.
    let offer = ws_ito.next_of("offer", Duration::from_secs(5)).await;
    assert_eq!(offer["contact"]["id"], c["id"]);
    let t = tanaka
        .ok(&format!("/api/agents/{}", tanaka.agent_id()))
        .await;
    assert_eq!(t["presence"], "not_ready");
    assert_eq!(t["reason"], "missed_offers");
    let detail = admin.ok(&format!("/api/contacts/{}", c["id"])).await;
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "created",
            "queued",
            "offered",
            "offer_timed_out",
            "requeued",
            "offered"
        ]
    );
    srv.stop().await;
}
on_both!(no_answer_goes_to_the_next_agent_and_makes_the_agent_not_ready);

async fn transfer_and_state_history(kind: tsunagu_store::DbKind) {
    let mut srv = TestServer::demo(kind).await;
    let sv = srv.login("sv", SV_PW).await;
    let sato = srv.login("sato", AGENT_PW).await;
    let ito = srv.login("ito", AGENT_PW).await;
    let orders = sv.queue_id("orders").await;
    let billing = sv.queue_id("billing").await;
    sato.set_state("available").await;
    let (_, c) = sv
        .post(
            "/api/contacts",
            json!({ "queue_id": orders, "subject": "請求の質問でした" }),
        )
        .await;
    let id = c["id"].clone();
    let (s, _) = sato.post_empty(&format!("/api/contacts/{id}/accept")).await;
    assert_eq!(s, StatusCode::OK);
    // sato hands it to billing with a note; she is free at once.
    let (s, t) = sato
        .post(
            &format!("/api/contacts/{id}/transfer"),
            json!({ "queue_id": billing, "note": "請求額の確認をお願いします" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["status"], "queued");
    assert_eq!(t["queue_id"], billing);
    assert_eq!(
        t["queued_at"], c["queued_at"],
        "keeps its original arrival time"
    );
    let me = sato.ok(&format!("/api/agents/{}", sato.agent_id())).await;
    assert_eq!(me["status"], "available");
    // ito (billing) goes available and gets it, with the handover note in the detail.
    let mut ws = ito.ws().await;
    ito.set_state("available").await;
    let offer = ws.next_of("offer", Duration::from_secs(5)).await;
    assert_eq!(offer["contact"]["id"], id);
    let detail = sv.ok(&format!("/api/contacts/{id}")).await;
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.windows(2).any(|w| w == ["transferred", "queued"]),
        "{kinds:?}"
    );
    assert_eq!(detail["notes"][0]["body"], "請求額の確認をお願いします");
    // sato can still read the contact she handled.
    let (s, _) = sato.get(&format!("/api/contacts/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    // An agent cannot transfer a contact that is not theirs.
    let (s, _) = sato
        .post(
            &format!("/api/contacts/{id}/transfer"),
            json!({ "queue_id": orders }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // State history: who changed what, newest first.
    let (s, _) = sv
        .post(
            &format!("/api/agents/{}/state", sato.agent_id()),
            json!({ "presence": "not_ready", "reason": "training" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let history = sato
        .ok(&format!("/api/agents/{}/states", sato.agent_id()))
        .await;
    let first = &history[0];
    assert_eq!(first["presence"], "not_ready");
    assert_eq!(first["reason"], "training");
    assert_eq!(first["changed_by"], sv.me["user"]["id"]);
    let statuses: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["available", "offered", "busy", "available", "not_ready"]
    );
    let (s, _) = ito
        .get(&format!("/api/agents/{}/states", sato.agent_id()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Logging out ends the live connection too.
    let (s, _) = ito.post_empty("/api/auth/logout").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        ws.closed_by_server(Duration::from_secs(5)).await,
        Some(4001)
    );
    srv.stop().await;
}
on_both!(transfer_and_state_history);
