//! A SIP user agent of raw text over UDP, for tests that must write every request
//! themselves: re-INVITEs with and without SDP, ACKs carrying an answer, INFO bodies of any
//! type, REFERs with any Refer-To, and an agent's phone that registers with digest, answers
//! and reads the NOTIFYs a REFER brings. Nothing clever: what is sent is what the test wrote.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

/// A SIP message as received.
#[derive(Clone, Debug)]
pub struct Msg {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub from: SocketAddr,
}

impl Msg {
    fn parse(raw: &str, from: SocketAddr) -> Msg {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Msg {
            start,
            headers,
            body: body.to_string(),
            from,
        }
    }

    /// The status code of a response.
    pub fn code(&self) -> Option<u16> {
        self.start
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3)?.parse().ok())
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        (!self.start.starts_with("SIP/2.0")).then(|| self.start.split(' ').next().unwrap_or(""))
    }

    /// The first header named `name` (long or compact form, any case).
    pub fn h(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let compact = match name.as_str() {
            "content-type" => "c",
            "to" => "t",
            "from" => "f",
            "call-id" => "i",
            "contact" => "m",
            "event" => "o",
            "via" => "v",
            _ => "",
        };
        self.headers
            .iter()
            .find(|(k, _)| *k == name || (!compact.is_empty() && k == compact))
            .map(|(_, v)| v.as_str())
    }

    pub fn cseq_method(&self) -> String {
        self.h("cseq")
            .and_then(|c| c.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string()
    }

    pub fn cseq(&self) -> u32 {
        self.h("cseq")
            .and_then(|c| c.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The tag parameter of a From or To header.
    pub fn tag(&self, header: &str) -> Option<String> {
        let v = self.h(header)?;
        let i = v.find(";tag=")?;
        Some(v[i + 5..].split([';', ' ', '>']).next()?.to_string())
    }

    /// The URI of the Contact header.
    pub fn contact_uri(&self) -> Option<String> {
        let v = self.h("contact")?;
        let inner = v
            .split_once('<')
            .map_or(v, |(_, r)| r.split('>').next().unwrap_or(r));
        Some(inner.to_string())
    }

    /// The payload types of the body's m=audio line.
    pub fn sdp_pts(&self) -> Vec<u8> {
        self.body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .map(|l| {
                l.split_whitespace()
                    .skip(2)
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The RTP address the body's SDP names.
    pub fn sdp_addr(&self) -> Option<SocketAddr> {
        let port: u16 = self
            .body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))?
            .split(' ')
            .next()?
            .parse()
            .ok()?;
        let ip = self
            .body
            .lines()
            .find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?
            .trim();
        Some(SocketAddr::new(ip.parse().ok()?, port))
    }
}

/// An SDP offer or answer for one audio stream at 127.0.0.1:`port`.
pub fn sdp(port: u16, pts: &[u8], direction: &str, ip: &str) -> String {
    let mut s = format!(
        "v=0\r\no=- 7 {port} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {}\r\n",
        pts.iter().map(u8::to_string).collect::<Vec<_>>().join(" ")
    );
    for pt in pts {
        match pt {
            0 => s += "a=rtpmap:0 PCMU/8000\r\n",
            8 => s += "a=rtpmap:8 PCMA/8000\r\n",
            18 => s += "a=rtpmap:18 G729/8000\r\n",
            101 => s += "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
            _ => {}
        }
    }
    s + &format!("a={direction}\r\n")
}

fn branch() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "z9hG4bK-ua{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One UDP endpoint; messages that no one waited for yet are kept in `inbox`.
pub struct Ua {
    sock: UdpSocket,
    pub addr: SocketAddr,
    pub server: SocketAddr,
    pub inbox: Vec<Msg>,
}

impl Ua {
    pub async fn bind(server: &str) -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        Ua {
            sock,
            addr,
            server: server.parse().unwrap(),
            inbox: Vec::new(),
        }
    }

    pub async fn send(&self, text: &str, to: SocketAddr) {
        self.sock.send_to(text.as_bytes(), to).await.unwrap();
    }

    /// The first message (kept or arriving within `within`) that `pred` accepts.
    pub async fn wait(&mut self, within: Duration, pred: impl Fn(&Msg) -> bool) -> Option<Msg> {
        if let Some(i) = self.inbox.iter().position(&pred) {
            return Some(self.inbox.remove(i));
        }
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Ok(Ok((n, from))) = tokio::time::timeout(left, self.sock.recv_from(&mut buf)).await
            else {
                return None;
            };
            let m = Msg::parse(&String::from_utf8_lossy(&buf[..n]), from);
            if pred(&m) {
                return Some(m);
            }
            self.inbox.push(m);
        }
    }

    /// The final response to the request with CSeq `cseq` and `method`.
    pub async fn final_response(
        &mut self,
        method: &str,
        cseq: u32,
        within: Duration,
    ) -> Option<Msg> {
        let method = method.to_string();
        self.wait(within, |m| {
            m.code().is_some_and(|c| c >= 200) && m.cseq_method() == method && m.cseq() == cseq
        })
        .await
    }

    /// A response to `req` (its Via, From, To — with `to_tag` — Call-ID and CSeq).
    pub fn response(&self, req: &Msg, code: u16, reason: &str, to_tag: &str, body: &str) -> String {
        let mut r = format!("SIP/2.0 {code} {reason}\r\n");
        for (k, v) in &req.headers {
            if k == "via" || k == "v" {
                r += &format!("Via: {v}\r\n");
            }
        }
        let to = req.h("to").unwrap_or_default();
        let to = if to.contains(";tag=") || to_tag.is_empty() {
            to.to_string()
        } else {
            format!("{to};tag={to_tag}")
        };
        r += &format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:ua@{}>\r\n",
            req.h("from").unwrap_or_default(),
            req.h("call-id").unwrap_or_default(),
            req.h("cseq").unwrap_or_default(),
            self.addr
        );
        if !body.is_empty() {
            r += "Content-Type: application/sdp\r\n";
        }
        r + &format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    /// Answers `req` with 200 and no body.
    pub async fn ok(&self, req: &Msg) {
        let r = self.response(req, 200, "OK", "", "");
        self.send(&r, req.from).await;
    }
}

/// A dialog from one side: who we are, who the peer is, where its requests go.
pub struct Dialog {
    pub call_id: String,
    pub local: String,
    pub local_tag: String,
    pub remote: String,
    pub remote_tag: String,
    pub target: String,
    pub cseq: u32,
    /// Where requests are sent.
    pub dest: SocketAddr,
    /// The branch of the last request sent (an ACK of a non-2xx reuses the INVITE's).
    pub branch: String,
}

impl Dialog {
    /// A request in the dialog (a new CSeq unless `ACK`, which takes `ack_cseq`).
    pub fn request(
        &mut self,
        ua: &Ua,
        method: &str,
        headers: &str,
        ctype: &str,
        body: &str,
    ) -> (String, u32) {
        let branch = branch();
        self.request_on(ua, method, headers, ctype, body, &branch)
    }

    fn request_on(
        &mut self,
        ua: &Ua,
        method: &str,
        headers: &str,
        ctype: &str,
        body: &str,
        branch: &str,
    ) -> (String, u32) {
        if method != "ACK" {
            self.cseq += 1;
            self.branch = branch.to_string();
        }
        let remote_tag = if self.remote_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={}", self.remote_tag)
        };
        let ctype = if body.is_empty() {
            String::new()
        } else {
            format!("Content-Type: {ctype}\r\n")
        };
        let text = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: {local};tag={ltag}\r\nTo: {remote}{remote_tag}\r\n\
             Call-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:ua@{addr}>\r\n{headers}\
             {ctype}Content-Length: {len}\r\n\r\n{body}",
            target = self.target,
            addr = ua.addr,
            local = self.local,
            ltag = self.local_tag,
            remote = self.remote,
            cid = self.call_id,
            cseq = self.cseq,
            len = body.len(),
        );
        (text, self.cseq)
    }

    /// Sends a request and waits for its final response (resending it over UDP until one
    /// comes).
    pub async fn send(
        &mut self,
        ua: &mut Ua,
        method: &str,
        headers: &str,
        ctype: &str,
        body: &str,
    ) -> Msg {
        let (text, cseq) = self.request(ua, method, headers, ctype, body);
        for _ in 0..10 {
            ua.send(&text, self.dest).await;
            if let Some(r) = ua
                .final_response(method, cseq, Duration::from_millis(800))
                .await
            {
                return r;
            }
        }
        panic!("no final response to {method}");
    }

    /// The ACK of a final response to the last INVITE: of a 2xx (a new transaction, with
    /// `body` as the answer if any), or of a non-2xx (the INVITE's own transaction).
    pub async fn ack_of(&mut self, ua: &Ua, response: &Msg, body: &str) {
        if response.code().is_some_and(|c| c >= 300) {
            let saved = self.cseq;
            self.cseq = response.cseq();
            let branch = self.branch.clone();
            let (text, _) = self.request_on(ua, "ACK", "", "application/sdp", "", &branch);
            self.cseq = saved;
            ua.send(&text, self.dest).await;
        } else {
            self.ack(ua, response.cseq(), body).await;
        }
    }

    /// The ACK of the INVITE with CSeq `cseq` (a 2xx), with `body` as the answer if any.
    pub async fn ack(&mut self, ua: &Ua, cseq: u32, body: &str) {
        let saved = self.cseq;
        self.cseq = cseq;
        let (text, _) = self.request(ua, "ACK", "", "application/sdp", body);
        self.cseq = saved;
        ua.send(&text, self.dest).await;
    }
}

