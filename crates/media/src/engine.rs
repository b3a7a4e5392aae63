//! The media engine's IO shell: one thread that owns the [`MediaCore`] and every leg's UDP
//! sockets, polls them with mio, ticks the core every 20 ms, sends what it produces, and
//! hands recorded audio to a writer thread. Commands come in over a channel (with a mio
//! waker); events go out over a tokio channel.

use std::collections::VecDeque;
use std::io::{BufWriter, ErrorKind};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use rustc_hash::{FxHashMap, FxHashSet};
use tracing::{debug, error, warn};

use crate::core::*;

const WAKER: Token = Token(usize::MAX);

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Address the RTP sockets bind to.
    pub bind_ip: IpAddr,
    /// RTP port range (even ports for RTP, the next odd one for RTCP).
    pub port_min: u16,
    pub port_max: u16,
    pub core: CoreConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bind_ip: "127.0.0.1".parse().expect("ip"),
            port_min: 20000,
            port_max: 30000,
            core: CoreConfig::default(),
        }
    }
}

/// What the engine reports, besides the core's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    Media(MediaEvent),
    /// A recording's file is complete.
    RecordingFinished {
        recording: RecordingId,
        path: PathBuf,
        duration_ms: u64,
    },
    RecordingFailed {
        recording: RecordingId,
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no free RTP port between {0} and {1}")]
    NoPorts(u16, u16),
    #[error("the media engine has stopped")]
    Stopped,
}

enum Command {
    AddLeg {
        id: LegId,
        params: LegParams,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        port: u16,
    },
    RemoveLeg(LegId),
    UpdateLeg(LegId, LegParams),
    SetSignalling(LegId, IpAddr),
    SetSource(LegId, Source),
    StartRecording {
        id: RecordingId,
        left: LegId,
        right: LegId,
        path: PathBuf,
    },
    PauseRecording(RecordingId, bool),
    StopRecording(RecordingId),
    Stats(LegId, tokio::sync::oneshot::Sender<Option<LegStats>>),
    Shutdown,
}

#[derive(Debug)]
struct PortPool {
    min: u16,
    max: u16,
    next: u16,
    in_use: FxHashSet<u16>,
}

impl PortPool {
    /// Binds an RTP/RTCP socket pair on the next free even port.
    fn bind(
        &mut self,
        ip: IpAddr,
    ) -> Result<(u16, std::net::UdpSocket, std::net::UdpSocket), EngineError> {
        // u32: the next port after 65534 is past u16 (wrap to the start of the range).
        let span = u32::from(self.max).saturating_sub(u32::from(self.min)) / 2;
        for _ in 0..=span {
            let port = self.next;
            self.next = if u32::from(self.next) + 2 > u32::from(self.max) {
                self.min
            } else {
                self.next + 2
            };
            if self.in_use.contains(&port) {
                continue;
            }
            let Ok(rtp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port)) else {
                continue;
            };
            let Ok(rtcp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port + 1)) else {
                continue;
            };
            self.in_use.insert(port);
            return Ok((port, rtp, rtcp));
        }
        Err(EngineError::NoPorts(self.min, self.max))
    }
}

/// A cheap, cloneable handle to the engine thread.
#[derive(Clone)]
pub struct MediaHandle {
    tx: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    ports: Arc<Mutex<PortPool>>,
    ip: IpAddr,
}

impl MediaHandle {
    fn send(&self, c: Command) -> Result<(), EngineError> {
        self.tx.send(c).map_err(|_| EngineError::Stopped)?;
        self.waker.wake().map_err(|_| EngineError::Stopped)
    }

    /// Adds a leg and returns its local RTP port (bound before this returns, so it can go
    /// into SDP at once).
    pub fn add_leg(&self, id: LegId, params: LegParams) -> Result<u16, EngineError> {
        let (port, rtp, rtcp) = self.ports.lock().expect("port pool").bind(self.ip)?;
        let _ = rtp.set_nonblocking(true);
        let _ = rtcp.set_nonblocking(true);
        // Deep receive buffers absorb bursts when many legs tick at once.
        let _ = socket2::SockRef::from(&rtp).set_recv_buffer_size(256 * 1024);
        self.send(Command::AddLeg {
            id,
            params,
            rtp: UdpSocket::from_std(rtp),
            rtcp: UdpSocket::from_std(rtcp),
            port,
        })?;
        Ok(port)
    }

    pub fn remove_leg(&self, id: LegId) {
        let _ = self.send(Command::RemoveLeg(id));
    }

