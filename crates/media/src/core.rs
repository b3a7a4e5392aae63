//! The media core: every call leg's RTP in and out, as a state machine.
//!
//! Inputs: commands (add a leg, point it somewhere, choose what it hears), received
//! datagrams with their arrival time, and a 20 ms tick. Outputs: datagrams to send
//! ([`MediaCore::poll_transmit`]), events ([`MediaCore::poll_event`]: DTMF, prompt done,
//! latched, RTP timeout) and recorded audio ([`MediaCore::poll_record`]).
//!
//! Media is taken only from a leg's peer — the address its SDP names, or for a peer behind
//! NAT one source latched under strict rules (see [`crate::peer`]); datagrams from anyone
//! else are dropped before anything reads them, counted, and reported at a limited rate
//! ([`MediaCore::poll_notice`]).
//!
//! What a leg *hears* is its [`Source`]: silence (with comfort noise), a prompt (once or
//! looped, e.g. music on hold), another leg relayed packet by packet (a bridge: no decoding
//! when both sides use the same law), or a mix of several legs (conference, monitoring,
//! whisper). Outgoing streams keep their own SSRC, sequence and timestamp whatever the
//! source, so a phone sees one continuous stream from IVR to agent.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::dtmf;
use crate::g711::Law;
use crate::out_stream::{ntp, splitmix, OutStream};
use crate::peer::{Peer, StrangerNotice, Verdict};
use crate::prompt::Prompt;
use crate::reception::{Arrival, Reception};
use crate::rtcp;
use crate::rtp::{self, RtpHeader};

pub type LegId = u64;
pub type RecordingId = u64;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
/// The tick the shell must call [`MediaCore::handle_tick`] at.
pub const TICK_MS: i64 = 20;
const INBOX_MAX: usize = 4 * FRAME;
const RTCP_INTERVAL_MS: i64 = 5000;
/// The RTP clock of every payload we take (G.711 and telephone-event/8000), per second.
pub const CLOCK_RATE: i64 = 8000;
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
    /// The leg's peer, behind NAT, was latched at this address (at most once per
    /// offer/answer); media now goes there.
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
    /// Where the peer's SDP says to send RTP, and the only address RTP is taken from
    /// (unless the peer is behind NAT: see [`crate::peer`]). None: no media yet.
    pub remote: Option<SocketAddr>,
    /// The peer's RTCP address: the SDP's `a=rtcp` (RFC 3605), or None for the RTP port + 1.
    pub rtcp: Option<SocketAddr>,
    /// Does the peer want our audio (false when it holds us or declared sendonly)?
    pub send: bool,
}

/// A leg's RTP figures over the whole call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LegStats {
    /// RTP packets sent to the peer.
    pub sent: u64,
    /// Audio packets received from the peer (every payload type but telephone-event;
    /// duplicates left out).
    pub received: u64,
    /// RFC 4733 telephone-event packets received from the peer (key presses; the end
    /// packet a sender repeats with one sequence number counts once).
    pub dtmf: u64,
    /// Sequence numbers never received (audio and events share the sequence).
    pub lost: u64,
    /// Audio packets received a second time (dropped).
    pub duplicates: u64,
    /// Packets that arrived after one with a higher sequence number.
    pub out_of_order: u64,
    /// RFC 3550 §6.4.1 interarrival jitter of the audio packets, in ms.
    pub jitter_ms: f64,
    /// Datagrams from the peer that are not RTP.
    pub malformed: u64,
    /// Datagrams from addresses other than the peer's (RTP and RTCP ports), dropped.
    pub rejected: u64,
}

