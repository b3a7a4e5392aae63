//! Outgoing legs: locate the party, prepare media, send the INVITE, then an answer or a
//! failure is dispatched by the leg's role.

use serde_json::json;
use tsunagu_media::g711::Law;
use tsunagu_media::sdp::Direction;

use super::call::*;
use super::{Switch, Timer};
use crate::io::*;

impl Switch {
    /// Starts an outgoing leg to `party` in `role`.
    pub(super) fn dial(&mut self, call: CallId, role: Role, party: Party) -> LegId {
        let leg = self.alloc_leg();
        self.legs.insert(leg, (call, role));
        self.dials.insert(
            leg,
            Dialing {
                party: party.clone(),
                target: None,
                sent: false,
                started: self.now,
            },
        );
        self.out.push_back(Out::Locate { call, leg, party });
        // ACD offers ring as long as the queue's no-answer timer says; others get ours.
        if !matches!(role, Role::Ring(_)) {
            self.arm(
                self.now + self.cfg.ring_timeout_ms,
                call,
                Timer::DialTimeout(leg),
            );
        }
        leg
    }

    pub(super) fn located(&mut self, leg: LegId, targets: Vec<PhoneTarget>) {
        // A leg being dialed is always in `legs` too (`dial` inserts both, `forget_leg`
        // removes both).
        let Some(&(call, _)) = self.legs.get(&leg) else {
            return;
        };
        let Some(d) = self.dials.get_mut(&leg) else {
            return;
        };
        let Some(target) = targets.into_iter().next() else {
            let why = match d.party {
                Party::Agent(_) => "no phone registered",
                Party::Number(_) => "no route to the number",
            };
            self.dial_failed(leg, 404, why, false);
            return;
        };
        d.target = Some(target);
        let law = self
            .calls
            .get(&call)
            .and_then(|c| self.media.get(&c.customer))
            .map_or(Law::Ulaw, |m| m.law);
        let m = Media {
            law,
            te: Some(self.cfg.telephone_event),
            port: None,
            remote: None,
            peer_dir: Direction::SendRecv,
            version: 1,
        };
        self.media.insert(leg, m);
        self.out.push_back(Out::MediaCreate {
            leg,
            params: m.params(),
        });
    }

    /// The leg's media is ready: send the INVITE with our offer.
    pub(super) fn send_invite(&mut self, leg: LegId) {
        let Some(&(call, role)) = self.legs.get(&leg) else {
            return;
        };
        let Some(d) = self.dials.get_mut(&leg) else {
            return;
        };
        if d.sent {
            return;
        }
        let Some(target) = d.target.clone() else {
            return;
        };
        d.sent = true;
        let Some(m) = self.media.get(&leg).copied() else {
            return;
        };
        let other = if m.law == Law::Ulaw {
            Law::Alaw
        } else {
            Law::Ulaw
        };
        let offer = self.local_sdp(leg, &m, vec![m.law, other], m.te, Direction::SendRecv);
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let number = c.customer_number.clone();
        let (from_user, from_name) = match (role, c.kind) {
            (Role::Monitor(_), _) => ("monitor".to_string(), Some("モニタリング".to_string())),
            (Role::Consult, _) => (number.clone(), Some(format!("転送相談 {number}"))),
            (Role::Customer, _) => ("tsunagu".to_string(), None),
            (_, CallKind::Callback) => (number.clone(), Some(format!("コールバック {number}"))),
            (_, CallKind::ClickToCall) => (number.clone(), Some(format!("発信 {number}"))),
            _ => (number, c.customer_name.clone()),
        };
        let agent = match role {
            Role::Ring(a) | Role::Agent(a) => Some(a),
            _ => None,
        };
        let uri = target.uri.clone();
        self.out.push_back(Out::SipDial {
            leg,
            target,
            from_user,
            from_name,
            sdp: offer,
        });
        self.event(
            call,
            "ringing",
            agent,
            json!({ "state": "dialing", "leg": super::role_name(role), "to": uri }),
        );
    }