    /// A new offer/answer with the leg's peer: `params.remote` becomes the address its media
    /// is taken from and sent to (see [`MediaCore::update_leg`]).
    pub fn update_leg(&self, id: LegId, params: LegParams) {
        let _ = self.send(Command::UpdateLeg(id, params));
    }

    /// The IP of the leg's SIP signalling, so a peer behind NAT can be latched (see
    /// [`MediaCore::set_signalling`]). Ignored for a leg the engine does not have.
    pub fn set_signalling(&self, id: LegId, ip: IpAddr) {
        let _ = self.send(Command::SetSignalling(id, ip));
    }

    pub fn set_source(&self, id: LegId, source: Source) {
        let _ = self.send(Command::SetSource(id, source));
    }

    pub fn start_recording(&self, id: RecordingId, left: LegId, right: LegId, path: PathBuf) {
        let _ = self.send(Command::StartRecording {
            id,
            left,
            right,
            path,
        });
    }

    pub fn pause_recording(&self, id: RecordingId, paused: bool) {
        let _ = self.send(Command::PauseRecording(id, paused));
    }

    pub fn stop_recording(&self, id: RecordingId) {
        let _ = self.send(Command::StopRecording(id));
    }

    /// Asks for the leg's figures now (ordered with the commands sent before and after);
    /// the answer comes on the returned channel.
    pub fn request_stats(
        &self,
        id: LegId,
    ) -> Option<tokio::sync::oneshot::Receiver<Option<LegStats>>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Command::Stats(id, tx)).ok()?;
        Some(rx)
    }
}

/// The running engine; dropping it does not stop the thread, [`MediaEngine::shutdown`] does.
pub struct MediaEngine {
    handle: MediaHandle,
    thread: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
}

impl MediaEngine {
    pub fn start(
        config: EngineConfig,
        events: tokio::sync::mpsc::Sender<EngineEvent>,
    ) -> std::io::Result<MediaEngine> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mpsc::channel();
        let (wtx, wrx) = mpsc::channel::<WriterMsg>();
        let min = config.port_min + config.port_min % 2;
        let ports = Arc::new(Mutex::new(PortPool {
            min,
            max: config.port_max,
            next: min,
            in_use: Default::default(),
        }));
        let writer_events = events.clone();
        let writer = std::thread::Builder::new()
            .name("tsunagu-recorder".into())
            .spawn(move || writer_loop(wrx, writer_events))?;
        let core = MediaCore::new(config.core);
        let pool = ports.clone();
        let thread = std::thread::Builder::new()
            .name("tsunagu-media".into())
            .spawn(move || {
                EngineLoop {
                    poll,
                    core,
                    rx,
                    events,
                    wtx,
                    ports: pool,
                    legs: FxHashMap::default(),
                    tokens: FxHashMap::default(),
                    next_token: 0,
                    waiting: VecDeque::new(),
                    keys_dropped: 0,
                }
                .run()
            })?;
        Ok(MediaEngine {
            handle: MediaHandle {
                tx,
                waker,
                ports,
                ip: config.bind_ip,
            },
            thread: Some(thread),
            writer: Some(writer),
        })
    }

    pub fn handle(&self) -> MediaHandle {
        self.handle.clone()
    }

    pub fn shutdown(mut self) {
        let _ = self.handle.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

enum WriterMsg {
    Open(RecordingId, PathBuf),
    Samples(RecordChunk),
    Close(RecordingId),
}

fn writer_loop(rx: mpsc::Receiver<WriterMsg>, events: tokio::sync::mpsc::Sender<EngineEvent>) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut open: FxHashMap<
        RecordingId,
        (PathBuf, hound::WavWriter<BufWriter<std::fs::File>>, u64),
    > = FxHashMap::default();
    // Blocking on the shell is fine here, unlike on the media thread: this thread only
    // writes files, and the samples wait in its own queue meanwhile.
    while let Ok(msg) = rx.recv() {
        match msg {
            WriterMsg::Open(id, path) => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                match hound::WavWriter::create(&path, spec) {
                    Ok(w) => {
                        open.insert(id, (path, w, 0));
                    }
                    Err(e) => {
                        let _ = events.blocking_send(EngineEvent::RecordingFailed {
                            recording: id,
                            message: e.to_string(),
                        });
                    }
                }
            }
            WriterMsg::Samples(chunk) => {
                if let Some((_, w, frames)) = open.get_mut(&chunk.recording) {
                    for s in &chunk.samples {
                        if w.write_sample(*s).is_err() {
                            break;
                        }
                    }
                    *frames += (chunk.samples.len() / 2) as u64;
                }
            }
            WriterMsg::Close(id) => {
                if let Some((path, w, frames)) = open.remove(&id) {
                    let ev = match w.finalize() {
                        Ok(()) => EngineEvent::RecordingFinished {
                            recording: id,
                            path,
                            duration_ms: frames / 8,
                        },
                        Err(e) => EngineEvent::RecordingFailed {
                            recording: id,
                            message: e.to_string(),
                        },
                    };
                    let _ = events.blocking_send(ev);
                }
            }
        }
    }
    for (id, (path, w, frames)) in open {
        let _ = w.finalize();
        let _ = events.blocking_send(EngineEvent::RecordingFinished {
            recording: id,
            path,
            duration_ms: frames / 8,
        });
    }
}

