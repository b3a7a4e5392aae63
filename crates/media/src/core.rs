//! The media core: every call leg's RTP in and out, as a state machine.
//!
//! Inputs: commands (add a leg, point it somewhere, choose what it hears), received
//! datagrams with their arrival time, and a 20 ms tick. Outputs: datagrams to send
//! ([`MediaCore::poll_transmit`]), events ([`MediaCore::poll_event`]: DTMF, prompt done,
//! latched, RTP timeout) and recorded audio ([`MediaCore::poll_record`]).
//!
//! What a leg *hears* is its [`Source`]: silence (with comfort noise), a prompt (once or
//! looped, e.g. music on hold), another leg relayed packet by packet (a bridge: no decoding
//! when both sides use the same law), or a mix of several legs (conference, monitoring,
//! whisper). Outgoing streams keep their own SSRC, sequence and timestamp whatever the
//! source, so a phone sees one continuous stream from IVR to agent.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::dtmf;
use crate::g711::Law;
use crate::prompt::Prompt;
use crate::rtcp::{self, ReceiverStats};
use crate::rtp::{self, RtpHeader};

pub type LegId = u64;
pub type RecordingId = u64;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
/// The tick the shell must call [`MediaCore::handle_tick`] at.
pub const TICK_MS: i64 = 20;
const INBOX_MAX: usize = 4 * FRAME;
const RTCP_INTERVAL_MS: i64 = 5000;
/// A latched peer silent this long may move to a new address (NAT rebinding).
const RELATCH_AFTER_MS: i64 = 2000;
/// The CNAME in our RTCP SDES.
const CNAME: &str = "tsunagu";
/// Interleaved stereo samples per recorded chunk handed out: one second (50 frames).
const RECORD_CHUNK: usize = 2 * FRAME * 50;

/// What a leg hears.
#[derive(Clone, Debug)]
pub enum Source {
    /// Nothing but faint comfort noise.
    Silence,
    /// A prompt from the start; `looped` for music on hold. `token` comes back in
    /// [`MediaEvent::PlayDone`].
    Prompt {
        prompt: Arc<Prompt>,
        looped: bool,
        token: u64,
    },
    /// Another leg's audio, packet by packet.
    Relay(LegId),
    /// The sum of several legs' audio.
    Mix(Vec<LegId>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    Dtmf {
        leg: LegId,
        digit: char,
    },
    PlayDone {
        leg: LegId,
        token: u64,
    },
    /// The leg's peer was found sending from this address; media now goes there.
    Latched {
        leg: LegId,
        addr: SocketAddr,
    },
    /// No RTP from the peer for the configured time.
    RtpTimeout {
        leg: LegId,
    },
    RecordingStopped {
        recording: RecordingId,
    },
}

/// A datagram to send from the leg's RTP (or RTCP) socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub leg: LegId,
    pub rtcp: bool,
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

/// Recorded audio: interleaved stereo (left, right) at 8 kHz.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordChunk {
    pub recording: RecordingId,
    pub samples: Vec<i16>,
}

/// How a leg is set up from SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegParams {
    /// The law we send (the peer's first choice we support).
    pub law: Law,
    /// The peer's telephone-event payload type.
    pub telephone_event: Option<u8>,
    /// Where the peer's SDP says to send; latching may correct it.
    pub remote: Option<SocketAddr>,
    /// Does the peer want our audio (false when it holds us or declared sendonly)?
    pub send: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LegStats {
    pub received: u64,
    pub lost: u64,
    pub jitter_ms: f64,
    pub sent: u64,
    pub malformed: u64,
}

#[derive(Debug)]
struct OutStream {
    ssrc: u32,
    seq: u16,
    ts: u32,
    packets: u32,
    octets: u32,
    /// Relay mapping: (source leg, source SSRC, timestamp offset).
    relay: Option<(LegId, u32, u32)>,
    marker: bool,
}

impl OutStream {
    /// The header of the next packet sent, with `len` payload bytes: moves the sequence
    /// number on, sets the marker if one is pending (or `marker`) and then clears it, and
    /// counts the packet and its payload for RTCP.
    fn next_header(
        &mut self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        len: usize,
    ) -> RtpHeader {
        self.seq = self.seq.wrapping_add(1);
        let header = RtpHeader {
            marker: self.marker || marker,
            payload_type,
            sequence: self.seq,
            timestamp,
            ssrc: self.ssrc,
        };
        self.marker = false;
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(len as u32);
        header
    }
}

