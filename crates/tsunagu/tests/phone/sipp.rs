//! sipp as customers and carriers, and the WAV analysis that tells who heard whom.

use super::*;

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
