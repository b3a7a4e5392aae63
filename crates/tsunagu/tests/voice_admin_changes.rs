//! Configuration changed while calls go on. Every admin change that reaches a tenant —
//! its settings, queues, skills, agents, users, phone accounts, not-ready reasons,
//! dispositions, flows and numbers — is made while a real caller (sipp) waits in a queue,
//! and again while the call is connected to an agent's phone (baresip). The caller must
//! keep waiting (no abandon counted, offered when an agent frees up) and the conversation
//! must go on untouched. Regression: `PUT /api/tenant` used to run crash recovery, closing
//! every waiting caller as `abandoned / server_restart` while they still heard music.

mod common;
mod phone;

use std::time::Duration;

use phone::*;
use serde_json::{json, Value};

use common::{Client, AGENT_PW};

const STRAIGHT_TO_SUPPORT: &str =
    "name = \"straight\"\nstart = \"q\"\nlanguage = \"ja\"\n\n[nodes.q]\ntype = \"queue\"\nqueue = \"support\"\nannounce_secs = 0\n";

/// Makes one change of every kind an admin can make, and checks each was accepted.
async fn change_everything(admin: &Client, round: u32, talking_agent: Option<i64>) {
    let ok = |what: &str, (s, b): (reqwest::StatusCode, Value)| {
        assert!(s.is_success(), "round {round}, {what}: {s} {b}");
        b
    };
    // Tenant settings, including the priority step that ranks waiting contacts.
    let t = admin.ok("/api/tenant").await;
    let mut body = json!({});
    for k in [
        "name",
        "time_zone",
        "default_region",
        "short_abandon_secs",
        "priority_step_secs",
    ] {
        body[k] = t[k].clone();
    }
    body["priority_step_secs"] = json!(t["priority_step_secs"].as_i64().unwrap() + 7);
    body["name"] = json!(format!("つなぐ デモセンター {round}"));
    ok("tenant", admin.put("/api/tenant", body).await);

    // The caller's own queue and another one.
    for name in ["support", "orders"] {
        let id = admin.queue_id(name).await;
        let q = admin.ok(&format!("/api/queues/{id}")).await;
        let body = json!({
            "name": q["name"], "display_name": format!("{} {round}", q["display_name"].as_str().unwrap()),
            "strategy": q["strategy"], "priority": q["priority"], "service_level": q["service_level"],
            "max_wait_secs": q["max_wait_secs"], "overflow_queue_id": q["overflow_queue_id"],
            "wrap_up_secs": q["wrap_up_secs"], "no_answer_timeout_secs": q["no_answer_timeout_secs"],
            "max_no_answers": q["max_no_answers"], "requirements": q["requirements"],
            "record_calls": q["record_calls"],
        });
        ok("queue", admin.put(&format!("/api/queues/{id}"), body).await);
    }

    // A new skill, and a renamed one.
    let skill = ok(
        "new skill",
        admin
            .post(
                "/api/skills",
                json!({ "name": format!("korean{round}"), "display_name": "韓国語" }),
            )
            .await,
    );
    let skills = admin.ok("/api/skills").await;
    let first = &skills.as_array().unwrap()[0];
    ok(
        "skill",
        admin
            .put(
                &format!("/api/skills/{}", first["id"]),
                json!({ "name": first["name"], "display_name": format!("{} {round}", first["display_name"].as_str().unwrap()) }),
            )
            .await,
    );

    // Agents' profiles (the agent on the call too, when there is one): one more skill.
    let agents = admin.ok("/api/agents").await;
    for a in agents.as_array().unwrap() {
        let id = a["id"].as_i64().unwrap();
        if a["username"] != "tanaka" && Some(id) != talking_agent {
            continue;
        }
        let mut skills: Vec<Value> = a["skills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| json!({ "skill_id": s["skill_id"], "level": s["level"] }))
            .collect();
        skills.push(json!({ "skill_id": skill["id"], "level": 3 }));
        let body = json!({
            "extension": a["extension"],
            "capacity": a["capacity"],
            "skills": skills,
            "queues": a["queues"],
        });
        ok("agent", admin.put(&format!("/api/agents/{id}"), body).await);
        // Their user record too (display name).
        let user = a["user_id"].as_i64().unwrap();
        let users = admin.ok("/api/users").await;
        let u = users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == user)
            .unwrap();
        ok(
            "user",
            admin
                .put(
                    &format!("/api/users/{user}"),
                    json!({ "display_name": u["display_name"], "role": u["role"] }),
                )
                .await,
        );
    }

    // Wrap-up codes, not-ready reasons, a flow and a number, a phone account.
    let support = admin.queue_id("support").await;
    ok(
        "disposition",
        admin
            .post(
                "/api/dispositions",
                json!({ "queue_id": support, "code": format!("resolved_{round}"), "name": "Resolved", "name_ja": "解決" }),
            )
            .await,
    );
    ok(
        "reason",
        admin
            .put(
                &format!("/api/reasons/meeting{round}"),
                json!({ "name": "Meeting", "name_ja": "会議" }),
            )
            .await,
    );
    ok(
        "flow",
        admin
            .put(
                "/api/flows/straight",
                json!({ "source": format!("{STRAIGHT_TO_SUPPORT}# round {round}\n") }),
            )
            .await,
    );
    ok(
        "number",
        admin
            .put(
                &format!("/api/numbers/99{round}"),
                json!({ "flow": "straight" }),
            )
            .await,
    );
    let tanaka = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "tanaka")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    ok(
        "phone account",
        admin
            .put(
                &format!("/api/agents/{tanaka}/phone"),
                json!({ "username": "tanaka", "password": format!("tanaka-phone-{round}") }),
            )
            .await,
    );
}

