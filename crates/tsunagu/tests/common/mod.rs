//! Test harness: a real server (in-process or the real binary) on a fresh database, and a
//! small HTTP/WebSocket client.
#![allow(dead_code)]

pub mod schema;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tsunagu_api::{HttpConfig, RunningServer, ServerConfig};
use tsunagu_store::testdb::TestDb;
use tsunagu_store::{DbKind, Store};

pub const AGENT_PW: &str = tsunagu::demo::AGENT_PASSWORD;
pub const SV_PW: &str = tsunagu::demo::SUPERVISOR_PASSWORD;
pub const ADMIN_PW: &str = tsunagu::demo::ADMIN_PASSWORD;

pub struct TestServer {
    pub base: String,
    pub server: Option<RunningServer>,
    pub store: Store,
    pub db: TestDb,
}

impl TestServer {
    /// The demo center on a fresh database, served in-process on an ephemeral port.
    pub async fn demo(kind: DbKind) -> TestServer {
        let db = TestDb::new(kind).await;
        let store = db.open().await.expect("open store");
        tsunagu::demo::seed_if_empty(&store).await.expect("seed");
        TestServer::serve(db, store).await
    }

    pub async fn serve(db: TestDb, store: Store) -> TestServer {
        TestServer::serve_with(db, store, None).await
    }

