//! The center registers its trunk with a provider: sipp plays the provider's registrar,
//! challenging with 401 and checking our digest answer. Needs sipp (./scripts/test installs it).

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tsunagu_sip::{
    Directory, SipAccount, SipConfig, Transport, TrunkAuth, TrunkMatch, TrunkRegistration,
};

struct Nobody;

impl Directory for Nobody {
    fn account(&self, _: &str) -> BoxFuture<'static, Option<SipAccount>> {
        Box::pin(async { None })
    }
    fn trunk(&self, _: SocketAddr, _: &str) -> BoxFuture<'static, Option<TrunkMatch>> {
        Box::pin(async { None })
    }
}

const REGISTRAR: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar">
<recv request="REGISTER" crlf="true"/>
<send><![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]R[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="carrier.example", nonce="n[pid]x[call_number]", algorithm=MD5
Content-Length: 0

]]></send>
<recv request="REGISTER" crlf="true">
  <action>
    <ereg regexp="sip:trunk-user@[^>;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="contact"/>
    <verifyauth assign_to="authvalid" username="trunk-user" password="PASSWORD"/>
  </action>
</recv>
<nop hide="true" test="authvalid" next="good"/>
<send next="end"><![CDATA[
SIP/2.0 403 Forbidden
[last_Via:]
[last_From:]
[last_To:];tag=[pid]R[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<label id="good"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]R[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <[$contact]>;expires=120
Expires: 120
Content-Length: 0

]]></send>
<label id="end"/>
</scenario>
"#;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_port() -> u16 {
    loop {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// Registers with `password` against a registrar expecting "right-password"; returns the
/// trunk's status once it leaves "trying".
async fn register_with(password: &str) -> tsunagu_sip::TrunkRegistrationStatus {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registrar.xml");
    std::fs::write(&file, REGISTRAR.replace("PASSWORD", "right-password")).unwrap();
    let port = free_udp_port();
    let mut sipp = tokio::process::Command::new("sipp")
        .args([
            "-sf",
            &file.display().to_string(),
            "-m",
            "1",
            "-i",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &port.to_string(),
            "-nostdin",
            "-timeout",
            "30s",
            "-trace_err",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp is installed (./scripts/test installs it)");
    let (sip, _events) = tsunagu_sip::start(
        SipConfig {
            listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            tls: None,
            realm: "tsunagu".into(),
            nonce_secret: "test".into(),
            user_agent: "tsunagu-test".into(),
            event_queue: tsunagu_sip::EVENT_QUEUE,
        },
        Arc::new(Nobody),
    )
    .await
    .unwrap();
    // Give sipp a moment to bind.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sip.register_trunk(TrunkRegistration {
        trunk: "carrier".into(),
        domain: "carrier.example".into(),
        destination: format!("127.0.0.1:{port}").parse().unwrap(),
        transport: Transport::Udp,
        auth: TrunkAuth {
            username: "trunk-user".into(),
            password: password.into(),
        },
        expires: 300,
    });
    for _ in 0..100 {
        let s = sip.trunk_registrations();
        assert_eq!(s.len(), 1);
        if s[0].state != "trying" {
            let _ = tokio::time::timeout(Duration::from_secs(5), sipp.wait()).await;
            sip.shutdown();
            return s[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let errors: String = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("errors"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    panic!("no answer from the registrar; sipp: {errors}");
}

#[tokio::test]
async fn the_trunk_registers_with_digest_and_keeps_the_granted_expiry() {
    let s = register_with("right-password").await;
    assert_eq!(
        (s.state, s.code, s.expires),
        ("registered", 200, Some(120)),
        "{s:?}"
    );
}

#[tokio::test]
async fn a_wrong_trunk_password_is_reported_as_rejected() {
    let s = register_with("wrong-password").await;
    assert_eq!((s.state, s.code), ("rejected", 403), "{s:?}");
}

const OPTIONS_PEER: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="provider">
<recv request="OPTIONS" crlf="true"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]P[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"#;

async fn server() -> tsunagu_sip::SipHandle {
    tsunagu_sip::start(
        SipConfig {
            listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            tls: None,
            realm: "tsunagu".into(),
            nonce_secret: "test".into(),
            user_agent: "tsunagu-test".into(),
            event_queue: tsunagu_sip::EVENT_QUEUE,
        },
        Arc::new(Nobody),
    )
    .await
    .unwrap()
    .0
}

#[tokio::test]
async fn options_keep_alive_tells_whether_the_provider_answers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("provider.xml");
    std::fs::write(&file, OPTIONS_PEER).unwrap();
    let port = free_udp_port();
    let mut sipp = tokio::process::Command::new("sipp")
        .args([
            "-sf",
            &file.display().to_string(),
            "-m",
            "1",
            "-i",
            "127.0.0.1",
        ])
        .args(["-p", &port.to_string(), "-nostdin", "-timeout", "30s"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp is installed (./scripts/test installs it)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sip = server().await;
    let every = Duration::from_secs(60);
    sip.qualify_trunk(
        "up",
        "carrier.example",
        format!("127.0.0.1:{port}").parse().unwrap(),
        Transport::Udp,
        every,
    );
    // Nobody listens on this one.
    let silent = free_udp_port();
    sip.qualify_trunk(
        "down",
        "carrier.example",
        format!("127.0.0.1:{silent}").parse().unwrap(),
        Transport::Udp,
        every,
    );
    let mut health = Vec::new();
    for _ in 0..80 {
        health = sip.trunk_health();
        if health.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health.len(), 2, "{health:?}");
    assert_eq!(
        (health[0].trunk.as_str(), health[0].state, health[0].code),
        ("down", "unreachable", 0)
    );
    assert_eq!(
        (health[1].trunk.as_str(), health[1].state, health[1].code),
        ("up", "reachable", 200)
    );
    assert!(health[1].rtt_ms.is_some());
    let _ = tokio::time::timeout(Duration::from_secs(5), sipp.wait()).await;
    sip.shutdown();
}

/// A provider whose INVITEs come from addresses we do not list, authenticated by digest.
struct DigestTrunk;

impl Directory for DigestTrunk {
    fn account(&self, _: &str) -> BoxFuture<'static, Option<SipAccount>> {
        Box::pin(async { None })
    }
    fn trunk(&self, _: SocketAddr, _: &str) -> BoxFuture<'static, Option<TrunkMatch>> {
        Box::pin(async { None })
    }
    fn trunk_account(&self, username: &str) -> BoxFuture<'static, Option<(TrunkMatch, String)>> {
        let found = (username == "provider").then(|| {
            (
                TrunkMatch {
                    tenant_id: 1,
                    trunk: "carrier".into(),
                },
                tsunagu_sip::digest::ha1("provider", "tsunagu", "s3cret"),
            )
        });
        Box::pin(async move { found })
    }
    fn trunk_digest(&self) -> bool {
        true
    }
}

const PROVIDER_INVITE: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="provider">
<send retrans="500"><![CDATA[
INVITE sip:0501234567@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:0312345678@[local_ip]:[local_port]>;tag=[pid]P[call_number]
To: <sip:0501234567@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:0312345678@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="100" optional="true"/>
<recv response="407" auth="true"/>
<send><![CDATA[
ACK sip:0501234567@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
INVITE sip:0501234567@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:0312345678@[local_ip]:[local_port]>;tag=[pid]P[call_number]
To: <sip:0501234567@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 2 INVITE
Contact: sip:0312345678@[local_ip]:[local_port]
[authentication username=provider password=PASSWORD]
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="100" optional="true"/>
<recv response="FINAL"/>
<send><![CDATA[
ACK sip:0501234567@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 2 ACK
Content-Length: 0

]]></send>
</scenario>
"#;

/// The provider calls with `password`; returns sipp's exit code and the trunk the call was
/// taken for (if it was). A taken call is refused with 486 here.
async fn provider_calls(password: &str, expect: &str) -> (i32, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("provider.xml");
    std::fs::write(
        &file,
        PROVIDER_INVITE
            .replace("PASSWORD", password)
            .replace("FINAL", expect),
    )
    .unwrap();
    let port = free_port();
    let (sip, mut events) = tsunagu_sip::start(
        SipConfig {
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            tls: None,
            realm: "tsunagu".into(),
            nonce_secret: "test".into(),
            user_agent: "tsunagu-test".into(),
            event_queue: tsunagu_sip::EVENT_QUEUE,
        },
        Arc::new(DigestTrunk),
    )
    .await
    .unwrap();
    let mut sipp = tokio::process::Command::new("sipp")
        .args([
            "-sf",
            &file.display().to_string(),
            "-m",
            "1",
            "-i",
            "127.0.0.1",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-p",
            &free_udp_port().to_string(),
            "-nostdin",
            "-timeout",
            "20s",
            "-timeout_error",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp is installed");
    let mut taken = None;
    let code = loop {
        tokio::select! {
            ev = events.recv() => {
                if let Some(tsunagu_sip::SipEvent::Incoming { leg, trunk, .. }) = ev {
                    taken = Some(trunk);
                    sip.reject(leg, 486);
                }
            }
            status = sipp.wait() => break status.unwrap().code().unwrap_or(-1),
        }
    };
    sip.shutdown();
    (code, taken)
}

#[tokio::test]
async fn a_provider_authenticated_by_digest_gets_its_calls_through() {
    let (code, taken) = provider_calls("s3cret", "486").await;
    assert_eq!(
        code, 0,
        "challenged with 407, then taken (and refused busy here)"
    );
    assert_eq!(taken.as_deref(), Some("carrier"));
}

#[tokio::test]
async fn a_provider_with_the_wrong_password_is_refused() {
    let (code, taken) = provider_calls("guess", "403").await;
    assert_eq!(code, 0, "challenged with 407, then refused 403");
    assert_eq!(taken, None);
}
