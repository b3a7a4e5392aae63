//! A synthetic call load for the switch alone — no SIP, media engine or contact center —
//! used by the switch benchmark (`benches/switch.rs`) and by the test that holds the
//! touched-calls deadline rule to the full-scan reference.
//!
//! [`Load`] keeps `calls` inbound calls up at once. Each arrives with an SDP offer and the
//! load's flow: a menu whose prompt is interrupted or finishes, and which times out after
//! 8 s with nothing pressed (a flow deadline per call in the menu), then a queue with music
//! and an announcement every 20 s (an announcement deadline per waiting call). The load
//! answers what the switch asks of its surroundings — contacts created, media ready,
//! queue positions — and then applies one random input per [`Load::step`]: a prompt ends,
//! a key is pressed, time passes (1–20 ms), or a caller hangs up and a new one arrives. The same
//! seed gives the same inputs; the time is the load's own (ms), starting at `start`.

use std::collections::VecDeque;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tsunagu_flow::Flow;
use tsunagu_media::core::MediaEvent;

use crate::io::*;
use crate::switch::Switch;

/// The load's call flow: the menu waits 8 s for a key, then the caller is queued.
pub const FLOW: &str = r#"
name = "load"
start = "menu"
language = "ja"

[nodes.menu]
type = "menu"
prompt = "menu"
timeout_secs = 8
retries = 0
options = { "1" = "sales", "2" = "sales" }
on_failure = "sales"

[nodes.sales]
type = "queue"
queue = "sales"
announce_secs = 20
"#;

/// The switch under a synthetic load (see the module documentation).
pub struct Load {
    pub sw: Switch,
    /// The load's clock, ms.
    pub now: i64,
    flow: Arc<Flow>,
    /// Seeded, so a seed replays the same load.
    rng: StdRng,
    /// The customer legs of the calls up.
    calls: Vec<LegId>,
    /// Prompts playing to a caller (leg, token), oldest first.
    playing: VecDeque<(LegId, u64)>,
    next_leg: LegId,
    next_contact: ContactId,
    /// Outputs seen, in order (kept only when `record` is on: for equivalence tests).
    pub record: Option<Vec<Out>>,
    /// Inputs applied so far.
    pub inputs: u64,
}

impl Load {
    /// A load on `sw` starting at `start` (ms). Incoming legs are numbered from 2^48, as the
    /// SIP shell numbers them, apart from the legs the switch dials.
    pub fn new(sw: Switch, flow: Arc<Flow>, seed: u64, start: i64) -> Load {
        Load {
            sw,
            now: start,
            flow,
            rng: StdRng::seed_from_u64(seed),
            calls: Vec::new(),
            playing: VecDeque::new(),
            next_leg: 1 << 48,
            next_contact: 1,
            record: None,
            inputs: 0,
        }
    }

    /// Calls up now.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Brings the number of calls up to `n` at once, each caller having heard the menu's
    /// prompt to the end (so each waits in the menu with a deadline 8 s away).
    pub fn fill(&mut self, n: usize) {
        while self.calls.len() < n {
            self.arrive();
            if let Some((leg, token)) = self.playing.pop_back() {
                self.media(MediaEvent::PlayDone { leg, token });
            }
        }
    }

    /// Applies one random input (and answers what it asks of the surroundings).
    pub fn step(&mut self) {
        match self.rng.gen_range(0..10) {
            0..=3 if !self.playing.is_empty() => {
                let i = self.rng.gen_range(0..self.playing.len().min(8));
                if let Some((leg, token)) = self.playing.remove(i) {
                    self.media(MediaEvent::PlayDone { leg, token });
                }
            }
            4 | 5 if !self.calls.is_empty() => {
                let leg = self.calls[self.rng.gen_range(0..self.calls.len())];
                let digit = if self.rng.gen_bool(0.5) { '1' } else { '9' };
                self.media(MediaEvent::Dtmf { leg, digit });
            }
            6 | 7 if !self.calls.is_empty() => {
                let i = self.rng.gen_range(0..self.calls.len());
                let leg = self.calls.swap_remove(i);
                self.sip(SipIn::Ended {
                    leg,
                    cause: "caller hung up".into(),
                });
                self.arrive();
            }
            _ => {
                self.now += 1 + self.rng.gen_range(0..20) as i64;
                self.sw.handle_timeout(self.now);
                self.inputs += 1;
                self.answer();
            }
        }
    }

    /// A new caller.
    fn arrive(&mut self) {
        let leg = self.next_leg;
        self.next_leg += 1;
        self.calls.push(leg);
        let port = 10_000 + (leg % 20_000) as u16 * 2;
        self.sip(SipIn::Incoming {
            leg,
            tenant_id: 1,
            caller: format!("03{:08}", leg % 100_000_000),
            caller_name: None,
            called: "0501234567".into(),
            offer: Some(format!(
                "v=0\r\no=- 1 1 IN IP4 10.1.0.1\r\ns=-\r\nc=IN IP4 10.1.0.1\r\nt=0 0\r\n\
                 m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
            )),
            flow: Some(self.flow.clone()),
            call_id: format!("load-{leg}"),
        });
    }

    fn sip(&mut self, ev: SipIn) {
        self.sw.handle_sip(ev, self.now);
        self.inputs += 1;
        self.answer();
    }

    fn media(&mut self, ev: MediaEvent) {
        self.sw.handle_media(ev, self.now);
        self.inputs += 1;
        self.answer();
    }

    /// Drains the switch's outputs and answers those the surroundings would.
    fn answer(&mut self) {
        let mut replies = Vec::new();
        while let Some(o) = self.sw.poll_output() {
            match &o {
                Out::CreateContact { call, .. } => {
                    let contact = self.next_contact;
                    self.next_contact += 1;
                    replies.push(Reply::Contact(*call, contact));
                }
                Out::MediaCreate { leg, .. } => replies.push(Reply::LegReady(*leg)),
                Out::MediaSource {
                    leg,
                    source:
                        SourceSpec::Prompts {
                            token,
                            looped: false,
                            ..
                        },
                } => self.playing.push_back((*leg, *token)),
                Out::AskPosition { contact } => replies.push(Reply::Position(*contact)),
                Out::Enqueue { contact, .. } => replies.push(Reply::Enqueued(*contact)),
                _ => {}
            }
            if let Some(r) = self.record.as_mut() {
                r.push(o);
            }
        }
        for r in replies {
            match r {
                Reply::Contact(call, contact) => self
                    .sw
                    .handle_center(CenterIn::ContactCreated { call, contact }, self.now),
                Reply::LegReady(leg) => {
                    let port = 20_000 + (leg % 20_000) as u16 * 2;
                    self.sw.handle_leg_ready(leg, port, self.now);
                }
                Reply::Position(contact) => self.sw.handle_center(
                    CenterIn::Position {
                        contact,
                        position: 1 + (contact % 50) as u32,
                        wait_secs: 30,
                    },
                    self.now,
                ),
                Reply::Enqueued(contact) => self.sw.handle_center(
                    CenterIn::Enqueued {
                        contact,
                        record: false,
                    },
                    self.now,
                ),
            }
            self.inputs += 1;
            // What these answers cause is answered too (a leg ready starts the flow).
            self.answer();
        }
    }
}

enum Reply {
    Contact(CallId, ContactId),
    LegReady(LegId),
    Position(ContactId),
    Enqueued(ContactId),
}