fn no_event(contact: &Value, kinds_not_wanted: &[&str]) {
    let k = kinds(contact);
    for bad in kinds_not_wanted {
        assert!(!k.iter().any(|x| x == bad), "{bad} in {k:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_keep_waiting_and_connected_calls_where_they_are() {
    let demo = Demo::start().await;
    demo.use_flow("straight", STRAIGHT_TO_SUPPORT).await;
    let admin = demo.admin().await;
    let sv = demo.sv().await;
    let suzuki = demo.login("suzuki", AGENT_PW).await;
    let phone = Phone::start(&demo, "suzuki", PHONE_PW, 1000.0, true).await;
    phone.registered(&admin, suzuki.agent_id()).await;

    let before = demo.queue_today(&sv, "support").await;
    let started = jiff::Timestamp::now().as_millisecond();
    // The caller waits, talks, and hangs up after 14 s in all.
    let caller = Caller::new("0312345678").pause(14_000);
    let call = tokio::spawn({
        let sip = demo.sip.clone();
        async move { caller.call_at(&sip, "0501234567", true).await }
    });
    let c = demo.call_since(&sv, started).await;
    let id = c["id"].as_i64().unwrap();
    demo.wait_status(&sv, id, "queued", Duration::from_secs(10))
        .await;

    // Nobody is available: every change is made while the caller waits.
    change_everything(&admin, 1, None).await;
    let v = sv.ok(&format!("/api/contacts/{id}")).await;
    assert_eq!(v["contact"]["status"], "queued", "{v:#}");
    no_event(&v, &["abandoned", "recovered", "ended"]);

    // The caller is still routed: offered to the agent who becomes available.
    suzuki.set_state("available").await;
    demo.wait_status(&sv, id, "connected", Duration::from_secs(10))
        .await;

    // Every change again, with the call connected (the agent's own profile included).
    change_everything(&admin, 2, Some(suzuki.agent_id())).await;
    let v = sv.ok(&format!("/api/contacts/{id}")).await;
    assert_eq!(v["contact"]["status"], "connected", "{v:#}");
    no_event(&v, &["abandoned", "recovered", "ended", "hangup"]);

    // The caller hangs up as planned: the call ended normally, talked all along.
    assert_eq!(call.await.unwrap(), 0, "sipp; log:\n{}", demo.log());
    let v = demo
        .wait_status(&sv, id, "wrap_up", Duration::from_secs(10))
        .await;
    assert_eq!(v["contact"]["end_reason"], "caller:bye", "{v:#}");
    no_event(&v, &["abandoned", "recovered"]);
    let hangup = events(&v, "hangup");
    assert_eq!(hangup.len(), 1, "{v:#}");
    assert_eq!(hangup[0]["data"]["talked"], true);

    // The figures: one more call offered and answered in support, no abandon.
    let after = demo.queue_today(&sv, "support").await;
    let delta = |k: &str| after[k].as_i64().unwrap() - before[k].as_i64().unwrap();
    assert_eq!(delta("offered"), 1, "{before:#} -> {after:#}");
    assert_eq!(delta("answered"), 1, "{before:#} -> {after:#}");
    assert_eq!(delta("abandoned"), 0, "{before:#} -> {after:#}");
}
