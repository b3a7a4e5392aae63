//! Issue 7, fault kind 1 (a run-time change must not break live calling): renaming or
//! deleting a queue or a skill that a stored flow names used to be accepted, and from then
//! on every call entering that flow failed its check and was refused. Such a change is now
//! refused with 409 naming the flows; once no flow names it, it goes through.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;
use tsunagu_store::DbKind;

const FLOW: &str = r#"
name = "claims"
start = "q"
language = "ja"

[nodes.q]
type = "queue"
queue = "claims"
announce_secs = 0
requirements = [{ skill = "insurance", steps = [[0, 1]] }]
"#;

const OTHER: &str = r#"
name = "claims"
start = "q"
language = "ja"

[nodes.q]
type = "queue"
queue = "support"
announce_secs = 0
"#;

fn refused(r: (StatusCode, serde_json::Value), kind: &str) {
    assert_eq!(r.0, StatusCode::CONFLICT, "{}", r.1);
    let m = r.1["message"].as_str().unwrap_or_default();
    assert!(
        m.contains(kind) && m.contains("claims"),
        "names the {kind} and the flow: {m}"
    );
}

#[tokio::test]
async fn queues_and_skills_named_by_flows_are_not_renamed_or_deleted() {
    let srv = TestServer::demo_with_telephony(DbKind::Sqlite).await;
    let admin = srv.login("admin", common::ADMIN_PW).await;
    let (s, q) = admin
        .post(
            "/api/queues",
            json!({ "name": "claims", "display_name": "保険金請求" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let queue = q["id"].as_i64().unwrap();
    let (s, k) = admin
        .post(
            "/api/skills",
            json!({ "name": "insurance", "display_name": "保険" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let skill = k["id"].as_i64().unwrap();
    let (s, b) = admin
        .put("/api/flows/claims", json!({ "source": FLOW }))
        .await;
    assert!(s.is_success(), "{b}");

    // Named by the flow: refused, and nothing changed.
    refused(
        admin
            .put(
                &format!("/api/queues/{queue}"),
                json!({ "name": "claims2", "display_name": "保険金請求" }),
            )
            .await,
        "queue",
    );
    refused(admin.delete(&format!("/api/queues/{queue}")).await, "queue");
    refused(
        admin
            .put(
                &format!("/api/skills/{skill}"),
                json!({ "name": "insurance2", "display_name": "保険" }),
            )
            .await,
        "skill",
    );
    refused(admin.delete(&format!("/api/skills/{skill}")).await, "skill");
    assert_eq!(admin.queue_id("claims").await, queue);
    let skills = admin.ok("/api/skills").await;
    assert!(
        skills
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "insurance"),
        "{skills}"
    );
    // The flow still checks (calls entering it still work).
    let (s, b) = admin.get("/api/flows/claims").await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Other changes to the queue are fine while it is named.
    let (s, b) = admin
        .put(
            &format!("/api/queues/{queue}"),
            json!({ "name": "claims", "display_name": "請求" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Once the flow names neither, both go through.
    let (s, b) = admin
        .put("/api/flows/claims", json!({ "source": OTHER }))
        .await;
    assert!(s.is_success(), "{b}");
    let (s, b) = admin
        .put(
            &format!("/api/queues/{queue}"),
            json!({ "name": "claims2", "display_name": "請求" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = admin.delete(&format!("/api/skills/{skill}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
}
