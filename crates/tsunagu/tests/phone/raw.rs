//! A caller made of raw sockets, for tests that must control every RTP packet: one SIP
//! dialog over UDP (INVITE, ACK, BYE) and an RTP socket whose every packet the test writes,
//! plus strangers who send RTP to the center's ports without being in any SDP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

// ----- the little of RTP, G.711 and RFC 4733 the test peers need (written here, so the
// tests do not take the center's own codecs on trust)

/// An RTP packet: version 2, no CSRC or extension.
pub fn rtp_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt & 0x7F];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// (payload type, sequence number, payload) of an RTP packet.
pub fn rtp_parts(d: &[u8]) -> Option<(u8, u16, &[u8])> {
    (d.len() >= 12 && d[0] >> 6 == 2 && !(200..=204).contains(&d[1]))
        .then(|| (d[1] & 0x7F, u16::from_be_bytes([d[2], d[3]]), &d[12..]))
}

/// G.711 µ-law (ITU-T G.711, with the usual bias of 0x84).
pub fn ulaw_encode(pcm: i16) -> u8 {
    let sign = if pcm < 0 { 0x80 } else { 0 };
    let mag = (i32::from(pcm).abs().min(32635) + 0x84) as u32;
    let exp = (31 - mag.leading_zeros()).saturating_sub(7).min(7);
    let mant = (mag >> (exp + 3)) & 0x0F;
    !(sign | (exp << 4) as u8 | mant as u8)
}

pub fn ulaw_decode(b: u8) -> i16 {
    let b = !b;
    let exp = u32::from((b >> 4) & 7);
    let mant = i32::from(b & 0x0F);
    let mag = (((mant << 3) + 0x84) << exp) - 0x84;
    (if b & 0x80 != 0 { -mag } else { mag }) as i16
}

/// An RFC 4733 event payload.
fn event(digit: char, end: bool, duration: u16) -> [u8; 4] {
    let code = match digit {
        '*' => 10,
        '#' => 11,
        d => d.to_digit(10).unwrap() as u8,
    };
    let d = duration.to_be_bytes();
    [code, if end { 0x80 } else { 0 } | 10, d[0], d[1]]
}

/// One dialog with the demo, placed from a raw UDP socket.
pub struct RawCall {
    sip: UdpSocket,
    server: SocketAddr,
    call_id: String,
    from_tag: String,
    to: String,
    to_tag: String,
    cseq: u32,
    /// The center's RTP address for this call (from its SDP answer).
    pub media: SocketAddr,
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn branch() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "z9hG4bK-raw{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl RawCall {
    /// Calls `to` at the demo from `from`; the offer names `sdp_ip:rtp_port` (PCMU and
    /// telephone-event 101). Returns once the call is answered and acknowledged.
    pub async fn dial(server: &str, from: &str, to: &str, sdp_ip: &str, rtp_port: u16) -> RawCall {
        match RawCall::try_dial(server, from, to, sdp_ip, rtp_port).await {
            Ok(call) => call,
            Err(answer) => panic!("the call is not answered: {answer}"),
        }
    }

