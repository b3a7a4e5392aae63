//! The ACD's offers on the phone: ring the offered agent, ask the ACD to confirm when the
//! phone answers, connect; stop ringing when the offer is withdrawn.

use serde_json::json;

use super::call::*;
use super::Switch;
use crate::io::*;

impl Switch {
    pub(super) fn offer(&mut self, contact: ContactId, agent: AgentId) {
        let Some(&call) = self.contacts.get(&contact) else {
            // Not a call of ours (any more): the agent cannot take it on the phone.
            self.out.push_back(Out::Reject {
                contact,
                agent,
                unreachable: false,
            });
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.phase != Phase::Queued || c.rings.iter().any(|r| r.agent == agent) {
            return;
        }
        let leg = self.dial(call, Role::Ring(agent), Party::Agent(agent));
        let now = self.now;
        if let Some(c) = self.calls.get_mut(&call) {
            c.rings.push(Ring {
                agent,
                leg,
                answered: false,
                started: now,
            });
        }
    }

    pub(super) fn offer_withdrawn(&mut self, contact: ContactId, agent: AgentId) {
        let Some(&call) = self.contacts.get(&contact) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(i) = c.rings.iter().position(|r| r.agent == agent) else {
            return;
        };
        let r = c.rings.remove(i);
        let callback = c.callback_ringing_agent();
        self.forget_leg(r.leg, true);
        let secs = (self.now - r.started) as f64 / 1000.0;
        self.event(
            call,
            "ringing",
            Some(agent),
            json!({ "state": "stopped", "ring_secs": secs }),
        );
        if callback {
            // The callback waits in its queue again; this attempt's call is over.
            self.discard(call);
        }
    }

    pub(super) fn ring_answered(
        &mut self,
        call: CallId,
        agent: AgentId,
        leg: LegId,
        ring_secs: f64,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(r) = c.rings.iter_mut().find(|r| r.leg == leg) else {
            self.forget_leg(leg, true);
            return;
        };
        r.answered = true;
        self.event(
            call,
            "ringing",
            Some(agent),
            json!({ "state": "answered", "ring_secs": ring_secs }),
        );
        self.center(call, |ct| Out::Accept { contact: ct, agent });
    }

    pub(super) fn accept_result(&mut self, contact: ContactId, agent: AgentId, ok: bool) {
        let Some(&call) = self.contacts.get(&contact) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(i) = c.rings.iter().position(|r| r.agent == agent && r.answered) else {
            return;
        };
        let ring = c.rings.remove(i);
        if !ok {
            let callback = c.kind == CallKind::Callback;
            self.forget_leg(ring.leg, true);
            if callback {
                self.discard(call);
            }
            return;
        }
        self.drop_rings(call);
        let Some(c) = self.calls.get_mut(&call) else {
            self.forget_leg(ring.leg, true);
            return;
        };
        c.agent = Some((agent, ring.leg));
        self.legs.insert(ring.leg, (call, Role::Agent(agent)));
        c.queue = None;
        c.announce_gen += 1;
        c.play_token = None;
        if c.kind == CallKind::Callback {
            self.dial_customer(call);
            return;
        }
        c.phase = Phase::Connected;
        self.refresh_sources(call);
        self.out.push_back(Out::Connected { contact, agent });
        self.start_recording(call);
    }

    /// An offered phone failed or hung up while ringing: the agent did not take it.
    pub(super) fn ring_gone(
        &mut self,
        call: CallId,
        agent: AgentId,
        leg: LegId,
        code: u16,
        reason: &str,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let had = c.rings.iter().any(|r| r.leg == leg);
        c.rings.retain(|r| r.leg != leg);
        if !had {
            return;
        }
        let callback = c.callback_ringing_agent();
        let reason = reason.to_string();
        self.event(
            call,
            "ringing",
            Some(agent),
            json!({ "state": "failed", "sip_code": code, "reason": reason }),
        );
        // Busy or declined is the agent saying no; a phone that cannot ring at all is a miss
        // (RFC 3261 §21: 486/600/603 are the user's answer, the rest are not). The ACD
        // decides what is next.
        let unreachable = !matches!(code, 486 | 600 | 603);
        self.center(call, |ct| Out::Reject {
            contact: ct,
            agent,
            unreachable,
        });
        if callback {
            self.discard(call);
        }
    }

    /// Stops every ringing offer of the call (someone answered, the caller left the queue).
    pub(super) fn drop_rings(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        for r in std::mem::take(&mut c.rings) {
            self.forget_leg(r.leg, true);
        }
    }

    /// Drops a call without touching its contact (a callback attempt that did not happen).
    pub(super) fn discard(&mut self, call: CallId) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        for leg in c.legs() {
            self.forget_leg(leg, true);
        }
        if let Some(contact) = c.contact {
            self.contacts.remove(&contact);
        }
    }
}
