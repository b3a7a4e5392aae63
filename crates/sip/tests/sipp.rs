//! The SIP shell against sipp, a real SIP peer: an inbound call is answered and hung up;
//! registration needs the right digest; garbage is answered 400 or dropped.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tsunagu_sip::*;

struct TestDirectory;

impl Directory for TestDirectory {
    fn account(&self, username: &str) -> BoxFuture<'static, Option<SipAccount>> {
        let found = (username == "agent1").then(|| SipAccount {
            tenant_id: 1,
            agent_id: 7,
            ha1: digest::ha1("agent1", "tsunagu", "secret"),
        });
        Box::pin(async move { found })
    }
    fn trunk(&self, source: SocketAddr, _called: &str) -> BoxFuture<'static, Option<TrunkMatch>> {
        let ok = source.ip().is_loopback();
        Box::pin(async move {
            ok.then(|| TrunkMatch {
                tenant_id: 1,
                trunk: "test".into(),
            })
        })
    }
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn server() -> (SipHandle, tokio::sync::mpsc::Receiver<SipEvent>, u16) {
    server_with(EVENT_QUEUE).await
}

async fn server_with(
    event_queue: usize,
) -> (SipHandle, tokio::sync::mpsc::Receiver<SipEvent>, u16) {
    let port = free_port();
    let config = SipConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        tls: None,
        realm: "tsunagu".into(),
        nonce_secret: "test".into(),
        user_agent: "tsunagu-test".into(),
        event_queue,
    };
    let (h, rx) = start(config, Arc::new(TestDirectory)).await.unwrap();
    (h, rx, port)
}

fn sipp(args: &[&str]) -> std::process::Child {
    Command::new("sipp")
        .args(args)
        .args([
            "-nostdin",
            "-i",
            "127.0.0.1",
            "-timeout",
            "20s",
            "-timeout_error",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp is installed (./scripts/test installs it)")
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

#[tokio::test]
async fn an_inbound_call_is_answered_and_ended_by_the_caller() {
    let (h, mut rx, port) = server().await;
    let target = format!("127.0.0.1:{port}");
    let local = free_port().to_string();
    let mut child = sipp(&[
        "-sn",
        "uac",
        &target,
        "-m",
        "1",
        "-p",
        &local,
        "-s",
        "0312345678",
        "-d",
        "500",
    ]);
    let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let SipEvent::Incoming {
        leg,
        called,
        offer,
        tenant_id,
        ..
    } = ev
    else {
        panic!("{ev:?}")
    };
    assert_eq!(called, "0312345678");
    assert_eq!(tenant_id, 1);
    assert!(offer.unwrap().contains("m=audio"));
    h.ringing(leg);
    h.answer(leg, SDP.into());
    let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ev,
        SipEvent::Ended {
            leg,
            cause: EndCause::Bye
        }
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "sipp saw a complete call");
    h.shutdown();
}

#[tokio::test]
async fn we_can_hang_up_an_answered_call() {
    let (h, mut rx, port) = server().await;
    let target = format!("127.0.0.1:{port}");
    let local = free_port().to_string();
    // The built-in uas scenario answers; here we play the caller's role towards it instead:
    // sipp as UAC waits 10 s before BYE, we hang up first. sipp fails the call (unexpected
    // BYE), which is what we want to see: our BYE arrived.
    let mut child = sipp(&[
        "-sn", "uac", &target, "-m", "1", "-p", &local, "-d", "10000",
    ]);
    let SipEvent::Incoming { leg, .. } = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap()
    else {
        panic!()
    };
    h.answer(leg, SDP.into());
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.hangup(leg);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !status.success(),
        "sipp got our BYE in the middle of its pause"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "our own hangup is not reported back"
    );
    h.shutdown();
}

/// A headless baresip that registers as `user` with `password` and answers automatically.
struct Baresip {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL: it would spend 30 s unregistering otherwise
        let _ = self.child.wait();
    }
}

