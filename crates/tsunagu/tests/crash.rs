//! Crash test: the real binary is killed (SIGKILL) with contacts queued, offered and in
//! progress, started again, and shown to have lost nothing, with every open contact
//! routable again. Also: SIGTERM shuts down gracefully. On SQLite and PostgreSQL.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tsunagu_store::testdb::TestDb;

struct Binary {
    child: Child,
    base: String,
}

impl Drop for Binary {
    // A failing test must not leave a server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[allow(clippy::zombie_processes)] // `Binary`'s Drop waits for the child.
async fn spawn(url: &str, port: u16) -> Binary {
    let child = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .args([
            "serve",
            "--database",
            url,
            "--http",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TSUNAGU_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tsunagu");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Binary { child, base };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tsunagu did not come up on {base}");
}

async fn contact(c: &Client, id: &Value) -> Value {
    c.ok(&format!("/api/contacts/{id}")).await
}

async fn status_of(c: &Client, id: &Value) -> String {
    contact(c, id).await["contact"]["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn create(c: &Client, queue: i64, subject: &str) -> Value {
    let (s, b) = c
        .post(
            "/api/contacts",
            json!({ "queue_id": queue, "subject": subject }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

async fn nothing_lost_after_sigkill(kind: tsunagu_store::DbKind) {
    let db = TestDb::new(kind).await;
    {
        let store = db.open().await.unwrap();
        tsunagu::demo::seed_if_empty(&store).await.unwrap();
        store.close().await;
    }
    let port = free_port();
    let mut bin = spawn(&db.url, port).await;

    let sv = Client::login(&bin.base, None, "sv", SV_PW).await;
    let sato = Client::login(&bin.base, None, "sato", AGENT_PW).await;
    let ito = Client::login(&bin.base, None, "ito", AGENT_PW).await;
    let tanaka = Client::login(&bin.base, None, "tanaka", AGENT_PW).await;
    let orders = sv.queue_id("orders").await;
    let support = sv.queue_id("support").await;
    let billing = sv.queue_id("billing").await;

    // In progress: ito works on a billing contact.
    ito.set_state("available").await;
    let working = create(&sv, billing, "請求書の再発行").await;
    let (s, _) = ito
        .post_empty(&format!("/api/contacts/{}/accept", working["id"]))
        .await;
    assert_eq!(s, StatusCode::OK);
    // Offered: sato is ringing for the first orders contact; the second waits.
    sato.set_state("available").await;
    let offered = create(&sv, orders, "注文A").await;
    assert_eq!(offered["status"], "offered");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let waiting = create(&sv, orders, "注文B").await;
    assert_eq!(waiting["status"], "queued");
    // Queued with nobody to take it: support.
    let support_waiting = create(&sv, support, "接続不良").await;
    assert_eq!(support_waiting["status"], "queued");
    let before: Vec<Value> = [&working, &offered, &waiting, &support_waiting]
        .iter()
        .map(|c| c["queued_at"].clone())
        .collect();

    // Crash.
    bin.child.kill().expect("SIGKILL");
    bin.child.wait().unwrap();

    let mut bin = spawn(&db.url, port).await;
    // Sessions are durable too: the same tokens work.
    assert_eq!(
        status_of(&sv, &working["id"]).await,
        "connected",
        "work in progress stays with its agent"
    );
    let ito_state = ito.ok(&format!("/api/agents/{}", ito.agent_id())).await;
    assert_eq!(ito_state["status"], "busy");

    // The contact that was ringing was requeued at its original place and, sato still being
    // available, offered to her again.
    let d = contact(&sv, &offered["id"]).await;
    let kinds: Vec<&str> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"recovered"), "{kinds:?}");
    assert_eq!(d["contact"]["status"], "offered");
    assert_eq!(*kinds.last().unwrap(), "offered");
    for (c, q) in [&working, &offered, &waiting, &support_waiting]
        .iter()
        .zip(&before)
    {
        assert_eq!(
            &contact(&sv, &c["id"]).await["contact"]["queued_at"],
            q,
            "original arrival time kept"
        );
    }
    assert_eq!(status_of(&sv, &waiting["id"]).await, "queued");
    assert_eq!(status_of(&sv, &support_waiting["id"]).await, "queued");

    // Everything is routable again.
    let (s, _) = sato
        .post_empty(&format!("/api/contacts/{}/accept", offered["id"]))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = sato
        .post(
            &format!("/api/contacts/{}/wrap-up", offered["id"]),
            json!({ "disposition": "order_placed" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        status_of(&sv, &waiting["id"]).await,
        "offered",
        "the next orders contact goes to sato"
    );
    tanaka.set_state("available").await;
    assert_eq!(status_of(&sv, &support_waiting["id"]).await, "offered");
    let (s, _) = ito
        .post(
            &format!("/api/contacts/{}/wrap-up", working["id"]),
            json!({ "disposition": "invoice_resent" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(status_of(&sv, &working["id"]).await, "completed");

    // Graceful shutdown on SIGTERM: exits cleanly.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(bin.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = bin.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit 15 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");

    // And after that clean stop, the state is still all there.
    let mut bin = spawn(&db.url, port).await;
    assert_eq!(status_of(&sv, &waiting["id"]).await, "offered");
    bin.child.kill().unwrap();
    bin.child.wait().unwrap();
}
on_both!(nothing_lost_after_sigkill);