    /// Like [`RawCall::dial`], but a final answer other than 200 is returned as `Err`
    /// (the whole response, already acknowledged).
    pub async fn try_dial(
        server: &str,
        from: &str,
        to: &str,
        sdp_ip: &str,
        rtp_port: u16,
    ) -> Result<RawCall, String> {
        let sip = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = sip.local_addr().unwrap();
        let server: SocketAddr = server.parse().unwrap();
        let tag = format!("raw{}", local.port());
        let mut call = RawCall {
            sip,
            server,
            call_id: format!("{}-{}@raw", std::process::id(), local.port()),
            from_tag: tag,
            to: to.into(),
            to_tag: String::new(),
            cseq: 1,
            media: server,
        };
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {sdp_ip}\r\ns=-\r\nc=IN IP4 {sdp_ip}\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
        );
        let invite = call.request("INVITE", &branch(), &sdp, from);
        let mut answer = None;
        for _ in 0..20 {
            call.sip.send_to(invite.as_bytes(), server).await.unwrap();
            if let Some(ok) = call.wait_final("INVITE", Duration::from_millis(500)).await {
                answer = Some(ok);
                break;
            }
        }
        let ok = answer.expect("the INVITE is answered");
        if !ok.starts_with("SIP/2.0 200") {
            // A failure's ACK goes in the INVITE's transaction (same branch, To tag).
            let to_header = header(&ok, "To")
                .or_else(|| header(&ok, "t"))
                .unwrap_or_default();
            let ack = invite.replacen("INVITE sip:", "ACK sip:", 1).replacen(
                " INVITE\r\n",
                " ACK\r\n",
                1,
            );
            let ack = match ack.lines().find(|l| l.starts_with("To:")) {
                Some(to) => ack.replacen(to, &format!("To: {to_header}"), 1),
                None => ack,
            };
            let ack = match ack.split_once("\r\n\r\n") {
                Some((head, _)) => format!(
                    "{}\r\n\r\n",
                    head.replace("Content-Type: application/sdp\r\n", "")
                        .replacen(
                            &format!("Content-Length: {}", sdp.len()),
                            "Content-Length: 0",
                            1
                        )
                ),
                None => ack,
            };
            call.sip.send_to(ack.as_bytes(), server).await.unwrap();
            return Err(ok);
        }
        let to_header = header(&ok, "To").or_else(|| header(&ok, "t")).unwrap();
        call.to_tag = to_header
            .split(";tag=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let body = ok.split("\r\n\r\n").nth(1).unwrap_or_default();
        let port: u16 = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("SDP answer with a port");
        let ip = body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))
            .unwrap()
            .trim();
        call.media = SocketAddr::new(ip.parse().unwrap(), port);
        let ack = call.request("ACK", &branch(), "", from);
        call.sip.send_to(ack.as_bytes(), server).await.unwrap();
        Ok(call)
    }

    fn request(&self, method: &str, branch: &str, body: &str, from: &str) -> String {
        let local = self.sip.local_addr().unwrap();
        let to_tag = if self.to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={}", self.to_tag)
        };
        let cseq = if method == "ACK" { 1 } else { self.cseq };
        let ctype = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} sip:{to}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             From: <sip:{from}@{local}>;tag={ftag}\r\nTo: <sip:{to}@{server}>{to_tag}\r\n\
             Call-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:{from}@{local}>\r\n\
             Max-Forwards: 70\r\n{ctype}Content-Length: {len}\r\n\r\n{body}",
            to = self.to,
            server = self.server,
            ftag = self.from_tag,
            cid = self.call_id,
            len = body.len()
        )
    }

    /// Waits for the final response to `method`, answering the server's own requests.
    async fn wait_final(&self, method: &str, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Ok(Ok((n, from))) = tokio::time::timeout(left, self.sip.recv_from(&mut buf)).await
            else {
                return None;
            };
            let msg = String::from_utf8_lossy(&buf[..n])
                .replace("\r\n", "\n")
                .replace('\n', "\r\n");
            if msg.starts_with("SIP/2.0 ") {
                let cseq = header(&msg, "CSeq").unwrap_or_default();
                let code: u16 = msg[8..11].parse().unwrap_or(0);
                if cseq.ends_with(method) && code >= 200 {
                    return Some(msg);
                }
            } else {
                self.answer_request(&msg, from).await;
            }
        }
    }

    /// 200 OK to a request from the server (a BYE, a re-INVITE's offer is not expected).
    async fn answer_request(&self, msg: &str, from: SocketAddr) {
        let mut r = String::from("SIP/2.0 200 OK\r\n");
        for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for l in msg.lines() {
                if l.split(':')
                    .next()
                    .is_some_and(|k| k.trim().eq_ignore_ascii_case(h))
                {
                    r += l;
                    r += "\r\n";
                }
            }
        }
        r += "Content-Length: 0\r\n\r\n";
        let _ = self.sip.send_to(r.as_bytes(), from).await;
    }

    /// Hangs up (BYE) and waits for the answer.
    pub async fn bye(&mut self, from: &str) {
        self.cseq += 1;
        let bye = self.request("BYE", &branch(), "", from);
        for _ in 0..10 {
            self.sip.send_to(bye.as_bytes(), self.server).await.unwrap();
            if self
                .wait_final("BYE", Duration::from_millis(500))
                .await
                .is_some()
            {
                return;
            }
        }
        panic!("no answer to BYE");
    }
}

/// Datagrams received: (source, datagram) in order.
pub type Heard = Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>;

