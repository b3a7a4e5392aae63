//! baresip as an agent's phone, and the tones it plays.

use super::*;

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