#[derive(Debug)]
struct Leg {
    params: LegParams,
    remote: Option<SocketAddr>,
    latched: bool,
    source: Source,
    play_pos: usize,
    out: OutStream,
    rx: ReceiverStats,
    /// Received and lost packets of the peer's earlier streams (SSRCs): a leg's figures
    /// cover the whole call, not just its current stream.
    rx_prior: (u64, u64),
    malformed: u64,
    /// Decoded audio waiting to be mixed or recorded (only when someone needs it).
    inbox: VecDeque<i16>,
    /// This tick's frame of received audio.
    frame: Vec<i16>,
    pcm_consumers: u32,
    relay_targets: Vec<LegId>,
    dtmf: dtmf::Detector,
    last_rx: i64,
    timeout_reported: bool,
    next_rtcp: i64,
}

#[derive(Debug)]
struct Recorder {
    left: LegId,
    right: LegId,
    paused: bool,
    buffer: Vec<i16>,
}

/// Settings of the core.
#[derive(Clone, Copy, Debug)]
pub struct CoreConfig {
    /// Report [`MediaEvent::RtpTimeout`] after this long without RTP (0: never).
    pub rtp_timeout_ms: i64,
    /// Seed for SSRCs and comfort noise.
    pub seed: u64,
    /// Comfort-noise amplitude in linear PCM (0: true silence).
    pub comfort_noise: i16,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            rtp_timeout_ms: 60_000,
            seed: 0x5eed,
            comfort_noise: 4,
        }
    }
}

#[derive(Debug)]
pub struct MediaCore {
    config: CoreConfig,
    legs: FxHashMap<LegId, Leg>,
    recorders: FxHashMap<RecordingId, Recorder>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<MediaEvent>,
    records: VecDeque<RecordChunk>,
    rng: u64,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// NTP time (RFC 3550 SR) from Unix milliseconds.
fn ntp(now_ms: i64) -> u64 {
    let secs = (now_ms / 1000) as u64 + 2_208_988_800;
    let frac = ((now_ms % 1000) as u64 * (1u64 << 32)) / 1000;
    (secs << 32) | frac
}

impl MediaCore {
    pub fn new(config: CoreConfig) -> Self {
        MediaCore {
            rng: config.seed,
            config,
            legs: FxHashMap::default(),
            recorders: FxHashMap::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            records: VecDeque::new(),
        }
    }

    // ----- outputs ---------------------------------------------------------------------

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    pub fn poll_record(&mut self) -> Option<RecordChunk> {
        self.records.pop_front()
    }

    // ----- commands --------------------------------------------------------------------

    /// Adds a leg hearing silence. `now` starts its RTP timeout clock.
    pub fn add_leg(&mut self, id: LegId, params: LegParams, now: i64) {
        let ssrc = splitmix(&mut self.rng) as u32;
        let seq = splitmix(&mut self.rng) as u16;
        let ts = splitmix(&mut self.rng) as u32;
        self.legs.insert(
            id,
            Leg {
                params,
                remote: params.remote,
                latched: false,
                source: Source::Silence,
                play_pos: 0,
                out: OutStream {
                    ssrc,
                    seq,
                    ts,
                    packets: 0,
                    octets: 0,
                    relay: None,
                    marker: true,
                },
                rx: ReceiverStats::default(),
                rx_prior: (0, 0),
                malformed: 0,
                inbox: VecDeque::new(),
                frame: vec![0; FRAME],
                pcm_consumers: 0,
                relay_targets: Vec::new(),
                dtmf: dtmf::Detector::default(),
                last_rx: now,
                timeout_reported: false,
                next_rtcp: now + RTCP_INTERVAL_MS,
            },
        );
    }

    /// Removes a leg; legs relaying or mixing it hear silence from it from now on.
    pub fn remove_leg(&mut self, id: LegId) {
        if self.legs.remove(&id).is_none() {
            return;
        }
        for leg in self.legs.values_mut() {
            leg.relay_targets.retain(|&t| t != id);
            match &mut leg.source {
                Source::Relay(from) if *from == id => {
                    leg.source = Source::Silence;
                    leg.out.relay = None;
                }
                Source::Mix(inputs) => inputs.retain(|&i| i != id),
                _ => {}
            }
        }
        let stopped: Vec<RecordingId> = self
            .recorders
            .iter()
            .filter(|(_, r)| r.left == id || r.right == id)
            .map(|(&k, _)| k)
            .collect();
        for r in stopped {
            self.stop_recording(r);
        }
        self.recount_consumers();
    }