/// An RTP endpoint: an RTP socket (an even port) and its RTCP socket (the next port), the
/// packets it sends counted, and what reaches it kept as audio.
pub struct RtpEnd {
    pub rtp: Arc<UdpSocket>,
    pub rtcp: Arc<UdpSocket>,
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    /// What reached the RTP socket: (source, datagram) in order.
    pub heard: Heard,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for RtpEnd {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl RtpEnd {
    /// Binds on `ip` (an RTP and RTCP pair of free ports).
    pub async fn bind(ip: &str, ssrc: u32) -> RtpEnd {
        let (rtp, rtcp) = loop {
            let rtp = std::net::UdpSocket::bind((ip, 0)).unwrap();
            let port = rtp.local_addr().unwrap().port();
            if !port.is_multiple_of(2) || port == u16::MAX {
                continue;
            }
            if let Ok(rtcp) = std::net::UdpSocket::bind((ip, port + 1)) {
                break (rtp, rtcp);
            }
        };
        rtp.set_nonblocking(true).unwrap();
        rtcp.set_nonblocking(true).unwrap();
        let rtp = Arc::new(UdpSocket::from_std(rtp).unwrap());
        let rtcp = Arc::new(UdpSocket::from_std(rtcp).unwrap());
        let heard = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::spawn({
            let (rtp, heard) = (rtp.clone(), heard.clone());
            async move {
                let mut buf = vec![0u8; 2048];
                while let Ok((n, from)) = rtp.recv_from(&mut buf).await {
                    heard.lock().unwrap().push((from, buf[..n].to_vec()));
                }
            }
        });
        RtpEnd {
            rtp,
            rtcp,
            ssrc,
            seq: (ssrc as u16).wrapping_mul(7),
            ts: ssrc.wrapping_mul(13),
            heard,
            listener,
        }
    }

    pub fn port(&self) -> u16 {
        self.rtp.local_addr().unwrap().port()
    }

    /// The next packet of this stream (sequence moves on; the timestamp is the caller's).
    pub fn packet(&mut self, pt: u8, ts: u32, payload: &[u8]) -> Vec<u8> {
        let p = rtp_packet(pt, self.seq, ts, self.ssrc, payload);
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// 20 ms of a `freq` Hz tone (PCMU), the timestamp moved on by 160.
    pub fn tone(&mut self, freq: f64, amplitude: f64) -> Vec<u8> {
        self.ts = self.ts.wrapping_add(160);
        let start = self.ts;
        let payload: Vec<u8> = (0..160u32)
            .map(|i| {
                let n = f64::from(start.wrapping_add(i));
                let v = amplitude * (2.0 * std::f64::consts::PI * freq * n / 8000.0).sin();
                ulaw_encode((v * 32767.0) as i16)
            })
            .collect();
        let ts = self.ts;
        self.packet(0, ts, &payload)
    }

    /// The packets of one key press (RFC 4733): three updates and the end packet sent three
    /// times with one sequence number; all with the timestamp `ts`.
    pub fn key(&mut self, digit: char, ts: u32) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = (1..=4u16)
            .map(|i| self.packet(101, ts, &event(digit, i == 4, 160 * i)))
            .collect();
        let end = out.last().unwrap().clone();
        out.push(end.clone());
        out.push(end);
        out
    }

    pub async fn send(&self, data: &[u8], to: SocketAddr) {
        self.rtp.send_to(data, to).await.unwrap();
    }

    /// Datagrams that reached the RTP socket from `from`.
    pub fn heard_from(&self, from: SocketAddr) -> usize {
        self.heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, _)| *f == from)
            .count()
    }

    /// Datagrams that reached the RTP socket from anyone.
    pub fn heard_count(&self) -> usize {
        self.heard.lock().unwrap().len()
    }

    /// The audio (PCMU) that reached the RTP socket, as samples in [-1, 1].
    pub fn audio(&self) -> Vec<f64> {
        self.heard
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, d)| rtp_parts(d).filter(|p| p.0 == 0).map(|p| p.2.to_vec()))
            .flatten()
            .map(|b| f64::from(ulaw_decode(b)) / 32768.0)
            .collect()
    }
}

/// A stranger that sends RTP (a loud `freq` tone and key presses of `digit`) and RTCP to
/// every port of `ports`, in no SDP, until stopped. Returns the task and how many
/// datagrams it sent.
pub async fn spray(
    ip: &str,
    ports: (u16, u16),
    freq: f64,
    digit: char,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<u64>>) {
    let mut end = RtpEnd::bind(ip, 0x0BAD_C0DE).await;
    let sent = Arc::new(Mutex::new(0u64));
    let task = tokio::spawn({
        let sent = sent.clone();
        async move {
            let mut round = 0u32;
            loop {
                let audio = end.tone(freq, 0.9);
                let keys = if round.is_multiple_of(10) {
                    let ts = end.ts;
                    end.key(digit, ts)
                } else {
                    Vec::new()
                };
                let rr = [0x80u8, 201, 0, 1, 0x0B, 0xAD, 0xC0, 0xDE];
                let mut n = 0;
                let first = ports.0 + ports.0 % 2;
                for port in (first..=ports.1).step_by(2) {
                    let to = SocketAddr::from(([127, 0, 0, 1], port));
                    let _ = end.rtp.send_to(&audio, to).await;
                    for k in &keys {
                        let _ = end.rtp.send_to(k, to).await;
                    }
                    let _ = end
                        .rtcp
                        .send_to(&rr, SocketAddr::from(([127, 0, 0, 1], port + 1)))
                        .await;
                    n += 2 + keys.len() as u64;
                }
                *sent.lock().unwrap() += n;
                round += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    (task, sent)
}