struct LegSockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    port: u16,
    token: usize,
}

struct EngineLoop {
    poll: Poll,
    core: MediaCore,
    rx: mpsc::Receiver<Command>,
    events: tokio::sync::mpsc::Sender<EngineEvent>,
    /// Events the shell had no room for yet (see [`EngineLoop::emit`]).
    waiting: VecDeque<MediaEvent>,
    /// Key presses dropped because the shell had no room (see [`EngineLoop::emit`]).
    keys_dropped: u64,
    wtx: mpsc::Sender<WriterMsg>,
    ports: Arc<Mutex<PortPool>>,
    legs: FxHashMap<LegId, LegSockets>,
    /// token → leg. Tokens come in pairs from `next_token` (always even): the even one is
    /// the leg's RTP socket, the odd one (`token & 1 == 1`) its RTCP socket.
    tokens: FxHashMap<usize, LegId>,
    next_token: usize,
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl EngineLoop {
    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 2048];
        let start = Instant::now();
        let mut next_tick = start + Duration::from_millis(TICK_MS as u64);
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != ErrorKind::Interrupted {
                    error!("media poll failed: {e}");
                    return;
                }
            }
            let now = wall_ms();
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                let token = ev.token().0;
                let Some(&leg) = self.tokens.get(&token) else {
                    continue;
                };
                let is_rtcp = token & 1 == 1;
                let Some(s) = self.legs.get(&leg) else {
                    continue;
                };
                let sock = if is_rtcp { &s.rtcp } else { &s.rtp };
                loop {
                    match sock.recv_from(&mut buf) {
                        Ok((n, from)) if is_rtcp => {
                            self.core.handle_rtcp(leg, from, &buf[..n], now)
                        }
                        Ok((n, from)) => self.core.handle_rtp(leg, from, &buf[..n], now),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => {
                            debug!(leg, "recv: {e}");
                            break;
                        }
                    }
                }
            }
            if !self.commands(now) {
                break;
            }
            let mut ticks = 0;
            while Instant::now() >= next_tick {
                self.core.handle_tick(now);
                next_tick += Duration::from_millis(TICK_MS as u64);
                ticks += 1;
                if ticks > 5 {
                    // Far behind (e.g. the machine was suspended): skip rather than burst.
                    warn!("media engine fell behind; skipping ticks");
                    next_tick = Instant::now() + Duration::from_millis(TICK_MS as u64);
                    break;
                }
            }
            self.flush();
        }
        for (_, s) in self.legs.drain() {
            self.ports.lock().expect("port pool").in_use.remove(&s.port);
        }
    }

    /// Applies queued commands; false on shutdown.
    fn commands(&mut self, now: i64) -> bool {
        while let Ok(c) = self.rx.try_recv() {
            match c {
                Command::AddLeg {
                    id,
                    params,
                    mut rtp,
                    mut rtcp,
                    port,
                } => {
                    let token = self.next_token;
                    self.next_token += 2;
                    let reg = self.poll.registry();
                    if reg
                        .register(&mut rtp, Token(token), Interest::READABLE)
                        .is_err()
                        || reg
                            .register(&mut rtcp, Token(token + 1), Interest::READABLE)
                            .is_err()
                    {
                        error!(leg = id, "cannot register RTP socket");
                        self.ports.lock().expect("port pool").in_use.remove(&port);
                        continue;
                    }
                    self.tokens.insert(token, id);
                    self.tokens.insert(token + 1, id);
                    self.legs.insert(
                        id,
                        LegSockets {
                            rtp,
                            rtcp,
                            port,
                            token,
                        },
                    );
                    self.core.add_leg(id, params, now);
                }
                Command::RemoveLeg(id) => {
                    self.core.remove_leg(id);
                    if let Some(mut s) = self.legs.remove(&id) {
                        let reg = self.poll.registry();
                        let _ = reg.deregister(&mut s.rtp);
                        let _ = reg.deregister(&mut s.rtcp);
                        self.tokens.remove(&s.token);
                        self.tokens.remove(&(s.token + 1));
                        self.ports.lock().expect("port pool").in_use.remove(&s.port);
                    }
                }
                Command::UpdateLeg(id, p) => self.core.update_leg(id, p, now),
                Command::SetSignalling(id, ip) => self.core.set_signalling(id, ip),
                Command::SetSource(id, s) => self.core.set_source(id, s),
                Command::StartRecording {
                    id,
                    left,
                    right,
                    path,
                } => {
                    let _ = self.wtx.send(WriterMsg::Open(id, path));
                    self.core.start_recording(id, left, right);
                }
                Command::PauseRecording(id, p) => self.core.pause_recording(id, p),
                Command::StopRecording(id) => self.core.stop_recording(id),
                Command::Stats(id, reply) => {
                    let _ = reply.send(self.core.stats(id));
                }
                Command::Shutdown => return false,
            }
        }
        true
    }

    fn flush(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            if let Some(s) = self.legs.get(&t.leg) {
                let sock = if t.rtcp { &s.rtcp } else { &s.rtp };
                // A full send buffer drops the packet: late audio is worthless anyway.
                let _ = sock.send_to(&t.data, t.to);
            }
        }
        while let Some(chunk) = self.core.poll_record() {
            let _ = self.wtx.send(WriterMsg::Samples(chunk));
        }
        while let Some(n) = self.core.poll_notice() {
            // Rate-limited by the core: one line per leg per interval at most.
            warn!(
                leg = n.leg,
                from = %n.from,
                dropped = n.dropped,
                total = n.total,
                "media from an address in no SDP dropped"
            );
        }
        while let Some(ev) = self.core.poll_event() {
            if let MediaEvent::RecordingStopped { recording } = ev {
                let _ = self.wtx.send(WriterMsg::Close(recording));
                continue;
            }
            self.emit(ev);
        }
        self.send_waiting();
    }

    /// Hands an event to the shell without ever blocking the media thread (every call's
    /// audio runs on it). When the shell's queue is full, a key press is dropped and
    /// counted — a caller flooding keys must not stall everyone — while an event a call
    /// depends on (a prompt's end, a latch, a silence timeout) waits here, in order, and is
    /// sent at the next tick. Those come at most a few per leg, so this stays small.
    fn emit(&mut self, ev: MediaEvent) {
        use tokio::sync::mpsc::error::TrySendError;
        if self.waiting.is_empty() {
            match self.events.try_send(EngineEvent::Media(ev)) {
                Ok(()) | Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(EngineEvent::Media(ev))) => return self.keep(ev),
                Err(TrySendError::Full(_)) => return,
            }
        }
        self.keep(ev);
    }

    fn keep(&mut self, ev: MediaEvent) {
        if matches!(ev, MediaEvent::Dtmf { .. }) {
            self.keys_dropped += 1;
            if self.keys_dropped.is_power_of_two() {
                warn!(
                    dropped = self.keys_dropped,
                    "key presses dropped: the call shell is behind"
                );
            }
        } else {
            self.waiting.push_back(ev);
        }
    }

    fn send_waiting(&mut self) {
        while let Some(ev) = self.waiting.pop_front() {
            match self.events.try_send(EngineEvent::Media(ev)) {
                Ok(()) => {}
                Err(tokio::sync::mpsc::error::TrySendError::Full(EngineEvent::Media(ev))) => {
                    self.waiting.push_front(ev);
                    return;
                }
                Err(_) => {
                    self.waiting.clear();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: stepping past port 65534 overflowed u16 (a panic in debug builds, a
    /// wrap to port 0 in release). At the top of the range the pool now wraps to its start.
    #[test]
    fn the_port_pool_wraps_at_the_top_of_the_range() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let mut pool = PortPool {
            min: 65532,
            max: 65535,
            next: 65534,
            in_use: Default::default(),
        };
        let first = pool.bind(ip);
        assert_eq!(pool.next, 65532, "wrapped to the start, not past 65535");
        for _ in 0..3 {
            match pool.bind(ip) {
                Ok((port, _, _)) => assert!((65532..=65534).contains(&port)),
                Err(EngineError::NoPorts(65532, 65535)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        drop(first);
    }
}