    /// New SDP from the peer (re-INVITE, hold, resume).
    pub fn update_leg(&mut self, id: LegId, params: LegParams) {
        if let Some(leg) = self.legs.get_mut(&id) {
            if leg.params.remote != params.remote {
                leg.remote = params.remote;
                leg.latched = false;
            }
            leg.params = params;
        }
    }

    /// Chooses what the leg hears.
    pub fn set_source(&mut self, id: LegId, source: Source) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        let old_relay = match &leg.source {
            Source::Relay(from) => Some(*from),
            _ => None,
        };
        if let Some(from) = old_relay {
            if let Some(f) = self.legs.get_mut(&from) {
                f.relay_targets.retain(|&t| t != id);
            }
        }
        if let Source::Relay(from) = &source {
            if let Some(f) = self.legs.get_mut(from) {
                if !f.relay_targets.contains(&id) {
                    f.relay_targets.push(id);
                }
            }
        }
        let leg = self.legs.get_mut(&id).expect("checked");
        leg.source = source;
        leg.play_pos = 0;
        leg.out.relay = None;
        leg.out.marker = true;
        self.recount_consumers();
    }

    /// Starts a stereo recording: `left` is what the first leg's peer says (the
    /// customer), `right` the second (the agent).
    pub fn start_recording(&mut self, id: RecordingId, left: LegId, right: LegId) {
        self.recorders.insert(
            id,
            Recorder {
                left,
                right,
                paused: false,
                buffer: Vec::with_capacity(RECORD_CHUNK),
            },
        );
        self.recount_consumers();
    }

    /// While paused, the recording gets silence (e.g. while a card number is read out).
    pub fn pause_recording(&mut self, id: RecordingId, paused: bool) {
        if let Some(r) = self.recorders.get_mut(&id) {
            r.paused = paused;
        }
    }

    pub fn stop_recording(&mut self, id: RecordingId) {
        if let Some(r) = self.recorders.remove(&id) {
            if !r.buffer.is_empty() {
                self.records.push_back(RecordChunk {
                    recording: id,
                    samples: r.buffer,
                });
            }
            self.events
                .push_back(MediaEvent::RecordingStopped { recording: id });
            self.recount_consumers();
        }
    }

    pub fn stats(&self, id: LegId) -> Option<LegStats> {
        self.legs.get(&id).map(|l| LegStats {
            received: l.rx_prior.0 + l.rx.received,
            lost: l.rx_prior.1 + l.rx.lost(),
            jitter_ms: f64::from(l.rx.jitter()) / 8.0,
            sent: u64::from(l.out.packets),
            malformed: l.malformed,
        })
    }

    /// Where the leg's media goes now (after latching).
    pub fn remote(&self, id: LegId) -> Option<SocketAddr> {
        self.legs.get(&id).and_then(|l| l.remote)
    }

    fn recount_consumers(&mut self) {
        for leg in self.legs.values_mut() {
            leg.pcm_consumers = 0;
        }
        let mut inputs: Vec<LegId> = Vec::new();
        for leg in self.legs.values() {
            if let Source::Mix(from) = &leg.source {
                inputs.extend(from);
            }
        }
        for r in self.recorders.values() {
            inputs.push(r.left);
            inputs.push(r.right);
        }
        for id in inputs {
            if let Some(l) = self.legs.get_mut(&id) {
                l.pcm_consumers += 1;
            }
        }
        for leg in self.legs.values_mut() {
            if leg.pcm_consumers == 0 {
                leg.inbox.clear();
            }
        }
    }

    // ----- inputs ----------------------------------------------------------------------

    /// A datagram arrived on the leg's RTP socket from `from` at `now` (ms).
    pub fn handle_rtp(&mut self, id: LegId, from: SocketAddr, data: &[u8], now: i64) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if rtp::looks_like_rtcp(data) {
            return; // RTCP multiplexed on the RTP port: nothing we act on
        }
        let packet = match rtp::parse(data) {
            Ok(p) => p,
            Err(_) => {
                leg.malformed += 1;
                return;
            }
        };
        // Symmetric RTP: send back where the peer really sends from (NAT), and follow it
        // if it moves after a silence.
        let relatch =
            leg.remote != Some(from) && (!leg.latched || now - leg.last_rx > RELATCH_AFTER_MS);
        if relatch {
            leg.remote = Some(from);
            self.events.push_back(MediaEvent::Latched {
                leg: id,
                addr: from,
            });
        }
        leg.latched = true;
        leg.last_rx = now;
        leg.timeout_reported = false;
        let h = packet.header;
        if leg.rx.received > 0 && h.ssrc != leg.rx.ssrc {
            leg.rx_prior.0 += leg.rx.received;
            leg.rx_prior.1 += leg.rx.lost();
        }
        leg.rx.on_packet(h.ssrc, h.sequence, h.timestamp, now * 8);