/// A caller: INVITE `to` at the demo with `offer` (empty: no SDP), the final response and
/// the dialog. The ACK is the test's to send (it may carry the answer).
pub async fn invite(ua: &mut Ua, from: &str, to: &str, offer: &str) -> (Dialog, Msg) {
    invite_typed(ua, from, to, "application/sdp", offer).await
}

/// [`invite`] with a body of any content type (a SIP-I multipart body, a wrong type).
pub async fn invite_typed(
    ua: &mut Ua,
    from: &str,
    to: &str,
    ctype: &str,
    body: &str,
) -> (Dialog, Msg) {
    let server = ua.server;
    let mut d = Dialog {
        call_id: format!("{}-{}@ua", std::process::id(), ua.addr.port()),
        local: format!("<sip:{from}@{}>", ua.addr),
        local_tag: format!("ua{}", ua.addr.port()),
        remote: format!("<sip:{to}@{server}>"),
        remote_tag: String::new(),
        target: format!("sip:{to}@{server}"),
        cseq: 0,
        dest: server,
        branch: String::new(),
    };
    let r = d.send(ua, "INVITE", "", ctype, body).await;
    if r.code() == Some(200) {
        d.remote_tag = r.tag("to").expect("a To tag");
        if let Some(c) = r.contact_uri() {
            d.target = c;
        }
    }
    (d, r)
}