fn baresip(user: &str, password: &str, registrar_port: u16) -> Baresip {
    let dir = tempfile::tempdir().unwrap();
    let sip_port = free_port();
    let rtp = free_port();
    std::fs::write(
        dir.path().join("config"),
        format!(
            "sip_listen 127.0.0.1:{sip_port}\naudio_player aubridge,nil\naudio_source aubridge,nil\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aubridge.so\nmodule_app menu.so\n\
             module_tmp uuid.so\nmodule_tmp account.so\nrtp_ports {rtp}-{}\n",
            rtp + 20
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("accounts"),
        format!(
            "<sip:{user}@127.0.0.1>;auth_user={user};auth_pass={password};answermode=auto;\
             outbound=\"sip:127.0.0.1:{registrar_port};transport=udp\";regint=60;audio_codecs=PCMU,PCMA\n"
        ),
    )
    .unwrap();
    let child = Command::new("baresip")
        .arg("-f")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip is installed (./scripts/test installs it)");
    Baresip { child, _dir: dir }
}

#[tokio::test]
async fn a_phone_registers_with_digest_and_we_call_it() {
    let (h, mut rx, port) = server().await;
    let _phone = baresip("agent1", "secret", port);
    let ev = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ev,
        SipEvent::Registered {
            tenant_id: 1,
            agent_id: 7,
            username: "agent1".into(),
            bindings: 1
        }
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let bindings = h.registrar().lookup("agent1", now);
    assert_eq!(bindings.len(), 1);
    h.dial(
        1,
        DialTarget::from_binding(&bindings[0]),
        "0312345678",
        Some("山田 太郎"),
        SDP.into(),
    );
    let mut answered = None;
    while answered.is_none() {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            SipEvent::Ringing { leg: 1 } => {}
            SipEvent::Answered { leg: 1, answer } => answered = Some(answer),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        answered.unwrap().unwrap().contains("m=audio"),
        "the phone answered with SDP"
    );
    h.hangup(1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.shutdown();
}

#[tokio::test]
async fn a_phone_with_the_wrong_password_is_refused() {
    let (h, mut rx, port) = server().await;
    let _phone = baresip("agent1", "wrong", port);
    assert!(
        tokio::time::timeout(Duration::from_secs(4), rx.recv())
            .await
            .is_err(),
        "no registration"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(h.registrar().lookup("agent1", now).is_empty());
    h.shutdown();
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_refused() {
    // Regression: a UDP INVITE cut short (Content-Length larger than the body) used to be
    // answered as if whole. It must be refused (400) or dropped, never reported as a call.
    let (_h, mut rx, port) = server().await;
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = sock.local_addr().unwrap().port();
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    for cut in [20, SDP.len() - 5] {
        let body = &SDP[..SDP.len() - cut];
        let msg = format!(
            "INVITE sip:100@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-cl{cut}\r\n\
             From: <sip:a@127.0.0.1:{local}>;tag=1\r\nTo: <sip:100@127.0.0.1:{port}>\r\nCall-ID: cl{cut}@test\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:a@127.0.0.1:{local}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            SDP.len()
        );
        sock.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 4096];
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(text.starts_with("SIP/2.0 400"), "cut {cut}: {text}");
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(300), rx.recv())
                .await
                .is_err(),
            "cut {cut}: no call may be reported"
        );
    }
}

/// Sends an INVITE from a socket of its own; returns the socket to read the answers from.
fn raw_invite(port: u16, id: &str) -> std::net::UdpSocket {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = sock.local_addr().unwrap().port();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let msg = format!(
        "INVITE sip:100@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{id}\r\n\
         From: <sip:a@127.0.0.1:{local}>;tag={id}\r\nTo: <sip:100@127.0.0.1:{port}>\r\nCall-ID: {id}@test\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:a@127.0.0.1:{local}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    );
    sock.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
    sock
}

/// The first final answer on the socket (or None when none came in the read timeout).
fn final_answer(sock: &std::net::UdpSocket) -> Option<String> {
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if !text.starts_with("SIP/2.0 1") {
            return Some(text);
        }
    }
    None
}

#[tokio::test]
async fn a_new_call_is_refused_with_503_while_the_shell_is_behind() {
    // Regression (fault kind: unbounded voice-path channels): events for the shell piled up
    // without limit. With room for two events and nobody reading them, the third INVITE must
    // be refused with 503 and Retry-After — and not reported — while the first two wait.
    let (h, mut rx, port) = server_with(2).await;
    let first = raw_invite(port, "ov1");
    let second = raw_invite(port, "ov2");
    // Both admitted: their events are queued (read below), so room is gone.
    for _ in 0..50 {
        if h.open_legs() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let third = raw_invite(port, "ov3");
    let answer = tokio::task::spawn_blocking(move || final_answer(&third))
        .await
        .unwrap()
        .expect("the third INVITE is answered");
    assert!(answer.starts_with("SIP/2.0 503"), "{answer}");
    assert!(answer.contains("Retry-After: 5"), "{answer}");
    assert_eq!(h.refused_overload(), 1);
    let mut calls = Vec::new();
    while let Ok(Some(SipEvent::Incoming { call_id, .. })) =
        tokio::time::timeout(Duration::from_millis(300), rx.recv()).await
    {
        calls.push(call_id);
    }
    assert_eq!(
        calls,
        ["ov1@test", "ov2@test"],
        "only the admitted calls are reported"
    );
    // With room again, a new call is taken.
    let fourth = raw_invite(port, "ov4");
    let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert!(
        matches!(ev, Ok(Some(SipEvent::Incoming { ref call_id, .. })) if call_id == "ov4@test"),
        "{ev:?}"
    );
    drop((first, second, fourth));
    h.shutdown();
}