    pub(super) fn dial_answered(&mut self, leg: LegId, answer: Option<String>) {
        let Some(&(call, role)) = self.legs.get(&leg) else {
            // Answered after we gave up on it.
            self.out.push_back(Out::SipHangup { leg });
            return;
        };
        let Some(d) = self.dials.remove(&leg) else {
            return;
        };
        let parsed = answer.as_deref().and_then(|s| self.read_sdp(s).ok());
        let Some((o, law)) = parsed else {
            // An answer we cannot use: end the leg (it is established now) and count it failed.
            self.dials.insert(leg, Dialing { sent: false, ..d });
            self.out.push_back(Out::SipHangup { leg });
            self.dial_failed(leg, 488, "unusable SDP answer", false);
            return;
        };
        if let Some(m) = self.media.get_mut(&leg) {
            let port = m.port;
            let version = m.version;
            *m = Media {
                port,
                version,
                ..Media::from_offer(&o, law)
            };
            let params = m.params();
            self.out.push_back(Out::MediaUpdate { leg, params });
        }
        let ring_secs = (self.now - d.started) as f64 / 1000.0;
        match role {
            Role::Ring(agent) => self.ring_answered(call, agent, leg, ring_secs),
            Role::Agent(agent) => {
                self.event(
                    call,
                    "ringing",
                    Some(agent),
                    json!({ "state": "answered", "leg": "agent", "ring_secs": ring_secs }),
                );
                self.dial_customer(call);
            }
            Role::Customer => self.customer_answered(call, ring_secs),
            Role::Consult => self.consult_answered(call, leg),
            Role::Blind => self.blind_answered(call, leg),
            Role::Monitor(s) => self.monitor_answered(call, s),
            Role::Forward => self.forward_answered(call, leg),
            Role::External => {}
        }
    }

    /// An outgoing leg failed (final response, no answer in time, unreachable).
    pub(super) fn dial_failed(&mut self, leg: LegId, code: u16, reason: &str, cancel: bool) {
        let Some(&(call, role)) = self.legs.get(&leg) else {
            return;
        };
        self.forget_leg(leg, cancel);
        match role {
            Role::Ring(agent) => self.ring_gone(call, agent, leg, code, reason),
            Role::Agent(agent) => {
                self.event(call, "ringing", Some(agent), json!({ "state": "failed", "leg": "agent", "sip_code": code, "reason": reason }));
                self.end_call(
                    call,
                    Side::Agent,
                    &format!("agent_unreachable:{code}"),
                    None,
                );
            }
            Role::Customer => {
                let cause = match code {
                    486 | 600 | 603 => "customer_busy",
                    408 | 480 | 487 => "customer_no_answer",
                    _ => "customer_unreachable",
                };
                self.event(call, "ringing", None, json!({ "state": "failed", "leg": "customer", "sip_code": code, "reason": reason }));
                self.end_call(call, Side::System, &format!("{cause}:{code}"), None);
            }
            Role::Consult => self.consult_failed(call, leg, code, reason),
            Role::Blind => self.blind_failed(call, code, reason),
            Role::Monitor(s) => self.monitor_failed(call, s, code, reason),
            Role::Forward => self.forward_failed(call, code, reason),
            Role::External => self.end_call(call, Side::System, reason, None),
        }
    }

    /// Outbound calls: the agent is on the line; ring the customer.
    pub(super) fn dial_customer(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.phase = Phase::DialingCustomer;
        let number = c.customer_number.clone();
        let leg = self.dial(call, Role::Customer, Party::Number(number));
        if let Some(c) = self.calls.get_mut(&call) {
            c.customer = leg;
        }
        self.refresh_sources(call);
    }

    fn customer_answered(&mut self, call: CallId, ring_secs: f64) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.phase = Phase::Connected;
        let agent = c.agent_id();
        let contact = c.contact;
        self.event(
            call,
            "ringing",
            agent,
            json!({ "state": "answered", "leg": "customer", "ring_secs": ring_secs }),
        );
        self.refresh_sources(call);
        // An outbound call (click-to-call, callback) is answered when the customer is: the
        // agent's ringing and the customer's are not talk time.
        if let (Some(contact), Some(agent)) = (contact, agent) {
            self.out.push_back(Out::Connected { contact, agent });
        }
        self.start_recording(call);
    }

    /// Starts recording the customer (left) and the agent (right), per the policy.
    pub(super) fn start_recording(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let (Some(contact), Some((_, agent_leg))) = (c.contact, c.agent) else {
            return;
        };
        if !c.record || c.recording.is_some() {
            return;
        }
        let rec = self.next_recording;
        self.next_recording += 1;
        c.recording = Some(rec);
        let left = c.customer;
        self.out.push_back(Out::RecordStart {
            recording: rec,
            contact,
            left,
            right: agent_leg,
            voicemail: false,
        });
        self.out.push_back(Out::Event {
            contact,
            kind: "recording",
            agent: None,
            data: json!({ "action": "started", "recording": rec }),
        });
    }

    pub(super) fn stop_recording(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(rec) = c.recording.take() {
            self.out.push_back(Out::RecordStop { recording: rec });
            self.event(
                call,
                "recording",
                None,
                json!({ "action": "stopped", "recording": rec }),
            );
        }
    }
}
