//! The `tsunagu demo` binary under test: started, restarted, logged in to, asked and waited on.

use super::*;

/// A port free for both UDP and TCP on loopback.
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Disjoint RTP port ranges for the processes of one test run: each test process takes a
/// window of its own below the kernel's ephemeral ports (32768 and up on Linux), where no
/// socket bound to port 0 — an HTTP client's, a resolver's — can take one of them, and hands
/// out consecutive ranges in it (wrapping around after the window).
pub fn rtp_range(size: u16) -> (u16, u16) {
    const BASE: u32 = 10_000;
    const WINDOW: u32 = 2_500;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let size = u32::from(size);
    let window = BASE + (std::process::id() % 8) * WINDOW;
    let mut off = NEXT.fetch_add(size, Ordering::Relaxed) % WINDOW;
    if off + size > WINDOW {
        off = 0;
    }
    // Even start: RTP on even ports, RTCP on the next odd one.
    let start = (window + off) & !1;
    (start as u16, (start + size - 2) as u16)
}

pub struct Demo {
    child: Child,
    /// When the server was started (Unix ms): calls after it are the test's.
    pub started_ms: i64,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub sip: String,
    pub sip_port: u16,
    /// The RTP port range the server was given (first, last).
    pub rtp_ports: (u16, u16),
    /// The TLS address and the certificate phones trust (with `DemoOptions::tls`).
    pub sip_tls: Option<(String, PathBuf)>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Default)]
pub struct DemoOptions {
    pub carrier: Option<u16>,
    /// Also listen for SIP over TLS, with a self-signed certificate made for the test.
    pub tls: bool,
    /// `--max-calls` (the server's default when None).
    pub max_calls: Option<u32>,
}

impl Demo {
    pub async fn start() -> Demo {
        Demo::start_with(DemoOptions::default()).await
    }

