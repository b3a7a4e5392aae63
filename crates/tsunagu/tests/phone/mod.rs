//! Real peers for the voice tests: the `tsunagu demo` binary with SIP, baresip as agents'
//! phones (registered with digest auth, answering by themselves, recording what they
//! hear), sipp as customers (RFC 4733 digits and recorded speech from pcaps), and WAV
//! analysis to tell who heard whom.

#![allow(dead_code)]

pub mod raw;
pub mod ua;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Client, ADMIN_PW, SV_PW};

pub const PHONE_PW: &str = tsunagu::demo::PHONE_PASSWORD;

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

/// A 16-bit 8 kHz mono WAV of a sine tone.
pub fn tone_wav(path: &Path, freq: f64, secs: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..8000 * secs {
        let v = 0.3 * (2.0 * std::f64::consts::PI * freq * f64::from(i) / 8000.0).sin();
        w.write_sample((v * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// baresip as an agent's phone.
pub struct Phone {
    child: Child,
    pub dir: tempfile::TempDir,
    pub user: String,
    ctrl: u16,
}

impl Drop for Phone {
    // SIGKILL: baresip would spend half a minute unregistering otherwise.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Phone {
    /// Registers `user` with the demo; answers by itself unless `auto_answer` is false.
    /// It speaks a tone of `freq` Hz.
    #[allow(clippy::zombie_processes)]
    pub async fn start(
        demo: &Demo,
        user: &str,
        password: &str,
        freq: f64,
        auto_answer: bool,
    ) -> Phone {
        Phone::start_over(demo, user, password, freq, auto_answer, false).await
    }

    /// Like `start`, registering (and taking calls) over TLS.
    pub async fn start_tls(demo: &Demo, user: &str, password: &str, freq: f64) -> Phone {
        Phone::start_over(demo, user, password, freq, true, true).await
    }

    async fn start_over(
        demo: &Demo,
        user: &str,
        password: &str,
        freq: f64,
        auto_answer: bool,
        tls: bool,
    ) -> Phone {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("rec")).unwrap();
        tone_wav(&d.join("voice.wav"), freq, 120);
        let sip = free_port();
        let ctrl = free_port();
        let (lo, hi) = rtp_range(40);
        let mut cfg = std::fs::File::create(d.join("config")).unwrap();
        writeln!(
            cfg,
            "sip_listen 127.0.0.1:{sip}\naudio_player aubridge,nil\naudio_source aufile,{voice}\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\n\
             module sndfile.so\nmodule ctrl_tcp.so\nmodule_app menu.so\nmodule_tmp uuid.so\nmodule_tmp account.so\n\
             snd_path {rec}\nctrl_tcp_listen 127.0.0.1:{ctrl}\nrtp_ports {lo}-{hi}\n",
            voice = d.join("voice.wav").display(),
            rec = d.join("rec").display(),
        )
        .unwrap();
        let mode = if auto_answer { "auto" } else { "manual" };
        let (server, transport) = match (&demo.sip_tls, tls) {
            (Some((addr, cert)), true) => {
                // Trust the demo's self-signed certificate.
                writeln!(cfg, "sip_cafile {}", cert.display()).unwrap();
                (addr.clone(), "tls")
            }
            (None, true) => panic!("the demo was started without TLS"),
            _ => (demo.sip.clone(), "udp"),
        };
        drop(cfg);
        std::fs::write(
            d.join("accounts"),
            format!(
                "<sip:{user}@{server};transport={transport}>;auth_user={user};auth_pass={password};answermode={mode};outbound=\"sip:{server};transport={transport}\";regint=60;audio_codecs=PCMU,PCMA\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("log")).unwrap();
        let child = Command::new("baresip")
            .args(["-f", &d.display().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip is installed (./scripts/test installs it)");
        Phone {
            child,
            dir,
            user: user.into(),
            ctrl,
        }
    }

    /// Waits until the registrar has the phone (as seen through the API).
    pub async fn registered(&self, admin: &Client, agent_id: i64) {
        for _ in 0..100 {
            let v = admin.ok(&format!("/api/agents/{agent_id}/phone")).await;
            if v["registrations"].as_array().is_some_and(|r| !r.is_empty()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} did not register: {}", self.user, self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// A ctrl_tcp command (netstring-framed JSON).
    pub async fn command(&self, command: &str, params: &str) {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.ctrl))
            .await
            .expect("baresip ctrl");
        let body = json!({ "command": command, "params": params, "token": "t" }).to_string();
        s.write_all(format!("{}:{},", body.len(), body).as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
    }

    /// What the phone heard, per call (files of its sndfile recordings).
    pub fn heard(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("rec"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        v.sort();
        v
    }
}

/// A sipp customer, built step by step.
pub struct Caller {
    steps: Vec<String>,
    from: String,
    echo: bool,
    /// How many calls sipp places, and at what rate per second.
    repeat: (u32, u32),
}

pub const SPEECH_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

impl Caller {
    pub fn new(from: &str) -> Caller {
        Caller {
            steps: Vec::new(),
            from: from.into(),
            echo: false,
            repeat: (1, 10),
        }
    }

    /// Echo whatever it hears back (so what reached the caller shows up in recordings).
    pub fn echo(mut self) -> Caller {
        self.echo = true;
        self
    }

    /// Places `calls` calls of this script at `rate` per second (all must succeed).
    pub fn repeat(mut self, calls: u32, rate: u32) -> Caller {
        self.repeat = (calls, rate);
        self
    }

    pub fn pause(mut self, ms: u64) -> Caller {
        self.steps.push(format!("<pause milliseconds=\"{ms}\"/>"));
        self
    }

    /// An RFC 4733 digit.
    pub fn digit(mut self, d: char) -> Caller {
        let name = match d {
            '*' => "star".to_string(),
            '#' => "pound".to_string(),
            d => d.to_string(),
        };
        self.steps.push(format!(
            "<nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_{name}.pcap\"/></action></nop>\n<pause milliseconds=\"600\"/>"
        ));
        self
    }

    /// A digit sent as SIP INFO (application/dtmf-relay) instead of RTP.
    pub fn info_digit(mut self, d: char) -> Caller {
        let from = &self.from;
        self.steps.push(format!(
            "<send retrans=\"500\"><![CDATA[\nINFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n\
             Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
             From: \"Customer\" <sip:{from}@[local_ip]:[local_port]>;tag=[pid]T[call_number]\n\
             To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]\n\
             Call-ID: [call_id]\nCSeq: {{CSEQ}} INFO\nContact: sip:{from}@[local_ip]:[local_port]\nMax-Forwards: 70\n\
             Content-Type: application/dtmf-relay\nContent-Length: [len]\n\nSignal={d}\r\nDuration=160\r\n]]></send>\n\
             <recv response=\"200\"/>\n<pause milliseconds=\"300\"/>"
        ));
        self
    }

    /// About 8 s of recorded speech.
    pub fn speak(mut self) -> Caller {
        self.steps.push(format!(
            "<nop><action><exec play_pcap_audio=\"{SPEECH_PCAP}\"/></action></nop>\n<pause milliseconds=\"8200\"/>"
        ));
        self
    }

    fn scenario(&self, hang_up: bool) -> String {
        let from = &self.from;
        let head = |method: &str, cseq: &str| {
            format!(
                "{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n\
                 Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
                 From: \"Customer\" <sip:{from}@[local_ip]:[local_port]>;tag=[pid]T[call_number]\n\
                 To: <sip:[service]@[remote_ip]:[remote_port]>{peer}\n\
                 Call-ID: [call_id]\nCSeq: {cseq}\nContact: sip:{from}@[local_ip]:[local_port]\nMax-Forwards: 70\n",
                peer = if method == "INVITE" { "" } else { "[peer_tag_param]" }
            )
        };
        let mut x = String::from(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"customer\">\n",
        );
        x += &format!(
            "<send retrans=\"500\"><![CDATA[\n{}Content-Type: application/sdp\nContent-Length: [len]\n\n\
             v=0\no=c 1 1 IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[local_ip_type] [local_ip]\nt=0 0\n\
             m=audio [auto_media_port] RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n\n]]></send>\n",
            head("INVITE", "1 INVITE")
        );
        x += "<recv response=\"100\" optional=\"true\"/>\n<recv response=\"180\" optional=\"true\"/>\n<recv response=\"183\" optional=\"true\"/>\n<recv response=\"200\" rtd=\"true\"/>\n";
        x += &format!(
            "<send><![CDATA[\n{}Content-Length: 0\n\n]]></send>\n",
            head("ACK", "1 ACK")
        );
        // In-dialog requests (INFO digits, then BYE) number their CSeq from 2.
        let mut cseq = 2;
        for s in &self.steps {
            if s.contains("{CSEQ}") {
                x += &s.replace("{CSEQ}", &cseq.to_string());
                cseq += 1;
            } else {
                x += s;
            }
            x += "\n";
        }
        if hang_up {
            x += &format!("<send retrans=\"500\"><![CDATA[\n{}Content-Length: 0\n\n]]></send>\n<recv response=\"200\"/>\n", head("BYE", &format!("{cseq} BYE")));
        } else {
            x += "<recv request=\"BYE\" timeout=\"60000\"/>\n<send><![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n";
        }
        x += "</scenario>\n";
        x
    }

    /// Calls `number` at the demo; the caller hangs up at the end (or, with
    /// `hang_up: false`, waits for the center to hang up). Returns sipp's exit code.
    pub async fn call(&self, demo: &Demo, number: &str, hang_up: bool) -> i32 {
        self.call_at(&demo.sip, number, hang_up).await
    }

    pub async fn call_at(&self, sip: &str, number: &str, hang_up: bool) -> i32 {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("customer.xml");
        std::fs::write(&file, self.scenario(hang_up)).unwrap();
        let port = free_port();
        let media = rtp_range(10).0;
        let mut cmd = tokio::process::Command::new("sipp");
        cmd.args([
            "-sf",
            &file.display().to_string(),
            "-s",
            number,
            sip,
            "-m",
            &self.repeat.0.to_string(),
            "-r",
            &self.repeat.1.to_string(),
            "-i",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &port.to_string(),
            "-mp",
            &media.to_string(),
            "-nostdin",
            "-timeout",
            "120s",
            "-timeout_error",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if self.echo {
            cmd.arg("-rtp_echo");
        }
        cmd.arg("-trace_err");
        let status = cmd
            .status()
            .await
            .expect("sipp is installed (./scripts/test installs it)");
        let code = status.code().unwrap_or(-1);
        if code != 0 {
            // sipp's account of what went wrong, for the test's output.
            for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
                if e.file_name().to_string_lossy().contains("errors") {
                    eprintln!(
                        "sipp errors:\n{}",
                        std::fs::read_to_string(e.path()).unwrap_or_default()
                    );
                }
            }
        }
        code
    }
}

/// Samples of one channel of a WAV as f64 in [-1, 1].
pub fn channel(path: &Path, ch: usize) -> Vec<f64> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let n = spec.channels as usize;
    r.samples::<i16>()
        .enumerate()
        .filter(|(i, _)| i % n == ch)
        .map(|(_, s)| f64::from(s.unwrap()) / 32768.0)
        .collect()
}

pub fn rms(s: &[f64]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|x| x * x).sum::<f64>() / s.len() as f64).sqrt()
}

/// Amplitude of the `freq` Hz component (Goertzel), comparable to `rms` of a pure tone
/// (a tone of RMS r gives about r).
pub fn tone(s: &[f64], freq: f64) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in s {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    (2.0 * power).sqrt() / s.len() as f64
}

/// A window of samples, in seconds.
pub fn window(s: &[f64], from: f64, to: f64) -> &[f64] {
    let a = ((from * 8000.0) as usize).min(s.len());
    let b = ((to * 8000.0) as usize).min(s.len());
    &s[a..b]
}

/// sipp as the carrier behind the trunk: it answers the calls the center places (after
/// ringing), echoes their audio, and waits for the center's BYE. Every message is kept.
pub struct Carrier {
    pub port: u16,
    dir: tempfile::TempDir,
    child: tokio::process::Child,
}

impl Carrier {
    /// Takes `calls` calls, then exits.
    pub fn start(calls: u32) -> Carrier {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carrier.xml");
        std::fs::write(&file, CARRIER_SCENARIO).unwrap();
        let port = free_port();
        let media = rtp_range(10).0;
        let child = tokio::process::Command::new("sipp")
            .args(["-sf", &file.display().to_string(), "-m", &calls.to_string()])
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media.to_string(), "-rtp_echo", "-nostdin"])
            .args([
                "-timeout",
                "120s",
                "-timeout_error",
                "-trace_msg",
                "-trace_err",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("sipp is installed (./scripts/test installs it)");
        Carrier { port, dir, child }
    }

    /// Waits for sipp to finish its calls; returns its exit code.
    pub async fn finish(&mut self, within: Duration) -> i32 {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(s) => s.unwrap().code().unwrap_or(-1),
            Err(_) => {
                let _ = self.child.kill().await;
                -2
            }
        }
    }

    /// Every message sipp sent and received so far.
    pub fn messages(&self) -> String {
        let mut all = String::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with("_messages.log") || name.ends_with("_errors.log") {
                all += &std::fs::read_to_string(e.path()).unwrap_or_default();
            }
        }
        all
    }

    /// The request lines and From headers of the INVITEs that reached the carrier.
    pub fn invites(&self) -> Vec<(String, String)> {
        let text = self.messages();
        let mut out = Vec::new();
        let mut lines = text.lines().peekable();
        while let Some(l) = lines.next() {
            if l.starts_with("INVITE ") {
                let mut from = String::new();
                for h in lines.by_ref() {
                    if h.trim().is_empty() {
                        break;
                    }
                    if h.to_ascii_lowercase().starts_with("from:") {
                        from = h.to_string();
                    }
                }
                out.push((l.to_string(), from));
            }
        }
        out
    }
}

const CARRIER_SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier">
<recv request="INVITE" crlf="true"/>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]C[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:carrier@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
<pause milliseconds="400"/>
<send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]C[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:carrier@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=carrier 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000

]]></send>
<recv request="ACK" rtd="true" crlf="true"/>
<recv request="BYE" timeout="90000"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"#;