    /// The demo center with telephony running in-process (SIP and RTP on loopback ports of
    /// its own; a trunk for the demo tenant without an outbound route), so the telephony
    /// endpoints answer as in production.
    pub async fn demo_with_telephony(kind: DbKind) -> TestServer {
        let db = TestDb::new(kind).await;
        let store = db.open().await.expect("open store");
        tsunagu::demo::seed_if_empty(&store).await.expect("seed");
        tsunagu::demo::ensure_voice(&store).await.expect("voice");
        let tenant = store
            .tenant_by_slug("demo")
            .await
            .unwrap()
            .expect("demo tenant");
        let sip_port = loop {
            let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = tcp.local_addr().unwrap().port();
            if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        // RTP ports of its own: per process, and per server within it — below the kernel's
        // ephemeral ports (32768 and up), which any socket bound to port 0 may take, and
        // apart from the phone tests' ranges (10000-29999).
        static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4;
        let rtp = 30_000 + (std::process::id() % 6) as u16 * 400 + n * 100;
        let dir =
            std::env::temp_dir().join(format!("tsunagu-walk-{}-{sip_port}", std::process::id()));
        let telephony = tsunagu_runtime::telephony::TelephonyConfig {
            sip_listen: ([127, 0, 0, 1], sip_port).into(),
            sip_tls: None,
            media_ip: [127, 0, 0, 1].into(),
            rtp_port_min: rtp,
            rtp_port_max: rtp + 98,
            trunks: vec![tsunagu_runtime::telephony::TrunkConfig {
                name: "walk".into(),
                tenant: tenant.slug.clone(),
                tenant_id: tenant.id,
                allow: vec![],
                outbound: None,
                domain: None,
                tcp: false,
                auth: None,
                caller_id: None,
                national: false,
                register: None,
                qualify_secs: 0,
                inbound_auth: None,
            }],
            recordings_dir: dir,
            prompts_dir: None,
            nonce_secret: "walk".into(),
            ring_timeout_secs: 30,
            rtp_timeout_secs: 60,
            max_calls: 100,
        };
        TestServer::serve_with(db, store, Some(telephony)).await
    }

    /// The demo center served with `clock` as the center's time.
    pub async fn demo_with_clock(
        kind: DbKind,
        clock: std::sync::Arc<dyn tsunagu_runtime::center::Clock>,
    ) -> TestServer {
        let db = TestDb::new(kind).await;
        let store = db.open().await.expect("open store");
        tsunagu::demo::seed_if_empty(&store).await.expect("seed");
        let config = ServerConfig {
            http_addr: "127.0.0.1:0".parse().unwrap(),
            http: HttpConfig::default(),
            telephony: None,
        };
        let server = tsunagu_api::start_with_clock(config, store.clone(), clock)
            .await
            .expect("start");
        TestServer {
            base: format!("http://{}", server.http_addr),
            server: Some(server),
            store,
            db,
        }
    }

    pub async fn serve_with(
        db: TestDb,
        store: Store,
        telephony: Option<tsunagu_runtime::telephony::TelephonyConfig>,
    ) -> TestServer {
        let http = HttpConfig {
            ws_recheck_ms: 200,
            ..HttpConfig::default()
        };
        let config = ServerConfig {
            http_addr: "127.0.0.1:0".parse().unwrap(),
            http,
            telephony,
        };
        let server = tsunagu_api::start(config, store.clone())
            .await
            .expect("start");
        let base = format!("http://{}", server.http_addr);
        TestServer {
            base,
            server: Some(server),
            store,
            db,
        }
    }

    pub async fn login(&self, username: &str, password: &str) -> Client {
        Client::login(&self.base, None, username, password).await
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
    pub me: Value,
}

impl Client {
    pub fn anonymous(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_string(),
            token: None,
            me: Value::Null,
        }
    }

    pub async fn login(base: &str, tenant: Option<&str>, username: &str, password: &str) -> Client {
        let c = Client::anonymous(base);
        let (status, body) = c
            .post(
                "/api/auth/login",
                json!({ "tenant": tenant, "username": username, "password": password }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        Client {
            token: Some(body["token"].as_str().unwrap().to_string()),
            me: body,
            ..c
        }
    }

    pub fn agent_id(&self) -> i64 {
        self.me["user"]["agent_id"].as_i64().expect("agent profile")
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn send(r: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = r.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        Self::send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::send(self.req(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        Self::send(self.req(reqwest::Method::POST, path)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::send(self.req(reqwest::Method::PUT, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        Self::send(self.req(reqwest::Method::DELETE, path)).await
    }

    /// GET that must succeed.
    pub async fn ok(&self, path: &str) -> Value {
        let (s, b) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {b}");
        b
    }

    pub async fn set_state(&self, presence: &str) -> Value {
        let (s, b) = self
            .post(
                &format!("/api/agents/{}/state", self.agent_id()),
                json!({ "presence": presence }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    pub async fn queue_id(&self, name: &str) -> i64 {
        let qs = self.ok("/api/queues").await;
        qs.as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == name)
            .unwrap_or_else(|| panic!("queue {name}"))["id"]
            .as_i64()
            .unwrap()
    }

    pub async fn ws(&self) -> Ws {
        let url = format!("{}/api/events", self.base.replace("http://", "ws://"));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token.as_ref().unwrap())
                .parse()
                .unwrap(),
        );
        let (stream, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket");
        let mut ws = Ws {
            stream,
            seen: Vec::new(),
        };
        let hello = ws.next_of("hello", Duration::from_secs(5)).await;
        assert!(hello["user"].is_object());
        ws
    }
}

pub struct Ws {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// Every event received, in order.
    pub seen: Vec<Value>,
}

impl Ws {
    /// The next event of this type (others are kept in `seen`).
    pub async fn next_of(&mut self, kind: &str, within: Duration) -> Value {
        self.next_matching(|v| v["type"] == kind, within)
            .await
            .unwrap_or_else(|| panic!("no {kind} event; saw {:?}", self.seen))
    }

    pub async fn next_matching(
        &mut self,
        f: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).expect("json event");
                self.seen.push(v.clone());
                if f(&v) {
                    return Some(v);
                }
            }
        }
    }

    /// Waits for the server to close the connection; returns the close code.
    pub async fn closed_by_server(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?
            {
                Some(Ok(Message::Close(frame))) => {
                    return Some(frame.map_or(1005, |f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                _ => return Some(1006),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.send(Message::Close(None)).await;
    }
}

/// Runs `f` against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(tsunagu_store::DbKind::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(tsunagu_store::DbKind::Postgres).await;
            }
        }
    };
}

/// A KPI report's figures that do not run on with the clock (agent time and occupancy do).
pub const VISIT_FIELDS: [&str; 19] = [
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "overflowed",
    "timed_out",
    "interrupted",
    "transferred_out",
    "in_queue",
    "answered_within_sl",
    "answer_rate",
    "abandon_rate",
    "service_level",
    "asa_secs",
    "handled",
    "aht_secs",
    "talk_secs",
    "hold_secs",
    "acw_secs",
];
