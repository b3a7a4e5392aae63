//! Transfers a phone asks for with REFER (RFC 3515). The SIP layer has answered 202 and
//! told the phone `100 Trying`; from here every REFER ends with exactly one final NOTIFY
//! ([`Out::SipReferNotify`]): 200 once the transfer is carried out (before the phone's leg
//! is hung up), an error status when it cannot be, and then also a `consult` event with
//! `state: transfer_failed` on the contact's timeline — never 202 and then silence.
//!
//! Only the agent's phone on a connected call may transfer it. The target (a queue, an
//! agent or a number) is resolved by the shell, which carries the transfer out through the
//! center (a queue) or [`Switch::refer_transfer`] (an agent or a number), and reports a
//! target it cannot use with [`Switch::refer_failed`].

use serde_json::json;

use super::call::*;
use super::Switch;
use crate::error::CallError;
use crate::io::*;

impl Switch {
    pub(super) fn refer(&mut self, leg: LegId, target: Option<String>, attended: bool) {
        let Some(&(call, role)) = self.legs.get(&leg) else {
            // Not a leg of ours (any more): nothing to transfer.
            self.out.push_back(Out::SipReferNotify {
                leg,
                code: 481,
                reason: String::new(),
            });
            return;
        };
        let shown = target.clone().unwrap_or_default();
        let agent = match role {
            Role::Agent(a) => a,
            _ => {
                let why = "only the agent's phone can transfer the call";
                return self.refer_refused(call, leg, None, &shown, 403, why);
            }
        };
        if self.refers.contains_key(&leg) {
            let why = "a transfer from this phone is already under way";
            return self.refer_refused(call, leg, Some(agent), &shown, 491, why);
        }
        let connected = self.calls.get(&call).is_some_and(|c| {
            c.phase == Phase::Connected && c.agent == Some((agent, leg)) && c.consult.is_none()
        });
        if !connected {
            let why = "the call is not connected to this agent alone";
            return self.refer_refused(call, leg, Some(agent), &shown, 403, why);
        }
        if attended {
            let why = "attended transfer (Replaces) is not supported: transfer blind, or consult from the screen";
            return self.refer_refused(call, leg, Some(agent), &shown, 501, why);
        }
        let Some(target) = target else {
            let why = "the Refer-To names nobody";
            return self.refer_refused(call, leg, Some(agent), &shown, 404, why);
        };
        self.refers.insert(leg, target.clone());
        self.center(call, |c| Out::Refer {
            contact: c,
            agent,
            leg,
            target,
        });
    }

    /// The final NOTIFY of a REFER that was not carried out, and the timeline's record of it.
    fn refer_refused(
        &mut self,
        call: CallId,
        leg: LegId,
        agent: Option<AgentId>,
        target: &str,
        code: u16,
        reason: &str,
    ) {
        self.out.push_back(Out::SipReferNotify {
            leg,
            code,
            reason: String::new(),
        });
        self.event(
            call,
            "consult",
            agent,
            json!({
                "state": "transfer_failed",
                "via": "refer",
                "to": target,
                "sip_code": code,
                "reason": reason,
            }),
        );
    }

    /// The transfer `leg`'s phone asked for is carried out: tell the phone (before its leg
    /// is hung up). Nothing when the leg asked for none.
    pub(super) fn refer_succeeded(&mut self, leg: LegId) {
        if self.refers.remove(&leg).is_some() {
            self.out.push_back(Out::SipReferNotify {
                leg,
                code: 200,
                reason: "OK".into(),
            });
        }
    }

    /// The shell could not carry out `leg`'s REFER (`code`: 404 for a target that names no
    /// queue, agent or number, 503 for a transfer the center refused).
    pub fn refer_failed(&mut self, leg: LegId, code: u16, reason: &str, now: i64) {
        self.now = now.max(self.now);
        let Some(target) = self.refers.remove(&leg) else {
            return; // the call ended meanwhile (and the phone was told)
        };
        if let Some(&(call, role)) = self.legs.get(&leg) {
            let agent = match role {
                Role::Agent(a) => Some(a),
                _ => None,
            };
            self.refer_refused(call, leg, agent, &target, code, reason);
        }
        self.after_step();
    }

    /// Carries out `leg`'s REFER to an agent or a number as a blind transfer.
    pub fn refer_transfer(&mut self, leg: LegId, party: Party, now: i64) {
        self.now = now.max(self.now);
        if !self.refers.contains_key(&leg) {
            return; // the call ended meanwhile (and the phone was told)
        }
        let contact = self
            .legs
            .get(&leg)
            .and_then(|(call, _)| self.calls.get(call))
            .and_then(|c| c.contact);
        let busy = matches!(party, Party::Agent(a) if self.agent_on_a_call(a));
        let result = match contact {
            None => Err(CallError::NoContact),
            Some(_) if busy => Err(CallError::PhoneBusy),
            Some(contact) => self.blind_transfer(contact, party, now),
        };
        if let Err(e) = result {
            let code = if busy { 486 } else { 503 };
            self.refer_failed(leg, code, &e.to_string(), now);
        }
        self.after_step();
    }
}