    #[allow(clippy::zombie_processes)] // Drop waits for the child.
    pub async fn start_with(o: DemoOptions) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        Demo::spawn(dir, o).await
    }

    #[allow(clippy::zombie_processes)] // Drop waits for the child.
    async fn spawn(dir: tempfile::TempDir, o: DemoOptions) -> Demo {
        let started_ms = jiff::Timestamp::now().as_millisecond();
        let http = free_port();
        let sip_port = free_port();
        let (lo, hi) = rtp_range(400);
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut args = vec![
            "demo".to_string(),
            "--data".into(),
            dir.path().join("data").display().to_string(),
            "--http".into(),
            format!("127.0.0.1:{http}"),
            "--sip".into(),
            format!("127.0.0.1:{sip_port}"),
            "--rtp-ports".into(),
            format!("{lo}-{hi}"),
        ];
        if let Some(n) = o.max_calls {
            args.push("--max-calls".into());
            args.push(n.to_string());
        }
        if let Some(c) = o.carrier {
            args.push("--carrier".into());
            args.push(format!("127.0.0.1:{c}"));
        }
        let sip_tls = if o.tls {
            let (cert, key) = (dir.path().join("sip.crt"), dir.path().join("sip.key"));
            let ok = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ])
                .args([
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl is installed")
                .success();
            assert!(ok, "openssl made a certificate");
            let port = free_port();
            args.extend([
                "--sip-tls".into(),
                format!("127.0.0.1:{port}"),
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                key.display().to_string(),
            ]);
            Some((format!("127.0.0.1:{port}"), cert))
        } else {
            None
        };
        let child = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
            .args(&args)
            .env("RUST_LOG", "info,rsipstack=warn,sqlx=warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tsunagu");
        let base = format!("http://127.0.0.1:{http}");
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Demo {
                    child,
                    started_ms,
                    dir,
                    base,
                    sip: format!("127.0.0.1:{sip_port}"),
                    sip_port,
                    rtp_ports: (lo, hi),
                    sip_tls,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "tsunagu demo did not come up; log:\n{}",
            std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// Kills the server (SIGKILL) and starts it again on the same data and ports.
    pub async fn restart_after_kill(self) -> Demo {
        let mut me = self;
        let _ = me.child.kill();
        let _ = me.child.wait();
        me.respawn().await
    }

    /// Stops the server with SIGTERM (it shuts down gracefully) and starts it again.
    pub async fn restart_after_sigterm(self) -> Demo {
        let mut me = self;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(me.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = tokio::task::spawn_blocking({
            let mut child = std::mem::replace(&mut me.child, Command::new("true").spawn().unwrap());
            move || child.wait()
        })
        .await
        .unwrap()
        .unwrap();
        assert!(
            status.success(),
            "graceful shutdown exits 0: {status:?}\n{}",
            me.log()
        );
        me.respawn().await
    }

    async fn respawn(self) -> Demo {
        let mut me = self;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(me.dir.path().join("server.log"))
            .unwrap();
        let http: u16 = me.base.rsplit(':').next().unwrap().parse().unwrap();
        let (lo, hi) = rtp_range(400);
        me.rtp_ports = (lo, hi);
        let child = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
            .args([
                "demo",
                "--data",
                &me.dir.path().join("data").display().to_string(),
                "--http",
                &format!("127.0.0.1:{http}"),
                "--sip",
                &me.sip,
                "--rtp-ports",
                &format!("{lo}-{hi}"),
            ])
            .env("RUST_LOG", "info,rsipstack=warn,sqlx=warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("restart tsunagu");
        me.child = child;
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if client
                .get(format!("{}/healthz", me.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return me;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("tsunagu did not come back");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub async fn login(&self, user: &str, pw: &str) -> Client {
        Client::login(&self.base, None, user, pw).await
    }

    pub async fn admin(&self) -> Client {
        self.login("admin", ADMIN_PW).await
    }

    pub async fn sv(&self) -> Client {
        self.login("sv", SV_PW).await
    }

    /// Replaces the flow every number reaches with `source` (faster IVRs for tests).
    pub async fn use_flow(&self, name: &str, source: &str) {
        let admin = self.admin().await;
        let (s, b) = admin
            .put(&format!("/api/flows/{name}"), json!({ "source": source }))
            .await;
        assert!(s.is_success(), "flow {name}: {b}");
        let (s, b) = admin.put("/api/numbers/*", json!({ "flow": name })).await;
        assert!(s.is_success(), "{b}");
    }

    /// Changes some settings of a queue (by name).
    pub async fn tune_queue(&self, name: &str, changes: Value) -> i64 {
        let admin = self.admin().await;
        let id = admin.queue_id(name).await;
        let mut q = admin.ok(&format!("/api/queues/{id}")).await;
        for (k, v) in changes.as_object().unwrap() {
            q[k] = v.clone();
        }
        let body = json!({
            "name": q["name"], "display_name": q["display_name"], "strategy": q["strategy"],
            "priority": q["priority"], "service_level": q["service_level"],
            "max_wait_secs": q["max_wait_secs"], "overflow_queue_id": q["overflow_queue_id"],
            "wrap_up_secs": q["wrap_up_secs"], "no_answer_timeout_secs": q["no_answer_timeout_secs"],
            "max_no_answers": q["max_no_answers"], "requirements": q["requirements"], "record_calls": q["record_calls"],
        });
        let (s, b) = admin.put(&format!("/api/queues/{id}"), body).await;
        assert!(s.is_success(), "queue {name}: {b}");
        id
    }

    /// The contact of the most recent call since `since` (Unix ms; waits for one).
    pub async fn call_since(&self, c: &Client, since: i64) -> Value {
        for _ in 0..200 {
            let list = c.ok("/api/contacts?limit=50").await;
            let found = list.as_array().unwrap().iter().find(|x| {
                x["channel"] == "voice"
                    && x["direction"] == "inbound"
                    && x["created_at"]
                        .as_str()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .is_some_and(|t| t.as_millisecond() >= since)
            });
            if let Some(v) = found {
                return v.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no call arrived; log:\n{}", self.log());
    }

    /// Waits until the contact reaches `status`; returns it with its timeline.
    pub async fn wait_status(&self, c: &Client, id: i64, status: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let v = c.ok(&format!("/api/contacts/{id}")).await;
            if v["contact"]["status"] == status {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "contact {id} never became {status}: {v:#}\nlog:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Demo {
    /// Waits until the contact's timeline has `n` events of `kind` (some, like the RTP
    /// figures, are written just after the call ends).
    pub async fn wait_events(&self, c: &Client, id: i64, kind: &str, n: usize) -> Value {
        for _ in 0..100 {
            let v = c.ok(&format!("/api/contacts/{id}")).await;
            if events(&v, kind).len() >= n {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("contact {id}: fewer than {n} {kind} events");
    }
}

impl Demo {
    /// Today's KPI figures of the queue `name` (GET /api/kpi/realtime).
    pub async fn queue_today(&self, c: &Client, name: &str) -> Value {
        let id = c.queue_id(name).await;
        let kpi = c.ok("/api/kpi/realtime").await;
        kpi["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue_id"] == id)
            .unwrap_or_else(|| panic!("no queue {name} in {kpi:#}"))["today"]
            .clone()
    }
}

/// The kinds of a contact's timeline, in order.
pub fn kinds(contact: &Value) -> Vec<String> {
    contact["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

pub fn events<'a>(contact: &'a Value, kind: &str) -> Vec<&'a Value> {
    contact["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}