        let is_event = Some(h.payload_type) == leg.params.telephone_event;
        let law = Law::from_payload_type(h.payload_type);
        if is_event {
            if let Some(digit) = leg.dtmf.feed(h.timestamp, packet.payload) {
                self.events.push_back(MediaEvent::Dtmf { leg: id, digit });
            }
        } else if let (Some(law), true) = (law, leg.pcm_consumers > 0) {
            for &b in packet.payload {
                leg.inbox.push_back(law.decode(b));
            }
            while leg.inbox.len() > INBOX_MAX {
                leg.inbox.pop_front();
            }
        }
        if leg.relay_targets.is_empty() || (law.is_none() && !is_event) {
            return;
        }
        // Lent out while relaying (relay() never looks at it), then put back.
        let targets = std::mem::take(&mut leg.relay_targets);
        for &t in &targets {
            self.relay(id, t, h, law, is_event, packet.payload);
        }
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.relay_targets = targets;
        }
    }

    fn relay(
        &mut self,
        from: LegId,
        to: LegId,
        h: RtpHeader,
        law: Option<Law>,
        is_event: bool,
        payload: &[u8],
    ) {
        let Some(target) = self.legs.get_mut(&to) else {
            return;
        };
        let (Some(dest), true) = (target.remote, target.params.send) else {
            return;
        };
        let pt = if is_event {
            match target.params.telephone_event {
                Some(pt) => pt,
                None => return,
            }
        } else {
            target.params.law.payload_type()
        };
        let out = &mut target.out;
        let offset = match out.relay {
            Some((leg, ssrc, offset)) if leg == from && ssrc == h.ssrc => offset,
            _ => {
                // A new source: continue our timeline one frame after what we sent last.
                let offset = out.ts.wrapping_add(FRAME as u32).wrapping_sub(h.timestamp);
                out.relay = Some((from, h.ssrc, offset));
                out.marker = true;
                offset
            }
        };
        let ts = h.timestamp.wrapping_add(offset);
        if !is_event {
            out.ts = ts;
        }
        let header = out.next_header(pt, ts, h.marker, payload.len());
        let mut data = Vec::with_capacity(rtp::HEADER_LEN + payload.len());
        rtp::write_header(&header, &mut data);
        match (law, is_event) {
            (Some(l), false) if l != target.params.law => {
                data.extend(
                    payload
                        .iter()
                        .map(|&b| target.params.law.encode(l.decode(b))),
                );
            }
            _ => data.extend_from_slice(payload),
        }
        self.transmits.push_back(Transmit {
            leg: to,
            rtcp: false,
            to: dest,
            data,
        });
    }

    /// The 20 ms tick: generated audio (prompts, silence, mixes), recordings, RTCP and
    /// timeouts.
    pub fn handle_tick(&mut self, now: i64) {
        // 1. This tick's received frame of every leg someone listens to.
        for leg in self.legs.values_mut() {
            if leg.pcm_consumers == 0 {
                continue;
            }
            for s in leg.frame.iter_mut() {
                *s = leg.inbox.pop_front().unwrap_or(0);
            }
        }
        // 2. Generated audio.
        let ids: Vec<LegId> = self.legs.keys().copied().collect();
        let mut frame = vec![0i16; FRAME];
        for id in ids {
            let (law, dest) = {
                let leg = &self.legs[&id];
                match (&leg.source, leg.remote, leg.params.send) {
                    (Source::Relay(_), _, _) => continue,
                    (_, Some(dest), true) => (leg.params.law, dest),
                    _ => {
                        self.advance_prompt(id);
                        continue;
                    }
                }
            };
            self.generate(id, &mut frame);
            let leg = self.legs.get_mut(&id).expect("present");
            let out = &mut leg.out;
            let ts = out.ts.wrapping_add(FRAME as u32);
            out.ts = ts;
            out.relay = None;
            let header = out.next_header(law.payload_type(), ts, false, FRAME);
            let mut data = Vec::with_capacity(rtp::HEADER_LEN + FRAME);
            rtp::write_header(&header, &mut data);
            law.encode_into(&frame, &mut data);
            self.transmits.push_back(Transmit {
                leg: id,
                rtcp: false,
                to: dest,
                data,
            });
        }
        // 3. Recordings.
        for (&rid, rec) in self.recorders.iter_mut() {
            let left = self.legs.get(&rec.left).map(|l| &l.frame);
            let right = self.legs.get(&rec.right).map(|l| &l.frame);
            for i in 0..FRAME {
                let (l, r) = if rec.paused {
                    (0, 0)
                } else {
                    (left.map_or(0, |f| f[i]), right.map_or(0, |f| f[i]))
                };
                rec.buffer.push(l);
                rec.buffer.push(r);
            }
            if rec.buffer.len() >= RECORD_CHUNK {
                let samples = std::mem::replace(&mut rec.buffer, Vec::with_capacity(RECORD_CHUNK));
                self.records.push_back(RecordChunk {
                    recording: rid,
                    samples,
                });
            }
        }
        // 4. RTCP and timeouts.
        let timeout = self.config.rtp_timeout_ms;
        for (&id, leg) in self.legs.iter_mut() {
            if now >= leg.next_rtcp {
                leg.next_rtcp = now + RTCP_INTERVAL_MS;
                if let Some(remote) = leg.remote {
                    let block = (leg.rx.received > 0).then(|| leg.rx.report());
                    let data = rtcp::sender_report(
                        leg.out.ssrc,
                        ntp(now),
                        leg.out.ts,
                        leg.out.packets,
                        leg.out.octets,
                        block.as_ref(),
                        CNAME,
                    );
                    let to = SocketAddr::new(remote.ip(), remote.port().wrapping_add(1));
                    self.transmits.push_back(Transmit {
                        leg: id,
                        rtcp: true,
                        to,
                        data,
                    });
                }
            }
            if timeout > 0
                && leg.params.send
                && !leg.timeout_reported
                && now - leg.last_rx > timeout
            {
                leg.timeout_reported = true;
                self.events.push_back(MediaEvent::RtpTimeout { leg: id });
            }
        }
    }

    /// Fills `frame` with what leg `id` hears this tick.
    fn generate(&mut self, id: LegId, frame: &mut [i16]) {
        let amp = i64::from(self.config.comfort_noise);
        // Disjoint borrows: the legs are only read, the noise generator moves on.
        let MediaCore { legs, rng, .. } = self;
        let leg = &legs[&id];
        match &leg.source {
            Source::Silence | Source::Relay(_) => {
                for s in frame.iter_mut() {
                    *s = if amp == 0 {
                        0
                    } else {
                        ((splitmix(rng) % (2 * amp as u64 + 1)) as i64 - amp) as i16
                    };
                }
            }
            Source::Prompt { prompt, .. } => {
                let pos = leg.play_pos;
                for (i, s) in frame.iter_mut().enumerate() {
                    *s = prompt.samples.get(pos + i).copied().unwrap_or(0);
                }
            }
            Source::Mix(inputs) => {
                let mut acc = [0i32; FRAME];
                for input in inputs {
                    if let Some(l) = legs.get(input) {
                        for (a, &s) in acc.iter_mut().zip(l.frame.iter()) {
                            *a += i32::from(s);
                        }
                    }
                }
                for (s, a) in frame.iter_mut().zip(acc.iter()) {
                    *s = (*a).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
                }
            }
        }
        // Moves a prompt on by this frame; nothing for the other sources.
        self.advance_prompt(id);
    }

    /// Moves a playing prompt on by one frame; at its end loops or reports it done.
    fn advance_prompt(&mut self, id: LegId) {
        let leg = self.legs.get_mut(&id).expect("present");
        if let Source::Prompt {
            prompt,
            looped,
            token,
        } = &leg.source
        {
            leg.play_pos += FRAME;
            if leg.play_pos >= prompt.samples.len() {
                if *looped && !prompt.samples.is_empty() {
                    leg.play_pos = 0;
                } else {
                    let token = *token;
                    leg.source = Source::Silence;
                    leg.play_pos = 0;
                    self.events
                        .push_back(MediaEvent::PlayDone { leg: id, token });
                }
            }
        }
    }
}