#[derive(Debug)]
struct Leg {
    params: LegParams,
    /// Who may send to the leg, and where its media goes.
    peer: Peer,
    source: Source,
    play_pos: usize,
    out: OutStream,
    /// What the peer sent, counted over the whole call.
    rx: Reception,
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
    notices: VecDeque<StrangerNotice>,
    rng: u64,
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
            notices: VecDeque::new(),
        }
    }

    // ----- outputs ---------------------------------------------------------------------

    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    #[must_use]
    pub fn poll_record(&mut self) -> Option<RecordChunk> {
        self.records.pop_front()
    }

    /// Packets from strangers were dropped (at most one notice per leg per
    /// [`crate::peer::NOTICE_INTERVAL_MS`]): for the shell to log.
    #[must_use]
    pub fn poll_notice(&mut self) -> Option<StrangerNotice> {
        self.notices.pop_front()
    }

    // ----- commands --------------------------------------------------------------------

    /// Adds a leg hearing silence. `now` (ms) starts its RTP timeout clock and, when the
    /// params have the SDP's address, the offer/answer (see [`MediaCore::update_leg`]).
    pub fn add_leg(&mut self, id: LegId, params: LegParams, now: i64) {
        let ssrc = splitmix(&mut self.rng) as u32;
        let seq = splitmix(&mut self.rng) as u16;
        let ts = splitmix(&mut self.rng) as u32;
        let mut peer = Peer::new(id);
        peer.set_sdp(params.remote, params.rtcp, now);
        self.legs.insert(
            id,
            Leg {
                params,
                peer,
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
                rx: Reception::default(),
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

    /// A new offer/answer with the peer at `now` (ms): an answer to our offer, a re-INVITE
    /// or UPDATE (hold, resume, a new address or codec). `params.remote` (and `rtcp`) set
    /// the address media is taken from and sent to; a new address replaces the old one at
    /// once. A peer behind NAT may be latched once more after it (see [`crate::peer`]).
    pub fn update_leg(&mut self, id: LegId, params: LegParams, now: i64) {
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.peer.set_sdp(params.remote, params.rtcp, now);
            leg.params = params;
        }
    }

    /// The IP the leg's SIP signalling comes from (inbound) or goes to (legs we dial). With
    /// it a peer behind NAT (its SDP names another IP) can be latched; without it only the
    /// SDP's address is ever taken.
    pub fn set_signalling(&mut self, id: LegId, ip: IpAddr) {
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.peer.set_signalling(ip);
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

    /// The leg's figures so far.
    pub fn stats(&self, id: LegId) -> Option<LegStats> {
        self.legs.get(&id).map(|l| LegStats {
            sent: u64::from(l.out.packets),
            received: l.rx.audio,
            dtmf: l.rx.events,
            lost: l.rx.lost(),
            duplicates: l.rx.duplicates,
            out_of_order: l.rx.out_of_order,
            jitter_ms: f64::from(l.rx.jitter()) * 1000.0 / CLOCK_RATE as f64,
            malformed: l.malformed,
            rejected: l.peer.rejected,
        })
    }

    /// Where the leg's media goes now: the SDP's address, or the one latched behind NAT.
    pub fn remote(&self, id: LegId) -> Option<SocketAddr> {
        self.legs.get(&id).and_then(|l| l.peer.rtp())
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

    /// A datagram arrived on the leg's RTP socket from `from` at `now` (ms). Only the
    /// peer's is used; a stranger's is dropped and counted.
    pub fn handle_rtp(&mut self, id: LegId, from: SocketAddr, data: &[u8], now: i64) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if rtp::looks_like_rtcp(data) {
            // RTCP multiplexed on the RTP port (RFC 5761): nothing we act on, but only the
            // peer's is taken.
            if let Err(Some(notice)) = leg.peer.admit_muxed_rtcp(from, now) {
                self.notices.push_back(notice);
            }
            return;
        }
        let parsed = rtp::parse(data);
        let negotiated = [
            Some(leg.params.law.payload_type()),
            leg.params.telephone_event,
        ];
        let header = parsed.as_ref().ok().map(|p| &p.header);
        match leg.peer.admit_rtp(from, header, negotiated, now) {
            Verdict::Accept => {}
            Verdict::Latched(first, at) => {
                // The peer's first packet, held back on probation, is counted now (its
                // audio is not played: 20 ms once per latch).
                let event = Some(first.payload_type) == leg.params.telephone_event;
                leg.rx.on_packet(
                    first.ssrc,
                    first.sequence,
                    first.timestamp,
                    event,
                    at * CLOCK_RATE / 1000,
                );
                self.events.push_back(MediaEvent::Latched {
                    leg: id,
                    addr: from,
                });
            }
            Verdict::Reject(notice) => {
                if let Some(notice) = notice {
                    self.notices.push_back(notice);
                }
                return;
            }
        }
        let packet = match parsed {
            Ok(p) => p,
            Err(_) => {
                leg.malformed += 1;
                return;
            }
        };
        leg.last_rx = now;
        leg.timeout_reported = false;
        let h = packet.header;
        let is_event = Some(h.payload_type) == leg.params.telephone_event;
        let arrival = leg.rx.on_packet(
            h.ssrc,
            h.sequence,
            h.timestamp,
            is_event,
            now * CLOCK_RATE / 1000,
        );
        if arrival == Arrival::Duplicate && !is_event {
            // Played already. (A key's end packet is repeated with one sequence number on
            // purpose, RFC 4733 §2.5.1.4: it goes on to the detector and the relay.)
            return;
        }
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

    /// A datagram arrived on the leg's RTCP socket from `from` at `now` (ms). The peer's is
    /// taken (nothing in it is acted on yet); a stranger's is dropped and counted.
    pub fn handle_rtcp(&mut self, id: LegId, from: SocketAddr, data: &[u8], now: i64) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if let Err(Some(notice)) = leg.peer.admit_rtcp(from, data, now) {
            self.notices.push_back(notice);
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
        let (Some(dest), true) = (target.peer.rtp(), target.params.send) else {
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
                match (&leg.source, leg.peer.rtp(), leg.params.send) {
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
                if let Some(to) = leg.peer.rtcp() {
                    let block = leg.rx.report();
                    let data = rtcp::sender_report(
                        leg.out.ssrc,
                        ntp(now),
                        leg.out.ts,
                        leg.out.packets,
                        leg.out.octets,
                        block.as_ref(),
                        CNAME,
                    );
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