/// A phone registered as `user` (digest, as the demo's accounts want).
pub async fn register(ua: &mut Ua, user: &str, password: &str) {
    let server = ua.server;
    let uri = format!("sip:{server}");
    let call_id = format!("reg-{}@ua", ua.addr.port());
    let addr = ua.addr;
    let req = |cseq: u32, auth: &str| {
        format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch={b};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:{user}@{server}>;tag=r{port}\r\nTo: <sip:{user}@{server}>\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{addr}>\r\nExpires: 300\r\n{auth}Content-Length: 0\r\n\r\n",
            port = addr.port(),
            b = branch(),
        )
    };
    ua.send(&req(1, ""), server).await;
    let challenge = ua
        .final_response("REGISTER", 1, Duration::from_secs(3))
        .await
        .expect("a challenge");
    assert_eq!(challenge.code(), Some(401));
    let www = challenge.h("www-authenticate").unwrap().to_string();
    let param = |name: &str| {
        let i = www.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        www[i..].split('"').next().unwrap().to_string()
    };
    let (realm, nonce) = (param("realm"), param("nonce"));
    let ha1 = tsunagu_sip::digest::ha1(user, &realm, password);
    let response =
        tsunagu_sip::digest::client_response(&ha1, "REGISTER", &uri, &nonce, "00000001", "c0ffee");
    let auth = format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n"
    );
    ua.send(&req(2, &auth), server).await;
    let ok = ua
        .final_response("REGISTER", 2, Duration::from_secs(3))
        .await
        .expect("registered");
    assert_eq!(ok.code(), Some(200), "{ok:?}");
}

/// Answers an INVITE the phone received with 200 and `answer`; returns the phone's side of
/// the dialog once the ACK came.
pub async fn answer(ua: &mut Ua, invite: &Msg, answer: &str) -> Dialog {
    let tag = format!("ph{}", ua.addr.port());
    let ok = ua.response(invite, 200, "OK", &tag, answer);
    let cseq = invite.cseq();
    for _ in 0..10 {
        ua.send(&ok, invite.from).await;
        if ua
            .wait(Duration::from_millis(500), |m| {
                m.method() == Some("ACK") && m.cseq() == cseq
            })
            .await
            .is_some()
        {
            return Dialog {
                call_id: invite.h("call-id").unwrap().to_string(),
                local: invite.h("to").unwrap().to_string(),
                local_tag: tag,
                remote: invite
                    .h("from")
                    .unwrap()
                    .split(";tag=")
                    .next()
                    .unwrap()
                    .to_string(),
                remote_tag: invite.tag("from").unwrap(),
                target: invite.contact_uri().unwrap(),
                cseq: 100,
                dest: invite.from,
                branch: String::new(),
            };
        }
    }
    panic!("no ACK for the phone's 200");
}
